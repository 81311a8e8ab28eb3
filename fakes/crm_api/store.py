"""State and domain logic of the fake Zoho CRM (no HTTP): records through the shared record
engine, listing with ``page`` then stateless ``page_token``s, search criteria, upsert, the
recycle bin, COQL, ``/actions/watch`` channels and their callbacks, metadata answers and the
org's Zoho-internal settings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import Column, String, and_, func, or_
from sqlmodel import Field, Session, SQLModel, col, select

from fakes.core.db import datetime_column, json_column, json_list_column
from fakes.core.errors import ZohoError
from fakes.core.fields import FieldDef, ModuleDef
from fakes.core.lab import Lab
from fakes.core.records import ChangeEvent, Cond, Criteria, Group, Record, RecordError, RecordStore
from fakes.core.tenants import Org, OrgMember, User
from fakes.core.timefmt import as_utc, crm_datetime, parse_datetime

from . import errors
from . import metadata as md

# ------------------------------------------------------------------------------------------ tables


class CrmWatchChannel(SQLModel, table=True):
    """A notification channel (``/actions/watch``) of one org."""

    __tablename__ = "crm_watch_channel"
    id: str = Field(sa_column=Column(String(80), primary_key=True))  # "<org id>:<channel id>"
    org_id: str = Field(index=True)
    channel_id: str
    user_id: str = ""
    notify_url: str = ""
    token: str | None = None
    events: list = json_list_column()  # ["Contacts.create", "Accounts.all", ...]
    return_affected_field_values: bool = False
    notify_on_related_action: bool = False
    fields: dict = json_column()  # {"Contacts": ["Email", ...]}: notify only when these change
    channel_expiry: datetime | None = datetime_column()
    version: str = "v8"
    api_domain: str = ""
    created_time: datetime | None = datetime_column()


# ------------------------------------------------------------------------------------------ helpers

def record_error(err: RecordError) -> ZohoError:
    """A RecordError raised outside a batch (reads, searches): Zoho's envelope with its status."""
    from fakes.core.crm_style import error

    return error(err.status, err.code, err.message, err.details)


@dataclass
class Listing:
    rows: list[Record]
    more: bool
    page: int
    per_page: int
    sort_by: str
    sort_order: str
    next_token: str | None = None
    previous_token: str | None = None
    token_expiry: datetime | None = None


