"""The clients' product surfaces against the fakes: every method the engine will lean on."""

from __future__ import annotations

import pytest

from syncer.clients import ZohoApiError

from .test_clients import Conn


@pytest.mark.parametrize("product", ["books", "invoice"])
def test_books_and_invoice_surface(zlab_lab, product):
    conn = Conn(zlab_lab, (product,))
    books = conn.books(product)
    assert books.base_url.endswith(f"/{product}/v3")
    orgs = books.organizations()
    assert [o["organization_id"] for o in orgs] == [conn.tenant.org(product)]
    assert books.get_organization()["organization_id"] == conn.tenant.org(product)
    assert "counts" in books.internal_settings()

    cur = books.create_currency({"currency_code": "EUR", "currency_symbol": "€"})
    assert cur["currency_code"] == "EUR" and "EUR" in {c["currency_code"] for c in books.list_currencies()}
    tax = books.create_tax({"tax_name": "VAT", "tax_percentage": 20})
    assert tax["tax_id"] in {t["tax_id"] for t in books.list_taxes()}

    c = books.create_contact({"contact_name": "Acme", "contact_persons": [
        {"first_name": "Ann", "last_name": "Lee", "email": "ann@acme.example", "is_primary_contact": True}]})
    cid = c["contact_id"]
    assert books.update_contact(cid, {"company_name": "Acme Ltd"})["company_name"] == "Acme Ltd"
    assert "inactive" in books.mark_contact_inactive(cid)
    assert books.get_contact(cid)["status"] == "inactive"
    assert [x["contact_id"] for x in books.list_contacts(filter_by="Status.Inactive")] == [cid]
    books.mark_contact_active(cid)
    person = books.create_contact_person(cid, {"first_name": "Bob", "last_name": "Ray", "email": "bob@acme.example"})
    pid = person["contact_person_id"]
    assert books.update_contact_person(pid, {"contact_id": cid, "first_name": "Robert"})["first_name"] == "Robert"
    assert books.get_contact_person(cid, pid)["first_name"] == "Robert"
    books.mark_primary_contact_person(pid)
    assert len(list(books.list_contact_persons(cid))) == 2
    books.delete_contact_person(pid)

    item = books.create_item({"name": "Widget", "rate": 12.5, "product_type": "goods"})
    iid = item["item_id"]
    assert books.update_item(iid, {"rate": 15})["rate"] == 15
    books.mark_item_inactive(iid)
    assert books.get_item(iid)["status"] == "inactive"
    books.mark_item_active(iid)
    assert [i["item_id"] for i in books.list_items()] == [iid]

    inv = books.create_invoice({"customer_id": cid, "line_items": [{"item_id": iid, "quantity": 2}]})
    assert inv["total"] == 30 and inv["status"] == "draft"
    books.set_invoice_status(inv["invoice_id"], "sent")
    assert books.get_invoice(inv["invoice_id"])["status"] == "sent"
    assert [i["invoice_id"] for i in books.list_invoices()] == [inv["invoice_id"]]
    books.set_invoice_status(inv["invoice_id"], "void")
    books.delete_invoice(inv["invoice_id"])
    books.delete_item(iid)
    books.delete_contact(cid)
    with pytest.raises(ZohoApiError) as err:
        books.get_item(iid)
    assert err.value.code == 2006


