"""Field mappings of the FSM <-> CRM direct sync (CR-03, CR-10, CR-11): pure, no HTTP.

Three module pairs (CR-10): FSM Companies <-> CRM Accounts, FSM Contacts <-> CRM Contacts,
FSM Services And Parts <-> CRM Products. Each has a default mapping (the extension's
"Configure" page prefilled); a custom one is validated against both products' field metadata
and refused with the field named.

A Product's ``Type`` decides Service or Part in FSM (CR-11): Service -> Service, Goods -> Part,
no value -> Goods (so Part). Unit Price is mandatory in FSM Services and Parts, so a Product
without one fails with that reason (``MappingFailure``).
Source: ../shared/seeds/fsm-crm-direct-sync.txt ("Data sync between Zoho CRM and Zoho FSM").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

DIRECTIONS = ("both", "fsm_to_crm", "crm_to_fsm")


@dataclass(frozen=True)
class ModulePair:
    key: str  # contacts | companies | products (the API's mapping key)
    fsm_module: str
    crm_module: str
    crm_match_field: str | None  # CR-04 Overwrite matches on this CRM field ...
    fsm_match_field: str | None  # ... and this FSM one
    has_view: bool  # CR-03: a CRM view chooses which CRM records sync


PAIRS: dict[str, ModulePair] = {
    # companies first: contacts point at them (Account_Name <-> Company)
    "companies": ModulePair("companies", "Companies", "Accounts", "Account_Name", "Company_Name", True),
    "contacts": ModulePair("contacts", "Contacts", "Contacts", "Email", "Email", True),
    "products": ModulePair("products", "Service_And_Parts", "Products", None, None, False),
}
ORDER = ("companies", "contacts", "products")
BY_FSM = {p.fsm_module: p for p in PAIRS.values()}
BY_CRM = {p.crm_module: p for p in PAIRS.values()}

DEFAULT_MAPPINGS: dict[str, list[dict[str, str]]] = {
    "companies": [
        {"fsm_field": "Company_Name", "crm_field": "Account_Name", "direction": "both"},
        {"fsm_field": "Phone", "crm_field": "Phone", "direction": "both"},
        {"fsm_field": "Fax", "crm_field": "Fax", "direction": "both"},
        {"fsm_field": "Website", "crm_field": "Website", "direction": "both"},
        {"fsm_field": "Description", "crm_field": "Description", "direction": "both"},
    ],
    "contacts": [
        {"fsm_field": "First_Name", "crm_field": "First_Name", "direction": "both"},
        {"fsm_field": "Last_Name", "crm_field": "Last_Name", "direction": "both"},
        {"fsm_field": "Email", "crm_field": "Email", "direction": "both"},
        {"fsm_field": "Phone", "crm_field": "Phone", "direction": "both"},
        {"fsm_field": "Mobile", "crm_field": "Mobile", "direction": "both"},
        {"fsm_field": "Company", "crm_field": "Account_Name", "direction": "both"},
        {"fsm_field": "Description", "crm_field": "Description", "direction": "both"},
    ],
    "products": [
        {"fsm_field": "Name", "crm_field": "Product_Name", "direction": "both"},
        {"fsm_field": "Type", "crm_field": "Type", "direction": "both"},
        {"fsm_field": "Unit_Price", "crm_field": "Unit_Price", "direction": "both"},
        {"fsm_field": "SKU", "crm_field": "Product_Code", "direction": "both"},
        {"fsm_field": "Description", "crm_field": "Description", "direction": "both"},
    ],
}

# FSM fields a create needs (FSM's mandatory fields of the three modules)
FSM_MANDATORY = {"Companies": ("Company_Name",), "Contacts": ("Last_Name", "Email"),
                 "Service_And_Parts": ("Name", "Type", "Unit_Price")}
CRM_MANDATORY = {"Accounts": ("Account_Name",), "Contacts": ("Last_Name",), "Products": ("Product_Name",)}

# CR-11: CRM Product Type -> FSM Service/Part Type, and back
CRM_TYPE_TO_FSM = {"Service": "Service", "Goods": "Part"}
FSM_TYPE_TO_CRM = {"Service": "Service", "Part": "Goods", "Goods": "Goods"}
DEFAULT_CRM_TYPE = "Goods"


class InvalidMapping(ValueError):
    """A mapping the API refuses: the message names the field (``mappings.contacts[2].crm_field``)."""


class MappingFailure(Exception):
    """A record that cannot sync with this mapping (e.g. a Product without Unit Price)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FieldInfo:
    name: str
    data_type: str = "text"
    read_only: bool = False
    lookup: str | None = None  # the module a lookup points at

    @property
    def is_lookup(self) -> bool:
        return self.data_type == "lookup"


