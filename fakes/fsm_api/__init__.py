"""Fake Zoho FSM v1 (``/fsm/v1``): records of Contacts, Companies, Service_And_Parts, Work_Orders,
Requests, Estimates, Service_Appointments and Assets with FSM's answer shapes; search; PII;
process_sync; per-record timeline; and the Zoho-internal state (currencies, taxes, imports,
change notifications) on ``/fsm/v1/_internal`` and ``/_lab/fsm``. See docs/fsm.md."""

from __future__ import annotations

from fakes.core.crm_style import CrmStyleErrors, user_org
from fakes.core.product import LimitHeaders, LimitRule, Product
from fakes.core.tenants import Org

from . import metadata as md
from .api import make_blueprint, make_lab_blueprint, make_notifier, scopes_for
from .seed import SEEDERS
from .store import FsmStore


def limits_for(org: Org) -> list[LimitRule]:
    """Per-day calls by edition and concurrent calls (RESEARCH-API.md, FSM: Limits); the day's
    numbers go into the x-ratelimit-* headers."""
    settings = org.settings or {}
    return [
        LimitRule("concurrency", md.concurrent(org.edition, settings), 0, "concurrency"),
        LimitRule("day", md.per_day(org.edition, settings), 86400, "rate_day", advertise=True),
    ]


def on_org_created(session, org: Org, lab) -> None:
    """A new org has its base currency, and the extra currencies asked for at creation."""
    st = FsmStore(lab, session, org)
    st.add_currency(org.currency_code, is_base=True)
    for code in org.currencies or []:
        st.add_currency(code)


def on_start(lab) -> None:
    lab.subscribe(make_notifier(lab))


def product() -> Product:
    return Product(
        name="fsm",
        family="fsm",
        prefixes=("/fsm/v1",),
        make_blueprint=make_blueprint,
        errors=CrmStyleErrors(),
        scopes_for=scopes_for,
        org_for=lambda c: user_org(c),
        limits_for=limits_for,
        limit_headers=LimitHeaders("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"),
        on_org_created=on_org_created,
        seeders=dict(SEEDERS),
        make_lab_blueprint=make_lab_blueprint,
        modules=md.MODULES,
        on_start=on_start,
        internal_doc="**fsm**: `GET /fsm/v1/_internal/settings` (OAuth) answers the org's Zoho-internal state: "
                     "edition, pii_api_access, multi_currency, tax_enabled and taxes, currencies, "
                     "import_in_progress, sync_in_progress, limits. Also under `/fsm/v1/_internal`: currencies "
                     "(GET, POST, PUT /{id}), imports (GET), sync-state (PUT), taxes (PUT), users/me (GET: the "
                     "caller's profile and permissions), notifications (POST/GET/DELETE, "
                     "CRM actions/watch bodies), `{module}/{id}/timeline` (POST a sync failure). "
                     "`/_lab/fsm/orgs/{id}/...` sets PII access, field PII/EPHI flags, taxes, users' profiles and "
                     "custom profiles, and runs data imports. "
                     "Workflow rules: `/_lab/workflows`. See docs/fsm.md.",
    )
