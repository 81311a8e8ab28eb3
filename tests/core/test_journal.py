"""The request journal (``/_lab/journal``): newest first, filters, body excerpts, bounded."""

from __future__ import annotations

import json

import pytest

from fakes.core.journal import EXCERPT_BYTES, Journal, excerpt
from tests.core.probe import PREFIX, build_probe_app, call, new_tenant


@pytest.fixture(params=[False, True], ids=["in-memory", "shared"])
def app(backend, request):
    """The probe app with each journal: in memory (one process) and shared (several workers,
    in the database): every test of the journal's behaviour runs against both."""
    app = build_probe_app(backend, shared=request.param)
    yield app
    lab = app.extensions["zlab"]
    lab.journal.close()
    lab.db.dispose()


def entries(c, **params) -> list[dict]:
    r = c.get("/_lab/journal", query_string=params)
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()["entries"]


def test_entries_newest_first_with_who_what_and_answer(c):
    t = new_tenant(c)
    c.delete("/_lab/journal")
    assert call(c, t).status_code == 200
    assert call(c, t, method="POST", json={"Last_Name": "Kumar"}).status_code == 201
    assert call(c, t, product="fsm", token="1000.nope.nope").status_code == 401
    got = entries(c)
    assert [(e["product"], e["method"]) for e in got] == [("fsm", "GET"), ("crm", "POST"), ("crm", "GET")]
    assert [e["id"] for e in got] == sorted((e["id"] for e in got), reverse=True)
    bad, post, get = got
    assert get["product"] == "crm" and get["path"] == f"{PREFIX['crm']}/things" and get["status"] == 200
    assert get["org_id"] == t["orgs"]["crm"] and get["user_id"] == t["user_id"]
    assert f"organization_id={t['orgs']['crm']}" in get["query"]
    assert get["fault"] is None and get["request_excerpt"] is None
    assert post["status"] == 201 and json.loads(post["request_excerpt"]) == {"Last_Name": "Kumar"}
    assert json.loads(post["response_excerpt"])["echo"] == {"Last_Name": "Kumar"}
    assert bad["product"] == "fsm" and bad["status"] == 401 and bad["user_id"] is None
    assert json.loads(bad["response_excerpt"])["code"] == "AUTH_INVALID"
    for e in got:
        assert e["request_id"] and e["time"] and e["duration_ms"] >= 0


def test_control_api_is_not_journaled_and_request_id_is_kept(c):
    t = new_tenant(c)
    c.delete("/_lab/journal")
    c.get("/_lab/health")
    c.post("/_lab/clock/advance", json={"seconds": 1})
    assert entries(c) == []
    r = call(c, t, headers={"X-Request-Id": "req-abc-123"})
    assert r.headers["X-Request-Id"] == "req-abc-123"
    assert entries(c)[0]["request_id"] == "req-abc-123"


def test_journal_time_is_lab_time(c):
    t = new_tenant(c)
    c.post("/_lab/clock/freeze", json={"at": "2030-02-03T04:05:06Z"})
    call(c, t)
    assert entries(c, limit=1)[0]["time"].startswith("2030-02-03T04:05:06")


def test_fault_is_recorded(c):
    t = new_tenant(c)
    rule = c.post("/_lab/faults", json={"product": "crm", "nth": 2, "action": {"type": "error", "status": 503}}).get_json()
    call(c, t)
    call(c, t)
    newest, older = entries(c, product="crm", limit=2)
    assert newest["status"] == 503 and newest["fault"] == f"rule {rule['id']}: error"
    assert older["status"] == 200 and older["fault"] is None


