"""Field mapping rules (TW-03, TW-11, OB-02), with FSM's real field metadata from the fake."""

from __future__ import annotations

import pytest

from syncer.books_sync import mapping
from syncer.books_sync.mapping import Pair
from syncer.clients import AccountsClient, FsmClient


@pytest.fixture
def fsm_fields(zlab_lab):
    t = zlab_lab.tenant(products=["fsm"])
    fsm = FsmClient(AccountsClient(zlab_lab.url, t.client_id, t.client_secret, t.refresh_token))
    return {m: fsm.fields(m) for m in ("Companies", "Contacts", "Service_And_Parts")}


def test_defaults_are_valid(fsm_fields):
    for module in ("items", "customers"):
        assert mapping.validate(module, mapping.defaults(module), fsm_fields) == []


def test_pii_fields_cannot_be_mapped(fsm_fields):
    problems = mapping.validate("customers", [Pair("Email", "email", fsm_module="Contacts")], fsm_fields)
    assert problems == ["Email is a PII field of FSM Contacts: PII and EPHI fields cannot be used in field mappings"]


def test_unknown_fields_and_unmapped_mandatory_fields_are_refused(fsm_fields):
    problems = mapping.validate("items", [Pair("Nope", "description"), Pair("Description", "colour")], fsm_fields)
    assert "FSM Service_And_Parts has no field Nope" in problems
    assert "Books items has no field colour" in problems
    assert mapping.validate("invoices", [], fsm_fields) == []
    assert mapping.validate("widgets", [], fsm_fields)[0].startswith("unknown module mapping")


def test_custom_books_fields_are_mappable(fsm_fields):
    pairs = [Pair("Description", "cf_fsm_note")]
    assert mapping.validate("items", pairs, fsm_fields) != []
    assert mapping.validate("items", pairs, fsm_fields, custom_books_fields=["cf_fsm_note"]) == []


def test_values_flow_through_mappings_by_direction():
    pairs = [Pair("Description", "description"), Pair("SKU", "sku", "fsm_to_books"), Pair("Unit", "unit", "books_to_fsm")]
    rec = {"Description": "d", "SKU": "s", "Unit": "u"}
    assert mapping.to_books(pairs, rec) == {"description": "d", "sku": "s"}
    assert mapping.to_fsm(pairs, {"description": "d", "sku": "s", "unit": "u"}) == {"Description": "d", "Unit": "u"}
    assert mapping.address_to_fsm(mapping.address_to_books({"Street_1": "1 Main", "City": "Austin", "Zip_Code": 73301})) \
        == {"Address_Name": "", "Street_1": "1 Main", "Street_2": "", "City": "Austin", "State": "", "Zip_Code": "73301",
            "Country": ""}
