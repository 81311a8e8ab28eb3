"""pytest plugin (registered as ``zlab`` through the ``pytest11`` entry point): the ``zlab_lab``
fixture, so developers test their own Zoho code against the fakes the way moto users do.

    def test_my_sync_code(zlab_lab):
        books = zlab_lab.tenant().books()
        ...

One embedded stack per test session (per xdist worker), or ``--zlab-target URL`` / ``ZLAB_TARGET``
to use a running one; every test gets its own tenants, and its clock and fault changes undone.
"""

from __future__ import annotations

import os

import pytest

from scenarios.harness.lab import Lab


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--zlab-target", default=os.environ.get("ZLAB_TARGET"), metavar="URL",
                     help="run zlab_lab tests against a running Zoho Sync Lab stack instead of an embedded one")


@pytest.fixture(scope="session")
def zlab_stack(request: pytest.FixtureRequest):
    lab = Lab(request.config.getoption("--zlab-target")).start()
    yield lab
    lab.close()


@pytest.fixture
def zlab_lab(zlab_stack: Lab):
    """The lab for one test: create tenants with ``zlab_lab.tenant()``; ``zlab_lab.clock``,
    ``zlab_lab.faults`` and ``zlab_lab.control`` drive the fakes."""
    zlab_stack.begin()
    yield zlab_stack
    zlab_stack.end()
