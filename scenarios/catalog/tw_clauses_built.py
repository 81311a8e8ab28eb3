"""TW/OB — the clauses of the built rules that no other scenario checked (issue 10), each with the
breakers that prove its scenarios fail when the clause breaks. Through the syncer's and the
fakes' HTTP APIs only; every scenario checks the run's status and the records on both sides."""

from __future__ import annotations

import threading
import time

from scenarios.catalog.tw_customers import company, contact, customers
from scenarios.catalog.tw_sync import SP, integrate, refused, service
from scenarios.harness import expect, scenario
from scenarios.harness.breakers import breaker


def fsm_named(fsm, module, field, value):
    return fsm.get(f"/{module}/search", params={"api_name": field, "value": value}).json().get("data") or []


def items(books):
    return {i["name"]: i for i in books.get("/items").json()["items"]}


def stats(run):
    return {m["module"]: (m["succeeded"], m["failed"]) for m in run.get("modules") or []}


def succeeded(run, what="run status"):
    expect(run["status"], what).equals("succeeded")
    return run


# == TW-02: Overwrite's customer matching, Books winning when later, Clone and duplicate names ======

@scenario("TW-02-OVERWRITE-CUSTOMERS", "Overwrite matches Company_Name to a Business customer and Email to an "
          "Individual customer; the later side wins", rules=("TW-02",), tags=("sync", "books"), exclusive=True)
def overwrite_customers(lab):
    t, integ = integrate(lab, enable=False, sync_type="IV")
    fsm, books = t.fsm(), t.books()
    with lab.step("Given Books 'Acme' (business) and 'Ann Burns' (individual), then later the FSM Company "
                  "'Acme' and the Contact with Ann's email, both edited after Books"):
        lab.clock.freeze()
        books.post("/contacts", json={"contact_name": "Acme", "company_name": "Acme", "customer_sub_type": "business",
                                      "website": "https://books.example"})
        books.post("/contacts", json={"contact_name": "Ann Burns", "customer_sub_type": "individual",
                                      "contact_persons": [{"first_name": "Ann", "last_name": "Burns",
                                                           "email": "ann@example.com", "is_primary_contact": True}]})
        lab.clock.advance(60)
        company(fsm, "Acme", Website="https://fsm.example")
        contact(fsm, "Burns", "ann@example.com", First_Name="Ann", Phone="555-0199")
    with lab.step("When sync is enabled with Overwrite and runs"):
        integ.enable(duplicate_policy="overwrite")
        lab.clock.advance(60)
        run = succeeded(integ.sync_now())
        expect(sum(f for _, f in stats(run).values()), "failed records").equals(0)
    with lab.step("Then each pair is one record a side, linked, with the FSM values (the later ones)"):
        got = books.get("/contacts").json()["contacts"]
        expect(sorted(c["contact_name"] for c in got), "Books customers").equals(["Acme", "Ann Burns"])
        acme = books.get(f"/contacts/{customers(books)['Acme']['contact_id']}").json()["contact"]
        expect(acme.get("website"), "Acme's website in Books").equals("https://fsm.example")
        expect(len(fsm.get("/Companies").json()["data"]), "FSM Companies").equals(1)
        expect(len(fsm.get("/Contacts").json()["data"]), "FSM Contacts").equals(1)
        [ann] = fsm.get("/Contacts").json()["data"]
        expect(ann.get("ZBilling_Id"), "Ann's partner id").equals(customers(books)["Ann Burns"]["contact_id"])


@scenario("TW-02-OVERWRITE-BOOKS-LATER", "Overwrite: when the Books item is the later one, it overwrites FSM",
          rules=("TW-02",), tags=("sync", "books"), exclusive=True)
