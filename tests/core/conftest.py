"""Fixtures of the core machinery's tests: the probe app (Accounts plus two test products that
go through the whole request chain, see probe.py) on each backend and on SQLite alone."""

from __future__ import annotations

import pytest

from tests.core.probe import build_probe_app


def _app(url):
    app = build_probe_app(url)
    yield app
    app.extensions["zlab"].db.dispose()


@pytest.fixture
def app(backend):
    """The probe app on SQLite and on PostgreSQL."""
    yield from _app(backend)


@pytest.fixture
def c(app):
    return app.test_client()


@pytest.fixture
def backend_app(backend):
    yield from _app(backend)


@pytest.fixture
def sqlite_probe(sqlite_url):
    yield from _app(sqlite_url)


@pytest.fixture
def lab_client(sqlite_probe):
    """A client of the probe app on SQLite (behaviour that does not depend on the database)."""
    return sqlite_probe.test_client()
