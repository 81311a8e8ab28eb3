"""The FSM <-> CRM direct sync ("Zoho FSM Extension for Zoho CRM",
../shared/seeds/fsm-crm-direct-sync.txt), proven through the syncer's and the fakes' HTTP APIs: each
scenario checks the runs and the records on both sides. With the breakers that prove each scenario
fails when its clause breaks (``scenarios/harness/breakers.py``).

- CR-05: the deletion preferences, one scenario per preference per direction;
- CR-06: CRM's "Restrict Data Transfer to Zoho Apps" (normal, sensitive, per module) and FSM's PII
  fields while "PII data access using APIs" is off stay out, at install and on later edits;
- CR-09: the initial sync with mail at its start and end, then instant sync driven by
  notifications: one edit, one write on the other side;
- CR-12: failures in the FSM record's timeline and the sync history; a sync log for the initial
  sync, then one every 24 lab hours, each with its failures CSV;
- CR-13: a synced record links to its partner from either side;
- CR-14: the CRM org integrated with Books/Invoice switches the direct sync off, with the mail.
"""

from __future__ import annotations

import time

from scenarios.harness import expect, scenario
from scenarios.harness.breakers import breaker
from scenarios.harness.syncer_client import SyncerApiError

ADMIN = "admin@crm.example"
SWITCH_OFF = "Two-Way Sync between Zoho CRM and Zoho FSM is disabled"  # CR-14, exactly
SP = "Service_And_Parts"
# CR-09: "within a second on the shared clock". Real seconds here: the lab runs beside other test
# workers, so the deadline leaves room; a sync that waits for a reconciliation (15 lab minutes) or a
# manual sync never makes it.
INSTANT = 3.0
CONTACT_FIELDS = "Last_Name,Email,Phone,Mobile,Description"


# -- helpers: the products' public APIs ---------------------------------------------------------------------
def crm_create(t, module: str, data: dict) -> str:
    r = t.crm().post(f"/{module}", json={"data": [data]})
    expect(r.status_code, f"create a CRM {module} record: HTTP status").equals(201)
    return r.json()["data"][0]["details"]["id"]


def crm_get(t, module: str, rid: str) -> dict | None:
    r = t.crm().get(f"/{module}/{rid}")
    return r.json()["data"][0] if r.status_code == 200 else None


def crm_list(t, module: str, fields: str = CONTACT_FIELDS) -> list[dict]:
    r = t.crm().get(f"/{module}", params={"fields": fields})
    return r.json()["data"] if r.status_code == 200 else []


def crm_edit(t, module: str, rid: str, values: dict) -> None:
    r = t.crm().put(f"/{module}/{rid}", json={"data": [values]})
    expect(r.status_code, f"edit CRM {module} {rid}: HTTP status").equals(200)


def crm_delete(t, module: str, rid: str) -> None:
    r = t.crm().delete(f"/{module}/{rid}")
    expect(r.status_code, f"delete CRM {module} {rid}: HTTP status").equals(200)


def fsm_create(t, module: str, data: dict) -> str:
    r = t.fsm().post(f"/{module}", json={"data": [data]})
    expect(r.status_code, f"create an FSM {module} record: HTTP status").one_of((200, 201))
    return r.json()["data"][module][0]["id"]


def fsm_get(t, module: str, rid: str) -> dict | None:
    r = t.fsm().get(f"/{module}/{rid}")
    return r.json()["data"][0] if r.status_code == 200 else None


def fsm_list(t, module: str) -> list[dict]:
    r = t.fsm().get(f"/{module}")
    return r.json()["data"] if r.status_code == 200 else []


def fsm_edit(t, module: str, rid: str, values: dict) -> None:
    r = t.fsm().put(f"/{module}/{rid}", json={"data": [values]})
    expect(r.status_code, f"edit FSM {module} {rid}: HTTP status").equals(200)


def fsm_delete(t, module: str, rid: str) -> None:
    r = t.fsm().delete(f"/{module}/{rid}")
    expect(r.status_code, f"delete FSM {module} {rid}: HTTP status").equals(200)


def emails(records: list[dict]) -> list[str]:
    return sorted(str(r.get("Email")) for r in records)


def by_email(records: list[dict]) -> dict[str, dict]:
    return {str(r.get("Email")): r for r in records}


def by_name(records: list[dict], field: str) -> dict[str, dict]:
    return {str(r.get(field)): r for r in records}


# -- helpers: the syncer ---------------------------------------------------------------------------------------
def install(lab, t, **enable):
    """The extension installed and "Save & Next" done; answers after the initial sync."""
    integ = lab.syncer.create_crm_integration(t, notify_email=ADMIN)
    expect(integ.data["kind"], "the integration's kind").equals("crm")
    state = integ.enable_crm(**{"duplicate_policy": "clone", **enable})
    expect(state["state"], "the integration's state after Save & Next").equals("enabled")
    return integ


def initial_run(integ) -> dict:
    """The install's one run: the initial sync, succeeded."""
    runs = integ.runs()
    expect([r["trigger"] for r in runs], "the runs after the install").equals(["initial"])
    expect(runs[0]["status"], "the initial sync's status").equals("succeeded")
    return runs[0]


def module_counts(run: dict) -> dict[str, tuple[int, int]]:
    return {m["module"]: (m["succeeded"], m["failed"]) for m in run["modules"]}


def settle(lab, integ, timeout: float = 15.0) -> list[dict]:
    """Every stored notification applied, and no new one for a moment (the syncer's own writes come
    back as notifications too); answers the notifications."""
    quiet_since: tuple[float, int] | None = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = integ.notifications()
        if any(n["state"] in ("pending", "claimed") for n in rows):
            quiet_since = None
        elif quiet_since is None or quiet_since[1] != len(rows):
            quiet_since = (time.monotonic(), len(rows))
        elif time.monotonic() - quiet_since[0] > 0.6:
            return rows
        time.sleep(0.05)
    raise AssertionError(f"the syncer's notifications kept coming for {timeout:g} s")


def no_failed_notifications(rows: list[dict]) -> None:
    expect([n for n in rows if n["state"] == "failed"], "notifications that failed to apply").equals([])


def journal_mark(lab, t) -> int:
    entries = lab.control.journal(email=t.email, limit=1)
    return entries[0]["id"] if entries else 0


def writes(lab, t, product: str, since: int, path_part: str = "") -> list[dict]:
    """Record writes on ``product`` after journal entry ``since`` (the tenant's and the syncer's)."""
    entries = lab.control.journal(email=t.email, limit=2000)
    return [e for e in entries if e["id"] > since and e["product"] == product
            and e["method"] in ("POST", "PUT", "PATCH", "DELETE") and "/_internal/" not in e["path"]
            and "/actions/watch" not in e["path"] and path_part in e["path"]]


def tick_until_run(lab, integ, trigger: str, count: int, timeout: float = 20.0) -> list[dict]:
    """Scheduler ticks until ``count`` finished runs of ``trigger`` exist (the scheduler's own thread
    may do the work first); answers them."""
    deadline = time.monotonic() + timeout
    while True:
        lab.syncer.tick()
        runs = [r for r in integ.runs() if r["trigger"] == trigger and r["status"] != "running"]
        if len(runs) >= count or time.monotonic() > deadline:
            return runs
        time.sleep(0.2)


def advance(lab, t, seconds: float) -> None:
    """Move the lab clock; the tenant's own access token (one lab hour) is then fetched again."""
    lab.clock.advance(seconds)
    t.token(fresh=True)


