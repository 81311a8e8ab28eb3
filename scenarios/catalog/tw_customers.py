"""TW — customers by sync type (TW-19), addresses (TW-20), currencies (TW-10), work orders to
invoices (TW-22, TW-23) and onboarding (OB-01), through the syncer's API and the fakes' APIs."""

from __future__ import annotations

from scenarios.catalog.tw_sync import integrate, service
from scenarios.harness import expect, scenario
from scenarios.harness.breakers import breaker


def company(fsm, name, **extra):
    r = fsm.post("/Companies", json={"data": [{"Company_Name": name, **extra}]})
    expect(r.status_code, f"create company {name}: HTTP status").equals(201)
    return r.json()["data"]["Companies"][0]["id"]


def contact(fsm, last, email, **extra):
    r = fsm.post("/Contacts", json={"data": [{"Last_Name": last, "Email": email, **extra}]})
    expect(r.status_code, f"create contact {last}: HTTP status").equals(201)
    return r.json()["data"]["Contacts"][0]["id"]


def customers(books):
    return {c["contact_name"]: c for c in books.get("/contacts").json()["contacts"]}


@scenario("TW-19-TYPE-I", "Type I: Companies sync as Business customers; Contacts are not synced",
          rules=("TW-19",), tags=("sync", "books"))
def type_one(lab):
    t, integ = integrate(lab, sync_type="I")
    fsm, books = t.fsm(), t.books()
    with lab.step("Given a Company with a Contact, and a Business customer in Books"):
        cid = company(fsm, "Acme Ltd")
        contact(fsm, "Lee", "lee@acme.example", Company=cid)
        books.post("/contacts", json={"contact_name": "Zylker Inc", "company_name": "Zylker Inc",
                                      "customer_sub_type": "business"})
    with lab.step("When Sync Now runs"):
        expect(integ.sync_now()["status"], "run status").equals("succeeded")
    with lab.step("Then Acme is a Business customer, Zylker a Company, and no contact was synced"):
        got = customers(books)
        expect(got["Acme Ltd"]["customer_sub_type"], "Acme's customer type").equals("business")
        expect([c["Company_Name"] for c in fsm.get("/Companies").json()["data"]], "FSM companies").contains("Zylker Inc")
        expect(list(got), "Books customers").lacks("Lee")


@scenario("TW-19-TYPE-II", "Type II: Contacts sync as Individual customers; Companies are not synced",
          rules=("TW-19",), tags=("sync", "books"))
def type_two(lab):
    t, integ = integrate(lab, sync_type="II")
    fsm, books = t.fsm(), t.books()
    with lab.step("Given a Company and a Contact in FSM"):
        company(fsm, "Not Synced Ltd")
        contact(fsm, "Burns", "burns@example.com", First_Name="Ann")
    with lab.step("When Sync Now runs"):
        expect(integ.sync_now()["status"], "run status").equals("succeeded")
    with lab.step("Then the Contact is an Individual customer with a primary contact person, the Company is not"):
        got = customers(books)
        expect(got["Ann Burns"]["customer_sub_type"], "customer type").equals("individual")
        expect(got["Ann Burns"]["email"], "primary contact's email").equals("burns@example.com")
        expect(list(got), "Books customers").lacks("Not Synced Ltd")


@scenario("TW-19-TYPE-III", "Type III: Companies with their Contacts become Business customers with contact "
          "persons; unassociated Contacts are not synced", rules=("TW-19",), tags=("sync", "books"))
def type_three(lab):
    t, integ = integrate(lab, sync_type="III")
    fsm, books = t.fsm(), t.books()
    with lab.step("Given a Company with two Contacts, and a Contact of no Company"):
        cid = company(fsm, "Acme Ltd")
        contact(fsm, "Lee", "lee@acme.example", Company=cid)
        contact(fsm, "Kim", "kim@acme.example", Company=cid)
        contact(fsm, "Loner", "loner@example.com")
    with lab.step("When Sync Now runs"):
        expect(integ.sync_now()["status"], "run status").equals("succeeded")
    with lab.step("Then Acme is a Business customer with both as contact persons, and Loner is not synced"):
        got = customers(books)
        persons = books.get(f"/contacts/{got['Acme Ltd']['contact_id']}/contactpersons").json()["contact_persons"]
        expect(sorted(p["email"] for p in persons), "contact persons").equals(["kim@acme.example", "lee@acme.example"])
        expect([n for n in got if "Loner" in n], "unassociated contacts in Books").equals([])


