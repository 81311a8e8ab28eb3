"""Field mappings between FSM and Books/Invoice (TW-03, TW-11, OB-02).

Two layers per module pair:
- **core** pairs the sync itself needs (identity and Books-mandatory fields: a service's Name
  and Unit_Price, a customer's name and type, addresses): always synced, not user-editable;
- **user** mappings: editable (at enable and later; a change re-syncs every record of the module,
  TW-07), created with defaults (OB-02), validated: the FSM field must exist and must not be PII
  or EPHI (TW-11), the Books field must exist (a standard field or one of the org's custom
  fields), and Books' mandatory fields must be mapped (TW-03) — by a core pair or a user one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# module pair -> (FSM modules, Books entity)
MODULES: dict[str, tuple[tuple[str, ...], str]] = {
    "items": (("Service_And_Parts",), "items"),
    "customers": (("Companies", "Contacts"), "contacts"),
    "invoices": (("Work_Orders",), "invoices"),
}

# Books fields a user mapping may target (besides the org's custom fields, by api_name)
BOOKS_FIELDS: dict[str, frozenset[str]] = {
    "items": frozenset({"name", "rate", "description", "unit", "sku", "product_type"}),
    "customers": frozenset({"contact_name", "company_name", "website", "notes", "phone", "mobile", "email",
                            "first_name", "last_name", "payment_terms", "currency_code"}),
    "invoices": frozenset({"reference_number", "notes", "terms"}),
}
BOOKS_MANDATORY: dict[str, tuple[str, ...]] = {"items": ("name", "rate"), "customers": ("contact_name",),
                                              "invoices": ()}


@dataclass(frozen=True)
class Pair:
    fsm_field: str
    books_field: str
    direction: str = "both"  # both | fsm_to_books | books_to_fsm
    fsm_module: str = ""  # for customers: Companies or Contacts


CORE: dict[str, tuple[Pair, ...]] = {
    "items": (Pair("Name", "name"), Pair("Unit_Price", "rate")),
    "customers": (Pair("Company_Name", "contact_name", fsm_module="Companies"),
                  Pair("Company_Name", "company_name", fsm_module="Companies"),
                  Pair("Full_Name", "contact_name", "fsm_to_books", "Contacts")),
    "invoices": (),
}
DEFAULTS: dict[str, tuple[Pair, ...]] = {
    "items": (Pair("Description", "description"), Pair("Unit", "unit"), Pair("SKU", "sku")),
    "customers": (Pair("Website", "website", fsm_module="Companies"),),
    "invoices": (),
}


def defaults(module: str) -> list[Pair]:
    return list(DEFAULTS.get(module, ()))


def validate(module: str, pairs: Iterable[Pair], fsm_fields: dict[str, dict[str, list[dict[str, Any]]]] | dict,
             custom_books_fields: Iterable[str] = ()) -> list[str]:
    """Reasons the mappings are refused (empty when fine). ``fsm_fields``: FSM module -> its
    field metadata (``/settings/fields``: api_name, pii, ephi)."""
    if module not in MODULES:
        return [f"unknown module mapping {module!r}; choose from {', '.join(MODULES)}"]
    fsm_modules, _books = MODULES[module]
    allowed_books = BOOKS_FIELDS[module] | set(custom_books_fields)
    problems: list[str] = []
    mapped_books: set[str] = {p.books_field for p in CORE[module]}
    for p in pairs:
        target_modules = (p.fsm_module,) if p.fsm_module else fsm_modules
        if p.fsm_module and p.fsm_module not in fsm_modules:
            problems.append(f"{p.fsm_module} is not part of the {module} mapping")
            continue
        if p.direction not in ("both", "fsm_to_books", "books_to_fsm"):
            problems.append(f"direction of {p.fsm_field} must be both, fsm_to_books or books_to_fsm")
        for fsm_module in target_modules:
            meta = {f.get("api_name"): f for f in fsm_fields.get(fsm_module, [])}
            field = meta.get(p.fsm_field)
            if field is None:
                problems.append(f"FSM {fsm_module} has no field {p.fsm_field}")
            elif field.get("pii") or field.get("ephi"):
                kind = "EPHI" if field.get("ephi") else "PII"
                problems.append(f"{p.fsm_field} is a {kind} field of FSM {fsm_module}: PII and EPHI fields "
                                "cannot be used in field mappings")
        if p.books_field not in allowed_books:
            problems.append(f"Books {MODULES[module][1]} has no field {p.books_field}")
        mapped_books.add(p.books_field)
    for required in BOOKS_MANDATORY[module]:
        if required not in mapped_books:
            problems.append(f"the mandatory Books field {required} must be mapped")
    return problems


def to_books(pairs: Iterable[Pair], record: dict[str, Any], fsm_module: str = "") -> dict[str, Any]:
    """Values for Books from an FSM record through the user mappings."""
    out: dict[str, Any] = {}
    for p in pairs:
        if p.direction == "books_to_fsm" or (p.fsm_module and fsm_module and p.fsm_module != fsm_module):
            continue
        if p.fsm_field in record and record[p.fsm_field] is not None:
            out[p.books_field] = record[p.fsm_field]
    return out


def to_fsm(pairs: Iterable[Pair], obj: dict[str, Any], fsm_module: str = "") -> dict[str, Any]:
    """Values for FSM from a Books object through the user mappings."""
    out: dict[str, Any] = {}
    for p in pairs:
        if p.direction == "fsm_to_books" or (p.fsm_module and fsm_module and p.fsm_module != fsm_module):
            continue
        if p.books_field in obj and obj[p.books_field] not in (None, ""):
            out[p.fsm_field] = obj[p.books_field]
    return out


# -- addresses (TW-20): FSM Billing_Address <-> Books billing_address, Service_Address <-> shipping ----

def address_to_books(addr: dict[str, Any] | None) -> dict[str, str]:
    addr = addr or {}
    return {"attention": addr.get("Address_Name") or "", "address": addr.get("Street_1") or "",
            "street2": addr.get("Street_2") or "", "city": addr.get("City") or "", "state": addr.get("State") or "",
            "zip": str(addr.get("Zip_Code") or ""), "country": addr.get("Country") or ""}


def address_to_fsm(addr: dict[str, Any] | None) -> dict[str, str]:
    addr = addr or {}
    return {"Address_Name": addr.get("attention") or "", "Street_1": addr.get("address") or "",
            "Street_2": addr.get("street2") or "", "City": addr.get("city") or "", "State": addr.get("state") or "",
            "Zip_Code": str(addr.get("zip") or ""), "Country": addr.get("country") or ""}


def pairs_from_rows(rows: Iterable[Any]) -> list[Pair]:
    """Stored FieldMapping rows as pairs."""
    return [Pair(r.fsm_field, r.partner_field, r.direction or "both", r.fsm_module or "") for r in rows]


def store_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """API mapping rows (``books_field``, ``books_entity``) as the store's FieldMapping values
    (``partner_field``, ``partner_entity``)."""
    names = {"books_field": "partner_field", "books_entity": "partner_entity"}
    return [{names.get(k, k): v for k, v in row.items()} for row in rows]


def api_row(row: Any) -> dict[str, Any]:
    """A stored FieldMapping as the API shows a Books mapping row."""
    return {"fsm_module": row.fsm_module, "books_entity": row.partner_entity, "fsm_field": row.fsm_field,
            "books_field": row.partner_field, "direction": row.direction}


def rows_from_pairs(pairs: Iterable[Pair]) -> list[dict[str, Any]]:
    return [{"fsm_field": p.fsm_field, "books_field": p.books_field, "direction": p.direction,
             "fsm_module": p.fsm_module} for p in pairs]