def three_contacts(lab, **deletion):
    """CRM contacts Alda, Bert and Cleo synced to FSM at install, with the deletion preferences."""
    t = lab.tenant(products=["fsm", "crm"])
    crm = {name: crm_create(t, "Contacts", {"Last_Name": name, "Email": f"{name.lower()}@acme.example",
                                            "Phone": "100"})
           for name in ("Alda", "Bert", "Cleo")}
    integ = install(lab, t, deletion=deletion)
    run = initial_run(integ)
    expect(module_counts(run).get("Contacts"), "initial sync: Contacts succeeded/failed").equals((3, 0))
    fsm = {r["Last_Name"]: r["id"] for r in fsm_list(t, "Contacts")}
    expect(sorted(fsm), "FSM contacts after the initial sync").equals(["Alda", "Bert", "Cleo"])
    no_failed_notifications(settle(lab, integ))
    return t, integ, crm, fsm


# == CR-05: deletion preferences ==========================================================================
@scenario("CR-05-FSM-DELETE-IN-CRM", "A record deleted in FSM with 'Delete in Zoho CRM' chosen: its CRM partner "
          "is deleted", rules=("CR-05",), tags=("sync", "crm"))
def fsm_delete_in_crm(lab):
    with lab.step("Given CRM contacts Alda, Bert and Cleo synced to FSM, FSM deletes set to 'Delete in Zoho CRM'"):
        t, integ, crm, fsm = three_contacts(lab, fsm_deleted="delete_in_crm", crm_deleted="keep_in_fsm")
    with lab.step("When the FSM contact Alda is deleted"):
        fsm_delete(t, "Contacts", fsm["Alda"])
    with lab.step("Then its CRM partner is deleted, and the other contacts stay on both sides"):
        lab.wait_until(lambda: crm_get(t, "Contacts", crm["Alda"]) is None, timeout=INSTANT * 2,
                       what="the CRM partner of the deleted FSM contact deleted")
        no_failed_notifications(settle(lab, integ))
        expect(emails(crm_list(t, "Contacts")), "CRM contacts").equals(["bert@acme.example", "cleo@acme.example"])
        expect(emails(fsm_list(t, "Contacts")), "FSM contacts").equals(["bert@acme.example", "cleo@acme.example"])
        expect(integ.record("Contacts", fsm["Alda"])["active"], "the deleted pair's link is active").equals(False)
    with lab.step("And a manual sync succeeds and brings it back on neither side"):
        run = integ.sync_now()
        expect(run["status"], "manual sync status").equals("succeeded")
        expect(emails(crm_list(t, "Contacts")), "CRM contacts").equals(["bert@acme.example", "cleo@acme.example"])
        expect(emails(fsm_list(t, "Contacts")), "FSM contacts").equals(["bert@acme.example", "cleo@acme.example"])


@scenario("CR-05-FSM-DELETE-KEEP-IN-CRM", "A record deleted in FSM with 'Don't delete in Zoho CRM': the CRM "
          "partner stays, left out of later syncs until an edit of it or a manual sync brings it back",
          rules=("CR-05",), tags=("sync", "crm"), exclusive=True)
def fsm_delete_keep_in_crm(lab):
    with lab.step("Given CRM contacts Alda, Bert and Cleo synced to FSM, FSM deletes set to 'Don't delete in "
                  "Zoho CRM'"):
        t, integ, crm, fsm = three_contacts(lab, fsm_deleted="keep_in_crm", crm_deleted="delete_in_fsm")
    with lab.step("When the FSM contacts Alda and Cleo are deleted"):
        fsm_delete(t, "Contacts", fsm["Alda"])
        fsm_delete(t, "Contacts", fsm["Cleo"])
        no_failed_notifications(settle(lab, integ))
    with lab.step("Then their CRM partners stay, unchanged, and their links are inactive"):
        expect(emails(crm_list(t, "Contacts")), "CRM contacts").equals(
            ["alda@acme.example", "bert@acme.example", "cleo@acme.example"])
        expect(emails(fsm_list(t, "Contacts")), "FSM contacts").equals(["bert@acme.example"])
        for name in ("Alda", "Cleo"):
            expect(integ.partner_record("Contacts", crm[name])["active"], f"{name}'s link is active").equals(False)
    with lab.step("And they are left out of later syncs: an edit of Bert crosses, a reconciliation runs, "
                  "neither brings them back"):
        fsm_edit(t, "Contacts", fsm["Bert"], {"Mobile": "201"})
        lab.wait_until(lambda: (crm_get(t, "Contacts", crm["Bert"]) or {}).get("Mobile") == "201",
                       timeout=INSTANT, what="the edit of Bert in CRM")
        no_failed_notifications(settle(lab, integ))
        expect(emails(fsm_list(t, "Contacts")), "FSM contacts after the edit of Bert").equals(["bert@acme.example"])
        advance(lab, t, 16 * 60)  # the periodic reconciliation is due every 15 lab minutes
        reconciles = tick_until_run(lab, integ, "reconcile", 1)
        expect([r["status"] for r in reconciles], "the reconciliation runs' status").equals(["succeeded"])
        no_failed_notifications(settle(lab, integ))
        expect(emails(fsm_list(t, "Contacts")), "FSM contacts after the reconciliation").equals(
            ["bert@acme.example"])
        expect(emails(crm_list(t, "Contacts")), "CRM contacts").equals(
            ["alda@acme.example", "bert@acme.example", "cleo@acme.example"])
    with lab.step("When Alda is edited in CRM, the edit brings Alda back to FSM with it, not Cleo"):
        crm_edit(t, "Contacts", crm["Alda"], {"Phone": "42"})
        back = lab.wait_until(lambda: by_email(fsm_list(t, "Contacts")).get("alda@acme.example"),
                              timeout=INSTANT, what="Alda back in FSM after the CRM edit")
        expect(back.get("Phone"), "Alda's Phone in FSM").equals("42")
        no_failed_notifications(settle(lab, integ))
        expect(emails(fsm_list(t, "Contacts")), "FSM contacts").equals(["alda@acme.example", "bert@acme.example"])
        link = integ.partner_record("Contacts", crm["Alda"])
        expect((link["active"], link["fsm"]["id"]), "Alda's link (active, FSM id)").equals((True, back["id"]))
    with lab.step("When a manual sync runs, it brings Cleo back to FSM, once, and no one twice"):
        run = integ.sync_now()
        expect(run["status"], "manual sync status").equals("succeeded")
        no_failed_notifications(settle(lab, integ))
        fsm_now = fsm_list(t, "Contacts")
        expect(emails(fsm_now), "FSM contacts").equals(["alda@acme.example", "bert@acme.example", "cleo@acme.example"])
        cleo = by_email(fsm_now)["cleo@acme.example"]
        link = integ.partner_record("Contacts", crm["Cleo"])
        expect((link["active"], link["fsm"]["id"]), "Cleo's link (active, FSM id)").equals((True, cleo["id"]))
        expect(emails(crm_list(t, "Contacts")), "CRM contacts").equals(
            ["alda@acme.example", "bert@acme.example", "cleo@acme.example"])


@scenario("CR-05-CRM-DELETE-IN-FSM", "A record deleted in CRM with 'Delete in Zoho FSM' chosen: its FSM partner "
          "is deleted", rules=("CR-05",), tags=("sync", "crm"))
