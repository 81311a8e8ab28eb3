"""Tests of the contract validator itself (tests/contract/openapi_contract.py).

Tests that need Zoho's specs take the ``specs_dir`` fixture and skip when ../shared/specs is absent; the
OpenAPI 3.0 conversion is also tested on small specs written to tmp_path, which always run.
"""

from __future__ import annotations

import copy
import json

import pytest

from .openapi_contract import (
    Spec,
    SpecLookupError,
    assert_fields_known,
    example_conflicts,
    example_for,
    schema_for,
    unknown_fields,
    validate_response,
)

BOOKS_FILES = ["contacts.yml", "contact-persons.yml", "items.yml", "invoices.yml", "currency.yml", "taxes.yml",
               "organizations.yml", "users.yml"]

CRM_INSERT_201 = {"data": [{
    "code": "SUCCESS",
    "details": {"Modified_Time": "2021-05-02T11:17:33+05:30", "Modified_By": {"name": "x", "id": "4150868000000225013"},
                "Created_Time": "2021-05-02T11:17:33+05:30", "id": "4150868000000543001",
                "Created_By": {"name": "x", "id": "4150868000000225013"}},
    "message": "record added", "status": "success"}]}
CRM_MISSING_FIELD = {"code": "MANDATORY_NOT_FOUND", "details": {"api_name": "Last_Name", "json_path": "$.data[1].Last_Name"},
                     "message": "required field not found", "status": "error"}
CRM_GET_CONTACTS = {
    "data": [{
        "id": "4150868000000543001",
        "Owner": {"name": "Patricia Boyle", "id": "4150868000000225013", "email": "p.boyle@zylker.com"},
        "First_Name": "Kris", "Last_Name": "Marrier", "Full_Name": "Kris Marrier", "Email": "kris@example.com",
        "Phone": "555-555-5555", "Account_Name": {"name": "King", "id": "4150868000000543010"},
        "Created_By": {"name": "Patricia Boyle", "id": "4150868000000225013", "email": "p.boyle@zylker.com"},
        "Modified_By": {"name": "Patricia Boyle", "id": "4150868000000225013", "email": "p.boyle@zylker.com"},
        "Created_Time": "2021-05-02T11:17:33+05:30", "Modified_Time": "2021-05-02T11:17:33+05:30",
        "Tag": [], "$approval_state": "approved", "Email_Opt_Out": False, "Mailing_City": None,
    }],
    "info": {"per_page": 200, "count": 1, "page": 1, "sort_by": "id", "sort_order": "desc",
             "more_records": False, "call": False, "email": False},
}


@pytest.fixture
def contacts(specs_dir) -> Spec:
    return Spec.load(specs_dir / "books-v3" / "contacts.yml")


@pytest.fixture
def crm_records(specs_dir) -> Spec:
    return Spec.load(specs_dir / "crm-v8" / "record.json")


def _raises(fn, *args, **kwargs) -> str:
    with pytest.raises(AssertionError) as info:
        fn(*args, **kwargs)
    return str(info.value)


# ------------------------------------------------------------------------------------------- Books

def test_books_specs_load_once_and_are_cached(specs_dir):
    first = [Spec.load(specs_dir / "books-v3" / name) for name in BOOKS_FILES]
    again = [Spec.load(specs_dir / "books-v3" / name) for name in BOOKS_FILES]
    assert all(a is b for a, b in zip(first, again, strict=True))  # cached: the same objects
    assert str((specs_dir / "books-v3" / "contacts.yml").resolve()) in repr(first[0])


def test_spec_example_for_create_contact_is_valid(contacts):
    body = example_for(contacts, "/contacts", "post", 201)
    assert body["code"] == 0 and body["message"] == "The contact has been created"
    assert body["contact"]["contact_id"] == "460000000026049"  # the spec's example, as the declared string
    assert body["contact"]["contact_name"] == "Bowman and Co"
    keys = validate_response(contacts, "/contacts", "post", 201, body)
    assert keys == ["code", "message", "contact"]
    assert keys.response_key == "201"


