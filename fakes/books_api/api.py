"""HTTP surface of the fake Zoho Books v3 / Invoice v3: parse, call the store, render Zoho's
envelope ``{"code": 0, "message": …, <entity>: …}``.

Auth, org resolution (``organization_id`` query parameter or the product's org header), limits,
faults and the journal happen before these views run (``fakes.core.chain``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Blueprint, request

from fakes.core.bodies import read_json
from fakes.core.context import ctx, json_response, lab
from fakes.core.errors import Failure, Kind
from fakes.core.tenants import orgs_of_user

from . import errors
from . import metadata as md
from .spec_fields import complete  # every property of Zoho's response schemas (issue 14)
from .store import BooksStore, Page

ORG_HEADERS = {"books": "X-com-zoho-books-organizationid", "invoice": "X-com-zoho-invoice-organizationid"}


# -- chain hooks (used by the Product in __init__) ----------------------------------------------

def org_for(c) -> str | None:
    """The org a call addresses: ``organization_id`` or the org header; not needed to list orgs."""
    if request.endpoint and request.endpoint.endswith(".organizations_list"):
        return None
    if request.endpoint and request.endpoint.endswith(".organization_get"):
        return request.view_args.get("organization_id") if request.view_args else None
    oid = request.args.get("organization_id") or request.headers.get(ORG_HEADERS[c.product.name])
    if not oid:
        raise Failure(Kind.ORG_MISSING)
    if not oid.isdigit() or len(oid) > 30:
        raise Failure(Kind.ORG_INVALID, {"org_id": oid})
    return oid


def scopes_for(product: str):
    prefix = md.SCOPE_PREFIX[product]

    def wanted(req) -> list[str]:
        parts = req.path.strip("/").split("/")
        segment = parts[2] if len(parts) > 2 else ""
        module = md.SCOPE_MODULE.get(segment, "settings")
        op = md.SCOPE_OPERATION.get(req.method, "READ")
        if req.method == "POST" and parts[-1] in ("active", "inactive", "sent", "void", "draft", "primary"):
            op = "UPDATE"  # status changes are updates
        return [f"{prefix}.fullaccess.all", f"{prefix}.{module}.all", f"{prefix}.{module}.{op}"]

    return wanted


# -- helpers ----------------------------------------------------------------------------------

@contextmanager
def store() -> Iterator[BooksStore]:
    """The org's store inside one transaction: committed when the view succeeds."""
    with lab().db.begin() as s:
        yield BooksStore(lab(), s, ctx().org)


def body() -> Any:
    try:
        return read_json(allow_jsonstring=True)
    except Failure as f:
        raise ctx().product.errors.render(f) from None


def ok(message: str = "success", status: int = 200, **payload: Any):
    return json_response({"code": 0, "message": message, **payload}, status)


JAVA_INT_MAX = 2**31 - 1


def page_args() -> Page:
    try:
        page = int(request.args.get("page", 1))
        per_page = int(request.args.get("per_page", md.PER_PAGE_DEFAULT))
    except ValueError:
        raise errors.invalid_value("page") from None
    if not 1 <= page <= JAVA_INT_MAX:  # Zoho parses an int: beyond it, the value is invalid
        raise errors.invalid_value("page")
    if not 1 <= per_page <= JAVA_INT_MAX:
        raise errors.invalid_value("per_page")
    return Page(page, min(per_page, md.PER_PAGE_MAX))


ITEM_DETAILS_MAX = 200  # [lab] ids per GET /itemdetails


def page_context(p: Page, more: bool, extra: dict[str, str]) -> dict[str, Any]:
    return {"page": p.page, "per_page": p.per_page, "has_more_page": more, **extra}


# -- routes ----------------------------------------------------------------------------------

