"""Zoho CRM (``/crm/v8`` by default): records (streamed lists with ``page`` then
``page_token``, batch writes ≤ 100 with per-record results, upsert, delete), search, deleted
records, count, COQL, metadata, current user, org, notification channels and the lab's
``/_internal/settings``. Writes send ``"trigger": []`` unless told otherwise (TW-12)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from .accounts import AccountsClient
from .base import NO_TRIGGER, RecordApiClient, RecordResult, batch_answer, fmt_crm_datetime

DEFAULT_FIELDS = ("id", "Modified_Time", "Created_Time")


class CrmClient(RecordApiClient):
    product = "crm"

    def __init__(self, auth: AccountsClient, *, version: str = "v8", **kw: Any) -> None:
        super().__init__(auth, **kw)
        self.version = version
        self.root = f"/crm/{version}"

    # -- read ------------------------------------------------------------------------------------------
    def list_records(self, module: str, fields: Sequence[str] = DEFAULT_FIELDS, *, per_page: int = 200,
                     sort_by: str | None = None, sort_order: str | None = None,
                     modified_since: datetime | str | None = None) -> Iterator[dict[str, Any]]:
        """All records, streamed: ``page`` while offered, then ``page_token`` (past 2,000).
        ``fields`` is required by Zoho from v3 on (≤ 50)."""
        return self.iter_records(f"/{module}", self._params(fields, sort_by, sort_order),
                                 per_page=per_page, headers=_since(modified_since))

    def iter_record_pages(self, module: str, fields: Sequence[str] = DEFAULT_FIELDS, *, per_page: int = 200,
                          sort_by: str | None = None, sort_order: str | None = None,
                          modified_since: datetime | str | None = None) -> Iterator[list[dict[str, Any]]]:
        return self.iter_pages(f"/{module}", self._params(fields, sort_by, sort_order),
                               per_page=per_page, headers=_since(modified_since))

    @staticmethod
    def _params(fields: Sequence[str] | None, sort_by: str | None = None,
                sort_order: str | None = None) -> dict[str, Any]:
        return {"fields": ",".join(fields) if fields else None, "sort_by": sort_by, "sort_order": sort_order}

    def get_record(self, module: str, record_id: str, fields: Sequence[str] | None = None) -> dict[str, Any] | None:
        """The record, or None (204: unknown or deleted)."""
        return self._get_first(f"/{module}/{record_id}", self._params(fields))

    def get_records(self, module: str, ids: Sequence[str], fields: Sequence[str] = DEFAULT_FIELDS) -> list[dict[str, Any]]:
        """Records by id (``?ids=``, ≤ 100 a call); unknown or deleted ids are left out."""
        out: list[dict[str, Any]] = []
        ids = [str(i) for i in ids]
        for start in range(0, len(ids), 100):
            body = self.call("GET", f"/{module}", params={"ids": ",".join(ids[start:start + 100]),
                                                          **self._params(fields)}) or {}
            out.extend(body.get("data") or [])
        return out

    def search(self, module: str, *, criteria: str | None = None, email: str | None = None,
               phone: str | None = None, word: str | None = None, fields: Sequence[str] | None = None,
               per_page: int = 200) -> Iterator[dict[str, Any]]:
        """Search (≤ 2,000 results), e.g. ``criteria="(Email:equals:a@b.c)"``; empty when none."""
        params = {"criteria": criteria, "email": email, "phone": phone, "word": word, **self._params(fields)}
        return self.iter_records(f"/{module}/search", params, per_page=per_page, use_page_token=False)

    def deleted(self, module: str, type: str = "all", *, per_page: int = 200,
                since: datetime | str | None = None) -> Iterator[dict[str, Any]]:
        """Deleted records (``type`` all|recycle|permanent), streamed."""
        return self.iter_records(f"/{module}/deleted", {"type": type}, per_page=per_page, headers=_since(since),
                                 use_page_token=False)

    def count(self, module: str, **search: Any) -> int:
        """``actions/count`` (optionally with criteria/email/phone/word)."""
        body = self.call("GET", f"/{module}/actions/count", params=search) or {}
        return int(body.get("count", 0))

    def coql(self, select_query: str) -> dict[str, Any]:
        """``POST /coql`` → ``{"data": [...], "info": {...}}`` (``{"data": []}`` when empty)."""
        return self.call("POST", "/coql", json={"select_query": select_query}, idempotent=True) or {"data": [], "info": {}}

    # -- write -----------------------------------------------------------------------------------------
    def create_records(self, module: str, records: Iterable[dict[str, Any]], *,
                       trigger: Iterable[str] | None = NO_TRIGGER) -> list[RecordResult]:
        """Insert in batches of 100; one result per record (207/400 entries included)."""
        return self._write_batches("POST", f"/{module}", records, self._trigger({}, trigger))

    def upsert_records(self, module: str, records: Iterable[dict[str, Any]], *,
                       duplicate_check_fields: Sequence[str] | None = None,
                       trigger: Iterable[str] | None = NO_TRIGGER) -> list[RecordResult]:
        """``POST /{module}/upsert``; each result's ``action`` is insert|update."""
        extra = self._trigger({}, trigger)
        if duplicate_check_fields:
            extra["duplicate_check_fields"] = list(duplicate_check_fields)
        return self._write_batches("POST", f"/{module}/upsert", records, extra)

    def delete_records(self, module: str, ids: Iterable[str], *, wf_trigger: bool = False) -> list[RecordResult]:
        return self._delete_batches(f"/{module}", ids, {} if wf_trigger else {"wf_trigger": "false"})

    # -- metadata, user, org ------------------------------------------------------------------------------
    def modules(self) -> list[dict[str, Any]]:
        return (self.call("GET", "/settings/modules") or {}).get("modules", [])

    def fields(self, module: str) -> list[dict[str, Any]]:
        return (self.call("GET", "/settings/fields", params={"module": module}) or {}).get("fields", [])

    def current_user(self) -> dict[str, Any] | None:
        users = (self.call("GET", "/users", params={"type": "CurrentUser"}) or {}).get("users") or []
        return users[0] if users else None

    def org(self) -> dict[str, Any] | None:
        orgs = (self.call("GET", "/org") or {}).get("org") or []
        return orgs[0] if orgs else None

    def users(self, type: str = "AllUsers") -> list[dict[str, Any]]:
        """Users of the org (all pages) with their ``profile`` ``{"name", "id"}``."""
        return list(self.iter_records("/users", {"type": type}, key="users", use_page_token=False))

    def user_by_email(self, email: str) -> dict[str, Any] | None:
        wanted = email.strip().lower()
        return next((u for u in self.users() if str(u.get("email", "")).lower() == wanted), None)

    def internal_settings(self) -> dict[str, Any]:
        """``GET /_internal/settings`` — the lab's Zoho-internal state (not a Zoho API)."""
        return (self.call("GET", "/_internal/settings") or {}).get("settings", {})

    # -- notifications ------------------------------------------------------------------------------------
    def watch(self, watch: list[dict[str, Any]]) -> dict[str, Any]:
        """``POST /actions/watch {"watch": [...]}``."""
        return self.call("POST", "/actions/watch", json={"watch": watch}, accept=batch_answer) or {}

    def renew_watch(self, watch: list[dict[str, Any]]) -> dict[str, Any]:
        """``PATCH /actions/watch``: a channel's new ``channel_expiry`` (or other details)."""
        return self.call("PATCH", "/actions/watch", json={"watch": watch}, accept=batch_answer) or {}

    def channels(self, **params: Any) -> list[dict[str, Any]]:
        return (self.call("GET", "/actions/watch", params=params) or {}).get("watch", [])

    def unwatch(self, channel_ids: Iterable[str]) -> dict[str, Any]:
        return self.call("DELETE", "/actions/watch", params={"channel_ids": ",".join(map(str, channel_ids))}) or {}


def _since(value: datetime | str | None) -> dict[str, str] | None:
    return {"If-Modified-Since": fmt_crm_datetime(value)} if value is not None else None
