"""What every part of the store shares: its clocks, the lease, the holder name, and the helpers
of one transaction (the integration row, choices, dialect-specific upserts)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from syncer.store.db import StoreDB, to_utc
from syncer.store.errors import InvalidValue, NotFound
from syncer.store.models import (
    DUPLICATE_POLICIES,
    KINDS,
    MODES,
    PARTNER_PRODUCTS,
    STATES,
    SYNC_TYPES,
    Integration,
    SyncLock,
)

Clock = Callable[[], datetime]

DEFAULT_LEASE_SECONDS = 60.0
AUTO_SYNC_INTERVAL = timedelta(hours=3)  # TW-04
INTERRUPTED_REASON = "Sync interrupted: the process running it stopped before it finished"


def real_utc_now() -> datetime:
    """Real time; only the default *lease* clock (process liveness), never business time."""
    return datetime.now(UTC)


def process_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidValue(f"Unknown time zone {name!r}") from exc


class StoreBase:
    """State and helpers the store's parts share (``Repo`` composes the parts)."""

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
