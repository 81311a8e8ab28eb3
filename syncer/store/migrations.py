"""Schema migrations of the syncer's store: a version row and the steps from one version to the next.

``StoreDB.create_all`` creates missing tables (in the current shape), then brings an older database
up to ``SCHEMA_VERSION`` in place, all in one transaction (under ``BEGIN IMMEDIATE`` on SQLite, an
advisory lock on PostgreSQL, so racing processes migrate once). ``syncer_schema_version`` holds one
row; a database without it is version 0 (the store before versions: Books-shaped columns) or, when
it has no integration table at all, brand new (created at the current version).

Each step inspects before it alters, so a step is safe on a database that is partly in the new
shape (e.g. a table create_all has just made).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

VERSION_TABLE = "syncer_schema_version"

# table -> (old column, new column): version 1 made the store partner-neutral (Books or CRM)
_PARTNER_RENAMES = {
    "syncer_integration": (("books_product", "partner_product"), ("books_org_id", "partner_org_id")),
    "syncer_field_mapping": (("books_entity", "partner_entity"), ("books_field", "partner_field")),
    "syncer_record_link": (("books_entity", "partner_entity"), ("books_id", "partner_id"),
                           ("books_modified_time", "partner_modified_time")),
}


def _columns(conn: Connection, table: str) -> set[str]:
    return {c["name"] for c in inspect(conn).get_columns(table)}


def _partner_neutral(conn: Connection) -> None:
    """v0 -> v1: books_* columns become partner_*; integrations get ``kind`` (all "books");
    write-ahead intents on the Books side say side "partner"."""
    tables = set(inspect(conn).get_table_names())
    for table, renames in _PARTNER_RENAMES.items():
        if table not in tables:
            continue
        cols = _columns(conn, table)
        for old, new in renames:
            if old in cols and new not in cols:
                conn.execute(text(f'ALTER TABLE {table} RENAME COLUMN {old} TO {new}'))
    if "syncer_integration" in tables:
        if "kind" not in _columns(conn, "syncer_integration"):
            conn.execute(text("ALTER TABLE syncer_integration ADD COLUMN kind VARCHAR NOT NULL DEFAULT 'books'"))
        # the index create_all names after the column (SQLite cannot rename an index: drop, create)
        conn.execute(text("DROP INDEX IF EXISTS ix_syncer_integration_books_org_id"))
        conn.execute(text("CREATE INDEX IF NOT EXISTS ix_syncer_integration_partner_org_id "
                          "ON syncer_integration (partner_org_id)"))
    if "syncer_record_link" in tables and conn.dialect.name == "postgresql":
        names = {u["name"] for u in inspect(conn).get_unique_constraints("syncer_record_link")}
        if "uq_syncer_link_books" in names:  # SQLite keeps the old name inside its table text
            conn.execute(text("ALTER TABLE syncer_record_link "
                              "RENAME CONSTRAINT uq_syncer_link_books TO uq_syncer_link_partner"))
    if "syncer_pending_write" in tables:
        conn.execute(text("UPDATE syncer_pending_write SET side = 'partner' WHERE side = 'books'"))


MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_partner_neutral,)  # step i: version i -> i + 1
SCHEMA_VERSION = len(MIGRATIONS)


def stored_version(conn: Connection) -> int | None:
    """The version row's value; None when the database has no version table."""
    if VERSION_TABLE not in inspect(conn).get_table_names():
        return None
    row = conn.execute(text(f"SELECT version FROM {VERSION_TABLE}")).first()
    return int(row[0]) if row else 0


def migrate(conn: Connection, create_tables: Callable[[Connection], None]) -> int:
    """Create missing tables and migrate ``conn``'s database to ``SCHEMA_VERSION``; returns the
    version it was at (``SCHEMA_VERSION`` for a new database). Run inside one transaction."""
    version = stored_version(conn)
    if version is None:
        existing = "syncer_integration" in inspect(conn).get_table_names()
        version = 0 if existing else SCHEMA_VERSION
        conn.execute(text(f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (version INTEGER NOT NULL)"))
        conn.execute(text(f"INSERT INTO {VERSION_TABLE} (version) VALUES (:v)"), {"v": version})
    if version > SCHEMA_VERSION:
        raise RuntimeError(f"The syncer database is at schema version {version}, newer than this code "
                           f"({SCHEMA_VERSION}); upgrade the syncer")
    create_tables(conn)
    for step in MIGRATIONS[version:]:
        step(conn)
    if version != SCHEMA_VERSION:
        conn.execute(text(f"UPDATE {VERSION_TABLE} SET version = :v"), {"v": SCHEMA_VERSION})
    return version
