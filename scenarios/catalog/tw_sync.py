"""TW — the FSM <-> Books/Invoice two-way sync (seeds/two-way-sync-fsm-books.txt), proven
through the syncer's API and the fakes' APIs only. Each scenario fails when its rule is broken."""

from __future__ import annotations

import threading

from scenarios.harness import expect, scenario
from scenarios.harness.breakers import breaker
from scenarios.harness.syncer_client import SyncerApiError

SP = "Service_And_Parts"


def integrate(lab, product="books", *, enable=True, tenant_options=None, **enable_options):
    """A tenant with FSM and Books (or Invoice), an integration between them, enabled."""
    t = lab.tenant(products=["fsm", product], **(tenant_options or {}))
    integ = lab.syncer.create_integration(t, product, notify_email="admin@example.com")
    if enable:
        integ.enable(**{"duplicate_policy": "clone", **enable_options})
    return t, integ


def service(fsm, name, **extra):
    r = fsm.post(f"/{SP}", json={"data": [{"Name": name, "Type": "Service", "Unit_Price": 40, **extra}]})
    expect(r.status_code, f"create service {name}: HTTP status").equals(201)
    return r.json()["data"][SP][0]["id"]


def refused(call) -> SyncerApiError:
    try:
        call()
    except SyncerApiError as exc:
        return exc
    raise AssertionError("the syncer accepted it")


@scenario("TW-01-ENABLE-ONCE", "Enabling sync is one-time, and refused while an FSM data import runs",
          rules=("TW-01",), tags=("sync", "books", "edge"))
def enable_once(lab):
    t, integ = integrate(lab, enable=False)
    with lab.step("Given an FSM data import in progress"):
        r = lab.control.call("POST", f"/fsm/orgs/{t.org('fsm')}/imports", {"module": "Contacts"})
        job = r.json()
    with lab.step("Then enabling sync is refused"):
        expect(refused(lambda: integ.enable()).status, "HTTP status").equals(409)
    with lab.step("When the import finishes, enabling works"):
        lab.control.call("POST", f"/fsm/orgs/{t.org('fsm')}/imports/{job['id']}/finish", {})
        expect(integ.enable()["state"], "state").equals("enabled")
    with lab.step("And a second enable is refused"):
        expect(refused(lambda: integ.enable()).status, "HTTP status").equals(409)


@scenario("TW-02-OVERWRITE", "Overwrite matches a part by name and the latest modified side wins",
          rules=("TW-02",), tags=("sync", "books"), exclusive=True)
def overwrite(lab):
    t, integ = integrate(lab, enable=False)
    books, fsm = t.books(), t.fsm()
    with lab.step("Given an item 'Gasket' in Books, then later a part 'Gasket' in FSM with another price"):
        lab.clock.freeze()
        books.post("/items", json={"name": "Gasket", "rate": 3})
        lab.clock.advance(60)
        service(fsm, "Gasket", Unit_Price=5, Type="Part")
    with lab.step("When sync is enabled with Overwrite and runs"):
        integ.enable(duplicate_policy="overwrite")
        lab.clock.advance(60)
        expect(integ.sync_now()["status"], "run status").equals("succeeded")
    with lab.step("Then there is still one Gasket on each side, both at the FSM price (the later one)"):
        items = [i for i in books.get("/items").json()["items"] if i["name"] == "Gasket"]
        expect(len(items), "Gasket items in Books").equals(1)
        expect(items[0]["rate"], "Books rate").equals(5)
        expect(len(fsm.get(f"/{SP}/search", params={"api_name": "Name", "value": "Gasket"}).json()["data"]),
               "Gasket records in FSM").equals(1)


@scenario("TW-03-MAPPINGS", "Mappings: an unknown field or an unmapped mandatory Books field is refused",
          rules=("TW-03",), tags=("sync", "books", "edge"))
