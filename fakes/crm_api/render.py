"""Zoho CRM's wire shapes: record listings' ``info``, COQL rows, recycle-bin entries, field and
module metadata (fields.json, modules.json), users (users.json), the org (org.json), watch
channels (notifications.json) and the org's Zoho-internal settings. The store finds the rows;
these functions turn them into Zoho's JSON. Records themselves render through the shared record
engine (``CrmStore.rs.render``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fakes.core.fields import FieldDef, ModuleDef
from fakes.core.records import Record
from fakes.core.tenants import User
from fakes.core.timefmt import as_utc, crm_datetime

from . import metadata as md
from .store import CrmStore, CrmWatchChannel, Listing, books_integration, extensions


def dt(st: CrmStore, value: datetime | None) -> str | None:
    """A datetime as CRM writes it: ISO 8601 with the org's offset."""
    return crm_datetime(as_utc(value), st.org.time_zone)


def meta_id(st: CrmStore, *parts: str) -> str:
    """The stable id of a metadata item (module, field, layout, profile...) of the org."""
    return md.meta_id(st.lab.seed, st.org.id, *parts)


def minified_user(st: CrmStore, user_id: str) -> dict[str, str]:
    u = st.rs.user(user_id)
    return {"name": u["name"], "id": u["id"]}


def page_info(per_page: int, count: int, page: int, more: bool) -> dict[str, Any]:
    """The ``info`` block of a page-numbered answer (search, deleted, related records, users)."""
    return {"per_page": per_page, "count": count, "page": page, "more_records": more}


# -- records -------------------------------------------------------------------------------------------

def deleted_json(st: CrmStore, module: str, r: Record, cutoff: datetime) -> dict[str, Any]:
    """A recycle-bin entry (deleted_records.json); past the bin's days it is ``permanent``."""
    permanent = as_utc(r.deleted_time) <= cutoff
    return {"deleted_by": minified_user(st, r.deleted_by), "id": r.id,
            "display_name": None if permanent else st.rs.display_name(module, r),
            "type": "permanent" if permanent else "recycle",
            "created_by": minified_user(st, r.created_by), "deleted_time": dt(st, r.deleted_time)}


def listing_info(st: CrmStore, listing: Listing, *, tokens: bool) -> dict[str, Any]:
    """The ``info`` of a record listing; from v5 on with the page tokens."""
    out: dict[str, Any] = {"per_page": listing.per_page, "count": len(listing.rows), "page": listing.page,
                           "sort_by": listing.sort_by, "sort_order": listing.sort_order,
                           "more_records": listing.more}
    if tokens:
        out["next_page_token"] = listing.next_token
        out["previous_page_token"] = listing.previous_token
        out["page_token_expiry"] = dt(st, listing.token_expiry) if listing.token_expiry else None
    return out


def coql_row(st: CrmStore, mdef: ModuleDef, rec: Record, names: list[str]) -> dict[str, Any]:
    """A COQL answer's row: the selected columns (lookups as ``{"id"}``, ``Lookup.Field`` read
    from the target record) and ``id``."""
    full = st.rs.render(rec)
    out: dict[str, Any] = {}
    for name in names:
        base, _, sub = name.partition(".")
        value = full.get(base)
        fdef = mdef.fields.get(base)
        if sub:
            if isinstance(value, dict) and value.get("id"):
                if sub == "id":
                    out[name] = value["id"]
                elif fdef is not None and fdef.data_type == "ownerlookup":
                    u = st.rs.user(value["id"])
                    out[name] = {"email": u["email"], "full_name": u["name"]}.get(sub, u["name"])
                else:
                    target = st.rs.find(fdef.lookup or "", value["id"]) if fdef else None
                    out[name] = st.rs.render(target).get(sub) if target is not None else None
            else:
                out[name] = None
        elif fdef is not None and fdef.data_type in ("lookup", "ownerlookup"):
            out[name] = {"id": value["id"]} if isinstance(value, dict) and value.get("id") else None
        else:
            out[name] = value
    out["id"] = rec.id
    return out


