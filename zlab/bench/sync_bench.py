"""``zlab bench sync``: what a sync costs — a full initial sync of N customers + N items, and an
incremental sync of k changed items and k changed customers at two org sizes — against the fakes (one worker, so that its
journal ids count every API call) and ``zlab syncer`` in child processes.

For the full sync it reports the calls made next to the fewest the APIs allow (a Books list
page holds at most 200 records, an FSM write at most 100), the wall time, the syncer's share of
one CPU over that time and its peak resident memory. Each org is settled before its changes are
made (an incremental run right after the full sync: it reads back what the full sync wrote), so
the incremental figure is what the k changes cost and nothing else. Every measured run lists its
calls per endpoint (product, method, path with ids as ``{id}``), read from the journal.
"""

from __future__ import annotations

import math
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

BOOKS_PAGE = 200  # records per Books list page (per_page's maximum)
FSM_BATCH = 100  # records per FSM create/update call
JOURNAL_MAX = 5000  # the journal keeps the latest 5,000 calls: a longer run's breakdown is partial
_ID_SEGMENT = re.compile(r"/\d{5,}(?=/|$)")


def minimum_full_sync_calls(records: int) -> int:
    """Reading N customers and N items from Books in full pages, writing each kind to FSM in
    full batches: the floor any syncer pays for a first sync of an empty FSM org."""
    return 2 * math.ceil(records / BOOKS_PAGE) + 2 * math.ceil(records / FSM_BATCH)


def endpoint_of(entry: dict[str, Any]) -> str:
    """``fsm PUT /fsm/v1/Service_And_Parts/{id}``: a journal entry's endpoint, ids folded."""
    return f"{entry.get('product')} {entry.get('method')} {_ID_SEGMENT.sub('/{id}', entry.get('path') or '')}"


def calls_by_endpoint(entries: list[dict[str, Any]]) -> dict[str, int]:
    """Calls per endpoint, most called first."""
    return dict(Counter(endpoint_of(e) for e in entries).most_common())


CUSTOMER_MODULES = ("Companies", "Contacts")  # the FSM modules Books customers sync to


def fsm_write_calls(by_endpoint: dict[str, int], modules: tuple[str, ...]) -> dict[str, int]:
    """FSM write calls per endpoint of ``modules``: ``PUT /{module}`` is a batch of up to 100
    records, ``PUT /{module}/{id}`` a single record's write."""
    return {ep: n for ep, n in by_endpoint.items() if ep.startswith("fsm PUT ")
            and any(ep.split(" ", 2)[2].startswith(f"/fsm/v1/{m}") for m in modules)}


def _journal_since(lab_url: str, mark: int) -> list[dict[str, Any]]:
    from zlab.labclient import LabClient

    with LabClient(lab_url) as lab:
        return lab.journal(since_id=mark, limit=JOURNAL_MAX)


def _wait_run(integ, started: dict[str, Any], timeout: float = 3600) -> dict[str, Any]:
    run, deadline = started, time.monotonic() + timeout
    while run.get("status") in (None, "running") and time.monotonic() < deadline:
        time.sleep(0.5)
        runs = integ.runs()
        run = next((r for r in runs if r.get("id") == started.get("id")), run)
    return run


def _seed(lab, org_id: str, records: int, seed: int) -> None:
    for module in ("contacts", "items"):
        for start in range(0, records, 10_000):
            lab.control.seed(org_id, {module: min(10_000, records - start)}, seed=seed, start=start)


