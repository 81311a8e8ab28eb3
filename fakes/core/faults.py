"""Fault injection rules (``/_lab/faults``).

A rule matches on product, method, path pattern and org, and then acts: a Zoho-shaped error
with a status, a 429 in the product's own words with ``Retry-After``, a delay (also the way to
provoke client timeouts), or a dropped connection. It fires on every match, with a
probability, or on the Nth matching call, for a number of times.

Rules are stored in the database (so snapshots and several workers see them) and cached in
memory; the counts of matches go through ``Counters`` so "the 2nd call" means the 2nd call
across workers too.
"""

from __future__ import annotations

import fnmatch
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Integer, delete
from sqlmodel import Field, SQLModel, select

from .counters import Counters
from .db import Database, datetime_column, json_column

ACTIONS = ("error", "rate_limit", "delay", "drop")
RATE_KINDS = ("rate_minute", "rate_day", "concurrency")  # errors.Kind values a rate_limit may name
PRODUCT_NAMES = ("accounts", "books", "invoice", "crm", "fsm")


class FaultRuleRow(SQLModel, table=True):
    __tablename__ = "lab_fault_rule"
    # Ids come from the lab's id sequence: never reused (a rule's match counts are keyed by its
    # id), and explicit, so a snapshot restore on PostgreSQL needs no serial repair.
    id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    spec: dict = json_column()
    created_time: datetime | None = datetime_column()


class FaultSpecError(ValueError):
    pass


@dataclass
class FaultRule:
    id: int
    product: str | None
    method: str | None
    path: str | None
    org: str | None
    action: dict[str, Any]
    probability: float | None
    nth: int | None
    times: int | None
    _path_re: re.Pattern[str] | None = None

    @classmethod
    def parse(cls, rule_id: int, spec: dict[str, Any]) -> FaultRule:
        if not isinstance(spec, dict):
            raise FaultSpecError("a fault rule is a JSON object")
        unknown = set(spec) - {"product", "method", "path", "org", "action", "probability", "nth", "times", "id"}
        if unknown:
            raise FaultSpecError(f"unknown keys: {', '.join(sorted(unknown))}")
        product = spec.get("product")
        if product is not None and product not in PRODUCT_NAMES:
            raise FaultSpecError(f"product must be one of {', '.join(PRODUCT_NAMES)}")
        method = spec.get("method")
        if method is not None and (not isinstance(method, str) or not method.isalpha()):
            raise FaultSpecError("method must be an HTTP method such as POST")
        path = spec.get("path")
        if path is not None and not isinstance(path, str):
            raise FaultSpecError("path must be a string (glob such as /books/v3/items* or a ^regex$)")
        action = spec.get("action") or {"type": "error", "status": 500}
        if not isinstance(action, dict) or action.get("type") not in ACTIONS:
            raise FaultSpecError(f"action.type must be one of {', '.join(ACTIONS)}")
        if action["type"] == "error":
            status = action.get("status", 500)
            if not isinstance(status, int) or not 400 <= status <= 599:
                raise FaultSpecError("action.status must be an HTTP error status (400-599)")
        if action["type"] == "delay":
            secs = action.get("seconds")
            if not isinstance(secs, (int, float)) or not 0 <= secs <= 600:
                raise FaultSpecError("action.seconds must be a number from 0 to 600")
        if action["type"] == "rate_limit" and action.get("kind", RATE_KINDS[0]) not in RATE_KINDS:
            raise FaultSpecError(f"action.kind must be one of {', '.join(RATE_KINDS)}")
        if "headers" in action and not isinstance(action["headers"], dict):
            raise FaultSpecError("action.headers must be an object of header names to values")
        if "retry_after" in action and (not isinstance(action["retry_after"], int) or action["retry_after"] < 0):
            raise FaultSpecError("action.retry_after must be a whole number of seconds")
        if spec.get("org") is not None and not isinstance(spec["org"], str):
            raise FaultSpecError("org must be an org id (a string)")
        prob = spec.get("probability")
        if prob is not None and (isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 <= prob <= 1):
            raise FaultSpecError("probability must be between 0 and 1")
        nth = spec.get("nth")
        if nth is not None and (not isinstance(nth, int) or isinstance(nth, bool) or nth < 1):
            raise FaultSpecError("nth must be a whole number >= 1")
        times = spec.get("times")
        if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
            raise FaultSpecError("times must be a whole number >= 1")
        if nth is not None and prob is not None:
            raise FaultSpecError("give either nth or probability, not both")
        path_re = None
        if path:
            try:
                path_re = re.compile(path if path.startswith("^") else fnmatch.translate(path))
            except re.error as exc:
                raise FaultSpecError(f"path is not a valid pattern: {exc}") from None
        return cls(rule_id, product, method.upper() if method else None, path, spec.get("org"),
                   action, prob, nth, times if times is not None else (1 if nth is not None else None),
                   path_re)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "product": self.product, "method": self.method, "path": self.path,
            "org": self.org, "action": self.action, "probability": self.probability,
            "nth": self.nth, "times": self.times,
        }

    def matches(self, product: str, method: str, path: str, org_id: str | None) -> bool:
        if self.product and self.product != product:
            return False
        if self.method and self.method != method:
            return False
        if self.org and self.org != org_id:
            return False
        if self._path_re is not None and not self._path_re.match(path):
            return False
        return True