def overwrite_books_later(lab):
    t, integ = integrate(lab, enable=False)
    books, fsm = t.books(), t.fsm()
    with lab.step("Given a part 'Gasket' in FSM at 5, then later an item 'Gasket' in Books at 3"):
        lab.clock.freeze()
        service(fsm, "Gasket", Unit_Price=5, Type="Part")
        lab.clock.advance(60)
        books.post("/items", json={"name": "Gasket", "rate": 3})
    with lab.step("When sync is enabled with Overwrite and runs"):
        integ.enable(duplicate_policy="overwrite")
        lab.clock.advance(60)
        succeeded(integ.sync_now())
    with lab.step("Then one Gasket a side, both at the Books price"):
        expect([i["rate"] for i in books.get("/items").json()["items"] if i["name"] == "Gasket"],
               "Books Gasket rates").equals([3])
        expect([r["Unit_Price"] for r in fsm_named(fsm, SP, "Name", "Gasket")], "FSM Gasket prices").equals([3])


@scenario("TW-02-CLONE-DUPLICATE-NAMES", "Clone creates the duplicate on the other side; a display name Books "
          "already has fails that record unless the org allows duplicate names", rules=("TW-02",),
          tags=("sync", "books", "edge"), exclusive=True)
def clone_duplicates(lab):
    def setup(allow: bool):
        t, integ = integrate(lab, enable=False, sync_type="I")
        if allow:
            t.set_org("books", settings={"allow_duplicate_names": True})
        t.books().post("/contacts", json={"contact_name": "Acme", "company_name": "Acme",
                                          "customer_sub_type": "business"})
        lab.clock.advance(60)
        company(t.fsm(), "Acme")
        integ.enable(duplicate_policy="clone")
        lab.clock.advance(60)
        return t, integ, integ.sync_now()

    lab.clock.freeze()
    with lab.step("Given 'Acme' in Books and in FSM, Clone, and a Books org that refuses duplicate names"):
        t, integ, run = setup(False)
    with lab.step("Then the run succeeds, the FSM Company fails naming the clash, and Books' Acme is cloned "
                  "into FSM"):
        succeeded(run)
        expect(stats(run).get("Companies"), "Companies (succeeded, failed)").equals((1, 1))
        expect(lab.syncer.failures_csv(run["id"], "Companies"), "Companies failure log").contains("Acme")
        expect([c["contact_name"] for c in t.books().get("/contacts").json()["contacts"]], "Books customers").equals(
            ["Acme"])
        expect(len(t.fsm().get("/Companies").json()["data"]), "FSM Companies").equals(2)
    with lab.step("Given the same with a Books org that allows duplicate names"):
        t, integ, run = setup(True)
    with lab.step("Then both are cloned: two Acme on each side, nothing failed"):
        succeeded(run)
        expect(stats(run).get("Companies"), "Companies (succeeded, failed)").equals((2, 0))
        expect([c["contact_name"] for c in t.books().get("/contacts").json()["contacts"]], "Books customers").equals(
            ["Acme", "Acme"])
        expect(len(t.fsm().get("/Companies").json()["data"]), "FSM Companies").equals(2)


@breaker("TW-02", "TW-02-company-name-not-matched", "Overwrite no longer matches Company_Name to company_name")
def _(p):
    from syncer.books_sync import customers as c
    for name in ("_adopt_for_fsm", "_adopt_for_books"):
        original = getattr(c.CustomersPhase, name)

        def broken(self, rec, module, _original=original):
            if module != c.COMPANIES or self.integ.duplicate_policy != "overwrite":
                return _original(self, rec, module)
            self.integ.duplicate_policy = "clone"
            try:
                return _original(self, rec, module)
            finally:
                self.integ.duplicate_policy = "overwrite"
        p.setattr(c.CustomersPhase, name, broken)