def make_blueprint(name: str) -> Blueprint:
    bp = Blueprint(name, __name__)

    # organizations ---------------------------------------------------------------------------
    @bp.get("/organizations")
    def organizations_list():
        c = ctx()
        with lab().db.session() as s:
            orgs = orgs_of_user(s, c.principal.user_id, c.product.name)
            helper = BooksStore(lab(), s, orgs[0]) if orgs else None
            out = [complete("organization_list", helper.organization_json(o, is_default=(i == 0)))
                   for i, o in enumerate(orgs)] if helper else []
            s.commit()  # a base currency may have been healed
        return ok(organizations=out)

    @bp.get("/organizations/<organization_id>")
    def organization_get(organization_id: str):
        with store() as st:
            return ok(organization=complete("organization", st.organization_json(st.org, is_default=False)))

    # users (Books v3 users.yml) ---------------------------------------------------------------
    @bp.get("/users")
    def users_list():
        p = page_args()
        with store() as st:
            users, more = st.list_users(request.args.get("filter_by") or "Status.All", ctx().principal.user_id, p)
        return ok(users=users, page_context={**page_context(p, more, {}), "report_name": "Users",
                                             "sort_column": "name", "sort_order": "A"})

    @bp.get("/users/me")
    def users_me():
        with store() as st:
            return ok(user=st.get_user(st.lab.ids.user_record_id(st.org.product, st.org.id,
                                                                    ctx().principal.user_id)))

    @bp.get("/users/<user_id>")
    def users_get(user_id: str):
        with store() as st:
            return ok(user=st.get_user(user_id))

    # contacts ------------------------------------------------------------------------------
    @bp.post("/contacts")
    def contacts_create():
        data = body()
        with store() as st:
            c = st.create_contact(data)
            st.s.flush()
            out = st.contact_json(c, has_transaction=False)
        return ok("The contact has been created", 201, contact=complete("contact", out))

    @bp.get("/contacts")
    def contacts_list():
        p = page_args()
        with store() as st:
            rows, more, extra = st.list_contacts(request.args.to_dict(), p)
            currencies = {c.id: c for c in st.currencies()}
            outstanding = st.outstanding_by_contact([r.id for r in rows])
            out = [complete("contact_list", st.contact_list_json(r, currencies, outstanding)) for r in rows]
        return ok(contacts=out, page_context=page_context(p, more, extra))

    @bp.get("/contacts/<contact_id>")
    def contacts_get(contact_id: str):
        with store() as st:
            return ok(contact=complete("contact", st.contact_json(st.contact_row(contact_id))))

    @bp.put("/contacts/<contact_id>")
    def contacts_update(contact_id: str):
        data = body()
        with store() as st:
            c = st.update_contact(contact_id, data)
            st.s.flush()
            out = st.contact_json(c)
        return ok("Contact has been updated successfully", contact=complete("contact", out))

    @bp.delete("/contacts/<contact_id>")
    def contacts_delete(contact_id: str):
        with store() as st:
            st.delete_contact(contact_id)
        return ok("The contact has been deleted.")

    @bp.post("/contacts/<contact_id>/active")
    def contacts_active(contact_id: str):
        with store() as st:
            st.set_contact_status(contact_id, "active")
        return ok("The contact has been marked as active.")

    @bp.post("/contacts/<contact_id>/inactive")
    def contacts_inactive(contact_id: str):
        with store() as st:
            st.set_contact_status(contact_id, "inactive")
        return ok("The contact has been marked as inactive.")

    # contact persons ---------------------------------------------------------------------------
    @bp.post("/contacts/contactpersons")
    def persons_create():
        data = body()
        with store() as st:
            row = st.create_person(data)
            st.s.flush()
            out = st.person_json(row)
        return ok("The contactperson has been Created", 201, contact_person=[complete("contact_person", out)])

    @bp.put("/contacts/contactpersons/<person_id>")
    def persons_update(person_id: str):
        data = body()
        with store() as st:
            row = st.update_person(person_id, data)
            st.s.flush()
            out = st.person_json(row)
        return ok("The contactperson details has been updated.", contact_person=[complete("contact_person", out)])

    @bp.delete("/contacts/contactpersons/<person_id>")
    def persons_delete(person_id: str):
        with store() as st:
            st.delete_person(person_id)
        return ok("The contact person has been deleted.")

    @bp.post("/contacts/contactpersons/<person_id>/primary")
    def persons_primary(person_id: str):
        with store() as st:
            st.make_primary(person_id)
        return ok("This contact person has been marked as your primary contact person.")

    @bp.get("/contacts/<contact_id>/contactpersons")
    def persons_list(contact_id: str):
        p = page_args()
        with store() as st:
            st.contact(contact_id)
            persons = st.persons(contact_id)
        chunk = persons[(p.page - 1) * p.per_page: p.page * p.per_page]
        return ok(contact_persons=[complete("contact_person_list", BooksStore.person_json(x, with_contact=False))
                                   for x in chunk],
                  page_context=page_context(p, len(persons) > p.page * p.per_page,
                                            {"sort_column": "contact_person_id", "sort_order": "A"}))

    @bp.get("/contacts/<contact_id>/contactpersons/<person_id>")
    def persons_get(contact_id: str, person_id: str):
        with store() as st:
            st.contact(contact_id)
            return ok(contact_person=complete("contact_person", st.person_json(st.person(person_id, contact_id))))

    # items ------------------------------------------------------------------------------------
    @bp.post("/items")
    def items_create():
        data = body()
        with store() as st:
            it = st.create_item(data)
            st.s.flush()
            out = st.item_json(it)
        return ok("The item has been added.", 201, item=complete("item", out))

    @bp.get("/items")
    def items_list():
        p = page_args()
        with store() as st:
            rows, more, extra = st.list_items(request.args.to_dict(), p)
            taxes = {t.id: t for t in st.taxes()}
            out = [complete("item_list", st.item_json(r, taxes)) for r in rows]
        return ok(items=out, page_context=page_context(p, more, extra))

    @bp.get("/itemdetails")
    def items_details():
        """Bulk fetch item details (specs/books-v3/items.yml, ``GET /itemdetails``: ``item_ids``,
        comma-separated, required). [lab] At most 200 ids (a list page's size); ids the org has no
        item of are left out of ``items``, the rest come in the order asked."""
        ids = [i.strip() for i in (request.args.get("item_ids") or "").split(",") if i.strip()]
        if not ids or len(ids) > ITEM_DETAILS_MAX:
            raise errors.invalid_value("item_ids")
        with store() as st:
            taxes = {t.id: t for t in st.taxes()}
            out = [complete("item_list", st.item_json(r, taxes)) for r in st.items_by_ids(ids)]
        return ok(items=out)

    @bp.get("/items/<item_id>")
    def items_get(item_id: str):
        with store() as st:
            return ok(item=complete("item", st.item_json(st.item_row(item_id))))

    @bp.put("/items/<item_id>")
    def items_update(item_id: str):
        data = body()
        with store() as st:
            it = st.update_item(item_id, data)
            st.s.flush()
            out = st.item_json(it)
        return ok("Item details have been saved.", item=complete("item", out))

    @bp.delete("/items/<item_id>")
    def items_delete(item_id: str):
        with store() as st:
            st.delete_item(item_id)
        return ok("The item has been deleted.")

    @bp.post("/items/<item_id>/active")
    def items_active(item_id: str):
        with store() as st:
            st.set_item_status(item_id, "active")
        return ok("The item has been marked as active.")

    @bp.post("/items/<item_id>/inactive")
    def items_inactive(item_id: str):
        with store() as st:
            st.set_item_status(item_id, "inactive")
        return ok("The item has been marked as inactive.")

    # invoices ---------------------------------------------------------------------------------
    @bp.post("/invoices")
    def invoices_create():
        data = body()
        with store() as st:
            inv = st.create_invoice(data)
            st.s.flush()
            out = st.invoice_json(inv)
        return ok("The invoice has been created.", 201, invoice=complete("invoice", out))

    @bp.get("/invoices")
    def invoices_list():
        p = page_args()
        with store() as st:
            rows, more, extra = st.list_invoices(request.args.to_dict(), p)
            out = [complete("invoice_list", st.invoice_json(r, full=False)) for r in rows]
        return ok(invoices=out, page_context=page_context(p, more, extra))

    @bp.get("/invoices/<invoice_id>")
    def invoices_get(invoice_id: str):
        with store() as st:
            return ok(invoice=complete("invoice", st.invoice_json(st.invoice_row(invoice_id))))

    @bp.put("/invoices/<invoice_id>")
    def invoices_update(invoice_id: str):
        data = body()
        with store() as st:
            inv = st.update_invoice(invoice_id, data)
            st.s.flush()
            out = st.invoice_json(inv)
        return ok("Invoice information has been updated.", invoice=complete("invoice", out))

    @bp.delete("/invoices/<invoice_id>")
    def invoices_delete(invoice_id: str):
        with store() as st:
            st.delete_invoice(invoice_id)
        return ok("The invoice has been deleted.")

    @bp.post("/invoices/<invoice_id>/status/<target>")
    def invoices_status(invoice_id: str, target: str):
        if target not in ("sent", "void", "draft"):
            raise Failure(Kind.URL_NOT_FOUND)
        with store() as st:
            message = st.set_invoice_status(invoice_id, target)
        return ok(message)

    # currencies ---------------------------------------------------------------------------------
    @bp.get("/settings/currencies")
    def currencies_list():
        with store() as st:
            rows = st.currencies()
            out = [complete("currency_list", st.currency_json(c, listing=True)) for c in rows]
        return ok(currencies=out, page_context=page_context(Page(1, md.PER_PAGE_MAX), False,
                                                            {"report_name": "Currencies"}))

    @bp.post("/settings/currencies")
    def currencies_create():
        data = body()
        with store() as st:
            c = st.create_currency(data)
            out = st.currency_json(c)
        return ok("The currency has been added.", 201, currency=complete("currency", out))

    @bp.get("/settings/currencies/<currency_id>")
    def currencies_get(currency_id: str):
        with store() as st:
            return ok(currency=complete("currency", st.currency_json(st.currency(currency_id))))

    @bp.put("/settings/currencies/<currency_id>")
    def currencies_update(currency_id: str):
        data = body()
        with store() as st:
            out = st.currency_json(st.update_currency(currency_id, data))
        return ok("Currency information has been saved.", currency=complete("currency", out))

    @bp.delete("/settings/currencies/<currency_id>")
    def currencies_delete(currency_id: str):
        with store() as st:
            st.delete_currency(currency_id)
        return ok("The currency has been deleted.")

    # taxes ------------------------------------------------------------------------------------
    # Zoho's spec declares the single-tax answers' "tax" as an array of one (taxes.yml).
    @bp.get("/settings/taxes")
    def taxes_list():
        p = page_args()
        with store() as st:
            rows = st.taxes()
        chunk = rows[(p.page - 1) * p.per_page: p.page * p.per_page]
        out = [{**BooksStore.tax_json(t), "is_default_tax": False, "is_editable": True} for t in chunk]
        return ok(taxes=out, page_context=page_context(p, len(rows) > p.page * p.per_page, {
            "report_name": "Taxes", "applied_filter": "Status.All", "sort_column": "created_time", "sort_order": "D"}))

    @bp.post("/settings/taxes")
    def taxes_create():
        data = body()
        with store() as st:
            t = st.create_tax(data)
        return ok("The tax has been added.", 201, tax=[BooksStore.tax_json(t)])

    @bp.get("/settings/taxes/<tax_id>")
    def taxes_get(tax_id: str):
        with store() as st:
            return ok(tax=[BooksStore.tax_json(st.tax(tax_id))])

    @bp.put("/settings/taxes/<tax_id>")
    def taxes_update(tax_id: str):
        data = body()
        with store() as st:
            t = st.update_tax(tax_id, data)
        return ok("Tax information has been saved.", tax=[BooksStore.tax_json(t)])

    @bp.delete("/settings/taxes/<tax_id>")
    def taxes_delete(tax_id: str):
        with store() as st:
            st.delete_tax(tax_id)
        return ok("The record has been deleted.")

    # internal ---------------------------------------------------------------------------------
    @bp.get("/_internal/settings")
    def internal_settings():
        """[internal, not a Zoho API] Zoho-internal state of the org the syncer needs to read:
        taxes enabled, duplicate-name policy, the CRM-Books integration, record counts."""
        with store() as st:
            return ok(settings=internal_state(st))

    return bp


