"""Named snapshots of the whole lab state, and reset.

A snapshot copies every table's rows (tenants, records, sequences, fault rules, the clock) into
one JSON document stored in ``lab_snapshot``; restore empties the tables and puts the rows back.
Tables use explicit keys (no auto-increment columns), so restore needs no sequence repair on
PostgreSQL.

The document keeps each table as ``{"columns": [...], "rows": [[...], ...]}`` and JSON columns as
their stored text (read with a cast, not parsed and re-serialised): about 60k rows take a couple of
seconds instead of ten. ``take_steps``/``restore_steps`` yield progress events as they go, which
``POST /_lab/snapshots?progress=1`` streams (NDJSON) and ``zlab snapshot`` shows as a bar.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    cast,
    column,
    delete,
    func,
    insert,
    select,
)
from sqlalchemy import table as sa_table
from sqlalchemy.dialects.postgresql import JSON as PG_JSON
from sqlmodel import Field, SQLModel

from .db import datetime_column, json_column
from .lab import Lab
from .timefmt import parse_datetime

SKIP = {"lab_snapshot", "lab_counter", "lab_journal"}  # the journal is no state to restore
CHUNK = 5000  # rows read (and reported) at a time


class Snapshot(SQLModel, table=True):
    __tablename__ = "lab_snapshot"
    name: str = Field(sa_column=Column(String(120), primary_key=True))
    created_time: datetime | None = datetime_column()
    tables: dict = json_column()


def _tables():
    return [t for t in SQLModel.metadata.sorted_tables if t.name not in SKIP]


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _decoder(table):
    conv = {}
    for col in table.columns:
        if isinstance(col.type, DateTime):
            conv[col.name] = lambda v: parse_datetime(v) if v else None
        elif isinstance(col.type, LargeBinary):
            conv[col.name] = lambda v: base64.b64decode(v) if v is not None else None
    return conv


class _JsonText(TypeDecorator):
    """A JSON column written from its stored text as it is (no parse, no re-serialisation); on
    PostgreSQL the text is cast to json in the statement."""

    impl = Text
    cache_ok = True

    def __init__(self, postgres: bool) -> None:
        super().__init__()
        self.postgres = postgres

    def bind_expression(self, bindvalue):
        return cast(bindvalue, PG_JSON) if self.postgres else bindvalue


def _writer(table, dialect: str):
    """``table`` for INSERTs of compact rows: JSON columns take their stored text."""
    cols = [column(c.name, _JsonText(dialect == "postgresql") if isinstance(c.type, JSON) else c.type)
            for c in table.columns]
    return sa_table(table.name, *cols)


def _count(s, tables) -> int:
    return sum(s.execute(select(func.count()).select_from(t)).scalar_one() for t in tables)


def take_steps(lab: Lab, name: str) -> Iterator[dict[str, Any]]:
    """Take a snapshot, yielding ``start`` (tables, rows), ``progress`` (rows so far, the table)
    and last ``done`` (name, rows, seconds)."""
    started = time.perf_counter()
    lab.save_clock()
    tables = _tables()
    data: dict[str, dict[str, Any]] = {}
    done = 0
    with lab.db.session() as s:
        yield {"event": "start", "tables": len(tables), "rows": _count(s, tables)}
        for table in tables:
            columns = list(table.columns)
            # JSON columns as their stored text: no parse here, no re-serialisation when stored
            reader = select(*(cast(c, Text).label(c.name) if isinstance(c.type, JSON) else c for c in columns))
            encoded = [i for i, c in enumerate(columns) if isinstance(c.type, DateTime | LargeBinary)]
            rows: list[list[Any]] = []
            for chunk in s.execute(reader.execution_options(yield_per=CHUNK)).partitions(CHUNK):
                for r in chunk:
                    row = list(r)
                    for i in encoded:
                        row[i] = _encode(row[i])
                    rows.append(row)
                done += len(chunk)
                yield {"event": "progress", "table": table.name, "rows": done}
            data[table.name] = {"columns": [c.name for c in columns], "rows": rows}
    yield {"event": "progress", "table": "(storing)", "rows": done}
    with lab.db.begin() as s:
        s.exec(delete(Snapshot).where(Snapshot.name == name))
        s.add(Snapshot(name=name, created_time=lab.now(), tables=data))
    yield {"event": "done", "name": name, "rows": done, "seconds": round(time.perf_counter() - started, 3)}


def take(lab: Lab, name: str) -> dict[str, Any]:
    """Take a snapshot at once: ``{"name", "rows", "seconds"}``."""
    *_, last = take_steps(lab, name)
    return {k: v for k, v in last.items() if k != "event"}


def _rows_of(stored: Any) -> tuple[list[str] | None, list[Any]]:
    """(columns, rows) of one stored table: ``{"columns", "rows"}``, or a list of row objects
    (snapshots taken before the compact form)."""
    if isinstance(stored, dict):
        return stored.get("columns") or [], stored.get("rows") or []
    return None, stored or []


def restore_steps(lab: Lab, name: str) -> Iterator[dict[str, Any]]:
    """Restore a snapshot, yielding ``start``, ``progress`` and ``done`` like ``take_steps``;
    nothing (an empty iterator) when there is no such snapshot."""
    started = time.perf_counter()
    with lab.db.session() as s:
        snap = s.get(Snapshot, name)
    if snap is None:
        return
    tables = _tables()
    total = sum(len(_rows_of(v)[1]) for v in snap.tables.values())
    yield {"event": "start", "tables": len(tables), "rows": total}
    done = 0
    with lab.db.begin() as s:
        for table in reversed(tables):
            s.execute(delete(table))
        for table in tables:
            columns, rows = _rows_of(snap.tables.get(table.name))
            if not rows:
                continue
            compact = columns is not None
            # compact rows keep JSON as text: written back as text, never parsed (old ones: parsed JSON)
            conv = _decoder(table)
            target = _writer(table, s.get_bind().dialect.name) if compact else table
            known = set(table.columns.keys())
            for i in range(0, len(rows), 1000):
                part = rows[i:i + 1000]
                dicts = [dict(zip(columns, r, strict=True)) for r in part] if compact else part
                fixed = [{k: (conv[k](v) if k in conv else v) for k, v in r.items() if k in known} for r in dicts]
                s.execute(insert(target), fixed)
                done += len(part)
                yield {"event": "progress", "table": table.name, "rows": done}
    lab.reset_memory()
    lab.load_shared_state(force=True)
    yield {"event": "done", "name": name, "rows": total, "seconds": round(time.perf_counter() - started, 3)}


def restore(lab: Lab, name: str) -> dict[str, Any] | None:
    """Restore at once: ``{"name", "rows", "seconds"}``, or None when there is no such snapshot."""
    last = None
    for last in restore_steps(lab, name):  # noqa: B007 - the last event is the answer
        pass
    return {k: v for k, v in last.items() if k != "event"} if last else None


def listing(lab: Lab) -> list[dict[str, Any]]:
    with lab.db.session() as s:
        rows = s.execute(select(Snapshot.name, Snapshot.created_time)).all()
    return [{"name": n, "created_time": _encode(t)} for n, t in rows]


def drop(lab: Lab, name: str) -> bool:
    with lab.db.begin() as s:
        return bool(s.exec(delete(Snapshot).where(Snapshot.name == name)).rowcount)


def reset(lab: Lab, keep_snapshots: bool = True) -> None:
    with lab.db.begin() as s:
        for table in reversed(SQLModel.metadata.sorted_tables):
            if keep_snapshots and table.name == "lab_snapshot":
                continue
            s.execute(delete(table))
    lab.faults.clear()
    lab.reset_memory()
    lab.save_clock()
