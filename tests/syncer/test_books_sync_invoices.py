"""Work Orders -> Invoices (TW-23, TW-22) and one-way mode (OB-04), against the embedded fakes."""

from __future__ import annotations

import pytest

from syncer.books_sync.invoices import InvoiceError, InvoiceWriter
from tests.syncer.test_books_sync_items import Env, make_env, stats

SP = "Service_And_Parts"
WO = "Work_Orders"


@pytest.fixture
def env(zlab_lab, tmp_path):
    return make_env(zlab_lab, tmp_path)


def writer(env: Env) -> InvoiceWriter:
    return InvoiceWriter((env.fsm, env.books), env.repo, env.integration_id)


def create(env: Env, module: str, data: dict) -> str:
    [r] = env.fsm.create_records(module, [data], trigger=None)
    assert r.ok, r
    return r.id


def synced_company(env: Env, name: str = "Acme Heating") -> tuple[str, str, str]:
    """A Company (with a Contact) already synced to a Books customer, as the customers sync
    leaves it: a link and the FSM record's ZBilling_Id. Returns (company id, contact id, customer id)."""
    customer = env.books.create_contact({"contact_name": name, "company_name": name,
                                         "customer_sub_type": "business"})
    company = create(env, "Companies", {"Company_Name": name, "ZBilling_Id": customer["contact_id"]})
    contact = create(env, "Contacts", {"Last_Name": "Jones", "Email": "jones@acme.example", "Company": company})
    env.repo.upsert_link(env.integration_id, fsm_module="Companies", fsm_id=company, partner_entity="contacts",
                         partner_id=customer["contact_id"], result="created")
    return company, contact, customer["contact_id"]


def work_order(env: Env, contact: str, company: str | None, lines: list[tuple[str, float]], **extra) -> str:
    data = {"Summary": "Boiler service at Acme", "Type": "Service", "Contact": contact,
            "Service_Line_Items": [{"Service": sid, "Quantity": qty} for sid, qty in lines], **extra}
    if company:
        data["Company"] = company
    return create(env, WO, data)


def invoices(env: Env) -> list[dict]:
    return list(env.books.list_invoices())


def test_an_invoice_from_a_work_order_pushes_unsynced_services_first(env):
    company, contact, customer_id = synced_company(env)
    synced = env.service("Boiler repair", Unit_Price=120)
    env.advance()
    assert env.run().status == "succeeded"
    synced_item = env.items()["Boiler repair"]["item_id"]
    unsynced = env.service("Filter cartridge", Unit_Price=9.5, Type="Part")  # made after the sync: no partner
    assert "Filter cartridge" not in env.items()
    # Work Order -> Invoice mapping: a WO field to an Invoice custom field, another to notes (TW-03)
    env.lab.control.call("POST", f"/books/orgs/{env.tenant.org('books')}/customfields",
                         {"entity": "invoice", "label": "FSM Summary"})
    env.repo.set_mappings(env.integration_id, "invoices", [
        {"fsm_field": "Summary", "partner_field": "cf_fsm_summary", "direction": "fsm_to_books"},
        {"fsm_field": "Priority", "partner_field": "notes", "direction": "fsm_to_books"}])
    wo_id = work_order(env, contact, company, [(synced, 2), (unsynced, 3)], Priority="High")
    wo = env.fsm.get_record(WO, wo_id)

    invoice = writer(env).invoice_for_work_order(wo_id)

    # the unsynced part was pushed to Books first, exactly as the items sync does (TW-22)
    items, services = env.items(), env.services()
    assert items["Filter cartridge"]["rate"] == 9.5 and items["Filter cartridge"]["product_type"] == "goods"
    assert services["Filter cartridge"]["ZBilling_Id"] == items["Filter cartridge"]["item_id"]
    assert env.repo.link_by_fsm(env.integration_id, SP, unsynced).partner_id == items["Filter cartridge"]["item_id"]
    # the invoice (TW-23): the Company's customer, one line per service line, totals as the WO's
    assert invoice["customer_id"] == customer_id
    assert [(li["item_id"], li["quantity"], li["rate"]) for li in invoice["line_items"]] == [
        (synced_item, 2, 120), (items["Filter cartridge"]["item_id"], 3, 9.5)]
    assert invoice["total"] == wo["Grand_Total"] == 268.5
    assert invoice["reference_number"] == wo["Name"]
    assert {cf["api_name"]: cf["value"] for cf in invoice["custom_fields"]} == {"cf_fsm_summary": "Boiler service at Acme"}
    assert invoice["notes"] == "High"
    # the work order shows its invoice; the syncer links them (TW-24)
    wo = env.fsm.get_record(WO, wo_id)
    assert wo["Invoice_Id"] == invoice["invoice_id"] and wo["Billing_Status"] == "Invoiced"
    link = env.repo.link_by_fsm(env.integration_id, WO, wo_id)
    assert link.partner_entity == "invoices" and link.partner_id == invoice["invoice_id"]
    assert env.repo.open_pending(env.integration_id) == []

    # a second call returns the same invoice and creates nothing
    again = writer(env).invoice_for_work_order(wo_id)
    assert again["invoice_id"] == invoice["invoice_id"]
    assert [i["invoice_id"] for i in invoices(env)] == [invoice["invoice_id"]]
    assert len(env.items()) == 2