# -- metadata ------------------------------------------------------------------------------------------

def fields_json(st: CrmStore, module: str) -> list[dict[str, Any]]:
    """fields.json of a module, or of a subform's own module."""
    if module in md.SUBFORM_MODULES:
        parent, field_name = md.SUBFORM_MODULES[module]
        fdef = md.MODULES[parent].fields[field_name]
        return [field_json(st, module, c, i, {}) for i, c in enumerate(fdef.subform)]
    mdef = st.mdef(module)
    marks = st.field_marks(module)
    return [field_json(st, module, f, i, marks, mdef) for i, f in enumerate(mdef.fields.values())]


def field_json(st: CrmStore, module: str, f: FieldDef, index: int, marks: dict[str, str],
               mdef: ModuleDef | None = None) -> dict[str, Any]:
    fid = meta_id(st, "field", module, f.api_name)
    layout_id = meta_id(st, "layout", module)
    label = f.display_label
    read_only = f.read_only or f.system
    picks: list[dict[str, Any]] = []
    if f.data_type == "picklist":
        for i, v in enumerate(f.pick_list):
            picks.append({"display_value": v, "sequence_number": i + 1, "reference_value": v,
                          "colour_code": None, "actual_value": v,
                          "id": meta_id(st, "pick", module, f.api_name, v),
                          "type": "used"})
    lookup = None
    if f.data_type == "lookup" and f.lookup:
        lookup = {"display_label": label, "api_name": f.api_name, "revalidate_filter_during_edit": False,
                  "module": {"api_name": f.lookup, "id": st.module_id(f.lookup)},
                  "id": meta_id(st, "lookup", module, f.api_name),
                  "query_details": {}, "show_fields": []}
    elif f.data_type == "ownerlookup":
        lookup = {"display_label": label, "api_name": f.api_name, "revalidate_filter_during_edit": False,
                  "module": {"api_name": "users", "id": meta_id(st, "module", "users")},
                  "id": None, "query_details": {}, "show_fields": []}
    mark = marks.get(f.api_name)
    length = f.max_length or {"textarea": 32000, "email": 100, "phone": 30, "website": 255, "integer": 9,
                              "double": 16, "currency": 16, "boolean": 5, "date": 20, "datetime": 120,
                              "picklist": 120, "lookup": 120, "ownerlookup": 120}.get(f.data_type, 255)
    is_currency = f.data_type == "currency"
    out: dict[str, Any] = {
        "associated_module": ({"module": f.api_name, "api_name": f.api_name,
                               "id": meta_id(st, "module", f.api_name)}
                              if f.data_type == "subform" else None),
        "data_type": f.data_type,
        "operation_type": {"web_update": not read_only, "api_create": not read_only, "web_create": not read_only,
                           "api_update": not read_only},
        "system_mandatory": f.mandatory,
        "webhook": True, "blueprint_supported": not read_only, "virtual_field": False,
        "field_read_only": read_only, "customizable_properties": [], "read_only": read_only,
        "custom_field": f.custom, "businesscard_supported": True, "filterable": True, "visible": True,
        "available_in_user_layout": True,
        "display_field": mdef is not None and f.api_name == mdef.display_field,
        "pick_list_values_sorted_lexically": False, "sortable": f.api_name in md.SORTABLE or not f.system,
        "layout_associations": [{"id": layout_id, "name": "Standard", "api_name": "Standard"}],
        "separator": False, "searchable": f.searchable or f.data_type in ("email", "phone"),
        "enable_colour_code": False, "mass_update": not read_only, "json_type": f.json_type,
        "created_source": "crm_custom" if f.custom else "default", "type": "used",
        "display_label": label, "field_label": label, "column_name": f"COL{index + 1:03d}",
        "api_name": f.api_name, "display_type": -1, "ui_type": _UI_TYPES.get(f.data_type, 1),
        "colour_code_enabled_by_system": False, "length": length,
        "decimal_place": 2 if is_currency or f.data_type == "double" else None,
        "quick_sequence_number": str(index + 1), "sequence_number": index + 1,
        "email_parser": {"fields_update_supported": False, "record_operations_supported": False},
        "rollup_summary": None, "refer_from_field": None, "created_time": None, "modified_time": None,
        "show_type": 7, "category": 0, "id": fid, "multi_module_lookup": None, "sharing_properties": None,
        "currency": {"rounding_option": "normal", "precision": 2} if is_currency else None,
        "file_upolad_optionlist": [], "lookup": lookup,
        "profiles": [{"permission_type": "read_only" if read_only else "read_write", "name": p,
                      "id": meta_id(st, "profile", p)} for p in md.PROFILES],
        "view_type": {"view": True, "edit": not read_only, "quick_create": f.mandatory, "create": not read_only},
        "unique": {"casesensitive": "false"} if f.unique else None,
        "sub_module": None,
        "subform": None, "external": None, "formula": None,
        "private": ({"restricted": True, "export": False, "type": "high" if mark == "sensitive" else "low"}
                    if mark else None),
        "convert_mapping": None, "multiselectlookup": None, "multiuserlookup": None,
        "autonumber": ({"prefix": "SO-", "suffix": None, "start_number": 1, "starting_number_length": 1}
                       if f.data_type == "autonumber" else None),
        "auto_number": None,
        "pick_list_values": picks, "crypt": None, "tooltip": None, "history_tracking": None,
        "association_details": None, "allowed_modules": None, "additional_column": None,
        "common.picklist": None, "hipaa_compliance_enabled": False, "hipaa_compliance": None,
        "_update_existing_records": False, "number_separator": f.data_type in ("integer", "double", "currency"),
        "textarea": {"type": "large"} if f.data_type == "textarea" else None, "static_field": False,
    }
    return out


