"""State and rules of the fake Zoho FSM: tables and domain operations, no HTTP.

Records of every module live in the shared record engine (``fakes.core.records``); this store adds
what is FSM's own: address objects with ids, the org's currencies and a record's Currency and
Exchange_Rate, line items priced from services and parts (inactive ones refused), generated
names (WO-1 …), deletes refused while transactions refer to a record, PII/EPHI flags and the
"PII data access using APIs" setting, search by ``api_name``/``value``/``comparator``, the
per-record timeline, data import jobs, ``process_sync`` links, and change-notification channels.

Every operation runs inside the caller's transaction; change events are published after commit
(``RecordStore.publish``).
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import Column, Index, String, Text, cast
from sqlmodel import Field, Session, SQLModel, col, select

from fakes.core import fastread, unique
from fakes.core.db import datetime_column, json_column, json_list_column
from fakes.core.ids import IdSequence
from fakes.core.lab import Lab
from fakes.core.records import Cond, Criteria, Group, Record, RecordError, RecordStore
from fakes.core.sql import increment
from fakes.core.tenants import Org
from fakes.core.timefmt import as_utc, crm_datetime, parse_datetime

from . import errors
from . import metadata as md

# ================================================================================== tables


class FsmCurrency(SQLModel, table=True):
    __tablename__ = "fsm_currency"
    id: str = Field(sa_column=Column(String(32), primary_key=True))
    org_id: str = Field(index=True)
    code: str
    name: str
    symbol: str
    exchange_rate: float = 1.0
    is_base: bool = False
    created_by: str = ""
    created_time: datetime | None = datetime_column()
    modified_time: datetime | None = datetime_column()


class FsmTimelineEntry(SQLModel, table=True):
    """One line of a record's timeline: who did what when, and which fields changed."""

    __tablename__ = "fsm_timeline"
    __table_args__ = (Index("ix_fsm_timeline_record", "org_id", "record_id", "audited_time"),)
    id: str = Field(sa_column=Column(String(32), primary_key=True))
    org_id: str
    module: str
    record_id: str
    record_name: str = ""
    audited_time: datetime | None = datetime_column()
    action: str  # added | updated | deleted | linked | unlinked | pushed | sync_failed
    source: str = "api"  # api | import | process_sync | finance | zohocrm | …
    done_by: str = ""  # user id
    field_history: list = json_list_column()
    details: dict = json_column()


class FsmImportJob(SQLModel, table=True):
    """A data import (CSV in the real product, admins only). While one runs, the syncer must not
    start (TW-01, TW-08); imported records fire no workflow rules."""

    __tablename__ = "fsm_import_job"
    id: str = Field(sa_column=Column(String(32), primary_key=True))
    org_id: str = Field(index=True)
    module: str
    file_name: str = ""
    status: str = "in_progress"  # in_progress | completed | failed
    started_by: str = ""
    started_time: datetime | None = datetime_column()
    finished_time: datetime | None = datetime_column()
    record_ids: list = json_list_column()
    errors: list = json_list_column()


class FsmChannel(SQLModel, table=True):
    """A change-notification subscription (CRM ``actions/watch`` body, FSM internal surface)."""

    __tablename__ = "fsm_channel"
    id: str = Field(sa_column=Column(String(32), primary_key=True))
    org_id: str = Field(index=True)
    channel_id: str
    events: list = json_list_column()  # ["Contacts.create", "Companies.all", …]
    notify_url: str = Field(sa_column=Column(Text, nullable=False))
    token: str = ""
    return_affected_field_values: bool = False
    expiry: datetime | None = datetime_column()
    user_id: str = ""
    created_time: datetime | None = datetime_column()


# ================================================================================ helpers

_MISSING = object()
_UNESCAPED_COMMA = re.compile(r"(?<!\\),")


