"""Onboarding a new FSM org onto Books/Invoice (OB-01, OB-02, OB-03, TW-21, OB-04).

One path, the syncer's API (``syncer/service.py``): ``POST /onboarding/offered-orgs`` lists the
orgs (``offered_orgs``); ``POST /integrations`` with a ``choice`` checks it (``check_choice``)
and refuses a second integration of the FSM org; ``POST /integrations/{id}/enable`` sets the
sync type (``default_sync_type``), the default mappings (OB-02) and the taxes
(``onboard_taxes``); every run of a new org's integration pushes FSM taxes added since
(``push_fsm_taxes``, engine.py).

**Which orgs** (OB-01): the Books and Invoice orgs ``GET /organizations`` lists for the signup
user's token, kept when ``is_org_active`` (and, for Books, not ``is_trial_expired``) and, when a
signup email is given, when the org's account email is that address.

**The three choices**: ``existing_invoice``, ``existing_books`` — one of the offered orgs; and
``new_invoice`` — "a new Zoho Invoice account with the same organization name as your FSM
account". The syncer cannot create Zoho orgs (Zoho's signup flow does; in the lab, tenant
creation or ``POST /_lab/orgs``), so *new* means **the tenant's Invoice org created for this FSM
org**: an active Invoice org of the user with the FSM org's name, which ``new_invoice_org``
finds. Whether it is new is the caller's statement (the onboarding screen made it), not
something the API can tell.

**Setup**: one integration per FSM org (a second is refused), in state ``created`` (enabling,
with its duplicate policy, is TW-01's separate one-time action); at enable, the sync type is the
CRM–Books integration's for an existing org when that integration is enabled, else IV (TW-21);
the default module and field mappings of every module pair, validated against FSM's fields
(OB-02); taxes (OB-03): a new org gets FSM's tax rates (``POST /settings/taxes``, those it lacks
by name); an existing org's rates and its taxes switch go to FSM through FSM's internal tax
settings (``PUT /fsm/v1/_internal/taxes``: Zoho FSM publishes no API for them). Switching taxes
on later is support's (TW-28).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..clients import BooksClient, FsmClient
from ..sync_core.outcomes import Patience, create_once

NEW_INVOICE, EXISTING_INVOICE, EXISTING_BOOKS = "new_invoice", "existing_invoice", "existing_books"
CHOICES = (NEW_INVOICE, EXISTING_INVOICE, EXISTING_BOOKS)
DEFAULT_SYNC_TYPE = "IV"  # TW-21: a new Invoice org
SYNC_TYPES = ("I", "II", "III", "IV")


class OnboardingError(Exception):
    """Onboarding refused; ``reason`` says why, for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class OfferedOrg:
    product: str  # books | invoice
    organization_id: str
    name: str
    email: str = ""


# -- OB-01 -----------------------------------------------------------------------------------------------

def offerable(org: dict[str, Any], product: str, signup_email: str | None = None) -> bool:
    """An org from ``GET /organizations`` that may be offered: active, a Books org whose trial has
    not expired, linked to the signup email."""
    if not org.get("is_org_active", True):
        return False
    if product == "books" and org.get("is_trial_expired"):
        return False
    return not (signup_email and str(org.get("email") or "").lower() != signup_email.lower())


def offered_orgs(books: BooksClient | None = None, invoice: BooksClient | None = None, *,
                 signup_email: str | None = None) -> list[OfferedOrg]:
    """The existing Books and Invoice orgs a new FSM org may integrate with (OB-01): Invoice orgs
    first, then Books orgs, each in the order Zoho lists them. Either client may be None (that
    product is not offered); a client's own organization_id does not matter here."""
    out: list[OfferedOrg] = []
    for product, client in (("invoice", invoice), ("books", books)):
        if client is None:
            continue
        for org in client.organizations():
            if offerable(org, product, signup_email):
                out.append(OfferedOrg(product, str(org["organization_id"]), org.get("name", ""),
                                      org.get("email", "")))
    return out


def new_invoice_org(invoice: BooksClient, fsm_org_name: str, *, signup_email: str | None = None) -> OfferedOrg:
    """The tenant's Invoice org created for this FSM org: an active one with the FSM org's name."""
    for org in offered_orgs(invoice=invoice, signup_email=signup_email):
        if org.name.strip().lower() == fsm_org_name.strip().lower():
            return org
    raise OnboardingError(f"No active Zoho Invoice organization named {fsm_org_name!r} exists for this account: "
                          "the new Invoice organization must be created (with the FSM organization's name) first")


