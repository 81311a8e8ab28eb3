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

from . import errors, render
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


# -- routes ----------------------------------------------------------------------------------
# One blueprint for every prefix: the app registers it once per prefix (/books/v3, /api/v3,
# /invoice/v3) under the names books@0, books@1, invoice@0 (``Flask.register_blueprint(name=)``);
# the chain tells the product from that name.
blueprint = Blueprint("books_api", __name__)


# organizations ---------------------------------------------------------------------------
@blueprint.get("/organizations")
def organizations_list():
    c = ctx()
    with lab().db.session() as s:
        orgs = orgs_of_user(s, c.principal.user_id, c.product.name)
        helper = BooksStore(lab(), s, orgs[0]) if orgs else None
        out = [complete("organization_list", render.organization(helper, o, is_default=(i == 0)))
               for i, o in enumerate(orgs)] if helper else []
    return ok(organizations=out)


@blueprint.get("/organizations/<organization_id>")
def organization_get(organization_id: str):
    with store() as st:
        return ok(organization=complete("organization", render.organization(st, st.org)))


# users (Books v3 users.yml) ---------------------------------------------------------------
@blueprint.get("/users")
def users_list():
    p = page_args()
    with store() as st:
        members, more = st.list_users(request.args.get("filter_by") or "Status.All", p)
        users = [render.user_summary(st, u, role, ctx().principal.user_id) for u, role in members]
    return ok(users=users, page_context={**render.page_context(p, more, {}), "report_name": "Users",
                                         "sort_column": "name", "sort_order": "A"})


@blueprint.get("/users/me")
def users_me():
    with store() as st:
        return ok(user=render.user(st, *st.get_user(st.user_record_id(ctx().principal.user_id))))


@blueprint.get("/users/<user_id>")
def users_get(user_id: str):
    with store() as st:
        return ok(user=render.user(st, *st.get_user(user_id)))


# contacts ------------------------------------------------------------------------------
@blueprint.post("/contacts")
def contacts_create():
    data = body()
    with store() as st:
        c = st.create_contact(data)
        st.s.flush()
        out = render.contact(st, c, has_transaction=False)
    return ok("The contact has been created", 201, contact=complete("contact", out))


@blueprint.get("/contacts")
def contacts_list():
    p = page_args()
    with store() as st:
        rows, more, extra = st.list_contacts(request.args.to_dict(), p)
        currencies = {c.id: c for c in st.currencies()}
        outstanding = st.outstanding_by_contact([r.id for r in rows])
        out = [complete("contact_list", render.contact_list(st, r, currencies, outstanding)) for r in rows]
    return ok(contacts=out, page_context=render.page_context(p, more, extra))


@blueprint.get("/contacts/<contact_id>")
def contacts_get(contact_id: str):
    with store() as st:
        return ok(contact=complete("contact", render.contact(st, st.contact_row(contact_id))))


@blueprint.put("/contacts/<contact_id>")
def contacts_update(contact_id: str):
    data = body()
    with store() as st:
        c = st.update_contact(contact_id, data)
        st.s.flush()
        out = render.contact(st, c)
    return ok("Contact has been updated successfully", contact=complete("contact", out))


@blueprint.delete("/contacts/<contact_id>")
def contacts_delete(contact_id: str):
    with store() as st:
        st.delete_contact(contact_id)
    return ok("The contact has been deleted.")


@blueprint.post("/contacts/<contact_id>/active")
def contacts_active(contact_id: str):
    with store() as st:
        st.set_contact_status(contact_id, "active")
    return ok("The contact has been marked as active.")


@blueprint.post("/contacts/<contact_id>/inactive")
def contacts_inactive(contact_id: str):
    with store() as st:
        st.set_contact_status(contact_id, "inactive")
    return ok("The contact has been marked as inactive.")


# contact persons ---------------------------------------------------------------------------
@blueprint.post("/contacts/contactpersons")
def persons_create():
    data = body()
    with store() as st:
        row = st.create_person(data)
        st.s.flush()
        out = render.person(row)
    return ok("The contactperson has been Created", 201, contact_person=[complete("contact_person", out)])


@blueprint.put("/contacts/contactpersons/<person_id>")
def persons_update(person_id: str):
    data = body()
    with store() as st:
        row = st.update_person(person_id, data)
        st.s.flush()
        out = render.person(row)
    return ok("The contactperson details has been updated.", contact_person=[complete("contact_person", out)])


