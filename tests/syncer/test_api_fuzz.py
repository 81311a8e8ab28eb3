"""Property: whatever a client sends to the syncer's API, it answers its own envelope
(``{"error", "message"}`` on 4xx), never a 5xx, and never damages what it stores — with its store on
SQLite and on PostgreSQL. Driven by the served ``/openapi.json``: every operation gets bodies made
of its documented fields with right or hostile values (tests/hostile.py), hostile path parameters
(control characters, NUL, ids that are no Zoho ids) and query values. A sentinel integration,
which no generated call names, must read back unchanged."""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncer.app import create_app
from syncer.config import SyncerConfig
from syncer.service import SyncerService
from tests.hostile import HOSTILE_VALUES, JSON, NASTY_TEXT, QUERY_TEXT, RAW_BODIES, assert_no_5xx

EXAMPLES = {"sqlite": 100, "postgres": 40}
# long by design (a whole sync run per call): exercised by tests/syncer/test_api.py
SLOW = {("POST", "/api/v1/scheduler/tick"), ("POST", "/api/v1/integrations/{integration_id}/sync")}


def _body_fields(op: dict) -> list[str]:
    schema = (op.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema") or {}
    return sorted(schema.get("properties", {}))


@pytest.fixture(scope="module")
def env(module_db_url, zlab_stack):
    config = SyncerConfig.from_env(database_url=module_db_url, fakes_url=zlab_stack.url, smtp_url=None,
                                   support_token="fuzz-token", scheduler_interval=0)
    config.smtp_url = None
    service = SyncerService(config).start()
    client = create_app(service).test_client()

    def integration(tenant, enable: bool) -> str:
        r = client.post("/api/v1/integrations", json={
            "fsm_org_id": tenant.org("fsm"), "books_org_id": tenant.org("books"), "client_id": tenant.client_id,
            "client_secret": tenant.client_secret, "refresh_token": tenant.refresh_token})
        assert r.status_code == 201, r.get_data(as_text=True)
        iid = r.get_json()["id"]
        if enable:
            r = client.post(f"/api/v1/integrations/{iid}/enable", json={"duplicate_policy": "clone"})
            assert r.status_code == 200, r.get_data(as_text=True)
        return iid

    anchor = integration(zlab_stack.tenant(products=["fsm", "books"]), enable=True)
    sentinel = integration(zlab_stack.tenant(products=["fsm", "books"]), enable=True)
    doc = client.get("/openapi.json").get_json()
    ops = [(m.upper(), path, _body_fields(op), [p["name"] for p in op.get("parameters", []) if p.get("in") == "query"])
           for path, item in doc["paths"].items() for m, op in item.items() if m != "parameters"]
    ops = [op for op in ops if (op[0], op[1]) not in SLOW]
    backend = "sqlite" if module_db_url.startswith("sqlite") else "postgres"
    yield backend, client, anchor, sentinel, ops
    service.close()


def _sentinel(client, sentinel: str):
    return (client.get(f"/api/v1/integrations/{sentinel}").get_json(),
            client.get(f"/api/v1/integrations/{sentinel}/runs").get_json())


def test_any_input_gets_the_syncer_envelope_never_a_5xx(env):
    backend, c, anchor, sentinel, ops = env
    before = _sentinel(c, sentinel)
    path_values = (st.sampled_from([anchor, "1", "Contacts", "Service_And_Parts", "items", "x.csv", "404404"])
                   | st.sampled_from([v for v in NASTY_TEXT if v]) | st.text(min_size=1, max_size=12)
                   | st.sampled_from(["12\x013", "1\x002", "9" * 40, "12?x=1", "a b"]))

    @settings(max_examples=EXAMPLES[backend], deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data(), raw=st.none() | st.none() | RAW_BODIES)
    def one(data, raw):
        method, template, fields, query_names = data.draw(st.sampled_from(ops), label="operation")
        path = re.sub(r"\{(\w+)\}", lambda m: quote(data.draw(path_values, label=m.group(1)), safe=""), template)
        query = data.draw(st.dictionaries(st.sampled_from(query_names), QUERY_TEXT, max_size=2)
                          if query_names else st.just({}), label="query")
        kw = {}
        if method not in ("GET", "DELETE"):
            body = data.draw(st.dictionaries(st.sampled_from(fields), HOSTILE_VALUES | JSON, max_size=4)
                             if fields else JSON, label="body")
            kw = {"data": raw if raw is not None else json.dumps(body).encode(), "content_type": "application/json"}
        r = c.open(path, method=method, query_string=query, headers={"X-Support-Token": "wrong"}, **kw)
        assert_no_5xx(r)
        if r.status_code == 308:  # "%2F" in a path parameter made "//": werkzeug redirects to the merged path
            return
        if r.status_code >= 400:
            out = r.get_json()
            assert isinstance(out, dict) and isinstance(out.get("error"), str) and isinstance(out.get("message"), str)
        assert _sentinel(c, sentinel) == before

    one()


HOSTILE_PATH_VALUES = ["a\x00b", "1\x012", "\x7f", "9" * 40]


def test_every_path_and_query_parameter_takes_a_hostile_value_without_a_5xx(env):
    """The sweep hypothesis would take long to cover: every path parameter of every operation, and
    every documented query parameter, gets NUL, control characters and an id no store has."""
    backend, c, anchor, sentinel, ops = env
    before = _sentinel(c, sentinel)
    sent = 0
    for method, template, _fields, query_names in ops:
        names = re.findall(r"\{(\w+)\}", template)
        for name in names:
            for value in HOSTILE_PATH_VALUES:
                path = re.sub(r"\{(\w+)\}", lambda m, name=name, value=value: quote(
                    value if m.group(1) == name else anchor, safe=""), template)
                r = c.open(path, method=method, json={} if method not in ("GET", "DELETE") else None)
                assert_no_5xx(r)
                sent += 1
        for name in query_names:
            r = c.open(re.sub(r"\{(\w+)\}", anchor, template), method=method, query_string={name: "a\x00b"})
            assert_no_5xx(r)
            sent += 1
    assert sent > 40  # the document still describes the parameters
    assert _sentinel(c, sentinel) == before
