"""Control surface of Books/Invoice: ``/_lab/books/...`` and ``/_lab/invoice/...`` read and set
the Zoho-internal state of an org (the CRM-Books integration, custom field definitions) that
Zoho offers no public API for.

One blueprint for both products: the app registers it as ``lab_books`` and ``lab_invoice``
(``Flask.register_blueprint(name=)``); a view reads its product from that name.
"""

from __future__ import annotations

from flask import Blueprint, request

from fakes.core.context import json_response, lab
from fakes.core.errors import lab_error
from fakes.core.lab_api import check_integration_state, lab_body, lab_org
from fakes.core.provision import update_org

from . import metadata as md
from .render import crm_integration

blueprint = Blueprint("lab_books_api", __name__)


def _product() -> str:
    """books or invoice: the name the blueprint was registered under is lab_<product>."""
    return (request.blueprint or "").removeprefix("lab_")


@blueprint.get("/orgs/<org_id>/crm-integration")
def crm_integration_get(org_id: str):
    """The org's CRM-Books integration: enabled, sync type I-IV, sync in progress."""
    return json_response(crm_integration(lab_org(org_id, _product()).settings or {}))


@blueprint.route("/orgs/<org_id>/crm-integration", methods=["PUT", "PATCH"])
def crm_integration_set(org_id: str):
    """Set the CRM-Books integration state (merged with what is there)."""
    org = lab_org(org_id, _product())
    data = lab_body()
    check_integration_state(data, keys={"enabled", "sync_type", "sync_in_progress", "crm_org_id"},
                            ids=("crm_org_id",), sync_types=md.SYNC_TYPES)
    merged = {**crm_integration(org.settings or {}), **data}
    update_org(lab(), org_id, {"settings": {"crm_integration": merged}})
    return json_response(merged)


@blueprint.get("/orgs/<org_id>/customfields")
def customfields_list(org_id: str):
    """Custom field definitions of the org, per entity (contact, item, invoice)."""
    return json_response((lab_org(org_id, _product()).settings or {}).get("custom_fields") or {})


@blueprint.post("/orgs/<org_id>/customfields")
def customfields_add(org_id: str):
    """Define a custom field: {entity, label, api_name?, data_type?}."""
    product = _product()
    org = lab_org(org_id, product)
    data = lab_body()
    entity = data.get("entity")
    if entity not in md.CUSTOM_FIELD_ENTITIES:
        raise lab_error(400, f"entity must be one of {', '.join(md.CUSTOM_FIELD_ENTITIES)}")
    label = data.get("label")
    if not isinstance(label, str) or not label.strip() or len(label) > 50:
        raise lab_error(400, "label must be a non-empty string of at most 50 characters")
    api_name = data.get("api_name") or "cf_" + "_".join(label.lower().split())
    if not isinstance(api_name, str) or not api_name.startswith("cf_"):
        raise lab_error(400, "api_name must start with cf_")
    data_type = data.get("data_type", "string")
    if data_type not in md.CUSTOM_FIELD_TYPES:
        raise lab_error(400, f"data_type must be one of {', '.join(md.CUSTOM_FIELD_TYPES)}")
    defs = dict((org.settings or {}).get("custom_fields") or {})
    current = list(defs.get(entity) or [])
    if any(d["api_name"] == api_name or d["label"] == label for d in current):
        raise lab_error(409, f"{entity} already has a custom field {label!r} / {api_name}")
    with lab().db.begin() as s:
        cf_id = lab().ids.record_id(s, product, org_id)
    field = {"customfield_id": cf_id, "index": len(current) + 1, "label": label, "api_name": api_name,
             "data_type": data_type}
    defs[entity] = [*current, field]
    update_org(lab(), org_id, {"settings": {"custom_fields": defs}})
    return json_response(field, 201)
