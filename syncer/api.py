"""The syncer's JSON API (``/api/v1``), documented in ``syncer/openapi.py`` (``GET /openapi.json``).

Every error answers ``{"error": code, "message": text}``: 400 bad input, 401/403 the support
token, 404 unknown ids, 409 refusals (already enabled, import or sync in progress), 429 the
31st Sync Now of a day (TW-05), 502 Zoho (or the fakes) refusing or failing. Bad input never
gets a 500: bodies over ``MAX_BODY_BYTES`` get 413, URLs over ``MAX_URL_BYTES`` 414; JSON nested
deeper than ``MAX_JSON_DEPTH``, a NUL or lone surrogate in any string, and control characters in
the path are 400 (``check_request`` and ``parse_body``; the same limits as the fakes).
"""

from __future__ import annotations

import hmac
import json
import os
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from syncer.books_sync import mapping
from syncer.clients import ZohoApiError, ZohoAuthError
from syncer.crm_sync.conversions import Conversions, conversions_of
from syncer.crm_sync.engine import DELETION_DEFAULTS
from syncer.crm_sync.mapping import BY_FSM
from syncer.outcome import duration_seconds, run_outcome
from syncer.service import (
    EditionNotSupported,
    ImportInProgress,
    PermissionDenied,
    SupportOnly,
    SyncerService,
    Unauthorized,
    check_email,
)
from syncer.store.models import (
    BOOKS_PRODUCTS,
    DUPLICATE_POLICIES,
    MODES,
    STATES,
    SYNC_TYPES,
    Integration,
    SyncRun,
)
from syncer.store.repo import (
    SCHEDULER_LEASE,
    AlreadyEnabled,
    IntegrationNotEnabled,
    InvalidValue,
    LinkConflict,
    ManualSyncLimitReached,
    NotFound,
    ReenableForbidden,
    Refused,
    StoreError,
    SyncInProgress,
    failure_csv_filename,
)

API_PREFIX = "/api/v1"
MAX_BODY_BYTES = 32 * 1024 * 1024
MAX_URL_BYTES = 8192  # RFC 9110 §4.1: recipients should take request lines of at least 8,000 octets
MAX_JSON_DEPTH = 64
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
ZOHO_ID = re.compile(r"[0-9]{1,30}")  # Zoho record ids are numeric strings
STATUS_OF: tuple[tuple[type[Exception], int], ...] = (
    (NotFound, 404), (InvalidValue, 400), (ManualSyncLimitReached, 429), (ReenableForbidden, 403),
    (PermissionDenied, 403), (EditionNotSupported, 403), (SupportOnly, 403),
    (AlreadyEnabled, 409), (SyncInProgress, 409), (IntegrationNotEnabled, 409), (ImportInProgress, 409),
    (LinkConflict, 409), (Refused, 409),
)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def error_response(status: int, code: str, message: str, **extra: Any) -> Response:
    resp = jsonify({"error": code, "message": message, **extra})
    resp.status_code = status
    return resp


def service() -> SyncerService:
    return current_app.extensions["zlab_syncer"]


# -- JSON views -------------------------------------------------------------------------------------
def iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def integration_json(integ: Integration, svc: SyncerService) -> dict[str, Any]:
    if is_crm(integ):
        return crm_integration_json(integ, svc)
    mappings: dict[str, list[dict[str, Any]]] = {}
    for m in svc.repo.get_mappings(integ.id):
        mappings.setdefault(m.module, []).append(mapping.api_row(m))
    return {
        "id": integ.id, "name": integ.name, "fsm_org_id": integ.fsm_org_id, "books_product": integ.partner_product,
        "books_org_id": integ.partner_org_id, "kind": integ.kind, "partner_product": integ.partner_product,
        "partner_org_id": integ.partner_org_id, "client_id": integ.client_id, "accounts_url": integ.accounts_url,
        "api_domain": integ.api_domain or None, "state": integ.state, "disabled_reason": integ.disabled_reason,
        "disabled_by_error": integ.disabled_by_error, "mode": integ.mode, "sync_type": integ.sync_type,
        "duplicate_policy": integ.duplicate_policy, "auto_sync": integ.auto_sync, "time_zone": integ.time_zone,
        "notify_email": integ.settings.get("notify_email"), "manual_sync_limit": integ.manual_sync_limit,
        "manual_syncs_today": svc.repo.manual_syncs_today(integ.id), "mapping_version": integ.mapping_version,
        "mappings": mappings, "next_auto_sync_at": iso(integ.next_auto_sync_at),
        "last_run_started_at": iso(integ.last_run_started_at), "last_run_ended_at": iso(integ.last_run_ended_at),
        "enabled_at": iso(integ.enabled_at), "created_at": iso(integ.created_at), "updated_at": iso(integ.updated_at),
        "sync_running": svc.repo.is_sync_running(integ.id),
        "taxes_at_onboarding": integ.settings.get("taxes_at_onboarding"),
        "remapped_modules": integ.settings.get("remapped_modules") or [],
    }


