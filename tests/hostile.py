"""Hostile inputs for the fuzz tests (tests/test_*_fuzz.py): what a careless or malicious client
sends — NUL and control characters, lone surrogates, huge integers, deep nesting, values of the
wrong JSON type, long strings and URLs — mixed with ordinary JSON so handlers get past the first
check. Each product's fuzz test sprays them over its routes and asserts no 5xx, the product's
error envelope, and that a record stored beforehand reads back unchanged.
"""

from __future__ import annotations

import json

from hypothesis import strategies as st

# strings no store keeps, or that break naive parsers; "\ud800" only ever goes into JSON bodies
# (a URL cannot carry it: clients refuse to encode it)
NASTY_TEXT = ["a\x00b", "\x00", "\x01\x1f\x7f", "a\tb\nc\r", "%00", "' or 1=1 --", "\\", "\u202e", "😀𝒳",
              "x" * 3000, " ", "null", "[]", "{}", "-1", "1e309", "9" * 40]
SURROGATES = ["a\ud800b", "\udfff", "\ud83d"]
HUGE_INTS = [2**63, 2**63 - 1, 2**64, -(2**63) - 1, 10**30, -(10**30), 2**31, 2**31 - 1]

text = st.text(max_size=30) | st.sampled_from(NASTY_TEXT)
json_text = text | st.sampled_from(SURROGATES)
numbers = (st.integers(-10**12, 10**12) | st.sampled_from(HUGE_INTS)
           | st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([1e308, -1e308, 5e-324]))
JSON = st.recursive(
    st.none() | st.booleans() | numbers | json_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(json_text.filter(lambda k: len(k) < 40), inner,
                                                                  max_size=5),
    max_leaves=12,
)
# query and header values: text a URL can carry, NUL and huge numbers included
QUERY_TEXT = text | st.sampled_from([str(n) for n in HUGE_INTS])


# one value of the wrong kind put where a handler stores or searches it (see ``aimed``)
HOSTILE_VALUES = st.sampled_from([*NASTY_TEXT, *SURROGATES, *HUGE_INTS, 1e308, -0.0, True, None, [], {}, [[["x"]]],
                                  {"id": "a\x00b"}, ["a\x00b"], {"name": "\ud800"}])


def aimed(targets: list[tuple[str, str, str, dict]], wrap=None):
    """Calls aimed at where data is stored or searched: ``(method, path, field, base)`` targets
    with a hostile value in ``field`` — of the body (``base`` + field, then ``wrap``ped, e.g. in
    CRM's ``{"data": [...]}``) or, for GET and DELETE, of the query. Random fuzzing alone rarely
    puts a NUL exactly into a name that reaches the database. Base values ``"<c>"`` stand for the
    test's anchor ids (``fill``)."""
    def build(target, value):
        method, path, field, base = target
        if method in ("GET", "DELETE"):
            text = value if isinstance(value, str) and value not in SURROGATES else "a\x00b"
            return method, path, None, {**base, field: text}
        body = {**base, field: value}
        return method, path, wrap(body) if wrap else body, {}
    return st.builds(build, st.sampled_from(targets), HOSTILE_VALUES)


def fill(value, ids: dict[str, str]):
    """``"<c>"`` placeholders (in dicts and lists, any depth) replaced by the anchor ids."""
    if isinstance(value, str) and len(value) > 2 and value[0] == "<" and value[-1] == ">":
        return ids.get(value[1:-1], value)
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    return value


def deep(n: int, opener: str = "[", closer: str = "]") -> str:
    return opener * n + closer * n


# bodies no JSON encoder would write: deep nesting, bad escapes, broken UTF-8, truncation
RAW_BODIES = st.sampled_from([
    deep(1000), deep(100), '{"a":' * 70 + "1" + "}" * 70, '{"data":' + deep(999) + "}",
    '{"data":[{"Last_Name":"a\\ud800b"}]}', '{"contact_name":"a\\u0000b"}', '{"name":"\\udc00"}',
    '{"a\\u0000":1}', "[1, 2", "{", "", " ", "null", "0", '"x"', "NaN", '{"a":NaN}', '{"a":1e999}',
]).map(str.encode) | st.sampled_from([b"\xff\xfe\xfd", b'{"a":"\xc3\x28"}', b"\x00\x00", b"{\"a\":\"\x00\"}"])


def body_kwargs(body, raw: bytes | None = None) -> dict:
    """Keyword arguments for Flask's test client: a raw hostile body, or ``body`` as JSON text
    (written with ``ensure_ascii`` so lone surrogates travel as ``\\ud800`` escapes)."""
    data = raw if raw is not None else json.dumps(body).encode()
    return {"data": data, "content_type": "application/json"}


def assert_no_5xx(r) -> None:
    assert r.status_code < 500, (r.status_code, r.get_data(as_text=True)[:500])
