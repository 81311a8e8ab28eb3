"""The OpenAPI 3.1 document of the syncer's API (served at ``GET /openapi.json``).

tests/syncer/test_api.py checks that every route of the app is documented here and the other way
round, and that answers match the schemas of the main resources."""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from syncer.store.models import (
    BOOKS_DIRECTIONS,
    BOOKS_PRODUCTS,
    DUPLICATE_POLICIES,
    KINDS,
    MODES,
    PARTNER_PRODUCTS,
    STATES,
    SYNC_TYPES,
    TRIGGERS,
)

P = "/api/v1"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}, "description": description}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


INTEGRATION_ID = _path_param("integration_id", "The integration's id")
RUN_ID = _path_param("run_id", "The sync's id")
NULLABLE_STR = {"type": ["string", "null"]}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}

MAPPING_ROW = {"type": "object", "required": ["fsm_field", "books_field"], "additionalProperties": False,
               "properties": {"fsm_field": {"type": "string"}, "books_field": {"type": "string"},
                              "direction": {"enum": list(BOOKS_DIRECTIONS), "default": "both"},
                              "fsm_module": {"type": "string"}, "books_entity": {"type": "string"}}}
MAPPINGS = {"type": "object", "description": "Field mappings per module pair (TW-03); a module given replaces "
                                             "its mappings and bumps the mapping version (TW-07).",
            "propertyNames": {"enum": ["customers", "items", "invoices"]},
            "additionalProperties": {"type": "array", "items": MAPPING_ROW}}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error", "message"],
              "properties": {"error": {"type": "string", "description": "A stable code: not_found, invalid_value, "
                                       "missing_field, invalid_json, already_enabled, import_in_progress, "
                                       "sync_in_progress, not_enabled, manual_sync_limit, reenable_forbidden, "
                                       "permission_denied, edition_not_supported, support_only, "
                                       "unauthorized, forbidden, invalid_credentials, upstream_error"},
                             "message": {"type": "string"}}},
    "IntegrationCreate": {
        "type": "object", "additionalProperties": False,
        "required": ["fsm_org_id", "books_org_id", "client_id", "client_secret", "refresh_token"],
        "properties": {
            "fsm_org_id": {"type": "string"}, "books_org_id": {"type": "string"},
            "books_product": {"enum": list(BOOKS_PRODUCTS), "default": "books"},
            "client_id": {"type": "string"}, "client_secret": {"type": "string", "writeOnly": True},
            "refresh_token": {"type": "string", "writeOnly": True},
            "accounts_url": {"type": "string", "description": "Zoho Accounts (default: the lab's URL, else "
                                                               "https://accounts.zoho.com)"},
            "api_domain": {"type": "string", "description": "Default: the token answer's api_domain"},
            "name": {"type": "string"}, "notify_email": {"type": "string", "format": "email"},
            "time_zone": {"type": "string", "description": "The org's time zone: the day of the Sync Now count"},
            "sync_type": {"enum": list(SYNC_TYPES)}, "mode": {"enum": list(MODES)},
            "verify": {"type": "boolean", "default": True,
                       "description": "Exchange the refresh token first (bad credentials: 400 invalid_credentials)"},
            "choice": {"enum": ["new_invoice", "existing_invoice", "existing_books"],
                       "description": "Onboarding (OB-01): the org chosen for a new FSM org, checked against the "
                                      "signup account's offered orgs (400 when not offered; 409 already_integrated "
                                      "when the FSM org has an integration); new_invoice sets new_org"},
            "signup_email": {"type": "string", "format": "email",
                             "description": "With choice: only orgs linked to this email are offered"},
            "new_org": {"type": "boolean", "default": False,
                        "description": "The Books/Invoice org was made for this FSM org (OB-01): FSM's taxes go to "
                                       "it at enable and on every sync (OB-03); an existing org's come to FSM"}}},
    "Enable": {"type": "object", "additionalProperties": False, "required": ["duplicate_policy"],
               "properties": {"duplicate_policy": {"enum": list(DUPLICATE_POLICIES)},
                              "sync_type": {"enum": list(SYNC_TYPES)}, "mode": {"enum": list(MODES)},
                              "mappings": MAPPINGS}},
    "Settings": {"type": "object", "additionalProperties": False,
                 "properties": {"auto_sync": {"type": "boolean"}, "notify_email": {"type": "string"},
                                "mappings": MAPPINGS, "name": {"type": "string"}, "time_zone": {"type": "string"},
                                "tax_enabled": {"type": "boolean", "description": "FSM's taxes switch (TW-28): "
                                                "switching on needs taxes enabled at onboarding, else 403 "
                                                "support_only (support's enable-taxes)"}}},
    "Integration": {
        "type": "object",
        "required": ["id", "fsm_org_id", "books_product", "books_org_id", "state", "auto_sync", "mode", "sync_type"],
        "properties": {
            "id": {"type": "string"}, "name": {"type": "string"}, "fsm_org_id": {"type": "string"},
            "books_product": {"enum": list(BOOKS_PRODUCTS)}, "books_org_id": {"type": "string"},
            "kind": {"enum": list(KINDS)},
            "partner_product": {"enum": sorted({p for ps in PARTNER_PRODUCTS.values() for p in ps})},
            "partner_org_id": {"type": "string"},
            "client_id": {"type": "string"}, "accounts_url": {"type": "string"}, "api_domain": NULLABLE_STR,
            "state": {"enum": list(STATES)}, "disabled_reason": NULLABLE_STR, "disabled_by_error": {"type": "boolean"},
            "mode": {"enum": list(MODES)}, "sync_type": {"enum": list(SYNC_TYPES)},
            "duplicate_policy": {"enum": [*DUPLICATE_POLICIES, None]}, "auto_sync": {"type": "boolean"},
            "time_zone": {"type": "string"}, "notify_email": NULLABLE_STR, "manual_sync_limit": {"type": "integer"},
            "manual_syncs_today": {"type": "integer"}, "mapping_version": {"type": "integer"},
            "mappings": {"type": "object", "additionalProperties": {"type": "array", "items": MAPPING_ROW}},
            "next_auto_sync_at": NULLABLE_TIME, "last_run_started_at": NULLABLE_TIME,
            "last_run_ended_at": NULLABLE_TIME, "enabled_at": NULLABLE_TIME, "created_at": NULLABLE_TIME,
            "updated_at": NULLABLE_TIME, "sync_running": {"type": "boolean"},
            "taxes_at_onboarding": {"type": ["boolean", "null"],
                                    "description": "Whether FSM taxes were on at enable (TW-28)"},
            "remapped_modules": {"type": "array", "items": {"type": "string"},
                                 "description": "Module pairs whose mappings changed: the next run re-syncs "
                                                "every record of them, linked unchanged ones too (TW-07)"}}},
    "ModuleStat": {"type": "object", "required": ["module", "succeeded", "failed"],
                   "properties": {"module": {"type": "string"}, "succeeded": {"type": "integer"},
                                  "failed": {"type": "integer"},
                                  "failure_log": {**NULLABLE_STR, "description": "URL of <Module>FailureLogs.csv"}}},
    "Run": {"type": "object", "required": ["id", "integration_id", "trigger", "status", "started_at", "modules"],
            "properties": {"id": {"type": "string"}, "integration_id": {"type": "string"},
                           "trigger": {"enum": list(TRIGGERS)},
                           "status": {"enum": ["running", "succeeded", "failed", "refused"]},
                           "outcome": {"enum": ["succeeded", "partially_succeeded", "failed", "refused", "running"],
                                       "description": "status as people read it: succeeded with record failures "
                                                      "is partially_succeeded (derived, never stored)"},
                           "started_at": NULLABLE_TIME, "ended_at": NULLABLE_TIME,
                           "duration_seconds": {"type": ["number", "null"],
                                                "description": "end - start on the lab clock; null while running"},
                           "failure_reason": NULLABLE_STR,
                           "modules": {"type": "array", "items": _ref("ModuleStat")},
                           "totals": {"type": "object", "properties": {"succeeded": {"type": "integer"},
                                                                       "failed": {"type": "integer"}}}}},
    "Failure": {"type": "object", "properties": {"module": {"type": "string"}, "record_id": {"type": "string"},
                                                 "record_name": {"type": "string"}, "reason": {"type": "string"},
                                                 "at": NULLABLE_TIME}},
    "RecordPartner": {
        "type": "object", "required": ["fsm", "partner", "last_sync", "active"],
        "properties": {
            "integration_id": {"type": "string"},
            "fsm": {"type": "object", "properties": {"module": {"type": "string"}, "id": {"type": "string"},
                                                     "url": {"type": "string"}}},
            "partner": {"type": "object", "properties": {"product": {"enum": list(BOOKS_PRODUCTS)},
                                                         "entity": {"type": "string"}, "id": {"type": "string"},
                                                         "url": {"type": "string"}}},
            "active": {"type": "boolean"}, "inactive_reason": NULLABLE_STR,
            "last_sync": {"type": "object", "properties": {"at": NULLABLE_TIME, "result": NULLABLE_STR,
                                                           "run_id": NULLABLE_STR,
                                                           "fsm_modified_time": NULLABLE_TIME,
                                                           "books_modified_time": NULLABLE_TIME}}}},
    "Mail": {"type": "object", "required": ["id", "to", "subject", "body", "sent_at"],
             "properties": {"id": {"type": "string"}, "to": {"type": "array", "items": {"type": "string"}},
                            "from": {"type": "string"}, "subject": {"type": "string"}, "body": {"type": "string"},
                            "sent_at": NULLABLE_TIME, "integration_id": NULLABLE_STR, "delivered_via": NULLABLE_STR,
                            "error": NULLABLE_STR}},
}

