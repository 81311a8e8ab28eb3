"""State and domain logic of the fake Zoho CRM (no HTTP, no wire shapes): records through the
shared record engine, listing with ``page`` then stateless ``page_token``s, search, upsert, the
recycle bin, running COQL, ``/actions/watch`` channels and their callbacks, the org's users,
personal-data marks and Zoho-internal settings. It returns rows; ``render.py`` writes Zoho's JSON,
``criteria.py`` and ``coql.py`` parse the query languages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import Column, String, and_, func, or_
from sqlmodel import Field, Session, SQLModel, col, select

from fakes.core.db import datetime_column, json_column, json_list_column
from fakes.core.fields import ModuleDef
from fakes.core.lab import Lab
from fakes.core.records import ChangeEvent, Cond, Criteria, Record, RecordError, RecordStore
from fakes.core.tenants import Org, OrgMember, User
from fakes.core.timefmt import as_utc, parse_datetime

from . import coql as coql_lang
from . import errors
from . import metadata as md
from .errors import record_error

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


@dataclass
class Listing:
    """One page of a record listing, and the token to the next page (v5 on)."""

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

    def module_id(self, module: str) -> str:
        return md.meta_id(self.lab.seed, self.org.id, "module", module)

    def mdef(self, module: str) -> ModuleDef:
        m = md.MODULES.get(module)
        if m is None:
            raise errors.invalid_module()
        return m

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
    def deleted(self, module: str, kind: str, *, cutoff: datetime, page: int, per_page: int,
                since: datetime | None) -> tuple[list[Record], bool]:
        """A page of the module's deleted records, newest first; ``kind`` all, recycle (deleted
        after ``cutoff``) or permanent (before it)."""
        self.mdef(module)
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
        return rows[:per_page], len(rows) > per_page

    def recycle_cutoff(self) -> datetime:
        """Records deleted before this are past the recycle bin: deleted permanently."""
        return self.now() - timedelta(days=md.RECYCLE_BIN_DAYS)

    def latest_deletion(self, module: str) -> datetime | None:
        q = select(func.max(Record.deleted_time)).where(Record.org_id == self.org.id, Record.module == module)
        return as_utc(self.s.exec(q).one())

    # -- COQL ----------------------------------------------------------------------------------------------
    def coql(self, query: str, version: str) -> tuple[coql_lang.CoqlQuery, list[Record], bool]:
        """Run a COQL query: the parsed query, the page of records and whether more follow."""
        q = coql_lang.parse_coql(query)
        mdef = md.MODULES.get(q.module)
        if mdef is None:
            raise errors.coql_module(q.module)
        limit, offset = coql_lang.window(q, version)
        for name in q.fields:
            coql_lang.column(mdef, name)
        crit = coql_lang.resolve_where(mdef, q.where, self._ids_where) if q.where is not None else None
        sort_by, sort_order = "id", "asc"
        if q.order:
            sort_by, sort_order = q.order[0]
            coql_lang.column(mdef, sort_by)
        try:
            rows, more = self.rs.query(q.module, crit, sort_by=sort_by, sort_order=sort_order, offset=offset,
                                       limit=limit)
        except RecordError as err:
            raise record_error(err) from None
        return q, rows, more

    def _ids_where(self, module: str, cond: Cond) -> list[str]:
        """Ids of a module's records that meet a condition (a COQL ``Lookup.Field`` condition)."""
        try:
            return [r.id for r in self.rs.query(module, cond, limit=2000)[0]]
        except RecordError as err:
            raise record_error(err) from None

    # -- users and personal data ----------------------------------------------------------------------------
    def users(self, kind: str, current_user: str) -> list[tuple[User, str]]:
        """The org's members of a Users API ``type``, each with their org role."""
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
            out.append((u, role))
        return out

    def lab_users(self, kind: str) -> list[dict[str, Any]]:
        """[lab] users the lab added to the org with a profile (org settings ``users``), listed
        with the active ones."""
        if kind not in ("AllUsers", "ActiveUsers", "ActiveConfirmedUsers"):
            return []
        return lab_users(self.org.settings or {})

    def owner(self) -> User | None:
        return self.s.get(User, self.org.owner_id)

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

    def save_channel(self, item: dict[str, Any], *, index: int, version: str, api_domain: str, user_id: str,
                     mode: str) -> CrmWatchChannel:
        """Validate one ``watch`` item and store it. ``mode``: subscribe (POST), replace (PUT),
        patch (PATCH: merge; ``_delete_events`` removes the given events)."""
        if not isinstance(item, dict):
            raise WatchError("INVALID_DATA", "invalid data", {"expected_data_type": "jsonobject",
                                                               "json_path": f"$.watch[{index}]"})
        raw_id = item.get("channel_id")
        if raw_id is None:
            raise WatchError("MANDATORY_NOT_FOUND", "required field not found",
                              {"api_name": "channel_id", "json_path": f"$.watch[{index}].channel_id"})
        if isinstance(raw_id, bool) or not isinstance(raw_id, (int, str)) or not str(raw_id).isdigit() \
                or len(str(raw_id)) > 19:
            raise WatchError("INVALID_DATA", "invalid data", {"expected_data_type": "long", "api_name": "channel_id",
                                                               "json_path": f"$.watch[{index}].channel_id"})
        channel_id = str(raw_id)
        existing = self.s.get(CrmWatchChannel, f"{self.org.id}:{channel_id}")
        if existing is not None and existing.channel_expiry is not None and as_utc(existing.channel_expiry) <= self.now():
            self.s.delete(existing)
            self.s.flush()
            existing = None
        if mode in ("replace", "patch") and existing is None:
            raise WatchError("NOT_SUBSCRIBED", "Not subscribed for actions-watch of the given channel",
                              {"channel_id": channel_id})
        events = item.get("events")
        if events is None and (mode == "subscribe" or mode == "replace"):
            raise WatchError("MANDATORY_NOT_FOUND", "required field not found",
                              {"api_name": "events", "json_path": f"$.watch[{index}].events"})
        if events is not None:
            if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
                raise WatchError("INVALID_DATA", "invalid data", {"expected_data_type": "jsonarray",
                                                                   "api_name": "events",
                                                                   "json_path": f"$.watch[{index}].events"})
            for e in events:
                mod, _, op = e.partition(".")
                if mod not in md.MODULES or op not in md.WATCH_EVENT_OPS:
                    raise WatchError("INVALID_DATA", "invalid data", {"api_name": "events", "value": e[:100],
                                                                       "json_path": f"$.watch[{index}].events"})
        notify_url = item.get("notify_url", existing.notify_url if existing else None)
        if notify_url is None:
            raise WatchError("MANDATORY_NOT_FOUND", "required field not found",
                              {"api_name": "notify_url", "json_path": f"$.watch[{index}].notify_url"})
        if not isinstance(notify_url, str) or not notify_url.startswith(("http://", "https://")) or len(notify_url) > 2000:
            raise WatchError("INVALID_DATA", "invalid data", {"api_name": "notify_url",
                                                               "json_path": f"$.watch[{index}].notify_url"})
        token = item.get("token", existing.token if existing else None)
        if token is not None and (not isinstance(token, str) or len(token) > md.WATCH_TOKEN_MAX):
            raise WatchError("INVALID_DATA", "invalid data", {"api_name": "token", "maximum_length": "50",
                                                               "json_path": f"$.watch[{index}].token"})
        now = self.now()
        expiry = existing.channel_expiry if existing is not None and "channel_expiry" not in item else None
        if "channel_expiry" in item and item["channel_expiry"] is not None:
            parsed = parse_datetime(item["channel_expiry"]) if isinstance(item["channel_expiry"], str) else None
            if parsed is None or parsed <= now or parsed > now + timedelta(seconds=md.CHANNEL_EXPIRY_MAX):
                raise WatchError("INVALID_DATA", "invalid data", {
                    "api_name": "channel_expiry", "json_path": f"$.watch[{index}].channel_expiry",
                    "reason": "must be a future datetime at most one week ahead"})
            expiry = parsed
        if expiry is None:
            expiry = now + timedelta(seconds=md.CHANNEL_EXPIRY_DEFAULT)
        flags = {}
        for key in ("return_affected_field_values", "notify_on_related_action"):
            if key in item and item[key] is not None:
                if not isinstance(item[key], bool):
                    raise WatchError("INVALID_DATA", "invalid data", {"api_name": key, "expected_data_type": "boolean",
                                                                       "json_path": f"$.watch[{index}].{key}"})
                flags[key] = item[key]
        fields = item.get("fields")
        if fields is not None and (not isinstance(fields, dict) or not all(
                isinstance(v, list) and all(isinstance(x, str) for x in v) for v in fields.values())):
            raise WatchError("INVALID_DATA", "invalid data", {"api_name": "fields", "expected_data_type": "jsonobject",
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


class WatchError(Exception):
    def __init__(self, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(code)
        self.entry = errors.watch_error(code, message, details)



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
