"""A tiny product used to exercise the shared request chain without depending on any real fake.

``build_probe_app(db_url)`` serves the fake Accounts plus two "probe" products named ``crm``
and ``fsm`` (so the lab creates orgs for them and fault rules can name them) under
``/probe/crm`` and ``/probe/fsm``. A probe answers with what the chain resolved (org, user,
org settings), reads the org from ``?organization_id=`` or the ``X-Org`` header, and renders
every core ``Failure`` with a status and ``code`` the tests can check.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, request

from fakes import accounts
from fakes.core.app import build_app
from fakes.core.context import ctx, json_response
from fakes.core.errors import ErrorCatalog, Failure, Kind, ZohoError
from fakes.core.lab import Lab
from fakes.core.product import LimitHeaders, LimitRule, Product

STATUS = {
    Kind.AUTH_MISSING: 401, Kind.AUTH_INVALID: 401, Kind.AUTH_EXPIRED: 401, Kind.SCOPE_MISMATCH: 401,
    Kind.ORG_MISSING: 400, Kind.ORG_INVALID: 400, Kind.ORG_FORBIDDEN: 403, Kind.ORG_INACTIVE: 403,
    Kind.RATE_MINUTE: 429, Kind.RATE_DAY: 429, Kind.CONCURRENCY: 429, Kind.MALFORMED_BODY: 400,
    Kind.URL_NOT_FOUND: 404, Kind.METHOD_NOT_ALLOWED: 405, Kind.INTERNAL: 500,
    Kind.INVALID_VALUE: 400, Kind.BODY_TOO_LARGE: 413, Kind.URL_TOO_LONG: 414,
}
PREFIX = {"crm": "/probe/crm", "fsm": "/probe/fsm"}


class ProbeErrors(ErrorCatalog):
    def render(self, failure: Failure) -> ZohoError:
        headers = {}
        if "retry_after" in failure.detail:
            headers["Retry-After"] = str(failure.detail["retry_after"])
        return ZohoError(STATUS[failure.kind], {"code": failure.kind.value.upper(), "status": "error",
                                                "details": {k: v for k, v in failure.detail.items()}}, headers)


def _blueprint(name: str) -> Blueprint:
    bp = Blueprint(name, __name__)

    @bp.route("/things", methods=["GET", "POST", "PUT", "DELETE"])
    def things():
        c = ctx()
        body: Any = request.get_json(silent=True) if request.method != "GET" else None
        return json_response({"org": c.org_id, "user": c.principal.user_id if c.principal else None,
                              "email": c.principal.email if c.principal else None,
                              "settings": c.org.settings if c.org is not None else None,
                              "edition": c.org.edition if c.org is not None else None,
                              "echo": body}, 201 if request.method == "POST" else 200)

    return bp


def _org_for(_ctx) -> str | None:
    org = request.args.get("organization_id") or request.headers.get("X-Org")
    if org is None and request.method != "GET":
        raise Failure(Kind.ORG_MISSING)
    return org


def _limits(org) -> list[LimitRule]:
    return [LimitRule("minute", int(org.setting("per_minute", 3)), 60, Kind.RATE_MINUTE.value, advertise=True)]


def probe_product(name: str = "crm") -> Product:
    return Product(
        name=name, family=name, prefixes=(PREFIX[name],), make_blueprint=_blueprint, errors=ProbeErrors(),
        scopes_for=lambda _req: (f"Zoho{name.upper()}.modules.ALL",), org_for=_org_for, limits_for=_limits,
        limit_headers=LimitHeaders("X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset"),
    )


def build_probe_app(db_url: str, **lab_kw: Any) -> Flask:
    lab = Lab(db_url, **lab_kw)
    return build_app(lab, [accounts.product(), probe_product("crm"), probe_product("fsm")])


def get_token(client, tenant: dict[str, Any]) -> str:
    r = client.post("/oauth/v2/token", data={
        "grant_type": "refresh_token", "client_id": tenant["client_id"],
        "client_secret": tenant["client_secret"], "refresh_token": tenant["refresh_token"]})
    assert r.status_code == 200 and "access_token" in r.get_json(), r.get_data(as_text=True)
    return r.get_json()["access_token"]


def new_tenant(client, **body: Any) -> dict[str, Any]:
    """Create a tenant and attach an access token as ``t["auth"]`` (headers)."""
    r = client.post("/_lab/tenants", json=body)
    assert r.status_code == 201, r.get_data(as_text=True)
    t = r.get_json()
    t["token"] = get_token(client, t)
    t["auth"] = {"Authorization": f"Zoho-oauthtoken {t['token']}"}
    return t


def call(client, t: dict[str, Any], product: str = "crm", method: str = "GET", org: str | None = None,
         token: str | None = None, **kw: Any):
    """Call a probe product as tenant ``t`` on its own org of ``product`` unless ``org`` says otherwise."""
    org = org if org is not None else t["orgs"][product]
    headers = {"Authorization": f"Zoho-oauthtoken {token or t['token']}", **kw.pop("headers", {})}
    return client.open(f"{PREFIX[product]}/things", method=method, query_string={"organization_id": org},
                       headers=headers, **kw)
