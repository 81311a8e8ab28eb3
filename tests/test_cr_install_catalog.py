"""The CR install/initial-sync catalog (scenarios/catalog/cr_install.py) keeps its promise: each of
its rules has scenarios there and at least one breaker per scenario (tests/test_breakers.py proves
each breaker is caught; this checks none of the rules lost its scenarios or breakers)."""

from __future__ import annotations

from scenarios.harness.breakers import all_breakers
from scenarios.harness.runner import discover

MODULE = "scenarios.catalog.cr_install"
RULES = ("CR-01", "CR-02", "CR-03", "CR-04", "CR-10", "CR-11")


def test_each_rule_has_scenarios_and_at_least_a_breaker_per_scenario():
    scenarios = [s for s in discover().values() if s.module == MODULE]
    breakers = [b for b in all_breakers() if b.module == MODULE]
    for rule in RULES:
        mine = [s.id for s in scenarios if rule in s.rules]
        theirs = [b.name for b in breakers if b.rule == rule]
        assert mine, f"{rule}: no scenario in {MODULE}"
        assert len(theirs) >= len(mine), f"{rule}: {len(mine)} scenarios but only breakers {theirs}"
    assert {r for s in scenarios for r in s.rules} == set(RULES)
    assert all(s.id.startswith(s.rules[0] + "-") and "crm" in s.tags for s in scenarios)


def test_access_all_users_means_the_crm_orgs_users():
    from syncer.crm_sync import install

    everyone = install.check_access({"mode": "all"})
    assert install.access_allows(everyone, "Standard") and install.access_allows(everyone, "Administrator")
    assert not install.access_allows(everyone, None)  # no profile: not a user of the CRM org
