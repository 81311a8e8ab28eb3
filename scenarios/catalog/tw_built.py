"""The TW/OB clauses built for issue 10, proven through the syncer's and the fakes' APIs, each
scenario checking the run's status and the records on both sides; with the breakers that prove
each scenario fails when its clause breaks (``scenarios/harness/breakers.py``).

- TW-07: after a mapping change, linked records neither side changed get the newly mapped field;
- TW-14: Books deactivating a customer deactivates its FSM Company/Contact; inactive FSM
  Companies and Contacts are ignored;
- TW-26: the "Billing Integration" permission; TW-27: FSM Free cannot enable two-way sync;
- TW-28: taxes off at onboarding are switched on only by support;
- OB-03: taxes configured in FSM after enable reach a new Invoice org on the next sync.
"""

from __future__ import annotations

from scenarios.harness import expect, scenario
from scenarios.harness.breakers import breaker
from scenarios.harness.syncer_client import SyncerApiError

SP = "Service_And_Parts"


def integrate(lab, product="books", *, tenant_options=None, create=None, **enable_options):
    """A tenant with FSM and Books (or Invoice), an integration between them, enabled."""
    t = lab.tenant(products=["fsm", product], **(tenant_options or {}))
    create = dict(create or {})
    if "choice" in create:  # onboarding (OB-01): the orgs of the signup email are offered
        create.setdefault("signup_email", t.email)
    integ = lab.syncer.create_integration(t, product, notify_email="admin@example.com", **create)
    integ.enable(**{"duplicate_policy": "clone", **enable_options})
    return t, integ


def create(fsm, module: str, record: dict) -> str:
    r = fsm.post(f"/{module}", json={"data": [record]})
    expect(r.status_code, f"create an FSM {module} record: HTTP status").equals(201)
    return r.json()["data"][module][0]["id"]


def fsm_record(fsm, module: str, record_id: str) -> dict:
    return fsm.get(f"/{module}/{record_id}").json()["data"][0]


def customers(api) -> dict[str, dict]:
    """Every Books customer (inactive ones too) by display name, read in full."""
    rows = api.get("/contacts", params={"filter_by": "Status.All"}).json()["contacts"]
    return {c["contact_name"]: api.get(f"/contacts/{c['contact_id']}").json()["contact"] for c in rows}


def counts(run: dict) -> dict[str, tuple[int, int]]:
    return {m["module"]: (m["succeeded"], m["failed"]) for m in run["modules"]}


def refused(call) -> SyncerApiError:
    try:
        call()
    except SyncerApiError as exc:
        return exc
    raise AssertionError("the syncer accepted it")


def fsm_state(lab, t) -> dict:
    return lab.control.call("GET", f"/fsm/orgs/{t.org('fsm')}/state").json()


# -- TW-07 ---------------------------------------------------------------------------------------------------
@scenario("TW-07-MAPPING-CHANGE-RESYNC", "After a mapping change, linked records nobody edited get the newly "
          "mapped field", rules=("TW-07", "TW-03"), tags=("sync", "books"), exclusive=True)
def mapping_change_resync(lab):
    t, integ = integrate(lab, mappings={"items": [{"fsm_field": "Description", "books_field": "description"}]})
    fsm, books = t.fsm(), t.books()
    with lab.step("Given a Company with a Description and a part with a SKU, synced while neither field is mapped"):
        lab.clock.freeze()
        company = create(fsm, "Companies", {"Company_Name": "Acme Pumps", "Description": "Key account"})
        part = create(fsm, SP, {"Name": "Valve", "Type": "Part", "Unit_Price": 8, "SKU": "V-1"})
        expect(integ.sync_now()["status"], "first run's status").equals("succeeded")
        expect(customers(books)["Acme Pumps"].get("notes") or "", "Books notes before").equals("")
        company_time = fsm_record(fsm, "Companies", company)["Modified_Time"]
    with lab.step("When Description -> notes and SKU -> sku are mapped, and Sync Now runs (no record edited)"):
        lab.clock.advance(60)
        integ.settings(mappings={
            "customers": [{"fsm_field": "Description", "books_field": "notes", "fsm_module": "Companies"}],
            "items": [{"fsm_field": "SKU", "books_field": "sku"}]})
        run = integ.sync_now()
    with lab.step("Then the run succeeded with one Company and one part synced"):
        expect(run["status"], "run status").equals("succeeded")
        expect(counts(run).get("Companies"), "Companies succeeded/failed").equals((1, 0))
        expect(counts(run).get(SP), "Service_And_Parts succeeded/failed").equals((1, 0))
    with lab.step("And Books has the newly mapped values, while FSM's records were not written"):
        expect(customers(books)["Acme Pumps"].get("notes"), "Books customer notes").equals("Key account")
        items = {i["name"]: i for i in books.get("/items").json()["items"]}
        item = books.get(f"/items/{items['Valve']['item_id']}").json()["item"]
        expect(item.get("sku"), "Books item sku").equals("V-1")
        expect(fsm_record(fsm, "Companies", company)["Modified_Time"], "FSM Company's Modified_Time").equals(
            company_time)
        expect(fsm_record(fsm, SP, part)["SKU"], "FSM part's SKU").equals("V-1")
    with lab.step("And the next run is incremental again: nothing to sync"):
        lab.clock.advance(60)
        again = integ.sync_now()
        expect(again["status"], "next run's status").equals("succeeded")
        expect(again["totals"], "next run's totals").equals({"succeeded": 0, "failed": 0})


