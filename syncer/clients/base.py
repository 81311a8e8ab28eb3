"""What every Zoho client shares: typed errors, the retry policy, clocks and the HTTP core.

The syncer talks to Zoho (or the lab's fakes) over HTTP only. ``ApiClient`` sends one call with
the OAuth header (``Authorization: Zoho-oauthtoken …``) to the token answer's ``api_domain``,
refreshes the token once on INVALID_TOKEN / Books code 57, and retries (tenacity) on 5xx,
timeouts, connection errors and 429 — waiting what ``Retry-After`` asks for, else an
exponential backoff — a bounded number of times with an injectable sleep function.

A create (POST, unless the call says it is idempotent) that was sent and got no answer — a
time-out or a dropped connection — is never sent again here: it may have been applied. It
raises ``ZohoOutcomeUnknown`` and the engine resolves it against the product (docs/syncer-design.md,
"Crash safety"). Reads, updates by id (PUT), deletes and idempotent actions are retried.
"""

from __future__ import annotations

import email.utils
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

if TYPE_CHECKING:
    from .accounts import AccountsClient

Clock = Callable[[], datetime]
Sleeper = Callable[[float], None]

BOOKS_RATE_CODES = frozenset({44, 45, 1070})  # per minute, per day (plan), concurrency
BOOKS_DAILY_CODE = 45
BOOKS_TOKEN_CODE = 57
TOKEN_ERROR_CODES = frozenset({"INVALID_TOKEN", BOOKS_TOKEN_CODE})
# Errors about the connection, the org or the account, never about one record.
RUN_LEVEL_CODES = frozenset({
    BOOKS_TOKEN_CODE, 2, 6041, *BOOKS_RATE_CODES,
    "INVALID_TOKEN", "AUTHENTICATION_FAILURE", "OAUTH_SCOPE_MISMATCH", "NO_PERMISSION", "INVALID_MODULE",
    "INVALID_URL_PATTERN", "INVALID_REQUEST_METHOD", "TOO_MANY_REQUESTS", "INTERNAL_ERROR",
    "IMPORT_IN_PROGRESS",
})


def system_clock() -> datetime:
    """Real time (UTC), for real Zoho."""
    return datetime.now(UTC)


class LabClock:
    """The lab clock read over HTTP (``GET {lab}/_lab/clock`` → ``{"now": ISO}``), so frozen or
    advanced lab time moves token expiry too. Against real Zoho (404, or not the lab's answer) it
    falls back to real time for good; a transient failure falls back for that one reading.
    ``max_age`` (real seconds) lets a busy caller reuse a reading, extrapolated by real time
    unless the lab clock was frozen."""

    def __init__(self, lab_url: str, *, http: httpx.Client | None = None, timeout: float = 5.0,
                 max_age: float = 0.0) -> None:
        self.url = lab_url.rstrip("/") + "/_lab/clock"
        # a guarded lab (ZLAB_LAB_TOKEN set, as in compose) answers its clock only with the lab token
        token = os.environ.get("ZLAB_LAB_TOKEN", "")
        self._http = http or httpx.Client(timeout=timeout, headers={"X-Zlab-Lab-Token": token} if token else None)
        self.max_age = max_age
        self.is_lab: bool | None = None  # unknown until the first reading
        self._cached: tuple[float, datetime, bool] | None = None  # (monotonic, lab now, frozen)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        if self.is_lab is False:
            return system_clock()
        with self._lock:
            cached = self._cached
        mono = time.monotonic()
        if cached is not None and self.max_age > 0 and mono - cached[0] <= self.max_age:
            return cached[1] if cached[2] else cached[1] + timedelta(seconds=mono - cached[0])
        try:
            r = self._http.get(self.url)
        except httpx.HTTPError:
            return system_clock()
        try:
            body = r.json() if r.status_code == 200 else None
            now = datetime.fromisoformat(body["now"]) if isinstance(body, dict) else None
        except (ValueError, KeyError, TypeError):
            now = None
        if now is None:
            if 400 <= r.status_code < 500 or r.status_code == 200:
                self.is_lab = False  # a server without the lab's control API: real Zoho
            return system_clock()
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        self.is_lab = True
        with self._lock:
            self._cached = (mono, now, bool(body.get("frozen")))
        return now

    def close(self) -> None:
        self._http.close()


# -- errors ---------------------------------------------------------------------------------------

