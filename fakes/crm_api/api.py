"""HTTP surface of the fake Zoho CRM v2…v8: parse, call the store, render Zoho's envelopes.

Auth, org resolution (the user's CRM org, or ``X-CRM-ORG``), faults, credits and concurrency and
the journal run before these views (``fakes.core.chain``). Every view receives ``version``
(v2…v8) from the blueprint's URL prefix. Shapes come from ``render.py``; the ``/_lab/crm``
control routes are ``lab_api.py``.
"""

from __future__ import annotations

import email.utils
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from flask import Blueprint, request

from fakes.core.bodies import read_json
from fakes.core.context import ctx, lab
from fakes.core.crm_style import (
    batch_response,
    each_record,
    error,
    ids_param,
    no_content,
    ok,
    read_data,
    require_id,
    success,
)
from fakes.core.errors import Failure, Kind
from fakes.core.records import Cond, RecordError
from fakes.core.timefmt import as_utc, parse_datetime

from . import errors, render
from . import metadata as md
from .criteria import search_criteria
from .store import CrmStore, WatchError

# ------------------------------------------------------------------------------ chain hooks


def scopes_for(req) -> list[str]:
    """Scopes that allow a call (any one of them): Zoho's documented scope per API."""
    endpoint = (req.endpoint or "").rsplit(".", 1)[-1]
    op = md.SCOPE_OPERATION.get(req.method, "READ")
    if endpoint.startswith("settings_"):
        what = "fields" if "fields" in endpoint else "modules"
        return ["ZohoCRM.settings.ALL", "ZohoCRM.settings.READ", f"ZohoCRM.settings.{what}.ALL",
                f"ZohoCRM.settings.{what}.READ"]
    if endpoint.startswith("users_"):
        return ["ZohoCRM.users.ALL", "ZohoCRM.users.READ"]
    if endpoint == "org_get":
        return ["ZohoCRM.org.ALL", "ZohoCRM.org.READ"]
    if endpoint == "coql":
        return ["ZohoCRM.coql.READ", "ZohoCRM.coql.ALL"]
    if endpoint.startswith("watch_"):
        extra = {"POST": ["ZohoCRM.notifications.CREATE", "ZohoCRM.notifications.WRITE"],
                 "PUT": ["ZohoCRM.notifications.UPDATE", "ZohoCRM.notifications.WRITE"],
                 "PATCH": ["ZohoCRM.notifications.UPDATE", "ZohoCRM.notifications.WRITE"],
                 "DELETE": ["ZohoCRM.notifications.DELETE", "ZohoCRM.notifications.WRITE"]}.get(req.method,
                                                                                               ["ZohoCRM.notifications.READ"])
        return ["ZohoCRM.notifications.ALL", *extra]
    if endpoint == "internal_settings":
        return ["ZohoCRM.settings.ALL", "ZohoCRM.settings.READ", "ZohoCRM.org.ALL", "ZohoCRM.org.READ"]
    module = (req.view_args or {}).get("module", "")
    name = md.SCOPE_NAMES.get(module, str(module).lower())
    if endpoint in ("upsert",):
        ops = ["CREATE", "UPDATE", "WRITE"]
    elif op in ("CREATE", "UPDATE"):
        ops = [op, "WRITE"]
    else:
        ops = [op]
    if endpoint in ("count",):
        ops = ["READ"]
    out = ["ZohoCRM.modules.ALL", f"ZohoCRM.modules.{name}.ALL"]
    for o in ops:
        out += [f"ZohoCRM.modules.{o}", f"ZohoCRM.modules.{name}.{o}"]
    return out


# ------------------------------------------------------------------------------ helpers

@contextmanager
def store() -> Iterator[CrmStore]:
    """The org's store inside one transaction; change events go out after the commit."""
    c = ctx()
    with lab().db.begin() as s:
        st = CrmStore(lab(), s, c.org, c.principal.user_id if c.principal else "")
        yield st
    st.publish()


def v3_or_later(version: str) -> bool:
    return version != "v2"


def tokens_enabled(version: str) -> bool:
    return version not in ("v2", "v3", "v4")


# A page past every record answers 204 as any empty page does; the cap keeps the offset inside a
# 64-bit integer (PostgreSQL's OFFSET is a bigint: page 10**17 x 200 would be a 500).
MAX_PAGE = 10**9