def run_sync_bench(records: int, changes: int, small: int,
                   progress: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    from scenarios.harness.lab import Lab
    from zlab.loadtest_cli import EmbeddedFakes, EmbeddedSyncer, _journal_mark

    from .fakes_bench import session_cpu_seconds, session_peak_rss_mb

    out: dict[str, Any] = {"benchmark": "zlab bench sync", "records": records, "changes": changes, "small": small,
                           "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]}}
    with EmbeddedFakes(workers=1) as fakes, EmbeddedSyncer(fakes.url, fakes.tmp) as syncer, \
            Lab(fakes.url, syncer_url=syncer.url, timeout=600) as lab:

        def org_of(size: int):
            progress(f"seeding a Books org with {size:,} customers and {size:,} items")
            t = lab.tenant(products=["fsm", "books"])
            _seed(lab, t.org("books"), size, seed=size)
            integ = lab.syncer.create_integration(t, "books", notify_email="admin@example.com")
            integ.enable(duplicate_policy="clone")
            return t, integ

        def measured_sync(integ) -> dict[str, Any]:
            mark, cpu0, t0 = _journal_mark(lab.url), session_cpu_seconds(syncer.proc.pid), time.monotonic()
            run = _wait_run(integ, integ.sync_now(wait=False))
            wall = time.monotonic() - t0
            cpu = session_cpu_seconds(syncer.proc.pid)
            calls = _journal_mark(lab.url) - mark
            entries = _journal_since(lab.url, mark)
            return {"status": run.get("status"), "totals": run.get("totals"), "failure_reason": run.get("failure_reason"),
                    "calls": calls, "by_endpoint": calls_by_endpoint(entries),
                    "by_endpoint_complete": len(entries) >= calls,
                    "seconds": round(wall, 2),
                    "syncer_cpu_share": round((cpu - cpu0) / wall, 2) if cpu is not None and wall else None}

        def full_and_settle(size: int, label: str) -> tuple[Any, Any, dict[str, Any]]:
            t, integ = org_of(size)
            progress(f"full initial sync of {size:,} customers + {size:,} items")
            full = measured_sync(integ)
            full["minimum_calls"] = minimum_full_sync_calls(size)
            full["syncer_peak_rss_mb"] = session_peak_rss_mb(syncer.proc.pid)
            # past the next run's watermark margin (2 s): the settle run reads back the full sync's
            # writes, and the changes' run reads nothing older than the settle run
            time.sleep(3)
            progress(f"settling the {label} org: an incremental run with no changes")
            settle = measured_sync(integ)
            time.sleep(3)
            return t, integ, {"full": full, "settle": settle}

        def incremental(t, integ) -> dict[str, Any]:
            books = t.books()
            items = books.get("/items", params={"per_page": changes}).json()["items"][:changes]
            for i, it in enumerate(items):
                books.put(f"/items/{it['item_id']}", json={"rate": float(it["rate"]) + 1 + i}).raise_for_status()
            # k customers too (business ones become Companies, individual ones Contacts: sync type IV)
            customers = books.get("/contacts", params={"per_page": changes,
                                                       "contact_type": "customer"}).json()["contacts"][:changes]
            for i, c in enumerate(customers):
                books.put(f"/contacts/{c['contact_id']}",
                          json={"billing_address": {"city": f"Benchton {i}"}}).raise_for_status()
            progress(f"incremental sync of {len(items)} changed items and {len(customers)} changed customers")
            inc = measured_sync(integ)
            inc["changed"] = len(items)
            inc["changed_customers"] = len(customers)
            item_writes = fsm_write_calls(inc["by_endpoint"], ("Service_And_Parts",))
            customer_writes = fsm_write_calls(inc["by_endpoint"], CUSTOMER_MODULES)
            inc["fsm_item_write_calls"] = sum(item_writes.values())
            inc["fsm_customer_write_calls"] = sum(customer_writes.values())
            inc["fsm_write_calls_by_endpoint"] = {**item_writes, **customer_writes}
            return inc

        t, integ, big = full_and_settle(records, "large")
        big["incremental"] = incremental(t, integ)
        ts, integ_s, little = full_and_settle(small, "small")
        little["incremental"] = incremental(ts, integ_s)
    out["full"] = big["full"]
    out["sizes"] = {str(records): big, str(small): little}
    out["incremental"] = {str(records): big["incremental"], str(small): little["incremental"]}
    inc = out["incremental"]
    out["incremental_calls_difference"] = inc[str(records)]["calls"] - inc[str(small)]["calls"]
    return out
