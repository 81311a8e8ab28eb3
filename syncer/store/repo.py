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

import csv
import io
import os
import re
import socket
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import and_, delete, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from syncer.store.db import StoreDB, to_utc
from syncer.store.models import (
    DIRECTIONS,
    DUPLICATE_POLICIES,
    KINDS,
    MODES,
    PARTNER_PRODUCTS,
    SIDES,
    STATES,
    SYNC_TYPES,
    TRIGGERS,
    FieldMapping,
    Integration,
    MailMessage,
    ManualSyncCounter,
    PendingWrite,
    RecordFailure,
    RecordLink,
    RunModuleStat,
    StoredAccessToken,
    SyncLock,
    SyncRun,
    new_id,
)

Clock = Callable[[], datetime]

DEFAULT_LEASE_SECONDS = 60.0
AUTO_SYNC_INTERVAL = timedelta(hours=3)  # TW-04
FAILURE_CSV_COLUMNS = ("Record Id", "Record Name", "Reason", "Sync Id", "Time")
INTERRUPTED_REASON = "Sync interrupted: the process running it stopped before it finished"


# -- errors ---------------------------------------------------------------------------------------
class StoreError(Exception):
    """Base of the store's errors. ``code`` is a stable machine-readable name."""

    code = "store_error"


class NotFound(StoreError, LookupError):
    code = "not_found"


class InvalidValue(StoreError, ValueError):
    code = "invalid_value"


class LinkConflict(StoreError):
    """The FSM record and the partner record are each already linked to someone else."""

    code = "link_conflict"


class Refused(StoreError):
    """An action the rules refuse; the message is meant for the user."""

    code = "refused"


class SyncInProgress(Refused):
    code = "sync_in_progress"  # TW-09


class ManualSyncLimitReached(Refused):
    code = "manual_sync_limit"  # TW-05


class IntegrationNotEnabled(Refused):
    code = "not_enabled"


class AlreadyEnabled(Refused):
    code = "already_enabled"  # TW-01


class ReenableForbidden(Refused):
    code = "reenable_forbidden"  # TW-15


def real_utc_now() -> datetime:
    """Real time; only the default *lease* clock (process liveness), never business time."""
    return datetime.now(UTC)


def process_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def failure_csv_filename(module: str) -> str:
    """``customers`` -> ``CustomersFailureLogs.csv``; ``services_and_parts`` -> ``ServicesAndParts…``."""
    parts = [p for p in re.split(r"[_\s\-]+", module) if p]
    name = "".join(p if p[:1].isupper() else p[:1].upper() + p[1:] for p in parts) or "Module"
    return f"{name}FailureLogs.csv"


@dataclass(frozen=True)
class LinkSpec:
    """One link to save: an FSM record, its partner record, and the modified times we synced."""

    fsm_module: str
    fsm_id: str
    partner_entity: str
    partner_id: str
    fsm_modified_time: datetime | None = None
    partner_modified_time: datetime | None = None
    result: str | None = None


