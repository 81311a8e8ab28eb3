"""Zoho CRM errors: ``{"code", "details", "message", "status": "error"}`` with an HTTP status.

Where a code comes from: [spec] the CRM v8 OpenAPI (record.json ``API_Exception`` enums,
coql.json, record_count.json, notifications.json); [doc] RESEARCH-API.md or Zoho's docs;
[obs] seen in integrators' code (e.g. DISCRETE_PAGINATION_LIMIT_EXCEEDED "You can only get the
first 2000 records without using page_token param."); [lab] our choice where nothing public says.
The chain's failures (auth, limits, malformed bodies, unknown URLs) render through
``fakes.core.crm_style.CrmStyleErrors``.
"""

from __future__ import annotations

from typing import Any

from fakes.core.crm_style import CrmStyleErrors, error
from fakes.core.errors import ZohoError
from fakes.core.records import RecordError


class CrmErrors(CrmStyleErrors):
    """CRM keeps the shared CRM-style catalog (INVALID_TOKEN, OAUTH_SCOPE_MISMATCH,
    TOO_MANY_REQUESTS, INVALID_URL_PATTERN, INVALID_REQUEST_METHOD, INTERNAL_ERROR)."""


def record_error(err: RecordError) -> ZohoError:
    """A RecordError raised outside a batch (reads, searches): Zoho's envelope with its status."""
    return error(err.status, err.code, err.message, err.details)


def invalid_module(index: int = 0) -> ZohoError:  # [spec] record.json / record_count.json
    return error(400, "INVALID_MODULE", "the module name given seems to be invalid", {"resource_path_index": index})


def required_param(name: str) -> ZohoError:  # [spec] message; [doc] REQUIRED_PARAM_MISSING
    return error(400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", {"param": name})


def invalid_param(name: str, reason: str | None = None, **extra: Any) -> ZohoError:  # [spec] message
    details: dict[str, Any] = {"param_name": name, **extra}
    if reason:
        details["reason"] = reason
    return error(400, "INVALID_DATA", "Please check whether the input values are correct", details)


def invalid_id(record_id: str) -> ZohoError:  # [spec]
    return error(400, "INVALID_DATA", "the id given seems to be invalid", {"id": record_id})


def invalid_related_id(record_id: str) -> ZohoError:  # [spec] related_records.json's message
    return error(400, "INVALID_DATA", "the related id given seems to be invalid", {"id": record_id})


def too_many_fields(limit: int) -> ZohoError:  # [spec] message "Max field limit exceeded"
    return error(400, "LIMIT_EXCEEDED", "Max field limit exceeded", {"limit": limit, "param": "fields"})


def discrete_pagination(limit: int) -> ZohoError:  # [obs] code and message
    return error(400, "DISCRETE_PAGINATION_LIMIT_EXCEEDED",
                 f"You can only get the first {limit} records without using page_token param.", {"limit": limit})


def page_and_token() -> ZohoError:  # [obs] AMBIGUITY_DURING_PROCESSING
    return error(400, "AMBIGUITY_DURING_PROCESSING", "You cannot use both page and page_token.",
                 {"ambiguity_due_to": [{"param_name": "page"}, {"param_name": "page_token"}]})


def search_limit(limit: int) -> ZohoError:  # [lab] code from the spec's enum; Zoho caps search at 2,000
    return error(400, "LIMIT_EXCEEDED", "Record count exceeded", {"limit": limit})


def invalid_query(reason: str, **details: Any) -> ZohoError:  # [spec]
    return error(400, "INVALID_QUERY", "invalid query formed", {"reason": reason, **details})


def coql_syntax(near: str, column: int, clause: str | None = None) -> ZohoError:  # [spec] coql.json Syntax_Exception
    if clause:
        return error(400, "SYNTAX_ERROR", "error occured while parsing the query", {"clause": clause})
    return error(400, "SYNTAX_ERROR", "error occured while parsing the query",
                 {"line": 1, "column": column, "near": near[:50]})


def coql_column(name: str) -> ZohoError:  # [spec] coql.json Invalid_Query_Exception
    return error(400, "INVALID_QUERY", "column given seems to be invalid", {"column_name": name})


def coql_limit(limit: int) -> ZohoError:  # [spec] Limit_Exceeded_Exception
    return error(400, "LIMIT_EXCEEDED", "limit exceeded", {"by": "limit", "limit": limit})


def coql_module(name: str) -> ZohoError:  # [spec] code; details [lab]
    return error(400, "INVALID_QUERY", "invalid query formed", {"reason": "invalid module", "module": name})


def watch_error(code: str, message: str, details: dict[str, Any]) -> dict[str, Any]:  # [spec] common.json
    return {"code": code, "details": details, "message": message, "status": "error"}


def not_subscribed(channel_id: str) -> dict[str, Any]:  # [spec] notifications.json NOT_SUBSCRIBED
    return watch_error("NOT_SUBSCRIBED", "Not subscribed for actions-watch of the given channel",
                       {"channel_id": channel_id})