class CrmStore:
    def __init__(self, lab: Lab, s: Session, org: Org, user_id: str = "") -> None:
        self.lab = lab
        self.s = s
        self.org = org
        self.rs = RecordStore(lab, s, org, md.MODULES, family="crm", user_id=user_id)
        self.rs.module_id_of = self.module_id  # DUPLICATE_DATA's duplicate_record.module.id

    # -- basics ---------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.lab.now()

    def dt(self, value: datetime | None) -> str | None:
        return crm_datetime(as_utc(value), self.org.time_zone)

    def mdef(self, module: str) -> ModuleDef:
        m = md.MODULES.get(module)
        if m is None:
            raise errors.invalid_module()
        return m

    def minified_user(self, user_id: str) -> dict[str, str]:
        u = self.rs.user(user_id)
        return {"name": u["name"], "id": u["id"]}

    def publish(self) -> None:
        self.rs.publish()

    # -- page tokens (stateless: HMAC-signed, keyed by the lab seed) -----------------------------
    def _token_key(self) -> bytes:
        return hashlib.sha256(f"zlab-crm-page-token:{self.lab.seed}".encode()).digest()

    def make_token(self, state: dict[str, Any]) -> tuple[str, datetime]:
        expiry = self.now() + timedelta(seconds=md.PAGE_TOKEN_SECONDS)
        payload = {**state, "o": self.org.id, "x": int(expiry.timestamp())}
        raw = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
        sig = hmac.new(self._token_key(), raw.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{raw}.{sig}", expiry

    def read_token(self, token: str, module: str) -> dict[str, Any]:
        raw, _, sig = token.partition(".")
        good = hmac.new(self._token_key(), raw.encode(), hashlib.sha256).hexdigest()[:32]
        if not raw or not hmac.compare_digest(sig, good) or len(token) > 2000:
            raise errors.invalid_param("page_token", "invalid page token")
        try:
            state = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        except (ValueError, UnicodeDecodeError):
            raise errors.invalid_param("page_token", "invalid page token") from None
        if not isinstance(state, dict) or state.get("o") != self.org.id or state.get("m") != module:
            raise errors.invalid_param("page_token", "the page token belongs to another listing")
        if self.now().timestamp() >= state.get("x", 0):
            raise errors.invalid_param("page_token", "page token expired")
        return state

    # -- listing ----------------------------------------------------------------------------------
    def _live(self, module: str):
        return select(Record).where(Record.org_id == self.org.id, Record.module == module,
                                    col(Record.deleted_time).is_(None))

    def list_records(self, module: str, *, page: int, per_page: int, sort_by: str, sort_order: str,
                     modified_since: datetime | None, token: str | None, tokens: bool) -> Listing:
        """``page`` reaches the first 2,000 records; ``page_token`` (keyset, signed) goes on."""
        self.mdef(module)
        after: list[Any] | None = None
        if token is not None:
            st = self.read_token(token, module)
            sort_by, sort_order, page = st["s"], st["d"], int(st["p"])
            per_page = per_page or int(st["n"])
            after = st.get("k")
            modified_since = parse_datetime(st["ims"]) if st.get("ims") else None
        per_page = per_page or md.PER_PAGE_DEFAULT
        if token is None and tokens and (page - 1) * per_page >= md.DISCRETE_LIMIT:
            raise errors.discrete_pagination(md.DISCRETE_LIMIT)
        if sort_by not in md.SORTABLE:  # v2 sorts by any field: the record engine does it
            try:
                rows, more = self.rs.query(module, sort_by=sort_by, sort_order=sort_order,
                                           offset=(page - 1) * per_page, limit=per_page,
                                           modified_since=modified_since)
            except RecordError as err:
                raise record_error(err) from None
            return Listing(rows, more, page, per_page, sort_by, sort_order)
        column = {"id": col(Record.id), "Created_Time": col(Record.created_time),
                  "Modified_Time": col(Record.modified_time)}[sort_by]
        q = self._live(module)
        if modified_since is not None:
            q = q.where(Record.modified_time > modified_since)
        desc = sort_order == "desc"
        if after is not None:
            last_value, last_id = after
            value: Any = last_id if sort_by == "id" else parse_datetime(last_value)
            if sort_by == "id":
                q = q.where(column < value if desc else column > value)
            else:
                tie = Record.id < last_id if desc else Record.id > last_id
                q = q.where(or_(column < value if desc else column > value, and_(column == value, tie)))
        else:
            q = q.offset((page - 1) * per_page)
        order = [column.desc(), col(Record.id).desc()] if desc else [column.asc(), col(Record.id).asc()]
        if sort_by == "id":
            order = order[:1]
        rows = list(self.s.exec(q.order_by(*order).limit(per_page + 1)).all())
        more = len(rows) > per_page
        rows = rows[:per_page]
        out = Listing(rows, more, page, per_page, sort_by, sort_order)
        if tokens and more and rows:
            last = rows[-1]
            key_value = last.id if sort_by == "id" else as_utc(
                last.created_time if sort_by == "Created_Time" else last.modified_time).isoformat()
            state = {"m": module, "s": sort_by, "d": sort_order, "p": page + 1, "n": per_page,
                     "k": [key_value, last.id],
                     "ims": modified_since.isoformat() if modified_since else None}
            out.next_token, out.token_expiry = self.make_token(state)
        return out

    def info(self, listing: Listing, *, tokens: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"per_page": listing.per_page, "count": len(listing.rows), "page": listing.page,
                               "sort_by": listing.sort_by, "sort_order": listing.sort_order,
                               "more_records": listing.more}
        if tokens:
            out["next_page_token"] = listing.next_token
            out["previous_page_token"] = listing.previous_token
            out["page_token_expiry"] = self.dt(listing.token_expiry) if listing.token_expiry else None
        return out

    # -- writes -------------------------------------------------------------------------------------
    def upsert(self, module: str, data: dict[str, Any], dup_fields: list[str], *, index: int,
               trigger: bool) -> tuple[Record, str, str | None]:
        """Update the record matching a duplicate-check field (or ``id``), else insert."""
        mdef = self.mdef(module)
        if not isinstance(data, dict):
            raise RecordError("INVALID_DATA", "invalid data", {"expected_data_type": "jsonobject",
                                                               "json_path": f"$.data[{index}]"})
        rid = data.get("id")
        if rid is not None:
            rec = self.rs.find(module, str(rid))
            if rec is not None:
                body = {k: v for k, v in data.items() if k != "id"}
                return self.rs.update(module, rec.id, body, index=index, trigger=trigger), "update", None
        for name in dup_fields or md.DUPLICATE_CHECK.get(module, ()):
            value = data.get(name)
            fdef = mdef.fields.get(name)
            if fdef is None or value in (None, "", [], {}):
                continue
            if fdef.data_type in ("lookup", "ownerlookup") and isinstance(value, dict):
                value = value.get("id")
            try:
                match = self.rs.match(module, name, value)
            except RecordError:
                match = None
            if match is not None:
                body = {k: v for k, v in data.items() if k != "id"}
                return self.rs.update(module, match.id, body, index=index, trigger=trigger), "update", name
        body = {k: v for k, v in data.items() if k != "id"}
        try:
            return self.rs.create(module, body, index=index, trigger=trigger), "insert", None
        except RecordError as err:
            # a concurrent write stored the unique value after our match above: an upsert
            # updates that record, as it would have had it come first
            name = err.details.get("api_name")
            dup = (err.details.get("duplicate_record") or {}).get("id")
            if err.code != "DUPLICATE_DATA" or not dup or name not in (dup_fields or md.DUPLICATE_CHECK.get(module, ())):
                raise
            return self.rs.update(module, dup, body, index=index, trigger=trigger), "update", name

    # -- search ---------------------------------------------------------------------------------------
    def search_criteria(self, module: str, *, criteria: str | None, email: str | None, phone: str | None,
                        word: str | None) -> Criteria:
        """The criteria of a search or count call; priority criteria > email > phone > word."""
        mdef = self.mdef(module)
        if criteria is not None:
            return parse_criteria(criteria, mdef)
        if email is not None:
            names = [f.api_name for f in mdef.fields.values() if f.data_type == "email"]
            if not names:
                raise errors.invalid_param("email", "the module has no email field")
            return Group("or", [Cond(n, "equals", email) for n in names])
        if phone is not None:
            names = [f.api_name for f in mdef.fields.values() if f.data_type == "phone"]
            if not names:
                raise errors.invalid_param("phone", "the module has no phone field")
            return Group("or", [Cond(n, "equals", phone) for n in names])
        if word is not None:
            if not word.strip():
                raise errors.invalid_param("word", "the word is empty")
            names = [f.api_name for f in mdef.fields.values()
                     if f.data_type in ("text", "email", "phone", "website", "textarea") and not f.system]
            return Group("or", [Cond(n, "contains", word.strip()) for n in names])
        raise errors.required_param("criteria")

    def search(self, module: str, crit: Criteria, *, page: int, per_page: int) -> tuple[list[Record], bool]:
        if page * per_page > md.SEARCH_MAX and (page - 1) * per_page >= md.SEARCH_MAX:
            raise errors.search_limit(md.SEARCH_MAX)
        try:
            rows, more = self.rs.query(module, crit, sort_by="id", sort_order="asc",
                                       offset=(page - 1) * per_page, limit=per_page)
        except RecordError as err:
            raise record_error(err) from None
        if page * per_page >= md.SEARCH_MAX:
            more = False
        return rows, more

    def count(self, module: str, crit: Criteria | None) -> int:
        self.mdef(module)
        try:
            return self.rs.count(module, crit)
        except RecordError as err:
            raise record_error(err) from None

    # -- recycle bin -----------------------------------------------------------------------------------
    def deleted(self, module: str, kind: str, *, page: int, per_page: int,
                since: datetime | None) -> tuple[list[dict[str, Any]], bool]:
        self.mdef(module)
        cutoff = self.now() - timedelta(days=md.RECYCLE_BIN_DAYS)
        q = select(Record).where(Record.org_id == self.org.id, Record.module == module,
                                 col(Record.deleted_time).is_not(None))
        if kind == "recycle":
            q = q.where(Record.deleted_time > cutoff)
        elif kind == "permanent":
            q = q.where(Record.deleted_time <= cutoff)
        if since is not None:
            q = q.where(Record.deleted_time > since)
        q = q.order_by(col(Record.deleted_time).desc(), col(Record.id).desc())
        rows = list(self.s.exec(q.offset((page - 1) * per_page).limit(per_page + 1)).all())
        more = len(rows) > per_page
        out = []
        for r in rows[:per_page]:
            permanent = as_utc(r.deleted_time) <= cutoff
            out.append({"deleted_by": self.minified_user(r.deleted_by), "id": r.id,
                        "display_name": None if permanent else self.rs.display_name(module, r),
                        "type": "permanent" if permanent else "recycle",
                        "created_by": self.minified_user(r.created_by), "deleted_time": self.dt(r.deleted_time)})
        return out, more

    def latest_deletion(self, module: str) -> datetime | None:
        q = select(func.max(Record.deleted_time)).where(Record.org_id == self.org.id, Record.module == module)
        return as_utc(self.s.exec(q).one())

    # -- COQL ----------------------------------------------------------------------------------------------
    def coql(self, query: str, version: str) -> tuple[list[dict[str, Any]], bool]:
        q = parse_coql(query)
        mdef = md.MODULES.get(q.module)
        if mdef is None:
            raise errors.coql_module(q.module)
        limit_max = md.COQL_LIMIT_MAX.get(version, 2000)
        if q.limit is not None and (q.limit < 1 or q.limit > limit_max):
            raise errors.coql_limit(limit_max)
        limit = q.limit or md.COQL_LIMIT_DEFAULT
        offset = q.offset or 0
        if offset + limit > md.COQL_OFFSET_MAX.get(version, 100_000):
            raise errors.coql_limit(md.COQL_OFFSET_MAX.get(version, 100_000))
        for name in q.fields:
            self._coql_field(mdef, name)
        crit = self._coql_where(mdef, q.where) if q.where is not None else None
        sort_by, sort_order = "id", "asc"
        if q.order:
            sort_by, sort_order = q.order[0]
            self._coql_field(mdef, sort_by)
        try:
            rows, more = self.rs.query(q.module, crit, sort_by=sort_by, sort_order=sort_order, offset=offset,
                                       limit=limit)
        except RecordError as err:
            raise record_error(err) from None
        return [self._coql_row(mdef, r, q.fields) for r in rows], more

    def _coql_field(self, mdef: ModuleDef, name: str) -> FieldDef | None:
        base, _, sub = name.partition(".")
        if base == "id" and not sub:
            return None
        fdef = mdef.fields.get(base)
        if fdef is None:
            raise errors.coql_column(name)
        if sub:
            target = md.MODULES.get(fdef.lookup or "") if fdef.data_type == "lookup" else None
            if fdef.data_type == "ownerlookup" and sub in ("id", "first_name", "last_name", "full_name", "email"):
                return fdef
            if target is None or (sub != "id" and sub not in target.fields):
                raise errors.coql_column(name)
        return fdef

    def _coql_where(self, mdef: ModuleDef, node: Criteria) -> Criteria:
        if isinstance(node, Group):
            return Group(node.op, [self._coql_where(mdef, i) for i in node.items])
        fdef = self._coql_field(mdef, node.field)
        base, _, sub = node.field.partition(".")
        if sub and fdef is not None and fdef.data_type == "lookup" and sub != "id":
            target = fdef.lookup or ""
            try:
                ids = [r.id for r in self.rs.query(target, Cond(sub, node.op, node.value), limit=2000)[0]]
            except RecordError as err:
                raise record_error(err) from None
            return Cond(base, "in", ids or ["0"])
        if sub == "id":
            return Cond(base, node.op, node.value)
        return node

    def _coql_row(self, mdef: ModuleDef, rec: Record, names: list[str]) -> dict[str, Any]:
        full = self.rs.render(rec)
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
                        u = self.rs.user(value["id"])
                        out[name] = {"email": u["email"], "full_name": u["name"]}.get(sub, u["name"])
                    else:
                        target = self.rs.find(fdef.lookup or "", value["id"]) if fdef else None
                        out[name] = self.rs.render(target).get(sub) if target is not None else None
                else:
                    out[name] = None
            elif fdef is not None and fdef.data_type in ("lookup", "ownerlookup"):
                out[name] = {"id": value["id"]} if isinstance(value, dict) and value.get("id") else None
            else:
                out[name] = value
        out["id"] = rec.id
        return out

    # -- metadata -----------------------------------------------------------------------------------------
    def module_id(self, module: str) -> str:
        return md.meta_id(self.lab.seed, self.org.id, "module", module)

    def field_marks(self, module: str) -> dict[str, str]:
        """Personal-data marks of a module's fields: defaults from metadata, then the org's."""
        mdef = md.MODULES.get(module)
        marks = {}
        if mdef is not None:
            for f in mdef.fields.values():
                if f.pii or f.sensitivity:
                    marks[f.api_name] = "sensitive" if f.sensitivity == "high" else "normal"
        own = ((self.org.settings or {}).get("data_transfer") or {}).get(module) or {}
        for name, mark in (own.get("fields") or {}).items():
            if mark in md.FIELD_MARKS:
                marks[name] = mark
            elif mark in (None, "none"):
                marks.pop(name, None)
        return marks

    def fields_json(self, module: str) -> list[dict[str, Any]]:
        if module in md.SUBFORM_MODULES:
            parent, field_name = md.SUBFORM_MODULES[module]
            fdef = md.MODULES[parent].fields[field_name]
            return [self._field_json(module, c, i, {}) for i, c in enumerate(fdef.subform)]
        mdef = self.mdef(module)
        marks = self.field_marks(module)
        return [self._field_json(module, f, i, marks, mdef) for i, f in enumerate(mdef.fields.values())]

    def _field_json(self, module: str, f: FieldDef, index: int, marks: dict[str, str],
                    mdef: ModuleDef | None = None) -> dict[str, Any]:
        fid = md.meta_id(self.lab.seed, self.org.id, "field", module, f.api_name)
        layout_id = md.meta_id(self.lab.seed, self.org.id, "layout", module)
        label = f.display_label
        read_only = f.read_only or f.system
        picks: list[dict[str, Any]] = []
        if f.data_type == "picklist":
            for i, v in enumerate(f.pick_list):
                picks.append({"display_value": v, "sequence_number": i + 1, "reference_value": v,
                              "colour_code": None, "actual_value": v,
                              "id": md.meta_id(self.lab.seed, self.org.id, "pick", module, f.api_name, v),
                              "type": "used"})
        lookup = None
        if f.data_type == "lookup" and f.lookup:
            lookup = {"display_label": label, "api_name": f.api_name, "revalidate_filter_during_edit": False,
                      "module": {"api_name": f.lookup, "id": self.module_id(f.lookup)},
                      "id": md.meta_id(self.lab.seed, self.org.id, "lookup", module, f.api_name),
                      "query_details": {}, "show_fields": []}
        elif f.data_type == "ownerlookup":
            lookup = {"display_label": label, "api_name": f.api_name, "revalidate_filter_during_edit": False,
                      "module": {"api_name": "users", "id": md.meta_id(self.lab.seed, self.org.id, "module", "users")},
                      "id": None, "query_details": {}, "show_fields": []}
        mark = marks.get(f.api_name)
        length = f.max_length or {"textarea": 32000, "email": 100, "phone": 30, "website": 255, "integer": 9,
                                  "double": 16, "currency": 16, "boolean": 5, "date": 20, "datetime": 120,
                                  "picklist": 120, "lookup": 120, "ownerlookup": 120}.get(f.data_type, 255)
        is_currency = f.data_type == "currency"
        out: dict[str, Any] = {
            "associated_module": ({"module": f.api_name, "api_name": f.api_name,
                                   "id": md.meta_id(self.lab.seed, self.org.id, "module", f.api_name)}
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
                          "id": md.meta_id(self.lab.seed, self.org.id, "profile", p)} for p in md.PROFILES],
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

    def modules_json(self, version: str, api_name: str | None = None) -> list[dict[str, Any]]:
        out = []
        for seq, name in enumerate(md.MODULE_SEQUENCE):
            if api_name is not None and name != api_name:
                continue
            mdef = md.MODULES[name]
            mid = self.module_id(name)
            display = mdef.fields.get(mdef.display_field)
            profiles = [{"name": p, "id": md.meta_id(self.lab.seed, self.org.id, "profile", p)} for p in md.PROFILES]
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
                "related_list_properties": {"sort_by": {"api_name": "Modified_Time", "id": md.meta_id(
                    self.lab.seed, self.org.id, "field", name, "Modified_Time")}, "fields": [], "sort_order": "desc"},
                "display_field": ({"api_name": display.api_name,
                                   "id": md.meta_id(self.lab.seed, self.org.id, "field", name, display.api_name)}
                                  if display else None),
                "layouts": [{"id": md.meta_id(self.lab.seed, self.org.id, "layout", name), "name": "Standard",
                             "api_name": "Standard"}],
                "fields": [], "custom_view": None, "zia_view": False, "default_mapping_fields": [],
                "status": "visible", "layout_associations": [],
            })
        return out

    def user_json(self, u: User, role: str) -> dict[str, Any]:
        first, _, last = (u.name or u.email).partition(" ")
        admin = role == "admin"
        return {
            "country": None, "language": "en_US", "microsoft": False, "id": self.rs.user_ref(u.id), "state": None,
            "fax": None,
            "country_locale": "en_US", "zip": None, "created_time": self.dt(u.created_time),
            "time_format": "hh:mm a", "offset": 0,
            "profile": {"name": "Administrator" if admin else "Standard",
                        "id": md.meta_id(self.lab.seed, self.org.id, "profile", "Administrator" if admin else "Standard")},
            "role": {"name": "CEO" if admin else "Manager", "id": md.meta_id(self.lab.seed, self.org.id, "role", role)},
            "created_by": self.minified_user(self.org.owner_id), "full_name": u.name, "zuid": u.id, "phone": None, "dob": None, "status": "active",
            "city": None, "signature": None, "category": "regular_user", "date_format": "MMM d, yyyy",
            "confirm": True, "decimal_separator": "Period", "number_separator": None,
            "time_zone": u.time_zone or self.org.time_zone, "last_name": last or first, "mobile": None,
            "Reporting_To": None, "Currency": self.org.currency_code, "Modified_Time": self.dt(u.created_time),
            "website": None, "email": u.email, "first_name": first if last else "", "sandboxDeveloper": False,
            "alias": None, "street": None, "Modified_By": self.minified_user(self.org.owner_id), "Isonline": False, "locale": "en_US",
            "name_format__s": "Salutation,First Name,Last Name", "personal_account": False,
            "default_tab_group": "0", "sort_order_preference__s": "First Name,Last Name",
        }

    def users(self, kind: str, current_user: str) -> list[dict[str, Any]]:
        rows = self.s.exec(select(User, OrgMember.role).join(OrgMember, OrgMember.user_id == User.id)
                           .where(OrgMember.org_id == self.org.id).order_by(User.created_time, User.id)).all()
        out = []
        for u, role in rows:
            if kind == "CurrentUser" and u.id != current_user:
                continue
            if kind in ("AdminUsers", "ActiveConfirmedAdmins") and role != "admin":
                continue
            if kind in ("DeactiveUsers", "NotConfirmedUsers", "DeletedUsers"):
                continue
            out.append(self.user_json(u, role))
        if kind in ("AllUsers", "ActiveUsers", "ActiveConfirmedUsers"):
            out.extend(self.lab_user_json(i, u) for i, u in enumerate(lab_users(self.org.settings or {})))
        return out

    def lab_user_json(self, index: int, u: dict[str, Any]) -> dict[str, Any]:
        """[lab] a user the lab added to the org with a profile (org settings ``users``:
        ``[{"email", "name"?, "profile"}]``) -- the Users API's ``profile`` ``{name, id}``
        (https://www.zoho.com/crm/developer/docs/api/v8/get-users.html). CR-02 reads it."""
        uid = md.meta_id(self.lab.seed, self.org.id, "lab-user", u["email"])
        name = str(u.get("name") or u["email"].split("@")[0])
        first, _, last = name.partition(" ")
        return {"id": uid, "zuid": uid, "email": u["email"], "full_name": name, "first_name": first if last else "",
                "last_name": last or first, "status": "active", "confirm": True, "category": "regular_user",
                "profile": {"name": u["profile"], "id": md.meta_id(self.lab.seed, self.org.id, "profile", u["profile"])},
                "role": {"name": "Manager", "id": md.meta_id(self.lab.seed, self.org.id, "role", "member")},
                "time_zone": self.org.time_zone, "created_time": self.dt(self.org.created_time)}

    def org_json(self) -> dict[str, Any]:
        o = self.org
        owner = self.s.get(User, o.owner_id)
        email = owner.email if owner else ""
        license_count = (o.settings or {}).get("user_licenses", 1)
        return {
            "country": "United States", "photo_id": None, "city": None, "description": None, "mc_status": False,
            "gapps_enabled": False, "translation_enabled": False, "street": None,
            "domain_name": "org" + o.id, "alias": None, "currency": o.currency_code,
            "id": self.lab.ids.org_record_id("crm", o.id), "state": None,  # a record id, not the zgid
            "fax": None, "zip": None, "employee_count": "10", "website": "",
            "currency_symbol": {"USD": "$", "EUR": "€", "GBP": "£", "INR": "₹"}.get(o.currency_code, o.currency_code),
            "mobile": None, "currency_locale": "en_US", "primary_zuid": o.owner_id, "zia_portal_id": None,
            "time_zone": o.time_zone, "zgid": o.id, "country_code": "US", "deletable_org_account": False,
            "license_details": {
                "paid_expiry": self.dt(as_utc(o.created_time or self.now()) + timedelta(days=365)),
                "users_license_purchased": license_count if isinstance(license_count, int) else 1,
                "trial_type": "Enterprise" if o.trial_expired else None, "trial_expiry": None,
                "paid": o.edition != "free", "paid_type": o.edition.capitalize(), "trial_action": "",
            },
            "hierarchy_preferences": {"type": "Role_Hierarchy", "strictly_reporting": False},
            "phone": "", "company_name": o.name, "privacy_settings": True, "primary_email": email,
            "iso_code": o.currency_code, "hipaa_compliance_enabled": False, "lite_users_enabled": False,
            "max_per_page": md.PER_PAGE_MAX, "ezgid": "z" + o.id, "call_icon": "Enabled", "oauth_presence": True,
            "zia_zgid": 0, "checkin_preferences": {"restricted_event_types": None},
            "type": "Production", "created_time": self.dt(o.created_time),
        }

    # -- internal settings ----------------------------------------------------------------------------------
    def internal_settings(self) -> dict[str, Any]:
        o = self.org
        settings = o.settings or {}
        transfer = {}
        for module in md.MODULE_SEQUENCE:
            own = (settings.get("data_transfer") or {}).get(module) or {}
            level = own.get("level", "none")
            marks = self.field_marks(module)
            restricted = [] if level == "none" else sorted(
                n for n, m in marks.items() if m == "sensitive" or level == "normal")
            transfer[module] = {"level": level, "fields": marks, "restricted_fields": restricted}
        return {
            "org_id": o.id, "edition": o.edition, "active": o.active, "trial_expired": o.trial_expired,
            "time_zone": o.time_zone, "currency_code": o.currency_code,
            "books_integration": books_integration(settings),
            "restrict_data_transfer": transfer,
            "extensions": extensions(settings),
            "limits": {"credits_per_24h": md.credits(o.edition, settings), "concurrency": md.concurrency(o.edition),
                       "enforced": o.rate_limits},
            "counts": {m: self.rs.count(m) for m in md.MODULE_SEQUENCE},
        }

    # -- notifications ------------------------------------------------------------------------------------------
    def channels(self, channel_id: str | None = None, module: str | None = None) -> list[CrmWatchChannel]:
        q = select(CrmWatchChannel).where(CrmWatchChannel.org_id == self.org.id)
        if channel_id is not None:
            q = q.where(CrmWatchChannel.channel_id == channel_id)
        rows = list(self.s.exec(q.order_by(CrmWatchChannel.created_time, CrmWatchChannel.id)).all())
        now = self.now()
        live = [r for r in rows if r.channel_expiry is None or as_utc(r.channel_expiry) > now]
        if module is not None:
            live = [r for r in live if any(e.split(".", 1)[0] == module for e in r.events)]
        return live

    def channel(self, channel_id: str) -> CrmWatchChannel | None:
        row = self.s.get(CrmWatchChannel, f"{self.org.id}:{channel_id}")
        if row is None or (row.channel_expiry is not None and as_utc(row.channel_expiry) <= self.now()):
            return None
        return row

    def channel_json(self, ch: CrmWatchChannel) -> dict[str, Any]:
        modules = sorted({e.split(".", 1)[0] for e in ch.events})
        first = modules[0] if modules else ""
        return {
            "notify_on_related_action": ch.notify_on_related_action, "channel_expiry": self.dt(ch.channel_expiry),
            "return_affected_field_values": ch.return_affected_field_values,
            "resource_uri": f"{ch.api_domain}/crm/{ch.version}/{first}", "resource_id": self.module_id(first),
            "notify_url": ch.notify_url, "resource_name": first, "fields": ch.fields or None,
            "notification_condition": [], "channel_id": ch.channel_id, "events": list(ch.events),
            "token": ch.token,
        }

    def channel_events_json(self, ch: CrmWatchChannel) -> list[dict[str, Any]]:
        modules = sorted({e.split(".", 1)[0] for e in ch.events})
        return [{"channel_expiry": self.dt(ch.channel_expiry), "resource_uri": f"{ch.api_domain}/crm/{ch.version}/{m}",
                 "resource_id": self.module_id(m), "resource_name": m, "channel_id": ch.channel_id,
                 "notification_condition": []} for m in modules]

    def save_channel(self, item: dict[str, Any], *, index: int, version: str, api_domain: str, user_id: str,
                     mode: str) -> CrmWatchChannel:
        """Validate one ``watch`` item and store it. ``mode``: subscribe (POST), replace (PUT),
        patch (PATCH: merge; ``_delete_events`` removes the given events)."""
        if not isinstance(item, dict):
            raise _WatchError("INVALID_DATA", "invalid data", {"expected_data_type": "jsonobject",
                                                               "json_path": f"$.watch[{index}]"})
        raw_id = item.get("channel_id")
        if raw_id is None:
            raise _WatchError("MANDATORY_NOT_FOUND", "required field not found",
                              {"api_name": "channel_id", "json_path": f"$.watch[{index}].channel_id"})
        if isinstance(raw_id, bool) or not isinstance(raw_id, (int, str)) or not str(raw_id).isdigit() \
                or len(str(raw_id)) > 19:
            raise _WatchError("INVALID_DATA", "invalid data", {"expected_data_type": "long", "api_name": "channel_id",
                                                               "json_path": f"$.watch[{index}].channel_id"})
        channel_id = str(raw_id)
        existing = self.s.get(CrmWatchChannel, f"{self.org.id}:{channel_id}")
        if existing is not None and existing.channel_expiry is not None and as_utc(existing.channel_expiry) <= self.now():
            self.s.delete(existing)
            self.s.flush()
            existing = None
        if mode in ("replace", "patch") and existing is None:
            raise _WatchError("NOT_SUBSCRIBED", "Not subscribed for actions-watch of the given channel",
                              {"channel_id": channel_id})
        events = item.get("events")
        if events is None and (mode == "subscribe" or mode == "replace"):
            raise _WatchError("MANDATORY_NOT_FOUND", "required field not found",
                              {"api_name": "events", "json_path": f"$.watch[{index}].events"})
        if events is not None:
            if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
                raise _WatchError("INVALID_DATA", "invalid data", {"expected_data_type": "jsonarray",
                                                                   "api_name": "events",
                                                                   "json_path": f"$.watch[{index}].events"})
            for e in events:
                mod, _, op = e.partition(".")
                if mod not in md.MODULES or op not in md.WATCH_EVENT_OPS:
                    raise _WatchError("INVALID_DATA", "invalid data", {"api_name": "events", "value": e[:100],
                                                                       "json_path": f"$.watch[{index}].events"})
        notify_url = item.get("notify_url", existing.notify_url if existing else None)
        if notify_url is None:
            raise _WatchError("MANDATORY_NOT_FOUND", "required field not found",
                              {"api_name": "notify_url", "json_path": f"$.watch[{index}].notify_url"})
        if not isinstance(notify_url, str) or not notify_url.startswith(("http://", "https://")) or len(notify_url) > 2000:
            raise _WatchError("INVALID_DATA", "invalid data", {"api_name": "notify_url",
                                                               "json_path": f"$.watch[{index}].notify_url"})
        token = item.get("token", existing.token if existing else None)
        if token is not None and (not isinstance(token, str) or len(token) > md.WATCH_TOKEN_MAX):
            raise _WatchError("INVALID_DATA", "invalid data", {"api_name": "token", "maximum_length": "50",
                                                               "json_path": f"$.watch[{index}].token"})
        now = self.now()
        expiry = existing.channel_expiry if existing is not None and "channel_expiry" not in item else None
        if "channel_expiry" in item and item["channel_expiry"] is not None:
            parsed = parse_datetime(item["channel_expiry"]) if isinstance(item["channel_expiry"], str) else None
            if parsed is None or parsed <= now or parsed > now + timedelta(seconds=md.CHANNEL_EXPIRY_MAX):
                raise _WatchError("INVALID_DATA", "invalid data", {
                    "api_name": "channel_expiry", "json_path": f"$.watch[{index}].channel_expiry",
                    "reason": "must be a future datetime at most one week ahead"})
            expiry = parsed
        if expiry is None:
            expiry = now + timedelta(seconds=md.CHANNEL_EXPIRY_DEFAULT)
        flags = {}
        for key in ("return_affected_field_values", "notify_on_related_action"):
            if key in item and item[key] is not None:
                if not isinstance(item[key], bool):
                    raise _WatchError("INVALID_DATA", "invalid data", {"api_name": key, "expected_data_type": "boolean",
                                                                       "json_path": f"$.watch[{index}].{key}"})
                flags[key] = item[key]
        fields = item.get("fields")
        if fields is not None and (not isinstance(fields, dict) or not all(
                isinstance(v, list) and all(isinstance(x, str) for x in v) for v in fields.values())):
            raise _WatchError("INVALID_DATA", "invalid data", {"api_name": "fields", "expected_data_type": "jsonobject",
                                                               "json_path": f"$.watch[{index}].fields"})
        row = existing or CrmWatchChannel(id=f"{self.org.id}:{channel_id}", org_id=self.org.id, channel_id=channel_id,
                                          created_time=now)
        if events is not None:
            if mode == "patch" and item.get("_delete_events") is True:
                row.events = [e for e in row.events if e not in events]
            elif mode in ("patch", "subscribe") and existing is not None:
                row.events = list(dict.fromkeys([*row.events, *events]))
            else:
                row.events = list(dict.fromkeys(events))
        row.notify_url = notify_url
        row.token = token
        row.channel_expiry = expiry
        row.user_id = user_id
        row.version = version
        row.api_domain = api_domain
        if fields is not None:
            row.fields = fields
        for key, value in flags.items():
            setattr(row, key, value)
        if mode == "replace":
            row.return_affected_field_values = flags.get("return_affected_field_values", False)
            row.notify_on_related_action = flags.get("notify_on_related_action", False)
        if not row.events:
            self.s.delete(row)
        else:
            self.s.add(row)
        self.s.flush()
        return row

    def unsubscribe(self, channel_id: str) -> CrmWatchChannel | None:
        row = self.s.get(CrmWatchChannel, f"{self.org.id}:{channel_id}")
        if row is None:
            return None
        self.s.delete(row)
        return row