def test_integer_contact_id_is_caught(contacts):
    body = example_for(contacts, "/contacts", "post", 201)
    body["contact"]["contact_id"] = 460000000026049
    msg = _raises(validate_response, contacts, "/contacts", "post", 201, body)
    assert "$.contact.contact_id: 460000000026049 is not of type 'string'" in msg
    assert "POST /contacts -> 201 (contacts.yml" in msg


def test_all_errors_are_listed_with_paths_and_values(contacts):
    body = example_for(contacts, "/contacts/{contact_id}", "get", 200)
    body["contact"]["billing_address"]["zip"] = 94588
    body["contact"]["contact_persons"][0]["is_primary_contact"] = "yes"
    body["contact"]["credit_limit"] = "1000.00"
    msg = _raises(validate_response, contacts, "/contacts/460000000026049", "get", 200, body)
    assert "3 schema violation(s)" in msg
    assert "$.contact.billing_address.zip: 94588 is not of type 'string'" in msg
    assert "$.contact.contact_persons[0].is_primary_contact: 'yes' is not of type 'boolean'" in msg
    assert "$.contact.credit_limit: '1000.00' is not of type 'number'" in msg


def test_wrong_container_type_is_caught(contacts):
    body = example_for(contacts, "/contacts", "get", 200)
    body["contacts"] = body["contacts"][0]  # an object where the spec says array
    msg = _raises(validate_response, contacts, "/contacts", "get", 200, body)
    assert "$.contacts: {object with keys: contact_id, contact_name, company_name, " in msg
    assert "...} is not of type 'array'" in msg


@pytest.mark.parametrize(("spec_file", "path", "method", "status", "top_key"), [
    ("contacts.yml", "/contacts", "get", 200, "contacts"),
    ("contacts.yml", "/contacts/{contact_id}", "get", 200, "contact"),
    ("contacts.yml", "/contacts/{contact_id}", "put", 200, "contact"),
    ("contact-persons.yml", "/contacts/{contact_id}/contactpersons", "get", 200, "contact_persons"),
    ("contact-persons.yml", "/contacts/contactpersons", "post", 201, "contact_person"),
    ("items.yml", "/items", "get", 200, "items"),
    ("items.yml", "/items", "post", 201, "item"),
    ("items.yml", "/items/{item_id}", "get", 200, "item"),
    ("invoices.yml", "/invoices", "get", 200, "invoices"),
    ("invoices.yml", "/invoices", "post", 201, "invoice"),
    ("invoices.yml", "/invoices/{invoice_id}", "get", 200, "invoice"),
    ("currency.yml", "/settings/currencies", "get", 200, "currencies"),
    ("currency.yml", "/settings/currencies/{currency_id}", "get", 200, "currency"),
    ("taxes.yml", "/settings/taxes", "get", 200, "taxes"),
    ("taxes.yml", "/settings/taxes/{tax_id}", "get", 200, "tax"),
    ("organizations.yml", "/organizations", "get", 200, "organizations"),
    ("organizations.yml", "/organizations/{organization_id}", "get", 200, "organization"),
    ("users.yml", "/users/me", "get", 200, "user"),
])
def test_books_examples_from_the_spec_validate(specs_dir, spec_file, path, method, status, top_key):
    spec = Spec.load(specs_dir / "books-v3" / spec_file)
    body = example_for(spec, path, method, status)
    keys = validate_response(spec, path, method, status, body)
    assert {"code", "message", top_key} <= set(keys)
    assert unknown_fields(spec, path, method, status, body) == []


def test_undeclared_status_fails_for_books(contacts):
    body = example_for(contacts, "/contacts", "post", 201)
    msg = _raises(validate_response, contacts, "/contacts", "post", 200, body)
    assert "POST /contacts in contacts.yml declares no response for status 200 (declared: 201)" in msg


def test_body_may_be_text_bytes_or_a_flask_response(contacts):
    from flask import Flask

    body = example_for(contacts, "/contacts", "post", 201)
    assert validate_response(contacts, "/contacts", "post", 201, json.dumps(body)) == ["code", "message", "contact"]
    assert validate_response(contacts, "/contacts", "post", 201, json.dumps(body).encode())
    with Flask(__name__).app_context():
        from flask import jsonify

        assert validate_response(contacts, "/contacts", "post", 201, jsonify(body))
    assert "not JSON" in _raises(validate_response, contacts, "/contacts", "post", 201, "<html>oops</html>")


