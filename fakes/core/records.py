"""The record engine shared by the record-style fakes (CRM and FSM).

Records of every module live in one table: indexed columns for what lists sort and filter by
(org, module, times, deletion) and a JSON document with the field values by API name. The store
validates writes against the product's ``ModuleDef``s, keeps lookups' display names, soft-deletes
(so ``/deleted`` and the recycle bin work), answers criteria searches in SQL on both SQLite and
PostgreSQL, runs the org's workflow rules unless the write suppresses them, and announces every
change to the lab's subscribers (CRM ``/actions/watch``, FSM notifications).

Errors are ``RecordError``s carrying CRM's per-record error fields (code, message, details,
status); products render them into their envelopes, batch answers collect them per record.
"""

from __future__ import annotations

import operator
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, String, and_, func, not_, or_
from sqlmodel import Field, Session, SQLModel, col, select

from . import fastread
from .db import datetime_column, json_column
from .fields import FieldDef, FieldError, ModuleDef, coerce
from .lab import Lab
from .tenants import Org, User
from .timefmt import as_utc, crm_datetime, parse_datetime
from .unique import hold, release, unique_key

SYSTEM_FIELDS = ("id", "Created_Time", "Modified_Time", "Created_By", "Modified_By", "Owner")


class Record(SQLModel, table=True):
    __tablename__ = "lab_record"
    __table_args__ = (
        Index("ix_lab_record_org_module_modified", "org_id", "module", "modified_time"),
        Index("ix_lab_record_org_module_deleted", "org_id", "module", "deleted_time"),
    )
    id: str = Field(sa_column=Column(String(32), primary_key=True))
    product: str = Field(index=True)
    org_id: str = Field(index=True)
    module: str
    owner_id: str = ""
    created_by: str = ""
    modified_by: str = ""
    created_time: datetime | None = datetime_column()
    modified_time: datetime | None = datetime_column()
    deleted_time: datetime | None = datetime_column()
    deleted_by: str = ""
    deleted_type: str = ""  # recycle | permanent
    doc: dict = json_column()


@dataclass
class RecordError(Exception):
    code: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    status: int = 400

    def entry(self) -> dict[str, Any]:
        """The per-record answer: ``{"code", "details", "message", "status": "error"}``."""
        return {"code": self.code, "details": self.details, "message": self.message, "status": "error"}


@dataclass
class ChangeEvent:
    product: str
    org_id: str
    module: str
    operation: str  # insert | update | delete
    ids: list[str]
    fields: dict[str, list[str]] = field(default_factory=dict)  # id -> changed field names
    values: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> changed values
    user_id: str = ""
    triggered: bool = True  # False when the write asked for no workflow triggers


# -- criteria ---------------------------------------------------------------------------------

OPERATORS = ("equals", "not_equal", "starts_with", "ends_with", "contains", "not_contains", "in", "not_in",
             "greater_than", "greater_equal", "less_than", "less_equal", "between", "is_null", "is_not_null")


@dataclass
class Cond:
    field: str
    op: str
    value: Any = None


@dataclass
class Group:
    op: str  # "and" | "or"
    items: list[Cond | Group]


Criteria = Cond | Group


# prepared reads of the single-record GETs (see fastread): read-only rows
_RECORD_ROW = fastread.by_key(Record, "id")
_USER_ROW = fastread.by_key(User, "id")


# -- the store ----------------------------------------------------------------------------------