@breaker("TW-02", "TW-02-email-not-matched", "Overwrite no longer matches a Contact's Email to an individual's email")
def _(p):
    from syncer.books_sync import customers as c
    for name in ("_adopt_for_fsm", "_adopt_for_books"):
        original = getattr(c.CustomersPhase, name)

        def broken(self, rec, module, _original=original):
            if module != c.CONTACTS or self.integ.duplicate_policy != "overwrite":
                return _original(self, rec, module)
            self.integ.duplicate_policy = "clone"
            try:
                return _original(self, rec, module)
            finally:
                self.integ.duplicate_policy = "overwrite"
        p.setattr(c.CustomersPhase, name, broken)


@breaker("TW-02", "TW-02-item-name-not-matched", "Overwrite no longer finds the Books item of the same name")
def _(p):
    from syncer.books_sync.items import ItemsPhase
    p.setattr(ItemsPhase, "_item_named", lambda self, name: None)


@breaker("TW-02", "TW-02-fsm-always-wins-items", "A pair changed on both sides always takes FSM's values")
def _(p):
    from syncer.books_sync.items import ItemsPhase
    original = ItemsPhase._from_fsm

    def broken(self, rec, link):
        mode, self.integ.mode = self.integ.mode, "one_way"  # one-way never lets Books win
        try:
            return original(self, rec, link)
        finally:
            self.integ.mode = mode
    p.setattr(ItemsPhase, "_from_fsm", broken)


@breaker("TW-02", "TW-02-books-always-later-customers", "A customer pair changed on both sides always counts "
         "Books as the later side")
def _(p):
    from datetime import UTC, datetime

    from syncer.books_sync.customers import CustomersPhase
    p.setattr(CustomersPhase, "_books_time", lambda self, customer: datetime(2099, 1, 1, tzinfo=UTC))


@breaker("TW-02", "TW-02-clone-acts-as-overwrite", "Clone links a same-named record instead of cloning it")
def _(p):
    from syncer.books_sync import customers as c
    original = c.CustomersPhase.__init__

    def broken(self, ctx):
        original(self, ctx)
        self.integ.duplicate_policy = "overwrite"
    p.setattr(c.CustomersPhase, "__init__", broken)


@breaker("TW-02", "TW-02-duplicate-names-setting-ignored", "The syncer refuses a clashing display name itself, "
         "whatever the org allows")
def _(p):
    from syncer.clients import BooksClient, ZohoApiError
    original = BooksClient.create_contact

    def broken(self, data):
        if any(c.get("contact_name") == data.get("contact_name") for c in self.list_contacts()):
            raise ZohoApiError("books", 400, 3062, f"The customer \"{data.get('contact_name')}\" already exists.")
        return original(self, data)
    p.setattr(BooksClient, "create_contact", broken)


# == TW-05: the day is the org's; automatic runs do not count ======================================

@scenario("TW-05-ORG-DAY-AUTO", "The 30 Sync Nows reset at midnight in the org's time zone; automatic runs "
          "do not count", rules=("TW-05",), tags=("sync", "books", "edge", "slow"), exclusive=True)
def org_day_and_auto(lab):
    t, integ = integrate(lab, enable=False)
    integ.settings(time_zone="Asia/Kolkata")
    integ.enable()
    with lab.step("Given an org in Asia/Kolkata (UTC+5:30), one Sync Now at 17:30 IST and an automatic run "
                  "three hours later"):
        lab.clock.freeze("2026-06-01T12:00:00Z")
        succeeded(integ.sync_now())
        lab.clock.advance(3 * 3600 + 1)
        t.token(fresh=True)
        runs = lab.syncer.tick()
        expect([(r["trigger"], r["status"]) for r in runs], "automatic runs").equals([("auto", "succeeded")])
    with lab.step("Then 29 more Sync Nows work the same day and the 31st manual one is refused"):
        integ.settings(auto_sync=False)
        for _ in range(29):
            succeeded(integ.sync_now())
        expect(refused(lambda: integ.sync_now()).status, "HTTP status of the 31st").equals(429)
    with lab.step("And at 00:10 IST (still June 1 in UTC) Sync Now works again"):
        lab.clock.freeze("2026-06-01T18:40:00Z")
        t.token(fresh=True)
        succeeded(integ.sync_now())