def crm_delete_in_fsm(lab):
    with lab.step("Given CRM contacts Alda, Bert and Cleo synced to FSM, CRM deletes set to 'Delete in Zoho FSM'"):
        t, integ, crm, fsm = three_contacts(lab, fsm_deleted="keep_in_crm", crm_deleted="delete_in_fsm")
    with lab.step("When the CRM contact Alda is deleted"):
        crm_delete(t, "Contacts", crm["Alda"])
    with lab.step("Then its FSM partner is deleted, and the other contacts stay on both sides"):
        lab.wait_until(lambda: fsm_get(t, "Contacts", fsm["Alda"]) is None, timeout=INSTANT * 2,
                       what="the FSM partner of the deleted CRM contact deleted")
        no_failed_notifications(settle(lab, integ))
        expect(emails(fsm_list(t, "Contacts")), "FSM contacts").equals(["bert@acme.example", "cleo@acme.example"])
        expect(emails(crm_list(t, "Contacts")), "CRM contacts").equals(["bert@acme.example", "cleo@acme.example"])
        expect(integ.record("Contacts", fsm["Alda"])["active"], "the deleted pair's link is active").equals(False)
    with lab.step("And a manual sync succeeds and brings it back on neither side"):
        run = integ.sync_now()
        expect(run["status"], "manual sync status").equals("succeeded")
        expect(emails(fsm_list(t, "Contacts")), "FSM contacts").equals(["bert@acme.example", "cleo@acme.example"])
        expect(emails(crm_list(t, "Contacts")), "CRM contacts").equals(["bert@acme.example", "cleo@acme.example"])


@scenario("CR-05-CRM-DELETE-KEEP-IN-FSM", "A record deleted in CRM with 'Don't delete in Zoho FSM': the FSM "
          "partner stays, left out until an edit of it brings it back; a manual sync does not",
          rules=("CR-05",), tags=("sync", "crm"))
def crm_delete_keep_in_fsm(lab):
    with lab.step("Given CRM contacts Alda, Bert and Cleo synced to FSM, CRM deletes set to 'Don't delete in "
                  "Zoho FSM'"):
        t, integ, crm, fsm = three_contacts(lab, fsm_deleted="delete_in_crm", crm_deleted="keep_in_fsm")
    with lab.step("When the CRM contacts Alda and Cleo are deleted"):
        crm_delete(t, "Contacts", crm["Alda"])
        crm_delete(t, "Contacts", crm["Cleo"])
        no_failed_notifications(settle(lab, integ))
    with lab.step("Then their FSM partners stay, unchanged, and their links are inactive"):
        expect(emails(fsm_list(t, "Contacts")), "FSM contacts").equals(
            ["alda@acme.example", "bert@acme.example", "cleo@acme.example"])
        expect(emails(crm_list(t, "Contacts")), "CRM contacts").equals(["bert@acme.example"])
        for name in ("Alda", "Cleo"):
            expect(integ.record("Contacts", fsm[name])["active"], f"{name}'s link is active").equals(False)
    with lab.step("And they are left out: an edit of Bert crosses without bringing them back"):
        fsm_edit(t, "Contacts", fsm["Bert"], {"Mobile": "201"})
        lab.wait_until(lambda: (crm_get(t, "Contacts", crm["Bert"]) or {}).get("Mobile") == "201",
                       timeout=INSTANT, what="the edit of Bert in CRM")
        no_failed_notifications(settle(lab, integ))
        expect(emails(crm_list(t, "Contacts")), "CRM contacts").equals(["bert@acme.example"])
    with lab.step("When a manual sync runs, it succeeds and does NOT bring them back"):
        run = integ.sync_now()
        expect(run["status"], "manual sync status").equals("succeeded")
        no_failed_notifications(settle(lab, integ))
        expect(emails(crm_list(t, "Contacts")), "CRM contacts after the manual sync").equals(["bert@acme.example"])
        expect(emails(fsm_list(t, "Contacts")), "FSM contacts").equals(
            ["alda@acme.example", "bert@acme.example", "cleo@acme.example"])
    with lab.step("When Alda is edited in FSM, the edit brings Alda back to CRM with it, not Cleo"):
        fsm_edit(t, "Contacts", fsm["Alda"], {"Mobile": "31"})
        back = lab.wait_until(lambda: by_email(crm_list(t, "Contacts")).get("alda@acme.example"),
                              timeout=INSTANT, what="Alda back in CRM after the FSM edit")
        expect(back.get("Mobile"), "Alda's Mobile in CRM").equals("31")
        no_failed_notifications(settle(lab, integ))
        expect(emails(crm_list(t, "Contacts")), "CRM contacts").equals(["alda@acme.example", "bert@acme.example"])
        link = integ.record("Contacts", fsm["Alda"])
        expect((link["active"], link["partner"]["id"]), "Alda's link (active, CRM id)").equals((True, back["id"]))
        expect(integ.record("Contacts", fsm["Cleo"])["active"], "Cleo's link is active").equals(False)


def _deletion_read_as(p, key: str, value: str) -> None:
    """The preference ``key`` read as ``value`` whatever was chosen."""
    from syncer.crm_sync import engine

    original = engine.Ctx.deletion

    def broken(self, asked):
        return value if asked == key else original(self, asked)

    p.setattr(engine.Ctx, "deletion", broken)


@breaker("CR-05", "CR-05-fsm-delete-in-crm-ignored", "'Delete in Zoho CRM' acts as 'Don't delete': the CRM "
         "partner of a record deleted in FSM stays")
def _(p):
    _deletion_read_as(p, "fsm_deleted", "keep_in_crm")


@breaker("CR-05", "CR-05-fsm-delete-keep-deletes-anyway", "'Don't delete in Zoho CRM' deletes the CRM partner "
         "anyway")
def _(p):
    _deletion_read_as(p, "fsm_deleted", "delete_in_crm")


@breaker("CR-05", "CR-05-crm-delete-in-fsm-ignored", "'Delete in Zoho FSM' acts as 'Don't delete': the FSM "
         "partner of a record deleted in CRM stays")
def _(p):
    _deletion_read_as(p, "crm_deleted", "keep_in_fsm")


@breaker("CR-05", "CR-05-crm-delete-keep-deletes-anyway", "'Don't delete in Zoho FSM' deletes the FSM partner "
         "anyway")
def _(p):
    _deletion_read_as(p, "crm_deleted", "delete_in_fsm")


@breaker("CR-05", "CR-05-fsm-delete-kept-back-at-reconcile", "The periodic reconciliation brings kept CRM records "
         "back like a manual sync")
def _(p):
    from syncer.crm_sync import engine

    original = engine.CrmEngine._full

    def broken(self, ctx, pair, trigger):
        return original(self, ctx, pair, "manual" if trigger == "reconcile" else trigger)

    p.setattr(engine.CrmEngine, "_full", broken)


@breaker("CR-05", "CR-05-fsm-delete-kept-manual-ignored", "A manual sync leaves CRM records kept after an FSM "
         "delete out (treated like a reconciliation)")
def _(p):
    from syncer.crm_sync import engine

    original = engine.CrmEngine._full

    def broken(self, ctx, pair, trigger):
        return original(self, ctx, pair, "reconcile" if trigger == "manual" else trigger)

    p.setattr(engine.CrmEngine, "_full", broken)


def _kept_edits_ignored(p, method: str, lookup: str) -> None:
    """Edit notifications of records whose link is inactive (kept after a delete) are dropped."""
    from syncer.crm_sync import engine

    original = getattr(engine.CrmEngine, method)
    table = engine.BY_CRM if method == "_apply_crm" else engine.BY_FSM

    def broken(self, ctx, payload):
        pair = table.get(str(payload.get("module")))
        if pair is not None and payload.get("operation") != "delete":
            module = pair.crm_module if method == "_apply_crm" else pair.fsm_module
            ids = [i for i in payload.get("ids") or []
                   if (lk := getattr(self.repo, lookup)(ctx.integ.id, module, str(i))) is None or lk.active]
            payload = {**payload, "ids": ids}
        return original(self, ctx, payload)

    p.setattr(engine.CrmEngine, method, broken)


@breaker("CR-05", "CR-05-fsm-delete-kept-edit-ignored", "An edit of a CRM record kept after its FSM delete does "
         "not bring it back")
def _(p):
    _kept_edits_ignored(p, "_apply_crm", "link_by_partner")


