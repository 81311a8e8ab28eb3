"""FSM records from CRM (the extension's "Using the Extension", ../shared/seeds/fsm-crm-direct-sync.txt):
conversions, Deal / Sales Order links and related lists (CR-07, CR-08, CR-15, CR-16).

- **Conversion mappings** (CR-07, the seed's "Manage Conversion Mapping"): per CRM source module and
  FSM target module (``"Deals->Work_Orders"``), which CRM field prefills which FSM field. Defaults
  exist; a custom mapping is checked against both products' field metadata and refused naming the
  field. ``crm_field: "id"`` is the CRM record itself, through its sync link (an Account's Company).
- **Create FSM <module> from CRM <module>/<id>**: ``preview`` answers the prefilled values (and
  the mandatory FSM fields still without one) before saving; ``create`` takes the caller's values
  over them. A record made from a Deal or Sales Order is linked to it (listed under it).
- **Links** (CR-08): an FSM Request, Estimate or Work Order links to one Deal or Sales Order
  (FSM's ``ZCRM_Deals_Id`` / ``ZCRM_Sales_Orders_Id``, written with ``actions/process_sync``); a
  second link is refused (409 ``already_linked``). FSM's "Convert to Estimate" copies the
  Request's link, so the Estimate is listed under the same Deal or Sales Order.
- **Related lists** (CR-15): a CRM Account's or Contact's FSM Requests, Estimates, Work Orders,
  Service Appointments and Assets (FSM's related lists of its synced partner); a Deal's Requests,
  Estimates and Work Orders; a Sales Order's, and its Assets; a Product's Assets — each with its
  FSM web link. From an FSM record, its Deal or Sales Order with the CRM web link.
- **Transactions from FSM data** (CR-16): a CRM Deal or Sales Order made with synced Companies' and
  Contacts' partners as lookups converts like any other, and an FSM Company's or Contact's record
  view lists the CRM Deals and Sales Orders made with its partner (CRM's related lists).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from syncer.clients import CrmClient, FsmClient, ZohoApiError
from syncer.store.models import Integration
from syncer.store.repo import InvalidValue, NotFound

from .engine import CrmEngine, CrmError, crm_web_url, fsm_web_url
from .mapping import BY_CRM, BY_FSM, empty, lookup_id

TRANSACTIONS = ("Requests", "Estimates", "Work_Orders")
# what each CRM module creates in FSM (the seed's "Access and generate records" sections)
TARGETS: dict[str, tuple[str, ...]] = {
    "Accounts": TRANSACTIONS, "Contacts": TRANSACTIONS, "Deals": TRANSACTIONS,
    "Sales_Orders": (*TRANSACTIONS, "Assets"), "Products": ("Assets",),
}
# the FSM field holding a record's Deal / Sales Order (FSM's INTEG_MODULES) and its name
LINK_FIELDS = {"Deals": ("ZCRM_Deals_Id", "ZCRM_Deals_Name"),
               "Sales_Orders": ("ZCRM_Sales_Orders_Id", "ZCRM_Sales_Orders_Name")}
LINK_NAME_FIELD = {"Deals": "Deal_Name", "Sales_Orders": "Subject"}
LINKABLE = TRANSACTIONS  # CR-08: what links to a Deal or Sales Order
RESERVED = {name for pair in LINK_FIELDS.values() for name in pair} | {"ZCRM_Id", "ZBilling_Id"}
# CR-15: the FSM modules listed under a CRM record
RELATED: dict[str, tuple[str, ...]] = {
    "Accounts": (*TRANSACTIONS, "Service_Appointments", "Assets"),
    "Contacts": (*TRANSACTIONS, "Service_Appointments", "Assets"),
    "Deals": TRANSACTIONS,
    "Sales_Orders": (*TRANSACTIONS, "Assets"),
    "Products": ("Assets",),
}
# CR-16: the CRM transactions listed under a synced FSM Company or Contact (CRM related lists)
CRM_TRANSACTIONS = ("Deals", "Sales_Orders")
LINE_ITEMS = ("Ordered_Items", "Service_Line_Items")  # the one subform pair: Sales Order lines -> FSM lines
# values no CRM field gives but FSM needs, prefilled under the mappings [lab: the Create form's default]
CONSTANTS: dict[str, dict[str, Any]] = {"Work_Orders": {"Type": "Service"}}


def key_of(crm_module: str, fsm_module: str) -> str:
    return f"{crm_module}->{fsm_module}"


KEYS = tuple(key_of(c, f) for c, targets in TARGETS.items() for f in targets)


def _rows(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"crm_field": c, "fsm_field": f} for c, f in pairs]


_TRANSACTION_DEFAULTS: dict[str, list[dict[str, str]]] = {
    "Accounts": _rows(("Account_Name", "Summary"), ("id", "Company"), ("Phone", "Phone"),
                      ("Description", "Description")),
    "Contacts": _rows(("Full_Name", "Summary"), ("id", "Contact"), ("Account_Name", "Company"), ("Email", "Email"),
                      ("Phone", "Phone"), ("Description", "Description")),
    "Deals": _rows(("Deal_Name", "Summary"), ("Account_Name", "Company"), ("Contact_Name", "Contact"),
                   ("Description", "Description")),
    "Sales_Orders": _rows(("Subject", "Summary"), ("Account_Name", "Company"), ("Contact_Name", "Contact"),
                          ("Ordered_Items", "Service_Line_Items"), ("Description", "Description")),
}
DEFAULT_MAPPINGS: dict[str, list[dict[str, str]]] = {
    **{key_of(c, f): rows for c, rows in _TRANSACTION_DEFAULTS.items() for f in TRANSACTIONS},
    key_of("Sales_Orders", "Assets"): _rows(("Subject", "Name"), ("Account_Name", "Company"),
                                            ("Contact_Name", "Contact"), ("Description", "Description")),
    key_of("Products", "Assets"): _rows(("Product_Name", "Name"), ("id", "Product"), ("Description", "Description")),
}


class AlreadyLinked(CrmError):
    def __init__(self, message: str) -> None:
        super().__init__("already_linked", message, status=409)


@dataclass(frozen=True)
class Field:
    name: str
    data_type: str
    read_only: bool
    mandatory: bool
    lookup: str | None


def fields_of(raw: list[Mapping[str, Any]]) -> dict[str, Field]:
    out: dict[str, Field] = {}
    for f in raw:
        name = f.get("api_name")
        if not isinstance(name, str):
            continue
        lk = f.get("lookup") if isinstance(f.get("lookup"), Mapping) else {}
        target = (lk.get("module") or {}).get("api_name") if isinstance(lk.get("module"), Mapping) else None
        out[name] = Field(name, str(f.get("data_type") or "text"), bool(f.get("read_only")),
                          bool(f.get("system_mandatory")), target)
    return out


def partner_module(crm_module: str | None) -> str | None:
    """The FSM module a CRM module syncs with (Accounts -> Companies …), if it syncs."""
    pair = BY_CRM.get(crm_module or "")
    return pair.fsm_module if pair is not None else None


def validate(key: str, rows: Any, crm_fields: Mapping[str, Field], fsm_fields: Mapping[str, Field]) -> list[dict]:
    """CR-07: the rows of one conversion mapping, checked; ``InvalidValue`` names the field."""
    crm_module, fsm_module = key.split("->")
    where = f"conversion_mappings.{key}"
    if not isinstance(rows, list):
        raise InvalidValue(f"{where} must be a list of {{\"crm_field\", \"fsm_field\"}}")
    clean, seen = [], {}
    for i, row in enumerate(rows):
        at = f"{where}[{i}]"
        if not isinstance(row, Mapping) or set(row) - {"crm_field", "fsm_field"}:
            raise InvalidValue(f"{at} must be an object with crm_field and fsm_field only")
        for k in ("crm_field", "fsm_field"):
            if not isinstance(row.get(k), str) or not row[k].strip():
                raise InvalidValue(f"{at}.{k} must be a field API name")
        c_name, f_name = row["crm_field"], row["fsm_field"]
        f = fsm_fields.get(f_name)
        if f is None:
            raise InvalidValue(f"{at}.fsm_field: FSM {fsm_module} has no field {f_name!r}")
        if f.read_only:
            raise InvalidValue(f"{at}.fsm_field: FSM {fsm_module}.{f_name} is read-only")
        if f_name in RESERVED:
            raise InvalidValue(f"{at}.fsm_field: FSM {fsm_module}.{f_name} is set by the sync and its links, "
                               "not by a mapping")
        if f_name in seen:
            raise InvalidValue(f"{at}.fsm_field: {f_name} is mapped twice (also at [{seen[f_name]}])")
        seen[f_name] = i
        if c_name == "id":  # the CRM record itself, through its sync link
            if f.data_type != "lookup" or partner_module(crm_module) != f.lookup:
                raise InvalidValue(f"{at}: the CRM {crm_module} record itself (id) maps only to a lookup of its "
                                   f"synced FSM module ({partner_module(crm_module) or 'none: it does not sync'}); "
                                   f"{f_name} is {f.data_type}")
            clean.append({"crm_field": c_name, "fsm_field": f_name})
            continue
        c = crm_fields.get(c_name)
        if c is None:
            raise InvalidValue(f"{at}.crm_field: CRM {crm_module} has no field {c_name!r}")
        if (c.data_type == "subform") != (f.data_type == "subform"):
            raise InvalidValue(f"{at}: {c_name} ({c.data_type}) cannot map to {f_name} ({f.data_type})")
        if c.data_type == "subform" and (c_name, f_name) != LINE_ITEMS:
            raise InvalidValue(f"{at}: only {LINE_ITEMS[0]} maps to {LINE_ITEMS[1]}")
        if (c.data_type == "lookup") != (f.data_type == "lookup"):
            raise InvalidValue(f"{at}: {c_name} ({c.data_type}) cannot map to {f_name} ({f.data_type}): a lookup "
                               "maps only to a lookup")
        if c.data_type == "lookup" and partner_module(c.lookup) != f.lookup:
            raise InvalidValue(f"{at}: lookup {c_name} ({c.lookup}) and {f_name} ({f.lookup}) do not point at a "
                               "synced module pair")
        clean.append({"crm_field": c_name, "fsm_field": f_name})
    return clean


class Conversions:
    """The extension's record actions on one CRM direct sync (see the module's docstring)."""

    def __init__(self, engine: CrmEngine) -> None:
        self.engine = engine
        self.repo = engine.repo
        self._count_lock = threading.Lock()

    # -- plumbing -----------------------------------------------------------------------------------------
    def _integration(self, integration_id: str) -> Integration:
        integ = self.repo.get_integration(integration_id)
        if getattr(integ, "kind", "books") != "crm":
            raise NotFound(f"Integration {integration_id} is not a direct sync with Zoho CRM")
        return integ

    def _clients(self, integ: Integration) -> tuple[FsmClient, CrmClient]:
        return self.engine.clients(integ)

    def _partner(self, integ: Integration, crm_module: str, crm_id: str) -> str | None:
        """The FSM id of a synced CRM record (active link), else None."""
        link = self.repo.link_by_partner(integ.id, crm_module, crm_id)
        return link.fsm_id if link is not None and link.active else None

    def _crm_partner(self, integ: Integration, fsm_module: str, fsm_id: str) -> str | None:
        link = self.repo.link_by_fsm(integ.id, fsm_module, fsm_id)
        return link.partner_id if link is not None and link.active else None

    def _count(self, integ: Integration, what: str) -> None:
        """Counted for the dashboard (``settings.extension_actions``): conversions and links made."""
        with self._count_lock:  # not the engine's run lock: a conversion never waits for a sync run
            fresh = self.repo.get_integration(integ.id)
            settings = dict(fresh.settings or {})
            counts = dict(settings.get("extension_actions") or {})
            counts[what] = int(counts.get(what) or 0) + 1
            self.repo.update_integration(integ.id, settings={**settings, "extension_actions": counts})

    @staticmethod
    def _key(crm_module: Any, fsm_module: Any) -> str:
        if crm_module not in TARGETS:
            raise InvalidValue(f"from.module must be one of {', '.join(TARGETS)}; got {crm_module!r}")
        if fsm_module not in TARGETS[crm_module]:
            raise InvalidValue(f"to: from CRM {crm_module} FSM creates {', '.join(TARGETS[crm_module])}; "
                               f"got {fsm_module!r}")
        return key_of(crm_module, fsm_module)

    # -- mappings (CR-07) --------------------------------------------------------------------------------
    def mappings(self, integration_id: str) -> dict[str, Any]:
        integ = self._integration(integration_id)
        own = (integ.settings or {}).get("conversion_mappings") or {}
        return {"mappings": {k: list(own.get(k) or DEFAULT_MAPPINGS[k]) for k in KEYS},
                "customized": sorted(k for k in own if k in DEFAULT_MAPPINGS),
                "constants": CONSTANTS}

    def _rows(self, integ: Integration, key: str) -> list[dict[str, str]]:
        own = (integ.settings or {}).get("conversion_mappings") or {}
        return list(own.get(key) or DEFAULT_MAPPINGS[key])

    def set_mappings(self, integration_id: str, mappings: Any) -> dict[str, Any]:
        """``{"<Crm>-><Fsm>": [rows] | null}``: null goes back to the default."""
        integ = self._integration(integration_id)
        if not isinstance(mappings, Mapping) or not mappings:
            raise InvalidValue('mappings must be {"<CRM module>-><FSM module>": [{"crm_field", "fsm_field"}] | null}')
        fsm, crm = self._clients(integ)
        own = dict((integ.settings or {}).get("conversion_mappings") or {})
        for key, rows in mappings.items():
            if key not in DEFAULT_MAPPINGS:
                raise InvalidValue(f"conversion_mappings: unknown conversion {key!r}; choose from {', '.join(KEYS)}")
            if rows is None:
                own.pop(key, None)
                continue
            crm_module, fsm_module = key.split("->")
            own[key] = validate(key, rows, fields_of(crm.fields(crm_module)), fields_of(fsm.fields(fsm_module)))
        fresh = self.repo.get_integration(integ.id)
        self.repo.update_integration(integ.id, settings={**(fresh.settings or {}), "conversion_mappings": own})
        return self.mappings(integration_id)

    # -- preview and create (CR-07) -----------------------------------------------------------------------
    def _crm_record(self, crm: CrmClient, crm_module: str, crm_id: str, names: list[str]) -> dict[str, Any]:
        fields = [n for n in dict.fromkeys([*names, LINK_NAME_FIELD.get(crm_module, ""), "Modified_Time"]) if n]
        found = crm.get_records(crm_module, [crm_id], fields[:50])
        if not found:
            raise NotFound(f"CRM {crm_module} record {crm_id} does not exist")
        return found[0]

    def _value(self, integ: Integration, row: Mapping[str, str], record: Mapping[str, Any], crm_module: str,
               crm_fields: Mapping[str, Field]) -> Any:
        """One prefilled FSM value, or None when the CRM record gives none (or its lookup is not synced)."""
        name = row["crm_field"]
        if name == "id":
            partner = self._partner(integ, crm_module, str(record["id"]))
            return {"id": partner} if partner else None
        value = record.get(name)
        field = crm_fields.get(name)
        if field is not None and field.data_type == "lookup":
            rid = lookup_id(value)
            partner = self._partner(integ, field.lookup or "", rid) if rid else None
            return {"id": partner} if partner else None
        if (name, row["fsm_field"]) == LINE_ITEMS:
            lines = []
            for item in value if isinstance(value, list) else []:
                pid = lookup_id(item.get("Product_Name")) if isinstance(item, Mapping) else None
                service = self._partner(integ, "Products", pid) if pid else None
                if service is None:
                    continue  # a Product that does not sync has no FSM service to price the line
                line: dict[str, Any] = {"Service": {"id": service}, "Quantity": item.get("Quantity") or 1}
                if item.get("List_Price") is not None:
                    line["List_Price"] = item["List_Price"]
                lines.append(line)
            return lines or None
        return None if empty(value) else value

    def preview(self, integration_id: str, crm_module: Any, crm_id: Any, fsm_module: Any) -> dict[str, Any]:
        """The FSM record's prefilled values before saving: ``values``, ``missing`` (mandatory FSM
        fields still without a value) and the Deal / Sales Order it will be listed under."""
        integ = self._integration(integration_id)
        key = self._key(crm_module, fsm_module)
        if not isinstance(crm_id, str) or not crm_id.isdigit():
            raise InvalidValue("from.id must be a CRM record id (digits)")
        fsm, crm = self._clients(integ)
        rows = self._rows(integ, key)
        crm_fields = fields_of(crm.fields(crm_module))
        record = self._crm_record(crm, crm_module, crm_id, [r["crm_field"] for r in rows if r["crm_field"] != "id"])
        values: dict[str, Any] = dict(CONSTANTS.get(fsm_module, {}))
        for row in rows:
            value = self._value(integ, row, record, crm_module, crm_fields)
            if value is not None:
                values[row["fsm_field"]] = value
        link = None
        if crm_module in LINK_FIELDS:
            id_field, name_field = LINK_FIELDS[crm_module]
            name = record.get(LINK_NAME_FIELD[crm_module])
            values[id_field] = crm_id
            if name:
                values[name_field] = name
            link = self._crm_view(integ, crm_module, crm_id, name)
        mandatory = [f.name for f in fields_of(fsm.fields(fsm_module)).values() if f.mandatory and not f.read_only]
        return {"from": {"module": crm_module, "id": crm_id, "url": crm_web_url(integ, crm_module, crm_id)},
                "to": fsm_module, "values": values, "missing": [m for m in mandatory if empty(values.get(m))],
                "link": link}

    def create(self, integration_id: str, crm_module: Any, crm_id: Any, fsm_module: Any,
               overrides: Any = None) -> dict[str, Any]:
        """Save the FSM record: the prefilled values with the caller's ``overrides`` over them."""
        if overrides is not None and not isinstance(overrides, Mapping):
            raise InvalidValue("values must be an object of FSM field values")
        shown = self.preview(integration_id, crm_module, crm_id, fsm_module)
        overrides = dict(overrides or {})
        reserved = sorted(set(overrides) & RESERVED)
        if reserved:
            raise InvalidValue(f"values.{reserved[0]} is set by the sync and its links, not by the caller")
        values = {**shown["values"], **overrides}
        missing = [m for m in shown["missing"] if empty(values.get(m))]
        if missing:
            raise InvalidValue(f"values.{missing[0]}: FSM {fsm_module} needs {', '.join(missing)} and the CRM "
                               f"{crm_module} record gives none; give {'it' if len(missing) == 1 else 'them'} in values")
        integ = self._integration(integration_id)
        fsm, _crm = self._clients(integ)
        [result] = fsm.create_records(fsm_module, [values])
        if not result.ok or not result.id:
            raise InvalidValue(f"Zoho FSM refused the {fsm_module[:-1].replace('_', ' ')}: {result.code} "
                               f"{result.message} {result.details}")
        fsm_id = str(result.id)
        self._count(integ, "conversions")
        return {"from": shown["from"], "to": fsm_module, "values": values, "link": shown["link"],
                "fsm": {"module": fsm_module, "id": fsm_id, "url": fsm_web_url(integ, fsm_module, fsm_id),
                        "record": fsm.get_record(fsm_module, fsm_id)}}

    # -- links (CR-08) ------------------------------------------------------------------------------------
    def _crm_view(self, integ: Integration, crm_module: str, crm_id: str, name: Any = None) -> dict[str, Any]:
        return {"module": crm_module, "id": crm_id, "name": name, "url": crm_web_url(integ, crm_module, crm_id)}

    def link_of(self, integ: Integration, record: Mapping[str, Any]) -> dict[str, Any] | None:
        """The Deal or Sales Order an FSM record is listed under, if any."""
        for crm_module, (id_field, name_field) in LINK_FIELDS.items():
            rid = lookup_id(record.get(id_field))
            if rid:
                return self._crm_view(integ, crm_module, rid, record.get(name_field))
        return None

    def _existing_link(self, integ: Integration, record: Mapping[str, Any]) -> dict[str, Any] | None:
        """CR-08: the one Deal or Sales Order a record may already be linked to."""
        return self.link_of(integ, record)

    def link(self, integration_id: str, fsm_module: Any, fsm_id: Any, crm_module: Any, crm_id: Any) -> dict[str, Any]:
        """CR-08: link an existing FSM Request, Estimate or Work Order to one Deal or Sales Order."""
        integ = self._integration(integration_id)
        if fsm_module not in LINKABLE:
            raise InvalidValue(f"fsm_module must be one of {', '.join(LINKABLE)}; got {fsm_module!r}")
        if crm_module not in LINK_FIELDS:
            raise InvalidValue(f"crm_module must be one of {', '.join(LINK_FIELDS)}; got {crm_module!r}")
        for what, value in (("fsm_id", fsm_id), ("crm_id", crm_id)):
            if not isinstance(value, str) or not value.isdigit():
                raise InvalidValue(f"{what} must be a Zoho record id (digits)")
        fsm, crm = self._clients(integ)
        record = fsm.get_record(fsm_module, fsm_id)
        if record is None:
            raise NotFound(f"FSM {fsm_module} record {fsm_id} does not exist")
        target = self._crm_record(crm, crm_module, crm_id, [LINK_NAME_FIELD[crm_module]])
        current = self._existing_link(integ, record)
        if current is not None:
            if (current["module"], current["id"]) == (crm_module, crm_id):
                return {"fsm": self._fsm_view(integ, fsm_module, fsm_id), "crm": current, "created": False}
            raise AlreadyLinked(f"FSM {fsm_module} record {fsm_id} is already linked to the CRM "
                                f"{current['module'].replace('_', ' ')[:-1]} {current['id']}"
                                + (f" ({current['name']})" if current.get("name") else "")
                                + ": a record links to only one Deal or Sales Order")
        r = fsm.process_sync(fsm_module, fsm_id, "zohocrm", "link", integ_id=crm_id, integ_module=crm_module)
        if not r.ok:
            raise InvalidValue(f"Zoho FSM refused the link: {r.code} {r.message} {r.details}")
        name = target.get(LINK_NAME_FIELD[crm_module])
        if name:
            fsm.update_record(fsm_module, fsm_id, {LINK_FIELDS[crm_module][1]: name})
        self._count(integ, "links")
        return {"fsm": self._fsm_view(integ, fsm_module, fsm_id), "crm": self._crm_view(integ, crm_module, crm_id, name),
                "created": True}

    # -- related lists (CR-15) and record views --------------------------------------------------------------
    def _fsm_view(self, integ: Integration, module: str, fsm_id: str, record: Mapping[str, Any] | None = None):
        out: dict[str, Any] = {"module": module, "id": fsm_id, "url": fsm_web_url(integ, module, fsm_id)}
        if record is not None:
            out["name"] = record.get("Name") or record.get("Summary")
            out["summary"] = record.get("Summary")
        return out

    def related(self, integration_id: str, crm_module: str, crm_id: str) -> dict[str, Any]:
        """CR-15: the FSM records listed under a CRM record, each with its FSM web link."""
        integ = self._integration(integration_id)
        if crm_module not in RELATED:
            raise InvalidValue(f"crm_module must be one of {', '.join(RELATED)}; got {crm_module!r}")
        fsm, crm = self._clients(integ)
        self._crm_record(crm, crm_module, crm_id, [])  # 404 for a record CRM does not have
        lists: dict[str, list[dict[str, Any]]] = {}
        partner = None
        if crm_module in LINK_FIELDS:
            id_field = LINK_FIELDS[crm_module][0]
            for module in RELATED[crm_module]:
                lists[module] = [self._fsm_view(integ, module, str(r["id"]), r)
                                 for r in fsm.search(module, id_field, crm_id, "equal")]
        else:
            partner_mod = partner_module(crm_module)
            partner = self._partner(integ, crm_module, crm_id)
            for module in RELATED[crm_module]:
                rows = fsm.related(partner_mod or "", partner, module) if partner else []
                lists[module] = [self._fsm_view(integ, module, str(r["id"]), r) for r in rows]
        out: dict[str, Any] = {"crm": self._crm_view(integ, crm_module, crm_id), "related": lists}
        if partner is not None:
            out["fsm"] = self._fsm_view(integ, partner_module(crm_module) or "", partner)
        return out

    def record(self, integration_id: str, fsm_module: str, fsm_id: str) -> dict[str, Any]:
        """From an FSM record: its Deal or Sales Order (CR-15) with the CRM link, or for a synced
        Company or Contact the CRM Deals and Sales Orders made with its partner (CR-16)."""
        integ = self._integration(integration_id)
        fsm, crm = self._clients(integ)
        if fsm_module in BY_FSM:
            view = self.engine.record(integration_id, fsm_module, fsm_id)
            view["crm_transactions"] = self.crm_transactions(integ, crm, view["partner"]["module"],
                                                             view["partner"]["id"])
            return view
        if fsm_module not in (*TRANSACTIONS, "Assets", "Service_Appointments"):
            raise NotFound(f"FSM {fsm_module} records are not synced with Zoho CRM")
        record = fsm.get_record(fsm_module, fsm_id)
        if record is None:
            raise NotFound(f"FSM {fsm_module} record {fsm_id} does not exist")
        link = self.link_of(integ, record)
        return {"integration_id": integ.id, "fsm": {**self._fsm_view(integ, fsm_module, fsm_id, record),
                                                    "record": record},
                "partner": {"product": "crm", **link} if link else None,
                "deal": link if link and link["module"] == "Deals" else None,
                "sales_order": link if link and link["module"] == "Sales_Orders" else None}

    def crm_transactions(self, integ: Integration, crm: CrmClient, crm_module: str,
                         crm_id: str) -> dict[str, list[dict[str, Any]]]:
        """CR-16: the CRM Deals and Sales Orders whose lookups name this Account or Contact."""
        out: dict[str, list[dict[str, Any]]] = {}
        for module in CRM_TRANSACTIONS:
            name = LINK_NAME_FIELD[module]
            rows: list[dict[str, Any]] = []
            with suppress(ZohoApiError):
                rows = list(crm.iter_records(f"/{crm_module}/{crm_id}/{module}", {"fields": f"{name},Modified_Time"}))
            out[module] = [self._crm_view(integ, module, str(r["id"]), r.get(name)) for r in rows]
        return out


_MADE = threading.Lock()


def conversions_of(engine: CrmEngine) -> Conversions:
    """One ``Conversions`` per engine (made on first use)."""
    with _MADE:
        found = getattr(engine, "_conversions", None)
        if found is None:
            found = Conversions(engine)
            engine._conversions = found  # type: ignore[attr-defined]
        return found


__all__ = ["AlreadyLinked", "CONSTANTS", "Conversions", "DEFAULT_MAPPINGS", "KEYS", "LINK_FIELDS", "RELATED",
           "TARGETS", "conversions_of", "validate"]
