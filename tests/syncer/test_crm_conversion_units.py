"""Conversion mappings' validation (CR-07), pure: each refusal names the field."""

from __future__ import annotations

import pytest

from syncer.crm_sync.conversions import DEFAULT_MAPPINGS, KEYS, Field, validate
from syncer.store.repo import InvalidValue

CRM_DEALS = {f.name: f for f in (
    Field("Deal_Name", "text", False, True, None), Field("Account_Name", "lookup", False, False, "Accounts"),
    Field("Contact_Name", "lookup", False, False, "Contacts"), Field("Amount", "currency", False, False, None),
    Field("Description", "textarea", False, False, None))}
FSM_WO = {f.name: f for f in (
    Field("Summary", "text", False, True, None), Field("Company", "lookup", False, False, "Companies"),
    Field("Contact", "lookup", False, True, "Contacts"), Field("Grand_Total", "currency", True, False, None),
    Field("Description", "textarea", False, False, None), Field("ZCRM_Deals_Id", "bigint", False, False, None),
    Field("Service_Line_Items", "subform", False, False, None))}


def refused(rows) -> str:
    with pytest.raises(InvalidValue) as exc:
        validate("Deals->Work_Orders", rows, CRM_DEALS, FSM_WO)
    return str(exc.value)


def test_every_conversion_has_a_default_mapping():
    assert set(KEYS) == set(DEFAULT_MAPPINGS) and "Products->Assets" in KEYS and "Sales_Orders->Assets" in KEYS
    assert "Products->Requests" not in KEYS  # a Product only makes Assets


def test_the_default_deal_mapping_is_valid():
    assert validate("Deals->Work_Orders", DEFAULT_MAPPINGS["Deals->Work_Orders"][:3], CRM_DEALS, FSM_WO)


@pytest.mark.parametrize(("rows", "named"), [
    ([{"crm_field": "Nope", "fsm_field": "Summary"}], "[0].crm_field"),
    ([{"crm_field": "Deal_Name", "fsm_field": "Nope"}], "[0].fsm_field"),
    ([{"crm_field": "Amount", "fsm_field": "Grand_Total"}], "read-only"),
    ([{"crm_field": "Deal_Name", "fsm_field": "ZCRM_Deals_Id"}], "ZCRM_Deals_Id"),
    ([{"crm_field": "Deal_Name", "fsm_field": "Summary"}, {"crm_field": "Description", "fsm_field": "Summary"}],
     "mapped twice"),
    ([{"crm_field": "Account_Name", "fsm_field": "Contact"}], "synced module pair"),
    ([{"crm_field": "Deal_Name", "fsm_field": "Company"}], "a lookup maps only to a lookup"),
    ([{"crm_field": "id", "fsm_field": "Company"}], "(id)"),
    ([{"crm_field": "Description", "fsm_field": "Service_Line_Items"}], "Service_Line_Items"),
    ([{"crm_field": "Deal_Name"}], "[0].fsm_field"),
    ("Deal_Name", "must be a list"),
])
def test_invalid_mappings_are_refused_naming_the_field(rows, named):
    message = refused(rows)
    assert named in message and message.startswith("conversion_mappings.Deals->Work_Orders")