def test_numbers_as_strings_in_the_books_spec_are_visible_and_ignorable(specs_dir):
    invoices = Spec.load(specs_dir / "books-v3" / "invoices.yml")
    conflicts = example_conflicts(invoices, "/invoices/{invoice_id}", "get", 200)
    assert "$.invoice.total: declared string, spec example 10000.0" in conflicts
    body = example_for(invoices, "/invoices/{invoice_id}", "get", 200)
    body["invoice"]["total"] = 10000.0  # what the real API sends
    msg = _raises(validate_response, invoices, "/invoices/982000000567114", "get", 200, body)
    assert "$.invoice.total: 10000.0 is not of type 'string'" in msg
    validate_response(invoices, "/invoices/982000000567114", "get", 200, body, ignore=["$.invoice.total"])


# ---------------------------------------------------------------------------------- path matching

@pytest.mark.parametrize(("concrete", "method", "template"), [
    ("/contacts/{contact_id}", "get", "/contacts/{contact_id}"),
    ("/contacts/460000000026049", "get", "/contacts/{contact_id}"),
    ("/contacts/460000000026049/", "delete", "/contacts/{contact_id}"),
    ("/books/v3/contacts/460000000026049?organization_id=10234695", "get", "/contacts/{contact_id}"),
    ("https://www.zohoapis.com/books/v3/contacts?page=2", "get", "/contacts"),
    ("/contacts/460000000026049/address/460000000026080", "put", "/contacts/{contact_id}/address/{address_id}"),
    ("/contacts/460000000026049/statements/email", "get", "/contacts/{contact_id}/statements/email"),
])
def test_concrete_paths_match_books_templates(contacts, concrete, method, template):
    assert contacts.match_path(concrete, method) == template


def test_literal_segments_win_over_parameters(specs_dir, crm_records):
    invoices = Spec.load(specs_dir / "books-v3" / "invoices.yml")
    assert invoices.match_path("/invoices/templates", "get") == "/invoices/templates"
    assert invoices.match_path("/invoices/982000000567114", "get") == "/invoices/{invoice_id}"
    assert invoices.match_path("/invoices/email", "post") == "/invoices/email"
    assert invoices.match_path("/invoices/982000000567114/email", "post") == "/invoices/{invoice_id}/email"
    assert crm_records.match_path("/crm/v8/Contacts/deleted", "get") == "/crm/v8/{module_api_name}/deleted"
    assert crm_records.match_path("/crm/v8/Contacts/search?email=a@b.c", "get") == "/crm/v8/{module_api_name}/search"
    assert crm_records.match_path("/crm/v8/Contacts/4150868000000543001", "get") == "/crm/v8/{module_api_name}/{id}"
    assert crm_records.match_path("/Contacts", "get") == "/crm/v8/{module_api_name}"  # "/crm/v8" may be left off


def test_unknown_path_and_method_raise_clear_errors(contacts):
    with pytest.raises(SpecLookupError, match=r"no path in contacts.yml matches '/contact/1'") as info:
        validate_response(contacts, "/contact/1", "get", 200, {})
    assert "/contacts" in str(info.value)  # lists what exists
    with pytest.raises(SpecLookupError, match=r"PATCH /contacts/\{contact_id\} is not in contacts.yml; "
                                              r"it declares: PUT, GET, DELETE"):
        validate_response(contacts, "/contacts/1", "patch", 200, {})
    with pytest.raises(SpecLookupError, match="spec file not found"):
        Spec.load(contacts.path.parent / "no-such-spec.yml")


# --------------------------------------------------------------------------------------------- CRM

def test_crm_get_records_response_validates(crm_records):
    keys = validate_response(crm_records, "/crm/v8/Contacts", "get", 200, CRM_GET_CONTACTS)
    assert keys == ["data", "info"]
    assert keys.schema_uri.endswith("record.json#/paths/~1crm~1v8~1%7Bmodule_api_name%7D/get/responses/200/"
                                    "content/application~1json/schema")
    assert unknown_fields(crm_records, "/crm/v8/Contacts", "get", 200, CRM_GET_CONTACTS) == []


