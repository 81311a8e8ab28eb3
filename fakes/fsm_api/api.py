"""HTTP surface of the fake Zoho FSM v1 (``/fsm/v1``): parse, call the store, render FSM's answers.

Auth, org resolution (the caller's FSM org), limits, faults and the journal happen before these
views run (``fakes.core.chain``). Three surfaces, kept apart:

- the Zoho API: ``/fsm/v1/{module}…`` records, search, related lists, ``__timeline``,
  ``actions/process_sync``, and ``/fsm/v1/settings/{modules,fields}`` metadata;
- [internal, not a Zoho API] ``/fsm/v1/_internal/…``: Zoho-internal state a syncer reads (and a
  little it writes) with its OAuth token — settings, currencies, imports, sync state, change
  notifications, sync failures into a record's timeline;
- lab control ``/_lab/fsm/…`` (no Zoho auth; the lab token when set): what an admin does in FSM's UI — PII access and flags,
  taxes, data imports.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from typing import Any

from flask import Blueprint, has_request_context, request

from fakes.core.bodies import read_json
from fakes.core.context import ctx, json_response, lab
from fakes.core.crm_style import (
    CONTENT_TYPE,
    batch_response,
    each_record,
    ids_param,
    no_content,
    ok,
    read_data,
    require_id,
    success,
)
from fakes.core.errors import Failure, Kind, ZohoError
from fakes.core.fields import field_json
from fakes.core.records import Cond, RecordError
from fakes.core.timefmt import parse_datetime

from . import errors
from . import metadata as md
from .store import FsmStore, notification_payloads, valid_record_id

# -- chain hooks (used by the Product in __init__) ----------------------------------------------


def scopes_for(req) -> list[str]:
    """Scopes that allow a call: ``ZohoFSM.modules.all`` or ``ZohoFSM.modules.<Module>.<OP>``
    (module scope names as the docs spell them, e.g. WorkOrders); settings for metadata and the
    internal surface."""
    p = md.SCOPE_PREFIX
    parts = req.path.strip("/").split("/")
    segment = parts[2] if len(parts) > 2 else ""
    op = md.SCOPE_OPERATION.get(req.method, "READ")
    if segment in ("settings", "_internal"):
        return [f"{p}.settings.all", f"{p}.settings.{op}", f"{p}.modules.all"]
    if segment == "users":  # Users APIs: ZohoFSM.users.READ
        return [f"{p}.users.all", f"{p}.users.{op}", f"{p}.modules.all"]
    module = md.ALIASES.get(segment, segment)
    name = md.SCOPE_NAMES.get(module, module)
    if "actions" in parts[3:] and req.method != "GET":  # transitions are listed with READ
        op = "UPDATE"
    return [f"{p}.modules.all", f"{p}.modules.{name}.all", f"{p}.modules.{name}.{op}"]


# -- helpers ----------------------------------------------------------------------------------


@contextmanager
def store(trigger_source: str = "api") -> Iterator[FsmStore]:
    """The caller's org store inside one transaction; change events announced after commit."""
    c = ctx()
    with lab().db.begin() as s:
        st = FsmStore(lab(), s, c.org, user_id=c.principal.user_id if c.principal else "", source=trigger_source)
        yield st
    st.publish()


def module_of(name: str) -> str:
    module = md.ALIASES.get(name, name)
    if module not in md.MODULES:
        raise errors.invalid_module()
    return module


def checked_id(record_id: str) -> str:
    if not valid_record_id(record_id):
        raise errors.invalid_id(record_id[:40])
    return record_id


def body_json(required: bool = True) -> Any:
    try:
        return read_json(required=required)
    except Failure as f:
        raise ctx().product.errors.render(f) from None


def wf_trigger_off() -> bool:
    """CRM's ``wf_trigger=false`` query parameter (deletes, and accepted on every write)."""
    return request.args.get("wf_trigger", "").lower() == "false"


def page_args() -> tuple[int, int]:
    def number(name: str, default: int) -> int:
        raw = request.args.get(name)
        if raw in (None, ""):
            return default
        try:
            n = int(raw)
        except ValueError:
            raise errors.invalid_param(name, "a positive whole number") from None
        if n < 1 or n > 10**7:
            raise errors.invalid_param(name, "a positive whole number")
        return n

    return number("page", 1), min(number("per_page", md.PER_PAGE_DEFAULT), md.PER_PAGE_MAX)


