"""The request handler chain, written once and applied to every product (LocalStack style).

Request side, in order: request id -> product -> input limits -> auth -> org -> faults -> rate limits.
Response side: limit headers (limit_headers.py), request id header, journal. Release of held concurrency slots
runs at teardown so it happens even when a handler blew up.

Each handler is a small object with ``on_request(lab, ctx)`` (raise ``Failure``/``ZohoError``
to answer early) and/or ``on_response(lab, ctx, response)``. Product-specific pieces (which
scope, which org, which limits, how an error looks) come from the ``Product``.
"""

from __future__ import annotations

import random
import re
import socket
import time
from datetime import UTC

from flask import Response, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from .bodies import MAX_BODY_BYTES, MAX_URL_BYTES, bad_text
from .context import Principal, RequestContext
from .errors import Failure, Kind, ZohoError
from .journal import excerpt
from .lab import Lab
from .limit_headers import AdvertiseLimits
from .tenants import token_expired

AUTH_SCHEME = "zoho-oauthtoken"


class DroppedConnection(Exception):
    """Raised after a fault closed the client's socket: there is nobody to answer."""


class Handler:
    def on_request(self, lab: Lab, ctx: RequestContext) -> None:  # noqa: B027 - optional hook
        pass

    def on_response(self, lab: Lab, ctx: RequestContext, response: Response) -> Response:
        return response


class ResolveProduct(Handler):
    """Which product a path belongs to: set from the blueprint the URL matched."""

    def on_request(self, lab, ctx):
        bp = request.blueprint or ""
        name = bp.split(".", 1)[0].split("@", 1)[0]
        ctx.product = lab.products.get(name)


class CheckInput(Handler):
    """Refuse what would crash a handler instead of getting an answer (README "Input limits"):
    a URL or body over the limits, a NUL where PostgreSQL would store or compare it. Then read
    (and keep) a product call's body, once: JSON bodies get their own checks in ``parse_json``."""

    def on_request(self, lab, ctx):
        ctx.body_refused = True  # until read below: a refused call's body is never read, not even by the journal
        refuse_large_body()
        refuse_long_url()
        refuse_nul_in_request()
        if ctx.product is not None and request.method not in ("GET", "HEAD", "OPTIONS"):
            # keep the raw body: once a product has parsed a form body (Accounts' token
            # parameters, Books' JSONString) the stream is spent and the journal saw nothing
            data = read_body_once()
            ctx.body_refused = False
            if request.mimetype in FORM_TYPES and (b"%00" in data or b"\x00" in data):
                refuse_bad_text(request.form.items(), "body")  # form fields only, never file parts
        ctx.body_refused = False


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def refuse_long_url() -> None:
    size = len(request.environ.get("PATH_INFO", "")) + len(request.environ.get("QUERY_STRING", ""))
    if size > MAX_URL_BYTES:
        raise Failure(Kind.URL_TOO_LONG, {"limit": MAX_URL_BYTES})


def refuse_large_body() -> None:
    """413 from the declared length, before a byte is read (a chunked body: ``read_body_once``)."""
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise Failure(Kind.BODY_TOO_LARGE, {"limit": MAX_BODY_BYTES})


def read_body_once() -> bytes:
    try:
        return request.get_data(cache=True)
    except RequestEntityTooLarge:  # a chunked body that went past the limit while read
        raise Failure(Kind.BODY_TOO_LARGE, {"limit": MAX_BODY_BYTES}) from None


def refuse_nul_in_request() -> None:
    """A NUL in the path, the query or a header: cheap byte searches, parsing only on a hit."""
    if "\x00" in request.path:
        raise Failure(Kind.INVALID_VALUE, {"in": "path", "param": "id", "reason": "contains a NUL character"})
    qs = request.query_string
    if b"%00" in qs or b"\x00" in qs:
        refuse_bad_text(request.args.items(multi=True), "query")
    env = request.environ
    if not any("\x00" in v for k, v in env.items() if isinstance(v, str) and k[:5] in ("HTTP_", "CONTE")):
        return  # the usual case: the headers' raw values searched once, no Headers object built
    for name, value in request.headers.items():
        if "\x00" in value:
            if name.lower() == "authorization":  # a token that cannot exist: the product's 401
                raise Failure(Kind.AUTH_INVALID)
            raise Failure(Kind.INVALID_VALUE, {"in": "header", "param": name, "reason": "contains a NUL character"})