class _WatchError(Exception):
    def __init__(self, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(code)
        self.entry = errors.watch_error(code, message, details)


WatchError = _WatchError

_UI_TYPES = {"text": 1, "textarea": 3, "email": 25, "phone": 33, "website": 21, "integer": 32, "double": 36,
             "currency": 36, "boolean": 301, "date": 24, "datetime": 333, "picklist": 2, "lookup": 133,
             "ownerlookup": 8, "subform": 555, "autonumber": 109}


def books_integration(settings: dict[str, Any]) -> dict[str, Any]:
    b = settings.get("books_integration") or {}
    return {"enabled": bool(b.get("enabled", b.get("linked_org_id") is not None)),
            "linked_org_id": b.get("linked_org_id"), "product": b.get("product", "books"),
            "sync_type": b.get("sync_type"), "sync_in_progress": bool(b.get("sync_in_progress"))}


def lab_users(settings: dict[str, Any]) -> list[dict[str, Any]]:
    return [u for u in settings.get("users") or [] if isinstance(u, dict) and isinstance(u.get("email"), str)
            and isinstance(u.get("profile"), str)]


def extensions(settings: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(e) for e in settings.get("extensions") or [] if isinstance(e, dict)]


# ------------------------------------------------------------------------------------- change callbacks

def on_change(lab: Lab, event: ChangeEvent) -> None:
    """Deliver a record change to the org's watch channels (runs after the write committed)."""
    if event.product != "crm" or not event.ids:
        return
    op = md.OPERATION_EVENT.get(event.operation)
    if op is None:
        return
    wanted = {f"{event.module}.{op}", f"{event.module}.all"}
    now = lab.now()
    with lab.db.session() as s:
        rows = s.exec(select(CrmWatchChannel).where(CrmWatchChannel.org_id == event.org_id)).all()
    for ch in rows:
        if ch.channel_expiry is not None and as_utc(ch.channel_expiry) <= now:
            continue
        if not wanted & set(ch.events or []):
            continue
        ids = list(event.ids)
        watched = (ch.fields or {}).get(event.module)
        if watched and op == "edit":
            ids = [i for i in ids if set(event.fields.get(i, [])) & set(watched)]
            if not ids:
                continue
        query = dict(parse_qsl(urlsplit(ch.notify_url).query))
        payload: dict[str, Any] = {
            "server_time": int(now.timestamp() * 1000), "query_params": query, "module": event.module,
            "resource_uri": f"{ch.api_domain}/crm/{ch.version}/{event.module}", "ids": ids,
            "operation": event.operation, "channel_id": ch.channel_id, "token": ch.token,
        }
        if ch.return_affected_field_values and op == "edit":
            payload["affected_fields"] = [{i: list(event.fields.get(i, []))} for i in ids]
            payload["affected_values"] = [{"record_id": i, "values": _jsonable(event.values.get(i, {}))} for i in ids]
        elif op == "edit":
            payload["affected_fields"] = [{i: list(event.fields.get(i, []))} for i in ids]
        lab.notifier.send(ch.notify_url, payload, kind="crm.watch", org_id=event.org_id)


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(values, default=str))


