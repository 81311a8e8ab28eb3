"""CR — the FSM <-> CRM direct sync's install and initial sync: editions and Books (CR-01), who may use
the extension (CR-02), views and mappings (CR-03), duplicates (CR-04), the three module pairs
(CR-10) and Product types (CR-11); each clause with the breakers that prove its scenario fails when
the clause breaks. Through the syncer's and the fakes' HTTP APIs only; every scenario checks the
run's status and the records on both sides. Source: ../shared/seeds/fsm-crm-direct-sync.txt."""

from __future__ import annotations

import dataclasses
import time

from scenarios.catalog.tw_sync import refused
from scenarios.harness import expect, scenario
from scenarios.harness.breakers import breaker

ADMIN_MAIL = "admin@crm.example"
DENIED = "extension_access_denied"


# -- helpers ---------------------------------------------------------------------------------------------
def crm_tenant(lab, **editions):
    """A tenant with FSM and CRM orgs (Standard unless ``editions`` say otherwise)."""
    return lab.tenant(products=["fsm", "crm"], **({"editions": editions} if editions else {}))


def install(lab, t, **fields):
    return lab.syncer.create_crm_integration(t, notify_email=ADMIN_MAIL, **fields)


def crm_integrations(lab, t):
    return [i for i in lab.syncer.integrations() if i.get("kind") == "crm" and i["fsm_org_id"] == t.org("fsm")]


def crm_create(t, module, **data):
    r = t.crm().post(f"/{module}", json={"data": [data]})
    expect(r.status_code, f"create CRM {module} {data}: HTTP status").equals(201)
    return r.json()["data"][0]["details"]["id"]


def crm_get(t, module, rid):
    r = t.crm().get(f"/{module}/{rid}")
    return r.json()["data"][0] if r.status_code == 200 else None


def crm_list(t, module, fields):
    r = t.crm().get(f"/{module}", params={"fields": fields, "per_page": 200})
    return r.json()["data"] if r.status_code == 200 else []


def fsm_create(t, module, **data):
    r = t.fsm().post(f"/{module}", json={"data": [data]})
    expect(r.status_code, f"create FSM {module} {data}: HTTP status").equals(201)
    return r.json()["data"][module][0]["id"]


def fsm_get(t, module, rid):
    r = t.fsm().get(f"/{module}/{rid}")
    return r.json()["data"][0] if r.status_code == 200 else None


def fsm_list(t, module):
    r = t.fsm().get(f"/{module}")
    return r.json().get("data") or [] if r.status_code == 200 else []  # 204: none


def names(records, field):
    return sorted(str(r.get(field)) for r in records)


def lookup_id(value):
    return str(value.get("id")) if isinstance(value, dict) and value.get("id") else None


def initial_run(integ):
    """The initial sync's run (``enable_crm`` waits for it): the only run, succeeded."""
    runs = integ.runs()
    expect([r["trigger"] for r in runs], "runs' triggers").equals(["initial"])
    expect(runs[0]["status"], "initial run's status").equals("succeeded")
    return runs[0]


def stats(run):
    return {m["module"]: (m["succeeded"], m["failed"]) for m in run.get("modules") or []}


def partner_of(lab, integ, fsm_module, fsm_id):
    """The CRM id linked to an FSM record (None when not synced)."""
    r = lab.syncer.request("GET", f"/api/v1/integrations/{integ.id}/records/{fsm_module}/{fsm_id}")
    return r.json()["partner"]["id"] if r.status_code == 200 else None


def fsm_partner_of(lab, integ, crm_module, crm_id):
    """The FSM id linked to a CRM record (None when not synced)."""
    r = lab.syncer.request("GET", f"/api/v1/integrations/{integ.id}/partner-records/{crm_module}/{crm_id}")
    return r.json()["fsm"]["id"] if r.status_code == 200 else None


