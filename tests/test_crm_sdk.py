"""Zoho's official Python SDK for CRM v8 (``zohocrmsdk8_0``) against the fake, with only the base
URLs changed: it refreshes a token at /oauth/v2/token, reads the current user, the org and the
field metadata (rejecting picklist values the metadata lacks), then creates, reads, updates,
searches and deletes Contacts. Skipped when the SDK is not installed."""

from __future__ import annotations

import httpx
import pytest

from tests.test_crm_live import serve

pytest.importorskip("zohocrmsdk")


def test_official_sdk_works_unchanged(sqlite_url, tmp_path):
    from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken
    from zohocrmsdk.src.com.zoho.api.authenticator.store import FileStore
    from zohocrmsdk.src.com.zoho.api.logger import Logger
    from zohocrmsdk.src.com.zoho.crm.api import HeaderMap, ParameterMap
    from zohocrmsdk.src.com.zoho.crm.api.dc.data_center import DataCenter
    from zohocrmsdk.src.com.zoho.crm.api.exception import SDKException
    from zohocrmsdk.src.com.zoho.crm.api.initializer import Initializer
    from zohocrmsdk.src.com.zoho.crm.api.record import BodyWrapper, LineItemProduct, Record, RecordOperations
    from zohocrmsdk.src.com.zoho.crm.api.record import Field as F
    from zohocrmsdk.src.com.zoho.crm.api.record.record_operations import (
        DeleteRecordsParam,
        GetRecordsParam,
        SearchRecordsParam,
    )
    from zohocrmsdk.src.com.zoho.crm.api.sdk_config import SDKConfig
    from zohocrmsdk.src.com.zoho.crm.api.util import Choice

    with serve(sqlite_url) as base:
        t = httpx.post(f"{base}/_lab/tenants", json={}).json()
        # the only change from real Zoho: our base URL as the API and accounts domain
        env = DataCenter.Environment(base, base + "/oauth/v2/token", base)
        token = OAuthToken(client_id=t["client_id"], client_secret=t["client_secret"], refresh_token=t["refresh_token"])
        Initializer.initialize(environment=env, token=token, store=FileStore(str(tmp_path / "tokens.csv")),
                               sdk_config=SDKConfig(auto_refresh_fields=False, pick_list_validation=True),
                               resource_path=str(tmp_path),
                               logger=Logger.get_instance(Logger.Levels.INFO, str(tmp_path / "sdk.log")))
        ops = RecordOperations("Contacts")

        rec = Record()
        rec.add_field_value(F.Contacts.last_name(), "Lee")
        rec.add_field_value(F.Contacts.first_name(), "Ann")
        rec.add_field_value(F.Contacts.email(), "ann@zylker.com")
        rec.add_key_value("Salutation", Choice("Dr."))
        body = BodyWrapper()
        body.set_data([rec])
        body.set_trigger(["workflow"])
        resp = ops.create_records(body, HeaderMap())
        assert resp.get_status_code() == 201
        created = resp.get_object().get_data()[0]
        assert created.get_status().get_value() == "success"
        cid = created.get_details()["id"]

        got = ops.get_record(int(cid), ParameterMap(), HeaderMap())
        assert got.get_status_code() == 200
        row = got.get_object().get_data()[0]
        assert (row.get_key_value("Last_Name"), row.get_key_value("Email")) == ("Lee", "ann@zylker.com")
        assert row.get_key_value("Salutation").get_value() == "Dr."

        change = Record()
        change.add_key_value("Phone", "555-0101")
        body = BodyWrapper()
        body.set_data([change])
        resp = ops.update_record(int(cid), body, HeaderMap())
        assert resp.get_status_code() == 200
        assert resp.get_object().get_data()[0].get_status().get_value() == "success"

        params = ParameterMap()
        params.add(SearchRecordsParam.email, "ann@zylker.com")
        found = ops.search_records(params, HeaderMap()).get_object().get_data()
        assert [r.get_id() for r in found] == [int(cid)] and found[0].get_key_value("Phone") == "555-0101"

        params = ParameterMap()
        params.add(GetRecordsParam.fields, "Last_Name,Email")
        listing = ops.get_records(params, HeaderMap()).get_object()
        assert [r.get_id() for r in listing.get_data()] == [int(cid)]
        assert listing.get_info().get_more_records() is False

        # the SDK checks picklist values against the fake's field metadata before sending
        bad = Record()
        bad.add_field_value(F.Contacts.last_name(), "Nope")
        bad.add_key_value("Salutation", Choice("Sir"))
        body = BodyWrapper()
        body.set_data([bad])
        with pytest.raises(SDKException):
            ops.create_records(body, HeaderMap())

        params = ParameterMap()
        params.add(DeleteRecordsParam.ids, str(cid))
        resp = ops.delete_records(params, HeaderMap())
        assert resp.get_object().get_data()[0].get_status().get_value() == "success"
        assert ops.get_record(int(cid), ParameterMap(), HeaderMap()).get_status_code() == 204

        # a Sales Order with line items: the SDK reads the Ordered_Items subform's metadata too
        auth = {"Authorization": f"Zoho-oauthtoken {token.get_access_token()}"}
        acc = httpx.post(f"{base}/crm/v8/Accounts", headers=auth,
                         json={"data": [{"Account_Name": "Buyer"}]}).json()["data"][0]["details"]["id"]
        prod = httpx.post(f"{base}/crm/v8/Products", headers=auth, json={"data": [
            {"Product_Name": "Widget", "Unit_Price": 10, "Type": "Goods"}]}).json()["data"][0]["details"]["id"]
        order = Record()
        order.add_key_value("Subject", "SO-1")
        account = Record()
        account.set_id(int(acc))
        order.add_key_value("Account_Name", account)
        line, product = Record(), LineItemProduct()
        product.set_id(int(prod))
        line.add_key_value("Product_Name", product)
        line.add_key_value("Quantity", 3.0)
        line.add_key_value("List_Price", 10.0)
        order.add_key_value("Ordered_Items", [line])
        body = BodyWrapper()
        body.set_data([order])
        sales = RecordOperations("Sales_Orders")
        resp = sales.create_records(body, HeaderMap())
        assert resp.get_status_code() == 201
        sid = resp.get_object().get_data()[0].get_details()["id"]
        got = sales.get_record(int(sid), ParameterMap(), HeaderMap()).get_object().get_data()[0]
        assert got.get_key_value("Grand_Total") == 30.0
        assert got.get_key_value("Ordered_Items")[0].get_key_value("Product_Name").get_id() == int(prod)

        calls = [(e["method"], e["path"]) for e in reversed(httpx.get(f"{base}/_lab/journal").json()["entries"])]
        assert calls[:4] == [("POST", "/oauth/v2/token"), ("GET", "/crm/v8/users"), ("GET", "/crm/v8/org"),
                             ("GET", "/crm/v8/settings/fields")]
        assert all(status < 500 for status in
                   (e["status"] for e in httpx.get(f"{base}/_lab/journal").json()["entries"]))
