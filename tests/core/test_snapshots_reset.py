"""Snapshots, restore and reset of the whole lab (``/_lab/snapshots``, ``/_lab/reset``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from fakes.core.timefmt import parse_datetime
from tests.core.probe import build_probe_app, call, get_token, new_tenant


def tenants(c) -> list[dict]:
    r = c.get("/_lab/tenants")
    assert r.status_code == 200
    return r.get_json()["tenants"]


def refresh(c, t) -> dict:
    r = c.post("/oauth/v2/token", data={"grant_type": "refresh_token", "client_id": t["client_id"],
                                        "client_secret": t["client_secret"], "refresh_token": t["refresh_token"]})
    assert r.status_code == 200
    return r.get_json()


def test_take_reset_restore_round_trip(c):
    c.post("/_lab/clock/freeze", json={"at": "2030-01-01T00:00:00Z"})
    t = new_tenant(c, email="snap@example.com")
    c.patch(f"/_lab/orgs/{t['orgs']['crm']}", json={"settings": {"colour": "blue"}})
    rule = c.post("/_lab/faults", json={"product": "fsm", "action": {"type": "error", "status": 503}}).get_json()

    r = c.post("/_lab/snapshots", json={"name": "base"})
    assert r.status_code == 201 and r.get_json()["name"] == "base" and r.get_json()["rows"] > 0
    assert [s["name"] for s in c.get("/_lab/snapshots").get_json()["snapshots"]] == ["base"]

    # change everything after the snapshot
    c.post("/_lab/clock/advance", json={"seconds": 7200})
    c.patch(f"/_lab/orgs/{t['orgs']['crm']}", json={"settings": {"colour": "red"}})
    later = new_tenant(c, email="later@example.com")
    c.delete("/_lab/faults")

    # reset: tenants gone, tokens invalid, faults gone, real time
    assert c.post("/_lab/reset").status_code == 200
    assert tenants(c) == []
    assert c.get("/_lab/journal").get_json()["entries"] == []
    r = call(c, t)
    assert r.status_code == 401 and r.get_json()["code"] == "AUTH_INVALID"
    assert refresh(c, t) == {"error": "invalid_client"}
    assert c.get("/_lab/faults").get_json()["faults"] == []
    assert c.get("/_lab/clock").get_json()["frozen"] is False

    # restore: tenants, tokens, org settings, fault rules and the clock come back
    r = c.post("/_lab/snapshots/base/restore")
    assert r.status_code == 200 and r.get_json()["name"] == "base"
    assert [x["email"] for x in tenants(c)] == ["snap@example.com"]
    clock = c.get("/_lab/clock").get_json()
    assert clock["frozen"] is True and parse_datetime(clock["now"]) == datetime(2030, 1, 1, tzinfo=UTC)
    ok = call(c, t)
    assert ok.status_code == 200 and ok.get_json()["settings"] == {"colour": "blue"}
    assert "access_token" in refresh(c, t)
    faults = c.get("/_lab/faults").get_json()["faults"]
    assert [f["id"] for f in faults] == [rule["id"]]
    assert call(c, t, product="fsm").status_code == 503
    # what was made after the snapshot is gone
    assert call(c, later).status_code == 401
    assert c.get("/_lab/tenants/later@example.com").status_code == 404


def test_restore_unknown_snapshot_is_404(c):
    r = c.post("/_lab/snapshots/nope/restore")
    assert r.status_code == 404 and "nope" in r.get_json()["error"]


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "   "}, {"name": 7}, {"name": "x" * 121}])
def test_snapshot_name_is_validated(c, body):
    r = c.post("/_lab/snapshots", json=body)
    assert r.status_code == 400 and r.get_json()["error"]


def test_snapshot_with_same_name_is_replaced_and_can_be_dropped(c):
    a = new_tenant(c)
    c.post("/_lab/snapshots", json={"name": "s"})
    b = new_tenant(c)
    c.post("/_lab/snapshots", json={"name": "s"})
    assert len(c.get("/_lab/snapshots").get_json()["snapshots"]) == 1
    c.post("/_lab/reset")
    c.post("/_lab/snapshots/s/restore")
    assert {x["email"] for x in tenants(c)} == {a["email"], b["email"]}
    assert c.delete("/_lab/snapshots/s").status_code == 200
    assert c.delete("/_lab/snapshots/s").status_code == 404
    assert c.post("/_lab/snapshots/s/restore").status_code == 404


def test_reset_keeps_snapshots_unless_asked(c):
    new_tenant(c)
    c.post("/_lab/snapshots", json={"name": "keep"})
    c.post("/_lab/reset")
    assert [s["name"] for s in c.get("/_lab/snapshots").get_json()["snapshots"]] == ["keep"]
    c.post("/_lab/reset", json={"snapshots": True})
    assert c.get("/_lab/snapshots").get_json()["snapshots"] == []
    assert c.post("/_lab/snapshots/keep/restore").status_code == 404


def test_after_restore_new_tenants_get_fresh_ids(c):
    t = new_tenant(c)
    c.post("/_lab/snapshots", json={"name": "one"})
    c.post("/_lab/reset")
    c.post("/_lab/snapshots/one/restore")
    u = new_tenant(c)  # id sequences were restored with the rows: no collision
    assert u["user_id"] != t["user_id"]
    assert not set(u["orgs"].values()) & set(t["orgs"].values())
    assert call(c, u).status_code == 200 and call(c, t).status_code == 200


def test_restore_refreshes_cached_org_settings(c):
    t = new_tenant(c)
    c.post("/_lab/snapshots", json={"name": "plain"})
    c.patch(f"/_lab/orgs/{t['orgs']['crm']}", json={"active": False})
    assert call(c, t).status_code == 403
    c.post("/_lab/snapshots/plain/restore")
    assert call(c, t).status_code == 200


def test_ids_after_reset_restart_deterministically(c):
    first = [new_tenant(c) for _ in range(2)]
    c.post("/_lab/reset")
    second = [new_tenant(c) for _ in range(2)]
    for a, b in zip(first, second, strict=True):
        assert a["user_id"] == b["user_id"]
        assert a["orgs"] == b["orgs"]
        assert a["email"] == b["email"]  # generated from the seed too
        assert a["client_id"] != b["client_id"] and a["refresh_token"] != b["refresh_token"]  # secrets are random
    # and the new tokens work for the new tenants
    assert call(c, second[0]).status_code == 200


def test_same_seed_same_ids_on_a_fresh_database_different_seed_different(tmp_path):
    def ids_for(name: str, seed: int) -> list:
        app = build_probe_app(f"sqlite:///{tmp_path / name}", seed=seed)
        try:
            c = app.test_client()
            return [(t["user_id"], t["orgs"], t["email"]) for t in (new_tenant(c), new_tenant(c))]
        finally:
            app.extensions["zlab"].db.dispose()

    assert ids_for("a.db", 5) == ids_for("b.db", 5)
    other = ids_for("c.db", 6)
    assert other != ids_for("d.db", 5)
    assert other[0][0] != ids_for("e.db", 5)[0][0]


def test_reset_clears_rate_limit_counters(c):
    t = new_tenant(c, orgs={"crm": {"rate_limits": True, "settings": {"per_minute": 2}}})
    c.post("/_lab/clock/freeze")
    assert [call(c, t).status_code for _ in range(3)] == [200, 200, 429]
    c.post("/_lab/snapshots", json={"name": "limited"})
    c.post("/_lab/snapshots/limited/restore")  # restore also starts the windows afresh
    t["token"] = get_token(c, t)
    assert call(c, t).status_code == 200


# -- progress streams (POST …?progress=1: NDJSON) and the stored form --------------------------------------
def events(r) -> list[dict]:
    assert r.mimetype == "application/x-ndjson", r.get_data(as_text=True)[:300]
    return [json.loads(line) for line in r.get_data(as_text=True).splitlines() if line.strip()]


def test_take_and_restore_stream_their_progress_and_say_how_long(c, app):
    t = new_tenant(c, email="stream@example.com")
    c.patch(f"/_lab/orgs/{t['orgs']['crm']}", json={"settings": {"colour": "green", "n": [1, None, "x"]}})
    plain = c.post("/_lab/snapshots", json={"name": "plain"}).get_json()
    assert plain["seconds"] >= 0 and plain["rows"] > 0
    taken = events(c.post("/_lab/snapshots?progress=1", json={"name": "streamed"}))
    assert taken[0]["event"] == "start" and taken[0]["rows"] == plain["rows"] and taken[0]["tables"] > 5
    progress = [e for e in taken if e["event"] == "progress"]
    assert progress and [e["rows"] for e in progress] == sorted(e["rows"] for e in progress)
    assert taken[-1] == {"event": "done", "name": "streamed", "rows": plain["rows"], "seconds": taken[-1]["seconds"]}
    c.patch(f"/_lab/orgs/{t['orgs']['crm']}", json={"settings": {"colour": "red"}})
    back = events(c.post("/_lab/snapshots/streamed/restore", headers={"Accept": "application/x-ndjson"}))
    assert back[0] == {"event": "start", "tables": taken[0]["tables"], "rows": plain["rows"]}
    assert back[-1]["event"] == "done" and back[-1]["rows"] == plain["rows"]
    settings = call(c, t).get_json()["settings"]
    assert settings == {"colour": "green", "n": [1, None, "x"]}  # JSON columns come back as they were
    missing = c.post("/_lab/snapshots/nope/restore?progress=1")
    assert missing.status_code == 404 and "nope" in missing.get_json()["error"]


def test_a_snapshot_in_the_earlier_form_still_restores(c, app):
    """Snapshots stored before the compact form (a list of row objects per table) restore as before."""
    from sqlalchemy import select
    from sqlmodel import SQLModel

    from fakes.core import snapshots

    t = new_tenant(c, email="old@example.com")
    c.patch(f"/_lab/orgs/{t['orgs']['crm']}", json={"settings": {"colour": "blue"}})
    lab = app.extensions["zlab"]
    lab.save_clock()
    data = {}
    with lab.db.session() as s:
        for table in SQLModel.metadata.sorted_tables:
            if table.name not in snapshots.SKIP:
                rows = s.execute(select(table)).mappings().all()
                data[table.name] = [{k: snapshots._encode(v) for k, v in r.items()} for r in rows]
    with lab.db.begin() as s:
        s.add(snapshots.Snapshot(name="old", created_time=lab.now(), tables=data))
    c.post("/_lab/reset")
    r = c.post("/_lab/snapshots/old/restore")
    assert r.status_code == 200 and r.get_json()["rows"] == sum(len(v) for v in data.values())
    assert call(c, t).get_json()["settings"] == {"colour": "blue"}
