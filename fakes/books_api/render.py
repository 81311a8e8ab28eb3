"""Zoho Books/Invoice wire shapes: the JSON of contacts, persons, items, invoices, currencies,
taxes, organizations, users and list page contexts, made from the store's rows.

Rendering only reads: the lookups a shape needs (a contact's persons, a currency, a tax, the
receivables) go through the store's read methods, and nothing here adds or changes a row.
Field sets follow Zoho's Books v3 response schemas (specs/books-v3/*.yml); ``spec_fields.complete``
then fills every other property those schemas declare.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fakes.core.tenants import Org, User
from fakes.core.timefmt import as_utc, books_date, books_datetime, zone

from . import metadata as md
from .store import (
    BooksContact,
    BooksContactPerson,
    BooksCurrency,
    BooksInvoice,
    BooksItem,
    BooksStore,
    BooksTax,
    Page,
    invoice_address,
)


def dt(st: BooksStore, value: datetime | None) -> str:
    """A Books timestamp in the org's time zone (``2024-01-31T10:00:00+0530``)."""
    return books_datetime(as_utc(value), st.tz) or ""


def page_context(p: Page, more: bool, extra: dict[str, str]) -> dict[str, Any]:
    return {"page": p.page, "per_page": p.per_page, "has_more_page": more, **extra}


def _terms_label(doc: dict[str, Any], terms: int) -> str:
    return doc.get("payment_terms_label") or (f"Net {terms}" if terms else "Due on Receipt")


def _blank_address() -> dict[str, str]:
    return {k: "" for k in md.ADDRESS_KEYS}


# -- settings -------------------------------------------------------------------------------------

def currency(st: BooksStore, c: BooksCurrency, listing: bool = False) -> dict[str, Any]:
    out = {"currency_id": c.id, "currency_code": c.code, "currency_name": c.name,
           "currency_symbol": c.symbol, "price_precision": c.precision, "currency_format": c.format,
           "is_base_currency": c.is_base}
    if listing:
        out["exchange_rate"] = c.exchange_rate
        out["effective_date"] = books_date(as_utc(c.created_time), st.tz) or ""
    return out


def tax(t: BooksTax) -> dict[str, Any]:
    return {"tax_id": t.id, "tax_name": t.name, "tax_percentage": t.percentage, "tax_type": t.tax_type,
            "tax_factor": "rate", "is_value_added": False}


# -- contacts and persons ----------------------------------------------------------------------------

def contact(st: BooksStore, c: BooksContact, persons: list[BooksContactPerson] | None = None,
            has_transaction: bool | None = None) -> dict[str, Any]:
    persons = st.person_rows(c.id) if persons is None else persons
    doc = c.doc or {}
    cur = st.currency_row(c.currency_id) if c.currency_id else None
    primary = next((p for p in persons if p.is_primary), None)
    invoices, outstanding = st.receivables(c.id)  # one query for both
    if has_transaction is None:
        has_transaction = invoices > 0
    terms = doc.get("payment_terms", 0)
    return {
        "contact_id": c.id, "contact_name": c.contact_name, "company_name": c.company_name,
        "has_transaction": has_transaction, "contact_type": c.contact_type,
        "customer_sub_type": c.customer_sub_type, "is_taxable": doc.get("is_taxable", True),
        "tax_id": doc.get("tax_id", ""), "is_linked_with_zohocrm": False,
        "website": doc.get("website", ""), "primary_contact_id": primary.id if primary else "",
        "payment_terms": terms, "payment_terms_label": _terms_label(doc, terms),
        "currency_id": c.currency_id, "currency_code": cur.code if cur else "",
        "currency_symbol": cur.symbol if cur else "", "language_code": doc.get("language_code", "en"),
        "outstanding_receivable_amount": outstanding, "unused_credits_receivable_amount": 0,
        "status": c.status, "custom_fields": doc.get("custom_fields", []),
        "billing_address": doc.get("billing_address") or _blank_address(),
        "shipping_address": doc.get("shipping_address") or _blank_address(),
        "facebook": doc.get("facebook", ""), "twitter": doc.get("twitter", ""),
        "contact_persons": [person(p, embedded=True) for p in persons],
        "notes": doc.get("notes", ""),
        "created_time": dt(st, c.created_time), "last_modified_time": dt(st, c.last_modified_time),
    }


