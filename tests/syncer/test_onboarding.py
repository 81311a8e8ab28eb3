"""Onboarding a new FSM org (OB-01, OB-02, OB-03, TW-21) against the embedded fakes."""

from __future__ import annotations

import pytest

from syncer.books_sync import mapping
from syncer.books_sync.onboarding import (
    OnboardingError,
    default_sync_type,
    new_invoice_org,
    offerable,
    offered_orgs,
    setup_integration,
)
from syncer.clients import AccountsClient, BooksClient, FsmClient, LabClock
from syncer.store.repo import Repo


class Onb:
    def __init__(self, lab, tmp_path, **tenant):
        self.lab = lab
        self.t = lab.tenant(products=["fsm", "books", "invoice"], company="Northwind Field Services", **tenant)
        self.auth = AccountsClient(lab.url, self.t.client_id, self.t.client_secret, self.t.refresh_token,
                                   clock=LabClock(lab.url))
        self.fsm = FsmClient(self.auth)
        self.repo = Repo(f"sqlite:///{tmp_path / 'syncer.db'}", clock=LabClock(lab.url))

    def client(self, product: str, org_id: str | None = None) -> BooksClient:
        return BooksClient(self.auth, org_id or self.t.org(product), product=product)

    def add_org(self, product: str, name: str, **changes) -> str:
        r = self.lab.control.call("POST", "/orgs", {"email": self.t.email, "product": product, "name": name})
        assert r.status_code == 201, r.text
        org_id = r.json()["id"]
        if changes:
            self.lab.control.patch_org(org_id, changes)
        return org_id

    def offered(self, **kw):
        return offered_orgs(books=self.client("books"), invoice=self.client("invoice"), **kw)

    def setup(self, product: str, choice: str, org_id: str | None = None, **kw):
        return setup_integration(self.repo, self.fsm, self.client(product, org_id), choice=choice,
                                 signup_email=self.t.email, **kw)


@pytest.fixture
def onb(zlab_lab, tmp_path):
    return Onb(zlab_lab, tmp_path)


def test_only_active_orgs_of_the_signup_email_are_offered_and_no_expired_books_trial(onb, zlab_lab):
    books2 = onb.add_org("books", "Second Books")
    expired = onb.add_org("books", "Expired Books", trial_expired=True)
    inactive = onb.add_org("invoice", "Closed Invoice", active=False)
    invoice2 = onb.add_org("invoice", "Second Invoice")
    other = zlab_lab.tenant(products=["books", "invoice"])  # another person's orgs

    offered = {(o.product, o.organization_id) for o in onb.offered(signup_email=onb.t.email)}
    assert offered == {("books", onb.t.org("books")), ("books", books2),
                       ("invoice", onb.t.org("invoice")), ("invoice", invoice2)}
    assert not {expired, inactive, other.org("books"), other.org("invoice")} & {oid for _p, oid in offered}
    # another email than the orgs' is offered nothing
    assert onb.offered(signup_email="someone.else@example.com") == []
    # an expired Books trial cannot be chosen
    with pytest.raises(OnboardingError, match="trial"):
        onb.setup("books", "existing_books", expired)
    assert onb.repo.list_integrations() == []


def test_an_expired_books_trial_is_not_offered_even_when_listed_active():
    # the fake reports an expired trial as inactive too; Zoho's two flags are checked separately
    org = {"organization_id": "1", "is_org_active": True, "is_trial_expired": True, "email": "a@x.example"}
    assert not offerable(org, "books")
    assert offerable(org, "invoice")  # the rule is about Books trials
    assert not offerable({**org, "is_trial_expired": False, "is_org_active": False}, "invoice")
    assert offerable({**org, "is_trial_expired": False}, "books", "A@X.example")
    assert not offerable({**org, "is_trial_expired": False}, "books", "b@x.example")


def test_default_sync_type_rules():
    crm = {"crm_integration": {"enabled": True, "sync_type": "II"}}
    assert default_sync_type(True, crm) == "II"
    assert default_sync_type(False, crm) == "IV"  # a new Invoice org
    assert default_sync_type(True, {"crm_integration": {"enabled": False, "sync_type": "II"}}) == "IV"
    assert default_sync_type(True, {}) == "IV"


