"""Fault injection (``/_lab/faults``): validation, nth/probability/times, the four actions,
org and path matching, counts, delete and clear, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from werkzeug.serving import make_server

from tests.core.probe import PREFIX, build_probe_app, call, new_tenant


def add(c, spec: dict) -> dict:
    r = c.post("/_lab/faults", json=spec)
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.get_json()


def listing(c) -> dict[int, dict]:
    r = c.get("/_lab/faults")
    assert r.status_code == 200
    return {f["id"]: f for f in r.get_json()["faults"]}


# -- validation -------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, word", [
    ({"colour": "red"}, "unknown keys: colour"),
    ({"product": "salesforce"}, "product"),
    ({"method": "PO ST"}, "method"),
    ({"method": 5}, "method"),
    ({"path": 42}, "path"),
    ({"path": "^/books/v3/(items$"}, "path"),
    ({"action": {"type": "explode"}}, "action.type"),
    ({"action": "error"}, "action.type"),
    ({"action": {"type": "error", "status": 200}}, "action.status"),
    ({"action": {"type": "error", "status": "500"}}, "action.status"),
    ({"action": {"type": "error", "status": 600}}, "action.status"),
    ({"action": {"type": "error", "headers": ["X-A: 1"]}}, "action.headers"),
    ({"action": {"type": "delay"}}, "action.seconds"),
    ({"action": {"type": "delay", "seconds": -1}}, "action.seconds"),
    ({"action": {"type": "delay", "seconds": 601}}, "action.seconds"),
    ({"action": {"type": "delay", "seconds": "2"}}, "action.seconds"),
    ({"action": {"type": "rate_limit", "retry_after": -5}}, "action.retry_after"),
    ({"action": {"type": "rate_limit", "retry_after": "30"}}, "action.retry_after"),
    ({"action": {"type": "rate_limit", "kind": "rate_hour"}}, "action.kind"),
    ({"probability": 1.5}, "probability"),
    ({"probability": "half"}, "probability"),
    ({"nth": 0}, "nth"),
    ({"nth": True}, "nth"),
    ({"nth": "2"}, "nth"),
    ({"times": 0}, "times"),
    ({"times": 1.5}, "times"),
    ({"nth": 2, "probability": 0.5}, "either nth or probability"),
    ({"org": 12345}, "org"),
])
def test_invalid_rules_are_refused_with_a_message(c, spec, word):
    r = c.post("/_lab/faults", json=spec)
    assert r.status_code == 400, r.get_data(as_text=True)
    assert word in r.get_json()["error"]
    assert listing(c) == {}  # nothing stored


@pytest.mark.parametrize("body", [None, "[1, 2]", "not json"])
def test_rule_body_must_be_a_json_object(c, body):
    r = c.post("/_lab/faults", data=body, content_type="application/json")
    assert r.status_code == 400 and r.is_json and r.get_json()["error"]


def test_defaults_of_a_rule(c):
    rule = add(c, {"product": "crm"})
    assert rule["action"] == {"type": "error", "status": 500}
    assert rule["nth"] is None and rule["times"] is None and rule["probability"] is None
    assert add(c, {"nth": 3})["times"] == 1  # "the Nth call" fires once unless told otherwise


# -- nth, times, probability --------------------------------------------------------------------

@pytest.mark.parametrize("shared", [False, True], ids=["memory-counters", "sql-counters"])
def test_second_post_to_a_path_gets_one_429_with_retry_after(backend, shared):
    app = build_probe_app(backend, shared=shared)
    try:
        c = app.test_client()
        t = new_tenant(c)
        rule = add(c, {"product": "crm", "method": "post", "path": f"{PREFIX['crm']}/things", "nth": 2,
                       "action": {"type": "rate_limit", "retry_after": 30}})
        assert rule["method"] == "POST"
        statuses = []
        for i in range(5):
            r = call(c, t, method="POST", json={"i": i})
            statuses.append(r.status_code)
            if i == 1:
                assert r.headers["Retry-After"] == "30"
                assert r.get_json()["code"] == "RATE_MINUTE"
                assert r.get_json()["details"]["injected"] is True
            else:
                assert "Retry-After" not in r.headers
            assert call(c, t).status_code == 200  # GETs neither match nor fire
        assert statuses == [201, 429, 201, 201, 201]
        stats = listing(c)[rule["id"]]
        assert (stats["matched"], stats["fired"]) == (5, 1)
    finally:
        app.extensions["zlab"].db.dispose()


def test_nth_with_times_fires_on_a_run_of_calls(c):
    t = new_tenant(c)
    add(c, {"product": "crm", "nth": 2, "times": 3, "action": {"type": "error", "status": 503}})
    assert [call(c, t).status_code for _ in range(6)] == [200, 503, 503, 503, 200, 200]


def test_times_limits_an_always_rule(c):
    t = new_tenant(c)
    rule = add(c, {"product": "crm", "times": 2, "action": {"type": "error", "status": 502}})
    got = [call(c, t) for _ in range(4)]
    assert [r.status_code for r in got] == [502, 502, 200, 200]
    # without a body the product's own error envelope is used, at the given status
    assert got[0].get_json()["code"] == "INTERNAL"
    assert (listing(c)[rule["id"]]["matched"], listing(c)[rule["id"]]["fired"]) == (4, 2)


def test_error_action_with_an_exact_body_and_headers(c):
    t = new_tenant(c)
    add(c, {"product": "crm", "times": 1,
            "action": {"type": "error", "status": 400, "body": {"code": 1038, "message": "JSON is not well formed"},
                       "headers": {"X-Injected": "yes"}}})
    r = call(c, t, method="POST", json={})
    assert r.status_code == 400
    assert r.get_json() == {"code": 1038, "message": "JSON is not well formed"}
    assert r.headers["X-Injected"] == "yes"


def _pattern(url: str, seed: int, n: int = 40) -> list[int]:
    app = build_probe_app(url, seed=seed)
    try:
        c = app.test_client()
        t = new_tenant(c)
        add(c, {"product": "crm", "probability": 0.5, "action": {"type": "error", "status": 500}})
        return [call(c, t).status_code for _ in range(n)]
    finally:
        db = app.extensions["zlab"].db
        db.drop_all()
        db.dispose()


def test_probability_rules_are_deterministic_for_a_seed(backend):
    first = _pattern(backend, seed=11)
    again = _pattern(backend, seed=11)
    other = _pattern(backend, seed=12)
    assert first == again
    assert set(first) == {200, 500}  # p=0.5 over 40 calls: some fire, some do not
    assert 8 <= first.count(500) <= 32
    assert other != first


def test_probability_zero_never_fires_and_one_always_fires(c):
    t = new_tenant(c)
    add(c, {"product": "crm", "method": "GET", "probability": 0})
    assert {call(c, t).status_code for _ in range(10)} == {200}
    add(c, {"product": "crm", "method": "POST", "probability": 1, "times": 3})
    assert [call(c, t, method="POST", json={}).status_code for _ in range(5)] == [500, 500, 500, 201, 201]


# -- actions ------------------------------------------------------------------------------------

def test_delay_action_delays_then_answers_normally(c):
    t = new_tenant(c)
    add(c, {"product": "crm", "times": 1, "action": {"type": "delay", "seconds": 0.4}})
    start = time.monotonic()
    r = call(c, t)
    slow = time.monotonic() - start
    assert r.status_code == 200 and r.get_json()["org"] == t["orgs"]["crm"]
    assert slow >= 0.4
    assert call(c, t).status_code == 200
    [rule] = c.get("/_lab/faults").get_json()["faults"]
    assert rule["fired"] == 1 and rule["matched"] == 2  # the second call was not delayed


def test_rate_limit_action_in_the_accounts_own_words(c):
    t = new_tenant(c)
    add(c, {"product": "accounts", "path": "/oauth/v2/token", "times": 1,
            "action": {"type": "rate_limit", "retry_after": 12}})
    data = {"grant_type": "refresh_token", "client_id": t["client_id"], "client_secret": t["client_secret"],
            "refresh_token": t["refresh_token"]}
    r = c.post("/oauth/v2/token", data=data)
    assert r.status_code == 400
    assert r.get_json()["error"] == "Access Denied" and r.get_json()["status"] == "failure"
    assert r.headers["Retry-After"] == "12"
    assert "access_token" in c.post("/oauth/v2/token", data=data).get_json()


@pytest.mark.parametrize("kind", ["rate_day", "concurrency"])
def test_rate_limit_kind_selects_the_limit(c, kind):
    t = new_tenant(c)
    add(c, {"product": "crm", "times": 1, "action": {"type": "rate_limit", "kind": kind}})
    r = call(c, t)
    assert r.status_code == 429 and r.get_json()["code"] == kind.upper()
    assert r.headers["Retry-After"] == "60"  # default


def test_drop_action_closes_the_connection(sqlite_probe):
    app = sqlite_probe
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with httpx.Client(base_url=base, timeout=10) as h:
            t = h.post("/_lab/tenants", json={}).json()
            tok = h.post("/oauth/v2/token", data={
                "grant_type": "refresh_token", "client_id": t["client_id"],
                "client_secret": t["client_secret"], "refresh_token": t["refresh_token"]}).json()["access_token"]
            auth = {"Authorization": f"Zoho-oauthtoken {tok}"}
            url = f"{PREFIX['crm']}/things?organization_id={t['orgs']['crm']}"
            assert h.get(url, headers=auth).status_code == 200
            h.post("/_lab/faults", json={"product": "crm", "times": 1, "action": {"type": "drop"}})
        with httpx.Client(base_url=base, timeout=10) as h, pytest.raises(httpx.TransportError):
            h.get(url, headers=auth)
        with httpx.Client(base_url=base, timeout=10) as h:  # only once: the next call is answered
            assert h.get(url, headers=auth).status_code == 200
            faults = h.get("/_lab/faults").json()["faults"]
            assert faults[0]["fired"] == 1
            entry = h.get("/_lab/journal", params={"limit": 2}).json()["entries"][1]
            assert entry["fault"] and "drop" in entry["fault"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# -- matching -----------------------------------------------------------------------------------

def test_org_specific_rule_hits_only_that_org(c):
    a, b = new_tenant(c), new_tenant(c)
    rule = add(c, {"org": a["orgs"]["crm"], "action": {"type": "error", "status": 500}})
    assert call(c, a).status_code == 500
    assert call(c, b).status_code == 200
    assert call(c, a, product="fsm").status_code == 200
    assert call(c, a).status_code == 500
    assert listing(c)[rule["id"]]["matched"] == 2


def test_product_and_path_patterns(c):
    t = new_tenant(c)
    add(c, {"product": "fsm", "action": {"type": "error", "status": 501}})
    assert call(c, t, product="crm").status_code == 200
    assert call(c, t, product="fsm").status_code == 501
    c.delete("/_lab/faults")
    add(c, {"path": "/probe/crm/*", "action": {"type": "error", "status": 502}})
    add(c, {"path": "^/probe/fsm/th.ngs$", "action": {"type": "error", "status": 503}})
    assert call(c, t, product="crm").status_code == 502
    assert call(c, t, product="fsm").status_code == 503
    c.delete("/_lab/faults")
    add(c, {"path": "/probe/crm/other*", "action": {"type": "error", "status": 502}})
    assert call(c, t, product="crm").status_code == 200


def test_first_matching_rule_wins(c):
    t = new_tenant(c)
    first = add(c, {"product": "crm", "action": {"type": "error", "status": 503}})
    second = add(c, {"product": "crm", "action": {"type": "error", "status": 504}})
    assert call(c, t).status_code == 503
    stats = listing(c)
    assert stats[first["id"]]["fired"] == 1 and stats[second["id"]]["matched"] == 0


def test_faults_never_touch_the_control_api_and_come_after_auth(c):
    t = new_tenant(c)
    rule = add(c, {"action": {"type": "error", "status": 500}})  # matches every product call
    assert c.get("/_lab/health").status_code == 200
    assert c.get("/_lab/clock").status_code == 200
    r = call(c, t, token="1000.bad.token")
    assert r.status_code == 401 and r.get_json()["code"] == "AUTH_INVALID"
    assert listing(c)[rule["id"]]["matched"] == 0
    assert call(c, t).status_code == 500


# -- list, delete, clear ----------------------------------------------------------------------------

def test_list_delete_and_clear(c):
    t = new_tenant(c)
    r1 = add(c, {"product": "crm", "method": "GET", "action": {"type": "error", "status": 503}})
    r2 = add(c, {"product": "fsm", "nth": 1, "action": {"type": "error", "status": 504}})
    assert r2["id"] != r1["id"]
    assert call(c, t).status_code == 503
    assert call(c, t).status_code == 503
    assert call(c, t, product="fsm").status_code == 504
    rules = listing(c)
    assert rules[r1["id"]]["matched"] == 2 and rules[r1["id"]]["fired"] == 2
    assert rules[r2["id"]]["matched"] == 1 and rules[r2["id"]]["fired"] == 1
    assert rules[r1["id"]]["product"] == "crm" and rules[r1["id"]]["action"]["status"] == 503

    r = c.delete(f"/_lab/faults/{r1['id']}")
    assert r.status_code == 200 and r.get_json()["id"] == r1["id"]
    assert c.delete(f"/_lab/faults/{r1['id']}").status_code == 404
    assert list(listing(c)) == [r2["id"]]
    assert call(c, t).status_code == 200

    assert c.delete("/_lab/faults").status_code == 200
    assert listing(c) == {}
    assert call(c, t, product="fsm").status_code == 200


def test_a_new_rule_never_inherits_the_counts_of_a_deleted_one(c):
    t = new_tenant(c)
    old = add(c, {"product": "crm", "nth": 2, "action": {"type": "error", "status": 503}})
    assert [call(c, t).status_code for _ in range(3)] == [200, 503, 200]
    c.delete(f"/_lab/faults/{old['id']}")
    new = add(c, {"product": "crm", "nth": 2, "action": {"type": "error", "status": 503}})
    assert new["id"] != old["id"]
    assert listing(c)[new["id"]]["matched"] == 0
    assert [call(c, t).status_code for _ in range(3)] == [200, 503, 200]
    c.delete("/_lab/faults")
    newer = add(c, {"product": "crm", "nth": 2, "action": {"type": "error", "status": 503}})
    assert newer["id"] not in (old["id"], new["id"])
    assert [call(c, t).status_code for _ in range(3)] == [200, 503, 200]


def test_fault_counts_survive_heavy_rate_limit_traffic(sqlite_probe):
    """Rate-limit windows are pruned as they pass; fault counts must not be pruned with them."""
    c = sqlite_probe.test_client()
    lab = sqlite_probe.extensions["zlab"]
    t = new_tenant(c)
    rule = add(c, {"product": "crm", "times": 1, "action": {"type": "error", "status": 503}})
    assert call(c, t).status_code == 503
    now = lab.clock.timestamp()
    for i in range(6000):  # what thousands of rate-limited calls do to the counters
        lab.counters.hit(f"rl:x:{i % 7}", now + i, 60)
    assert call(c, t).status_code == 200  # still "fired once already"
    assert listing(c)[rule["id"]]["fired"] == 1


def test_rules_are_shared_by_workers_on_one_database(backend):
    a = build_probe_app(backend, shared=True)
    b = build_probe_app(backend, shared=True)
    try:
        ca, cb = a.test_client(), b.test_client()
        t = new_tenant(ca)
        add(ca, {"product": "crm", "nth": 2, "action": {"type": "error", "status": 503}})
        b.extensions["zlab"].load_shared_state(force=True)
        # the 1st match happens on worker A, the 2nd on worker B: "the 2nd call" spans workers
        assert call(ca, t).status_code == 200
        assert call(cb, t).status_code == 503
        assert call(ca, t).status_code == 200
    finally:
        a.extensions["zlab"].db.dispose()
        b.extensions["zlab"].db.dispose()
