"""The rule catalog ships with the package (``scenarios/rules.md``, package data) and is the
shared RULES.md, word for word; coverage reads the packaged copy wherever the lab is installed."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from scenarios.harness.rules import PACKAGED_RULES, load_rules, rules_path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "RULES.md"


def test_the_packaged_catalog_is_the_shared_one():
    if not SHARED.is_file():
        pytest.skip(f"{SHARED} is absent (a checkout without ../shared): nothing to compare with")
    assert PACKAGED_RULES.read_bytes() == SHARED.read_bytes(), (
        "scenarios/rules.md differs from ../shared/RULES.md: cp ../shared/RULES.md scenarios/rules.md")


def test_the_catalog_is_package_data():
    assert PACKAGED_RULES == ROOT / "scenarios" / "rules.md" and PACKAGED_RULES.is_file()
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "rules.md" in config["package-data"]["scenarios"]
    assert "scenarios*" in config["packages"]["find"]["include"]
    assert "COPY scenarios ./scenarios" in (ROOT / "docker" / "Dockerfile").read_text()  # the image has it too


def test_coverage_reads_the_packaged_copy_and_zlab_rules_overrides_it(tmp_path, monkeypatch):
    monkeypatch.delenv("ZLAB_RULES", raising=False)
    assert rules_path() == PACKAGED_RULES
    ids = [r.id for r in load_rules()]
    assert len(ids) == len(set(ids)) and {"TW-01", "TW-28", "OB-01", "OB-04"} <= set(ids)
    mine = tmp_path / "mine.md"
    mine.write_text("| ZZ-01 | a behaviour | a decision |\n")
    monkeypatch.setenv("ZLAB_RULES", str(mine))
    assert [r.id for r in load_rules()] == ["ZZ-01"]
    monkeypatch.setenv("ZLAB_RULES", str(tmp_path / "missing.md"))
    assert rules_path() is None and load_rules() == []


def test_list_outside_the_repository_finds_the_catalog(tmp_path):
    """Run from a folder with no ../shared beside it: coverage still knows every rule."""
    env = {k: v for k, v in os.environ.items() if k != "ZLAB_RULES"} | {"COLUMNS": "250"}
    r = subprocess.run([sys.executable, "-m", "zlab", "scenarios", "list", "-k", "TW-01"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert "RULES.md not found" not in r.stdout and str(PACKAGED_RULES) in " ".join(r.stdout.split())
    assert "TW-28" in r.stdout and "OB-04" in r.stdout