def info(page: int, per_page: int, count: int, more: bool) -> dict[str, Any]:
    return {"per_page": per_page, "count": count, "page": page, "more_records": more}


def fields_arg() -> list[str] | None:
    raw = request.args.get("fields")
    if not raw:
        return None
    return [f.strip() for f in raw.split(",") if f.strip()][:50]


def sort_args() -> tuple[str, str]:
    sort_by = request.args.get("sort_by") or "Created_Time"
    if sort_by not in ("id", "Created_Time", "Modified_Time"):
        raise errors.invalid_param("sort_by", "id, Created_Time or Modified_Time")
    order = request.args.get("sort_order") or "desc"
    if order not in ("asc", "desc"):
        raise errors.invalid_param("sort_order", "asc or desc")
    return sort_by, order


def modified_since(raw: str):
    """``If-Modified-Since``: ISO 8601 (as CRM documents) or an HTTP date."""
    since = parse_datetime(raw)
    if since is None:
        try:
            since = parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError, OverflowError):
            since = None
    if since is None or since.tzinfo is None:
        raise errors.invalid_param("If-Modified-Since", "an ISO 8601 datetime or an HTTP date")
    return since


def listing(st: FsmStore, rows, more: bool, page: int, per_page: int):
    if not rows:
        return no_content()
    fields = fields_arg()
    return ok({"data": [st.render_record(r, fields) for r in rows], "info": info(page, per_page, len(rows), more)})


def base_url() -> str:
    lb = lab()
    if lb.base_url:
        return lb.base_url.rstrip("/")
    return request.host_url.rstrip("/") if has_request_context() else ""


def _entries_status(entries: list[dict[str, Any]], key: str = "data", ok_status: int = 200):
    good = sum(1 for e in entries if e.get("status") == "success")
    status = ok_status if good == len(entries) else 400 if good == 0 else 207
    return json_response({key: entries}, status, content_type=CONTENT_TYPE)


# -- the Zoho API ---------------------------------------------------------------------------------


