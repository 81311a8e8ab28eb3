"""Zoho FSM behaviours scenarios rely on (the fakes themselves; the rules of RULES.md are
proven by the syncer scenarios, which name them): 204 on empty lists, PII hidden from the API, data
imports the syncer must see, workflow rules and their suppression, change notifications."""

import time

from scenarios.harness import expect, scenario


def contact(fsm, last_name="Lee", email="ann.lee@example.com", **extra):
    r = fsm.post("/Contacts", json={"data": [{"Last_Name": last_name, "Email": email, **extra}]})
    expect(r.status_code, f"create {last_name}: HTTP status").equals(201)
    return r.json()["data"]["Contacts"][0]["id"]


@scenario("FAKE-FSM-EMPTY-204", "An empty FSM module answers 204 with no body; a created record shows up",
          tags=("fsm", "smoke"))
def empty_list(lab):
    fsm = lab.tenant(products=["fsm"]).fsm()
    with lab.step("When the Contacts of a new FSM org are listed"):
        r = fsm.get("/Contacts")
    with lab.step("Then FSM answers 204 with an empty body"):
        expect(r.status_code, "HTTP status").equals(204)
        expect(r.content, "body").equals(b"")
    with lab.step("And after a create answering the module key and a string id, the list has it"):
        cid = contact(fsm)
        expect(cid.isdigit() and len(cid) >= 18, "a long numeric string id").is_true()
        expect([c["id"] for c in fsm.get("/Contacts").json()["data"]], "listed ids").equals([cid])


@scenario("FAKE-FSM-PII-HIDDEN", "With 'PII data access using APIs' off, Last_Name and Email vanish from answers",
          tags=("fsm", "edge"))
def pii_hidden(lab):
    t = lab.tenant(products=["fsm"])
    fsm = t.fsm()
    cid = contact(fsm, "Lee", "ann.lee@example.com", First_Name="Ann", Phone="555-0100")
    with lab.step("Given the field metadata marks Last_Name and Email as PII"):
        fields = {f["api_name"]: f for f in fsm.get("/settings/fields", params={"module": "Contacts"}).json()["fields"]}
        expect(fields["Last_Name"].get("pii"), "Last_Name pii flag").is_true()
        expect(fields["Email"].get("pii"), "Email pii flag").is_true()
    with lab.step("When the org switches 'PII data access using APIs' off"):
        r = lab.control.call("PUT", f"/fsm/orgs/{t.org('fsm')}/pii-access", {"enabled": False})
        expect(r.status_code, "HTTP status").equals(200)
    with lab.step("Then the contact is answered without Last_Name and Email, other fields intact"):
        rec = fsm.get(f"/Contacts/{cid}").json()["data"][0]
        expect(rec, "record").lacks("Last_Name")
        expect(rec, "record").lacks("Email")
        expect(rec.get("Phone"), "Phone").equals("555-0100")


@scenario("FAKE-FSM-IMPORT-VISIBLE", "A data import in progress is visible to a syncer on the internal surface",
          tags=("fsm", "edge"))
def import_visible(lab):
    t = lab.tenant(products=["fsm"])
    fsm = t.fsm()
    with lab.step("Given no import runs"):
        expect(fsm.get("/_internal/settings").json()["settings"]["import_in_progress"], "import_in_progress").is_false()
    with lab.step("When an admin starts a Contacts import"):
        r = lab.control.call("POST", f"/fsm/orgs/{t.org('fsm')}/imports", {
            "module": "Contacts", "records": [{"Last_Name": "Imported", "Email": "imp@example.com"}]})
        expect(r.status_code, "HTTP status").equals(201)
        job = r.json()
    with lab.step("Then the syncer sees the import in progress, and cannot mark a sync as running"):
        expect(fsm.get("/_internal/settings").json()["settings"]["import_in_progress"], "import_in_progress").is_true()
        r = fsm.put("/_internal/sync-state", json={"sync_in_progress": True, "sync_service": "finance"})
        expect(r.status_code, "HTTP status of marking a sync").equals(409)
    with lab.step("And when the import finishes, it is no longer in progress"):
        job_id = job.get("id") or job.get("import", {}).get("id") or job.get("job_id")
        r = lab.control.call("POST", f"/fsm/orgs/{t.org('fsm')}/imports/{job_id}/finish", {})
        expect(r.status_code, "HTTP status").equals(200)
        expect(fsm.get("/_internal/settings").json()["settings"]["import_in_progress"], "import_in_progress").is_false()