# ------------------------------------------------------------------------------------------ criteria

_CRIT_OPS = {"equals", "not_equal", "starts_with", "ends_with", "contains", "not_contains", "in", "not_in",
             "greater_than", "greater_equal", "less_than", "less_equal", "between", "not_between"}
MAX_CRITERIA = 10


def parse_criteria(text: str, mdef: ModuleDef) -> Criteria:
    """``((Last_Name:equals:Burns\\,B)and(First_Name:starts_with:M))`` → Cond/Group.
    Backslash escapes ``( ) , :``; ``${EMPTY}`` is an empty value."""
    p = _CritParser(text, mdef)
    node = p.expr()
    p.ws()
    if p.i != len(p.s):
        raise errors.invalid_query("unexpected text after the criteria", position=p.i)
    if p.count > MAX_CRITERIA:
        raise errors.invalid_query(f"at most {MAX_CRITERIA} criteria are allowed")
    return node


class _CritParser:
    def __init__(self, s: str, mdef: ModuleDef) -> None:
        self.s, self.i, self.mdef, self.count = s, 0, mdef, 0

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i].isspace():
            self.i += 1

    def expr(self, depth: int = 0) -> Criteria:
        if depth > 20:
            raise errors.invalid_query("criteria nested too deeply")
        items: list[Criteria] = [self.term(depth)]
        ops: list[str] = []
        while True:
            self.ws()
            low = self.s[self.i:self.i + 3].lower()
            if low == "and":
                self.i += 3
                ops.append("and")
            elif low[:2] == "or":
                self.i += 2
                ops.append("or")
            else:
                break
            items.append(self.term(depth))
        if not ops:
            return items[0]
        if all(o == ops[0] for o in ops):
            return Group(ops[0], items)
        # mixed without brackets: "and" binds tighter
        groups: list[Criteria] = [items[0]]
        for o, it in zip(ops, items[1:], strict=True):
            if o == "and":
                last = groups[-1]
                groups[-1] = Group("and", [*last.items, it]) if isinstance(last, Group) and last.op == "and" \
                    else Group("and", [last, it])
            else:
                groups.append(it)
        return Group("or", groups)

    def term(self, depth: int) -> Criteria:
        self.ws()
        if self.i >= len(self.s) or self.s[self.i] != "(":
            raise errors.invalid_query("expected '(' in criteria", position=self.i)
        self.i += 1
        self.ws()
        if self.i < len(self.s) and self.s[self.i] == "(":
            node = self.expr(depth + 1)
            self.ws()
            if self.i >= len(self.s) or self.s[self.i] != ")":
                raise errors.invalid_query("expected ')' in criteria", position=self.i)
            self.i += 1
            return node
        parts: list[str] = []
        buf: list[str] = []
        while self.i < len(self.s):
            ch = self.s[self.i]
            if ch == "\\" and self.i + 1 < len(self.s):
                buf.append("\\" + self.s[self.i + 1])
                self.i += 2
                continue
            if ch == ")":
                break
            if ch == ":" and len(parts) < 2:
                parts.append("".join(buf))
                buf = []
            else:
                buf.append(ch)
            self.i += 1
        if self.i >= len(self.s):
            raise errors.invalid_query("expected ')' in criteria", position=self.i)
        self.i += 1
        parts.append("".join(buf))
        if len(parts) != 3:
            raise errors.invalid_query("a criterion reads (api_name:operator:value)")
        field, op, raw = parts[0].strip(), parts[1].strip().lower(), parts[2]
        self.count += 1
        if field not in self.mdef.fields and field != "id":
            raise errors.invalid_query("invalid field", api_name=field[:100])
        if op not in _CRIT_OPS:
            raise errors.invalid_query("invalid operator", operator=op[:50])
        values = [_unescape(v).strip() for v in _split_unescaped(raw)]
        if op in ("in", "not_in", "between", "not_between"):
            value: Any = values
            if op in ("between", "not_between") and len(values) != 2:
                raise errors.invalid_query("between needs two values", api_name=field)
        else:
            value = _unescape(raw)
        if op == "not_between":
            return Group("or", [Cond(field, "less_than", values[0]), Cond(field, "greater_than", values[1])])
        if value == "${EMPTY}" and op in ("equals", "not_equal"):
            return Cond(field, "is_null" if op == "equals" else "is_not_null")
        return Cond(field, op, value)


