"""OpenAPI 3.1 document of the control API (``GET /_lab/openapi.json``).

The emulated Zoho APIs are documented by Zoho (specs/); this documents only what the lab adds.
Products contribute their internal endpoints through ``Product.internal_doc`` and the routes
of their lab blueprints, which are listed here automatically.
"""

from __future__ import annotations

import re
from typing import Any

from flask import current_app

from . import lab_schemas as ls
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

# components/schemas: the answers' schemas by the name the document shows
ANSWER_SCHEMAS = {
    "Error": ls.ERROR_ANSWER, "Health": ls.HEALTH_ANSWER, "Status": ls.STATUS_ANSWER, "Org": ls.ORG_ANSWER,
    "TenantCreated": ls.TENANT_CREATED, "TenantList": ls.TENANT_LIST, "Tenant": ls.TENANT_ANSWER,
    "Clock": ls.CLOCK_ANSWER, "FaultRule": ls.FAULT_RULE, "FaultList": ls.FAULT_LIST,
    "JournalEntry": ls.JOURNAL_ENTRY, "Journal": ls.JOURNAL, "Snapshot": ls.SNAPSHOT_ANSWER,
    "SnapshotList": ls.SNAPSHOT_LIST, "SeedModules": ls.SEED_MODULES, "Seeded": ls.SEED_ANSWER,
    "GrantCode": ls.OAUTH_CODE_ANSWER, "WorkflowRule": ls.WORKFLOW_RULE, "WorkflowList": ls.WORKFLOW_LIST,
    "WorkflowRuns": ls.WORKFLOW_RUNS, "Deliveries": ls.DELIVERIES, "InternalState": ls.INTERNAL_ANSWER,
    "OpenAPI": {"type": "object", "description": "an OpenAPI 3.1 document"},
}
ERRORS = {400: "Bad", 404: "NotFound", 409: "Conflict"}


