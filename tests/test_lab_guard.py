"""The guarded control plane (README "The lab token"): with ``ZLAB_LAB_TOKEN`` set, every ``/_lab``
call but ``/_lab/health`` and every syncer API call answer 401 without the token; the CLI's lab
client, the harness and the syncer's lab clock send it; without the variable everything is open.
"""

from __future__ import annotations

import re

import httpx
import pytest

import fakes
from fakes.core import app as fakes_app
from scenarios.harness.lab import Lab
from scenarios.harness.model import REGISTRY
from scenarios.harness.runner import DEFAULT_CATALOG, discover, run_one
from zlab import labclient
from zlab.labclient import LabApiError, LabClient

TOKEN = "lab-token-for-tests"


def _client(app, headers: dict[str, str] | None = None):
    client = app.test_client()
    if headers:
        client.environ_base.update({f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()})
    return client


def _lab_routes(app) -> list[tuple[str, str]]:
    """(method, path) for every /_lab route of the app, path parameters filled with a placeholder."""
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/_lab"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: "1" if "id" in m.group(1) else "x", rule.rule)
        out.extend((m, path) for m in sorted(rule.methods - {"HEAD", "OPTIONS"}))
    return out


@pytest.fixture(scope="module")
def guarded_app(tmp_path_factory):
    db = tmp_path_factory.mktemp("guard") / "fakes.db"
    return fakes.create_app(f"sqlite:///{db}", lab_token=TOKEN)


def test_the_client_and_the_server_agree_on_the_names():
    assert labclient.LAB_TOKEN_ENV == fakes_app.LAB_TOKEN_ENV == "ZLAB_LAB_TOKEN"
    assert labclient.LAB_TOKEN_HEADER == fakes_app.LAB_TOKEN_HEADER


def test_every_control_route_but_health_and_its_document_answers_401_without_the_token(guarded_app):
    routes = _lab_routes(guarded_app)
    assert len(routes) > 40  # the whole control API, product routes (/_lab/books/…) included
    anonymous = _client(guarded_app)
    wrong = _client(guarded_app, {"X-Zlab-Lab-Token": "not-it"})
    for method, path in routes:
        if path in ("/_lab/health", "/_lab/openapi.json"):  # open: liveness and the document /docs shows
            continue
        for client in (anonymous, wrong):
            r = client.open(path, method=method, json={} if method in ("POST", "PUT", "PATCH") else None)
            assert r.status_code == 401, (method, path, r.status_code)
            assert r.get_json()["error"] == "unauthorized" and "X-Zlab-Lab-Token" in r.get_json()["message"]
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert anonymous.get("/_lab/health").status_code == 200
    assert anonymous.get("/_lab/openapi.json").status_code == 200


def test_the_token_opens_the_control_api_by_header_or_bearer(guarded_app):
    for headers in ({"X-Zlab-Lab-Token": TOKEN}, {"Authorization": f"Bearer {TOKEN}"}):
        client = _client(guarded_app, headers)
        made = client.post("/_lab/tenants", json={})
        assert made.status_code == 201, made.get_data(as_text=True)
        email = made.get_json()["email"]
        secret = client.get(f"/_lab/tenants/{email}").get_json()["clients"][0]["client_secret"]
        assert secret == made.get_json()["client_secret"]
    # a bearer token that is not the lab token, and another scheme, stay outside
    assert _client(guarded_app, {"Authorization": "Bearer nope"}).get("/_lab/tenants").status_code == 401
    assert _client(guarded_app, {"Authorization": f"Basic {TOKEN}"}).get("/_lab/tenants").status_code == 401


def test_the_guard_leaves_the_zoho_paths_to_their_own_auth(guarded_app):
    r = _client(guarded_app).get("/books/v3/contacts", query_string={"organization_id": "1"})
    assert r.status_code == 401 and r.get_json()["code"] == 57  # Books' own answer, not the lab's


def test_without_the_variable_the_control_api_is_open(tmp_path, monkeypatch):
    monkeypatch.delenv("ZLAB_LAB_TOKEN", raising=False)
    app = fakes.create_app(f"sqlite:///{tmp_path / 'open.db'}")
    assert _client(app).get("/_lab/tenants").status_code == 200


