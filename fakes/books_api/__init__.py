"""Fake Zoho Books v3 (``/books/v3``, legacy ``/api/v3``) and Zoho Invoice v3 (``/invoice/v3``):
one code base, two products (``product("books")`` and ``product("invoice")``)."""

from __future__ import annotations

from fakes.core.product import LimitHeaders, LimitRule, Product
from fakes.core.tenants import Org

from . import api, lab_api
from . import metadata as md
from .api import org_for, scopes_for
from .errors import BooksErrors
from .seed import SEEDERS
from .store import BooksStore, add_missing_base_currencies

PREFIXES = {"books": ("/books/v3", "/api/v3"), "invoice": ("/invoice/v3",)}


def limits_for(org: Org) -> list[LimitRule]:
    return [
        LimitRule("concurrency", md.concurrent(org.edition), 0, "concurrency"),
        LimitRule("minute", md.PER_MINUTE, 60, "rate_minute"),
        LimitRule("day", md.per_day(org.edition), 86400, "rate_day", advertise=True),
    ]


def on_org_created(session, org: Org, lab) -> None:
    """A new org has its base currency, and the extra currencies asked for at creation."""
    st = BooksStore(lab, session, org)
    st.add_currency_row(org.currency_code, is_base=True)
    for code in org.currencies or []:
        st.add_currency_row(code)


def product(name: str) -> Product:
    if name not in PREFIXES:
        raise ValueError(f"books_api serves books or invoice, not {name}")
    return Product(
        name=name,
        family="books",
        prefixes=PREFIXES[name],
        make_blueprint=lambda _name: api.blueprint,  # one blueprint, registered per prefix by name
        errors=BooksErrors(),
        scopes_for=scopes_for(name),
        org_for=org_for,
        limits_for=limits_for,
        limit_headers=LimitHeaders("X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset"),
        on_org_created=on_org_created,
        seeders=dict(SEEDERS),
        make_lab_blueprint=lambda: lab_api.blueprint,
        on_start=lambda lab: add_missing_base_currencies(lab, name),
        internal_doc=f"**{name}**: `GET /{'books' if name == 'books' else 'invoice'}/v3/_internal/settings` "
                     "(OAuth, organization_id) answers the org's Zoho-internal state: tax_enabled, "
                     "allow_duplicate_names, crm_integration {enabled, sync_type, sync_in_progress}, custom field "
                     f"definitions, record counts. `/_lab/{name}/orgs/{{id}}/crm-integration` and "
                     f"`/_lab/{name}/orgs/{{id}}/customfields` set that state.",
    )
