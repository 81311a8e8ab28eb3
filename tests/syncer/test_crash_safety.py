"""Crash safety: the syncer, run as its own process, is SIGKILLed several times mid-run at
different points; a final clean run converges — both sides match and nothing is duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

from syncer.books_sync import SyncEngine
from syncer.clients import LabClock
from syncer.mail import MailSender
from syncer.run_once import clients_for
from syncer.store.repo import Repo

SP = "Service_And_Parts"


def _writes(lab, org_ids: set[str]) -> int:
    entries = lab.control.journal(limit=5000)
    return sum(1 for e in entries if e.get("method") in ("POST", "PUT") and e.get("org_id") in org_ids
               and e.get("status", 500) < 400)


def test_sigkill_mid_run_then_a_clean_run_converges_without_duplicates(zlab_lab, tmp_path):
    lab = zlab_lab
    t = lab.tenant(products=["fsm", "books"])
    lab.control.seed(t.org("fsm"), {"service_and_parts": 60}, seed=11)
    lab.control.seed(t.org("books"), {"items": 60}, seed=12)
    db = f"sqlite:///{tmp_path / 'syncer.db'}"
    clock = LabClock(lab.url)
    repo = Repo(db, clock=clock, lease_seconds=1.5)
    integ = repo.create_integration(fsm_org_id=t.org("fsm"), partner_org_id=t.org("books"), client_id=t.client_id,
                                    client_secret=t.client_secret, refresh_token=t.refresh_token,
                                    accounts_url=lab.url, api_domain=lab.url)
    repo.enable_integration(integ.id, duplicate_policy="clone")
    # slow each write a little so the kills land in the middle of the run
    for path in ("/books/v3/items*", "/fsm/v1/Service_And_Parts*"):
        lab.faults.add(path=path, method="POST", action={"type": "delay", "seconds": 0.02})
        lab.faults.add(path=path, method="PUT", action={"type": "delay", "seconds": 0.02})
    orgs = {t.org("fsm"), t.org("books")}
    cmd = [sys.executable, "-m", "syncer.run_once", "--integration", integ.id, "--db", db, "--fakes", lab.url,
           "--lease-seconds", "1.5", "--batch-size", "5"]
    killed = 0
    start = _writes(lab, orgs)
    # with 5 records a call, about 83 writes make the whole sync: 57 items created in Books, each
    # five followed by one PUT of their partner ids, then 12 inserts of 5 services in FSM. Kill the
    # syncer at points spread over all of it, creates on both sides included
    for kill_at in (6, 22, 40, 58, 66, 72, 76, 79):
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                cwd=os.getcwd())
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if _writes(lab, orgs) - start >= kill_at:
                proc.send_signal(signal.SIGKILL)
                killed += 1
                break
            time.sleep(0.02)
        proc.wait(30)
        time.sleep(1.6)  # the dead run's lease runs out
    assert killed >= 5, "the kills must land mid-run"
    lab.faults.remove_added()
    final = SyncEngine(Repo(db, clock=clock), clients=clients_for(clock), mailer=MailSender(repo)).run(integ.id)
    assert final.status == "succeeded", final.failure_reason
    fsm, books = clients_for(clock)(repo.get_integration(integ.id))
    everything = list(fsm.list_records(SP))
    services = [s for s in everything if not s.get("$inactive")]
    inactive = [s for s in everything if s.get("$inactive")]  # ignored by the sync (TW-14)
    items = list(books.list_items())
    service_names = Counter(s["Name"] for s in services)
    item_names = Counter(i["name"] for i in items)
    assert [n for n, c in service_names.items() if c > 1] == [], "a service was duplicated in FSM"
    assert [n for n, c in item_names.items() if c > 1] == [], "an item was duplicated in Books"
    assert len(everything) == 120  # 60 seeded in FSM + 60 made from Books items, none twice
    assert set(service_names) == set(item_names) and len(items) == len(services)
    assert all(not s.get("ZBilling_Id") for s in inactive)  # inactive services were never pushed
    by_id = {i["item_id"]: i for i in items}
    for s in services:  # every service carries its partner, and the partner is its namesake
        assert s.get("ZBilling_Id") in by_id and by_id[s["ZBilling_Id"]]["name"] == s["Name"]
    assert repo.open_pending(integ.id) == []


def test_a_run_with_injected_faults_syncs_or_fails_every_record_with_a_reason(zlab_lab, tmp_path):
    """429s with Retry-After, 500s and a time-out on both sides: every record ends up synced or
    failed with a reason; none is lost or duplicated."""
    lab = zlab_lab
    t = lab.tenant(products=["fsm", "books"])
    lab.control.seed(t.org("fsm"), {"service_and_parts": 30}, seed=21)
    lab.control.seed(t.org("books"), {"items": 30}, seed=22)
    db = f"sqlite:///{tmp_path / 'syncer.db'}"
    clock = LabClock(lab.url)
    repo = Repo(db, clock=clock)
    integ = repo.create_integration(fsm_org_id=t.org("fsm"), partner_org_id=t.org("books"), client_id=t.client_id,
                                    client_secret=t.client_secret, refresh_token=t.refresh_token,
                                    accounts_url=lab.url, api_domain=lab.url)
    repo.enable_integration(integ.id, duplicate_policy="clone")
    lab.faults.add(product="books", method="POST", path="/books/v3/items", nth=3, times=2,
                   action={"type": "rate_limit", "retry_after": 0})
    # FSM writes go 100 records a call: the one batch insert fails twice, the one batch of partner
    # ids times out once
    lab.faults.add(product="fsm", method="POST", path="/fsm/v1/Service_And_Parts", nth=1, times=2,
                   action={"type": "error", "status": 500})
    lab.faults.add(product="books", method="GET", path="/books/v3/items", nth=1, times=1,
                   action={"type": "error", "status": 503})
    lab.faults.add(product="fsm", method="PUT", path="/fsm/v1/Service_And_Parts", nth=1, times=1,
                   action={"type": "delay", "seconds": 2.5})  # longer than the client's time-out below
    build = clients_for(clock)

    def clients(integration):
        fsm, books = build(integration)
        for c in (fsm, books):
            c.retry.sleep = lambda _s: None  # the waits asked for are recorded, not slept
            c.timeout = 1.0
        return fsm, books

    run = SyncEngine(repo, clients=clients, mailer=MailSender(repo)).run(integ.id)
    assert run.status == "succeeded", run.failure_reason
    fired = {f["id"]: f["fired"] for f in lab.faults.list()}
    assert all(n >= 1 for n in fired.values()), f"every fault fired: {fired}"
    fsm, books = build(repo.get_integration(integ.id))
    services = [s for s in fsm.list_records(SP) if not s.get("$inactive")]
    items = list(books.list_items())
    failed = {f.record_id for f in repo.record_failures(run.id)}
    assert all(f.reason for f in repo.record_failures(run.id))
    service_names, item_names = Counter(s["Name"] for s in services), Counter(i["name"] for i in items)
    assert max(service_names.values()) == 1 and max(item_names.values()) == 1  # nothing duplicated
    for s in services:  # synced, or failed with a reason: never silently lost
        assert s["Name"] in item_names or s["id"] in failed
    for i in items:
        assert i["name"] in service_names or i["item_id"] in failed


def test_two_syncer_processes_at_once_exactly_one_runs(zlab_lab, tmp_path):
    """TW-09 across processes: two `python -m syncer.run_once` for one integration at the same time."""
    lab = zlab_lab
    t = lab.tenant(products=["fsm", "books"])
    lab.control.seed(t.org("fsm"), {"service_and_parts": 10}, seed=31)
    db = f"sqlite:///{tmp_path / 'syncer.db'}"
    repo = Repo(db, clock=LabClock(lab.url))
    integ = repo.create_integration(fsm_org_id=t.org("fsm"), partner_org_id=t.org("books"), client_id=t.client_id,
                                    client_secret=t.client_secret, refresh_token=t.refresh_token,
                                    accounts_url=lab.url, api_domain=lab.url)
    repo.enable_integration(integ.id, duplicate_policy="clone")
    lab.faults.add(product="books", method="POST", path="/books/v3/items", org=t.org("books"),
                   action={"type": "delay", "seconds": 0.4})  # keeps the first run busy for seconds
    cmd = [sys.executable, "-m", "syncer.run_once", "--integration", integ.id, "--db", db, "--fakes", lab.url]
    procs = [subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    outs = [p.communicate(timeout=120)[0].decode() for p in procs]
    statuses = sorted(line.split()[1] for line in (o.strip().splitlines()[-1] for o in outs))
    assert statuses == ["refused", "succeeded"], outs
    runs = repo.list_runs(integ.id)
    assert sorted(r.status for r in runs) == ["refused", "succeeded"]
    assert "in progress" in next(r for r in runs if r.status == "refused").failure_reason.lower()