def test_the_variable_guards_an_app_built_without_the_argument(tmp_path, monkeypatch):
    monkeypatch.setenv("ZLAB_LAB_TOKEN", TOKEN)
    app = fakes.create_app(f"sqlite:///{tmp_path / 'env.db'}")
    assert _client(app).get("/_lab/tenants").status_code == 401
    assert _client(app, {"X-Zlab-Lab-Token": TOKEN}).get("/_lab/tenants").status_code == 200


def test_lab_client_sends_the_token_from_the_environment(guarded_app, monkeypatch):
    transport = httpx.WSGITransport(app=guarded_app)
    monkeypatch.delenv("ZLAB_LAB_TOKEN", raising=False)
    with LabClient("http://lab", transport=transport) as bare, pytest.raises(LabApiError) as exc:
        bare.tenants()
    assert exc.value.status == 401
    monkeypatch.setenv("ZLAB_LAB_TOKEN", TOKEN)
    with LabClient("http://lab", transport=transport) as lab:
        assert isinstance(lab.tenants(), list)
    with LabClient("http://lab", transport=transport, lab_token="given") as other, pytest.raises(LabApiError):
        other.tenants()  # an explicit token wins over the environment


def test_the_syncer_lab_clock_sends_the_token(guarded_app, monkeypatch):
    from syncer.clients.base import LabClock

    monkeypatch.setenv("ZLAB_LAB_TOKEN", TOKEN)
    clock = LabClock("http://lab", http=None)
    clock._http = httpx.Client(transport=httpx.WSGITransport(app=guarded_app), headers=clock._http.headers)
    clock()
    assert clock.is_lab is True  # a 401 would have made it take the lab for real Zoho


# -- the syncer API and the harness on a guarded embedded stack --------------------------------------------
@pytest.fixture
def guarded_lab(monkeypatch):
    monkeypatch.setenv("ZLAB_LAB_TOKEN", TOKEN)
    with Lab(with_syncer=True) as lab:
        yield lab


def test_syncer_api_answers_401_without_the_token(guarded_lab):
    url = guarded_lab.syncer_url
    for method, path in (("GET", "/api/v1/integrations"), ("POST", "/api/v1/integrations"),
                         ("GET", "/api/v1/mail"), ("POST", "/api/v1/scheduler/tick"),
                         ("POST", "/api/v1/support/integrations/1/reenable")):
        for headers in ({}, {"X-Zlab-Lab-Token": "wrong"}):
            r = httpx.request(method, url + path, headers=headers, json={})
            assert r.status_code == 401 and r.json()["error"] == "unauthorized", (method, path, r.text)
    assert httpx.get(url + "/api/v1/integrations", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert httpx.get(url + "/health").status_code == 200
    assert httpx.get(guarded_lab.url + "/_lab/tenants").status_code == 401
    # the notification receivers check their channel's token instead (Zoho does not send ours)
    r = httpx.post(url + "/api/v1/notifications/crm/1", json={"token": "not-a-channel-token"})
    assert r.status_code in (403, 404) and r.json()["error"] != "unauthorized", r.text


# fakes, clock and faults, the support token, the syncer end to end
# and the CRM direct sync's instant path: Zoho's notifications reach the receivers without our token
GUARDED_SCENARIOS = ("FAKE-LAB-FAULT-NTH", "FAKE-AUTH-TOKEN-EXPIRY", "FAKE-BOOKS-DUPLICATE-NAME",
                     "TW-06-BIDIRECTIONAL", "TW-28-TAXES-SUPPORT-ONLY", "CR-09-INITIAL-THEN-INSTANT")


def test_scenarios_pass_through_the_harness_on_a_guarded_stack(guarded_lab):
    discover(DEFAULT_CATALOG)
    for scenario_id in GUARDED_SCENARIOS:
        result = run_one(REGISTRY[scenario_id], guarded_lab)
        assert result.status == "passed", (scenario_id, result.failure)