@scenario("TW-19-TYPE-IV", "Type IV: Companies with Contacts to Business, unassociated Contacts to Individual; "
          "a Company's single Contact is the primary contact", rules=("TW-19",), tags=("sync", "books", "smoke"))
def type_four(lab):
    t, integ = integrate(lab, sync_type="IV")
    fsm, books = t.fsm(), t.books()
    with lab.step("Given a Company with a single Contact and a Contact of no Company"):
        cid = company(fsm, "Solo Ltd")
        contact(fsm, "Only", "only@solo.example", Company=cid)
        contact(fsm, "Free", "free@example.com", First_Name="Sam")
    with lab.step("When Sync Now runs"):
        expect(integ.sync_now()["status"], "run status").equals("succeeded")
    with lab.step("Then Solo is Business with that Contact as primary, and Sam Free is Individual"):
        got = customers(books)
        solo = books.get(f"/contacts/{got['Solo Ltd']['contact_id']}").json()["contact"]
        primary = [p for p in solo["contact_persons"] if p["is_primary_contact"]]
        expect([p["email"] for p in primary], "primary contact").equals(["only@solo.example"])
        expect(got["Sam Free"]["customer_sub_type"], "Sam's customer type").equals("individual")


@scenario("TW-19-SINGLE-CONTACT-LATER", "Type IV: a synced Company's first and only Contact, added later, becomes "
          "the customer's primary contact", rules=("TW-19",), tags=("sync", "books"), exclusive=True)
def single_contact_later(lab):
    t, integ = integrate(lab, sync_type="IV")
    fsm, books = t.fsm(), t.books()
    with lab.step("Given a Company synced with no Contact"):
        lab.clock.freeze()
        cid = company(fsm, "Later Ltd")
        expect(integ.sync_now()["status"], "run status").equals("succeeded")
    with lab.step("When its only Contact is added and Sync Now runs"):
        lab.clock.advance(60)
        contact(fsm, "Only", "only@later.example", Company=cid)
        lab.clock.advance(60)
        expect(integ.sync_now()["status"], "run status").equals("succeeded")
    with lab.step("Then the customer's primary contact is that Contact"):
        later = books.get(f"/contacts/{customers(books)['Later Ltd']['contact_id']}").json()["contact"]
        expect([(p["email"], bool(p["is_primary_contact"])) for p in later["contact_persons"]],
               "contact persons (email, primary)").equals([("only@later.example", True)])


@scenario("TW-20-ADDRESSES", "Billing syncs with billing, FSM Service address with Books shipping address",
          rules=("TW-20",), tags=("sync", "books"))
def addresses(lab):
    t, integ = integrate(lab, sync_type="I")
    fsm, books = t.fsm(), t.books()
    with lab.step("Given a Company with a billing and a service address"):
        company(fsm, "Acme Ltd", Billing_Address={"Street_1": "1 Bill St", "City": "Austin", "Zip_Code": "73301"},
                Service_Address={"Street_1": "9 Site Rd", "City": "Dallas", "Zip_Code": "75001"})
    with lab.step("When Sync Now runs"):
        expect(integ.sync_now()["status"], "run status").equals("succeeded")
    with lab.step("Then the customer's billing and shipping addresses are those two"):
        c = books.get(f"/contacts/{customers(books)['Acme Ltd']['contact_id']}").json()["contact"]
        expect((c["billing_address"]["address"], c["billing_address"]["city"]), "billing").equals(("1 Bill St", "Austin"))
        expect((c["shipping_address"]["address"], c["shipping_address"]["city"]), "shipping").equals(("9 Site Rd", "Dallas"))


@scenario("TW-10-FSM-ONLY-CURRENCY", "A currency only FSM has is not created in Books, and its records fail "
          "with a reason naming it", rules=("TW-10",), tags=("sync", "books", "edge"))
