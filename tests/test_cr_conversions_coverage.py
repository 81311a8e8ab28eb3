"""The conversion rules (CR-07, CR-08, CR-15, CR-16) have scenarios and breakers in the catalog
(tests/test_breakers.py proves each breaker is caught)."""

from __future__ import annotations

from scenarios.harness.breakers import all_breakers, by_rule
from scenarios.harness.runner import discover

RULES = ("CR-07", "CR-08", "CR-15", "CR-16")


def test_each_conversion_rule_has_scenarios_and_breakers():
    catalog = discover()
    breakers = by_rule(all_breakers())
    for rule in RULES:
        assert any(rule in s.rules for s in catalog.values()), f"{rule}: no scenario"
        assert breakers.get(rule), f"{rule}: no breaker"