def make_blueprint(name: str) -> Blueprint:
    bp = Blueprint(name, __name__)

    # metadata -------------------------------------------------------------------------------
    @bp.get("/settings/modules")
    def modules_list():
        out = [{"api_name": m.api_name, "module_name": m.api_name, "singular_label": m.singular,
                "plural_label": m.plural, "id": m.module_id, "api_supported": True}
               for m in md.MODULES.values()]
        return ok({"modules": out})

    @bp.get("/settings/fields")
    def fields_list():
        """Field metadata with FSM's PII and EPHI flags (per org), CRM's field shape otherwise."""
        name = request.args.get("module")
        if not name:
            raise errors.required_param("module")
        module = module_of(name)
        with store() as st:
            out = []
            for i, f in enumerate(st.modules[module].fields.values()):
                pii, ephi = st.flags(module, f.api_name)
                item = field_json(f, module_api=module, index=i)
                item["private"] = {"restricted": True, "export": False, "type": "high" if ephi else "low"} \
                    if (pii or ephi) else None
                item.update({"pii": pii, "ephi": ephi, "searchable": f.searchable})
                out.append(item)
        return ok({"fields": out})

    # [internal, not a Zoho API] ------------------------------------------------------------------
    @bp.get("/_internal/settings")
    def internal_settings():
        """[internal] Zoho-internal state of the caller's FSM org: edition, PII API access,
        currencies, taxes, imports in progress, sync state, limits."""
        with store() as st:
            return ok({"settings": st.internal_state()})

    @bp.get("/_internal/users/me")
    def internal_current_user():
        """[internal] The caller (the token's user) in this org, with its profile's permissions:
        what FSM checks before a user manages the Billing integration (TW-26)."""
        c = ctx()
        with store() as st:
            return ok({"users": [st.user_json(c.principal.user_id if c.principal else "")]})

    @bp.get("/_internal/currencies")
    def internal_currencies():
        """[internal] The org's currencies with exchange rates (CRM's org-currency shape)."""
        with store() as st:
            return ok({"currencies": [st.currency_json(c) for c in st.currencies()]})

    @bp.post("/_internal/currencies")
    def internal_currencies_add():
        """[internal] Add currencies: ``{"currencies": [{"iso_code", "exchange_rate", "symbol"?}]}``
        (TW-10: the syncer creates a Books currency missing in FSM with rate 1)."""
        body = body_json()
        items = body.get("currencies") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items or len(items) > 20:
            raise errors.invalid_param("currencies", "a JSON array of 1 to 20 currencies")
        def add(i: int, item: Any) -> dict[str, Any]:
            c = st.create_currency(item, i)
            return success("currency added", {"id": c.id, "iso_code": c.code})

        with store() as st:
            entries = each_record(items, add)
        return _entries_status(entries, "currencies", 201)

    @bp.put("/_internal/currencies/<currency_id>")
    def internal_currency_update(currency_id: str):
        """[internal] Change a currency's exchange rate or symbol."""
        body = body_json()
        if isinstance(body, dict) and isinstance(body.get("currencies"), list) and body["currencies"]:
            body = body["currencies"][0]
        with store() as st:
            try:
                c = st.update_currency(currency_id, body)
            except RecordError as err:
                raise errors.from_record(err) from None
            return ok({"currencies": [success("currency updated", {"id": c.id})]})

    @bp.get("/_internal/imports")
    def internal_imports():
        """[internal] Data import jobs; ``import_in_progress`` is true while one runs (TW-01, TW-08)."""
        status = request.args.get("status")
        if status and status not in ("in_progress", "completed", "failed"):
            raise errors.invalid_param("status", "in_progress, completed or failed")
        with store() as st:
            jobs = st.imports(status)
            return ok({"imports": [st.import_json(j) for j in jobs],
                       "import_in_progress": any(j.status == "in_progress" for j in st.imports("in_progress"))})

    @bp.put("/_internal/taxes")
    def internal_taxes():
        """[internal] The org's tax settings, as FSM's own Invoice integration writes them when it
        pulls an existing org's taxes (OB-03): ``{"enabled": bool?, "taxes": [{tax_name,
        tax_percentage}]?}``."""
        body = body_json()
        try:
            return ok(apply_tax_settings(ctx().org, body if isinstance(body, dict) else {}))
        except ValueError as exc:
            raise errors.invalid_param("taxes", str(exc)) from None

    @bp.put("/_internal/sync-state")
    def internal_sync_state():
        """[internal] A syncer marks its sync running or done: ``{"sync_in_progress": bool,
        "sync_service": "finance"|"zohocrm"}``; no data import starts meanwhile (TW-08)."""
        from fakes.core.provision import update_org

        body = body_json()
        if not isinstance(body, dict) or not isinstance(body.get("sync_in_progress"), bool):
            raise errors.invalid_param("sync_in_progress", "true or false")
        service = body.get("sync_service", "finance")
        if service not in md.SYNC_SERVICES:
            raise errors.invalid_param("sync_service", f"one of {', '.join(md.SYNC_SERVICES)}")
        org_id = ctx().org.id
        if body["sync_in_progress"]:
            with store() as st:
                if st.import_in_progress():
                    raise ZohoError(409, {"code": "IMPORT_IN_PROGRESS", "details": {},
                                          "message": "a data import is in progress", "status": "error"})
        update_org(lab(), org_id, {"settings": {"sync_in_progress": body["sync_in_progress"], "sync_service": service}})
        return ok({"sync_in_progress": body["sync_in_progress"], "sync_service": service})

    @bp.post("/_internal/notifications")
    def internal_watch():
        """[internal] Subscribe to change notifications of Contacts, Companies, Service_And_Parts:
        CRM's ``actions/watch`` body ``{"watch": [{channel_id, events, notify_url, token,
        channel_expiry, return_affected_field_values}]}``."""
        body = body_json()
        items = body.get("watch") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items or len(items) > 20:
            raise errors.invalid_param("watch", "a JSON array of 1 to 20 subscriptions")
        entries = []
        with store() as st:
            for i, item in enumerate(items):
                try:
                    ch = st.subscribe(item, i)
                except RecordError as err:
                    entries.append(err.entry())
                    continue
                expiry = st.dt(ch.expiry)
                entries.append(success("Successfully subscribed for actions-watch of the given module", {"events": [
                    {"channel_expiry": expiry, "resource_uri": f"{base_url()}/fsm/v1/{m}",
                     "resource_id": md.MODULES[m].module_id, "resource_name": m, "channel_id": ch.channel_id}
                    for m in sorted({e.split('.')[0] for e in ch.events})]}))
        return _entries_status(entries, "watch", 201)

    @bp.get("/_internal/notifications")
    def internal_watch_list():
        """[internal] The org's notification channels."""
        with store() as st:
            rows = st.channels()
            if not rows:
                return no_content()
            return ok({"watch": [st.channel_json(ch, base_url()) for ch in rows]})

    @bp.delete("/_internal/notifications")
    def internal_watch_delete():
        """[internal] Unsubscribe: ``?channel_ids=1,2``."""
        ids = ids_param("channel_ids")
        with store() as st:
            entries = [success("Successfully unsubscribed from actions-watch", {"channel_id": cid})
                       if st.unsubscribe(cid) else
                       RecordError("INVALID_DATA", "the channel id given seems to be invalid", {"channel_id": cid}).entry()
                       for cid in ids]
        return _entries_status(entries, "watch")

    @bp.post("/_internal/<module>/<record_id>/timeline")
    def internal_timeline_add(module: str, record_id: str):
        """[internal] Write a sync failure into a record's timeline (CR-12): ``{"message",
        "service"?, "extension"?, "sync_id"?, "partner_id"?, "partner_module"?, "direction"?}``."""
        module = module_of(module)
        checked_id(record_id)
        body = body_json()
        with store() as st:
            entry = st.record_sync_failure(module, record_id, body)
            st.s.flush()
            out = st.timeline_json(entry)
        return ok({"__timeline": [out]}, 201)

    # records ---------------------------------------------------------------------------------
    @bp.get("/<module>")
    def records_list(module: str):
        module = module_of(module)
        page, per_page = page_args()
        sort_by, order = sort_args()
        since = None
        if request.headers.get("If-Modified-Since"):
            since = modified_since(request.headers["If-Modified-Since"])
        with store() as st:
            if module == "Territories":
                st.ensure_default_territory()
            rows, more = st.list_records(module, page=page, per_page=per_page, sort_by=sort_by, sort_order=order,
                                         modified_since=since)
            return listing(st, rows, more, page, per_page)

    @bp.post("/<module>")
    def records_create(module: str):
        module = module_of(module)
        data, trigger = read_data(ctx().product.errors)
        trigger = trigger and not wf_trigger_off()
        made: list[tuple[int, Any]] = []
        failed: dict[int, dict[str, Any]] = {}
        with store() as st:
            st.reserve_ids(2 * len(data))  # each record and its timeline entry
            for i, item in enumerate(data):
                try:
                    made.append((i, st.create_record(module, item, index=i, trigger=trigger)))
                except RecordError as err:
                    failed[i] = err.entry()
            st.s.flush()
            if not failed:
                created = [st.created_json(rec, i) for i, rec in made]
                answer = {"result": "success", "code": "SUCCESS", "data": {module: created}, "status": "success"}
                return ok(answer, 201)
            done = dict(made)
            entries = [failed[i] if i in failed else success("record added", st.created_json(done[i], i))
                       for i in range(len(data))]
        return batch_response(entries, 201)

    @bp.put("/<module>")
    def records_update_many(module: str):
        module = module_of(module)
        data, trigger = read_data(ctx().product.errors)
        trigger = trigger and not wf_trigger_off()
        with store() as st:
            st.reserve_ids(len(data))  # a timeline entry each
            entries = each_record(data, lambda i, item: success("record updated", st.audit(
                st.update_record(module, require_id(item, i), item, index=i, trigger=trigger))))
        return batch_response(entries)

    @bp.delete("/<module>")
    def records_delete_many(module: str):
        module = module_of(module)
        return _delete(module, ids_param())

    @bp.get("/<module>/search")
    def records_search(module: str):
        module = module_of(module)
        api_name, value = request.args.get("api_name"), request.args.get("value")
        if not api_name:
            raise errors.required_param("api_name")
        if value is None or value == "":
            raise errors.required_param("value")
        page, per_page = page_args()
        with store() as st:
            criteria = st.search_criteria(module, api_name, value, request.args.get("comparator") or None)
            try:
                rows, more = st.list_records(module, page=page, per_page=per_page, criteria=criteria)
            except RecordError as err:
                raise errors.from_record(err) from None
            return listing(st, rows, more, page, per_page)

    @bp.get("/<module>/<record_id>")
    def records_get(module: str, record_id: str):
        module = module_of(module)
        checked_id(record_id)
        with store() as st:
            rec = st.find_row(module, record_id)
            if rec is None:
                return no_content()
            return ok({"data": [st.render_record(rec, fields_arg())]})

    @bp.put("/<module>/<record_id>")
    def records_update(module: str, record_id: str):
        module = module_of(module)
        checked_id(record_id)
        data, trigger = read_data(ctx().product.errors)
        trigger = trigger and not wf_trigger_off()
        with store() as st:
            try:
                rec = st.update_record(module, record_id, data[0], trigger=trigger)
            except RecordError as err:
                entries = [err.entry()]
            else:
                entries = [success("record updated", st.audit(rec))]
        return batch_response(entries)

    @bp.delete("/<module>/<record_id>")
    def records_delete(module: str, record_id: str):
        module = module_of(module)
        return _delete(module, [checked_id(record_id)])

    @bp.get("/<module>/<record_id>/__timeline")
    def records_timeline(module: str, record_id: str):
        """The record's timeline (CRM's ``__timeline`` shape): adds, edits, links, deletes, and the
        sync failures syncers write through the internal surface."""
        module = module_of(module)
        checked_id(record_id)
        page, per_page = page_args()
        order = request.args.get("sort_order") or "desc"
        if order not in ("asc", "desc"):
            raise errors.invalid_param("sort_order", "asc or desc")
        with store() as st:
            rec = st.find(module, record_id, include_deleted=True)
            if rec is None:
                raise errors.invalid_related_id(record_id)
            rows, more = st.timeline(rec, page=page, per_page=per_page, sort_order=order,
                                     action=request.args.get("action") or None)
            if not rows:
                return no_content()
            return ok({"__timeline": [st.timeline_json(e) for e in rows],
                       "info": info(page, per_page, len(rows), more)})

    @bp.post("/<module>/<record_id>/actions/process_sync")
    def records_process_sync(module: str, record_id: str):
        """Link, unlink or push a record with an integrated service (finance = Books/Invoice,
        zohocrm = CRM). Sync writes run no workflow rules."""
        module = module_of(module)
        checked_id(record_id)
        body = body_json(required=False)
        with store("process_sync") as st:
            details = st.process_sync(module, record_id, request.args.get("sync_service"), body)
            message = {"link": "record linked", "unlink": "record unlinked", "push": "record pushed"}[
                details["sync_process"]]
        return ok({"data": [success(message, details)]})

    # users (Users APIs: List Users / Get an User) ----------------------------------------------
    @bp.get("/users")
    def users_list():
        page, per_page = page_args()
        with store() as st:
            users = st.users_json()
        chunk = users[(page - 1) * per_page: page * per_page]
        if not chunk:
            return no_content()
        return ok({"users": chunk, "info": info(page, per_page, len(chunk), page * per_page < len(users))})

    @bp.get("/users/<user_id>")
    def users_get(user_id: str):
        with store() as st:
            users = [u for u in st.users_json() if u["id"] == user_id]
        if not users:
            return no_content()
        return ok({"users": users})

    # appointment actions: reschedule, blueprint transitions -----------------------------------
    @bp.put("/Service_Appointments/<record_id>/actions/reschedule")
    def appointment_reschedule(record_id: str):
        checked_id(record_id)
        data, _trigger = read_data(ctx().product.errors)
        with store("reschedule") as st:
            try:
                rec = st.reschedule(record_id, data[0])
            except RecordError as err:
                entries = [err.entry()]
            else:
                entries = [success("record updated", st.audit(rec))]
        return batch_response(entries)

    @bp.get("/<module>/<record_id>/actions/blueprint/transitions")
    def blueprint_transitions(module: str, record_id: str):
        module = module_of(module)
        checked_id(record_id)
        with store() as st:
            try:
                return ok(st.transitions(module, record_id))
            except RecordError as err:
                raise errors.from_record(err) from None

    @bp.put("/<module>/<record_id>/actions/blueprint")
    def blueprint_run(module: str, record_id: str):
        module = module_of(module)
        checked_id(record_id)
        body = body_json()
        with store("blueprint") as st:
            try:
                rec = st.run_transition(module, record_id, body)
            except RecordError as err:
                raise errors.from_record(err) from None
            after: dict[str, Any] = {}
            if st.converted is not None:
                # a Request's "Convert to Estimate" names the Estimate it made [lab: where the answer says so]
                after = {"Status": (rec.doc or {}).get("Status"),
                         "Estimate": {"id": st.converted.id, "name": st.display_name("Estimates", st.converted)}}
        # Dispatch / Cancel a Service Appointment: the documented answer
        return ok({"code": "SUCCESS", "details": {}, "message": "Action executed successfully",
                   "actions": {"before": {}, "after": after}, "status": "success"})

    # attachments (Attachments APIs: List Attachments / Add Attachments) ----------------------------
    @bp.get("/<module>/<record_id>/Attachments")
    def attachments_list(module: str, record_id: str):
        module = module_of(module)
        checked_id(record_id)
        page, per_page = page_args()
        with store() as st:
            try:
                rows = st.attachments(module, record_id)
            except RecordError as err:
                raise errors.from_record(err) from None
        chunk = rows[(page - 1) * per_page: page * per_page]
        if not chunk:
            return no_content()
        return ok({"data": chunk, "info": info(page, per_page, len(chunk), page * per_page < len(rows))})

    @bp.post("/<module>/<record_id>/Attachments")
    def attachments_add(module: str, record_id: str):
        module = module_of(module)
        checked_id(record_id)
        data, _trigger = read_data(ctx().product.errors)
        with store() as st:
            if st.find(module, record_id) is None or module not in md.ATTACHMENT_MODULES:
                try:
                    st.attachments(module, record_id)
                except RecordError as err:
                    raise errors.from_record(err) from None
            entries = each_record(data, lambda i, item: success(
                "attachment uploaded successfully", st.attachment_audit(st.add_attachment(module, record_id, item, i))))
        return batch_response(entries)

    @bp.get("/<module>/<record_id>/<related>")
    def records_related(module: str, record_id: str, related: str):
        """Related list: e.g. a Company's Contacts, a Contact's Work_Orders."""
        module = module_of(module)
        checked_id(record_id)
        page, per_page = page_args()
        with store() as st:
            field = st.related(module, record_id, related)
            if field is None:
                raise Failure(Kind.URL_NOT_FOUND)
            if st.find(module, record_id) is None:
                raise errors.invalid_related_id(record_id)
            rows, more = st.list_records(related, page=page, per_page=per_page,
                                         criteria=Cond(field, "equals", record_id))
            return listing(st, rows, more, page, per_page)

    return bp