def refuse_bad_text(pairs, where: str) -> None:
    for name, value in pairs:
        reason = bad_text(name) or bad_text(value)
        if reason:
            raise Failure(Kind.INVALID_VALUE, {"in": where, "param": name, "reason": reason})


class Authenticate(Handler):
    def on_request(self, lab, ctx):
        product = ctx.product
        if product is None or not product.requires_auth:
            return
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise Failure(Kind.AUTH_MISSING)
        if scheme.lower() != AUTH_SCHEME or not token.strip():
            raise Failure(Kind.AUTH_INVALID, {"reason": "use 'Authorization: Zoho-oauthtoken <token>'"})
        cached = lab.lookup_token(token.strip())
        if cached is None:
            raise Failure(Kind.AUTH_INVALID)
        if token_expired(cached.token, lab.now()):
            raise Failure(Kind.AUTH_EXPIRED)
        at = cached.token
        if product.scopes_for is not None and not any(w in cached.scopes_lower for w in product.wanted_scopes(request)):
            raise Failure(Kind.SCOPE_MISMATCH)
        ctx.principal = Principal(at.user_id, at.client_id, tuple(at.scopes), cached.org_ids, cached.email,
                                  cached.memo)


class ResolveOrg(Handler):
    def on_request(self, lab, ctx):
        product = ctx.product
        if product is None or product.org_for is None or ctx.principal is None:
            return
        org_id = product.org_for(ctx)
        if org_id is None:
            return
        org = lab.lookup_org(org_id)
        if org is None or org.product != product.name:
            raise Failure(Kind.ORG_INVALID, {"org_id": org_id})
        if org.id not in ctx.principal.org_ids:
            raise Failure(Kind.ORG_FORBIDDEN, {"org_id": org_id})
        if not org.active or org.trial_expired:  # a lapsed trial cannot use the API either
            raise Failure(Kind.ORG_INACTIVE, {"org_id": org_id})
        ctx.org = org


class InjectFaults(Handler):
    def on_request(self, lab, ctx):
        if ctx.product is None:
            return
        rule = lab.faults.pick(ctx.product.name, request.method, request.path, ctx.org_id)
        if rule is None:
            return
        action = rule.action
        kind = action["type"]
        ctx.fault = f"rule {rule.id}: {kind}"
        if kind == "delay":
            time.sleep(float(action.get("seconds", 0)))
            return  # then answer normally: a slow call (or a client time-out)
        if kind == "drop":
            _drop_connection()
            raise DroppedConnection()
        if kind == "rate_limit":
            raise Failure(Kind(action.get("kind", Kind.RATE_MINUTE.value)),
                          {"retry_after": int(action.get("retry_after", 60)), "injected": True})
        # kind == "error": the given body, or the product's own error for that status
        status = int(action.get("status", 500))
        headers = {str(k): str(v) for k, v in (action.get("headers") or {}).items()}
        if "body" in action:
            raise ZohoError(status, action["body"], headers)
        failure = ctx.product.errors.render(Failure(Kind.INTERNAL, {"injected": True}))
        raise ZohoError(status, failure.body, {**failure.headers, **headers})