def _split_unescaped(text: str) -> list[str]:
    out, buf, i = [], [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            buf.append(text[i:i + 2])
            i += 2
            continue
        if text[i] == ",":
            out.append("".join(buf))
            buf = []
        else:
            buf.append(text[i])
        i += 1
    out.append("".join(buf))
    return out


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


# ------------------------------------------------------------------------------------------------ COQL

@dataclass
class CoqlQuery:
    fields: list[str]
    module: str
    where: Criteria | None
    order: list[tuple[str, str]]
    limit: int | None
    offset: int | None


_TOKEN = re.compile(r"""\s*(?:
    (?P<str>'(?:[^'\\]|\\.|'')*')
  | (?P<num>-?\d+(?:\.\d+)?)(?![\w.])
  | (?P<op>!=|<>|>=|<=|=|<|>)
  | (?P<punct>[(),*])
  | (?P<word>[A-Za-z_$][\w$.]*)
)""", re.X)
_KEYWORDS = {"select", "from", "where", "and", "or", "order", "by", "asc", "desc", "limit", "offset", "like", "not",
             "in", "is", "null", "between", "true", "false"}
_COMPARE = {"=": "equals", "!=": "not_equal", "<>": "not_equal", ">": "greater_than", ">=": "greater_equal",
            "<": "less_than", "<=": "less_equal"}


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out, i = [], 0
    text = text.rstrip().rstrip(";")
    while i < len(text):
        if text[i:].strip() == "":
            break
        m = _TOKEN.match(text, i)
        if m is None or m.end() == i:
            raise errors.coql_syntax(text[i:i + 20].strip(), i + 1)
        kind = m.lastgroup or ""
        value = m.group(kind)
        out.append((kind, value, m.start(kind) + 1))
        i = m.end()
    return out


class _Coql:
    def __init__(self, text: str) -> None:
        self.t = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def kw(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "word" and tok[1].lower() in words

    def take_kw(self, word: str, clause: str | None = None) -> None:
        if not self.kw(word):
            tok = self.peek()
            if clause:
                raise errors.coql_syntax("", 0, clause)
            raise errors.coql_syntax(tok[1] if tok else "<end>", tok[2] if tok else 0)
        self.i += 1

    def fail(self) -> ZohoError:
        tok = self.peek()
        return errors.coql_syntax(tok[1] if tok else "<end>", tok[2] if tok else 0)

    def ident(self) -> str:
        tok = self.peek()
        if tok is None or tok[0] != "word" or tok[1].lower() in _KEYWORDS:
            raise self.fail()
        self.i += 1
        return tok[1]

    def punct(self, ch: str) -> bool:
        tok = self.peek()
        if tok is not None and tok[0] == "punct" and tok[1] == ch:
            self.i += 1
            return True
        return False

    def parse(self) -> CoqlQuery:
        self.take_kw("select", "select")
        fields = [self.ident()]
        while self.punct(","):
            fields.append(self.ident())
        self.take_kw("from", "from")
        module = self.ident()
        where = None
        if self.kw("where"):
            self.i += 1
            where = self.cond(0)
        order: list[tuple[str, str]] = []
        if self.kw("order"):
            self.i += 1
            self.take_kw("by")
            while True:
                name = self.ident()
                direction = "asc"
                if self.kw("asc", "desc"):
                    direction = self.t[self.i][1].lower()
                    self.i += 1
                order.append((name, direction))
                if not self.punct(","):
                    break
        limit = offset = None
        if self.kw("limit"):
            self.i += 1
            first = self.number()
            if self.punct(","):
                offset, limit = first, self.number()
            else:
                limit = first
        if self.kw("offset"):
            self.i += 1
            offset = self.number()
        if self.peek() is not None:
            raise self.fail()
        return CoqlQuery(fields, module, where, order, limit, offset)

    def number(self) -> int:
        tok = self.peek()
        if tok is None or tok[0] != "num" or "." in tok[1] or tok[1].startswith("-"):
            raise self.fail()
        self.i += 1
        return int(tok[1])

    def cond(self, depth: int) -> Criteria:
        if depth > 20:
            raise self.fail()
        items = [self.conj(depth)]
        while self.kw("or"):
            self.i += 1
            items.append(self.conj(depth))
        return items[0] if len(items) == 1 else Group("or", items)

    def conj(self, depth: int) -> Criteria:
        items = [self.atom(depth)]
        while self.kw("and"):
            self.i += 1
            items.append(self.atom(depth))
        return items[0] if len(items) == 1 else Group("and", items)

    def atom(self, depth: int) -> Criteria:
        if self.punct("("):
            node = self.cond(depth + 1)
            if not self.punct(")"):
                raise self.fail()
            return node
        name = self.ident()
        tok = self.peek()
        if tok is None:
            raise self.fail()
        if tok[0] == "op":
            self.i += 1
            value = self.value()
            if value is None:
                return Cond(name, "is_null" if tok[1] == "=" else "is_not_null")
            return Cond(name, _COMPARE[tok[1]], value)
        negate = False
        if self.kw("not"):
            negate = True
            self.i += 1
        if self.kw("like"):
            self.i += 1
            pattern = self.value()
            if not isinstance(pattern, str):
                raise self.fail()
            inner = pattern.strip("%")
            if pattern.startswith("%") and pattern.endswith("%") and len(pattern) > 1:
                op = "not_contains" if negate else "contains"
            elif pattern.endswith("%"):
                op = "starts_with"
            elif pattern.startswith("%"):
                op = "ends_with"
            else:
                op = "not_equal" if negate else "equals"
            if negate and op in ("starts_with", "ends_with"):
                return Group("or", [Cond(name, "is_null"), Cond(name, "not_contains", inner)])
            return Cond(name, op, inner)
        if self.kw("in"):
            self.i += 1
            if not self.punct("("):
                raise self.fail()
            values = [self.value()]
            while self.punct(","):
                values.append(self.value())
            if not self.punct(")"):
                raise self.fail()
            return Cond(name, "not_in" if negate else "in", values)
        if self.kw("between"):
            self.i += 1
            low = self.value()
            self.take_kw("and")
            high = self.value()
            if negate:
                return Group("or", [Cond(name, "less_than", low), Cond(name, "greater_than", high)])
            return Cond(name, "between", [low, high])
        if self.kw("is") and not negate:
            self.i += 1
            is_not = False
            if self.kw("not"):
                is_not = True
                self.i += 1
            self.take_kw("null")
            return Cond(name, "is_not_null" if is_not else "is_null")
        raise self.fail()

    def value(self) -> Any:
        tok = self.peek()
        if tok is None:
            raise self.fail()
        kind, text, _ = tok
        self.i += 1
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", text[1:-1].replace("''", "'"))
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "word" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if kind == "word" and text.lower() == "null":
            return None
        self.i -= 1
        raise self.fail()


def parse_coql(text: str) -> CoqlQuery:
    if not isinstance(text, str) or not text.strip():
        raise errors.coql_syntax("", 0, "select")
    if len(text) > 20_000:
        raise errors.invalid_query("the query is too long")
    return _Coql(text).parse()
