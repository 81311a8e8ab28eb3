"""Check fake responses against Zoho's own OpenAPI specs (read-only, found via the ``specs_dir`` fixture).

Usage from a test (pytest runs with ``pythonpath = ["."]``, so ``tests.contract`` imports from anywhere)::

    from tests.contract.openapi_contract import Spec, assert_fields_known, validate_response
    spec = Spec.load(specs_dir / "books-v3" / "contacts.yml")
    keys = validate_response(spec, "/contacts/460000000026049", "get", 200, resp.get_json())
    assert "contact" in keys                      # the spec really described what was checked
    assert_fields_known(spec, "/contacts/{contact_id}", "get", 200, resp.get_json(), "/contact")

What it does:

* ``Spec.load(path)`` reads one OpenAPI 3.0 file (YAML or JSON; cached per process). ``$ref``s to sibling
  files ("users.json#/components/...", "./record.json#/...") are fetched lazily from the same folder
  through a ``referencing.Registry``.
* Schemas are converted from OpenAPI 3.0 to JSON Schema 2020-12 into a *copy* (the loaded spec is never
  mutated): ``nullable: true`` allows null (also in ``enum``); ``example``/``examples``/``readOnly``/
  ``writeOnly``/``xml``/``discriminator``/``x-*`` are dropped; boolean ``exclusiveMinimum``/
  ``exclusiveMaximum`` become numeric; non-list ``required`` is dropped. Formats: only ``date-time``
  (RFC 3339), ``date``, ``int32`` and ``int64`` are enforced, unknown formats are ignored. ``pattern`` is
  only checked on request (``patterns=True``): Zoho's are copied from sample data.
* ``oneOf``/``anyOf`` are checked as "matches at least one branch", and for a JSON object only the
  branches that declare at least one of its keys are tried (Zoho's branches - e.g. CRM's
  ``Response_Wrapper`` vs ``API_Exception`` - have no ``required``/``additionalProperties`` and would
  otherwise all match anything, or all "match" and break ``oneOf``). On failure the errors of the closest
  branch are reported with their full JSON paths.
* Status codes: the exact code, then "2XX"/"2xx", then "default". Zoho CRM files often document every
  outcome (201 insert, 207 mixed, errors) under one "200" whose schema is ``oneOf [success, API_Exception]``
  and never declare 204; for those (``Spec.collapse_statuses``, on by default for specs whose paths are
  under /crm/) an undeclared status falls back to the lowest declared code of its class, for an error
  status then to any declared 4xx/5xx, else to "200"; and a 204 must simply have an empty body. Books
  specs are strict: an undeclared status fails.

Zoho's specs are loose (hardly any ``required``, never ``additionalProperties: false``), so a body with
invented keys passes ``validate_response``; use ``assert_fields_known`` to catch invented field names.
``ignore=`` / ``allow=`` take JSON paths ("$.invoice.total", "$.invoices[*].balance", descendants
included) or, for ``allow``, bare key names, for documented spec defects.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import yaml
from jsonschema import Draft202012Validator, FormatChecker, validators
from referencing import Registry, Resource
from referencing.exceptions import NoSuchResource
from referencing.jsonschema import DRAFT202012

__all__ = [
    "CheckedKeys",
    "Spec",
    "SpecLookupError",
    "assert_fields_known",
    "example_conflicts",
    "example_for",
    "schema_for",
    "unknown_fields",
    "validate_response",
]

HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_SHAPES = "x-zlab-shapes"  # our annotation on converted oneOf/anyOf parents: the keys each branch declares
_MAX_MSG = 300


class SpecLookupError(LookupError):
    """The spec has no such path/method/content/pointer: a mistake in the test, not in the fake."""


# --------------------------------------------------------------------------------------------- loading

class _YamlLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML loader that keeps timestamps (unquoted 2013-11-17 examples) as the strings JSON would have."""


_YamlLoader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))


