"""Runs and the cross-process sync lock (TW-09), per-module stats and record failures (TW-25),
the manual-sync counter (TW-05)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, update
from sqlmodel import Session, col, select

from syncer.store.base import (
    AUTO_SYNC_INTERVAL,
    INTERRUPTED_REASON,
    StoreBase,
    zone_of,
)
from syncer.store.db import to_utc
from syncer.store.errors import (
    IntegrationNotEnabled,
    ManualSyncLimitReached,
    NotFound,
    Refused,
    SyncInProgress,
)
from syncer.store.models import (
    TRIGGERS,
    Integration,
    ManualSyncCounter,
    RecordFailure,
    RunModuleStat,
    SyncLock,
    SyncRun,
    new_id,
)
from syncer.sync_core.failures import FAILURE_CSV_COLUMNS, render_csv
from syncer.sync_core.lock import LockKeeper


class RunsStore(StoreBase):
    """Runs, the sync lock, stats, failures and the manual-sync counter."""

    # -- runs and the cross-process lock (TW-09) ----------------------------------------------------
    def start_run(self, integration_id: str, trigger: str = "manual", *, run_id: str | None = None,
                  count_manual: bool | None = None, require_enabled: bool = True,
                  record_refused: bool = False) -> SyncRun:
        """Take the integration's sync lock and open a run, in one transaction.

        Refusals (nothing is taken or counted): ``IntegrationNotEnabled``; ``SyncInProgress``
        (another process or thread holds an unexpired lock, TW-09); ``ManualSyncLimitReached``
        (TW-05; manual runs count by default). With ``record_refused`` a refused run is stored."""
        self._check_choice("trigger", trigger, TRIGGERS)
        count_manual = (trigger == "manual") if count_manual is None else count_manual
        try:
            return self._start_run(integration_id, trigger, run_id or new_id(), count_manual, require_enabled)
        except Refused as exc:
            if record_refused:
                self.record_refused_run(integration_id, trigger, str(exc))
            raise

    def _start_run(self, integration_id: str, trigger: str, run_id: str, count_manual: bool,
                   require_enabled: bool) -> SyncRun:
        now, lease_now = self.now(), self._lease_now()
        with self.db.begin() as s:
            # lock order everywhere: Integration row first, then its lock/run rows (no deadlocks)
            integ = self._integration(s, integration_id, lock=True)
            if require_enabled and integ.state != "enabled":
                raise IntegrationNotEnabled(f"Sync is not enabled for this integration (state: {integ.state})")
            self._ensure_lock_row(s, integration_id)
            lock = s.exec(select(SyncLock).where(SyncLock.integration_id == integration_id)
                          .with_for_update()).one()
            previous_run = lock.run_id
            taken = s.execute(update(SyncLock).where(
                SyncLock.integration_id == integration_id,
                or_(col(SyncLock.run_id).is_(None), col(SyncLock.expires_at).is_(None),
                    col(SyncLock.expires_at) < lease_now),
            ).values(run_id=run_id, holder=self.holder, acquired_at=lease_now,
                     expires_at=lease_now + self.lease).execution_options(synchronize_session=False))
            if taken.rowcount != 1:
                raise SyncInProgress("Another sync is in progress for this integration; try again after it ends")
            if count_manual:
                self._consume_manual(s, integ, now)
            if previous_run:  # the lease of a dead holder expired: its run can never finish
                s.execute(update(SyncRun).where(SyncRun.id == previous_run, SyncRun.status == "running")
                          .values(status="failed", ended_at=now, failure_reason=INTERRUPTED_REASON)
                          .execution_options(synchronize_session=False))
            run = SyncRun(id=run_id, integration_id=integration_id, trigger=trigger, started_at=now,
                          status="running", holder=self.holder)
            s.add(run)
            s.execute(update(Integration).where(Integration.id == integration_id)
                      .values(last_run_started_at=now).execution_options(synchronize_session=False))
        return run

    def heartbeat(self, integration_id: str, run_id: str) -> bool:
        """Extend the lease of a lock this run holds; False when it no longer holds it."""
        lease_now = self._lease_now()
        with self.db.begin() as s:
            res = s.execute(update(SyncLock).where(
                SyncLock.integration_id == integration_id, SyncLock.run_id == run_id,
            ).values(expires_at=lease_now + self.lease).execution_options(synchronize_session=False))
            return res.rowcount == 1

    def keep_alive(self, integration_id: str, run_id: str, interval: float | None = None) -> LockKeeper:
        """A context manager whose thread heartbeats the lock every ``interval`` real seconds
        (default: a third of the lease). ``keeper.lost`` turns True if the lock was lost."""
        return LockKeeper(self, integration_id, run_id, interval or self.lease.total_seconds() / 3)

    def lock_state(self, integration_id: str) -> SyncLock | None:
        with self.db.session() as s:
            return s.get(SyncLock, integration_id)

    def is_sync_running(self, integration_id: str) -> bool:
        lock = self.lock_state(integration_id)
        return bool(lock and lock.run_id and lock.expires_at and lock.expires_at >= self._lease_now())

    def release_lock(self, integration_id: str, run_id: str) -> bool:
        with self.db.begin() as s:
            return self._release(s, integration_id, run_id)

    @staticmethod
    def _release(s: Session, integration_id: str, run_id: str) -> bool:
        res = s.execute(update(SyncLock).where(
            SyncLock.integration_id == integration_id, SyncLock.run_id == run_id,
        ).values(run_id=None, holder=None, acquired_at=None, expires_at=None)
            .execution_options(synchronize_session=False))
        return res.rowcount == 1

    def finish_run(self, run_id: str, *, status: str = "succeeded", failure_reason: str | None = None,
                   stats: Mapping[str, Any] | None = None,
                   auto_interval: timedelta | None = AUTO_SYNC_INTERVAL) -> SyncRun:
        """Close a running run: status, end time, per-module stats (``{module: (succeeded, failed)}``
        or ``{module: {"succeeded": n, "failed": m}}``, replacing counts so far), integration's last
        run times, the TW-07 watermark on success, next auto sync = end + ``auto_interval`` (TW-04)
        when auto sync is on; releases the lock. A run no longer running is returned unchanged.
        ``refused``: the preflight found it may not run now (an import, a CRM-Books sync)."""
        self._check_choice("status", status, ("succeeded", "failed", "refused"))
        now = self.now()
        with self.db.begin() as s:
            found = s.get(SyncRun, run_id)
            if found is None:
                raise NotFound(f"Sync run {run_id} does not exist")
            integ = self._integration(s, found.integration_id, lock=True)
            run = s.exec(select(SyncRun).where(SyncRun.id == run_id).with_for_update()
                         .execution_options(populate_existing=True)).one()
            if run.status != "running":
                return run
            for module, value in (stats or {}).items():
                ok, bad = (value["succeeded"], value["failed"]) if isinstance(value, Mapping) else value
                self._set_stat(s, run_id, module, int(ok), int(bad))
            run.status, run.ended_at, run.failure_reason = status, now, failure_reason
            s.add(run)
            integ.last_run_ended_at = now
            if status == "succeeded":
                integ.last_success_started_at = run.started_at
            if integ.state == "enabled" and integ.auto_sync and auto_interval is not None:
                integ.next_auto_sync_at = now + auto_interval
            s.add(integ)
            self._release(s, run.integration_id, run_id)
        return run

    def record_refused_run(self, integration_id: str, trigger: str, reason: str) -> SyncRun:
        now = self.now()
        run = SyncRun(id=new_id(), integration_id=integration_id, trigger=trigger, started_at=now,
                      ended_at=now, status="refused", failure_reason=reason, holder=self.holder)
        with self.db.begin() as s:
            s.add(run)
        return run

    def get_run(self, run_id: str) -> SyncRun:
        with self.db.session() as s:
            run = s.get(SyncRun, run_id)
            if run is None:
                raise NotFound(f"Sync run {run_id} does not exist")
            return run

    def list_runs(self, integration_id: str, *, limit: int = 50, offset: int = 0,
                  include_refused: bool = True) -> list[SyncRun]:
        """Newest first."""
        stmt = select(SyncRun).where(SyncRun.integration_id == integration_id)
        if not include_refused:
            stmt = stmt.where(SyncRun.status != "refused")
        stmt = stmt.order_by(col(SyncRun.started_at).desc(), col(SyncRun.id).desc()).offset(offset).limit(limit)
        with self.db.session() as s:
            return list(s.exec(stmt))

    # -- per-module stats and record failures (TW-25) -------------------------------------------------
    def failures_to_retry(self, integration_id: str) -> dict[str, set[str]]:
        """The records the last succeeded run failed (module -> record ids): the next run tries
        them again even when nobody modified them (their failure may have been fixed elsewhere,
        say a currency added in Books). A run that failed as a whole reached no verdict on them, so
        the last succeeded run is the one that counts."""
        with self.db.session() as s:
            last = s.exec(select(SyncRun).where(SyncRun.integration_id == integration_id,
                                                SyncRun.status == "succeeded")
                          .order_by(col(SyncRun.started_at).desc(), col(SyncRun.id).desc()).limit(1)).first()
            if last is None:
                return {}
            out: dict[str, set[str]] = {}
            for module, record_id in s.exec(select(RecordFailure.module, RecordFailure.record_id)
                                            .where(RecordFailure.run_id == last.id)):
                out.setdefault(module, set()).add(record_id)
            return out

    def _set_stat(self, s: Session, run_id: str, module: str, succeeded: int, failed: int) -> None:
        stmt = self._insert()(RunModuleStat.__table__).values(
            id=new_id(), run_id=run_id, module=module, succeeded=succeeded, failed=failed)
        s.execute(stmt.on_conflict_do_update(index_elements=["run_id", "module"],
                                             set_={"succeeded": succeeded, "failed": failed}))

    def bump_module_stat(self, run_id: str, module: str, *, succeeded: int = 0, failed: int = 0) -> None:
        """Add to a run's per-module counts (atomic; usable while the run goes)."""
        stmt = self._insert()(RunModuleStat.__table__).values(
            id=new_id(), run_id=run_id, module=module, succeeded=succeeded, failed=failed)
        t = RunModuleStat.__table__.c
        stmt = stmt.on_conflict_do_update(index_elements=["run_id", "module"], set_={
            "succeeded": t.succeeded + succeeded, "failed": t.failed + failed})
        with self.db.begin() as s:
            s.execute(stmt)

    def run_stats(self, run_id: str) -> list[RunModuleStat]:
        with self.db.session() as s:
            return list(s.exec(select(RunModuleStat).where(RunModuleStat.run_id == run_id)
                               .order_by(RunModuleStat.module)))

    def add_record_failure(self, run_id: str, module: str, record_id: str, reason: str,
                           record_name: str = "") -> RecordFailure:
        """Log why a record failed in a run. One reason per record (TW-25): the first is kept.
        Counts are separate: see ``bump_module_stat`` / ``finish_run(stats=…)``."""
        record_id = str(record_id)
        with self.db.begin() as s:
            run = s.get(SyncRun, run_id)
            if run is None:
                raise NotFound(f"Sync run {run_id} does not exist")
            stmt = self._insert()(RecordFailure.__table__).values(
                id=new_id(), run_id=run_id, integration_id=run.integration_id, module=module,
                record_id=record_id, record_name=record_name or "", reason=reason, at=self.now())
            s.execute(stmt.on_conflict_do_nothing(index_elements=["run_id", "module", "record_id"]))
            return s.exec(select(RecordFailure).where(
                RecordFailure.run_id == run_id, RecordFailure.module == module,
                RecordFailure.record_id == record_id)).one()

    def record_failures(self, run_id: str, module: str | None = None) -> list[RecordFailure]:
        stmt = select(RecordFailure).where(RecordFailure.run_id == run_id)
        if module is not None:
            stmt = stmt.where(RecordFailure.module == module)
        with self.db.session() as s:
            return list(s.exec(stmt.order_by(RecordFailure.module, RecordFailure.at, RecordFailure.record_id)))

    def failure_csv_rows(self, run_id: str, module: str) -> list[list[str]]:
        """Header + one row per failed record: Record Id, Record Name, Reason, Sync Id, Time."""
        rows = [list(FAILURE_CSV_COLUMNS)]
        for f in self.record_failures(run_id, module):
            rows.append([f.record_id, f.record_name, f.reason, f.run_id,
                         f.at.isoformat(timespec="seconds") if f.at else ""])
        return rows

    def failure_csv(self, run_id: str, module: str) -> str:
        """The text of ``<Module>FailureLogs.csv`` (name: ``failure_csv_filename(module)``)."""
        return render_csv(self.failure_csv_rows(run_id, module))

    # -- manual sync counter (TW-05) ------------------------------------------------------------------
    def org_day(self, integration: Integration, at: datetime | None = None) -> date:
        """The date at ``at`` (default now) in the org's time zone."""
        return to_utc(at or self.now()).astimezone(zone_of(integration.time_zone)).date()

    def manual_syncs_today(self, integration_id: str) -> int:
        with self.db.session() as s:
            integ = self._integration(s, integration_id)
            row = s.get(ManualSyncCounter, (integration_id, self.org_day(integ).isoformat()))
            return row.count if row else 0

    def consume_manual_sync(self, integration_id: str) -> int:
        """Count one manual sync today; returns the new count or raises ``ManualSyncLimitReached``."""
        with self.db.begin() as s:
            integ = self._integration(s, integration_id)
            return self._consume_manual(s, integ, self.now())

    def _consume_manual(self, s: Session, integ: Integration, now: datetime) -> int:
        day = self.org_day(integ, now).isoformat()
        ins = self._insert()(ManualSyncCounter.__table__).values(integration_id=integ.id, day=day, count=0)
        s.execute(ins.on_conflict_do_nothing(index_elements=["integration_id", "day"]))
        key = and_(ManualSyncCounter.integration_id == integ.id, ManualSyncCounter.day == day)
        res = s.execute(update(ManualSyncCounter).where(key, ManualSyncCounter.count < integ.manual_sync_limit)
                        .values(count=ManualSyncCounter.count + 1).execution_options(synchronize_session=False))
        if res.rowcount != 1:
            raise ManualSyncLimitReached(
                f"Manual sync can be done only {integ.manual_sync_limit} times a day; the limit for "
                f"{day} ({integ.time_zone}) is reached. Try again tomorrow.")
        return s.exec(select(ManualSyncCounter.count).where(key)).one()