@blueprint.delete("/contacts/contactpersons/<person_id>")
def persons_delete(person_id: str):
    with store() as st:
        st.delete_person(person_id)
    return ok("The contact person has been deleted.")


@blueprint.post("/contacts/contactpersons/<person_id>/primary")
def persons_primary(person_id: str):
    with store() as st:
        st.make_primary(person_id)
    return ok("This contact person has been marked as your primary contact person.")


@blueprint.get("/contacts/<contact_id>/contactpersons")
def persons_list(contact_id: str):
    p = page_args()
    with store() as st:
        st.contact(contact_id)
        persons = st.persons(contact_id)
    chunk = persons[(p.page - 1) * p.per_page: p.page * p.per_page]
    return ok(contact_persons=[complete("contact_person_list", render.person(x, with_contact=False))
                               for x in chunk],
              page_context=render.page_context(p, len(persons) > p.page * p.per_page,
                                        {"sort_column": "contact_person_id", "sort_order": "A"}))


@blueprint.get("/contacts/<contact_id>/contactpersons/<person_id>")
def persons_get(contact_id: str, person_id: str):
    with store() as st:
        st.contact(contact_id)
        return ok(contact_person=complete("contact_person", render.person(st.person(person_id, contact_id))))


# items ------------------------------------------------------------------------------------
@blueprint.post("/items")
def items_create():
    data = body()
    with store() as st:
        it = st.create_item(data)
        st.s.flush()
        out = render.item(st, it)
    return ok("The item has been added.", 201, item=complete("item", out))


@blueprint.get("/items")
def items_list():
    p = page_args()
    with store() as st:
        rows, more, extra = st.list_items(request.args.to_dict(), p)
        taxes = {t.id: t for t in st.taxes()}
        out = [complete("item_list", render.item(st, r, taxes)) for r in rows]
    return ok(items=out, page_context=render.page_context(p, more, extra))


@blueprint.get("/itemdetails")
def items_details():
    """Bulk fetch item details (specs/books-v3/items.yml, ``GET /itemdetails``: ``item_ids``,
    comma-separated, required). [lab] At most 200 ids (a list page's size); ids the org has no
    item of are left out of ``items``, the rest come in the order asked."""
    ids = [i.strip() for i in (request.args.get("item_ids") or "").split(",") if i.strip()]
    if not ids or len(ids) > ITEM_DETAILS_MAX:
        raise errors.invalid_value("item_ids")
    with store() as st:
        taxes = {t.id: t for t in st.taxes()}
        out = [complete("item_list", render.item(st, r, taxes)) for r in st.items_by_ids(ids)]
    return ok(items=out)


@blueprint.get("/items/<item_id>")
def items_get(item_id: str):
    with store() as st:
        return ok(item=complete("item", render.item(st, st.item_row(item_id))))


@blueprint.put("/items/<item_id>")
def items_update(item_id: str):
    data = body()
    with store() as st:
        it = st.update_item(item_id, data)
        st.s.flush()
        out = render.item(st, it)
    return ok("Item details have been saved.", item=complete("item", out))


@blueprint.delete("/items/<item_id>")
def items_delete(item_id: str):
    with store() as st:
        st.delete_item(item_id)
    return ok("The item has been deleted.")


@blueprint.post("/items/<item_id>/active")
def items_active(item_id: str):
    with store() as st:
        st.set_item_status(item_id, "active")
    return ok("The item has been marked as active.")


@blueprint.post("/items/<item_id>/inactive")
def items_inactive(item_id: str):
    with store() as st:
        st.set_item_status(item_id, "inactive")
    return ok("The item has been marked as inactive.")


# invoices ---------------------------------------------------------------------------------
@blueprint.post("/invoices")
def invoices_create():
    data = body()
    with store() as st:
        inv = st.create_invoice(data)
        st.s.flush()
        out = render.invoice(st, inv)
    return ok("The invoice has been created.", 201, invoice=complete("invoice", out))


@blueprint.get("/invoices")
def invoices_list():
    p = page_args()
    with store() as st:
        rows, more, extra = st.list_invoices(request.args.to_dict(), p)
        out = [complete("invoice_list", render.invoice(st, r, full=False)) for r in rows]
    return ok(invoices=out, page_context=render.page_context(p, more, extra))


