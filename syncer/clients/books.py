"""Zoho Books v3 / Zoho Invoice v3 (one API, two roots): contacts, contact persons, items,
invoices, currencies, taxes, organizations and the lab's internal settings.

Lists are generators over ``page``/``has_more_page`` (200 a page): they fetch the next page only
when the caller has consumed the last one, so a whole module is never held in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx

from .accounts import AccountsClient
from .base import ApiClient, chunks, fmt_books_datetime

ROOTS = {"books": "/books/v3", "invoice": "/invoice/v3"}
PER_PAGE_MAX = 200
ITEM_DETAILS_MAX = 200  # ids per GET /itemdetails (the API names no limit: a list page's size)


class BooksClient(ApiClient):
    """Books (``product="books"``) or Invoice (``product="invoice"``) for one organization.
    Every call carries ``organization_id``. Errors are ZohoApiError with Books' integer code
    (3062 duplicate name, 1002 missing contact, 57 auth, 44/45/1070 limits …)."""

    def __init__(self, auth: AccountsClient, organization_id: str, *, product: str = "books", **kw: Any) -> None:
        if product not in ROOTS:
            raise ValueError(f"product must be books or invoice, not {product!r}")
        super().__init__(auth, **kw)
        self.product = product
        self.root = ROOTS[product]
        self.organization_id = str(organization_id)

    def default_params(self) -> dict[str, Any]:
        return {"organization_id": self.organization_id}

    def _is_error_body(self, resp: httpx.Response, body: Any) -> bool:
        return isinstance(body, dict) and isinstance(body.get("code"), int) and body["code"] != 0

    # -- paging -------------------------------------------------------------------------------------
    def iter_pages(self, path: str, key: str, params: dict[str, Any] | None = None, *,
                   per_page: int = PER_PAGE_MAX, start_page: int = 1) -> Iterator[list[dict[str, Any]]]:
        """One list per page, fetched lazily, until ``page_context.has_more_page`` is false."""
        page = start_page
        while True:
            body = self.call("GET", path, params={**(params or {}), "page": page, "per_page": per_page}) or {}
            rows = body.get(key) or []
            if rows:
                yield rows
            ctx = body.get("page_context")
            more = bool(ctx.get("has_more_page")) if isinstance(ctx, dict) else False
            if not more or not rows:
                return
            page += 1

    def iter_list(self, path: str, key: str, params: dict[str, Any] | None = None, *,
                  per_page: int = PER_PAGE_MAX) -> Iterator[dict[str, Any]]:
        for rows in self.iter_pages(path, key, params, per_page=per_page):
            yield from rows

    def _one(self, method: str, path: str, key: str, **kw: Any) -> Any:
        body = self.call(method, path, **kw) or {}
        value = body.get(key)
        if isinstance(value, list) and key in ("contact_person", "tax"):  # arrays of one, as Zoho answers
            return value[0] if value else None
        return value

    def _message(self, method: str, path: str, **kw: Any) -> str:
        return str((self.call(method, path, **kw) or {}).get("message", ""))

    # -- organizations --------------------------------------------------------------------------------
    def organizations(self) -> list[dict[str, Any]]:
        return (self.call("GET", "/organizations", params={"organization_id": None}) or {}).get("organizations", [])

    def get_organization(self, organization_id: str | None = None) -> dict[str, Any]:
        return self._one("GET", f"/organizations/{organization_id or self.organization_id}", "organization")

    def internal_settings(self) -> dict[str, Any]:
        """``GET /_internal/settings`` — the lab's Zoho-internal state (not a Zoho API)."""
        return (self.call("GET", "/_internal/settings") or {}).get("settings", {})

    # -- contacts --------------------------------------------------------------------------------------
    def list_contacts(self, *, modified_since: datetime | str | None = None, per_page: int = PER_PAGE_MAX,
                      **filters: Any) -> Iterator[dict[str, Any]]:
        """Contacts, streamed. Filters as Zoho's (``filter_by``, ``contact_type``, ``search_text``,
        ``sort_column``, ``sort_order``, ``email`` …); ``modified_since`` → ``last_modified_time``."""
        params = dict(filters)
        if modified_since is not None:
            params["last_modified_time"] = fmt_books_datetime(modified_since)
        return self.iter_list("/contacts", "contacts", params, per_page=per_page)

    def get_contact(self, contact_id: str) -> dict[str, Any]:
        return self._one("GET", f"/contacts/{contact_id}", "contact")

    def create_contact(self, data: dict[str, Any]) -> dict[str, Any]:
        return self._one("POST", "/contacts", "contact", json=data)

    def update_contact(self, contact_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return self._one("PUT", f"/contacts/{contact_id}", "contact", json=data)

    def mark_contact_active(self, contact_id: str) -> str:
        return self._message("POST", f"/contacts/{contact_id}/active", idempotent=True)

    def mark_contact_inactive(self, contact_id: str) -> str:
        return self._message("POST", f"/contacts/{contact_id}/inactive", idempotent=True)

    def delete_contact(self, contact_id: str) -> str:
        return self._message("DELETE", f"/contacts/{contact_id}")

    # -- contact persons -------------------------------------------------------------------------------
    def list_contact_persons(self, contact_id: str) -> Iterator[dict[str, Any]]:
        return self.iter_list(f"/contacts/{contact_id}/contactpersons", "contact_persons")

    def get_contact_person(self, contact_id: str, person_id: str) -> dict[str, Any]:
        return self._one("GET", f"/contacts/{contact_id}/contactpersons/{person_id}", "contact_person")

    def create_contact_person(self, contact_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return self._one("POST", "/contacts/contactpersons", "contact_person", json={**data, "contact_id": contact_id})

    def update_contact_person(self, person_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return self._one("PUT", f"/contacts/contactpersons/{person_id}", "contact_person", json=data)

    def delete_contact_person(self, person_id: str) -> str:
        return self._message("DELETE", f"/contacts/contactpersons/{person_id}")

    def mark_primary_contact_person(self, person_id: str) -> str:
        return self._message("POST", f"/contacts/contactpersons/{person_id}/primary", idempotent=True)

    # -- items -----------------------------------------------------------------------------------------
    def list_items(self, *, per_page: int = PER_PAGE_MAX, **filters: Any) -> Iterator[dict[str, Any]]:
        return self.iter_list("/items", "items", filters, per_page=per_page)

    def get_item(self, item_id: str) -> dict[str, Any]:
        return self._one("GET", f"/items/{item_id}", "item")

    def items_by_ids(self, item_ids: list[str]) -> dict[str, dict[str, Any]]:
        """``GET /itemdetails?item_ids=…`` (Bulk fetch item details, specs/books-v3/items.yml),
        ``ITEM_DETAILS_MAX`` ids a call: the items by id; an id left out has no item (deleted)."""
        out: dict[str, dict[str, Any]] = {}
        for batch in chunks(list(dict.fromkeys(item_ids)), ITEM_DETAILS_MAX):
            body = self.call("GET", "/itemdetails", params={"item_ids": ",".join(batch)}) or {}
            out.update((str(i.get("item_id")), i) for i in body.get("items") or [] if isinstance(i, dict))
        return out

    def create_item(self, data: dict[str, Any]) -> dict[str, Any]:
        return self._one("POST", "/items", "item", json=data)

    def update_item(self, item_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return self._one("PUT", f"/items/{item_id}", "item", json=data)

    def mark_item_active(self, item_id: str) -> str:
        return self._message("POST", f"/items/{item_id}/active", idempotent=True)

    def mark_item_inactive(self, item_id: str) -> str:
        return self._message("POST", f"/items/{item_id}/inactive", idempotent=True)

    def delete_item(self, item_id: str) -> str:
        return self._message("DELETE", f"/items/{item_id}")

    # -- invoices --------------------------------------------------------------------------------------
    def list_invoices(self, *, per_page: int = PER_PAGE_MAX, **filters: Any) -> Iterator[dict[str, Any]]:
        return self.iter_list("/invoices", "invoices", filters, per_page=per_page)

    def get_invoice(self, invoice_id: str) -> dict[str, Any]:
        return self._one("GET", f"/invoices/{invoice_id}", "invoice")

    def create_invoice(self, data: dict[str, Any]) -> dict[str, Any]:
        return self._one("POST", "/invoices", "invoice", json=data)

    def update_invoice(self, invoice_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return self._one("PUT", f"/invoices/{invoice_id}", "invoice", json=data)

    def delete_invoice(self, invoice_id: str) -> str:
        return self._message("DELETE", f"/invoices/{invoice_id}")

    def set_invoice_status(self, invoice_id: str, status: str) -> str:
        """``status`` sent|void|draft."""
        if status not in ("sent", "void", "draft"):
            raise ValueError("status must be sent, void or draft")
        return self._message("POST", f"/invoices/{invoice_id}/status/{status}", idempotent=True)

    # -- settings --------------------------------------------------------------------------------------
    def list_currencies(self) -> list[dict[str, Any]]:
        return list(self.iter_list("/settings/currencies", "currencies"))

    def create_currency(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data``: currency_code, currency_symbol (required), currency_name, price_precision …"""
        return self._one("POST", "/settings/currencies", "currency", json=data)

    def list_taxes(self) -> list[dict[str, Any]]:
        return list(self.iter_list("/settings/taxes", "taxes"))

    def create_tax(self, data: dict[str, Any]) -> dict[str, Any]:
        """``data``: tax_name, tax_percentage, tax_type …"""
        return self._one("POST", "/settings/taxes", "tax", json=data)