@scenario("FAKE-FSM-WORKFLOW", "A workflow rule fires on a plain write and not on a write that suppresses triggers",
          tags=("fsm", "edge", "smoke"))
def workflow_suppressed(lab):
    t = lab.tenant(products=["fsm"])
    fsm = t.fsm()
    with lab.step("Given a workflow rule on Contacts create that sets the Description"):
        lab.control.add_workflow(org_id=t.org("fsm"), module="Contacts", event="create",
                                 action={"type": "field_update", "field": "Description", "value": "Welcome mail sent"})
    with lab.step("When a contact is created normally, the rule runs"):
        plain = contact(fsm, "Plain", "plain@example.com")
        expect(fsm.get(f"/Contacts/{plain}").json()["data"][0].get("Description"), "Description").equals("Welcome mail sent")
    with lab.step("And when a contact is created with \"trigger\": [], it does not"):
        r = fsm.post("/Contacts", json={"data": [{"Last_Name": "Quiet", "Email": "quiet@example.com"}], "trigger": []})
        quiet = r.json()["data"]["Contacts"][0]["id"]
        expect(fsm.get(f"/Contacts/{quiet}").json()["data"][0].get("Description"), "Description").equals(None)
    with lab.step("Then the workflow log shows exactly one run, for the plain contact"):
        runs = lab.control.workflow_runs(t.org("fsm"))
        expect([r["record_id"] for r in runs], "records the rule ran for").equals([plain])


@scenario("FAKE-FSM-NOTIFY", "An FSM change notification reaches the subscribed URL within a second",
          tags=("fsm", "smoke"))
def fsm_notification(lab):
    t = lab.tenant(products=["fsm"])
    fsm = t.fsm()
    hook = lab.webhook()
    with lab.step("Given a subscription to Contacts edits"):
        r = fsm.post("/_internal/notifications", json={"watch": [
            {"channel_id": "1000", "events": ["Contacts.edit"], "notify_url": hook.url, "token": "s3cret"}]})
        expect(r.status_code, "HTTP status").equals(201)
    cid = contact(fsm)
    with lab.step("When the contact is edited"):
        started = time.monotonic()
        fsm.put(f"/Contacts/{cid}", json={"data": [{"Phone": "555-0199"}]})
    with lab.step("Then a POST with operation update and the contact's id arrives within a second"):
        bodies = hook.wait_for(lambda b: any(x.get("operation") == "update" for x in b), timeout=1.0)
        got = [b for b in bodies if b.get("operation") == "update"]
        expect(len(got), "update notifications").equals(1)
        expect(got[0]["ids"], "ids").equals([cid])
        expect(got[0]["token"], "token").equals("s3cret")
        expect(time.monotonic() - started, "seconds until the callback").at_most(1.0)


@scenario("FAKE-FSM-DAILY-LIMIT", "An FSM org over its daily API limit answers 429 TOO_MANY_REQUESTS",
          tags=("fsm", "limits", "edge"), exclusive=True)
def fsm_daily_limit(lab):
    t = lab.tenant(products=["fsm"])
    fsm = t.fsm()
    with lab.step("Given a frozen clock and an org with limits on and 5 calls a day"):
        lab.clock.freeze()
        t.set_org("fsm", rate_limits=True, settings={"api_limit_per_day": 5})
    with lab.step("When five calls are made they succeed, with x-ratelimit headers"):
        for i in range(5):
            r = fsm.get("/Contacts")
            expect(r.status_code, f"call #{i + 1}").one_of([200, 204])
        expect("x-ratelimit-remaining" in r.headers, "x-ratelimit-remaining header").is_true()
    with lab.step("Then the sixth answers 429 TOO_MANY_REQUESTS"):
        r = fsm.get("/Contacts")
        expect(r.status_code, "HTTP status").equals(429)
        expect(r.json()["code"], "code").equals("TOO_MANY_REQUESTS")
    with lab.step("And the next day (with a new access token) calls succeed again"):
        lab.clock.advance(86400)
        t.token(fresh=True)
        expect(fsm.get("/Contacts").status_code, "HTTP status").one_of([200, 204])
