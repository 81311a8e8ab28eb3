"""The syncer's tables (SQLModel, own registry; see ``syncer.store.db``).

Every id is an explicit string (no autoincrement): Zoho-like long numeric strings made by
``new_id`` unless the caller passes one. Every datetime column is ``UTCDateTime``: written and
read back as aware UTC on SQLite and PostgreSQL alike. Table names carry a ``syncer_`` prefix
so the syncer can share a database with the fakes without clashes.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field

from syncer.store.db import SyncerModel, UTCDateTime

# -- vocabularies (strings in the database; validated by the repo) ------------------------------
KINDS = ("books", "crm")  # which engine syncs the integration
BOOKS_PRODUCTS = ("books", "invoice")
PARTNER_PRODUCTS = {"books": BOOKS_PRODUCTS, "crm": ("crm",)}  # kind -> its partner products
STATES = ("created", "enabled", "disabled")
MODES = ("two_way", "one_way")
SYNC_TYPES = ("I", "II", "III", "IV")
DUPLICATE_POLICIES = ("clone", "overwrite")
BOOKS_DIRECTIONS = ("both", "fsm_to_books", "books_to_fsm")
CRM_DIRECTIONS = ("both", "fsm_to_crm", "crm_to_fsm")
DIRECTIONS = tuple(dict.fromkeys(BOOKS_DIRECTIONS + CRM_DIRECTIONS))  # FieldMapping.direction
SIDES = ("fsm", "partner")  # PendingWrite.side: the FSM, or the partner product
TRIGGERS = ("manual", "auto", "initial", "daily", "reconcile")  # the last three: CRM runs (CR-12)
RUN_STATUSES = ("running", "succeeded", "failed", "refused")


_id_lock = threading.Lock()
_last_id = 0


def new_id() -> str:
    """A Zoho-like id: an 18-digit numeric string (fits a signed 64-bit integer).

    Real-time microseconds x 100 plus a random 0-99, strictly increasing within a process, so ids
    also order rows made at the same (possibly frozen) lab-clock instant by creation."""
    global _last_id
    candidate = (time.time_ns() // 1000) * 100 + secrets.randbelow(100)
    with _id_lock:
        _last_id = max(candidate, _last_id + 1)
        return str(_last_id)


def _dt(index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=True, index=index)


def _json(default_factory=dict) -> Any:
    return Field(default_factory=default_factory, sa_column=Column(JSON, nullable=False))


class Integration(SyncerModel, table=True):
    """One FSM org <-> one partner org (Books/Invoice, or CRM), with its credentials reference and
    settings. ``kind`` says which engine syncs it; settings of one kind only live in ``settings``."""

    __tablename__ = "syncer_integration"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=40)
    name: str = ""
    fsm_org_id: str = Field(index=True)
    kind: str = "books"  # books | crm: the engine (see syncer.sync_core.engine)
    partner_product: str = "books"  # books | invoice (kind books), crm (kind crm)
    partner_org_id: str = Field(index=True)
    # credentials reference: the OAuth client the syncer refreshes tokens with
    client_id: str = ""
    client_secret: str = ""
    refresh_token: str = ""
    accounts_url: str = ""
    api_domain: str = ""
    # state (TW-01, TW-15)
    state: str = "created"  # created | enabled | disabled
    disabled_reason: str | None = None
    disabled_by_error: bool = False
    # settings
    mode: str = "two_way"  # two_way | one_way (OB-04)
    sync_type: str = "IV"  # I..IV (TW-19, TW-21)
    duplicate_policy: str | None = None  # clone | overwrite (TW-02), chosen at enable
    auto_sync: bool = True  # TW-04
    time_zone: str = "UTC"  # the org's time zone: the manual-sync day (TW-05)
    manual_sync_limit: int = 30
    mapping_version: int = 1
    settings: dict = _json()  # anything else the engine/API keeps per integration
    # schedule and watermarks
    next_auto_sync_at: datetime | None = _dt(index=True)
    last_run_started_at: datetime | None = _dt()
    last_run_ended_at: datetime | None = _dt()
    last_success_started_at: datetime | None = _dt()  # TW-07: changes after this are synced
    enabled_at: datetime | None = _dt()
    created_at: datetime | None = _dt()
    updated_at: datetime | None = _dt()


class FieldMapping(SyncerModel, table=True):
    """One field pair of a module mapping (TW-03, OB-02)."""

    __tablename__ = "syncer_field_mapping"
    __table_args__ = (Index("ix_syncer_field_mapping_int_module", "integration_id", "module"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=40)
    integration_id: str = Field(max_length=40)
    module: str  # customers | items | invoices (the module pair)
    fsm_module: str = ""  # e.g. Companies, Contacts, Services_And_Parts, Work_Orders
    partner_entity: str = ""  # e.g. contacts, items, invoices (Books); Contacts, Accounts (CRM)
    fsm_field: str
    partner_field: str
    direction: str = "both"  # both | fsm_to_<partner> | <partner>_to_fsm
    position: int = 0


class RecordLink(SyncerModel, table=True):
    """An FSM record and its partner record (TW-24); inactive once either side is deleted (TW-14)."""

    __tablename__ = "syncer_record_link"
    __table_args__ = (
        UniqueConstraint("integration_id", "fsm_module", "fsm_id", name="uq_syncer_link_fsm"),
        UniqueConstraint("integration_id", "partner_entity", "partner_id", name="uq_syncer_link_partner"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=40)
    integration_id: str = Field(max_length=40)
    fsm_module: str
    fsm_id: str
    partner_entity: str
    partner_id: str
    fsm_modified_time: datetime | None = _dt()  # FSM Modified_Time last synced
    partner_modified_time: datetime | None = _dt()  # the partner record's modified time last synced
    last_synced_at: datetime | None = _dt()
    last_result: str | None = None
    last_run_id: str | None = None
    active: bool = True
    inactive_reason: str | None = None
    created_at: datetime | None = _dt()


class PendingWrite(SyncerModel, table=True):
    """Write-ahead intent recorded before any create; resolved after it (or after a crash)."""

    __tablename__ = "syncer_pending_write"
    __table_args__ = (Index("ix_syncer_pending_open", "integration_id", "done"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=40)
    integration_id: str = Field(max_length=40)
    side: str  # where the record is being created: fsm | partner
    module: str  # target module/entity on that side
    source_module: str = ""  # module/entity of the source record on the other side
    source_id: str  # id of the source record on the other side
    run_id: str | None = None
    payload: dict = _json()  # whatever the engine needs to finish or verify the write
    started_at: datetime | None = _dt()
    done: bool = False
    done_at: datetime | None = _dt()
    created_id: str | None = None  # the id the create produced (when known)
    outcome: str | None = None  # created | found_existing | abandoned | failed: ...


class SyncLock(SyncerModel, table=True):
    """One row per integration: who runs its sync, until when (TW-09, across processes)."""

    __tablename__ = "syncer_sync_lock"

    integration_id: str = Field(primary_key=True, max_length=40)
    run_id: str | None = None
    holder: str | None = None  # host:pid of the holding process
    acquired_at: datetime | None = _dt()
    expires_at: datetime | None = _dt()  # lease, on the repo's lease clock


class SyncRun(SyncerModel, table=True):
    """One sync (TW-25): id, start, end, status."""

    __tablename__ = "syncer_sync_run"
    __table_args__ = (Index("ix_syncer_run_int_started", "integration_id", "started_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=40)
    integration_id: str = Field(max_length=40)
    trigger: str = "manual"  # manual | auto (Books); initial | manual | daily | reconcile (CRM)
    started_at: datetime | None = _dt()
    ended_at: datetime | None = _dt()
    status: str = "running"  # running | succeeded | failed | refused
    failure_reason: str | None = None
    holder: str | None = None


class RunModuleStat(SyncerModel, table=True):
    """Per-module success and failure counts of a run (TW-25)."""

    __tablename__ = "syncer_run_module_stat"
    __table_args__ = (UniqueConstraint("run_id", "module", name="uq_syncer_stat_run_module"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=40)
    run_id: str = Field(max_length=40, index=True)
    module: str
    succeeded: int = 0
    failed: int = 0


class RecordFailure(SyncerModel, table=True):
    """A record that failed in a run, with one reason (TW-25)."""

    __tablename__ = "syncer_record_failure"
    __table_args__ = (
        UniqueConstraint("run_id", "module", "record_id", name="uq_syncer_failure_record"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=40)
    run_id: str = Field(max_length=40, index=True)
    integration_id: str = Field(max_length=40)
    module: str
    record_id: str
    record_name: str = ""
    reason: str
    at: datetime | None = _dt()


class ManualSyncCounter(SyncerModel, table=True):
    """Manual "Sync Now" count per integration per org-time-zone day (TW-05)."""

    __tablename__ = "syncer_manual_sync_counter"

    integration_id: str = Field(primary_key=True, max_length=40)
    day: str = Field(primary_key=True, max_length=10)  # YYYY-MM-DD in the org's time zone
    count: int = 0


class MailMessage(SyncerModel, table=True):
    """Every notification the syncer sent (or tried to), readable through the API."""

    __tablename__ = "syncer_mail_message"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=40)
    to: str  # comma-separated recipients
    sender: str = ""
    subject: str
    body: str
    sent_at: datetime | None = _dt(index=True)
    integration_id: str | None = Field(default=None, max_length=40, index=True)
    delivered_via: str = ""  # smtp://host:port, or "" when no SMTP URL is configured
    error: str | None = None  # why delivery failed (the message is stored all the same)


class StoredAccessToken(SyncerModel, table=True):
    """The access token last minted for one OAuth connection, kept while it is valid so that every
    process (the service, each ``python -m syncer.run_once``) reuses it instead of minting one at
    start: Accounts grants 10 per refresh token per 10 minutes, which a crash-looping ``run_once``
    would exhaust. Dropped when the API rejects it (INVALID_TOKEN); a secret, so never in a repr."""

    __tablename__ = "syncer_access_token"

    key: str = Field(primary_key=True, max_length=64)  # sha256 of accounts URL, client id, refresh token
    access_token: str = Field(repr=False)
    api_domain: str = ""
    scope: str = ""
    expires_at: datetime | None = _dt()  # on the clock that minted it (the lab clock in the lab)
    obtained_at: datetime | None = _dt()


class InboxItem(SyncerModel, table=True):
    """A change notification, stored before the receiver answers 200 and applied by a worker
    afterwards (``syncer.sync_core.inbox``): a lost process loses no event."""

    __tablename__ = "syncer_inbox"
    __table_args__ = (Index("ix_syncer_inbox_state", "state", "received_seq"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=40)
    integration_id: str = Field(max_length=40, index=True)
    source: str  # the product that sent it: fsm | crm
    payload: dict = _json()
    received_seq: str = Field(default_factory=new_id, max_length=40)  # arrival order
    received_at: datetime | None = _dt()  # lab clock
    state: str = "pending"  # pending | claimed | done | failed
    claimed_by: str | None = None
    claimed_at: datetime | None = _dt()  # real time (a lease; the lab clock may stand still)
    attempts: int = 0
    applied_at: datetime | None = _dt(index=True)  # lab clock
    result: dict = _json()  # what applying it did: {"results": [{module, record_id, ok, reason, ...}]}
    error: str | None = None


class SchedulerLease(SyncerModel, table=True):
    """Who runs the automatic-sync scheduler of this database (one per database): the holder
    renews ``expires_at`` while it lives; another syncer takes the row over once it has expired."""

    __tablename__ = "syncer_scheduler_lease"

    name: str = Field(primary_key=True, max_length=40)  # "scheduler"
    holder: str | None = None  # host:pid/instance of the holding syncer
    acquired_at: datetime | None = _dt()  # real time, as every lease
    expires_at: datetime | None = _dt()


ALL_TABLES = (Integration, FieldMapping, RecordLink, PendingWrite, SyncLock, SyncRun, RunModuleStat,
              RecordFailure, ManualSyncCounter, MailMessage, StoredAccessToken, InboxItem, SchedulerLease)
