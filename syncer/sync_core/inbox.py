"""The durable inbox of change notifications (table ``syncer_inbox``) and the worker that applies them.

A receiver ``put``s the notification (committed) and only then answers 200, so a process that
dies after answering loses nothing. The ``InboxWorker`` thread claims pending items (a lease
in real time: the lab clock may stand still), hands each to the engine, and marks it done with
what it did. An item claimed by a process that died is claimed again once its lease is over; a
new process claims every pending item at start. Applying is idempotent (the engines write only
values that differ), so an item applied twice writes once.

    inbox = Inbox(db, clock)
    worker = InboxWorker(inbox, apply=lambda item: {...}).start()
    inbox.put(integration_id, "crm", body); worker.wake()
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import or_, update
from sqlmodel import col, select

from syncer.store.db import StoreDB
from syncer.store.models import InboxItem, new_id

log = logging.getLogger("zlab.syncer.inbox")

CLAIM_LEASE = timedelta(seconds=60)  # real time
MAX_ATTEMPTS = 5


def _real_now() -> datetime:
    return datetime.now(UTC)


class Inbox:
    def __init__(self, db: StoreDB, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.clock = clock
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def put(self, integration_id: str, source: str, payload: dict[str, Any]) -> InboxItem:
        item = InboxItem(id=new_id(), integration_id=integration_id, source=source, payload=payload,
                         received_seq=new_id(), received_at=self.clock())
        with self.db.begin() as s:
            s.add(item)
        return item

    def claim(self, limit: int = 50) -> list[InboxItem]:
        """Pending items (and items whose claim lease ran out), oldest first, now claimed by us."""
        now = _real_now()
        with self.db.begin() as s:
            rows = list(s.exec(select(InboxItem).where(or_(
                InboxItem.state == "pending",
                (InboxItem.state == "claimed") & (col(InboxItem.claimed_at) < now - CLAIM_LEASE),
            )).order_by(InboxItem.received_seq).limit(limit)))
            claimed = []
            for row in rows:
                res = s.execute(update(InboxItem).where(InboxItem.id == row.id, InboxItem.state == row.state,
                                                        InboxItem.attempts == row.attempts)
                                .values(state="claimed", claimed_by=self.holder, claimed_at=now,
                                        attempts=row.attempts + 1)
                                .execution_options(synchronize_session=False))
                if res.rowcount == 1:
                    claimed.append(row.id)
        if not claimed:
            return []
        with self.db.session() as s:
            items = list(s.exec(select(InboxItem).where(col(InboxItem.id).in_(claimed))
                                .order_by(InboxItem.received_seq)))
        return items

    def done(self, item_id: str, result: dict[str, Any]) -> None:
        with self.db.begin() as s:
            s.execute(update(InboxItem).where(InboxItem.id == item_id).values(
                state="done", result=result, applied_at=self.clock(), error=None)
                .execution_options(synchronize_session=False))

    def failed(self, item: InboxItem, error: str) -> None:
        """Back to pending for another attempt, or ``failed`` after ``MAX_ATTEMPTS``."""
        state = "failed" if item.attempts >= MAX_ATTEMPTS else "pending"
        with self.db.begin() as s:
            s.execute(update(InboxItem).where(InboxItem.id == item.id).values(
                state=state, error=error[:2000], claimed_by=None, applied_at=self.clock() if state == "failed" else None)
                .execution_options(synchronize_session=False))

    def items(self, integration_id: str, *, state: str | None = None, limit: int = 100) -> list[InboxItem]:
        stmt = select(InboxItem).where(InboxItem.integration_id == integration_id)
        if state is not None:
            stmt = stmt.where(InboxItem.state == state)
        with self.db.session() as s:
            return list(s.exec(stmt.order_by(col(InboxItem.received_seq).desc()).limit(limit)))

    def applied_between(self, integration_id: str, start: datetime | None, end: datetime) -> list[InboxItem]:
        """Items applied (done or given up) in ``[start, end)`` on the lab clock."""
        stmt = select(InboxItem).where(InboxItem.integration_id == integration_id,
                                       col(InboxItem.state).in_(("done", "failed")),
                                       col(InboxItem.applied_at) < end)
        if start is not None:
            stmt = stmt.where(col(InboxItem.applied_at) >= start)
        with self.db.session() as s:
            return list(s.exec(stmt.order_by(InboxItem.received_seq)))

    def pending_count(self, integration_id: str | None = None) -> int:
        stmt = select(InboxItem).where(col(InboxItem.state).in_(("pending", "claimed")))
        if integration_id is not None:
            stmt = stmt.where(InboxItem.integration_id == integration_id)
        with self.db.session() as s:
            return len(list(s.exec(stmt)))


class InboxWorker:
    """One thread applying the inbox in arrival order; ``wake()`` after a ``put``."""

    def __init__(self, inbox: Inbox, apply: Callable[[InboxItem], dict[str, Any]], *, idle: float = 1.0) -> None:
        self.inbox = inbox
        self.apply = apply
        self.idle = idle
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy = threading.Lock()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> InboxWorker:
        if self.running:
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="zlab-inbox", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def drain(self) -> int:
        """Apply every pending item here and now (tests, the worker's loop); the number applied."""
        n = 0
        with self._busy:
            while not self._stop.is_set() or not self.running:
                items = self.inbox.claim()
                if not items:
                    return n
                failed = False
                for item in items:
                    try:
                        result = self.apply(item)
                    except Exception as exc:  # noqa: BLE001 - retried next round, then given up with the reason
                        log.exception("applying notification %s failed", item.id)
                        self.inbox.failed(item, f"{type(exc).__name__}: {exc}")
                        failed = True
                        continue
                    self.inbox.done(item.id, result or {})
                    n += 1
                if failed:
                    return n
        return n

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.idle)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.drain()
            except Exception:  # noqa: BLE001 - e.g. the database briefly unreachable: next round
                log.exception("inbox worker round failed")


__all__ = ["CLAIM_LEASE", "Inbox", "InboxWorker"]
