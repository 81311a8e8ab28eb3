"""Rate/fault counters: the in-memory backend (embedded default) and the SQL backend (shared by
gunicorn workers) behave the same, on lab-time windows, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import pytest

from fakes.core.counters import MemoryCounters, SqlCounters
from fakes.core.db import Database


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def counters(request, tmp_path):
    if request.param == "memory":
        yield MemoryCounters()
        return
    url = f"sqlite:///{tmp_path / 'c.db'}" if request.param == "sqlite" else request.getfixturevalue("pg_url")
    db = Database(url)
    db.create_all()
    yield SqlCounters(db)
    db.dispose()


# A script of operations: (op, args). The answers of every backend must equal these.
SCRIPT = [
    (("hit", "rl:o1:minute", 1000.0, 60), (1, 1020)),
    (("hit", "rl:o1:minute", 1019.9, 60), (2, 1020)),
    (("peek", "rl:o1:minute", 1005.0, 60), 2),
    (("hit", "rl:o1:minute", 1020.0, 60), (1, 1080)),  # a new window on the lab clock
    (("peek", "rl:o1:minute", 1019.0, 60), 2),  # the old window is still readable
    (("hit", "rl:o1:minute", 1030.0, 60, 5), (6, 1080)),  # cost > 1 (CRM credits)
    (("hit", "rl:o2:minute", 1030.0, 60), (1, 1080)),  # keys are independent
    (("hit", "rl:o1:day", 1030.0, 86400), (1, 86400)),
    (("peek", "rl:o1:day", 86399.0, 86400), 1),
    (("hit", "rl:o1:day", 86400.0, 86400), (1, 172800)),
    (("peek", "rl:o1:nothing", 1030.0, 60), 0),
    # the same key counted in windows of two lengths: two independent counters
    (("hit", "k", 30.0, 60), (1, 60)),
    (("hit", "k", 30.0, 3600), (1, 3600)),
    (("peek", "k", 30.0, 60), 1),
    (("gauge", "conc:o1", 1), 1),
    (("gauge", "conc:o1", 1), 2),
    (("gauge", "conc:o1", -1), 1),
    (("gauge", "conc:o2", 0), 0),
    (("gauge", "conc:o1", 0), 1),
    (("gauge", "conc:o1", -1), 0),
    (("hit", "conc:o1", 10.0, 60), (1, 60)),  # a window counter never mixes with a gauge of that name
    (("gauge", "conc:o1", 0), 0),
]


def run(counters, op):
    name, *args = op
    if name == "hit":
        n, end = counters.hit(*args)
        return n, end
    return getattr(counters, name)(*args)


def test_backends_follow_the_same_script(counters):
    for op, expected in SCRIPT:
        assert run(counters, op) == expected, op


def test_clear_forgets_everything(counters):
    counters.hit("a", 100.0, 60)
    counters.gauge("g", 3)
    counters.clear()
    assert counters.peek("a", 100.0, 60) == 0
    assert counters.hit("a", 100.0, 60) == (1, 120)
    assert counters.gauge("g", 0) == 0


def test_concurrent_hits_are_exact(counters):
    seen: list[int] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    gate = threading.Barrier(6)

    def work():
        try:
            gate.wait()
            for _ in range(25):
                n, _ = counters.hit("busy", 500.0, 60)
                counters.gauge("inflight", 1)
                counters.gauge("inflight", -1)
                with lock:
                    seen.append(n)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(seen) == list(range(1, 151))  # every hit got its own count
    assert counters.peek("busy", 500.0, 60) == 150
    assert counters.gauge("inflight", 0) == 0


def test_sql_counters_are_shared_by_workers(backend):
    a, b = Database(backend), Database(backend)
    a.create_all()
    try:
        ca, cb = SqlCounters(a), SqlCounters(b)
        assert ca.hit("rl:x:minute", 61.0, 60) == (1, 120)
        assert cb.hit("rl:x:minute", 62.0, 60) == (2, 120)
        assert ca.peek("rl:x:minute", 100.0, 60) == 2
        assert cb.gauge("g", 1) == 1 and ca.gauge("g", 1) == 2
        ca.clear()
        assert cb.peek("rl:x:minute", 100.0, 60) == 0
    finally:
        a.dispose()
        b.dispose()


def test_memory_counters_stay_bounded_without_losing_live_windows():
    m = MemoryCounters()
    end = 12_000 * 60.0
    m.hit("live", end, 60)
    m.gauge("held", 1)
    for i in range(12_000):  # minute windows over eight days come and go
        m.hit(f"old:{i % 50}", float(i) * 60, 1)
    assert m.peek("live", end, 60) == 1  # its window has not ended
    assert m.hit("live", end + 1, 60) == (2, end + 60)
    assert m.gauge("held", 0) == 1  # gauges are never pruned
    assert len(m._windows) < 5000  # windows that ended over a day ago are pruned
    assert m.peek("old:0", 0.0, 1) == 0
