"""The syncer's state store (syncer/store), on SQLite and PostgreSQL (the ``backend`` fixture).

Covers: its own metadata (never the fakes'), link uniqueness, write-ahead intents surviving a
restart, the TW-09 lock across real processes (and its takeover after a SIGKILL), the TW-05
manual counter with the org's midnight, run stats and ``<Module>FailureLogs.csv`` (TW-25), state
transitions (TW-01, TW-15), the TW-04 schedule, and aware-UTC times.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from syncer.store import (
    AlreadyEnabled,
    IntegrationNotEnabled,
    InvalidValue,
    LinkConflict,
    LinkSpec,
    ManualSyncLimitReached,
    NotFound,
    RecordLink,
    ReenableForbidden,
    Repo,
    StoreDB,
    SyncerModel,
    SyncInProgress,
    failure_csv_filename,
)
from syncer.store.repo import INTERRUPTED_REASON

ROOT = Path(__file__).resolve().parents[2]


class FakeClock:
    """A clock callable the test drives (stands in for the lab clock)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **kw: float) -> None:
        self.at += timedelta(**kw)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2024, 3, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
def repo(backend, clock):
    r = Repo(backend, clock=clock, lease_clock=clock, lease_seconds=30, holder="test:main")
    yield r
    r.db.dispose()


@pytest.fixture
def integ(repo):
    i = repo.create_integration(fsm_org_id="60000001", partner_org_id="70000001", partner_product="books",
                                client_id="1000.ABC", client_secret="s3cret", refresh_token="1000.rt",
                                accounts_url="http://127.0.0.1:8700", api_domain="http://127.0.0.1:8700")
    return repo.enable_integration(i.id, duplicate_policy="clone", sync_type="IV")


# -- metadata of its own --------------------------------------------------------------------------

def test_syncer_tables_never_join_the_fakes_metadata(repo):
    import fakes  # noqa: F401 - the harness may import both; registers the fakes' tables

    ours = set(SyncerModel.metadata.tables)
    assert ours and all(name.startswith("syncer_") for name in ours)
    assert SyncerModel.metadata is not SQLModel.metadata
    assert not ours & set(SQLModel.metadata.tables)


def test_default_url_and_env(monkeypatch):
    from syncer.store import DEFAULT_SYNCER_DB_URL, syncer_database_url

    monkeypatch.delenv("ZLAB_SYNCER_DATABASE_URL", raising=False)
    assert syncer_database_url() == DEFAULT_SYNCER_DB_URL == "sqlite:///.zlab/syncer.db"
    monkeypatch.setenv("ZLAB_SYNCER_DATABASE_URL", "sqlite:///x.db")
    assert syncer_database_url() == "sqlite:///x.db"
    assert syncer_database_url("postgresql+psycopg://h/db") == "postgresql+psycopg://h/db"


# -- integrations ---------------------------------------------------------------------------------

