"""JSON Schemas of the control API's request bodies and answers, served in ``/_lab/openapi.json``.

Request bodies are checked by ``lab_api.lab_body`` before a handler runs, so a value of the wrong
JSON type gets the control API's 400 (``{"error": "<where>: <what>"}``) instead of a crash. One
schema per operation, kept to types and shapes; the handlers keep their own checks of values
(editions, time zones, ...).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

PRODUCT_NAMES = ["fsm", "books", "invoice", "crm"]


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """Optional fields the handlers read with ``body.get(k) or default``: null means the default."""
    if "type" not in schema:  # an enum
        return {**schema, "enum": [*schema["enum"], None]}
    return {**schema, "type": [schema["type"], "null"]}


STRING = {"type": "string"}
BOOL = {"type": "boolean"}

ORG_OPTIONS = {
    "type": "object",
    "properties": {
        "name": nullable(STRING),
        "edition": nullable({"type": "string",
                             "description": "books: free…ultimate; crm: free…ultimate; fsm: free, standard, professional, premium"}),
        "currency_code": nullable({"type": "string", "example": "USD"}),
        "currencies": nullable({"type": "array", "items": STRING, "description": "extra currencies of the org"}),
        "time_zone": nullable({"type": "string", "example": "Asia/Kolkata"}),
        "tax_enabled": BOOL,
        "active": BOOL,
        "trial_expired": BOOL,
        "rate_limits": {"type": "boolean", "description": "enforce the product's API limits (off by default)"},
        "settings": {"type": "object", "description": "product settings, e.g. books allow_duplicate_names"},
    },
}

TENANT = {"type": "object", "properties": {
    "email": nullable(STRING), "name": nullable(STRING), "company": nullable(STRING),
    "products": nullable({"type": "array", "items": {"enum": PRODUCT_NAMES}}),
    "editions": nullable({"type": "object", "additionalProperties": STRING}),
    "time_zone": nullable(STRING), "currency_code": nullable(STRING),
    "currencies": nullable({"type": "array", "items": STRING}),
    "tax_enabled": BOOL, "rate_limits": BOOL,
    "scopes": nullable({"type": "array", "items": STRING}),
    "orgs": nullable({"type": "object", "additionalProperties": nullable(ORG_OPTIONS)})}}

ORG_CREATE = {"allOf": [ORG_OPTIONS, {"type": "object", "required": ["product"],
                                      "properties": {"email": STRING, "product": {"enum": PRODUCT_NAMES}}}]}

RESET = {"type": "object", "properties": {"snapshots": {"type": "boolean", "description": "delete snapshots too"}}}

CLOCK = {"type": "object", "required": ["action"], "properties": {
    "action": {"enum": ["freeze", "unfreeze", "set", "advance", "reset"]},
    "at": nullable({"type": "string", "format": "date-time"}), "seconds": {"type": ["number", "string"]}}}

CLOCK_SHORTCUT = {"type": "object", "properties": {
    "at": nullable({"type": "string", "format": "date-time"}), "seconds": {"type": ["number", "string"]}}}

FAULT = {
    "type": "object",
    "properties": {
        "product": {"enum": ["accounts", "books", "invoice", "crm", "fsm"]},
        "method": {"type": "string", "example": "POST"},
        "path": {"type": "string", "description": "glob (/books/v3/items*) or ^regex$ on the request path"},
        "org": {"type": "string", "description": "org id the call addresses"},
        "action": {
            "type": "object",
            "properties": {
                "type": {"enum": ["error", "rate_limit", "delay", "drop"]},
                "status": {"type": "integer", "description": "error: HTTP status (default 500)"},
                "body": {"description": "error: the exact body; default is the product's own error"},
                "headers": {"type": "object"},
                "retry_after": {"type": "integer", "description": "rate_limit: Retry-After seconds"},
                "kind": {"enum": ["rate_minute", "rate_day", "concurrency"], "description": "rate_limit: which limit"},
                "seconds": {"type": "number", "description": "delay: seconds before answering normally"},
            },
        },
        "probability": {"type": "number", "minimum": 0, "maximum": 1},
        "nth": {"type": "integer", "minimum": 1, "description": "fire on the Nth matching call"},
        "times": {"type": "integer", "minimum": 1, "description": "how many times to fire (default 1 with nth, unlimited otherwise)"},
    },
    "example": {"product": "books", "method": "POST", "path": "/books/v3/items", "nth": 2,
                "action": {"type": "rate_limit", "retry_after": 30}},
}

SNAPSHOT = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string", "maxLength": 120}}}

SEED = {"type": "object", "required": ["org_id", "modules"], "properties": {
    "org_id": {"type": "string"}, "seed": {"type": "integer"},
    "start": {"type": "integer", "description": "index of the first record (chunked seeding)"},
    "modules": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 10000}}}}

OAUTH_CODE = {"type": "object", "required": ["client_id", "scopes"], "properties": {
    "client_id": {"type": "string"},
    "scopes": {"type": ["array", "string"], "items": {"type": "string"},
               "description": "a list, or a comma- or space-separated string"},
    "scope": {"type": ["array", "string"], "items": {"type": "string"}, "description": "alias of scopes"},
    "minutes": {"enum": [3, 5, 7, 10]}, "redirect_uri": nullable(STRING)}}

WORKFLOW = {"type": "object", "required": ["org_id", "module", "action"], "properties": {
    "org_id": {"type": ["string", "integer"]}, "module": {"type": "string"}, "name": nullable(STRING),
    "event": {"type": "string"},
    "condition": nullable({"type": "object", "properties": {"field": STRING}}),
    "action": {"type": "object", "properties": {"type": STRING, "field": STRING, "url": STRING}}}}


# -- answers ------------------------------------------------------------------------------------------
# What the control API answers, shown in /_lab/openapi.json (components/schemas) and checked against
# real answers by tests/core/test_lab_openapi.py. Objects list what a client may read; they stay
# open (no additionalProperties: false) so a new field is not a breaking change.

def obj(required: list[str] | None = None, **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": required if required is not None else list(props), "properties": props}


def array_of(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": schema}


INT = {"type": "integer"}
TIME = {"type": "string", "format": "date-time"}
ORG_IDS = {"type": "object", "additionalProperties": STRING, "description": "org id per product"}

ERROR_ANSWER = obj(["error"], error={"type": "string", "description": "what is wrong, for people"})
HEALTH_ANSWER = obj(status={"const": "ok"}, time=TIME, database={"type": "string", "description": "password hidden"},
                    shared=BOOL, seed=INT, products=array_of(STRING))
STATUS_ANSWER = obj(["status"], status={"enum": ["reset", "cleared", "deleted"]}, id={"type": ["string", "integer"]},
                    name=STRING)
ORG_ANSWER = obj(
    id=STRING, product={"enum": [*PRODUCT_NAMES]}, name=STRING, edition=STRING, currency_code=STRING,
    currencies=array_of(STRING), time_zone=STRING, tax_enabled=BOOL, active=BOOL, trial_expired=BOOL,
    rate_limits=BOOL, settings={"type": "object", "description": "product settings and Zoho-internal state"},
    owner_id=STRING)
TENANT_CREATED = obj(
    email=STRING, user_id=STRING, name=STRING, client_id=STRING, client_secret=STRING, refresh_token=STRING,
    scope={"type": "string", "description": "comma-separated OAuth scopes of the refresh token"}, orgs=ORG_IDS,
    org_details={"type": "object", "additionalProperties": ORG_ANSWER},
    api_domain={"type": "string", "description": "base URL of the product APIs (this server)"},
    accounts_url={"type": "string", "description": "base URL of Accounts (this server)"})
TENANT_LIST = obj(tenants=array_of(obj(email=STRING, user_id=STRING, orgs=ORG_IDS)))
TENANT_ANSWER = obj(email=STRING, user_id=STRING, name=STRING, orgs=array_of(ORG_ANSWER),
                    clients=array_of(obj(client_id=STRING, client_secret=STRING)))
CLOCK_ANSWER = obj(now=TIME, epoch={"type": "number", "description": "now in Unix seconds"}, frozen=BOOL,
                   frozen_at=nullable(TIME), offset_seconds={"type": "number", "description": "added to real time"})
FAULT_RULE = obj(["id", "action"], id=INT, product=nullable(STRING), method=nullable(STRING), path=nullable(STRING),
                 org=nullable(STRING), action={"type": "object"}, probability=nullable({"type": "number"}),
                 nth=nullable(INT), times=nullable(INT))
FAULT_LIST = obj(faults=array_of({"allOf": [FAULT_RULE, obj(matched=INT, fired=INT)]}))
JOURNAL_ENTRY = obj(
    ["id", "time", "product", "method", "path", "status"], id=INT, request_id=STRING,
    time={**TIME, "description": "lab time"}, product=STRING, method=STRING, path=STRING, query=STRING,
    org_id=nullable(STRING), user_id=nullable(STRING), status=nullable(INT), duration_ms=nullable({"type": "number"}),
    fault=nullable({"type": "string", "description": "the fault rule that fired on this call"}),
    request_excerpt=nullable(STRING), response_excerpt=nullable(STRING), extra={"type": "object"})
JOURNAL = obj(entries=array_of(JOURNAL_ENTRY))
SNAPSHOT_ANSWER = obj(name=STRING, rows={"type": "integer", "description": "rows saved or restored"})
SNAPSHOT_LIST = obj(snapshots=array_of(obj(name=STRING, created_time=nullable(STRING))))
SEED_MODULES = obj(modules={"type": "object", "additionalProperties": array_of(STRING),
                            "description": "seedable modules per product"})
SEED_ANSWER = obj(org_id=STRING, product=STRING, seed=INT, start=INT,
                  created={"type": "object", "additionalProperties": INT, "description": "records made per module"})
OAUTH_CODE_ANSWER = obj(code={"type": "string", "description": "the grant code for POST /oauth/v2/token"},
                        expires_in={"type": "integer", "description": "seconds"}, scope=STRING)
WORKFLOW_RULE = obj(["id", "org_id", "module", "action"], id=STRING, product=STRING, org_id=STRING, module=STRING,
                    name=STRING, event=STRING, condition={"type": "object"}, action={"type": "object"}, active=BOOL,
                    created_time=nullable(STRING))
WORKFLOW_LIST = obj(workflows=array_of({"allOf": [WORKFLOW_RULE, obj(runs={
    "type": "integer", "description": "how often the rule ran"})]}))
WORKFLOW_RUNS = obj(runs=array_of(obj(id=STRING, rule_id=STRING, org_id=STRING, module=STRING, record_id=STRING,
                                      operation=STRING, time=nullable(STRING))))
DELIVERIES = obj(deliveries=array_of(obj(
    ["id", "url", "kind", "org_id"], id=INT, url=STRING,
    kind={"type": "string", "description": "e.g. crm.watch, fsm.notification, workflow.webhook"}, org_id=STRING,
    payload={"description": "what was sent"}, status=nullable({"type": "integer", "description": "the receiver's"}),
    error=nullable(STRING), attempts=INT, sent_at=nullable(STRING))))
INTERNAL_ANSWER = {"type": "object", "description": "the Zoho-internal state the route names (see its summary)"}


@cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(globals()[name])


def schema_error(name: str, body: Any) -> str | None:
    """What is wrong with ``body`` against the schema called ``name`` (a constant here), or None."""
    error = next(iter(sorted(_validator(name).iter_errors(body), key=lambda e: e.path)), None)
    if error is None:
        return None
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"{'body' + where}: {_short(error)}"


def _short(error) -> str:
    if error.validator == "type":
        return f"must be of type {error.validator_value if isinstance(error.validator_value, str) else ' or '.join(error.validator_value)}"
    if error.validator == "enum":
        return f"must be one of {', '.join(map(json.dumps, error.validator_value))}"
    return error.message[:200]
