"""Errors: what the chain and the stores raise, and how it becomes Zoho's envelope.

Two layers, so each product's ``errors.py`` holds only its own codes and messages:
- ``ZohoError`` is a fully rendered answer (status, JSON body, headers). Product code raises it
  through its ``errors.py`` helpers, e.g. ``books_errors.contact_not_found()``.
- ``Failure`` is a product-neutral reason raised by the shared machinery (auth, org, limits,
  faults, malformed bodies, unknown URLs, crashes). Each product maps every ``Failure`` kind to
  its own envelope in ``ErrorCatalog.render``; the chain never builds a product body itself.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class ZohoError(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


class Kind(enum.StrEnum):
    AUTH_MISSING = "auth_missing"  # no Authorization header
    AUTH_INVALID = "auth_invalid"  # unknown, revoked or malformed token
    AUTH_EXPIRED = "auth_expired"  # token past expires_in on the lab clock
    SCOPE_MISMATCH = "scope_mismatch"
    ORG_MISSING = "org_missing"
    ORG_INVALID = "org_invalid"  # unknown org id
    ORG_FORBIDDEN = "org_forbidden"  # org exists but the token's user is not a member
    ORG_INACTIVE = "org_inactive"
    RATE_MINUTE = "rate_minute"  # per-minute (Books) / credits (CRM) exhausted
    RATE_DAY = "rate_day"  # per-day plan limit
    CONCURRENCY = "concurrency"
    MALFORMED_BODY = "malformed_body"  # not JSON, or nested deeper than bodies.MAX_JSON_DEPTH
    # a value no store keeps (NUL, lone surrogate) in the body, query, path or a header;
    # detail: "in" (body|query|path|header), "param", and for bodies "json_path"
    INVALID_VALUE = "invalid_value"
    BODY_TOO_LARGE = "body_too_large"  # over bodies.MAX_BODY_BYTES: 413
    URL_TOO_LONG = "url_too_long"  # over bodies.MAX_URL_BYTES: 414
    URL_NOT_FOUND = "url_not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INTERNAL = "internal"  # a bug in the fake, or an injected 500 without a body


@dataclass
class Failure(Exception):
    kind: Kind
    detail: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


class ErrorCatalog:
    """Base for a product's error catalog: maps a ``Failure`` to (status, body, headers)."""

    def render(self, failure: Failure) -> ZohoError:  # pragma: no cover - abstract
        raise NotImplementedError


class LabErrors(ErrorCatalog):
    """Errors of the control API (/_lab): plain JSON, never a Zoho path."""

    def render(self, failure: Failure) -> ZohoError:
        status = {
            Kind.MALFORMED_BODY: 400,
            Kind.INVALID_VALUE: 400,
            Kind.BODY_TOO_LARGE: 413,
            Kind.URL_TOO_LONG: 414,
            Kind.URL_NOT_FOUND: 404,
            Kind.METHOD_NOT_ALLOWED: 405,
        }.get(failure.kind, 500)
        return ZohoError(status, {"error": str(failure.kind), **failure.detail})


def lab_error(status: int, message: str, **extra: Any) -> ZohoError:
    return ZohoError(status, {"error": message, **extra})