def test_a_customer_not_synced_yet_fails_clearly_and_nothing_is_created(env):
    company = create(env, "Companies", {"Company_Name": "Unsynced Ltd"})
    contact = create(env, "Contacts", {"Last_Name": "Doe", "Email": "doe@unsynced.example", "Company": company})
    sid = env.service("Inspection", Unit_Price=50)
    wo_id = work_order(env, contact, company, [(sid, 1)])
    with pytest.raises(InvoiceError) as exc:
        writer(env).invoice_for_work_order(wo_id)
    assert "Unsynced Ltd" in exc.value.reason and "not synced" in exc.value.reason
    assert invoices(env) == [] and env.items() == {}
    assert env.repo.link_by_fsm(env.integration_id, WO, wo_id) is None
    assert not env.fsm.get_record(WO, wo_id).get("Invoice_Id")


def test_the_customer_follows_the_sync_type(zlab_lab, tmp_path):
    """Type II: customers are Contacts; the partner is found by the contact's ZBilling_Id too."""
    env = make_env(zlab_lab, tmp_path, sync_type="II")
    company, _contact, company_customer = synced_company(env)
    person = env.books.create_contact({"contact_name": "Ann Lee", "customer_sub_type": "individual"})
    contact = create(env, "Contacts", {"Last_Name": "Lee", "First_Name": "Ann", "Email": "ann@lee.example",
                                       "ZBilling_Id": person["contact_id"]})
    sid = env.service("Tune-up", Unit_Price=80)
    invoice = writer(env).invoice_for_work_order(work_order(env, contact, company, [(sid, 1)]))
    assert invoice["customer_id"] == person["contact_id"] != company_customer
    # type I needs a Company on the work order
    env.repo.update_integration(env.integration_id, sync_type="I")
    with pytest.raises(InvoiceError, match="no Company"):
        writer(env).invoice_for_work_order(work_order(env, contact, None, [(sid, 1)]))


def test_an_invalid_work_order_mapping_is_refused(env):
    company, contact, _ = synced_company(env)
    sid = env.service("Repair", Unit_Price=10)
    env.repo.set_mappings(env.integration_id, "invoices", [{"fsm_field": "Summary", "partner_field": "cf_not_defined"}])
    with pytest.raises(InvoiceError, match="cf_not_defined"):
        writer(env).invoice_for_work_order(work_order(env, contact, company, [(sid, 1)]))
    assert invoices(env) == []


