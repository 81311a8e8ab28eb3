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


def fsm_list(fsm, module):
    r = fsm.get(f"/{module}")
    return r.json().get("data") or [] if r.status_code == 200 else []  # 204: no records


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


def _overwrite_not_matching(p, module_name: str) -> None:
    """Overwrite adopts records of ``module_name`` as Clone would: no match by name or email."""
    from syncer.books_sync import customers as c
    module = getattr(c, module_name)
    for name in ("_adopt_for_fsm", "_adopt_for_books"):
        original = getattr(c.CustomersPhase, name)

        def broken(self, rec, mod, _original=original):
            if mod != module or self.integ.duplicate_policy != "overwrite":
                return _original(self, rec, mod)
            self.integ.duplicate_policy = "clone"
            try:
                return _original(self, rec, mod)
            finally:
                self.integ.duplicate_policy = "overwrite"
        p.setattr(c.CustomersPhase, name, broken)


@breaker("TW-02", "TW-02-company-name-not-matched", "Overwrite no longer matches Company_Name to company_name")
def _(p):
    _overwrite_not_matching(p, "COMPANIES")


@breaker("TW-02", "TW-02-email-not-matched", "Overwrite no longer matches a Contact's Email to an individual's email")
def _(p):
    _overwrite_not_matching(p, "CONTACTS")


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
        lab.syncer.tick()  # the scheduler's own thread may be the one to run it

        def finished_auto():
            return [(r["trigger"], r["status"]) for r in integ.runs() if r["trigger"] == "auto"
                    and r["status"] != "running" and "Another sync" not in (r.get("failure_reason") or "")]
        runs = lab.wait_until(finished_auto, timeout=10, what="a finished automatic run")
        expect(runs, "automatic runs").equals([("auto", "succeeded")])
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
    t, integ = integrate(lab, sync_type="IV")
    fsm, books = t.fsm(), t.books()
    with lab.step("Given three synced services, a Company and a Contact, and one service edited after the sync"):
        lab.clock.freeze()
        ids = [service(fsm, f"Unchanged {i}") for i in range(3)]
        company(fsm, "Unchanged Co")
        contact(fsm, "Unchanged", "unchanged@example.com")
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
        full_fsm = [e["path"] for e in calls if e["path"].rstrip("/").endswith((f"/{SP}", "/Companies", "/Contacts"))]
        expect(full_fsm, "FSM calls listing every record of a module").equals([])
        for entity in ("items", "contacts"):
            lists = [e.get("query") or "" for e in calls if e["path"].rstrip("/").endswith(f"/{entity}")]
            expect(bool(lists) and all("last_modified_time" in q for q in lists),
                   f"Books {entity} lists filtered by last_modified_time ({lists})").is_true()


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


@breaker("TW-07", "TW-07-reads-every-customer", "Every run lists every Company, Contact and customer")
def _(p):
    from syncer.books_sync.customers import CustomersPhase
    original = CustomersPhase.run

    def broken(self):
        since, self.ctx.since = self.ctx.since, None
        try:
            return original(self)
        finally:
            self.ctx.since = since
    p.setattr(CustomersPhase, "run", broken)


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
    from syncer.books_sync.engine import SyncEngine

    def broken(self, ctx):
        have = {c.get("iso_code") for c in ctx.fsm.currencies()}
        missing = [c for c in ctx.books.list_currencies() if c.get("currency_code") not in have]
        if missing:
            ctx.fsm.create_currencies([{"iso_code": c["currency_code"], "exchange_rate": str(c.get("exchange_rate") or 1),
                                        "symbol": c.get("currency_symbol") or c["currency_code"]} for c in missing])
    p.setattr(SyncEngine, "sync_currencies", broken)


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

