"""Shared pytest fixtures: a fresh fake server per test, on SQLite or PostgreSQL.

``fakes_app`` is parametrised by the ``backend`` fixture: tests that take it run once per
backend. PostgreSQL tests use the server at ``ZLAB_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``), each in a schema of its own, and are
skipped with the reason when that server cannot be reached.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakes import create_app

PG_URL = os.environ.get("ZLAB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SPECS_DIR = Path(os.environ.get("ZLAB_SPECS_DIR", Path(__file__).resolve().parents[2] / "shared" / "specs"))

_pg_state: dict[str, str | None] = {}

# The suite's labs are open (unguarded); tests of the lab token set ZLAB_LAB_TOKEN themselves, so a
# developer's shell that exports it for a compose stack does not turn every control call into a 401.
os.environ.pop("ZLAB_LAB_TOKEN", None)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Slow tests first: under xdist a worker then runs one while the other worker(s) take the
    many short ones, instead of the slow one running alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: order kept otherwise


def postgres_unavailable() -> str | None:
    """None when PostgreSQL answers; else the reason to skip."""
    if "reason" not in _pg_state:
        try:
            import sqlalchemy as sa

            eng = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
            with eng.connect() as conn:
                conn.execute(sa.text("select 1"))
            eng.dispose()
            _pg_state["reason"] = None
        except Exception as exc:  # noqa: BLE001 - any failure means "not available here"
            _pg_state["reason"] = f"PostgreSQL not reachable at {PG_URL}: {type(exc).__name__}: {exc}".splitlines()[0]
    return _pg_state["reason"]


@contextmanager
def fresh_pg_schema() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards (skips the test
    with the reason when the server cannot be reached)."""
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    import sqlalchemy as sa

    schema = "zlab_t_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            # a connection the test leaked (a session left in a transaction) holds locks in this
            # schema, and the DROP would wait for it for ever: the schema is this test's alone, so
            # whatever still locks something in it is the test's leftover and is ended
            conn.execute(sa.text(
                "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :schema AND l.pid <> pg_backend_pid() GROUP BY l.pid"), {"schema": schema})
            conn.execute(sa.text("SET LOCAL lock_timeout = '60s'"))
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    with fresh_pg_schema() as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def module_db_url(request, tmp_path_factory) -> Iterator[str]:
    """One database per test module and backend, for property tests that build their data once
    (hypothesis runs many examples against one app)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'fakes.db'}"
        return
    with fresh_pg_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'fakes.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'fakes.db'}"


@pytest.fixture
def fakes_app(backend):
    app = create_app(backend)
    yield app
    app.extensions["zlab"].db.dispose()


@pytest.fixture
def sqlite_app(sqlite_url):
    """For tests of behaviour that does not depend on the database."""
    app = create_app(sqlite_url)
    yield app
    app.extensions["zlab"].db.dispose()


@dataclass
class Tenant:
    """A tenant plus a ready access token, as a test client sees it."""

    email: str
    client_id: str
    client_secret: str
    refresh_token: str
    orgs: dict[str, str]
    access_token: str
    raw: dict

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Zoho-oauthtoken {self.access_token}"}


def make_tenant(client, **body) -> Tenant:
    r = client.post("/_lab/tenants", json=body)
    assert r.status_code == 201, r.get_data(as_text=True)
    t = r.get_json()
    tok = client.post("/oauth/v2/token", data={
        "grant_type": "refresh_token", "client_id": t["client_id"],
        "client_secret": t["client_secret"], "refresh_token": t["refresh_token"],
    })
    assert tok.status_code == 200 and "access_token" in tok.get_json(), tok.get_data(as_text=True)
    return Tenant(t["email"], t["client_id"], t["client_secret"], t["refresh_token"], t["orgs"],
                  tok.get_json()["access_token"], t)


@pytest.fixture
def client(fakes_app):
    return fakes_app.test_client()


@pytest.fixture
def tenant(client) -> Tenant:
    return make_tenant(client)


@pytest.fixture
def specs_dir() -> Path:
    if not SPECS_DIR.is_dir():
        pytest.skip(f"Zoho specs not found at {SPECS_DIR} (set ZLAB_SPECS_DIR); contract tests need ../shared/specs")
    return SPECS_DIR
