"""The control API, under ``/_lab`` (never under a Zoho path). Documented in ``openapi.py``.

Open by default: it is the lab's back door for tests, scenarios and the CLI, like LocalStack's
``/_localstack`` endpoints; bind the server to loopback (the default). A shared stack sets
``ZLAB_LAB_TOKEN`` and every call but ``/_lab/health`` and ``/_lab/openapi.json`` then presents it (the guard is in
``app.py``): tenants' secrets, tokens and the journal are the token holder's only.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, request, stream_with_context
from sqlmodel import select

from . import snapshots
from .bodies import read_json
from .context import json_response
from .errors import Failure, Kind, lab_error
from .faults import FaultSpecError
from .lab import Lab
from .lab_schemas import schema_error
from .product import Product
from .provision import add_org, create_tenant, org_json, org_options, update_org
from .tenants import PRODUCTS, GrantCode, OAuthClient, Org, User, orgs_of_user, user_by_email
from .timefmt import parse_datetime

SEED_CHUNK_MAX = 10_000


def _lab() -> Lab:
    return current_app.extensions["zlab"]


def lab_org(org_id: str, product: str) -> Org:
    """The org a product's control route names, or the control API's 404."""
    org = _lab().lookup_org(org_id)
    if org is None or org.product != product:
        raise lab_error(404, f"no {product} org {org_id}")
    return org


def check_integration_state(data: dict, *, keys: set[str], ids: tuple[str, ...],
                            sync_types: tuple[str, ...]) -> None:
    """The body of a product's internal "integrated with <other product>" state (CRM-Books on
    either side): only ``keys``; ``enabled``/``sync_in_progress`` booleans; ``sync_type`` one of
    ``sync_types`` or null; each of ``ids`` (the other org's id) a string or null. Else a 400."""
    if not isinstance(data, dict):
        raise lab_error(400, "the body must be a JSON object")
    unknown = set(data) - keys
    if unknown:
        raise lab_error(400, f"unknown key(s): {', '.join(sorted(unknown))}")
    for key in ("enabled", "sync_in_progress"):
        if key in data and not isinstance(data[key], bool):
            raise lab_error(400, f"{key} must be true or false")
    if data.get("sync_type") is not None and data["sync_type"] not in sync_types:
        raise lab_error(400, f"sync_type must be one of {', '.join(sync_types)} or null")
    for key in ids:
        if data.get(key) is not None and not isinstance(data[key], str):
            raise lab_error(400, f"{key} must be a string or null")


def lab_body(required: bool = True, schema: str | None = None) -> dict[str, Any]:
    """A control call's JSON object body, or the control API's 400; checked against the named
    schema of ``lab_schemas`` (the one ``/_lab/openapi.json`` shows) when one is given."""
    try:
        body = read_json(required=required)
    except Failure as f:
        if f.kind == Kind.INVALID_VALUE:
            raise lab_error(400, f"{f.detail.get('json_path')} {f.detail.get('reason')}") from None
        raise lab_error(400, "the body must be well-formed JSON") from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise lab_error(400, "the body must be a JSON object")
    problem = schema_error(schema, body) if schema else None
    if problem:
        raise lab_error(400, problem)
    return body


def make_lab_blueprint(products: list[Product]) -> Blueprint:
    bp = Blueprint("lab", __name__)

    @bp.get("/health")
    def health():
        lab = _lab()
        return json_response({"status": "ok", "time": lab.now().isoformat(), **lab.describe()})

    @bp.get("/openapi.json")
    def openapi():
        from .openapi import document

        return json_response(document(products))

    @bp.post("/reset")
    def reset():
        snapshots.reset(_lab(), keep_snapshots=not bool(lab_body(required=False, schema="RESET").get("snapshots")))
        return json_response({"status": "reset"})

    # -- tenants and orgs -----------------------------------------------------------------
    @bp.post("/tenants")
    def tenants_create():
        lab = _lab()
        answer = create_tenant(lab, lab_body(required=False, schema="TENANT"))
        answer["api_domain"] = api_domain(lab)
        answer["accounts_url"] = api_domain(lab)
        return json_response(answer, 201)

    @bp.get("/tenants")
    def tenants_list():
        lab = _lab()
        with lab.db.session() as s:
            users = s.exec(select(User).order_by(User.created_time, User.id)).all()
            out = [{"email": u.email, "user_id": u.id,
                    "orgs": {o.product: o.id for o in orgs_of_user(s, u.id)}} for u in users]
        return json_response({"tenants": out})

    @bp.get("/tenants/<email>")
    def tenant_get(email: str):
        lab = _lab()
        with lab.db.session() as s:
            user = user_by_email(s, email)
            if user is None:
                raise lab_error(404, f"no tenant {email}")
            orgs = orgs_of_user(s, user.id)
            clients = s.exec(select(OAuthClient).where(OAuthClient.user_id == user.id)).all()
            return json_response({
                "email": user.email, "user_id": user.id, "name": user.name,
                "orgs": [org_json(o) for o in orgs],
                "clients": [{"client_id": c.client_id, "client_secret": c.client_secret} for c in clients],
            })

    @bp.post("/orgs")
    def orgs_create():
        lab = _lab()
        body = lab_body(schema="ORG_CREATE")
        email, product = body.pop("email", None), body.pop("product", None)
        if product not in PRODUCTS or product not in lab.products:
            raise lab_error(400, f"product must be one of {', '.join(p for p in PRODUCTS if p in lab.products)}")
        with lab.db.begin() as s:
            user = user_by_email(s, email or "")
            if user is None:
                raise lab_error(404, f"no tenant {email}")
            org = add_org(lab, s, user, product, org_options(product, {}, body), body.get("name") or user.name)
            answer = org_json(org)
        lab.forget(tokens=True, orgs=True)
        return json_response(answer, 201)

    @bp.get("/orgs/<org_id>")
    def org_get(org_id: str):
        lab = _lab()
        with lab.db.session() as s:
            org = s.get(Org, org_id)
            if org is None:
                raise lab_error(404, f"no org {org_id}")
            return json_response(org_json(org))

    @bp.route("/orgs/<org_id>", methods=["PATCH", "PUT"])
    def org_update(org_id: str):
        return json_response(update_org(_lab(), org_id, lab_body(schema="ORG_OPTIONS")))

    # -- clock --------------------------------------------------------------------------------
    @bp.get("/clock")
    def clock_get():
        return json_response(_clock_json(_lab()))

    @bp.post("/clock")
    def clock_post():
        """One endpoint, an action: freeze, unfreeze, set, advance, reset."""
        body = lab_body(schema="CLOCK")
        return _apply_clock(_lab(), body.get("action"), body)

    for _action in CLOCK_ACTIONS:
        bp.add_url_rule(f"/clock/{_action}", f"clock_{_action}", _clock_shortcut(_action), methods=["POST"])

    # -- faults -------------------------------------------------------------------------------
    @bp.get("/faults")
    def faults_list():
        lab = _lab()
        return json_response({"faults": [{**r.to_json(), **lab.faults.stats(r)} for r in lab.faults.rules]})

    @bp.post("/faults")
    def faults_add():
        lab = _lab()
        try:
            rule = lab.faults.add(lab_body(), lab.now())  # FaultSpecError: checks every key
        except FaultSpecError as exc:
            raise lab_error(400, str(exc)) from None
        return json_response(rule.to_json(), 201)

    @bp.delete("/faults")
    def faults_clear():
        _lab().faults.clear()
        return json_response({"status": "cleared"})

    @bp.delete("/faults/<int:rule_id>")
    def faults_delete(rule_id: int):
        # ids are 32-bit integers in the database: a larger one (PostgreSQL: out of range) is no rule
        if rule_id > 2**31 - 1 or not _lab().faults.remove(rule_id):
            raise lab_error(404, f"no fault rule {rule_id}")
        return json_response({"status": "deleted", "id": rule_id})

    # -- journal ------------------------------------------------------------------------------
    @bp.get("/journal")
    def journal():
        lab = _lab()
        args = request.args
        org_ids = user_id = None
        if args.get("email"):
            with lab.db.session() as s:
                user = user_by_email(s, args["email"])
                if user is None:
                    raise lab_error(404, f"no tenant {args['email']}")
                user_id = user.id
                org_ids = {o.id for o in orgs_of_user(s, user.id)}
        try:
            limit = min(5000, max(1, int(args.get("limit", 100))))
            since = int(args.get("since_id", 0))
            status = int(args["status"]) if args.get("status") else None
        except ValueError:
            raise lab_error(400, "limit, since_id and status must be whole numbers") from None
        entries = lab.journal.query(org_id=args.get("org"), org_ids=org_ids, user_id=user_id,
                                    product=args.get("product"), since_id=since, limit=limit, status=status)
        return json_response({"entries": [e.to_json() for e in entries]})

    @bp.delete("/journal")
    def journal_clear():
        _lab().journal.clear()
        return json_response({"status": "cleared"})

    # -- snapshots ----------------------------------------------------------------------------
    @bp.get("/snapshots")
    def snapshots_list():
        return json_response({"snapshots": snapshots.listing(_lab())})

    @bp.post("/snapshots")
    def snapshots_take():
        name = lab_body(schema="SNAPSHOT").get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 120:
            raise lab_error(400, "name must be a non-empty string of at most 120 characters")
        if wants_progress():
            return progress_stream(snapshots.take_steps(_lab(), name), 201)
        return json_response(snapshots.take(_lab(), name), 201)

    @bp.post("/snapshots/<name>/restore")
    def snapshots_restore(name: str):
        if wants_progress():
            steps = snapshots.restore_steps(_lab(), name)
            first = next(steps, None)  # the 404 must come before the stream starts
            if first is None:
                raise lab_error(404, f"no snapshot {name}")
            return progress_stream(itertools.chain([first], steps), 200)
        answer = snapshots.restore(_lab(), name)
        if answer is None:
            raise lab_error(404, f"no snapshot {name}")
        return json_response(answer)

    @bp.delete("/snapshots/<name>")
    def snapshots_drop(name: str):
        if not snapshots.drop(_lab(), name):
            raise lab_error(404, f"no snapshot {name}")
        return json_response({"status": "deleted", "name": name})

    # -- seeding ------------------------------------------------------------------------------
    @bp.get("/seed")
    def seed_modules():
        lab = _lab()
        return json_response({"modules": {n: sorted(p.seeders) for n, p in lab.products.items() if p.seeders}})

    @bp.post("/seed")
    def seed():
        from .seeding import seed_org

        lab = _lab()
        body = lab_body(schema="SEED")
        return json_response(seed_org(lab, body), 201)

    # -- workflow rules of record-style orgs (CRM, FSM) ----------------------------------------
    @bp.post("/workflows")
    def workflows_add():
        from .workflows import WorkflowRule, validate_rule

        lab = _lab()
        body = lab_body(schema="WORKFLOW")
        org = lab.lookup_org(str(body.get("org_id", "")))
        product = lab.products.get(org.product) if org else None
        if org is None or product is None or not product.modules:
            raise lab_error(404, "org_id must name an org of a product with workflow rules (crm, fsm)")
        reason = validate_rule(body, product.modules)
        if reason:
            raise lab_error(400, reason)
        with lab.db.begin() as s:
            rule = WorkflowRule(id=lab.ids.record_id(s, product.family, org.id), product=org.product, org_id=org.id,
                                module=body["module"], name=str(body.get("name") or ""),
                                event=body.get("event", "create_or_edit"), condition=body.get("condition") or {},
                                action=body["action"], created_time=lab.now())
            s.add(rule)
            answer = rule.model_dump(mode="json")
        return json_response(answer, 201)

    @bp.get("/workflows")
    def workflows_list():
        from sqlalchemy import func

        from .workflows import WorkflowRule, WorkflowRun

        lab = _lab()
        org_id = request.args.get("org_id", "")
        with lab.db.session() as s:
            rules = s.exec(select(WorkflowRule).where(WorkflowRule.org_id == org_id)).all()
            counts = dict(s.exec(select(WorkflowRun.rule_id, func.count()).where(WorkflowRun.org_id == org_id)
                                 .group_by(WorkflowRun.rule_id)).all())
            out = [{**r.model_dump(mode="json"), "runs": counts.get(r.id, 0)} for r in rules]
        return json_response({"workflows": out})

    @bp.delete("/workflows/<rule_id>")
    def workflows_delete(rule_id: str):
        from .workflows import WorkflowRule

        with _lab().db.begin() as s:
            rule = s.get(WorkflowRule, rule_id)
            if rule is None:
                raise lab_error(404, f"no workflow rule {rule_id}")
            s.delete(rule)
        return json_response({"status": "deleted", "id": rule_id})

    @bp.get("/workflows/runs")
    def workflow_runs():
        from .workflows import WorkflowRun

        lab = _lab()
        with lab.db.session() as s:
            q = select(WorkflowRun).where(WorkflowRun.org_id == request.args.get("org_id", ""))
            for key in ("record_id", "rule_id", "module"):
                if request.args.get(key):
                    q = q.where(getattr(WorkflowRun, key) == request.args[key])
            runs = [r.model_dump(mode="json") for r in s.exec(q.order_by(WorkflowRun.time, WorkflowRun.id)).all()]
        return json_response({"runs": runs})

    # -- outgoing calls (notifications, webhooks) ---------------------------------------------
    @bp.get("/deliveries")
    def deliveries():
        lab = _lab()
        try:
            limit = min(2000, max(1, int(request.args.get("limit", 100))))
        except ValueError:
            raise lab_error(400, "limit must be a whole number") from None
        items = lab.notifier.log(org_id=request.args.get("org_id"), kind=request.args.get("kind"), limit=limit)
        return json_response({"deliveries": [d.to_json() for d in items]})

    # -- OAuth helpers (the API console's "self client: generate code") -----------------------
    @bp.post("/oauth/codes")
    def oauth_code():
        lab = _lab()
        body = lab_body(schema="OAUTH_CODE")
        scopes = body.get("scopes") or body.get("scope") or []
        if isinstance(scopes, str):
            scopes = [x for x in scopes.replace(" ", ",").split(",") if x]
        if not isinstance(scopes, list) or not scopes:
            raise lab_error(400, "scopes must be a non-empty list (or a comma-separated string)")
        minutes = body.get("minutes", 3)
        if minutes not in (3, 5, 7, 10):  # the API console offers exactly these durations
            raise lab_error(400, "minutes must be 3, 5, 7 or 10")
        with lab.db.begin() as s:
            client = s.get(OAuthClient, body.get("client_id") or "")
            if client is None:
                raise lab_error(404, "no such client_id")
            code = GrantCode(code=f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}",
                             client_id=client.client_id, user_id=client.user_id, scopes=scopes,
                             redirect_uri=body.get("redirect_uri") or "",
                             expires_at=lab.now() + timedelta(minutes=minutes))
            s.add(code)
            answer = {"code": code.code, "expires_in": minutes * 60, "scope": ",".join(scopes)}
        return json_response(answer, 201)

    @bp.get("/stack")
    def stack():
        """Where the rest of the stack is, so one URL is enough (``zlab scenarios run --target``)."""
        return json_response(stack_json(_lab()))

    return bp