class FaultBook:
    def __init__(self, db: Database, counters: Counters, seed: int = 0) -> None:
        self.db = db
        self.counters = counters
        self.seed = seed
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._rngs: dict[int, random.Random] = {}
        self.on_change: Callable[[], None] = lambda: None  # after a committed change (Lab: tell the other workers)

    # -- storage ------------------------------------------------------------------------
    def load(self) -> None:
        with self.db.session() as s:
            rows = s.exec(select(FaultRuleRow).order_by(FaultRuleRow.id)).all()
        rules = []
        for r in rows:
            try:
                rules.append(FaultRule.parse(r.id, r.spec))
            except FaultSpecError:
                continue
        self._rules = rules

    def add(self, spec: dict[str, Any], now: datetime) -> FaultRule:
        FaultRule.parse(0, spec)  # validate before storing
        from .ids import IdSequence
        from .sql import increment

        with self.db.begin() as s:
            rule_id = increment(s, IdSequence, {"scope": "fault-rule"}, "value", 1)
            s.add(FaultRuleRow(id=rule_id, spec=spec, created_time=now))
            rule = FaultRule.parse(rule_id, spec)
        with self._lock:
            self._rules = [*self._rules, rule]
        self.on_change()
        return rule

    def remove(self, rule_id: int) -> bool:
        with self.db.begin() as s:
            n = s.exec(delete(FaultRuleRow).where(FaultRuleRow.id == rule_id)).rowcount
        with self._lock:
            self._rules = [r for r in self._rules if r.id != rule_id]
        self.on_change()
        return bool(n)

    def clear(self) -> None:
        with self.db.begin() as s:
            s.exec(delete(FaultRuleRow))
        with self._lock:
            self._rules = []
            self._rngs.clear()
        self.on_change()

    @property
    def rules(self) -> list[FaultRule]:
        return self._rules

    def stats(self, rule: FaultRule) -> dict[str, int]:
        return {"matched": self.counters.gauge(f"fault:{rule.id}:matched", 0),
                "fired": self.counters.gauge(f"fault:{rule.id}:fired", 0)}

    # -- hot path -----------------------------------------------------------------------
    def pick(self, product: str, method: str, path: str, org_id: str | None) -> FaultRule | None:
        """The first rule that matches and decides to fire on this call, if any."""
        rules = self._rules
        if not rules:
            return None
        for rule in rules:
            if not rule.matches(product, method, path, org_id):
                continue
            # gauges: counts that never roll over nor get pruned with the rate-limit windows
            matched = self.counters.gauge(f"fault:{rule.id}:matched", 1)
            if self._fires(rule, matched):
                self.counters.gauge(f"fault:{rule.id}:fired", 1)
                return rule
        return None

    def _fires(self, rule: FaultRule, matched: int) -> bool:
        if rule.nth is not None:
            return rule.nth <= matched < rule.nth + (rule.times or 1)
        fired = self.counters.gauge(f"fault:{rule.id}:fired", 0)
        if rule.times is not None and fired >= rule.times:
            return False
        if rule.probability is None:
            return True
        with self._lock:
            rng = self._rngs.setdefault(rule.id, random.Random(f"{self.seed}:{rule.id}"))
            return rng.random() < rule.probability
