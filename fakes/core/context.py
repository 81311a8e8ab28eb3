"""Per-request state shared by the chain's handlers and the product endpoints (``flask.g.zlab``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Response
from flask.globals import _cv_app

if TYPE_CHECKING:
    from .journal import Entry
    from .lab import Lab
    from .product import Product
    from .tenants import Org


@dataclass
class Principal:
    """Who is calling: the user behind the access token, with what scopes and orgs."""

    user_id: str
    client_id: str
    scopes: tuple[str, ...]
    org_ids: frozenset[str]
    email: str = ""
    # answers worked out for this token, kept as long as the token's cache entry (e.g. which
    # org of a product a CRM/FSM call addresses): dropped with it on any change
    memo: dict[Any, Any] | None = None


@dataclass
class RequestContext:
    request_id: str
    product: Product | None
    started: float
    principal: Principal | None = None
    org: Org | None = None
    headers: dict[str, str] = field(default_factory=dict)  # added to the answer
    held: list[str] = field(default_factory=list)  # concurrency gauges to release
    fault: str | None = None
    entry: Entry | None = None
    suppress_workflows: bool = False  # set by products when a write asks for no triggers
    body_refused: bool = False  # refused by CheckInput (too large, ...): never read, not even by the journal

    @property
    def org_id(self) -> str | None:
        return self.org.id if self.org is not None else None


# ``ctx()`` and ``lab()`` run several times a request: they read Flask's app context variable
# directly rather than through the ``g``/``current_app`` proxies (a proxy lookup per attribute)
def ctx() -> RequestContext:
    return _cv_app.get().g.zlab


def lab() -> Lab:
    return _cv_app.get().app.extensions["zlab"]


# built once: ``json.dumps`` with options builds a new encoder on every call
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None,
                  content_type: str = "application/json;charset=UTF-8") -> Response:
    data = _ENCODER.encode(body)
    resp = Response(data, status=status, content_type=content_type)
    if headers:
        resp.headers.update(headers)
    return resp


def empty_response(status: int = 204, headers: dict[str, str] | None = None) -> Response:
    resp = Response(b"", status=status)
    resp.headers.pop("Content-Type", None)
    if headers:
        resp.headers.update(headers)
    return resp
