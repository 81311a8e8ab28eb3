"""TW-17 at full size, through the syncer's API: an Invoice org with exactly 10,000 customers
syncs completely (about 24,000 FSM records: Companies, their Contacts, individual Contacts), and
the 10,001st customer makes the next run fail the documented way (mail, sync disabled, periodic
sync stopped). The 10,000 / 10,001 preflight alone is in test_books_sync_items.py."""

from __future__ import annotations

import time
from collections import Counter
from itertools import islice

import pytest

from syncer.clients import AccountsClient, BooksClient, FsmClient

LIMIT = 10_000


def finished(lab, run: dict, timeout: float = 1200.0) -> dict:
    """Sync Now answered 202 with the run: poll it until it ends."""
    deadline = time.monotonic() + timeout
    while run["status"] == "running":
        assert time.monotonic() < deadline, f"run {run['id']} still running after {timeout:.0f}s"
        time.sleep(0.5)
        run = lab.syncer.run(run["id"])
    return run


@pytest.mark.slow
def test_10000_invoice_customers_sync_and_the_10001st_fails_the_documented_way(zlab_lab):
    lab = zlab_lab
    t = lab.tenant(products=["fsm", "invoice"])
    org = t.org("invoice")
    for start in range(0, LIMIT, 5000):
        lab.control.seed(org, {"contacts": 5000}, seed=7, start=start)
    integ = lab.syncer.create_integration(t, "invoice", notify_email="admin@example.com")
    integ.enable(duplicate_policy="clone")  # sync type IV: the default for a new Invoice org (OB-02)
    integ.settings(auto_sync=False)

    run = finished(lab, integ.sync_now(wait=False))
    assert run["status"] == "succeeded", run["failure_reason"]
    stats = {m["module"]: (m["succeeded"], m["failed"]) for m in run["modules"]}

    auth = AccountsClient(lab.url, t.client_id, t.client_secret, t.refresh_token)
    fsm, books = FsmClient(auth), BooksClient(auth, org, product="invoice")
    kinds = Counter(c.get("customer_sub_type") for c in books.list_contacts(contact_type="customer"))
    assert kinds["business"] + kinds["individual"] == LIMIT and kinds["business"] and kinds["individual"]
    companies = list(fsm.list_records("Companies"))
    contacts = list(fsm.list_records("Contacts"))
    persons = [c for c in contacts if c.get("Company")]
    # every business customer is a Company, every individual one a Contact without a Company,
    # and every contact person a Contact of its customer's Company
    assert len(companies) == kinds["business"]
    assert len(contacts) - len(persons) == kinds["individual"]
    assert len(persons) > kinds["business"]  # the seed gives business customers 1-3 persons
    assert stats == {"Companies": (len(companies), 0), "Contacts": (len(contacts), 0)}
    partner_ids = Counter(r.get("ZBilling_Id") for r in companies + contacts)
    assert None not in partner_ids and "" not in partner_ids, "every FSM record carries its partner (TW-24)"
    assert max(partner_ids.values()) == 1, "no customer or contact person was created twice"

    # spot checks, by the partner ids: names and addresses arrived (Billing <-> billing, TW-20)
    by_partner = {r["ZBilling_Id"]: r for r in companies}
    for row in islice(books.list_contacts(customer_sub_type="business", per_page=25), 25):
        customer = books.get_contact(row["contact_id"])
        company = by_partner[customer["contact_id"]]
        assert company["Company_Name"] == (customer.get("company_name") or customer["contact_name"])
        assert (company.get("Billing_Address") or {}).get("City", "") == (customer.get("billing_address") or {}).get(
            "city", "")
        assert {c["ZBilling_Id"] for c in fsm.related("Companies", company["id"], "Contacts")} == {
            p["contact_person_id"] for p in customer.get("contact_persons") or []}

    lab.control.seed(org, {"contacts": 1}, seed=7, start=LIMIT)  # the 10,001st
    failed = integ.sync_now()
    assert failed["status"] == "failed" and "10,000" in (failed["failure_reason"] or "")
    data = integ.refresh()
    assert (data["state"], data["next_auto_sync_at"]) == ("disabled", None)
    [mail] = integ.mail()
    assert "10,000" in mail["body"]
