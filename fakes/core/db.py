"""Storage through SQLModel: SQLite file under ./.zlab/ by default, PostgreSQL for scale-out.

The same code runs on both; the only dialect-specific lines are the SQLite pragmas below and
the upsert used by the shared counters (``fakes.core.counters``).
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Column, Field, Session, SQLModel, create_engine

DEFAULT_DB_URL = "sqlite:///.zlab/fakes.db"


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("ZLAB_DATABASE_URL") or DEFAULT_DB_URL


def json_column(**kw: Any) -> Any:
    """A JSON document column (JSON on SQLite, JSON on PostgreSQL)."""
    return Field(default_factory=dict, sa_column=Column(JSON, nullable=False), **kw)


def json_list_column(**kw: Any) -> Any:
    return Field(default_factory=list, sa_column=Column(JSON, nullable=False), **kw)


def datetime_column(index: bool = False, nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), index=index, nullable=nullable))


class Database:
    """Engine + session factory. One per app; ``create_all`` makes every registered table."""

    def __init__(self, url: str | None = None) -> None:
        self.url = database_url(url)
        parsed = make_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            db = parsed.database
            if not db or db == ":memory:":
                kwargs["poolclass"] = StaticPool  # one shared in-memory database
            else:
                Path(db).parent.mkdir(parents=True, exist_ok=True)
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: Engine = create_engine(self.url, **kwargs)
        # Prepared reads (fastread) may run on a connection of their own, outside the ORM's
        # transaction (LazySession); not with the one shared in-memory connection (StaticPool).
        self.raw_reads = not isinstance(self.engine.pool, StaticPool)
        self._readers: list[Any] = []  # idle reader connections (take_reader/give_reader)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)

    def create_all(self) -> None:
        SQLModel.metadata.create_all(self.engine)

    def drop_all(self) -> None:
        SQLModel.metadata.drop_all(self.engine)

    def session(self) -> Session:
        s = LabSession(self.engine, expire_on_commit=False)
        s.lab_db = self
        return s

    @contextmanager
    def begin(self):
        """A session in a transaction: committed on success, rolled back on error. A transaction
        that wrote nothing ends without a COMMIT round trip (most GETs): it halves their cost.

        What it yields starts as a ``LazySession``: prepared reads (``fastread``) run on a reader
        connection, and the ORM session is made only when something asks for it."""
        lazy = LazySession(self)
        try:
            yield lazy
            s = lazy.real
            if s is not None and (s.info.get(WROTE) or s.new or s.dirty or s.deleted):
                s.commit()
        except BaseException:
            if lazy.real is not None:
                lazy.real.rollback()
            raise
        finally:
            lazy.close()

    # -- reader connections (see LazySession) ----------------------------------------------------
    READERS_KEPT = 32  # idle reader connections kept per process; more are closed when given back

    def take_reader(self) -> Any | None:
        """A DBAPI connection for read-only statements outside any transaction (None: use the
        ORM's, as with the one shared in-memory connection)."""
        if not self.raw_reads:
            return None
        try:
            return self._readers.pop()  # atomic under the GIL: no lock on the hot path
        except IndexError:
            pass
        fairy = self.engine.raw_connection()  # made by the pool: the same connect-time pragmas
        fairy.detach()  # ours from now on: no pool checkout/reset per request
        conn = fairy.dbapi_connection
        if not self.is_sqlite:
            conn.autocommit = True  # each read its own statement: no transaction held between requests
        return conn

    def give_reader(self, conn: Any, broken: bool = False) -> None:
        if broken or len(self._readers) >= self.READERS_KEPT or not self.raw_reads:
            _close_quietly(conn)
        else:
            self._readers.append(conn)

    def dispose(self) -> None:
        readers, self._readers = self._readers, []
        for conn in readers:
            _close_quietly(conn)
        self.engine.dispose()


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - a connection already broken is closed enough
        pass


WROTE = "zlab.wrote"  # session.info key: the session flushed or executed a write statement


class LabSession(Session):
    """The lab's sessions: they note in ``info`` when they write (see ``Database.begin``).

    The listeners hang on the class, once: listening on each new session cost more than the
    queries of a single-record GET (``event.listen`` is slow, ~40 µs a call)."""

    lab_db: Database | None = None  # set by Database.session

    def read_connection(self) -> tuple[Any, Any]:
        """(DBAPI connection, dialect) for a read-only statement: the ORM's own, so that a read
        sees what this transaction wrote (pending changes are flushed first, as autoflush would)."""
        if self.new or self.dirty or self.deleted:
            self.flush()
        conn = self.connection()
        return conn.connection, conn.dialect


class LazySession:
    """What ``Database.begin`` yields: a session that is made only when something needs one.

    Why: a single-record GET runs only prepared reads (``fastread``), and an ORM session's
    transaction (``Session.connection()``, the pool's checkout through the ORM, its events, the
    rollback at close) cost ~100 µs a request, a fifth of the whole GET, against ~2 µs for a
    reader connection kept by the process (profiled with ``zlab bench fakes``, issue 13).
    Reads before any ORM use run on the reader connection in autocommit (SQLite, PostgreSQL),
    each statement on the latest committed state. The first other attribute asked for (``get``,
    ``add``, ``exec``…) makes the real ``LabSession``; from then on every read goes through it, so
    it sees the transaction's own writes."""

    __slots__ = ("db", "real", "_reader", "_broken")

    def __init__(self, db: Database) -> None:
        self.db = db
        self.real: LabSession | None = None
        self._reader: Any = None
        self._broken = False

    # what fastread and Database.begin ask before any ORM use, answered without making a session
    @property
    def new(self) -> Any:
        return self.real.new if self.real is not None else ()

    @property
    def dirty(self) -> Any:
        return self.real.dirty if self.real is not None else ()

    @property
    def deleted(self) -> Any:
        return self.real.deleted if self.real is not None else ()

    def read_connection(self) -> tuple[Any, Any]:
        if self.real is None:
            if self._reader is None:
                self._reader = self.db.take_reader()
            if self._reader is not None:
                return self._reader, self.db.engine.dialect
        return self.session().read_connection()

    def read_failed(self) -> None:
        """A statement failed on the reader connection: close it rather than reuse it."""
        if self.real is None:
            self._broken = True

    def session(self) -> LabSession:
        if self.real is None:
            self._release_reader()
            self.real = self.db.session()  # type: ignore[assignment]
        return self.real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session(), name)

    def __enter__(self) -> LazySession:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _release_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            self.db.give_reader(reader, self._broken)
            self._broken = False

    def close(self) -> None:
        self._release_reader()
        if self.real is not None:
            self.real.close()


@event.listens_for(LabSession, "after_flush")
def _on_flush(session, _ctx) -> None:
    session.info[WROTE] = True


@event.listens_for(LabSession, "do_orm_execute")
def _on_execute(state) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[WROTE] = True


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    # WAL lets readers run beside the one writer; NORMAL sync is safe with WAL.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()