def modules_json(st: CrmStore, version: str, api_name: str | None = None) -> list[dict[str, Any]]:
    out = []
    for seq, name in enumerate(md.MODULE_SEQUENCE):
        if api_name is not None and name != api_name:
            continue
        mdef = md.MODULES[name]
        mid = st.module_id(name)
        display = mdef.fields.get(mdef.display_field)
        profiles = [{"name": p, "id": meta_id(st, "profile", p)} for p in md.PROFILES]
        out.append({
            "has_more_profiles": False, "sub_menu_available": True, "common.search_supported": True,
            "deletable": False, "description": None, "creatable": True, "recycle_bin_on_delete": True,
            "inventory_template_supported": name == "Sales_Orders", "modified_time": None,
            "plural_label": mdef.plural, "presence_sub_menu": False, "triggers_supported": True, "id": mid,
            "chart_view": False, "isBlueprintSupported": True, "visibility": 1, "visible": True,
            "convertable": name in ("Deals",), "editable": True, "emailTemplate_support": name in ("Contacts",),
            "email_parser_supported": False, "filter_supported": True, "show_as_tab": True, "web_link": None,
            "sequence_number": seq + 2, "singular_label": mdef.singular, "viewable": True, "api_supported": True,
            "api_name": name, "quick_create": True, "generated_type": "default", "feeds_required": False,
            "scoring_supported": name in ("Accounts", "Contacts", "Deals"), "webform_supported": name != "Sales_Orders",
            "arguments": [], "module_name": mdef.plural, "chart_view_supported": True,
            "profile_count": len(profiles), "business_card_field_limit": 5, "track_current_data": True,
            "modified_by": None, "profiles": profiles, "parent_module": None, "activity_badge": None,
            "$field_states": [], "business_card_fields": [], "per_page": md.PER_PAGE_DEFAULT,
            "$properties": [], "$on_demand_properties": [], "search_layout_fields": [],
            "kanban_view_supported": True, "lookup_field_properties": {"fields": []}, "kanban_view": False,
            "related_lists": [], "filter_status": True,
            "related_list_properties": {"sort_by": {"api_name": "Modified_Time", "id": meta_id(
                st, "field", name, "Modified_Time")}, "fields": [], "sort_order": "desc"},
            "display_field": ({"api_name": display.api_name,
                               "id": meta_id(st, "field", name, display.api_name)}
                              if display else None),
            "layouts": [{"id": meta_id(st, "layout", name), "name": "Standard",
                         "api_name": "Standard"}],
            "fields": [], "custom_view": None, "zia_view": False, "default_mapping_fields": [],
            "status": "visible", "layout_associations": [],
        })
    return out