def _jsonish(node: Any) -> Any:
    """YAML may give int keys (200:) and date objects; make the document look like parsed JSON."""
    if isinstance(node, dict):
        return {str(k): _jsonish(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_jsonish(v) for v in node]
    if isinstance(node, (date, datetime)):
        return node.isoformat()
    return node


@functools.cache
def _raw(path: str) -> dict:
    """One spec file as written (shared; treat as read-only)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecLookupError(f"spec file not found: {p}") from None
    if p.suffix == ".json":
        return json.loads(text)
    return _jsonish(yaml.load(text, Loader=_YamlLoader))


@functools.cache
def _converted(path: str) -> dict:
    """The same document with every schema converted to JSON Schema 2020-12 (a new object tree)."""
    return _convert_doc(_raw(path), path)


@functools.cache
def _resource(path: str) -> Resource:
    return DRAFT202012.create_resource(_converted(path))


def _retrieve_in(folder: str, uri: str) -> Resource:
    parts = urlsplit(uri)
    path = Path(unquote(parts.path))
    if parts.scheme != "file" or str(path.parent) != folder or not path.is_file():
        raise NoSuchResource(ref=uri)  # only sibling files of the loaded spec
    return _resource(str(path))


# ------------------------------------------------------------------------------------ 3.0 -> 2020-12

_DROP = frozenset({"example", "examples", "readOnly", "writeOnly", "xml", "discriminator", "externalDocs",
                   "deprecated", "nullable", "description", "title"})
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_SCHEMA_ONE = frozenset({"items", "additionalProperties", "not", "contains", "propertyNames", "if", "then",
                         "else", "unevaluatedProperties", "unevaluatedItems", "additionalItems"})
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})


def _convert_doc(node: Any, base: str) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "schema":
                out[k] = _convert_schema(v, base)
            elif k == "schemas" and isinstance(v, dict):
                out[k] = {name: _convert_schema(s, base) for name, s in v.items()}
            elif k in ("example", "examples"):
                out[k] = v
            else:
                out[k] = _convert_doc(v, base)
        return out
    if isinstance(node, list):
        return [_convert_doc(v, base) for v in node]
    return node


def _convert_schema(s: Any, base: str) -> Any:
    if not isinstance(s, dict):
        return s
    out: dict[str, Any] = {}
    for k, v in s.items():
        if k in _DROP or k.startswith("x-"):
            continue
        if k in _SCHEMA_MAPS and isinstance(v, dict):
            out[k] = {name: _convert_schema(sub, base) for name, sub in v.items()}
        elif k in _SCHEMA_ONE:
            out[k] = _convert_schema(v, base)
        elif k in _SCHEMA_LISTS and isinstance(v, list):
            out[k] = [_convert_schema(sub, base) for sub in v]
        elif k == "required" and not (isinstance(v, list) and v):
            continue  # "required: true" on a property (Swagger 2 habit) or an empty list
        else:
            out[k] = v
    shapes = {kind: [_shape(base, b) for b in s[kind]] for kind in ("oneOf", "anyOf")
              if isinstance(s.get(kind), list)}
    if shapes:
        out[_SHAPES] = shapes
    for exclusive, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(s.get(exclusive), bool):
            del out[exclusive]
            if s[exclusive] and bound in out:
                out[exclusive] = out.pop(bound)
    if s.get("nullable") is True:
        out = _allow_null(out)
    return out


def _allow_null(schema: dict) -> dict:
    if any(k in schema for k in ("$ref", "allOf", "anyOf", "oneOf", "not")):
        return {"anyOf": [schema, {"type": "null"}]}
    t = schema.get("type")
    if t is not None:
        types = list(t) if isinstance(t, list) else [t]
        if "null" not in types:
            schema["type"] = [*types, "null"]
    if isinstance(schema.get("enum"), list) and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    return schema


# ------------------------------------------------------------------------------------- refs & shapes

def _esc(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def _pointer_get(doc: Any, pointer: str) -> Any:
    node = doc
    if not pointer:
        return node
    for seg in pointer[1:].split("/"):
        seg = seg.replace("~1", "/").replace("~0", "~")
        node = node[int(seg)] if isinstance(node, list) else node[seg]
    return node


def _follow(base: str, pointer: str, node: Any) -> tuple[str, str, Any]:
    """Follow a chain of ``$ref``s through the raw documents: (file, JSON pointer, node)."""
    for _ in range(64):
        if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
            return base, pointer, node
        ref = node["$ref"]
        file_part, _, fragment = ref.partition("#")
        if file_part:
            base = str((Path(base).parent / unquote(file_part)).resolve())
        pointer = unquote(fragment)
        try:
            node = _pointer_get(_raw(base), pointer)
        except (KeyError, IndexError, ValueError, TypeError):
            raise SpecLookupError(f"unresolvable $ref {ref!r} (from {Path(base).name})") from None
    raise SpecLookupError(f"$ref cycle at {base}#{pointer}")


def _shape(base: str, schema: Any, _depth: int = 0) -> tuple[str, ...] | None:
    """Property names an (object) schema declares; () if it cannot describe an object; None if free-form."""
    base, _, schema = _follow(base, "", schema)
    if not isinstance(schema, dict) or _depth > 8:
        return None
    keys: set[str] = set()
    described = False
    if isinstance(schema.get("properties"), dict):
        keys.update(schema["properties"])
        described = True
    for kind in ("allOf", "oneOf", "anyOf"):
        for sub in schema.get(kind) or ():
            sub_shape = _shape(base, sub, _depth + 1)
            if sub_shape is None:
                if kind != "allOf":
                    return None  # one alternative takes any object
                continue
            keys.update(sub_shape)
            described = True
    if described:
        return tuple(sorted(keys))
    t = schema.get("type")
    if t is not None and "object" not in (t if isinstance(t, list) else [t]):
        return ()
    return None


def _applicable(shapes: list | None, instance: Any) -> list[int] | None:
    """Indexes of the branches that declare at least one key of the object; None = try them all."""
    if not shapes or not isinstance(instance, dict):
        return None
    keys = instance.keys()
    hits = [i for i, s in enumerate(shapes) if s is None or not keys.isdisjoint(s)]
    return hits or None


# ------------------------------------------------------------------------------------ the validator

def _zoho_any_of(kind: str):
    def check(validator, branches, instance, schema):
        shapes = (schema.get(_SHAPES) or {}).get(kind)
        if not isinstance(branches, list):
            return
        candidates = _applicable(shapes, instance) or range(len(branches))
        failures = []
        for i in candidates:
            errors = list(validator.descend(instance, branches[i], schema_path=i))
            if not errors:
                return
            failures.append((i, errors))

        def closeness(item):
            i, errors = item
            overlap = 0
            if shapes and isinstance(instance, dict) and shapes[i]:
                overlap = len(instance.keys() & set(shapes[i]))
            wrong_type = any(not e.path and e.validator == "type" for e in errors)
            return (wrong_type, -overlap, len(errors), i)

        if failures:
            yield from min(failures, key=closeness)[1]

    return check


def _no_check(validator, value, instance, schema):
    return ()


_Validator = validators.extend(Draft202012Validator, {"oneOf": _zoho_any_of("oneOf"),
                                                      "anyOf": _zoho_any_of("anyOf")})
_ValidatorNoPatterns = validators.extend(_Validator, {"pattern": _no_check})

_FORMATS = FormatChecker(formats=())
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


@_FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE_TIME.fullmatch(value):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    return True


@_FORMATS.checks("date", raises=ValueError)
def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)) and bool(date.fromisoformat(value))


@_FORMATS.checks("int32")
def _is_int32(value: object) -> bool:
    return not isinstance(value, int) or -(2**31) <= value < 2**31


@_FORMATS.checks("int64")
def _is_int64(value: object) -> bool:
    return not isinstance(value, int) or -(2**63) <= value < 2**63


# ------------------------------------------------------------------------------------------ the spec

def _api_prefix(templates: Iterable[str]) -> str:
    """A shared leading "/crm/v8"-style prefix (ending in a version segment), else ""."""
    split = [t.strip("/").split("/") for t in templates]
    if not split:
        return ""
    common: list[str] = []
    for segs in zip(*split, strict=False):
        if len(set(segs)) != 1 or "{" in segs[0]:
            break
        common.append(segs[0])
    for i in range(len(common), 0, -1):
        if re.fullmatch(r"v\d+(\.\d+)?", common[i - 1]):
            return "/" + "/".join(common[:i])
    return ""


class Spec:
    """One loaded spec file. Get one with ``Spec.load(path)`` (cached)."""

    def __init__(self, path: Path, collapse_statuses: bool | None = None):
        self.path = path
        self.name = path.name
        self.raw: dict = _raw(str(path))  # as written; shared, do not mutate
        self.uri = path.as_uri()
        self.paths: dict[str, dict] = self.raw.get("paths") or {}
        self.collapse_statuses = (any(t.startswith("/crm/") for t in self.paths)
                                  if collapse_statuses is None else collapse_statuses)
        bases = {urlsplit(str(s.get("url", ""))).path.rstrip("/") for s in self.raw.get("servers") or ()}
        self.base_paths = tuple(sorted((b for b in bases if b), key=len, reverse=True))
        self.api_prefix = _api_prefix(self.paths)
        self._matchers = []
        for template in self.paths:
            segs = template.strip("/").split("/")
            rx = "/" + "/".join(re.sub(r"\\\{[^/]*?\\\}", "[^/]+", re.escape(s)) for s in segs)
            self._matchers.append((template, re.compile(rx), tuple(int("{" in s) for s in segs)))

    @classmethod
    def load(cls, path: str | Path, *, collapse_statuses: bool | None = None) -> Spec:
        return _load_spec(str(Path(path).resolve()), collapse_statuses)

    def __repr__(self) -> str:
        return f"Spec({str(self.path)!r})"

    @functools.cached_property
    def registry(self) -> Registry:
        retrieve = functools.partial(_retrieve_in, str(self.path.parent))
        return Registry(retrieve=retrieve).with_resource(self.uri, _resource(str(self.path)))

    def match_path(self, path: str, method: str | None = None) -> str:
        """The path template for a template or a concrete path (server prefix and query string allowed)."""
        if path in self.paths:
            return path
        concrete = urlsplit(path).path if "://" in path else path.split("?", 1)[0].split("#", 1)[0]
        concrete = "/" + concrete.strip("/")
        candidates = [concrete]
        for b in self.base_paths:
            if concrete == b or concrete.startswith(b + "/"):
                candidates.append(concrete[len(b):] or "/")
        if self.api_prefix and not concrete.startswith(self.api_prefix + "/"):
            candidates.append(self.api_prefix + concrete)
        matches = [(key, order, template) for order, (template, rx, key) in enumerate(self._matchers)
                   if any(rx.fullmatch(c) for c in candidates)]
        if method:
            with_method = [m for m in matches if method.lower() in self.paths[m[2]]]
            matches = with_method or matches
        if not matches:
            close = difflib.get_close_matches(concrete, list(self.paths), n=3, cutoff=0.5)
            hint = f" Closest templates: {', '.join(close)}." if close else ""
            raise SpecLookupError(f"no path in {self.name} matches {path!r}.{hint} "
                                  f"Paths there: {', '.join(sorted(self.paths))}")
        return min(matches)[2]

    def operation(self, path: str, method: str) -> tuple[str, dict]:
        """(template, operation object) for a path and an HTTP method."""
        method = method.lower()
        template = self.match_path(path, method)
        op = self.paths[template].get(method)
        if not isinstance(op, dict):
            have = [m.upper() for m in self.paths[template] if m in HTTP_METHODS]
            raise SpecLookupError(f"{method.upper()} {template} is not in {self.name}; "
                                  f"it declares: {', '.join(have) or 'no operations'}")
        return template, op


@functools.cache
def _load_spec(path: str, collapse_statuses: bool | None) -> Spec:
    return Spec(Path(path), collapse_statuses)


def _spec(spec: Spec | str | Path) -> Spec:
    return spec if isinstance(spec, Spec) else Spec.load(spec)


# ------------------------------------------------------------------------------ locating a response

@dataclass(frozen=True)
class _Located:
    spec: Spec
    template: str
    method: str
    status: int
    response_key: str
    content_type: str | None  # None: the response declares no body
    base: str  # file holding the schema
    pointer: str  # JSON pointer of the schema in that file

    @property
    def where(self) -> str:
        return f"{self.method.upper()} {self.template} -> {self.status} ({self.spec.name}, response {self.response_key!r})"

    @property
    def schema_uri(self) -> str:
        return Path(self.base).as_uri() + "#" + quote(self.pointer, safe="/~-_.!$&'()*+,;=:@")

    @property
    def raw_schema(self) -> Any:
        return _pointer_get(_raw(self.base), self.pointer)


def _pick_status(responses: dict, status: int, collapse: bool) -> str | None:
    s = str(status)
    for key in (s, f"{s[0]}XX", f"{s[0]}xx", "default"):
        if key in responses:
            return key
    if collapse:
        declared = sorted(k for k in responses if k.isdigit())
        same_class = [k for k in declared if k[0] == s[0]]
        errors = [k for k in declared if k[0] in "45"] if s[0] in "45" else []
        for key in (*same_class, *errors, "200"):
            if key in responses:
                return key
    return None


def _locate(spec: Spec | str | Path, path: str, method: str, status: int) -> _Located:
    spec = _spec(spec)
    method = method.lower()
    template, op = spec.operation(path, method)
    responses = {str(k): v for k, v in (op.get("responses") or {}).items()}
    key = _pick_status(responses, int(status), spec.collapse_statuses)
    where = f"{method.upper()} {template} in {spec.name}"
    if key is None:
        raise AssertionError(f"{where} declares no response for status {status} "
                             f"(declared: {', '.join(responses) or 'none'})")
    pointer = f"/paths/{_esc(template)}/{method}/responses/{_esc(key)}"
    base, pointer, response = _follow(str(spec.path), pointer, responses[key])
    content = response.get("content") if isinstance(response, dict) else None
    if not content or int(status) == 204:
        return _Located(spec, template, method, int(status), key, None, base, pointer)
    json_types = [c for c in content if c.split(";")[0].strip().lower() == "application/json"]
    json_types += [c for c in content if "json" in c.lower() and c not in json_types]
    if not json_types:
        raise SpecLookupError(f"{where} -> {key} declares no JSON body; content types: {', '.join(content)}")
    ct = json_types[0]
    if "schema" not in content[ct]:
        raise SpecLookupError(f"{where} -> {key} ({ct}) has no schema")
    pointer = f"{pointer}/content/{_esc(ct)}/schema"
    base, pointer, _ = _follow(base, pointer, content[ct]["schema"])
    return _Located(spec, template, method, int(status), key, ct, base, pointer)


# ----------------------------------------------------------------------------------- JSON paths etc.

_PLAIN_KEY = re.compile(r"[a-zA-Z][a-zA-Z0-9_]*")


def _child(path: str, key: str | int) -> str:
    """JSON path of a child, spelled like jsonschema's ``ValidationError.json_path``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}"
    return path + "['" + key.replace("\\", "\\\\").replace("'", "\\'") + "']"


@functools.lru_cache(maxsize=256)
def _path_pattern(pattern: str) -> re.Pattern:
    parts = re.split(r"(\[\*\]|\*)", pattern)
    rx = "".join(r"\[\d+\]" if p == "[*]" else r"[^.\[]+" if p == "*" else re.escape(p) for p in parts)
    return re.compile(rx + r"(?=$|[.\[])")


def _matches_any(path: str, key: str | int | None, patterns: Iterable[str]) -> bool:
    for p in patterns:
        if p.startswith("$"):
            if _path_pattern(p).match(path):
                return True
        elif key is not None and p == key:
            return True
    return False


def _json_body(body: Any) -> Any:
    if hasattr(body, "get_data") and hasattr(body, "status_code"):  # Flask/Werkzeug response
        body = body.get_data()
    elif isinstance(getattr(body, "content", None), bytes) and hasattr(body, "status_code"):  # httpx/requests
        body = body.content
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8")
    if isinstance(body, str):
        if not body.strip():
            return None
        try:
            return json.loads(body)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"response body is not JSON ({exc}): {body[:200]!r}") from None
    return body


