"""FSM Companies/Contacts <-> Books customers by sync type I-IV (TW-19), addresses (TW-20),
currencies (TW-10), duplicates (TW-02), deletes and deactivation (TW-14), crash recovery,
driven against the embedded fakes over HTTP with the lab clock frozen."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from syncer.books_sync import SyncEngine
from syncer.clients import AccountsClient, BooksClient, FsmClient, LabClock
from syncer.mail import MailSender
from syncer.store.repo import Repo

CO, CT = "Companies", "Contacts"


@dataclass
class Env:
    lab: object
    tenant: object
    repo: Repo
    engine: SyncEngine
    integration_id: str
    fsm: FsmClient
    books: BooksClient

    def run(self):
        run = self.engine.run(self.integration_id, "manual")
        assert run.status == "succeeded", run.failure_reason
        return run

    def advance(self, seconds: float = 5) -> None:
        self.lab.clock.advance(seconds)

    # -- FSM
    def company(self, name: str, **extra) -> str:
        [r] = self.fsm.create_records(CO, [{"Company_Name": name, **extra}], trigger=None)
        assert r.ok, r
        return r.id

    def contact(self, first: str, last: str, company: str | None = None, **extra) -> str:
        data = {"First_Name": first, "Last_Name": last, "Email": f"{first}.{last}@example.com".lower(), **extra}
        if company:
            data["Company"] = company
        [r] = self.fsm.create_records(CT, [data], trigger=None)
        assert r.ok, r
        return r.id

    def companies(self) -> dict[str, dict]:
        return {r["Company_Name"]: r for r in self.fsm.list_records(CO)}

    def contacts(self) -> dict[str, dict]:
        return {r["Full_Name"]: r for r in self.fsm.list_records(CT)}

    def company_contacts(self, company_id: str) -> set[str]:
        return {r["Full_Name"] for r in self.fsm.related(CO, company_id, CT)}

    # -- Books
    def customer(self, name: str, sub_type: str = "business", persons=(), **extra) -> str:
        data = {"contact_name": name, "contact_type": "customer", "customer_sub_type": sub_type,
                "contact_persons": [{"first_name": f, "last_name": la, "email": f"{f}.{la}@example.com".lower()}
                                    for f, la in persons], **extra}
        if sub_type == "business":
            data.setdefault("company_name", name)
        return self.books.create_contact(data)["contact_id"]

    def customers(self) -> dict[str, dict]:
        return {c["contact_name"]: self.books.get_contact(c["contact_id"]) for c in self.books.list_contacts()}

    def writes(self) -> list[dict]:
        """The requests that changed something in FSM or Books (the syncer's sync-state marks aside)."""
        return [e for e in self.lab.control.journal(email=self.tenant.email, limit=500)
                if e.get("method") not in ("GET", None) and "_internal/sync-state" not in e.get("path", "")]


def make_env(lab, tmp_path, *, tenant_options=None, **integration) -> Env:
    t = lab.tenant(products=["fsm", "books"], **(tenant_options or {}))
    clock = LabClock(lab.url)
    repo = Repo(f"sqlite:///{tmp_path / 'syncer.db'}", clock=clock)
    policy = integration.pop("duplicate_policy", "clone")
    integ = repo.create_integration(fsm_org_id=t.org("fsm"), partner_org_id=t.org("books"), partner_product="books",
                                    client_id=t.client_id, client_secret=t.client_secret,
                                    refresh_token=t.refresh_token, accounts_url=lab.url, api_domain=lab.url,
                                    **integration)
    repo.enable_integration(integ.id, duplicate_policy=policy)
    auth = AccountsClient(lab.url, t.client_id, t.client_secret, t.refresh_token, clock=clock)
    fsm, books = FsmClient(auth), BooksClient(auth, t.org("books"))
    engine = SyncEngine(repo, clients=lambda _i: (fsm, books), mailer=MailSender(repo))
    lab.clock.freeze()
    return Env(lab, t, repo, engine, integ.id, fsm, books)


def stats(env: Env, run) -> dict[str, tuple[int, int]]:
    return {s.module: (s.succeeded, s.failed) for s in env.repo.run_stats(run.id)}


def assert_quiet_second_run(env: Env) -> None:
    """Nothing changed: the next run writes nothing on either side."""
    env.advance()
    before = len(env.writes())
    run = env.run()
    assert stats(env, run).get(CO, (0, 0)) == (0, 0) and stats(env, run).get(CT, (0, 0)) == (0, 0)
    new = env.writes()[: len(env.writes()) - before]
    assert new == [], new


ADDR_B = {"Address_Name": "HQ", "Street_1": "1 Main St", "City": "Springfield", "State": "IL", "Zip_Code": "62701",
          "Country": "USA"}
ADDR_S = {"Street_1": "9 Depot Rd", "City": "Shelbyville", "Zip_Code": "62565", "Country": "USA"}


# -- Type I ------------------------------------------------------------------------------------------

def test_type_I_companies_are_business_customers_both_ways_contacts_are_not_synced(zlab_lab, tmp_path):
    env = make_env(zlab_lab, tmp_path, sync_type="I")
    acme = env.company("Acme Ltd", Billing_Address=ADDR_B, Service_Address=ADDR_S, Website="https://acme.test")
    env.contact("Ann", "Lee", acme)
    env.contact("Lone", "Wolf")
    env.customer("Globex", persons=[("Hank", "Scorpio")],
                 billing_address={"address": "5 Globe Way", "city": "Cypress Creek", "zip": "90210", "country": "USA"},
                 shipping_address={"address": "7 Dock St", "city": "Cypress Creek", "country": "USA"})
    env.customer("Jane Roe", "individual", persons=[("Jane", "Roe")])
    env.advance()
    run = env.run()
    customers, companies = env.customers(), env.companies()
    acme_c = customers["Acme Ltd"]
    assert acme_c["customer_sub_type"] == "business" and acme_c["company_name"] == "Acme Ltd"
    assert acme_c["contact_persons"] == []  # Type I: Contacts are not synced
    # TW-20: Billing -> billing, Service -> shipping
    assert acme_c["billing_address"]["address"] == "1 Main St" and acme_c["billing_address"]["zip"] == "62701"
    assert acme_c["billing_address"]["attention"] == "HQ"
    assert acme_c["shipping_address"]["address"] == "9 Depot Rd" and acme_c["shipping_address"]["city"] == "Shelbyville"
    assert acme_c["website"] == "https://acme.test"
    assert companies["Acme Ltd"]["ZBilling_Id"] == acme_c["contact_id"]
    # Books business customer -> FSM Company, shipping -> Service_Address
    globex = companies["Globex"]
    assert globex["ZBilling_Id"] == customers["Globex"]["contact_id"]
    assert globex["Billing_Address"]["Street_1"] == "5 Globe Way" and globex["Billing_Address"]["Zip_Code"] == "90210"
    assert globex["Service_Address"]["Street_1"] == "7 Dock St"
    assert set(env.contacts()) == {"Ann Lee", "Lone Wolf"}  # the person Hank did not come over
    assert env.company_contacts(globex["id"]) == set()
    assert "Ann Lee" not in customers and "Lone Wolf" not in customers and "Jane Roe" not in env.companies()
    assert stats(env, run)[CO] == (2, 0) and CT not in stats(env, run)
    assert_quiet_second_run(env)
    # later changes flow both ways, addresses included
    env.advance(10)
    env.books.update_contact(customers["Globex"]["contact_id"], {"shipping_address": {"address": "8 New Dock"}})
    env.fsm.update_record(CO, acme, {"Billing_Address": {**ADDR_B, "Street_1": "2 Main St"}}, trigger=None)
    env.advance()
    env.run()
    assert env.companies()["Globex"]["Service_Address"]["Street_1"] == "8 New Dock"
    assert env.customers()["Acme Ltd"]["billing_address"]["address"] == "2 Main St"


# -- Type II -----------------------------------------------------------------------------------------

def test_type_II_contacts_are_individual_customers_both_ways_companies_are_not_synced(zlab_lab, tmp_path):
    env = make_env(zlab_lab, tmp_path, sync_type="II")
    acme = env.company("Acme Ltd")
    env.contact("John", "Smith", acme, Phone="555-0101", Billing_Address=ADDR_B)
    env.contact("Lone", "Wolf")
    env.customer("Globex", persons=[("Hank", "Scorpio")])
    env.customer("Jane Roe", "individual", persons=[("Jane", "Roe")], shipping_address={"address": "3 Elm"})
    env.advance()
    run = env.run()
    customers, contacts = env.customers(), env.contacts()
    john = customers["John Smith"]
    assert john["customer_sub_type"] == "individual"
    [person] = john["contact_persons"]
    assert (person["first_name"], person["last_name"], person["email"]) == ("John", "Smith", "john.smith@example.com")
    assert person["is_primary_contact"] and person["phone"] == "555-0101"
    assert john["billing_address"]["address"] == "1 Main St"
    assert customers["Lone Wolf"]["customer_sub_type"] == "individual"
    assert contacts["John Smith"]["ZBilling_Id"] == john["contact_id"]
    jane = contacts["Jane Roe"]
    assert (jane["First_Name"], jane["Last_Name"], jane["Email"]) == ("Jane", "Roe", "jane.roe@example.com")
    assert jane["Service_Address"]["Street_1"] == "3 Elm" and not jane.get("Company")
    assert jane["ZBilling_Id"] == customers["Jane Roe"]["contact_id"]
    # Type II: Companies and business customers are not synced
    assert "Acme Ltd" not in customers and set(env.companies()) == {"Acme Ltd"}
    assert "Hank Scorpio" not in contacts
    assert stats(env, run)[CT] == (3, 0) and CO not in stats(env, run)
    assert_quiet_second_run(env)
    # the person's changes reach the Contact, and the Contact's reach the person
    env.advance(10)
    env.books.update_contact_person(customers["Jane Roe"]["contact_persons"][0]["contact_person_id"],
                                    {"last_name": "Doe"})
    env.fsm.update_record(CT, contacts["John Smith"]["id"], {"Mobile": "555-0199"}, trigger=None)
    env.advance()
    env.run()
    assert env.contacts()["Jane Doe"]["Email"] == "jane.roe@example.com"
    assert env.customers()["John Smith"]["contact_persons"][0]["mobile"] == "555-0199"


# -- Type III ----------------------------------------------------------------------------------------

def test_type_III_companies_with_contacts_are_business_customers_with_contact_persons(zlab_lab, tmp_path):
    env = make_env(zlab_lab, tmp_path, sync_type="III")
    acme = env.company("Acme Ltd", Service_Address=ADDR_S)
    env.contact("Ann", "Lee", acme)
    env.contact("Bob", "Ray", acme)
    env.contact("Lone", "Wolf")  # no Company: not synced in Type III
    env.customer("Globex", persons=[("Hank", "Scorpio"), ("Lisa", "Simp")])
    env.customer("Jane Roe", "individual", persons=[("Jane", "Roe")])
    env.advance()
    run = env.run()
    customers = env.customers()
    acme_c = customers["Acme Ltd"]
    assert acme_c["customer_sub_type"] == "business" and acme_c["shipping_address"]["address"] == "9 Depot Rd"
    assert {p["email"] for p in acme_c["contact_persons"]} == {"ann.lee@example.com", "bob.ray@example.com"}
    assert "Lone Wolf" not in customers and "Jane Roe" not in env.companies()
    assert "Jane Roe" not in env.contacts()  # individual customers are not synced in Type III
    companies, contacts = env.companies(), env.contacts()
    globex = companies["Globex"]
    assert env.company_contacts(globex["id"]) == {"Hank Scorpio", "Lisa Simp"}
    persons = {p["email"]: p["contact_person_id"] for p in customers["Globex"]["contact_persons"]}
    assert contacts["Hank Scorpio"]["ZBilling_Id"] == persons["hank.scorpio@example.com"]
    ann_person = next(p for p in acme_c["contact_persons"] if p["first_name"] == "Ann")
    assert contacts["Ann Lee"]["ZBilling_Id"] == ann_person["contact_person_id"]
    link = env.repo.link_by_fsm(env.integration_id, CT, contacts["Ann Lee"]["id"])
    assert link.partner_entity == "contact_persons" and link.partner_id == ann_person["contact_person_id"]
    assert stats(env, run)[CO] == (2, 0) and stats(env, run)[CT] == (4, 0)
    assert_quiet_second_run(env)
    # edits, a new Contact and a new person flow to the other side
    env.advance(10)
    bob = next(p for p in acme_c["contact_persons"] if p["first_name"] == "Bob")
    env.books.update_contact_person(bob["contact_person_id"], {"last_name": "Rayburn"})
    env.advance(2)  # Ann's FSM edit is later than Acme's Books edit; our own person writes come later still
    env.fsm.update_record(CT, contacts["Ann Lee"]["id"], {"Phone": "555-0123"}, trigger=None)
    env.contact("Cy", "New", acme)
    env.books.update_contact_person(persons["lisa.simp@example.com"], {"last_name": "Simpson"})
    env.books.create_contact_person(customers["Globex"]["contact_id"],
                                    {"first_name": "Otto", "last_name": "Mann", "email": "otto@example.com"})
    env.advance()
    env.run()
    acme_c = env.customers()["Acme Ltd"]
    assert next(p for p in acme_c["contact_persons"] if p["first_name"] == "Ann")["phone"] == "555-0123"
    assert env.contacts()["Ann Lee"]["Phone"] == "555-0123"
    assert "cy.new@example.com" in {p["email"] for p in acme_c["contact_persons"]}
    assert env.company_contacts(acme) == {"Ann Lee", "Bob Rayburn", "Cy New"}
    assert env.company_contacts(globex["id"]) == {"Hank Scorpio", "Lisa Simpson", "Otto Mann"}
    # only persons changed in Books: the Company itself is not rewritten
    assert env.companies()["Globex"]["Modified_Time"] == globex["Modified_Time"]
    assert_quiet_second_run(env)


# -- Type IV -----------------------------------------------------------------------------------------

def test_type_IV_companies_contacts_and_individuals_both_ways(zlab_lab, tmp_path):
    env = make_env(zlab_lab, tmp_path, sync_type="IV")
    solo = env.company("Solo Co")
    env.contact("Sam", "Solo", solo)
    duo = env.company("Duo Co")
    env.contact("Dee", "One", duo)
    env.contact("Dan", "Two", duo)
    env.contact("Lone", "Wolf", Billing_Address=ADDR_B)  # no Company: an individual customer
    env.customer("Globex", persons=[("Hank", "Scorpio")])
    env.customer("Jane Roe", "individual", persons=[("Jane", "Roe")])
    env.advance()
    run = env.run()
    customers = env.customers()
    solo_c = customers["Solo Co"]
    [sam] = solo_c["contact_persons"]
    assert sam["is_primary_contact"] and solo_c["primary_contact_id"] == sam["contact_person_id"]
    assert len(customers["Duo Co"]["contact_persons"]) == 2
    lone = customers["Lone Wolf"]
    assert lone["customer_sub_type"] == "individual" and lone["contact_persons"][0]["email"] == "lone.wolf@example.com"
    assert lone["billing_address"]["address"] == "1 Main St"
    assert "Sam Solo" not in customers  # a Company's Contact is a person, not an individual customer
    companies, contacts = env.companies(), env.contacts()
    assert env.company_contacts(companies["Globex"]["id"]) == {"Hank Scorpio"}
    assert not contacts["Jane Roe"].get("Company")  # an individual customer is a Contact without a Company
    assert contacts["Jane Roe"]["ZBilling_Id"] == customers["Jane Roe"]["contact_id"]
    assert stats(env, run)[CO] == (3, 0) and stats(env, run)[CT] == (6, 0)
    assert_quiet_second_run(env)


def test_type_IV_a_company_with_a_single_contact_makes_it_the_primary_contact(zlab_lab, tmp_path):
    # Overwrite pairs FSM "Acme" with the Books customer whose own person Bob is its primary
    env = make_env(zlab_lab, tmp_path, sync_type="IV", duplicate_policy="overwrite")
    env.customer("Acme", persons=[("Bob", "Books")])
    env.advance()
    acme = env.company("Acme")
    env.contact("Ann", "Only", acme)
    env.advance()
    env.run()
    acme_c = env.customers()["Acme"]
    primary = next(p for p in acme_c["contact_persons"] if p["is_primary_contact"])
    assert primary["email"] == "ann.only@example.com"
    assert env.company_contacts(acme) == {"Ann Only", "Bob Books"}  # the Books person came over too
    assert len(env.companies()) == 1 and len(env.customers()) == 1


# -- currencies (TW-10) ------------------------------------------------------------------------------

def test_a_record_in_an_fsm_only_currency_fails_naming_the_currency(zlab_lab, tmp_path):
    env = make_env(zlab_lab, tmp_path, sync_type="IV", tenant_options={
        "orgs": {"fsm": {"currencies": ["GBP"], "settings": {"multi_currency": True}}}})
    env.company("Pound Ltd", Currency="GBP")
    env.contact("Pip", "Pound", Currency="GBP")
    env.company("Dollar Inc", Currency="USD")
    env.advance()
    run = env.run()
    assert set(env.customers()) == {"Dollar Inc"}
    assert stats(env, run)[CO] == (1, 1) and stats(env, run)[CT] == (0, 1)
    reasons = {f.record_name: f.reason for f in env.repo.record_failures(run.id)}
    assert reasons["Pound Ltd"] == "Currency GBP is not available in Zoho Books"
    assert "GBP" in reasons["Pip Pound"]
    assert "Currency GBP is not available in Zoho Books" in env.repo.failure_csv(run.id, CO)


def test_a_record_that_failed_is_tried_again_next_run_without_being_modified(zlab_lab, tmp_path):
    env = make_env(zlab_lab, tmp_path, sync_type="IV", tenant_options={
        "orgs": {"fsm": {"currencies": ["GBP"], "settings": {"multi_currency": True}}}})
    pound = env.company("Pound Ltd", Currency="GBP")
    env.contact("Pip", "Pound", Currency="GBP")
    env.advance()
    first = env.run()
    assert stats(env, first)[CO] == (0, 1) and stats(env, first)[CT] == (0, 1)
    modified = env.companies()["Pound Ltd"]["Modified_Time"]
    env.advance()
    env.books.create_currency({"currency_code": "GBP", "currency_symbol": "£", "currency_format": "1,234,567.89",
                               "price_precision": 2})  # the failure's cause is fixed in Books
    env.advance()
    second = env.run()  # the two FSM records were not modified since the first run started
    assert stats(env, second)[CO] == (1, 0) and stats(env, second)[CT] == (1, 0)
    gbp = next(c["currency_id"] for c in env.books.list_currencies() if c["currency_code"] == "GBP")
    customers = env.customers()
    assert customers["Pound Ltd"]["currency_id"] == gbp and customers["Pip Pound"]["currency_id"] == gbp
    assert env.companies()["Pound Ltd"]["ZBilling_Id"] == customers["Pound Ltd"]["contact_id"]
    assert env.companies()["Pound Ltd"]["Modified_Time"] != modified  # only the partner id was written
    assert env.repo.link_by_fsm(env.integration_id, CO, pound).partner_id == customers["Pound Ltd"]["contact_id"]
    assert_quiet_second_run(env)  # nothing failed: nothing to try again


def test_a_books_currency_reaches_fsm_with_its_records(zlab_lab, tmp_path):
    env = make_env(zlab_lab, tmp_path, sync_type="I", tenant_options={
        "orgs": {"books": {"currencies": ["EUR"]}, "fsm": {"settings": {"multi_currency": True}}}})
    eur = next(c["currency_id"] for c in env.books.list_currencies() if c["currency_code"] == "EUR")
    env.customer("Euro GmbH", currency_id=eur)
    env.advance()
    env.run()
    assert env.companies()["Euro GmbH"]["Currency"] == "EUR"


# -- duplicates (TW-02) --------------------------------------------------------------------------------

def test_clone_fails_a_display_name_clash_in_books(zlab_lab, tmp_path):
    env = make_env(zlab_lab, tmp_path, sync_type="I", duplicate_policy="clone")
    env.customer("Acme")
    env.advance()
    env.company("Acme")
    env.advance()
    run = env.run()
    [failure] = env.repo.record_failures(run.id, CO)
    assert "3062" in failure.reason and failure.record_name == "Acme"
    assert list(env.books.list_contacts()).__len__() == 1
    assert len([c for c in env.fsm.list_records(CO)]) == 2  # the Books customer was cloned into FSM


def test_clone_creates_the_duplicate_when_books_allows_duplicate_names(zlab_lab, tmp_path):
    env = make_env(zlab_lab, tmp_path, sync_type="I", duplicate_policy="clone")
    env.tenant.set_org("books", settings={"allow_duplicate_names": True})
    env.customer("Acme")
    env.advance()
    env.company("Acme")
    env.advance()
    run = env.run()
    assert env.repo.record_failures(run.id) == []
    assert [c["contact_name"] for c in env.books.list_contacts()] == ["Acme", "Acme"]
    assert len(list(env.fsm.list_records(CO))) == 2


def test_overwrite_matches_names_and_emails_and_the_latest_modified_wins(zlab_lab, tmp_path):
    env = make_env(zlab_lab, tmp_path, sync_type="IV", duplicate_policy="overwrite")
    acme = env.company("Acme", Website="https://old.example")
    env.contact("Jane", "Roe", Phone="555-0001")
    env.advance(10)
    env.customer("Acme Trading", company_name="Acme", website="https://new.example")  # Books later: Books wins
    jane = env.customer("Jane R.", "individual", persons=[("Jane", "Roe")])
    env.advance(10)
    env.fsm.update_record(CT, env.contacts()["Jane Roe"]["id"], {"Phone": "555-0002"}, trigger=None)  # FSM later
    env.advance()
    run = env.run()
    assert set(env.companies()) == {"Acme"} and set(env.contacts()) == {"Jane Roe"}  # nothing created
    assert set(env.customers()) == {"Acme Trading", "Jane Roe"}  # the FSM Contact's name overwrote Books'
    assert env.companies()["Acme"]["Website"] == "https://new.example"
    assert env.customers()["Jane Roe"]["contact_persons"][0]["phone"] == "555-0002"
    assert env.repo.link_by_fsm(env.integration_id, CO, acme).partner_id == env.customers()["Acme Trading"]["contact_id"]
    assert env.contacts()["Jane Roe"]["ZBilling_Id"] == jane
    assert env.repo.record_failures(run.id) == []


# -- deletes and deactivation (TW-14) ------------------------------------------------------------------

def test_deletes_never_propagate_and_survivors_are_not_recreated(zlab_lab, tmp_path):
    env = make_env(zlab_lab, tmp_path, sync_type="IV")
    kept_fsm = env.company("Kept in FSM")
    env.contact("Pat", "Person", kept_fsm)
    env.company("Kept in Books")
    solo = env.contact("Ivy", "Indie")
    env.advance()
    env.run()
    customers = env.customers()
    env.books.delete_contact(customers["Kept in FSM"]["contact_id"])
    env.fsm.delete_record(CO, env.companies()["Kept in Books"]["id"])
    env.fsm.delete_record(CT, solo)
    env.advance(10)
    env.fsm.update_record(CO, kept_fsm, {"Website": "https://x.example"}, trigger=None)
    env.books.update_contact(customers["Kept in Books"]["contact_id"], {"website": "https://y.example"})
    env.books.update_contact(customers["Ivy Indie"]["contact_id"], {"notes": "still here"})
    env.advance()
    env.run()
    customers, companies = env.customers(), env.companies()
    assert "Kept in FSM" in companies and "Kept in FSM" not in customers
    assert "Kept in Books" in customers and "Kept in Books" not in companies
    assert "Ivy Indie" in customers and "Ivy Indie" not in env.contacts()
    assert "Pat Person" in env.contacts()  # its customer is gone, the Contact stays
    reasons = sorted(link.inactive_reason for link in env.repo.list_links(env.integration_id, active=False))
    assert reasons == ["deleted in Books", "deleted in FSM", "deleted in FSM"]
    # survivors edited again later are still not recreated
    env.advance(10)
    env.fsm.update_record(CO, kept_fsm, {"Website": "https://x2.example"}, trigger=None)
    env.books.update_contact(customers["Kept in Books"]["contact_id"], {"website": "https://y2.example"})
    env.books.update_contact(customers["Ivy Indie"]["contact_id"], {"notes": "still here, again"})
    env.advance()
    env.run()
    assert "Kept in FSM" not in env.customers() and "Kept in Books" not in env.companies()
    assert "Ivy Indie" not in env.contacts()
    assert_quiet_second_run(env)


def test_a_deleted_contact_person_keeps_its_fsm_contact(zlab_lab, tmp_path):
    env = make_env(zlab_lab, tmp_path, sync_type="III")
    acme = env.company("Acme")
    env.contact("Ann", "Lee", acme)
    env.contact("Bob", "Ray", acme)
    env.advance()
    env.run()
    acme_c = env.customers()["Acme"]
    bob = next(p for p in acme_c["contact_persons"] if p["first_name"] == "Bob")
    env.books.delete_contact_person(bob["contact_person_id"])
    env.advance(10)
    env.fsm.update_record(CT, env.contacts()["Bob Ray"]["id"], {"Phone": "1"}, trigger=None)
    env.advance()
    env.run()
    assert env.company_contacts(acme) == {"Ann Lee", "Bob Ray"}
    assert [p["first_name"] for p in env.customers()["Acme"]["contact_persons"]] == ["Ann"]
    link = env.repo.link_by_fsm(env.integration_id, CT, env.contacts()["Bob Ray"]["id"])
    assert not link.active and link.inactive_reason == "deleted in Books"


def test_an_inactive_books_customer_deactivates_its_fsm_company_which_sync_then_ignores(zlab_lab, tmp_path):
    env = make_env(zlab_lab, tmp_path, sync_type="I")
    acme = env.company("Acme")
    idle = env.customer("Idle Corp")
    env.books.mark_contact_inactive(idle)
    env.advance()
    env.run()
    assert "Idle Corp" not in env.companies()  # an inactive customer is not created in FSM
    cid = env.customers()["Acme"]["contact_id"]
    env.books.mark_contact_inactive(cid)
    env.advance(10)
    run = env.run()
    assert run.status == "succeeded" and env.companies()["Acme"]["$inactive"] is True  # TW-14
    env.fsm.update_record(CO, acme, {"Website": "https://while-inactive.example"}, trigger=None)
    env.advance()
    env.run()
    assert env.customers()["Acme"]["website"] == ""  # inactive FSM records are ignored
    env.books.mark_contact_active(cid)
    env.advance()
    env.run()
    assert env.companies()["Acme"]["$inactive"] is True  # FSM's inactive record stays out of sync
    assert env.customers()["Acme"]["website"] == ""


def test_sync_writes_do_not_trigger_fsm_workflows(zlab_lab, tmp_path):
    env = make_env(zlab_lab, tmp_path, sync_type="IV")
    for module in (CO, CT):
        env.lab.control.add_workflow(org_id=env.tenant.org("fsm"), module=module, event="create_or_edit",
                                     action={"type": "field_update", "field": "Description", "value": "ran"})
    env.customer("Globex", persons=[("Hank", "Scorpio")])
    env.customer("Jane Roe", "individual", persons=[("Jane", "Roe")])
    env.advance()
    env.run()
    assert env.lab.control.workflow_runs(env.tenant.org("fsm")) == []


# -- crash safety ----------------------------------------------------------------------------------------

def _crashed_run(env: Env):
    return env.repo.start_run(env.integration_id, "manual")


def test_a_crash_after_a_books_customer_was_created_is_finished_not_repeated(zlab_lab, tmp_path):
    env = make_env(zlab_lab, tmp_path, sync_type="III")
    fid = env.company("Half Done")
    env.contact("Ann", "Lee", fid)
    env.advance()
    run = _crashed_run(env)
    env.repo.record_pending(env.integration_id, side="partner", module="contacts", source_id=fid,
                            source_module=CO, run_id=run.id, payload={"contact_name": "Half Done"})
    env.advance(1)
    env.customer("Half Done", persons=[("Ann", "Lee")])  # created, then the process died
    env.repo.release_lock(env.integration_id, run.id)
    env.advance()
    env.run()
    [customer] = [c for c in env.books.list_contacts() if c["contact_name"] == "Half Done"]
    full = env.books.get_contact(customer["contact_id"])
    assert len(full["contact_persons"]) == 1  # Ann was paired with the person, not added again
    assert env.companies()["Half Done"]["ZBilling_Id"] == customer["contact_id"]
    assert env.contacts()["Ann Lee"]["ZBilling_Id"] == full["contact_persons"][0]["contact_person_id"]
    assert env.repo.open_pending(env.integration_id) == []
    assert_quiet_second_run(env)


def test_an_older_customer_of_the_same_name_is_not_taken_for_the_crashed_create(zlab_lab, tmp_path):
    env = make_env(zlab_lab, tmp_path, sync_type="I")
    env.tenant.set_org("books", settings={"allow_duplicate_names": True})
    older = env.customer("Same Name")
    env.books.mark_contact_inactive(older)  # inactive: never synced, so unlinked
    env.advance(10)
    fid = env.company("Same Name")
    run = _crashed_run(env)
    env.repo.record_pending(env.integration_id, side="partner", module="contacts", source_id=fid,
                            source_module=CO, run_id=run.id, payload={"contact_name": "Same Name"})
    env.repo.release_lock(env.integration_id, run.id)  # it died before creating anything
    env.advance()
    env.run()
    ids = [c["contact_id"] for c in env.books.list_contacts() if c["contact_name"] == "Same Name"]
    assert len(ids) == 2  # created now; the older customer of that name was not taken for it
    assert env.repo.link_by_fsm(env.integration_id, CO, fid).partner_id != older
    assert env.repo.link_by_partner(env.integration_id, "contacts", older) is None


def test_a_crash_after_an_fsm_company_was_created_is_finished_by_zbilling_id(zlab_lab, tmp_path):
    env = make_env(zlab_lab, tmp_path, sync_type="I")
    cid = env.customer("From Books")
    env.advance()
    run = _crashed_run(env)
    env.repo.record_pending(env.integration_id, side="fsm", module=CO, source_id=cid, source_module="contacts",
                            run_id=run.id)
    env.company("From Books", ZBilling_Id=cid)
    env.repo.release_lock(env.integration_id, run.id)
    env.advance()
    env.run()
    assert len(list(env.fsm.list_records(CO))) == 1
    assert env.repo.link_by_partner(env.integration_id, "contacts", cid) is not None


@pytest.mark.parametrize("sync_type", ["I", "IV"])
def test_created_customers_carry_the_fsm_id_when_books_defines_cf_fsm_id(zlab_lab, tmp_path, sync_type):
    env = make_env(zlab_lab, tmp_path, sync_type=sync_type)
    env.lab.control.call("POST", f"/books/orgs/{env.tenant.org('books')}/customfields",
                         {"entity": "contact", "label": "FSM Id", "api_name": "cf_fsm_id"})
    fid = env.company("Tagged")
    env.advance()
    env.run()
    values = {cf["api_name"]: cf["value"] for cf in env.customers()["Tagged"]["custom_fields"]}
    assert values["cf_fsm_id"] == fid



def test_a_contact_moved_to_another_company_fails_with_the_reason_and_keeps_its_link(zlab_lab, tmp_path):
    """Told from a person deleted in Books (test above) by the Contact's timeline."""
    env = make_env(zlab_lab, tmp_path, sync_type="III")
    a = env.company("Alpha Ltd")
    b = env.company("Beta Ltd")
    ann = env.contact("Ann", "Lee", a)
    env.advance()
    env.run()
    before = env.repo.link_by_fsm(env.integration_id, CT, ann)
    assert before.active and before.partner_entity == "contact_persons"
    env.advance()
    [r] = env.fsm.update_records(CT, [{"id": ann, "Company": b}], trigger=None)
    assert r.ok, r
    env.advance()
    run = env.run()
    assert stats(env, run)[CT] == (0, 1)
    [failure] = env.repo.record_failures(run.id, CT)
    assert failure.record_id == ann and "moved to another Company" in failure.reason
    after = env.repo.link_by_fsm(env.integration_id, CT, ann)
    assert after.active and after.partner_id == before.partner_id  # not taken for a delete (TW-14)
    customers = env.customers()
    assert [p["email"] for p in customers["Alpha Ltd"]["contact_persons"]] == ["ann.lee@example.com"]
    assert customers["Beta Ltd"]["contact_persons"] == []
    assert env.company_contacts(a) == set() and env.company_contacts(b) == {"Ann Lee"}  # nothing recreated


# -- batched FSM updates ---------------------------------------------------------------------------------

def _fsm_puts(env: Env, mark: int) -> list[str]:
    return [e["path"] for e in env.lab.control.client.journal(email=env.tenant.email, since_id=mark, limit=1000)
            if e["method"] == "PUT" and e["path"].startswith("/fsm/v1/") and "/_internal/" not in e["path"]]


def _journal_mark(env: Env) -> int:
    return max((e["id"] for e in env.lab.control.client.journal(email=env.tenant.email, limit=1)), default=0)


def _synced_then_edited_in_books(env: Env, k: int) -> dict[str, dict]:
    """k business and k individual customers synced to FSM, then each edited in Books."""
    for n in range(k):
        env.customer(f"Biz {n}")
        env.customer(f"Indie {n}", "individual", persons=[("Indie", f"P{n}")])
    env.advance()
    env.run()
    customers = env.customers()
    env.advance(10)
    for name, c in customers.items():
        env.books.update_contact(c["contact_id"], {"billing_address": {"city": f"{name} City"}})
    env.advance()
    return customers


def test_k_customers_changed_in_books_reach_fsm_in_one_batched_put_per_module(zlab_lab, tmp_path):
    env = make_env(zlab_lab, tmp_path, sync_type="IV")
    _synced_then_edited_in_books(env, 3)
    mark = _journal_mark(env)
    run = env.run()
    assert sorted(_fsm_puts(env, mark)) == ["/fsm/v1/Companies", "/fsm/v1/Contacts"]  # no PUT /{module}/{id}
    assert {n: r["Billing_Address"]["City"] for n, r in env.companies().items()} == {
        f"Biz {n}": f"Biz {n} City" for n in range(3)}
    assert {n: r["Billing_Address"]["City"] for n, r in env.contacts().items()} == {
        f"Indie P{n}": f"Indie {n} City" for n in range(3)}
    assert stats(env, run)[CO] == (3, 0) and stats(env, run)[CT] == (3, 0)
    assert_quiet_second_run(env)  # the batch's writes are not read back as changes


def test_a_record_fsm_refuses_in_a_batched_update_fails_alone_and_is_written_next_run(zlab_lab, tmp_path,
                                                                                      monkeypatch):
    env = make_env(zlab_lab, tmp_path, sync_type="IV")
    customers = _synced_then_edited_in_books(env, 3)
    refused = env.companies()["Biz 1"]["id"]
    original = FsmClient.update_records

    def refuse_one(self, module, records, **kw):  # FSM answers INVALID_DATA for an id it does not know
        return original(self, module, [{**r, "id": "4000000000999"} if r["id"] == refused else r for r in records],
                        **kw)

    with monkeypatch.context() as p:
        p.setattr(FsmClient, "update_records", refuse_one)
        run = env.run()
    assert run.status == "succeeded"
    assert stats(env, run)[CO] == (2, 1) and stats(env, run)[CT] == (3, 0)
    [failure] = env.repo.record_failures(run.id)
    assert (failure.module, failure.record_id) == (CO, customers["Biz 1"]["contact_id"])
    cities = {n: r["Billing_Address"]["City"] for n, r in env.companies().items()}
    assert cities["Biz 0"] == "Biz 0 City" and cities["Biz 2"] == "Biz 2 City" and cities["Biz 1"] != "Biz 1 City"
    env.advance()
    run = env.run()  # its link was not marked synced: the next run writes it
    assert stats(env, run)[CO] == (1, 0)
    assert env.companies()["Biz 1"]["Billing_Address"]["City"] == "Biz 1 City"
