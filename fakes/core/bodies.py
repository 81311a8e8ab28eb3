"""Request bodies the way Zoho reads them, and query-parameter parsing that never 500s.

Books/Invoice take raw JSON (with or without a JSON content type) or a ``JSONString`` field
in urlencoded or multipart form data (RESEARCH-API.md, Books v3). CRM and FSM take raw JSON.
"""

from __future__ import annotations

import json
from typing import Any

from flask import request

from .errors import Failure, Kind


def read_json(*, allow_jsonstring: bool = False, required: bool = True) -> Any:
    """The request's JSON document; ``Failure(MALFORMED_BODY)`` when it is not well formed."""
    raw: str | bytes | None = None
    if allow_jsonstring:
        ctype = (request.mimetype or "").lower()
        if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            raw = request.form.get("JSONString")
            if raw is None and required:
                raise Failure(Kind.MALFORMED_BODY, {"reason": "JSONString is missing"})
        elif request.args.get("JSONString") is not None and not request.get_data(cache=True):
            raw = request.args.get("JSONString")  # older clients pass it in the query string
    if raw is None:
        raw = request.get_data(cache=True)
    if not raw or (isinstance(raw, bytes) and not raw.strip()):
        if required:
            raise Failure(Kind.MALFORMED_BODY, {"reason": "empty body"})
        return None
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Failure(Kind.MALFORMED_BODY, {"reason": "JSON is not well formed"}) from None


def int_arg(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None,
            on_error: Exception | None = None) -> int:
    value = request.args.get(name)
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        if on_error is not None:
            raise on_error from None
        return default
    if minimum is not None and n < minimum:
        if on_error is not None:
            raise on_error
        n = minimum
    if maximum is not None and n > maximum:
        n = maximum
    return n