class RateLimit(Handler):
    def on_request(self, lab, ctx):
        product, org = ctx.product, ctx.org
        if product is None or org is None or product.limits_for is None or not org.rate_limits:
            return
        now_ts = lab.clock.timestamp()
        for rule in lab.limits_of(product, org):
            key = f"rl:{org.id}:{rule.name}"
            if rule.window == 0:  # concurrency: in-flight calls of this org
                n = lab.counters.gauge(key, 1)
                ctx.held.append(key)
                if n > rule.limit:
                    raise Failure(Kind(rule.failure_kind), {"limit": rule.limit, "retry_after": 1})
                continue
            if rule.slots > 1:  # rolling window: the sum of the last ``slots`` slots
                n, reset_ts = lab.counters.hit_rolling(key, now_ts, rule.window, rule.slots, rule.cost)
            else:
                n, reset_ts = lab.counters.hit(key, now_ts, rule.window, rule.cost)
            if rule.advertise and product.limit_headers is not None:
                h = product.limit_headers
                ctx.headers[h.limit] = str(rule.limit)
                ctx.headers[h.remaining] = str(max(0, rule.limit - n))
                ctx.headers[h.reset] = str(max(0, int(reset_ts - now_ts)))
            if n > rule.limit:
                raise Failure(Kind(rule.failure_kind),
                              {"limit": rule.limit, "retry_after": max(1, int(reset_ts - now_ts))})


class AddHeaders(Handler):
    def on_response(self, lab, ctx, response):
        headers = response.headers
        if ctx.headers:
            present = {k.lower() for k, _ in headers.items()}  # one pass, not a search per header
            for k, v in ctx.headers.items():
                if k.lower() not in present:
                    headers.add(k, v)
        headers["X-Request-Id"] = ctx.request_id
        return response


class Record(Handler):
    """Journal every product call (the control API is not journaled)."""

    def on_response(self, lab, ctx, response):
        if ctx.product is None:
            return response
        p = ctx.principal
        body = None
        if request.method not in ("GET", "HEAD", "OPTIONS") and not ctx.body_refused:
            body = excerpt(request.get_data(cache=True))  # cached by CheckInput: not read again
        out = None
        if (response.status_code >= 400 or request.method != "GET") and not response.is_streamed:
            out = excerpt(response.get_data())
        if ctx.product.name == "accounts":  # the journal is shown in reports: no live secrets there
            body, out = redact(body), redact(out)
        entry = lab.journal.new_entry(
            request_id=ctx.request_id,
            time=lab.now().astimezone(UTC).isoformat(timespec="milliseconds"),
            product=ctx.product.name, method=request.method, path=request.path,
            query=request.query_string.decode("latin-1")[:500],
            org_id=ctx.org_id, user_id=p.user_id if p else None, status=response.status_code,
            duration_ms=round((time.perf_counter() - ctx.started) * 1000, 2), fault=ctx.fault,
            request_excerpt=body, response_excerpt=out,
        )
        lab.journal.record(entry)
        return response


SECRET = re.compile(r'((?:client_secret|refresh_token|access_token|code)(?:=|"\s*:\s*"))([^&"\s]+)')


def redact(text: str | None) -> str | None:
    """Mask OAuth secrets (form or JSON) but keep their names, so the journal still explains."""
    return SECRET.sub(lambda m: m.group(1) + m.group(2)[:6] + "…", text) if text else text


REQUEST_CHAIN: list[Handler] = [ResolveProduct(), CheckInput(), Authenticate(), ResolveOrg(), InjectFaults(), RateLimit()]
RESPONSE_CHAIN: list[Handler] = [AdvertiseLimits(), AddHeaders(), Record()]  # type: ignore[list-item]


def begin(lab: Lab) -> None:
    lab.load_shared_state()
    # a request id names a call in logs and the journal; it is no secret: no system call for it
    g.zlab = RequestContext(request_id=request.environ.get("HTTP_X_REQUEST_ID") or f"{random.getrandbits(64):016x}",
                            product=None, started=time.perf_counter())
    for handler in REQUEST_CHAIN:
        handler.on_request(lab, g.zlab)


def finish(lab: Lab, response: Response) -> Response:
    ctx = g.get("zlab")
    if ctx is None:
        return response
    for handler in RESPONSE_CHAIN:
        response = handler.on_response(lab, ctx, response)
    return response


def release(lab: Lab) -> None:
    ctx = g.get("zlab")
    if ctx is not None:
        for key in ctx.held:
            lab.counters.gauge(key, -1)
        ctx.held.clear()


def _drop_connection() -> None:
    """Close the client's TCP connection without an answer (gunicorn or werkzeug servers)."""
    env = request.environ
    sock = env.get("gunicorn.socket") or env.get("werkzeug.socket")
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass

