"""The CRM direct sync's pure parts: mappings (CR-03, CR-10, CR-11), PII (CR-06), install checks
(CR-01, CR-02) and the Overwrite merge (CR-04)."""

from __future__ import annotations

import pytest

from syncer.crm_sync import install, merge, pii
from syncer.crm_sync.mapping import (
    DEFAULT_MAPPINGS,
    PAIRS,
    FieldInfo,
    InvalidMapping,
    MappingFailure,
    changes,
    to_crm,
    to_fsm,
    validate_mapping,
)

FSM_CONTACT = {n: FieldInfo(n) for n in ("First_Name", "Last_Name", "Email", "Phone", "Mobile", "Description")}
FSM_CONTACT["Company"] = FieldInfo("Company", "lookup", lookup="Companies")
FSM_CONTACT["Full_Name"] = FieldInfo("Full_Name", read_only=True)
CRM_CONTACT = {n: FieldInfo(n) for n in ("First_Name", "Last_Name", "Email", "Phone", "Mobile", "Description",
                                         "Date_of_Birth")}
CRM_CONTACT["Account_Name"] = FieldInfo("Account_Name", "lookup", lookup="Accounts")
CRM_CONTACT["Full_Name"] = FieldInfo("Full_Name", read_only=True)

no_links = lambda module, rid: None  # noqa: E731


def test_the_default_contact_mapping_is_valid_and_invalid_ones_name_the_field():
    assert validate_mapping("contacts", DEFAULT_MAPPINGS["contacts"], FSM_CONTACT, CRM_CONTACT)
    bad = [*DEFAULT_MAPPINGS["contacts"], {"fsm_field": "Nope", "crm_field": "Email", "direction": "fsm_to_crm"}]
    with pytest.raises(InvalidMapping, match=r"mappings.contacts\[7\].fsm_field.*'Nope'"):
        validate_mapping("contacts", bad, FSM_CONTACT, CRM_CONTACT)
    with pytest.raises(InvalidMapping, match="Full_Name is read-only"):
        validate_mapping("contacts", [*DEFAULT_MAPPINGS["contacts"][:6],
                                      {"fsm_field": "Description", "crm_field": "Full_Name"}], FSM_CONTACT, CRM_CONTACT)
    with pytest.raises(InvalidMapping, match="Email is mandatory"):
        validate_mapping("contacts", [r for r in DEFAULT_MAPPINGS["contacts"] if r["fsm_field"] != "Email"],
                         FSM_CONTACT, CRM_CONTACT)
    with pytest.raises(InvalidMapping, match="a lookup maps only to a lookup"):
        validate_mapping("contacts", [*DEFAULT_MAPPINGS["contacts"][:5],
                                      {"fsm_field": "Company", "crm_field": "Description"}], FSM_CONTACT, CRM_CONTACT)
    with pytest.raises(InvalidMapping, match="direction"):
        validate_mapping("contacts", [{"fsm_field": "Email", "crm_field": "Email", "direction": "sideways"}],
                         FSM_CONTACT, CRM_CONTACT)


def test_product_type_decides_service_or_part_and_unit_price_is_mandatory():
    pair, rows = PAIRS["products"], DEFAULT_MAPPINGS["products"]
    assert to_fsm(pair, rows, {"Product_Name": "Visit", "Type": "Service", "Unit_Price": 10}, no_links,
                  creating=True)["Type"] == "Service"
    assert to_fsm(pair, rows, {"Product_Name": "Valve", "Type": "Goods", "Unit_Price": 3}, no_links,
                  creating=True)["Type"] == "Part"
    assert to_fsm(pair, rows, {"Product_Name": "Pipe", "Type": None, "Unit_Price": 3}, no_links,
                  creating=True)["Type"] == "Part"  # no Type: Goods
    with pytest.raises(MappingFailure, match="Unit Price is mandatory"):
        to_fsm(pair, rows, {"Product_Name": "Free thing", "Type": "Goods"}, no_links, creating=True)
    assert to_crm(pair, rows, {"Name": "Valve", "Type": "Part", "Unit_Price": 3}, no_links, creating=True)["Type"] == "Goods"


def test_lookups_go_through_the_links_and_only_the_changed_fields_travel():
    pair, rows = PAIRS["contacts"], DEFAULT_MAPPINGS["contacts"]
    crm = {"Last_Name": "Ng", "Email": "ng@x.example", "Phone": "1", "Account_Name": {"id": "900", "name": "Acme"}}
    out = to_fsm(pair, rows, crm, lambda m, i: "55" if (m, i) == ("Accounts", "900") else None,
                 crm_fields=CRM_CONTACT)
    assert out["Company"] == {"id": "55"} and out["Email"] == "ng@x.example"
    assert to_fsm(pair, rows, crm, no_links, crm_fields=CRM_CONTACT).get("Company", "absent") == "absent"
    assert to_fsm(pair, rows, crm, no_links, only=["Phone"]) == {"Phone": "1"}
    assert changes({"Phone": "1", "Company": {"id": "55"}}, {"Phone": "1", "Company": {"id": "55", "name": "A"}}) == {}


