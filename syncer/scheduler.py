"""Automatic sync (TW-04): three hours after the end of the previous run, on the lab clock.

A background thread wakes every ``interval`` *real* seconds, reads the lab clock and starts an
``auto`` run for every integration ``Repo.due_integrations(now)`` names (enabled, auto sync on,
``next_auto_sync_at`` passed). ``finish_run`` sets ``next_auto_sync_at = end + 3 h`` after every
run; enabling sets it to three hours after the enable; disabling (also by an error, TW-15/16/17)
clears it, and ``auto_sync = false`` keeps an integration out. So freezing the lab clock and
advancing it by 3 h makes the next automatic sync due at once, without waiting.

Runs go through the service, which hands each to the engine of its integration's kind; every
engine's own ``tick(now)`` (``syncer.sync_core.engine.Engine``) is called on each pass too.

``tick()`` does one pass synchronously (tests, ``POST /api/v1/scheduler/tick``). Runs of
different integrations go in parallel (a small pool); one integration never has two at once
(in-process bookkeeping here, and the store's cross-process lock, TW-09, everywhere).
One scheduler per database: the thread runs ticks only while it holds the database's scheduler
lease (``Repo.take_lease``, renewed every third of ``lease_seconds`` real seconds). A second
syncer on the same database finds the lease held, says so (a warning in its log), and stands by
(``state == "standby"``; ``/health`` shows it), trying again at each renewal time: when the
holder stops it releases the lease and the standby takes over at its next try; when the holder
dies its lease expires after ``lease_seconds`` and is taken over then. An explicit ``tick()``
(``POST /api/v1/scheduler/tick``) runs on any syncer: its runs take the per-integration lock
(TW-09) like every run, so nothing runs twice.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING

from syncer.store.models import SyncRun
from syncer.store.repo import SCHEDULER_LEASE, Refused, process_holder

if TYPE_CHECKING:
    from syncer.service import SyncerService

log = logging.getLogger("zlab.syncer.scheduler")

DEFAULT_LEASE_SECONDS = 30.0  # a dead holder's scheduler is taken over after this many real seconds


class Scheduler:
    def __init__(self, service: SyncerService, *, interval: float = 1.0, max_parallel: int = 4,
                 lease_seconds: float = DEFAULT_LEASE_SECONDS) -> None:
        self.service = service
        self.interval = interval
        self.max_parallel = max_parallel
        self.lease_seconds = lease_seconds
        # this scheduler's name in the lease row: host:pid, and which instance (tests run several)
        self.holder = f"{process_holder()}/{secrets.token_hex(3)}"
        self.holds_lease = False
        self.standby_message: str | None = None  # why this one stands by (for the console and /health)
        self._lease_checked = float("-inf")  # monotonic time of the last take/renew
        self._lease_held_until = float("-inf")
        self._inflight: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self.ticks = 0

    # -- one pass -----------------------------------------------------------------------------------
    def due(self, now: datetime | None = None) -> list[str]:
        """Ids of the integrations whose automatic sync is due at ``now`` (default: the lab clock)."""
        repo = self.service.repo
        return [i.id for i in repo.due_integrations(now or repo.now())]

    def tick(self, *, wait: bool = True, now: datetime | None = None) -> list[SyncRun]:
        """Start an ``auto`` run for every due integration not already syncing. ``wait``: run them
        here, one after the other, and return the runs; else hand them to the pool (returns [])."""
        self.ticks += 1
        runs: list[SyncRun] = []
        self._tick_engines(now, explicit=wait)
        for integration_id in self.due(now):
            if not self._claim(integration_id):
                continue
            if (self.service.repo.is_sync_running(integration_id)  # a manual run holds the lock
                    or not self._still_due(integration_id, now)):  # a run just finished rescheduled it
                self._release(integration_id)
                continue
            if wait:
                run = self._run(integration_id)
                if run is not None:
                    runs.append(run)
            else:
                self._executor().submit(self._run, integration_id)
        return runs

    def _tick_engines(self, now: datetime | None, *, explicit: bool = False) -> None:
        """Each engine's periodic work of its kind; one engine's trouble does not stop the others.
        ``explicit`` (``POST /scheduler/tick``): an engine that spaces its work out (the CRM engine
        checks each integration every few seconds) does all of it now, through its ``tick_now``."""
        at = now or self.service.repo.now()
        for kind, engine in self.service.engines.items():
            try:
                tick_now = getattr(engine, "tick_now", None) if explicit else None
                (tick_now or engine.tick)(at)
            except Exception:  # noqa: BLE001 - logged; the next tick tries again
                log.exception("tick of the %s engine failed", kind)

    def _still_due(self, integration_id: str, now: datetime | None) -> bool:
        """Re-read after the claim: the list of due integrations may be older than a run that ended."""
        integ = self.service.repo.find_integration(integration_id)
        when = now or self.service.repo.now()
        return bool(integ and integ.state == "enabled" and integ.auto_sync and integ.next_auto_sync_at
                    and integ.next_auto_sync_at <= when)

    def _claim(self, integration_id: str) -> bool:
        with self._lock:
            if integration_id in self._inflight:
                return False
            self._inflight.add(integration_id)
            return True

    def _release(self, integration_id: str) -> None:
        with self._lock:
            self._inflight.discard(integration_id)

    def _run(self, integration_id: str) -> SyncRun | None:
        try:
            return self.service.run_sync(integration_id, trigger="auto")
        except Refused as exc:  # another process's run took the lock meanwhile, or it was disabled
            log.info("automatic sync of %s not started: %s", integration_id, exc)
            return None
        except Exception:  # noqa: BLE001 - one integration's trouble must not stop the scheduler
            log.exception("automatic sync of %s failed", integration_id)
            return None
        finally:
            self._release(integration_id)

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.max_parallel, thread_name_prefix="zlab-auto-sync")
        return self._pool

    @property
    def inflight(self) -> set[str]:
        with self._lock:
            return set(self._inflight)

    # -- the lease: one scheduler per database -----------------------------------------------------
    @property
    def state(self) -> str:
        """``active`` (this one runs the automatic syncs), ``standby`` (another syncer on the same
        database does) or ``off`` (no thread: ``interval`` 0, or stopped)."""
        if not self.running:
            return "off"
        return "active" if self.holds_lease else "standby"

    def check_lease(self) -> bool:
        """Take or renew the lease now; says whether this scheduler holds it. Logs each change."""
        repo = self.service.repo
        self._lease_checked = time.monotonic()
        try:
            held = repo.take_lease(SCHEDULER_LEASE, self.holder, self.lease_seconds)
        except Exception:  # noqa: BLE001 - the database unreachable: keep what we know until it runs out
            log.exception("could not renew the scheduler lease")
            held = self.holds_lease and time.monotonic() < self._lease_held_until
        else:
            if held:
                self._lease_held_until = self._lease_checked + self.lease_seconds
        if held and not self.holds_lease:
            if self.standby_message is not None:
                log.warning("scheduler: took over the automatic sync of this database (%s)", self.holder)
            self.standby_message = None
        elif not held and (self.holds_lease or self.standby_message is None):
            lease = repo.lease_state(SCHEDULER_LEASE)
            other = lease.holder if lease is not None and lease.holder else "another syncer"
            until = lease.expires_at.isoformat(timespec="seconds") if lease is not None and lease.expires_at else "?"
            self.standby_message = (
                f"scheduler on standby: {other} runs the automatic sync of this database (its lease runs until "
                f"{until} and is renewed while it lives); this syncer serves its API and takes the scheduler "
                f"over when that one stops. One scheduler per database.")
            log.warning("%s", self.standby_message)
        self.holds_lease = held
        return held

    def _lease_due(self) -> bool:
        return time.monotonic() - self._lease_checked >= self.lease_seconds / 3

    # -- the thread ---------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Scheduler:
        """Start the thread; it runs ticks only while it holds the lease (taken here first, so the
        caller can tell the person at once: ``state``, ``standby_message``)."""
        if self.interval <= 0 or self.running:
            return self
        self._stop.clear()
        self.check_lease()
        self._thread = threading.Thread(target=self._loop, name="zlab-scheduler", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            if self._lease_due() and not self.check_lease():
                continue
            if not self.holds_lease:
                continue
            try:
                self.tick(wait=False)
            except Exception:  # noqa: BLE001 - e.g. the database briefly unreachable: next tick
                log.exception("scheduler tick failed")

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self.holds_lease:  # hand over at once: a standby syncer need not wait for the expiry
            self.holds_lease = False
            try:
                self.service.repo.release_lease(SCHEDULER_LEASE, self.holder)
            except Exception:  # noqa: BLE001 - it expires by itself
                log.exception("could not release the scheduler lease")
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