def fsm_only_currency(lab):
    t, integ = integrate(lab, sync_type="I", tenant_options={
        "orgs": {"fsm": {"currencies": ["GBP"], "settings": {"multi_currency": True}}}})
    fsm, books = t.fsm(), t.books()
    with lab.step("Given a Company in GBP, a currency Books does not have"):
        company(fsm, "Pound Ltd", Currency="GBP")
    with lab.step("When Sync Now runs"):
        run = integ.sync_now()
    with lab.step("Then the company failed with a reason naming GBP, and Books has no GBP"):
        csv = lab.syncer.failures_csv(run["id"], "Companies")
        expect(csv, "Companies failure log").contains("GBP")
        codes = [c["currency_code"] for c in books.get("/settings/currencies").json()["currencies"]]
        expect(codes, "Books currencies").lacks("GBP")
        expect(list(customers(books)), "Books customers").lacks("Pound Ltd")


@scenario("TW-10-FAILED-RECORD-RETRIED", "A record that failed on its currency syncs in the next run once Books "
          "has the currency, though nobody edited it", rules=("TW-10", "TW-25"), tags=("sync", "books", "edge"),
          exclusive=True)
def failed_record_retried(lab):
    t, integ = integrate(lab, sync_type="I", tenant_options={
        "orgs": {"fsm": {"currencies": ["GBP"], "settings": {"multi_currency": True}}}})
    fsm, books = t.fsm(), t.books()
    with lab.step("Given a Company in GBP that failed in a sync, and not edited since"):
        lab.clock.freeze()
        company(fsm, "Pound Ltd", Currency="GBP")
        lab.clock.advance(60)  # the next run's "modified since the previous start" leaves it out
        first = integ.sync_now()
        expect([(m["module"], m["failed"]) for m in first["modules"]], "failed per module").contains(("Companies", 1))
    with lab.step("When Books gets GBP and Sync Now runs again"):
        r = books.post("/settings/currencies", json={"currency_code": "GBP", "currency_symbol": "£",
                                                     "currency_format": "1,234,567.89", "price_precision": 2})
        expect(r.status_code, "create GBP in Books: HTTP status").equals(201)
        lab.clock.advance(60)
        second = integ.sync_now()
    with lab.step("Then the company is a Books customer in GBP, and the run counts it a success"):
        expect(second["status"], "run status").equals("succeeded")
        expect([(m["module"], m["succeeded"], m["failed"]) for m in second["modules"]],
               "per module").contains(("Companies", 1, 0))
        expect(customers(books)["Pound Ltd"]["currency_code"], "Pound Ltd's currency").equals("GBP")


@scenario("TW-22-23-WORK-ORDER-INVOICE", "A work order becomes an invoice; its unsynced services are pushed first",
          rules=("TW-22", "TW-23"), tags=("sync", "books", "smoke"))
def work_order_invoice(lab):
    t, integ = integrate(lab, sync_type="I")
    fsm, books = t.fsm(), t.books()
    with lab.step("Given a synced Company and a service created after the last sync"):
        cid = company(fsm, "Acme Ltd")
        ct = contact(fsm, "Lee", "lee@acme.example", Company=cid)
        integ.sync_now()
        sid = service(fsm, "Late service", Unit_Price=30)
    with lab.step("And a work order using that service twice"):
        r = fsm.post("/Work_Orders", json={"data": [{"Summary": "Fix it", "Type": "Service", "Contact": ct,
                                                     "Company": cid,
                                                     "Service_Line_Items": [{"Service": sid, "Quantity": 2}]}]})
        wo = r.json()["data"]["Work_Orders"][0]["id"]
    with lab.step("When its invoice is generated"):
        invoice = integ.invoice_for(wo)
    with lab.step("Then the service was pushed to Books first and the invoice bills it, once"):
        items = {i["name"]: i for i in books.get("/items").json()["items"]}
        expect("Late service" in items, "the service is a Books item").is_true()
        expect([(li["item_id"], li["quantity"]) for li in invoice["line_items"]], "invoice lines").equals(
            [(items["Late service"]["item_id"], 2)])
        expect(invoice["total"], "invoice total").equals(60)
        expect(integ.invoice_for(wo)["invoice_id"], "a second call's invoice").equals(invoice["invoice_id"])
        expect(len(books.get("/invoices").json()["invoices"]), "invoices in Books").equals(1)