def _short(text: str, limit: int = _MAX_MSG) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _brief(value: Any) -> str:
    """A short stand-in for a big offending value."""
    if isinstance(value, dict):
        return "{object with keys: " + _short(", ".join(map(str, value)), 80) + "}"
    if isinstance(value, list):
        return f"[array of {len(value)} item(s)]"
    return _short(repr(value), 100)


def _message(error) -> str:
    """jsonschema's message, with a long leading repr of the instance replaced by a brief one."""
    msg, shown = error.message, repr(error.instance)
    if len(shown) > 100 and msg.startswith(shown):
        msg = _brief(error.instance) + msg[len(shown):]
    return _short(msg)


# --------------------------------------------------------------------------------- validate_response

class CheckedKeys(list):
    """The body's top-level keys that the response schema declares; ``response_key`` is the spec's key
    used ("201", "200", "default"...), ``schema_uri`` where its schema lives."""

    response_key: str
    schema_uri: str | None


def validate_response(spec: Spec | str | Path, path: str, method: str, status: int, body: Any, *,
                      ignore: Iterable[str] = (), formats: bool = True, patterns: bool = False) -> CheckedKeys:
    """Validate a JSON body against the spec's response schema; AssertionError lists every violation.

    ``path``: a template as written in the spec or a concrete path. ``body``: parsed JSON, a str/bytes,
    or a Flask/httpx response. ``ignore``: JSON paths ("$.invoice.total", "$.items[*].rate") whose errors
    (and their descendants') are dropped. ``formats``: check date-time/date/int32/int64. ``patterns``:
    check ``pattern`` (off by default: Zoho's patterns are copied from sample data, e.g. CRM users.json
    wants emails like "[a-z0-9]{9}[@][a-z0-9]{5}[.]com", shift_hours.json a literal "hh:mm").
    Returns the top-level keys the schema checked.
    """
    loc = _locate(spec, path, method, status)
    body = _json_body(body)
    result = CheckedKeys()
    result.response_key = loc.response_key
    result.schema_uri = None
    if loc.content_type is None:
        if body not in (None, "", b""):
            raise AssertionError(f"{loc.where}: the spec declares no body, got {_short(repr(body))}")
        return result
    result.schema_uri = loc.schema_uri
    cls = _Validator if patterns else _ValidatorNoPatterns
    validator = cls({"$ref": loc.schema_uri}, registry=loc.spec.registry,
                    format_checker=_FORMATS if formats else None)
    patterns = tuple(ignore)
    errors = [e for e in validator.iter_errors(body) if not _matches_any(e.json_path, None, patterns)]
    if errors:
        errors.sort(key=lambda e: [(0, p, "") if isinstance(p, int) else (1, 0, p) for p in e.absolute_path])
        lines = [f"  {e.json_path}: {_message(e)}" for e in errors]
        raise AssertionError(f"{loc.where}: {len(errors)} schema violation(s):\n" + "\n".join(lines))
    if isinstance(body, dict):
        props, _ = _declared([(loc.base, loc.raw_schema)], body)
        result.extend(k for k in body if k in props)
    return result