def _delete(module: str, ids: list[str]):
    """Delete answer: per-record ``data[]`` entries and ``restricted_to_delete.invalid_records``
    naming what was not deleted and why. FSM answers 200 even when it refused (observed); an
    unknown id alone is a 400 INVALID_DATA like every write."""
    trigger = not wf_trigger_off()
    entries, refused = [], {}
    with store() as st:
        for rid in ids:
            try:
                st.delete_record(module, rid, trigger=trigger)
            except RecordError as err:
                entries.append(err.entry())
                if err.code != "INVALID_DATA":
                    refused[rid] = {"code": err.code, "message": err.message, **err.details}
                continue
            entries.append(success("record deleted", {"id": rid}))
    unknown = sum(1 for e in entries if e.get("code") == "INVALID_DATA")
    status = 400 if unknown == len(entries) else 200
    return json_response({"data": entries, "restricted_to_delete": {"invalid_records": refused}}, status,
                         content_type=CONTENT_TYPE)


# -- change notifications ---------------------------------------------------------------------------


def make_notifier(lb):
    """The lab subscriber that turns FSM change events into notification callbacks."""

    def on_change(event) -> None:
        if getattr(event, "product", None) != "fsm":
            return
        url = lb.base_url.rstrip("/") if lb.base_url else (request.host_url.rstrip("/") if has_request_context() else "")
        for notify_url, body in notification_payloads(lb, event, url):
            lb.notifier.send(notify_url, body, kind="fsm.notification", org_id=event.org_id)

    return on_change


