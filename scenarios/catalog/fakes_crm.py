"""Zoho CRM behaviours scenarios rely on (the fake itself): 204 on empty lists, 207 batches,
page tokens past 2,000 records, credits, workflow triggers and watch notifications."""

import time

from scenarios.harness import expect, scenario


@scenario("FAKE-CRM-EMPTY-204", "An empty CRM module answers 204; a batch with one bad record answers 207",
          tags=("crm", "smoke"))
def empty_and_batch(lab):
    crm = lab.tenant(products=["crm"]).crm()
    with lab.step("When the Contacts of a new CRM org are listed"):
        r = crm.get("/Contacts", params={"fields": "Last_Name,Email"})
    with lab.step("Then CRM answers 204 with no body"):
        expect(r.status_code, "HTTP status").equals(204)
        expect(r.content, "body").equals(b"")
    with lab.step("When two contacts are inserted and the second lacks the mandatory Last_Name"):
        r = crm.post("/Contacts", json={"data": [{"Last_Name": "Burns", "Email": "burns@example.com"},
                                                 {"First_Name": "No last name"}]})
    with lab.step("Then CRM answers 207 with one success and one MANDATORY_NOT_FOUND"):
        expect(r.status_code, "HTTP status").equals(207)
        expect([d["code"] for d in r.json()["data"]], "codes").equals(["SUCCESS", "MANDATORY_NOT_FOUND"])
        expect(r.json()["data"][1]["details"]["api_name"], "missing field").equals("Last_Name")
        expect(len(crm.get("/Contacts", params={"fields": "Last_Name"}).json()["data"]), "stored").equals(1)


@scenario("FAKE-CRM-NOTIFY", "A CRM watch subscription gets a callback within a second of an edit",
          tags=("crm", "smoke"))
def crm_notification(lab):
    crm = lab.tenant(products=["crm"]).crm()
    hook = lab.webhook()
    cid = crm.post("/Contacts", json={"data": [{"Last_Name": "Burns"}]}).json()["data"][0]["details"]["id"]
    with lab.step("Given a watch channel on Contacts edits"):
        r = crm.post("/actions/watch", json={"watch": [{"channel_id": "1000000068001", "events": ["Contacts.edit"],
                                                        "notify_url": hook.url, "token": "tok1"}]})
        expect(r.status_code, "HTTP status").equals(201)
    with lab.step("When the contact is edited"):
        started = time.monotonic()
        crm.put(f"/Contacts/{cid}", json={"data": [{"Phone": "555-0100"}]})
    with lab.step("Then a callback with operation update, the id and the token arrives within a second"):
        bodies = hook.wait_for(lambda b: any(x.get("operation") == "update" for x in b), timeout=1.0)
        got = [b for b in bodies if b.get("operation") == "update"]
        expect(len(got), "update callbacks").equals(1)
        expect((got[0]["ids"], got[0]["channel_id"], got[0]["token"]), "ids, channel, token").equals(
            ([cid], "1000000068001", "tok1"))
        expect(time.monotonic() - started, "seconds until the callback").at_most(1.0)


@scenario("FAKE-CRM-WORKFLOW-TRIGGER", "CRM runs workflow rules unless the write says \"trigger\": []",
          tags=("crm", "edge"))
def crm_trigger(lab):
    t = lab.tenant(products=["crm"])
    crm = t.crm()
    with lab.step("Given a rule on Contacts create that sets the Description"):
        lab.control.add_workflow(org_id=t.org("crm"), module="Contacts", event="create",
                                 action={"type": "field_update", "field": "Description", "value": "Touched"})
    with lab.step("When one contact is inserted normally and one with trigger []"):
        a = crm.post("/Contacts", json={"data": [{"Last_Name": "Plain"}]}).json()["data"][0]["details"]["id"]
        b = crm.post("/Contacts", json={"data": [{"Last_Name": "Quiet"}], "trigger": []}).json()["data"][0]["details"]["id"]
    with lab.step("Then only the first was touched by the rule"):
        expect(lab.control.workflow_runs(t.org("crm"), module="Contacts")[0]["record_id"], "rule ran for").equals(a)
        expect(len(lab.control.workflow_runs(t.org("crm"))), "runs").equals(1)
        got = crm.get(f"/Contacts/{b}", params={"fields": "Description"}).json()["data"][0]
        expect(got.get("Description"), "Description of the quiet one").equals(None)


@scenario("FAKE-CRM-PAGE-TOKEN", "CRM pages reach 2,000 records; page_token walks past them",
          tags=("crm", "slow", "edge"))
def page_token(lab):
    t = lab.tenant(products=["crm"])
    crm = t.crm()
    with lab.step("Given 2,100 contacts"):
        lab.control.seed(t.org("crm"), {"contacts": 2100}, seed=3)
    with lab.step("When page 11 of 200 is asked for"):
        r = crm.get("/Contacts", params={"fields": "Last_Name", "page": 11, "per_page": 200})
    with lab.step("Then CRM refuses: only the first 2,000 records without page_token"):
        expect(r.status_code, "HTTP status").equals(400)
        expect(r.json()["code"], "code").equals("DISCRETE_PAGINATION_LIMIT_EXCEEDED")
    with lab.step("And following next_page_token visits every record exactly once"):
        seen, params = [], {"fields": "Last_Name", "per_page": 200}
        while True:
            r = crm.get("/Contacts", params=params)
            body = r.json()
            seen += [d["id"] for d in body["data"]]
            if not body["info"]["more_records"]:
                break
            params = {"fields": "Last_Name", "per_page": 200, "page_token": body["info"]["next_page_token"]}
        expect(len(seen), "records visited").equals(2100)
        expect(len(set(seen)), "distinct records").equals(2100)


@scenario("FAKE-CRM-CREDITS", "A CRM org out of API credits answers 429 TOO_MANY_REQUESTS",
          tags=("crm", "limits", "edge"), exclusive=True)
def crm_credits(lab):
    t = lab.tenant(products=["crm"])
    crm = t.crm()
    with lab.step("Given a frozen clock and an org with limits on and 3 credits a day"):
        lab.clock.freeze()
        t.set_org("crm", rate_limits=True, settings={"credits_limit": 3})
    with lab.step("When three calls are made they succeed"):
        for i in range(3):
            expect(crm.get("/Contacts", params={"fields": "Last_Name"}).status_code, f"call #{i + 1}").one_of([200, 204])
    with lab.step("Then the fourth answers 429 TOO_MANY_REQUESTS in Zoho's envelope, with Retry-After"):
        r = crm.get("/Contacts", params={"fields": "Last_Name"})
        expect(r.status_code, "HTTP status").equals(429)
        expect((r.json()["code"], r.json()["status"]), "code and status").equals(("TOO_MANY_REQUESTS", "error"))
        expect("Retry-After" in r.headers, "Retry-After header").is_true()