def run_json(run: SyncRun, svc: SyncerService) -> dict[str, Any]:
    stats = svc.repo.run_stats(run.id)
    failed_modules = {f.module for f in svc.repo.record_failures(run.id)}
    modules = []
    for s in stats:
        modules.append({"module": s.module, "succeeded": s.succeeded, "failed": s.failed,
                        "failure_log": _failure_url(run.id, s.module) if (s.failed or s.module in failed_modules)
                        else None})
    for module in sorted(failed_modules - {s.module for s in stats}):
        modules.append({"module": module, "succeeded": 0, "failed": 0, "failure_log": _failure_url(run.id, module)})
    failed = sum(m["failed"] for m in modules)
    return {
        "id": run.id, "integration_id": run.integration_id, "trigger": run.trigger, "status": run.status,
        # derived, never stored: "succeeded" with record failures is "partially_succeeded" (syncer/outcome.py)
        "outcome": run_outcome(run.status, failed or len(failed_modules)),
        "started_at": iso(run.started_at), "ended_at": iso(run.ended_at),
        "duration_seconds": duration_seconds(run.started_at, run.ended_at), "failure_reason": run.failure_reason,
        "modules": modules,
        "totals": {"succeeded": sum(m["succeeded"] for m in modules), "failed": failed},
    }


def _failure_url(run_id: str, module: str) -> str:
    return f"{API_PREFIX}/runs/{run_id}/failures/{failure_csv_filename(module)}"


# -- input --------------------------------------------------------------------------------------------
def body() -> dict[str, Any]:
    raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH: werkzeug's 413
    if not raw:
        return {}
    data = parse_body(raw)
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "The body must be a JSON object")
    return data