# -- control surface: /_lab/fsm/... ------------------------------------------------------------------


def make_lab_blueprint() -> Blueprint:
    """What an FSM admin does in the UI, for tests and scenarios (no Zoho auth, never a Zoho path)."""
    from fakes.core.errors import lab_error
    from fakes.core.lab_api import lab_body, lab_org
    from fakes.core.provision import update_org

    bp = Blueprint("lab_fsm", __name__)

    @contextmanager
    def _store(org_id: str) -> Iterator[FsmStore]:
        org = lab_org(org_id, "fsm")
        with lab().db.begin() as s:
            st = FsmStore(lab(), s, org, user_id=org.owner_id, source="import")
            yield st
        st.publish()

    @bp.get("/orgs/<org_id>/state")
    def state(org_id: str):
        """The org's Zoho-internal state (as GET /fsm/v1/_internal/settings shows it)."""
        with _store(org_id) as st:
            return json_response(st.internal_state())

    @bp.route("/orgs/<org_id>/pii-access", methods=["PUT", "PATCH"])
    def pii_access(org_id: str):
        """Switch "PII data access using APIs": {"enabled": bool}."""
        lab_org(org_id, "fsm")
        data = lab_body()
        if not isinstance(data.get("enabled"), bool):
            raise lab_error(400, "enabled must be true or false")
        update_org(lab(), org_id, {"settings": {"pii_api_access": data["enabled"]}})
        return json_response({"pii_api_access": data["enabled"]})

    @bp.get("/orgs/<org_id>/fields/<module>")
    def field_flags(org_id: str, module: str):
        """PII/EPHI flags of a module's fields in this org."""
        if module not in md.MODULES:
            raise lab_error(404, f"no module {module}")
        with _store(org_id) as st:
            out = {name: dict(zip(("pii", "ephi"), st.flags(module, name), strict=True))
                   for name in md.MODULES[module].fields}
        return json_response({"module": module, "fields": out})

    @bp.route("/orgs/<org_id>/fields/<module>/<field>", methods=["PUT", "PATCH"])
    def field_flags_set(org_id: str, module: str, field: str):
        """Mark a field PII and/or EPHI: {"pii": bool?, "ephi": bool?}."""
        org = lab_org(org_id, "fsm")
        if module not in md.MODULES or field not in md.MODULES[module].fields:
            raise lab_error(404, f"no field {module}.{field}")
        data = lab_body()
        unknown = set(data) - {"pii", "ephi"}
        if unknown or not data or any(not isinstance(v, bool) for v in data.values()):
            raise lab_error(400, "the body is {\"pii\": true|false, \"ephi\": true|false}")
        flags = {m: dict(v) for m, v in ((org.settings or {}).get("field_flags") or {}).items()}
        current = dict(flags.get(module, {}).get(field) or {})
        current.update(data)
        flags.setdefault(module, {})[field] = current
        update_org(lab(), org_id, {"settings": {"field_flags": flags}})
        with _store(org_id) as st:
            pii, ephi = st.flags(module, field)
        return json_response({"module": module, "field": field, "pii": pii, "ephi": ephi})

    @bp.route("/orgs/<org_id>/users/<user_id>/profile", methods=["PUT", "PATCH"])
    def user_profile(org_id: str, user_id: str):
        """Give a user a profile: {"profile": "Dispatcher"} (a standard or a custom profile)."""
        org = lab_org(org_id, "fsm")
        data = lab_body()
        with _store(org_id) as st:
            names = st.profiles()
        if not isinstance(data.get("profile"), str) or data["profile"] not in names:
            raise lab_error(400, f"profile must be one of {', '.join(names)}")
        profiles = {**((org.settings or {}).get("user_profiles") or {}), user_id: data["profile"]}
        update_org(lab(), org_id, {"settings": {"user_profiles": profiles}})
        with _store(org_id) as st:
            return json_response(st.user_json(user_id))

    @bp.route("/orgs/<org_id>/profiles/<name>", methods=["PUT", "PATCH"])
    def custom_profile(org_id: str, name: str):
        """Create or change a custom profile: {"permissions": ["Billing Integration", …]}. The
        standard profiles cannot be changed (as in FSM)."""
        org = lab_org(org_id, "fsm")
        if name in md.STANDARD_PROFILES:
            raise lab_error(400, f"{name} is a standard profile: its permissions cannot be changed")
        data = lab_body()
        perms = data.get("permissions")
        if not isinstance(perms, list) or any(p not in md.PERMISSIONS for p in perms) or len(name) > 50:
            raise lab_error(400, f"permissions must be a list of: {', '.join(md.PERMISSIONS)}")
        custom = {**((org.settings or {}).get("custom_profiles") or {}), name: sorted(set(perms))}
        update_org(lab(), org_id, {"settings": {"custom_profiles": custom}})
        return json_response({"name": name, "standard": False, "permissions": custom[name]})

    @bp.route("/orgs/<org_id>/taxes", methods=["PUT", "PATCH"])
    def taxes(org_id: str):
        """Tax settings: {"enabled": bool?, "taxes": [{"tax_name", "tax_percentage"}]?}."""
        try:
            return json_response(apply_tax_settings(lab_org(org_id, "fsm"), lab_body()))
        except ValueError as exc:
            raise lab_error(400, str(exc)) from None

    @bp.get("/orgs/<org_id>/imports")
    def imports_list(org_id: str):
        """The org's data import jobs."""
        with _store(org_id) as st:
            return json_response({"imports": [st.import_json(j) for j in st.imports()],
                                  "import_in_progress": st.import_in_progress()})

    @bp.post("/orgs/<org_id>/imports")
    def imports_start(org_id: str):
        """Start a data import: {"module", "file_name"?, "records"?: [...]}. The job stays in
        progress until finished; its records fire no workflow rules. Refused (409) while another
        import or a sync is in progress."""
        org = lab_org(org_id, "fsm")
        data = lab_body()
        module = data.get("module")
        if not isinstance(module, str) or module not in md.MODULES:
            raise lab_error(400, f"module must be one of {', '.join(md.MODULES)}")
        records = data.get("records") or []
        if not isinstance(records, list) or len(records) > 10_000:
            raise lab_error(400, "records must be a list of at most 10000 records")
        file_name = data.get("file_name") or f"{module}.csv"
        if not isinstance(file_name, str) or len(file_name) > 200:
            raise lab_error(400, "file_name must be a string")
        if (org.settings or {}).get("sync_in_progress"):
            raise lab_error(409, "a sync is in progress: no data import can start (TW-08)")
        with _store(org_id) as st:
            if st.import_in_progress():
                raise lab_error(409, "another data import is in progress")
            job = st.start_import(module, file_name)
            st.import_records(job, records)
            st.s.flush()
            answer = st.import_json(job)
        return json_response(answer, 201)

    @bp.get("/orgs/<org_id>/imports/<job_id>")
    def imports_get(org_id: str, job_id: str):
        """One import job."""
        with _store(org_id) as st:
            job = st.import_job(job_id)
            if job is None:
                raise lab_error(404, f"no import {job_id}")
            return json_response(st.import_json(job))

    @bp.post("/orgs/<org_id>/imports/<job_id>/records")
    def imports_add(org_id: str, job_id: str):
        """Import more records into a running job: {"records": [...]}."""
        data = lab_body()
        records = data.get("records")
        if not isinstance(records, list) or len(records) > 10_000:
            raise lab_error(400, "records must be a list of at most 10000 records")
        with _store(org_id) as st:
            job = st.import_job(job_id)
            if job is None:
                raise lab_error(404, f"no import {job_id}")
            if job.status != "in_progress":
                raise lab_error(409, f"import {job_id} is {job.status}")
            st.import_records(job, records)
            st.s.flush()
            return json_response(st.import_json(job))

    @bp.post("/orgs/<org_id>/imports/<job_id>/finish")
    def imports_finish(org_id: str, job_id: str):
        """Finish an import: {"status": "completed"|"failed"} (default completed)."""
        try:
            data = read_json(required=False) or {}
        except Failure:
            raise lab_error(400, "the body must be well-formed JSON") from None
        status = data.get("status", "completed") if isinstance(data, dict) else None
        if status not in ("completed", "failed"):
            raise lab_error(400, "status must be completed or failed")
        with _store(org_id) as st:
            job = st.import_job(job_id)
            if job is None:
                raise lab_error(404, f"no import {job_id}")
            if job.status != "in_progress":
                raise lab_error(409, f"import {job_id} is already {job.status}")
            st.finish_import(job, status)
            st.s.flush()
            return json_response(st.import_json(job))

    return bp