@breaker("TW-07", "TW-07-remap-skips-linked-items", "After a mapping change, linked unchanged items are skipped")
def _(p):
    from syncer.books_sync import items

    original = items.ItemsPhase.__init__

    def broken(self, ctx):
        original(self, ctx)
        self.resync = False

    p.setattr(items.ItemsPhase, "__init__", broken)


@breaker("TW-07", "TW-07-remap-skips-linked-customers",
         "After a mapping change, linked unchanged Companies/Contacts are skipped")
def _(p):
    from syncer.books_sync import customers as phase

    original = phase.CustomersPhase.__init__

    def broken(self, ctx):
        original(self, ctx)
        self.resync = False

    p.setattr(phase.CustomersPhase, "__init__", broken)


@breaker("TW-07", "TW-07-remap-not-recorded", "A settings change of mappings does not mark the modules for re-sync")
def _(p):
    from syncer import service

    original = service.SyncerService.update_settings

    def broken(self, integration_id, **kw):
        integ = original(self, integration_id, **kw)
        self.repo.update_integration(integ.id, settings={**integ.settings, "remapped_modules": []})
        return self.repo.get_integration(integ.id)

    p.setattr(service.SyncerService, "update_settings", broken)


# -- TW-14 ---------------------------------------------------------------------------------------------------
@scenario("TW-14-BOOKS-DEACTIVATES-CUSTOMERS", "A customer Books deactivates deactivates its FSM Company or "
          "Contact, which sync then ignores", rules=("TW-14",), tags=("sync", "books"), exclusive=True)
def books_deactivates_customers(lab):
    t, integ = integrate(lab, sync_type="IV")
    fsm, books = t.fsm(), t.books()
    with lab.step("Given a Company and a Contact without a Company, synced to Books"):
        lab.clock.freeze()
        company = create(fsm, "Companies", {"Company_Name": "Crane Co"})
        person = create(fsm, "Contacts", {"Last_Name": "Solo", "Email": "solo@example.com"})
        expect(integ.sync_now()["status"], "first run's status").equals("succeeded")
        synced = customers(books)
        expect(sorted(synced), "Books customers").equals(["Crane Co", "Solo"])
    with lab.step("When both customers are marked inactive in Books and Sync Now runs"):
        lab.clock.advance(60)
        for rec in synced.values():
            expect(books.post(f"/contacts/{rec['contact_id']}/inactive").json()["code"], "mark inactive").equals(0)
        lab.clock.advance(60)
        run = integ.sync_now()
    with lab.step("Then the run succeeded and deactivated the FSM Company and Contact"):
        expect(run["status"], "run status").equals("succeeded")
        expect(counts(run).get("Companies"), "Companies succeeded/failed").equals((1, 0))
        expect(counts(run).get("Contacts"), "Contacts succeeded/failed").equals((1, 0))
        expect(fsm_record(fsm, "Companies", company)["$inactive"], "FSM Company $inactive").equals(True)
        expect(fsm_record(fsm, "Contacts", person)["$inactive"], "FSM Contact $inactive").equals(True)
        expect({c["status"] for c in customers(books).values()}, "Books statuses").equals({"inactive"})
    with lab.step("And an edit of the now inactive FSM Company does not reach Books"):
        fsm.put(f"/Companies/{company}", json={"data": [{"Company_Name": "Crane Co (closed)"}]})
        lab.clock.advance(60)
        expect(integ.sync_now()["status"], "next run's status").equals("succeeded")
        expect(sorted(customers(books)), "Books customers").equals(["Crane Co", "Solo"])