def internal_state(st: BooksStore) -> dict[str, Any]:
    org = st.org
    settings = org.settings or {}
    return {
        "organization_id": org.id, "product": org.product, "edition": org.edition,
        "tax_enabled": org.tax_enabled, "allow_duplicate_names": bool(settings.get("allow_duplicate_names")),
        "crm_integration": crm_integration(settings), "custom_fields": settings.get("custom_fields") or {},
        "counts": st.counts(), "active": org.active, "trial_expired": org.trial_expired,
    }


def crm_integration(settings: dict[str, Any]) -> dict[str, Any]:
    ci = settings.get("crm_integration") or {}
    return {"enabled": bool(ci.get("enabled")), "sync_type": ci.get("sync_type"),
            "sync_in_progress": bool(ci.get("sync_in_progress")), "crm_org_id": ci.get("crm_org_id")}


# -- control surface: /_lab/books/... and /_lab/invoice/... ----------------------------------------

def make_lab_blueprint(product: str):
    """Zoho-internal state of Books/Invoice orgs, settable by tests and scenarios."""
    from fakes.core.errors import lab_error
    from fakes.core.lab_api import lab_body, lab_org
    from fakes.core.provision import update_org

    bp = Blueprint(f"lab_{product}", __name__)

    @bp.get("/orgs/<org_id>/crm-integration")
    def crm_integration_get(org_id: str):
        """The org's CRM-Books integration: enabled, sync type I-IV, sync in progress."""
        return json_response(crm_integration(lab_org(org_id, product).settings or {}))

    @bp.route("/orgs/<org_id>/crm-integration", methods=["PUT", "PATCH"])
    def crm_integration_set(org_id: str):
        """Set the CRM-Books integration state (merged with what is there)."""
        org = lab_org(org_id, product)
        data = lab_body()
        unknown = set(data) - {"enabled", "sync_type", "sync_in_progress", "crm_org_id"}
        if unknown:
            raise lab_error(400, f"unknown key(s): {', '.join(sorted(unknown))}")
        for key in ("enabled", "sync_in_progress"):
            if key in data and not isinstance(data[key], bool):
                raise lab_error(400, f"{key} must be true or false")
        if data.get("sync_type") is not None and data["sync_type"] not in md.SYNC_TYPES:
            raise lab_error(400, f"sync_type must be one of {', '.join(md.SYNC_TYPES)} or null")
        if data.get("crm_org_id") is not None and not isinstance(data["crm_org_id"], str):
            raise lab_error(400, "crm_org_id must be a string")
        merged = {**crm_integration(org.settings or {}), **data}
        update_org(lab(), org_id, {"settings": {"crm_integration": merged}})
        return json_response(merged)

    @bp.get("/orgs/<org_id>/customfields")
    def customfields_list(org_id: str):
        """Custom field definitions of the org, per entity (contact, item, invoice)."""
        return json_response((lab_org(org_id, product).settings or {}).get("custom_fields") or {})

    @bp.post("/orgs/<org_id>/customfields")
    def customfields_add(org_id: str):
        """Define a custom field: {entity, label, api_name?, data_type?}."""
        org = lab_org(org_id, product)
        data = lab_body()
        entity = data.get("entity")
        if entity not in md.CUSTOM_FIELD_ENTITIES:
            raise lab_error(400, f"entity must be one of {', '.join(md.CUSTOM_FIELD_ENTITIES)}")
        label = data.get("label")
        if not isinstance(label, str) or not label.strip() or len(label) > 50:
            raise lab_error(400, "label must be a non-empty string of at most 50 characters")
        api_name = data.get("api_name") or "cf_" + "_".join(label.lower().split())
        if not isinstance(api_name, str) or not api_name.startswith("cf_"):
            raise lab_error(400, "api_name must start with cf_")
        data_type = data.get("data_type", "string")
        if data_type not in md.CUSTOM_FIELD_TYPES:
            raise lab_error(400, f"data_type must be one of {', '.join(md.CUSTOM_FIELD_TYPES)}")
        defs = dict((org.settings or {}).get("custom_fields") or {})
        current = list(defs.get(entity) or [])
        if any(d["api_name"] == api_name or d["label"] == label for d in current):
            raise lab_error(409, f"{entity} already has a custom field {label!r} / {api_name}")
        with lab().db.begin() as s:
            cf_id = lab().ids.record_id(s, "books" if product == "books" else "invoice", org_id)
        field = {"customfield_id": cf_id, "index": len(current) + 1, "label": label, "api_name": api_name,
                 "data_type": data_type}
        defs[entity] = [*current, field]
        update_org(lab(), org_id, {"settings": {"custom_fields": defs}})
        return json_response(field, 201)

    return bp