@breaker("CR-05", "CR-05-crm-delete-kept-edit-ignored", "An edit of an FSM record kept after its CRM delete does "
         "not bring it back")
def _(p):
    _kept_edits_ignored(p, "_apply_fsm", "link_by_fsm")


@breaker("CR-05", "CR-05-fsm-delete-kept-back-by-any-edit", "An edit notification runs a manual-style pass of its "
         "module: every kept CRM record comes back with any edit")
def _(p):
    from syncer.crm_sync import engine

    original = engine.CrmEngine._apply_crm

    def broken(self, ctx, payload):
        original(self, ctx, payload)
        pair = engine.BY_CRM.get(str(payload.get("module")))
        if pair is not None and payload.get("operation") == "update":
            self._full(ctx, pair, "manual")

    p.setattr(engine.CrmEngine, "_apply_crm", broken)


@breaker("CR-05", "CR-05-crm-delete-kept-back-at-manual-sync", "A manual sync also brings back FSM records kept "
         "after a CRM delete")
def _(p):
    from syncer.crm_sync import engine

    original = engine.CrmEngine._full

    def broken(self, ctx, pair, trigger):
        original(self, ctx, pair, trigger)
        if trigger == "manual":
            kept = [lk for lk in self.repo.list_links(ctx.integ.id, fsm_module=pair.fsm_module, limit=10**7)
                    if not lk.active and lk.inactive_reason == "crm_deleted"]
            found = [f for lk in kept if (f := ctx.fsm.get_record(pair.fsm_module, lk.fsm_id)) is not None]
            self._create_in_crm(ctx, pair, found)

    p.setattr(engine.CrmEngine, "_full", broken)


@breaker("CR-05", "CR-05-crm-delete-kept-back-by-any-edit", "Any FSM edit notification brings back every FSM record "
         "of its module kept after a CRM delete")
def _(p):
    from syncer.crm_sync import engine

    original = engine.CrmEngine._apply_fsm

    def broken(self, ctx, payload):
        original(self, ctx, payload)
        pair = engine.BY_FSM.get(str(payload.get("module")))
        if pair is not None and payload.get("operation") == "update":
            kept = [lk for lk in self.repo.list_links(ctx.integ.id, fsm_module=pair.fsm_module, limit=10**7)
                    if not lk.active and lk.inactive_reason == "crm_deleted"]
            found = [f for lk in kept if (f := ctx.fsm.get_record(pair.fsm_module, lk.fsm_id)) is not None]
            self._create_in_crm(ctx, pair, found)

    p.setattr(engine.CrmEngine, "_apply_fsm", broken)


# == CR-06: PII ============================================================================================
def restrict_crm(lab, t, settings: dict) -> None:
    lab.control.call("PUT", f"/crm/orgs/{t.org('crm')}/data-transfer", settings)


@scenario("CR-06-CRM-RESTRICTED-NORMAL", "A CRM field restricted at the 'normal' level never reaches FSM, at "
          "install or on later edits; with the restriction off it does", rules=("CR-06",), tags=("sync", "crm"))
def crm_restricted_normal(lab):
    t = lab.tenant(products=["fsm", "crm"])
    with lab.step("Given CRM Accounts restricting data transfer at the normal level, with Phone a personal field, "
                  "and an account with a Phone and a Website"):
        restrict_crm(lab, t, {"Accounts": {"level": "normal", "fields": {"Phone": "normal"}}})
        account = crm_create(t, "Accounts", {"Account_Name": "Norm Ltd", "Phone": "111",
                                             "Website": "https://norm.example"})
    with lab.step("When the extension is installed (initial sync)"):
        integ = install(lab, t)
    with lab.step("Then the FSM company has the Website but no Phone"):
        run = initial_run(integ)
        expect(module_counts(run).get("Accounts"), "initial sync: Accounts succeeded/failed").equals((1, 0))
        [company] = fsm_list(t, "Companies")
        expect((company["Company_Name"], company.get("Website")), "FSM company's name and Website").equals(
            ("Norm Ltd", "https://norm.example"))
        expect(company.get("Phone") or None, "FSM company's Phone").equals(None)
        no_failed_notifications(settle(lab, integ))
    with lab.step("When the CRM account's Phone and Description are edited, only the Description reaches FSM"):
        crm_edit(t, "Accounts", account, {"Phone": "222", "Description": "edited in CRM"})
        lab.wait_until(lambda: fsm_get(t, "Companies", company["id"]).get("Description") == "edited in CRM",
                       timeout=INSTANT, what="the Description edit in FSM")
        no_failed_notifications(settle(lab, integ))
        expect(fsm_get(t, "Companies", company["id"]).get("Phone") or None, "FSM company's Phone").equals(None)
        expect(crm_get(t, "Accounts", account)["Phone"], "CRM account's Phone").equals("222")
    with lab.step("When the restriction is switched off and the Phone edited again, the Phone reaches FSM"):
        restrict_crm(lab, t, {"Accounts": {"level": "none"}})
        crm_edit(t, "Accounts", account, {"Phone": "333"})
        lab.wait_until(lambda: fsm_get(t, "Companies", company["id"]).get("Phone") == "333",
                       timeout=INSTANT, what="the Phone edit in FSM once unrestricted")
        no_failed_notifications(settle(lab, integ))


@scenario("CR-06-CRM-RESTRICTED-SENSITIVE", "At the 'sensitive' level only sensitive CRM fields stay out, only in "
          "the restricted module; with the restriction off they cross", rules=("CR-06",), tags=("sync", "crm"))
def crm_restricted_sensitive(lab):
    t = lab.tenant(products=["fsm", "crm"])
    with lab.step("Given CRM Contacts restricting at the sensitive level, with Phone marked sensitive (Mobile and "
                  "Email are normal personal fields), Accounts unrestricted"):
        restrict_crm(lab, t, {"Contacts": {"level": "sensitive", "fields": {"Phone": "sensitive"}}})
        contact = crm_create(t, "Contacts", {"Last_Name": "Sens", "Email": "sens@acme.example", "Phone": "0800",
                                             "Mobile": "0700"})
        crm_create(t, "Accounts", {"Account_Name": "Open Ltd", "Phone": "555"})
    with lab.step("When the extension is installed (initial sync)"):
        integ = install(lab, t)
    with lab.step("Then the FSM contact has Email and Mobile but no Phone, and the company has its Phone"):
        run = initial_run(integ)
        expect(module_counts(run).get("Contacts"), "initial sync: Contacts succeeded/failed").equals((1, 0))
        [person] = fsm_list(t, "Contacts")
        expect((person.get("Email"), person.get("Mobile")), "FSM contact's Email and Mobile").equals(
            ("sens@acme.example", "0700"))
        expect(person.get("Phone") or None, "FSM contact's Phone").equals(None)
        [company] = fsm_list(t, "Companies")
        expect(company.get("Phone"), "FSM company's Phone (Accounts are not restricted)").equals("555")
        no_failed_notifications(settle(lab, integ))
    with lab.step("When the CRM contact's Phone and Mobile are edited, only the Mobile reaches FSM"):
        crm_edit(t, "Contacts", contact, {"Phone": "0900", "Mobile": "0701"})
        lab.wait_until(lambda: fsm_get(t, "Contacts", person["id"]).get("Mobile") == "0701",
                       timeout=INSTANT, what="the Mobile edit in FSM")
        no_failed_notifications(settle(lab, integ))
        expect(fsm_get(t, "Contacts", person["id"]).get("Phone") or None, "FSM contact's Phone").equals(None)
    with lab.step("When the restriction is switched off and the Phone edited again, the Phone reaches FSM"):
        restrict_crm(lab, t, {"Contacts": {"level": "none"}})
        crm_edit(t, "Contacts", contact, {"Phone": "0901"})
        lab.wait_until(lambda: fsm_get(t, "Contacts", person["id"]).get("Phone") == "0901",
                       timeout=INSTANT, what="the Phone edit in FSM once unrestricted")
        no_failed_notifications(settle(lab, integ))