def apply_tax_settings(org, data: dict[str, Any]) -> dict[str, Any]:
    """Validate and store an org's tax settings; ValueError says what is wrong."""
    from fakes.core.provision import update_org

    change: dict[str, Any] = {}
    if "enabled" in data:
        if not isinstance(data["enabled"], bool):
            raise ValueError("enabled must be true or false")
        change["tax_enabled"] = data["enabled"]
    if "taxes" in data:
        rows = data["taxes"]
        if not isinstance(rows, list) or len(rows) > 100:
            raise ValueError("taxes must be a list of {tax_name, tax_percentage}")
        out = []
        with lab().db.begin() as s:
            for row in rows:
                if not isinstance(row, dict) or not isinstance(row.get("tax_name"), str) or not row["tax_name"] \
                        or isinstance(row.get("tax_percentage"), bool) \
                        or not isinstance(row.get("tax_percentage"), (int, float)) \
                        or not 0 <= row["tax_percentage"] <= 100:
                    raise ValueError("each tax needs tax_name and a tax_percentage from 0 to 100")
                out.append({"tax_id": lab().ids.record_id(s, "fsm", org.id), "tax_name": row["tax_name"][:100],
                            "tax_percentage": row["tax_percentage"]})
        change["settings"] = {"taxes": out}
    if not change:
        raise ValueError("give enabled and/or taxes")
    answer = update_org(lab(), org.id, change)
    return {"tax_enabled": answer["tax_enabled"], "taxes": (answer["settings"] or {}).get("taxes") or []}
