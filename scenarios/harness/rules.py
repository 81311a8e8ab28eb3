"""The rule catalog (RULES.md): every documented behaviour, numbered TW-*, OB-*, CR-*.

It ships with the package as ``scenarios/rules.md``, a copy of the project's shared RULES.md
(``tests/test_rules_catalog.py`` keeps the two in step), so coverage works wherever the lab is
installed; ``ZLAB_RULES`` points at another file. Coverage = which scenarios name each rule.
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


PACKAGED_RULES = Path(__file__).resolve().parent.parent / "rules.md"  # scenarios/rules.md (package data)


def rules_path() -> Path | None:
    """``$ZLAB_RULES`` when set, else the packaged copy; None when that file is missing."""
    env = os.environ.get("ZLAB_RULES")
    path = Path(env) if env else PACKAGED_RULES
    return path if path.is_file() else None


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