@scenario("TW-14-INACTIVE-FSM-CUSTOMERS-IGNORED", "Inactive FSM Companies and Contacts are ignored by sync",
          rules=("TW-14",), tags=("sync", "books"))
def inactive_fsm_customers_ignored(lab):
    t, integ = integrate(lab, sync_type="IV")
    fsm, books = t.fsm(), t.books()
    with lab.step("Given an inactive Company, an inactive Contact and an active Company in FSM"):
        create(fsm, "Companies", {"Company_Name": "Gone Ltd", "$inactive": True})
        create(fsm, "Contacts", {"Last_Name": "Away", "Email": "away@example.com", "$inactive": True})
        create(fsm, "Companies", {"Company_Name": "Here Ltd"})
    with lab.step("When Sync Now runs"):
        run = integ.sync_now()
    with lab.step("Then the run succeeded and only the active Company is a Books customer"):
        expect(run["status"], "run status").equals("succeeded")
        expect(counts(run).get("Companies"), "Companies succeeded/failed").equals((1, 0))
        expect(sorted(customers(books)), "Books customers").equals(["Here Ltd"])


@breaker("TW-14", "TW-14-books-customer-deactivation-not-pushed",
         "A customer Books deactivated leaves its FSM Company/Contact active")
def _(p):
    from syncer.books_sync import customers as phase

    p.setattr(phase.CustomersPhase, "_deactivate", lambda self, link, rec, customer: None)


@breaker("TW-14", "TW-14-inactive-fsm-company-synced", "Inactive FSM Companies are synced like active ones")
def _(p):
    from syncer.books_sync import customers as phase

    original = phase.CustomersPhase._company_from_fsm

    def broken(self, rec, link):
        return original(self, {k: v for k, v in rec.items() if k != "$inactive"}, link)

    p.setattr(phase.CustomersPhase, "_company_from_fsm", broken)


@breaker("TW-14", "TW-14-inactive-fsm-contact-synced", "Inactive FSM Contacts are synced like active ones")
def _(p):
    from syncer.books_sync import customers as phase

    original = phase.CustomersPhase._contact_from_fsm

    def broken(self, rec, link):
        return original(self, {k: v for k, v in rec.items() if k != "$inactive"}, link)

    p.setattr(phase.CustomersPhase, "_contact_from_fsm", broken)


# -- TW-26 ---------------------------------------------------------------------------------------------------
def set_profile(lab, t, profile: str) -> None:
    r = lab.control.call("PUT", f"/fsm/orgs/{t.org('fsm')}/users/{t.raw['user_id']}/profile", {"profile": profile})
    expect(r.status_code, f"give the FSM user the {profile} profile: HTTP status").equals(200)


@scenario("TW-26-BILLING-INTEGRATION-PERMISSION", "Without the FSM permission 'Billing Integration' a user cannot "
          "enable, change settings or mappings, or Sync Now", rules=("TW-26",), tags=("sync", "books", "edge"))
def billing_integration_permission(lab):
    t = lab.tenant(products=["fsm", "books"])
    integ = lab.syncer.create_integration(t, "books", notify_email="admin@example.com")
    fsm, books = t.fsm(), t.books()
    with lab.step("Given the integration's FSM user has the Dispatcher profile (no Billing Integration)"):
        set_profile(lab, t, "Dispatcher")
        create(fsm, SP, {"Name": "Filter", "Type": "Part", "Unit_Price": 3})
    with lab.step("Then enable, settings, mappings and Sync Now are each refused with 403"):
        for what, call in (("enable", lambda: integ.enable()),
                           ("settings", lambda: integ.settings(auto_sync=False)),
                           ("mappings", lambda: integ.settings(
                               mappings={"items": [{"fsm_field": "SKU", "books_field": "sku"}]})),
                           ("Sync Now", lambda: integ.sync_now())):
            err = refused(call)
            expect(err.status, f"{what}: HTTP status").equals(403)
            expect(err.message, f"{what}: message").contains("Billing Integration")
        expect(integ.refresh()["state"], "integration state").equals("created")
        expect(books.get("/items").json()["items"], "Books items").equals([])
    with lab.step("When the user gets a custom profile with Billing Integration"):
        r = lab.control.call("PUT", f"/fsm/orgs/{t.org('fsm')}/profiles/Billing Clerk",
                             {"permissions": ["Billing Integration"]})
        expect(r.status_code, "custom profile: HTTP status").equals(200)
        set_profile(lab, t, "Billing Clerk")
    with lab.step("Then enabling and Sync Now work, and the part reaches Books"):
        expect(integ.enable()["state"], "state").equals("enabled")
        run = integ.sync_now()
        expect(run["status"], "run status").equals("succeeded")
        expect([i["name"] for i in books.get("/items").json()["items"]], "Books items").equals(["Filter"])