class ZohoApiError(Exception):
    """A Zoho answer that is not a success (or no answer at all: ``status`` None).

    ``product`` accounts|books|invoice|crm|fsm, ``status`` HTTP status, ``code`` Zoho's code
    (an int for Books/Invoice, a string such as ``INVALID_DATA`` for CRM/FSM), ``message``,
    ``details`` (dict), ``retry_after`` (seconds, from the header), ``method``/``url`` of the call.
    """

    def __init__(self, product: str, status: int | None, code: Any = None, message: str = "",
                 details: dict[str, Any] | None = None, *, retry_after: float | None = None,
                 method: str | None = None, url: str | None = None, body: Any = None) -> None:
        self.product, self.status, self.code, self.message = product, status, code, message
        self.details = details or {}
        self.retry_after = retry_after
        self.method, self.url, self.body = method, url, body
        super().__init__(f"{product} {method or ''} {url or ''} -> {status}: {code} {message}".replace("  ", " "))

    @property
    def is_rate_limit(self) -> bool:
        return self.status == 429 or self.code in BOOKS_RATE_CODES or self.code == "TOO_MANY_REQUESTS"

    @property
    def is_auth(self) -> bool:
        return self.status == 401 or self.code in TOKEN_ERROR_CODES or self.code == "OAUTH_SCOPE_MISMATCH"

    @property
    def is_server(self) -> bool:
        return self.status is not None and self.status >= 500

    @property
    def is_record_level(self) -> bool:
        """A failure of the record(s) sent (bad data, duplicate, missing record): log it and go on.
        Everything else (auth, org, limits, server, transport) concerns the whole run."""
        return (self.status is not None and 400 <= self.status < 500 and self.status not in (401, 429)
                and self.code not in RUN_LEVEL_CODES)


class ZohoAuthError(ZohoApiError):
    """The token could not be had or is refused (bad refresh token/client, scope, revoked)."""


class ZohoRateLimitError(ZohoApiError):
    """429 / Books 44, 45, 1070 / TOO_MANY_REQUESTS, still so after the retries (or a wait
    longer than the policy accepts, such as the Books daily limit)."""


class ZohoServerError(ZohoApiError):
    """5xx after the retries."""


class ZohoTransportError(ZohoApiError):
    """No answer: time-out, refused or dropped connection (``status`` None, ``code`` TIMEOUT,
    CONNECTION, or CONNECT when the request never left)."""


class ZohoOutcomeUnknown(ZohoTransportError):
    """A non-idempotent write (a create) was sent and no answer came (time-out, dropped
    connection): it may or may not have been applied, and may still be. Not retried: sending it
    again could make a second record. The caller resolves it against the product first (search
    by the partner id the record carries), then sends what was not made."""


# methods whose repeat leaves the same state: retried after a time-out or a dropped connection
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


def error_class(status: int | None, code: Any) -> type[ZohoApiError]:
    if status is None:
        return ZohoTransportError
    if status == 429 or code in BOOKS_RATE_CODES or code == "TOO_MANY_REQUESTS":
        return ZohoRateLimitError
    if status == 401 or code in TOKEN_ERROR_CODES or code == "OAUTH_SCOPE_MISMATCH":
        return ZohoAuthError
    if status >= 500:
        return ZohoServerError
    return ZohoApiError


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def error_from_response(product: str, resp: httpx.Response, body: Any = None) -> ZohoApiError:
    if body is None:
        body = safe_json(resp)
    code, message, details = None, "", {}
    if isinstance(body, dict):
        code = body.get("code", body.get("error"))
        message = str(body.get("message") or body.get("error_description") or "")
        details = body.get("details") if isinstance(body.get("details"), dict) else {}
    elif resp.content:
        message = resp.text[:300]
    cls = error_class(resp.status_code, code)
    return cls(product, resp.status_code, code, message, details,
               retry_after=parse_retry_after(resp.headers.get("Retry-After")),
               method=resp.request.method, url=str(resp.request.url.copy_with(query=None)), body=body)


def safe_json(resp: httpx.Response) -> Any:
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return None


# -- retry policy -----------------------------------------------------------------------------------

