"""The lab: all the shared machinery of one running set of fakes, attached to the Flask app.

It owns the database, the clock, ids, counters, faults, the journal and the caches the hot
path needs (access tokens and orgs), so a request costs no extra query for auth.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from .change_stamp import ChangeStamp, open_stamp
from .clock import ClockState, LabClock
from .counters import Counters, MemoryCounters, SqlCounters
from .db import Database, json_column
from .faults import FaultBook
from .ids import IdFactory
from .journal import Journal, SharedJournal
from .notify import Notifier
from .tenants import AccessToken, Org, User, org_ids_of_user
from .timefmt import as_utc, parse_datetime

if TYPE_CHECKING:
    from .product import Product

log = logging.getLogger("zlab.fakes")


class LabSetting(SQLModel, table=True):
    """Small pieces of lab state that several workers must agree on (the clock)."""

    __tablename__ = "lab_setting"
    key: str = Field(sa_column=Column(String(64), primary_key=True))
    value: dict = json_column()


@dataclass
class CachedToken:
    token: AccessToken
    email: str
    org_ids: frozenset[str]
    fetched: float  # real monotonic time
    stamp: bytes = b""  # the change stamp seen before it was read (see change_stamp.py)
    scopes_lower: frozenset[str] = frozenset()  # the token's scopes in lower case, for the scope check
    memo: dict[Any, Any] = field(default_factory=dict)  # see Principal.memo


class Lab:
    # How long a worker trusts its clock, faults, token and org caches in shared mode without a
    # change stamp telling it otherwise: the bound only for changes the stamp cannot carry (several
    # hosts on one PostgreSQL, rows edited behind the lab's back). See change_stamp.py.
    CACHE_SECONDS = 2.0

    def __init__(self, db_url: str | None = None, *, seed: int = 0, shared: bool = False,
                 journal_size: int = 5000, base_url: str | None = None) -> None:
        from . import records, snapshots, workflows  # noqa: F401 - their tables must exist too

        self.db = Database(db_url)
        self.db.create_all()
        self.seed = seed
        self.shared = shared  # several worker processes on one database
        self.base_url = base_url
        self.clock = LabClock()
        self.ids = IdFactory(seed)
        self.counters: Counters = SqlCounters(self.db) if shared else MemoryCounters()
        self.faults = FaultBook(self.db, self.counters, seed)
        self.faults.on_change = self.announce_change
        self.stamp: ChangeStamp | None = open_stamp(self.db.url) if shared else None
        self._seen_stamp = self.stamp.read() if self.stamp else b""
        # several workers: one journal in the database for all of them (see journal.py)
        self.journal: Journal = SharedJournal(self.db, journal_size) if shared else Journal(journal_size)
        self.products: dict[str, Product] = {}
        self.notifier = Notifier()
        self._subscribers: list[Callable[[Any], None]] = []
        self._tokens: dict[str, CachedToken] = {}
        self._orgs: dict[str, tuple[Org, float, bytes]] = {}
        self._limits: dict[tuple[str, str], tuple[Org, list[Any]]] = {}
        self._lock = threading.Lock()
        self._synced_at = 0.0
        self.load_shared_state(force=True)

    # -- shared state (clock, fault rules) ------------------------------------------------
    def load_shared_state(self, force: bool = False) -> None:
        """Re-read the clock and fault rules from the database: at start, at once when another
        worker announced a change (the change stamp moved: then the token and org caches go
        too), and in shared mode at least every CACHE_SECONDS."""
        if self.stamp is not None:
            seen = self.stamp.read()
            if seen != self._seen_stamp:
                self._seen_stamp = seen  # before re-reading: a change announced meanwhile is seen next time
                self._drop_caches()
                force = True
        now = time.monotonic()
        if not force and (not self.shared or now - self._synced_at < self.CACHE_SECONDS):
            return
        self._synced_at = now
        with self.db.session() as s:
            row = s.get(LabSetting, "clock")
        if row is not None:
            v = row.value
            frozen = parse_datetime(v["frozen_at"]) if v.get("frozen_at") else None
            self.clock.load(ClockState(frozen, float(v.get("offset_seconds", 0.0))))
        else:
            self.clock.load(ClockState())
        self.faults.load()

    def save_clock(self) -> None:
        st = self.clock.state
        with self.db.begin() as s:
            row = s.get(LabSetting, "clock") or LabSetting(key="clock")
            row.value = {"frozen_at": st.frozen_at.isoformat() if st.frozen_at else None,
                         "offset_seconds": st.offset_seconds}
            s.add(row)
        self.announce_change()

    def announce_change(self) -> None:
        """Tell the other workers that shared state changed (after its commit): their next
        request re-reads the clock and faults and drops cached tokens and orgs."""
        if self.stamp is not None:
            self.stamp.bump()

    def now(self) -> datetime:
        return self.clock.now()

    # -- change events (records.ChangeEvent) --------------------------------------------------
    def subscribe(self, callback: Callable[[Any], None]) -> None:
        """Products that notify about changes (CRM watch, FSM notifications) listen here."""
        self._subscribers.append(callback)

    def publish(self, event: Any) -> None:
        for callback in self._subscribers:
            try:
                callback(event)
            except Exception:  # a broken subscriber must not fail the API call that changed data
                log.exception("change subscriber failed for %s", event)

    # -- caches of the hot path --------------------------------------------------------------
    def lookup_token(self, token: str) -> CachedToken | None:
        hit = self._tokens.get(token)
        stamp = self._seen_stamp
        if hit is not None and (not self.shared or (
                hit.stamp == stamp and time.monotonic() - hit.fetched < self.CACHE_SECONDS)):
            return hit
        with self.db.session() as s:
            at = s.get(AccessToken, token)
            if at is None:
                self._tokens.pop(token, None)
                return None
            user = s.get(User, at.user_id)
            orgs = frozenset(org_ids_of_user(s, at.user_id))
            if at.org_id:  # a token issued for one org (client credentials with soid)
                orgs = orgs & {at.org_id}
        at.expires_at = as_utc(at.expires_at)
        cached = CachedToken(at, user.email if user else "", orgs, time.monotonic(), stamp,
                             frozenset(sc.lower() for sc in at.scopes or ()))
        with self._lock:
            if len(self._tokens) > 50_000:
                self._tokens.clear()
            self._tokens[token] = cached
        return cached

    def lookup_org(self, org_id: str) -> Org | None:
        hit = self._orgs.get(org_id)
        stamp = self._seen_stamp
        if hit is not None and (not self.shared or (
                hit[2] == stamp and time.monotonic() - hit[1] < self.CACHE_SECONDS)):
            return hit[0]
        with self.db.session() as s:
            org = s.get(Org, org_id)
        if org is not None:
            with self._lock:
                if len(self._orgs) > 50_000:
                    self._orgs.clear()
                self._orgs[org_id] = (org, time.monotonic(), stamp)
        return org

    def limits_of(self, product: Product, org: Org) -> list[Any]:
        """``product.limits_for(org)``, worked out once per loaded org: kept while the same Org
        object is the cached one (a reload, after any change to it, makes a new object)."""
        key = (product.name, org.id)
        hit = self._limits.get(key)
        if hit is not None and hit[0] is org:
            return hit[1]
        rules = product.limits_for(org) if product.limits_for is not None else []
        if len(self._limits) > 50_000:
            self._limits.clear()
        self._limits[key] = (org, rules)
        return rules

    def forget(self, *, tokens: bool = True, orgs: bool = True) -> None:
        """Drop cached tokens/orgs after a change (revocation, org settings, membership), here
        and, through the change stamp, in every other worker."""
        self._drop_caches(tokens=tokens, orgs=orgs)
        self.announce_change()

    def _drop_caches(self, *, tokens: bool = True, orgs: bool = True) -> None:
        with self._lock:
            if tokens:
                self._tokens.clear()
            if orgs:
                self._orgs.clear()

    def reset_memory(self) -> None:
        self.forget()
        self.journal.clear()
        self.notifier.clear()
        self.counters.clear()
        self.clock.reset()

    def product(self, name: str) -> Product:
        return self.products[name]

    def describe(self) -> dict[str, Any]:
        return {"database": self.db.engine.url.render_as_string(hide_password=True),
                "shared": self.shared, "seed": self.seed, "products": sorted(self.products)}