def settle(lab, integ, *, quiet: float = 0.8, timeout: float = 15.0):
    """Every notification the syncer received applied, and none new for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    seen, since = None, time.monotonic()
    while time.monotonic() < deadline:
        rows = integ.notifications()
        busy = any(n["state"] in ("pending", "claimed") for n in rows)
        if busy or len(rows) != seen:
            seen, since = (None if busy else len(rows)), time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.05)
    raise AssertionError("the syncer's notifications did not settle")


def fsm_named(t, module, field, value):
    return [r for r in fsm_list(t, module) if r.get(field) == value]


# == CR-01: editions and Books/Invoice ==================================================================

@scenario("CR-01-FREE-FSM-REFUSED", "Install is refused on a Free FSM, naming FSM; Standard installs",
          rules=("CR-01",), tags=("sync", "crm", "fsm"))
def free_fsm_refused(lab):
    with lab.step("Given a Free FSM org and a Standard CRM org"):
        t = crm_tenant(lab, fsm="free")
    with lab.step("Then the install is refused: 422 edition_not_supported naming Zoho FSM and its edition"):
        err = refused(lambda: install(lab, t))
        expect(err.status, "HTTP status").equals(422)
        expect(err.code, "error code").equals("edition_not_supported")
        expect(err.message, "message").contains("Zoho FSM is on the Free edition")
        expect(err.message, "message").lacks("Zoho CRM is on")
        expect(crm_integrations(lab, t), "CRM integrations of the FSM org").equals([])
    with lab.step("When the FSM org is on Standard, the same install is made"):
        t.set_org("fsm", edition="standard")
        expect(install(lab, t).data["state"], "state").equals("created")


@scenario("CR-01-FREE-CRM-REFUSED", "Install is refused on a Free CRM, naming CRM; Standard installs",
          rules=("CR-01",), tags=("sync", "crm"))
def free_crm_refused(lab):
    with lab.step("Given a Standard FSM org and a Free CRM org"):
        t = crm_tenant(lab, crm="free")
    with lab.step("Then the install is refused: 422 edition_not_supported naming Zoho CRM and its edition"):
        err = refused(lambda: install(lab, t))
        expect(err.status, "HTTP status").equals(422)
        expect(err.code, "error code").equals("edition_not_supported")
        expect(err.message, "message").contains("Zoho CRM is on the Free edition")
        expect(err.message, "message").lacks("Zoho FSM is on")
        expect(crm_integrations(lab, t), "CRM integrations of the FSM org").equals([])
    with lab.step("When the CRM org is on Standard, the same install is made"):
        t.set_org("crm", edition="standard")
        expect(install(lab, t).data["state"], "state").equals("created")


@scenario("CR-01-ABOVE-STANDARD", "Editions above Standard install and sync (FSM Professional/Premium, CRM "
          "Enterprise/Ultimate)", rules=("CR-01",), tags=("sync", "crm"))
def above_standard(lab):
    with lab.step("Given FSM Premium with CRM Ultimate: the install is made"):
        t = crm_tenant(lab, fsm="premium", crm="ultimate")
        expect(install(lab, t).data["state"], "state").equals("created")
    with lab.step("Given FSM Professional with CRM Enterprise and a CRM contact"):
        t = crm_tenant(lab, fsm="professional", crm="enterprise")
        crm_id = crm_create(t, "Contacts", Last_Name="Pro", Email="pro@acme.example")
    with lab.step("When installed and enabled, the initial sync brings the contact to FSM"):
        integ = install(lab, t)
        expect(integ.enable_crm()["state"], "state").equals("enabled")
        initial_run(integ)
        fsm_id = fsm_partner_of(lab, integ, "Contacts", crm_id)
        expect(fsm_id is not None, "the CRM contact is linked to an FSM contact").is_true()
        expect((fsm_get(t, "Contacts", fsm_id) or {}).get("Email"), "FSM contact's email").equals("pro@acme.example")


@scenario("CR-01-CRM-WITH-BOOKS-REFUSED", "Install is refused while the CRM org is integrated with Books or "
          "Invoice; once unlinked it installs", rules=("CR-01",), tags=("sync", "crm", "books", "invoice"))
def crm_with_books_refused(lab):
    t = crm_tenant(lab)
    books_link = f"/crm/orgs/{t.org('crm')}/books-integration"
    with lab.step("Given the CRM org integrated with Zoho Books org 900100"):
        lab.control.call("PUT", books_link, {"linked_org_id": "900100", "product": "books"})
    with lab.step("Then the install is refused: 422 crm_integrated_with_books naming Books and its org"):
        err = refused(lambda: install(lab, t))
        expect((err.status, err.code), "HTTP status and code").equals((422, "crm_integrated_with_books"))
        expect(err.message, "message").contains("Zoho Books")
        expect(err.message, "message").contains("900100")
    with lab.step("Given it is integrated with Zoho Invoice instead: refused, naming Invoice"):
        lab.control.call("PUT", books_link, {"linked_org_id": "900200", "product": "invoice"})
        err = refused(lambda: install(lab, t))
        expect((err.status, err.code), "HTTP status and code").equals((422, "crm_integrated_with_books"))
        expect(err.message, "message").contains("Zoho Invoice")
        expect(crm_integrations(lab, t), "CRM integrations of the FSM org").equals([])
    with lab.step("When the Books/Invoice integration is off, the install is made"):
        lab.control.call("PUT", books_link, {"enabled": False, "linked_org_id": None})
        expect(install(lab, t).data["state"], "state").equals("created")


@scenario("CR-01-FREE-FSM-STOPS", "An FSM org that goes Free later stops the sync, with the reason",
          rules=("CR-01",), tags=("sync", "crm", "fsm"))
def free_fsm_stops(lab):
    t = crm_tenant(lab)
    with lab.step("Given an enabled direct sync that synced a CRM contact"):
        first = crm_create(t, "Contacts", Last_Name="Before", Email="before@acme.example")
        integ = install(lab, t)
        integ.enable_crm()
        initial_run(integ)
        expect(fsm_partner_of(lab, integ, "Contacts", first) is not None, "the contact synced").is_true()
    with lab.step("When the FSM org goes to the Free edition and the scheduler checks"):
        t.set_org("fsm", edition="free")
        lab.syncer.tick()
    with lab.step("Then the sync is disabled with the reason (FSM on Free) and the admin is told why"):
        state = integ.refresh()
        expect(state["state"], "state").equals("disabled")
        expect(state.get("disabled_reason") or "", "disabled reason").contains("Zoho FSM is on the Free edition")
        bodies = [m.get("body") or "" for m in integ.mail() if ADMIN_MAIL in m.get("to", [])]
        expect(any("Zoho FSM is on the Free edition" in b for b in bodies), "a mail to the admin with the reason") \
            .is_true()
    with lab.step("And nothing syncs any more: a new CRM contact stays out of FSM; Sync Now is refused"):
        crm_create(t, "Contacts", Last_Name="After", Email="after@acme.example")
        time.sleep(1.0)
        expect(names(fsm_list(t, "Contacts"), "Email"), "FSM contacts' emails").equals(["before@acme.example"])
        expect(refused(lambda: integ.sync_now()).status, "Sync Now: HTTP status").at_least(400)


@breaker("CR-01", "CR-01-free-fsm-installs", "FSM's Free edition counted as Standard or above")
def _(p):
    from syncer.crm_sync import install as crm_install
    p.setattr(crm_install, "FSM_EDITIONS_OK", (*crm_install.FSM_EDITIONS_OK, "free"))


@breaker("CR-01", "CR-01-free-crm-installs", "CRM's Free edition counted as Standard or above")
def _(p):
    from syncer.crm_sync import install as crm_install
    p.setattr(crm_install, "CRM_EDITIONS_OK", (*crm_install.CRM_EDITIONS_OK, "free"))


@breaker("CR-01", "CR-01-only-standard-accepted", "Only the Standard edition passes: editions above it are refused")
def _(p):
    from syncer.crm_sync import install as crm_install
    p.setattr(crm_install, "FSM_EDITIONS_OK", ("standard",))
    p.setattr(crm_install, "CRM_EDITIONS_OK", ("standard",))


@breaker("CR-01", "CR-01-refusal-names-crm-for-fsm", "The FSM edition's refusal names Zoho CRM (copy-paste of the "
         "CRM check)")
def _(p):
    from syncer.crm_sync import install as crm_install

    def install_refusal(fsm_settings, crm_settings):
        return (crm_install.edition_refusal("CRM", fsm_settings.get("edition"), crm_install.FSM_EDITIONS_OK)
                or crm_install.edition_refusal("CRM", crm_settings.get("edition"), crm_install.CRM_EDITIONS_OK)
                or crm_install.books_refusal(crm_settings))
    p.setattr(crm_install, "install_refusal", install_refusal)


@breaker("CR-01", "CR-01-books-linked-crm-installs", "A CRM org integrated with Books/Invoice is not checked")
def _(p):
    from syncer.crm_sync import install as crm_install
    p.setattr(crm_install, "books_refusal", lambda crm_settings: None)


@breaker("CR-01", "CR-01-free-fsm-keeps-syncing", "The scheduler's check no longer looks at the FSM edition")
def _(p):
    import types

    from syncer.crm_sync import engine
    from syncer.crm_sync import install as crm_install
    proxy = types.SimpleNamespace(**{k: getattr(crm_install, k) for k in crm_install.__all__})
    proxy.edition_refusal = lambda *_a, **_k: None
    p.setattr(engine, "install", proxy)


@breaker("CR-01", "CR-01-stop-without-reason", "A Free FSM disables the sync but the reason is lost")
def _(p):
    from syncer.crm_sync.engine import CrmEngine
    original = CrmEngine.switch_off

    def switch_off(self, integ, reason, subject, body):
        return original(self, integ, "disabled", subject, "The direct sync between Zoho FSM and Zoho CRM has stopped.")
    p.setattr(CrmEngine, "switch_off", switch_off)


# == CR-02: who may use the extension ===================================================================

USERS = [{"email": "rep@crm.example", "profile": "Standard"},
         {"email": "lead@crm.example", "profile": "Sales Lead"},
         {"email": "support@crm.example", "profile": "Support"},
         {"email": "boss@crm.example", "profile": "Administrator"}]
STRANGER = "stranger@elsewhere.example"  # not a user of the CRM org


def access_setup(lab, access):
    """An enabled sync installed with ``access``, with one synced contact: (tenant, integration,
    FSM contact id, CRM contact id)."""
    t = crm_tenant(lab)
    t.set_org("crm", settings={"users": USERS})
    crm_id = crm_create(t, "Contacts", Last_Name="Linked", Email="linked@acme.example")
    integ = install(lab, t, access=access)
    expect(integ.data.get("access", {}).get("mode"), "access mode").equals(access["mode"])
    integ.enable_crm()
    initial_run(integ)
    fsm_id = fsm_partner_of(lab, integ, "Contacts", crm_id)
    expect(fsm_id is not None, "the CRM contact synced").is_true()
    return t, integ, fsm_id, crm_id


def actions(lab, integ, fsm_id, crm_id, user):
    """Each extension action as ``user``: name -> response."""
    base = f"/api/v1/integrations/{integ.id}"
    h = {"X-Zlab-Crm-User": user}
    s = lab.syncer
    return {
        "sync": s.request("POST", f"{base}/sync", params={"wait": "true"}, headers=h),
        "record": s.request("GET", f"{base}/records/Contacts/{fsm_id}", headers=h),
        "partner-record": s.request("GET", f"{base}/partner-records/Contacts/{crm_id}", headers=h),
        "settings": s.request("PATCH", f"{base}/settings", json={"name": f"renamed by {user}"}, headers=h),
    }


def expect_denied(lab, integ, fsm_id, crm_id, user):
    runs_before = len(integ.runs())
    for name, r in actions(lab, integ, fsm_id, crm_id, user).items():
        expect(r.status_code, f"{user}'s {name}: HTTP status").equals(403)
        expect(r.json().get("code"), f"{user}'s {name}: code").equals(DENIED)
    expect(len(integ.runs()), f"runs after {user}'s refused Sync Now").equals(runs_before)
    expect(integ.refresh()["name"], f"name after {user}'s refused settings").differs_from(f"renamed by {user}")


def expect_served(lab, integ, fsm_id, crm_id, user):
    got = actions(lab, integ, fsm_id, crm_id, user)
    for name, r in got.items():
        expect(r.status_code, f"{user}'s {name}: HTTP status").equals(200)
    expect(got["sync"].json()["status"], f"{user}'s Sync Now: run status").equals("succeeded")
    expect(got["record"].json()["partner"]["id"], f"{user}'s record: CRM partner").equals(crm_id)
    expect(got["partner-record"].json()["fsm"]["id"], f"{user}'s partner record: FSM partner").equals(fsm_id)
    expect(integ.refresh()["name"], f"name after {user}'s settings").equals(f"renamed by {user}")


@scenario("CR-02-ADMINS-ONLY", "Installed for admins only: Administrator-profile users are served, others get "
          "403 extension_access_denied", rules=("CR-02",), tags=("sync", "crm"))
def admins_only(lab):
    with lab.step("Given a sync installed for admins only, with users of several profiles"):
        t, integ, fsm_id, crm_id = access_setup(lab, {"mode": "admins"})
    with lab.step("Then a Standard-profile user and a stranger are refused every action, which does nothing"):
        expect_denied(lab, integ, fsm_id, crm_id, "rep@crm.example")
        expect_denied(lab, integ, fsm_id, crm_id, "support@crm.example")
        expect_denied(lab, integ, fsm_id, crm_id, STRANGER)
    with lab.step("And Administrator-profile users are served (the org's admin and another one)"):
        expect_served(lab, integ, fsm_id, crm_id, "boss@crm.example")
        expect_served(lab, integ, fsm_id, crm_id, t.email)


@scenario("CR-02-ALL-USERS", "Installed for all users: every user of the CRM org is served, a stranger is not",
          rules=("CR-02",), tags=("sync", "crm"))
def all_users(lab):
    with lab.step("Given a sync installed for all users"):
        t, integ, fsm_id, crm_id = access_setup(lab, {"mode": "all"})
    with lab.step("Then users of any profile are served"):
        for user in ("rep@crm.example", "support@crm.example", "boss@crm.example"):
            expect_served(lab, integ, fsm_id, crm_id, user)
    with lab.step("And someone who is no user of the CRM org is refused"):
        expect_denied(lab, integ, fsm_id, crm_id, STRANGER)


@scenario("CR-02-CHOSEN-PROFILES", "Installed for chosen profiles: users of those profiles are served, others get "
          "403 extension_access_denied", rules=("CR-02",), tags=("sync", "crm"))
def chosen_profiles(lab):
    with lab.step("Given a sync installed for the profiles Sales Lead and Support"):
        t, integ, fsm_id, crm_id = access_setup(lab, {"mode": "profiles", "profiles": ["Sales Lead", "Support"]})
    with lab.step("Then a user of each chosen profile is served"):
        expect_served(lab, integ, fsm_id, crm_id, "lead@crm.example")
        expect_served(lab, integ, fsm_id, crm_id, "support@crm.example")
    with lab.step("And a Standard-profile user and a stranger are refused"):
        expect_denied(lab, integ, fsm_id, crm_id, "rep@crm.example")
        expect_denied(lab, integ, fsm_id, crm_id, STRANGER)


def _access_rule(p, rule):
    from syncer.crm_sync import install as crm_install
    original = crm_install.access_allows

    def access_allows(access, profile):
        verdict = rule(access, profile)
        return original(access, profile) if verdict is None else verdict
    p.setattr(crm_install, "access_allows", access_allows)


@breaker("CR-02", "CR-02-admins-only-lets-everyone-in", "'Admins only' lets every user of the org in")
def _(p):
    _access_rule(p, lambda a, prof: True if a.get("mode", "admins") == "admins" and prof else None)


@breaker("CR-02", "CR-02-all-users-admins-only", "'All users' serves only the Administrator profile")
def _(p):
    _access_rule(p, lambda a, prof: prof == "Administrator" if a.get("mode") == "all" else None)


@breaker("CR-02", "CR-02-all-users-lets-strangers-in", "'All users' serves anyone, even no user of the CRM org")
def _(p):
    _access_rule(p, lambda a, prof: True if a.get("mode") == "all" else None)


@breaker("CR-02", "CR-02-profiles-let-everyone-in", "'Choose profiles' serves users of any profile")
def _(p):
    _access_rule(p, lambda a, prof: prof is not None if a.get("mode") == "profiles" else None)


@breaker("CR-02", "CR-02-profiles-first-only", "'Choose profiles' serves only the first chosen profile")
def _(p):
    _access_rule(p, lambda a, prof: prof == (a.get("profiles") or [None])[0] if a.get("mode") == "profiles" else None)


@breaker("CR-02", "CR-02-wrong-refusal-code", "Users outside are refused with 401 'forbidden', not 403 "
         "extension_access_denied")
def _(p):
    from syncer.crm_sync.engine import CrmEngine, CrmError
    original = CrmEngine.check_access

    def check_access(self, integ, user_email):
        try:
            original(self, integ, user_email)
        except CrmError as exc:
            raise CrmError("forbidden", str(exc), status=401) from None
    p.setattr(CrmEngine, "check_access", check_access)


# == CR-03: views and mappings ==========================================================================

def crm_contact_emails(t):
    return names(crm_list(t, "Contacts", "Last_Name,Email"), "Email")


@scenario("CR-03-CONTACTS-VIEW", "The Contacts view chooses which CRM contacts sync: inside synced (initial and "
          "instant), outside left alone; FSM contacts still reach CRM", rules=("CR-03",), tags=("sync", "crm"))
def contacts_view(lab):
    t = crm_tenant(lab)
    with lab.step("Given CRM contacts from Chat (inside the view) and a Partner (outside), and an FSM contact"):
        crm_create(t, "Contacts", Last_Name="Inside", Email="inside@acme.example", Lead_Source="Chat")
        outside = crm_create(t, "Contacts", Last_Name="Outside", Email="outside@acme.example", Lead_Source="Partner")
        fsm_create(t, "Contacts", Last_Name="Fsmonly", Email="fsmonly@acme.example")
    with lab.step("When the sync is enabled with the Contacts view (Lead_Source:equals:Chat)"):
        integ = install(lab, t)
        integ.enable_crm(views={"Contacts": "(Lead_Source:equals:Chat)"})
        run = initial_run(integ)
        expect(stats(run).get("Contacts"), "Contacts (succeeded, failed)").equals((2, 0))
    with lab.step("Then FSM has the inside contact and its own, not the outside one; CRM keeps all three"):
        expect(names(fsm_list(t, "Contacts"), "Email"), "FSM contacts").equals(
            ["fsmonly@acme.example", "inside@acme.example"])
        expect(crm_contact_emails(t), "CRM contacts").equals(
            ["fsmonly@acme.example", "inside@acme.example", "outside@acme.example"])
        expect(fsm_partner_of(lab, integ, "Contacts", outside), "the outside contact's FSM partner").equals(None)
    with lab.step("When a CRM contact is added inside the view and one outside, and the outside one is edited"):
        crm_create(t, "Contacts", Last_Name="Later Out", Email="later-out@acme.example", Lead_Source="Partner")
        crm_create(t, "Contacts", Last_Name="Later In", Email="later-in@acme.example", Lead_Source="Chat")
        t.crm().put(f"/Contacts/{outside}", json={"data": [{"Phone": "555-0101"}]})
        lab.wait_until(lambda: fsm_named(t, "Contacts", "Email", "later-in@acme.example"), timeout=15,
                       what="the contact added inside the view in FSM")
        settle(lab, integ)
    with lab.step("Then only the inside one reached FSM"):
        expect(names(fsm_list(t, "Contacts"), "Email"), "FSM contacts").equals(
            ["fsmonly@acme.example", "inside@acme.example", "later-in@acme.example"])


@scenario("CR-03-ACCOUNTS-VIEW", "The Accounts view chooses which CRM accounts sync to FSM Companies: inside synced "
          "(initial and instant), outside left alone", rules=("CR-03",), tags=("sync", "crm"))
def accounts_view(lab):
    t = crm_tenant(lab)
    with lab.step("Given CRM accounts of type Customer (inside the view) and Prospect (outside), and an FSM company"):
        crm_create(t, "Accounts", Account_Name="Inside Ltd", Account_Type="Customer")
        outside = crm_create(t, "Accounts", Account_Name="Outside Ltd", Account_Type="Prospect")
        fsm_create(t, "Companies", Company_Name="Fsmonly Ltd")
    with lab.step("When the sync is enabled with the Accounts view (Account_Type:equals:Customer)"):
        integ = install(lab, t)
        integ.enable_crm(views={"Accounts": "(Account_Type:equals:Customer)"})
        run = initial_run(integ)
        expect(stats(run).get("Accounts"), "Accounts (succeeded, failed)").equals((2, 0))
    with lab.step("Then FSM has the inside account and its own; CRM keeps all three"):
        expect(names(fsm_list(t, "Companies"), "Company_Name"), "FSM companies").equals(["Fsmonly Ltd", "Inside Ltd"])
        expect(names(crm_list(t, "Accounts", "Account_Name"), "Account_Name"), "CRM accounts").equals(
            ["Fsmonly Ltd", "Inside Ltd", "Outside Ltd"])
        expect(fsm_partner_of(lab, integ, "Accounts", outside), "the outside account's FSM partner").equals(None)
    with lab.step("When a Prospect and a Customer account are added in CRM"):
        crm_create(t, "Accounts", Account_Name="Later Prospect", Account_Type="Prospect")
        crm_create(t, "Accounts", Account_Name="Later Customer", Account_Type="Customer")
        lab.wait_until(lambda: fsm_named(t, "Companies", "Company_Name", "Later Customer"), timeout=15,
                       what="the account added inside the view in FSM")
        settle(lab, integ)
    with lab.step("Then only the Customer reached FSM"):
        expect(names(fsm_list(t, "Companies"), "Company_Name"), "FSM companies").equals(
            ["Fsmonly Ltd", "Inside Ltd", "Later Customer"])


CUSTOM_MAPPINGS = {
    "contacts": [{"fsm_field": "Last_Name", "crm_field": "Last_Name"}, {"fsm_field": "Email", "crm_field": "Email"},
                 {"fsm_field": "Description", "crm_field": "Title"}],
    "companies": [{"fsm_field": "Company_Name", "crm_field": "Account_Name"},
                  {"fsm_field": "Fax", "crm_field": "Phone"}],
}


@scenario("CR-03-MAPPINGS", "Custom mappings of Contacts and Companies decide the synced fields; an invalid "
          "mapping is refused naming the field", rules=("CR-03",), tags=("sync", "crm"))
def mappings(lab):
    t = crm_tenant(lab)
    with lab.step("Given a CRM contact (Title Plumber, Phone 111), a CRM account (Phone 555-0100) and an FSM "
                  "contact (Description Electrician)"):
        crm_create(t, "Contacts", Last_Name="Crmperson", Email="crm@acme.example", Title="Plumber", Phone="111")
        crm_create(t, "Accounts", Account_Name="Acme", Phone="555-0100")
        fsm_create(t, "Contacts", Last_Name="Fsmperson", Email="fsm@acme.example", Description="Electrician")
        integ = install(lab, t)
    with lab.step("Then a Contacts mapping to CRM field 'Emial' is refused, naming it"):
        bad = {"contacts": [{"fsm_field": "Last_Name", "crm_field": "Last_Name"},
                            {"fsm_field": "Email", "crm_field": "Emial"}]}
        err = refused(lambda: integ.enable_crm(mappings=bad))
        expect(err.status, "HTTP status").equals(400)
        expect(err.message, "message").contains("mappings.contacts[1].crm_field")
        expect(err.message, "message").contains("Emial")
    with lab.step("And a Companies mapping from FSM field 'Company_Nmae' is refused, naming it"):
        bad = {"companies": [{"fsm_field": "Company_Nmae", "crm_field": "Account_Name"}]}
        err = refused(lambda: integ.enable_crm(mappings=bad))
        expect(err.status, "HTTP status").equals(400)
        expect(err.message, "message").contains("mappings.companies[0].fsm_field")
        expect(err.message, "message").contains("Company_Nmae")
        expect(integ.refresh()["state"], "state after the refusals").equals("created")
        expect(fsm_list(t, "Companies"), "FSM companies after the refusals").equals([])
    with lab.step("When enabled with Title -> Description (contacts) and Phone -> Fax (companies)"):
        integ.enable_crm(mappings=CUSTOM_MAPPINGS)
        initial_run(integ)
    with lab.step("Then FSM got the mapped fields only, and CRM the FSM contact's Description as Title"):
        [crm_person] = fsm_named(t, "Contacts", "Email", "crm@acme.example")
        expect(crm_person.get("Description"), "FSM Crmperson's Description").equals("Plumber")
        expect(crm_person.get("Phone"), "FSM Crmperson's Phone (not mapped)").equals(None)
        [acme] = fsm_list(t, "Companies")
        expect((acme.get("Fax"), acme.get("Phone")), "FSM Acme's (Fax, Phone)").equals(("555-0100", None))
        crm_people = {c["Email"]: c for c in crm_list(t, "Contacts", "Last_Name,Email,Title,Description")}
        expect(crm_people.get("fsm@acme.example", {}).get("Title"), "CRM Fsmperson's Title").equals("Electrician")


def _view_rule(p, rule):
    from syncer.crm_sync.engine import CrmEngine
    original = CrmEngine._in_view

    def _in_view(self, ctx, pair, crm_id):
        verdict = rule(ctx, pair)
        return original(self, ctx, pair, crm_id) if verdict is None else verdict
    p.setattr(CrmEngine, "_in_view", _in_view)


@breaker("CR-03", "CR-03-contacts-view-ignored", "The Contacts view is not applied: every CRM contact syncs")
def _(p):
    _view_rule(p, lambda ctx, pair: True if pair.crm_module == "Contacts" else None)


@breaker("CR-03", "CR-03-accounts-view-ignored", "The Accounts view is not applied: every CRM account syncs")
def _(p):
    _view_rule(p, lambda ctx, pair: True if pair.crm_module == "Accounts" else None)


@breaker("CR-03", "CR-03-instant-sync-ignores-view", "Only runs apply the view; instant syncs bring any new record")
def _(p):
    _view_rule(p, lambda ctx, pair: True if ctx.run_id is None else None)


@breaker("CR-03", "CR-03-view-leaves-out-everything", "A module with a view syncs none of its CRM records")
def _(p):
    _view_rule(p, lambda ctx, pair: False if (ctx.settings.get("views") or {}).get(pair.crm_module) else None)


@breaker("CR-03", "CR-03-mapping-fields-unchecked", "A mapping's fields are not checked against the modules' fields")
def _(p):
    from syncer.crm_sync import engine, mapping
    p.setattr(engine, "validate_mapping", lambda key, rows, _fsm, _crm: mapping.check_mapping_rows(key, rows))


@breaker("CR-03", "CR-03-mapping-refusal-unnamed", "An invalid mapping is refused without naming the field")
def _(p):
    from syncer.crm_sync import engine, mapping
    original = mapping.validate_mapping

    def validate_mapping(*args):
        try:
            return original(*args)
        except mapping.InvalidMapping:
            raise mapping.InvalidMapping("the field mapping is invalid") from None
    p.setattr(engine, "validate_mapping", validate_mapping)


@breaker("CR-03", "CR-03-custom-mapping-ignored", "The saved mappings are ignored: the default ones are used")
def _(p):
    from syncer.crm_sync.engine import CrmEngine
    from syncer.crm_sync.mapping import DEFAULT_MAPPINGS, ORDER
    p.setattr(CrmEngine, "mappings", lambda self, integ: {k: list(DEFAULT_MAPPINGS[k]) for k in ORDER})


# == CR-04: duplicates at the initial sync ==============================================================

@scenario("CR-04-CLONE", "Clone: a contact with the same email on both sides is replicated each way, none merged; "
          "an account named like one in CRM is replicated into FSM and refused by CRM's unique Account Name",
          rules=("CR-04",), tags=("sync", "crm"))
def clone(lab):
    t = crm_tenant(lab)
    with lab.step("Given contact pat@acme.example and account Acme in CRM and in FSM, with different values"):
        crm_pat = crm_create(t, "Contacts", Last_Name="Crmside", Email="pat@acme.example", Phone="111")
        fsm_pat = fsm_create(t, "Contacts", Last_Name="Fsmside", Email="pat@acme.example", Mobile="999")
        crm_acme = crm_create(t, "Accounts", Account_Name="Acme", Phone="111")
        fsm_acme = fsm_create(t, "Companies", Company_Name="Acme", Phone="222")
    with lab.step("When the sync is enabled with Clone"):
        integ = install(lab, t)
        expect(integ.enable_crm(duplicate_policy="clone")["duplicate_policy"], "duplicate policy").equals("clone")
        run = initial_run(integ)
        expect(stats(run), "per module (succeeded, failed)").equals({"Accounts": (1, 1), "Contacts": (2, 0)})
    with lab.step("Then each side has both contacts, each unchanged, linked to its own copy"):
        fsm_people = sorted((c["Last_Name"], c.get("Phone"), c.get("Mobile")) for c in fsm_list(t, "Contacts"))
        expect(fsm_people, "FSM contacts (Last_Name, Phone, Mobile)").equals(
            [("Crmside", "111", None), ("Fsmside", None, "999")])
        crm_people = sorted((c["Last_Name"], c.get("Phone"), c.get("Mobile"))
                            for c in crm_list(t, "Contacts", "Last_Name,Email,Phone,Mobile"))
        expect(crm_people, "CRM contacts (Last_Name, Phone, Mobile)").equals(
            [("Crmside", "111", None), ("Fsmside", None, "999")])
        expect(partner_of(lab, integ, "Contacts", fsm_pat), "FSM pat's partner").differs_from(crm_pat)
        expect(fsm_partner_of(lab, integ, "Contacts", crm_pat), "CRM pat's partner").differs_from(fsm_pat)
    with lab.step("And FSM has both Acme companies, each with its own phone; CRM keeps its Acme unmerged and "
                  "refused the copy (Account Name is unique in CRM), which the failures CSV says"):
        expect(sorted(c.get("Phone") for c in fsm_list(t, "Companies") if c["Company_Name"] == "Acme"),
               "FSM Acme phones").equals(["111", "222"])
        expect([a.get("Phone") for a in crm_list(t, "Accounts", "Account_Name,Phone") if a["Account_Name"] == "Acme"],
               "CRM Acme phones").equals(["111"])
        expect(partner_of(lab, integ, "Companies", fsm_acme), "FSM Acme's partner").equals(None)
        expect(fsm_partner_of(lab, integ, "Accounts", crm_acme), "CRM Acme's partner").differs_from(fsm_acme)
        csv_text = lab.syncer.failures_csv(run["id"], "Accounts")
        expect(csv_text, "Accounts failures CSV").contains("Acme")
        expect(csv_text, "Accounts failures CSV").contains("DUPLICATE_DATA")


@scenario("CR-04-OVERWRITE-CONTACTS", "Overwrite matches contacts on Email: the CRM value wins where both have one, "
          "the FSM value fills the rest, on both sides; other contacts are copied", rules=("CR-04",),
          tags=("sync", "crm"))
def overwrite_contacts(lab):
    t = crm_tenant(lab)
    with lab.step("Given pat@acme.example in CRM (Crmside, Phone 111, First_Name Pat) and in FSM (Fsmside, Phone 222, "
                  "Mobile 999, Description), and two 'Same' contacts with different emails"):
        crm_pat = crm_create(t, "Contacts", Last_Name="Crmside", First_Name="Pat", Email="pat@acme.example",
                             Phone="111")
        fsm_pat = fsm_create(t, "Contacts", Last_Name="Fsmside", Email="pat@acme.example", Phone="222", Mobile="999",
                             Description="from FSM")
        crm_create(t, "Contacts", Last_Name="Same", Email="same-crm@acme.example")
        fsm_create(t, "Contacts", Last_Name="Same", Email="same-fsm@acme.example")
    with lab.step("When the sync is enabled with Overwrite"):
        integ = install(lab, t)
        expect(integ.enable_crm(duplicate_policy="overwrite")["duplicate_policy"], "duplicate policy") \
            .equals("overwrite")
        run = initial_run(integ)
        expect(stats(run).get("Contacts"), "Contacts (succeeded, failed)").equals((3, 0))
    with lab.step("Then pat is one record a side, linked, holding the merged values"):
        expect(partner_of(lab, integ, "Contacts", fsm_pat), "FSM pat's CRM partner").equals(crm_pat)
        fsm = fsm_get(t, "Contacts", fsm_pat)
        crm = crm_get(t, "Contacts", crm_pat)
        for side, rec in (("FSM", fsm), ("CRM", crm)):
            got = tuple(rec.get(k) for k in ("Last_Name", "First_Name", "Phone", "Mobile", "Description"))
            expect(got, f"{side} pat (Last_Name, First_Name, Phone, Mobile, Description)").equals(
                ("Crmside", "Pat", "111", "999", "from FSM"))
    with lab.step("And the contacts with other emails are copied across, not merged"):
        expect(names(fsm_list(t, "Contacts"), "Email"), "FSM contacts").equals(
            ["pat@acme.example", "same-crm@acme.example", "same-fsm@acme.example"])
        expect(crm_contact_emails(t), "CRM contacts").equals(
            ["pat@acme.example", "same-crm@acme.example", "same-fsm@acme.example"])


@scenario("CR-04-OVERWRITE-ACCOUNTS", "Overwrite matches CRM accounts to FSM companies on the name: the CRM value "
          "wins where both have one, the FSM value fills the rest, on both sides", rules=("CR-04",),
          tags=("sync", "crm"))
def overwrite_accounts(lab):
    t = crm_tenant(lab)
    with lab.step("Given Acme in CRM (Phone 111, Fax 333) and in FSM (Phone 222, Website), and Globex in CRM only"):
        crm_acme = crm_create(t, "Accounts", Account_Name="Acme", Phone="111", Fax="333")
        fsm_acme = fsm_create(t, "Companies", Company_Name="Acme", Phone="222", Website="https://fsm.example")
        crm_create(t, "Accounts", Account_Name="Globex")
    with lab.step("When the sync is enabled with Overwrite"):
        integ = install(lab, t)
        integ.enable_crm(duplicate_policy="overwrite")
        run = initial_run(integ)
        expect(stats(run).get("Accounts"), "Accounts (succeeded, failed)").equals((2, 0))
    with lab.step("Then Acme is one record a side, linked, with Phone 111, Fax 333 and the FSM website"):
        expect(partner_of(lab, integ, "Companies", fsm_acme), "FSM Acme's CRM partner").equals(crm_acme)
        fsm = fsm_get(t, "Companies", fsm_acme)
        crm = crm_get(t, "Accounts", crm_acme)
        expect((fsm.get("Phone"), fsm.get("Fax"), fsm.get("Website")), "FSM Acme (Phone, Fax, Website)").equals(
            ("111", "333", "https://fsm.example"))
        expect((crm.get("Phone"), crm.get("Fax"), crm.get("Website")), "CRM Acme (Phone, Fax, Website)").equals(
            ("111", "333", "https://fsm.example"))
        expect(names(fsm_list(t, "Companies"), "Company_Name"), "FSM companies").equals(["Acme", "Globex"])
        expect(names(crm_list(t, "Accounts", "Account_Name"), "Account_Name"), "CRM accounts").equals(
            ["Acme", "Globex"])


@breaker("CR-04", "CR-04-clone-merges", "Clone is handled as Overwrite: duplicates get merged")
def _(p):
    from syncer.crm_sync.engine import CrmEngine
    original = CrmEngine._full

    def _full(self, ctx, pair, trigger):
        if ctx.integ.duplicate_policy == "clone":
            ctx.integ.duplicate_policy = "overwrite"
        return original(self, ctx, pair, trigger)
    p.setattr(CrmEngine, "_full", _full)


@breaker("CR-04", "CR-04-overwrite-clones", "Overwrite matches nothing: duplicates are cloned")
def _(p):
    from syncer.crm_sync.engine import CrmEngine
    p.setattr(CrmEngine, "_overwrite_duplicates", lambda self, ctx, pair, new_crm, new_fsm: (new_crm, new_fsm))


def _merge_rule(p, rule):
    from syncer.crm_sync import engine
    original = engine.overwrite

    def overwrite(pair, rows, crm_record, fsm_record, to_fsm_resolver, to_crm_resolver):
        return rule(original, pair, list(rows), crm_record, fsm_record, to_fsm_resolver, to_crm_resolver)
    p.setattr(engine, "overwrite", overwrite)


@breaker("CR-04", "CR-04-fsm-value-wins", "When both sides have a value, the FSM value wins")
def _(p):
    def rule(original, pair, rows, c, f, rf, rc):
        # the merge with the sides swapped: rows reversed, FSM record in the CRM record's place
        swapped = [{"fsm_field": r["crm_field"], "crm_field": r["fsm_field"], "direction": r["direction"]} for r in rows]
        to_crm, to_fsm = original(pair, swapped, f, c, rc, rf)
        return to_fsm, to_crm
    _merge_rule(p, rule)


@breaker("CR-04", "CR-04-fsm-only-values-dropped", "Values only FSM has are not copied to the CRM record")
def _(p):
    _merge_rule(p, lambda original, *a: (original(*a)[0], {}))


@breaker("CR-04", "CR-04-merge-not-written-to-fsm", "The merged values are written to CRM only, FSM keeps its own")
def _(p):
    _merge_rule(p, lambda original, *a: ({}, original(*a)[1]))


def _match_on(p, key, crm_field, fsm_field):
    from syncer.crm_sync import mapping
    p.setitem(mapping.PAIRS, key, dataclasses.replace(mapping.PAIRS[key], crm_match_field=crm_field,
                                                      fsm_match_field=fsm_field))


@breaker("CR-04", "CR-04-accounts-not-matched", "Overwrite does not match Accounts to Companies by name")
def _(p):
    _match_on(p, "companies", None, None)


@breaker("CR-04", "CR-04-contacts-matched-on-last-name", "Overwrite matches contacts on Last_Name, not Email")
def _(p):
    _match_on(p, "contacts", "Last_Name", "Last_Name")


# == CR-10: the three module pairs, both ways ===========================================================

@scenario("CR-10-INITIAL-BOTH-WAYS", "The initial sync copies Accounts to Companies, Contacts to Contacts and "
          "Products to Services and Parts, and each back, with the contacts' company", rules=("CR-10",),
          tags=("sync", "crm"))
def initial_both_ways(lab):
    t = crm_tenant(lab)
    with lab.step("Given in CRM: account 'Crm Co', its contact, a Service product; in FSM: company 'Fsm Co', its "
                  "contact, a Part"):
        crm_co = crm_create(t, "Accounts", Account_Name="Crm Co", Phone="111")
        crm_person = crm_create(t, "Contacts", Last_Name="Crmperson", Email="crm@acme.example",
                                Account_Name={"id": crm_co})
        crm_prod = crm_create(t, "Products", Product_Name="Crm Visit", Type="Service", Unit_Price=80)
        fsm_co = fsm_create(t, "Companies", Company_Name="Fsm Co", Phone="222")
        fsm_person = fsm_create(t, "Contacts", Last_Name="Fsmperson", Email="fsm@acme.example", Company=fsm_co)
        fsm_part = fsm_create(t, "Service_And_Parts", Name="Fsm Gasket", Type="Part", Unit_Price=5)
    with lab.step("When the sync is installed and enabled"):
        integ = install(lab, t)
        integ.enable_crm()
        run = initial_run(integ)
        expect(stats(run), "per module (succeeded, failed)").equals(
            {"Accounts": (2, 0), "Contacts": (2, 0), "Products": (2, 0)})
    with lab.step("Then every record is on both sides and linked to its partner"):
        for fsm_module, crm_module, fsm_id, crm_id in (("Companies", "Accounts", fsm_co, crm_co),
                                                       ("Contacts", "Contacts", fsm_person, crm_person),
                                                       ("Service_And_Parts", "Products", fsm_part, crm_prod)):
            expect(partner_of(lab, integ, fsm_module, fsm_id) is not None,
                   f"FSM {fsm_module} {fsm_id} has a CRM partner").is_true()
            expect(fsm_partner_of(lab, integ, crm_module, crm_id) is not None,
                   f"CRM {crm_module} {crm_id} has an FSM partner").is_true()
        expect(names(fsm_list(t, "Companies"), "Company_Name"), "FSM companies").equals(["Crm Co", "Fsm Co"])
        expect(names(crm_list(t, "Accounts", "Account_Name"), "Account_Name"), "CRM accounts").equals(
            ["Crm Co", "Fsm Co"])
        expect(names(fsm_list(t, "Contacts"), "Email"), "FSM contacts").equals(["crm@acme.example", "fsm@acme.example"])
        expect(crm_contact_emails(t), "CRM contacts").equals(["crm@acme.example", "fsm@acme.example"])
        fsm_items = {s["Name"]: (s["Type"], s["Unit_Price"]) for s in fsm_list(t, "Service_And_Parts")}
        expect(fsm_items, "FSM services and parts (Type, Unit_Price)").equals(
            {"Crm Visit": ("Service", 80), "Fsm Gasket": ("Part", 5)})
        crm_items = {r["Product_Name"]: (r.get("Type"), r.get("Unit_Price"))
                     for r in crm_list(t, "Products", "Product_Name,Type,Unit_Price")}
        expect(crm_items, "CRM products (Type, Unit_Price)").equals(
            {"Crm Visit": ("Service", 80), "Fsm Gasket": ("Goods", 5)})
    with lab.step("And each copied contact points at its company's copy"):
        [copied] = fsm_named(t, "Contacts", "Email", "crm@acme.example")
        expect(lookup_id(copied.get("Company")), "FSM Crmperson's company").equals(
            fsm_partner_of(lab, integ, "Accounts", crm_co))
        [back] = [c for c in crm_list(t, "Contacts", "Last_Name,Email,Account_Name")
                  if c["Email"] == "fsm@acme.example"]
        expect(lookup_id(back.get("Account_Name")), "CRM Fsmperson's account").equals(
            partner_of(lab, integ, "Companies", fsm_co))


def _skip_creates(p, method, key):
    from syncer.crm_sync.engine import CrmEngine
    original = getattr(CrmEngine, method)

    def skipping(self, ctx, pair, records):
        return None if pair.key == key else original(self, ctx, pair, records)
    p.setattr(CrmEngine, method, skipping)


for _key, _what in (("companies", "Accounts/Companies"), ("contacts", "Contacts"),
                    ("products", "Products/Services and Parts")):
    breaker("CR-10", f"CR-10-{_key}-not-copied-to-fsm", f"{_what}: CRM records are not created in FSM")(
        lambda p, _k=_key: _skip_creates(p, "_create_in_fsm", _k))
    breaker("CR-10", f"CR-10-{_key}-not-copied-to-crm", f"{_what}: FSM records are not created in CRM")(
        lambda p, _k=_key: _skip_creates(p, "_create_in_crm", _k))


@breaker("CR-10", "CR-10-contact-company-lost", "A copied contact's company lookup is left out on both sides")
def _(p):
    from syncer.crm_sync.engine import CrmEngine
    p.setattr(CrmEngine, "_resolver_to_fsm", lambda self, ctx: (lambda module, rid: None))
    p.setattr(CrmEngine, "_resolver_to_crm", lambda self, ctx: (lambda module, rid: None))


# == CR-11: Product Type and Unit Price =================================================================

@scenario("CR-11-PRODUCT-TYPES", "Product Type Service -> FSM Service, Goods -> Part, none -> Part; a Product "
          "without Unit Price fails with that reason in the failures CSV, the others sync", rules=("CR-11",),
          tags=("sync", "crm"))
def product_types(lab):
    t = crm_tenant(lab)
    with lab.step("Given CRM products: Boiler visit (Service, 80), Valve (Goods, 12), Gasket (no Type, 3) and "
                  "Priceless (Goods, no Unit Price)"):
        ids = {"Boiler visit": crm_create(t, "Products", Product_Name="Boiler visit", Type="Service", Unit_Price=80),
               "Valve": crm_create(t, "Products", Product_Name="Valve", Type="Goods", Unit_Price=12),
               "Gasket": crm_create(t, "Products", Product_Name="Gasket", Unit_Price=3),
               "Priceless": crm_create(t, "Products", Product_Name="Priceless", Type="Goods")}
    with lab.step("When the sync is installed and enabled"):
        integ = install(lab, t)
        integ.enable_crm()
        run = initial_run(integ)
        expect(stats(run).get("Products"), "Products (succeeded, failed)").equals((3, 1))
    with lab.step("Then FSM has Boiler visit as a Service, Valve and Gasket as Parts, each linked; no Priceless"):
        got = {s["Name"]: (s["Type"], s["Unit_Price"]) for s in fsm_list(t, "Service_And_Parts")}
        expect(got, "FSM services and parts (Type, Unit_Price)").equals(
            {"Boiler visit": ("Service", 80), "Valve": ("Part", 12), "Gasket": ("Part", 3)})
        for name in ("Boiler visit", "Valve", "Gasket"):
            expect(fsm_partner_of(lab, integ, "Products", ids[name]) is not None, f"{name} linked").is_true()
        expect(fsm_partner_of(lab, integ, "Products", ids["Priceless"]), "Priceless's FSM partner").equals(None)
        expect(names(crm_list(t, "Products", "Product_Name"), "Product_Name"), "CRM products").equals(
            ["Boiler visit", "Gasket", "Priceless", "Valve"])
    with lab.step("And the run's Products failures CSV names Priceless and the missing Unit Price"):
        csv_text = lab.syncer.failures_csv(run["id"], "Products")
        rows = [line for line in csv_text.splitlines() if "Priceless" in line]
        expect(len(rows), "CSV rows naming Priceless").equals(1)
        expect(rows[0], "Priceless's CSV row").contains("Unit Price is mandatory")
        expect(csv_text, "failures CSV").lacks("Valve")


@breaker("CR-11", "CR-11-service-becomes-part", "A Service product is created as a Part")
def _(p):
    from syncer.crm_sync import mapping
    p.setitem(mapping.CRM_TYPE_TO_FSM, "Service", "Part")


@breaker("CR-11", "CR-11-goods-becomes-service", "A Goods product is created as a Service")
def _(p):
    from syncer.crm_sync import mapping
    p.setitem(mapping.CRM_TYPE_TO_FSM, "Goods", "Service")


@breaker("CR-11", "CR-11-no-type-becomes-service", "A product without Type is taken as a Service, not Goods")
def _(p):
    from syncer.crm_sync import mapping
    p.setattr(mapping, "DEFAULT_CRM_TYPE", "Service")


def _outcome_rule(p, rule):
    from syncer.crm_sync.engine import CrmEngine
    original = CrmEngine._outcome

    def _outcome(self, ctx, pair, ok, **kw):
        kw = rule(ok, kw)
        if kw is not None:
            original(self, ctx, pair, ok, **kw)
    p.setattr(CrmEngine, "_outcome", _outcome)


@breaker("CR-11", "CR-11-no-price-failure-unlogged", "A product without Unit Price is skipped without a failure")
def _(p):
    _outcome_rule(p, lambda ok, kw: None if not ok and "Unit Price" in kw.get("reason", "") else kw)


@breaker("CR-11", "CR-11-failure-reason-lost", "Failures are logged without their reason")
def _(p):
    _outcome_rule(p, lambda ok, kw: kw if ok else {**kw, "reason": "could not sync the record"})


@breaker("CR-11", "CR-11-one-priceless-fails-all", "A product without Unit Price fails the whole batch of products")
def _(p):
    from syncer.crm_sync.engine import CrmEngine
    from syncer.crm_sync.mapping import empty
    original = CrmEngine._create_in_fsm

    def _create_in_fsm(self, ctx, pair, crm_records):
        records = list(crm_records)
        if pair.key == "products" and any(empty(c.get("Unit_Price")) for c in records):
            for c in records:
                self._outcome(ctx, pair, False, crm_id=str(c["id"]), fsm_id=None, name=c.get("Product_Name") or "",
                              reason="Unit Price is mandatory in Zoho FSM Services and Parts", action="create",
                              direction="crm_to_fsm")
            return None
        return original(self, ctx, pair, records)
    p.setattr(CrmEngine, "_create_in_fsm", _create_in_fsm)