class RecordStore:
    def __init__(self, lab: Lab, s: Session, org: Org, modules: dict[str, ModuleDef], *, family: str,
                 user_id: str = "") -> None:
        self.lab = lab
        self.s = s
        self.org = org
        self.modules = modules
        self.family = family
        self.user_id = user_id or org.owner_id
        # a module's id as the product shows it (CRM's are per org); default: the ModuleDef's
        self.module_id_of: Callable[[str], str] | None = None
        self._users: dict[str, dict[str, str]] = {}
        self.events: list[ChangeEvent] = []  # announced after commit, see publish()
        self._reserved_ids: deque[str] = deque()

    # -- ids ---------------------------------------------------------------------------------------
    def reserve_ids(self, count: int) -> None:
        """Take ``count`` ids in one step for a batch about to be written (one sequence update,
        not one per record); ``new_id`` hands them out in order. Unused ones are gaps, as in Zoho."""
        if count > 0:
            self._reserved_ids.extend(self.lab.ids.record_ids(self.s, self.family, self.org.id, count))

    def new_id(self) -> str:
        if self._reserved_ids:
            return self._reserved_ids.popleft()
        return self.lab.ids.record_id(self.s, self.family, self.org.id)

    # -- lookups and names -----------------------------------------------------------------------
    def module(self, name: str) -> ModuleDef | None:
        return self.modules.get(name)

    def find(self, module: str, record_id: str, *, include_deleted: bool = False) -> Record | None:
        if not isinstance(record_id, str) or not record_id.isdigit():
            return None
        r = self.s.get(Record, record_id)
        if r is None or r.org_id != self.org.id or r.module != module:
            return None
        if r.deleted_time is not None and not include_deleted:
            return None
        return r

    def find_row(self, module: str, record_id: str) -> Any | None:
        """Like ``find``, as a read-only row: for answers that only render the record (GET)."""
        if not isinstance(record_id, str) or not record_id.isdigit():
            return None
        r = _RECORD_ROW.first(self.s, id=record_id)
        if r is None or r.org_id != self.org.id or r.module != module or r.deleted_time is not None:
            return None
        return r

    def display_name(self, module: str, record: Record) -> str:
        mdef = self.modules.get(module)
        if mdef is None:
            return ""
        v = (record.doc or {}).get(mdef.display_field)
        return v if isinstance(v, str) else ("" if v is None else str(v))

    def _lookup_name(self, module: str, record_id: str) -> str | None:
        if module in ("users", "Users"):
            zuid = self.zuid_of(record_id)
            return self.user(zuid)["name"] if self.s.get(User, zuid) else None
        r = self.find(module, record_id)
        return None if r is None else self.display_name(module, r)

    def user(self, user_id: str) -> dict[str, str]:
        """A user (by zuid) as records show it: ``id`` is the product's user id for that zuid."""
        if user_id not in self._users:
            u = _USER_ROW.first(self.s, id=user_id) if user_id else None
            self._users[user_id] = {"name": u.name if u else "", "id": self.user_ref(user_id),
                                    "email": u.email if u else ""}
        return self._users[user_id]

    def user_ref(self, zuid: str) -> str:
        """The id this product gives the user with ``zuid`` (CRM: a record id of its own)."""
        return self.lab.ids.user_record_id(self.family, self.org.id, zuid)

    def zuid_of(self, ref: str) -> str:
        return self.lab.ids.zuid_of(self.family, self.org.id, ref)

    # -- writes ----------------------------------------------------------------------------------
    def _apply(self, mdef: ModuleDef, doc: dict[str, Any], data: dict[str, Any], index: int) -> dict[str, Any]:
        """Validated values of ``data`` merged into ``doc``; returns the changed fields."""
        changed: dict[str, Any] = {}
        for key, value in data.items():
            fdef = mdef.fields.get(key)
            if fdef is None or fdef.system or fdef.read_only:
                continue  # unknown and read-only keys are ignored, as Zoho does
            try:
                stored = coerce(fdef, value, self._lookup_name)
            except FieldError as err:
                path = err.json_path.replace("data[0]", f"data[{index}]")
                raise RecordError("INVALID_DATA", "invalid data", {
                    "expected_data_type": fdef.data_type, "api_name": err.field, "json_path": path}) from None
            if doc.get(key) != stored:
                changed[key] = stored
            if stored is None:
                doc.pop(key, None)
            else:
                doc[key] = stored
        return changed

    def _check_mandatory(self, mdef: ModuleDef, doc: dict[str, Any], index: int) -> None:
        for name in mdef.mandatory:
            if doc.get(name) in (None, "", []):
                raise RecordError("MANDATORY_NOT_FOUND", "required field not found",
                                  {"api_name": name, "json_path": f"$.data[{index}].{name}"})

    def _check_unique(self, mdef: ModuleDef, doc: dict[str, Any], exclude: str | None, index: int) -> None:
        for fdef in mdef.fields.values():
            if not fdef.unique or doc.get(fdef.api_name) in (None, ""):
                continue
            dup = self.match(mdef.api_name, fdef.api_name, doc[fdef.api_name], exclude=exclude)
            if dup is not None:
                raise self._duplicate(mdef, fdef, dup.id, dup.owner_id, index)

    def _duplicate(self, mdef: ModuleDef, fdef: FieldDef, dup_id: str, owner_id: str, index: int) -> RecordError:
        return RecordError("DUPLICATE_DATA", "duplicate data", {
            "api_name": fdef.api_name, "json_path": f"$.data[{index}].{fdef.api_name}",
            "duplicate_record": {"id": dup_id, "module": {
                "api_name": mdef.api_name,
                "id": self.module_id_of(mdef.api_name) if self.module_id_of else mdef.module_id},
                                 "Owner": self.user(owner_id)}})

    def _claim_unique(self, mdef: ModuleDef, doc: dict[str, Any], old: dict[str, Any] | None, record_id: str,
                      index: int) -> None:
        """Hold the record's unique values in ``lab_unique_value`` (``fakes.core.unique``): the
        check above answers the usual case; this makes a concurrent writer that passed it too
        lose with the same answer. New values are taken before old ones are released, so a
        refused write leaves the record's claims as they were."""
        changes = []
        for fdef in mdef.fields.values():
            if fdef.unique:
                key, was = unique_key(doc.get(fdef.api_name)), unique_key((old or {}).get(fdef.api_name))
                if key != was:
                    changes.append((fdef, key, was))
        org, module = self.org.id, mdef.api_name
        for fdef, key, _was in changes:
            if key is None:
                continue

            def still_has(holder: str, name: str = fdef.api_name, key: str = key) -> bool:
                doc = self.s.execute(select(Record.doc).where(
                    Record.id == holder, Record.org_id == org, Record.module == module,
                    col(Record.deleted_time).is_(None))).scalar()
                return doc is not None and unique_key(doc.get(name)) == key

            holder = hold(self.s, org, module, fdef.api_name, key, record_id, still_has)
            if holder is not None:
                owner = self.s.execute(select(Record.owner_id).where(Record.id == holder)).scalar()
                raise self._duplicate(mdef, fdef, holder, owner or "", index)
        for fdef, _key, was in changes:
            release(self.s, org, module, fdef.api_name, was, record_id)

    def _release_all_unique(self, mdef: ModuleDef, rec: Record) -> None:
        for fdef in mdef.fields.values():
            if fdef.unique:
                release(self.s, self.org.id, mdef.api_name, fdef.api_name,
                        unique_key((rec.doc or {}).get(fdef.api_name)), rec.id)

    def match(self, module: str, field_name: str, value: Any, *, exclude: str | None = None) -> Record | None:
        """The live record of ``module`` whose ``field_name`` equals ``value`` (case-insensitive text)."""
        q = self._base(module).where(self._compare(module, Cond(field_name, "equals", value)))
        if exclude:
            q = q.where(Record.id != exclude)
        return self.s.exec(q.limit(1)).first()

    def create(self, module: str, data: dict[str, Any], *, index: int = 0, trigger: bool = True,
               record_id: str | None = None) -> Record:
        mdef = self._mdef(module)
        if not isinstance(data, dict):
            raise RecordError("INVALID_DATA", "invalid data", {"expected_data_type": "jsonobject",
                                                               "json_path": f"$.data[{index}]"})
        doc: dict[str, Any] = {}
        self._apply(mdef, doc, data, index)
        if mdef.derive:
            mdef.derive(doc)
        self._check_mandatory(mdef, doc, index)
        self._check_unique(mdef, doc, None, index)
        rid = record_id or self.new_id()
        self._claim_unique(mdef, doc, None, rid, index)
        now = self.lab.now()
        owner = self._owner(data.get("Owner"))
        rec = Record(id=rid, product=self.org.product,
                     org_id=self.org.id, module=module, owner_id=owner, created_by=self.user_id,
                     modified_by=self.user_id, created_time=now, modified_time=now, doc=doc)
        self.s.add(rec)
        self.s.flush()
        self._after_write(rec, "insert", dict(doc), trigger)
        return rec

    def update(self, module: str, record_id: str, data: dict[str, Any], *, index: int = 0,
               trigger: bool = True) -> Record:
        mdef = self._mdef(module)
        rec = self.find(module, str(record_id))
        if rec is None:
            raise RecordError("INVALID_DATA", "the id given seems to be invalid", {"id": str(record_id)})
        if not isinstance(data, dict):
            raise RecordError("INVALID_DATA", "invalid data", {"expected_data_type": "jsonobject",
                                                               "json_path": f"$.data[{index}]"})
        doc = dict(rec.doc or {})
        changed = self._apply(mdef, doc, data, index)
        if mdef.derive:
            before = dict(doc)
            mdef.derive(doc)
            changed.update({k: v for k, v in doc.items() if before.get(k) != v})
        self._check_mandatory(mdef, doc, index)
        self._check_unique(mdef, doc, rec.id, index)
        self._claim_unique(mdef, doc, rec.doc or {}, rec.id, index)
        if "Owner" in data:
            rec.owner_id = self._owner(data["Owner"])
        rec.doc = doc
        rec.modified_time = self.lab.now()
        rec.modified_by = self.user_id
        self.s.add(rec)
        self.s.flush()
        self._after_write(rec, "update", changed, trigger)
        return rec

    def delete(self, module: str, record_id: str, *, trigger: bool = True) -> Record:
        rec = self.find(module, str(record_id))
        if rec is None:
            raise RecordError("INVALID_DATA", "the id given seems to be invalid", {"id": str(record_id)})
        if module in self.modules:
            self._release_all_unique(self.modules[module], rec)
        rec.deleted_time = self.lab.now()
        rec.deleted_by = self.user_id
        rec.deleted_type = "recycle"
        self.s.add(rec)
        self.events.append(ChangeEvent(self.org.product, self.org.id, module, "delete", [rec.id],
                                       user_id=self.user_id, triggered=trigger))
        return rec

    def _owner(self, value: Any) -> str:
        ref = value.get("id") if isinstance(value, dict) else value
        if isinstance(ref, int) and not isinstance(ref, bool):
            ref = str(ref)
        if isinstance(ref, str):
            zuid = self.zuid_of(ref)
            if self.s.get(User, zuid) is not None:
                return zuid
        return self.user_id

    def _mdef(self, module: str) -> ModuleDef:
        mdef = self.modules.get(module)
        if mdef is None:
            raise RecordError("INVALID_MODULE", "the module name given seems to be invalid", {}, 400)
        return mdef

    def _after_write(self, rec: Record, operation: str, changed: dict[str, Any], trigger: bool) -> None:
        if trigger:
            from .workflows import run_rules

            extra = run_rules(self, rec, operation, changed)
            changed.update(extra)
        self.events.append(ChangeEvent(self.org.product, self.org.id, rec.module, operation, [rec.id],
                                       {rec.id: sorted(changed)}, {rec.id: changed}, self.user_id, trigger))

    def publish(self) -> None:
        """Announce this store's changes to the lab's subscribers (call after commit)."""
        events, self.events = self.events, []
        for ev in _merge(events):
            self.lab.publish(ev)

    # -- reads -----------------------------------------------------------------------------------
    def _base(self, module: str, *, deleted: bool = False):
        q = select(Record).where(Record.org_id == self.org.id, Record.module == module)
        return q.where(col(Record.deleted_time).is_not(None) if deleted else col(Record.deleted_time).is_(None))

    def query(self, module: str, criteria: Criteria | None = None, *, sort_by: str = "id", sort_order: str = "asc",
              offset: int = 0, limit: int = 200, modified_since: datetime | None = None, deleted: bool = False):
        """Records of ``module`` matching ``criteria``: (rows, more_records)."""
        q = self._base(module, deleted=deleted)
        if criteria is not None:
            q = q.where(self._compile(module, criteria))
        if modified_since is not None:
            q = q.where(Record.modified_time > modified_since)
        column = self._sort_column(module, sort_by)
        order = [column.desc(), col(Record.id).desc()] if sort_order == "desc" else [column.asc(), col(Record.id).asc()]
        rows = self.s.exec(q.order_by(*order).offset(offset).limit(limit + 1)).all()
        return list(rows[:limit]), len(rows) > limit

    def count(self, module: str, criteria: Criteria | None = None) -> int:
        q = select(func.count()).select_from(Record).where(
            Record.org_id == self.org.id, Record.module == module, col(Record.deleted_time).is_(None))
        if criteria is not None:
            q = q.where(self._compile(module, criteria))
        return int(self.s.exec(q).one())

    def latest_change(self, module: str) -> datetime | None:
        """Newest modification or deletion in a module (for If-Modified-Since)."""
        q = select(func.max(Record.modified_time), func.max(Record.deleted_time)).where(
            Record.org_id == self.org.id, Record.module == module)
        m, d = self.s.exec(q).one()
        times = [as_utc(t) for t in (m, d) if t is not None]
        return max(times) if times else None

    def _sort_column(self, module: str, sort_by: str):
        if sort_by in ("Modified_Time", "modified_time"):
            return col(Record.modified_time)
        if sort_by in ("Created_Time", "created_time"):
            return col(Record.created_time)
        if sort_by == "id":
            return col(Record.id)
        fdef = self.modules[module].fields.get(sort_by) if module in self.modules else None
        if fdef is None:
            return col(Record.id)
        if fdef.json_type in ("integer", "double"):
            return Record.doc[sort_by].as_float()
        return func.lower(Record.doc[sort_by].as_string())

    def _compile(self, module: str, c: Criteria):
        if isinstance(c, Group):
            parts = [self._compile(module, i) for i in c.items]
            return and_(*parts) if c.op == "and" else or_(*parts)
        return self._compare(module, c)

    def _compare(self, module: str, c: Cond):
        """One condition as SQL on the JSON document (portable JSON paths via SQLAlchemy)."""
        mdef = self.modules.get(module)
        fdef: FieldDef | None = mdef.fields.get(c.field) if mdef else None
        if c.field in ("Modified_Time", "Created_Time"):
            column = col(Record.modified_time if c.field == "Modified_Time" else Record.created_time)
            return _ordered(column, c, _as_datetime)
        if c.field == "id":
            return _ordered(col(Record.id), c, str)
        if c.field == "Owner":
            return _ordered(col(Record.owner_id), c,
                            lambda v: self.zuid_of(str(v.get("id") if isinstance(v, dict) else v)))
        if fdef is None:
            raise RecordError("INVALID_QUERY", "invalid query formed", {"api_name": c.field})
        if fdef.data_type in ("lookup", "ownerlookup"):
            expr = Record.doc[(c.field, "id")].as_string()
            return _ordered(expr, c, lambda v: str(v.get("id") if isinstance(v, dict) else v))
        if fdef.json_type in ("integer", "double"):
            return _ordered(Record.doc[c.field].as_float(), c, _as_number)
        if fdef.data_type == "boolean":
            expr = Record.doc[c.field].as_boolean()
            if c.op not in ("equals", "not_equal", "is_null", "is_not_null"):
                raise RecordError("INVALID_QUERY", "invalid query formed", {"api_name": c.field, "operator": c.op})
            return _ordered(expr, c, _as_bool)
        if fdef.data_type == "datetime":
            return _ordered(Record.doc[c.field].as_string(), c, lambda v: _as_datetime(v).isoformat())
        text = func.lower(func.coalesce(Record.doc[c.field].as_string(), ""))
        return _text(text, c)

    # -- rendering -------------------------------------------------------------------------------
    def render(self, rec: Record, fields: Iterable[str] | None = None, *, hide: set[str] | None = None) -> dict[str, Any]:
        """A record as CRM/FSM answers it: id, system fields in the org's time zone, values."""
        tz = self.org.time_zone
        doc = rec.doc or {}
        base: dict[str, Any] = {
            "Owner": self.user(rec.owner_id) if rec.owner_id else None,
            "Created_By": self.user(rec.created_by), "Modified_By": self.user(rec.modified_by),
            "Created_Time": crm_datetime(as_utc(rec.created_time), tz),
            "Modified_Time": crm_datetime(as_utc(rec.modified_time), tz),
        }
        mdef = self.modules.get(rec.module)
        values = {}
        for name, fdef in (mdef.fields.items() if mdef else ()):
            if fdef.system:
                continue
            v = doc.get(name)
            if fdef.data_type == "datetime" and isinstance(v, str):
                parsed = parse_datetime(v)
                v = crm_datetime(parsed, tz) if parsed else v
            values[name] = v
        out = {**values, **base, "id": rec.id}
        wanted = list(fields) if fields else None
        if wanted is not None:
            out = {k: out[k] for k in ("id", *wanted) if k in out}
        for h in hide or ():
            out.pop(h, None)
        return out

    def audit(self, rec: Record) -> dict[str, Any]:
        """What a created/updated record's ``details`` show."""
        tz = self.org.time_zone
        return {"Modified_Time": crm_datetime(as_utc(rec.modified_time), tz),
                "Modified_By": {k: v for k, v in self.user(rec.modified_by).items() if k != "email"},
                "Created_Time": crm_datetime(as_utc(rec.created_time), tz), "id": rec.id,
                "Created_By": {k: v for k, v in self.user(rec.created_by).items() if k != "email"}}


