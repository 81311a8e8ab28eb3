"""What CRM-style APIs (Zoho CRM, and FSM which copies it) share on the wire: the error
envelope ``{"code", "details", "message", "status": "error"}``, ``{"data": [...]}`` write bodies
with the ``trigger`` array, per-record answers and their batch status (201 / 200 / 207), and
204 for empty answers. Codes and messages: CRM v8 spec (record.json ``API_Exception`` enum),
RESEARCH-API.md.
"""

from __future__ import annotations

from typing import Any

from flask import request

from .bodies import read_json
from .context import empty_response, json_response
from .errors import ErrorCatalog, Failure, Kind, ZohoError

MAX_RECORDS_PER_WRITE = 100
CONTENT_TYPE = "application/json;charset=utf-8"


def error(status: int, code: str, message: str, details: dict[str, Any] | None = None,
          headers: dict[str, str] | None = None) -> ZohoError:
    return ZohoError(status, {"code": code, "details": details or {}, "message": message, "status": "error"}, headers)


class CrmStyleErrors(ErrorCatalog):
    """Failures of the shared chain in CRM's words; FSM uses the same catalog."""

    def render(self, failure: Failure) -> ZohoError:
        k, d = failure.kind, failure.detail
        if k == Kind.AUTH_MISSING:
            return error(401, "AUTHENTICATION_FAILURE", "Authentication failed")
        if k in (Kind.AUTH_INVALID, Kind.AUTH_EXPIRED):
            return error(401, "INVALID_TOKEN", "invalid oauth token")
        if k == Kind.SCOPE_MISMATCH:
            return error(401, "OAUTH_SCOPE_MISMATCH", "invalid oauth scope to access this URL")
        if k in (Kind.ORG_MISSING, Kind.ORG_INVALID, Kind.ORG_FORBIDDEN, Kind.ORG_INACTIVE):
            return error(401, "INVALID_TOKEN", "invalid oauth token", {"reason": "no active org for this user"})
        if k in (Kind.RATE_MINUTE, Kind.RATE_DAY, Kind.CONCURRENCY):
            return error(429, "TOO_MANY_REQUESTS", "too many requests continuously", {},
                         {"Retry-After": str(d.get("retry_after", 60))})
        if k == Kind.MALFORMED_BODY:
            # [obs] CRM answers a body it cannot read as INVALID_DATA with the message "body"
            # ({"code":"INVALID_DATA","details":{"expected_data_type":"jsonobject"},"message":"body",...},
            # quoted in a Deluge script on GitHub)
            return error(400, "INVALID_DATA", "body", {"expected_data_type": "jsonobject",
                                                        "reason": d.get("reason", "the body is not valid JSON")})
        if k == Kind.INVALID_VALUE:  # [spec] INVALID_DATA with api_name / json_path, as for any bad field value
            if d.get("in") == "body":
                return error(400, "INVALID_DATA", "invalid data", {"api_name": d.get("param"),
                                                                   "json_path": d.get("json_path"),
                                                                   "reason": d.get("reason")})
            return error(400, "INVALID_DATA", "Please check whether the input values are correct",
                         {"param_name": d.get("param"), "reason": d.get("reason")})
        if k == Kind.BODY_TOO_LARGE:  # [lab] status 413; LIMIT_EXCEEDED is in the spec's code enums
            return error(413, "LIMIT_EXCEEDED", "the request body is too large", {"limit": d.get("limit")})
        if k == Kind.URL_TOO_LONG:  # [lab] status 414, in CRM's envelope rather than a front server's page
            return error(414, "LIMIT_EXCEEDED", "the request URL is too long", {"limit": d.get("limit")})
        if k == Kind.URL_NOT_FOUND:
            return error(404, "INVALID_URL_PATTERN", "Please check if the URL trying to access is a correct one")
        if k == Kind.METHOD_NOT_ALLOWED:
            return error(405, "INVALID_REQUEST_METHOD", "The http request method type is not a valid one")
        return error(500, "INTERNAL_ERROR", "Internal server error occurred.")


