"""Named snapshots of the whole lab state, and reset.

A snapshot copies every table's rows (tenants, records, sequences, fault rules, the clock) into
one JSON document stored in ``lab_snapshot``; restore empties the tables and puts the rows back.
Tables use explicit keys (no auto-increment columns), so restore needs no sequence repair on
PostgreSQL.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, LargeBinary, String, delete, insert, select
from sqlmodel import Field, SQLModel

from .db import datetime_column, json_column
from .lab import Lab
from .timefmt import parse_datetime

SKIP = {"lab_snapshot", "lab_counter", "lab_journal"}  # the journal is no state to restore


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


def take(lab: Lab, name: str) -> dict[str, Any]:
    lab.save_clock()
    data: dict[str, list[dict[str, Any]]] = {}
    with lab.db.session() as s:
        for table in _tables():
            rows = s.execute(select(table)).mappings().all()
            data[table.name] = [{k: _encode(v) for k, v in r.items()} for r in rows]
    with lab.db.begin() as s:
        s.exec(delete(Snapshot).where(Snapshot.name == name))
        s.add(Snapshot(name=name, created_time=lab.now(), tables=data))
    return {"name": name, "rows": sum(len(v) for v in data.values())}


def restore(lab: Lab, name: str) -> dict[str, Any] | None:
    with lab.db.session() as s:
        snap = s.get(Snapshot, name)
    if snap is None:
        return None
    tables = _tables()
    with lab.db.begin() as s:
        for table in reversed(tables):
            s.execute(delete(table))
        for table in tables:
            rows = snap.tables.get(table.name) or []
            if not rows:
                continue
            conv = _decoder(table)
            known = set(table.columns.keys())
            fixed = [{k: (conv[k](v) if k in conv else v) for k, v in r.items() if k in known} for r in rows]
            for i in range(0, len(fixed), 1000):
                s.execute(insert(table), fixed[i:i + 1000])
    lab.reset_memory()
    lab.load_shared_state(force=True)
    return {"name": name, "rows": sum(len(v) for v in snap.tables.values())}


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
