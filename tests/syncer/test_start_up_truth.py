"""Start-up truth (issue 15, item 7): ``/health`` says whether the database and the fakes (or
Zoho) answer, and one scheduler per database — a second syncer on the same database stands by
(the scheduler lease), says so, and takes over when the first stops or dies."""

from __future__ import annotations

import socket
import time

import pytest

from syncer.app import create_app
from syncer.config import SyncerConfig
from syncer.health import Reachability
from syncer.service import SyncerService
from syncer.store.repo import SCHEDULER_LEASE


def dead_url() -> str:
    """A URL nothing listens on (a port just freed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def service(db_url: str, fakes_url: str | None, *, interval: float = 0.05) -> SyncerService:
    return SyncerService(SyncerConfig.from_env(database_url=db_url, fakes_url=fakes_url, smtp_url=None,
                                               scheduler_interval=interval, support_token="t"))


@pytest.fixture
def services():
    made: list[SyncerService] = []

    def make(*args, **kwargs) -> SyncerService:
        made.append(service(*args, **kwargs))
        return made[-1]

    yield make
    for svc in made:
        svc.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'syncer.db'}"
    return request.getfixturevalue("pg_url")


def health(svc: SyncerService):
    r = create_app(svc).test_client().get("/health")
    return r.status_code, r.get_json()


# -- one scheduler per database ---------------------------------------------------------------------
def test_a_second_syncer_on_the_same_database_stands_by_and_takes_over_when_the_first_stops(
        db_url, services, zlab_lab, caplog):
    first, second = services(db_url, zlab_lab.url), services(db_url, zlab_lab.url)
    first.start()
    with caplog.at_level("WARNING", logger="zlab.syncer.scheduler"):
        second.start()
    assert first.scheduler.state == "active" and second.scheduler.state == "standby"
    message = second.scheduler.standby_message
    assert first.scheduler.holder in message and "One scheduler per database" in message
    assert message in caplog.text  # said in the log, and zlab syncer prints it too
    assert health(first)[1]["scheduler"]["state"] == "active"
    code, body = health(second)
    assert code == 200 and body["scheduler"]["state"] == "standby" and body["scheduler"]["message"] == message
    state = create_app(second).test_client().get("/api/v1/scheduler").get_json()
    assert state["state"] == "standby" and state["lease"]["holder"] == first.scheduler.holder
    assert state["lease"]["mine"] is False
    assert second.scheduler.check_lease() is False  # renewals by the holder keep it
    assert first.scheduler.check_lease() is True
    first.scheduler.stop()  # a clean stop hands the lease over at once
    assert second.scheduler.check_lease() is True and second.scheduler.state == "active"
    assert first.scheduler.state == "off"
    assert second.repo.lease_state(SCHEDULER_LEASE).holder == second.scheduler.holder


def test_a_dead_holders_lease_is_taken_over_once_it_expires(db_url, services):
    svc = services(db_url, None, interval=0)
    repo = svc.repo
    assert repo.take_lease(SCHEDULER_LEASE, "ghost:1/a", 60) is True
    assert repo.take_lease(SCHEDULER_LEASE, "other:2/b", 60) is False  # live: refused
    assert repo.take_lease(SCHEDULER_LEASE, "ghost:1/a", -1) is True  # the ghost's last renewal, now past
    assert repo.take_lease(SCHEDULER_LEASE, "other:2/b", 60) is True  # expired: taken over
    assert repo.lease_state(SCHEDULER_LEASE).holder == "other:2/b"
    assert repo.release_lease(SCHEDULER_LEASE, "ghost:1/a") is False  # only the holder releases
    assert repo.release_lease(SCHEDULER_LEASE, "other:2/b") is True
    assert repo.take_lease(SCHEDULER_LEASE, "third:3/c", 60) is True


def test_a_standby_scheduler_runs_no_automatic_sync_until_it_holds_the_lease(zlab_lab, tmp_path, services):
    db = f"sqlite:///{tmp_path / 'syncer.db'}"
    svc = services(db, zlab_lab.url)
    svc.repo.take_lease(SCHEDULER_LEASE, "elsewhere:1/a", 3600)  # another syncer's, alive
    zlab_lab.clock.freeze()
    t = zlab_lab.tenant(products=["fsm", "books"])
    integ = svc.create_integration(fsm_org_id=t.org("fsm"), partner_org_id=t.org("books"), client_id=t.client_id,
                                   client_secret=t.client_secret, refresh_token=t.refresh_token)
    svc.enable(integ.id, duplicate_policy="clone")
    svc.start()
    assert svc.scheduler.state == "standby" and "elsewhere:1/a" in svc.scheduler.standby_message
    zlab_lab.clock.advance(3 * 3600 + 1)
    assert svc.scheduler.due() == [integ.id]
    ticks = svc.scheduler.ticks
    time.sleep(0.3)  # several intervals of the thread: it runs no tick on standby
    assert svc.scheduler.ticks == ticks and svc.repo.list_runs(integ.id) == []
    svc.repo.release_lease(SCHEDULER_LEASE, "elsewhere:1/a")  # that syncer stopped
    assert svc.scheduler.check_lease() is True
    zlab_lab.wait_until(lambda: [r for r in svc.repo.list_runs(integ.id) if r.trigger == "auto"
                                 and r.status == "succeeded"], timeout=10, what="the automatic sync, once active")


def test_the_scheduler_is_off_without_a_thread(db_url, services):
    svc = services(db_url, None, interval=0).start()
    assert svc.scheduler.state == "off" and svc.repo.lease_state(SCHEDULER_LEASE) is None


# -- /health --------------------------------------------------------------------------------------
def test_health_is_degraded_when_the_fakes_do_not_answer(tmp_path, services):
    url = dead_url()
    svc = services(f"sqlite:///{tmp_path / 's.db'}", url, interval=0)
    code, body = health(svc)
    assert code == 200 and body["status"] == "degraded"
    assert body["fakes"]["status"] == "unreachable" and body["fakes"]["url"] == f"{url}/_lab/health"
    assert "ConnectError" in body["fakes"]["error"]
    assert body["database"]["status"] == "ok" and body["database"]["dialect"] == "sqlite"


def test_health_is_ok_with_live_fakes_and_the_check_is_cached(db_url, services, zlab_lab):
    svc = services(db_url, zlab_lab.url, interval=0)
    code, body = health(svc)
    assert code == 200 and body["status"] == "ok", body
    assert body["fakes"]["status"] == "ok" and body["database"]["status"] == "ok"
    assert body["database"]["dialect"] == ("sqlite" if db_url.startswith("sqlite") else "postgresql")
    health(svc)
    assert svc.upstream.probes == 1  # the second health call reused the check


def test_health_says_error_with_503_when_the_database_does_not_answer(tmp_path, services, zlab_lab):
    svc = services(f"sqlite:///{tmp_path / 's.db'}", zlab_lab.url, interval=0)
    app = create_app(svc)
    svc.db.engine.dispose()
    from sqlalchemy import create_engine

    svc.db.engine = create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")  # cannot be opened
    r = app.test_client().get("/health")
    assert r.status_code == 503 and r.get_json()["status"] == "error"
    assert r.get_json()["database"]["status"] == "unreachable"


def test_a_stale_check_is_refreshed_in_the_background():
    check = Reachability(dead_url(), ttl=0)
    first = check.status()
    assert first["status"] == "unreachable" and check.probes == 1
    assert check.status() is first  # stale: answered at once, one refresh started
    deadline = time.monotonic() + 10
    while check.probes < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert check.probes == 2
