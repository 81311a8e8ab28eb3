"""The state store's operations: what the engine, scheduler and API call. Each is one transaction.

Time: business timestamps come from ``clock`` (the lab clock, passed in). Lock leases come from
``lease_clock``, which defaults to real UTC time: a lease measures whether the holding *process*
is still alive, and the lab clock may be frozen (a dead holder's lease would never expire) or
jumped hours ahead (a live holder's lease would expire under it). Pass ``lease_clock=clock`` to
measure leases on the lab clock instead.

TW-09 lock: one ``syncer_sync_lock`` row per integration. ``start_run`` takes it with a
conditional UPDATE (free, or lease expired) inside a transaction that also holds the row
(``SELECT … FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite), so exactly one of any
number of processes gets it. The holder extends the lease with ``heartbeat`` (or ``keep_alive``);
a SIGKILLed holder's lock is taken over once its lease has expired, and its run is marked failed.
"""


from __future__ import annotations

from syncer.store.base import (
    AUTO_SYNC_INTERVAL,
    DEFAULT_LEASE_SECONDS,
    INTERRUPTED_REASON,
    Clock,
    process_holder,
    real_utc_now,
    zone_of,
)
from syncer.store.db import StoreDB, to_utc
from syncer.store.errors import (
    AlreadyEnabled,
    IntegrationNotEnabled,
    InvalidValue,
    LinkConflict,
    ManualSyncLimitReached,
    NotFound,
    ReenableForbidden,
    Refused,
    StoreError,
    SyncInProgress,
)
from syncer.store.integrations import IntegrationsStore
from syncer.store.leases import SCHEDULER_LEASE, LeasesStore
from syncer.store.links import LinkSpec, LinksStore
from syncer.store.mail_log import MailLog
from syncer.store.runs import RunsStore
from syncer.sync_core.failures import FAILURE_CSV_COLUMNS, failure_csv_filename
from syncer.sync_core.lock import LockKeeper


class Repo(IntegrationsStore, LinksStore, RunsStore, MailLog, LeasesStore):
    """The syncer's state store. Thread-safe (one session per call); one per process is enough.
    Its parts, by concern: ``integrations`` (integrations, tokens, mappings), ``links`` (record
    links, write-ahead intents), ``runs`` (runs, lock, stats, failures, manual counter), ``mail_log``,
    ``leases`` (the scheduler's lease: one scheduler per database)."""


__all__ = [
    "AUTO_SYNC_INTERVAL", "DEFAULT_LEASE_SECONDS", "FAILURE_CSV_COLUMNS", "INTERRUPTED_REASON", "AlreadyEnabled",
    "Clock", "IntegrationNotEnabled", "InvalidValue", "LinkConflict", "LinkSpec", "LockKeeper",
    "ManualSyncLimitReached", "NotFound", "SCHEDULER_LEASE", "ReenableForbidden", "Refused", "Repo", "StoreDB", "StoreError",
    "SyncInProgress", "failure_csv_filename", "process_holder", "real_utc_now", "to_utc", "zone_of",
]
