"""syncer.clients pieces that need no server: the retry policy, Retry-After, error typing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

from syncer.clients import (
    RetryPolicy,
    ZohoApiError,
    ZohoOutcomeUnknown,
    ZohoRateLimitError,
    ZohoServerError,
    ZohoTransportError,
)
from syncer.clients.base import error_class, fmt_books_datetime, fmt_crm_datetime, parse_retry_after
from syncer.clients.fsm import search_value


def test_retry_after_seconds_and_http_date():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    when = datetime(2030, 1, 1, tzinfo=UTC)
    assert parse_retry_after(format_datetime(when, usegmt=True), now=when.timestamp() - 30) == 30.0


def test_waits():
    p = RetryPolicy(backoff=1, max_backoff=5, rate_limit_wait=60)
    assert [p.wait_for(ZohoServerError("fsm", 500), n) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]
    assert p.wait_for(ZohoRateLimitError("books", 429, 44), 1) == 60  # Books per-minute, no header
    assert p.wait_for(ZohoRateLimitError("books", 429, 1070), 2) == 2  # concurrency: backoff
    assert p.wait_for(ZohoRateLimitError("crm", 429, "TOO_MANY_REQUESTS", retry_after=9), 1) == 9


def test_what_is_retried():
    p = RetryPolicy(max_retry_after=120, retry_unsafe=False)
    assert p.retryable(ZohoServerError("books", 502))
    assert not p.retryable(ZohoApiError("books", 400, 3062))
    assert p.retryable(ZohoRateLimitError("books", 429, 44, retry_after=60))
    assert not p.retryable(ZohoRateLimitError("books", 429, 45))  # the daily limit: reschedule the run
    assert not p.retryable(ZohoRateLimitError("crm", 429, "TOO_MANY_REQUESTS", retry_after=3600))
    timeout = ZohoTransportError("fsm", None, "TIMEOUT")
    assert p.retryable(timeout, "GET") and not p.retryable(timeout, "POST")
    assert p.retryable(ZohoTransportError("fsm", None, "CONNECT"), "POST")  # never sent
    assert RetryPolicy(retry_unsafe=True).retryable(timeout, "POST")
    # a create sent without an answer is never re-sent blindly (it may be applied: issue 9)
    lost = ZohoOutcomeUnknown("fsm", None, "TIMEOUT", method="POST")
    assert not RetryPolicy().retryable(lost, "POST") and not RetryPolicy().retryable(timeout, "POST")
    assert RetryPolicy().retryable(timeout, "PUT") and RetryPolicy().retryable(timeout, "DELETE")
    assert RetryPolicy().retryable(timeout, "POST", idempotent=True)  # an action such as mark inactive


def test_error_typing():
    assert error_class(429, None) is ZohoRateLimitError and error_class(200, 45) is ZohoRateLimitError
    assert error_class(None, "TIMEOUT") is ZohoTransportError
    e = ZohoApiError("crm", 400, "INVALID_MODULE", "the module name given seems to be invalid")
    assert not e.is_record_level
    assert ZohoApiError("crm", 400, "DUPLICATE_DATA").is_record_level


def test_datetime_formats():
    ist = timezone(timedelta(hours=5, minutes=30))
    dt = datetime(2021, 5, 2, 11, 17, 33, 123, tzinfo=ist)
    assert fmt_crm_datetime(dt) == "2021-05-02T11:17:33+05:30"
    assert fmt_books_datetime(dt) == "2021-05-02T11:17:33+0530"
    assert search_value("Burns, B") == "Burns\\, B"
    assert search_value((dt, dt)) == "2021-05-02T11:17:33+05:30,2021-05-02T11:17:33+05:30"
