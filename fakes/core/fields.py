"""Field and module metadata for record-style products (CRM and FSM), and value validation.

A product's ``metadata.py`` declares its modules as ``ModuleDef``s with ``FieldDef``s; the shared
record engine (``fakes.core.records``) validates writes against them, renders them, and answers
the products' field-metadata endpoints from them. Types follow CRM's ``data_type`` names
(CRM v8 fields.json): text, textarea, email, phone, website, integer, bigint, double, currency,
percent, boolean, date, datetime, picklist, multiselectpicklist, lookup, ownerlookup, subform,
address (FSM's address object), autonumber, jsonobject.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from .timefmt import parse_datetime

JSON_TYPES = {
    "text": "string", "textarea": "string", "email": "string", "phone": "string", "website": "string",
    "integer": "integer", "bigint": "string", "double": "double", "currency": "double", "percent": "double",
    "boolean": "boolean", "date": "string", "datetime": "string", "picklist": "string",
    "multiselectpicklist": "jsonarray", "lookup": "jsonobject", "ownerlookup": "jsonobject",
    "subform": "jsonarray", "address": "jsonobject", "autonumber": "string", "jsonobject": "jsonobject",
}
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True)
class FieldDef:
    api_name: str
    data_type: str = "text"
    label: str = ""
    mandatory: bool = False  # system_mandatory: required on create
    read_only: bool = False
    max_length: int | None = None
    pick_list: tuple[str, ...] = ()
    restricted_picklist: bool = False  # unknown picklist values are refused
    lookup: str | None = None  # target module for lookups
    subform: tuple[FieldDef, ...] = ()  # columns of a subform / line items
    unique: bool = False
    searchable: bool = False
    pii: bool = False  # FSM "PII" flag / CRM GDPR personal field
    ephi: bool = False  # FSM "EPHI" flag
    custom: bool = False
    sensitivity: str | None = None  # CRM private.type: "low" (normal) or "high" (sensitive)
    system: bool = False  # id, Created_Time, …: never written by clients

    @property
    def json_type(self) -> str:
        return JSON_TYPES.get(self.data_type, "string")

    @property
    def display_label(self) -> str:
        return self.label or self.api_name.replace("_", " ")


@dataclass
class ModuleDef:
    api_name: str
    singular: str
    fields: dict[str, FieldDef]
    display_field: str  # what a lookup to this module shows as "name"
    plural: str = ""
    # computes derived values (e.g. Full_Name from First/Last) after every write
    derive: Callable[[dict[str, Any]], None] | None = None
    module_id: str = ""

    def field(self, name: str) -> FieldDef | None:
        return self.fields.get(name)

    @property
    def mandatory(self) -> list[str]:
        return [f.api_name for f in self.fields.values() if f.mandatory and not f.system]


def module(api_name: str, singular: str, display_field: str, fields: list[FieldDef], *, plural: str = "",
           derive: Callable[[dict[str, Any]], None] | None = None) -> ModuleDef:
    return ModuleDef(api_name, singular, {f.api_name: f for f in fields}, display_field,
                     plural or api_name.replace("_", " "), derive)


class FieldError(ValueError):
    """A value that does not fit its field: CRM answers INVALID_DATA with these details."""

    def __init__(self, field_name: str, expected: str, json_path: str | None = None) -> None:
        super().__init__(f"{field_name}: expected {expected}")
        self.field = field_name
        self.expected = expected
        self.json_path = json_path or f"$.data[0].{field_name}"


def coerce(f: FieldDef, value: Any, lookup_name: Callable[[str, str], str | None] | None = None) -> Any:
    """Validate ``value`` for field ``f`` and return what is stored. ``None`` clears the field.
    ``lookup_name(module, id)`` resolves a lookup's display name, or None when no such record."""
    if value is None:
        return None
    t = f.data_type
    if t in ("text", "textarea", "phone", "website", "autonumber", "bigint"):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and t in ("phone", "bigint"):
            value = str(value)
        if not isinstance(value, str):
            raise FieldError(f.api_name, "string")
        limit = f.max_length or (32000 if t == "textarea" else 255)
        if len(value) > limit:
            raise FieldError(f.api_name, f"string of at most {limit} characters")
        return value
    if t == "email":
        if not isinstance(value, str) or (value and not EMAIL_RE.match(value)):
            raise FieldError(f.api_name, "email")
        return value
    if t == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and re.fullmatch(r"-?\d{1,15}", value):
                return int(value)
            raise FieldError(f.api_name, "integer")
        if abs(value) > 2**31 - 1:
            raise FieldError(f.api_name, "integer")
        return value
    if t in ("double", "currency", "percent"):
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise FieldError(f.api_name, "double") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise FieldError(f.api_name, "double")
        return value
    if t == "boolean":
        if not isinstance(value, bool):
            raise FieldError(f.api_name, "boolean")
        return value
    if t == "date":
        if not isinstance(value, str) or len(value) != 10:
            raise FieldError(f.api_name, "date")
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise FieldError(f.api_name, "date") from None
    if t == "datetime":
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is None:
            raise FieldError(f.api_name, "datetime")
        return parsed.isoformat()
    if t == "picklist":
        if not isinstance(value, str):
            raise FieldError(f.api_name, "string")
        if f.restricted_picklist and f.pick_list and value not in f.pick_list:
            raise FieldError(f.api_name, "one of " + ", ".join(f.pick_list))
        return value
    if t == "multiselectpicklist":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise FieldError(f.api_name, "jsonarray")
        return value
    if t in ("lookup", "ownerlookup"):
        ref = value.get("id") if isinstance(value, dict) else value
        if isinstance(ref, int) and not isinstance(ref, bool):
            ref = str(ref)
        if not isinstance(ref, str) or not ref.isdigit():
            raise FieldError(f.api_name, "jsonobject")
        name = lookup_name(f.lookup or "", ref) if lookup_name else ""
        if name is None:
            raise FieldError(f.api_name, "id of an existing " + (f.lookup or "record"))
        return {"name": name, "id": ref}
    if t == "address":
        if not isinstance(value, dict) or not all(isinstance(v, (str, type(None))) for v in value.values()):
            raise FieldError(f.api_name, "jsonobject")
        return {k: v for k, v in value.items() if isinstance(k, str) and len(k) <= 60}
    if t == "subform":
        if not isinstance(value, list):
            raise FieldError(f.api_name, "jsonarray")
        cols = {c.api_name: c for c in f.subform}
        rows = []
        for i, row in enumerate(value):
            if not isinstance(row, dict):
                raise FieldError(f.api_name, "jsonarray", f"$.data[0].{f.api_name}[{i}]")
            out = {}
            for k, v in row.items():
                col = cols.get(k)
                if col is None:
                    if k == "id":  # a row's own id is kept (line ids are referred to later)
                        if isinstance(v, (str, int)) and not isinstance(v, bool) and str(v).isdigit():
                            out["id"] = str(v)
                        continue
                    raise FieldError(f"{f.api_name}.{k}", "a known subform field")
                out[k] = coerce(col, v, lookup_name)
            for c in f.subform:
                if c.mandatory and out.get(c.api_name) in (None, ""):
                    raise FieldError(f"{f.api_name}.{c.api_name}", "a value (mandatory)")
            rows.append(out)
        return rows
    if t == "jsonobject":
        if not isinstance(value, dict):
            raise FieldError(f.api_name, "jsonobject")
        return value
    return value


def field_json(f: FieldDef, *, module_api: str, index: int, crm_private: bool = True) -> dict[str, Any]:
    """A field as CRM's ``/settings/fields`` (and FSM's field metadata) describes it."""
    out: dict[str, Any] = {
        "api_name": f.api_name, "field_label": f.display_label, "display_label": f.display_label,
        "data_type": f.data_type, "json_type": f.json_type, "system_mandatory": f.mandatory,
        "read_only": f.read_only or f.system, "custom_field": f.custom, "length": f.max_length or 255,
        "visible": True, "id": str(1_000_000 + index), "unique": {} if not f.unique else {"casesensitive": "false"},
        "pick_list_values": [
            {"display_value": v, "actual_value": v, "id": str(2_000_000 + index * 100 + i), "sequence_number": i + 1,
             "type": "used"} for i, v in enumerate(f.pick_list)],
        "lookup": {"module": {"api_name": f.lookup, "id": ""}, "display_label": f.lookup} if f.lookup else {},
    }
    if crm_private:
        out["private"] = ({"restricted": True, "export": False, "type": f.sensitivity or "low"}
                          if (f.pii or f.sensitivity) else None)
    return out