def parse_body(raw: bytes) -> Any:
    """The JSON document, or ``ApiError`` 400: not JSON, too deep, or a string no store keeps."""
    try:
        data = json.loads(raw, parse_constant=_not_json, parse_float=_finite_float)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(400, "invalid_json", "The body must be a JSON object") from None
    todo = [(data, 1, "body")]
    while todo:  # one pass over the containers and strings: bodies here are small
        node, depth, where = todo.pop()
        if depth > MAX_JSON_DEPTH:
            raise ApiError(400, "invalid_json", f"The body nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(node, str):
            if bad_text(node):
                raise ApiError(400, "invalid_value", f"{where} {bad_text(node)}")
        elif isinstance(node, dict):
            for key, value in node.items():
                if bad_text(key):
                    raise ApiError(400, "invalid_value", f"a key of {where} {bad_text(key)}")
                todo.append((value, depth + 1, f"{where}.{key}"))
        elif isinstance(node, list):
            todo.extend((v, depth + 1, f"{where}[{i}]") for i, v in enumerate(node))
    return data


def _not_json(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity (RFC 8259 §6)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text} is out of range")
    return value


def bad_text(value: str) -> str | None:
    """Why a string cannot be stored or sent on (a NUL, a lone surrogate), or None."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone UTF-16 surrogate"
    return None


def check_lab_token() -> None:
    """A guarded stack (``ZLAB_LAB_TOKEN`` set, as in compose): every API call presents the lab
    token as ``X-Zlab-Lab-Token`` (or ``Authorization: Bearer``), else 401. Not the notification
    receivers: Zoho (or the fakes) call them as Zoho does, without our token, and each one checks
    its channel's own token instead (CRM ``actions/watch`` and FSM notifications carry it)."""
    expected = os.environ.get("ZLAB_LAB_TOKEN", "")
    if not expected or request.path.startswith(f"{API_PREFIX}/notifications/"):
        return
    scheme, _, rest = request.headers.get("Authorization", "").partition(" ")
    given = request.headers.get("X-Zlab-Lab-Token") or (rest.strip() if scheme.lower() == "bearer" else "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(401, "unauthorized", "the syncer API needs the lab token (X-Zlab-Lab-Token: $ZLAB_LAB_TOKEN)")


def check_request() -> None:
    """Before any view: the URL's length, control characters in path parameters (they end up in
    Zoho URLs and database keys) and NUL in query parameters."""
    size = len(request.environ.get("PATH_INFO", "")) + len(request.environ.get("QUERY_STRING", ""))
    if size > MAX_URL_BYTES:
        raise ApiError(414, "uri_too_long", f"The URL is longer than {MAX_URL_BYTES} bytes")
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and CONTROL_CHARS.search(value):
            raise ApiError(400, "invalid_value", f"{name} contains a control character")
    if "%00" in request.environ.get("QUERY_STRING", ""):
        for name, value in request.args.items(multi=True):
            if bad_text(name) or bad_text(value):
                raise ApiError(400, "invalid_value", f"{name} contains a NUL character")


def zoho_id(value: str, what: str) -> str:
    if not ZOHO_ID.fullmatch(value):
        raise ApiError(400, "invalid_value", f"{what} must be a Zoho record id (digits)")
    return value


def only(data: dict[str, Any], allowed: Iterable[str]) -> None:
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ApiError(400, "invalid_value", f"Unknown field(s): {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def text(data: dict[str, Any], key: str, *, required: bool = False, choices: Iterable[str] | None = None,
         max_len: int = 500) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise ApiError(400, "missing_field", f"{key} is required")
        return None
    if isinstance(value, int) and not isinstance(value, bool) and key.endswith("_id"):
        value = str(value)
    if not isinstance(value, str) or (required and not value.strip()):
        raise ApiError(400, "invalid_value", f"{key} must be a non-empty string")
    if len(value) > max_len:
        raise ApiError(400, "invalid_value", f"{key} is longer than {max_len} characters")
    if choices is not None:
        choices = tuple(choices)
        if value not in choices:
            raise ApiError(400, "invalid_value", f"{key} must be one of {', '.join(choices)}; got {value!r}")
    return value


def flag(data: dict[str, Any], key: str) -> bool | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ApiError(400, "invalid_value", f"{key} must be true or false")
    return value


def query_flag(name: str, default: bool = False) -> bool:
    raw = request.args.get(name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on", ""):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ApiError(400, "invalid_value", f"{name} must be true or false")


def query_int(name: str, default: int, lo: int, hi: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_value", f"{name} must be a whole number") from None
    if not lo <= value <= hi:
        raise ApiError(400, "invalid_value", f"{name} must be between {lo} and {hi}")
    return value


# -- the blueprint ------------------------------------------------------------------------------------
def create_blueprint() -> Blueprint:
    bp = Blueprint("syncer_api", __name__, url_prefix=API_PREFIX)
    bp.before_request(check_lab_token)
    bp.before_request(check_request)

    @bp.post("/integrations")
    def create_integration():
        data = body()
        kind = text(data, "kind", choices=("books", "crm"))
        if kind == "crm":
            return create_crm_integration(data)
        data.pop("kind", None)
        only(data, ("fsm_org_id", "books_org_id", "books_product", "client_id", "client_secret", "refresh_token",
                    "accounts_url", "api_domain", "name", "notify_email", "time_zone", "sync_type", "mode", "verify",
                    "new_org", "choice", "signup_email"))
        svc = service()
        for url_key in ("accounts_url", "api_domain"):
            url = text(data, url_key)
            if url is not None and not url.startswith(("http://", "https://")):
                raise ApiError(400, "invalid_value", f"{url_key} must be an http(s) URL")
        verify = flag(data, "verify")
        integ = svc.create_integration(
            fsm_org_id=text(data, "fsm_org_id", required=True, max_len=40),
            partner_org_id=text(data, "books_org_id", required=True, max_len=40),
            partner_product=text(data, "books_product", choices=BOOKS_PRODUCTS) or "books",
            client_id=text(data, "client_id", required=True), client_secret=text(data, "client_secret", required=True),
            refresh_token=text(data, "refresh_token", required=True), accounts_url=text(data, "accounts_url"),
            api_domain=text(data, "api_domain"), name=text(data, "name", max_len=200) or "",
            notify_email=text(data, "notify_email"), time_zone=text(data, "time_zone", max_len=64),
            sync_type=text(data, "sync_type", choices=SYNC_TYPES), mode=text(data, "mode", choices=MODES),
            verify=True if verify is None else verify, new_org=bool(flag(data, "new_org")),
            choice=text(data, "choice", choices=("new_invoice", "existing_invoice", "existing_books")),
            signup_email=text(data, "signup_email"))
        resp = jsonify(integration_json(integ, svc))
        resp.status_code = 201
        resp.headers["Location"] = f"{API_PREFIX}/integrations/{integ.id}"
        return resp

    @bp.get("/integrations")
    def list_integrations():
        svc = service()
        state = request.args.get("state")
        if state is not None and state not in STATES:
            raise ApiError(400, "invalid_value", f"state must be one of {', '.join(STATES)}")
        rows = svc.repo.list_integrations(state=state, fsm_org_id=request.args.get("fsm_org_id"),
                                          partner_org_id=request.args.get("books_org_id"))
        return jsonify({"integrations": [integration_json(i, svc) for i in rows]})

    @bp.get("/integrations/<integration_id>")
    def get_integration(integration_id: str):
        svc = service()
        return jsonify(integration_json(svc.repo.get_integration(integration_id), svc))

    @bp.post("/integrations/<integration_id>/enable")
    def enable(integration_id: str):
        data = body()
        if is_crm(service().repo.get_integration(integration_id)):
            return crm_enable(integration_id, data)
        only(data, ("duplicate_policy", "sync_type", "mode", "mappings"))
        svc = service()
        svc.repo.get_integration(integration_id)  # 404 before 400
        integ = svc.enable(integration_id,
                           duplicate_policy=text(data, "duplicate_policy", required=True, choices=DUPLICATE_POLICIES),
                           sync_type=text(data, "sync_type", choices=SYNC_TYPES), mode=text(data, "mode", choices=MODES),
                           mappings=data.get("mappings"))
        return jsonify(integration_json(integ, svc))

    @bp.patch("/integrations/<integration_id>/settings")
    def settings(integration_id: str):
        data = body()
        if is_crm(service().repo.get_integration(integration_id)):
            return crm_settings(integration_id, data)
        only(data, ("auto_sync", "notify_email", "mappings", "name", "time_zone", "tax_enabled"))
        svc = service()
        svc.repo.get_integration(integration_id)
        integ = svc.update_settings(integration_id, auto_sync=flag(data, "auto_sync"),
                                    notify_email=text(data, "notify_email"), mappings=data.get("mappings"),
                                    name=text(data, "name", max_len=200), time_zone=text(data, "time_zone", max_len=64),
                                    tax_enabled=flag(data, "tax_enabled"))
        return jsonify(integration_json(integ, svc))

    @bp.post("/integrations/<integration_id>/sync")
    def sync_now(integration_id: str):
        svc = service()
        wait = query_flag("wait")
        integ = svc.repo.get_integration(integration_id)
        if is_crm(integ):
            svc.crm.check_access(integ, crm_user())  # CR-02
            run = svc.crm.sync_now(integration_id, wait=wait)
        else:
            run = svc.sync_now(integration_id, wait=wait)
        resp = jsonify(run_json(run, svc))
        resp.status_code = 200 if wait else 202
        resp.headers["Location"] = f"{API_PREFIX}/runs/{run.id}"
        return resp

    @bp.get("/integrations/<integration_id>/runs")
    def runs(integration_id: str):
        svc = service()
        svc.repo.get_integration(integration_id)
        rows = svc.repo.list_runs(integration_id, limit=query_int("limit", 50, 1, 500),
                                  offset=query_int("offset", 0, 0, 10**9),
                                  include_refused=query_flag("include_refused", True))
        return jsonify({"runs": [run_json(r, svc) for r in rows]})

    @bp.get("/runs/<run_id>")
    def get_run(run_id: str):
        svc = service()
        return jsonify(run_json(svc.repo.get_run(run_id), svc))

    @bp.get("/runs/<run_id>/failures")
    def failures(run_id: str):
        svc = service()
        run = run_json(svc.repo.get_run(run_id), svc)
        module = request.args.get("module")
        return jsonify({"run_id": run_id, "status": run["status"], "outcome": run["outcome"],
                        "failure_logs": [m["failure_log"] for m in run["modules"] if m["failure_log"]],
                        "failures": [
            {"module": f.module, "record_id": f.record_id, "record_name": f.record_name, "reason": f.reason,
             "at": iso(f.at)} for f in svc.repo.record_failures(run_id, module)]})

    @bp.get("/runs/<run_id>/failures/<name>")
    def failure_csv(run_id: str, name: str):
        svc = service()
        filename, csv_text = svc.failure_csv(run_id, name)
        # the CSV's columns are Zoho's; the run's outcome rides in a header (partially_succeeded, ...)
        return Response(csv_text, mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                 "X-Zlab-Run-Outcome": run_json(svc.repo.get_run(run_id), svc)["outcome"]})

    @bp.get("/integrations/<integration_id>/records/<fsm_module>/<fsm_id>")
    def record(integration_id: str, fsm_module: str, fsm_id: str):
        svc = service()
        integ = svc.repo.get_integration(integration_id)
        if is_crm(integ):
            svc.crm.check_access(integ, crm_user())  # CR-02
            # synced modules: the partner (CR-13) and its CRM Deals / Sales Orders (CR-16); Requests,
            # Estimates, Work Orders, Assets: the Deal or Sales Order they are listed under (CR-15)
            view = conversions_of(svc.crm).record(integration_id, fsm_module, zoho_id(fsm_id, "fsm_id"))
            return jsonify(crm_record_json(svc, view) if fsm_module in BY_FSM else view)
        return jsonify(link_json(svc, *svc.record(integration_id, fsm_module, fsm_id)))

    @bp.post("/integrations/<integration_id>/work-orders/<wo_id>/invoice")
    def work_order_invoice(integration_id: str, wo_id: str):
        """TW-23: generate (or answer the existing) invoice of a work order."""
        return jsonify({"invoice": service().invoice_for_work_order(integration_id, zoho_id(wo_id, "wo_id"))})

    @bp.post("/onboarding/offered-orgs")
    def onboarding_offered_orgs():
        """OB-01: the orgs a new FSM org may integrate with, for the signup account's OAuth client."""
        data = body() if request.get_data(cache=True) else None
        if not isinstance(data, dict):
            raise ApiError(400, "invalid_json", "the body must be a JSON object")
        only(data, ("client_id", "client_secret", "refresh_token", "signup_email", "accounts_url", "api_domain"))
        orgs = service().offered_orgs(client_id=text(data, "client_id", required=True),
                                      client_secret=text(data, "client_secret", required=True),
                                      refresh_token=text(data, "refresh_token", required=True),
                                      signup_email=text(data, "signup_email"),
                                      accounts_url=text(data, "accounts_url"), api_domain=text(data, "api_domain"))
        return jsonify({"organizations": orgs})

    @bp.get("/integrations/<integration_id>/books-records/<books_entity>/<books_id>")
    def books_record(integration_id: str, books_entity: str, books_id: str):
        svc = service()
        return jsonify(link_json(svc, *svc.record_by_books(integration_id, books_entity, books_id)))

    @bp.get("/integrations/<integration_id>/partner-records/<crm_module>/<crm_id>")
    def partner_record(integration_id: str, crm_module: str, crm_id: str):
        """CR-13 from the CRM side: the synced FSM record of a CRM record, with its FSM link."""
        svc = service()
        integ = svc.repo.get_integration(integration_id)
        if not is_crm(integ):
            return jsonify(link_json(svc, *svc.record_by_books(integration_id, crm_module, crm_id)))
        svc.crm.check_access(integ, crm_user())  # CR-02
        return jsonify(crm_record_json(svc, svc.crm.partner_record(integration_id, crm_module,
                                                                   zoho_id(crm_id, "crm_id")), from_crm=True))

    # -- FSM records from CRM: conversions, links, related lists (CR-07, CR-08, CR-15, CR-16) ----------
    @bp.get("/integrations/<integration_id>/conversions/mappings")
    def conversion_mappings(integration_id: str):
        """CR-07: the conversion mappings ("<CRM module>-><FSM module>"), defaults where not set."""
        return jsonify(crm_conversions(integration_id).mappings(integration_id))

    @bp.put("/integrations/<integration_id>/conversions/mappings")
    def conversion_mappings_set(integration_id: str):
        data = body()
        only(data, ("mappings",))
        return jsonify(crm_conversions(integration_id).set_mappings(integration_id, data.get("mappings")))

    @bp.post("/integrations/<integration_id>/conversions/preview")
    def conversion_preview(integration_id: str):
        """CR-07: the prefilled values of an FSM record to create from a CRM record."""
        data = body()
        only(data, ("from", "to"))
        source = conversion_source(data)
        return jsonify(crm_conversions(integration_id).preview(integration_id, source["module"], source["id"],
                                                               data.get("to")))

    @bp.post("/integrations/<integration_id>/conversions")
    def conversion_create(integration_id: str):
        """CR-07: create the FSM record from the CRM record, the caller's values over the prefilled."""
        data = body()
        only(data, ("from", "to", "values"))
        source = conversion_source(data)
        out = crm_conversions(integration_id).create(integration_id, source["module"], source["id"], data.get("to"),
                                                     data.get("values"))
        resp = jsonify(out)
        resp.status_code = 201
        return resp

    @bp.post("/integrations/<integration_id>/links")
    def crm_link(integration_id: str):
        """CR-08: link an FSM Request, Estimate or Work Order to one Deal or Sales Order (409
        already_linked for a second one)."""
        data = body()
        only(data, ("fsm_module", "fsm_id", "crm_module", "crm_id"))
        out = crm_conversions(integration_id).link(
            integration_id, text(data, "fsm_module", required=True), text(data, "fsm_id", required=True),
            text(data, "crm_module", required=True), text(data, "crm_id", required=True))
        resp = jsonify(out)
        resp.status_code = 201 if out.get("created") else 200
        return resp

    @bp.get("/integrations/<integration_id>/related/<crm_module>/<crm_id>")
    def crm_related(integration_id: str, crm_module: str, crm_id: str):
        """CR-15: the FSM records listed under a CRM record, with their FSM links."""
        return jsonify(crm_conversions(integration_id).related(integration_id, crm_module, zoho_id(crm_id, "crm_id")))

    @bp.post("/notifications/<source>/<integration_id>")
    def notification(source: str, integration_id: str):
        """CR-09: a CRM actions/watch callback or an FSM notification, stored before the 200."""
        if source not in ("crm", "fsm"):
            raise ApiError(404, "not_found", "notifications come from crm or fsm")
        svc = service()
        item = svc.receive(source, integration_id, body())
        return jsonify({"status": "stored", "id": item.id})

    @bp.get("/integrations/<integration_id>/notifications")
    def notifications(integration_id: str):
        """The integration's stored notifications (newest first): state pending|claimed|done|failed."""
        svc = service()
        svc.repo.get_integration(integration_id)
        state = request.args.get("state")
        if state is not None and state not in ("pending", "claimed", "done", "failed"):
            raise ApiError(400, "invalid_value", "state must be pending, claimed, done or failed")
        return jsonify({"notifications": [
            {"id": i.id, "source": i.source, "state": i.state, "received_at": iso(i.received_at),
             "applied_at": iso(i.applied_at), "attempts": i.attempts, "error": i.error, "payload": i.payload,
             "result": i.result} for i in svc.inbox.items(integration_id, state=state,
                                                          limit=query_int("limit", 100, 1, 1000))]})

    @bp.get("/mail")
    def mail():
        svc = service()
        rows = svc.repo.list_mail(integration_id=request.args.get("integration_id"),
                                  limit=query_int("limit", 100, 1, 1000), offset=query_int("offset", 0, 0, 10**9))
        to = request.args.get("to")
        if to:
            rows = [m for m in rows if to.lower() in (a.strip().lower() for a in m.to.split(","))]
        return jsonify({"mail": [
            {"id": m.id, "to": [a.strip() for a in m.to.split(",") if a.strip()], "from": m.sender,
             "subject": m.subject, "body": m.body, "sent_at": iso(m.sent_at), "integration_id": m.integration_id,
             "delivered_via": m.delivered_via or None, "error": m.error} for m in rows]})

    @bp.post("/support/integrations/<integration_id>/reenable")
    def support_reenable(integration_id: str):
        svc = service()
        integ = svc.support_reenable(integration_id, request.headers.get("X-Support-Token"))
        return jsonify(integration_json(integ, svc))

    @bp.post("/support/integrations/<integration_id>/enable-taxes")
    def support_enable_taxes(integration_id: str):
        """TW-28: support switches FSM taxes on for an integration onboarded without them."""
        svc = service()
        integ = svc.support_enable_taxes(integration_id, request.headers.get("X-Support-Token"))
        return jsonify(integration_json(integ, svc))

    @bp.post("/scheduler/tick")
    def scheduler_tick():
        """Run the automatic syncs due now on the lab clock, at once (what the scheduler's next
        tick would do), and answer them."""
        svc = service()
        return jsonify({"runs": [run_json(r, svc) for r in svc.scheduler.tick(wait=True)]})

    @bp.get("/scheduler")
    def scheduler_state():
        svc = service()
        lease = svc.repo.lease_state(SCHEDULER_LEASE)
        return jsonify({"state": svc.scheduler.state, "running": svc.scheduler.running,
                        "interval": svc.scheduler.interval, "now": iso(svc.repo.now()), "due": svc.scheduler.due(),
                        "inflight": sorted(svc.scheduler.inflight),
                        "lease": None if lease is None or svc.repo.lease_expired(lease) else {
                            "holder": lease.holder, "expires_at": iso(lease.expires_at),
                            "mine": lease.holder == svc.scheduler.holder}})

    return bp


# -- the CRM direct sync (kind "crm", docs/crm-sync.md) -----------------------------------------------------
CRM_USER_HEADER = "X-Zlab-Crm-User"  # CR-02: the CRM user acting through the extension


def is_crm(integ: Integration) -> bool:
    return getattr(integ, "kind", "books") == "crm"


def crm_user() -> str | None:
    value = request.headers.get(CRM_USER_HEADER)
    return value.strip() if value and value.strip() else None


def crm_conversions(integration_id: str) -> Conversions:
    """The CRM sync's record actions, for an acting user inside the install's access (CR-02)."""
    svc = service()
    integ = svc.repo.get_integration(integration_id)
    if not is_crm(integ):
        raise ApiError(404, "not_found", f"Integration {integration_id} is not a direct sync with Zoho CRM")
    svc.crm.check_access(integ, crm_user())
    return conversions_of(svc.crm)


def conversion_source(data: dict[str, Any]) -> dict[str, str]:
    source = data.get("from")
    if not isinstance(source, dict) or set(source) - {"module", "id"}:
        raise ApiError(400, "invalid_value", 'from must be {"module": "<CRM module>", "id": "<record id>"}')
    return {"module": text(source, "module", required=True), "id": zoho_id(text(source, "id", required=True) or "",
                                                                          "from.id")}


def crm_integration_json(integ: Integration, svc: SyncerService) -> dict[str, Any]:
    settings = integ.settings or {}
    channels = settings.get("channels") or {}
    return {
        "id": integ.id, "kind": "crm", "name": integ.name, "fsm_org_id": integ.fsm_org_id,
        "partner_product": "crm", "partner_org_id": integ.partner_org_id, "client_id": integ.client_id,
        "accounts_url": integ.accounts_url, "api_domain": integ.api_domain or None, "state": integ.state,
        "disabled_reason": integ.disabled_reason, "duplicate_policy": integ.duplicate_policy,
        "notify_email": settings.get("notify_email"), "installed_by": settings.get("installed_by"),
        "access": settings.get("access") or {"mode": "admins", "profiles": []},
        "deletion": {**DELETION_DEFAULTS, **(settings.get("deletion") or {})},
        "views": {m: (settings.get("views") or {}).get(m) for m in ("Contacts", "Accounts")},
        "mappings": {k: [{"fsm_field": r["fsm_field"], "crm_field": r["crm_field"], "direction": r["direction"]}
                         for r in rows] for k, rows in svc.crm.mappings(integ).items()},
        "channels": {"channel_id": channels.get("channel_id"), "expires_at": channels.get("expires_at"),
                     "notify_base": channels.get("notify_base")} if channels else None,
        "next_daily_log_at": settings.get("next_daily_at"), "next_reconcile_at": settings.get("next_reconcile_at"),
        "last_run_started_at": iso(integ.last_run_started_at), "last_run_ended_at": iso(integ.last_run_ended_at),
        "enabled_at": iso(integ.enabled_at), "created_at": iso(integ.created_at), "updated_at": iso(integ.updated_at),
        "sync_running": svc.repo.is_sync_running(integ.id),
    }


def create_crm_integration(data: dict[str, Any]) -> Response:
    only(data, ("kind", "fsm_org_id", "crm_org_id", "client_id", "client_secret", "refresh_token", "accounts_url",
                "api_domain", "name", "notify_email", "installed_by", "access"))
    svc = service()
    for url_key in ("accounts_url", "api_domain"):
        url = text(data, url_key)
        if url is not None and not url.startswith(("http://", "https://")):
            raise ApiError(400, "invalid_value", f"{url_key} must be an http(s) URL")
    notify = text(data, "notify_email")
    if notify is not None:
        check_email(notify)
    installed_by = text(data, "installed_by")
    if installed_by is not None:
        check_email(installed_by)
    svc.check_zoho_urls(text(data, "accounts_url"), text(data, "api_domain"))  # credentials go to Zoho only
    integ = svc.crm.create(
        fsm_org_id=text(data, "fsm_org_id", required=True, max_len=40),
        crm_org_id=text(data, "crm_org_id", required=True, max_len=40),
        client_id=text(data, "client_id", required=True), client_secret=text(data, "client_secret", required=True),
        refresh_token=text(data, "refresh_token", required=True), accounts_url=text(data, "accounts_url"),
        api_domain=text(data, "api_domain"), name=text(data, "name", max_len=200) or "", notify_email=notify,
        installed_by=installed_by, access=data.get("access"))
    resp = jsonify(integration_json(integ, svc))
    resp.status_code = 201
    resp.headers["Location"] = f"{API_PREFIX}/integrations/{integ.id}"
    return resp


def crm_enable(integration_id: str, data: dict[str, Any]) -> Response:
    only(data, ("duplicate_policy", "deletion", "views", "mappings"))
    svc = service()
    base = svc.config_public_url() or request.host_url.rstrip("/")
    integ = svc.crm.enable(integration_id,
                           duplicate_policy=text(data, "duplicate_policy", required=True, choices=DUPLICATE_POLICIES),
                           deletion=data.get("deletion"), views=data.get("views"), mappings=data.get("mappings"),
                           notify_base=base, wait=query_flag("wait"))
    return jsonify(integration_json(integ, svc))


def crm_settings(integration_id: str, data: dict[str, Any]) -> Response:
    only(data, ("deletion", "views", "mappings", "access", "notify_email", "name"))
    svc = service()
    integ = svc.repo.get_integration(integration_id)
    svc.crm.check_access(integ, crm_user())  # CR-02
    notify = text(data, "notify_email")
    if notify is not None:
        check_email(notify)
    integ = svc.crm.update_settings(integration_id, deletion=data.get("deletion"), views=data.get("views"),
                                    mappings=data.get("mappings"), access=data.get("access"), notify_email=notify,
                                    name=text(data, "name", max_len=200))
    return jsonify(integration_json(integ, svc))


def crm_record_json(svc: SyncerService, view: dict[str, Any], *, from_crm: bool = False) -> dict[str, Any]:
    """CR-13: the record, its partner and a link to it in the other app."""
    integ = svc.repo.get_integration(view["integration_id"])
    fsm, crm = svc.crm.clients(integ)
    out = dict(view)
    try:
        out["fsm"] = {**view["fsm"], "record": fsm.get_record(view["fsm"]["module"], view["fsm"]["id"])}
        if from_crm:
            found = crm.get_records(view["partner"]["module"], [view["partner"]["id"]],
                                    ["Modified_Time", "Created_Time"])
            out["crm"] = {"module": view["partner"]["module"], "id": view["partner"]["id"],
                          "record": found[0] if found else None}
            out["partner"] = {"product": "fsm", "module": view["fsm"]["module"], "id": view["fsm"]["id"],
                              "url": view["fsm"]["url"]}
    except ZohoApiError:
        pass
    return out


def link_json(svc: SyncerService, integ: Integration, link) -> dict[str, Any]:
    return {
        "integration_id": integ.id,
        "fsm": {"module": link.fsm_module, "id": link.fsm_id, "url": svc.fsm_url(integ, link.fsm_module, link.fsm_id)},
        "partner": {"product": integ.partner_product, "entity": link.partner_entity, "id": link.partner_id,
                    "url": svc.books_url(integ, link.partner_entity, link.partner_id)},
        "active": link.active, "inactive_reason": link.inactive_reason,
        "last_sync": {"at": iso(link.last_synced_at), "result": link.last_result, "run_id": link.last_run_id,
                      "fsm_modified_time": iso(link.fsm_modified_time),
                      "books_modified_time": iso(link.partner_modified_time)},
    }


def register_errors(app) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, **exc.extra)

    @app.errorhandler(Unauthorized)
    def _unauthorized(exc: Unauthorized):
        return error_response(exc.status, "unauthorized" if exc.status == 401 else "forbidden", str(exc))

    @app.errorhandler(StoreError)
    def _store_error(exc: StoreError):
        status = getattr(exc, "http_status", None) or next((s for cls, s in STATUS_OF if isinstance(exc, cls)), 409)
        if hasattr(exc, "http_status"):  # the CRM sync's refusals also carry "code" (docs/crm-sync.md)
            resp = jsonify({"error": exc.code, "code": exc.code, "message": str(exc)})
            resp.status_code = status
            return resp
        return error_response(status, exc.code, str(exc))

    @app.errorhandler(ZohoAuthError)
    def _zoho_auth(exc: ZohoAuthError):
        return error_response(400 if request.endpoint == "syncer_api.create_integration" else 502,
                              "invalid_credentials", f"Zoho Accounts refused the credentials: {exc.message or exc.code}")

    @app.errorhandler(ZohoApiError)
    def _zoho(exc: ZohoApiError):
        return error_response(502, "upstream_error", f"Zoho {exc.product} answered {exc.status}: {exc.message}",
                              upstream={"product": exc.product, "status": exc.status, "code": exc.code})

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, code, exc.description or exc.name or "error")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        current_app.logger.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", f"{type(exc).__name__}: {exc}")