# ----------------------------------------------------------------------------- strictness & schemas

_Cands = list[tuple[str, Any]]  # candidate (file, schema) pairs that may describe one spot of the body


def _declared(cands: _Cands, instance: Any) -> tuple[dict[str, _Cands], bool]:
    """Properties the candidate schemas declare for this object: {name: candidates}, and whether it is
    open (explicit additionalProperties/patternProperties, or free-form: no properties declared at all).
    Of a oneOf/anyOf only the branches applicable to the object count (see ``_applicable``), united."""
    props: dict[str, _Cands] = {}
    open_ = described = False
    for base, schema in cands:
        o, d = _declared_into(base, schema, instance, props, 0)
        open_ |= o
        described |= d
    return props, open_ or not described


def _declared_into(base, schema, instance, props, depth) -> tuple[bool, bool]:
    base, _, schema = _follow(base, "", schema)
    if not isinstance(schema, dict) or depth > 16:
        return False, False
    described = isinstance(schema.get("properties"), dict)
    if described:
        for k, v in schema["properties"].items():
            props.setdefault(k, []).append((base, v))
    ap = schema.get("additionalProperties")
    open_ = (ap is not None and ap is not False) or bool(schema.get("patternProperties"))
    branches = list(schema.get("allOf") or ())
    for kind in ("oneOf", "anyOf"):
        subs = schema.get(kind) or []
        picked = _applicable([_shape(base, sub) for sub in subs], instance)
        branches += [subs[i] for i in (picked if picked is not None else range(len(subs)))]
    for sub in branches:
        o, d = _declared_into(base, sub, instance, props, depth + 1)
        open_ |= o
        described |= d
    return open_, described


