"""Rolling windows in the shared counters (added for CRM's "credits used in the last 24 hours"):
the same answers from the in-memory and the SQL backend."""

from __future__ import annotations

import pytest

from fakes.core.counters import MemoryCounters, SqlCounters
from fakes.core.db import Database

DAY = 86400
T0 = 1_800_000_000  # an instant on a slot boundary (divisible by 3600)


@pytest.fixture(params=["memory", "sql"])
def counters(request, tmp_path):
    if request.param == "memory":
        yield MemoryCounters()
        return
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    db.create_all()
    yield SqlCounters(db)
    db.dispose()


def test_rolling_window_sums_the_last_24_hourly_slots(counters):
    assert counters.hit_rolling("k", T0, DAY, 24) == (1, T0 + DAY)
    assert counters.hit_rolling("k", T0 + 60, DAY, 24, 2)[0] == 3
    n, reset = counters.hit_rolling("k", T0 + 12 * 3600, DAY, 24)
    assert n == 4 and reset == T0 + DAY  # capacity frees up when the first slot leaves the window
    n, reset = counters.hit_rolling("k", T0 + DAY + 10, DAY, 24)
    assert n == 2 and reset == T0 + 12 * 3600 + DAY  # the first hour's 3 hits have left the window
    assert counters.hit_rolling("other", T0 + DAY + 10, DAY, 24)[0] == 1  # keys are separate


def test_memory_counters_keep_ended_slots_for_a_day_when_pruning():
    c = MemoryCounters()
    c.hit_rolling("k", T0, DAY, 24)
    c._prune(T0 + 13 * 3600)
    assert c.hit_rolling("k", T0 + 13 * 3600, DAY, 24)[0] == 2
    c._prune(T0 + 3 * DAY)
    assert c.hit_rolling("k", T0 + 3 * DAY, DAY, 24)[0] == 1