@dataclass
class RetryPolicy:
    """Bounded retries with backoff. ``attempts`` counts the first try. A 429 waits what
    ``Retry-After`` says (else ``rate_limit_wait`` for Books 44, else the backoff); a 429 asking
    for more than ``max_retry_after`` seconds (e.g. the Books daily limit, CRM credits gone) is
    not retried: the caller gets a ZohoRateLimitError to reschedule on. Other waits:
    ``backoff * 2**(n-1)`` capped at ``max_backoff``. ``sleep`` is injectable (tests record it).
    After a time-out or a dropped connection only idempotent calls are retried (reads, PUT by id,
    DELETE, actions the caller declares idempotent); a create raises ``ZohoOutcomeUnknown``
    instead, unless ``retry_unsafe`` (off by default: it may duplicate records). Refused
    connections (never sent) are always retried."""

    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 30.0
    rate_limit_wait: float = 60.0
    max_retry_after: float = 120.0
    retry_unsafe: bool = False
    sleep: Sleeper = time.sleep
    sleeps: deque[float] = field(default_factory=lambda: deque(maxlen=1000), repr=False)  # the last waits asked for

    def retryable(self, exc: BaseException, method: str = "GET", idempotent: bool | None = None) -> bool:
        if isinstance(exc, ZohoTransportError):
            if exc.code == "CONNECT":
                return True
            if isinstance(exc, ZohoOutcomeUnknown):
                return self.retry_unsafe
            if idempotent is None:
                idempotent = method.upper() in IDEMPOTENT_METHODS
            return idempotent or self.retry_unsafe
        if isinstance(exc, ZohoRateLimitError):
            if exc.code == BOOKS_DAILY_CODE and exc.retry_after is None:
                return False
            return exc.retry_after is None or exc.retry_after <= self.max_retry_after
        return isinstance(exc, ZohoServerError)

    def wait_for(self, exc: BaseException | None, attempt_number: int) -> float:
        if isinstance(exc, ZohoRateLimitError):
            if exc.retry_after is not None:
                return float(exc.retry_after)
            if exc.code == 44:
                return self.rate_limit_wait
        return min(self.max_backoff, self.backoff * (2 ** (attempt_number - 1)))

    def run(self, fn: Callable[[], Any], method: str = "GET", idempotent: bool | None = None) -> Any:
        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return self.wait_for(exc, state.attempt_number)

        def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)
            self.sleep(seconds)

        retrying = Retrying(stop=stop_after_attempt(max(1, self.attempts)), wait=wait, sleep=sleep,
                            retry=retry_if_exception(lambda e: self.retryable(e, method, idempotent)), reraise=True)
        return retrying(fn)


# -- the HTTP core ----------------------------------------------------------------------------------

@dataclass
class RecordResult:
    """One record's outcome in a batch write (input order). ``ok`` for SUCCESS; else ``code``,
    ``message`` and ``details`` say why (record-level: log it, go on). ``action`` is
    insert|update for upserts. ``error()`` gives it as a ZohoApiError."""

    index: int
    ok: bool
    id: str | None = None
    code: Any = None
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    status: int | None = None  # the HTTP status of the batch answer
    action: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def error(self, product: str) -> ZohoApiError:
        # a failed entry of a 200/207 batch answer is a 400 for that record
        status = 400 if self.status is None or self.status < 400 else self.status
        return ZohoApiError(product, status, self.code, self.message, self.details, body=self.raw)