RESPONSES = {f"E{code}": _json(_ref("Error"), text) for code, text in (
    (400, "Bad input"), (401, "The X-Support-Token header is missing"),
    (403, "Refused: a wrong support token; a re-enable (TW-15) or a taxes switch-on (TW-28) only support may "
          "do; the FSM user lacks the \"Billing Integration\" permission (permission_denied, TW-26); the FSM "
          "edition has no two-way sync (edition_not_supported, TW-27)"),
    (404, "No such integration, run or record"),
    (409, "Refused by the rules: already enabled (TW-01), FSM import in progress (TW-01/TW-08), sync in "
          "progress (TW-09), not enabled"),
    (429, "Sync Now is allowed 30 times a day (TW-05)"), (502, "Zoho (or the fakes) refused or failed"))}


def _errs(*codes: int) -> dict[str, Any]:
    return {str(c): {"$ref": f"#/components/responses/E{c}"} for c in codes}


def _op(summary: str, ok: dict[str, Any], *errors: int, rules: str = "", **extra: Any) -> dict[str, Any]:
    out = {"summary": summary, "responses": {**ok, **_errs(*errors)}, **extra}
    if rules:
        out["description"] = rules
    return out


_CHECK = {"type": "object", "required": ["status"], "properties": {
    "status": {"type": "string", "enum": ["ok", "unreachable", "failing"]}, "url": {"type": "string"},
    "error": {"type": "string"}, "ms": {"type": "number"}, "http_status": {"type": "integer"},
    "dialect": {"type": "string"}, "checked_at": {"type": "string", "format": "date-time"}}}
