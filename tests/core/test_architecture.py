"""Architecture rule (DESIGN.md): the syncer never imports ``fakes``; it talks to them over HTTP.

Checked twice: statically (an AST scan of every module under ``syncer/``, including relative
imports and ``importlib.import_module("fakes…")``) and dynamically (importing every syncer
module in a fresh interpreter must not load ``fakes`` even indirectly, e.g. through ``zlab``).
The scanner is itself tested on planted violations so an empty ``syncer/`` still proves it works.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
FORBIDDEN = "fakes"


def _module_name(root: Path, path: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(current: str, is_package: bool, level: int, module: str | None) -> str:
    """The absolute module a relative ``from`` import names."""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    if level - 1 > 0:
        base = base[: len(base) - (level - 1)] if level - 1 <= len(base) else []
    return ".".join([*base, *([module] if module else [])])


def _hits(name: str) -> bool:
    return name == FORBIDDEN or name.startswith(FORBIDDEN + ".")


def forbidden_imports(root: Path) -> list[tuple[str, int, str]]:
    """(file, line, module) for every import of ``fakes`` in the package at ``root``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        current = _module_name(root, path)
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                target = (_resolve(current, is_package, node.level, node.module) if node.level
                          else node.module or "")
                names = [target] + [f"{target}.{a.name}" if target else a.name for a in node.names]
            elif isinstance(node, ast.Call):
                fn = node.func
                fname = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
                if fname in ("import_module", "__import__") and node.args and \
                        isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                    names = [node.args[0].value]
            bad = [n for n in names if _hits(n)]
            if bad:
                found.append((str(path.relative_to(root.parent)), node.lineno, bad[0]))
    return found


# -- the rule on the real code ------------------------------------------------------------------

def test_syncer_package_exists():
    assert (ROOT / "syncer").is_dir(), "syncer/ is the sync engine's package (DESIGN.md)"


def test_syncer_does_not_import_fakes_statically():
    assert forbidden_imports(ROOT / "syncer") == []


def test_syncer_does_not_load_fakes_at_runtime():
    """Import every syncer module in a clean interpreter; ``fakes`` must stay unloaded."""
    script = textwrap.dedent("""
        import importlib, json, pkgutil, sys
        import syncer
        failed = {}
        for info in pkgutil.walk_packages(syncer.__path__, "syncer."):
            try:
                importlib.import_module(info.name)
            except Exception as exc:
                failed[info.name] = f"{type(exc).__name__}: {exc}"
        print(json.dumps({"fakes": sorted(m for m in sys.modules if m == "fakes" or m.startswith("fakes.")),
                          "failed": failed}))
    """)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["failed"] == {}, f"syncer modules that cannot be imported: {result['failed']}"
    assert result["fakes"] == [], f"importing the syncer loaded {result['fakes']}"


# -- the scanner catches what it must --------------------------------------------------------------

def _plant(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "syncer"
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text), encoding="utf-8")
    for d in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
        (d / "__init__.py").touch()
    return root


@pytest.mark.parametrize("source, module", [
    ("import fakes\n", "fakes"),
    ("import os, fakes.core.clock as clock\n", "fakes.core.clock"),
    ("from fakes import create_app\n", "fakes"),
    ("from fakes.books_api import store\n", "fakes.books_api"),
    ("def f():\n    from fakes.core import ids\n", "fakes.core"),
    ("try:\n    import fakes\nexcept ImportError:\n    pass\n", "fakes"),
    ("import importlib\nm = importlib.import_module('fakes.core.lab')\n", "fakes.core.lab"),
    ("from importlib import import_module\nimport_module('fakes')\n", "fakes"),
    ("x = __import__('fakes.accounts')\n", "fakes.accounts"),
    ("from ... import fakes\n", "fakes"),  # from syncer/clients/mod.py: up to the root
    ("from ...fakes.core import clock\n", "fakes.core"),
])
def test_scanner_detects_planted_violations(tmp_path, source, module):
    root = _plant(tmp_path, {"clients/mod.py": source, "clean.py": "import httpx\n"})
    found = forbidden_imports(root)
    assert len(found) == 1, found
    path, line, mod = found[0]
    assert path == str(Path("syncer/clients/mod.py")) and line >= 1 and mod == module


def test_scanner_ignores_lookalikes(tmp_path):
    root = _plant(tmp_path, {
        "a.py": """
            import fakesxyz
            from fakes_helpers import thing
            from . import fakes  # syncer.fakes: the syncer's own module, not the fakes package
            from .fakes import stub
            import syncer.fakes_client
            # import fakes
            TEXT = "from fakes import create_app"
            URL = "http://127.0.0.1:8700/fakes"
        """,
        "fakes.py": "VALUE = 1\n",
    })
    assert forbidden_imports(root) == []


def test_relative_resolution():
    assert _resolve("syncer.clients.mod", False, 1, "x") == "syncer.clients.x"
    assert _resolve("syncer.clients.mod", False, 2, None) == "syncer"
    assert _resolve("syncer.clients.mod", False, 3, "fakes") == "fakes"
    assert _resolve("syncer.clients", True, 1, "y") == "syncer.clients.y"