@breaker("TW-26", "TW-26-permission-not-checked", "The syncer never checks the FSM user's permission")
def _(p):
    from syncer import service

    p.setattr(service.SyncerService, "check_permission", lambda self, integ: None)


@breaker("TW-26", "TW-26-wrong-permission-checked", "The syncer checks the Contacts permission, not Billing Integration")
def _(p):
    from syncer import service

    p.setattr(service, "BILLING_INTEGRATION", "Contacts")


@breaker("TW-26", "TW-26-sync-now-unchecked", "Sync Now does not check the permission (enable and settings do)")
def _(p):
    from syncer import service

    original = service.SyncerService.sync_now

    def broken(self, integration_id, *, wait=False):
        check, self.check_permission = self.check_permission, lambda integ: None
        try:
            return original(self, integration_id, wait=wait)
        finally:
            self.check_permission = check

    p.setattr(service.SyncerService, "sync_now", broken)


# -- TW-27 ---------------------------------------------------------------------------------------------------
@scenario("TW-27-FREE-EDITION", "FSM Free edition cannot enable two-way sync; Standard can",
          rules=("TW-27",), tags=("sync", "books", "edge"))
def free_edition(lab):
    t = lab.tenant(products=["fsm", "books"], editions={"fsm": "free"})
    integ = lab.syncer.create_integration(t, "books", notify_email="admin@example.com")
    fsm, books = t.fsm(), t.books()
    with lab.step("Given an FSM org on the Free edition with a service"):
        create(fsm, SP, {"Name": "Inspection", "Type": "Service", "Unit_Price": 50})
    with lab.step("Then enabling two-way sync is refused, naming the edition, and nothing syncs"):
        err = refused(lambda: integ.enable())
        expect(err.status, "HTTP status").equals(403)
        expect(err.message, "message").contains("Free")
        expect(integ.refresh()["state"], "integration state").equals("created")
        expect(refused(lambda: integ.sync_now()).status, "Sync Now: HTTP status").equals(409)
    with lab.step("When the org moves to Standard, enabling works and the service syncs"):
        lab.control.patch_org(t.org("fsm"), {"edition": "standard"})
        expect(integ.enable()["state"], "state").equals("enabled")
        expect(integ.sync_now()["status"], "run status").equals("succeeded")
        expect([i["name"] for i in books.get("/items").json()["items"]], "Books items").equals(["Inspection"])


@breaker("TW-27", "TW-27-free-edition-allowed", "FSM Free edition is let through like Standard")
def _(p):
    from syncer import service

    p.setattr(service, "TWO_WAY_EDITIONS", (*service.TWO_WAY_EDITIONS, "free"))


# -- TW-28 ---------------------------------------------------------------------------------------------------
@scenario("TW-28-TAXES-SUPPORT-ONLY", "Taxes not enabled at onboarding can be enabled only by support",
          rules=("TW-28", "TW-18"), tags=("sync", "books", "edge"))
