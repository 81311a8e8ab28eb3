"""Zoho FSM v1 (``/fsm/v1``): records (streamed lists, batch writes ≤ 100 with per-record
results, search incl. Modified_Time comparators, related lists, ``process_sync``), metadata,
and the lab's internal surface (``/_internal/…``: settings, currencies, imports, sync state,
notification channels, timeline entries). Writes send ``"trigger": []`` unless told otherwise,
so the syncer's own writes run no workflow rules (TW-12)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

import httpx

from .base import (
    NO_TRIGGER,
    RecordApiClient,
    RecordResult,
    batch_answer,
    chunks,
    crm_style_results,
    fmt_crm_datetime,
    safe_json,
)

DATETIME_COMPARATORS = ("equal", "not_equal", "greater_than", "greater_equal", "less_than", "less_equal",
                        "between", "not_between")


class FsmClient(RecordApiClient):
    """FSM for the token's org (FSM has no org parameter)."""

    product = "fsm"
    root = "/fsm/v1"

    # -- read ------------------------------------------------------------------------------------------
    def list_records(self, module: str, *, per_page: int = 200, fields: Sequence[str] | None = None,
                     sort_by: str | None = None, sort_order: str | None = None,
                     modified_since: datetime | str | None = None) -> Iterator[dict[str, Any]]:
        """All records of ``module``, streamed page by page (``If-Modified-Since`` when given)."""
        return self.iter_records(f"/{module}", self._list_params(fields, sort_by, sort_order),
                                 per_page=per_page, headers=_since(modified_since))

    def iter_record_pages(self, module: str, *, per_page: int = 200, fields: Sequence[str] | None = None,
                          sort_by: str | None = None, sort_order: str | None = None,
                          modified_since: datetime | str | None = None) -> Iterator[list[dict[str, Any]]]:
        return self.iter_pages(f"/{module}", self._list_params(fields, sort_by, sort_order),
                               per_page=per_page, headers=_since(modified_since))

    @staticmethod
    def _list_params(fields: Sequence[str] | None, sort_by: str | None, sort_order: str | None) -> dict[str, Any]:
        return {"fields": ",".join(fields) if fields else None, "sort_by": sort_by, "sort_order": sort_order}

    def get_record(self, module: str, record_id: str) -> dict[str, Any] | None:
        """The record, or None when it does not exist (204)."""
        return self._get_first(f"/{module}/{record_id}")

    def search(self, module: str, api_name: str, value: Any, comparator: str = "equal", *,
               per_page: int = 200) -> Iterator[dict[str, Any]]:
        """Search Records. ``value``: a string (commas escaped for you), a datetime (CRM format),
        or a pair for between/not_between."""
        return self.iter_records(f"/{module}/search", {"api_name": api_name, "value": search_value(value),
                                                       "comparator": comparator}, per_page=per_page)

    def modified_since(self, module: str, since: datetime | str, *, per_page: int = 200) -> Iterator[dict[str, Any]]:
        """Records with ``Modified_Time`` strictly after ``since`` (search, ``greater_than``)."""
        return self.search(module, "Modified_Time", since if isinstance(since, datetime) else _Raw(since),
                           "greater_than", per_page=per_page)

    def related(self, module: str, record_id: str, related: str, *, per_page: int = 200) -> Iterator[dict[str, Any]]:
        """A related list, e.g. ``related("Companies", id, "Contacts")``; empty when none."""
        return self.iter_records(f"/{module}/{record_id}/{related}", per_page=per_page)

    def timeline(self, module: str, record_id: str, *, per_page: int = 200, **params: Any) -> Iterator[dict[str, Any]]:
        return self.iter_records(f"/{module}/{record_id}/__timeline", params, key="__timeline", per_page=per_page)

    # -- write -----------------------------------------------------------------------------------------
    def create_records(self, module: str, records: Iterable[dict[str, Any]], *,
                       trigger: Iterable[str] | None = NO_TRIGGER) -> list[RecordResult]:
        """Insert in batches of 100; one result per record, in input order (207 partial answers
        included). ``trigger=None`` omits the array (workflows run)."""
        out: list[RecordResult] = []
        for batch in chunks(records, self.batch_limit):
            resp = self.request("POST", f"/{module}", json=self._trigger({"data": batch}, trigger),
                                accept=batch_answer)
            out.extend(self._create_results(resp, len(batch), len(out)))
        return out

    def _create_results(self, resp: httpx.Response, count: int, offset: int) -> list[RecordResult]:
        body = safe_json(resp)
        data = body.get("data") if isinstance(body, dict) else None
        if isinstance(data, dict):  # FSM's documented success: {"data": {"<Module>": [{UID, id, …}]}}
            rows = next((v for v in data.values() if isinstance(v, list)), [])
            return [RecordResult(offset + i, True, id=str(rows[i].get("id")) if i < len(rows) else None,
                                 code="SUCCESS", message="record added", details=rows[i] if i < len(rows) else {},
                                 status=resp.status_code, raw=rows[i] if i < len(rows) else {})
                    for i in range(count)]
        return self._results(resp, count, offset)

    def delete_records(self, module: str, ids: Iterable[str], *, wf_trigger: bool = False) -> list[RecordResult]:
        """``DELETE /{module}?ids=`` in batches of 100. A record still referenced elsewhere comes
        back not ok with RECORD_LOOKUP_IN_OTHER_MODULE (the answer is still HTTP 200)."""
        return self._delete_batches(f"/{module}", ids, {} if wf_trigger else {"wf_trigger": "false"})

    def delete_record(self, module: str, record_id: str, *, wf_trigger: bool = False) -> RecordResult:
        return self.delete_records(module, [record_id], wf_trigger=wf_trigger)[0]

    def process_sync(self, module: str, record_id: str, sync_service: str, sync_process: str = "link", *,
                     integ_id: str | None = None, integ_module: str | None = None) -> RecordResult:
        """Link/unlink/push a record to ``finance`` (Books/Invoice) or ``zohocrm``."""
        body = {"sync_process": sync_process, **{k: v for k, v in (("integ_id", integ_id),
                                                                    ("integ_module", integ_module)) if v}}
        resp = self.request("POST", f"/{module}/{record_id}/actions/process_sync",
                            params={"sync_service": sync_service}, json=body, accept=batch_answer,
                            idempotent=True)
        return self._results(resp, 1, 0)[0]

    # -- metadata --------------------------------------------------------------------------------------
    def modules(self) -> list[dict[str, Any]]:
        return (self.call("GET", "/settings/modules") or {}).get("modules", [])

    def fields(self, module: str) -> list[dict[str, Any]]:
        return (self.call("GET", "/settings/fields", params={"module": module}) or {}).get("fields", [])

    # -- internal surface (not Zoho APIs) -------------------------------------------------------------
    def internal_settings(self) -> dict[str, Any]:
        return (self.call("GET", "/_internal/settings") or {}).get("settings", {})

    def current_user(self) -> dict[str, Any]:
        """The token's user in this FSM org with its profile and permissions (internal surface):
        ``{"id", "profile": {"name", "standard", "permissions": [...]}}`` (TW-26)."""
        users = (self.call("GET", "/_internal/users/me") or {}).get("users") or [{}]
        return users[0]

    def currencies(self) -> list[dict[str, Any]]:
        return (self.call("GET", "/_internal/currencies") or {}).get("currencies", [])

    def create_currencies(self, currencies: list[dict[str, Any]]) -> list[RecordResult]:
        """``[{"iso_code", "exchange_rate", "symbol"?, "name"?}]`` → per-currency results."""
        resp = self.request("POST", "/_internal/currencies", json={"currencies": currencies}, accept=batch_answer)
        body = safe_json(resp) or {}
        return crm_style_results({"data": body.get("currencies", body.get("data"))}, len(currencies),
                                 resp.status_code)

    def update_currency(self, currency_id: str, **changes: Any) -> Any:
        return self.call("PUT", f"/_internal/currencies/{currency_id}", json=changes)

    def imports(self, status: str | None = None) -> dict[str, Any]:
        """``{"imports": [...], "import_in_progress": bool}``."""
        return self.call("GET", "/_internal/imports", params={"status": status}) or {}

    def set_taxes(self, *, enabled: bool | None = None, taxes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """The org's tax settings (internal surface; OB-03 pulls an existing org's taxes into FSM)."""
        body: dict[str, Any] = {}
        if enabled is not None:
            body["enabled"] = enabled
        if taxes is not None:
            body["taxes"] = taxes
        return self.call("PUT", "/_internal/taxes", json=body) or {}

    def set_sync_state(self, in_progress: bool, sync_service: str = "finance") -> dict[str, Any]:
        """Mark the syncer's run (409 IMPORT_IN_PROGRESS → ZohoApiError while an import runs)."""
        return self.call("PUT", "/_internal/sync-state",
                         json={"sync_in_progress": in_progress, "sync_service": sync_service}) or {}

    def subscribe(self, watch: list[dict[str, Any]]) -> dict[str, Any]:
        """``POST /_internal/notifications {"watch": [...]}`` (CRM's watch shape)."""
        return self.call("POST", "/_internal/notifications", json={"watch": watch}) or {}

    def channels(self) -> list[dict[str, Any]]:
        return (self.call("GET", "/_internal/notifications") or {}).get("watch", [])

    def unsubscribe(self, channel_ids: Iterable[str]) -> dict[str, Any]:
        return self.call("DELETE", "/_internal/notifications",
                         params={"channel_ids": ",".join(map(str, channel_ids))}) or {}

    def add_timeline(self, module: str, record_id: str, message: str, **extra: Any) -> dict[str, Any]:
        """A timeline entry on a record (``service``, ``sync_id``, ``partner_id``, ``partner_module``,
        ``direction``, ``action`` sync_failed|sync_succeeded …)."""
        return self.call("POST", f"/_internal/{module}/{record_id}/timeline",
                         json={"message": message, **extra}) or {}


class _Raw(str):
    """A search value sent as is (no comma escaping)."""


def search_value(value: Any) -> str:
    if isinstance(value, datetime):
        return fmt_crm_datetime(value)
    if isinstance(value, (tuple, list)):
        return ",".join(search_value(v) if isinstance(v, datetime) else str(v) for v in value)
    if isinstance(value, _Raw):
        return str(value)
    return str(value).replace(",", "\\,")


def _since(value: datetime | str | None) -> dict[str, str] | None:
    return {"If-Modified-Since": fmt_crm_datetime(value)} if value is not None else None
