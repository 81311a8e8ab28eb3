"""Writes whose outcome is unknown (issue 9, items 1 and 2): a crash between a Company's insert and
its Contacts', a Contacts insert failing past its retries, a create answered after the client's
time-out, a dropped connection. Each ends with exact counts on both sides, every link present,
no duplicate, no open intent, and the run's status."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from syncer.books_sync import SyncEngine
from syncer.books_sync.invoices import InvoiceWriter
from syncer.clients import (
    AccountsClient,
    BooksClient,
    FsmClient,
    LabClock,
    RetryPolicy,
    ZohoApiError,
    ZohoOutcomeUnknown,
)
from syncer.mail import MailSender
from syncer.store.repo import Repo
from syncer.sync_core.outcomes import create_once, requeue
from tests.syncer.test_books_sync_customers import Env

CO, CT, SP = "Companies", "Contacts", "Service_And_Parts"
TIMEOUT = 0.5  # the clients' time-out: a delayed answer of 1.5 s comes after it
SLOW = 1.5


class Crash(BaseException):
    """The process dies here (escapes every ``except Exception``, as a SIGKILL would stop it)."""


def make_env(lab, tmp_path, *, tenant_options=None, **integration) -> Env:
    t = lab.tenant(products=["fsm", "books"], **(tenant_options or {}))
    clock = LabClock(lab.url)
    repo = Repo(f"sqlite:///{tmp_path / 'syncer.db'}", clock=clock)
    integ = repo.create_integration(fsm_org_id=t.org("fsm"), partner_org_id=t.org("books"), partner_product="books",
                                    client_id=t.client_id, client_secret=t.client_secret,
                                    refresh_token=t.refresh_token, accounts_url=lab.url, api_domain=lab.url,
                                    **integration)
    repo.enable_integration(integ.id, duplicate_policy="clone")
    policy = RetryPolicy(attempts=3, sleep=lambda _s: None)  # retried at once: seconds, not minutes
    auth = AccountsClient(lab.url, t.client_id, t.client_secret, t.refresh_token, clock=clock, retry=policy)
    fsm, books = FsmClient(auth, timeout=TIMEOUT), BooksClient(auth, t.org("books"), timeout=TIMEOUT)
    engine = SyncEngine(repo, clients=lambda _i: (fsm, books), mailer=MailSender(repo))
    engine.unknown_outcome_wait = 2.0  # a write answered after the time-out shows within this
    lab.clock.freeze()
    auth.access_token()
    return Env(lab, t, repo, engine, integ.id, fsm, books)


def run(env: Env, expect: str = "succeeded"):
    r = env.engine.run(env.integration_id, "manual")
    assert r.status == expect, r.failure_reason
    env.advance()
    return r


def crashed_run(env: Env) -> None:
    with pytest.raises(Crash):
        env.engine.run(env.integration_id, "manual")
    lock = env.repo.lock_state(env.integration_id)
    if lock is not None and lock.run_id:  # the dead run's lease ran out
        env.repo.release_lock(env.integration_id, lock.run_id)
    env.advance()


def three_customers_with_two_persons(env: Env) -> dict[str, str]:
    ids = {}
    for n, name in enumerate(("Acme", "Globex", "Initech")):
        ids[name] = env.books.create_contact({
            "contact_name": name, "company_name": name, "contact_type": "customer", "customer_sub_type": "business",
            "contact_persons": [{"first_name": f"P{n}{k}", "last_name": name, "email": f"p{n}{k}@{name}.example"}
                                for k in (1, 2)]})["contact_id"]
    env.advance()
    return ids


def assert_persons_synced(env: Env, customers: dict[str, str]) -> None:
    companies = list(env.fsm.list_records(CO))
    contacts = list(env.fsm.list_records(CT))
    assert sorted(c["Company_Name"] for c in companies) == sorted(customers)  # 3, none twice
    assert len(contacts) == 6 and len({c["Full_Name"] for c in contacts}) == 6
    by_company = Counter((c.get("Company") or {}).get("id") for c in contacts)
    for company in companies:
        cid = customers[company["Company_Name"]]
        assert company["ZBilling_Id"] == cid
        assert env.repo.link_by_partner(env.integration_id, "contacts", cid).fsm_id == company["id"]
        assert by_company[company["id"]] == 2
        persons = env.books.get_contact(cid)["contact_persons"]
        assert len(persons) == 2  # nothing added in Books either
        for p in persons:
            link = env.repo.link_by_partner(env.integration_id, "contact_persons", p["contact_person_id"])
            assert link is not None and link.active, p
            assert env.fsm.get_record(CT, link.fsm_id)["ZBilling_Id"] == p["contact_person_id"]
    assert len(list(env.books.list_contacts())) == 3
    assert env.repo.open_pending(env.integration_id) == []


# -- 1. contact persons that never arrived ---------------------------------------------------------------

def _crash_on(env: Env, point: str, monkeypatch) -> None:
    """Make the next run die at ``point`` of the Companies -> Contacts sequence."""
    create, save_links, record_pendings = env.fsm.create_records, env.repo.save_links, env.repo.record_pendings
    fired = []

    def once() -> bool:
        if fired:
            return False
        fired.append(point)
        return True

    def create_records(module, records, **kw):
        if module == CT and point == "contacts sent" and once():
            raise Crash
        out = create(module, records, **kw)
        if (module, point) in ((CO, "companies answered"), (CT, "contacts answered")) and once():
            raise Crash
        return out

    def links_saved(integration_id, specs, **kw):
        out = save_links(integration_id, specs, **kw)
        if point == "companies linked" and any(s.fsm_module == CO for s in specs) and once():
            raise Crash
        return out

    def pendings(integration_id, **kw):
        out = record_pendings(integration_id, **kw)
        if point == "contacts intents" and kw.get("module") == CT and once():
            raise Crash
        return out

    monkeypatch.setattr(env.fsm, "create_records", create_records)
    monkeypatch.setattr(env.repo, "save_links", links_saved)
    monkeypatch.setattr(env.repo, "record_pendings", pendings)


@pytest.mark.parametrize("point", ["companies answered", "companies linked", "contacts intents", "contacts sent",
                                   "contacts answered"])
def test_a_crash_between_the_companies_and_the_contacts_insert_loses_no_person(zlab_lab, tmp_path, monkeypatch,
                                                                            point):
    env = make_env(zlab_lab, tmp_path, sync_type="III")
    customers = three_customers_with_two_persons(env)
    with monkeypatch.context() as m:
        _crash_on(env, point, m)
        crashed_run(env)
    run(env)
    run(env)  # a second clean run changes nothing
    assert_persons_synced(env, customers)


def test_a_crash_of_the_process_between_companies_and_contacts_loses_no_person(zlab_lab, tmp_path):
    """The same with the real thing: ``python -m syncer.run_once`` SIGKILLed after the Companies insert."""
    import os
    import signal
    import subprocess
    import sys
    import time

    env = make_env(zlab_lab, tmp_path, sync_type="IV")
    customers = three_customers_with_two_persons(env)
    # the Contacts insert answers late: the kill lands after the Companies insert, before the Contacts' links
    zlab_lab.faults.add(product="fsm", method="POST", path="/fsm/v1/Contacts", action={"type": "delay", "seconds": 3})
    db = str(env.repo.db.engine.url)
    cmd = [sys.executable, "-m", "syncer.run_once", "--integration", env.integration_id, "--db", db,
           "--fakes", zlab_lab.url, "--lease-seconds", "1", "--batch-size", "2"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=os.getcwd())
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        if any(e.get("path") == "/fsm/v1/Contacts" and e.get("method") == "POST"
               for e in zlab_lab.control.journal(email=env.tenant.email, limit=200)) or len(
                list(env.fsm.list_records(CO))) == 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert len(list(env.fsm.list_records(CO))) >= 1, "the kill must land after the Companies insert"
    zlab_lab.faults.remove_added()
    time.sleep(3.5)  # the dead run's lease runs out, its delayed insert is in
    run(env)
    run(env)
    assert_persons_synced(env, customers)


@pytest.mark.parametrize("batch_size", [1, 3])
def test_a_companys_intent_is_closed_once_all_its_persons_have_theirs(zlab_lab, tmp_path, batch_size):
    """The Company's intent is held for its persons; a person batch that splits a Company's persons
    releases it only with the last of them, and a clean run leaves nothing open."""
    env = make_env(zlab_lab, tmp_path, sync_type="III")
    env.engine.batch_size = batch_size
    customers = three_customers_with_two_persons(env)
    run(env)
    assert_persons_synced(env, customers)


def test_a_contacts_insert_failing_past_its_retries_loses_no_person(zlab_lab, tmp_path):
    env = make_env(zlab_lab, tmp_path, sync_type="III")
    customers = three_customers_with_two_persons(env)
    zlab_lab.faults.add(product="fsm", method="POST", path="/fsm/v1/Contacts",
                        action={"type": "error", "status": 500})
    run(env, "failed")
    assert len(list(env.fsm.list_records(CO))) == 3 and list(env.fsm.list_records(CT)) == []
    zlab_lab.faults.remove_added()
    run(env)
    run(env)
    assert_persons_synced(env, customers)


def test_a_contacts_insert_dropped_past_its_retries_loses_no_person(zlab_lab, tmp_path):
    env = make_env(zlab_lab, tmp_path, sync_type="IV")
    customers = three_customers_with_two_persons(env)
    zlab_lab.faults.add(product="fsm", method="POST", path="/fsm/v1/Contacts", action={"type": "drop"})
    run(env, "failed")
    zlab_lab.faults.remove_added()
    run(env)
    run(env)
    assert_persons_synced(env, customers)


# -- 2. duplicates after a time-out -------------------------------------------------------------------------

def _items(env: Env, n: int) -> dict[str, str]:
    return {f"Item {k}": env.books.create_item({"name": f"Item {k}", "rate": k})["item_id"] for k in range(n)}


def _services(env: Env, n: int) -> dict[str, str]:
    out = {}
    for k in range(n):
        [r] = env.fsm.create_records(SP, [{"Name": f"Service {k}", "Type": "Service", "Unit_Price": k + 1}],
                                    trigger=None)
        assert r.ok, r
        out[f"Service {k}"] = r.id
    return out


def assert_items_paired(env: Env, n: int) -> None:
    services = list(env.fsm.list_records(SP))
    items = list(env.books.list_items())
    assert len(services) == n and len(items) == n, (len(services), len(items))
    assert len({s["Name"] for s in services}) == n and len({i["name"] for i in items}) == n
    by_id = {i["item_id"]: i for i in items}
    for s in services:
        assert by_id[s["ZBilling_Id"]]["name"] == s["Name"]
        link = env.repo.link_by_fsm(env.integration_id, SP, s["id"])
        assert link is not None and link.partner_id == s["ZBilling_Id"]
    assert env.repo.open_pending(env.integration_id) == []


@pytest.mark.parametrize("fault", [{"type": "delay", "seconds": SLOW}, {"type": "drop"}])
def test_an_fsm_batch_insert_of_unknown_outcome_makes_no_duplicate(zlab_lab, tmp_path, fault):
    env = make_env(zlab_lab, tmp_path)
    _items(env, 5)
    env.advance()
    zlab_lab.faults.add(product="fsm", method="POST", path="/fsm/v1/Service_And_Parts", nth=1, times=1,
                        action=fault)
    r = run(env)
    time.sleep(SLOW)  # a delayed write has landed by now: count after it
    assert [f["fired"] for f in zlab_lab.faults.list()] == [1]
    assert_items_paired(env, 5)
    assert {s.module: (s.succeeded, s.failed) for s in env.repo.run_stats(r.id)}[SP] == (5, 0)


@pytest.mark.parametrize("fault", [{"type": "delay", "seconds": SLOW}, {"type": "drop"}])
def test_a_books_item_create_of_unknown_outcome_makes_no_duplicate(zlab_lab, tmp_path, fault):
    env = make_env(zlab_lab, tmp_path)
    _services(env, 3)
    env.advance()
    zlab_lab.faults.add(product="books", method="POST", path="/books/v3/items", nth=2, times=1, action=fault)
    r = run(env)
    time.sleep(SLOW)  # a delayed write has landed by now: count after it
    assert [f["fired"] for f in zlab_lab.faults.list()] == [1]
    assert_items_paired(env, 3)
    assert env.repo.record_failures(r.id) == []


@pytest.mark.parametrize("fault", [{"type": "delay", "seconds": SLOW}, {"type": "drop"}])
def test_a_books_customer_create_of_unknown_outcome_makes_no_duplicate(zlab_lab, tmp_path, fault):
    env = make_env(zlab_lab, tmp_path, sync_type="III")
    env.tenant.set_org("books", settings={"allow_duplicate_names": True})  # a second create would succeed
    for name in ("Acme", "Globex"):
        [co] = env.fsm.create_records(CO, [{"Company_Name": name}], trigger=None)
        env.fsm.create_records(CT, [{"Last_Name": f"Boss of {name}", "Email": f"boss@{name}.example",
                                     "Company": co.id}], trigger=None)
    env.advance()
    zlab_lab.faults.add(product="books", method="POST", path="/books/v3/contacts", nth=1, times=1, action=fault)
    r = run(env)
    time.sleep(SLOW)  # a delayed write has landed by now: count after it
    assert [f["fired"] for f in zlab_lab.faults.list()] == [1]
    customers = list(env.books.list_contacts())
    assert sorted(c["contact_name"] for c in customers) == ["Acme", "Globex"]
    for c in customers:
        persons = env.books.get_contact(c["contact_id"])["contact_persons"]
        assert len(persons) == 1
        link = env.repo.link_by_partner(env.integration_id, "contacts", c["contact_id"])
        assert env.fsm.get_record(CO, link.fsm_id)["ZBilling_Id"] == c["contact_id"]
        assert env.repo.link_by_partner(env.integration_id, "contact_persons", persons[0]["contact_person_id"])
    assert len(list(env.fsm.list_records(CO))) == 2 and len(list(env.fsm.list_records(CT))) == 2
    assert env.repo.open_pending(env.integration_id) == []
    assert env.repo.record_failures(r.id) == []


def test_a_books_contact_person_create_of_unknown_outcome_makes_no_duplicate(zlab_lab, tmp_path):
    env = make_env(zlab_lab, tmp_path, sync_type="III")
    [co] = env.fsm.create_records(CO, [{"Company_Name": "Acme"}], trigger=None)
    env.advance()
    run(env)
    env.fsm.create_records(CT, [{"Last_Name": "Late", "Email": "late@acme.example", "Company": co.id}], trigger=None)
    env.advance()
    zlab_lab.faults.add(product="books", method="POST", path="/books/v3/contacts/contactpersons", nth=1, times=1,
                        action={"type": "delay", "seconds": SLOW})
    run(env)
    time.sleep(SLOW)
    [customer] = list(env.books.list_contacts())
    [person] = env.books.get_contact(customer["contact_id"])["contact_persons"]
    [contact] = list(env.fsm.list_records(CT))
    assert contact["ZBilling_Id"] == person["contact_person_id"]
    assert env.repo.link_by_fsm(env.integration_id, CT, contact["id"]).partner_id == person["contact_person_id"]
    assert env.repo.open_pending(env.integration_id) == []


def test_an_invoice_create_of_unknown_outcome_makes_no_duplicate(zlab_lab, tmp_path):
    env = make_env(zlab_lab, tmp_path, sync_type="I")
    [co] = env.fsm.create_records(CO, [{"Company_Name": "Acme"}], trigger=None)
    [ct] = env.fsm.create_records(CT, [{"Last_Name": "Jones", "Email": "j@acme.example", "Company": co.id}],
                                  trigger=None)
    [sp] = env.fsm.create_records(SP, [{"Name": "Boiler repair", "Type": "Service", "Unit_Price": 120}],
                                  trigger=None)
    env.advance()
    run(env)
    [wo] = env.fsm.create_records("Work_Orders", [{"Summary": "Fix", "Type": "Service", "Contact": ct.id,
                                                   "Company": co.id,
                                                   "Service_Line_Items": [{"Service": sp.id, "Quantity": 1}]}],
                                  trigger=None)
    assert wo.ok, wo
    zlab_lab.faults.add(product="books", method="POST", path="/books/v3/invoices", nth=1, times=1,
                        action={"type": "delay", "seconds": SLOW})
    writer = InvoiceWriter((env.fsm, env.books), env.repo, env.integration_id)
    writer.ctx.unknown_outcome_wait = 2.0
    invoice = writer.invoice_for_work_order(wo.id)
    time.sleep(SLOW)
    assert [i["invoice_id"] for i in env.books.list_invoices()] == [invoice["invoice_id"]]
    assert env.fsm.get_record("Work_Orders", wo.id)["Invoice_Id"] == invoice["invoice_id"]
    assert env.repo.open_pending(env.integration_id) == []


def test_an_fsm_currency_create_of_unknown_outcome_is_found_not_repeated(zlab_lab, tmp_path):
    env = make_env(zlab_lab, tmp_path, sync_type="I", tenant_options={
        "orgs": {"books": {"currencies": ["EUR"]}, "fsm": {"settings": {"multi_currency": True}}}})
    env.advance()
    zlab_lab.faults.add(product="fsm", method="POST", path="/fsm/v1/_internal/currencies", nth=1, times=1,
                        action={"type": "delay", "seconds": SLOW})
    r = run(env)
    time.sleep(SLOW)
    assert [f["fired"] for f in zlab_lab.faults.list()] == [1]
    assert [c["iso_code"] for c in env.fsm.currencies()].count("EUR") == 1
    assert env.repo.record_failures(r.id) == []


@pytest.mark.parametrize("fault", [{"type": "delay", "seconds": SLOW}, {"type": "drop"}])
def test_individual_customers_inserted_in_fsm_with_a_lost_answer_are_made_once(zlab_lab, tmp_path, fault):
    env = make_env(zlab_lab, tmp_path, sync_type="II")
    for first in ("Ann", "Bob", "Cy"):
        env.books.create_contact({"contact_name": f"{first} Doe", "contact_type": "customer",
                                  "customer_sub_type": "individual",
                                  "contact_persons": [{"first_name": first, "last_name": "Doe",
                                                       "email": f"{first.lower()}@doe.example"}]})
    env.advance()
    zlab_lab.faults.add(product="fsm", method="POST", path="/fsm/v1/Contacts", nth=1, times=1, action=fault)
    r = run(env)
    time.sleep(SLOW)
    contacts = list(env.fsm.list_records(CT))
    assert sorted(c["Full_Name"] for c in contacts) == ["Ann Doe", "Bob Doe", "Cy Doe"]
    for c in contacts:
        assert env.repo.link_by_fsm(env.integration_id, CT, c["id"]).partner_id == c["ZBilling_Id"]
    assert len(list(env.books.list_contacts())) == 3
    assert env.repo.open_pending(env.integration_id) == []
    assert env.repo.record_failures(r.id) == []


# -- the shared resolution, alone ---------------------------------------------------------------------------

class _Settle:
    unknown_outcome_wait = 0.3

    def __init__(self) -> None:
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        time.sleep(seconds)


def _lost() -> ZohoOutcomeUnknown:
    return ZohoOutcomeUnknown("books", None, "TIMEOUT", method="POST")


def test_create_once_links_what_a_lost_call_made_and_never_sends_it_again():
    sends, finds = [], []

    def send():
        sends.append(1)
        raise _lost()

    def find():
        finds.append(1)
        return {"id": "made"} if len(finds) >= 2 else None  # shows up after a while (still in flight)

    ctx = _Settle()
    assert create_once(ctx, send, find) == ({"id": "made"}, True)
    assert len(sends) == 1 and len(finds) == 2 and ctx.slept


def test_create_once_sends_again_only_what_was_not_made_and_gives_up_after_two_lost_answers():
    answers = [_lost(), {"id": "second"}]

    def send():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert create_once(_Settle(), send, lambda: None) == ({"id": "second"}, False)
    with pytest.raises(ZohoOutcomeUnknown):
        create_once(_Settle(), lambda: (_ for _ in ()).throw(_lost()), lambda: None)
    refused = ZohoApiError("books", 400, 3062, "exists")
    with pytest.raises(ZohoApiError):  # a definite refusal is not an unknown outcome: no search, no resend
        create_once(_Settle(), lambda: (_ for _ in ()).throw(refused), lambda: pytest.fail("searched"))


def test_requeue_puts_the_source_and_its_dependents_back_into_the_run():
    from syncer.books_sync.common import RunContext

    ctx = RunContext(None, None, "run", None, None, None)  # type: ignore[arg-type]
    requeue(ctx, "Companies", "c1", dependents=True)
    requeue(ctx, "Service_And_Parts", "s1")
    requeue(ctx, "Contacts", "")
    assert ctx.retry == {"Companies": {"c1"}, "Service_And_Parts": {"s1"}} and ctx.pair_dependents == {"c1"}