# -- TW-21 -----------------------------------------------------------------------------------------------

def default_sync_type(existing_org: bool, books_settings: dict[str, Any] | None) -> str:
    """An existing Books/Invoice org takes its CRM–Books integration's sync type when that
    integration is enabled; otherwise (and for a new Invoice org) Type IV."""
    crm = (books_settings or {}).get("crm_integration") or {}
    if existing_org and crm.get("enabled") and crm.get("sync_type") in SYNC_TYPES:
        return str(crm["sync_type"])
    return DEFAULT_SYNC_TYPE


# -- the choice (OB-01) --------------------------------------------------------------------------------

def check_choice(fsm: FsmClient, books: BooksClient, choice: str, *, signup_email: str | None = None) -> bool:
    """Whether the org of ``books`` may be integrated with the FSM org of ``fsm`` as ``choice``
    (OnboardingError says why not); answers whether it is a new org (OB-03: FSM's taxes go to it,
    while an existing org's come to FSM)."""
    if choice not in CHOICES:
        raise OnboardingError(f"choice must be one of {', '.join(CHOICES)}, not {choice!r}")
    product = "books" if choice == EXISTING_BOOKS else "invoice"
    if books.product != product:
        raise OnboardingError(f"{choice} needs a Zoho {product.title()} organization, not a {books.product} one")
    org_id = books.organization_id
    if choice == NEW_INVOICE:
        fsm_name = str(fsm.internal_settings().get("name") or "")
        org = new_invoice_org(books, fsm_name, signup_email=signup_email)
        if org.organization_id != org_id:
            raise OnboardingError(f"Invoice organization {org_id} is not the one created for FSM organization "
                                  f"{fsm_name!r} ({org.organization_id})")
        return True
    if org_id not in {o.organization_id for o in offered_orgs(**{product: books}, signup_email=signup_email)}:
        raise OnboardingError(f"Zoho {product.title()} organization {org_id} cannot be integrated: only active "
                              "organizations linked to the signup email are offered"
                              + (" (and Books organizations whose trial has not expired)" if product == "books" else ""))
    return False


# -- taxes (OB-03) ----------------------------------------------------------------------------------------

def onboard_taxes(fsm: FsmClient, books: BooksClient, *, new_org: bool) -> dict[str, Any]:
    """OB-03 at enable: a new org gets FSM's tax rates; an existing org's rates (and its taxes
    switch) are written to FSM through FSM's internal tax settings."""
    fsm_state = fsm.internal_settings()
    books_taxes = books.list_taxes()
    if new_org:
        return {"pushed": push_fsm_taxes(books, fsm_state.get("taxes") or [], books_taxes)}
    pulled = [{"tax_name": t.get("tax_name"), "tax_percentage": t.get("tax_percentage")} for t in books_taxes]
    if not pulled:
        return {"pulled": []}
    books_state = books.internal_settings()
    fsm.set_taxes(enabled=bool(books_state.get("tax_enabled")), taxes=pulled)
    return {"pulled": pulled}


def push_fsm_taxes(books: BooksClient, fsm_taxes: list[dict[str, Any]], books_taxes: list[dict[str, Any]],
                   on_error: Callable[[dict[str, Any], Exception], None] | None = None) -> list[dict[str, Any]]:
    """OB-03, a new org: FSM's tax rates it lacks (by name) are created in it; at enable and on
    every sync, so taxes configured in FSM later reach it too. ``on_error``: a refused tax is
    reported there and the others go on (else the error is raised)."""
    from ..clients import ZohoApiError

    have = {str(t.get("tax_name") or "").lower() for t in books_taxes}
    pushed = []
    for tax in fsm_taxes:
        name = str(tax.get("tax_name") or "")
        if not name or name.lower() in have:
            continue
        try:
            pushed.append(_create_tax(books, name, tax.get("tax_percentage") or 0))
        except ZohoApiError as exc:
            if on_error is None or not exc.is_record_level:
                raise
            on_error(tax, exc)
        have.add(name.lower())
    return pushed


def _create_tax(books: BooksClient, name: str, percentage: Any) -> dict[str, Any]:
    """A tax rate, once: an answer lost to a time-out is looked for by name (unique in the org)
    before the rate is sent again (outcomes.create_once)."""
    def find() -> dict[str, Any] | None:
        return next((t for t in books.list_taxes() if str(t.get("tax_name") or "").lower() == name.lower()), None)

    made, _ = create_once(Patience(), lambda: books.create_tax({"tax_name": name, "tax_percentage": percentage}), find)
    return made