@breaker("TW-05", "TW-05-utc-day", "The manual count's day is the UTC day, not the org's")
def _(p):
    from syncer.store.repo import Repo, to_utc
    p.setattr(Repo, "org_day", lambda self, integration, at=None: to_utc(at or self.now()).date())


@breaker("TW-05", "TW-05-auto-runs-counted", "Automatic runs count toward the 30 a day")
def _(p):
    from syncer.store.repo import Repo
    original = Repo.start_run
    p.setattr(Repo, "start_run", lambda self, iid, trigger="manual", **kw: original(
        self, iid, trigger, **{**kw, "count_manual": True}))


@breaker("TW-05", "TW-05-limit-off-by-one", "The 30th Sync Now of a day is refused")
def _(p):
    from syncer.store.repo import Repo
    original = Repo._consume_manual

    def broken(self, s, integ, now):
        integ.manual_sync_limit -= 1
        try:
            return original(self, s, integ, now)
        finally:
            integ.manual_sync_limit += 1
    p.setattr(Repo, "_consume_manual", broken)


# == TW-07: changed records only; the watermark is the previous start =================================

@scenario("TW-07-CHANGED-ONLY-READ", "An incremental run asks both APIs for changed records only",
          rules=("TW-07",), tags=("sync", "books"), exclusive=True)
def changed_only_read(lab):
    t, integ = integrate(lab)
    fsm, books = t.fsm(), t.books()
    with lab.step("Given three synced services and one edited after the sync"):
        lab.clock.freeze()
        ids = [service(fsm, f"Unchanged {i}") for i in range(3)]
        succeeded(integ.sync_now())
        lab.clock.advance(60)
        fsm.put(f"/{SP}/{ids[1]}", json={"data": [{"Unit_Price": 77}]})
        lab.clock.advance(60)
        before = max((e.get("id", 0) for e in lab.journal()), default=0)
    with lab.step("When Sync Now runs"):
        run = succeeded(integ.sync_now())
        calls = [e for e in lab.journal() if e.get("id", 0) > before and e.get("method") == "GET"]
    with lab.step("Then only the edited one synced, and no call listed every record"):
        expect(stats(run).get(SP), "services (succeeded, failed)").equals((1, 0))
        expect(items(books)["Unchanged 1"]["rate"], "Books rate of the edited one").equals(77)
        full_fsm = [e["path"] for e in calls if e["path"].rstrip("/").endswith(f"/{SP}")]
        expect(full_fsm, "FSM calls listing every service").equals([])
        books_lists = [e.get("query") or "" for e in calls if e["path"].rstrip("/").endswith("/items")]
        expect(bool(books_lists) and all("last_modified_time" in q for q in books_lists),
               f"Books item lists filtered by last_modified_time ({books_lists})").is_true()


@scenario("TW-07-WATERMARK-IS-START", "A record edited while a sync runs is synced by the next one (the "
          "watermark is the previous start, not its end)", rules=("TW-07",), tags=("sync", "books", "edge"),
          exclusive=True)
def watermark_is_start(lab):
    t, integ = integrate(lab)
    fsm, books = t.fsm(), t.books()
    sid = service(fsm, "Edited mid-run", Unit_Price=10)
    succeeded(integ.sync_now())
    time.sleep(1.1)  # both products show seconds: the edit below must not share a second with our writes
    with lab.step("Given a running sync (the clock running) that is slow to read Books after reading FSM"):
        lab.faults.add(product="books", path="/books/v3/items", org=t.org("books"),
                       action={"type": "delay", "seconds": 3.5}, times=1)
        before = max((e.get("id", 0) for e in lab.journal()), default=0)
        box: dict = {}
        th = threading.Thread(target=lambda: box.setdefault("run", integ.sync_now()))
        th.start()
        lab.wait_until(lambda: [e for e in lab.journal() if e.get("id", 0) > before
                                and f"/{SP}" in e.get("path", "")], timeout=10, what="the run's FSM read")
    with lab.step("When the service is edited in FSM while the run waits on Books"):
        time.sleep(0.3)
        fsm.put(f"/{SP}/{sid}", json={"data": [{"Unit_Price": 55}]})
        th.join(timeout=30)
        succeeded(box["run"], "the slow run's status")
    with lab.step("Then the next sync sends the edit to Books"):
        time.sleep(1.1)  # the next run starts in a later second
        run = succeeded(integ.sync_now())
        expect(stats(run).get(SP), "services (succeeded, failed)").equals((1, 0))
        expect(items(books)["Edited mid-run"]["rate"], "Books rate").equals(55)


