"""Uniqueness that holds under concurrency: one row per (org, scope, field, value) held by the
one record that has the value, written in the record's own transaction.

A read-then-insert check cannot promise uniqueness: two writers in different threads or gunicorn
workers both read "no such name" and both insert (seen: 2–7 copies of one CRM Account_Name from
50 parallel creates, on SQLite and PostgreSQL). The primary key of ``lab_unique_value`` makes the
database refuse a second holder instead. Products keep their sequential check (it answers the
usual case with the duplicate's id) and claim the value just before they write the record; a
writer whose claim is refused answers exactly as the sequential check would.

``INSERT … ON CONFLICT DO NOTHING`` does the claim: on PostgreSQL it waits for a concurrent
transaction that inserted the same key and then yields to it if that one commits; on SQLite
writers are serialised. The holder read afterwards is therefore committed (or our own). A claim
whose holder no longer has the value (changed by a path that keeps no claims: seeding, workflow
field updates, a snapshot taken before this table existed) is taken over, so a stale row never
refuses a write.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from sqlalchemy import Column, String, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, Session, SQLModel


class UniqueValue(SQLModel, table=True):
    __tablename__ = "lab_unique_value"
    org_id: str = Field(sa_column=Column(String(32), primary_key=True))
    scope: str = Field(sa_column=Column(String(64), primary_key=True))  # module or table
    field_name: str = Field(sa_column=Column(String(100), primary_key=True))
    value_key: str = Field(sa_column=Column(String(64), primary_key=True))  # unique_key(value)
    holder_id: str = Field(sa_column=Column(String(32), nullable=False))


def unique_key(value: Any) -> str | None:
    """The normalised form two values clash on: case-insensitive text (Zoho's fields metadata says
    ``"unique": {"casesensitive": "false"}``; Books compares names case-insensitively), a lookup
    by its id; hashed so any length fits the key. None for an empty value (nothing to hold)."""
    if isinstance(value, dict):
        value = value.get("id")
    if value is None or value == "" or value == []:
        return None
    return hashlib.sha256(str(value).lower().encode("utf-8", "surrogatepass")).hexdigest()


def hold(s: Session, org_id: str, scope: str, field_name: str, key: str, holder_id: str,
         still_has: Callable[[str], bool]) -> str | None:
    """Make ``holder_id`` hold ``key``. None when it does; else the id of the record that holds it
    (``still_has(id)`` says whether a current holder really still has the value)."""
    holder = holder_id
    for _ in range(3):
        holder = _claim(s, org_id, scope, field_name, key, holder_id)
        if holder is None:
            return None
        if still_has(holder):
            return holder
        stmt = (update(UniqueValue).where(*_pk(org_id, scope, field_name, key), UniqueValue.holder_id == holder)
                .values(holder_id=holder_id))
        if s.execute(stmt).rowcount == 1:  # took over a stale claim
            return None
    return holder


def release(s: Session, org_id: str, scope: str, field_name: str, key: str | None, holder_id: str) -> None:
    """Give ``key`` up (when ``holder_id`` holds it): after a rename or a delete."""
    if key is not None:
        s.execute(delete(UniqueValue).where(*_pk(org_id, scope, field_name, key), UniqueValue.holder_id == holder_id))


def _claim(s: Session, org_id: str, scope: str, field_name: str, key: str, holder_id: str) -> str | None:
    insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(UniqueValue.__table__).values(org_id=org_id, scope=scope, field_name=field_name, value_key=key,
                                                holder_id=holder_id).on_conflict_do_nothing()
    if s.execute(stmt).rowcount == 1:
        return None
    holder = s.execute(select(UniqueValue.holder_id).where(*_pk(org_id, scope, field_name, key))).scalar()
    return None if holder in (None, holder_id) else holder


def _pk(org_id: str, scope: str, field_name: str, key: str) -> tuple:
    return (UniqueValue.org_id == org_id, UniqueValue.scope == scope, UniqueValue.field_name == field_name,
            UniqueValue.value_key == key)