def test_integration_lifecycle(repo, clock):
    i = repo.create_integration(fsm_org_id="1", partner_org_id="2", partner_product="invoice", time_zone="Asia/Kolkata")
    assert i.id.isdigit() and len(i.id) == 18 and i.state == "created" and i.mode == "two_way"
    got = repo.get_integration(i.id)
    assert (got.fsm_org_id, got.partner_org_id, got.partner_product, got.time_zone) == ("1", "2", "invoice", "Asia/Kolkata")
    with pytest.raises(IntegrationNotEnabled):
        repo.start_run(i.id, "auto")
    repo.enable_integration(i.id, duplicate_policy="overwrite", sync_type="III")
    with pytest.raises(AlreadyEnabled):  # TW-01: enabling is a one-time action
        repo.enable_integration(i.id)
    upd = repo.update_integration(i.id, auto_sync=False, mode="one_way", settings={"k": [1, 2]})
    assert (upd.auto_sync, upd.mode, repo.get_integration(i.id).settings) == (False, "one_way", {"k": [1, 2]})
    with pytest.raises(InvalidValue):
        repo.update_integration(i.id, sync_type="V")
    with pytest.raises(InvalidValue):
        repo.update_integration(i.id, time_zone="Mars/Olympus")
    with pytest.raises(InvalidValue):
        repo.update_integration(i.id, id="other")
    with pytest.raises(InvalidValue):
        repo.create_integration(id=i.id, fsm_org_id="1", partner_org_id="2")
    with pytest.raises(NotFound):
        repo.get_integration("nope")
    assert [x.id for x in repo.list_integrations(fsm_org_id="1")] == [i.id]

    # TW-15: disabled because of an error -> only support re-enables it
    d = repo.disable_integration(i.id, "Sync type mismatch with CRM-Books", by_error=True)
    assert d.state == "disabled" and d.disabled_by_error and d.next_auto_sync_at is None
    with pytest.raises(ReenableForbidden, match="support"):
        repo.enable_integration(i.id)
    e = repo.enable_integration(i.id, by_support=True)
    assert (e.state, e.disabled_by_error, e.disabled_reason) == ("enabled", False, None)
    # a user-disabled sync may be re-enabled by the user
    repo.disable_integration(i.id, "paused by user")
    assert repo.enable_integration(i.id).state == "enabled"


def test_mappings_replace_per_module_and_bump_version(repo, integ):
    v0 = repo.get_integration(integ.id).mapping_version
    repo.set_mappings(integ.id, "customers", [
        {"fsm_module": "Companies", "partner_entity": "contacts", "fsm_field": "Company_Name",
         "partner_field": "company_name"},
        {"fsm_module": "Companies", "partner_entity": "contacts", "fsm_field": "Phone", "partner_field": "phone",
         "direction": "fsm_to_books"},
    ])
    repo.set_mappings(integ.id, "items", [{"fsm_field": "Name", "partner_field": "name"}])
    repo.set_mappings(integ.id, "customers", [{"fsm_field": "Email", "partner_field": "email"}])
    got = repo.get_mappings(integ.id, "customers")
    assert [(m.fsm_field, m.partner_field, m.direction) for m in got] == [("Email", "email", "both")]
    assert len(repo.get_mappings(integ.id)) == 2
    assert repo.get_integration(integ.id).mapping_version == v0 + 3
    with pytest.raises(InvalidValue):
        repo.set_mappings(integ.id, "items", [{"fsm_field": "Name", "partner_field": "name", "direction": "up"}])
    with pytest.raises(InvalidValue):
        repo.set_mappings(integ.id, "items", [{"fsm_field": "Name"}])


# -- record links -----------------------------------------------------------------------------------