@breaker("TW-07", "TW-07-reads-everything", "Every run lists every record, as a first sync does")
def _(p):
    from syncer.books_sync.items import ItemsPhase
    original = ItemsPhase.run

    def broken(self):
        since, self.ctx.since = self.ctx.since, None
        try:
            return original(self)
        finally:
            self.ctx.since = since
    p.setattr(ItemsPhase, "run", broken)


@breaker("TW-07", "TW-07-watermark-at-end", "The watermark is the previous sync's end, not its start")
def _(p):
    from syncer.store.repo import Repo
    original = Repo.finish_run

    def broken(self, run_id, **kw):
        run = original(self, run_id, **kw)
        if run.status == "succeeded":
            with self.db.begin() as s:
                from syncer.store.models import Integration
                integ = s.get(Integration, run.integration_id)
                integ.last_success_started_at = run.ended_at
                s.add(integ)
        return run
    p.setattr(Repo, "finish_run", broken)


# == TW-10: rate 1 whatever Books' rate; Contacts in an FSM-only currency ==============================

@scenario("TW-10-RATE-1-AND-CONTACTS", "A Books currency at rate 1.25 is created in FSM at rate 1; a Contact in "
          "an FSM-only currency fails naming it", rules=("TW-10",), tags=("sync", "books", "edge"))
def rate_one_and_contacts(lab):
    t, integ = integrate(lab, sync_type="II", tenant_options={
        "orgs": {"fsm": {"currencies": ["GBP"], "settings": {"multi_currency": True}}}})
    fsm, books = t.fsm(), t.books()
    with lab.step("Given EUR in Books at rate 1.25, and an FSM Contact in GBP (which Books lacks)"):
        r = books.post("/settings/currencies", json={"currency_code": "EUR", "currency_symbol": "€",
                                                     "currency_format": "1,234,567.89", "price_precision": 2,
                                                     "exchange_rate": 1.25})
        expect(r.status_code, "create EUR in Books: HTTP status").equals(201)
        contact(fsm, "Pound", "pound@example.com", First_Name="Pat", Currency="GBP")
    with lab.step("When Sync Now runs"):
        run = succeeded(integ.sync_now())
    with lab.step("Then FSM has EUR at rate 1, the Contact failed naming GBP, and Books has neither GBP nor it"):
        cur = {c["iso_code"]: c for c in fsm.get("/_internal/currencies").json()["currencies"]}
        expect(float(cur.get("EUR", {}).get("exchange_rate", 0)), "FSM EUR exchange rate").equals(1.0)
        expect(stats(run).get("Contacts"), "Contacts (succeeded, failed)").equals((0, 1))
        expect(lab.syncer.failures_csv(run["id"], "Contacts"), "Contacts failure log").contains("GBP")
        expect(list(customers(books)), "Books customers").lacks("Pat Pound")
        expect([c["currency_code"] for c in books.get("/settings/currencies").json()["currencies"]],
               "Books currencies").lacks("GBP")


