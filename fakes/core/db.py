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
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)

    def create_all(self) -> None:
        SQLModel.metadata.create_all(self.engine)

    def drop_all(self) -> None:
        SQLModel.metadata.drop_all(self.engine)

    def session(self) -> Session:
        return LabSession(self.engine, expire_on_commit=False)

    @contextmanager
    def begin(self):
        """A session in a transaction: committed on success, rolled back on error. A transaction
        that wrote nothing ends without a COMMIT round trip (most GETs): it halves their cost."""
        with self.session() as s:
            try:
                yield s
                if s.info.get(WROTE) or s.new or s.dirty or s.deleted:
                    s.commit()
            except BaseException:
                s.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()


WROTE = "zlab.wrote"  # session.info key: the session flushed or executed a write statement


class LabSession(Session):
    """The lab's sessions: they note in ``info`` when they write (see ``Database.begin``).

    The listeners hang on the class, once: listening on each new session cost more than the
    queries of a single-record GET (``event.listen`` is slow, ~40 µs a call)."""


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