def test_a_crash_after_the_create_is_finished_not_repeated(env):
    company, contact, customer_id = synced_company(env)
    sid = env.service("Repair", Unit_Price=10)
    env.advance()
    env.run()
    wo_id = work_order(env, contact, company, [(sid, 1)])
    name = env.fsm.get_record(WO, wo_id)["Name"]
    # a crashed call: the intent was written and the invoice created, then the process died
    env.repo.record_pending(env.integration_id, side="partner", module="invoices", source_id=wo_id,
                            source_module=WO, payload={"customer_id": customer_id, "reference_number": name})
    env.advance(1)
    made = env.books.create_invoice({"customer_id": customer_id, "reference_number": name,
                                     "line_items": [{"item_id": env.items()["Repair"]["item_id"], "quantity": 1}]})
    invoice = writer(env).invoice_for_work_order(wo_id)
    assert invoice["invoice_id"] == made["invoice_id"]
    assert len(invoices(env)) == 1
    assert env.fsm.get_record(WO, wo_id)["Invoice_Id"] == made["invoice_id"]
    assert env.repo.open_pending(env.integration_id) == []


# -- one-way mode (OB-04) ------------------------------------------------------------------------------


@pytest.fixture
def one_way(zlab_lab, tmp_path):
    return make_env(zlab_lab, tmp_path, mode="one_way")


def test_one_way_pushes_fsm_changes_and_reads_nothing_back(one_way):
    env = one_way
    sid = env.service("Boiler repair", Unit_Price=100)
    env.books.create_item({"name": "Books only", "rate": 5})
    env.books.create_currency({"currency_code": "EUR", "currency_symbol": "€"})
    env.advance()
    run = env.run()
    assert run.status == "succeeded", run.failure_reason
    assert env.items()["Boiler repair"]["rate"] == 100  # pushed
    assert "Books only" not in env.services()  # not read back
    assert "EUR" not in {c["iso_code"] for c in env.fsm.currencies()}  # no Books currency written to FSM
    item = env.items()["Boiler repair"]
    # both sides change, Books later: two-way would take Books; one-way pushes FSM's
    env.advance(10)
    env.fsm.update_record(SP, sid, {"Unit_Price": 110}, trigger=None)
    env.advance(10)
    env.books.update_item(item["item_id"], {"rate": 999, "description": "edited in Books"})
    env.advance()
    env.run()
    assert env.services()["Boiler repair"]["Unit_Price"] == 110
    assert env.items()["Boiler repair"]["rate"] == 110
    # a Books-only change is not read back either, nor a deactivation
    env.advance(10)
    env.books.update_item(item["item_id"], {"rate": 7})
    env.books.mark_item_inactive(item["item_id"])
    env.advance()
    run = env.run()
    assert env.services()["Boiler repair"]["Unit_Price"] == 110
    assert not env.services()["Boiler repair"].get("$inactive")
    assert stats(env, run).get(SP, (0, 0))[1] == 0


def test_one_way_invoices_push_customers_items_and_invoice(one_way):
    env = one_way
    company, contact, customer_id = synced_company(env)
    sid = env.service("Inspection", Unit_Price=75)
    wo_id = create(env, WO, {"Summary": "Yearly check", "Type": "Inspection", "Contact": contact, "Company": company,
                             "Service_Line_Items": [{"Service": sid, "Quantity": 2, "Discount": 10}],
                             "Discount": 5, "Adjustment": 2.5})
    invoice = writer(env).invoice_for_work_order(wo_id)
    assert invoice["customer_id"] == customer_id
    assert invoice["total"] == env.fsm.get_record(WO, wo_id)["Grand_Total"] == 137.5  # 150 - 10 - 5 + 2.5
    assert env.services()["Inspection"]["ZBilling_Id"] == env.items()["Inspection"]["item_id"]


def test_the_customer_synced_by_a_run_is_the_invoice_customer(env):
    """End to end with the engine's customers phase: a Company synced by a run bills its invoice."""
    company = create(env, "Companies", {"Company_Name": "Initech"})
    contact = create(env, "Contacts", {"Last_Name": "Lumbergh", "Email": "bill@initech.example", "Company": company})
    sid = env.service("Printer repair", Unit_Price=60)
    env.advance()
    run = env.run()
    assert run.status == "succeeded", run.failure_reason
    customer = next(c for c in env.books.list_contacts() if c["contact_name"] == "Initech")
    invoice = writer(env).invoice_for_work_order(work_order(env, contact, company, [(sid, 1)]))
    assert invoice["customer_id"] == customer["contact_id"] and invoice["total"] == 60