def _op(summary: str, answer: str, *, body: dict[str, Any] | None = None, ok: str = "200", desc: str = "",
        params: list[dict[str, Any]] | None = None, errors: tuple[int, ...] = (400,)) -> dict[str, Any]:
    """One operation: its answer is ``components/schemas/<answer>``; errors are ``{"error": text}``."""
    responses: dict[str, Any] = {ok: {"description": ANSWER_SCHEMAS[answer].get("description", answer),
                                      "content": {"application/json": {"schema": _ref(answer)}}}}
    responses.update({str(code): {"$ref": f"#/components/responses/{ERRORS[code]}"} for code in errors})
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if desc:
        op["description"] = desc
    if body is not None:
        op["requestBody"] = {"content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = params
    return op


TAGS = {  # Swagger UI groups operations by tag, in this order
    "lab": "Health, this document, reset", "tenants": "Tenants: users with orgs and OAuth credentials",
    "orgs": "Orgs and their settings", "clock": "The lab clock every fake reads",
    "faults": "Fault injection", "journal": "Recent product calls", "snapshots": "Snapshots of all state",
    "seed": "Realistic records", "oauth": "Grant codes (the API console's self client)",
    "workflows": "Workflow rules of CRM and FSM orgs", "deliveries": "Outgoing calls the fakes made",
}


def _tag_operations(paths: dict[str, Any], products: list[Product]) -> list[dict[str, str]]:
    """Tag each operation by what it is about (its path's first part; a product's internal routes by
    the product) and answer the tags in use, in the order Swagger UI should show them."""
    internal = {p.name: f"{p.name}: Zoho-internal state without a public API" for p in products}
    used: set[str] = set()
    for path, item in paths.items():
        head = path.split("/")[2]
        tag = head if head in TAGS or head in internal else "lab"
        used.add(tag)
        for op in item.values():
            op["tags"] = [tag]
    return [{"name": name, "description": text} for name, text in {**TAGS, **internal}.items() if name in used]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _q(name: str, desc: str, typ: str = "string") -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": desc, "schema": {"type": typ}}


def _p(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


def document(products: list[Product]) -> dict[str, Any]:
    org_update = dict(body=ORG_OPTIONS, params=[_p("org_id")], errors=(400, 404))
    org_update_summary = ("Change an org: edition, time_zone, tax_enabled, active, trial_expired, rate_limits, "
                          "settings (merged)")
    paths: dict[str, Any] = {
        "/_lab/health": {"get": _op("Liveness: {\"status\": \"ok\"}, the lab time, database and products",
                                    "Health", errors=())},
        "/_lab/openapi.json": {"get": _op("This document", "OpenAPI", errors=())},
        "/_lab/reset": {"post": _op("Delete all state (tenants, records, faults, clock); snapshots are kept unless "
                                    "{\"snapshots\": true}", "Status", body=RESET)},
        "/_lab/tenants": {
            "post": _op("Create a tenant: a user with one org per product, an OAuth client and a refresh token",
                        "TenantCreated", ok="201", body=TENANT, errors=(400, 409),
                        desc="409 when a user with that email exists."),
            "get": _op("List tenants with their org ids", "TenantList", errors=()),
        },
        "/_lab/tenants/{email}": {"get": _op("One tenant: orgs and OAuth clients", "Tenant", params=[_p("email")],
                                             errors=(404,))},
        "/_lab/orgs": {"post": _op("Add an org to a tenant", "Org", ok="201", body=ORG_CREATE, errors=(400, 404))},
        "/_lab/orgs/{org_id}": {
            "get": _op("An org's settings", "Org", params=[_p("org_id")], errors=(404,)),
            "patch": _op(org_update_summary, "Org", **org_update),
            "put": _op(org_update_summary + "; the same as PATCH", "Org", **org_update),
        },
        "/_lab/clock": {
            "get": _op("The lab clock: now, frozen, offset", "Clock", errors=()),
            "post": _op("Move the clock", "Clock", body=CLOCK),
        },
        **{f"/_lab/clock/{a}": {"post": _op(f"Shortcut for action={a}", "Clock", body=CLOCK_SHORTCUT)} for a in
           ("freeze", "unfreeze", "set", "advance", "reset")},
        "/_lab/faults": {"get": _op("Fault rules with matched/fired counts", "FaultList", errors=()),
                         "post": _op("Add a fault rule", "FaultRule", ok="201", body=FAULT),
                         "delete": _op("Remove all fault rules", "Status", errors=())},
        "/_lab/faults/{rule_id}": {"delete": _op("Remove one fault rule", "Status",
                                                 params=[{**_p("rule_id"), "schema": {"type": "integer"}}],
                                                 errors=(404,))},
        "/_lab/journal": {"get": _op("Recent product calls, newest first", "Journal", errors=(400, 404), params=[
            _q("org", "only calls to this org"), _q("email", "only calls of this tenant (404: no such tenant)"),
            _q("product", "books, invoice, crm, fsm, accounts"), _q("status", "only this status", "integer"),
            _q("since_id", "only entries after this id", "integer"), _q("limit", "at most (≤ 5000)", "integer")]),
                          "delete": _op("Empty the journal", "Status", errors=())},
        "/_lab/snapshots": {"get": _op("List snapshots", "SnapshotList", errors=()),
                            "post": _op("Take a named snapshot of all state", "Snapshot", ok="201", body=SNAPSHOT)},
        "/_lab/snapshots/{name}/restore": {"post": _op("Restore a snapshot (replaces all state)", "Snapshot",
                                                       params=[_p("name")], errors=(404,))},
        "/_lab/snapshots/{name}": {"delete": _op("Delete a snapshot", "Status", params=[_p("name")], errors=(404,))},
        "/_lab/seed": {
            "get": _op("Seedable modules per product", "SeedModules", errors=()),
            "post": _op("Fill an org with realistic records (Faker, deterministic by seed)", "Seeded", ok="201",
                        body=SEED, errors=(400, 404)),
        },
        "/_lab/oauth/codes": {"post": _op("Mint a grant code for a client (the API console's self client)",
                                          "GrantCode", ok="201", body=OAUTH_CODE, errors=(400, 404))},
        "/_lab/workflows": {"post": _op("Add a workflow rule to a CRM or FSM org", "WorkflowRule", ok="201",
                                        body=WORKFLOW, errors=(400, 404)),
                            "get": _op("An org's workflow rules with their run counts", "WorkflowList", errors=(),
                                       params=[_q("org_id", "the CRM or FSM org")])},
        "/_lab/workflows/{rule_id}": {"delete": _op("Remove a workflow rule", "Status", params=[_p("rule_id")],
                                                    errors=(404,))},
        "/_lab/workflows/runs": {"get": _op("Runs of an org's workflow rules, oldest first", "WorkflowRuns", errors=(),
                                            params=[_q("org_id", "the CRM or FSM org"),
                                                    _q("rule_id", "only runs of this rule"),
                                                    _q("record_id", "only runs on this record"),
                                                    _q("module", "only runs on this module")])},
        "/_lab/deliveries": {"get": _op("Outgoing calls the fakes made (CRM watch notifications, FSM notifications, "
                                        "workflow webhooks), newest first, with the receiver's status",
                                        "Deliveries", params=[_q("org_id", "only calls for this org"),
                                                              _q("kind", "e.g. crm.watch, workflow.webhook"),
                                                              _q("limit", "at most (≤ 2000)", "integer")])},
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
        params = [_p(name) for name in re.findall(r"<(?:[^:>]+:)?(\w+)>", path)]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            writes = method in ("POST", "PUT", "PATCH")
            paths.setdefault(oapath, {})[method.lower()] = _op(
                f"[internal] {doc}", "InternalState", ok="201" if method == "POST" else "200", params=params,
                body={"type": "object"} if writes else None, errors=(400, 404) if writes else (404,))
    tags = _tag_operations(paths, products)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Zoho Sync Lab — control API of the fakes",
            "version": "1",
            "description": "The lab's own API, kept apart from the emulated Zoho APIs. "
                           "Internal endpoints expose Zoho state that has no public API.\n\n"
                           + "\n\n".join(p.internal_doc for p in products if p.internal_doc),
        },
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": ANSWER_SCHEMAS,
            "responses": {name: {"description": text, "content": {"application/json": {"schema": _ref("Error")}}}
                          for name, text in (("Bad", "Bad input: {\"error\": \"what is wrong\"}"),
                                             ("NotFound", "No such tenant, org, rule or snapshot"),
                                             ("Conflict", "It exists already"))},
        },
    }
