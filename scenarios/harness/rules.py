"""The rule catalog (RULES.md): every documented behaviour, numbered TW-*, OB-*, CR-*.

RULES.md is the project's shared document (``../shared/RULES.md`` beside the repository; set
``ZLAB_RULES`` to point elsewhere). Coverage = which scenarios name each rule.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from .model import ScenarioDef

ROW = re.compile(r"^\|\s*([A-Z]{2}-\d{2})\s*\|\s*(.*?)\s*\|\s*(.*?)\s*\|\s*$")


@dataclass(frozen=True)
class Rule:
    id: str
    behaviour: str
    decision: str

    @property
    def family(self) -> str:
        return self.id.split("-")[0]


def rules_path() -> Path | None:
    env = os.environ.get("ZLAB_RULES")
    candidates = [Path(env)] if env else []
    root = next((p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file()), None)
    if root is not None:
        candidates.append(root.parent / "shared" / "RULES.md")
    candidates.append(Path.cwd().parent / "shared" / "RULES.md")
    return next((p for p in candidates if p.is_file()), None)


def load_rules(path: Path | None = None) -> list[Rule]:
    path = path or rules_path()
    if path is None:
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = ROW.match(line)
        if m:
            out.append(Rule(m.group(1), m.group(2), m.group(3)))
    return out


def coverage(rules: list[Rule], scenarios: list[ScenarioDef]) -> dict[str, list[str]]:
    """Rule id → ids of the scenarios that guard it (empty list = uncovered). Scenario rule ids
    that RULES.md does not know are listed too, so a typo shows."""
    cov: dict[str, list[str]] = {r.id: [] for r in rules}
    for s in scenarios:
        for rid in s.rules:
            cov.setdefault(rid, []).append(s.id)
    return cov