@breaker("TW-10", "TW-10-fsm-currency-at-books-rate", "FSM currency created at Books' rate, not 1")
def _(p):
    from syncer.clients import BooksClient, FsmClient
    original = FsmClient.create_currencies

    def broken(self, currencies):
        rates = {c["currency_code"]: c.get("exchange_rate") for c in BooksClient.list_currencies(self._books)}
        return original(self, [{**c, "exchange_rate": str(rates.get(c["iso_code"]) or 1)} for c in currencies])

    from syncer.books_sync.engine import SyncEngine
    run_currencies = SyncEngine.sync_currencies

    def remember_books(self, ctx):
        ctx.fsm._books = ctx.books
        return run_currencies(self, ctx)
    p.setattr(FsmClient, "create_currencies", broken)
    p.setattr(SyncEngine, "sync_currencies", remember_books)


@breaker("TW-10", "TW-10-books-currency-not-created", "Books currencies missing in FSM are not created there")
def _(p):
    from syncer.books_sync.engine import SyncEngine
    p.setattr(SyncEngine, "sync_currencies", lambda self, ctx: None)


@breaker("TW-10", "TW-10-fsm-only-currency-as-base", "A record in an FSM-only currency syncs in the base currency")
def _(p):
    from syncer.books_sync.customers import CustomersPhase
    original = CustomersPhase._currency_id

    def broken(self, code):
        try:
            return original(self, code)
        except Exception:  # noqa: BLE001 - the break: the missing currency is ignored
            return None
    p.setattr(CustomersPhase, "_currency_id", broken)


@breaker("TW-10", "TW-10-contact-currency-unchecked", "A Contact's currency is not looked at")
def _(p):
    from syncer.books_sync.customers import CustomersPhase
    original = CustomersPhase._contact_from_fsm
    p.setattr(CustomersPhase, "_contact_from_fsm", lambda self, rec, link: original(
        self, {k: v for k, v in rec.items() if k != "Currency"}, link))


# == TW-12: no workflow runs for any sync write ========================================================

@scenario("TW-12-NO-WORKFLOWS-ANY-WRITE", "Sync creates, edits and partner-id writes of Services and Parts, "
          "Companies and Contacts run no FSM workflow rule", rules=("TW-12",), tags=("sync", "books"),
          exclusive=True)
def no_workflows_any_write(lab):
    t, integ = integrate(lab, sync_type="IV")
    fsm, books = t.fsm(), t.books()
    with lab.step("Given records in FSM (made before the rules), then workflow rules on create or edit of the "
                  "three modules"):
        lab.clock.freeze()
        service(fsm, "From FSM")
        company(fsm, "FSM Co")
        for module in (SP, "Companies", "Contacts"):
            r = lab.control.add_workflow(org_id=t.org("fsm"), module=module, event="create_or_edit",
                                         action={"type": "webhook", "url": "http://127.0.0.1:9/none"})
            expect(bool(r.get("id")), f"workflow rule on {module}").is_true()
    with lab.step("And records in Books: the FSM ones get partner ids written, the Books ones are created in FSM"):
        books.post("/items", json={"name": "From Books", "rate": 1})
        books.post("/contacts", json={"contact_name": "Books Co", "company_name": "Books Co",
                                      "customer_sub_type": "business",
                                      "contact_persons": [{"first_name": "Bo", "last_name": "Oks",
                                                           "email": "bo@books.example"}]})
        books.post("/contacts", json={"contact_name": "Ivy Ind", "customer_sub_type": "individual",
                                      "contact_persons": [{"first_name": "Ivy", "last_name": "Ind",
                                                           "email": "ivy@example.com", "is_primary_contact": True}]})
        lab.clock.advance(60)
        succeeded(integ.sync_now())
    with lab.step("When the Books records are edited and sync runs again"):
        lab.clock.advance(60)
        got = items(books)
        books.put(f"/items/{got['From Books']['item_id']}", json={"rate": 9})
        books.put(f"/contacts/{customers(books)['Books Co']['contact_id']}", json={"website": "https://b.example"})
        lab.clock.advance(60)
        succeeded(integ.sync_now())
    with lab.step("Then FSM has every record with its edits and partner ids, and no rule ran"):
        expect([r["Unit_Price"] for r in fsm_named(fsm, SP, "Name", "From Books")], "FSM price").equals([9])
        expect(bool(fsm_named(fsm, SP, "Name", "From FSM")[0].get("ZBilling_Id")), "partner id written").is_true()
        companies = {c["Company_Name"]: c for c in fsm.get("/Companies").json()["data"]}
        expect(sorted(companies), "FSM Companies").equals(["Books Co", "FSM Co"])
        expect(bool(companies["FSM Co"].get("ZBilling_Id")), "FSM Co's partner id").is_true()
        expect(companies["Books Co"].get("Website"), "Books Co's website in FSM").equals("https://b.example")
        expect(sorted(c["Email"] for c in fsm.get("/Contacts").json()["data"]), "FSM Contacts").equals(
            ["bo@books.example", "ivy@example.com"])
        expect(lab.control.workflow_runs(t.org("fsm")), "workflow runs").equals([])


