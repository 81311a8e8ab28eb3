"""The scheduler lease: one automatic-sync scheduler per database, across processes and hosts.

One ``syncer_scheduler_lease`` row per lease name. ``take_lease`` is a conditional UPDATE (the
row is free, expired, or already ours) after an insert-if-missing, in one transaction
(``BEGIN IMMEDIATE`` on SQLite, the row's lock on PostgreSQL), so of any number of syncers on one
database exactly one holds it. Leases run on real time (``lease_clock``), never the lab clock:
they measure whether the holder still lives, and a frozen lab clock would keep a dead holder's
lease forever.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import col

from syncer.store.base import StoreBase
from syncer.store.models import SchedulerLease

SCHEDULER_LEASE = "scheduler"


class LeasesStore(StoreBase):
    """Named leases (the scheduler's)."""

    def take_lease(self, name: str, holder: str, seconds: float) -> bool:
        """Take or renew ``name`` for ``holder`` until now + ``seconds``; False while another
        holder's lease has not expired."""
        now = self._lease_now()
        with self.db.begin() as s:
            stmt = self._insert()(SchedulerLease.__table__).values(name=name)
            s.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
            row = s.get(SchedulerLease, name, with_for_update=True)
            ours = row is not None and row.holder == holder
            taken = s.execute(update(SchedulerLease).where(
                SchedulerLease.name == name,
                or_(col(SchedulerLease.holder).is_(None), SchedulerLease.holder == holder,
                    col(SchedulerLease.expires_at).is_(None), col(SchedulerLease.expires_at) < now),
            ).values(holder=holder, expires_at=now + timedelta(seconds=seconds),
                     **({} if ours else {"acquired_at": now})).execution_options(synchronize_session=False))
            return taken.rowcount == 1

    def release_lease(self, name: str, holder: str) -> bool:
        """Give ``name`` up at once (a clean stop), so another syncer need not wait for it to expire."""
        with self.db.begin() as s:
            res = s.execute(update(SchedulerLease).where(SchedulerLease.name == name, SchedulerLease.holder == holder)
                            .values(holder=None, expires_at=None, acquired_at=None)
                            .execution_options(synchronize_session=False))
            return res.rowcount == 1

    def lease_state(self, name: str) -> SchedulerLease | None:
        """The lease row (``holder`` None when free); an expired lease still names its last holder."""
        with self.db.session() as s:
            return s.get(SchedulerLease, name)

    def lease_expired(self, lease: SchedulerLease | None, at: datetime | None = None) -> bool:
        return lease is None or lease.holder is None or lease.expires_at is None or \
            lease.expires_at < (at or self._lease_now())
