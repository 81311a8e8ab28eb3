"""Small SQL helpers that must behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session


def increment(session: Session, model: Any, key: dict[str, Any], column: str, amount: int,
              extra: dict[str, Any] | None = None) -> int:
    """Atomically add ``amount`` to ``model.column`` for the row ``key`` (created if missing)
    and return the new value: one ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` statement,
    so concurrent workers never hand out the same number."""
    table = model.__table__
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = {**key, column: amount, **(extra or {})}
    stmt = insert(table).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key.keys()),
        set_={column: getattr(table.c, column) + amount},
    ).returning(getattr(table.c, column))
    return int(session.execute(stmt).scalar_one())