class Repo:
    """The syncer's state store. Thread-safe (one session per call); one per process is enough."""

    def __init__(self, db: StoreDB | str | None = None, *, clock: Clock,
                 lease_seconds: float = DEFAULT_LEASE_SECONDS, lease_clock: Clock | None = None,
                 holder: str | None = None) -> None:
        self.db = db if isinstance(db, StoreDB) else StoreDB(db)
        self.clock = clock
        self.lease_clock = lease_clock or real_utc_now
        self.lease = timedelta(seconds=lease_seconds)
        self.holder = holder or process_holder()

    # -- helpers ------------------------------------------------------------------------------
    def now(self) -> datetime:
        return to_utc(self.clock())

    def _lease_now(self) -> datetime:
        return to_utc(self.lease_clock())

    def _insert(self):
        return postgresql.insert if self.db.dialect == "postgresql" else sqlite.insert

    @staticmethod
    def _integration(s: Session, integration_id: str, *, lock: bool = False) -> Integration:
        stmt = select(Integration).where(Integration.id == integration_id)
        if lock:
            stmt = stmt.with_for_update()
        integ = s.exec(stmt).first()
        if integ is None:
            raise NotFound(f"Integration {integration_id} does not exist")
        return integ

    @staticmethod
    def _check_choice(field: str, value: Any, allowed: Iterable[str]) -> None:
        allowed = tuple(allowed)
        if value not in allowed:
            raise InvalidValue(f"{field} must be one of {', '.join(allowed)}; got {value!r}")

    def _validate_integration_fields(self, fields: Mapping[str, Any]) -> None:
        choices = {"kind": KINDS, "state": STATES, "mode": MODES, "sync_type": SYNC_TYPES}
        for name, allowed in choices.items():
            if name in fields:
                self._check_choice(name, fields[name], allowed)
        if "partner_product" in fields:
            self._check_choice("partner_product", fields["partner_product"],
                               sorted({p for products in PARTNER_PRODUCTS.values() for p in products}))
        if fields.get("duplicate_policy") is not None:
            self._check_choice("duplicate_policy", fields["duplicate_policy"], DUPLICATE_POLICIES)
        if "time_zone" in fields:
            zone_of(fields["time_zone"])
        if "manual_sync_limit" in fields and int(fields["manual_sync_limit"]) < 0:
            raise InvalidValue("manual_sync_limit must be >= 0")

    def _ensure_lock_row(self, s: Session, integration_id: str) -> None:
        stmt = self._insert()(SyncLock.__table__).values(integration_id=integration_id)
        s.execute(stmt.on_conflict_do_nothing(index_elements=["integration_id"]))

    # -- integrations -------------------------------------------------------------------------
    _UPDATABLE = frozenset(set(Integration.model_fields) - {"id", "created_at", "updated_at"})

    def create_integration(self, *, fsm_org_id: str, partner_org_id: str, kind: str = "books",
                           partner_product: str | None = None, id: str | None = None,
                           **fields: Any) -> Integration:
        """A new integration of ``kind``; ``partner_product`` defaults to the kind's first product."""
        unknown = set(fields) - self._UPDATABLE
        if unknown:
            raise InvalidValue(f"Unknown integration fields: {', '.join(sorted(unknown))}")
        self._check_choice("kind", kind, KINDS)
        partner_product = partner_product or PARTNER_PRODUCTS[kind][0]
        self._check_choice("partner_product", partner_product, PARTNER_PRODUCTS[kind])
        all_fields = {"kind": kind, "partner_product": partner_product, **fields}
        self._validate_integration_fields(all_fields)
        now = self.now()
        integ = Integration(id=id or new_id(), fsm_org_id=str(fsm_org_id), partner_org_id=str(partner_org_id),
                            created_at=now, updated_at=now, **all_fields)
        try:
            with self.db.begin() as s:
                s.add(integ)
                s.flush()
                self._ensure_lock_row(s, integ.id)
        except IntegrityError as exc:
            raise InvalidValue(f"Integration {integ.id} already exists") from exc
        return integ

    def get_integration(self, integration_id: str) -> Integration:
        with self.db.session() as s:
            return self._integration(s, integration_id)

    def find_integration(self, integration_id: str) -> Integration | None:
        with self.db.session() as s:
            return s.get(Integration, integration_id)

    def list_integrations(self, *, state: str | None = None, fsm_org_id: str | None = None,
                          partner_org_id: str | None = None, kind: str | None = None) -> list[Integration]:
        stmt = select(Integration)
        if kind is not None:
            stmt = stmt.where(Integration.kind == kind)
        if state is not None:
            stmt = stmt.where(Integration.state == state)
        if fsm_org_id is not None:
            stmt = stmt.where(Integration.fsm_org_id == str(fsm_org_id))
        if partner_org_id is not None:
            stmt = stmt.where(Integration.partner_org_id == str(partner_org_id))
        with self.db.session() as s:
            return list(s.exec(stmt.order_by(Integration.created_at, Integration.id)))

    def update_integration(self, integration_id: str, **changes: Any) -> Integration:
        unknown = set(changes) - self._UPDATABLE
        if unknown:
            raise InvalidValue(f"Unknown or read-only integration fields: {', '.join(sorted(unknown))}")
        self._validate_integration_fields(changes)
        with self.db.begin() as s:
            integ = self._integration(s, integration_id, lock=True)
            for k, v in changes.items():
                setattr(integ, k, v)
            integ.updated_at = self.now()
            s.add(integ)
        return integ

    # -- access tokens: reused by every process while valid (see StoredAccessToken) ------------------
    def load_access_token(self, key: str) -> StoredAccessToken | None:
        with self.db.session() as s:
            return s.get(StoredAccessToken, key)

    def save_access_token(self, key: str, access_token: str, *, api_domain: str, scope: str,
                          expires_at: datetime) -> None:
        values = {"key": key, "access_token": access_token, "api_domain": api_domain, "scope": scope,
                  "expires_at": expires_at, "obtained_at": self.now()}
        stmt = self._insert()(StoredAccessToken).values(**values)
        stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={k: v for k, v in values.items() if k != "key"})
        with self.db.begin() as s:
            s.execute(stmt)

    def discard_access_token(self, key: str, access_token: str) -> None:
        """Forget the stored token if it is still ``access_token`` (another process may have
        stored a newer one meanwhile)."""
        with self.db.begin() as s:
            s.execute(delete(StoredAccessToken).where(StoredAccessToken.key == key,
                                                     StoredAccessToken.access_token == access_token))

    def enable_integration(self, integration_id: str, *, by_support: bool = False,
                           **settings: Any) -> Integration:
        """created/disabled -> enabled. A second enable is refused (TW-01); a sync disabled by an
        error is re-enabled only with ``by_support=True`` (TW-15). ``settings`` are applied too."""
        unknown = set(settings) - self._UPDATABLE
        if unknown or "state" in settings:
            raise InvalidValue(f"Unknown or read-only integration fields: {', '.join(sorted(unknown | {'state'} & set(settings)))}")
        self._validate_integration_fields(settings)
        with self.db.begin() as s:
            integ = self._integration(s, integration_id, lock=True)
            if integ.state == "enabled":
                raise AlreadyEnabled("Sync is already enabled for this integration; enabling is a one-time action")
            if integ.state == "disabled" and integ.disabled_by_error and not by_support:
                raise ReenableForbidden(
                    "This sync was disabled because of an error and can only be re-enabled by support "
                    f"(reason: {integ.disabled_reason})")
            for k, v in settings.items():
                setattr(integ, k, v)
            now = self.now()
            integ.state, integ.disabled_reason, integ.disabled_by_error = "enabled", None, False
            integ.enabled_at = integ.enabled_at or now
            integ.updated_at = now
            s.add(integ)
        return integ

    def disable_integration(self, integration_id: str, reason: str, *, by_error: bool = False) -> Integration:
        """Disable; with ``by_error`` only support can re-enable (TW-15). Periodic sync stops."""
        with self.db.begin() as s:
            integ = self._integration(s, integration_id, lock=True)
            integ.state, integ.disabled_reason = "disabled", reason
            integ.disabled_by_error = bool(by_error or integ.disabled_by_error)
            integ.next_auto_sync_at = None
            integ.updated_at = self.now()
            s.add(integ)
        return integ

    def due_integrations(self, at: datetime | None = None) -> list[Integration]:
        """Enabled integrations with auto sync on whose next auto sync is due at ``at`` (default now)."""
        at = to_utc(at) if at else self.now()
        stmt = select(Integration).where(
            Integration.state == "enabled", Integration.auto_sync == True,  # noqa: E712
            col(Integration.next_auto_sync_at).is_not(None), col(Integration.next_auto_sync_at) <= at,
        ).order_by(Integration.next_auto_sync_at)
        with self.db.session() as s:
            return list(s.exec(stmt))

    # -- mappings -----------------------------------------------------------------------------
    def set_mappings(self, integration_id: str, module: str,
                     mappings: Iterable[Mapping[str, Any] | FieldMapping]) -> list[FieldMapping]:
        """Replace the field mappings of one module pair and bump ``mapping_version`` (TW-07)."""
        rows: list[FieldMapping] = []
        for i, m in enumerate(mappings):
            data = m.model_dump() if isinstance(m, FieldMapping) else dict(m)
            data.pop("id", None)
            data.update(integration_id=integration_id, module=module)
            data.setdefault("position", i)
            data.setdefault("direction", "both")
            self._check_choice("direction", data["direction"], DIRECTIONS)
            if not data.get("fsm_field") or not data.get("partner_field"):
                raise InvalidValue(f"mapping #{i + 1} needs both fsm_field and partner_field")
            rows.append(FieldMapping(id=new_id(), **data))
        with self.db.begin() as s:
            integ = self._integration(s, integration_id, lock=True)
            s.execute(delete(FieldMapping).where(
                FieldMapping.integration_id == integration_id, FieldMapping.module == module))
            s.add_all(rows)
            integ.mapping_version += 1
            integ.updated_at = self.now()
            s.add(integ)
        return rows

    def get_mappings(self, integration_id: str, module: str | None = None) -> list[FieldMapping]:
        stmt = select(FieldMapping).where(FieldMapping.integration_id == integration_id)
        if module is not None:
            stmt = stmt.where(FieldMapping.module == module)
        with self.db.session() as s:
            return list(s.exec(stmt.order_by(FieldMapping.module, FieldMapping.position)))

    # -- record links ---------------------------------------------------------------------------
    @staticmethod
    def _by_fsm(s: Session, integration_id: str, fsm_module: str, fsm_id: str) -> RecordLink | None:
        return s.exec(select(RecordLink).where(
            RecordLink.integration_id == integration_id, RecordLink.fsm_module == fsm_module,
            RecordLink.fsm_id == str(fsm_id))).first()

    @staticmethod
    def _by_partner(s: Session, integration_id: str, partner_entity: str, partner_id: str) -> RecordLink | None:
        return s.exec(select(RecordLink).where(
            RecordLink.integration_id == integration_id, RecordLink.partner_entity == partner_entity,
            RecordLink.partner_id == str(partner_id))).first()

    def link_by_fsm(self, integration_id: str, fsm_module: str, fsm_id: str) -> RecordLink | None:
        """The link of an FSM record (active or not: an inactive link means "do not recreate")."""
        with self.db.session() as s:
            return self._by_fsm(s, integration_id, fsm_module, fsm_id)

    def link_by_partner(self, integration_id: str, partner_entity: str, partner_id: str) -> RecordLink | None:
        """The link of a partner record (Books/Invoice or CRM), active or not."""
        with self.db.session() as s:
            return self._by_partner(s, integration_id, partner_entity, partner_id)

    def get_link(self, link_id: str) -> RecordLink:
        with self.db.session() as s:
            link = s.get(RecordLink, link_id)
            if link is None:
                raise NotFound(f"Record link {link_id} does not exist")
            return link

    def links_by_fsm(self, integration_id: str, fsm_module: str, fsm_ids: Iterable[str]) -> dict[str, RecordLink]:
        """The links of many FSM records in one query (a batch of a streamed page): fsm id -> link."""
        with self.db.session() as s:
            return self._links_in(s, integration_id, "fsm", fsm_module, fsm_ids)

    def links_by_partner(self, integration_id: str, partner_entity: str,
                         partner_ids: Iterable[str]) -> dict[str, RecordLink]:
        """The links of many partner records in one query: partner id -> link."""
        with self.db.session() as s:
            return self._links_in(s, integration_id, "partner", partner_entity, partner_ids)

    @staticmethod
    def _links_in(s: Session, integration_id: str, side: str, kind: str, ids: Iterable[str]) -> dict[str, RecordLink]:
        """Links of ``side`` ("fsm": FSM module and id; "partner": partner entity and id) whose id is
        in ``ids``: id -> link, 500 ids a query (well under SQLite's bound-parameter limit)."""
        kind_col, id_col = ((RecordLink.fsm_module, RecordLink.fsm_id) if side == "fsm"
                            else (RecordLink.partner_entity, RecordLink.partner_id))
        wanted = sorted({str(i) for i in ids})
        out: dict[str, RecordLink] = {}
        for start in range(0, len(wanted), 500):
            for link in s.exec(select(RecordLink).where(RecordLink.integration_id == integration_id, kind_col == kind,
                                                        col(id_col).in_(wanted[start:start + 500]))):
                out[getattr(link, id_col.key)] = link
        return out

    def upsert_link(self, integration_id: str, *, fsm_module: str, fsm_id: str, partner_entity: str,
                    partner_id: str, fsm_modified_time: datetime | None = None,
                    partner_modified_time: datetime | None = None, result: str | None = None,
                    run_id: str | None = None) -> RecordLink:
        """Create or update the link of an FSM record and its partner record; marks it synced now
        and active. Raises ``LinkConflict`` when each side is already linked to a different record."""
        spec = LinkSpec(fsm_module, str(fsm_id), partner_entity, str(partner_id), fsm_modified_time,
                        partner_modified_time, result)
        [link] = self.save_links(integration_id, [spec], run_id=run_id)
        return link

    def save_links(self, integration_id: str, specs: Iterable[LinkSpec], *, run_id: str | None = None,
                   resolved: Iterable[tuple[str, str | None, str]] = ()) -> list[RecordLink]:
        """Upsert many links and resolve their write-ahead intents (``(pending id, created id,
        outcome)``) in one transaction: a batch of creates is recorded all at once, or not at all.
        Raises ``LinkConflict`` as ``upsert_link`` does (and then nothing of the batch is saved)."""
        specs = list(specs)
        now = self.now()
        out: list[RecordLink] = []
        try:
            with self.db.begin() as s:
                # the batch's existing links in two queries; later specs see earlier ones
                by_fsm, by_partner = self._existing_links(s, integration_id, specs)
                for spec in specs:
                    link = self._save_link(s, integration_id, spec, now, run_id, by_fsm, by_partner)
                    by_fsm[(link.fsm_module, link.fsm_id)] = by_partner[(link.partner_entity, link.partner_id)] = link
                    out.append(link)
                self._resolve_many(s, resolved, now)
                s.flush()
                s.expunge_all()
        except IntegrityError as exc:  # a concurrent writer linked one side meanwhile
            raise LinkConflict("an FSM or partner record of this batch is already linked") from exc
        return out

    @classmethod
    def _existing_links(cls, s: Session, integration_id: str, specs: list[LinkSpec]):
        """The links the batch names, by (FSM module, id) and by (partner entity, id)."""
        by_fsm: dict[tuple[str, str], RecordLink] = {}
        by_partner: dict[tuple[str, str], RecordLink] = {}
        for module in {sp.fsm_module for sp in specs}:
            ids = [sp.fsm_id for sp in specs if sp.fsm_module == module]
            by_fsm.update(((module, i), link) for i, link in cls._links_in(s, integration_id, "fsm", module, ids).items())
        for entity in {sp.partner_entity for sp in specs}:
            ids = [sp.partner_id for sp in specs if sp.partner_entity == entity]
            by_partner.update(((entity, i), link)
                              for i, link in cls._links_in(s, integration_id, "partner", entity, ids).items())
        return by_fsm, by_partner

    @staticmethod
    def _save_link(s: Session, integration_id: str, spec: LinkSpec, now: datetime, run_id: str | None,
                   by_fsm: dict[tuple[str, str], RecordLink],
                   by_partner: dict[tuple[str, str], RecordLink]) -> RecordLink:
        a = by_fsm.get((spec.fsm_module, spec.fsm_id))
        b = by_partner.get((spec.partner_entity, spec.partner_id))
        if a is not None and b is not None and a.id != b.id:
            raise LinkConflict(
                f"FSM {spec.fsm_module} {spec.fsm_id} is linked to {a.partner_entity} {a.partner_id} and "
                f"partner {spec.partner_entity} {spec.partner_id} to {b.fsm_module} {b.fsm_id}")
        link = a or b or RecordLink(id=new_id(), integration_id=integration_id, fsm_module=spec.fsm_module,
                                    fsm_id=spec.fsm_id, partner_entity=spec.partner_entity,
                                    partner_id=spec.partner_id, created_at=now)
        if link is a and (spec.partner_entity, spec.partner_id) != (a.partner_entity, a.partner_id):
            by_partner.pop((a.partner_entity, a.partner_id), None)  # re-pointed: its old partner is free
        if link is b and (spec.fsm_module, spec.fsm_id) != (b.fsm_module, b.fsm_id):
            by_fsm.pop((b.fsm_module, b.fsm_id), None)
        link.fsm_module, link.fsm_id = spec.fsm_module, spec.fsm_id
        link.partner_entity, link.partner_id = spec.partner_entity, spec.partner_id
        if spec.fsm_modified_time is not None:
            link.fsm_modified_time = to_utc(spec.fsm_modified_time)  # as a reload would give it
        if spec.partner_modified_time is not None:
            link.partner_modified_time = to_utc(spec.partner_modified_time)
        link.last_synced_at, link.last_result, link.last_run_id = now, spec.result, run_id or link.last_run_id
        link.active, link.inactive_reason = True, None
        s.add(link)
        return link

    def deactivate_link(self, link_id: str, reason: str) -> RecordLink:
        """Mark a link inactive (a side was deleted or deactivated). Nothing is deleted (TW-14);
        the row stays so the surviving record is not recreated on the other side."""
        with self.db.begin() as s:
            link = s.get(RecordLink, link_id)
            if link is None:
                raise NotFound(f"Record link {link_id} does not exist")
            link.active, link.inactive_reason = False, reason
            link.last_synced_at = self.now()
            s.add(link)
        return link

    def list_links(self, integration_id: str, *, active: bool | None = None, fsm_module: str | None = None,
                   partner_entity: str | None = None, limit: int = 1000, offset: int = 0) -> list[RecordLink]:
        stmt = select(RecordLink).where(RecordLink.integration_id == integration_id)
        if active is not None:
            stmt = stmt.where(RecordLink.active == active)
        if fsm_module is not None:
            stmt = stmt.where(RecordLink.fsm_module == fsm_module)
        if partner_entity is not None:
            stmt = stmt.where(RecordLink.partner_entity == partner_entity)
        with self.db.session() as s:
            return list(s.exec(stmt.order_by(RecordLink.created_at, RecordLink.id).offset(offset).limit(limit)))

    # -- pending writes (write-ahead intents) -------------------------------------------------------
    def record_pending(self, integration_id: str, *, side: str, module: str, source_id: str,
                       source_module: str = "", run_id: str | None = None,
                       payload: Mapping[str, Any] | None = None) -> PendingWrite:
        """Record the intent to create a record on ``side`` before creating it. Idempotent: an open
        intent for the same (side, module, source_id) is returned as it is."""
        [pw] = self.record_pendings(integration_id, side=side, module=module, source_module=source_module,
                                    run_id=run_id, intents=[(source_id, payload)])
        return pw

    def record_pendings(self, integration_id: str, *, side: str, module: str, source_module: str = "",
                        run_id: str | None = None,
                        intents: Iterable[tuple[str, Mapping[str, Any] | None]]) -> list[PendingWrite]:
        """The intents of a batch of creates (``(source id, payload)`` each) in one transaction,
        in the order given; each idempotent like ``record_pending``."""
        self._check_choice("side", side, SIDES)
        intents = [(str(source_id), payload) for source_id, payload in intents]
        now = self.now()
        out: list[PendingWrite] = []
        with self.db.begin() as s:
            self._integration(s, integration_id, lock=True)  # serialises intents per integration
            open_ = {pw.source_id: pw for pw in s.exec(select(PendingWrite).where(
                PendingWrite.integration_id == integration_id, PendingWrite.side == side,
                PendingWrite.module == module, PendingWrite.done == False,  # noqa: E712
                col(PendingWrite.source_id).in_([i for i, _ in intents] or [""])))}
            for source_id, payload in intents:
                pw = open_.get(source_id)
                if pw is None:
                    pw = PendingWrite(id=new_id(), integration_id=integration_id, side=side, module=module,
                                      source_module=source_module, source_id=source_id, run_id=run_id,
                                      payload=dict(payload or {}), started_at=now)
                    s.add(pw)
                    open_[source_id] = pw
                out.append(pw)
            s.flush()
            s.expunge_all()
        return out

    def resolve_pending(self, pending_id: str, *, created_id: str | None = None,
                        outcome: str = "created") -> PendingWrite:
        with self.db.begin() as s:
            [pw] = self._resolve_many(s, [(pending_id, created_id, outcome)], self.now())
            s.flush()
            s.expunge(pw)
        return pw

    def resolve_pendings(self, resolved: Iterable[tuple[str, str | None, str]]) -> None:
        """Resolve many intents (``(pending id, created id, outcome)``) in one transaction."""
        resolved = list(resolved)
        if not resolved:
            return
        with self.db.begin() as s:
            self._resolve_many(s, resolved, self.now())

    @staticmethod
    def _resolve_many(s: Session, resolved: Iterable[tuple[str, str | None, str]],
                      now: datetime) -> list[PendingWrite]:
        resolved = list(resolved)
        done: list[PendingWrite] = []
        ids = [pending_id for pending_id, _, _ in resolved]
        loaded: dict[str, PendingWrite] = {}
        for start in range(0, len(ids), 500):  # the batch's intents in one query
            loaded.update((pw.id, pw) for pw in s.exec(select(PendingWrite).where(
                col(PendingWrite.id).in_(ids[start:start + 500]))))
        for pending_id, created_id, outcome in resolved:
            pw = loaded.get(pending_id)
            if pw is None:
                raise NotFound(f"Pending write {pending_id} does not exist")
            pw.done, pw.done_at, pw.outcome = True, now, outcome
            if created_id is not None:
                pw.created_id = str(created_id)
            done.append(pw)
        return done

    def open_pending(self, integration_id: str) -> list[PendingWrite]:
        """Intents never resolved: after a crash, the engine checks each against the target side
        (by the partner id the record holds) before any new create."""
        with self.db.session() as s:
            return list(s.exec(select(PendingWrite).where(
                PendingWrite.integration_id == integration_id, PendingWrite.done == False,  # noqa: E712
            ).order_by(PendingWrite.started_at, PendingWrite.id)))

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
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\r\n").writerows(self.failure_csv_rows(run_id, module))
        return buf.getvalue()

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

    # -- mail log -------------------------------------------------------------------------------------
    def log_mail(self, *, to: str | Iterable[str], subject: str, body: str, integration_id: str | None = None,
                 sender: str = "", delivered_via: str = "", error: str | None = None,
                 id: str | None = None, sent_at: datetime | None = None) -> MailMessage:
        to_text = to if isinstance(to, str) else ", ".join(to)
        msg = MailMessage(id=id or new_id(), to=to_text, sender=sender, subject=subject, body=body,
                          sent_at=sent_at or self.now(), integration_id=integration_id,
                          delivered_via=delivered_via, error=error)
        with self.db.begin() as s:
            s.add(msg)
        return msg

    def list_mail(self, *, integration_id: str | None = None, limit: int = 100, offset: int = 0) -> list[MailMessage]:
        """Newest first."""
        stmt = select(MailMessage)
        if integration_id is not None:
            stmt = stmt.where(MailMessage.integration_id == integration_id)
        stmt = stmt.order_by(col(MailMessage.sent_at).desc(), col(MailMessage.id).desc()).offset(offset).limit(limit)
        with self.db.session() as s:
            return list(s.exec(stmt))

    def get_mail(self, mail_id: str) -> MailMessage:
        with self.db.session() as s:
            msg = s.get(MailMessage, mail_id)
            if msg is None:
                raise NotFound(f"Mail {mail_id} does not exist")
            return msg


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidValue(f"Unknown time zone {name!r}") from exc


class LockKeeper:
    """Heartbeats a held sync lock from a daemon thread while a run goes (see ``Repo.keep_alive``)."""

    def __init__(self, repo: Repo, integration_id: str, run_id: str, interval: float) -> None:
        self.repo, self.integration_id, self.run_id, self.interval = repo, integration_id, run_id, interval
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"sync-lock-{integration_id}", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not self.repo.heartbeat(self.integration_id, self.run_id):
                    self.lost = True
                    return
            except Exception:  # noqa: BLE001 - a transient DB error; the next beat retries
                continue

    def __enter__(self) -> LockKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=max(5.0, self.interval))