# -- helpers ------------------------------------------------------------------------------------

def _as_datetime(v: Any) -> datetime:
    dt = parse_datetime(v) if isinstance(v, str) else None
    if dt is None:
        raise RecordError("INVALID_QUERY", "invalid query formed", {"reason": f"not a datetime: {v!r}"})
    return dt


def _as_number(v: Any) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        raise RecordError("INVALID_QUERY", "invalid query formed", {"reason": f"not a number: {v!r}"}) from None


def _as_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if str(v).lower() in ("true", "false"):
        return str(v).lower() == "true"
    raise RecordError("INVALID_QUERY", "invalid query formed", {"reason": f"not a boolean: {v!r}"})


def _values(c: Cond) -> list[Any]:
    return list(c.value) if isinstance(c.value, (list, tuple)) else [c.value]


def _ordered(expr, c: Cond, conv):
    op = c.op
    if op == "is_null":
        return expr.is_(None)
    if op == "is_not_null":
        return expr.is_not(None)
    if op in ("in", "not_in"):
        vals = [conv(v) for v in _values(c)]
        return expr.in_(vals) if op == "in" else not_(expr.in_(vals))
    if op == "between":
        vals = _values(c)
        if len(vals) != 2:
            raise RecordError("INVALID_QUERY", "invalid query formed", {"operator": "between"})
        return and_(expr >= conv(vals[0]), expr <= conv(vals[1]))
    if op in ("starts_with", "ends_with", "contains", "not_contains"):
        return _text(func.lower(func.coalesce(expr, "")), c)
    if op not in COMPARE:
        _bad_op(op)
    return COMPARE[op](expr, conv(c.value))