def test_crm_get_records_wrong_types_are_caught(crm_records):
    body = copy.deepcopy(CRM_GET_CONTACTS)
    body["data"][0]["id"] = 4150868000000543001
    body["data"][0]["Created_By"]["id"] = 4150868000000225013  # Minified_User lives in users.json
    body["data"][0]["Modified_Time"] = "2021-05-02 11:17:33"
    body["info"]["more_records"] = "false"
    msg = _raises(validate_response, crm_records, "/crm/v8/Contacts", "get", 200, body)
    assert "4 schema violation(s)" in msg
    assert "$.data[0].id: 4150868000000543001 is not of type 'string'" in msg
    assert "$.data[0].Created_By.id: 4150868000000225013 is not of type 'string', 'null'" in msg
    assert "$.data[0].Modified_Time: '2021-05-02 11:17:33' is not a 'date-time'" in msg
    assert "$.info.more_records: 'false' is not of type 'boolean'" in msg


def test_crm_info_nulls_need_ignore(crm_records):
    body = copy.deepcopy(CRM_GET_CONTACTS)
    body["info"]["next_page_token"] = None  # the live API sends null; record.json's Info is not nullable
    msg = _raises(validate_response, crm_records, "/crm/v8/Contacts", "get", 200, body)
    assert "$.info.next_page_token: None is not of type 'string'" in msg
    validate_response(crm_records, "/crm/v8/Contacts", "get", 200, body, ignore=["$.info.next_page_token"])


def test_crm_insert_201_uses_the_200_declaration_and_cross_file_refs(crm_records):
    keys = validate_response(crm_records, "/crm/v8/Contacts", "post", 201, CRM_INSERT_201)
    assert keys == ["data"] and keys.response_key == "200"
    body = copy.deepcopy(CRM_INSERT_201)
    del body["data"][0]["details"]["Created_By"]["name"]  # required only in users.json#/.../Minified_User
    body["data"][0]["details"]["Modified_By"]["id"] = None  # nullable there: fine
    msg = _raises(validate_response, crm_records, "/crm/v8/Contacts", "post", 201, body)
    assert msg.splitlines()[1:] == ["  $.data[0].details.Created_By: 'name' is a required property"]
    created_by = schema_for(crm_records, "/crm/v8/{module_api_name}", "post", 200, "/data/*/details/Created_By")
    assert created_by["required"] == ["name", "id"]
    assert created_by["properties"]["id"] == {"type": "string", "nullable": True}


def test_crm_207_mixed_results_and_error_items(crm_records):
    body = {"data": [CRM_INSERT_201["data"][0], CRM_MISSING_FIELD]}
    assert validate_response(crm_records, "/crm/v8/Contacts", "post", 207, body) == ["data"]
    assert unknown_fields(crm_records, "/crm/v8/Contacts", "post", 207, body) == []  # error details: api_name...
    bad = copy.deepcopy(body)
    bad["data"][1]["code"] = "MISSING_MANDATORY"  # not one of Zoho's error codes
    bad["data"][0]["message"] = "Record Added"  # Zoho's success messages are an enum
    msg = _raises(validate_response, crm_records, "/crm/v8/Contacts", "post", 207, bad)
    assert "$.data[0].message: 'Record Added' is not one of ['record updated'" in msg
    assert "$.data[1].code: 'MISSING_MANDATORY' is not one of ['DUPLICATE_DATA'" in msg


def test_crm_errors_and_204(crm_records):
    error = {"code": "INVALID_DATA", "details": {"api_name": "id"}, "message": "the id given seems to be invalid",
             "status": "error"}
    keys = validate_response(crm_records, "/crm/v8/Contacts/123", "get", 400, error)
    assert keys == ["code", "details", "message", "status"]
    assert validate_response(crm_records, "/crm/v8/Contacts", "get", 204, None) == []
    assert validate_response(crm_records, "/crm/v8/Contacts", "get", 204, b"") == []
    assert "declares no body" in _raises(validate_response, crm_records, "/crm/v8/Contacts", "get", 204, {"data": []})
    strict = Spec.load(crm_records.path, collapse_statuses=False)
    assert strict is not crm_records
    assert "declares no response for status 201" in _raises(
        validate_response, strict, "/crm/v8/Contacts", "post", 201, CRM_INSERT_201)


