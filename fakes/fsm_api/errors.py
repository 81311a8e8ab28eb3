"""Zoho FSM errors. FSM copies CRM's envelope ``{"code", "details", "message", "status": "error"}``
(the shared chain's failures are rendered by ``fakes.core.crm_style.CrmStyleErrors``); this file
holds FSM's own request-level errors.

Where a code comes from: [doc] CRM v8 spec / FSM docs / RESEARCH-API.md; [obs] integrators'
reports; [lab] our choice where nothing public says.
"""

from __future__ import annotations

from typing import Any

from fakes.core.crm_style import error
from fakes.core.errors import ZohoError
from fakes.core.records import RecordError


def invalid_module() -> ZohoError:  # [doc] CRM INVALID_MODULE
    return error(400, "INVALID_MODULE", "the module name given seems to be invalid")


def invalid_id(record_id: str) -> ZohoError:  # [doc] RESEARCH-API.md: unknown id on writes
    return error(400, "INVALID_DATA", "the id given seems to be invalid", {"id": record_id})


def invalid_related_id(record_id: str) -> ZohoError:  # [doc] CRM timelines.json INVALID_ID
    return error(400, "INVALID_DATA", "the related id given seems to be invalid", {"id": record_id})


def required_param(name: str) -> ZohoError:  # [doc] CRM REQUIRED_PARAM_MISSING
    return error(400, "REQUIRED_PARAM_MISSING", "One of the expected parameter is missing", {"param": name})


def invalid_param(name: str, reason: str | None = None, **extra: Any) -> ZohoError:  # [doc] CRM INVALID_DATA
    details: dict[str, Any] = {"param": name, **extra}
    if reason:
        details["reason"] = reason
    return error(400, "INVALID_DATA", "invalid data", details)


def from_record(err: RecordError) -> ZohoError:
    """A store's per-record error as a whole answer (single-record endpoints)."""
    return error(err.status, err.code, err.message, err.details)


def record_error(code: str, message: str, **details: Any) -> RecordError:
    return RecordError(code, message, details)


def lookup_in_other_module(record_id: str, refs: list[dict[str, Any]]) -> RecordError:
    # [doc] RESEARCH-API.md: a referenced contact fails with RECORD_LOOKUP_IN_OTHER_MODULE
    return RecordError("RECORD_LOOKUP_IN_OTHER_MODULE",
                       "the record is associated with records of other modules and cannot be deleted",
                       {"id": record_id, "associated_records": refs})


def invalid_value(api_name: str, reason: str, index: int = 0, **extra: Any) -> RecordError:
    return RecordError("INVALID_DATA", "invalid data",
                       {"api_name": api_name, "json_path": f"$.data[{index}].{api_name}", "reason": reason, **extra})