def _number(value: Any) -> float | None:
    """A finite number from a JSON number or numeric string; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _ref_id(value: Any) -> str | None:
    ref = value.get("id") if isinstance(value, dict) else value
    if isinstance(ref, int) and not isinstance(ref, bool):
        ref = str(ref)
    return ref if isinstance(ref, str) and ref.isdigit() and len(ref) <= 25 else None


def _history_value(v: Any) -> Any:
    if v is None or isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False, separators=(",", ":")) if isinstance(v, (dict, list)) else str(v)


def valid_record_id(record_id: Any) -> bool:
    return isinstance(record_id, str) and record_id.isdigit() and len(record_id) <= 25


SUBLOOKUP = "$SUBLOOKUP_"  # "Billing_Address": "$SUBLOOKUP_Service_Address" copies the other address


class FsmAttachment(SQLModel, table=True):
    """A file attached to a record (Add Attachments: the file was uploaded to ZFS first and is
    named by its File_Id; the fake keeps the id and name, not the bytes)."""

    __tablename__ = "fsm_attachment"
    __table_args__ = (Index("ix_fsm_attachment_record", "org_id", "record_id"),)
    id: str = Field(sa_column=Column(String(32), primary_key=True))
    org_id: str
    module: str
    record_id: str
    file_id: str
    file_name: str
    created_by: str = ""
    created_time: datetime | None = datetime_column()


# ================================================================================ the store


_CURRENCY_ROWS = fastread.by_key(FsmCurrency, "org_id", order_by=(col(FsmCurrency.is_base).desc(), FsmCurrency.code))


class FsmStore(RecordStore):
    """Domain operations of one FSM org, as one user (the API caller, or the org owner)."""

    def __init__(self, lab: Lab, s: Session, org: Org, user_id: str = "", source: str = "api") -> None:
        super().__init__(lab, s, org, md.MODULES, family="fsm", user_id=user_id)
        self.source = source
        self._currency_rows: list[FsmCurrency] | None = None
        self.converted: Record | None = None  # the Estimate a Request's "Convert to Estimate" made

    def dt(self, value: datetime | None) -> str | None:
        return crm_datetime(as_utc(value), self.org.time_zone)

    # -- settings ----------------------------------------------------------------------------------
    @property
    def settings(self) -> dict[str, Any]:
        return self.org.settings or {}

    def pii_access(self) -> bool:
        return self.settings.get("pii_api_access", True) is not False

    def multi_currency(self) -> bool:
        v = self.settings.get("multi_currency")
        return bool(self.org.currencies) if v is None else bool(v)

    def flags(self, module: str, field_name: str) -> tuple[bool, bool]:
        """(pii, ephi) of a field in this org: the defaults, overridden by ``field_flags``."""
        fdef = self.modules[module].fields[field_name]
        override = (((self.settings.get("field_flags") or {}).get(module) or {}).get(field_name)) or {}
        return bool(override.get("pii", fdef.pii)), bool(override.get("ephi", fdef.ephi))

    def hidden(self, module: str) -> set[str]:
        """Fields left out of answers: PII and EPHI fields while API access to PII is off."""
        if self.pii_access() or module not in self.modules:
            return set()
        out = {name for name in self.modules[module].fields if any(self.flags(module, name))}
        if module == "Contacts" and out & {"First_Name", "Last_Name"}:
            out.add("Full_Name")  # derived from the name fields: it would show them
        return out

    # -- currencies --------------------------------------------------------------------------------
    def currencies(self) -> list[FsmCurrency]:
        if self._currency_rows is None:
            self._currency_rows = list(self.s.exec(
                select(FsmCurrency).where(FsmCurrency.org_id == self.org.id)
                .order_by(col(FsmCurrency.is_base).desc(), FsmCurrency.code)).all())
        return self._currency_rows

    def currency_by_code(self, code: str) -> FsmCurrency | None:
        code = code.upper()
        return next((c for c in self.currencies() if c.code == code), None)

    def base_currency(self) -> FsmCurrency:
        base = next((c for c in self.currencies() if c.is_base), None)
        if base is None:  # every org gets one at creation; heal orgs restored from older snapshots
            base = self.add_currency(self.org.currency_code, is_base=True)
        return base

    def add_currency(self, code: str, *, is_base: bool = False, rate: float = 1.0, symbol: str | None = None,
                     name: str | None = None) -> FsmCurrency:
        known = md.CURRENCIES.get(code, (code, code))
        now = self.lab.now()
        cid = self.new_id()
        self._claim_currency(code, cid)
        c = FsmCurrency(id=cid, org_id=self.org.id, code=code, name=name or known[0],
                        symbol=symbol or known[1], exchange_rate=1.0 if is_base else rate, is_base=is_base,
                        created_by=self.user_id, created_time=now, modified_time=now)
        self.s.add(c)
        self.s.flush()
        self._currency_rows = None
        return c

    def _claim_currency(self, code: str, currency_id: str) -> None:
        """An org has each currency once: the code is held in ``lab_unique_value`` in this
        transaction, so concurrent adds of one code (several workers) store it once."""
        holder = unique.hold(self.s, self.org.id, "currencies", "iso_code", unique.unique_key(code) or "",
                             currency_id, lambda h: self.s.get(FsmCurrency, h) is not None)
        if holder is not None:
            raise RecordError("DUPLICATE_DATA", "duplicate data", {"api_name": "iso_code", "id": holder})

    def create_currency(self, body: Any, index: int = 0) -> FsmCurrency:
        """``{"iso_code": "EUR", "exchange_rate": "1.0", "symbol"?, "name"?}`` (CRM org currencies)."""
        if not isinstance(body, dict):
            raise RecordError("INVALID_DATA", "invalid data", {"expected_data_type": "jsonobject",
                                                               "json_path": f"$.currencies[{index}]"})
        code = body.get("iso_code", body.get("currency_code"))
        if code is None:
            raise RecordError("MANDATORY_NOT_FOUND", "required field not found", {"api_name": "iso_code"})
        if not isinstance(code, str) or len(code) != 3 or not code.isalpha():
            raise RecordError("INVALID_DATA", "invalid data", {"api_name": "iso_code"})
        code = code.upper()
        if self.currency_by_code(code) is not None:
            raise RecordError("DUPLICATE_DATA", "duplicate data", {"api_name": "iso_code",
                                                                   "id": self.currency_by_code(code).id})
        rate = _number(body.get("exchange_rate", 1))
        if rate is None or rate <= 0:
            raise RecordError("INVALID_DATA", "invalid data", {"api_name": "exchange_rate"})
        for key in ("symbol", "name"):
            if body.get(key) is not None and (not isinstance(body[key], str) or not 0 < len(body[key]) <= 50):
                raise RecordError("INVALID_DATA", "invalid data", {"api_name": key})
        return self.add_currency(code, rate=rate, symbol=body.get("symbol"), name=body.get("name"))

    def update_currency(self, currency_id: str, body: Any) -> FsmCurrency:
        c = next((x for x in self.currencies() if x.id == currency_id), None)
        if c is None:
            raise RecordError("INVALID_DATA", "the id given seems to be invalid", {"id": currency_id})
        if not isinstance(body, dict):
            raise RecordError("INVALID_DATA", "invalid data", {"expected_data_type": "jsonobject"})
        if "exchange_rate" in body:
            rate = _number(body["exchange_rate"])
            if rate is None or rate <= 0 or c.is_base:
                raise RecordError("INVALID_DATA", "invalid data", {"api_name": "exchange_rate"})
            c.exchange_rate = rate
        if "symbol" in body:
            if not isinstance(body["symbol"], str) or not 0 < len(body["symbol"]) <= 50:
                raise RecordError("INVALID_DATA", "invalid data", {"api_name": "symbol"})
            c.symbol = body["symbol"]
        c.modified_time = self.lab.now()
        self.s.add(c)
        return c

    def currency_json(self, c: FsmCurrency) -> dict[str, Any]:
        """CRM's org-currency shape (currencies.json), which FSM copies."""
        user = {k: v for k, v in self.user(c.created_by or self.org.owner_id).items() if k != "email"}
        return {"id": c.id, "iso_code": c.code, "name": c.name, "symbol": c.symbol,
                "exchange_rate": f"{c.exchange_rate:.9f}", "is_base": c.is_base, "is_active": True,
                "prefix_symbol": True,
                "format": {"decimal_separator": "Period", "thousand_separator": "Comma", "decimal_places": "2"},
                "created_time": self.dt(c.created_time), "modified_time": self.dt(c.modified_time),
                "created_by": user, "modified_by": user}

    # -- validation of FSM's own value shapes ---------------------------------------------------------
    def prepare(self, module: str, data: Any, index: int, current: Record | None) -> dict[str, Any]:
        """``data`` checked and completed for FSM before the record engine validates it."""
        if not isinstance(data, dict):
            raise RecordError("INVALID_DATA", "invalid data", {"expected_data_type": "jsonobject",
                                                               "json_path": f"$.data[{index}]"})
        mdef = self.modules[module]
        data = dict(data)
        old = (current.doc or {}) if current is not None else {}
        for name in md.ADDRESS_FIELDS:
            if name in mdef.fields and isinstance(data.get(name), str) and data[name].startswith(SUBLOOKUP):
                data[name] = self._sublookup(mdef, name, data, old, index)
        for name in md.ADDRESS_FIELDS + ("Address",):
            if name in data and name in mdef.fields:
                data[name] = self._address(module, name, data[name], old.get(name), index)
        if "Tax" in data and "Tax" in mdef.fields:
            tax = data["Tax"]
            if tax is not None and (not isinstance(tax, dict) or
                                    not isinstance(tax.get("Taxable", True), bool)):
                raise errors.invalid_value("Tax", "a JSON object whose Taxable is true or false", index)
        if "Currency" in mdef.fields:
            self._money(data, old, current is None, index)
        if "Service_Line_Items" in data and "Service_Line_Items" in mdef.fields:
            data["Service_Line_Items"] = self._line_items(data["Service_Line_Items"], index)
        for name, fdef in mdef.fields.items():
            if fdef.data_type == "datetime" and isinstance(data.get(name), str):
                parsed = parse_datetime(data[name])
                if parsed is not None and not md.YEARS[0] <= parsed.year <= md.YEARS[1]:
                    raise errors.invalid_value(name, f"a datetime between the years {md.YEARS[0]} and {md.YEARS[1]}",
                                               index)
            # ``$…`` arrays ($Service_Line_Items, $Service_Resources) hold ids, the others objects
            if fdef.data_type == "jsonarray" and name in data and data[name] is not None and name[0] != "$":
                if not isinstance(data[name], list) or not all(isinstance(x, dict) for x in data[name]):
                    raise errors.invalid_value(name, "a JSON array of objects", index)
        return data

    def _sublookup(self, mdef, name: str, data: dict[str, Any], old: dict[str, Any], index: int) -> dict[str, Any]:
        """``"Billing_Address": "$SUBLOOKUP_Service_Address"``: a copy of the record's other address
        (as real orgs accept it; the copy gets an id of its own)."""
        source = data[name][len(SUBLOOKUP):]
        if source == name or source not in md.ADDRESS_FIELDS or source not in mdef.fields:
            raise errors.invalid_value(name, f"$SUBLOOKUP_ of the record's other address, not {source!r}", index)
        value = data.get(source, old.get(source))
        if not isinstance(value, dict):
            raise errors.invalid_value(name, f"{source} to copy (none given)", index)
        return {k: v for k, v in value.items() if k != "id"}

    def _address(self, module: str, name: str, value: Any, old: Any, index: int) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict) or len(value) > md.MAX_ADDRESS_KEYS:
            raise errors.invalid_value(name, "a JSON object (address)", index)
        out: dict[str, Any] = {}
        for k, v in value.items():
            if len(k) > 60:
                raise errors.invalid_value(name, f"unknown key {k[:60]!r}", index)
            if k == "Tax":
                if v is not None and not isinstance(v, dict):
                    raise errors.invalid_value(f"{name}.Tax", "a JSON object", index)
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                v = str(v) if k not in ("Latitude", "Longitude") else v  # Zoho takes numbers for zips
            elif v is not None and not isinstance(v, str):
                raise errors.invalid_value(f"{name}.{k}", "a string", index)
            if isinstance(v, str) and len(v) > 500:
                raise errors.invalid_value(f"{name}.{k}", "a string of at most 500 characters", index)
            out[k] = v
        if module in ("Contacts", "Companies"):
            # the address keeps its id across edits; Work Orders refer to it by that id
            old_id = old.get("id") if isinstance(old, dict) else None
            out["id"] = old_id or self.new_id()
        return out

    def _money(self, data: dict[str, Any], old: dict[str, Any], creating: bool, index: int) -> None:
        """Currency defaults to the base currency; it must be one of the org's currencies (TW-10),
        the base one unless multi-currency is on; Exchange_Rate defaults to the currency's rate."""
        code = data.get("Currency", _MISSING)
        if code is _MISSING and not creating:
            if "Exchange_Rate" not in data:
                return
            code = old.get("Currency") or self.base_currency().code
        if code is _MISSING or code is None:
            code = self.base_currency().code
        if not isinstance(code, str):
            raise errors.invalid_value("Currency", "a currency code", index)
        cur = self.currency_by_code(code)
        if cur is None:
            raise errors.invalid_value("Currency", f"the currency {code} is not one of the organization's currencies",
                                       index)
        if not cur.is_base and not self.multi_currency():
            raise errors.invalid_value("Currency", "multi-currency is not enabled in this organization", index)
        data["Currency"] = cur.code
        rate = data.get("Exchange_Rate")
        if rate is not None:
            value = _number(rate)
            if value is None or value <= 0:
                raise errors.invalid_value("Exchange_Rate", "a positive number", index)
            data["Exchange_Rate"] = value
        if cur.is_base:
            data["Exchange_Rate"] = 1.0  # the base currency's rate is always 1
        elif rate is None and (creating or cur.code != old.get("Currency")):
            data["Exchange_Rate"] = cur.exchange_rate

    def _line_items(self, rows: Any, index: int) -> Any:
        if rows is None:
            return None
        if not isinstance(rows, list) or len(rows) > 200:
            raise errors.invalid_value("Service_Line_Items", "a JSON array of at most 200 line items", index)
        out = []
        for i, row in enumerate(rows):
            path = f"$.data[{index}].Service_Line_Items[{i}]"
            if not isinstance(row, dict):
                raise RecordError("INVALID_DATA", "invalid data", {"api_name": "Service_Line_Items",
                                                                   "expected_data_type": "jsonobject",
                                                                   "json_path": path})
            row = dict(row)
            ref = _ref_id(row.get("Service")) if row.get("Service") is not None else None
            if row.get("Service") is not None:
                service = self.find("Service_And_Parts", ref) if ref else None
                if service is None:
                    raise RecordError("INVALID_DATA", "invalid data", {
                        "api_name": "Service_Line_Items.Service", "json_path": f"{path}.Service",
                        "reason": "id of an existing service or part"})
                if (service.doc or {}).get("$inactive"):
                    raise RecordError("INVALID_DATA", "invalid data", {
                        "api_name": "Service_Line_Items.Service", "json_path": f"{path}.Service",
                        "reason": "the service or part is inactive"})
                if row.get("List_Price") is None:
                    row["List_Price"] = (service.doc or {}).get("Unit_Price")
                if row.get("Unit") is None and (service.doc or {}).get("Unit"):
                    row["Unit"] = service.doc["Unit"]
            address = row.get("Service_Address")
            if address is not None and (not isinstance(address, dict) or not isinstance(address.get("id"), (str, int))
                                        or not str(address["id"]).isdigit()):
                raise RecordError("INVALID_DATA", "invalid data", {
                    "api_name": "Service_Line_Items.Service_Address", "json_path": f"{path}.Service_Address",
                    "reason": 'the id of an address: {"id": "…"}'})
            if address is not None:
                row["Service_Address"] = {**address, "id": str(address["id"])}
            rid = row.get("id")
            # every line has an id (appointments name the lines they are for); kept across edits
            row["id"] = str(rid) if isinstance(rid, (str, int)) and not isinstance(rid, bool) and str(rid).isdigit() \
                else self.new_id()
            for key in ("Part_Line_Items", "Skill_Line_Items"):
                if row.get(key) is not None and (not isinstance(row[key], list)
                                                 or not all(isinstance(x, dict) for x in row[key])):
                    raise RecordError("INVALID_DATA", "invalid data", {
                        "api_name": f"Service_Line_Items.{key}", "json_path": f"{path}.{key}"})
            out.append(row)
        return out

    # -- writes ----------------------------------------------------------------------------------
    def create_record(self, module: str, data: Any, *, index: int = 0, trigger: bool = True) -> Record:
        data = self.prepare(module, data, index, None)
        if module == "Service_Appointments":
            data = self._appointment(data, index)
        rec = self.create(module, data, index=index, trigger=trigger)
        prefix = md.AUTONUMBER.get(module)
        if prefix:
            n = increment(self.s, IdSequence, {"scope": f"fsm:name:{self.org.id}:{module}"}, "value", 1)
            rec.doc = {**(rec.doc or {}), "Name": f"{prefix}{n}"}
            self.s.add(rec)
        self.add_timeline(rec, "added")
        return rec

    def _appointment(self, data: dict[str, Any], index: int) -> dict[str, Any]:
        """Create a Service Appointment (zoho.com/fsm/developer/help/api/create-service-appointment.html):
        ``$Service_Line_Items`` (mandatory) names lines of one work order; the appointment belongs
        to that work order and takes its Contact and Company. A new appointment has a Status."""
        lines = data.get("$Service_Line_Items")
        if lines is None and data.get("Work_Order") is None:
            raise RecordError("MANDATORY_NOT_FOUND", "required field not found",
                              {"api_name": "$Service_Line_Items", "json_path": f"$.data[{index}].$Service_Line_Items"})
        if lines is not None:
            if not isinstance(lines, list) or not lines or not all(isinstance(x, (str, int)) for x in lines):
                raise errors.invalid_value("$Service_Line_Items", "a JSON array of line item ids", index)
            lines = [str(x) for x in lines]
            wo = self._work_order_of_lines(lines, data.get("Work_Order"))
            if wo is None:
                raise errors.invalid_value("$Service_Line_Items", "ids of service line items of one work order",
                                           index)
            data = {**data, "$Service_Line_Items": lines, "Work_Order": wo.id}
            for key in ("Contact", "Company"):
                if data.get(key) is None and isinstance((wo.doc or {}).get(key), dict):
                    data[key] = wo.doc[key].get("id")
        if data.get("Status") is None:
            with_resources = bool(data.get("$Service_Resources"))
            data = {**data, "Status": md.SA_INITIAL_STATUS[0] if with_resources else md.SA_INITIAL_STATUS[1]}
        return data

    def _work_order_of_lines(self, line_ids: list[str], work_order: Any) -> Record | None:
        """The work order holding every one of ``line_ids`` (the given one, or found by its lines)."""
        wanted = set(line_ids)
        if work_order is not None:
            wo_id = _ref_id(work_order)
            candidates = [r for r in [self.find("Work_Orders", wo_id or "")] if r is not None]
        else:
            candidates = self.s.exec(select(Record).where(
                Record.org_id == self.org.id, Record.module == "Work_Orders",
                col(Record.deleted_time).is_(None))).all()
        for wo in candidates:
            have = {str(x.get("id")) for x in (wo.doc or {}).get("Service_Line_Items") or [] if isinstance(x, dict)}
            if wanted <= have:
                return wo
        return None

    def update_record(self, module: str, record_id: Any, data: Any, *, index: int = 0,
                      trigger: bool = True, source: str | None = None) -> Record:
        rid = str(record_id) if isinstance(record_id, (str, int)) and not isinstance(record_id, bool) else ""
        rec = self.find(module, rid)
        if rec is None:
            raise RecordError("INVALID_DATA", "the id given seems to be invalid", {"id": rid})
        data = self.prepare(module, data, index, rec)
        before = dict(rec.doc or {})
        rec = self.update(module, rec.id, data, index=index, trigger=trigger)
        after = rec.doc or {}
        mdef = self.modules[module]
        history = [{"api_name": k, "field_label": mdef.fields[k].display_label, "data_type": mdef.fields[k].data_type,
                    "_value": {"old": before.get(k), "new": after.get(k)}}
                   for k in mdef.fields if before.get(k) != after.get(k)]
        if history:
            self.add_timeline(rec, "updated", field_history=history, source=source)
        return rec

    def delete_record(self, module: str, record_id: Any, *, trigger: bool = True) -> Record:
        rid = str(record_id) if isinstance(record_id, str) else ""
        rec = self.find(module, rid)
        if rec is None:
            raise RecordError("INVALID_DATA", "the id given seems to be invalid", {"id": rid})
        refs = self.references(module, rec.id)
        if refs:
            raise errors.lookup_in_other_module(rec.id, refs)
        if module == "Companies":  # its contacts stay, without a company [lab]
            contacts, _ = self.query("Contacts", Cond("Company", "equals", rec.id), limit=10_000)
            for c in contacts:
                self.update_record("Contacts", c.id, {"Company": None}, trigger=False)
        self.delete(module, rec.id, trigger=trigger)
        self.add_timeline(rec, "deleted")
        return rec

    def references(self, module: str, record_id: str) -> list[dict[str, Any]]:
        """Live transactions and assets whose lookups (or line items) point at the record."""
        needle = f'%"{record_id}"%'
        found: list[dict[str, Any]] = []
        for ref_module in md.BLOCKING_MODULES:
            if ref_module == module:
                continue
            q = self._base(ref_module).where(cast(Record.doc, String).like(needle)).limit(50)
            for r in self.s.exec(q).all():
                if self._points_at(ref_module, r.doc or {}, module, record_id):
                    found.append({"id": r.id, "module": {"api_name": ref_module},
                                  "name": self.display_name(ref_module, r)})
        return found

    def _points_at(self, ref_module: str, doc: dict[str, Any], module: str, record_id: str) -> bool:
        for name, fdef in self.modules[ref_module].fields.items():
            if fdef.data_type == "lookup" and fdef.lookup == module and _ref_id(doc.get(name)) == record_id:
                return True
            if fdef.data_type == "subform" and isinstance(doc.get(name), list):
                for col_def in fdef.subform:
                    if col_def.data_type == "lookup" and col_def.lookup == module and any(
                            isinstance(row, dict) and _ref_id(row.get(col_def.api_name)) == record_id
                            for row in doc[name]):
                        return True
        return False

    # -- process_sync (link / unlink / push with Books-Invoice or CRM) --------------------------------
    def process_sync(self, module: str, record_id: str, service: str | None, body: Any) -> dict[str, Any]:
        if not service:
            raise errors.required_param("sync_service")
        if service not in md.SYNC_SERVICES:
            raise errors.invalid_param("sync_service", f"one of {', '.join(md.SYNC_SERVICES)}")
        if isinstance(body, dict) and isinstance(body.get("data"), list) and body["data"]:
            body = body["data"][0]
        if not isinstance(body, dict):
            raise errors.invalid_param("body", "a JSON object with sync_process")
        process = body.get("sync_process")
        if process is None:
            raise errors.required_param("sync_process")
        if process not in md.SYNC_PROCESSES:
            raise errors.invalid_param("sync_process", f"one of {', '.join(md.SYNC_PROCESSES)}")
        target = md.SYNC_TARGETS.get((module, service))
        if target is None:
            raise errors.invalid_param("sync_service", f"{module} records cannot be synced with {service}")
        rec = self.find(module, record_id)
        if rec is None:
            raise errors.invalid_id(record_id)
        transaction = module in ("Requests", "Estimates", "Work_Orders")
        integ_module = body.get("integ_module")
        if transaction:
            if process == "push":
                raise errors.invalid_param("sync_process", "requests, estimates and work orders can only be linked "
                                                           "or unlinked")
            if process == "link" or integ_module is not None:
                if integ_module not in md.INTEG_MODULES:
                    raise errors.invalid_param("integ_module", f"one of {', '.join(md.INTEG_MODULES)}")
                target = md.INTEG_MODULES[integ_module]
        integ_id = _ref_id(body.get("integ_id"))
        if process == "link" and integ_id is None:
            raise (errors.required_param("integ_id") if body.get("integ_id") is None
                   else errors.invalid_param("integ_id", "the id of the record in the integrated service"))
        details: dict[str, Any] = {"id": rec.id, "sync_service": service, "sync_process": process}
        if process == "link":
            self.update(module, rec.id, {target: integ_id}, trigger=False)
            details["integ_id"] = integ_id
        elif process == "unlink":
            fields = [target] if not transaction or integ_module else list(md.INTEG_MODULES.values())
            self.update(module, rec.id, dict.fromkeys(fields), trigger=False)
        if integ_module:
            details["integ_module"] = integ_module
        action = {"link": "linked", "unlink": "unlinked", "push": "pushed"}[process]
        self.add_timeline(rec, action, source="process_sync", details={k: v for k, v in details.items() if k != "id"})
        return details

    # -- reads -------------------------------------------------------------------------------------
    def list_records(self, module: str, *, page: int, per_page: int, sort_by: str = "Created_Time",
                     sort_order: str = "desc", modified_since: datetime | None = None,
                     criteria: Criteria | None = None) -> tuple[list[Record], bool]:
        return self.query(module, criteria, sort_by=sort_by, sort_order=sort_order, offset=(page - 1) * per_page,
                          limit=per_page, modified_since=modified_since)

    def search_criteria(self, module: str, api_name: str, value: str, comparator: str | None) -> Criteria:
        """Search Records: ``api_name`` among the module's searchable fields (or Modified_Time /
        Created_Time with DateTime comparators), ``comparator`` contains (default) or equal."""
        if api_name in md.DATETIME_SEARCH_FIELDS:
            comparator = comparator or "equal"
            if comparator not in md.DATETIME_COMPARATORS:
                raise errors.invalid_param("comparator", f"one of {', '.join(md.DATETIME_COMPARATORS)}")
            return _datetime_criteria(api_name, value, comparator)
        if api_name not in md.searchable(module):
            raise errors.invalid_param("api_name", f"searchable fields of {module}: "
                                                   f"{', '.join(md.searchable(module) + md.DATETIME_SEARCH_FIELDS)}")
        if api_name in self.hidden(module):
            raise errors.invalid_param("api_name", "PII data access using APIs is disabled for this organization")
        comparator = comparator or "contains"
        if comparator not in md.TEXT_COMPARATORS:
            raise errors.invalid_param("comparator", f"one of {', '.join(md.TEXT_COMPARATORS)}")
        text = value.replace("\\,", ",")
        if self.modules[module].fields[api_name].data_type == "lookup":
            return Cond(api_name, "equals", text)  # lookups are searched by the record id
        return Cond(api_name, "equals" if comparator == "equal" else "contains", text)

    def related(self, module: str, record_id: str, related: str) -> str | None:
        """The lookup field of ``related`` that points at ``module`` (related lists), if any."""
        rdef = self.modules.get(related)
        if rdef is None:
            return None
        return next((f.api_name for f in rdef.fields.values() if f.data_type == "lookup" and f.lookup == module), None)

    # -- rendering -----------------------------------------------------------------------------------
    def render_record(self, rec: Record, fields: list[str] | None = None) -> dict[str, Any]:
        out = self.render(rec, fields, hide=self.hidden(rec.module))
        mdef = self.modules[rec.module]
        if not self.pii_access():  # a lookup's name would show a hidden field of the other record
            for name, fdef in mdef.fields.items():
                target = self.modules.get(fdef.lookup or "")
                if fdef.data_type == "lookup" and isinstance(out.get(name), dict) and target is not None \
                        and target.display_field in self.hidden(target.api_name):
                    out[name] = {**out[name], "name": None}
        if "Currency" in mdef.fields or rec.module == "Service_And_Parts":
            code = (rec.doc or {}).get("Currency")
            # read-only rows (fastread): an ORM load of the currencies cost more than the record
            rows = self._currency_rows if self._currency_rows is not None else _CURRENCY_ROWS.rows(self.s, org_id=self.org.id)
            cur = next((c for c in rows if c.code == code.upper()), None) if isinstance(code, str) else None
            cur = cur or next((c for c in rows if c.is_base), None) or self.base_currency()
            out["$currency_symbol"] = cur.symbol
        out["$editable"] = True
        return out

    def created_json(self, rec: Record, index: int) -> dict[str, Any]:
        """One record of the create answer (Create a Service/Part: UID, times, users, id)."""
        out = {"UID": f"{rec.module}_{index}", **self.audit(rec)}
        if rec.module in md.TAB_NAMES:
            out["TabName"] = md.TAB_NAMES[rec.module]
        lines = (rec.doc or {}).get("Service_Line_Items")
        if isinstance(lines, list) and lines:
            # the new lines' ids, which appointments are created from ($Service_Line_Items) [lab: shape]
            out["Service_Line_Items"] = [{"id": row.get("id"), "Service": row.get("Service")}
                                         for row in lines if isinstance(row, dict)]
        return out

    # -- blueprint transitions and reschedule (Service Appointment / Work Order APIs) -------------
    def transition_id(self, module: str, name: str) -> str:
        """A transition's id: the org's own, stable per module and transition [lab: derived]."""
        n = 60000 + sum(ord(c) * (i + 1) for i, c in enumerate(f"{module}:{name}")) % 30000
        return f"{_org_prefix(self)}{n:012d}"

    def transitions(self, module: str, record_id: str) -> dict[str, Any]:
        rec = self._transitionable(module, record_id)
        status = self._status(rec)
        out = []
        for name, nxt, notes in md.TRANSITIONS.get((module, status), []):
            t: dict[str, Any] = {"next_field_value": nxt, "name": name, "id": self.transition_id(module, name)}
            if notes:
                t["fields"] = [dict(md.NOTES_FIELD)]
            t["enabled"] = True
            out.append(t)
        if out:
            out[0] = {**out[0], "type": "primary"}
        mdef = self.modules[module]
        return {"code": "SUCCESS",
                "process_info": {"field_id": f"{mdef.module_id}0{len('Status')}", "api_name": "Status",
                                 "field_label": "Status", "name": mdef.plural, "field_value": status},
                "transitions": out, "status": "success"}

    def run_transition(self, module: str, record_id: str, body: Any) -> Record:
        """``PUT …/actions/blueprint {"blueprint": [{"transition_id", "data"}]}``."""
        rec = self._transitionable(module, record_id)
        items = body.get("blueprint") if isinstance(body, dict) else None
        if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
            raise errors.record_error("INVALID_DATA", "invalid data", api_name="blueprint",
                                      expected_data_type="jsonarray")
        tid, data = items[0].get("transition_id"), items[0].get("data") or {}
        if not isinstance(data, dict):
            raise errors.record_error("INVALID_DATA", "invalid data", api_name="data", expected_data_type="jsonobject")
        status = self._status(rec)
        for name, nxt, notes in md.TRANSITIONS.get((module, status), []):
            if self.transition_id(module, name) != str(tid):
                continue
            if notes and not (isinstance(data.get("Notes"), str) and data["Notes"].strip()):
                raise errors.record_error("MANDATORY_NOT_FOUND", "required field not found", api_name="Notes")
            if module == "Requests" and name == md.REQUEST_CONVERT:
                # the transition's data are the new Estimate's values (the Create Estimate form)
                self.converted = self.convert_request(rec, data)
                return self.update_record(module, rec.id, {"Status": nxt}, source="blueprint")
            changes = {k: v for k, v in data.items() if k != "Notes" and k in self.modules[module].fields}
            if nxt is not None:
                changes["Status"] = nxt
            return self.update_record(module, rec.id, changes, source="blueprint")
        raise errors.record_error("INVALID_DATA", "the transition id given seems to be invalid",
                                  api_name="transition_id", reason=f"not a transition of a record in {status!r}")

    def reschedule(self, record_id: str, data: Any) -> Record:
        """Reschedule a Service Appointment (…/reschedule-service-appointment.html): new start and
        end (mandatory), the service resources kept; the appointment is Scheduled again [lab]."""
        rec = self._transitionable("Service_Appointments", record_id)
        if not isinstance(data, dict):
            raise errors.invalid_value("data", "a JSON object")
        for name in ("Scheduled_Start_Date_Time", "Scheduled_End_Date_Time"):
            if data.get(name) in (None, ""):
                raise RecordError("MANDATORY_NOT_FOUND", "required field not found",
                                  {"api_name": name, "json_path": f"$.data[0].{name}"})
        status = (rec.doc or {}).get("Status")
        if not any(n == "Reschedule" for n, _, _ in md.TRANSITIONS.get(("Service_Appointments", status), [])):
            raise errors.record_error("INVALID_DATA", "the appointment cannot be rescheduled", api_name="Status",
                                      reason=f"not while {status}")
        keep = ("Scheduled_Start_Date_Time", "Scheduled_End_Date_Time", "$Service_Resources", "Lead")
        changes = {k: data[k] for k in keep if k in data}
        changes["Status"] = "Scheduled"
        return self.update_record("Service_Appointments", rec.id, changes, source="reschedule")

    def convert_request(self, request_rec: Record, values: dict[str, Any]) -> Record:
        """A Request converted to an Estimate: the Estimate copies the Request's fields
        (``md.CONVERTED_FIELDS``: customer, addresses, line items, the CRM Deal or Sales Order it is
        listed under), points back at it (``Request``), and takes ``values`` over the copy."""
        doc = request_rec.doc or {}
        data: dict[str, Any] = {}
        for name in md.CONVERTED_FIELDS:
            value = doc.get(name)
            if value is None:
                continue
            if isinstance(value, dict) and self.modules["Estimates"].fields[name].data_type == "lookup":
                value = value.get("id")
            elif name == "Service_Line_Items" and isinstance(value, list):
                value = [{k: v for k, v in row.items() if k not in ("id", "Amount", "Line_Item_Amount")}
                         for row in value if isinstance(row, dict)]
            elif isinstance(value, dict) and name in md.ADDRESS_FIELDS:
                value = {k: v for k, v in value.items() if k != "id"}
            data[name] = value
        fields = self.modules["Estimates"].fields
        data.update({k: v for k, v in values.items() if k in fields and k not in ("Request", "Name")})
        data["Request"] = request_rec.id
        data.setdefault("Status", "New")
        return self.create_record("Estimates", data)

    def _status(self, rec: Record) -> str | None:
        status = (rec.doc or {}).get("Status")
        return status or ("New" if rec.module == "Requests" else None)  # a Request is New until it moves [lab]

    def _transitionable(self, module: str, record_id: str) -> Record:
        if module not in ("Service_Appointments", "Work_Orders", "Requests"):
            raise errors.record_error("INVALID_MODULE", "the module name given seems to be invalid")
        rec = self.find(module, record_id)
        if rec is None:
            raise RecordError("INVALID_DATA", "the id given seems to be invalid", {"id": record_id})
        return rec

    # -- attachments (Attachments APIs) ----------------------------------------------------------
    def attachments(self, module: str, record_id: str) -> list[dict[str, Any]]:
        rec = self._attachable(module, record_id)
        rows = self.s.exec(select(FsmAttachment).where(
            FsmAttachment.org_id == self.org.id, FsmAttachment.record_id == rec.id)
            .order_by(col(FsmAttachment.created_time).desc(), col(FsmAttachment.id).desc())).all()
        return [self.attachment_json(a, rec) for a in rows]

    def add_attachment(self, module: str, record_id: str, item: Any, index: int) -> FsmAttachment:
        rec = self._attachable(module, record_id)
        if not isinstance(item, dict):
            raise RecordError("INVALID_DATA", "invalid data", {"expected_data_type": "jsonobject",
                                                               "json_path": f"$.data[{index}]"})
        for name in ("File_Id", "File_Name"):
            v = item.get(name)
            if not isinstance(v, str) or not v.strip() or len(v) > 255:
                raise RecordError("MANDATORY_NOT_FOUND" if v in (None, "") else "INVALID_DATA",
                                  "required field not found" if v in (None, "") else "invalid data",
                                  {"api_name": name, "json_path": f"$.data[{index}].{name}"})
        row = FsmAttachment(id=self.new_id(), org_id=self.org.id, module=module, record_id=rec.id,
                            file_id=item["File_Id"], file_name=item["File_Name"], created_by=self.user_id,
                            created_time=self.lab.now())
        self.s.add(row)
        return row

    def attachment_audit(self, a: FsmAttachment) -> dict[str, Any]:
        who = {k: v for k, v in self.user(a.created_by).items() if k != "email"}
        when = self.dt(a.created_time)
        return {"Modified_Time": when, "Modified_By": who, "Created_Time": when, "id": a.id, "Created_By": who}

    def attachment_json(self, a: FsmAttachment, rec: Record) -> dict[str, Any]:
        who = self.user(a.created_by)
        when = self.dt(a.created_time)
        return {"Owner": who, "Modified_Time": when, "File_Name": a.file_name, "Created_Time": when,
                "Size": "0", "Parent_Id": None, "$editable": True, "$file_id": a.file_id,
                "$permissions": {"read": True, "edit": True, "delete": True}, "$type": None,
                "$se_module": a.module, "Modified_By": who, "$inactive": False, "id": a.id,
                "Parent_Record_Id": {"name": self.display_name(rec.module, rec), "id": rec.id},
                "Created_By": who, "$link_url": None}

    def _attachable(self, module: str, record_id: str) -> Record:
        if module not in md.ATTACHMENT_MODULES:
            raise errors.record_error("INVALID_MODULE", "the module name given seems to be invalid")
        rec = self.find(module, record_id)
        if rec is None:
            raise RecordError("INVALID_DATA", "the related id given seems to be invalid", {"id": record_id})
        return rec

    # -- users and their service resources (Users APIs) ------------------------------------------
    def users_json(self) -> list[dict[str, Any]]:
        """List Users / Get an User (…/get-an-user.html): each user with its ``Service_Resources``
        (``id``: the resource's own id, ``User``: the user's id) [lab: one resource per member]."""
        from fakes.core.tenants import OrgMember, User

        rows = self.s.exec(select(User, OrgMember.role).join(OrgMember, OrgMember.user_id == User.id)
                           .where(OrgMember.org_id == self.org.id).order_by(User.created_time, User.id)).all()
        owner = self.user(self.org.owner_id)
        out = []
        for u, role in rows:
            uid = self.user_ref(u.id)
            first, _, last = (u.name or u.email).partition(" ")
            admin = role == "admin"
            profile = "Administrator" if admin else "Field Agent"
            out.append({
                "country": None, "Organization": self.org.name, "city": None, "language": "en_US",
                "locale": "en_US", "Isonline": False, "Modified_By": {"name": owner["name"], "id": owner["id"]},
                "street": None, "alias": None, "id": uid, "state": None, "fax": None, "country_locale": "US",
                "first_name": first if last else "", "email": u.email, "Reporting_To": None, "zip": None,
                "created_time": self.dt(u.created_time),
                "Service_Resources": {"User": uid, "id": self.service_resource_id(u.id), "SE_PRESENCE": 1,
                                      "isActive": True, "Name": u.name or u.email},
                "website": None, "Territory": None, "Modified_Time": self.dt(u.created_time),
                "time_format": "hh:mm a", "offset": 0,
                "profile": {"api_name": profile.replace(" ", "_"), "name": profile,
                            "id": f"{_org_prefix(self)}{(8442 if admin else 8443):012d}"},
                "client_profile": profile, "mobile": None, "sr_creation": True, "last_name": last or first,
                "time_zone": u.time_zone or self.org.time_zone, "isUserPhotoExist": False,
                "created_by": {"name": owner["name"], "id": owner["id"]}, "zuid": u.id, "confirm": True,
                "full_name": u.name or u.email, "client_status": "Active", "phone": None, "dob": None,
                "Active_Territory": None, "employee_id": None, "date_format": "dd MMM yyyy", "status": "active",
            })
        return out

    def service_resource_id(self, zuid: str) -> str:
        """A user's service resource id, distinct from the user's id [lab: derived from the zuid]."""
        return f"{_org_prefix(self)}{int(zuid) + 10**11:012d}" if zuid.isdigit() else zuid

    def ensure_default_territory(self) -> None:
        """Every FSM org has a default service territory (Create a Work Order: Territory is mandatory
        only once territories other than the default one exist) [lab: named after the org]."""
        exists = self.s.exec(select(Record.id).where(Record.org_id == self.org.id,
                                                      Record.module == "Territories").limit(1)).first()
        if exists is None:
            self.create("Territories", {"Name": self.org.name}, index=0, trigger=False)

    # -- timeline ----------------------------------------------------------------------------------
    def add_timeline(self, rec: Record, action: str, *, field_history: list | None = None,
                     source: str | None = None, details: dict[str, Any] | None = None,
                     done_by: str | None = None) -> FsmTimelineEntry:
        entry = FsmTimelineEntry(
            id=self.new_id(), org_id=self.org.id, module=rec.module, record_id=rec.id,
            record_name=self.display_name(rec.module, rec), audited_time=self.lab.now(), action=action,
            source=source or self.source, done_by=done_by or self.user_id,
            field_history=field_history or [], details=details or {})
        self.s.add(entry)
        return entry

    def timeline(self, rec: Record, *, page: int, per_page: int, sort_order: str = "desc",
                 action: str | None = None) -> tuple[list[FsmTimelineEntry], bool]:
        q = select(FsmTimelineEntry).where(FsmTimelineEntry.org_id == self.org.id,
                                           FsmTimelineEntry.record_id == rec.id)
        if action:
            q = q.where(FsmTimelineEntry.action == action)
        order = [col(FsmTimelineEntry.audited_time), col(FsmTimelineEntry.id)]
        if sort_order == "desc":
            order = [o.desc() for o in order]
        rows = self.s.exec(q.order_by(*order).offset((page - 1) * per_page).limit(per_page + 1)).all()
        return list(rows[:per_page]), len(rows) > per_page

    def timeline_json(self, e: FsmTimelineEntry) -> dict[str, Any]:
        """CRM's timeline entry shape (timelines.json), which FSM's record timeline follows."""
        hide = self.hidden(e.module)
        mdef = self.modules.get(e.module)
        history = [{**h, "_value": {"old": _history_value(h["_value"]["old"]), "new": _history_value(h["_value"]["new"])}}
                   for h in (e.field_history or []) if h.get("api_name") not in hide]
        user = {k: v for k, v in self.user(e.done_by).items() if k != "email"}
        out: dict[str, Any] = {
            "id": e.id, "audited_time": self.dt(e.audited_time), "action": e.action, "source": e.source,
            "done_by": user, "type": "sync" if e.action == "sync_failed" else "record",
            "record": {"name": None if mdef and mdef.display_field in hide else e.record_name, "id": e.record_id,
                       "module": {"api_name": e.module, "id": mdef.module_id if mdef else ""}},
            "field_history": history or None,
        }
        if e.details:
            out["details"] = e.details
            if e.details.get("extension"):
                out["extension"] = e.details["extension"]
        return out

    def record_sync_failure(self, module: str, record_id: str, body: Any) -> FsmTimelineEntry:
        """[internal] A syncer writes a failed sync into the record's timeline (CR-12)."""
        rec = self.find(module, record_id, include_deleted=True)
        if rec is None:
            raise errors.invalid_related_id(record_id)
        if not isinstance(body, dict):
            raise errors.invalid_param("body", "a JSON object")
        message = body.get("message")
        if not isinstance(message, str) or not message.strip() or len(message) > 2000:
            raise (errors.required_param("message") if message is None
                   else errors.invalid_param("message", "a non-empty string of at most 2000 characters"))
        details: dict[str, Any] = {"message": message}
        for key in ("service", "extension", "sync_id", "partner_id", "partner_module", "direction"):
            v = body.get(key)
            if v is not None:
                if not isinstance(v, (str, int)) or isinstance(v, bool) or len(str(v)) > 200:
                    raise errors.invalid_param(key, "a string of at most 200 characters")
                details[key] = str(v)
        action = body.get("action", "sync_failed")
        if action not in ("sync_failed", "sync_succeeded"):
            raise errors.invalid_param("action", "sync_failed or sync_succeeded")
        return self.add_timeline(rec, action, source=details.get("service", "sync"), details=details)

    # -- data imports -------------------------------------------------------------------------------
    def imports(self, status: str | None = None) -> list[FsmImportJob]:
        q = select(FsmImportJob).where(FsmImportJob.org_id == self.org.id)
        if status:
            q = q.where(FsmImportJob.status == status)
        return list(self.s.exec(q.order_by(col(FsmImportJob.started_time).desc(), col(FsmImportJob.id).desc())).all())

    def import_in_progress(self) -> bool:
        return self.s.exec(select(FsmImportJob.id).where(FsmImportJob.org_id == self.org.id,
                                                         FsmImportJob.status == "in_progress").limit(1)).first() is not None

    def import_job(self, job_id: str) -> FsmImportJob | None:
        job = self.s.get(FsmImportJob, job_id)
        return job if job is not None and job.org_id == self.org.id else None

    def start_import(self, module: str, file_name: str = "") -> FsmImportJob:
        job = FsmImportJob(id=self.new_id(), org_id=self.org.id, module=module, file_name=file_name,
                           started_by=self.user_id, started_time=self.lab.now())
        self.s.add(job)
        return job

    def import_records(self, job: FsmImportJob, records: list[Any]) -> None:
        """Create the job's records: no workflow rules run (imports never trigger them)."""
        ids, errs = list(job.record_ids or []), list(job.errors or [])
        offset = len(ids) + len(errs)
        for i, data in enumerate(records):
            try:
                rec = self.create_record(job.module, data, index=i, trigger=False)
            except RecordError as err:
                errs.append({"row": offset + i + 1, **err.entry()})
                continue
            ids.append(rec.id)
        job.record_ids, job.errors = ids, errs
        self.s.add(job)

    def finish_import(self, job: FsmImportJob, status: str = "completed") -> FsmImportJob:
        job.status = status
        job.finished_time = self.lab.now()
        self.s.add(job)
        return job

    def import_json(self, job: FsmImportJob) -> dict[str, Any]:
        return {"id": job.id, "module": job.module, "file_name": job.file_name, "status": job.status,
                "started_by": {k: v for k, v in self.user(job.started_by).items() if k != "email"},
                "started_time": self.dt(job.started_time), "finished_time": self.dt(job.finished_time),
                "created": len(job.record_ids or []), "failed": len(job.errors or []),
                "record_ids": job.record_ids or [], "errors": job.errors or []}

    # -- notification channels ----------------------------------------------------------------------
    def channels(self) -> list[FsmChannel]:
        return list(self.s.exec(select(FsmChannel).where(FsmChannel.org_id == self.org.id)
                                .order_by(FsmChannel.created_time, FsmChannel.id)).all())

    def subscribe(self, item: Any, index: int) -> FsmChannel:
        """One entry of ``{"watch": [...]}``: channel_id, events, notify_url, token?, channel_expiry?,
        return_affected_field_values?. The same channel_id again replaces the subscription."""
        def bad(key: str, reason: str) -> RecordError:
            return RecordError("INVALID_DATA", "invalid data", {"api_name": key, "json_path": f"$.watch[{index}].{key}",
                                                                "reason": reason})

        if not isinstance(item, dict):
            raise bad("watch", "a JSON object")
        for key in ("channel_id", "events", "notify_url"):
            if item.get(key) in (None, "", []):
                raise RecordError("MANDATORY_NOT_FOUND", "required field not found",
                                  {"api_name": key, "json_path": f"$.watch[{index}].{key}"})
        channel_id = _ref_id(item["channel_id"])
        if channel_id is None:
            raise bad("channel_id", "a number")
        events = item["events"]
        if not isinstance(events, list) or len(events) > 50:
            raise bad("events", "a JSON array of \"<module>.<operation>\"")
        for ev in events:
            module, _, op = ev.partition(".") if isinstance(ev, str) else ("", "", "")
            if module not in md.NOTIFY_MODULES or op not in md.NOTIFY_OPERATIONS:
                raise bad("events", f"modules {', '.join(md.NOTIFY_MODULES)}; operations "
                                    f"{', '.join(md.NOTIFY_OPERATIONS)}")
        url = item["notify_url"]
        if not isinstance(url, str) or not url.startswith(("http://", "https://")) or len(url) > 2000:
            raise bad("notify_url", "an http(s) URL")
        token = item.get("token") or ""
        if not isinstance(token, str) or len(token) > 50:
            raise bad("token", "a string of at most 50 characters")
        flag = item.get("return_affected_field_values", False)
        if not isinstance(flag, bool):
            raise bad("return_affected_field_values", "true or false")
        now = self.lab.now()
        expiry = now + timedelta(seconds=md.CHANNEL_DEFAULT_SECONDS)
        if item.get("channel_expiry") is not None:
            wanted = parse_datetime(item["channel_expiry"]) if isinstance(item["channel_expiry"], str) else None
            if wanted is None:
                raise bad("channel_expiry", "an ISO 8601 datetime")
            if now < wanted <= now + timedelta(seconds=md.CHANNEL_MAX_SECONDS):
                expiry = wanted
        for old in self.channels():
            if old.channel_id == channel_id:
                self.s.delete(old)
        ch = FsmChannel(id=self.new_id(), org_id=self.org.id, channel_id=channel_id, events=sorted(set(events)),
                        notify_url=url, token=token, return_affected_field_values=flag, expiry=expiry,
                        user_id=self.user_id, created_time=now)
        self.s.add(ch)
        return ch

    def unsubscribe(self, channel_id: str) -> bool:
        gone = False
        for ch in self.channels():
            if ch.channel_id == channel_id:
                self.s.delete(ch)
                gone = True
        return gone

    def channel_json(self, ch: FsmChannel, base_url: str) -> dict[str, Any]:
        return {"channel_id": ch.channel_id, "events": ch.events, "notify_url": ch.notify_url, "token": ch.token,
                "channel_expiry": self.dt(ch.expiry), "return_affected_field_values": ch.return_affected_field_values,
                "resource_uris": sorted({f"{base_url}/fsm/v1/{e.split('.')[0]}" for e in ch.events})}

    # -- users' profiles (TW-26) ------------------------------------------------------------------------
    def profiles(self) -> dict[str, tuple[str, ...]]:
        """Standard profiles, then the org's custom ones: name -> permissions."""
        custom = {str(k): tuple(v) for k, v in (self.settings.get("custom_profiles") or {}).items()}
        return {**md.STANDARD_PROFILES, **custom}

    def user_json(self, user_id: str) -> dict[str, Any]:
        """A user of the org with its profile and that profile's permissions."""
        name = (self.settings.get("user_profiles") or {}).get(user_id) or md.DEFAULT_PROFILE
        permissions = self.profiles().get(name, ())
        return {"id": user_id, "profile": {"name": name, "standard": name in md.STANDARD_PROFILES,
                                           "permissions": list(permissions)}}

    # -- Zoho-internal state the syncer reads ----------------------------------------------------------
    def internal_state(self) -> dict[str, Any]:
        org, settings = self.org, self.settings
        running = self.imports("in_progress")
        return {
            "org_id": org.id, "name": org.name, "edition": org.edition, "active": org.active,
            "trial": bool(settings.get("trial")), "time_zone": org.time_zone,
            "pii_api_access": self.pii_access(), "multi_currency": self.multi_currency(),
            "tax_enabled": org.tax_enabled, "taxes": settings.get("taxes") or [],
            "base_currency": self.base_currency().code, "currencies": [c.code for c in self.currencies()],
            "import_in_progress": bool(running), "imports_in_progress": [self.import_json(j) for j in running],
            "sync_in_progress": bool(settings.get("sync_in_progress")), "sync_service": settings.get("sync_service"),
            "limits": {"per_day": md.per_day(org.edition, settings),
                       "concurrency": md.concurrent(org.edition, settings), "enforced": org.rate_limits},
            "counts": {m: self.count(m) for m in md.NOTIFY_MODULES},
        }