@blueprint.get("/invoices/<invoice_id>")
def invoices_get(invoice_id: str):
    with store() as st:
        return ok(invoice=complete("invoice", render.invoice(st, st.invoice_row(invoice_id))))


@blueprint.put("/invoices/<invoice_id>")
def invoices_update(invoice_id: str):
    data = body()
    with store() as st:
        inv = st.update_invoice(invoice_id, data)
        st.s.flush()
        out = render.invoice(st, inv)
    return ok("Invoice information has been updated.", invoice=complete("invoice", out))


@blueprint.delete("/invoices/<invoice_id>")
def invoices_delete(invoice_id: str):
    with store() as st:
        st.delete_invoice(invoice_id)
    return ok("The invoice has been deleted.")


@blueprint.post("/invoices/<invoice_id>/status/<target>")
def invoices_status(invoice_id: str, target: str):
    if target not in ("sent", "void", "draft"):
        raise Failure(Kind.URL_NOT_FOUND)
    with store() as st:
        message = st.set_invoice_status(invoice_id, target)
    return ok(message)


# currencies ---------------------------------------------------------------------------------
@blueprint.get("/settings/currencies")
def currencies_list():
    with store() as st:
        rows = st.currencies()
        out = [complete("currency_list", render.currency(st, c, listing=True)) for c in rows]
    return ok(currencies=out, page_context=render.page_context(Page(1, md.PER_PAGE_MAX), False,
                                                        {"report_name": "Currencies"}))


@blueprint.post("/settings/currencies")
def currencies_create():
    data = body()
    with store() as st:
        c = st.create_currency(data)
        out = render.currency(st, c)
    return ok("The currency has been added.", 201, currency=complete("currency", out))


@blueprint.get("/settings/currencies/<currency_id>")
def currencies_get(currency_id: str):
    with store() as st:
        return ok(currency=complete("currency", render.currency(st, st.currency(currency_id))))


@blueprint.put("/settings/currencies/<currency_id>")
def currencies_update(currency_id: str):
    data = body()
    with store() as st:
        out = render.currency(st, st.update_currency(currency_id, data))
    return ok("Currency information has been saved.", currency=complete("currency", out))


@blueprint.delete("/settings/currencies/<currency_id>")
def currencies_delete(currency_id: str):
    with store() as st:
        st.delete_currency(currency_id)
    return ok("The currency has been deleted.")

# taxes ------------------------------------------------------------------------------------
# Zoho's spec declares the single-tax answers' "tax" as an array of one (taxes.yml).


@blueprint.get("/settings/taxes")
def taxes_list():
    p = page_args()
    with store() as st:
        rows = st.taxes()
    chunk = rows[(p.page - 1) * p.per_page: p.page * p.per_page]
    out = [{**render.tax(t), "is_default_tax": False, "is_editable": True} for t in chunk]
    return ok(taxes=out, page_context=render.page_context(p, len(rows) > p.page * p.per_page, {
        "report_name": "Taxes", "applied_filter": "Status.All", "sort_column": "created_time", "sort_order": "D"}))


@blueprint.post("/settings/taxes")
def taxes_create():
    data = body()
    with store() as st:
        t = st.create_tax(data)
    return ok("The tax has been added.", 201, tax=[render.tax(t)])


@blueprint.get("/settings/taxes/<tax_id>")
def taxes_get(tax_id: str):
    with store() as st:
        return ok(tax=[render.tax(st.tax(tax_id))])


@blueprint.put("/settings/taxes/<tax_id>")
def taxes_update(tax_id: str):
    data = body()
    with store() as st:
        t = st.update_tax(tax_id, data)
    return ok("Tax information has been saved.", tax=[render.tax(t)])


@blueprint.delete("/settings/taxes/<tax_id>")
def taxes_delete(tax_id: str):
    with store() as st:
        st.delete_tax(tax_id)
    return ok("The record has been deleted.")


# internal ---------------------------------------------------------------------------------
@blueprint.get("/_internal/settings")
def internal_settings():
    """[internal, not a Zoho API] Zoho-internal state of the org the syncer needs to read:
    taxes enabled, duplicate-name policy, the CRM-Books integration, record counts."""
    with store() as st:
        return ok(settings=render.internal_state(st))