def test_pii_rows_never_cross_in_either_direction():
    crm_settings = {"restrict_data_transfer": {"Contacts": {"level": "sensitive", "restricted_fields": ["Phone"]},
                                               "Accounts": {"level": "none", "restricted_fields": []}}}
    fsm_fields = {"Contacts": [{"api_name": "Mobile", "pii": True}, {"api_name": "Email", "pii": False}]}
    ex = pii.excluded(crm_settings, {"pii_api_access": False}, fsm_fields)
    rows = pii.allowed_rows(DEFAULT_MAPPINGS["contacts"], ex, fsm_module="Contacts", crm_module="Contacts")
    assert {r["crm_field"] for r in rows} == {"First_Name", "Last_Name", "Email", "Account_Name", "Description"}
    ex_on = pii.excluded(crm_settings, {"pii_api_access": True}, fsm_fields)
    assert ex_on.fsm_fields("Contacts") == frozenset() and ex_on.crm_fields("Contacts") == {"Phone"}


def test_install_refusals_and_access():
    ok_fsm, ok_crm = {"edition": "standard"}, {"edition": "enterprise", "books_integration": {"enabled": False}}
    assert install.install_refusal(ok_fsm, ok_crm) is None
    r = install.install_refusal({"edition": "free"}, ok_crm)
    assert r.code == "edition_not_supported" and "FSM" in r.message and "Free" in r.message
    r = install.install_refusal(ok_fsm, {"edition": "free"})
    assert r.code == "edition_not_supported" and "CRM" in r.message
    r = install.install_refusal(ok_fsm, {"edition": "standard", "books_integration": {"enabled": True,
                                                                                      "linked_org_id": "7"}})
    assert r.code == "crm_integrated_with_books"
    admins = install.check_access(None)
    assert install.access_allows(admins, "Administrator") and not install.access_allows(admins, "Standard")
    chosen = install.check_access({"mode": "profiles", "profiles": ["Sales"]})
    assert install.access_allows(chosen, "Sales") and not install.access_allows(chosen, "Administrator")
    assert install.access_allows(install.check_access({"mode": "all"}), "Anything")
    with pytest.raises(ValueError, match="access.mode"):
        install.check_access({"mode": "everyone"})


def test_overwrite_takes_crm_values_where_both_have_one_and_fsm_values_otherwise():
    pair, rows = PAIRS["contacts"], DEFAULT_MAPPINGS["contacts"]
    crm = {"Last_Name": "Smith", "Email": "s@x.example", "Phone": "111", "Mobile": None}
    fsm = {"Last_Name": "Smyth", "Email": "s@x.example", "Phone": None, "Mobile": "999", "Description": "old"}
    to_fsm_, to_crm_ = merge.overwrite(pair, rows, crm, fsm, no_links, no_links)
    assert to_fsm_ == {"Last_Name": "Smith", "Phone": "111"}
    assert to_crm_ == {"Mobile": "999", "Description": "old"}
    assert merge.match_key(" S@X.example ") == "s@x.example" and merge.match_key("") is None


def test_the_inbox_applies_in_order_retries_failures_and_reclaims_a_dead_claim(tmp_path):
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from syncer.store.db import StoreDB
    from syncer.store.models import InboxItem
    from syncer.sync_core.inbox import CLAIM_LEASE, MAX_ATTEMPTS, Inbox, InboxWorker

    db = StoreDB(f"sqlite:///{tmp_path / 'inbox.db'}")
    now = datetime(2026, 1, 1, tzinfo=UTC)
    inbox = Inbox(db, lambda: now)
    first, second = inbox.put("I1", "crm", {"n": 1}), inbox.put("I1", "fsm", {"n": 2})
    seen: list[int] = []

    def apply(item):
        seen.append(item.payload["n"])
        if item.payload["n"] == 2 and seen.count(2) < 2:
            raise RuntimeError("flaky")
        return {"results": [{"module": "Contacts", "ok": True}]}

    worker = InboxWorker(inbox, apply)
    assert worker.drain() == 1 and seen == [1, 2]  # the failure waits for the next round
    assert worker.drain() == 1 and seen == [1, 2, 2]
    assert {i.state for i in inbox.items("I1")} == {"done"}
    assert [i.id for i in inbox.applied_between("I1", now, now + timedelta(seconds=1))] == [first.id, second.id]

    dead = inbox.put("I1", "crm", {"n": 3})
    [claimed] = inbox.claim()  # a process claims it, then dies
    assert claimed.id == dead.id and inbox.claim() == []
    with db.begin() as s:
        s.execute(update(InboxItem).where(InboxItem.id == dead.id).values(
            claimed_at=datetime.now(UTC) - CLAIM_LEASE - timedelta(seconds=1)))
    assert [i.id for i in inbox.claim()] == [dead.id]  # its lease ran out: claimed again

    hopeless = inbox.put("I2", "crm", {"n": 4})
    broken = InboxWorker(inbox, lambda item: 1 / 0)
    for _ in range(MAX_ATTEMPTS + 2):
        broken.drain()
    [item] = inbox.items("I2")
    assert item.id == hopeless.id and item.state == "failed" and "ZeroDivisionError" in item.error