def test_filters(c):
    a, b = new_tenant(c), new_tenant(c)
    c.delete("/_lab/journal")
    call(c, a)
    call(c, a, product="fsm")
    call(c, b)
    call(c, b, method="POST", json={"x": 1})
    call(c, b, token="1000.bad.bad")
    every = entries(c)
    assert len(every) == 5

    by_org = entries(c, org=a["orgs"]["crm"])
    assert len(by_org) == 1 and by_org[0]["org_id"] == a["orgs"]["crm"]

    by_email = entries(c, email=a["email"])
    assert {e["org_id"] for e in by_email} == {a["orgs"]["crm"], a["orgs"]["fsm"]}
    by_email_b = entries(c, email=b["email"].upper())  # emails are case-insensitive
    assert len(by_email_b) == 2 and all(e["user_id"] == b["user_id"] for e in by_email_b)

    by_product = entries(c, product="fsm")
    assert len(by_product) == 1 and by_product[0]["org_id"] == a["orgs"]["fsm"]
    assert len(entries(c, product="accounts")) == 0

    assert [e["status"] for e in entries(c, status=401)] == [401]
    assert {e["status"] for e in entries(c, status=200)} == {200}
    assert len(entries(c, status=201)) == 1

    limited = entries(c, limit=2)
    assert [e["id"] for e in limited] == [e["id"] for e in every[:2]]

    since = every[2]["id"]
    newer = entries(c, since_id=since)
    assert [e["id"] for e in newer] == [e["id"] for e in every[:2]]
    assert entries(c, since_id=every[0]["id"]) == []

    combined = entries(c, email=b["email"], status=201)
    assert len(combined) == 1 and combined[0]["method"] == "POST"


@pytest.mark.parametrize("params, status", [
    ({"limit": "many"}, 400), ({"since_id": "x"}, 400), ({"status": "ok"}, 400),
    ({"email": "nobody@example.com"}, 404),
])
def test_bad_filters(c, params, status):
    r = c.get("/_lab/journal", query_string=params)
    assert r.status_code == status and r.get_json()["error"]


def test_form_body_writes_are_excerpted_too(c):
    t = new_tenant(c)
    c.delete("/_lab/journal")
    c.post("/oauth/v2/token", data={"grant_type": "refresh_token", "client_id": t["client_id"],
                                    "client_secret": t["client_secret"], "refresh_token": t["refresh_token"]})
    e = entries(c, product="accounts")[0]
    assert e["method"] == "POST" and e["path"] == "/oauth/v2/token" and e["status"] == 200
    assert e["request_excerpt"] and "grant_type=refresh_token" in e["request_excerpt"]
    assert "access_token" in e["response_excerpt"]


def test_long_bodies_are_cut(c):
    t = new_tenant(c)
    big = {"text": "x" * (EXCERPT_BYTES * 3)}
    assert call(c, t, method="POST", json=big).status_code == 201
    e = entries(c, limit=1)[0]
    assert len(e["request_excerpt"]) == EXCERPT_BYTES
    assert len(e["response_excerpt"]) == EXCERPT_BYTES


def test_clear(c):
    t = new_tenant(c)
    call(c, t)
    assert entries(c)
    assert c.delete("/_lab/journal").status_code == 200
    assert entries(c) == []


@pytest.mark.parametrize("shared", [False, True], ids=["in-memory", "shared"])
def test_journal_is_bounded(sqlite_url, shared):
    app = build_probe_app(sqlite_url, journal_size=5, shared=shared)
    try:
        c = app.test_client()
        t = new_tenant(c)
        c.delete("/_lab/journal")
        for i in range(12):
            call(c, t, method="POST", json={"i": i})
        got = entries(c, limit=100)
        assert len(got) == 5
        assert [json.loads(e["request_excerpt"])["i"] for e in got] == [11, 10, 9, 8, 7]
    finally:
        app.extensions["zlab"].db.dispose()


def test_journal_class_bounds_and_filters_directly():
    j = Journal(maxlen=3)
    for i in range(5):
        j.record(j.new_entry(request_id=str(i), time="t", product="books" if i % 2 else "crm", method="GET",
                             path="/p", query="", org_id=f"o{i % 2}", user_id="u", status=200 + i))
    got = j.query()
    assert [e.request_id for e in got] == ["4", "3", "2"]
    assert [e.request_id for e in j.query(product="books")] == ["3"]
    assert [e.request_id for e in j.query(org_id="o0", limit=1)] == ["4"]
    assert [e.request_id for e in j.query(status=202)] == ["2"]
    j.clear()
    assert j.query() == []


def test_excerpt():
    assert excerpt(None) is None and excerpt(b"") is None
    assert excerpt(b"abc") == "abc"
    assert excerpt(b"\xff\xfeok") == "\ufffd\ufffdok"
    assert len(excerpt("y" * 10_000)) == EXCERPT_BYTES
