"""The engine protocol and registry (syncer/sync_core/engine.py): the service and scheduler hand a run
to the engine of the integration's kind, with the run id and callbacks passed explicitly.

A recording engine stands in for a second kind ("crm") so the dispatch is seen without any product."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import ClassVar

import pytest

from syncer.books_sync import SyncEngine
from syncer.config import SyncerConfig
from syncer.service import SyncerService
from syncer.store import InvalidValue, SyncInProgress
from syncer.store.models import SyncRun
from syncer.sync_core.engine import Engine, EngineRegistry, RunHooks, open_run

AT = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


class RecordingEngine:
    """Opens and closes runs like an engine must, and remembers what it was asked."""

    kind: ClassVar[str] = "crm"

    def __init__(self, repo) -> None:
        self.repo = repo
        self.runs: list[tuple[str, str, str | None]] = []
        self.ticks: list[datetime] = []
        self.hold = False  # leave the run open (its lock held)

    def run(self, integration_id: str, *, trigger: str, run_id: str | None = None,
            hooks: RunHooks | None = None) -> SyncRun:
        self.runs.append((integration_id, trigger, run_id))
        run, opened = open_run(self.repo, integration_id, trigger=trigger, run_id=run_id, hooks=hooks)
        if not opened or self.hold:
            return run
        return self.repo.finish_run(run.id, status="succeeded", stats={"Contacts": (2, 0)})

    def tick(self, now: datetime) -> None:
        self.ticks.append(now)


@pytest.fixture
def svc(tmp_path):
    config = SyncerConfig(database_url=f"sqlite:///{tmp_path / 'syncer.db'}", embedded_mail=False,
                          scheduler_interval=0, support_token="t")
    service = SyncerService(config, clock=lambda: AT)
    yield service
    service.close()


def crm_integration(svc, **fields):
    integ = svc.repo.create_integration(fsm_org_id="1", kind="crm", partner_org_id="2", **fields)
    return svc.repo.enable_integration(integ.id, duplicate_policy="clone")


def standin(svc) -> RecordingEngine:
    """The recording engine in place of the service's CRM engine."""
    svc.engines = EngineRegistry([svc.engines["books"]])
    return svc.engines.register(RecordingEngine(svc.repo))


def test_the_registry_answers_the_engine_of_a_kind(svc):
    from syncer.crm_sync.engine import CrmEngine

    books = svc.engines["books"]
    assert isinstance(books, SyncEngine) and isinstance(books, Engine) and list(svc.engines) == ["books", "crm"]
    assert isinstance(svc.engines["crm"], CrmEngine) and isinstance(svc.engines["crm"], Engine)
    svc.engines = EngineRegistry([books])  # a service without a CRM engine
    integ = crm_integration(svc)
    with pytest.raises(InvalidValue, match="No sync engine for integrations of kind 'crm'"):
        svc.engines.for_integration(integ)
    with pytest.raises(InvalidValue):  # and so the service refuses the run instead of running Books on it
        svc.run_sync(integ.id)
    assert "crm" not in svc.engines and svc.engines.get("crm") is None
    with pytest.raises(ValueError, match="registered already"):
        EngineRegistry([books, books])


def test_the_service_runs_an_integration_by_the_engine_of_its_kind_with_the_id_it_chose(svc):
    crm = standin(svc)
    integ = crm_integration(svc)
    run = svc.run_sync(integ.id, trigger="manual")
    assert crm.runs == [(integ.id, "manual", run.id)] and run.status == "succeeded"
    assert [(s.module, s.succeeded) for s in svc.repo.run_stats(run.id)] == [("Contacts", 2)]
    # a refusal reaches the caller as the store's exception, through the hooks, and is recorded
    crm.hold = True
    held = svc.run_sync(integ.id, trigger="auto")
    assert held.status == "running"
    with pytest.raises(SyncInProgress):
        svc.run_sync(integ.id, trigger="auto")
    assert [r.status for r in svc.repo.list_runs(integ.id)][:2] == ["refused", "running"]


def test_open_run_reports_through_its_hooks(svc):
    integ = crm_integration(svc)
    seen: list[object] = []
    hooks = RunHooks(started=seen.append, refused=seen.append)
    run, opened = open_run(svc.repo, integ.id, trigger="auto", run_id="run-1", hooks=hooks)
    assert opened and run.id == "run-1" and seen == [run]
    again, opened = open_run(svc.repo, integ.id, trigger="auto", run_id="run-2", hooks=hooks)
    assert not opened and again.status == "refused" and isinstance(seen[1], SyncInProgress)


def test_the_scheduler_ticks_every_engine_and_starts_due_runs_by_kind(svc):
    crm = standin(svc)
    integ = crm_integration(svc, next_auto_sync_at=AT - timedelta(minutes=1))
    [run] = svc.scheduler.tick(wait=True)
    assert crm.ticks == [AT] and crm.runs == [(integ.id, "auto", run.id)] and run.trigger == "auto"