def contact_list(st: BooksStore, c: BooksContact, currencies: dict[str, BooksCurrency],
                 outstanding: dict[str, float]) -> dict[str, Any]:
    doc = c.doc or {}
    cur = currencies.get(c.currency_id)
    terms = doc.get("payment_terms", 0)
    return {
        "contact_id": c.id, "contact_name": c.contact_name, "company_name": c.company_name,
        "contact_type": c.contact_type, "customer_sub_type": c.customer_sub_type, "status": c.status,
        "payment_terms": terms, "payment_terms_label": _terms_label(doc, terms),
        "currency_id": c.currency_id, "currency_code": cur.code if cur else "",
        "outstanding_receivable_amount": outstanding.get(c.id, 0), "unused_credits_receivable_amount": 0,
        "first_name": c.first_name, "last_name": c.last_name, "email": c.email,
        "phone": doc.get("primary_phone", ""), "mobile": doc.get("primary_mobile", ""),
        "custom_fields": doc.get("custom_fields", []),
        "created_time": dt(st, c.created_time), "last_modified_time": dt(st, c.last_modified_time),
    }


def person(p: BooksContactPerson, with_contact: bool = True, embedded: bool = False) -> dict[str, Any]:
    """A contact person; ``embedded`` inside a contact, where Books says enable_portal."""
    doc = p.doc or {}
    out = {"contact_person_id": p.id}
    if with_contact and not embedded:
        out = {"contact_id": p.contact_id, **out}
    out.update({k: doc.get(k, "") for k in md.PERSON_KEYS})
    out["is_primary_contact"] = p.is_primary
    out["enable_portal" if embedded else "is_added_in_portal"] = False
    return out


# -- items and invoices -------------------------------------------------------------------------------

def item(st: BooksStore, it: BooksItem, taxes: dict[str, BooksTax] | None = None) -> dict[str, Any]:
    doc = it.doc or {}
    t = (taxes.get(it.tax_id) if taxes is not None else st.tax_row(it.tax_id)) if it.tax_id else None
    out = {
        "item_id": it.id, "name": it.name, "status": it.status, "description": doc.get("description", ""),
        "rate": it.rate, "unit": doc.get("unit", ""), "tax_id": it.tax_id,
        "tax_name": t.name if t else "",
        # the spec types an item's tax_percentage as a string ("70%")
        "tax_percentage": f"{t.percentage:g}%" if t else "",
        "tax_type": t.tax_type if t else "", "sku": it.sku, "product_type": it.product_type,
        "item_type": doc.get("item_type", "sales"),
        "created_time": dt(st, it.created_time), "last_modified_time": dt(st, it.last_modified_time),
    }
    if doc.get("custom_fields"):
        out["custom_fields"] = doc["custom_fields"]
    return out


def invoice(st: BooksStore, inv: BooksInvoice, full: bool = True) -> dict[str, Any]:
    doc = inv.doc or {}
    cur = st.currency_row(doc["currency_id"]) if doc.get("currency_id") else None
    out = {
        "invoice_id": inv.id, "invoice_number": inv.invoice_number, "status": inv.status,
        "date": inv.date, "due_date": inv.due_date, "customer_id": inv.customer_id,
        "customer_name": inv.customer_name, "currency_id": doc.get("currency_id", ""),
        "currency_code": cur.code if cur else "", "exchange_rate": cur.exchange_rate if cur else 1.0,
        "reference_number": doc.get("reference_number", ""), "total": inv.total, "balance": inv.balance,
        "shipping_charge": doc.get("shipping_charge", 0.0), "adjustment": doc.get("adjustment", 0.0),
        "write_off_amount": 0.0, "is_emailed": False, "reminders_sent": 0, "has_attachment": False,
        "is_viewed_by_client": False, "custom_fields": doc.get("custom_fields", []),
        "created_time": dt(st, inv.created_time), "last_modified_time": dt(st, inv.last_modified_time),
    }
    if full:
        terms = int(doc.get("payment_terms", 0))
        out.update({
            "payment_terms": terms, "payment_terms_label": f"Net {terms}" if terms else "Due on Receipt",
            "line_items": doc.get("line_items", []), "sub_total": doc.get("sub_total", 0.0),
            "tax_total": doc.get("tax_total", 0.0), "taxes": doc.get("taxes", []),
            "discount": doc.get("discount", 0.0), "is_inclusive_tax": False,
            "payment_made": 0.0, "credits_applied": 0.0, "price_precision": cur.precision if cur else 2,
            "billing_address": doc.get("billing_address") or invoice_address(None),
            "shipping_address": doc.get("shipping_address") or invoice_address(None),
            "notes": doc.get("notes", ""), "terms": doc.get("terms", ""),
            "salesperson_name": doc.get("salesperson_name", ""),
        })
    return out