def field_infos(fields: Iterable[Mapping[str, Any]]) -> dict[str, FieldInfo]:
    """``GET /settings/fields`` answers (CRM's shape; FSM's is the same) as ``{api_name: FieldInfo}``."""
    out: dict[str, FieldInfo] = {}
    for f in fields:
        name = f.get("api_name")
        if not isinstance(name, str):
            continue
        lookup = f.get("lookup") if isinstance(f.get("lookup"), dict) else {}
        target = (lookup.get("module") or {}).get("api_name") if isinstance(lookup.get("module"), dict) else None
        read_only = bool(f.get("read_only")) or bool(f.get("field_read_only"))
        out[name] = FieldInfo(name, str(f.get("data_type") or "text"), read_only, target)
    return out


# -- validation --------------------------------------------------------------------------------------
def check_mapping_rows(key: str, rows: Any) -> list[dict[str, str]]:
    """Shape only: a list of ``{"fsm_field", "crm_field", "direction"?}``."""
    where = f"mappings.{key}"
    if key not in PAIRS:
        raise InvalidMapping(f"mappings: unknown module {key!r}; choose from {', '.join(ORDER)}")
    if not isinstance(rows, list) or not rows:
        raise InvalidMapping(f"{where} must be a non-empty list of field pairs")
    out = []
    for i, row in enumerate(rows):
        at = f"{where}[{i}]"
        if not isinstance(row, Mapping):
            raise InvalidMapping(f"{at} must be an object with fsm_field and crm_field")
        unknown = set(row) - {"fsm_field", "crm_field", "direction"}
        if unknown:
            raise InvalidMapping(f"{at}: unknown key(s) {', '.join(sorted(unknown))}")
        for k in ("fsm_field", "crm_field"):
            if not isinstance(row.get(k), str) or not row[k].strip():
                raise InvalidMapping(f"{at}.{k} must be a field API name")
        direction = row.get("direction", "both")
        if direction not in DIRECTIONS:
            raise InvalidMapping(f"{at}.direction must be one of {', '.join(DIRECTIONS)}; got {direction!r}")
        out.append({"fsm_field": row["fsm_field"], "crm_field": row["crm_field"], "direction": direction})
    return out