def taxes_support_only(lab):
    t, integ = integrate(lab, tenant_options={"tax_enabled": False})
    books = t.books()
    with lab.step("Given an integration onboarded with taxes off in FSM and Books"):
        expect(integ.data["taxes_at_onboarding"], "taxes at onboarding").equals(False)
    with lab.step("Then the user cannot switch FSM taxes on (403), and FSM's taxes stay off"):
        err = refused(lambda: integ.settings(tax_enabled=True))
        expect(err.status, "HTTP status").equals(403)
        expect(err.message, "message").contains("support")
        expect(fsm_state(lab, t)["tax_enabled"], "FSM tax_enabled").equals(False)
    with lab.step("When Books switches its taxes on, the sync fails: taxes differ (TW-18)"):
        lab.control.patch_org(t.org("books"), {"tax_enabled": True})
        create(t.fsm(), SP, {"Name": "Taxed work", "Type": "Service", "Unit_Price": 10})
        expect(integ.sync_now()["status"], "run status").equals("failed")
    with lab.step("And without the support token the support action is refused"):
        url = f"/api/v1/support/integrations/{integ.id}/enable-taxes"
        expect(lab.syncer.request("POST", url).status_code, "no token: HTTP status").equals(401)
    with lab.step("When support enables FSM taxes, the sync succeeds and the service reaches Books"):
        r = lab.syncer.request("POST", url, headers=lab.syncer.support_headers())
        expect(r.status_code, "support: HTTP status").equals(200)
        expect(fsm_state(lab, t)["tax_enabled"], "FSM tax_enabled").equals(True)
        expect(integ.sync_now()["status"], "run status").equals("succeeded")
        expect([i["name"] for i in books.get("/items").json()["items"]], "Books items").equals(["Taxed work"])


@breaker("TW-28", "TW-28-user-enables-taxes", "The user's settings switch FSM taxes on though they were off at onboarding")
def _(p):
    from syncer import service

    def broken(self, integ, enabled):
        fsm, _books = self.clients_for(integ)
        fsm.set_taxes(enabled=enabled)

    p.setattr(service.SyncerService, "set_taxes", broken)


@breaker("TW-28", "TW-28-support-enable-taxes-no-op", "Support's enable-taxes answers 200 without switching FSM taxes on")
def _(p):
    from syncer import service

    def broken(self, integration_id, token):
        self.check_support_token(token)
        return self.repo.get_integration(integration_id)

    p.setattr(service.SyncerService, "support_enable_taxes", broken)


# -- OB-03 ---------------------------------------------------------------------------------------------------
@scenario("OB-03-TAXES-AFTER-ENABLE", "Taxes configured in FSM after enable reach the new Invoice org on the next "
          "sync", rules=("OB-03",), tags=("sync", "invoice"))
def taxes_after_enable(lab):
    t, integ = integrate(lab, "invoice", tenant_options={"tax_enabled": True}, create={"choice": "new_invoice"})
    invoice = t.invoice()
    with lab.step("Given an integration with its new Invoice org, enabled"):
        expect(integ.data["state"], "state").equals("enabled")
    with lab.step("When a 'City tax' is configured in FSM and Sync Now runs"):
        lab.control.call("PUT", f"/fsm/orgs/{t.org('fsm')}/taxes",
                         {"taxes": [{"tax_name": "City tax", "tax_percentage": 2.5}]})
        run = integ.sync_now()
    with lab.step("Then the run succeeded and the Invoice org has the tax, at FSM's rate"):
        expect(run["status"], "run status").equals("succeeded")
        expect(counts(run).get("Taxes"), "Taxes succeeded/failed").equals((1, 0))
        taxes = {x["tax_name"]: x for x in invoice.get("/settings/taxes").json()["taxes"]}
        expect("City tax" in taxes, "the Invoice org has City tax").is_true()
        expect(taxes["City tax"]["tax_percentage"], "City tax rate").equals(2.5)
    with lab.step("And the next sync does not create it twice"):
        expect(integ.sync_now()["status"], "next run's status").equals("succeeded")
        names = [x["tax_name"] for x in invoice.get("/settings/taxes").json()["taxes"]]
        expect(names.count("City tax"), "City tax in Invoice").equals(1)


@breaker("OB-03", "OB-03-taxes-only-at-enable", "FSM taxes go to a new Invoice org only at enable, not on sync")
def _(p):
    from syncer.books_sync import engine

    p.setattr(engine.SyncEngine, "sync_taxes", lambda self, ctx: None)


@breaker("OB-03", "OB-03-tax-rate-dropped", "Taxes pushed to a new Invoice org lose FSM's rate (created at 0)")
def _(p):
    from syncer.books_sync import onboarding

    original = onboarding.push_fsm_taxes

    def broken(books, fsm_taxes, books_taxes, on_error=None):
        return original(books, [{**x, "tax_percentage": 0} for x in fsm_taxes], books_taxes, on_error)

    p.setattr(onboarding, "push_fsm_taxes", broken)