def _items(cands: _Cands) -> _Cands:
    """Candidate schemas of the elements of an array."""
    out: _Cands = []

    def collect(base, schema, depth):
        base, _, schema = _follow(base, "", schema)
        if not isinstance(schema, dict) or depth > 8:
            return
        if "items" in schema:
            out.append((base, schema["items"]))
        for kind in ("allOf", "oneOf", "anyOf"):
            for sub in schema.get(kind) or ():
                collect(base, sub, depth + 1)

    for base, schema in cands:
        collect(base, schema, 0)
    return out


def _walk_unknown(cands: _Cands, instance, path, allow, out, depth=0):
    if depth > 64 or not cands:
        return
    if isinstance(instance, dict):
        props, open_ = _declared(cands, instance)
        for k, v in instance.items():
            p = _child(path, k)
            if k in props:
                _walk_unknown(props[k], v, p, allow, out, depth + 1)
            elif not open_ and not _matches_any(p, k, allow):
                out.append(f"{p}: not declared by the spec (declared here: {', '.join(sorted(props)) or 'none'})")
    elif isinstance(instance, list):
        items = _items(cands)
        for i, v in enumerate(instance):
            _walk_unknown(items, v, _child(path, i), allow, out, depth + 1)


def _descend(cands: _Cands, segment: str, instance: Any = None) -> _Cands:
    """Step from schemas to those of one property / array element ("*" or an index)."""
    if segment == "*" or segment.isdigit():
        found = _items(cands)
        if found:
            return found
    props, _ = _declared(cands, instance if isinstance(instance, dict) else {segment: None})
    if segment in props:
        return props[segment]
    names = ", ".join(sorted({Path(b).name for b, _ in cands}))
    raise SpecLookupError(f"the schema ({names}) declares no {segment!r} "
                          f"(declared: {', '.join(sorted(props)) or 'none'})")