def mappings_validated(lab):
    t, integ = integrate(lab)
    with lab.step("When an items mapping names a field FSM does not have"):
        err = refused(lambda: integ.settings(mappings={"items": [{"fsm_field": "Colour", "books_field": "description"}]}))
    with lab.step("Then it is refused, naming the field"):
        expect(err.status, "HTTP status").equals(400)
        expect(err.message, "message").contains("Colour")
    with lab.step("And a valid mapping is accepted and used on the next sync"):
        integ.settings(mappings={"items": [{"fsm_field": "Description", "books_field": "description"}]})
        service(t.fsm(), "Mapped", Description="via mapping")
        expect(integ.sync_now()["status"], "run status").equals("succeeded")
        items = {i["name"]: i for i in t.books().get("/items").json()["items"]}
        expect(items["Mapped"]["description"], "Books description").equals("via mapping")


@scenario("TW-04-AUTO-SYNC", "Automatic sync runs three hours after the end of the previous one; it can be off",
          rules=("TW-04",), tags=("sync", "books"), exclusive=True)
def auto_sync(lab):
    t, integ = integrate(lab)

    def auto_runs():
        return [r for r in integ.runs() if r["trigger"] == "auto" and r["status"] != "refused"]

    def finished_auto_runs():  # the scheduler thread may still be running it
        return [r for r in auto_runs() if r["status"] != "running"]

    with lab.step("Given a frozen clock and a first manual sync"):
        lab.clock.freeze()
        integ.sync_now()
    with lab.step("When 2 h 59 min pass, no automatic sync runs"):
        lab.clock.advance(3 * 3600 - 60)
        lab.syncer.tick()
        expect(auto_runs(), "automatic runs").equals([])
    with lab.step("Then after 3 h the scheduler runs an automatic sync"):
        lab.clock.advance(61)
        lab.syncer.tick()
        runs = lab.wait_until(finished_auto_runs, timeout=10, what="a finished automatic run")
        expect(runs[0]["status"], "automatic run's status").equals("succeeded")
    with lab.step("And with automatic sync off, none runs three hours later"):
        integ.settings(auto_sync=False)
        lab.clock.advance(3 * 3600 + 1)
        lab.syncer.tick()

        def settled():  # neither due nor running in the scheduler (its own thread may have claimed it)
            state = lab.syncer.request("GET", "/api/v1/scheduler").json()
            return integ.id not in state["due"] and integ.id not in state["inflight"]
        lab.wait_until(settled, timeout=10, what="the scheduler done with this integration")
        expect(len(auto_runs()), "automatic runs").equals(1)


@scenario("TW-05-SYNC-NOW-30", "Sync Now is allowed 30 times a day; the 31st is refused",
          rules=("TW-05",), tags=("sync", "books", "edge", "slow"), exclusive=True)
def sync_now_limit(lab):
    t, integ = integrate(lab)
    integ.settings(auto_sync=False)  # only manual syncs here: a day later an automatic one would be due
    with lab.step("Given 30 manual syncs today"):
        lab.clock.freeze("2026-06-01T10:00:00Z")
        for _ in range(30):
            integ.sync_now()
    with lab.step("Then the 31st is refused with 429"):
        expect(refused(lambda: integ.sync_now()).status, "HTTP status").equals(429)
    with lab.step("And the next day Sync Now works again"):
        lab.clock.advance(86400)
        t.token(fresh=True)
        expect(integ.sync_now()["status"], "run status").equals("succeeded")


@scenario("TW-06-BIDIRECTIONAL", "Services and Parts sync both ways with Items",
          rules=("TW-06", "TW-22"), tags=("sync", "books", "smoke"))
def bidirectional(lab):
    t, integ = integrate(lab)
    fsm, books = t.fsm(), t.books()
    with lab.step("Given a service in FSM and an item in Books"):
        service(fsm, "Boiler service")
        books.post("/items", json={"name": "Valve", "rate": 12, "product_type": "goods"})
    with lab.step("When Sync Now runs"):
        run = integ.sync_now()
        expect(run["status"], "run status").equals("succeeded")
    with lab.step("Then each appears on the other side"):
        expect([i["name"] for i in books.get("/items").json()["items"]], "Books items").contains("Boiler service")
        names = [r["Name"] for r in fsm.get(f"/{SP}").json()["data"]]
        expect(names, "FSM services and parts").contains("Valve")