def test_link_lookup_both_ways_and_uniqueness(repo, integ, clock):
    t = datetime(2024, 3, 1, 11, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    a = repo.upsert_link(integ.id, fsm_module="Companies", fsm_id="111", partner_entity="contacts",
                         partner_id="901", fsm_modified_time=t, result="created_in_books", run_id="r1")
    assert repo.link_by_fsm(integ.id, "Companies", "111").id == a.id
    assert repo.link_by_partner(integ.id, "contacts", "901").id == a.id
    assert repo.link_by_fsm(integ.id, "Companies", "112") is None
    assert repo.link_by_fsm("other-integration", "Companies", "111") is None
    assert a.fsm_modified_time == t and a.fsm_modified_time.tzinfo == UTC

    # same pair again: the same link, updated
    clock.advance(minutes=5)
    b = repo.upsert_link(integ.id, fsm_module="Companies", fsm_id="111", partner_entity="contacts", partner_id="901",
                         partner_modified_time=clock.at, result="updated_fsm")
    assert b.id == a.id and b.last_result == "updated_fsm" and b.fsm_modified_time == t
    assert b.last_synced_at == clock.at and b.last_run_id == "r1"

    # one more pair; then a pair crossing both existing links is a conflict
    repo.upsert_link(integ.id, fsm_module="Companies", fsm_id="222", partner_entity="contacts", partner_id="902")
    with pytest.raises(LinkConflict):
        repo.upsert_link(integ.id, fsm_module="Companies", fsm_id="111", partner_entity="contacts", partner_id="902")
    assert repo.link_by_fsm(integ.id, "Companies", "111").partner_id == "901"

    # the database itself refuses a second link for either side
    for dup in ({"fsm_id": "111", "partner_id": "999"}, {"fsm_id": "333", "partner_id": "901"}):
        with pytest.raises(IntegrityError), repo.db.begin() as s:
            s.add(RecordLink(integration_id=integ.id, fsm_module="Companies", partner_entity="contacts", **dup))

    # TW-14: deleting a side deactivates the link; the row stays so nothing is recreated
    d = repo.deactivate_link(a.id, "deleted in Books")
    assert not d.active and d.inactive_reason == "deleted in Books"
    kept = repo.link_by_fsm(integ.id, "Companies", "111")
    assert kept is not None and not kept.active
    assert {x.fsm_id for x in repo.list_links(integ.id, active=True)} == {"222"}
    assert len(repo.list_links(integ.id)) == 2


def test_a_batch_of_links_and_its_intents_is_saved_all_at_once_or_not_at_all(repo, integ):
    intents = repo.record_pendings(integ.id, side="fsm", module="Contacts", source_module="contacts",
                                   run_id="r1", intents=[("901", None), ("902", {"k": 1}), ("901", None)])
    assert [p.source_id for p in intents] == ["901", "902", "901"] and intents[0].id == intents[2].id
    assert {p.id for p in repo.open_pending(integ.id)} == {intents[0].id, intents[1].id}
    specs = [LinkSpec("Contacts", "111", "contacts", "901", result="created"),
             LinkSpec("Contacts", "112", "contacts", "902", result="created")]
    links = repo.save_links(integ.id, specs, run_id="r1",
                            resolved=[(intents[0].id, "111", "created"), (intents[1].id, "112", "created")])
    assert [(x.fsm_id, x.partner_id, x.last_run_id) for x in links] == [("111", "901", "r1"), ("112", "902", "r1")]
    assert repo.links_by_partner(integ.id, "contacts", ["901", "902", "903"]).keys() == {"901", "902"}
    assert repo.links_by_fsm(integ.id, "Contacts", ["112"])["112"].partner_id == "902"
    assert repo.open_pending(integ.id) == []

    # a batch crossing an existing link saves nothing, its intents stay open
    [p3] = repo.record_pendings(integ.id, side="fsm", module="Contacts", intents=[("903", None)])
    with pytest.raises(LinkConflict):
        repo.save_links(integ.id, [LinkSpec("Contacts", "113", "contacts", "903"),
                                   LinkSpec("Contacts", "111", "contacts", "902")], resolved=[(p3.id, "113", "created")])
    assert repo.link_by_fsm(integ.id, "Contacts", "113") is None
    assert [p.id for p in repo.open_pending(integ.id)] == [p3.id]


def test_the_failures_to_retry_are_the_last_succeeded_runs(repo, integ, clock):
    assert repo.failures_to_retry(integ.id) == {}
    first = repo.start_run(integ.id, "auto")
    repo.add_record_failure(first.id, "Companies", "111", "Currency GBP is not available")
    repo.add_record_failure(first.id, "Contacts", "222", "no")
    repo.finish_run(first.id, status="succeeded")
    assert repo.failures_to_retry(integ.id) == {"Companies": {"111"}, "Contacts": {"222"}}
    clock.advance(minutes=5)
    second = repo.start_run(integ.id, "auto")
    repo.finish_run(second.id, status="failed", failure_reason="taxes")  # no verdict on any record
    assert repo.failures_to_retry(integ.id) == {"Companies": {"111"}, "Contacts": {"222"}}
    clock.advance(minutes=5)
    third = repo.start_run(integ.id, "auto")
    repo.finish_run(third.id, status="succeeded")
    assert repo.failures_to_retry(integ.id) == {}


# -- write-ahead intents --------------------------------------------------------------------------

def test_pending_writes_survive_a_restart_and_resolve(repo, integ, backend, clock):
    p1 = repo.record_pending(integ.id, side="partner", module="contacts", source_module="Companies",
                             source_id="111", run_id="r1", payload={"name": "Acme"})
    again = repo.record_pending(integ.id, side="partner", module="contacts", source_module="Companies",
                                source_id="111", run_id="r2")
    assert again.id == p1.id  # idempotent while open
    clock.advance(seconds=1)
    p2 = repo.record_pending(integ.id, side="fsm", module="Companies", source_id="901")
    repo.db.dispose()

    restarted = Repo(backend, clock=clock)  # a new process would see the same
    try:
        open_ = restarted.open_pending(integ.id)
        assert [(p.id, p.side, p.source_id, p.payload) for p in open_] == [
            (p1.id, "partner", "111", {"name": "Acme"}), (p2.id, "fsm", "901", {})]
        assert all(p.started_at.tzinfo == UTC for p in open_)
        done = restarted.resolve_pending(p1.id, created_id="901", outcome="created")
        assert done.done and done.created_id == "901" and done.done_at == clock.at
        assert [p.id for p in restarted.open_pending(integ.id)] == [p2.id]
        # a resolved intent no longer absorbs a new one
        p3 = restarted.record_pending(integ.id, side="partner", module="contacts", source_id="111")
        assert p3.id != p1.id
        with pytest.raises(InvalidValue):
            restarted.record_pending(integ.id, side="crm", module="x", source_id="1")
        with pytest.raises(NotFound):
            restarted.resolve_pending("nope")
    finally:
        restarted.db.dispose()


# -- runs, stats, failures ------------------------------------------------------------------------------

def test_run_lifecycle_stats_and_schedule(repo, integ, clock):
    run = repo.start_run(integ.id, "auto")
    assert run.status == "running" and run.started_at == clock.at and repo.is_sync_running(integ.id)
    repo.bump_module_stat(run.id, "customers", succeeded=2)
    repo.bump_module_stat(run.id, "customers", succeeded=1, failed=1)
    repo.bump_module_stat(run.id, "items", succeeded=5)
    clock.advance(minutes=2)
    done = repo.finish_run(run.id, stats={"invoices": {"succeeded": 1, "failed": 0}})
    assert done.status == "succeeded" and done.ended_at == clock.at
    assert {(s.module, s.succeeded, s.failed) for s in repo.run_stats(run.id)} == {
        ("customers", 3, 1), ("items", 5, 0), ("invoices", 1, 0)}
    assert not repo.is_sync_running(integ.id)
    i = repo.get_integration(integ.id)
    assert i.last_run_started_at == run.started_at and i.last_run_ended_at == clock.at
    assert i.last_success_started_at == run.started_at  # TW-07 watermark
    assert i.next_auto_sync_at == clock.at + timedelta(hours=3)  # TW-04
    assert repo.due_integrations() == []
    clock.advance(hours=3)
    assert [x.id for x in repo.due_integrations()] == [integ.id]
    assert repo.finish_run(run.id, status="failed").status == "succeeded"  # closed runs stay closed

    # a failed run does not move the watermark; auto sync off -> no next time
    repo.update_integration(integ.id, auto_sync=False, next_auto_sync_at=None)
    r2 = repo.start_run(integ.id, "manual")
    repo.finish_run(r2.id, status="failed", failure_reason="Taxes enabled in FSM but not in Books",
                    stats={"customers": (0, 0)})
    i = repo.get_integration(integ.id)
    assert i.last_success_started_at == run.started_at and i.next_auto_sync_at is None
    runs = repo.list_runs(integ.id)
    assert [r.id for r in runs] == [r2.id, run.id] and runs[0].failure_reason.startswith("Taxes")


def test_failures_as_csv_one_reason_per_record(repo, integ, clock):
    run = repo.start_run(integ.id, "manual")
    repo.add_record_failure(run.id, "customers", "111", "Currency XYZ is not present in Zoho Books",
                            record_name='Acme, "Ltd"')
    clock.advance(seconds=1)
    repo.add_record_failure(run.id, "customers", "111", "a second reason is not added")
    repo.add_record_failure(run.id, "customers", "112", "Duplicate display name", record_name="Bolt")
    repo.add_record_failure(run.id, "items", "7", "Rate is mandatory")
    assert failure_csv_filename("customers") == "CustomersFailureLogs.csv"
    assert failure_csv_filename("services_and_parts") == "ServicesAndPartsFailureLogs.csv"
    assert failure_csv_filename("Items") == "ItemsFailureLogs.csv"
    rows = list(csv.reader(io.StringIO(repo.failure_csv(run.id, "customers"))))
    assert rows[0] == ["Record Id", "Record Name", "Reason", "Sync Id", "Time"]
    assert [r[:4] for r in rows[1:]] == [
        ["111", 'Acme, "Ltd"', "Currency XYZ is not present in Zoho Books", run.id],
        ["112", "Bolt", "Duplicate display name", run.id]]
    assert rows[1][4] == "2024-03-01T12:00:00+00:00"
    assert repo.failure_csv_rows(run.id, "items")[1][:3] == ["7", "", "Rate is mandatory"]
    assert repo.failure_csv_rows(run.id, "invoices") == [["Record Id", "Record Name", "Reason", "Sync Id", "Time"]]
    with pytest.raises(NotFound):
        repo.add_record_failure("nope", "items", "1", "x")


# -- the lock (TW-09) -----------------------------------------------------------------------------------

def test_lock_in_process_heartbeat_and_takeover(repo, integ, clock, backend):
    other = Repo(backend, clock=clock, lease_clock=clock, lease_seconds=30, holder="test:other")
    try:
        run = repo.start_run(integ.id, "manual")
        assert repo.lock_state(integ.id).holder == "test:main"
        with pytest.raises(SyncInProgress):
            other.start_run(integ.id, "auto", record_refused=True)
        [refused] = [r for r in other.list_runs(integ.id) if r.status == "refused"]
        assert "in progress" in refused.failure_reason and refused.ended_at == refused.started_at
        clock.advance(seconds=20)
        assert repo.heartbeat(integ.id, run.id)  # lease now ends at +50 s
        clock.advance(seconds=20)
        with pytest.raises(SyncInProgress):
            other.start_run(integ.id, "auto")
        clock.advance(seconds=11)  # lease expired: the holder is presumed dead
        taken = other.start_run(integ.id, "auto")
        assert other.lock_state(integ.id).run_id == taken.id
        old = other.get_run(run.id)
        assert old.status == "failed" and old.failure_reason == INTERRUPTED_REASON and old.ended_at == clock.at
        assert not repo.heartbeat(integ.id, run.id)  # the old holder learns it lost the lock
        assert repo.finish_run(run.id).status == "failed"  # and cannot close the taken-over run
        assert repo.is_sync_running(integ.id)  # nor release the new holder's lock
        other.finish_run(taken.id)
        assert not repo.is_sync_running(integ.id)
        assert repo.start_run(integ.id, "auto").status == "running"
    finally:
        other.db.dispose()


def test_lock_keep_alive_thread(sqlite_url, clock):
    repo = Repo(sqlite_url, clock=clock, lease_seconds=1.0)  # leases on real time
    other = Repo(sqlite_url, clock=clock, lease_seconds=1.0)
    try:
        i = repo.create_integration(fsm_org_id="1", partner_org_id="2", state="enabled")
        run = repo.start_run(i.id, "auto")
        with repo.keep_alive(i.id, run.id, interval=0.1) as keeper:
            time.sleep(1.5)  # longer than the lease: only the heartbeats keep it
            with pytest.raises(SyncInProgress):
                other.start_run(i.id, "auto")
        assert not keeper.lost
        time.sleep(1.2)
        assert other.start_run(i.id, "auto").status == "running"
    finally:
        repo.db.dispose()
        other.db.dispose()


_CONTENDER = textwrap.dedent("""
    import json, sys
    from datetime import UTC, datetime
    from syncer.store import Repo, SyncInProgress
    url, integration_id, name = sys.argv[1:4]
    repo = Repo(url, clock=lambda: datetime.now(UTC), holder=name)
    repo.get_integration(integration_id)  # connect and warm up before the race
    print("ready", flush=True)
    run = None
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "go":
            try:
                run = repo.start_run(integration_id, "auto")
                print(json.dumps({"got": True, "run": run.id}), flush=True)
            except SyncInProgress as exc:
                run = None
                print(json.dumps({"got": False, "error": str(exc)}), flush=True)
        elif cmd == "finish":
            if run is not None:
                repo.finish_run(run.id)
            print("finished", flush=True)
        elif cmd == "quit":
            break
""")


def _spawn(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", *args], cwd=ROOT, env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _line(proc: subprocess.Popen) -> str:
    out = proc.stdout.readline()
    assert out, f"child died: {proc.stderr.read()}"
    return out.strip()


def test_lock_across_processes_exactly_one_runs(repo, integ, backend):
    procs = [_spawn([_CONTENDER, backend, integ.id, f"proc{n}"]) for n in (1, 2)]
    try:
        assert [_line(p) for p in procs] == ["ready", "ready"]
        winners = []
        for _round in range(4):
            for p in procs:  # release both as close together as possible
                p.stdin.write("go\n")
            for p in procs:
                p.stdin.flush()
            results = [json.loads(_line(p)) for p in procs]
            assert sorted(r["got"] for r in results) == [False, True], results
            loser = next(r for r in results if not r["got"])
            assert "in progress" in loser["error"]
            winner = next(r for r in results if r["got"])
            assert repo.lock_state(integ.id).run_id == winner["run"]
            winners.append(winner["run"])
            for p in procs:
                p.stdin.write("finish\n")
                p.stdin.flush()
            assert [_line(p) for p in procs] == ["finished", "finished"]
        runs = repo.list_runs(integ.id)
        assert sorted(r.id for r in runs) == sorted(winners)
        assert all(r.status == "succeeded" for r in runs)
    finally:
        for p in procs:
            if p.poll() is None:
                p.stdin.write("quit\n")
                p.stdin.close()
                p.wait(timeout=30)


_HOLDER = textwrap.dedent("""
    import sys, time
    from datetime import UTC, datetime
    from syncer.store import Repo
    url, integration_id = sys.argv[1:3]
    repo = Repo(url, clock=lambda: datetime.now(UTC), lease_seconds=30, holder="doomed")
    run = repo.start_run(integration_id, "auto")
    print(run.id, flush=True)
    time.sleep(600)
""")


def test_lock_of_a_sigkilled_holder_is_taken_over_after_the_lease(integ, backend, clock):
    proc = _spawn([_HOLDER, backend, integ.id])
    try:
        dead_run = _line(proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    offset = timedelta(0)
    late = Repo(backend, clock=clock, lease_clock=lambda: datetime.now(UTC) + offset, lease_seconds=30)
    try:
        assert late.lock_state(integ.id).holder == "doomed"
        with pytest.raises(SyncInProgress):  # the lease still runs: the holder might be alive
            late.start_run(integ.id, "auto")
        offset = timedelta(seconds=31)
        run = late.start_run(integ.id, "auto")
        assert late.lock_state(integ.id).run_id == run.id
        dead = late.get_run(dead_run)
        assert dead.status == "failed" and dead.failure_reason == INTERRUPTED_REASON
    finally:
        late.db.dispose()


# -- manual sync counter (TW-05) --------------------------------------------------------------------------

def test_manual_limit_resets_at_midnight_in_the_org_time_zone(repo, clock):
    clock.at = datetime(2024, 3, 1, 18, 0, tzinfo=UTC)  # 23:30 in Asia/Kolkata
    ist = repo.create_integration(fsm_org_id="1", partner_org_id="2", time_zone="Asia/Kolkata", state="enabled")
    utc = repo.create_integration(fsm_org_id="3", partner_org_id="4", state="enabled")
    for n in range(1, 30):
        assert repo.consume_manual_sync(ist.id) == n
        assert repo.consume_manual_sync(utc.id) == n
    for i in (ist, utc):  # the 30th goes through start_run
        repo.finish_run(repo.start_run(i.id, "manual").id)
    assert repo.manual_syncs_today(ist.id) == 30
    auto = repo.start_run(ist.id, "auto")  # automatic syncs do not count
    repo.finish_run(auto.id)
    with pytest.raises(ManualSyncLimitReached, match="30 times a day"):
        repo.start_run(ist.id, "manual", record_refused=True)
    assert not repo.is_sync_running(ist.id)  # the refusal took no lock
    [refused] = [r for r in repo.list_runs(ist.id) if r.status == "refused"]
    assert "30 times a day" in refused.failure_reason and refused.trigger == "manual"
    with pytest.raises(ManualSyncLimitReached):
        repo.consume_manual_sync(ist.id)
    assert repo.manual_syncs_today(ist.id) == 30

    clock.advance(minutes=31)  # 00:01 IST on March 2nd; still March 1st in UTC
    assert repo.manual_syncs_today(ist.id) == 0
    run = repo.start_run(ist.id, "manual")
    assert repo.manual_syncs_today(ist.id) == 1
    repo.finish_run(run.id)
    with pytest.raises(ManualSyncLimitReached):
        repo.start_run(utc.id, "manual")
    clock.at = datetime(2024, 3, 2, 0, 0, tzinfo=UTC)  # UTC midnight
    assert repo.start_run(utc.id, "manual").status == "running"

    # a run refused because another sync goes does not use up a manual sync
    before = repo.manual_syncs_today(utc.id)
    with pytest.raises(SyncInProgress):
        repo.start_run(utc.id, "manual")
    assert repo.manual_syncs_today(utc.id) == before


# -- times ---------------------------------------------------------------------------------------------

def test_times_are_aware_utc_on_read(backend):
    ist = timezone(timedelta(hours=5, minutes=30))
    clock = FakeClock(datetime(2024, 3, 1, 17, 30, tzinfo=ist))  # 12:00 UTC
    repo = Repo(backend, clock=clock, lease_clock=clock)
    try:
        i = repo.create_integration(fsm_org_id="1", partner_org_id="2", state="enabled",
                                    next_auto_sync_at=datetime(2024, 3, 1, 15, 0))  # naive = UTC
        run = repo.start_run(i.id, "auto")
        repo.upsert_link(i.id, fsm_module="Contacts", fsm_id="1", partner_entity="contacts", partner_id="2",
                         fsm_modified_time=datetime(2021, 5, 2, 11, 17, 33, tzinfo=ist))
        mail = repo.log_mail(to=["a@example.com"], subject="s", body="b")
    finally:
        repo.db.dispose()
    fresh = Repo(StoreDB(backend), clock=clock)
    try:
        got = fresh.get_integration(i.id)
        values = [got.created_at, got.next_auto_sync_at, fresh.get_run(run.id).started_at,
                  fresh.link_by_fsm(i.id, "Contacts", "1").fsm_modified_time,
                  fresh.get_mail(mail.id).sent_at, fresh.lock_state(i.id).expires_at]
        assert all(v.tzinfo == UTC for v in values), values
        assert values[0] == datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
        assert values[1] == datetime(2024, 3, 1, 15, 0, tzinfo=UTC)
        assert values[2] == datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
        assert values[3] == datetime(2021, 5, 2, 5, 47, 33, tzinfo=UTC)
        assert fresh.get_mail(mail.id).to == "a@example.com"
        assert [m.id for m in fresh.list_mail()] == [mail.id]
    finally:
        fresh.db.dispose()