HEALTH = {"type": "object", "required": ["status", "service", "database", "scheduler"], "properties": {
    "status": {"type": "string", "enum": ["ok", "degraded", "error"]}, "service": {"const": "zlab-syncer"},
    "now": {"type": ["string", "null"], "format": "date-time"}, "lab_clock": {"type": "boolean"},
    "fakes_url": {"type": ["string", "null"]}, "database": _CHECK,
    "fakes": {**_CHECK, "description": "with a lab (--fakes): its /_lab/health"},
    "zoho": {**_CHECK, "description": "without a lab: Zoho Accounts"},
    "scheduler": {"type": "object", "properties": {
        "state": {"type": "string", "enum": ["active", "standby", "off"]}, "running": {"type": "boolean"},
        "interval": {"type": "number"}, "message": {"type": "string"}}},
    "mail": {"type": ["string", "null"]}}}

_HTML = {"200": {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}}

PATHS: dict[str, Any] = {
    "/health": {"get": _op("Liveness and start-up truth: the database, whether the fakes (or Zoho) answer, the "
                           "scheduler (active, standby: another syncer on this database runs it, or off)",
                           {"200": _json(HEALTH, "ok, or degraded: the fakes/Zoho do not answer"),
                            "503": _json(HEALTH, "error: the database does not answer")}, tags=["service"])},
    "/openapi.json": {"get": _op("This document", {"200": _json({"type": "object"}, "OpenAPI 3.1")}, tags=["service"])},
    "/": {"get": _op("Where things are", {"200": _json({"type": "object"}, "Index")}, tags=["service"])},
    "/docs/": {"get": _op("Swagger UI of this document (/docs redirects here)", _HTML, tags=["service"])},
    "/docs/{path}": {"get": _op("Swagger UI's files (served here, no CDN)",
                                {"200": {"description": "A file of Swagger UI (JavaScript, CSS, PNG)"}}, 404,
                                parameters=[_path_param("path", "e.g. swagger-ui-bundle.js")], tags=["service"])},
    "/dashboard": {"get": _op("The dashboard for people: integrations, latest runs with failure CSVs, mail",
                              {"200": {"description": "HTML page", "content": {"text/html": {"schema": {"type": "string"}}}}},
                              tags=["service"])},
    f"{P}/integrations": {
        "post": _op("Create an integration (FSM org <-> Books/Invoice org, OAuth credentials); with choice, the "
                    "onboarding of a new FSM org (OB-01)",
                    {"201": _json(_ref("Integration"), "Created (state: created)")}, 400, 409, 502,
                    requestBody={"required": True, "content": {"application/json": {"schema": _ref("IntegrationCreate")}}},
                    tags=["integrations"]),
        "get": _op("List integrations", {"200": _json({"type": "object", "properties": {
            "integrations": {"type": "array", "items": _ref("Integration")}}}, "Integrations")}, 400,
                   parameters=[_query("state", {"enum": list(STATES)}, "Filter"),
                               _query("fsm_org_id", {"type": "string"}, "Filter"),
                               _query("books_org_id", {"type": "string"}, "Filter")], tags=["integrations"]),
    },
    f"{P}/integrations/{{integration_id}}": {
        "parameters": [INTEGRATION_ID],
        "get": _op("Read an integration", {"200": _json(_ref("Integration"), "The integration")}, 404,
                   tags=["integrations"])},
    f"{P}/integrations/{{integration_id}}/enable": {
        "parameters": [INTEGRATION_ID],
        "post": _op("Enable sync (one-time): duplicate policy, sync type, mode, mappings",
                    {"200": _json(_ref("Integration"), "Enabled; the first automatic sync is due 3 h later")},
                    400, 403, 404, 409, 502,
                    rules="TW-01: a second enable is refused (409 already_enabled); refused while an FSM data "
                          "import is in progress (409 import_in_progress, TW-08). TW-15: a sync disabled by an "
                          "error is re-enabled only by support (403 reenable_forbidden). TW-02: clone|overwrite. "
                          "TW-26: the FSM user of the integration's token needs the \"Billing Integration\" "
                          "permission (403 permission_denied). TW-27: two-way sync needs FSM Standard edition or "
                          "above (403 edition_not_supported for Free).",
                    requestBody={"required": True, "content": {"application/json": {"schema": _ref("Enable")}}},
                    tags=["integrations"])},
    f"{P}/integrations/{{integration_id}}/settings": {
        "parameters": [INTEGRATION_ID],
        "patch": _op("Change settings: automatic sync on/off (TW-04), notification address, mappings (TW-03), "
                     "FSM taxes (TW-28)",
                     {"200": _json(_ref("Integration"), "The integration")}, 400, 403, 404,
                     rules="TW-26: needs the \"Billing Integration\" permission (403 permission_denied). TW-07: "
                           "a mapping change makes the next run sync every record of the changed module pairs. "
                           "TW-28: tax_enabled true is refused (403 support_only) when taxes were off at onboarding.",
                     requestBody={"required": True, "content": {"application/json": {"schema": _ref("Settings")}}},
                     tags=["integrations"])},
    f"{P}/integrations/{{integration_id}}/sync": {
        "parameters": [INTEGRATION_ID],
        "post": _op("Sync Now (manual, 30 a day)",
                    {"200": _json(_ref("Run"), "wait=true: the finished run"),
                     "202": _json(_ref("Run"), "Started in the background (status running); poll GET /runs/{id}")},
                    400, 403, 404, 409, 429,
                    rules="TW-26: needs the \"Billing Integration\" permission (403 permission_denied). "
                          "TW-05: the 31st Sync Now of a day (the org's time zone) answers 429 manual_sync_limit. "
                          "TW-09: 409 sync_in_progress while another sync runs. A run the preflight refuses "
                          "(FSM import, CRM-Books sync, TW-08/TW-13) is answered with status refused.",
                    parameters=[_query("wait", {"type": "boolean", "default": False}, "Run it synchronously")],
                    tags=["runs"])},
    f"{P}/integrations/{{integration_id}}/runs": {
        "parameters": [INTEGRATION_ID],
        "get": _op("The sync log, newest first (TW-25)", {"200": _json({"type": "object", "properties": {
            "runs": {"type": "array", "items": _ref("Run")}}}, "Runs")}, 400, 404,
                   parameters=[_query("limit", {"type": "integer", "default": 50}, "Page size (1-500)"),
                               _query("offset", {"type": "integer", "default": 0}, "Skip"),
                               _query("include_refused", {"type": "boolean", "default": True}, "Refused attempts too")],
                   tags=["runs"])},
    f"{P}/runs/{{run_id}}": {
        "parameters": [RUN_ID],
        "get": _op("A sync: id, start, end, status, failure reason, per-module counts (TW-25)",
                   {"200": _json(_ref("Run"), "The run")}, 404, tags=["runs"])},
    f"{P}/runs/{{run_id}}/failures": {
        "parameters": [RUN_ID],
        "get": _op("The failed records of a sync, with one reason each; the run's outcome and its failure logs",
                   {"200": _json({"type": "object", "properties": {
                       "run_id": {"type": "string"}, "status": {"type": "string"},
                       "outcome": {"enum": ["succeeded", "partially_succeeded", "failed", "refused", "running"]},
                       "failure_logs": {"type": "array", "items": {"type": "string"},
                                        "description": "URLs of the run's <Module>FailureLogs.csv"},
                       "failures": {"type": "array", "items": _ref("Failure")}}}, "Failures")}, 404,
                   parameters=[_query("module", {"type": "string"}, "Only this module")], tags=["runs"])},
    f"{P}/runs/{{run_id}}/failures/{{name}}": {
        "parameters": [RUN_ID, _path_param("name", "<Module>FailureLogs.csv (e.g. ServiceAndPartsFailureLogs.csv) "
                                                   "or the module's name")],
        "get": _op("Download <Module>FailureLogs.csv: one line per failed record (TW-25)",
                   {"200": {"description": "CSV: Record Id, Record Name, Reason, Sync Id, Time; "
                                           "Content-Disposition: attachment; X-Zlab-Run-Outcome: the run's outcome",
                            "content": {"text/csv": {"schema": {"type": "string"}}}}}, 404, tags=["runs"])},
    f"{P}/integrations/{{integration_id}}/records/{{fsm_module}}/{{fsm_id}}": {
        "parameters": [INTEGRATION_ID, _path_param("fsm_module", "FSM module API name, e.g. Service_And_Parts"),
                       _path_param("fsm_id", "FSM record id")],
        "get": _op("An FSM record's partner (id and link) and last sync (TW-24)",
                   {"200": _json(_ref("RecordPartner"), "The partner")}, 404, tags=["records"])},
    f"{P}/integrations/{{integration_id}}/books-records/{{books_entity}}/{{books_id}}": {
        "parameters": [INTEGRATION_ID, _path_param("books_entity", "items, contacts, invoices"),
                       _path_param("books_id", "Books/Invoice record id")],
        "get": _op("A Books/Invoice record's FSM partner and last sync (TW-24)",
                   {"200": _json(_ref("RecordPartner"), "The partner")}, 404, tags=["records"])},
    f"{P}/integrations/{{integration_id}}/work-orders/{{wo_id}}/invoice": {
        "parameters": [INTEGRATION_ID, _path_param("wo_id", "FSM work order id")],
        "post": _op("The invoice of an FSM work order (TW-23): its services and parts are pushed first (TW-22); "
                    "a second call answers the same invoice", {"200": _json({"type": "object"}, "The invoice")},
                    400, 404, 409, tags=["invoices"])},
    f"{P}/onboarding/offered-orgs": {
        "post": _op("The Books/Invoice orgs a new FSM org may integrate with (OB-01)",
                    {"200": _json({"type": "object", "properties": {"organizations": {"type": "array"}}},
                                  "Offered orgs")}, 400, tags=["onboarding"],
                    requestBody={"required": True, "content": {"application/json": {"schema": {
                        "type": "object", "required": ["client_id", "client_secret", "refresh_token"],
                        "properties": {k: {"type": "string"} for k in (
                            "client_id", "client_secret", "refresh_token", "signup_email", "accounts_url",
                            "api_domain")}}}}})},
    f"{P}/mail": {
        "get": _op("Mail the syncer sent, newest first", {"200": _json({"type": "object", "properties": {
            "mail": {"type": "array", "items": _ref("Mail")}}}, "Mail")}, 400,
                   parameters=[_query("integration_id", {"type": "string"}, "Filter"),
                               _query("to", {"type": "string"}, "Filter on a recipient"),
                               _query("limit", {"type": "integer", "default": 100}, "1-1000"),
                               _query("offset", {"type": "integer", "default": 0}, "Skip")], tags=["mail"])},
    f"{P}/support/integrations/{{integration_id}}/reenable": {
        "parameters": [INTEGRATION_ID, {"name": "X-Support-Token", "in": "header", "required": True,
                                        "schema": {"type": "string"},
                                        "description": "ZLAB_SUPPORT_TOKEN (generated and logged at start when unset)"}],
        "post": _op("Support only: re-enable a sync an error disabled (TW-15)",
                    {"200": _json(_ref("Integration"), "Enabled again")}, 401, 403, 404, 409, tags=["support"])},
    f"{P}/support/integrations/{{integration_id}}/enable-taxes": {
        "parameters": [INTEGRATION_ID, {"name": "X-Support-Token", "in": "header", "required": True,
                                        "schema": {"type": "string"}, "description": "ZLAB_SUPPORT_TOKEN"}],
        "post": _op("Support only: switch FSM taxes on for an integration onboarded without them (TW-28)",
                    {"200": _json(_ref("Integration"), "Taxes on in FSM")}, 401, 403, 404, 502, tags=["support"])},
    f"{P}/scheduler": {
        "get": _op("The scheduler: state (active; standby: another syncer on this database runs it; off), running, "
                   "interval, lab-clock now, due integrations",
                   {"200": _json({"type": "object", "properties": {
                       "state": {"enum": ["active", "standby", "off"]}, "running": {"type": "boolean"},
                       "interval": {"type": "number"}, "now": NULLABLE_TIME,
                       "due": {"type": "array", "items": {"type": "string"}},
                       "inflight": {"type": "array", "items": {"type": "string"}},
                       "lease": {"type": ["object", "null"], "description": "the database's scheduler lease",
                                 "properties": {"holder": NULLABLE_STR, "expires_at": NULLABLE_TIME,
                                                "mine": {"type": "boolean"}}}}}, "State")},
                   tags=["scheduler"])},
    f"{P}/scheduler/tick": {
        "post": _op("Run the automatic syncs due now on the lab clock at once (TW-04), and answer them",
                    {"200": _json({"type": "object", "properties": {"runs": {"type": "array", "items": _ref("Run")}}},
                                  "Runs started")}, tags=["scheduler"])},
}