@scenario("TW-07-INCREMENTAL", "Only records modified after the previous sync started are synced",
          rules=("TW-07",), tags=("sync", "books"), exclusive=True)
def incremental(lab):
    t, integ = integrate(lab)
    fsm = t.fsm()
    lab.clock.freeze()
    for i in range(5):
        service(fsm, f"Part {i}")
    integ.sync_now()
    lab.clock.advance(60)
    with lab.step("Given one service edited after the last sync"):
        sid = fsm.get(f"/{SP}/search", params={"api_name": "Name", "value": "Part 3"}).json()["data"][0]["id"]
        fsm.put(f"/{SP}/{sid}", json={"data": [{"Unit_Price": 99}]})
        lab.clock.advance(60)
    with lab.step("When the next sync runs"):
        run = integ.sync_now()
    with lab.step("Then exactly one record was synced"):
        stats = {m["module"]: m for m in lab.syncer.run(run["id"])["modules"]}
        expect(stats[SP]["succeeded"], "services synced").equals(1)
        items = {i["name"]: i for i in t.books().get("/items").json()["items"]}
        expect(items["Part 3"]["rate"], "Books rate of Part 3").equals(99)


@scenario("TW-08-IMPORT-BLOCKS-SYNC", "No sync starts while an FSM data import is in progress",
          rules=("TW-08",), tags=("sync", "books", "edge"))
def import_blocks_sync(lab):
    t, integ = integrate(lab)
    service(t.fsm(), "Waiting")
    with lab.step("Given an FSM data import in progress"):
        lab.control.call("POST", f"/fsm/orgs/{t.org('fsm')}/imports", {"module": "Contacts"})
    with lab.step("When Sync Now is asked for"):
        run = integ.sync_now()
    with lab.step("Then the run is refused and nothing reaches Books"):
        expect(run["status"], "run status").equals("refused")
        expect(run.get("failure_reason") or "", "reason").contains("import")
        expect(t.books().get("/items").json()["items"], "Books items").equals([])


@scenario("TW-09-ONE-AT-A-TIME", "A sync cannot start while another is in progress",
          rules=("TW-09",), tags=("sync", "books", "edge"))
