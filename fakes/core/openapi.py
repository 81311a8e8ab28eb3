"""OpenAPI 3.1 document of the control API (``GET /_lab/openapi.json``).

The emulated Zoho APIs are documented by Zoho (specs/); this documents only what the lab adds.
Products contribute their internal endpoints through ``Product.internal_doc`` and the routes
of their lab blueprints, which are listed here automatically.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from .lab_schemas import (
    CLOCK,
    CLOCK_SHORTCUT,
    FAULT,
    OAUTH_CODE,
    ORG_CREATE,
    ORG_OPTIONS,
    RESET,
    SEED,
    SNAPSHOT,
    TENANT,
    WORKFLOW,
)
from .product import Product


def _op(summary: str, *, body: dict[str, Any] | None = None, ok: str = "200", desc: str = "",
        params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {ok: {"description": "OK"},
                                                             "400": {"$ref": "#/components/responses/Bad"}}}
    if desc:
        op["description"] = desc
    if body is not None:
        op["requestBody"] = {"content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = params
    return op


def _q(name: str, desc: str, typ: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": desc, "schema": {"type": typ}}


def _p(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


PROGRESS = _q("progress", "1: stream NDJSON progress events (start, progress…, done or error) "
                           "instead of one answer at the end (so does Accept: application/x-ndjson)")


def document(products: list[Product]) -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/_lab/health": {"get": _op("Liveness: {\"status\": \"ok\"}")},
        "/_lab/reset": {"post": _op("Delete all state (tenants, records, faults, clock); snapshots are kept unless {\"snapshots\": true}",
                                    body=RESET)},
        "/_lab/tenants": {
            "post": _op("Create a tenant: a user with one org per product, an OAuth client and a refresh token",
                        ok="201", body=TENANT,
                        desc="Answers email, user_id, client_id, client_secret, refresh_token, scope, "
                             "orgs {product: org id}, org_details and api_domain."),
            "get": _op("List tenants with their org ids"),
        },
        "/_lab/tenants/{email}": {"get": _op("One tenant: orgs and OAuth clients", params=[_p("email")])},
        "/_lab/orgs": {"post": _op("Add an org to a tenant", ok="201", body=ORG_CREATE)},
        "/_lab/orgs/{org_id}": {
            "get": _op("An org's settings", params=[_p("org_id")]),
            "patch": _op("Change an org: edition, time_zone, tax_enabled, active, trial_expired, rate_limits, settings (merged)",
                         body=ORG_OPTIONS, params=[_p("org_id")]),
        },
        "/_lab/clock": {
            "get": _op("The lab clock: now, frozen, offset"),
            "post": _op("Move the clock", body=CLOCK),
        },
        **{f"/_lab/clock/{a}": {"post": _op(f"Shortcut for action={a}", body=CLOCK_SHORTCUT)} for a in
           ("freeze", "unfreeze", "set", "advance", "reset")},
        "/_lab/faults": {"get": _op("Fault rules with matched/fired counts"),
                         "post": _op("Add a fault rule", ok="201", body=FAULT),
                         "delete": _op("Remove all fault rules")},
        "/_lab/faults/{id}": {"delete": _op("Remove one fault rule", params=[_p("id")])},
        "/_lab/journal": {"get": _op("Recent product calls, newest first", params=[
            _q("org", "only calls to this org"), _q("email", "only calls of this tenant"),
            _q("product", "books, invoice, crm, fsm, accounts"), _q("status", "only this status", "integer"),
            _q("since_id", "only entries after this id", "integer"), _q("limit", "at most (≤ 5000)", "integer")]),
                          "delete": _op("Empty the journal")},
        "/_lab/snapshots": {"get": _op("List snapshots"),
                            "post": _op("Take a named snapshot of all state: {name, rows, seconds}", ok="201",
                                        body=SNAPSHOT, params=[PROGRESS])},
        "/_lab/snapshots/{name}/restore": {"post": _op("Restore a snapshot (replaces all state): {name, rows, seconds}",
                                                       params=[_p("name"), PROGRESS])},
        "/_lab/snapshots/{name}": {"delete": _op("Delete a snapshot", params=[_p("name")])},
        "/_lab/seed": {
            "get": _op("Seedable modules per product"),
            "post": _op("Fill an org with realistic records (Faker, deterministic by seed)", ok="201", body=SEED),
        },
        "/_lab/oauth/codes": {"post": _op("Mint a grant code for a client (the API console's self client)", ok="201",
                                          body=OAUTH_CODE)},
        "/_lab/stack": {"get": _op("Where the rest of the stack is: fakes_url, syncer_url, dashboard_url, mail_url "
                                   "and the syncer's support_token (null when not known)")},
        "/_lab/workflows": {"post": _op("Add a workflow rule to a CRM or FSM org", ok="201", body=WORKFLOW),
                            "get": _op("An org's workflow rules with their run counts",
                                       params=[_q("org_id", "the CRM or FSM org")])},
    }
    # product-internal endpoints (Zoho-internal state without a public API)
    for rule in current_app.url_map.iter_rules():
        path = str(rule.rule)
        bp = rule.endpoint.split(".", 1)[0]
        if not path.startswith("/_lab/") or bp == "lab":
            continue
        oapath = path.replace("<", "{").replace(">", "}")
        oapath = "/".join(seg.split(":")[-1] if seg.startswith("{") else seg for seg in oapath.split("/"))
        fn = current_app.view_functions.get(rule.endpoint)
        doc = (fn.__doc__ or rule.endpoint).strip().splitlines()[0] if fn else rule.endpoint
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(oapath, {})[method.lower()] = _op(f"[internal] {doc}")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Zoho Sync Lab — control API of the fakes",
            "version": "1",
            "description": "The lab's own API, kept apart from the emulated Zoho APIs. "
                           "Internal endpoints expose Zoho state that has no public API.\n\n"
                           + "\n\n".join(p.internal_doc for p in products if p.internal_doc),
        },
        "paths": paths,
        "components": {"responses": {"Bad": {"description": "Bad input: {\"error\": \"…\"}"}},
                       # only when the server has ZLAB_LAB_TOKEN: every call but /_lab/health then needs it
                       "securitySchemes": {"labToken": {"type": "apiKey", "in": "header", "name": "X-Zlab-Lab-Token",
                                                        "description": "the server's ZLAB_LAB_TOKEN, when it has one "
                                                                       "(else 401); Authorization: Bearer works too"}}},
        "security": [{}, {"labToken": []}],
    }