def validate_mapping(key: str, rows: Any, fsm_fields: Mapping[str, FieldInfo],
                     crm_fields: Mapping[str, FieldInfo]) -> list[dict[str, str]]:
    """The rows, checked against both modules' fields; ``InvalidMapping`` names the first bad field."""
    pair = PAIRS[key] if key in PAIRS else None
    clean = check_mapping_rows(key, rows)
    assert pair is not None
    seen_fsm: dict[str, int] = {}
    seen_crm: dict[str, int] = {}
    for i, row in enumerate(clean):
        at = f"mappings.{key}[{i}]"
        fsm_f = fsm_fields.get(row["fsm_field"])
        crm_f = crm_fields.get(row["crm_field"])
        if fsm_f is None:
            raise InvalidMapping(f"{at}.fsm_field: FSM {pair.fsm_module} has no field {row['fsm_field']!r}")
        if crm_f is None:
            raise InvalidMapping(f"{at}.crm_field: CRM {pair.crm_module} has no field {row['crm_field']!r}")
        if fsm_f.is_lookup != crm_f.is_lookup:
            raise InvalidMapping(f"{at}: {row['fsm_field']} ({fsm_f.data_type}) cannot map to "
                                 f"{row['crm_field']} ({crm_f.data_type}): a lookup maps only to a lookup")
        if fsm_f.is_lookup and (BY_FSM.get(fsm_f.lookup or "") is None
                                or BY_FSM[fsm_f.lookup or ""].crm_module != crm_f.lookup):
            raise InvalidMapping(f"{at}: lookup {row['fsm_field']} ({fsm_f.lookup}) and {row['crm_field']} "
                                 f"({crm_f.lookup}) do not point at a synced module pair")
        if row["direction"] in ("both", "crm_to_fsm"):
            if fsm_f.read_only:
                raise InvalidMapping(f"{at}.fsm_field: FSM {pair.fsm_module}.{row['fsm_field']} is read-only")
            if row["fsm_field"] in seen_fsm:
                raise InvalidMapping(f"{at}.fsm_field: {row['fsm_field']} is mapped twice")
            seen_fsm[row["fsm_field"]] = i
        if row["direction"] in ("both", "fsm_to_crm"):
            if crm_f.read_only:
                raise InvalidMapping(f"{at}.crm_field: CRM {pair.crm_module}.{row['crm_field']} is read-only")
            if row["crm_field"] in seen_crm:
                raise InvalidMapping(f"{at}.crm_field: {row['crm_field']} is mapped twice")
            seen_crm[row["crm_field"]] = i
    for name in FSM_MANDATORY[pair.fsm_module]:
        if name not in seen_fsm:
            raise InvalidMapping(f"mappings.{key}: FSM {pair.fsm_module}.{name} is mandatory and must be mapped "
                                 "from a CRM field")
    for name in CRM_MANDATORY[pair.crm_module]:
        if name not in seen_crm:
            raise InvalidMapping(f"mappings.{key}: CRM {pair.crm_module}.{name} is mandatory and must be mapped "
                                 "from an FSM field")
    return clean


# -- values ----------------------------------------------------------------------------------------------
def empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {} or value == "-None-"