def _pointer_segments(pointer: str) -> list[str]:
    if pointer in ("", "/"):
        return []
    if not pointer.startswith("/"):
        raise SpecLookupError(f"JSON pointer must start with '/': {pointer!r}")
    return [s.replace("~1", "/").replace("~0", "~") for s in pointer[1:].split("/")]


def unknown_fields(spec: Spec | str | Path, path: str, method: str, status: int, body: Any,
                   pointer: str = "", *, allow: Iterable[str] = ()) -> list[str]:
    """Keys anywhere in ``body`` (or under the JSON pointer, e.g. "/contact", "/data/0") that the spec's
    schema does not declare, as "$.contact.foo: ..." lines. Objects whose schema declares no properties or
    allows additional ones (CRM ``Record``: additionalProperties true) are not judged. ``allow``: key
    names or JSON paths to accept anyway."""
    loc = _locate(spec, path, method, status)
    if loc.content_type is None:
        return []
    body = _json_body(body)
    cands, node, jpath = [(loc.base, loc.raw_schema)], body, "$"
    for seg in _pointer_segments(pointer):
        cands = _descend(cands, seg, node)
        key: str | int = int(seg) if isinstance(node, list) else seg
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            raise AssertionError(f"{loc.where}: body has nothing at {pointer!r}") from None
        jpath = _child(jpath, key)
    out: list[str] = []
    _walk_unknown(cands, node, jpath, tuple(allow), out)
    return out


