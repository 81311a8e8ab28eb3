"""Opening a store made before the partner-neutral schema migrates it in place (SQLite, PostgreSQL).

The old tables are written here in raw SQL, exactly as the Books-only store created them (books_*
columns, no ``kind``, no version row), each with one row; ``Repo`` must then find every row under the
new names, and the migrated database must take new writes and reopen without migrating twice.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from syncer.store import Repo, StoreDB
from syncer.store.migrations import SCHEMA_VERSION, VERSION_TABLE

AT = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

OLD_TABLES = [
    """CREATE TABLE syncer_integration (
        id VARCHAR(40) NOT NULL, name VARCHAR NOT NULL, fsm_org_id VARCHAR NOT NULL,
        books_product VARCHAR NOT NULL, books_org_id VARCHAR NOT NULL, client_id VARCHAR NOT NULL,
        client_secret VARCHAR NOT NULL, refresh_token VARCHAR NOT NULL, accounts_url VARCHAR NOT NULL,
        api_domain VARCHAR NOT NULL, state VARCHAR NOT NULL, disabled_reason VARCHAR,
        disabled_by_error BOOLEAN NOT NULL, mode VARCHAR NOT NULL, sync_type VARCHAR NOT NULL,
        duplicate_policy VARCHAR, auto_sync BOOLEAN NOT NULL, time_zone VARCHAR NOT NULL,
        manual_sync_limit INTEGER NOT NULL, mapping_version INTEGER NOT NULL, settings JSON NOT NULL,
        next_auto_sync_at TIMESTAMP WITH TIME ZONE, last_run_started_at TIMESTAMP WITH TIME ZONE,
        last_run_ended_at TIMESTAMP WITH TIME ZONE, last_success_started_at TIMESTAMP WITH TIME ZONE,
        enabled_at TIMESTAMP WITH TIME ZONE, created_at TIMESTAMP WITH TIME ZONE,
        updated_at TIMESTAMP WITH TIME ZONE, PRIMARY KEY (id))""",
    "CREATE INDEX ix_syncer_integration_fsm_org_id ON syncer_integration (fsm_org_id)",
    "CREATE INDEX ix_syncer_integration_books_org_id ON syncer_integration (books_org_id)",
    """CREATE TABLE syncer_field_mapping (
        id VARCHAR(40) NOT NULL, integration_id VARCHAR(40) NOT NULL, module VARCHAR NOT NULL,
        fsm_module VARCHAR NOT NULL, books_entity VARCHAR NOT NULL, fsm_field VARCHAR NOT NULL,
        books_field VARCHAR NOT NULL, direction VARCHAR NOT NULL, position INTEGER NOT NULL, PRIMARY KEY (id))""",
    """CREATE TABLE syncer_record_link (
        id VARCHAR(40) NOT NULL, integration_id VARCHAR(40) NOT NULL, fsm_module VARCHAR NOT NULL,
        fsm_id VARCHAR NOT NULL, books_entity VARCHAR NOT NULL, books_id VARCHAR NOT NULL,
        fsm_modified_time TIMESTAMP WITH TIME ZONE, books_modified_time TIMESTAMP WITH TIME ZONE,
        last_synced_at TIMESTAMP WITH TIME ZONE, last_result VARCHAR, last_run_id VARCHAR,
        active BOOLEAN NOT NULL, inactive_reason VARCHAR, created_at TIMESTAMP WITH TIME ZONE, PRIMARY KEY (id),
        CONSTRAINT uq_syncer_link_fsm UNIQUE (integration_id, fsm_module, fsm_id),
        CONSTRAINT uq_syncer_link_books UNIQUE (integration_id, books_entity, books_id))""",
    """CREATE TABLE syncer_pending_write (
        id VARCHAR(40) NOT NULL, integration_id VARCHAR(40) NOT NULL, side VARCHAR NOT NULL,
        module VARCHAR NOT NULL, source_module VARCHAR NOT NULL, source_id VARCHAR NOT NULL, run_id VARCHAR,
        payload JSON NOT NULL, started_at TIMESTAMP WITH TIME ZONE, done BOOLEAN NOT NULL,
        done_at TIMESTAMP WITH TIME ZONE, created_id VARCHAR, outcome VARCHAR, PRIMARY KEY (id))""",
]

OLD_ROWS = [
    """INSERT INTO syncer_integration VALUES ('501', 'old one', '60000001', 'invoice', '70000001', 'cid',
        'secret', 'refresh', 'http://accounts', '', 'enabled', NULL, FALSE, 'two_way', 'II', 'clone', TRUE,
        'Asia/Kolkata', 30, 4, '{"notify_email": "ops@example.com"}', NULL, NULL, NULL, NULL, NULL,
        '2024-01-02 03:04:05', '2024-01-02 03:04:05')""",
    """INSERT INTO syncer_field_mapping VALUES ('601', '501', 'customers', 'Companies', 'contacts',
        'Company_Name', 'company_name', 'fsm_to_books', 0)""",
    """INSERT INTO syncer_record_link VALUES ('701', '501', 'Companies', '111', 'contacts', '901',
        NULL, '2024-01-02 03:04:05', NULL, 'created', 'r1', TRUE, NULL, NULL)""",
    """INSERT INTO syncer_pending_write VALUES ('801', '501', 'books', 'contacts', 'Companies', '112', 'r1',
        '{}', NULL, FALSE, NULL, NULL, NULL)""",
]


@pytest.fixture
def old_store(backend) -> str:
    engine = sa.create_engine(backend)
    with engine.begin() as conn:
        for sql in OLD_TABLES + OLD_ROWS:
            conn.execute(sa.text(sql))
    engine.dispose()
    return backend


def test_an_old_books_store_is_migrated_in_place(old_store):
    repo = Repo(StoreDB(old_store), clock=lambda: AT)
    try:
        integ = repo.get_integration("501")
        assert (integ.kind, integ.partner_product, integ.partner_org_id) == ("books", "invoice", "70000001")
        assert (integ.sync_type, integ.time_zone, integ.settings) == ("II", "Asia/Kolkata",
                                                                       {"notify_email": "ops@example.com"})
        assert [i.id for i in repo.list_integrations(partner_org_id="70000001", kind="books")] == ["501"]
        [m] = repo.get_mappings("501")
        assert (m.partner_entity, m.partner_field, m.direction) == ("contacts", "company_name", "fsm_to_books")
        link = repo.link_by_partner("501", "contacts", "901")
        assert link is not None and link.id == "701" and link.fsm_id == "111"
        assert link.partner_modified_time == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
        [pending] = repo.open_pending("501")
        assert (pending.id, pending.side, pending.source_id) == ("801", "partner", "112")
        # the renamed unique constraint still guards the partner side
        with pytest.raises(sa.exc.IntegrityError), repo.db.engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO syncer_record_link (id, integration_id, fsm_module, fsm_id, "
                                 "partner_entity, partner_id, active) VALUES ('702', '501', 'Companies', '222', "
                                 "'contacts', '901', TRUE)"))
        # new writes use the new columns; the new tables exist too
        repo.upsert_link("501", fsm_module="Companies", fsm_id="112", partner_entity="contacts", partner_id="902")
        run = repo.start_run("501", "auto")
        assert repo.get_run(run.id).status == "running"
        with repo.db.engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT version FROM {VERSION_TABLE}")).scalar_one() == SCHEMA_VERSION
            cols = {c["name"] for c in sa.inspect(conn).get_columns("syncer_record_link")}
            assert {"partner_entity", "partner_id", "partner_modified_time"} <= cols
            assert not {c for c in cols if c.startswith("books_")}
            indexes = {i["name"] for i in sa.inspect(conn).get_indexes("syncer_integration")}
            assert "ix_syncer_integration_partner_org_id" in indexes
            assert "ix_syncer_integration_books_org_id" not in indexes
    finally:
        repo.db.dispose()
    again = Repo(StoreDB(old_store), clock=lambda: AT)  # reopening runs no step twice
    try:
        assert again.link_by_fsm("501", "Companies", "112").partner_id == "902"
        with again.db.engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT count(*) FROM {VERSION_TABLE}")).scalar_one() == 1
    finally:
        again.db.dispose()


def test_a_new_store_starts_at_the_current_version(backend):
    db = StoreDB(backend)
    try:
        with db.engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT version FROM {VERSION_TABLE}")).scalar_one() == SCHEMA_VERSION
        repo = Repo(db, clock=lambda: AT)
        integ = repo.create_integration(fsm_org_id="1", partner_org_id="2")
        assert (integ.kind, integ.partner_product) == ("books", "books")
        crm = repo.create_integration(fsm_org_id="3", kind="crm", partner_org_id="4")
        assert (crm.kind, crm.partner_product) == ("crm", "crm")
    finally:
        db.dispose()