# ================================================================================ search helpers


def _org_prefix(st: RecordStore) -> str:
    """The org's id prefix (the first digits every record id of the org shares): ids derived
    with a running part below RUNNING_BASE never meet a record's."""
    return st.lab.ids.org_prefix("fsm", st.org.id)


def _when(value: str) -> datetime:
    text = value.strip().replace("\\,", ",")
    # a '+' left unencoded in a query string arrives as a space: 2021-05-02T11:17:33 05:30
    if re.fullmatch(r".+T\d\d:\d\d(:\d\d(\.\d+)?)? \d\d:\d\d", text):
        text = text[::-1].replace(" ", "+", 1)[::-1]
    dt = parse_datetime(text)
    if dt is None or not md.YEARS[0] <= dt.year <= md.YEARS[1]:
        raise errors.invalid_param("value", f"not a datetime such as 2021-05-02T11:17:33+05:30: {value[:60]!r}")
    return dt


def _iso(dt: datetime) -> str:
    return dt.isoformat()


def _datetime_criteria(api_name: str, value: str, comparator: str) -> Criteria:
    """DateTime comparators at the precision answers show (seconds): ``equal T`` is any instant
    within that second, ``greater_than T`` starts at the next second."""
    second = timedelta(seconds=1)
    if comparator in ("between", "not_between"):
        parts = _UNESCAPED_COMMA.split(value)
        if len(parts) != 2:
            raise errors.invalid_param("value", "between needs two comma-separated datetimes")
        lo, hi = _when(parts[0]), _when(parts[1])
        if comparator == "between":
            return Group("and", [Cond(api_name, "greater_equal", _iso(lo)), Cond(api_name, "less_than", _iso(hi + second))])
        return Group("or", [Cond(api_name, "less_than", _iso(lo)), Cond(api_name, "greater_equal", _iso(hi + second))])
    t = _when(value).replace(microsecond=0)
    nxt = t + second
    if comparator == "equal":
        return Group("and", [Cond(api_name, "greater_equal", _iso(t)), Cond(api_name, "less_than", _iso(nxt))])
    if comparator == "not_equal":
        return Group("or", [Cond(api_name, "less_than", _iso(t)), Cond(api_name, "greater_equal", _iso(nxt))])
    op = {"greater_than": ("greater_equal", nxt), "greater_equal": ("greater_equal", t),
          "less_than": ("less_than", t), "less_equal": ("less_than", nxt)}[comparator]
    return Cond(api_name, op[0], _iso(op[1]))


