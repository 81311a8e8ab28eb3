"""COQL (``POST /coql``, https://www.zoho.com/crm/developer/docs/api/v8/COQL-Overview.html): the
subset the fake reads (see docs/crm.md), parsed into the record engine's Cond/Group tree, and
checked against the module's metadata. Running the query is the store's (``CrmStore.coql``);
the answer's row shape is ``render.coql_row``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fakes.core.errors import ZohoError
from fakes.core.fields import FieldDef, ModuleDef
from fakes.core.records import Cond, Criteria, Group

from . import errors
from . import metadata as md


def window(q: CoqlQuery, version: str) -> tuple[int, int]:
    """``(limit, offset)`` of a query, within the version's ceilings (coql.json LIMIT_EXCEEDED)."""
    limit_max = md.COQL_LIMIT_MAX.get(version, 2000)
    if q.limit is not None and (q.limit < 1 or q.limit > limit_max):
        raise errors.coql_limit(limit_max)
    limit = q.limit or md.COQL_LIMIT_DEFAULT
    offset = q.offset or 0
    if offset + limit > md.COQL_OFFSET_MAX.get(version, 100_000):
        raise errors.coql_limit(md.COQL_OFFSET_MAX.get(version, 100_000))
    return limit, offset


def column(mdef: ModuleDef, name: str) -> FieldDef | None:
    """The field a column (``Field`` or ``Lookup.Field``) names; None for ``id``; else INVALID_QUERY."""
    base, _, sub = name.partition(".")
    if base == "id" and not sub:
        return None
    fdef = mdef.fields.get(base)
    if fdef is None:
        raise errors.coql_column(name)
    if sub:
        target = md.MODULES.get(fdef.lookup or "") if fdef.data_type == "lookup" else None
        if fdef.data_type == "ownerlookup" and sub in ("id", "first_name", "last_name", "full_name", "email"):
            return fdef
        if target is None or (sub != "id" and sub not in target.fields):
            raise errors.coql_column(name)
    return fdef


def resolve_where(mdef: ModuleDef, node: Criteria, ids_where: Callable[[str, Cond], list[str]]) -> Criteria:
    """The where tree with its columns checked, ``Lookup.id`` read as the lookup field and
    ``Lookup.Field`` turned into ``Lookup in (ids of the target records that match)``:
    ``ids_where(target module, condition)`` gives those ids."""
    if isinstance(node, Group):
        return Group(node.op, [resolve_where(mdef, i, ids_where) for i in node.items])
    fdef = column(mdef, node.field)
    base, _, sub = node.field.partition(".")
    if sub and fdef is not None and fdef.data_type == "lookup" and sub != "id":
        ids = ids_where(fdef.lookup or "", Cond(sub, node.op, node.value))
        return Cond(base, "in", ids or ["0"])
    if sub == "id":
        return Cond(base, node.op, node.value)
    return node


@dataclass
class CoqlQuery:
    fields: list[str]
    module: str
    where: Criteria | None
    order: list[tuple[str, str]]
    limit: int | None
    offset: int | None


_TOKEN = re.compile(r"""\s*(?:
    (?P<str>'(?:[^'\\]|\\.|'')*')
  | (?P<num>-?\d+(?:\.\d+)?)(?![\w.])
  | (?P<op>!=|<>|>=|<=|=|<|>)
  | (?P<punct>[(),*])
  | (?P<word>[A-Za-z_$][\w$.]*)
)""", re.X)
_KEYWORDS = {"select", "from", "where", "and", "or", "order", "by", "asc", "desc", "limit", "offset", "like", "not",
             "in", "is", "null", "between", "true", "false"}
_COMPARE = {"=": "equals", "!=": "not_equal", "<>": "not_equal", ">": "greater_than", ">=": "greater_equal",
            "<": "less_than", "<=": "less_equal"}


def _tokens(text: str) -> list[tuple[str, str, int]]:
    out, i = [], 0
    text = text.rstrip().rstrip(";")
    while i < len(text):
        if text[i:].strip() == "":
            break
        m = _TOKEN.match(text, i)
        if m is None or m.end() == i:
            raise errors.coql_syntax(text[i:i + 20].strip(), i + 1)
        kind = m.lastgroup or ""
        value = m.group(kind)
        out.append((kind, value, m.start(kind) + 1))
        i = m.end()
    return out


