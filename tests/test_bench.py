"""`zlab bench fakes` in a tiny version: the machinery works, the numbers come from the command."""

from __future__ import annotations

import json

from flask import Flask
from rich.console import Console

from zlab.bench.fakes_bench import BenchConfig, Measure, run_bench
from zlab.bench.loadgen import LoadResult, RequestSpec, run_load
from zlab.server import BackgroundServer


def test_load_generator_counts_answers_and_varies_bodies():
    app = Flask("t")
    seen: list[bytes] = []

    @app.post("/echo")
    def echo():
        from flask import request

        seen.append(request.get_data())
        return {"ok": True}, 201 if len(seen) % 2 else 400

    srv = BackgroundServer(app).start(health_path=None)
    try:
        res = run_load(RequestSpec("POST", f"{srv.url}/echo", {"Content-Type": "application/json"}, b'{"n": {n}}'),
                       connections=2, seconds=5, max_requests=20)
    finally:
        srv.stop()
    assert res.requests >= 20 and sum(res.statuses.values()) == res.requests
    assert set(res.statuses) == {201, 400} and res.errors == 0
    assert len({json.loads(b)["n"] for b in seen}) == len(seen)  # every body got its own number


def test_a_round_below_the_stall_ratio_of_the_median_is_a_stall():
    m = Measure()
    for rate in (100.0, 104.0, 70.0):
        m.add(LoadResult(int(rate), 1.0, {200: int(rate)}, 0), cpu_seconds=0.5)
    assert m.median == 100.0 and m.stalls() == [3] and m.median_per_cpu == 200.0
    m.add(LoadResult(1, 1.0, {500: 1}, 2))
    assert m.unexpected == 3


def test_bench_fakes_tiny_run_reports_ratios_peers_and_acceptance(tmp_path):
    from zlab.bench.cli import print_fakes_table

    cfg = BenchConfig(seconds=0.3, rounds=2, connections=2, workers=1, threads=2, only=("books contact",),
                      moto=False, warmup=0.1, db_url=f"sqlite:///{tmp_path / 'fakes.db'}")
    result = run_bench(cfg)
    names = [t["name"] for t in result["targets"]]
    assert names == ["hello", "sqlmodel one-query", "peer: stateless CRM mock", "books contact"]
    contact = result["targets"][-1]
    for op in ("get", "post"):
        m = contact[op]
        assert len(m["rounds"]) == 2 and m["median"] > 0 and m["unexpected"] == 0, m
        assert set(m["ratios"]) == {"hello", "peer: stateless CRM mock"} and m["ratios"]["hello"] > 0
    assert set(contact["get"]["statuses"]) == {"200"} and set(contact["post"]["statuses"]) == {"201"}
    assert result["acceptance"]["no_unexpected_answers"] is True
    json.dumps(result)  # what --json writes
    console = Console(record=True, width=200)
    print_fakes_table(result, console)
    text = console.export_text()
    assert "books contact" in text and "x hello" in text and "stateless CRM mock" in text


def test_minimum_full_sync_calls_follow_the_page_and_batch_limits():
    from zlab.bench.sync_bench import minimum_full_sync_calls

    assert minimum_full_sync_calls(100) == 2 * 1 + 2 * 1
    assert minimum_full_sync_calls(10_000) == 2 * 50 + 2 * 100
    assert minimum_full_sync_calls(10_001) == 2 * 51 + 2 * 101


def test_endpoints_fold_record_ids():
    from zlab.bench.sync_bench import calls_by_endpoint

    entries = [{"product": "fsm", "method": "GET", "path": "/fsm/v1/Service_And_Parts/4815000000044208"},
               {"product": "fsm", "method": "GET", "path": "/fsm/v1/Service_And_Parts/4815000000044274"},
               {"product": "fsm", "method": "PUT", "path": "/fsm/v1/Service_And_Parts"},
               {"product": "books", "method": "GET", "path": "/books/v3/items"}]
    assert calls_by_endpoint(entries) == {"fsm GET /fsm/v1/Service_And_Parts/{id}": 2,
                                          "fsm PUT /fsm/v1/Service_And_Parts": 1, "books GET /books/v3/items": 1}


def test_bench_sync_tiny_run_prints_its_table():
    from zlab.bench.cli import print_sync_table
    from zlab.bench.sync_bench import run_sync_bench

    result = run_sync_bench(records=20, changes=2, small=5)
    full = result["full"]
    assert full["status"] == "succeeded" and full["calls"] >= full["minimum_calls"] > 0
    assert full["syncer_peak_rss_mb"] and full["syncer_cpu_share"] is not None
    assert set(result["sizes"]) == set(result["incremental"]) == {"20", "5"}
    for size, runs in result["sizes"].items():
        assert runs["settle"]["status"] == "succeeded", size
        inc = runs["incremental"]
        assert inc["status"] == "succeeded" and inc["changed"] == 2 and inc["changed_customers"] == 2
        assert sum(inc["by_endpoint"].values()) == inc["calls"] and inc["by_endpoint_complete"]
        # the two changed items' FSM writes go out in one call, the two customers' in one per module
        assert inc["fsm_item_write_calls"] == 1, inc["by_endpoint"]
        writes = inc["fsm_write_calls_by_endpoint"]
        assert not [ep for ep in writes if ep.endswith("/{id}")], writes  # no single-record write
        assert 1 <= inc["fsm_customer_write_calls"] <= 2, writes
        assert all(writes.get(f"fsm PUT /fsm/v1/{m}", 0) <= 1 for m in ("Companies", "Contacts")), writes
    inc = result["incremental"]
    assert result["incremental_calls_difference"] == inc["20"]["calls"] - inc["5"]["calls"]
    console = Console(record=True, width=200)
    print_sync_table(result, console)
    text = console.export_text()
    assert "full initial" in text and "settle (no changes)" in text and "2 changed items + 2 customers" in text
    assert "fsm PUT /fsm/v1/Service_And_Parts" in text
