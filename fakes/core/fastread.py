"""Read-only queries of the hot path, compiled once and run on the session's DBAPI connection.

Profiling a single-record GET (``zlab bench fakes``) showed SQLAlchemy's per-call work — building
the statement, its cache key, the ORM's identity-map load — costing ~20x what SQLite spends
answering the query (≈250 µs against ≈12 µs per query). A ``Prepared`` query is built and
compiled once per dialect; running it is a cursor ``execute`` plus the columns' own result
processors (JSON and datetimes come back exactly as the ORM would give them).

Rows are plain read-only tuples with the model's attribute names (``row.doc``, ``row.org_id``):
use them to render answers, never to write (write paths keep loading ORM objects). Pending ORM
changes of the session are flushed first, so a read after a write in the same transaction sees it.
"""

from __future__ import annotations

import threading
from collections import namedtuple
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.engine import Dialect
from sqlmodel import Session


class Prepared:
    """A SELECT built by ``build()``, compiled per dialect on first use; its parameters are
    ``bindparam(name, required=False)`` (IN lists of constants are rendered as parameters)."""

    def __init__(self, build: Callable[[], Select], names: Sequence[str] | None = None) -> None:
        self._build = build
        self._names = tuple(names) if names else None
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any], list[Any], type]] = {}
        self._procs: dict[str, list[Any]] = {}
        self._lock = threading.Lock()

    def _for(self, dialect: Dialect) -> tuple[str, tuple[str, ...] | None, dict[str, Any], list[Any], type]:
        hit = self._compiled.get(dialect.name)
        if hit is not None:
            return hit
        with self._lock:
            stmt = self._build()
            # IN (…) of constants as plain parameters, their values kept from the statement
            compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
            order = tuple(compiled.positiontup) if compiled.positional else None
            constants = {k: v for k, v in compiled.construct_params(_check=False).items() if v is not None}
            cols = list(stmt.selected_columns)
            names = self._names or tuple(c.key for c in cols)
            types = [dialect.type_descriptor(c.type) for c in cols]
            hit = (str(compiled), order, constants, types, namedtuple("Row", names, rename=True))
            self._compiled[dialect.name] = hit
        return hit

    def rows(self, s: Session, **params: Any) -> list[Any]:
        reader = getattr(s, "read_connection", None)  # the lab's sessions (db.LazySession, db.LabSession)
        if reader is not None:
            dbapi_conn, dialect = reader()
        else:
            if s.new or s.dirty or s.deleted:
                s.flush()  # as the ORM's autoflush would: read what this transaction wrote
            conn = s.connection()
            dbapi_conn, dialect = conn.connection, conn.dialect
        sql, order, constants, types, row_type = self._for(dialect)
        if constants:
            params = {**constants, **params}
        cur = dbapi_conn.cursor()
        try:
            cur.execute(sql, tuple(params[k] for k in order) if order is not None else params)
            raw = cur.fetchall()
            procs = self._procs.get(dialect.name)
            if procs is None:  # some drivers' processors depend on the column type the cursor reports
                procs = [t.result_processor(dialect, d[1]) for t, d in zip(types, cur.description, strict=True)]
                self._procs[dialect.name] = procs
        except Exception:
            failed = getattr(s, "read_failed", None)
            if failed is not None:
                failed()
            raise
        finally:
            cur.close()
        if not any(procs):
            return [row_type(*r) for r in raw]
        return [row_type(*[p(v) if p is not None else v for p, v in zip(procs, r, strict=True)]) for r in raw]

    def first(self, s: Session, **params: Any) -> Any | None:
        rows = self.rows(s, **params)
        return rows[0] if rows else None


def by_key(model: Any, *keys: str, order_by: Sequence[Any] = ()) -> Prepared:
    """All columns of ``model``'s rows where each of ``keys`` equals the parameter of that name."""
    table = model.__table__

    def build() -> Select:
        q = select(*table.c).where(*(table.c[k] == bindparam(k, required=False) for k in keys))
        return q.order_by(*order_by) if order_by else q

    return Prepared(build, names=[c.key for c in table.c])
