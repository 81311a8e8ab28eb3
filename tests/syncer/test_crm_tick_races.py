"""The CRM sync's scheduler tick against what runs beside it.

- Between enable's "enabled" and its subscription a tick saw no channel and subscribed one itself,
  without enable's notify URL (CRM refused the empty notify_url) or, with a public URL set, with a
  token of its own racing enable's. It must leave that to enable.
- The scheduler's thread and an explicit tick on the same integration did the same work twice (two
  daily runs, two stop mails)."""

from __future__ import annotations


def test_a_tick_leaves_an_integration_enable_has_not_subscribed_yet(zlab_lab):
    t = zlab_lab.tenant(products=["fsm", "crm"])
    integ = zlab_lab.syncer.create_crm_integration(t, notify_email="admin@crm.example")
    svc = zlab_lab._syncer_service
    # the moment inside enable(): enabled, channels not made yet
    svc.repo.enable_integration(integ.id, duplicate_policy="clone")
    enabled = svc.repo.get_integration(integ.id)
    svc.crm._tick_one(enabled, svc.repo.now(), force=True)  # raised ZohoApiError (notify_url '') before the fix
    after = svc.repo.get_integration(integ.id)
    assert after.state == "enabled" and not (after.settings or {}).get("channels")
    assert t.crm().get("/actions/watch").status_code == 204  # no channel made by the tick


def test_two_ticks_at_once_switch_a_free_fsm_off_once(zlab_lab, monkeypatch):
    """The scheduler's own tick and an explicit one on the same integration: one stop, one mail."""
    import threading
    import time

    from syncer.crm_sync.engine import CrmEngine

    t = zlab_lab.tenant(products=["fsm", "crm"])
    integ = zlab_lab.syncer.create_crm_integration(t, notify_email="admin@crm.example")
    integ.enable_crm()
    svc = zlab_lab._syncer_service
    original = CrmEngine.switch_off

    def slow_switch_off(self, *args):  # widens the window the second tick used to slip through
        time.sleep(0.3)
        return original(self, *args)
    monkeypatch.setattr(CrmEngine, "switch_off", slow_switch_off)
    t.set_org("fsm", edition="free")
    ticks = [threading.Thread(target=svc.crm.tick, kwargs={"force": True}) for _ in range(2)]
    for th in ticks:
        th.start()
    for th in ticks:
        th.join(timeout=30)
    assert integ.refresh()["state"] == "disabled"
    stops = [m for m in integ.mail() if m["subject"] == "Sync between Zoho FSM and Zoho CRM has stopped"]
    assert len(stops) == 1, [m["subject"] for m in integ.mail()]