def crm_style_results(payload: Any, count: int, status: int, offset: int = 0) -> list[RecordResult]:
    """CRM's (and FSM's) batch entries ``{"data":[{code,details,message,status}]}`` as results."""
    entries = payload.get("data") if isinstance(payload, dict) else None
    out: list[RecordResult] = []
    for i in range(count):
        e = entries[i] if isinstance(entries, list) and i < len(entries) and isinstance(entries[i], dict) else {}
        details = e.get("details") if isinstance(e.get("details"), dict) else {}
        ok = e.get("status") == "success" or e.get("code") == "SUCCESS"
        out.append(RecordResult(offset + i, ok, id=details.get("id") if ok else None, code=e.get("code"),
                                message=str(e.get("message", "")), details=details, status=status,
                                action=e.get("action"), raw=e))
    return out


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class ApiClient:
    """One product's API for one connection (an ``AccountsClient``).

    ``api_domain`` overrides the token answer's; ``timeout`` (seconds or an httpx.Timeout);
    ``retry`` the RetryPolicy; ``http`` an httpx.Client to share; ``on_response`` hooks see
    every HTTP answer (``calls`` counts them, retries and token retries included).
    """

    product = "?"
    root = ""
    batch_limit = 100

    def __init__(self, auth: AccountsClient, *, api_domain: str | None = None,
                 timeout: float | httpx.Timeout = 30.0, retry: RetryPolicy | None = None,
                 http: httpx.Client | None = None,
                 on_response: Iterable[Callable[[httpx.Response], None]] = ()) -> None:
        self.auth = auth
        self._api_domain = api_domain.rstrip("/") if api_domain else None
        self.retry = retry or auth.retry
        self._own_http = http is None
        self.http = http or httpx.Client(timeout=timeout)
        self.timeout = timeout
        self.on_response = list(on_response)
        self.calls = 0

    # -- plumbing ------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return (self._api_domain or self.auth.api_domain) + self.root

    def default_params(self) -> dict[str, Any]:
        return {}

    def default_headers(self) -> dict[str, str]:
        return {}

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _is_token_error(self, resp: httpx.Response, body: Any) -> bool:
        return resp.status_code == 401 and isinstance(body, dict) and body.get("code") in TOKEN_ERROR_CODES

    def _send(self, method: str, url: str, params: dict[str, Any], json: Any,
              headers: dict[str, str], idempotent: bool = True) -> httpx.Response:
        try:
            resp = self.http.request(method, url, params=params, json=json, headers=headers,
                                     timeout=self.timeout)
        except httpx.TransportError as exc:
            if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError | httpx.PoolTimeout):
                code = "CONNECT"  # the request never left
            else:
                code = "TIMEOUT" if isinstance(exc, httpx.TimeoutException) else "CONNECTION"
            cls = ZohoTransportError if idempotent or code == "CONNECT" else ZohoOutcomeUnknown
            raise cls(self.product, None, code, f"{type(exc).__name__}: {exc}", method=method, url=url) from exc
        self.calls += 1
        for hook in self.on_response:
            hook(resp)
        return resp

    def _attempt(self, method: str, path: str, params: dict[str, Any], json: Any,
                 headers: dict[str, str], accept: Callable[[httpx.Response, Any], bool] | None,
                 idempotent: bool = True) -> httpx.Response:
        url = self.base_url + path
        token = self.auth.access_token()
        resp = self._send(method, url, params, json, {**headers, "Authorization": f"Zoho-oauthtoken {token}"},
                          idempotent)
        body = safe_json(resp)
        if self._is_token_error(resp, body):  # expired early or revoked: one retry with a fresh token
            self.auth.invalidate(token)
            token = self.auth.access_token()
            resp = self._send(method, url, params, json, {**headers, "Authorization": f"Zoho-oauthtoken {token}"},
                              idempotent)
            body = safe_json(resp)
        if accept is not None and accept(resp, body):
            return resp
        if resp.status_code >= 400 or self._is_error_body(resp, body):
            raise error_from_response(self.product, resp, body)
        return resp

    def _is_error_body(self, resp: httpx.Response, body: Any) -> bool:
        return False

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, json: Any = None,
                headers: dict[str, str] | None = None,
                accept: Callable[[httpx.Response, Any], bool] | None = None,
                idempotent: bool | None = None) -> httpx.Response:
        """One call with token handling and retries; raises ZohoApiError (typed) on failure.
        ``accept(resp, body)`` may claim an error status as an answer (batch entries).
        ``idempotent`` (default: not for POST/PATCH) says whether a call that got no answer may be
        sent again; one that may not raises ZohoOutcomeUnknown."""
        p = {k: v for k, v in {**self.default_params(), **(params or {})}.items() if v is not None}
        h = {**self.default_headers(), **(headers or {})}
        idem = idempotent if idempotent is not None else method.upper() in IDEMPOTENT_METHODS
        return self.retry.run(lambda: self._attempt(method, path, p, json, h, accept, idem), method, idem)

    def call(self, method: str, path: str, **kw: Any) -> Any:
        """``request`` and the JSON body (None for 204 / an empty answer)."""
        return safe_json(self.request(method, path, **kw))


def fmt_crm_datetime(value: datetime | str) -> str:
    """CRM/FSM datetime ``2021-05-02T11:17:33+05:30`` (a string passes through)."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.replace(microsecond=0).isoformat()


def fmt_books_datetime(value: datetime | str) -> str:
    """Books datetime ``2013-08-05T12:06:10+0530`` (a string passes through)."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S%z")


# -- CRM-style record APIs (CRM and FSM share the conventions) --------------------------------------

def batch_answer(resp: httpx.Response, body: Any) -> bool:
    """A batch write's answer carries per-record entries even on 207 and on an all-failed 400."""
    if resp.status_code in (200, 201, 202, 207):
        return True
    return (resp.status_code == 400 and isinstance(body, dict) and isinstance(body.get("data"), list)
            and all(isinstance(e, dict) and "code" in e for e in body["data"]))