# -- the CRM direct sync (kind "crm"; CR-01…CR-06, CR-09…CR-14; docs/crm-sync.md) ---------------------------
CRM_MAPPING_ROW = {"type": "object", "required": ["fsm_field", "crm_field"], "additionalProperties": False,
                   "properties": {"fsm_field": {"type": "string"}, "crm_field": {"type": "string"},
                                  "direction": {"enum": ["both", "fsm_to_crm", "crm_to_fsm"], "default": "both"}}}
CRM_MAPPINGS = {"type": "object", "description": "CR-03/CR-10: FSM Contacts <-> CRM Contacts, Companies <-> Accounts, "
                                                 "Services And Parts <-> Products (defaults for what is not given)",
                "propertyNames": {"enum": ["contacts", "companies", "products"]},
                "additionalProperties": {"type": "array", "items": CRM_MAPPING_ROW}}
CRM_DELETION = {"type": "object", "additionalProperties": False, "description": "CR-05, one preference per direction",
                "properties": {"fsm_deleted": {"enum": ["delete_in_crm", "keep_in_crm"], "default": "keep_in_crm"},
                               "crm_deleted": {"enum": ["delete_in_fsm", "keep_in_fsm"], "default": "keep_in_fsm"}}}
CRM_VIEWS = {"type": "object", "additionalProperties": False,
             "description": "CR-03: a CRM search criteria per module, e.g. (Account_Type:equals:Customer); null: all",
             "properties": {"Contacts": NULLABLE_STR, "Accounts": NULLABLE_STR}}
