"""What a product plugs into the core: routes, errors, scopes, org resolution, limits.

Each fake (``fakes/<product>``) builds one ``Product`` in its ``__init__``; the app factory
mounts its blueprint under its URL prefixes and the request chain consults it for the
product-specific parts of the cross-cutting behaviour, so no product repeats the mechanics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Request

from .errors import ErrorCatalog

if TYPE_CHECKING:
    from .context import RequestContext
    from .tenants import Org


@dataclass(frozen=True)
class LimitRule:
    """One limit of an org: at most ``limit`` hits per ``window`` seconds (0 = concurrency)."""

    name: str  # "minute", "day", "credits", "concurrency"
    limit: int
    window: int
    failure_kind: str  # errors.Kind value rendered when exceeded
    cost: int = 1
    advertise: bool = False  # this rule's numbers go into the rate-limit headers
    # > 1: a rolling window (CRM credits: "the last 24 hours") counted in this many equal slots;
    # 0 or 1: a fixed window that starts afresh every ``window`` seconds
    slots: int = 0


@dataclass(frozen=True)
class LimitHeaders:
    limit: str
    remaining: str
    reset: str


@dataclass
class Product:
    name: str  # books, invoice, crm, fsm, accounts
    family: str  # id and error family: books (also for invoice), crm, fsm, accounts
    prefixes: tuple[str, ...]  # URL prefixes; may hold Flask converters (/crm/<version>)
    make_blueprint: Callable[[str], Blueprint]  # given a unique name; the app registers it under that name
    errors: ErrorCatalog
    requires_auth: bool = True
    # scopes that allow a request; None = no scope check
    scopes_for: Callable[[Request], Iterable[str]] | None = None
    # org id the request addresses (None when the call needs no org) — may raise Failure
    org_for: Callable[[RequestContext], str | None] | None = None
    limits_for: Callable[[Org], list[LimitRule]] | None = None
    limit_headers: LimitHeaders | None = None
    on_org_created: Callable[[Any, Org, Any], None] | None = None  # (session, org, lab)
    seeders: dict[str, Callable[..., int]] = field(default_factory=dict)
    make_lab_blueprint: Callable[[], Blueprint] | None = None  # Zoho-internal state, at /_lab/<name>
    modules: dict[str, Any] = field(default_factory=dict)  # record modules (fields.ModuleDef) by API name
    on_start: Callable[[Any], None] | None = None  # (lab) once the app is built: subscribe to changes
    internal_doc: str = ""  # one paragraph for /_lab/openapi.json

    def scope_ok(self, granted: Iterable[str], request: Request) -> bool:
        if self.scopes_for is None:
            return True
        have = {g.lower() for g in granted}
        return any(w in have for w in self.wanted_scopes(request))

    def wanted_scopes(self, request: Request) -> tuple[str, ...]:
        """The scopes (lower case) that allow this call, any one of them. A call's method and
        path decide them, so they are kept per (method, path): the same call again costs a lookup."""
        key = (request.method, request.path)
        wanted = self._wanted.get(key)
        if wanted is None:
            wanted = tuple(w.lower() for w in self.scopes_for(request))  # type: ignore[misc]
            if len(self._wanted) > 4096:  # paths hold record ids: keep it bounded
                self._wanted.clear()
            self._wanted[key] = wanted
        return wanted

    def __post_init__(self) -> None:
        self._wanted: dict[tuple[str, str], tuple[str, ...]] = {}
