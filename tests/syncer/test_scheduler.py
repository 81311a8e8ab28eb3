"""Automatic sync (TW-04): three hours after the end of the previous run, on the lab clock.

A syncer service of its own per test (fresh SQLite, scheduler thread off unless the test starts
it) against the session's embedded fakes, so ``tick()`` sees only this test's integrations."""

from __future__ import annotations

import time

import pytest

from syncer.config import SyncerConfig
from syncer.service import SyncerService
from syncer.store.repo import AUTO_SYNC_INTERVAL

SP = "Service_And_Parts"


@pytest.fixture
def svc(zlab_lab, tmp_path):
    config = SyncerConfig.from_env(database_url=f"sqlite:///{tmp_path / 'syncer.db'}", fakes_url=zlab_lab.url,
                                   smtp_url=None, scheduler_interval=0, support_token="t")
    service = SyncerService(config)
    yield service
    service.close()


def integration(zlab_lab, svc, **settings):
    t = zlab_lab.tenant(products=["fsm", "books"])
    integ = svc.create_integration(fsm_org_id=t.org("fsm"), partner_org_id=t.org("books"), client_id=t.client_id,
                                   client_secret=t.client_secret, refresh_token=t.refresh_token)
    svc.enable(integ.id, duplicate_policy="clone")
    if settings:
        svc.update_settings(integ.id, **settings)
    return t, integ.id


def auto_runs(svc, integration_id):
    return [r for r in svc.repo.list_runs(integration_id) if r.trigger == "auto"]


def test_an_automatic_sync_runs_three_hours_after_the_end_of_the_previous_one(zlab_lab, svc):
    zlab_lab.clock.freeze()
    tenant, iid = integration(zlab_lab, svc)
    first = svc.sync_now(iid, wait=True)
    assert first.status == "succeeded"
    assert svc.repo.get_integration(iid).next_auto_sync_at == first.ended_at + AUTO_SYNC_INTERVAL
    zlab_lab.clock.advance(3 * 3600 - 1)
    assert svc.scheduler.tick() == [] and auto_runs(svc, iid) == []  # not yet
    # a service created meanwhile goes to Books with the automatic sync
    r = tenant.fsm().post(f"/{SP}", json={"data": [{"Name": "Annual service", "Type": "Service", "Unit_Price": 90}]})
    assert r.status_code in (200, 201), r.text
    zlab_lab.clock.advance(2)  # 3 h + 1 s after the end of the first run
    [run] = svc.scheduler.tick()
    assert run.trigger == "auto" and run.status == "succeeded" and run.integration_id == iid
    names = [i["name"] for i in tenant.books().get("/items").json()["items"]]
    assert "Annual service" in names
    # the next one is due three hours after this one's end: nothing more now
    assert svc.scheduler.tick() == []
    assert svc.repo.get_integration(iid).next_auto_sync_at == run.ended_at + AUTO_SYNC_INTERVAL


def test_the_first_automatic_sync_is_three_hours_after_enabling(zlab_lab, svc):
    zlab_lab.clock.freeze()
    _t, iid = integration(zlab_lab, svc)
    assert svc.scheduler.due() == []
    zlab_lab.clock.advance(3 * 3600 + 1)
    assert svc.scheduler.due() == [iid]
    [run] = svc.scheduler.tick()
    assert run.trigger == "auto" and run.status == "succeeded"


def test_no_automatic_sync_when_switched_off_or_disabled(zlab_lab, svc):
    zlab_lab.clock.freeze()
    _t1, off = integration(zlab_lab, svc, auto_sync=False)
    t2, broken = integration(zlab_lab, svc)
    assert svc.sync_now(off, wait=True).status == "succeeded"
    # TW-16 disables the second one (and stops its periodic sync)
    zlab_lab.control.call("PATCH", f"/books/orgs/{t2.org('books')}/crm-integration", {"enabled": True, "sync_type": "I"})
    assert svc.sync_now(broken, wait=True).status == "failed"
    assert svc.repo.get_integration(broken).state == "disabled"
    zlab_lab.clock.advance(10 * 3600)
    assert svc.scheduler.tick() == []
    assert auto_runs(svc, off) == [] and auto_runs(svc, broken) == []
    # switched on again: due three hours after the end of its previous run, i.e. at once here
    svc.update_settings(off, auto_sync=True)
    [run] = svc.scheduler.tick()
    assert run.integration_id == off and run.trigger == "auto"


def test_the_scheduler_thread_runs_due_syncs_by_itself(zlab_lab, svc):
    zlab_lab.clock.freeze()
    _t, iid = integration(zlab_lab, svc)
    svc.scheduler.interval = 0.05
    svc.scheduler.start()
    assert svc.scheduler.running
    time.sleep(0.2)
    assert auto_runs(svc, iid) == []
    zlab_lab.clock.advance(3 * 3600 + 1)
    zlab_lab.wait_until(lambda: [r for r in auto_runs(svc, iid) if r.status == "succeeded"], timeout=10,
                        what="an automatic sync by the scheduler thread")
    svc.scheduler.stop()
    assert not svc.scheduler.running
    assert len(auto_runs(svc, iid)) == 1  # one run, not one per tick


def test_a_running_manual_sync_is_not_doubled_by_the_scheduler(zlab_lab, svc):
    zlab_lab.clock.freeze()
    _t, iid = integration(zlab_lab, svc)
    run = svc.repo.start_run(iid, "manual")  # another process holds the lock (TW-09)
    zlab_lab.clock.advance(3 * 3600 + 1)
    assert svc.scheduler.due() == [iid]
    assert svc.scheduler.tick() == [] and auto_runs(svc, iid) == []
    svc.repo.finish_run(run.id, status="succeeded")


def test_tick_over_http_runs_what_is_due(zlab_lab):
    syncer = zlab_lab.syncer
    zlab_lab.clock.freeze()
    tenant = zlab_lab.tenant(products=["fsm", "books"])
    integ = syncer.create_integration(tenant)
    integ.enable()
    zlab_lab.clock.advance(3 * 3600 + 1)
    # the embedded syncer's own scheduler thread may get there first: either way one auto run
    ran = [r for r in syncer.tick() if r["integration_id"] == integ.id]
    runs = zlab_lab.wait_until(lambda: [r for r in integ.runs() if r["trigger"] == "auto" and r["status"] != "running"],
                               timeout=10, what="an automatic sync")
    assert len(runs) == 1 and runs[0]["status"] == "succeeded"
    assert all(r["trigger"] == "auto" for r in ran)
    state = syncer.request("GET", "/api/v1/scheduler").json()
    assert state["running"] is True and integ.id not in state["due"]