def test_crm_files_that_declare_204_and_errors(specs_dir):
    users = Spec.load(specs_dir / "crm-v8" / "users.json")
    assert validate_response(users, "/crm/v8/users", "get", 204, None).response_key == "204"
    body = example_for(users, "/crm/v8/users", "get", 200)
    assert validate_response(users, "/crm/v8/users", "get", 200, body) == ["users", "info"]
    error = {"code": "INVALID_DATA", "details": {}, "message": "invalid data", "status": "error"}
    assert validate_response(users, "/crm/v8/users", "get", 404, error).response_key == "400"
    del body["info"]["more_records"]
    assert "$.info: 'more_records' is a required property" in _raises(
        validate_response, users, "/crm/v8/users", "get", 200, body)


# ---------------------------------------------------------------------------------------- strictness

def test_assert_fields_known_flags_invented_keys(contacts, crm_records):
    body = example_for(contacts, "/contacts", "post", 201)
    assert_fields_known(contacts, "/contacts", "post", 201, body)
    body["contact"]["contact_idx"] = "1"
    body["contact"]["contact_persons"][0]["nick_name"] = "Willy"
    body["zoho_trace"] = "x"
    validate_response(contacts, "/contacts", "post", 201, body)  # the spec itself allows extra keys
    msg = _raises(assert_fields_known, contacts, "/contacts", "post", 201, body)
    assert "3 field(s) the spec does not declare" in msg
    assert "$.contact.contact_idx: not declared by the spec (declared here: billing_address," in msg
    assert "$.contact.contact_persons[0].nick_name: not declared" in msg
    assert "$.zoho_trace: not declared by the spec (declared here: code, contact, message)" in msg
    under = unknown_fields(contacts, "/contacts", "post", 201, body, "/contact")
    assert sorted(u.split(":")[0] for u in under) == ["$.contact.contact_idx", "$.contact.contact_persons[0].nick_name"]
    assert [u.split(":")[0] for u in unknown_fields(contacts, "/contacts", "post", 201, body,
                                                    "/contact/contact_persons/0")] == ["$.contact.contact_persons[0].nick_name"]
    assert unknown_fields(contacts, "/contacts", "post", 201, body,
                          allow=["zoho_trace", "$.contact.contact_persons[*].nick_name", "$.contact.contact_idx"]) == []
    # CRM records are open (additionalProperties: true) but their envelope is not
    crm = copy.deepcopy(CRM_GET_CONTACTS)
    crm["info"]["total_count"] = 1
    assert unknown_fields(crm_records, "/crm/v8/Contacts", "get", 200, crm) == [
        "$.info.total_count: not declared by the spec (declared here: call, count, email, more_records, "
        "next_page_token, page, page_token_expiry, per_page, previous_page_token, sort_by, sort_order)"]


def test_schema_for_introspection(specs_dir, contacts):
    assert schema_for(contacts, "/contacts/{contact_id}", "get", 200, "/contact/contact_id")["type"] == "string"
    whole = schema_for(contacts, "/contacts", "get", 200)
    assert whole["properties"]["contacts"]["type"] == "array"
    assert "$ref" not in json.dumps(whole)
    items = Spec.load(specs_dir / "books-v3" / "items.yml")
    assert schema_for(items, "/items/{item_id}", "get", 200, "/item/rate")["type"] == "number"
    with pytest.raises(SpecLookupError, match="declares no 'nope'"):
        schema_for(contacts, "/contacts", "get", 200, "/contacts/0/nope")


def test_loaded_specs_are_not_mutated(specs_dir, crm_records):
    users = Spec.load(specs_dir / "crm-v8" / "users.json")
    validate_response(crm_records, "/crm/v8/Contacts", "post", 201, CRM_INSERT_201)
    minified = users.raw["components"]["schemas"]["Minified_User"]
    assert minified["properties"]["id"] == {"type": "string", "nullable": True}
    contact_id = Spec.load(specs_dir / "books-v3" / "contacts.yml").raw["components"]["schemas"]["contact_id"]
    assert contact_id["example"] == 460000000026049 and contact_id["type"] == "string"


