"""Fake Zoho CRM v2…v8 (``/crm/v2`` … ``/crm/v8``): records of Accounts, Contacts, Products,
Deals and Sales_Orders, search, count, COQL, metadata, users, org, notifications (watch), and the
org's Zoho-internal settings. See docs/crm.md."""

from __future__ import annotations

from fakes.core.crm_style import user_org
from fakes.core.product import LimitHeaders, LimitRule, Product
from fakes.core.tenants import Org

from . import api, lab_api
from . import metadata as md
from .api import scopes_for
from .errors import CrmErrors
from .seed import SEEDERS


def limits_for(org: Org) -> list[LimitRule]:
    """Concurrency per edition, and credits per rolling 24 hours (counted in hourly slots)."""
    return [LimitRule("concurrency", md.concurrency(org.edition), 0, "concurrency"),
            LimitRule("credits", md.credits(org.edition, org.settings), 86400, "rate_day", advertise=True,
                      slots=md.ROLLING_SLOTS)]


def on_start(lab) -> None:
    from .store import on_change

    lab.subscribe(lambda event: on_change(lab, event))


def product() -> Product:
    return Product(
        name="crm",
        family="crm",
        prefixes=(f"/crm/<any({','.join(md.VERSIONS)}):version>",),
        make_blueprint=lambda _name: api.bp,  # one module-level blueprint; the app names it per prefix
        errors=CrmErrors(),
        scopes_for=scopes_for,
        org_for=lambda c: user_org(c, "X-CRM-ORG"),
        limits_for=limits_for,
        limit_headers=LimitHeaders("X-RATELIMIT-LIMIT", "X-RATELIMIT-REMAINING", "X-RATELIMIT-RESET"),
        seeders=dict(SEEDERS),
        make_lab_blueprint=lambda: lab_api.bp,
        modules=dict(md.MODULES),
        on_start=on_start,
        internal_doc="**crm**: `GET /crm/v8/_internal/settings` (OAuth, any version) answers the org's "
                     "Zoho-internal state: edition, books_integration {enabled, linked_org_id, product, sync_type, "
                     "sync_in_progress}, restrict_data_transfer per module {level none|normal|sensitive, field marks, "
                     "restricted_fields}, installed extensions and their profiles, limits, record counts. "
                     "`/_lab/crm/orgs/{id}/books-integration`, `/data-transfer`, `/extensions` set that state; "
                     "`/_lab/crm/orgs/{id}/channels` lists watch channels.",
    )
