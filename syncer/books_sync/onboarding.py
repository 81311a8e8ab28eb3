"""Onboarding a new FSM org onto Books/Invoice (OB-01, OB-02, OB-03, TW-21, OB-04).

    offers = offered_orgs(books=books_lister, invoice=invoice_lister, signup_email=email)   # OB-01
    result = setup_integration(repo, fsm, invoice, choice="new_invoice", **credentials)     # OB-02/03, TW-21

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
with its duplicate policy, is TW-01's separate one-time action); sync type: the CRM–Books
integration's for an existing org when that integration is enabled, else IV (TW-21); the default
module and field mappings of every module pair, validated against FSM's fields (OB-02); taxes
(OB-03): a new org gets FSM's tax rates (``POST /settings/taxes``, those it lacks by name); an
existing org's tax rates go to FSM. **Gap:** FSM has no API that writes tax settings (the fake's
only writer is the lab's ``PUT /_lab/fsm/orgs/{id}/taxes``, which a syncer must not call), so
the pulled rates go to ``fsm_tax_writer`` when the caller has one, else they are kept in the
integration's settings (``fsm_taxes_pending``) and the result says so. Enabling taxes is not
possible through either API: a mismatch is reported (the preflight fails such a sync, TW-18).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..clients import BooksClient, FsmClient
from ..store.models import Integration
from ..store.repo import Repo
from . import mapping
from .outcomes import Patience, create_once

NEW_INVOICE, EXISTING_INVOICE, EXISTING_BOOKS = "new_invoice", "existing_invoice", "existing_books"
CHOICES = (NEW_INVOICE, EXISTING_INVOICE, EXISTING_BOOKS)
DEFAULT_SYNC_TYPE = "IV"  # TW-21: a new Invoice org
SYNC_TYPES = ("I", "II", "III", "IV")

FsmTaxWriter = Callable[[bool, list[dict[str, Any]]], None]  # (tax_enabled, [{tax_name, tax_percentage}])


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


@dataclass
class SetupResult:
    integration: Integration
    choice: str
    sync_type: str
    mappings: dict[str, int]  # module pair -> number of default user mappings created
    taxes_pushed: list[dict[str, Any]] = field(default_factory=list)  # created in Books/Invoice
    taxes_pulled: list[dict[str, Any]] = field(default_factory=list)  # Books/Invoice rates for FSM
    fsm_taxes_written: bool = False
    notes: list[str] = field(default_factory=list)


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


# -- setup (OB-02, OB-03) -----------------------------------------------------------------------------------

def setup_integration(repo: Repo, fsm: FsmClient, books: BooksClient, *, choice: str,
                      signup_email: str | None = None, mode: str = "two_way",
                      fsm_tax_writer: FsmTaxWriter | None = None, **integration_fields: Any) -> SetupResult:
    """Integrate the FSM org of ``fsm`` with the org of ``books`` (a BooksClient for the chosen
    org: product ``invoice`` for new_invoice/existing_invoice, ``books`` for existing_books).
    ``integration_fields``: stored on the integration (name, client_id, client_secret,
    refresh_token, accounts_url, api_domain, time_zone …)."""
    if choice not in CHOICES:
        raise OnboardingError(f"choice must be one of {', '.join(CHOICES)}, not {choice!r}")
    product = "books" if choice == EXISTING_BOOKS else "invoice"
    if books.product != product:
        raise OnboardingError(f"{choice} needs a Zoho {product.title()} organization, not a {books.product} one")
    fsm_state = fsm.internal_settings()
    fsm_org_id = str(fsm_state.get("org_id") or "")
    if repo.list_integrations(fsm_org_id=fsm_org_id):
        raise OnboardingError(f"FSM organization {fsm_org_id} is already integrated with Zoho Books/Invoice")
    org_id = books.organization_id
    if choice == NEW_INVOICE:
        org = new_invoice_org(books, str(fsm_state.get("name") or ""), signup_email=signup_email)
        if org.organization_id != org_id:
            raise OnboardingError(f"Invoice organization {org_id} is not the one created for FSM organization "
                                  f"{fsm_state.get('name')!r} ({org.organization_id})")
    elif org_id not in {o.organization_id for o in offered_orgs(**{product: books}, signup_email=signup_email)}:
        raise OnboardingError(f"Zoho {product.title()} organization {org_id} cannot be integrated: only active "
                              "organizations linked to the signup email are offered"
                              + (" (and Books organizations whose trial has not expired)" if product == "books" else ""))
    existing = choice != NEW_INVOICE
    books_state = books.internal_settings()
    sync_type = default_sync_type(existing, books_state)

    mapping_problems = {m: mapping.validate(m, mapping.defaults(m), {f: fsm.fields(f) for f in mods})
                        for m, (mods, _entity) in mapping.MODULES.items()}
    if any(mapping_problems.values()):
        raise OnboardingError(f"The default mappings do not fit this FSM organization: {mapping_problems}")
    settings = {**integration_fields.pop("settings", {}), "onboarding": {"choice": choice,
                                                                        "signup_email": signup_email}}
    integ = repo.create_integration(fsm_org_id=fsm_org_id, books_org_id=org_id, books_product=product,
                                    sync_type=sync_type, mode=mode, settings=settings, **integration_fields)
    counts = {}
    for module in mapping.MODULES:  # OB-02: default mappings, changeable later
        rows = mapping.rows_from_pairs(mapping.defaults(module))
        repo.set_mappings(integ.id, module, rows)
        counts[module] = len(rows)
    result = SetupResult(repo.get_integration(integ.id), choice, sync_type, counts)

    fsm_taxes = fsm_state.get("taxes") or []
    books_taxes = books.list_taxes()
    if existing:
        _pull_taxes(repo, result, books_state, books_taxes, fsm_tax_writer)
    else:
        _push_taxes(books, result, fsm_taxes, books_taxes)
        if bool(fsm_state.get("tax_enabled")) != bool(books_state.get("tax_enabled")):
            result.notes.append(
                f"Taxes are {'enabled' if fsm_state.get('tax_enabled') else 'disabled'} in Zoho FSM but not in the "
                "Invoice organization; no API switches them, and sync fails until both sides match (TW-18)")
    result.integration = repo.get_integration(integ.id)
    return result


def onboard_taxes(fsm: FsmClient, books: BooksClient, *, new_org: bool) -> dict[str, Any]:
    """OB-03 at enable: a new org gets FSM's tax rates; an existing org's rates (and its taxes
    switch) are written to FSM through FSM's internal tax settings."""
    fsm_state = fsm.internal_settings()
    books_taxes = books.list_taxes()
    if new_org:
        have = {str(t.get("tax_name") or "").lower() for t in books_taxes}
        pushed = []
        for tax in fsm_state.get("taxes") or []:
            name = str(tax.get("tax_name") or "")
            if name and name.lower() not in have:
                pushed.append(_create_tax(books, name, tax.get("tax_percentage") or 0))
                have.add(name.lower())
        return {"pushed": pushed}
    pulled = [{"tax_name": t.get("tax_name"), "tax_percentage": t.get("tax_percentage")} for t in books_taxes]
    if not pulled:
        return {"pulled": []}
    books_state = books.internal_settings()
    fsm.set_taxes(enabled=bool(books_state.get("tax_enabled")), taxes=pulled)
    return {"pulled": pulled}