# -- users and org -------------------------------------------------------------------------------------

def user_json(st: CrmStore, u: User, role: str) -> dict[str, Any]:
    first, _, last = (u.name or u.email).partition(" ")
    admin = role == "admin"
    return {
        "country": None, "language": "en_US", "microsoft": False, "id": st.rs.user_ref(u.id), "state": None,
        "fax": None,
        "country_locale": "en_US", "zip": None, "created_time": dt(st, u.created_time),
        "time_format": "hh:mm a", "offset": 0,
        "profile": {"name": "Administrator" if admin else "Standard",
                    "id": meta_id(st, "profile", "Administrator" if admin else "Standard")},
        "role": {"name": "CEO" if admin else "Manager", "id": meta_id(st, "role", role)},
        "created_by": minified_user(st, st.org.owner_id), "full_name": u.name, "zuid": u.id, "phone": None, "dob": None, "status": "active",
        "city": None, "signature": None, "category": "regular_user", "date_format": "MMM d, yyyy",
        "confirm": True, "decimal_separator": "Period", "number_separator": None,
        "time_zone": u.time_zone or st.org.time_zone, "last_name": last or first, "mobile": None,
        "Reporting_To": None, "Currency": st.org.currency_code, "Modified_Time": dt(st, u.created_time),
        "website": None, "email": u.email, "first_name": first if last else "", "sandboxDeveloper": False,
        "alias": None, "street": None, "Modified_By": minified_user(st, st.org.owner_id), "Isonline": False, "locale": "en_US",
        "name_format__s": "Salutation,First Name,Last Name", "personal_account": False,
        "default_tab_group": "0", "sort_order_preference__s": "First Name,Last Name",
    }


def lab_user_json(st: CrmStore, u: dict[str, Any]) -> dict[str, Any]:
    """[lab] a user the lab added to the org with a profile (org settings ``users``:
    ``[{"email", "name"?, "profile"}]``) -- the Users API's ``profile`` ``{name, id}``
    (https://www.zoho.com/crm/developer/docs/api/v8/get-users.html). CR-02 reads it."""
    uid = meta_id(st, "lab-user", u["email"])
    name = str(u.get("name") or u["email"].split("@")[0])
    first, _, last = name.partition(" ")
    return {"id": uid, "zuid": uid, "email": u["email"], "full_name": name, "first_name": first if last else "",
            "last_name": last or first, "status": "active", "confirm": True, "category": "regular_user",
            "profile": {"name": u["profile"], "id": meta_id(st, "profile", u["profile"])},
            "role": {"name": "Manager", "id": meta_id(st, "role", "member")},
            "time_zone": st.org.time_zone, "created_time": dt(st, st.org.created_time)}


def org_json(st: CrmStore) -> dict[str, Any]:
    o = st.org
    owner = st.owner()
    email = owner.email if owner else ""
    license_count = (o.settings or {}).get("user_licenses", 1)
    return {
        "country": "United States", "photo_id": None, "city": None, "description": None, "mc_status": False,
        "gapps_enabled": False, "translation_enabled": False, "street": None,
        "domain_name": "org" + o.id, "alias": None, "currency": o.currency_code,
        "id": st.lab.ids.org_record_id("crm", o.id), "state": None,  # a record id, not the zgid
        "fax": None, "zip": None, "employee_count": "10", "website": "",
        "currency_symbol": {"USD": "$", "EUR": "€", "GBP": "£", "INR": "₹"}.get(o.currency_code, o.currency_code),
        "mobile": None, "currency_locale": "en_US", "primary_zuid": o.owner_id, "zia_portal_id": None,
        "time_zone": o.time_zone, "zgid": o.id, "country_code": "US", "deletable_org_account": False,
        "license_details": {
            "paid_expiry": dt(st, as_utc(o.created_time or st.now()) + timedelta(days=365)),
            "users_license_purchased": license_count if isinstance(license_count, int) else 1,
            "trial_type": "Enterprise" if o.trial_expired else None, "trial_expiry": None,
            "paid": o.edition != "free", "paid_type": o.edition.capitalize(), "trial_action": "",
        },
        "hierarchy_preferences": {"type": "Role_Hierarchy", "strictly_reporting": False},
        "phone": "", "company_name": o.name, "privacy_settings": True, "primary_email": email,
        "iso_code": o.currency_code, "hipaa_compliance_enabled": False, "lite_users_enabled": False,
        "max_per_page": md.PER_PAGE_MAX, "ezgid": "z" + o.id, "call_icon": "Enabled", "oauth_presence": True,
        "zia_zgid": 0, "checkin_preferences": {"restricted_event_types": None},
        "type": "Production", "created_time": dt(st, o.created_time),
    }