# -- organizations and users ------------------------------------------------------------------------

def organization(st: BooksStore, org: Org, is_default: bool = False) -> dict[str, Any]:
    owner = st.owner(org)
    base = st.base_currency_row(org.id)
    if base is not None:
        cur_id, code, symbol, precision = base.id, base.code, base.symbol, base.precision
    else:  # not migrated yet (see store.add_missing_base_currencies): the org's code, no row to point at
        known = md.CURRENCIES.get(org.currency_code, (org.currency_code, org.currency_code, 2))
        cur_id, code, symbol, precision = "", org.currency_code, known[1], known[2]
    created = as_utc(org.created_time) or st.now()
    local = created.astimezone(zone(org.time_zone))
    return {
        "organization_id": org.id, "name": org.name, "contact_name": owner.name if owner else "",
        "email": owner.email if owner else "", "is_default_org": is_default,
        "plan_type": md.PLAN_TYPE.get(org.edition, 0), "plan_name": org.edition.upper(),
        "plan_period": "Monthly", "language_code": "en", "fiscal_year_start_month": 0,
        "account_created_date": local.date().isoformat(),
        "account_created_date_formatted": local.strftime("%d %b %Y"),
        "time_zone": org.time_zone, "is_org_active": org.active and not org.trial_expired,
        "is_trial_expired": org.trial_expired,
        "currency_id": cur_id, "currency_code": code, "currency_symbol": symbol,
        "currency_format": "###,##0.00", "price_precision": precision,
        "tax_group_enabled": org.tax_enabled, "is_tax_registered": org.tax_enabled,
        "zi_migration_status": 0,
    }


def _role(st: BooksStore, role: str) -> tuple[str, str]:
    """(role_id, user_role): Books' built-in roles admin and staff [lab: ids per org]."""
    name = "admin" if role == "admin" else "staff"
    return st.user_record_id("6005" if name == "admin" else "6007"), name


def user_summary(st: BooksStore, u: User, role: str, current_zuid: str) -> dict[str, Any]:
    """A user in ``GET /users`` (users.yml list-users-response)."""
    role_id, user_role = _role(st, role)
    return {
        "user_id": st.user_record_id(u.id), "role_id": role_id, "name": u.name or u.email, "email": u.email,
        "user_role": user_role, "status": "active", "is_current_user": u.id == current_zuid,
        "photo_url": f"https://contacts.zoho.com/file?ID={u.id}&fs=thumb",
        "is_customer_segmented": False, "is_vendor_segmented": False, "user_type": "zoho",
    }


def user(st: BooksStore, u: User, role: str) -> dict[str, Any]:
    """One user (users.yml get-current-user-response)."""
    role_id, user_role = _role(st, role)
    return {
        "user_id": st.user_record_id(u.id), "name": u.name or u.email,
        "email_ids": [{"email": u.email, "is_selected": True}], "status": "active",
        "user_role": user_role, "user_type": "zoho", "role_id": role_id, "cost_rate": 0.0,
        "photo_url": f"https://contacts.zoho.com/file?ID={u.id}&fs=thumb", "is_employee": False,
        "created_time": dt(st, u.created_time), "custom_fields": "",  # the spec's type and example
    }


# -- Zoho-internal state (not a Zoho API: /_internal/settings and /_lab/<product>) ------------------

def crm_integration(settings: dict[str, Any]) -> dict[str, Any]:
    ci = settings.get("crm_integration") or {}
    return {"enabled": bool(ci.get("enabled")), "sync_type": ci.get("sync_type"),
            "sync_in_progress": bool(ci.get("sync_in_progress")), "crm_org_id": ci.get("crm_org_id")}


def internal_state(st: BooksStore) -> dict[str, Any]:
    org = st.org
    settings = org.settings or {}
    return {
        "organization_id": org.id, "product": org.product, "edition": org.edition,
        "tax_enabled": org.tax_enabled, "allow_duplicate_names": bool(settings.get("allow_duplicate_names")),
        "crm_integration": crm_integration(settings), "custom_fields": settings.get("custom_fields") or {},
        "counts": st.counts(), "active": org.active, "trial_expired": org.trial_expired,
    }
