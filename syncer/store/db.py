"""The syncer's database: its own SQLModel registry, engine setup and aware-UTC datetimes.

Syncer tables live in a metadata of their own (``SyncerModel.metadata``), never in the global
``SQLModel.metadata`` the fakes reset and snapshot, so both can share one process (``zlab up``)
and even one database. Default: ``sqlite:///.zlab/syncer.db``; ``ZLAB_SYNCER_DATABASE_URL``
overrides it (PostgreSQL works with the same code). Opening a database migrates an older one in
place (``syncer.store.migrations``).

SQLite transactions start with ``BEGIN IMMEDIATE`` so that every transaction that writes takes
the write lock up front (and waits for it, up to the busy timeout) instead of failing with
"database is locked" when it upgrades from a read; this is what makes the conditional UPDATEs
of the sync lock and the manual-sync counter atomic across processes on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import registry
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session, SQLModel, create_engine

DEFAULT_SYNCER_DB_URL = "sqlite:///.zlab/syncer.db"
ENV_VAR = "ZLAB_SYNCER_DATABASE_URL"
_SCHEMA_LOCK_KEY = 0x5A4C4142  # pg_advisory_xact_lock key serialising create_all across processes


def syncer_database_url(explicit: str | None = None) -> str:
    """The URL to use: ``explicit``, else ``$ZLAB_SYNCER_DATABASE_URL``, else the SQLite default."""
    return explicit or os.environ.get(ENV_VAR) or DEFAULT_SYNCER_DB_URL


def to_utc(value: datetime | None) -> datetime | None:
    """An aware UTC datetime (naive values are taken to be UTC already)."""
    if value is None:
        return None
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UTCDateTime(TypeDecorator):
    """DateTime stored as UTC and always read back aware UTC (SQLite hands back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        aware = to_utc(value)
        # SQLite keeps no offset: store the naive UTC wall time so ordering/comparison stay right.
        return aware.replace(tzinfo=None) if dialect.name == "sqlite" else aware

    def process_result_value(self, value: Any, dialect) -> Any:
        return to_utc(value)


class SyncerModel(SQLModel, registry=registry()):
    """Base of every syncer table: a registry (and so a ``metadata``) separate from the fakes'."""


class StoreDB:
    """Engine + sessions for the syncer's state store."""

    def __init__(self, url: str | None = None, *, create: bool = True) -> None:
        self.url = syncer_database_url(url)
        parsed = make_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            db = parsed.database
            if not db or db == ":memory:":
                kwargs["poolclass"] = StaticPool
            else:
                Path(db).parent.mkdir(parents=True, exist_ok=True)
        else:
            kwargs.update(pool_size=5, max_overflow=10, pool_pre_ping=True)
        self.engine: Engine = create_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _sqlite_begin)
        if create:
            self.create_all()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def create_all(self) -> None:
        """Create the syncer's missing tables and migrate an older database in place to the current
        schema version (``syncer.store.migrations``). Idempotent; safe when several processes race."""
        from syncer.store import models  # noqa: F401 - registers the tables on SyncerModel.metadata
        from syncer.store.migrations import migrate

        with self.engine.begin() as conn:
            if not self.is_sqlite:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK_KEY})
            migrate(conn, SyncerModel.metadata.create_all)

    def drop_all(self) -> None:
        from syncer.store.migrations import VERSION_TABLE

        with self.engine.begin() as conn:
            SyncerModel.metadata.drop_all(conn)
            conn.execute(text(f"DROP TABLE IF EXISTS {VERSION_TABLE}"))

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    @contextmanager
    def begin(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on any error."""
        with self.session() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_connect(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # let SQLAlchemy's "begin" event issue BEGIN IMMEDIATE
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")