@breaker("TW-12", "TW-12-creates-run-workflows", "FSM creates omit the empty trigger array")
def _(p):
    from syncer.clients import FsmClient
    original = FsmClient.create_records
    p.setattr(FsmClient, "create_records", lambda self, module, records, **kw: original(
        self, module, records, trigger=None))


@breaker("TW-12", "TW-12-updates-run-workflows", "FSM edits (updates, partner ids) omit the empty trigger array")
def _(p):
    from syncer.clients import FsmClient
    many, one = FsmClient.update_records, FsmClient.update_record
    p.setattr(FsmClient, "update_records", lambda self, module, records, **kw: many(self, module, records,
                                                                                     trigger=None))
    p.setattr(FsmClient, "update_record", lambda self, module, rid, data, **kw: one(self, module, rid, data,
                                                                                     trigger=None))


@breaker("TW-12", "TW-12-books-creates-skipped", "Items new in Books are no longer created in FSM")
def _(p):
    from syncer.books_sync.items import ItemsPhase
    p.setattr(ItemsPhase, "_create_in_fsm", lambda self, item: None)


# == TW-13, TW-16: automatic runs too; the mail's address ==============================================

@scenario("TW-13-16-AUTOMATIC", "Automatic runs are refused during a CRM-Books sync and fail on a sync type "
          "mismatch (mail to the integration's address, sync disabled)", rules=("TW-13", "TW-16"),
          tags=("sync", "books", "edge"), exclusive=True)
def automatic_checks(lab):
    t, integ = integrate(lab)
    crm = f"/books/orgs/{t.org('books')}/crm-integration"
    service(t.fsm(), "Waits")

    def finished_auto():  # the scheduler's own thread may run it too: one of them gets the lock
        return [r for r in integ.runs() if r["trigger"] == "auto" and r["status"] != "running"
                and "Another sync" not in (r.get("failure_reason") or "")]

    def auto_run():
        seen = len(finished_auto())
        lab.clock.advance(3 * 3600 + 1)
        t.token(fresh=True)
        lab.syncer.tick()
        runs = lab.wait_until(lambda: len(finished_auto()) > seen and finished_auto(), timeout=10,
                              what="a finished automatic run")
        expect(len(runs), "automatic runs so far").equals(seen + 1)
        return max(runs, key=lambda r: r["started_at"])

    with lab.step("Given a first sync, then a CRM-Books sync in progress at the next automatic sync"):
        lab.clock.freeze()
        succeeded(integ.sync_now())
        service(t.fsm(), "Made later")
        lab.control.call("PATCH", crm, {"enabled": True, "sync_type": integ.data["sync_type"],
                                        "sync_in_progress": True})
        run = auto_run()
    with lab.step("Then the automatic run is refused naming CRM, and nothing new reached Books"):
        expect(run["status"], "automatic run's status").equals("refused")
        expect(run.get("failure_reason") or "", "reason").contains("CRM")
        expect(list(items(t.books())), "Books items").lacks("Made later")
    with lab.step("When the CRM-Books sync ends with another sync type, and the next automatic sync is due"):
        other = "II" if integ.data["sync_type"] != "II" else "III"
        lab.control.call("PATCH", crm, {"enabled": True, "sync_type": other, "sync_in_progress": False})
        run = auto_run()
    with lab.step("Then it fails, sync is disabled, and one mail went to the integration's address"):
        expect(run["status"], "automatic run's status").equals("failed")
        data = integ.refresh()
        expect((data["state"], data["next_auto_sync_at"]), "state and next automatic sync").equals(("disabled", None))
        mails = integ.mail()
        expect([m["to"] for m in mails], "mail recipients").equals([["admin@example.com"]])
        expect(list(items(t.books())), "Books items").lacks("Made later")