def assert_fields_known(spec: Spec | str | Path, path: str, method: str, status: int, body: Any,
                        pointer: str = "", *, allow: Iterable[str] = ()) -> None:
    """AssertionError listing every key the spec does not declare (see ``unknown_fields``)."""
    unknown = unknown_fields(spec, path, method, status, body, pointer, allow=allow)
    if unknown:
        loc = _locate(spec, path, method, status)
        raise AssertionError(f"{loc.where}: {len(unknown)} field(s) the spec does not declare:\n"
                             + "\n".join(f"  {_short(u)}" for u in unknown))


def _inline(base: str, node: Any, stack: tuple[str, ...] = ()) -> Any:
    if isinstance(node, dict) and isinstance(node.get("$ref"), str):
        target_base, pointer, target = _follow(base, "", node)
        ident = f"{target_base}#{pointer}"
        if ident in stack or len(stack) > 24:
            return {"$ref": node["$ref"]}  # recursive schema: leave the reference
        return _inline(target_base, target, (*stack, ident))
    if isinstance(node, dict):
        return {k: v if k in ("example", "examples", "enum") else _inline(base, v, stack) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(base, v, stack) for v in node]
    return node


def schema_for(spec: Spec | str | Path, path: str, method: str, status: int, pointer: str = "") -> Any:
    """The response schema as the spec writes it (OpenAPI 3.0: ``example``, ``nullable``...), with every
    ``$ref`` inlined (recursive ones left as refs), optionally at a JSON pointer into the *body*
    ("/contact/contact_id", "/data/*/Created_By" - "*" or an index for array items; where several oneOf
    branches declare the key, the first branch's). A fresh copy, safe to modify."""
    loc = _locate(spec, path, method, status)
    if loc.content_type is None:
        raise SpecLookupError(f"{loc.where}: no JSON body is declared")
    cands = [(loc.base, loc.raw_schema)]
    for seg in _pointer_segments(pointer):
        cands = _descend(cands, seg)
    return _inline(*cands[0])


# ------------------------------------------------------------------------------------ example bodies