@scenario("CR-06-FSM-PII-OFF", "An FSM PII field never reaches CRM while FSM's 'PII data access using APIs' is off; "
          "with it on, the field crosses", rules=("CR-06",), tags=("sync", "crm"))
def fsm_pii_off(lab):
    t = lab.tenant(products=["fsm", "crm"])
    with lab.step("Given FSM Companies' Phone marked PII, 'PII data access using APIs' off, and a company with a "
                  "Phone and a Website"):
        lab.control.call("PUT", f"/fsm/orgs/{t.org('fsm')}/fields/Companies/Phone", {"pii": True})
        lab.control.call("PUT", f"/fsm/orgs/{t.org('fsm')}/pii-access", {"enabled": False})
        company = fsm_create(t, "Companies", {"Company_Name": "Pii Ltd", "Phone": "123",
                                              "Website": "https://pii.example"})
    with lab.step("When the extension is installed (initial sync)"):
        integ = install(lab, t)
    with lab.step("Then the CRM account has the Website but no Phone"):
        run = initial_run(integ)
        expect(module_counts(run).get("Accounts"), "initial sync: Accounts succeeded/failed").equals((1, 0))
        [account] = crm_list(t, "Accounts", "Account_Name,Phone,Website,Description")
        expect((account["Account_Name"], account.get("Website")), "CRM account's name and Website").equals(
            ("Pii Ltd", "https://pii.example"))
        expect(account.get("Phone") or None, "CRM account's Phone").equals(None)
        no_failed_notifications(settle(lab, integ))
    with lab.step("When the FSM company's Phone and Description are edited, only the Description reaches CRM"):
        fsm_edit(t, "Companies", company, {"Phone": "456", "Description": "edited in FSM"})
        lab.wait_until(lambda: crm_get(t, "Accounts", account["id"]).get("Description") == "edited in FSM",
                       timeout=INSTANT, what="the Description edit in CRM")
        no_failed_notifications(settle(lab, integ))
        expect(crm_get(t, "Accounts", account["id"]).get("Phone") or None, "CRM account's Phone").equals(None)
    with lab.step("When the CRM account's Phone and Description are edited, only the Description reaches FSM"):
        crm_edit(t, "Accounts", account["id"], {"Phone": "999", "Description": "edited in CRM"})
        lab.wait_until(lambda: fsm_get(t, "Companies", company).get("Description") == "edited in CRM",
                       timeout=INSTANT, what="the CRM Description edit in FSM")
        no_failed_notifications(settle(lab, integ))
    with lab.step("When 'PII data access using APIs' is switched on, the FSM Phone is still FSM's own"):
        lab.control.call("PUT", f"/fsm/orgs/{t.org('fsm')}/pii-access", {"enabled": True})
        expect(fsm_get(t, "Companies", company).get("Phone"), "the FSM company's Phone").equals("456")
    with lab.step("And the Phone edited again in FSM now reaches CRM"):
        fsm_edit(t, "Companies", company, {"Phone": "789"})
        lab.wait_until(lambda: crm_get(t, "Accounts", account["id"]).get("Phone") == "789",
                       timeout=INSTANT, what="the Phone edit in CRM once PII access is on")
        no_failed_notifications(settle(lab, integ))


@breaker("CR-06", "CR-06-crm-restriction-ignored", "CRM's 'Restrict Data Transfer to Zoho Apps' is not read: "
         "restricted fields reach FSM")
def _(p):
    from syncer.crm_sync import pii

    p.setattr(pii, "crm_restricted", lambda crm_settings: {})


@breaker("CR-06", "CR-06-sensitive-level-restricts-every-marked-field", "The 'sensitive' level keeps every "
         "personal field in CRM, not only the sensitive ones")
def _(p):
    from syncer.crm_sync import pii

    def broken(crm_settings):
        out = {}
        for module, conf in (crm_settings.get("restrict_data_transfer") or {}).items():
            if isinstance(conf, dict) and conf.get("level", "none") != "none":
                out[module] = frozenset(conf.get("fields") or {})
        return out

    p.setattr(pii, "crm_restricted", broken)


@breaker("CR-06", "CR-06-restriction-not-per-module", "A field restricted in one CRM module is kept out of every "
         "module")
def _(p):
    from syncer.crm_sync import pii

    original = pii.crm_restricted

    def broken(crm_settings):
        found = original(crm_settings)
        every = frozenset().union(*found.values()) if found else frozenset()
        return {m: every for m in ("Accounts", "Contacts", "Products")} if every else {}

    p.setattr(pii, "crm_restricted", broken)


@breaker("CR-06", "CR-06-instant-sync-skips-pii", "Instant syncs (notifications) use the full mapping: PII is "
         "left out at install only")
def _(p):
    from syncer.crm_sync import engine

    original = engine.CrmEngine.context

    def broken(self, integ, *, run_id=None, sync_id=""):
        ctx = original(self, integ, run_id=run_id, sync_id=sync_id)
        if run_id is None:
            ctx.rows = self.mappings(integ)
        return ctx

    p.setattr(engine.CrmEngine, "context", broken)


@breaker("CR-06", "CR-06-settings-read-once", "The PII settings are read once per org and kept: a restriction "
         "switched off is still applied")
def _(p):
    from syncer.crm_sync import pii

    original = pii.excluded
    seen: dict[tuple, object] = {}

    def broken(crm_settings, fsm_settings, fsm_fields):
        key = (crm_settings.get("org_id"), fsm_settings.get("org_id"))
        if key not in seen:
            seen[key] = original(crm_settings, fsm_settings, fsm_fields)
        return seen[key]

    p.setattr(pii, "excluded", broken)


@breaker("CR-06", "CR-06-fsm-pii-ignored", "FSM's 'PII data access using APIs' is not read: FSM PII fields reach "
         "CRM while it is off")
def _(p):
    from syncer.crm_sync import pii

    p.setattr(pii, "fsm_restricted", lambda fsm_settings, fsm_fields: {})


@breaker("CR-06", "CR-06-fsm-pii-switch-inverted", "FSM PII fields are left out while 'PII data access using "
         "APIs' is on, and sync while it is off")
def _(p):
    from syncer.crm_sync import pii

    original = pii.fsm_restricted

    def broken(fsm_settings, fsm_fields):
        flipped = {**fsm_settings, "pii_api_access": fsm_settings.get("pii_api_access", True) is False}
        return original(flipped, fsm_fields)

    p.setattr(pii, "fsm_restricted", broken)


# == CR-09: initial sync, then instant ===================================================================
STARTED = "Initial sync between Zoho FSM and Zoho CRM has started"
COMPLETED = "Initial sync between Zoho FSM and Zoho CRM has completed"


@scenario("CR-09-INITIAL-THEN-INSTANT", "An initial sync at install with mail at its start and end; then each "
          "edit reaches the partner within about a second, by notification, with one write",
          rules=("CR-09",), tags=("sync", "crm"))