# ================================================================================ notifications


def notification_payloads(lab: Lab, event: Any, base_url: str) -> list[tuple[str, dict[str, Any]]]:
    """(notify_url, body) for each live channel of the org that watches this change, in CRM's
    notification shape plus the affected fields (and values when the channel asked for them)."""
    if event.product != "fsm" or event.module not in md.NOTIFY_MODULES:
        return []
    op = {"insert": "create", "update": "edit", "delete": "delete"}.get(event.operation)
    if op is None:
        return []
    wanted = {f"{event.module}.{op}", f"{event.module}.all"}
    now = lab.now()
    with lab.db.session() as s:
        channels = [c for c in s.exec(select(FsmChannel).where(FsmChannel.org_id == event.org_id)).all()
                    if set(c.events) & wanted and (as_utc(c.expiry) is None or as_utc(c.expiry) > now)]
        if not channels:
            return []
        org = s.get(Org, event.org_id)
        hide = FsmStore(lab, s, org).hidden(event.module) if org is not None else set()
    out = []
    for ch in channels:
        body: dict[str, Any] = {
            "server_time": int(now.timestamp() * 1000),
            "query_params": dict(parse_qsl(urlsplit(ch.notify_url).query)),
            "module": event.module, "resource_uri": f"{base_url}/fsm/v1/{event.module}",
            "ids": list(event.ids), "operation": event.operation, "channel_id": ch.channel_id, "token": ch.token,
        }
        if event.operation == "update":
            body["affected_fields"] = [{rid: list(event.fields.get(rid, []))} for rid in event.ids]
            if ch.return_affected_field_values:
                body["affected_values"] = [
                    {"record_id": rid, "values": {k: v for k, v in (event.values.get(rid) or {}).items()
                                                  if k not in hide}} for rid in event.ids]
        out.append((ch.notify_url, body))
    return out
