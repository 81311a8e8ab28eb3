"""The lab clock (DESIGN.md, clock contract): real by default; freeze, set, advance, unfreeze and
reset through ``/_lab/clock``; bad input answers 400 JSON; access tokens expire on lab time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fakes.core.clock import ClockState, LabClock
from fakes.core.lab import Lab
from fakes.core.timefmt import parse_datetime
from tests.core.probe import build_probe_app, call, get_token, new_tenant


def clock(c) -> dict:
    r = c.get("/_lab/clock")
    assert r.status_code == 200
    return r.get_json()


def now_of(c) -> datetime:
    return parse_datetime(clock(c)["now"])


# -- LabClock itself ------------------------------------------------------------------------

def test_lab_clock_is_real_time_by_default():
    c = LabClock()
    before = datetime.now(UTC)
    got = c.now()
    after = datetime.now(UTC)
    assert before <= got <= after
    assert got.tzinfo is not None and got.utcoffset() == timedelta(0)
    assert c.state == ClockState()


def test_lab_clock_freeze_set_advance_unfreeze_reset():
    c = LabClock()
    at = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
    c.freeze(at)
    assert c.now() == at == c.now()
    c.advance(90)
    assert c.now() == at + timedelta(seconds=90)
    c.set(datetime(2031, 1, 1))  # naive means UTC
    assert c.now() == datetime(2031, 1, 1, tzinfo=UTC)
    assert c.state.frozen_at is not None  # set keeps a frozen clock frozen
    c.unfreeze()
    assert c.state.frozen_at is None
    moving = c.now()
    assert abs((moving - datetime(2031, 1, 1, tzinfo=UTC)).total_seconds()) < 5  # continuity
    c.advance(-3600)
    assert abs((c.now() - datetime(2030, 12, 31, 23, tzinfo=UTC)).total_seconds()) < 5
    c.reset()
    assert abs((c.now() - datetime.now(UTC)).total_seconds()) < 1
    assert c.state == ClockState()


def test_lab_clock_set_on_running_clock_keeps_running():
    c = LabClock()
    c.set(datetime(2029, 2, 3, 4, 5, 6, tzinfo=UTC))
    assert c.state.frozen_at is None
    assert abs((c.now() - datetime(2029, 2, 3, 4, 5, 6, tzinfo=UTC)).total_seconds()) < 5


# -- the control API ----------------------------------------------------------------------------

def test_get_clock_reports_real_unfrozen_time(lab_client):
    body = clock(lab_client)
    assert body["frozen"] is False and body["frozen_at"] is None and body["offset_seconds"] == 0
    assert abs((parse_datetime(body["now"]) - datetime.now(UTC)).total_seconds()) < 5
    assert abs(body["epoch"] - datetime.now(UTC).timestamp()) < 5


def test_freeze_set_advance_unfreeze_reset_via_action_body(lab_client):
    c = lab_client
    r = c.post("/_lab/clock", json={"action": "freeze"})
    assert r.status_code == 200 and r.get_json()["frozen"] is True
    t1 = now_of(c)
    assert now_of(c) == t1  # frozen: time stands still

    r = c.post("/_lab/clock", json={"action": "set", "at": "2030-01-31T09:00:00Z"})
    assert r.status_code == 200
    assert now_of(c) == datetime(2030, 1, 31, 9, tzinfo=UTC)

    r = c.post("/_lab/clock", json={"action": "advance", "seconds": 3 * 3600})
    assert r.status_code == 200
    assert now_of(c) == datetime(2030, 1, 31, 12, tzinfo=UTC)
    assert parse_datetime(r.get_json()["now"]) == datetime(2030, 1, 31, 12, tzinfo=UTC)

    r = c.post("/_lab/clock", json={"action": "advance", "seconds": -60.5})
    assert now_of(c) == datetime(2030, 1, 31, 11, 58, 59, 500000, tzinfo=UTC)

    r = c.post("/_lab/clock", json={"action": "unfreeze"})
    assert r.status_code == 200 and r.get_json()["frozen"] is False
    running = now_of(c)
    assert abs((running - datetime(2030, 1, 31, 11, 58, 59, 500000, tzinfo=UTC)).total_seconds()) < 5

    r = c.post("/_lab/clock", json={"action": "reset"})
    assert r.status_code == 200
    body = clock(c)
    assert body["frozen"] is False and body["offset_seconds"] == 0
    assert abs((parse_datetime(body["now"]) - datetime.now(UTC)).total_seconds()) < 5


def test_freeze_at_a_given_instant_and_offsets_in_input(lab_client):
    c = lab_client
    r = c.post("/_lab/clock", json={"action": "freeze", "at": "2026-03-01T10:00:00+05:30"})
    assert r.status_code == 200
    assert now_of(c) == datetime(2026, 3, 1, 4, 30, tzinfo=UTC)
    # the Books style offset (no colon) is accepted too
    c.post("/_lab/clock", json={"action": "set", "at": "2026-03-01T10:00:00+0530"})
    assert now_of(c) == datetime(2026, 3, 1, 4, 30, tzinfo=UTC)


def test_shortcut_endpoints(lab_client):
    c = lab_client
    assert c.post("/_lab/clock/freeze", json={"at": "2027-07-07T07:07:07Z"}).status_code == 200
    assert now_of(c) == datetime(2027, 7, 7, 7, 7, 7, tzinfo=UTC)
    assert c.post("/_lab/clock/advance", json={"seconds": 60}).status_code == 200
    assert now_of(c) == datetime(2027, 7, 7, 7, 8, 7, tzinfo=UTC)
    # seconds in the query string, no body at all
    assert c.post("/_lab/clock/advance?seconds=3600").status_code == 200
    assert now_of(c) == datetime(2027, 7, 7, 8, 8, 7, tzinfo=UTC)
    assert c.post("/_lab/clock/set", json={"at": "2028-01-01T00:00:00Z"}).status_code == 200
    assert now_of(c) == datetime(2028, 1, 1, tzinfo=UTC)
    assert c.post("/_lab/clock/unfreeze").status_code == 200
    assert clock(c)["frozen"] is False
    assert c.post("/_lab/clock/reset").status_code == 200
    assert abs((now_of(c) - datetime.now(UTC)).total_seconds()) < 5


def test_a_running_clock_advanced_keeps_running_with_an_offset(lab_client):
    c = lab_client
    r = c.post("/_lab/clock/advance", json={"seconds": 86400})
    assert r.status_code == 200
    body = clock(c)
    assert body["frozen"] is False and body["offset_seconds"] == 86400
    assert abs((parse_datetime(body["now"]) - datetime.now(UTC) - timedelta(days=1)).total_seconds()) < 5


@pytest.mark.parametrize("path, body", [
    ("/_lab/clock", {"action": "advance"}),  # missing seconds
    ("/_lab/clock", {"action": "advance", "seconds": "nan"}),
    ("/_lab/clock", {"action": "advance", "seconds": "inf"}),
    ("/_lab/clock", {"action": "advance", "seconds": "soon"}),
    ("/_lab/clock", {"action": "advance", "seconds": None}),
    ("/_lab/clock", {"action": "advance", "seconds": [1]}),
    ("/_lab/clock", {"action": "advance", "seconds": 1e12}),  # more than 100 years
    ("/_lab/clock", {"action": "set", "at": "next tuesday"}),
    ("/_lab/clock", {"action": "set"}),
    ("/_lab/clock", {"action": "set", "at": 1700000000}),
    ("/_lab/clock", {"action": "freeze", "at": "2026-13-45T99:00:00Z"}),
    ("/_lab/clock", {"action": "rewind"}),
    ("/_lab/clock", {}),
    ("/_lab/clock", ["freeze"]),
    ("/_lab/clock/advance", {"seconds": "NaN"}),
    ("/_lab/clock/advance", None),
    ("/_lab/clock/set", {"at": ""}),
    ("/_lab/clock", {"action": "set", "at": "9999-12-31T23:59:59Z"}),  # beyond what time math allows
    ("/_lab/clock", {"action": "set", "at": "0001-01-01T00:00:00Z"}),
])
def test_bad_clock_input_is_a_400_json_and_leaves_the_clock_alone(lab_client, path, body):
    c = lab_client
    c.post("/_lab/clock/freeze", json={"at": "2026-01-01T00:00:00Z"})
    r = c.post(path, json=body) if body is not None else c.post(path)
    assert r.status_code == 400, r.get_data(as_text=True)
    assert r.is_json and isinstance(r.get_json().get("error"), str) and r.get_json()["error"]
    assert now_of(c) == datetime(2026, 1, 1, tzinfo=UTC)
    assert clock(c)["frozen"] is True


def test_malformed_json_body_is_400(lab_client):
    r = lab_client.post("/_lab/clock", data="{not json", content_type="application/json")
    assert r.status_code == 400 and r.is_json


def test_advance_that_would_overflow_is_refused_and_the_clock_keeps_working(lab_client):
    c = lab_client
    c.post("/_lab/clock/freeze", json={"at": "8999-12-31T00:00:00Z"})
    r = c.post("/_lab/clock/advance", json={"seconds": 99 * 365 * 86400})
    assert r.status_code == 400 and r.is_json
    assert now_of(c) == datetime(8999, 12, 31, tzinfo=UTC)
    assert c.get("/_lab/health").status_code == 200


# -- the clock drives the fakes ---------------------------------------------------------------

def test_frozen_clock_advanced_past_an_hour_expires_access_tokens(backend_app):
    c = backend_app.test_client()
    c.post("/_lab/clock/freeze")
    t = new_tenant(c)
    assert call(c, t).status_code == 200
    c.post("/_lab/clock/advance", json={"seconds": 3599})
    assert call(c, t).status_code == 200  # 1 s left
    c.post("/_lab/clock/advance", json={"seconds": 2})
    r = call(c, t)
    assert r.status_code == 401
    assert r.get_json()["code"] == "AUTH_EXPIRED"
    # a fresh token from the same refresh token works again
    fresh = get_token(c, t)
    assert call(c, t, token=fresh).status_code == 200


def test_advance_3601_seconds_expires_a_token_in_one_step(backend_app):
    c = backend_app.test_client()
    c.post("/_lab/clock", json={"action": "freeze"})
    t = new_tenant(c)
    assert call(c, t).status_code == 200
    assert c.post("/_lab/clock", json={"action": "advance", "seconds": 3601}).status_code == 200
    r = call(c, t)
    assert (r.status_code, r.get_json()["code"]) == (401, "AUTH_EXPIRED")


def test_unfrozen_offset_clock_also_expires_tokens(backend_app):
    c = backend_app.test_client()
    t = new_tenant(c)
    assert call(c, t).status_code == 200
    c.post("/_lab/clock/advance", json={"seconds": 7200})  # running clock, two hours ahead
    assert call(c, t).status_code == 401
    c.post("/_lab/clock/reset")  # back to real time: the token is young again
    assert call(c, t).status_code == 200


def test_clock_state_is_stored_so_other_workers_see_it(backend):
    """Several worker processes share the clock through the database (shared mode)."""
    a = build_probe_app(backend, shared=True)
    try:
        ca = a.test_client()
        ca.post("/_lab/clock/freeze", json={"at": "2031-06-01T00:00:00Z"})
        ca.post("/_lab/clock/advance", json={"seconds": 30})
        other = Lab(backend, shared=True)
        try:
            assert other.now() == datetime(2031, 6, 1, 0, 0, 30, tzinfo=UTC)
        finally:
            other.db.dispose()
        ca.post("/_lab/clock/unfreeze")
        other = Lab(backend, shared=True)
        try:
            assert other.clock.state.frozen_at is None
            assert abs((other.now() - datetime(2031, 6, 1, 0, 0, 30, tzinfo=UTC)).total_seconds()) < 10
        finally:
            other.db.dispose()
    finally:
        a.extensions["zlab"].db.dispose()


def test_books_answers_its_expired_token_error_on_lab_time(client, tenant):
    """The same through the real app factory and Books' own error (401, code 57)."""
    first = client.get("/books/v3/organizations", headers=tenant.auth)
    if first.status_code == 404:
        pytest.skip("Books has no GET /books/v3/organizations yet")
    assert first.status_code == 200, first.get_data(as_text=True)
    client.post("/_lab/clock/freeze")
    client.post("/_lab/clock/advance", json={"seconds": 3601})
    r = client.get("/books/v3/organizations", headers=tenant.auth)
    assert r.status_code == 401
    assert r.get_json()["code"] == 57