def read_data(catalog: ErrorCatalog, *, max_records: int = MAX_RECORDS_PER_WRITE) -> tuple[list[Any], bool]:
    """``{"data": [...], "trigger": [...]}`` → (records, run_workflows). Zoho's errors for a
    malformed body, a missing or empty ``data`` array, and more than 100 records."""
    try:
        body = read_json()
    except Failure as f:
        raise catalog.render(f) from None
    if not isinstance(body, dict) or "data" not in body:
        raise error(400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing",
                    {"param": "data"})
    data = body["data"]
    if not isinstance(data, list) or not data:
        raise error(400, "INVALID_DATA", "invalid data", {"expected_data_type": "jsonarray", "api_name": "data"})
    if len(data) > max_records:
        raise error(400, "LIMIT_EXCEEDED", "Record count exceeded", {"limit": max_records})
    trigger = body.get("trigger")
    if trigger is not None and not isinstance(trigger, list):
        raise error(400, "INVALID_DATA", "invalid data", {"expected_data_type": "jsonarray", "api_name": "trigger"})
    # omitted trigger => workflows run; [] => none (RESEARCH-API.md, CRM records)
    runs_workflows = trigger is None or "workflow" in trigger
    return data, runs_workflows


def user_org(c, org_header: str | None = None) -> str | None:
    """CRM and FSM have no org parameter: a call addresses the user's org of that product, or
    the one named by the product's org header when the user has several."""
    from .context import lab

    wanted = request.headers.get(org_header) if org_header else None
    if wanted:
        return wanted
    if c.principal is None:
        return None
    memo, key = c.principal.memo, ("user_org", c.product.name)
    if memo is not None and key in memo:
        return memo[key]
    mine = sorted(o for o in c.principal.org_ids
                  if (org := lab().lookup_org(o)) is not None and org.product == c.product.name)
    if not mine:
        raise Failure(Kind.ORG_MISSING)
    if memo is not None:
        memo[key] = mine[0]
    return mine[0]


def success(message: str, details: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"code": "SUCCESS", "details": details, "message": message, "status": "success", **extra}


def each_record(items: list[Any], act) -> list[dict[str, Any]]:
    """A batch, record by record: ``act(index, item)`` answers the record's success entry; a
    ``RecordError`` becomes that record's error entry and the batch goes on (207 answers)."""
    from .records import RecordError

    entries: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        try:
            entries.append(act(i, item))
        except RecordError as err:
            entries.append(err.entry())
    return entries


def require_id(item: Any, index: int) -> str:
    """The ``id`` a bulk update needs in each record, or that record's MANDATORY_NOT_FOUND."""
    from .records import RecordError

    rid = item.get("id") if isinstance(item, dict) else None
    if rid is None:
        raise RecordError("MANDATORY_NOT_FOUND", "required field not found",
                          {"api_name": "id", "json_path": f"$.data[{index}].id"})
    return str(rid)


def batch_response(entries: list[dict[str, Any]], ok_status: int = 200):
    """All succeeded: ``ok_status`` (201 for inserts); none: 400; some: 207 (multi-status)."""
    good = sum(1 for e in entries if e.get("status") == "success")
    status = ok_status if good == len(entries) else 400 if good == 0 else 207
    return json_response({"data": entries}, status, content_type=CONTENT_TYPE)


def ok(body: Any, status: int = 200, headers: dict[str, str] | None = None):
    return json_response(body, status, headers, content_type=CONTENT_TYPE)


def no_content():
    return empty_response(204)


def ids_param(name: str = "ids", limit: int = MAX_RECORDS_PER_WRITE) -> list[str]:
    raw = request.args.get(name, "")
    ids = [x.strip() for x in raw.split(",") if x.strip()]
    if not ids:
        raise error(400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", {"param": name})
    if len(ids) > limit:
        raise error(400, "LIMIT_EXCEEDED", "Record count exceeded", {"limit": limit})
    return ids