class _Coql:
    def __init__(self, text: str) -> None:
        self.t = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str, int] | None:
        return self.t[self.i] if self.i < len(self.t) else None

    def kw(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "word" and tok[1].lower() in words

    def take_kw(self, word: str, clause: str | None = None) -> None:
        if not self.kw(word):
            tok = self.peek()
            if clause:
                raise errors.coql_syntax("", 0, clause)
            raise errors.coql_syntax(tok[1] if tok else "<end>", tok[2] if tok else 0)
        self.i += 1

    def fail(self) -> ZohoError:
        tok = self.peek()
        return errors.coql_syntax(tok[1] if tok else "<end>", tok[2] if tok else 0)

    def ident(self) -> str:
        tok = self.peek()
        if tok is None or tok[0] != "word" or tok[1].lower() in _KEYWORDS:
            raise self.fail()
        self.i += 1
        return tok[1]

    def punct(self, ch: str) -> bool:
        tok = self.peek()
        if tok is not None and tok[0] == "punct" and tok[1] == ch:
            self.i += 1
            return True
        return False

    def parse(self) -> CoqlQuery:
        self.take_kw("select", "select")
        fields = [self.ident()]
        while self.punct(","):
            fields.append(self.ident())
        self.take_kw("from", "from")
        module = self.ident()
        where = None
        if self.kw("where"):
            self.i += 1
            where = self.cond(0)
        order: list[tuple[str, str]] = []
        if self.kw("order"):
            self.i += 1
            self.take_kw("by")
            while True:
                name = self.ident()
                direction = "asc"
                if self.kw("asc", "desc"):
                    direction = self.t[self.i][1].lower()
                    self.i += 1
                order.append((name, direction))
                if not self.punct(","):
                    break
        limit = offset = None
        if self.kw("limit"):
            self.i += 1
            first = self.number()
            if self.punct(","):
                offset, limit = first, self.number()
            else:
                limit = first
        if self.kw("offset"):
            self.i += 1
            offset = self.number()
        if self.peek() is not None:
            raise self.fail()
        return CoqlQuery(fields, module, where, order, limit, offset)

    def number(self) -> int:
        tok = self.peek()
        if tok is None or tok[0] != "num" or "." in tok[1] or tok[1].startswith("-"):
            raise self.fail()
        self.i += 1
        return int(tok[1])

    def cond(self, depth: int) -> Criteria:
        if depth > 20:
            raise self.fail()
        items = [self.conj(depth)]
        while self.kw("or"):
            self.i += 1
            items.append(self.conj(depth))
        return items[0] if len(items) == 1 else Group("or", items)

    def conj(self, depth: int) -> Criteria:
        items = [self.atom(depth)]
        while self.kw("and"):
            self.i += 1
            items.append(self.atom(depth))
        return items[0] if len(items) == 1 else Group("and", items)

    def atom(self, depth: int) -> Criteria:
        if self.punct("("):
            node = self.cond(depth + 1)
            if not self.punct(")"):
                raise self.fail()
            return node
        name = self.ident()
        tok = self.peek()
        if tok is None:
            raise self.fail()
        if tok[0] == "op":
            self.i += 1
            value = self.value()
            if value is None:
                return Cond(name, "is_null" if tok[1] == "=" else "is_not_null")
            return Cond(name, _COMPARE[tok[1]], value)
        negate = False
        if self.kw("not"):
            negate = True
            self.i += 1
        if self.kw("like"):
            self.i += 1
            pattern = self.value()
            if not isinstance(pattern, str):
                raise self.fail()
            inner = pattern.strip("%")
            if pattern.startswith("%") and pattern.endswith("%") and len(pattern) > 1:
                op = "not_contains" if negate else "contains"
            elif pattern.endswith("%"):
                op = "starts_with"
            elif pattern.startswith("%"):
                op = "ends_with"
            else:
                op = "not_equal" if negate else "equals"
            if negate and op in ("starts_with", "ends_with"):
                return Group("or", [Cond(name, "is_null"), Cond(name, "not_contains", inner)])
            return Cond(name, op, inner)
        if self.kw("in"):
            self.i += 1
            if not self.punct("("):
                raise self.fail()
            values = [self.value()]
            while self.punct(","):
                values.append(self.value())
            if not self.punct(")"):
                raise self.fail()
            return Cond(name, "not_in" if negate else "in", values)
        if self.kw("between"):
            self.i += 1
            low = self.value()
            self.take_kw("and")
            high = self.value()
            if negate:
                return Group("or", [Cond(name, "less_than", low), Cond(name, "greater_than", high)])
            return Cond(name, "between", [low, high])
        if self.kw("is") and not negate:
            self.i += 1
            is_not = False
            if self.kw("not"):
                is_not = True
                self.i += 1
            self.take_kw("null")
            return Cond(name, "is_not_null" if is_not else "is_null")
        raise self.fail()

    def value(self) -> Any:
        tok = self.peek()
        if tok is None:
            raise self.fail()
        kind, text, _ = tok
        self.i += 1
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", text[1:-1].replace("''", "'"))
        if kind == "num":
            return float(text) if "." in text else int(text)
        if kind == "word" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if kind == "word" and text.lower() == "null":
            return None
        self.i -= 1
        raise self.fail()


def parse_coql(text: str) -> CoqlQuery:
    if not isinstance(text, str) or not text.strip():
        raise errors.coql_syntax("", 0, "select")
    if len(text) > 20_000:
        raise errors.invalid_query("the query is too long")
    return _Coql(text).parse()