def initial_then_instant(lab):
    t = lab.tenant(products=["fsm", "crm"])
    with lab.step("Given a CRM contact Ina and an FSM company First Ltd, before the install"):
        crm_contact = crm_create(t, "Contacts", {"Last_Name": "Ina", "Email": "ina@acme.example", "Phone": "1"})
        fsm_company = fsm_create(t, "Companies", {"Company_Name": "First Ltd"})
    with lab.step("When the extension is installed and Save & Next is done"):
        integ = install(lab, t)
    with lab.step("Then one initial sync ran and succeeded, and each record has its partner"):
        run = initial_run(integ)
        counts = module_counts(run)
        expect((counts.get("Contacts"), counts.get("Accounts")), "initial sync: Contacts, Accounts "
               "succeeded/failed").equals(((1, 0), (1, 0)))
        [fsm_contact] = fsm_list(t, "Contacts")
        expect((fsm_contact["Last_Name"], fsm_contact.get("Phone")), "FSM contact").equals(("Ina", "1"))
        expect([a["Account_Name"] for a in crm_list(t, "Accounts", "Account_Name")], "CRM accounts").equals(
            ["First Ltd"])
        expect(integ.record("Companies", fsm_company)["active"], "First Ltd's link is active").equals(True)
    with lab.step("And mail went out at the initial sync's start and at its end, the end naming its log"):
        mail = sorted(integ.mail(), key=lambda m: (m["sent_at"] or "", m["id"]))
        subjects = [m["subject"] for m in mail]
        expect(subjects.count(STARTED), "start mails").equals(1)
        expect(subjects.count(COMPLETED), "end mails").equals(1)
        expect(subjects.index(STARTED) < subjects.index(COMPLETED), "the start mail before the end mail").is_true()
        expect(mail[subjects.index(COMPLETED)]["body"], "the end mail's body").contains(run["id"])
        expect(mail[subjects.index(COMPLETED)]["to"], "the end mail's recipients").equals([ADMIN])
        no_failed_notifications(settle(lab, integ))
    with lab.step("When the CRM contact's Phone is edited, FSM has it within about a second"):
        mark = journal_mark(lab, t)
        edited = time.monotonic()
        crm_edit(t, "Contacts", crm_contact, {"Phone": "2"})
        lab.wait_until(lambda: fsm_get(t, "Contacts", fsm_contact["id"]).get("Phone") == "2", timeout=INSTANT,
                       interval=0.02, what="the CRM edit in FSM")
        took = time.monotonic() - edited
        no_failed_notifications(settle(lab, integ))
    with lab.step("And it took one write in FSM, none back in CRM, and no run (notifications, not a sync)"):
        expect(len(writes(lab, t, "fsm", mark)), "FSM writes for one CRM edit").equals(1)
        expect(len(writes(lab, t, "crm", mark)), "CRM writes (the edit itself only)").equals(1)
        expect([r["trigger"] for r in integ.runs()], "the runs").equals(["initial"])
        expect(took, "seconds from the CRM edit to FSM").at_most(INSTANT)
    with lab.step("When the FSM contact's Mobile is edited, CRM has it within about a second, with one write"):
        mark = journal_mark(lab, t)
        fsm_edit(t, "Contacts", fsm_contact["id"], {"Mobile": "77"})
        lab.wait_until(lambda: crm_get(t, "Contacts", crm_contact).get("Mobile") == "77", timeout=INSTANT,
                       interval=0.02, what="the FSM edit in CRM")
        no_failed_notifications(settle(lab, integ))
        expect(len(writes(lab, t, "crm", mark)), "CRM writes for one FSM edit").equals(1)
        expect(len(writes(lab, t, "fsm", mark)), "FSM writes (the edit itself only)").equals(1)
    with lab.step("And a company created in FSM is in CRM within about a second, linked"):
        new = fsm_create(t, "Companies", {"Company_Name": "Second Ltd"})
        lab.wait_until(lambda: "Second Ltd" in [a["Account_Name"] for a in crm_list(t, "Accounts", "Account_Name")],
                       timeout=INSTANT, interval=0.02, what="the new FSM company in CRM")
        no_failed_notifications(settle(lab, integ))
        expect(integ.record("Companies", new)["active"], "Second Ltd's link is active").equals(True)
        expect([r["trigger"] for r in integ.runs()], "the runs").equals(["initial"])


def _mail_skipped(p, words: str) -> None:
    from syncer.crm_sync import engine

    original = engine.CrmEngine._mail

    def broken(self, integ, subject, body):
        if words not in subject:
            original(self, integ, subject, body)

    p.setattr(engine.CrmEngine, "_mail", broken)


@breaker("CR-09", "CR-09-no-start-mail", "The initial sync sends no mail at its start")
def _(p):
    _mail_skipped(p, "has started")


@breaker("CR-09", "CR-09-no-end-mail", "The initial sync sends no mail at its end")
def _(p):
    _mail_skipped(p, "has completed")


@breaker("CR-09", "CR-09-no-initial-sync", "Save & Next subscribes the channels but runs no initial sync")
def _(p):
    from syncer.crm_sync import engine

    p.setattr(engine.CrmEngine, "initial_sync", lambda self, integration_id: None)


@breaker("CR-09", "CR-09-crm-notifications-not-applied", "CRM notifications are stored but not applied: CRM edits "
         "wait for the next reconciliation")
def _(p):
    from syncer.crm_sync import engine

    p.setattr(engine.CrmEngine, "_apply_crm", lambda self, ctx, payload: None)


@breaker("CR-09", "CR-09-fsm-notifications-not-applied", "FSM notifications are stored but not applied: FSM edits "
         "wait for the next reconciliation")
def _(p):
    from syncer.crm_sync import engine

    p.setattr(engine.CrmEngine, "_apply_fsm", lambda self, ctx, payload: None)


@breaker("CR-09", "CR-09-echo-written-back", "No echo suppression on the FSM-to-CRM way: the syncer's own FSM write "
         "comes back as a notification and is written to CRM again")
def _(p):
    from syncer.crm_sync import engine

    original_echo, original_update = engine.CrmEngine._is_echo, engine.CrmEngine._update_crm

    def not_echo(self, side, module, record_id, record, affected, mapped):
        return False if side == "fsm" else original_echo(self, side, module, record_id, record, affected, mapped)

    def write_unchecked(self, ctx, pair, link, f, *, only=None, crm_rec=None):
        return original_update(self, ctx, pair, link, f, only=only, crm_rec={"id": link.partner_id})

    p.setattr(engine.CrmEngine, "_is_echo", not_echo)
    p.setattr(engine.CrmEngine, "_update_crm", write_unchecked)


# == CR-12: failures, sync logs ================================================================================
def failures_csv(lab, run: dict, module: str) -> str:
    entry = next((m for m in run["modules"] if m["module"] == module), None)
    expect(entry is not None and bool(entry.get("failure_log")), f"the run's {module} failure log").is_true()
    r = lab.syncer.request("GET", entry["failure_log"])
    expect(r.status_code, f"download {module} failures CSV: HTTP status").equals(200)
    return r.text


def timeline(t, module: str, rid: str) -> list[dict]:
    r = t.fsm().get(f"/{module}/{rid}/__timeline")
    return r.json().get("__timeline") or [] if r.status_code == 200 else []


def mentions(entries: list[dict], text: str) -> bool:
    return any(text in str(e) for e in entries)


MANDATORY = "Unit Price is mandatory"


@scenario("CR-12-FAILURES-AND-DAILY-LOGS", "Failures show in the FSM timeline and the sync history: a log for the "
          "initial sync, then one every 24 hours, each with its failures CSV", rules=("CR-12",),
          tags=("sync", "crm"), exclusive=True)