# -- Zoho-internal settings ----------------------------------------------------------------------------

def restrict_data_transfer(st: CrmStore) -> dict[str, Any]:
    """"Restrict Data Transfer to Zoho Apps" per module: level, the fields' personal-data marks,
    and the fields the level keeps from other Zoho apps."""
    transfer = {}
    for module in md.MODULE_SEQUENCE:
        own = ((st.org.settings or {}).get("data_transfer") or {}).get(module) or {}
        level = own.get("level", "none")
        marks = st.field_marks(module)
        restricted = [] if level == "none" else sorted(
            n for n, m in marks.items() if m == "sensitive" or level == "normal")
        transfer[module] = {"level": level, "fields": marks, "restricted_fields": restricted}
    return transfer


def internal_settings(st: CrmStore) -> dict[str, Any]:
    """[internal, not a Zoho API] the org's Zoho-internal state (``/_internal/settings``)."""
    o = st.org
    settings = o.settings or {}
    return {
        "org_id": o.id, "edition": o.edition, "active": o.active, "trial_expired": o.trial_expired,
        "time_zone": o.time_zone, "currency_code": o.currency_code,
        "books_integration": books_integration(settings),
        "restrict_data_transfer": restrict_data_transfer(st),
        "extensions": extensions(settings),
        "limits": {"credits_per_24h": md.credits(o.edition, settings), "concurrency": md.concurrency(o.edition),
                   "enforced": o.rate_limits},
        "counts": {m: st.rs.count(m) for m in md.MODULE_SEQUENCE},
    }


# -- watch channels (notifications.json) ---------------------------------------------------------------

def channel_json(st: CrmStore, ch: CrmWatchChannel) -> dict[str, Any]:
    modules = sorted({e.split(".", 1)[0] for e in ch.events})
    first = modules[0] if modules else ""
    return {
        "notify_on_related_action": ch.notify_on_related_action, "channel_expiry": dt(st, ch.channel_expiry),
        "return_affected_field_values": ch.return_affected_field_values,
        "resource_uri": f"{ch.api_domain}/crm/{ch.version}/{first}", "resource_id": st.module_id(first),
        "notify_url": ch.notify_url, "resource_name": first, "fields": ch.fields or None,
        "notification_condition": [], "channel_id": ch.channel_id, "events": list(ch.events),
        "token": ch.token,
    }


def channel_events_json(st: CrmStore, ch: CrmWatchChannel) -> list[dict[str, Any]]:
    modules = sorted({e.split(".", 1)[0] for e in ch.events})
    return [{"channel_expiry": dt(st, ch.channel_expiry), "resource_uri": f"{ch.api_domain}/crm/{ch.version}/{m}",
             "resource_id": st.module_id(m), "resource_name": m, "channel_id": ch.channel_id,
             "notification_condition": []} for m in modules]


_UI_TYPES = {"text": 1, "textarea": 3, "email": 25, "phone": 33, "website": 21, "integer": 32, "double": 36,
             "currency": 36, "boolean": 301, "date": 24, "datetime": 333, "picklist": 2, "lookup": 133,
             "ownerlookup": 8, "subform": 555, "autonumber": 109}

