"""``/_lab/openapi.json`` tells the truth: a valid OpenAPI 3.1 document, naming every ``/_lab`` route
of the app (and nothing else), each answer described by a schema that real answers match."""

from __future__ import annotations

import re
import time

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from tests.conftest import make_tenant

METHODS = {"get", "post", "put", "patch", "delete"}


def lab_routes(app) -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every ``/_lab`` route the app serves."""
    out = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/_lab/"):
            path = re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule.rule)
            out |= {(m.lower(), path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return out


def operations(doc) -> set[tuple[str, str]]:
    return {(m, p) for p, item in doc["paths"].items() for m in item if m in METHODS}


@pytest.fixture
def doc(sqlite_app):
    return sqlite_app.test_client().get("/_lab/openapi.json").get_json()


def test_the_document_is_valid_openapi_3_1(doc):
    assert doc["openapi"] == "3.1.0"
    validate(doc)  # openapi-spec-validator: the 3.1 specification's schema and its references


def test_every_lab_route_is_documented_and_every_operation_is_served(sqlite_app, doc):
    routes = lab_routes(sqlite_app)
    assert ("delete", "/_lab/workflows/{rule_id}") in routes and ("get", "/_lab/deliveries") in routes
    assert routes - operations(doc) == set(), "routes missing from /_lab/openapi.json"
    assert operations(doc) - routes == set(), "documented operations the app does not serve"


def test_a_product_served_alone_documents_only_its_own_lab_routes():
    from fakes import create_app

    app = create_app("sqlite://", only=["crm"])
    doc = app.test_client().get("/_lab/openapi.json").get_json()
    validate(doc)
    assert operations(doc) == lab_routes(app)
    assert not any(p.startswith(("/_lab/books/", "/_lab/fsm/")) for p in doc["paths"])
    app.extensions["zlab"].db.dispose()


def test_every_answer_has_a_json_schema(doc):
    for method, path in operations(doc):
        responses = doc["paths"][path][method]["responses"]
        ok = [code for code in responses if code.startswith("2")]
        assert len(ok) == 1, (method, path, responses)
        schema = responses[ok[0]]["content"]["application/json"]["schema"]
        assert schema.get("$ref", "").startswith("#/components/schemas/"), (method, path)
        for code, answer in responses.items():
            if not code.startswith("2"):
                assert answer["$ref"].startswith("#/components/responses/"), (method, path, code)
    tags = [t["name"] for t in doc["tags"]]
    for method, path in operations(doc):  # grouped in Swagger UI: the lab's own, then each product's
        [tag] = doc["paths"][path][method]["tags"]
        assert tag in tags, (method, path, tag)
    assert doc["paths"]["/_lab/crm/orgs/{org_id}/extensions"]["post"]["tags"] == ["crm"]
    for name, response in doc["components"]["responses"].items():
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, name


class Checker:
    """Calls the control API and checks each answer against the schema the document gives for that
    operation and status; remembers which operations were checked."""

    def __init__(self, client, doc) -> None:
        self.client, self.doc = client, doc
        self.checked: set[tuple[str, str]] = set()

    def __call__(self, method: str, template: str, status: int, *, body=None, query=None, **params):
        r = self.client.open(template.format(**params), method=method.upper(), json=body, query_string=query)
        assert r.status_code == status, (method, template, r.get_data(as_text=True)[:500])
        op = self.doc["paths"][template][method]
        response = op["responses"].get(str(status))
        assert response is not None, f"{method} {template} answered {status}, which the document does not name"
        if "$ref" in response:  # components/responses/<name>
            response = self.doc["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
        schema = response["content"]["application/json"]["schema"]
        validator = Draft202012Validator({**schema, "components": self.doc["components"]})
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(r.get_json())]
        assert not errors, (method, template, status, errors[:5])
        self.checked.add((method, template))
        return r.get_json()


def test_answers_match_the_documented_schemas(sqlite_app, doc):
    c = sqlite_app.test_client()
    call = Checker(c, doc)
    call("get", "/_lab/health", 200)
    call("get", "/_lab/openapi.json", 200)
    created = call("post", "/_lab/tenants", 201, body={"email": "schemas@zlab.example",
                                                       "products": ["fsm", "books", "crm"]})
    call("post", "/_lab/tenants", 409, body={"email": "schemas@zlab.example"})
    call("post", "/_lab/tenants", 400, body={"products": "books"})
    call("get", "/_lab/tenants", 200)
    call("get", "/_lab/tenants/{email}", 200, email=created["email"])
    call("get", "/_lab/tenants/{email}", 404, email="nobody@zlab.example")
    books, crm = created["orgs"]["books"], created["orgs"]["crm"]
    invoice = call("post", "/_lab/orgs", 201, body={"email": created["email"], "product": "invoice"})["id"]
    call("get", "/_lab/orgs/{org_id}", 200, org_id=invoice)
    call("get", "/_lab/orgs/{org_id}", 404, org_id="404404")
    call("patch", "/_lab/orgs/{org_id}", 200, org_id=invoice, body={"tax_enabled": True})
    call("put", "/_lab/orgs/{org_id}", 200, org_id=invoice, body={"time_zone": "Asia/Kolkata"})
    # clock
    call("get", "/_lab/clock", 200)
    call("post", "/_lab/clock", 200, body={"action": "advance", "seconds": 60})
    for action in ("freeze", "unfreeze", "set", "advance", "reset"):
        body = {"at": "2026-03-01T09:00:00Z"} if action == "set" else {"seconds": 5} if action == "advance" else {}
        call("post", f"/_lab/clock/{action}", 200, body=body)
    # faults and the journal
    rule = call("post", "/_lab/faults", 201, body={"product": "books", "path": "/books/v3/items*", "nth": 1,
                                                   "action": {"type": "error", "status": 503}})
    call("get", "/_lab/faults", 200)
    call("delete", "/_lab/faults/{rule_id}", 200, rule_id=rule["id"])
    call("delete", "/_lab/faults/{rule_id}", 404, rule_id=rule["id"])
    call("delete", "/_lab/faults", 200)
    t = make_tenant(c, email="journal@zlab.example", products=["books"])
    assert c.get("/books/v3/items", query_string={"organization_id": t.orgs["books"]}, headers=t.auth).status_code == 200
    journal = call("get", "/_lab/journal", 200, query={"email": t.email})
    assert journal["entries"], "the product call is in the journal"
    call("get", "/_lab/journal", 400, query={"limit": "many"})
    call("get", "/_lab/journal", 404, query={"email": "nobody@zlab.example"})
    call("delete", "/_lab/journal", 200)
    # seeding, grant codes
    modules = call("get", "/_lab/seed", 200)["modules"]
    call("post", "/_lab/seed", 201, body={"org_id": books, "modules": {modules["books"][0]: 2}, "seed": 7})
    call("post", "/_lab/seed", 404, body={"org_id": "404404", "modules": {"contacts": 1}})
    call("post", "/_lab/oauth/codes", 201, body={"client_id": created["client_id"], "scopes": ["ZohoBooks.fullaccess.all"]})
    call("post", "/_lab/oauth/codes", 404, body={"client_id": "1000.nobody", "scopes": ["ZohoBooks.fullaccess.all"]})
    # workflow rules, their runs and the webhook deliveries they make
    wf = call("post", "/_lab/workflows", 201, body={"org_id": crm, "module": "Contacts", "event": "create",
                                                    "action": {"type": "webhook", "url": "http://127.0.0.1:9/hook"}})
    token = c.post("/oauth/v2/token", data={"grant_type": "refresh_token", "client_id": created["client_id"],
                                            "client_secret": created["client_secret"],
                                            "refresh_token": created["refresh_token"]}).get_json()["access_token"]
    r = c.post("/crm/v8/Contacts", json={"data": [{"Last_Name": "Hooked"}]},
               headers={"Authorization": f"Zoho-oauthtoken {token}"})
    assert r.status_code == 201, r.get_data(as_text=True)
    call("get", "/_lab/workflows", 200, query={"org_id": crm})
    runs = call("get", "/_lab/workflows/runs", 200, query={"org_id": crm, "rule_id": wf["id"]})
    assert len(runs["runs"]) == 1
    deadline = time.monotonic() + 10  # the webhook is sent in the background; wait for its attempt's outcome
    while True:
        [delivery] = call("get", "/_lab/deliveries", 200, query={"org_id": crm})["deliveries"]
        if delivery["error"] or delivery["status"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    call("get", "/_lab/deliveries", 400, query={"limit": "all"})
    call("delete", "/_lab/workflows/{rule_id}", 200, rule_id=wf["id"])
    call("delete", "/_lab/workflows/{rule_id}", 404, rule_id=wf["id"])
    call("post", "/_lab/workflows", 404, body={"org_id": books, "module": "Contacts", "action": {"type": "webhook"}})
    # snapshots
    call("post", "/_lab/snapshots", 201, body={"name": "s1"})
    call("post", "/_lab/snapshots", 400, body={"name": 5})
    call("get", "/_lab/snapshots", 200)
    call("post", "/_lab/snapshots/{name}/restore", 200, name="s1")
    call("post", "/_lab/snapshots/{name}/restore", 404, name="s2")
    call("delete", "/_lab/snapshots/{name}", 200, name="s1")
    call("delete", "/_lab/snapshots/{name}", 404, name="s1")
    # a product's internal state
    call("get", "/_lab/crm/orgs/{org_id}/books-integration", 200, org_id=crm)
    call("put", "/_lab/crm/orgs/{org_id}/books-integration", 200, org_id=crm, body={"enabled": False})
    call("put", "/_lab/crm/orgs/{org_id}/books-integration", 400, org_id=crm, body={"enabled": "yes"})
    call("get", "/_lab/books/orgs/{org_id}/crm-integration", 404, org_id=crm)
    call("post", "/_lab/books/orgs/{org_id}/customfields", 201, org_id=books,
         body={"entity": "item", "label": "Warranty"})
    call("post", "/_lab/reset", 200, body={})
    # every operation of the lab's own API was checked (products' internal routes: a sample above)
    own = {(m, p) for m, p in operations(doc) if not re.match(r"/_lab/(books|invoice|crm|fsm)/", p)}
    assert own - call.checked == set(), "operations this test does not call yet"
