"""Onboarding a new FSM org (OB-01, OB-02, OB-03, TW-21) through the syncer's API (its one
onboarding path) against the embedded fakes."""

from __future__ import annotations

import pytest

from scenarios.harness.syncer_client import SyncerApiError, SyncerIntegration
from syncer.books_sync import mapping
from syncer.books_sync.onboarding import default_sync_type, new_invoice_org, offerable, offered_orgs
from syncer.clients import AccountsClient, BooksClient, FsmClient, LabClock


class Onb:
    """A tenant with FSM, Books and Invoice orgs, onboarded through the syncer's API (the one path)."""

    def __init__(self, lab, **tenant):
        self.lab = lab
        self.syncer = lab.syncer
        self.t = lab.tenant(products=["fsm", "books", "invoice"], company="Northwind Field Services", **tenant)
        self.auth = AccountsClient(lab.url, self.t.client_id, self.t.client_secret, self.t.refresh_token,
                                   clock=LabClock(lab.url))
        self.fsm = FsmClient(self.auth)

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

    def setup(self, product: str, choice: str, org_id: str | None = None, **fields):
        """``POST /integrations`` with the onboarding choice (the org defaults to the tenant's)."""
        body = {"fsm_org_id": self.t.org("fsm"), "books_org_id": org_id or self.t.org(product),
                "books_product": product, "client_id": self.t.client_id, "client_secret": self.t.client_secret,
                "refresh_token": self.t.refresh_token, "choice": choice, "signup_email": self.t.email, **fields}
        r = self.syncer.request("POST", "/api/v1/integrations", json=body)
        if r.status_code != 201:
            raise SyncerApiError(r.status_code, r.json().get("error", ""), r.json().get("message", ""))
        return SyncerIntegration(self.syncer, r.json()["id"], r.json())

    def integrations(self) -> list[dict]:
        return self.syncer.integrations(fsm_org_id=self.t.org("fsm"))


@pytest.fixture
def onb(zlab_lab):
    return Onb(zlab_lab)


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
    with pytest.raises(SyncerApiError, match="trial") as exc:
        onb.setup("books", "existing_books", expired)
    assert exc.value.status == 400
    assert onb.integrations() == []


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

    integ = onb.setup("books", "existing_books", mode="one_way", name="Northwind")
    assert integ.data["state"] == "created"
    data = integ.enable()
    assert (data["sync_type"], data["books_product"], data["books_org_id"], data["fsm_org_id"], data["mode"]) == (
        "III", "books", onb.t.org("books"), fsm_org, "one_way")
    state = onb.fsm.internal_settings()
    assert state["tax_enabled"] is True
    assert {(t["tax_name"], t["tax_percentage"]) for t in state["taxes"]} == {("GST", 10), ("Luxury", 25)}
    assert sorted(t["tax_name"] for t in books.list_taxes()) == ["GST", "Luxury"]  # nothing pushed to an existing org
    # a second onboarding of the same FSM org is refused
    with pytest.raises(SyncerApiError, match="already integrated") as exc:
        onb.setup("invoice", "existing_invoice")
    assert exc.value.status == 409 and exc.value.code == "already_integrated"


def test_an_existing_invoice_org_without_crm_integration_is_type_iv_and_its_taxes_go_to_fsm(onb):
    onb.client("invoice").create_tax({"tax_name": "VAT", "tax_percentage": 20})
    integ = onb.setup("invoice", "existing_invoice")
    assert integ.enable()["sync_type"] == "IV"  # no CRM-Invoice integration
    assert [(t["tax_name"], t["tax_percentage"]) for t in onb.fsm.internal_settings()["taxes"]] == [("VAT", 20)]


def test_a_new_invoice_org_defaults_to_type_iv_gets_fsm_taxes_and_default_mappings(onb, zlab_lab):
    # the CRM integration of the org does not count for a new org
    zlab_lab.control.call("PATCH", f"/invoice/orgs/{onb.t.org('invoice')}/crm-integration",
                          {"enabled": True, "sync_type": "I"})
    zlab_lab.control.call("PUT", f"/fsm/orgs/{onb.t.org('fsm')}/taxes",
                          {"enabled": True, "taxes": [{"tax_name": "VAT", "tax_percentage": 20},
                                                      {"tax_name": "Eco", "tax_percentage": 2.5}]})
    onb.client("invoice").create_tax({"tax_name": "vat", "tax_percentage": 20})  # already there: not doubled
    assert new_invoice_org(onb.client("invoice"), "Northwind Field Services").organization_id == onb.t.org("invoice")
    integ = onb.setup("invoice", "new_invoice")
    data = integ.enable()
    assert data["sync_type"] == "IV"
    taxes = onb.client("invoice").list_taxes()
    assert sorted((t["tax_name"], t["tax_percentage"]) for t in taxes) == [("Eco", 2.5), ("vat", 20)]
    # OB-02: the default mappings of every module pair, changeable later
    for module in mapping.MODULES:
        rows = [mapping.Pair(m["fsm_field"], m["books_field"], m["direction"], m["fsm_module"] or "")
                for m in data["mappings"].get(module, [])]
        assert rows == mapping.defaults(module), module
    data = integ.settings(mappings={"items": [{"fsm_field": "Description", "books_field": "description"}]})
    assert len(data["mappings"]["items"]) == 1


def test_new_invoice_needs_the_invoice_org_made_for_this_fsm_org(onb):
    other = onb.add_org("invoice", "Some Other Name")
    with pytest.raises(SyncerApiError, match="not the one created"):
        onb.setup("invoice", "new_invoice", other)
    with pytest.raises(SyncerApiError, match="Zoho Books organization"):
        onb.setup("invoice", "existing_books")
    with pytest.raises(SyncerApiError, match="choice"):
        onb.setup("invoice", "brand_new")
    assert onb.integrations() == []