def lookup_id(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return None if empty(value) else str(value)


def same(a: Any, b: Any) -> bool:
    """Equal as synced values: empties alike, lookups by id, numbers by value."""
    if empty(a) and empty(b):
        return True
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        return lookup_id(a) == lookup_id(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    return a == b


Resolver = Callable[[str, str], str | None]  # (module on the source side, id) -> partner id


def fsm_value(pair: ModulePair, row: Mapping[str, str], crm_value: Any, resolve: Resolver,
              crm_fields: Mapping[str, FieldInfo] | None = None) -> Any:
    """A CRM value as the FSM field's value (Type CR-11, lookups through the links)."""
    if pair.key == "products" and row["crm_field"] == "Type" and row["fsm_field"] == "Type":
        return CRM_TYPE_TO_FSM.get(crm_value if not empty(crm_value) else DEFAULT_CRM_TYPE, "Part")
    target = (crm_fields or {}).get(row["crm_field"])
    if isinstance(crm_value, Mapping) or (target is not None and target.is_lookup):
        rid = lookup_id(crm_value)
        if rid is None:
            return None
        module = target.lookup if target is not None and target.lookup else "Accounts"
        partner = resolve(module, rid)
        return {"id": partner} if partner else _UNRESOLVED
    return None if empty(crm_value) else crm_value


def crm_value(pair: ModulePair, row: Mapping[str, str], fsm_val: Any, resolve: Resolver,
              fsm_fields: Mapping[str, FieldInfo] | None = None) -> Any:
    """An FSM value as the CRM field's value."""
    if pair.key == "products" and row["crm_field"] == "Type" and row["fsm_field"] == "Type":
        return FSM_TYPE_TO_CRM.get(fsm_val) if not empty(fsm_val) else None
    target = (fsm_fields or {}).get(row["fsm_field"])
    if isinstance(fsm_val, Mapping) or (target is not None and target.is_lookup):
        rid = lookup_id(fsm_val)
        if rid is None:
            return None
        module = target.lookup if target is not None and target.lookup else "Companies"
        partner = resolve(module, rid)
        return {"id": partner} if partner else _UNRESOLVED
    return None if empty(fsm_val) else fsm_val


class _Unresolved:
    """A lookup whose target has no partner (yet): left out of the payload."""


_UNRESOLVED = _Unresolved()


def to_fsm(pair: ModulePair, rows: Iterable[Mapping[str, str]], crm_record: Mapping[str, Any], resolve: Resolver,
           *, only: Iterable[str] | None = None, creating: bool = False,
           crm_fields: Mapping[str, FieldInfo] | None = None) -> dict[str, Any]:
    """The FSM values of a CRM record (rows already without PII, CR-06). ``only``: CRM fields
    that changed (a notification's affected fields). ``MappingFailure`` when FSM would refuse it."""
    wanted = set(only) if only is not None else None
    out: dict[str, Any] = {}
    for row in rows:
        if row["direction"] not in ("both", "crm_to_fsm"):
            continue
        if wanted is not None and row["crm_field"] not in wanted and not (creating or row["crm_field"] == "Type"):
            continue
        if row["crm_field"] not in crm_record and not creating and not (pair.key == "products"
                                                                         and row["crm_field"] == "Type"):
            continue
        value = fsm_value(pair, row, crm_record.get(row["crm_field"]), resolve, crm_fields)
        if value is _UNRESOLVED:
            continue
        out[row["fsm_field"]] = value
    if pair.key == "products" and ("Unit_Price" in out or creating) and empty(out.get("Unit_Price")):
        raise MappingFailure("Unit Price is mandatory in Zoho FSM Services and Parts: the Product "
                             f"{crm_record.get('Product_Name')!r} has none")
    if creating:
        missing = [f for f in FSM_MANDATORY[pair.fsm_module] if empty(out.get(f))]
        if missing:
            raise MappingFailure(f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} mandatory in Zoho FSM "
                                 f"{pair.fsm_module.replace('_', ' ')} and the CRM {pair.crm_module[:-1]} has no value")
    return out


def to_crm(pair: ModulePair, rows: Iterable[Mapping[str, str]], fsm_record: Mapping[str, Any], resolve: Resolver,
           *, only: Iterable[str] | None = None, creating: bool = False,
           fsm_fields: Mapping[str, FieldInfo] | None = None) -> dict[str, Any]:
    """The CRM values of an FSM record (rows already without PII, CR-06)."""
    wanted = set(only) if only is not None else None
    out: dict[str, Any] = {}
    for row in rows:
        if row["direction"] not in ("both", "fsm_to_crm"):
            continue
        if wanted is not None and row["fsm_field"] not in wanted and not creating:
            continue
        if row["fsm_field"] not in fsm_record and not creating:
            continue
        value = crm_value(pair, row, fsm_record.get(row["fsm_field"]), resolve, fsm_fields)
        if value is _UNRESOLVED:
            continue
        out[row["crm_field"]] = value
    if creating:
        missing = [f for f in CRM_MANDATORY[pair.crm_module] if empty(out.get(f))]
        if missing:
            raise MappingFailure(f"{', '.join(missing)} is mandatory in Zoho CRM {pair.crm_module} and the FSM "
                                 "record has no value")
    return out


def changes(payload: Mapping[str, Any], current: Mapping[str, Any]) -> dict[str, Any]:
    """The payload's fields whose value differs from the record's (nothing to write: ``{}``)."""
    return {k: v for k, v in payload.items() if not same(v, current.get(k))}


__all__ = ["BY_CRM", "BY_FSM", "DEFAULT_MAPPINGS", "DIRECTIONS", "FieldInfo", "InvalidMapping", "MappingFailure",
           "ModulePair", "ORDER", "PAIRS", "changes", "check_mapping_rows", "field_infos", "same", "to_crm", "to_fsm",
           "validate_mapping"]
