"""The whole scenario catalog under pytest: one test per scenario (parallel with xdist), each
on the ``zlab_lab`` fixture's embedded stack."""

from __future__ import annotations

import pytest

from scenarios.harness.runner import discover, run_one

CATALOG = discover()


@pytest.mark.parametrize("scenario_id", sorted(CATALOG))
def test_scenario(scenario_id, zlab_lab):
    result = run_one(CATALOG[scenario_id], zlab_lab)
    if result.status != "passed":
        f = result.failure
        pytest.fail(f"{scenario_id} {result.status} at step {f.step!r}: expected {f.expectation}; saw {f.seen}\n"
                    f"{f.traceback}", pytrace=False)
