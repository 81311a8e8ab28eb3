"""Request bodies the way Zoho reads them, and query-parameter parsing that never 500s.

Books/Invoice take raw JSON (with or without a JSON content type) or a ``JSONString`` field
in urlencoded or multipart form data (RESEARCH-API.md, Books v3). CRM and FSM take raw JSON.

Every JSON body passes ``parse_json``: besides syntax it refuses what no Zoho store keeps and what
would crash the fake instead of answering (README "Input limits"): nesting deeper than
``MAX_JSON_DEPTH`` (Python's parser dies of recursion near 1,000), and strings holding a NUL
(PostgreSQL text cannot store it) or a lone UTF-16 surrogate (not Unicode: no UTF-8 encoder
takes it). The checks cost a substring search unless the raw text can hold such a thing.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import request

from .errors import Failure, Kind

MAX_BODY_BYTES = 32 * 1024 * 1024  # larger bodies: 413 before anything is read
MAX_JSON_DEPTH = 64  # Zoho's own documents nest ~5 deep (records > subform rows > lookups)
# RFC 9110 §4.1 recommends every recipient to take request lines of at least 8,000 octets
MAX_URL_BYTES = 8192

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # a \uD800-\uDFFF escape in the raw text
_NUL_ESCAPE = b"\\u0000"


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
    return parse_json(raw)


def parse_json(raw: str | bytes) -> Any:
    """``raw`` parsed, or ``Failure(MALFORMED_BODY)`` (bad syntax, too deep) or
    ``Failure(INVALID_VALUE)`` (a string no store keeps), never an exception of the parser."""
    try:
        doc = json.loads(raw, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Failure(Kind.MALFORMED_BODY, {"reason": "JSON is not well formed"}) from None
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") > MAX_JSON_DEPTH:
        check_json_depth(doc)
    if _NUL_ESCAPE in data or _SURROGATE_ESCAPE.search(data):
        check_json_strings(doc)
    return doc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN, Infinity: Python's extension, not JSON (RFC 8259 §6)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):  # 1e999: no store keeps it, no JSON encoder writes it back
        raise ValueError(f"{text} is out of range")
    return value


def check_json_depth(doc: Any) -> None:
    """``Failure(MALFORMED_BODY)`` when containers nest deeper than ``MAX_JSON_DEPTH`` (a walk
    level by level over the containers only: a 100-record CRM body is ~400 of them)."""
    level, depth = [doc], 1
    while level:
        if depth > MAX_JSON_DEPTH:
            raise Failure(Kind.MALFORMED_BODY, {"reason": f"JSON nests deeper than {MAX_JSON_DEPTH} levels"})
        below: list[Any] = []
        for node in level:
            below += [c for c in (node.values() if type(node) is dict else node) if type(c) in _CONTAINERS]
        level, depth = below, depth + 1


_CONTAINERS = (dict, list)


def bad_text(value: str) -> str | None:
    """Why a string cannot be stored (a NUL, a lone surrogate), or None."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone UTF-16 surrogate"
    return None


def check_json_strings(doc: Any) -> None:
    """``Failure(INVALID_VALUE)`` naming the first key or string value ``bad_text`` refuses."""
    todo: list[tuple[Any, str, str]] = [(doc, "$", "")]
    while todo:
        node, path, name = todo.pop()
        if isinstance(node, str):
            reason = bad_text(node)
            if reason:
                raise Failure(Kind.INVALID_VALUE, {"in": "body", "param": name or "body", "json_path": path,
                                                   "reason": reason})
        elif isinstance(node, dict):
            for key, value in node.items():
                reason = bad_text(key)
                if reason:
                    raise Failure(Kind.INVALID_VALUE, {"in": "body", "param": "key", "json_path": path,
                                                       "reason": reason})
                todo.append((value, f"{path}.{key}", key))
        elif isinstance(node, list):
            todo.extend((v, f"{path}[{i}]", name) for i, v in enumerate(node))


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
