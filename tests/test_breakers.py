"""The suite proves itself (issue 10): every breaker of the catalog — a small, named change of the
syncer's behaviour — must make at least one scenario of its rule fail, and every rule of
RULES.md must have a breaker. A breaker here that no scenario notices means its rule's scenarios
do not look at what the breaker changes: strengthen the scenarios, never weaken the breaker."""

from __future__ import annotations

import os

import pytest

from scenarios.harness.breakers import all_breakers, by_rule, prove, scenarios_of
from scenarios.harness.lab import Lab
from scenarios.harness.rules import load_rules
from scenarios.harness.runner import discover

CATALOG = discover()
BREAKERS = {b.name: b for b in all_breakers()}


# A fresh embedded lab per breaker costs 2-3 s (fakes and syncer start-up) of the few seconds a
# breaker takes; the breakers share one per worker the way tests/test_scenarios.py's scenarios
# do (each makes its own tenants and integrations). ZLAB_BREAKERS_FRESH_LAB=1: one each.
FRESH_LAB = os.environ.get("ZLAB_BREAKERS_FRESH_LAB", "") not in ("", "0")


@pytest.fixture(scope="module")
def shared_lab():
    if FRESH_LAB:
        yield None
        return
    lab = Lab().start()
    yield lab
    lab.close()


@pytest.mark.parametrize("name", sorted(BREAKERS))
def test_breaker_is_caught(name, monkeypatch, shared_lab):
    b = BREAKERS[name]
    scenarios = scenarios_of(b.rule, CATALOG)
    assert scenarios, f"{name}: rule {b.rule} has no scenario to catch it"
    if shared_lab is None:
        verdict = prove(b, scenarios, monkeypatch, lambda: Lab().start())
    else:
        verdict = prove(b, scenarios, monkeypatch, lab=shared_lab)
    shown = ", ".join(f"{r.id}={r.status}" for r in verdict.results)
    assert verdict.caught, (f"{name} ({b.describe}) went unnoticed: every {b.rule} scenario passed under it "
                            f"({shown})")


def test_breakers_name_known_rules():
    known = {r.id for r in load_rules()}
    if not known:
        pytest.skip("RULES.md not found (set ZLAB_RULES)")
    unknown = sorted({b.rule for b in BREAKERS.values()} - known)
    assert not unknown, f"breakers name rules RULES.md does not have: {unknown}"


def test_every_rule_has_a_breaker():
    rules = [r.id for r in load_rules()]  # TW, OB and CR: every catalogued rule
    if not rules:
        pytest.skip("RULES.md not found (set ZLAB_RULES)")
    have = by_rule(BREAKERS.values())
    missing = sorted(r for r in rules if r not in have)
    assert not missing, f"rules without a breaker: {missing}"


def test_scenarios_list_shows_each_rules_breakers():
    import os
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "zlab", "scenarios", "list", "--rule", "TW-17"], capture_output=True,
                       text=True, timeout=120, stdin=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "400"})
    assert r.returncode == 0, r.stderr
    row = next(line for line in r.stdout.splitlines() if line.strip().startswith("TW-17 "))
    assert "TW-17-BOUNDARY" in row and "TW-17-limit-off-by-one" in row


def test_patch_undoes_what_it_changed_and_names_are_checked():
    from scenarios.harness.breakers import Patch, breaker

    class Target:
        value = 1

    table = {"a": 1}
    with Patch() as p:
        p.setattr(Target, "value", 2)
        p.setattr(Target, "extra", 3, raising=False)
        p.setitem(table, "a", 5)
        p.setitem(table, "b", 6)
        assert (Target.value, Target.extra, table) == (2, 3, {"a": 5, "b": 6})
    assert Target.value == 1 and not hasattr(Target, "extra") and table == {"a": 1}
    with pytest.raises(ValueError, match="starts with its rule id"):
        breaker("TW-17", "limit-off-by-one", "no rule id first")
    with pytest.raises(ValueError, match="not a rule id"):
        breaker("TW17", "TW17-x", "bad rule id")