NO_TRIGGER: tuple[str, ...] = ()  # the syncer's writes run no workflow rules (TW-12)


class RecordApiClient(ApiClient):
    """CRM's record conventions, which FSM copies: ``{"data":[…],"info":{…}}`` lists with
    ``page``/``more_records`` (and ``next_page_token`` where offered), 204 for nothing, batch
    writes of at most 100 records with per-record entries (207 when some failed), the
    ``trigger`` array (``[]`` = no workflows: the syncer's writes default to it, TW-12)."""

    def _is_error_body(self, resp: httpx.Response, body: Any) -> bool:
        return isinstance(body, dict) and body.get("status") == "error" and "code" in body

    def iter_pages(self, path: str, params: dict[str, Any] | None = None, *, key: str = "data",
                   per_page: int = 200, headers: dict[str, str] | None = None,
                   use_page_token: bool = True) -> Iterator[list[dict[str, Any]]]:
        """One list per page, lazily; ``page`` + 1 while ``info.more_records``, or the answer's
        ``next_page_token`` when there is one (CRM beyond 2,000 records). 204 = no records."""
        base = dict(params or {})
        page: int | None = 1
        token: str | None = None
        while True:
            q = {**base, "per_page": per_page}
            if token:
                q["page_token"] = token
            else:
                q["page"] = page
            resp = self.request("GET", path, params=q, headers=headers,
                                accept=lambda r, _b: r.status_code == 304)
            if resp.status_code in (204, 304):
                return
            body = safe_json(resp) or {}
            rows = body.get(key) or []
            if rows:
                yield rows
            info = body.get("info") if isinstance(body.get("info"), dict) else {}
            if not info.get("more_records") or not rows:
                return
            nxt = info.get("next_page_token")
            if use_page_token and nxt:
                token = str(nxt)
            else:
                token = None
                page = int(info.get("page") or page or 1) + 1

    def iter_records(self, path: str, params: dict[str, Any] | None = None, **kw: Any) -> Iterator[dict[str, Any]]:
        for rows in self.iter_pages(path, params, **kw):
            yield from rows

    def _get_first(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
        body = self.call("GET", path, params=params)
        data = body.get("data") if isinstance(body, dict) else None
        return data[0] if isinstance(data, list) and data else None

    def update_records(self, module: str, records: Iterable[dict[str, Any]], *,
                       trigger: Iterable[str] | None = NO_TRIGGER) -> list[RecordResult]:
        """``PUT /{module}`` with ``id`` in each record, batches of 100."""
        return self._write_batches("PUT", f"/{module}", records, self._trigger({}, trigger))

    def update_record(self, module: str, record_id: str, data: dict[str, Any], *,
                      trigger: Iterable[str] | None = NO_TRIGGER) -> RecordResult:
        resp = self.request("PUT", f"/{module}/{record_id}", json=self._trigger({"data": [data]}, trigger),
                            accept=batch_answer)
        return self._results(resp, 1, 0)[0]

    @staticmethod
    def _trigger(body: dict[str, Any], trigger: Iterable[str] | None) -> dict[str, Any]:
        if trigger is not None:
            body["trigger"] = list(trigger)
        return body

    def _results(self, resp: httpx.Response, count: int, offset: int) -> list[RecordResult]:
        return crm_style_results(safe_json(resp), count, resp.status_code, offset)

    def _write_batches(self, method: str, path: str, records: Iterable[dict[str, Any]],
                       extra: dict[str, Any], params: dict[str, Any] | None = None) -> list[RecordResult]:
        out: list[RecordResult] = []
        for batch in chunks(records, self.batch_limit):
            resp = self.request(method, path, params=params, json={"data": batch, **extra}, accept=batch_answer)
            out.extend(self._results(resp, len(batch), len(out)))
        return out

    def _delete_batches(self, path: str, ids: Iterable[str], params: dict[str, Any]) -> list[RecordResult]:
        out: list[RecordResult] = []
        for batch in chunks(ids, self.batch_limit):
            resp = self.request("DELETE", path, params={**params, "ids": ",".join(map(str, batch))},
                                accept=batch_answer)
            results = self._results(resp, len(batch), len(out))
            for r, rid in zip(results, batch, strict=True):
                r.id = r.id or str(rid)
            out.extend(results)
        return out