CRM_ACCESS = {"type": "object", "additionalProperties": False, "description": "CR-02 (default admins)",
              "properties": {"mode": {"enum": ["admins", "all", "profiles"]},
                             "profiles": {"type": "array", "items": {"type": "string"}}}}
CRM_USER = {"name": "X-Zlab-Crm-User", "in": "header", "required": False, "schema": {"type": "string"},
            "description": "CR-02: the CRM user acting through the extension; outside the install's access: "
                           "403 extension_access_denied"}
SCHEMAS.update({
    "CrmIntegrationCreate": {
        "type": "object", "additionalProperties": False,
        "required": ["kind", "fsm_org_id", "crm_org_id", "client_id", "client_secret", "refresh_token"],
        "properties": {"kind": {"const": "crm"}, "fsm_org_id": {"type": "string"}, "crm_org_id": {"type": "string"},
                       "client_id": {"type": "string"}, "client_secret": {"type": "string", "writeOnly": True},
                       "refresh_token": {"type": "string", "writeOnly": True}, "accounts_url": {"type": "string"},
                       "api_domain": {"type": "string"}, "name": {"type": "string"},
                       "notify_email": {"type": "string", "format": "email"},
                       "installed_by": {"type": "string", "format": "email", "description": "The CRM admin installing"},
                       "access": CRM_ACCESS}},
    "CrmEnable": {"type": "object", "additionalProperties": False, "required": ["duplicate_policy"],
                  "properties": {"duplicate_policy": {"enum": list(DUPLICATE_POLICIES)}, "deletion": CRM_DELETION,
                                 "views": CRM_VIEWS, "mappings": CRM_MAPPINGS}},
    "CrmSettings": {"type": "object", "additionalProperties": False,
                    "properties": {"deletion": CRM_DELETION, "views": CRM_VIEWS, "mappings": CRM_MAPPINGS,
                                   "access": CRM_ACCESS, "notify_email": {"type": "string"}, "name": {"type": "string"}}},
    "CrmRecordPartner": {"type": "object", "description": "CR-13: a synced record, its partner and links",
                         "properties": {"integration_id": {"type": "string"}, "fsm": {"type": "object"},
                                        "partner": {"type": "object", "properties": {
                                            "product": {"type": "string"}, "module": {"type": "string"},
                                            "id": {"type": "string"}, "url": {"type": "string"}}},
                                        "url": {"type": "string"}, "active": {"type": "boolean"},
                                        "inactive_reason": NULLABLE_STR, "last_synced_at": NULLABLE_TIME}},
})
for _path, _method, _schema in ((f"{P}/integrations", "post", "IntegrationCreate"),
                                (f"{P}/integrations/{{integration_id}}/enable", "post", "Enable"),
                                (f"{P}/integrations/{{integration_id}}/settings", "patch", "Settings")):
    _crm = {"IntegrationCreate": "CrmIntegrationCreate", "Enable": "CrmEnable", "Settings": "CrmSettings"}[_schema]
    PATHS[_path][_method]["requestBody"]["content"]["application/json"]["schema"] = {
        "oneOf": [_ref(_schema), _ref(_crm)], "description": f"Books/Invoice: {_schema}; CRM (kind crm): {_crm}"}
PATHS[f"{P}/integrations"]["post"]["description"] = (
    "kind crm (CR-01): refused with 422 edition_not_supported (FSM or CRM below Standard) or "
    "crm_integrated_with_books; errors also carry \"code\".")
PATHS[f"{P}/integrations/{{integration_id}}/enable"]["post"]["description"] += (
    " kind crm: subscribes CRM actions/watch and FSM notifications and starts the initial sync (CR-09, trigger "
    "initial, mail at its start and end; ?wait=true answers after it); 400 invalid_value names a bad mapping "
    "field or view.")
PATHS[f"{P}/integrations/{{integration_id}}/enable"]["post"]["parameters"] = [
    _query("wait", {"type": "boolean", "default": False}, "kind crm: answer after the initial sync")]
for _path in (f"{P}/integrations/{{integration_id}}/sync", f"{P}/integrations/{{integration_id}}/settings",
              f"{P}/integrations/{{integration_id}}/records/{{fsm_module}}/{{fsm_id}}"):
    for _op_ in PATHS[_path].values():
        if isinstance(_op_, dict) and "responses" in _op_:
            _op_.setdefault("parameters", []).append(CRM_USER)
PATHS.update({
    f"{P}/integrations/{{integration_id}}/partner-records/{{crm_module}}/{{crm_id}}": {
        "parameters": [INTEGRATION_ID, _path_param("crm_module", "CRM module: Contacts, Accounts, Products "
                                                                 "(Books: the entity, as books-records)"),
                       _path_param("crm_id", "The partner record's id")],
        "get": _op("CR-13 from the CRM side: the synced FSM record of a CRM record, with its FSM link",
                   {"200": _json(_ref("CrmRecordPartner"), "The record and its partner")}, 400, 403, 404,
                   parameters=[CRM_USER], tags=["records"])},
    f"{P}/notifications/{{source}}/{{integration_id}}": {
        "parameters": [_path_param("source", "crm (actions/watch callback) or fsm (FSM notification)"),
                       INTEGRATION_ID],
        "post": _op("CR-09 receiver: the channel token is checked, the notification stored durably, then 200; "
                    "a worker applies it",
                    {"200": _json({"type": "object", "properties": {"status": {"const": "stored"},
                                                                    "id": {"type": "string"}}}, "Stored")},
                    400, 403, 404, requestBody={"required": True, "content": {"application/json": {"schema": {
                        "type": "object", "description": "CRM's notification body: module, ids, operation, "
                                                         "channel_id, token, affected_fields"}}}},
                    tags=["notifications"])},
    f"{P}/integrations/{{integration_id}}/notifications": {
        "parameters": [INTEGRATION_ID],
        "get": _op("The stored notifications, newest first, with what applying them did",
                   {"200": _json({"type": "object", "properties": {"notifications": {"type": "array"}}},
                                 "Notifications")}, 400, 404,
                   parameters=[_query("state", {"enum": ["pending", "claimed", "done", "failed"]}, "Filter"),
                               _query("limit", {"type": "integer", "default": 100}, "1-1000")],
                   tags=["notifications"])},
})

# -- FSM records from CRM: conversions, links, related lists (CR-07, CR-08, CR-15, CR-16) ---------------
CONVERSION_ROW = {"type": "object", "additionalProperties": False, "required": ["crm_field", "fsm_field"],
                  "properties": {"crm_field": {"type": "string", "description": "a CRM field, or id: the CRM record "
                                                                                 "itself through its sync link"},
                                 "fsm_field": {"type": "string"}}}
CONVERSION_FROM = {"type": "object", "additionalProperties": False, "required": ["module", "id"],
                   "properties": {"module": {"enum": ["Accounts", "Contacts", "Deals", "Sales_Orders", "Products"]},
                                  "id": {"type": "string"}}}
CONVERSION_TO = {"enum": ["Requests", "Estimates", "Work_Orders", "Assets"],
                 "description": "Accounts, Contacts, Deals: Requests, Estimates, Work_Orders; Sales_Orders: those and "
                                "Assets; Products: Assets"}
SCHEMAS.update({
    "ConversionMappings": {"type": "object", "description": "CR-07: per conversion (\"Deals->Work_Orders\"), the CRM "
                                                            "fields prefilling FSM fields; defaults where not set",
                           "properties": {"mappings": {"type": "object", "additionalProperties": {
                               "type": "array", "items": CONVERSION_ROW}},
                               "customized": {"type": "array", "items": {"type": "string"}},
                               "constants": {"type": "object"}}},
    "ConversionPreview": {"type": "object", "description": "CR-07: the prefilled values before saving",
                          "properties": {"from": {"type": "object"}, "to": {"type": "string"},
                                         "values": {"type": "object"},
                                         "missing": {"type": "array", "items": {"type": "string"},
                                                     "description": "mandatory FSM fields still without a value"},
                                         "link": {"type": ["object", "null"],
                                                  "description": "the Deal or Sales Order it will be listed under"}}},
    "CrmLink": {"type": "object", "description": "CR-08: an FSM record and the Deal or Sales Order it is linked to",
                "properties": {"fsm": {"type": "object"}, "crm": {"type": "object"}, "created": {"type": "boolean"}}},
    "CrmRelated": {"type": "object", "description": "CR-15: the FSM records listed under a CRM record, each with "
                                                     "its FSM url",
                   "properties": {"crm": {"type": "object"}, "fsm": {"type": "object"},
                                  "related": {"type": "object", "additionalProperties": {"type": "array"}}}},
})
_CONV = f"{P}/integrations/{{integration_id}}"
PATHS.update({
    f"{_CONV}/conversions/mappings": {
        "parameters": [INTEGRATION_ID],
        "get": _op("CR-07: the conversion mappings", {"200": _json(_ref("ConversionMappings"), "Mappings")},
                   403, 404, parameters=[CRM_USER], tags=["conversions"]),
        "put": _op("CR-07: set conversion mappings (null: back to the default); 400 invalid_value names the field",
                   {"200": _json(_ref("ConversionMappings"), "Mappings")}, 400, 403, 404, 502,
                   parameters=[CRM_USER], tags=["conversions"],
                   requestBody={"required": True, "content": {"application/json": {"schema": {
                       "type": "object", "additionalProperties": False, "required": ["mappings"],
                       "properties": {"mappings": {"type": "object", "additionalProperties": {
                           "type": ["array", "null"], "items": CONVERSION_ROW}}}}}}})},
    f"{_CONV}/conversions/preview": {
        "parameters": [INTEGRATION_ID],
        "post": _op("CR-07: the prefilled values of FSM <to> created from CRM <from>",
                    {"200": _json(_ref("ConversionPreview"), "Preview")}, 400, 403, 404, 502,
                    parameters=[CRM_USER], tags=["conversions"],
                    requestBody={"required": True, "content": {"application/json": {"schema": {
                        "type": "object", "additionalProperties": False, "required": ["from", "to"],
                        "properties": {"from": CONVERSION_FROM, "to": CONVERSION_TO}}}}})},
    f"{_CONV}/conversions": {
        "parameters": [INTEGRATION_ID],
        "post": _op("CR-07: create FSM <to> from CRM <from>, values over the prefilled ones (from a Deal or Sales "
                    "Order: linked to it)",
                    {"201": _json({"type": "object", "properties": {"fsm": {"type": "object"},
                                                                    "values": {"type": "object"},
                                                                    "link": {"type": ["object", "null"]}}},
                                  "Created")}, 400, 403, 404, 502,
                    parameters=[CRM_USER], tags=["conversions"],
                    requestBody={"required": True, "content": {"application/json": {"schema": {
                        "type": "object", "additionalProperties": False, "required": ["from", "to"],
                        "properties": {"from": CONVERSION_FROM, "to": CONVERSION_TO,
                                       "values": {"type": "object"}}}}}})},
    f"{_CONV}/links": {
        "parameters": [INTEGRATION_ID],
        "post": _op("CR-08: link an FSM Request, Estimate or Work Order to one Deal or Sales Order (201; the same "
                    "link again 200; another one 409 already_linked)",
                    {"201": _json(_ref("CrmLink"), "Linked"), "200": _json(_ref("CrmLink"), "Already so linked")},
                    400, 403, 404, 409, 502, parameters=[CRM_USER], tags=["conversions"],
                    requestBody={"required": True, "content": {"application/json": {"schema": {
                        "type": "object", "additionalProperties": False,
                        "required": ["fsm_module", "fsm_id", "crm_module", "crm_id"],
                        "properties": {"fsm_module": {"enum": ["Requests", "Estimates", "Work_Orders"]},
                                       "fsm_id": {"type": "string"},
                                       "crm_module": {"enum": ["Deals", "Sales_Orders"]},
                                       "crm_id": {"type": "string"}}}}}})},
    f"{_CONV}/related/{{crm_module}}/{{crm_id}}": {
        "parameters": [INTEGRATION_ID, _path_param("crm_module", "Accounts, Contacts, Deals, Sales_Orders, Products"),
                       _path_param("crm_id", "The CRM record's id")],
        "get": _op("CR-15: the FSM records listed under a CRM record", {"200": _json(_ref("CrmRelated"), "Related")},
                   400, 403, 404, 502, parameters=[CRM_USER], tags=["conversions"])},
})
PATHS[f"{_CONV}/records/{{fsm_module}}/{{fsm_id}}"]["get"]["description"] = (
    "kind crm: Companies, Contacts, Services and Parts: the partner (CR-13) and crm_transactions, the CRM Deals and "
    "Sales Orders made with it (CR-16); Requests, Estimates, Work Orders, Assets: the Deal or Sales Order they are "
    "listed under (deal, sales_order, partner with its CRM url; CR-15).")


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Zoho Sync Lab - syncer API", "version": "1",
             "description": "The FSM <-> Books/Invoice syncer and the FSM <-> CRM direct sync: integrations, Sync Now, sync logs, failure "
                            "logs, record partners, sent mail, support. Errors: {\"error\": code, \"message\": text}. "
                            "Rule ids refer to RULES.md."},
    "paths": PATHS,
    "components": {"schemas": SCHEMAS, "responses": RESPONSES},
}


def openapi_document() -> dict[str, Any]:
    return deepcopy(DOCUMENT)
