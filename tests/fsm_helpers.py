"""Shared pieces of the FSM tests: one fake server per test module and backend (each test makes
its own tenant, so tests stay independent while the database is set up once), and a thin client
that talks to /fsm/v1 the way a client written for real Zoho FSM does."""

from __future__ import annotations

import uuid

import pytest

from fakes import create_app
from tests.conftest import PG_URL, Tenant, make_tenant, postgres_unavailable


def module_app(request, tmp_path_factory):
    """A fake server for one test module on ``request.param`` ("sqlite" or "postgres")."""
    schema = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('fsm') / 'fakes.db'}"
    else:
        reason = postgres_unavailable()
        if reason:
            pytest.skip(reason)
        import sqlalchemy as sa

        schema = "zlab_fsm_" + uuid.uuid4().hex[:12]
        admin = sa.create_engine(PG_URL)
        with admin.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in PG_URL else "?"
        url = f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    app = create_app(url)
    yield app
    app.extensions["zlab"].db.dispose()
    if schema:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class Fsm:
    """``/fsm/v1`` with the tenant's token, as a Zoho FSM client would call it."""

    root = "/fsm/v1"

    def __init__(self, client, tenant: Tenant) -> None:
        self.c = client
        self.t = tenant
        self.org = tenant.orgs["fsm"]

    def call(self, method: str, path: str, *, json_body=None, params=None, headers=None, **kw):
        h = {**self.t.auth, **(headers or {})}
        return self.c.open(self.root + path, method=method, query_string=params, headers=h, json=json_body, **kw)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, json_body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.call("PUT", path, json_body=body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    def refresh(self) -> None:
        """A new access token (after the lab clock moved past the old one's hour)."""
        r = self.c.post("/oauth/v2/token", data={"grant_type": "refresh_token", "client_id": self.t.client_id,
                                                 "client_secret": self.t.client_secret,
                                                 "refresh_token": self.t.refresh_token})
        self.t.access_token = r.get_json()["access_token"]

    # -- shortcuts ------------------------------------------------------------------------------
    def create(self, module: str, *records: dict, trigger=None) -> list[str]:
        body = {"data": list(records)}
        if trigger is not None:
            body["trigger"] = trigger
        r = self.post(f"/{module}", body)
        assert r.status_code == 201, r.get_data(as_text=True)
        return [x["id"] for x in r.get_json()["data"][module]]

    def one(self, module: str, record_id: str) -> dict:
        r = self.get(f"/{module}/{record_id}")
        assert r.status_code == 200, r.get_data(as_text=True)
        return r.get_json()["data"][0]

    def contact(self, last="Robins", email=None, **extra) -> str:
        return self.create("Contacts", {"Last_Name": last, "Email": email or f"{last.lower()}@zylker.com", **extra})[0]

    def company(self, name="Zylker", **extra) -> str:
        return self.create("Companies", {"Company_Name": name, **extra})[0]

    def service(self, name="Fumigation", price=100, **extra) -> str:
        return self.create("Service_And_Parts", {"Name": name, "Unit_Price": price, "Type": "Service", **extra})[0]

    def work_order(self, contact_id: str, service_id: str, **extra) -> str:
        return self.create("Work_Orders", {"Summary": "AC installation", "Type": "Service", "Contact": contact_id,
                                           "Service_Line_Items": [{"Service": service_id, "Quantity": 2}], **extra})[0]


def new_fsm(client, **tenant_body) -> Fsm:
    """A tenant with an FSM org only (FSM-only keeps a long-lived test server lean)."""
    tenant_body.setdefault("products", ["fsm"])
    return Fsm(client, make_tenant(client, **tenant_body))
