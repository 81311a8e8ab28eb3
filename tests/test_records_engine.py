"""The shared record engine (fakes.core.records) on SQLite and PostgreSQL, with toy modules."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import close_all_sessions
from sqlmodel import select

from fakes import create_app
from fakes.core.fields import FieldDef as F
from fakes.core.fields import module
from fakes.core.provision import create_tenant
from fakes.core.records import Cond, Group, RecordError, RecordStore
from fakes.core.tenants import Org


def _full_name(doc):
    doc["Full_Name"] = " ".join(x for x in (doc.get("First_Name"), doc.get("Last_Name")) if x)


MODULES = {
    "Accounts": module("Accounts", "Account", "Account_Name", [
        F("Account_Name", mandatory=True, unique=True), F("Annual_Revenue", "currency"), F("Employees", "integer"),
        F("Rating", "picklist", pick_list=("Hot", "Cold"), restricted_picklist=True)]),
    "Contacts": module("Contacts", "Contact", "Full_Name", [
        F("First_Name"), F("Last_Name", mandatory=True), F("Full_Name", read_only=True), F("Email", "email"),
        F("Account_Name", "lookup", lookup="Accounts"), F("Active", "boolean"), F("Last_Visit", "datetime"),
        F("Birthday", "date"),
        F("Items", "subform", subform=(F("Item", "lookup", lookup="Accounts", mandatory=True), F("Qty", "integer")))],
        derive=_full_name),
}


@pytest.fixture
def env(backend):
    app = create_app(backend)
    lab = app.extensions["zlab"]
    tenant = create_tenant(lab, {"products": ["books"]})
    org_id = tenant["orgs"]["books"]
    events = []
    lab.subscribe(events.append)

    def store():
        s = lab.db.session()
        org = s.get(Org, org_id)
        return s, RecordStore(lab, s, org, MODULES, family="crm")

    yield lab, store, events
    close_all_sessions()  # a test that failed half-way leaves its session open: give its connection back
    lab.db.dispose()


def test_create_validates_derives_and_renders(env):
    lab, store, events = env
    s, st = store()
    acc = st.create("Accounts", {"Account_Name": "Zylker", "Employees": "12", "Unknown_Field": 1})
    c = st.create("Contacts", {"First_Name": "Ann", "Last_Name": "Lee", "Email": "ann@zylker.com",
                               "Account_Name": {"id": acc.id}, "Last_Visit": "2026-01-02T10:00:00+05:30"})
    s.commit()
    st.publish()
    out = st.render(c)
    assert out["Full_Name"] == "Ann Lee" and out["Account_Name"] == {"name": "Zylker", "id": acc.id}
    assert out["id"] == c.id and len(c.id) == 19 and c.id.isdigit()
    assert out["Created_Time"].endswith("+00:00") and out["Last_Visit"] == "2026-01-02T04:30:00+00:00"
    assert "Unknown_Field" not in st.render(acc) and st.render(acc)["Employees"] == 12
    assert [(e.module, e.operation) for e in events] == [("Accounts", "insert"), ("Contacts", "insert")]
    assert "Email" in events[1].fields[c.id]
    s.close()


@pytest.mark.parametrize("data,code,api_name", [
    ({"First_Name": "No last"}, "MANDATORY_NOT_FOUND", "Last_Name"),
    ({"Last_Name": "X", "Email": "not-an-email"}, "INVALID_DATA", "Email"),
    ({"Last_Name": "X", "Active": "yes"}, "INVALID_DATA", "Active"),
    ({"Last_Name": "X", "Account_Name": {"id": "123"}}, "INVALID_DATA", "Account_Name"),
    ({"Last_Name": "X", "Birthday": "31/01/2020"}, "INVALID_DATA", "Birthday"),
    ({"Last_Name": "X", "Items": [{"Qty": 1}]}, "INVALID_DATA", "Items.Item"),
])
def test_write_errors_carry_crm_details(env, data, code, api_name):
    _, store, _ = env
    s, st = store()
    with pytest.raises(RecordError) as e:
        st.create("Contacts", data, index=3)
    assert e.value.code == code and e.value.details["api_name"] == api_name
    assert e.value.details["json_path"].startswith("$.data[3].")
    s.close()


def test_unique_restricted_picklist_and_update(env):
    _, store, events = env
    s, st = store()
    a = st.create("Accounts", {"Account_Name": "Zylker"})
    with pytest.raises(RecordError) as e:
        st.create("Accounts", {"Account_Name": "ZYLKER"})
    assert e.value.code == "DUPLICATE_DATA" and e.value.details["duplicate_record"]["id"] == a.id
    with pytest.raises(RecordError):
        st.create("Accounts", {"Account_Name": "Other", "Rating": "Lukewarm"})
    st.update("Accounts", a.id, {"Rating": "Hot", "Annual_Revenue": 10.5})
    assert st.find("Accounts", a.id).doc["Rating"] == "Hot"
    with pytest.raises(RecordError) as e:
        st.update("Accounts", "999", {"Rating": "Hot"})
    assert e.value.message == "the id given seems to be invalid"
    s.close()


def test_search_operators_sort_paging_count_and_soft_delete(env):
    lab, store, _ = env
    s, st = store()
    lab.clock.freeze()
    ids = {}
    for i, (first, last, email, emp) in enumerate([("Ann", "Lee", "ann@a.com", 5), ("Bob", "Leeds", "bob@b.com", 50),
                                                   ("Cy", "Moss", "cy@a.com", 500)]):
        lab.clock.advance(60)
        acc = st.create("Accounts", {"Account_Name": f"Acc {i}", "Employees": emp})
        ids[first] = st.create("Contacts", {"First_Name": first, "Last_Name": last, "Email": email,
                                            "Account_Name": acc.id, "Active": i != 1}).id
    s.commit()

    def names(criteria, **kw):
        rows, more = st.query("Contacts", criteria, **kw)
        return [r.doc["First_Name"] for r in rows]

    assert names(Cond("Email", "equals", "ANN@A.COM")) == ["Ann"]
    assert names(Cond("Last_Name", "starts_with", "lee"), sort_by="Last_Name") == ["Ann", "Bob"]
    assert names(Cond("Email", "ends_with", "@a.com"), sort_by="First_Name", sort_order="desc") == ["Cy", "Ann"]
    assert names(Group("or", [Cond("First_Name", "equals", "Ann"), Cond("First_Name", "equals", "Cy")]),
                 sort_by="First_Name") == ["Ann", "Cy"]
    assert names(Cond("Active", "equals", False)) == ["Bob"]
    assert names(Cond("First_Name", "in", ["bob", "cy"]), sort_by="First_Name") == ["Bob", "Cy"]
    bob = st.find("Contacts", ids["Bob"])
    assert names(Cond("Modified_Time", "greater_than", bob.modified_time.isoformat()), sort_by="id") == ["Cy"]
    assert st.count("Accounts", Cond("Employees", "greater_equal", 50)) == 2
    assert names(Cond("Account_Name", "equals", bob.doc["Account_Name"]["id"])) == ["Bob"]
    rows, more = st.query("Contacts", None, sort_by="Created_Time", limit=2)
    assert more is True and [r.doc["First_Name"] for r in rows] == ["Ann", "Bob"]
    st.delete("Contacts", ids["Ann"])
    s.commit()
    assert st.find("Contacts", ids["Ann"]) is None and st.count("Contacts") == 2
    deleted, _ = st.query("Contacts", None, deleted=True)
    assert [r.id for r in deleted] == [ids["Ann"]] and deleted[0].deleted_type == "recycle"
    with pytest.raises(RecordError):
        st.query("Contacts", Cond("Nope", "equals", 1))
    with pytest.raises(RecordError):
        st.query("Contacts", Cond("Email", "sounds_like", "x"))
    s.close()


def test_workflow_rules_run_unless_suppressed(env):
    lab, store, _ = env
    from fakes.core.workflows import WorkflowRule, WorkflowRun

    s, st = store()
    s.add(WorkflowRule(id="1", product="books", org_id=st.org.id, module="Contacts", event="create",
                       action={"type": "field_update", "field": "First_Name", "value": "Flagged"}))
    s.commit()
    a = st.create("Contacts", {"Last_Name": "Plain"})
    b = st.create("Contacts", {"Last_Name": "Quiet"}, trigger=False)
    s.commit()
    assert a.doc["First_Name"] == "Flagged" and st.render(a)["Full_Name"] == "Flagged Plain"
    assert "First_Name" not in b.doc
    runs = s.exec(select(WorkflowRun)).all()
    assert [r.record_id for r in runs] == [a.id]
    s.close()


def test_unique_values_are_claimed_released_and_stale_claims_taken_over(env):
    """``lab_unique_value`` follows the records: a rename frees the old value, a delete frees its
    value, and a claim whose holder no longer has the value (changed by a path that keeps no
    claims, here a direct document edit) does not refuse the next writer."""
    from fakes.core.unique import UniqueValue

    _lab, store, _events = env
    s, st = store()
    a = st.create("Accounts", {"Account_Name": "Alpha"})
    b = st.create("Accounts", {"Account_Name": "Beta"})
    st.update("Accounts", a.id, {"Account_Name": "ALPHA two"})
    st.create("Accounts", {"Account_Name": "alpha"})  # Alpha was released by the rename
    st.delete("Accounts", b.id)
    st.create("Accounts", {"Account_Name": "BETA"})  # released by the delete
    s.commit()
    assert len(s.exec(select(UniqueValue).where(UniqueValue.scope == "Accounts")).all()) == 3  # Books' own claims apart
    a.doc = {**a.doc, "Account_Name": "Gamma"}  # the claim on "ALPHA two" is now stale
    s.add(a)
    s.commit()
    c = st.create("Accounts", {"Account_Name": "Alpha Two"})
    s.commit()
    with pytest.raises(RecordError) as err:  # and the new holder's claim holds
        st._claim_unique(MODULES["Accounts"], {"Account_Name": "alpha TWO"}, None, "999", 0)
    assert err.value.code == "DUPLICATE_DATA" and err.value.details["duplicate_record"]["id"] == c.id
    s.close()