COMPARE = {"equals": operator.eq, "not_equal": operator.ne, "greater_than": operator.gt,
           "greater_equal": operator.ge, "less_than": operator.lt, "less_equal": operator.le}


def _bad_op(op: str):
    raise RecordError("INVALID_QUERY", "invalid query formed", {"operator": op})


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _text(expr, c: Cond):
    op = c.op
    if op in ("is_null", "is_not_null"):
        return (expr == "") if op == "is_null" else (expr != "")
    if op in ("in", "not_in"):
        vals = [str(v).lower() for v in _values(c)]
        return expr.in_(vals) if op == "in" else not_(expr.in_(vals))
    if op == "between":
        vals = _values(c)
        if len(vals) != 2:
            raise RecordError("INVALID_QUERY", "invalid query formed", {"operator": "between"})
        return and_(expr >= str(vals[0]).lower(), expr <= str(vals[1]).lower())
    v = "" if c.value is None else str(c.value).lower()
    if op == "starts_with":
        return expr.like(_like(v) + "%", escape="\\")
    if op == "ends_with":
        return expr.like("%" + _like(v), escape="\\")
    if op == "contains":
        return expr.like("%" + _like(v) + "%", escape="\\")
    if op == "not_contains":
        return not_(expr.like("%" + _like(v) + "%", escape="\\"))
    if op in COMPARE:
        return COMPARE[op](expr, v)
    _bad_op(op)


def _merge(events: list[ChangeEvent]) -> list[ChangeEvent]:
    """One event per (module, operation, triggered) of a request, as Zoho batches notifications."""
    merged: dict[tuple[str, str, bool], ChangeEvent] = {}
    for ev in events:
        key = (ev.module, ev.operation, ev.triggered)
        if key not in merged:
            merged[key] = ChangeEvent(ev.product, ev.org_id, ev.module, ev.operation, [], {}, {}, ev.user_id, ev.triggered)
        m = merged[key]
        for i in ev.ids:
            if i not in m.ids:
                m.ids.append(i)
        m.fields.update(ev.fields)
        m.values.update(ev.values)
    return list(merged.values())