@scenario("OB-01-OFFERED-ORGS", "Only active orgs of the signup email are offered; expired Books trials are not",
          rules=("OB-01",), tags=("sync", "books", "invoice"))
def offered(lab):
    t = lab.tenant(products=["fsm", "books", "invoice"])
    with lab.step("Given a second Books org whose trial expired and a second Invoice org that is inactive"):
        expired = lab.control.call("POST", "/orgs", {"email": t.email, "product": "books", "name": "Old trial"}).json()
        inactive = lab.control.call("POST", "/orgs", {"email": t.email, "product": "invoice", "name": "Closed"}).json()
        lab.control.patch_org(expired["id"], {"trial_expired": True})
        lab.control.patch_org(inactive["id"], {"active": False})
    with lab.step("When the syncer lists the orgs a new FSM org may integrate with"):
        orgs = lab.syncer.offered_orgs(t)
    with lab.step("Then only the active Books and Invoice orgs are offered"):
        expect(sorted((o["product"], o["organization_id"]) for o in orgs), "offered orgs").equals(
            sorted([("books", t.org("books")), ("invoice", t.org("invoice"))]))


@scenario("OB-03-TAXES", "A new org gets FSM's taxes; an existing org's taxes are pulled into FSM",
          rules=("OB-03",), tags=("sync", "books", "invoice"))
def onboarding_taxes(lab):
    t = lab.tenant(products=["fsm", "books", "invoice"])
    with lab.step("Given FSM with a 'Service tax' and an existing Books org with a 'VAT'"):
        lab.control.call("PUT", f"/fsm/orgs/{t.org('fsm')}/taxes",
                         {"taxes": [{"tax_name": "Service tax", "tax_percentage": 5}]})
        t.books().post("/settings/taxes", json={"tax_name": "VAT", "tax_percentage": 20})
    with lab.step("When FSM is integrated with the new Invoice org"):
        lab.syncer.create_integration(t, "invoice", choice="new_invoice", signup_email=t.email).enable()
    with lab.step("Then the Invoice org has FSM's tax"):
        names = [x["tax_name"] for x in t.invoice().get("/settings/taxes").json()["taxes"]]
        expect(names, "Invoice taxes").contains("Service tax")
    with lab.step("When FSM is integrated with the existing Books org"):
        other = lab.tenant(products=["fsm", "books"])
        other.books().post("/settings/taxes", json={"tax_name": "VAT", "tax_percentage": 20})
        lab.syncer.create_integration(other, "books", choice="existing_books", signup_email=other.email).enable()
    with lab.step("Then FSM has the Books org's tax"):
        taxes = other.fsm().get("/_internal/settings").json()["settings"]["taxes"]
        expect([(x["tax_name"], x["tax_percentage"]) for x in taxes], "FSM taxes").equals([("VAT", 20)])


# -- breakers (tests/test_breakers.py) ---------------------------------------------------------------

def _sync_types(p, **flags):
    """The customers phase decides what a sync type syncs with ``flags`` changed (a wrong table)."""
    from syncer.books_sync.customers import CustomersPhase
    original = CustomersPhase.__init__

    def broken(self, ctx):
        original(self, ctx)
        for kind_flag, value in flags.items():
            kind, flag = kind_flag.split("_", 1)
            if self.sync_type == kind:
                setattr(self, flag, value)
    p.setattr(CustomersPhase, "__init__", broken)


@breaker("TW-19", "TW-19-type-i-syncs-contacts", "Type I also syncs Contacts as Individual customers")
def _(p):
    _sync_types(p, I_individuals=True)


@breaker("TW-19", "TW-19-type-ii-syncs-companies", "Type II also syncs Companies")
def _(p):
    _sync_types(p, II_companies=True)


@breaker("TW-19", "TW-19-type-iii-unassociated-synced", "Type III also syncs Contacts of no Company")
def _(p):
    _sync_types(p, III_individuals=True)


@breaker("TW-19", "TW-19-type-iv-no-persons", "Type IV leaves a Company's Contacts out")
def _(p):
    _sync_types(p, IV_persons=False)