def int_param(name: str, default: int, minimum: int = 1, maximum: int | None = None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        n = int(raw)
    except ValueError:
        raise errors.invalid_param(name, "must be a whole number") from None
    if n < minimum:
        raise errors.invalid_param(name, f"must be at least {minimum}")
    if maximum is not None and n > maximum:
        n = maximum
    return n


def fields_param(version: str, *, required: bool) -> list[str] | None:
    raw = request.args.get("fields")
    if raw is None or not raw.strip():
        if required and v3_or_later(version):
            raise errors.required_param("fields")
        return None
    names = list(dict.fromkeys(x.strip() for x in raw.split(",") if x.strip()))
    if len(names) > md.MAX_FIELDS:
        raise errors.too_many_fields(md.MAX_FIELDS)
    return names


def if_modified_since() -> datetime | None:
    raw = request.headers.get("If-Modified-Since")
    if raw is None or not raw.strip():
        return None
    dt = parse_datetime(raw)
    if dt is None:
        try:
            dt = as_utc(email.utils.parsedate_to_datetime(raw))
        except (TypeError, ValueError, IndexError, OverflowError):
            dt = None
    if dt is None:
        raise errors.invalid_param("If-Modified-Since", "must be an ISO 8601 datetime")
    return dt


def not_modified():
    from fakes.core.context import empty_response

    return empty_response(304)


def body_json() -> Any:
    try:
        return read_json()
    except Failure as f:
        raise ctx().product.errors.render(f) from None


def check_module(module: str) -> None:
    if module not in md.MODULES:
        raise errors.invalid_module()


def users_json(st: CrmStore, kind: str) -> list[dict[str, Any]]:
    """The org's users of a Users API ``type`` (the caller is ``CurrentUser``), then the lab's."""
    return ([render.user_json(st, u, role) for u, role in st.users(kind, ctx().principal.user_id)]
            + [render.lab_user_json(st, u) for u in st.lab_users(kind)])


# ------------------------------------------------------------------------------ routes

# One blueprint for every version: the app mounts it at /crm/<version> (the view args carry it).
bp = Blueprint("crm", __name__)

# -- metadata ----------------------------------------------------------------------------
@bp.get("/settings/modules")
def settings_modules(version: str):
    with store() as st:
        return ok({"modules": render.modules_json(st, version)})


@bp.get("/settings/modules/<api_name>")
def settings_module(version: str, api_name: str):
    with store() as st:
        found = render.modules_json(st, version, api_name) or [
            m for m in render.modules_json(st, version) if m["id"] == api_name]
    if not found:
        raise errors.invalid_module()
    return ok({"modules": found})


@bp.get("/settings/fields")
def settings_fields(version: str):
    module = request.args.get("module")
    if not module:
        raise errors.required_param("module")
    if module not in md.MODULES and module not in md.SUBFORM_MODULES:
        raise errors.invalid_module()
    with store() as st:
        return ok({"fields": render.fields_json(st, module)})


@bp.get("/settings/fields/<field_id>")
def settings_field(version: str, field_id: str):
    module = request.args.get("module")
    if not module:
        raise errors.required_param("module")
    if module not in md.MODULES and module not in md.SUBFORM_MODULES:
        raise errors.invalid_module()
    with store() as st:
        found = [f for f in render.fields_json(st, module) if field_id in (f["id"], f["api_name"])]
    if not found:
        return no_content()
    return ok({"fields": found})


@bp.get("/users")
def users_list(version: str):
    kind = request.args.get("type", "AllUsers")
    page = int_param("page", 1, 1, MAX_PAGE)
    per_page = int_param("per_page", 200, 1, 200)
    with store() as st:
        users = users_json(st, kind)
    chunk = users[(page - 1) * per_page: page * per_page]
    if not chunk:
        return no_content()
    return ok({"users": chunk, "info": render.page_info(per_page, len(chunk), page, page * per_page < len(users))})


@bp.get("/users/<user_id>")
def users_get(version: str, user_id: str):
    with store() as st:
        users = [u for u in users_json(st, "AllUsers") if u["id"] == user_id]
    if not users:
        return no_content()
    # users.json: the one-user answer carries info too (a required property there)
    return ok({"users": users, "info": render.page_info(200, 1, 1, False)})


@bp.get("/org")
def org_get(version: str):
    with store() as st:
        return ok({"org": [render.org_json(st)]})


# -- records -----------------------------------------------------------------------------
@bp.get("/<module>")
def records_list(version: str, module: str):
    check_module(module)
    fields = fields_param(version, required=True)
    token = request.args.get("page_token")
    if token is not None and request.args.get("page") is not None:
        raise errors.page_and_token()
    tokens = tokens_enabled(version)
    if token is not None and not tokens:
        raise errors.invalid_param("page_token", "page_token is supported from v5 on")
    page = int_param("page", 1, 1, MAX_PAGE)
    per_page = int_param("per_page", 0 if token else md.PER_PAGE_DEFAULT, 1, md.PER_PAGE_MAX)
    sort_by = request.args.get("sort_by") or "id"
    sort_order = (request.args.get("sort_order") or "desc").lower()
    if sort_order not in ("asc", "desc"):
        raise errors.invalid_param("sort_order", "must be asc or desc")
    mdef = md.MODULES[module]
    if sort_by not in md.SORTABLE and (v3_or_later(version) or sort_by not in mdef.fields):
        raise errors.invalid_param("sort_by", "supported values: " + ", ".join(md.SORTABLE))
    if request.args.get("ids"):
        ids = ids_param("ids", 100)
        with store() as st:
            recs = [r for r in (st.rs.find(module, i) for i in ids) if r is not None]
            data = [st.rs.render(r, fields) for r in recs]
        if not data:
            return no_content()
        return ok({"data": data, "info": render.page_info(len(data), len(data), 1, False)})
    since = if_modified_since()
    with store() as st:
        if since is not None:
            latest = st.rs.latest_change(module)
            if latest is None or latest <= since:
                return not_modified()
        listing = st.list_records(module, page=page, per_page=per_page, sort_by=sort_by, sort_order=sort_order,
                                  modified_since=since, token=token, tokens=tokens)
        data = [st.rs.render(r, fields) for r in listing.rows]
        info = render.listing_info(st, listing, tokens=tokens)
    if not data:
        return no_content()
    return ok({"data": data, "info": info})


@bp.get("/<module>/<record_id>")
def record_get(version: str, module: str, record_id: str):
    check_module(module)
    if not record_id.isdigit() or len(record_id) > 30:
        raise errors.invalid_id(record_id[:40])
    fields = fields_param(version, required=False)
    since = if_modified_since()
    with store() as st:
        rec = st.rs.find_row(module, record_id)
        if rec is None:
            return no_content()
        if since is not None and as_utc(rec.modified_time) <= since:
            return not_modified()
        data = st.rs.render(rec, fields)
    return ok({"data": [data]})


@bp.get("/<module>/<record_id>/<related>")
def related_records(version: str, module: str, record_id: str, related: str):
    """Get Related Records (related_records.json) of the lookup-made related lists
    (``md.RELATED_LISTS``): e.g. an Account's Deals; 204 when none."""
    check_module(module)
    field = md.RELATED_LISTS.get((module, related))
    if field is None:
        raise Failure(Kind.URL_NOT_FOUND)  # INVALID_URL_PATTERN, as for any unknown related list
    if not record_id.isdigit() or len(record_id) > 30:
        raise errors.invalid_related_id(record_id[:40])
    fields = fields_param(version, required=True)
    page = int_param("page", 1, 1, 10**6)  # an offset the database can hold
    per_page = int_param("per_page", md.PER_PAGE_DEFAULT, 1, md.PER_PAGE_MAX)
    with store() as st:
        if st.rs.find(module, record_id) is None:
            raise errors.invalid_related_id(record_id)
        rows, more = st.rs.query(related, Cond(field, "equals", record_id), sort_by="id", sort_order="asc",
                                 offset=(page - 1) * per_page, limit=per_page)
        data = [st.rs.render(r, fields) for r in rows]
    if not data:
        return no_content()
    return ok({"data": data, "info": render.page_info(per_page, len(data), page, more)})


@bp.post("/<module>")
def records_create(version: str, module: str):
    check_module(module)
    data, trigger = read_data(ctx().product.errors)
    with store() as st:
        entries = each_record(data, lambda i, item: success(
            "record added", st.rs.audit(st.rs.create(module, item, index=i, trigger=trigger))))
    return batch_response(entries, 201)


@bp.put("/<module>")
def records_update_many(version: str, module: str):
    check_module(module)
    data, trigger = read_data(ctx().product.errors)

    def update(i: int, item: Any) -> dict[str, Any]:
        rid = require_id(item, i)
        body = {k: v for k, v in item.items() if k != "id"}
        return success("record updated", st.rs.audit(st.rs.update(module, rid, body, index=i, trigger=trigger)))

    with store() as st:
        entries = each_record(data, update)
    return batch_response(entries, 200)


@bp.put("/<module>/<record_id>")
def record_update(version: str, module: str, record_id: str):
    check_module(module)
    data, trigger = read_data(ctx().product.errors)
    item = data[0]
    with store() as st:
        try:
            body = {k: v for k, v in item.items() if k != "id"} if isinstance(item, dict) else item
            rec = st.rs.update(module, record_id, body, index=0, trigger=trigger)
            entries = [success("record updated", st.rs.audit(rec))]
        except RecordError as err:
            entries = [err.entry()]
    return batch_response(entries, 200)


def _delete(module: str, ids: list[str]):
    trigger = (request.args.get("wf_trigger") or "true").lower() != "false"
    entries = []
    with store() as st:
        for rid in ids:
            try:
                rec = st.rs.delete(module, rid, trigger=trigger)
                entries.append(success("record deleted", {"id": rec.id}))
            except RecordError:
                entries.append(RecordError("INVALID_DATA", "the id given seems to be invalid",
                                           {"id": rid[:40]}).entry())
    return batch_response(entries, 200)


@bp.delete("/<module>")
def records_delete_many(version: str, module: str):
    check_module(module)
    return _delete(module, ids_param("ids", 100))


@bp.delete("/<module>/<record_id>")
def record_delete(version: str, module: str, record_id: str):
    check_module(module)
    return _delete(module, [record_id])


@bp.post("/<module>/upsert")
def upsert(version: str, module: str):
    check_module(module)
    data, trigger = read_data(ctx().product.errors)
    body = body_json()
    dup = body.get("duplicate_check_fields") if isinstance(body, dict) else None
    mdef = md.MODULES[module]
    if dup is not None:
        if not isinstance(dup, list) or not all(isinstance(x, str) for x in dup):
            raise error(400, "INVALID_DATA", "invalid data", {"expected_data_type": "jsonarray",
                                                             "api_name": "duplicate_check_fields"})
        bad = [x for x in dup if x not in mdef.fields and x != "id"]
        if bad:
            raise error(400, "INVALID_DATA", "invalid data", {"api_name": bad[0][:100],
                                                             "json_path": "$.duplicate_check_fields"})
    def upsert(i: int, item: Any) -> dict[str, Any]:
        rec, action, field = st.upsert(module, item, dup or [], index=i, trigger=trigger)
        msg = "record added" if action == "insert" else "record updated"
        return success(msg, st.rs.audit(rec), action=action, duplicate_field=field)

    with store() as st:
        entries = each_record(data, upsert)
    return batch_response(entries, 200)


@bp.get("/<module>/deleted")
def deleted(version: str, module: str):
    check_module(module)
    kind = request.args.get("type", "all")
    if kind not in ("all", "recycle", "permanent"):
        raise errors.invalid_param("type", "must be all, recycle or permanent")
    page = int_param("page", 1, 1, MAX_PAGE)
    per_page = int_param("per_page", md.PER_PAGE_DEFAULT, 1, md.PER_PAGE_MAX)
    since = if_modified_since()
    with store() as st:
        if since is not None:
            latest = st.latest_deletion(module)
            if latest is None or latest <= since:
                return not_modified()
        cutoff = st.recycle_cutoff()
        rows, more = st.deleted(module, kind, cutoff=cutoff, page=page, per_page=per_page, since=since)
        data = [render.deleted_json(st, module, r, cutoff) for r in rows]
    if not data:
        return no_content()
    return ok({"data": data, "info": render.page_info(per_page, len(data), page, more)})


@bp.get("/<module>/search")
def search(version: str, module: str):
    check_module(module)
    fields = fields_param(version, required=False)
    page = int_param("page", 1, 1, MAX_PAGE)
    per_page = int_param("per_page", md.PER_PAGE_DEFAULT, 1, md.PER_PAGE_MAX)
    a = request.args
    with store() as st:
        crit = search_criteria(md.MODULES[module], criteria=a.get("criteria"), email=a.get("email"),
                               phone=a.get("phone"), word=a.get("word"))
        rows, more = st.search(module, crit, page=page, per_page=per_page)
        data = [st.rs.render(r, fields) for r in rows]
    if not data:
        return no_content()
    return ok({"data": data, "info": render.page_info(per_page, len(data), page, more)})


@bp.route("/<module>/actions/count", methods=["GET", "POST"])
def count(version: str, module: str):
    check_module(module)
    a = request.args
    if a.get("cvid") and any(a.get(k) for k in ("criteria", "email", "phone", "word")):
        raise error(400, "AMBIGUITY_DURING_PROCESSING",
                    "Please use either Cvid or Search Params. Combination of both the params is not allowed",
                    {"ambiguity_due_to": [{"param_name": "cvid"}, {"param_name": "criteria"}]})
    with store() as st:
        crit = None
        if any(a.get(k) is not None for k in ("criteria", "email", "phone", "word")):
            crit = search_criteria(md.MODULES[module], criteria=a.get("criteria"), email=a.get("email"),
                                   phone=a.get("phone"), word=a.get("word"))
        n = st.count(module, crit)
    return ok({"count": n})


# -- COQL ---------------------------------------------------------------------------------
@bp.post("/coql")
def coql(version: str):
    body = body_json()
    if not isinstance(body, dict) or "select_query" not in body:
        raise errors.required_param("select_query")
    query = body["select_query"]
    if not isinstance(query, str):
        raise error(400, "INVALID_DATA", "invalid data", {"expected_data_type": "string",
                                                         "api_name": "select_query"})
    with store() as st:
        q, recs, more = st.coql(query, version)
        rows = [render.coql_row(st, md.MODULES[q.module], r, q.fields) for r in recs]
    if not rows:
        return no_content()
    return ok({"data": rows, "info": {"count": len(rows), "more_records": more}})


# -- notifications ------------------------------------------------------------------------
def _watch_items() -> list[Any]:
    body = body_json()
    if not isinstance(body, dict) or "watch" not in body:
        raise errors.required_param("watch")
    items = body["watch"]
    if not isinstance(items, list) or not items:
        raise error(400, "INVALID_DATA", "invalid data", {"expected_data_type": "jsonarray", "api_name": "watch"})
    if len(items) > 100:
        raise error(400, "LIMIT_EXCEEDED", "Record count exceeded", {"limit": 100})
    return items


def _watch_write(version: str, mode: str, message: str, ok_status: int):
    items = _watch_items()
    from fakes.core.lab_api import api_domain

    domain = api_domain(lab())
    entries: list[dict[str, Any]] = []
    with store() as st:
        for i, item in enumerate(items):
            try:
                ch = st.save_channel(item, index=i, version=version, api_domain=domain,
                                     user_id=ctx().principal.user_id, mode=mode)
                entries.append(success(message, {"events": render.channel_events_json(st, ch)}))
            except WatchError as err:
                entries.append(err.entry)
    good = sum(1 for e in entries if e["status"] == "success")
    status = ok_status if good == len(entries) else 400 if good == 0 else 207
    return ok({"watch": entries}, status)


@bp.post("/actions/watch")
def watch_subscribe(version: str):
    return _watch_write(version, "subscribe", "Successfully subscribed for actions-watch of the given module", 201)


@bp.put("/actions/watch")
def watch_replace(version: str):
    return _watch_write(version, "replace", "Successfully updated the subscribe details", 200)


@bp.patch("/actions/watch")
def watch_patch(version: str):
    return _watch_write(version, "patch", "Successfully updated the subscribe details", 200)


@bp.get("/actions/watch")
def watch_list(version: str):
    page = int_param("page", 1, 1, MAX_PAGE)
    per_page = int_param("per_page", 200, 1, 200)
    module = request.args.get("module")
    if module is not None:
        check_module(module)
    with store() as st:
        rows = st.channels(request.args.get("channel_id"), module)
        chunk = [render.channel_json(st, r) for r in rows[(page - 1) * per_page: page * per_page]]
    if not chunk:
        return no_content()
    return ok({"watch": chunk, "info": {"per_page": per_page, "page": page, "count": len(chunk),
                                        "more_records": page * per_page < len(rows)}})


@bp.delete("/actions/watch")
def watch_delete(version: str):
    ids = ids_param("channel_ids", 100)
    entries = []
    with store() as st:
        for cid in ids:
            ch = st.channel(cid)
            if ch is None:
                entries.append(errors.not_subscribed(cid[:40]))
                continue
            events = render.channel_events_json(st, ch)
            st.unsubscribe(cid)
            entries.append(success("Successfully un-subscribed from actions-watch", {"events": events}))
    good = sum(1 for e in entries if e["status"] == "success")
    status = 200 if good == len(entries) else 400 if good == 0 else 207
    return ok({"watch": entries}, status)


# -- internal -----------------------------------------------------------------------------
@bp.get("/_internal/settings")
def internal_settings(version: str):
    """[internal, not a Zoho API] the org's Zoho-internal state a syncer needs: edition,
    Books/Invoice integration, Restrict Data Transfer to Zoho Apps, installed extensions."""
    with store() as st:
        return ok({"settings": render.internal_settings(st)})