def failures_and_daily_logs(lab):
    t = lab.tenant(products=["fsm", "crm"])
    with lab.step("Given CRM Products Pump and Valve with prices, and Priceless without one"):
        pump = crm_create(t, "Products", {"Product_Name": "Pump", "Type": "Goods", "Unit_Price": 10})
        valve = crm_create(t, "Products", {"Product_Name": "Valve", "Type": "Goods", "Unit_Price": 4})
        crm_create(t, "Products", {"Product_Name": "Priceless", "Type": "Goods"})
    with lab.step("When the extension is installed (initial sync)"):
        integ = install(lab, t)
    with lab.step("Then the initial sync's log counts 2 synced and 1 failed Products, its CSV giving the reason"):
        run = initial_run(integ)
        expect(module_counts(run).get("Products"), "initial sync: Products succeeded/failed").equals((2, 1))
        csv_text = failures_csv(lab, run, "Products")
        expect(csv_text, "initial failures CSV").contains("Priceless")
        expect(csv_text, "initial failures CSV").contains(MANDATORY)
        parts = {p["Name"]: p["id"] for p in fsm_list(t, SP)}
        expect(sorted(parts), "FSM parts").equals(["Pump", "Valve"])
        no_failed_notifications(settle(lab, integ))
    with lab.step("When on day 1 Pump's Unit Price is cleared in CRM, the FSM part's timeline shows the failure"):
        crm_edit(t, "Products", pump, {"Unit_Price": None})
        lab.wait_until(lambda: mentions(timeline(t, SP, parts["Pump"]), MANDATORY), timeout=INSTANT * 2,
                       what="the failure in the FSM part's timeline")
        settle(lab, integ)
        expect(fsm_get(t, SP, parts["Pump"])["Unit_Price"], "the FSM part's Unit Price").equals(10)
        expect(mentions(timeline(t, SP, parts["Valve"]), MANDATORY), "a failure in Valve's timeline").is_false()
    with lab.step("And after 24 lab hours a sync log covers day 1, with Pump's failure in its CSV"):
        advance(lab, t, 25 * 3600)
        daily = tick_until_run(lab, integ, "daily", 1)
        expect(len(daily), "daily sync logs after 25 hours").equals(1)
        expect(daily[0]["status"], "day 1 log status").equals("succeeded")
        expect(module_counts(daily[0]).get("Products", (0, 0))[1], "day 1 log: failed Products").at_least(1)
        day1 = failures_csv(lab, daily[0], "Products")
        expect(day1, "day 1 failures CSV").contains("Pump")
        expect(day1, "day 1 failures CSV").contains(MANDATORY)
        settle(lab, integ)
    with lab.step("When on day 2 Pump gets a price again (synced) and Valve loses its price (fails)"):
        crm_edit(t, "Products", pump, {"Unit_Price": 12})
        lab.wait_until(lambda: fsm_get(t, SP, parts["Pump"])["Unit_Price"] == 12, timeout=INSTANT,
                       what="Pump's new price in FSM")
        crm_edit(t, "Products", valve, {"Unit_Price": None})
        lab.wait_until(lambda: mentions(timeline(t, SP, parts["Valve"]), MANDATORY), timeout=INSTANT * 2,
                       what="Valve's failure in its FSM timeline")
        settle(lab, integ)
    with lab.step("Then 24 lab hours later a second log covers day 2 only: Pump synced, Valve failed"):
        advance(lab, t, 24 * 3600)
        daily = tick_until_run(lab, integ, "daily", 2)
        expect(len(daily), "daily sync logs after 49 hours").equals(2)
        day2 = max(daily, key=lambda r: r["started_at"])
        expect(day2["status"], "day 2 log status").equals("succeeded")
        ok, failed = module_counts(day2).get("Products", (0, 0))
        expect((ok >= 1, failed), "day 2 log: Products synced at least once, failed").equals((True, 1))
        csv2 = failures_csv(lab, day2, "Products")
        expect(csv2, "day 2 failures CSV").contains("Valve")
        expect(csv2, "day 2 failures CSV").lacks("Pump")


@breaker("CR-12", "CR-12-no-timeline", "A failed record is not written into the FSM record's timeline")
def _(p):
    from syncer.crm_sync import engine

    def broken(self, ctx, pair, ok, *, crm_id, fsm_id, name="", reason="", action, direction):
        record_id = (crm_id if direction == "crm_to_fsm" else fsm_id) or crm_id or fsm_id or ""
        ctx.results.append({"module": pair.crm_module, "record_id": record_id, "crm_id": crm_id, "fsm_id": fsm_id,
                            "name": name, "ok": ok, "reason": reason, "action": action, "direction": direction})

    p.setattr(engine.CrmEngine, "_outcome", broken)


@breaker("CR-12", "CR-12-initial-sync-logged-as-reconcile", "The initial sync is logged as a reconciliation: the "
         "sync history has no initial-sync log")
def _(p):
    from syncer.crm_sync import engine

    original = engine.CrmEngine.run

    def broken(self, integration_id, *, trigger, **kw):
        return original(self, integration_id, trigger="reconcile" if trigger == "initial" else trigger, **kw)

    p.setattr(engine.CrmEngine, "run", broken)


@breaker("CR-12", "CR-12-logs-every-48-hours", "The periodic sync log comes every 48 hours, not 24")
def _(p):
    from datetime import timedelta

    from syncer.crm_sync import engine

    p.setattr(engine, "DAILY", timedelta(hours=48))


@breaker("CR-12", "CR-12-daily-log-without-failures", "The 24-hourly log counts failed instant syncs as synced: "
         "no failures, no CSV")
def _(p):
    from syncer.crm_sync import engine

    original = engine.CrmEngine._daily_run

    def broken(self, integ, start, end):
        inbox = self.inbox

        class Counted:
            def applied_between(self, integration_id, start, end):
                for item in inbox.applied_between(integration_id, start, end):
                    results = [{**r, "ok": True} for r in (item.result or {}).get("results") or []]
                    item = type("Item", (), {"result": {"results": results}})()
                    yield item

        self.inbox = Counted()
        try:
            return original(self, integ, start, end)
        finally:
            self.inbox = inbox

    p.setattr(engine.CrmEngine, "_daily_run", broken)


@breaker("CR-12", "CR-12-daily-log-repeats-earlier-days", "Each 24-hourly log counts everything since the install, "
         "not its own 24 hours")
def _(p):
    from syncer.crm_sync import engine

    original = engine.CrmEngine._daily_run

    def broken(self, integ, start, end):
        return original(self, integ, None, end)

    p.setattr(engine.CrmEngine, "_daily_run", broken)


# == CR-13: links to the partner =================================================================================
@scenario("CR-13-PARTNER-LINKS", "A synced record links to its partner from either side: the partner's id and URL",
          rules=("CR-13",), tags=("sync", "crm"))