@breaker("TW-13", "TW-13-crm-busy-ignored", "The preflight no longer looks at a CRM-Books sync in progress")
def _(p):
    _books_state_seen_as(p, lambda s: {**s, "crm_integration": {**(s.get("crm_integration") or {}),
                                                                "sync_in_progress": False}})


@breaker("TW-13", "TW-13-auto-runs-unchecked", "Automatic runs skip the preflight checks")
def _(p):
    _auto_runs_skip_preflight(p)


@breaker("TW-16", "TW-16-auto-runs-unchecked", "Automatic runs skip the preflight checks")
def _(p):
    _auto_runs_skip_preflight(p)


@breaker("TW-16", "TW-16-type-not-compared", "The sync types are no longer compared before a sync")
def _(p):
    _books_state_seen_as(p, lambda s: {**s, "crm_integration": {**(s.get("crm_integration") or {}), "sync_type": None}})


@breaker("TW-16", "TW-16-mail-to-default", "The failure mail goes to the default address, not the integration's")
def _(p):
    from syncer.books_sync.engine import SyncEngine
    original = SyncEngine._fail

    def broken(self, ctx, exc):
        ctx.integration.settings = {k: v for k, v in ctx.integration.settings.items() if k != "notify_email"}
        return original(self, ctx, exc)
    p.setattr(SyncEngine, "_fail", broken)


@breaker("TW-16", "TW-16-not-disabled", "A sync type mismatch fails the run but leaves sync enabled")
def _(p):
    _run_failure_changed(p, "sync type", disable=False)


@breaker("TW-16", "TW-16-no-mail", "A sync type mismatch sends no mail")
def _(p):
    _run_failure_changed(p, "sync type", mail=False)


def _books_state_seen_as(p, change):
    """The preflight reads Books' state through ``change`` (a check it no longer sees)."""
    from syncer.books_sync.engine import SyncEngine
    original = SyncEngine.preflight

    def broken(self, ctx):
        read = ctx.books.internal_settings
        ctx.books.internal_settings = lambda: change(read())
        try:
            return original(self, ctx)
        finally:
            del ctx.books.internal_settings
    p.setattr(SyncEngine, "preflight", broken)


def _auto_runs_skip_preflight(p):
    from syncer.books_sync.engine import SyncEngine
    original = SyncEngine.run

    def broken(self, integration_id, trigger="manual"):
        if trigger == "auto":
            self.preflight = lambda ctx: None
        try:
            return original(self, integration_id, trigger)
        finally:
            self.__dict__.pop("preflight", None)
    p.setattr(SyncEngine, "run", broken)


def _run_failure_changed(p, words, **changes):
    """A run-level failure whose reason contains ``words`` is raised with other consequences."""
    from syncer.books_sync.engine import SyncEngine
    original = SyncEngine._fail

    def broken(self, ctx, exc):
        if words in exc.reason:
            for key, value in changes.items():
                setattr(exc, key, value)
        return original(self, ctx, exc)
    p.setattr(SyncEngine, "_fail", broken)