_OMIT = object()
_DEFAULTS = {"string": "string", "integer": 0, "number": 0, "boolean": True, "array": [], "object": {}}
_FORMAT_DEFAULTS = {"date-time": "2021-05-02T11:17:33+05:30", "date": "2021-05-02"}


def _type_of(schema: dict) -> str | None:
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), None)
    if t is None and "properties" in schema:
        return "object"
    return t


def _coerce(value: Any, schema: dict) -> tuple[Any, bool]:
    """The example as the declared type (and whether that took a conversion)."""
    t = _type_of(schema)
    if t == "string":
        if isinstance(value, str):
            ok = "format" not in schema or _FORMATS.conforms(value, schema["format"])
            return (value, True) if ok else (_FORMAT_DEFAULTS.get(schema["format"], value), False)
        return (json.dumps(value) if isinstance(value, bool) else str(value)), False
    if t == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value, True
        try:
            return int(float(value)), False
        except (TypeError, ValueError):
            return 0, False
    if t == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value, True
        try:
            return float(value), False
        except (TypeError, ValueError):
            return 0, False
    if t == "boolean":
        if isinstance(value, bool):
            return value, True
        return str(value).lower() in ("true", "1", "yes"), False
    return value, True


def _build(base, schema, path, conflicts, stack, prefer):
    if isinstance(schema, dict) and isinstance(schema.get("$ref"), str):
        target_base, pointer, target = _follow(base, "", schema)
        ident = f"{target_base}#{pointer}"
        if ident in stack or len(stack) > 12:
            return _OMIT
        return _build(target_base, target, path, conflicts, (*stack, ident), prefer)
    if not isinstance(schema, dict):
        return _OMIT
    for kind in ("oneOf", "anyOf"):
        if schema.get(kind) and "properties" not in schema:
            subs = schema[kind]
            return _build(base, subs[min(prefer.get(path, 0), len(subs) - 1)], path, conflicts, stack, prefer)
    if schema.get("allOf"):
        merged: dict = {}
        for sub in schema["allOf"]:
            part = _build(base, sub, path, conflicts, stack, prefer)
            if isinstance(part, dict):
                merged.update(part)
        return merged
    t = _type_of(schema)
    if t == "object":
        out = {}
        for k, sub in (schema.get("properties") or {}).items():
            v = _build(base, sub, _child(path, k), conflicts, stack, prefer)
            if v is not _OMIT:
                out[k] = v
        return out
    if t == "array":
        item = _build(base, schema.get("items", {}), _child(path, 0), conflicts, stack, prefer)
        return [] if item is _OMIT else [item]
    if schema.get("example") is not None:
        value, clean = _coerce(schema["example"], schema)
        if not clean:
            conflicts.append(f"{path}: declared {t}{'/' + schema['format'] if 'format' in schema else ''}, "
                             f"spec example {schema['example']!r}")
    elif isinstance(schema.get("enum"), list) and schema["enum"]:
        value = schema["enum"][0]
    else:
        value = _FORMAT_DEFAULTS.get(schema.get("format", ""), _DEFAULTS.get(t or "", "string"))
    if isinstance(schema.get("enum"), list) and schema["enum"] and value not in schema["enum"]:
        conflicts.append(f"{path}: spec example {value!r} is not in its enum")
        value = schema["enum"][0]
    return value


def example_for(spec: Spec | str | Path, path: str, method: str, status: int, *,
                branch: dict[str, int] | None = None) -> Any:
    """A body built from the response schema's own ``example`` values, converted to the declared types
    (Zoho writes ids as bare numbers in YAML: 460000000026049 for a string). oneOf/anyOf take the first
    branch, or ``branch={"$": 1, "$.data[0]": 1}`` per JSON path; arrays get one element; recursive
    schemas are cut. Leaves without an example get a placeholder of their type."""
    loc = _locate(spec, path, method, status)
    if loc.content_type is None:
        return None
    built = _build(loc.base, loc.raw_schema, "$", [], (), branch or {})
    return {} if built is _OMIT else built


def example_conflicts(spec: Spec | str | Path, path: str, method: str, status: int) -> list[str]:
    """Where the spec's own examples contradict its declared types (e.g. "$.invoice.total: declared string,
    spec example 10000.0") - hints to where the schema itself may be wrong."""
    loc = _locate(spec, path, method, status)
    conflicts: list[str] = []
    if loc.content_type is not None:
        _build(loc.base, loc.raw_schema, "$", conflicts, (), {})
    return conflicts