def partner_links(lab):
    t = lab.tenant(products=["fsm", "crm"])
    with lab.step("Given a CRM account Link Ltd and an FSM contact Lina, synced at install"):
        account = crm_create(t, "Accounts", {"Account_Name": "Link Ltd"})
        lina = fsm_create(t, "Contacts", {"Last_Name": "Lina", "Email": "lina@acme.example"})
        integ = install(lab, t)
        run = initial_run(integ)
        expect((module_counts(run).get("Accounts"), module_counts(run).get("Contacts")),
               "initial sync: Accounts, Contacts succeeded/failed").equals(((1, 0), (1, 0)))
        [company] = fsm_list(t, "Companies")
        [crm_lina] = crm_list(t, "Contacts")
        expect((company["Company_Name"], crm_lina["Email"]), "the partners' names").equals(
            ("Link Ltd", "lina@acme.example"))
        no_failed_notifications(settle(lab, integ))
    crm_org, fsm_org = t.org("crm"), t.org("fsm")
    pairs = [("Companies", company["id"], "Accounts", account), ("Contacts", lina, "Contacts", crm_lina["id"])]
    with lab.step("Then from FSM each record names its CRM partner, with the partner's CRM URL"):
        for fsm_module, fsm_id, crm_module, crm_id in pairs:
            rec = integ.record(fsm_module, fsm_id)
            partner = rec["partner"] or {}
            expect((partner.get("product"), partner.get("module"), partner.get("id")),
                   f"FSM {fsm_module} {fsm_id}'s partner").equals(("crm", crm_module, crm_id))
            url = str(partner.get("url"))
            expect(url.startswith("https://crm.zoho.") and crm_org in url and url.endswith(f"/{crm_id}")
                   and f"/{crm_module}/" in url, f"the CRM URL {url} names org {crm_org}, {crm_module} and "
                   f"record {crm_id}").is_true()
            expect(rec["active"], "the link is active").equals(True)
    with lab.step("And from CRM each record names its FSM partner, with the partner's FSM URL"):
        for fsm_module, fsm_id, crm_module, crm_id in pairs:
            rec = integ.partner_record(crm_module, crm_id)
            expect((rec["fsm"]["module"], rec["fsm"]["id"]), f"CRM {crm_module} {crm_id}'s FSM partner").equals(
                (fsm_module, fsm_id))
            url = str(rec["url"])
            expect(url.startswith("https://fsm.zoho.") and fsm_org in url and url.endswith(f"/{fsm_id}")
                   and f"/{fsm_module}/" in url, f"the FSM URL {url} names org {fsm_org}, {fsm_module} and "
                   f"record {fsm_id}").is_true()
    with lab.step("And a product created in CRM after the install links both ways once synced"):
        product = crm_create(t, "Products", {"Product_Name": "Link Part", "Type": "Service", "Unit_Price": 5})
        part = lab.wait_until(lambda: by_name(fsm_list(t, SP), "Name").get("Link Part"), timeout=INSTANT,
                              what="the CRM product in FSM")
        no_failed_notifications(settle(lab, integ))
        expect(integ.record(SP, part["id"])["partner"]["id"], "the FSM part's CRM partner").equals(product)
        expect(integ.partner_record("Products", product)["fsm"]["id"], "the CRM product's FSM partner").equals(
            part["id"])


@breaker("CR-13", "CR-13-crm-url-names-fsm-org", "The CRM URL of a partner is built with the FSM org id")
def _(p):
    from syncer.crm_sync import engine

    p.setattr(engine, "crm_web_url", lambda integ, module, record_id:
              f"https://crm.zoho.com/crm/org{integ.fsm_org_id}/tab/{module}/{record_id}")


@breaker("CR-13", "CR-13-fsm-url-without-record", "The FSM URL of a partner points at its module, not the record")
def _(p):
    from syncer.crm_sync import engine

    p.setattr(engine, "fsm_web_url", lambda integ, module, record_id:
              f"https://fsm.zoho.com/fsm/org{integ.fsm_org_id}/{module}")


@breaker("CR-13", "CR-13-partner-lookup-by-fsm-id", "From CRM, the partner is looked up as if the CRM id were an "
         "FSM id")
def _(p):
    from syncer.crm_sync import engine

    def broken(self, integration_id, crm_module, crm_id):
        pair = engine.BY_CRM.get(crm_module)
        link = self.repo.link_by_fsm(integration_id, pair.fsm_module if pair else crm_module, crm_id)
        if link is None:
            raise engine.NotFound(f"CRM {crm_module} record {crm_id} has not been synced with Zoho FSM")
        view = self.record_view(self.repo.get_integration(integration_id), link)
        view["url"] = view["fsm"]["url"]
        return view

    p.setattr(engine.CrmEngine, "partner_record", broken)


# == CR-14: switch-over to Books/Invoice ===========================================================================
@scenario("CR-14-SWITCH-OVER-TO-BOOKS", "The CRM org integrated with Books/Invoice: the direct sync stops, disabled "
          "with the reason, with the mail", rules=("CR-14",), tags=("sync", "crm"))
def switch_over_to_books(lab):
    t = lab.tenant(products=["fsm", "crm"])
    with lab.step("Given a CRM contact Swit synced at install, and an edit of it crossing to FSM"):
        contact = crm_create(t, "Contacts", {"Last_Name": "Swit", "Email": "swit@acme.example", "Phone": "1"})
        integ = install(lab, t)
        initial_run(integ)
        [person] = fsm_list(t, "Contacts")
        no_failed_notifications(settle(lab, integ))
        crm_edit(t, "Contacts", contact, {"Phone": "2"})
        lab.wait_until(lambda: fsm_get(t, "Contacts", person["id"]).get("Phone") == "2", timeout=INSTANT,
                       what="the CRM edit in FSM while the direct sync is on")
        no_failed_notifications(settle(lab, integ))
        channels = lab.control.get(f"/crm/orgs/{t.org('crm')}/channels")["channels"]
        expect(len(channels), "the CRM org's notification channels").equals(1)
    with lab.step("When the CRM org becomes integrated with Zoho Books and the scheduler ticks"):
        lab.control.call("PUT", f"/crm/orgs/{t.org('crm')}/books-integration", {"linked_org_id": "700100"})
        lab.syncer.tick()
    with lab.step("Then the integration is disabled with the reason, and the admin got the mail with the exact "
                  "subject, once"):
        state = integ.refresh()
        expect(state["state"], "the integration's state").equals("disabled")
        expect(state.get("disabled_reason") or "", "the reason it is disabled").contains("Books")
        mail = [m for m in integ.mail() if m["subject"] == SWITCH_OFF]
        expect(len(mail), f"mails with the subject {SWITCH_OFF!r}").equals(1)
        expect(mail[0]["to"], "the mail's recipients").equals([ADMIN])
        expect(lab.control.get(f"/crm/orgs/{t.org('crm')}/channels")["channels"],
               "the CRM org's notification channels").equals([])
    with lab.step("And edits on either side no longer cross, and a manual sync is refused"):
        crm_edit(t, "Contacts", contact, {"Phone": "3"})
        fsm_edit(t, "Contacts", person["id"], {"Mobile": "99"})
        time.sleep(1.5)
        lab.syncer.tick()
        expect(fsm_get(t, "Contacts", person["id"]).get("Phone"), "the FSM contact's Phone").equals("2")
        expect(crm_get(t, "Contacts", contact).get("Mobile") or None, "the CRM contact's Mobile").equals(None)
        try:
            integ.sync_now()
            refused = None
        except SyncerApiError as exc:
            refused = exc.status
        expect(refused, "the manual sync's refusal (HTTP status)").one_of((409, 422))
        expect(integ.refresh()["state"], "the integration's state").equals("disabled")


@breaker("CR-14", "CR-14-switch-over-not-checked", "The scheduler never checks whether the CRM org became "
         "integrated with Books/Invoice")
def _(p):
    from syncer.crm_sync import install

    p.setattr(install, "books_refusal", lambda crm_state: None)


@breaker("CR-14", "CR-14-subject-not-exact", "The switch-over mail's subject is worded differently")
def _(p):
    from syncer.crm_sync import engine

    p.setattr(engine, "SWITCH_OFF_SUBJECT", "Two-way sync between Zoho CRM and Zoho FSM has been disabled")


@breaker("CR-14", "CR-14-no-mail", "The direct sync is switched off without telling the admin")
def _(p):
    from syncer.crm_sync import engine

    def broken(self, integ, reason, subject, body):
        self.repo.disable_integration(integ.id, reason)
        self.drop_channels(self.repo.get_integration(integ.id))

    p.setattr(engine.CrmEngine, "switch_off", broken)


@breaker("CR-14", "CR-14-channels-kept", "The switch-over disables the integration but keeps its notification "
         "channels")
def _(p):
    from syncer.crm_sync import engine

    p.setattr(engine.CrmEngine, "drop_channels", lambda self, integ: None)


@breaker("CR-14", "CR-14-disabled-without-reason", "The switch-over disables the integration without saying why")
def _(p):
    from syncer.crm_sync import engine

    original = engine.CrmEngine.switch_off

    def broken(self, integ, reason, subject, body):
        original(self, integ, "", subject, body)

    p.setattr(engine.CrmEngine, "switch_off", broken)