def one_at_a_time(lab):
    t, integ = integrate(lab)
    with lab.step("Given a slow FSM, two Sync Now calls at once"):
        lab.faults.add(product="fsm", path="/fsm/v1/_internal/settings", org=t.org("fsm"),
                       action={"type": "delay", "seconds": 0.8}, times=1)
        outcomes = []

        def call():
            try:
                outcomes.append(integ.sync_now()["status"])
            except SyncerApiError as exc:
                outcomes.append(exc.status)

        threads = [threading.Thread(target=call) for _ in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    with lab.step("Then exactly one ran and the other was refused"):
        expect(sorted(map(str, outcomes)), "outcomes").equals(["409", "succeeded"])


@scenario("TW-10-CURRENCY-INTO-FSM", "A Books currency missing in FSM is created in FSM with exchange rate 1",
          rules=("TW-10",), tags=("sync", "books"))
def currency_into_fsm(lab):
    t, integ = integrate(lab, tenant_options={"orgs": {"books": {"currencies": ["EUR"]}}})
    with lab.step("When Sync Now runs"):
        expect(integ.sync_now()["status"], "run status").equals("succeeded")
    with lab.step("Then FSM has EUR at rate 1"):
        cur = {c["iso_code"]: c for c in t.fsm().get("/_internal/currencies").json()["currencies"]}
        expect("EUR" in cur, "EUR in FSM").is_true()
        expect(float(cur["EUR"]["exchange_rate"]), "exchange rate").equals(1.0)


@scenario("TW-11-NO-PII-MAPPING", "PII and EPHI fields cannot be used in field mappings",
          rules=("TW-11",), tags=("sync", "books", "edge"))
def no_pii_mapping(lab):
    t, integ = integrate(lab)
    with lab.step("When a customers mapping uses the FSM Contact's Email (PII)"):
        err = refused(lambda: integ.settings(mappings={"customers": [
            {"fsm_field": "Email", "books_field": "email", "fsm_module": "Contacts"}]}))
    with lab.step("Then it is refused, naming the field"):
        expect(err.status, "HTTP status").equals(400)
        expect(err.message, "message").contains("Email is a PII field")


@scenario("TW-12-NO-WORKFLOWS", "Sync writes do not trigger FSM workflow rules",
          rules=("TW-12",), tags=("sync", "books"))
def no_workflows(lab):
    t, integ = integrate(lab)
    with lab.step("Given an FSM workflow rule on Services and Parts create"):
        lab.control.add_workflow(org_id=t.org("fsm"), module=SP, event="create",
                                 action={"type": "field_update", "field": "Description", "value": "workflow ran"})
        t.books().post("/items", json={"name": "From Books", "rate": 1})
    with lab.step("When the sync creates the service in FSM"):
        expect(integ.sync_now()["status"], "run status").equals("succeeded")
    with lab.step("Then the service is in FSM and the rule did not run"):
        r = t.fsm().get(f"/{SP}")
        names = [x["Name"] for x in r.json()["data"]] if r.status_code == 200 else []  # 204: none
        expect(names, "FSM services").contains("From Books")
        expect(lab.control.workflow_runs(t.org("fsm")), "workflow runs").equals([])


@scenario("TW-13-CRM-BOOKS-BUSY", "FSM-Books sync cannot run while a CRM-Books sync is in progress",
          rules=("TW-13",), tags=("sync", "books", "edge"))
def crm_books_busy(lab):
    t, integ = integrate(lab)
    with lab.step("Given a CRM-Books sync in progress on the Books org"):
        lab.control.call("PATCH", f"/books/orgs/{t.org('books')}/crm-integration",
                         {"enabled": True, "sync_type": integ.data["sync_type"], "sync_in_progress": True})
    with lab.step("Then Sync Now is refused"):
        run = integ.sync_now()
        expect(run["status"], "run status").equals("refused")
        expect(run.get("failure_reason") or "", "reason").contains("CRM")


@scenario("TW-14-NO-DELETE-PROPAGATION", "A delete never reaches the partner, which is not recreated; "
          "a Books deactivation deactivates the FSM partner", rules=("TW-14",), tags=("sync", "books", "edge"),
          exclusive=True)
def no_delete_propagation(lab):
    t, integ = integrate(lab)
    fsm, books = t.fsm(), t.books()
    lab.clock.freeze()
    for name in ("Stays in FSM", "Stays in Books", "Deactivated"):
        service(fsm, name)
    integ.sync_now()
    lab.clock.advance(60)
    items = {i["name"]: i for i in books.get("/items").json()["items"]}
    with lab.step("When one item is deleted in Books, one service deleted in FSM, one item deactivated"):
        books.delete(f"/items/{items['Stays in FSM']['item_id']}")
        sid = fsm.get(f"/{SP}/search", params={"api_name": "Name", "value": "Stays in Books"}).json()["data"][0]["id"]
        fsm.delete(f"/{SP}/{sid}")
        books.post(f"/items/{items['Deactivated']['item_id']}/inactive")
        integ.sync_now()
    with lab.step("Then the partners survive, nothing is recreated, and the FSM partner is inactive"):
        names = {r["Name"]: r for r in fsm.get(f"/{SP}").json()["data"]}
        item_names = [i["name"] for i in books.get("/items").json()["items"]]
        expect(names, "FSM services").contains("Stays in FSM")
        expect(item_names, "Books items").contains("Stays in Books")
        expect(item_names, "Books items").lacks("Stays in FSM")
        expect(names, "FSM services").lacks("Stays in Books")
        expect(names["Deactivated"].get("$inactive"), "FSM partner inactive").is_true()


@scenario("TW-15-16-TYPE-MISMATCH", "A sync type mismatch fails the sync, mails, stops periodic sync and "
          "disables it; only support re-enables", rules=("TW-15", "TW-16"), tags=("sync", "books", "edge", "smoke"))
def type_mismatch(lab):
    t, integ = integrate(lab)
    with lab.step("Given the CRM-Books integration uses another sync type"):
        other = "II" if integ.data["sync_type"] != "II" else "III"
        lab.control.call("PATCH", f"/books/orgs/{t.org('books')}/crm-integration", {"enabled": True, "sync_type": other})
    with lab.step("When Sync Now runs"):
        run = integ.sync_now()
    with lab.step("Then it fails, a mail is sent, periodic sync stops and sync is disabled"):
        expect(run["status"], "run status").equals("failed")
        data = integ.refresh()
        expect((data["state"], data["next_auto_sync_at"]), "state and next automatic sync").equals(("disabled", None))
        expect(len(integ.mail()), "mails").equals(1)
    with lab.step("And the user cannot enable it again, but support can"):
        expect(refused(lambda: integ.enable()).status, "HTTP status").equals(403)
        expect(integ.support_reenable()["state"], "state after support").equals("enabled")


@scenario("TW-18-TAX-MISMATCH", "Taxes enabled on one side only fail the sync (mail; not disabled)",
          rules=("TW-18",), tags=("sync", "books", "edge"))
def tax_mismatch(lab):
    t, integ = integrate(lab)
    with lab.step("Given taxes enabled in Books but not in FSM"):
        t.set_org("books", tax_enabled=True)
    with lab.step("When Sync Now runs"):
        run = integ.sync_now()
    with lab.step("Then it fails with a mail, and sync stays enabled"):
        expect(run["status"], "run status").equals("failed")
        expect(run.get("failure_reason") or "", "reason").contains("Taxes")
        expect(integ.refresh()["state"], "state").equals("enabled")
        expect(len(integ.mail()), "mails").equals(1)


@scenario("TW-21-SYNC-TYPE-FROM-CRM", "Onboarding onto an existing org takes the CRM-Books sync type",
          rules=("TW-21",), tags=("sync", "books"))
def sync_type_from_crm(lab):
    t, integ = integrate(lab, enable=False)
    with lab.step("Given the Books org's CRM-Books integration uses Type III"):
        lab.control.call("PATCH", f"/books/orgs/{t.org('books')}/crm-integration", {"enabled": True, "sync_type": "III"})
    with lab.step("When sync is enabled without choosing a type"):
        data = integ.enable()
    with lab.step("Then the integration's sync type is III"):
        expect(data["sync_type"], "sync type").equals("III")


@scenario("TW-24-25-PARTNER-AND-LOGS", "Each synced record shows its partner and last sync; failures are in "
          "<Module>FailureLogs.csv with one reason each", rules=("TW-24", "TW-25"), tags=("sync", "books"))
def partner_and_logs(lab):
    t, integ = integrate(lab)
    fsm, books = t.fsm(), t.books()
    with lab.step("Given a service that will sync and one whose name Books already has"):
        sid = service(fsm, "Syncs fine")
        books.post("/items", json={"name": "Clash", "rate": 1})
        service(fsm, "Clash")
    with lab.step("When Sync Now runs"):
        run = integ.sync_now()
    with lab.step("Then the run has an id, times and per-module counts"):
        detail = lab.syncer.run(run["id"])
        expect(bool(detail["id"] and detail["started_at"] and detail["ended_at"]), "id, start and end").is_true()
        stats = {m["module"]: m for m in detail["modules"]}
        expect(stats[SP]["failed"], "failed services").equals(1)
    with lab.step("And the CSV names the failed record with a reason"):
        csv = lab.syncer.failures_csv(run["id"], SP)
        lines = [line for line in csv.strip().splitlines() if line]
        expect(len(lines), "CSV lines (header + one record)").equals(2)
        expect(lines[1], "the failure").contains("Clash")
    with lab.step("And the synced service shows its partner and last sync"):
        rec = integ.record(SP, sid)
        item = {i["name"]: i for i in books.get("/items").json()["items"]}["Syncs fine"]
        expect(rec["partner"]["id"], "partner id").equals(item["item_id"])
        expect(rec["partner"]["url"], "partner link").contains(item["item_id"])
        expect(bool(rec["last_sync"]["at"]), "last sync shown").is_true()


@scenario("OB-02-DEFAULT-MAPPINGS", "Default mappings are configured at enable and can be changed later",
          rules=("OB-02",), tags=("sync", "books"))
def default_mappings(lab):
    t, integ = integrate(lab)
    with lab.step("Then the enabled integration has default item mappings"):
        expect(sorted(m["fsm_field"] for m in integ.refresh()["mappings"].get("items", [])), "item mappings").equals(
            ["Description", "SKU", "Unit"])
    with lab.step("And they can be changed"):
        integ.settings(mappings={"items": [{"fsm_field": "Description", "books_field": "description"}]})
        expect([m["fsm_field"] for m in integ.refresh()["mappings"]["items"]], "item mappings").equals(["Description"])


@scenario("OB-04-ONE-WAY", "One-way sync pushes FSM data to Invoice and reads nothing back",
          rules=("OB-04",), tags=("sync", "invoice"))
def one_way(lab):
    t, integ = integrate(lab, "invoice", mode="one_way")
    fsm, inv = t.fsm(), t.invoice()
    with lab.step("Given a service in FSM and an item only in Invoice"):
        service(fsm, "Pushed")
        inv.post("/items", json={"name": "Stays in Invoice", "rate": 2})
    with lab.step("When Sync Now runs"):
        expect(integ.sync_now()["status"], "run status").equals("succeeded")
    with lab.step("Then the service reached Invoice and the Invoice item did not reach FSM"):
        expect([i["name"] for i in inv.get("/items").json()["items"]], "Invoice items").contains("Pushed")
        expect([r["Name"] for r in fsm.get(f"/{SP}").json()["data"]], "FSM services").lacks("Stays in Invoice")


# -- breakers (tests/test_breakers.py): each must make one of its rule's scenarios fail ---------------

@breaker("TW-08", "TW-08-import-flag-ignored", "The preflight no longer refuses a run while an FSM import runs")
def _(p):
    from syncer.clients.fsm import FsmClient
    read = FsmClient.internal_settings
    p.setattr(FsmClient, "internal_settings", lambda self: {**read(self), "import_in_progress": False})


@breaker("TW-01", "TW-01-second-enable-accepted", "A second enable is answered as a success")
def _(p):
    from syncer.service import AlreadyEnabled, SyncerService
    original = SyncerService.enable

    def broken(self, integration_id, **kw):
        try:
            return original(self, integration_id, **kw)
        except AlreadyEnabled:
            return self.repo.get_integration(integration_id)
    p.setattr(SyncerService, "enable", broken)


@breaker("TW-01", "TW-01-enable-during-import", "Enabling no longer looks at an FSM import in progress")
def _(p):
    from syncer.service import SyncerService
    p.setattr(SyncerService, "_refuse_during_import", lambda self, integ: None)


@breaker("TW-03", "TW-03-unknown-field-accepted", "A mapping naming a field FSM does not have is accepted")
def _(p):
    from syncer.books_sync import mapping
    original = mapping.validate
    p.setattr(mapping, "validate", lambda *a, **kw: [x for x in original(*a, **kw) if " has no field " not in x])


@breaker("TW-03", "TW-03-mappings-not-applied", "User mappings are not applied to items sent to Books")
def _(p):
    from syncer.books_sync import items
    p.setattr(items, "to_books", lambda rec, pairs, _orig=items.to_books: _orig(rec, []))


@breaker("TW-04", "TW-04-auto-sync-off-ignored", "Automatic sync runs though the user switched it off")
def _(p):
    from syncer.store.repo import Repo
    original = Repo.update_integration

    def broken(self, integration_id, **changes):
        changes.pop("auto_sync", None) if changes.get("auto_sync") is False else None
        return original(self, integration_id, **changes)
    p.setattr(Repo, "update_integration", broken)


@breaker("TW-04", "TW-04-never-due", "The scheduler never finds an automatic sync due")
def _(p):
    from syncer.store.repo import Repo
    p.setattr(Repo, "due_integrations", lambda self, at=None: [])


@breaker("TW-06", "TW-06-items-not-pushed", "Services and parts new in FSM are not created in Books")
def _(p):
    from syncer.books_sync.items import ItemsPhase
    p.setattr(ItemsPhase, "_create_in_books", lambda self, rec: None)


@breaker("TW-06", "TW-06-items-not-pulled", "Items new in Books are not created in FSM")
def _(p):
    from syncer.books_sync.items import ItemsPhase
    p.setattr(ItemsPhase, "_create_in_fsm", lambda self, item: None)


@breaker("TW-09", "TW-09-lock-always-free", "A run takes the sync lock even while another holds it")
def _(p):
    from syncer.store.repo import Repo, SyncInProgress
    original = Repo._start_run

    def broken(self, integration_id, *a, **kw):
        try:
            return original(self, integration_id, *a, **kw)
        except SyncInProgress:
            with self.db.begin() as s:
                from syncer.store.models import SyncLock
                lock = s.get(SyncLock, integration_id)
                lock.run_id = lock.expires_at = None
                s.add(lock)
            return original(self, integration_id, *a, **kw)
    p.setattr(Repo, "_start_run", broken)


@breaker("TW-11", "TW-11-pii-accepted", "PII and EPHI fields are accepted in mappings")
def _(p):
    from syncer.books_sync import mapping
    original = mapping.validate
    p.setattr(mapping, "validate", lambda *a, **kw: [x for x in original(*a, **kw) if "PII and EPHI" not in x])


@breaker("TW-15", "TW-15-user-reenables", "The user may enable again a sync an error disabled")
def _(p):
    from syncer.service import ReenableForbidden, SyncerService
    original = SyncerService.enable

    def broken(self, integration_id, **kw):
        try:
            return original(self, integration_id, **kw)
        except ReenableForbidden:
            self.repo.enable_integration(integration_id, by_support=True)
            return self.repo.get_integration(integration_id)
    p.setattr(SyncerService, "enable", broken)


@breaker("TW-15", "TW-15-support-cannot-reenable", "The support re-enable leaves the sync disabled")
def _(p):
    from syncer.service import SyncerService
    p.setattr(SyncerService, "support_reenable", lambda self, iid, token: (self.check_support_token(token),
                                                                            self.repo.get_integration(iid))[1])


@breaker("TW-22", "TW-22-not-pushed-for-invoice", "A service used on a work order is not pushed at invoice time")
def _(p):
    from syncer.books_sync.items import ItemsPhase
    p.setattr(ItemsPhase, "push_for_invoice", lambda self, rec: self.repo.link_by_fsm(self.integ.id, SP, rec["id"]))


@breaker("TW-22", "TW-22-books-items-not-pulled", "Items new in Books are not created in FSM")
def _(p):
    from syncer.books_sync.items import ItemsPhase
    p.setattr(ItemsPhase, "_create_in_fsm", lambda self, item: None)


@breaker("TW-23", "TW-23-quantity-dropped", "Invoice lines bill one of each, whatever the work order's quantity")
def _(p):
    from syncer.books_sync.invoices import InvoiceWriter
    original = InvoiceWriter.line_items
    p.setattr(InvoiceWriter, "line_items", lambda self, wo: [{**li, "quantity": 1} for li in original(self, wo)])


@breaker("TW-23", "TW-23-invoice-made-twice", "A second call makes a second invoice for the same work order")
def _(p):
    from syncer.books_sync.invoices import InvoiceWriter
    p.setattr(InvoiceWriter, "_existing", lambda self, wo: None)


@breaker("OB-01", "OB-01-inactive-offered", "Inactive orgs are offered")
def _(p):
    from syncer.books_sync import onboarding
    original = onboarding.offerable
    p.setattr(onboarding, "offerable", lambda org, product, signup_email=None: original(
        {**org, "is_org_active": True}, product, signup_email))


@breaker("OB-02", "OB-02-default-missing", "The default item mappings lack one field")
def _(p):
    from syncer.books_sync import mapping
    original = mapping.defaults
    p.setattr(mapping, "defaults", lambda module: original(module)[:-1] if module == "items" else original(module))


@breaker("OB-02", "OB-02-changes-ignored", "Mapping changes after enable are not saved")
def _(p):
    from syncer.store.repo import Repo
    original = Repo.set_mappings
    p.setattr(Repo, "set_mappings", lambda self, iid, module, rows: original(self, iid, module, rows) if (
        not self.get_mappings(iid, module)) else None)