def test_fsm_surface(zlab_lab):
    conn = Conn(zlab_lab, ("fsm",))
    fsm = conn.fsm()
    zlab_lab.clock.freeze()
    company = fsm.create_records("Companies", [{"Company_Name": "Acme, Inc"}])[0]
    contact = fsm.create_records("Contacts", [{"Last_Name": "Lee", "Email": "lee@acme.example",
                                               "Company": company.id}])[0]
    assert fsm.get_record("Contacts", contact.id)["Company"]["id"] == company.id
    assert [r["id"] for r in fsm.search("Companies", "Company_Name", "Acme, Inc", "equal")] == [company.id]
    assert [r["id"] for r in fsm.related("Companies", company.id, "Contacts")] == [contact.id]

    before = fsm.get_record("Contacts", contact.id)["Modified_Time"]
    zlab_lab.clock.advance(5)
    upd = fsm.update_records("Contacts", [{"id": contact.id, "Phone": "555-0100"}])
    assert upd[0].ok and upd[0].id == contact.id
    assert [r["id"] for r in fsm.modified_since("Contacts", before)] == [contact.id]
    single = fsm.update_record("Contacts", contact.id, {"Mobile": "555-0101"})
    assert single.ok
    bad = fsm.update_records("Contacts", [{"id": "1234567890123456789", "Phone": "1"}])
    assert not bad[0].ok and bad[0].code == "INVALID_DATA"

    link = fsm.process_sync("Contacts", contact.id, "finance", "link", integ_id="460000000012345")
    assert link.ok
    assert fsm.get_record("Contacts", contact.id)["ZBilling_Id"] == "460000000012345"
    assert [r["id"] for r in fsm.search("Contacts", "ZBilling_Id", "460000000012345")] == [contact.id]

    assert any(m.get("api_name") == "Contacts" for m in fsm.modules())
    assert any(f["api_name"] == "Email" for f in fsm.fields("Contacts"))

    settings = fsm.internal_settings()
    assert settings["org_id"] == conn.tenant.org("fsm")
    made = fsm.create_currencies([{"iso_code": "EUR", "exchange_rate": "1"}])
    assert made[0].ok
    assert "EUR" in {c["iso_code"] for c in fsm.currencies()}
    assert fsm.imports()["import_in_progress"] is False
    fsm.set_sync_state(True, "finance")
    assert fsm.internal_settings()["sync_in_progress"] is True
    fsm.set_sync_state(False)
    fsm.add_timeline("Contacts", contact.id, "Synced to Books", action="sync_succeeded")
    assert any("Synced to Books" in str(e) for e in fsm.timeline("Contacts", contact.id))
    sub = fsm.subscribe([{"channel_id": "1000", "events": ["Contacts.all"], "notify_url": "http://127.0.0.1:9/x"}])
    assert sub and fsm.channels()
    fsm.unsubscribe(["1000"])

    deleted = fsm.delete_records("Contacts", [contact.id, "1234567890123456789"])
    assert deleted[0].ok and deleted[0].id == contact.id
    assert fsm.get_record("Contacts", contact.id) is None


def test_fsm_writes_suppress_workflows(zlab_lab):
    conn = Conn(zlab_lab, ("fsm",))
    fsm = conn.fsm()
    org = conn.tenant.org("fsm")
    zlab_lab.control.add_workflow(org_id=org, module="Contacts", event="create",
                                  action={"type": "field_update", "field": "Phone", "value": "wf"})
    quiet = fsm.create_records("Contacts", [{"Last_Name": "Quiet", "Email": "q@example.com"}])[0]
    loud = fsm.create_records("Contacts", [{"Last_Name": "Loud", "Email": "l@example.com"}], trigger=None)[0]
    assert fsm.get_record("Contacts", quiet.id).get("Phone") != "wf"
    assert fsm.get_record("Contacts", loud.id).get("Phone") == "wf"


def test_crm_surface(zlab_lab):
    conn = Conn(zlab_lab, ("crm",))
    crm = conn.crm()
    acc = crm.create_records("Accounts", [{"Account_Name": "Acme"}])[0]
    res = crm.create_records("Contacts", [{"Last_Name": "Lee", "Email": "lee@acme.example",
                                           "Account_Name": {"id": acc.id}}])
    cid = res[0].id
    assert crm.get_record("Contacts", cid, ["Last_Name", "Email"])["Email"] == "lee@acme.example"
    assert crm.update_records("Contacts", [{"id": cid, "Phone": "555"}])[0].ok
    assert crm.update_record("Contacts", cid, {"Mobile": "556"}).ok
    assert [r["id"] for r in crm.search("Contacts", criteria="(Email:equals:lee@acme.example)")] == [cid]
    assert crm.count("Contacts") == 1
    assert crm.coql("select Last_Name from Contacts where Last_Name = 'Lee'")["data"][0]["id"] == cid
    assert crm.coql("select Last_Name from Contacts where Last_Name = 'Nobody'")["data"] == []
    assert any(f["api_name"] == "Email" for f in crm.fields("Contacts"))
    assert any(m["api_name"] == "Contacts" for m in crm.modules())
    assert crm.current_user()["email"] == conn.tenant.email
    assert crm.org()["id"]
    assert "books_integration" in crm.internal_settings()
    watch = crm.watch([{"channel_id": "1001", "events": ["Contacts.all"], "notify_url": "http://127.0.0.1:9/x"}])
    assert watch["watch"][0]["code"] == "SUCCESS" and crm.channels()
    crm.unwatch(["1001"])
    assert crm.delete_records("Contacts", [cid])[0].ok
    assert [d["id"] for d in crm.deleted("Contacts")] == [cid]
    assert crm.get_record("Contacts", cid) is None
    since = zlab_lab.clock.now()
    assert list(crm.list_records("Accounts", ["Account_Name"], modified_since=since)) == []