def test_an_existing_books_org_takes_the_crm_books_sync_type_and_its_taxes_go_to_fsm(onb, zlab_lab):
    books = onb.client("books")
    zlab_lab.control.call("PATCH", f"/books/orgs/{onb.t.org('books')}/crm-integration",
                          {"enabled": True, "sync_type": "III"})
    onb.t.set_org("books", tax_enabled=True)
    books.create_tax({"tax_name": "GST", "tax_percentage": 10})
    books.create_tax({"tax_name": "Luxury", "tax_percentage": 25})
    fsm_org = onb.t.org("fsm")

    def write_fsm_taxes(enabled, taxes):  # what FSM's UI does; FSM has no API for it (lab control here)
        r = zlab_lab.control.call("PUT", f"/fsm/orgs/{fsm_org}/taxes", {"enabled": enabled, "taxes": taxes})
        assert r.status_code == 200, r.text

    result = onb.setup("books", "existing_books", fsm_tax_writer=write_fsm_taxes, mode="one_way", name="Northwind")
    integ = result.integration
    assert (integ.sync_type, integ.books_product, integ.books_org_id, integ.fsm_org_id, integ.mode) == (
        "III", "books", onb.t.org("books"), fsm_org, "one_way")
    assert integ.state == "created"
    state = onb.fsm.internal_settings()
    assert state["tax_enabled"] is True
    assert {(t["tax_name"], t["tax_percentage"]) for t in state["taxes"]} == {("GST", 10), ("Luxury", 25)}
    assert result.fsm_taxes_written and result.taxes_pushed == []
    # a second onboarding of the same FSM org is refused
    with pytest.raises(OnboardingError, match="already integrated"):
        onb.setup("invoice", "existing_invoice")


def test_pulled_taxes_are_kept_pending_when_fsm_cannot_be_written(onb):
    onb.client("invoice").create_tax({"tax_name": "VAT", "tax_percentage": 20})
    result = onb.setup("invoice", "existing_invoice")
    assert result.sync_type == "IV"  # no CRM-Invoice integration
    pending = result.integration.settings["fsm_taxes_pending"]
    assert pending["taxes"] == [{"tax_name": "VAT", "tax_percentage": 20}]
    assert any("no API" in n for n in result.notes)
    assert onb.fsm.internal_settings()["taxes"] == []


def test_a_new_invoice_org_defaults_to_type_iv_gets_fsm_taxes_and_default_mappings(onb, zlab_lab):
    # the CRM integration of the org does not count for a new org
    zlab_lab.control.call("PATCH", f"/invoice/orgs/{onb.t.org('invoice')}/crm-integration",
                          {"enabled": True, "sync_type": "I"})
    zlab_lab.control.call("PUT", f"/fsm/orgs/{onb.t.org('fsm')}/taxes",
                          {"enabled": True, "taxes": [{"tax_name": "VAT", "tax_percentage": 20},
                                                      {"tax_name": "Eco", "tax_percentage": 2.5}]})
    onb.client("invoice").create_tax({"tax_name": "vat", "tax_percentage": 20})  # already there: not doubled
    assert new_invoice_org(onb.client("invoice"), "Northwind Field Services").organization_id == onb.t.org("invoice")
    result = onb.setup("invoice", "new_invoice")
    assert result.sync_type == "IV" and result.integration.sync_type == "IV"
    taxes = onb.client("invoice").list_taxes()
    assert sorted((t["tax_name"], t["tax_percentage"]) for t in taxes) == [("Eco", 2.5), ("vat", 20)]
    assert [t["tax_name"] for t in result.taxes_pushed] == ["Eco"]
    assert any("TW-18" in n for n in result.notes)  # taxes on in FSM, off in the new org
    # OB-02: the default mappings of every module pair, changeable later
    for module in mapping.MODULES:
        rows = onb.repo.get_mappings(result.integration.id, module)
        assert mapping.pairs_from_rows(rows) == mapping.defaults(module)
    assert result.mappings == {m: len(mapping.defaults(m)) for m in mapping.MODULES}
    onb.repo.set_mappings(result.integration.id, "items", [{"fsm_field": "Description", "books_field": "description"}])
    assert len(onb.repo.get_mappings(result.integration.id, "items")) == 1


def test_new_invoice_needs_the_invoice_org_made_for_this_fsm_org(onb):
    other = onb.add_org("invoice", "Some Other Name")
    with pytest.raises(OnboardingError, match="not the one created"):
        onb.setup("invoice", "new_invoice", other)
    with pytest.raises(OnboardingError, match="Zoho Books organization"):
        onb.setup("invoice", "existing_books")
    assert onb.repo.list_integrations() == []