# ----------------------------------------------- OpenAPI 3.0 conversion, on a tiny spec in tmp_path

TINY_SPEC = """
openapi: 3.0.0
info: {title: tiny, version: '1'}
servers: [{url: 'https://example.test/api/v1'}]
paths:
  /things/{thing_id}:
    get:
      responses:
        200:
          description: ok
          content:
            application/json:
              schema: {$ref: '#/components/schemas/thing'}
        4XX:
          description: client error
          content:
            application/json:
              schema: {$ref: './errors.json#/components/schemas/Error'}
        default:
          description: other
          content:
            application/json:
              schema: {type: object, properties: {oops: {type: string}}}
components:
  schemas:
    thing:
      type: object
      required: [id]
      properties:
        id: {type: string, readOnly: true, example: 12}
        price: {type: number, minimum: 0, exclusiveMinimum: true, example: 1.5}
        kind: {type: string, enum: [a, b], nullable: true}
        owner: {$ref: './errors.json#/components/schemas/Owner', nullable: true}
        when: {type: string, format: date-time}
        day: {type: string, format: date, example: 2013-11-17}
        colour: {type: string, format: rgb-ish, xml: {name: c}}
        note: {type: string, required: true}
        type: {type: string}
"""
TINY_ERRORS = {"components": {"schemas": {
    "Error": {"type": "object", "properties": {"code": {"type": "integer"}, "message": {"type": "string"}}},
    "Owner": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}},
}}}


@pytest.fixture
def tiny(tmp_path) -> Spec:
    (tmp_path / "tiny.yml").write_text(TINY_SPEC)
    (tmp_path / "errors.json").write_text(json.dumps(TINY_ERRORS))
    return Spec.load(tmp_path / "tiny.yml")


def test_oas30_conversion(tiny):
    ok = {"id": "1", "price": 2, "kind": None, "owner": None, "when": "2021-05-02T11:17:33Z", "day": "2013-11-17",
          "colour": "not checked", "note": "x", "type": "t"}
    assert validate_response(tiny, "/api/v1/things/1", "get", 200, ok) == list(ok)
    bad = dict(ok, id=12, price=0, kind="c", owner={"nick": "x"}, when="2021-05-02T11:17:33+0530", day="17/11/2013")
    msg = _raises(validate_response, tiny, "/things/1", "get", 200, bad)
    assert "6 schema violation(s)" in msg
    for line in ["$.id: 12 is not of type 'string'", "$.price: 0 is less than or equal to the minimum of 0",
                 "$.kind: 'c' is not one of ['a', 'b', None]", "$.owner: 'name' is a required property",
                 "$.when: '2021-05-02T11:17:33+0530' is not a 'date-time'", "$.day: '17/11/2013' is not a 'date'"]:
        assert line in msg
    assert "id" in _raises(validate_response, tiny, "/things/1", "get", 200, {"note": "x"})
    assert validate_response(tiny, "/things/1", "get", 200, ok, formats=False)
    assert validate_response(tiny, "/things/1", "get", 200, bad, ignore=["$.id", "$.price", "$.kind", "$.owner",
                                                                         "$.when", "$.day"])


def test_status_fallbacks_and_sibling_files(tiny):
    assert validate_response(tiny, "/things/1", "get", 404, {"code": 5, "message": "no"}).response_key == "4XX"
    assert "$.code: '5' is not of type 'integer'" in _raises(
        validate_response, tiny, "/things/1", "get", 404, {"code": "5"})
    assert validate_response(tiny, "/things/1", "get", 500, {"oops": "x"}).response_key == "default"
    assert example_for(tiny, "/things/{thing_id}", "get", 200)["id"] == "12"
    assert example_for(tiny, "/things/{thing_id}", "get", 200)["day"] == "2013-11-17"
    assert example_conflicts(tiny, "/things/{thing_id}", "get", 200) == ["$.id: declared string, spec example 12"]