def _push_taxes(books: BooksClient, result: SetupResult, fsm_taxes: list[dict[str, Any]],
                books_taxes: list[dict[str, Any]]) -> None:
    """OB-03, a new org: FSM's tax rates are saved to it (those it lacks, by name)."""
    have = {str(t.get("tax_name") or "").lower() for t in books_taxes}
    for tax in fsm_taxes:
        name = str(tax.get("tax_name") or "")
        if not name or name.lower() in have:
            continue
        made = _create_tax(books, name, tax.get("tax_percentage") or 0)
        have.add(name.lower())
        result.taxes_pushed.append(made)


def _create_tax(books: BooksClient, name: str, percentage: Any) -> dict[str, Any]:
    """A tax rate, once: an answer lost to a time-out is looked for by name (unique in the org)
    before the rate is sent again (outcomes.create_once)."""
    def find() -> dict[str, Any] | None:
        return next((t for t in books.list_taxes() if str(t.get("tax_name") or "").lower() == name.lower()), None)

    made, _ = create_once(Patience(), lambda: books.create_tax({"tax_name": name, "tax_percentage": percentage}), find)
    return made


def _pull_taxes(repo: Repo, result: SetupResult, books_state: dict[str, Any], books_taxes: list[dict[str, Any]],
                writer: FsmTaxWriter | None) -> None:
    """OB-03, an existing org: its tax rates go to FSM (through ``writer``; else kept pending)."""
    pulled = [{"tax_name": t.get("tax_name"), "tax_percentage": t.get("tax_percentage")} for t in books_taxes]
    enabled = bool(books_state.get("tax_enabled"))
    result.taxes_pulled = pulled
    integ = result.integration
    if writer is not None:
        writer(enabled, pulled)
        result.fsm_taxes_written = True
        return
    repo.update_integration(integ.id, settings={**integ.settings,
                                                "fsm_taxes_pending": {"tax_enabled": enabled, "taxes": pulled}})
    result.notes.append("Zoho FSM has no API that writes tax settings: the organization's tax rates are kept in "
                        "the integration (settings.fsm_taxes_pending) to be applied in FSM")
