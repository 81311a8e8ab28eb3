"""Property: whatever a client sends to the control API (``/_lab``), it answers the control API's own
envelope (``{"error": ...}`` on 4xx), never a 5xx, and never damages what is stored — on SQLite and
PostgreSQL. Driven by the served ``/_lab/openapi.json``: every documented operation (and every
``/_lab`` route of the app, documented or not, except ``POST /_lab/reset``) gets bodies shaped like
its schema with values of the right or the wrong type (tests/hostile.py), hostile path parameters
and query values."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes import create_app
from tests.conftest import Tenant, make_tenant
from tests.hostile import HOSTILE_VALUES, JSON, NASTY_TEXT, QUERY_TEXT, RAW_BODIES, assert_no_5xx

EXAMPLES = {"sqlite": 150, "postgres": 50}
SKIPPED = {("POST", "/_lab/reset")}  # wipes everything by design: nothing left to compare


def from_schema(schema: dict | None, depth: int = 0):
    """Values shaped like ``schema`` (types, enums, properties, items), any of them possibly
    replaced by a hostile value of another type."""
    hostile = HOSTILE_VALUES | JSON
    if not schema or depth > 3:
        return hostile
    if "allOf" in schema:
        parts = [from_schema(s, depth) for s in schema["allOf"]]
        return st.tuples(*parts).map(lambda ds: {k: v for d in ds if isinstance(d, dict) for k, v in d.items()})
    if "enum" in schema:
        return st.sampled_from(schema["enum"]) | hostile
    types = schema.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    options = []
    for t in types:
        if t == "object" and "properties" in schema:
            props = {k: from_schema(v, depth + 1) for k, v in schema["properties"].items()}
            options.append(st.fixed_dictionaries({}, optional=props))
        elif t == "object":
            options.append(st.dictionaries(st.text(max_size=10) | st.sampled_from(NASTY_TEXT),
                                           from_schema(schema.get("additionalProperties"), depth + 1), max_size=3))
        elif t == "array":
            options.append(st.lists(from_schema(schema.get("items"), depth + 1), max_size=3))
        elif t == "string":
            options.append(st.text(max_size=20) | st.sampled_from(NASTY_TEXT))
        elif t == "integer":
            options.append(st.integers(0, 5))
        elif t == "number":
            options.append(st.floats(0, 5))
        elif t == "boolean":
            options.append(st.booleans())
        elif t == "null":
            options.append(st.none())
    return st.one_of(*options, hostile) if options else hostile


def valid_sample(schema: dict | None):
    """The smallest body the schema accepts: its required properties with plain values."""
    if not schema:
        return {}
    if "allOf" in schema:
        out: dict = {}
        for part in schema["allOf"]:
            out.update(valid_sample(part))
        return out
    if "enum" in schema:
        return schema["enum"][0]
    t = schema.get("type")
    t = t[0] if isinstance(t, list) else t
    if t == "object":
        return {k: valid_sample(schema.get("properties", {}).get(k)) for k in schema.get("required", [])}
    return {"string": "x", "integer": 1, "number": 1, "boolean": True, "array": []}.get(t)


def properties(schema: dict | None) -> list[str]:
    if not schema:
        return []
    if "allOf" in schema:
        return sorted({p for part in schema["allOf"] for p in properties(part)})
    return sorted(schema.get("properties", {}))


def one_bad_field(schema: dict):
    """A valid body but for one declared field, which gets a hostile value (wrong type, NUL, ...)."""
    base = valid_sample(schema)
    return st.builds(lambda k, v: {**base, k: v}, st.sampled_from(properties(schema)), HOSTILE_VALUES)


@dataclass
class LabEnv:
    backend: str
    client: object
    tenant: Tenant
    operations: list  # (method, path template, body schema or None, query names)
    sentinel: Tenant
    sentinel_state: tuple


def _operations(app, doc) -> list:
    ops = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            schema = (op.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema")
            query = [p["name"] for p in op.get("parameters", []) if p["in"] == "query"]
            ops.append((method.upper(), path, schema, query))
    documented = {(m, p) for m, p, _, _ in ops}
    for rule in app.url_map.iter_rules():  # routes the document does not name: fuzz them too
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        if not path.startswith("/_lab/"):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if (method, path) not in documented:
                ops.append((method, path, None, ["org_id", "limit", "kind", "record_id", "module"]))
    return [op for op in ops if (op[0], op[1]) not in SKIPPED]


def _sentinel_state(c, s: Tenant) -> tuple:
    org = s.orgs["books"]
    return (c.get(f"/_lab/tenants/{s.email}").get_json(), c.get(f"/_lab/orgs/{org}").get_json(),
            c.get("/books/v3/contacts", query_string={"organization_id": org}, headers=s.auth).get_json())


@pytest.fixture(scope="module")
def env(module_db_url):
    app = create_app(module_db_url)
    client = app.test_client()
    t = make_tenant(client)
    s = make_tenant(client, email="sentinel@zlab.example", products=["books"])
    r = client.post("/books/v3/contacts", query_string={"organization_id": s.orgs["books"]}, headers=s.auth,
                    json={"contact_name": "Sentinel Ltd"})
    assert r.status_code == 201, r.get_data(as_text=True)
    doc = client.get("/_lab/openapi.json").get_json()
    yield LabEnv("sqlite" if module_db_url.startswith("sqlite") else "postgres", client, t,
                 _operations(app, doc), s, _sentinel_state(client, s))
    app.extensions["zlab"].db.dispose()


def test_any_input_gets_the_lab_envelope_never_a_5xx(env):
    c, t = env.client, env.tenant
    orgs = sorted(t.orgs.values())
    path_values = st.sampled_from(orgs + [t.email, "Contacts", "Email", "1", "snap"]) | st.sampled_from(
        [v for v in NASTY_TEXT if v]) | st.text(min_size=1, max_size=12)

    @settings(max_examples=EXAMPLES[env.backend], deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.data(), raw=st.none() | st.none() | RAW_BODIES)
    def one(data, raw):
        method, template, schema, query_names = data.draw(st.sampled_from(env.operations), label="operation")
        path = re.sub(r"\{(\w+)\}", lambda m: quote(data.draw(path_values, label=m.group(1)), safe=""), template)
        query = data.draw(st.dictionaries(st.sampled_from(query_names), QUERY_TEXT, max_size=2)
                          if query_names else st.just({}), label="query")
        kw = {}
        if method not in ("GET", "DELETE"):
            shapes = from_schema(schema) | one_bad_field(schema) if properties(schema) else from_schema(schema)
            body = data.draw(shapes, label="body")
            kw = {"data": raw if raw is not None else json.dumps(body).encode(), "content_type": "application/json"}
        r = c.open(path, method=method, query_string=query, **kw)
        assert_no_5xx(r)
        if r.status_code == 308:  # "%2F" in a path parameter made "//": werkzeug redirects to the merged path
            assert r.headers["Location"]
            return
        out = r.get_json()
        assert isinstance(out, dict), r.get_data(as_text=True)[:300]
        if r.status_code >= 400:
            assert isinstance(out.get("error"), str), out
        # undo what a valid call may legitimately have changed for everyone, then compare the
        # sentinel tenant (its org, its Books data), which no generated call names
        c.delete("/_lab/faults")
        c.post("/_lab/clock/reset")
        assert _sentinel_state(c, env.sentinel) == env.sentinel_state

    one()


WRONG_VALUES = [2**64, ["a"], {"a": 1}, "a\x00b", "a\ud800", True, None, 1.5]


def test_every_documented_field_takes_a_wrong_value_without_a_5xx(env):
    """The sweep hypothesis would take long to cover: each field of each documented body, in an
    otherwise valid body, gets each kind of wrong value."""
    c = env.client
    sent = 0
    for method, template, schema, _ in env.operations:
        if not properties(schema):
            continue
        path = template.replace("{org_id}", env.tenant.orgs["books"])
        base = valid_sample(schema)
        for field in properties(schema):
            for value in WRONG_VALUES:
                r = c.open(path, method=method, data=json.dumps({**base, field: value}), content_type="application/json")
                assert_no_5xx(r)
                assert isinstance(r.get_json().get("error"), str) or r.status_code < 300, (path, field, value, r.get_json())
                sent += 1
        c.delete("/_lab/faults")
        c.post("/_lab/clock/reset")
    assert sent > 300  # the document still describes the bodies
    assert _sentinel_state(c, env.sentinel) == env.sentinel_state
