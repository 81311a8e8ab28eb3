"""The search criteria of CRM's ``/search`` and ``/actions/count``: the ``criteria`` parameter's
little language, and the ``email`` / ``phone`` / ``word`` shorthands, parsed into the record
engine's Cond/Group tree (https://www.zoho.com/crm/developer/docs/api/v8/search-records.html).
"""

from __future__ import annotations

import re
from typing import Any

from fakes.core.fields import ModuleDef
from fakes.core.records import Cond, Criteria, Group

from . import errors


def search_criteria(mdef: ModuleDef, *, criteria: str | None, email: str | None, phone: str | None,
                    word: str | None) -> Criteria:
    """The criteria of a search or count call; priority criteria > email > phone > word."""
    if criteria is not None:
        return parse_criteria(criteria, mdef)
    if email is not None:
        names = [f.api_name for f in mdef.fields.values() if f.data_type == "email"]
        if not names:
            raise errors.invalid_param("email", "the module has no email field")
        return Group("or", [Cond(n, "equals", email) for n in names])
    if phone is not None:
        names = [f.api_name for f in mdef.fields.values() if f.data_type == "phone"]
        if not names:
            raise errors.invalid_param("phone", "the module has no phone field")
        return Group("or", [Cond(n, "equals", phone) for n in names])
    if word is not None:
        if not word.strip():
            raise errors.invalid_param("word", "the word is empty")
        names = [f.api_name for f in mdef.fields.values()
                 if f.data_type in ("text", "email", "phone", "website", "textarea") and not f.system]
        return Group("or", [Cond(n, "contains", word.strip()) for n in names])
    raise errors.required_param("criteria")


_CRIT_OPS = {"equals", "not_equal", "starts_with", "ends_with", "contains", "not_contains", "in", "not_in",
             "greater_than", "greater_equal", "less_than", "less_equal", "between", "not_between"}
MAX_CRITERIA = 10


def parse_criteria(text: str, mdef: ModuleDef) -> Criteria:
    """``((Last_Name:equals:Burns\\,B)and(First_Name:starts_with:M))`` → Cond/Group.
    Backslash escapes ``( ) , :``; ``${EMPTY}`` is an empty value."""
    p = _CritParser(text, mdef)
    node = p.expr()
    p.ws()
    if p.i != len(p.s):
        raise errors.invalid_query("unexpected text after the criteria", position=p.i)
    if p.count > MAX_CRITERIA:
        raise errors.invalid_query(f"at most {MAX_CRITERIA} criteria are allowed")
    return node


class _CritParser:
    def __init__(self, s: str, mdef: ModuleDef) -> None:
        self.s, self.i, self.mdef, self.count = s, 0, mdef, 0

    def ws(self) -> None:
        while self.i < len(self.s) and self.s[self.i].isspace():
            self.i += 1

    def expr(self, depth: int = 0) -> Criteria:
        if depth > 20:
            raise errors.invalid_query("criteria nested too deeply")
        items: list[Criteria] = [self.term(depth)]
        ops: list[str] = []
        while True:
            self.ws()
            low = self.s[self.i:self.i + 3].lower()
            if low == "and":
                self.i += 3
                ops.append("and")
            elif low[:2] == "or":
                self.i += 2
                ops.append("or")
            else:
                break
            items.append(self.term(depth))
        if not ops:
            return items[0]
        if all(o == ops[0] for o in ops):
            return Group(ops[0], items)
        # mixed without brackets: "and" binds tighter
        groups: list[Criteria] = [items[0]]
        for o, it in zip(ops, items[1:], strict=True):
            if o == "and":
                last = groups[-1]
                groups[-1] = Group("and", [*last.items, it]) if isinstance(last, Group) and last.op == "and" \
                    else Group("and", [last, it])
            else:
                groups.append(it)
        return Group("or", groups)

    def term(self, depth: int) -> Criteria:
        self.ws()
        if self.i >= len(self.s) or self.s[self.i] != "(":
            raise errors.invalid_query("expected '(' in criteria", position=self.i)
        self.i += 1
        self.ws()
        if self.i < len(self.s) and self.s[self.i] == "(":
            node = self.expr(depth + 1)
            self.ws()
            if self.i >= len(self.s) or self.s[self.i] != ")":
                raise errors.invalid_query("expected ')' in criteria", position=self.i)
            self.i += 1
            return node
        parts: list[str] = []
        buf: list[str] = []
        while self.i < len(self.s):
            ch = self.s[self.i]
            if ch == "\\" and self.i + 1 < len(self.s):
                buf.append("\\" + self.s[self.i + 1])
                self.i += 2
                continue
            if ch == ")":
                break
            if ch == ":" and len(parts) < 2:
                parts.append("".join(buf))
                buf = []
            else:
                buf.append(ch)
            self.i += 1
        if self.i >= len(self.s):
            raise errors.invalid_query("expected ')' in criteria", position=self.i)
        self.i += 1
        parts.append("".join(buf))
        if len(parts) != 3:
            raise errors.invalid_query("a criterion reads (api_name:operator:value)")
        field, op, raw = parts[0].strip(), parts[1].strip().lower(), parts[2]
        self.count += 1
        if field not in self.mdef.fields and field != "id":
            raise errors.invalid_query("invalid field", api_name=field[:100])
        if op not in _CRIT_OPS:
            raise errors.invalid_query("invalid operator", operator=op[:50])
        values = [_unescape(v).strip() for v in _split_unescaped(raw)]
        if op in ("in", "not_in", "between", "not_between"):
            value: Any = values
            if op in ("between", "not_between") and len(values) != 2:
                raise errors.invalid_query("between needs two values", api_name=field)
        else:
            value = _unescape(raw)
        if op == "not_between":
            return Group("or", [Cond(field, "less_than", values[0]), Cond(field, "greater_than", values[1])])
        if value == "${EMPTY}" and op in ("equals", "not_equal"):
            return Cond(field, "is_null" if op == "equals" else "is_not_null")
        return Cond(field, op, value)


def _split_unescaped(text: str) -> list[str]:
    out, buf, i = [], [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            buf.append(text[i:i + 2])
            i += 2
            continue
        if text[i] == ",":
            out.append("".join(buf))
            buf = []
        else:
            buf.append(text[i])
        i += 1
    out.append("".join(buf))
    return out


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)