# What GET /_lab/stack answers: set by `zlab up` (app.config["ZLAB_STACK"]), else from the fakes'
# environment (docker-compose.yml sets these for the host's view of the stack).
STACK_ENV = {"syncer_url": "ZLAB_SYNCER_URL", "support_token": "ZLAB_SUPPORT_TOKEN", "mail_url": "ZLAB_MAIL_URL"}


def stack_json(lab: Lab) -> dict[str, Any]:
    known = current_app.config.get("ZLAB_STACK") or {}
    out: dict[str, Any] = {"fakes_url": api_domain(lab)}
    for key, env in STACK_ENV.items():
        value = known.get(key) or os.environ.get(env) or ""
        out[key] = (value.rstrip("/") if key.endswith("_url") else value) or None
    out["dashboard_url"] = f"{out['syncer_url']}/dashboard" if out["syncer_url"] else None
    return out


def wants_progress() -> bool:
    """``?progress=1`` or ``Accept: application/x-ndjson``: stream progress events, one JSON a line."""
    return request.args.get("progress", "").lower() in ("1", "true", "yes") or \
        "application/x-ndjson" in request.headers.get("Accept", "")


def progress_stream(events: Iterator[dict[str, Any]], status: int) -> Response:
    """NDJSON lines as the work goes (``start``, ``progress``…, ``done``); a failure half-way is
    an ``error`` line, since the status line has gone out already."""
    def lines() -> Iterator[str]:
        try:
            for event in events:
                yield json.dumps(event) + "\n"
        except Exception as exc:  # noqa: BLE001 - reported in the stream, and logged
            current_app.logger.exception("snapshot stream failed")
            yield json.dumps({"event": "error", "error": f"{type(exc).__name__}: {exc}"}) + "\n"

    return Response(stream_with_context(lines()), status=status, mimetype="application/x-ndjson",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def api_domain(lab: Lab) -> str:
    """The base URL clients should call: configured, or the one this request came in on."""
    return (lab.base_url or request.host_url).rstrip("/")


def _when(text: Any):
    dt = parse_datetime(text) if isinstance(text, str) else None
    if dt is None:
        raise lab_error(400, "'at' must be an ISO 8601 datetime such as 2026-01-31T09:00:00Z")
    return dt


def _clock_json(lab: Lab) -> dict[str, Any]:
    now = lab.now()
    return {"now": now.isoformat(), "epoch": now.timestamp(), **lab.clock.state.to_json()}


CLOCK_ACTIONS = ("freeze", "unfreeze", "set", "advance", "reset")


CLOCK_MIN = datetime(1970, 1, 2, tzinfo=UTC)  # the clock must stay where datetime arithmetic
CLOCK_MAX = datetime(9000, 1, 1, tzinfo=UTC)  # (windows, expiry, 100-year advances) cannot overflow


def _apply_clock(lab: Lab, action: Any, body: dict[str, Any]):
    before = lab.clock.state
    try:
        _move_clock(lab, action, body)
        in_range = CLOCK_MIN <= lab.clock.now() <= CLOCK_MAX
    except OverflowError:
        in_range = False
    if not in_range:
        lab.clock.load(before)
        raise lab_error(400, f"the lab clock must stay between {CLOCK_MIN.date()} and {CLOCK_MAX.date()}")
    lab.save_clock()
    return json_response(_clock_json(lab))


def _move_clock(lab: Lab, action: Any, body: dict[str, Any]) -> None:
    if action == "freeze":
        lab.clock.freeze(_when(body["at"]) if body.get("at") else None)
    elif action == "unfreeze":
        lab.clock.unfreeze()
    elif action == "set":
        lab.clock.set(_when(body.get("at")))
    elif action == "advance":
        secs = body.get("seconds", request.args.get("seconds"))
        try:
            if isinstance(secs, bool):
                raise ValueError(secs)
            secs = float(secs)
            if not math.isfinite(secs) or abs(secs) > 100 * 365 * 86400:
                raise ValueError(secs)
        except (TypeError, ValueError):
            raise lab_error(400, "advance needs 'seconds' (a number within 100 years; negative goes back)") from None
        lab.clock.advance(secs)
    elif action == "reset":
        lab.clock.reset()
    else:
        raise lab_error(400, f"action must be one of {', '.join(CLOCK_ACTIONS)}")


def _clock_shortcut(action: str):
    def view():
        return _apply_clock(_lab(), action, lab_body(required=False, schema="CLOCK_SHORTCUT"))

    view.__name__ = f"clock_{action}"
    return view
