"""The control surface of the fake CRM (``/_lab/crm/...``): Zoho-internal state of CRM orgs that
has no public API (Books/Invoice integration, Restrict Data Transfer to Zoho Apps, installed
extensions), settable by tests and scenarios, and the org's watch channels for debugging.
``/_lab/openapi.json`` documents each view by its docstring's first line.
"""

from __future__ import annotations

from flask import Blueprint, request
from sqlmodel import select

from fakes.core.context import json_response, lab
from fakes.core.errors import lab_error
from fakes.core.lab_api import check_integration_state, lab_body, lab_org
from fakes.core.provision import update_org

from . import metadata as md
from . import render
from .store import CrmStore, CrmWatchChannel, books_integration, extensions

bp = Blueprint("lab_crm", __name__)


@bp.get("/orgs/<org_id>/books-integration")
def books_get(org_id: str):
    """The org's Zoho Books/Invoice integration: linked org, product, sync type I-IV, sync in progress."""
    return json_response(books_integration(lab_org(org_id, "crm").settings or {}))


@bp.route("/orgs/<org_id>/books-integration", methods=["PUT", "PATCH"])
def books_set(org_id: str):
    """Set the Books/Invoice integration (merged with what is there)."""
    org = lab_org(org_id, "crm")
    data = lab_body()
    check_integration_state(data, keys={"enabled", "linked_org_id", "product", "sync_type", "sync_in_progress"},
                            ids=("linked_org_id",), sync_types=md.SYNC_TYPES)
    if "product" in data and data["product"] not in md.BOOKS_PRODUCTS:
        raise lab_error(400, "product must be books or invoice")
    if "linked_org_id" in data and "enabled" not in data:
        data["enabled"] = data["linked_org_id"] is not None
    merged = {**books_integration(org.settings or {}), **data}
    update_org(lab(), org_id, {"settings": {"books_integration": merged}})
    return json_response(merged)


@bp.get("/orgs/<org_id>/data-transfer")
def transfer_get(org_id: str):
    """"Restrict Data Transfer to Zoho Apps" per module, with the fields' personal-data marks."""
    org = lab_org(org_id, "crm")
    with lab().db.session() as s:
        return json_response(render.restrict_data_transfer(CrmStore(lab(), s, org)))


@bp.route("/orgs/<org_id>/data-transfer", methods=["PUT", "PATCH"])
def transfer_set(org_id: str):
    """Body: {"Contacts": {"level": "none|normal|sensitive", "fields": {"Email": "normal|sensitive|none"}}}."""
    org = lab_org(org_id, "crm")
    data = lab_body()
    if not isinstance(data, dict) or not data:
        raise lab_error(400, "the body must map module API names to settings")
    current = dict((org.settings or {}).get("data_transfer") or {})
    for module, conf in data.items():
        if module not in md.MODULES:
            raise lab_error(400, f"unknown module {module!r}; modules: {', '.join(md.MODULE_SEQUENCE)}")
        if not isinstance(conf, dict) or set(conf) - {"level", "fields"}:
            raise lab_error(400, f"{module} must be an object with level and/or fields")
        if "level" in conf and conf["level"] not in md.TRANSFER_LEVELS:
            raise lab_error(400, f"{module}.level must be one of {', '.join(md.TRANSFER_LEVELS)}")
        fields = conf.get("fields", {})
        if not isinstance(fields, dict):
            raise lab_error(400, f"{module}.fields must map field API names to normal|sensitive|none")
        for name, mark in fields.items():
            if name not in md.MODULES[module].fields:
                raise lab_error(400, f"{module} has no field {name!r}")
            if mark not in (*md.FIELD_MARKS, "none"):
                raise lab_error(400, f"{module}.fields.{name} must be normal, sensitive or none")
        before = dict(current.get(module) or {})
        merged_fields = {**(before.get("fields") or {}), **fields}
        current[module] = {**before, **{k: v for k, v in conf.items() if k != "fields"}, "fields": merged_fields}
    update_org(lab(), org_id, {"settings": {"data_transfer": current}})
    return transfer_get(org_id)


@bp.get("/orgs/<org_id>/extensions")
def extensions_get(org_id: str):
    """Installed extensions and the profiles permitted to use them."""
    return json_response({"extensions": extensions(lab_org(org_id, "crm").settings or {})})


@bp.route("/orgs/<org_id>/extensions", methods=["PUT", "POST"])
def extensions_set(org_id: str):
    """PUT: replace the list ({"extensions": [...]}); POST: install one {name, namespace?, profiles}."""
    org = lab_org(org_id, "crm")
    data = lab_body()
    items = data.get("extensions") if request.method == "PUT" and isinstance(data, dict) else [data]
    if not isinstance(items, list):
        raise lab_error(400, "extensions must be a list")
    clean = []
    for e in items:
        if not isinstance(e, dict) or not isinstance(e.get("name"), str) or not e["name"].strip():
            raise lab_error(400, "each extension needs a name")
        profiles = e.get("profiles", "admins")
        if not (profiles in ("admins", "all") or (isinstance(profiles, list)
                                                   and all(isinstance(p, str) for p in profiles))):
            raise lab_error(400, "profiles must be \"admins\", \"all\" or a list of profile names")
        clean.append({"name": e["name"], "namespace": str(e.get("namespace") or e["name"].lower().replace(" ", "")),
                      "profiles": profiles})
    current = [] if request.method == "PUT" else extensions(org.settings or {})
    current = [c for c in current if c["name"] not in {e["name"] for e in clean}] + clean
    update_org(lab(), org_id, {"settings": {"extensions": current}})
    return json_response({"extensions": current}, 200 if request.method == "PUT" else 201)


@bp.delete("/orgs/<org_id>/extensions/<name>")
def extensions_delete(org_id: str, name: str):
    org = lab_org(org_id, "crm")
    current = extensions(org.settings or {})
    left = [e for e in current if e["name"] != name]
    if len(left) == len(current):
        raise lab_error(404, f"no extension {name}")
    update_org(lab(), org_id, {"settings": {"extensions": left}})
    return json_response({"extensions": left})


@bp.get("/orgs/<org_id>/channels")
def channels(org_id: str):
    """Watch channels of the org, expired ones included (for debugging notifications)."""
    lab_org(org_id, "crm")
    with lab().db.session() as s:
        rows = s.exec(select(CrmWatchChannel).where(CrmWatchChannel.org_id == org_id)).all()
        out = [r.model_dump(mode="json") for r in rows]
    return json_response({"channels": out})