@scenario("TW-13-16-AUTOMATIC", "Automatic runs are refused during an FSM import or a CRM-Books sync and fail "
          "on a sync type mismatch (mail to the integration's address, sync disabled)", rules=("TW-08", "TW-13", "TW-16"),
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

    with lab.step("Given a first sync, then an FSM data import in progress at the next automatic sync"):
        lab.clock.freeze()
        succeeded(integ.sync_now())
        service(t.fsm(), "Made later")
        job = lab.control.call("POST", f"/fsm/orgs/{t.org('fsm')}/imports", {"module": "Contacts"}).json()
        run = auto_run()
    with lab.step("Then the automatic run is refused naming the import"):
        expect(run["status"], "automatic run's status").equals("refused")
        expect(run.get("failure_reason") or "", "reason").contains("import")
        lab.control.call("POST", f"/fsm/orgs/{t.org('fsm')}/imports/{job['id']}/finish", {})
    with lab.step("Given a CRM-Books sync in progress at the next automatic sync"):
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


@breaker("TW-08", "TW-08-auto-runs-unchecked", "Automatic runs skip the preflight checks")
def _(p):
    _auto_runs_skip_preflight(p)


@scenario("TW-08-NO-IMPORT-DURING-SYNC", "No FSM data import may start while a sync is in progress",
          rules=("TW-08",), tags=("sync", "books", "edge"))
def no_import_during_sync(lab):
    t, integ = integrate(lab)
    service(t.fsm(), "Moving")
    imports = f"/fsm/orgs/{t.org('fsm')}/imports"
    with lab.step("Given a sync in progress (slow to read Books)"):
        lab.faults.add(product="books", path="/books/v3/items", org=t.org("books"),
                       action={"type": "delay", "seconds": 1.5}, times=1)
        box: dict = {}
        th = threading.Thread(target=lambda: box.setdefault("run", integ.sync_now()))
        th.start()
        lab.wait_until(lambda: t.fsm().get("/_internal/settings").json()["settings"].get("sync_in_progress"),
                       timeout=10, what="FSM marked as syncing")
    with lab.step("Then an FSM data import cannot start"):
        r = lab.control.call("POST", imports, {"module": "Contacts"})
        expect(r.status_code, "HTTP status of the import").equals(409)
    with lab.step("And once the sync ended, it can"):
        th.join(timeout=30)
        succeeded(box["run"])
        expect(items(t.books()).get("Moving") is not None, "the service reached Books").is_true()
        r = lab.control.call("POST", imports, {"module": "Contacts"})
        expect(r.status_code, "HTTP status of the import").one_of([200, 201])


@breaker("TW-08", "TW-08-sync-not-marked", "The syncer no longer marks FSM as syncing, so imports can start")
def _(p):
    from syncer.clients import FsmClient
    p.setattr(FsmClient, "set_sync_state", lambda self, in_progress, sync_service="finance": {})


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

    def broken(self, integration_id, trigger="manual", **kw):
        if trigger == "auto":
            self.preflight = lambda ctx: None
        try:
            return original(self, integration_id, trigger, **kw)
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


# == TW-14 (built part): deletions noticed for items and customers; survivors edited later ==============

@scenario("TW-14-DELETES-NOTICED", "After a delete on either side, the survivor edited later is not recreated "
          "(items, Companies, Contacts)", rules=("TW-14",), tags=("sync", "books", "edge"), exclusive=True)
def deletes_noticed(lab):
    t, integ = integrate(lab, sync_type="IV")
    fsm, books = t.fsm(), t.books()
    with lab.step("Given synced services, Companies and Contacts"):
        lab.clock.freeze()
        s_fsm, s_books = service(fsm, "Kept in FSM"), service(fsm, "Kept in Books")
        c_fsm, c_books = company(fsm, "Kept FSM Co"), company(fsm, "Kept Books Co")
        p_fsm = contact(fsm, "Fsmkeep", "keep.fsm@example.com")
        p_books = contact(fsm, "Bookskeep", "keep.books@example.com")
        succeeded(integ.sync_now())
        lab.clock.advance(60)
    with lab.step("When each survivor's partner is deleted, and the survivors are edited, synced, and edited "
                  "and synced again"):
        got, custs = items(books), customers(books)
        books.delete(f"/items/{got['Kept in FSM']['item_id']}")
        books.delete(f"/contacts/{custs['Kept FSM Co']['contact_id']}")
        books.delete(f"/contacts/{custs['Fsmkeep']['contact_id']}")
        for module, rid in ((SP, s_books), ("Companies", c_books), ("Contacts", p_books)):
            fsm.delete(f"/{module}/{rid}")

        def edit_survivors(n):
            lab.clock.advance(60)
            fsm.put(f"/{SP}/{s_fsm}", json={"data": [{"Unit_Price": 40 + n}]})
            fsm.put(f"/Companies/{c_fsm}", json={"data": [{"Website": f"https://kept{n}.example"}]})
            fsm.put(f"/Contacts/{p_fsm}", json={"data": [{"Phone": f"555-010{n}"}]})
            books.put(f"/items/{got['Kept in Books']['item_id']}", json={"rate": 40 + n})
            books.put(f"/contacts/{custs['Kept Books Co']['contact_id']}", json={"website": f"https://kept{n}.example"})
            books.put(f"/contacts/{custs['Bookskeep']['contact_id']}", json={"website": f"https://kept{n}.example"})
            lab.clock.advance(60)
            return succeeded(integ.sync_now())

        run = edit_survivors(1)  # the run that finds the partners gone
        again = edit_survivors(2)  # and a later edit of a survivor must not bring its partner back
    with lab.step("Then nothing failed, nothing was recreated, and the survivors are as edited"):
        for r in (run, again):
            expect(sum(f for _, f in stats(r).values()), "failed records").equals(0)
        expect(sorted(items(books)), "Books items").equals(["Kept in Books"])
        expect(items(books)["Kept in Books"]["rate"], "Books survivor's rate").equals(42)
        expect([r["Unit_Price"] for r in fsm_named(fsm, SP, "Name", "Kept in FSM")], "FSM survivor's price").equals(
            [42])
        expect(sorted(customers(books)), "Books customers").equals(["Bookskeep", "Kept Books Co"])
        expect([r["Name"] for r in fsm.get(f"/{SP}").json()["data"]], "FSM services").equals(["Kept in FSM"])
        expect([r["Company_Name"] for r in fsm.get("/Companies").json()["data"]], "FSM Companies").equals(
            ["Kept FSM Co"])
        expect([r["Last_Name"] for r in fsm.get("/Contacts").json()["data"]], "FSM Contacts").equals(["Fsmkeep"])
        expect(integ.record(SP, s_fsm)["active"], "the FSM survivor's link").is_false()


@breaker("TW-14", "TW-14-link-dropped-survivor-recreated", "A delete removes the link, so the survivor comes "
         "back on the other side when edited")
def _(p):
    from syncer.store.models import RecordLink
    from syncer.store.repo import Repo

    def broken(self, link_id, reason):
        with self.db.begin() as s:
            row = s.get(RecordLink, link_id)
            if row is not None:
                s.delete(row)
        return row
    p.setattr(Repo, "deactivate_link", broken)


@breaker("TW-14", "TW-14-item-delete-not-noticed", "A Books item that is gone is not recognised as deleted")
def _(p):
    from syncer.books_sync import items

    def broken(self, item_id):  # an item the page's bulk read left out is read again, its 2006 a failure
        item = self.page_items.get(item_id) if item_id in self.page_asked else None
        return item if item is not None else self.ctx.books.get_item(item_id)
    p.setattr(items, "_missing", lambda exc: False)
    p.setattr(items.ItemsPhase, "_partner_item", broken)


@breaker("TW-14", "TW-14-deactivation-not-sent", "A Books item deactivation is not sent to its FSM partner")
def _(p):
    from syncer.clients import FsmClient
    original, many = FsmClient.update_record, FsmClient.update_records
    p.setattr(FsmClient, "update_record", lambda self, module, rid, data, **kw: original(
        self, module, rid, {k: v for k, v in data.items() if k != "$inactive"}, **kw))
    p.setattr(FsmClient, "update_records", lambda self, module, records, **kw: many(  # batched updates
        self, module, [{k: v for k, v in r.items() if k != "$inactive"} for r in records], **kw))


@scenario("TW-14-INACTIVE-FSM-ITEMS", "Inactive FSM services are ignored: not created in Books, their edits "
          "not sent", rules=("TW-14",), tags=("sync", "books", "edge"), exclusive=True)
def inactive_fsm_items(lab):
    t, integ = integrate(lab)
    fsm, books = t.fsm(), t.books()
    with lab.step("Given a synced service, then deactivated in FSM and edited; and a new inactive service"):
        lab.clock.freeze()
        sid = service(fsm, "Retired", Unit_Price=10)
        succeeded(integ.sync_now())
        lab.clock.advance(60)
        fsm.put(f"/{SP}/{sid}", json={"data": [{"$inactive": True, "Unit_Price": 99}]})
        new = service(fsm, "Never active")
        fsm.put(f"/{SP}/{new}", json={"data": [{"$inactive": True}]})
        lab.clock.advance(60)
    with lab.step("When Sync Now runs"):
        run = succeeded(integ.sync_now())
    with lab.step("Then Books has only the first, at its old price, and nothing was counted"):
        expect(sorted(items(books)), "Books items").equals(["Retired"])
        expect(items(books)["Retired"]["rate"], "Books rate").equals(10)
        expect(stats(run).get(SP, (0, 0)), "services (succeeded, failed)").equals((0, 0))


@breaker("TW-14", "TW-14-inactive-fsm-synced", "Inactive FSM services are synced like active ones")
def _(p):
    from syncer.books_sync.items import ItemsPhase
    original = ItemsPhase._from_fsm
    p.setattr(ItemsPhase, "_from_fsm", lambda self, rec, link: original(
        self, {k: v for k, v in rec.items() if k != "$inactive"}, link))


# == TW-17: exactly 10,000 passes; Books orgs exempt; disabled until support ===========================

LIMIT_DAY = ("2026-07-01T09:00:00Z", "2026-07-01T10:00:00Z")  # seeded records older than the first sync


def _grown_org(lab, product, count, module="items"):
    """An integration whose first sync ran on an empty org, then ``count`` records of ``module``
    (Books items or contacts) dated before that sync: the next run reads none of them (TW-07), so
    it is the count alone that matters."""
    t, integ = integrate(lab, product)
    lab.clock.freeze(LIMIT_DAY[1])
    succeeded(integ.sync_now())
    lab.clock.freeze(LIMIT_DAY[0])
    # 2,000 a call (the seed call takes 10,000 at most): each call stays well inside the client's
    # time-out and holds SQLite's write lock briefly, even on a loaded machine; same records either way
    for start in range(0, count, 2_000):
        lab.control.seed(t.org(product), {module: min(2_000, count - start)}, seed=4, start=start)
    lab.clock.freeze(LIMIT_DAY[1])
    lab.clock.advance(600)
    t.token(fresh=True)
    return t, integ


@scenario("TW-17-BOUNDARY", "Exactly 10,000 Invoice items pass and 10,001 fail (mail, periodic sync stopped, "
          "disabled until support); a Books org is exempt", rules=("TW-17", "TW-15"),
          tags=("sync", "invoice", "edge", "slow"), exclusive=True)
def invoice_boundary(lab):
    with lab.step("Given an Invoice org with exactly 10,000 items"):
        t, integ = _grown_org(lab, "invoice", 10_000)
    with lab.step("Then Sync Now succeeds"):
        succeeded(integ.sync_now())
    with lab.step("When one more item is added and Sync Now runs"):
        lab.clock.freeze(LIMIT_DAY[0])
        lab.control.seed(t.org("invoice"), {"items": 1}, seed=4, start=10_000)
        lab.clock.freeze(LIMIT_DAY[1])
        lab.clock.advance(1200)
        run = integ.sync_now()
    with lab.step("Then it fails naming the limit, one mail goes to the integration's address, periodic sync "
                  "stops and sync is disabled"):
        expect(run["status"], "run status").equals("failed")
        expect(run.get("failure_reason") or "", "reason").contains("10,000")
        data = integ.refresh()
        expect((data["state"], data["next_auto_sync_at"]), "state and next automatic sync").equals(("disabled", None))
        expect([m["to"] for m in integ.mail()], "mail recipients").equals([["admin@example.com"]])
    with lab.step("And the user cannot enable it again; support can"):
        expect(refused(lambda: integ.enable()).status, "HTTP status").equals(403)
        expect(integ.support_reenable()["state"], "state after support").equals("enabled")
    with lab.step("Given a Books org with 10,001 items, Sync Now succeeds"):
        _t, books_integ = _grown_org(lab, "books", 10_001)
        succeeded(books_integ.sync_now())
        expect(books_integ.refresh()["state"], "Books integration's state").equals("enabled")


@scenario("TW-17-CUSTOMERS", "Customers count too: exactly 10,000 Invoice customers pass and 10,001 fail, "
          "disabling the sync", rules=("TW-17",), tags=("sync", "invoice", "edge", "slow"), exclusive=True)
def invoice_customer_boundary(lab):
    with lab.step("Given an Invoice org with exactly 10,000 customers"):
        t, integ = _grown_org(lab, "invoice", 10_000, module="contacts")
    with lab.step("Then Sync Now succeeds"):
        succeeded(integ.sync_now())
    with lab.step("When one more customer is added and Sync Now runs"):
        lab.clock.freeze(LIMIT_DAY[0])
        lab.control.seed(t.org("invoice"), {"contacts": 1}, seed=4, start=10_000)
        lab.clock.freeze(LIMIT_DAY[1])
        lab.clock.advance(1200)
        run = integ.sync_now()
    with lab.step("Then it fails naming the customers and the limit, and sync is disabled"):
        expect(run["status"], "run status").equals("failed")
        expect(run.get("failure_reason") or "", "reason").contains("10,000")
        expect(run.get("failure_reason") or "", "reason").contains("Customers")
        expect(integ.refresh()["state"], "state").equals("disabled")


@breaker("TW-17", "TW-17-customers-not-counted", "Only items are counted against the limit")
def _(p):
    _books_state_seen_as(p, lambda s: {**s, "counts": {k: v for k, v in (s.get("counts") or {}).items()
                                                        if k != "customers"}})


@breaker("TW-17", "TW-17-limit-off-by-one", "10,000 records already fail the sync (>= instead of >)")
def _(p):
    from syncer.books_sync import engine
    p.setattr(engine, "INVOICE_RECORD_LIMIT", 9_999)


@breaker("TW-17", "TW-17-books-orgs-limited", "The limit is applied to Books orgs too")
def _(p):
    from syncer.books_sync.engine import SyncEngine
    original = SyncEngine.preflight

    def broken(self, ctx):
        product, ctx.integration.partner_product = ctx.integration.partner_product, "invoice"
        try:
            return original(self, ctx)
        finally:
            ctx.integration.partner_product = product
    p.setattr(SyncEngine, "preflight", broken)


@breaker("TW-17", "TW-17-items-not-counted", "Only customers are counted against the limit")
def _(p):
    _books_state_seen_as(p, lambda s: {**s, "counts": {k: v for k, v in (s.get("counts") or {}).items()
                                                        if k != "items"}})


@breaker("TW-17", "TW-17-not-disabled", "Over the limit the run fails but sync stays enabled")
def _(p):
    _run_failure_changed(p, "10,000", disable=False)


@breaker("TW-17", "TW-17-no-mail", "Over the limit no mail is sent")
def _(p):
    _run_failure_changed(p, "10,000", mail=False)


# == TW-18: the "FSM on, Books off" direction =========================================================

@scenario("TW-18-FSM-TAXES-ONLY", "Taxes enabled in FSM but not in Books fail the sync (mail; not disabled), "
          "and nothing is synced", rules=("TW-18",), tags=("sync", "books", "edge"))
def fsm_taxes_only(lab):
    t, integ = integrate(lab)
    service(t.fsm(), "Held back")
    with lab.step("Given taxes enabled in FSM but not in Books"):
        t.set_org("fsm", tax_enabled=True)
    with lab.step("When Sync Now runs"):
        run = integ.sync_now()
    with lab.step("Then it fails naming taxes, one mail is sent, sync stays enabled, nothing reached Books"):
        expect(run["status"], "run status").equals("failed")
        expect(run.get("failure_reason") or "", "reason").contains("Taxes are enabled in Zoho FSM")
        expect(integ.refresh()["state"], "state").equals("enabled")
        expect(len(integ.mail()), "mails").equals(1)
        expect(items(t.books()), "Books items").equals({})


@breaker("TW-18", "TW-18-fsm-direction-unchecked", "Only 'Books on, FSM off' is checked")
def _(p):
    from syncer.books_sync.engine import SyncEngine
    from syncer.sync_core.context import RunFailed
    original = SyncEngine.preflight

    def broken(self, ctx):
        try:
            return original(self, ctx)
        except RunFailed as exc:
            if not exc.reason.startswith("Taxes are enabled in Zoho FSM"):
                raise
    p.setattr(SyncEngine, "preflight", broken)


@breaker("TW-18", "TW-18-disables", "A tax mismatch also disables sync")
def _(p):
    _run_failure_changed(p, "Taxes are", disable=True)


@breaker("TW-18", "TW-18-no-mail", "A tax mismatch sends no mail")
def _(p):
    _run_failure_changed(p, "Taxes are", mail=False)


# == TW-19, TW-20: Books -> FSM for every type; Contacts' addresses (II, IV) ===========================

BILL = {"address": "1 Bill St", "city": "Austin", "zip": "73301"}
SHIP = {"address": "9 Site Rd", "city": "Dallas", "zip": "75001"}


def _books_customers(books):
    books.post("/contacts", json={"contact_name": "Biz Co", "company_name": "Biz Co", "customer_sub_type": "business",
                                  "billing_address": BILL, "shipping_address": SHIP,
                                  "contact_persons": [{"first_name": "Pia", "last_name": "One", "email": "pia@biz.example"},
                                                      {"first_name": "Quinn", "last_name": "Two",
                                                       "email": "quinn@biz.example"}]})
    books.post("/contacts", json={"contact_name": "Ida Ind", "customer_sub_type": "individual",
                                  "billing_address": BILL, "shipping_address": SHIP,
                                  "contact_persons": [{"first_name": "Ida", "last_name": "Ind",
                                                       "email": "ida@example.com", "is_primary_contact": True}]})


def _addresses(rec):
    return ((rec.get("Billing_Address") or {}).get("Street_1"), (rec.get("Service_Address") or {}).get("Street_1"))


@scenario("TW-19-20-BOOKS-TO-FSM", "Books customers reach FSM by sync type (I–IV) with billing and service "
          "addresses", rules=("TW-19", "TW-20", "TW-06"), tags=("sync", "books"))
def books_to_fsm(lab):
    want = {"I": (["Biz Co"], []), "II": ([], ["ida@example.com"]),
            "III": (["Biz Co"], ["pia@biz.example", "quinn@biz.example"]),
            "IV": (["Biz Co"], ["ida@example.com", "pia@biz.example", "quinn@biz.example"])}
    for kind, (companies, contacts) in want.items():
        with lab.step(f"Type {kind}: a business customer with two contact persons and an individual customer "
                      "in Books, synced"):
            t, integ = integrate(lab, sync_type=kind)
            fsm = t.fsm()
            _books_customers(t.books())
            run = succeeded(integ.sync_now())
            expect(sum(f for _, f in stats(run).values()), "failed records").equals(0)
        with lab.step(f"Type {kind}: FSM has Companies {companies} and Contacts {contacts}, with both addresses"):
            got_co, got_ct = fsm_list(fsm, "Companies"), fsm_list(fsm, "Contacts")
            expect(sorted(c["Company_Name"] for c in got_co), "FSM Companies").equals(companies)
            expect(sorted(c["Email"] for c in got_ct), "FSM Contacts").equals(contacts)
            for c in got_co:
                expect(_addresses(c), "the Company's billing and service addresses").equals(("1 Bill St", "9 Site Rd"))
            for c in got_ct:
                if c["Email"] == "ida@example.com":
                    expect(_addresses(c), "Ida's billing and service addresses").equals(("1 Bill St", "9 Site Rd"))
            if kind in ("III", "IV"):
                biz = next(c for c in got_co if c["Company_Name"] == "Biz Co")
                of_biz = [c for c in got_ct if ((c.get("Company") or {}).get("id") if isinstance(c.get("Company"), dict)
                                                else c.get("Company")) == biz["id"]]
                expect(sorted(c["Email"] for c in of_biz), "Biz Co's Contacts").equals(
                    ["pia@biz.example", "quinn@biz.example"])


@scenario("TW-20-CONTACT-ADDRESSES", "A Contact's billing and service addresses reach its Individual customer "
          "(Types II and IV)", rules=("TW-20",), tags=("sync", "books"))
def contact_addresses(lab):
    for kind in ("II", "IV"):
        with lab.step(f"Type {kind}: a Contact of no Company with both addresses, synced"):
            t, integ = integrate(lab, sync_type=kind)
            contact(t.fsm(), "Addr", "addr@example.com", First_Name="Al",
                    Billing_Address={"Street_1": "1 Bill St", "City": "Austin", "Zip_Code": "73301"},
                    Service_Address={"Street_1": "9 Site Rd", "City": "Dallas", "Zip_Code": "75001"})
            succeeded(integ.sync_now())
        with lab.step(f"Type {kind}: the customer's billing and shipping addresses are those two"):
            c = t.books().get(f"/contacts/{customers(t.books())['Al Addr']['contact_id']}").json()["contact"]
            expect((c["billing_address"]["address"], c["billing_address"]["city"]), "billing").equals(
                ("1 Bill St", "Austin"))
            expect((c["shipping_address"]["address"], c["shipping_address"]["city"]), "shipping").equals(
                ("9 Site Rd", "Dallas"))


def _swap_addresses(p, function):
    from syncer.books_sync import customers as c
    original = getattr(c, function)

    def broken(*args, **kw):
        out = original(*args, **kw)
        keys = ("billing_address", "shipping_address") if "billing_address" in out else ("Billing_Address",
                                                                                          "Service_Address")
        out[keys[0]], out[keys[1]] = out.get(keys[1]), out.get(keys[0])
        return out
    p.setattr(c, function, broken)


@breaker("TW-20", "TW-20-company-addresses-swapped", "A Company's billing and service addresses go to the wrong "
         "Books addresses")
def _(p):
    _swap_addresses(p, "company_to_books")


@breaker("TW-20", "TW-20-contact-addresses-swapped", "A Contact's addresses go to the wrong Books addresses")
def _(p):
    _swap_addresses(p, "individual_to_books")


@breaker("TW-20", "TW-20-business-to-fsm-swapped", "A business customer's addresses reach FSM swapped")
def _(p):
    _swap_addresses(p, "business_to_fsm")


@breaker("TW-20", "TW-20-individual-to-fsm-swapped", "An individual customer's addresses reach FSM swapped")
def _(p):
    _swap_addresses(p, "individual_to_fsm")


@breaker("TW-19", "TW-19-individuals-not-pulled", "Individual customers are not created in FSM")
def _(p):
    from syncer.books_sync.customers import CustomersPhase
    p.setattr(CustomersPhase, "_individual_from_books", lambda self, row, link: None)


@breaker("TW-19", "TW-19-persons-not-pulled", "A new business customer's contact persons do not become its "
         "Contacts in FSM")
def _(p):
    from syncer.books_sync.customers import CustomersPhase
    p.setattr(CustomersPhase, "_queue_contacts", lambda self, persons, company_id, customer: None)


@breaker("TW-06", "TW-06-companies-not-pulled", "Business customers are not created in FSM")
def _(p):
    from syncer.books_sync.customers import CustomersPhase
    p.setattr(CustomersPhase, "_business_from_books", lambda self, row, link: None)


# == TW-21: a new Invoice org defaults to Type IV =====================================================

@scenario("TW-21-NEW-INVOICE-ORG-IV", "A new Invoice org gets Type IV, whatever a CRM-Books integration says",
          rules=("TW-21",), tags=("sync", "invoice"))
def new_invoice_org_iv(lab):
    t = lab.tenant(products=["fsm", "invoice"])
    with lab.step("Given the new Invoice org's CRM integration on Type II"):
        lab.control.call("PATCH", f"/invoice/orgs/{t.org('invoice')}/crm-integration", {"enabled": True,
                                                                                      "sync_type": "II"})
    with lab.step("When FSM is integrated with the new Invoice org and sync is enabled without choosing a type"):
        data = lab.syncer.create_integration(t, "invoice", new_org=True).enable()
    with lab.step("Then its sync type is IV"):
        expect(data["sync_type"], "sync type").equals("IV")


@breaker("TW-21", "TW-21-new-org-takes-crm-type", "A new Invoice org takes the CRM-Books sync type")
def _(p):
    from syncer.books_sync import onboarding
    original = onboarding.default_sync_type
    p.setattr(onboarding, "default_sync_type", lambda existing_org, settings: original(True, settings))


@breaker("TW-21", "TW-21-existing-org-ignores-crm", "An existing org does not take the CRM-Books sync type")
def _(p):
    from syncer.books_sync import onboarding
    original = onboarding.default_sync_type
    p.setattr(onboarding, "default_sync_type", lambda existing_org, settings: original(False, settings))


# == TW-24: Companies and Contacts; the Books-side lookup; last sync updating ==========================

@scenario("TW-24-CUSTOMERS-AND-UPDATES", "A synced Company and Contact show their partner from either side, and "
          "their last sync moves with each sync of them", rules=("TW-24",), tags=("sync", "books"), exclusive=True)
def partner_customers(lab):
    t, integ = integrate(lab, sync_type="IV")
    fsm, books = t.fsm(), t.books()
    with lab.step("Given a Company and a Contact of no Company, synced"):
        lab.clock.freeze()
        cid = company(fsm, "Shown Co")
        pid = contact(fsm, "Shown", "shown@example.com", First_Name="Sy")
        first = succeeded(integ.sync_now())
    with lab.step("Then each shows its Books partner, and the Books lookup answers the FSM record"):
        got = customers(books)
        for module, rid, name in (("Companies", cid, "Shown Co"), ("Contacts", pid, "Sy Shown")):
            rec = integ.record(module, rid)
            expect(rec["partner"]["id"], f"{module} partner id").equals(got[name]["contact_id"])
            expect(rec["partner"]["url"], f"{module} partner link").contains(got[name]["contact_id"])
            expect(rec["last_sync"]["run_id"], f"{module} last sync run").equals(first["id"])
            back = integ.books_record("contacts", got[name]["contact_id"])
            expect((back["fsm"]["module"], back["fsm"]["id"]), f"{name}'s FSM record").equals((module, rid))
    with lab.step("When the Company is edited and sync runs again"):
        lab.clock.advance(120)
        fsm.put(f"/Companies/{cid}", json={"data": [{"Website": "https://shown.example"}]})
        lab.clock.advance(60)
        second = succeeded(integ.sync_now())
    with lab.step("Then the Company's last sync is the second run, later than before; the Contact's is unchanged"):
        rec = integ.record("Companies", cid)
        expect(rec["last_sync"]["run_id"], "Company's last sync run").equals(second["id"])
        expect(rec["last_sync"]["at"] > integ.record("Contacts", pid)["last_sync"]["at"],
               "Company's last sync later than the Contact's").is_true()
        expect(integ.record("Contacts", pid)["last_sync"]["run_id"], "Contact's last sync run").equals(first["id"])


@breaker("TW-24", "TW-24-last-sync-frozen", "A record's last sync keeps its first run")
def _(p):
    from syncer.store.repo import Repo
    original = Repo.upsert_link

    def broken(self, integration_id, **kw):
        if self.link_by_fsm(integration_id, kw["fsm_module"], kw["fsm_id"]) is not None:
            kw.pop("run_id", None)
        return original(self, integration_id, **kw)
    p.setattr(Repo, "upsert_link", broken)


@breaker("TW-24", "TW-24-books-lookup-wrong-side", "The Books-side lookup answers the record by FSM id")
def _(p):
    from syncer.service import SyncerService
    p.setattr(SyncerService, "record_by_books", lambda self, iid, entity, books_id: self.record(
        iid, "Companies", books_id))


@breaker("TW-24", "TW-24-partner-url-wrong", "The partner link points at the FSM record")
def _(p):
    from syncer.service import SyncerService
    p.setattr(SyncerService, "books_url", lambda self, integ, entity, books_id: f"https://books.zoho.com/app#/{entity}")


# == TW-25: the reason and the <Module>FailureLogs.csv name ============================================

@scenario("TW-25-REASON-AND-FILE", "A failed record's reason is Books' own, in <Module>FailureLogs.csv",
          rules=("TW-25",), tags=("sync", "books"))
def reason_and_file(lab):
    t, integ = integrate(lab)
    with lab.step("Given a service whose name Books already has"):
        t.books().post("/items", json={"name": "Clash", "rate": 1})
        service(t.fsm(), "Clash")
    with lab.step("When Sync Now runs"):
        run = succeeded(integ.sync_now())
        expect(stats(run).get(SP), "services (succeeded, failed): Books' Clash cloned, FSM's failed").equals((1, 1))
    with lab.step("Then the failure log downloads as ServiceAndPartsFailureLogs.csv with Books' reason"):
        r = lab.syncer.request("GET", f"/api/v1/runs/{run['id']}/failures/ServiceAndPartsFailureLogs.csv")
        expect(r.status_code, "HTTP status").equals(200)
        expect(r.headers.get("content-disposition", ""), "file name").contains(
            'filename="ServiceAndPartsFailureLogs.csv"')
        rows = [line for line in r.text.strip().splitlines() if line]
        expect(len(rows), "CSV lines (header + one record)").equals(2)
        expect(rows[1], "the failure").contains("Clash")
        expect(rows[1].lower(), "the reason").contains("already exists")


@breaker("TW-25", "TW-25-reason-lost", "A failed record is logged without its reason")
def _(p):
    from syncer.books_sync.common import RunContext
    original = RunContext.failed
    p.setattr(RunContext, "failed", lambda self, module, rid, reason, name="", **kw: original(
        self, module, rid, "sync failed", name, **kw))


@breaker("TW-25", "TW-25-file-named-by-module", "The failure log is named <module>_failures.csv")
def _(p):
    from syncer import service
    p.setattr(service, "failure_csv_filename", lambda module: f"{module}_failures.csv")


@breaker("TW-25", "TW-25-failures-not-counted", "Failed records are logged but not counted in the run")
def _(p):
    from syncer.books_sync.common import RunContext
    p.setattr(RunContext, "failed", lambda self, module, rid, reason, name="", **kw: self.repo.add_record_failure(
        self.run_id, module, rid, reason, record_name=name))


# == OB-04: customers, invoices and currencies in one-way mode ========================================

@scenario("OB-04-ONE-WAY-CUSTOMERS", "One-way: Companies and Contacts and invoices go to Invoice; Invoice "
          "customers and currencies do not come back", rules=("OB-04",), tags=("sync", "invoice"))
def one_way_customers(lab):
    t, integ = integrate(lab, "invoice", mode="one_way", sync_type="IV",
                         tenant_options={"orgs": {"invoice": {"currencies": ["EUR"]}}})
    fsm, inv = t.fsm(), t.invoice()
    with lab.step("Given a Company with a Contact in FSM, and customers only in Invoice"):
        cid = company(fsm, "Pushed Co")
        ct = contact(fsm, "Pushed", "pushed@example.com", Company=cid)
        _books_customers(inv)
    with lab.step("When Sync Now runs"):
        succeeded(integ.sync_now())
    with lab.step("Then Pushed Co is an Invoice customer, and FSM has no Invoice customer nor EUR"):
        expect(sorted(customers(inv)), "Invoice customers").equals(["Biz Co", "Ida Ind", "Pushed Co"])
        expect([c["Company_Name"] for c in fsm_list(fsm, "Companies")], "FSM Companies").equals(["Pushed Co"])
        expect([c["Email"] for c in fsm_list(fsm, "Contacts")], "FSM Contacts").equals(["pushed@example.com"])
        codes = [c["iso_code"] for c in fsm.get("/_internal/currencies").json()["currencies"]]
        expect(codes, "FSM currencies").lacks("EUR")
    with lab.step("And a work order's invoice is pushed to Invoice"):
        sid = service(fsm, "Visit", Unit_Price=25)
        r = fsm.post("/Work_Orders", json={"data": [{"Summary": "One way", "Type": "Service", "Contact": ct,
                                                     "Company": cid,
                                                     "Service_Line_Items": [{"Service": sid, "Quantity": 1}]}]})
        invoice = integ.invoice_for(r.json()["data"]["Work_Orders"][0]["id"])
        expect(invoice["total"], "invoice total").equals(25)
        expect(len(inv.get("/invoices").json()["invoices"]), "invoices in Invoice").equals(1)


@breaker("OB-04", "OB-04-items-read-back", "One-way reads Invoice items back into FSM")
def _(p):
    from syncer.books_sync.items import ItemsPhase
    original = ItemsPhase.run

    def broken(self):
        mode, self.integ.mode = self.integ.mode, "two_way"
        try:
            return original(self)
        finally:
            self.integ.mode = mode
    p.setattr(ItemsPhase, "run", broken)


@breaker("OB-04", "OB-04-customers-read-back", "One-way reads Invoice customers back into FSM")
def _(p):
    from syncer.books_sync.customers import CustomersPhase
    original = CustomersPhase.__init__

    def broken(self, ctx):
        original(self, ctx)
        self.one_way = False
    p.setattr(CustomersPhase, "__init__", broken)


@breaker("OB-04", "OB-04-currencies-pulled", "One-way creates Invoice currencies in FSM")
def _(p):
    from syncer.books_sync.engine import SyncEngine
    from syncer.books_sync.items import ItemsPhase
    original = ItemsPhase.run

    def broken(self):
        if self.integ.mode == "one_way":
            SyncEngine.sync_currencies(None, self.ctx)
        return original(self)
    p.setattr(ItemsPhase, "run", broken)
