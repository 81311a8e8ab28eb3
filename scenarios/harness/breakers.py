"""Breakers: the suite's own test. A breaker is a small, named, realistic change of the syncer's
behaviour (a condition flipped, a step skipped, a wrong field, an off-by-one), applied in-process
to the embedded syncer; the scenarios of its rule must then fail. ``tests/test_breakers.py`` runs
every breaker that way, so a scenario that cannot fail when its rule breaks shows up in CI.

Breakers live next to their rule's scenarios in ``scenarios/catalog/<module>.py``:

    @breaker("TW-10", "TW-10-fsm-currency-at-books-rate", "FSM currency created at Books' rate, not 1")
    def _(p):
        from syncer.books_sync import engine
        ...
        p.setattr(engine.SyncEngine, "sync_currencies", broken)

``p`` is a ``Patcher``: pytest's ``MonkeyPatch`` in the tests, ``Patch`` (below) elsewhere; both
undo every change when done. Breakers only work on an embedded syncer (same process).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from .model import RULE_ID, Result, ScenarioDef


class Patcher(Protocol):  # pytest's MonkeyPatch satisfies it; ``Patch`` is the runner's own
    def setattr(self, target: Any, name: str, value: Any, raising: bool = True) -> None: ...

    def setitem(self, mapping: Any, name: Any, value: Any) -> None: ...


@dataclass(frozen=True)
class BreakerDef:
    rule: str            # "TW-10"
    name: str            # "TW-10-fsm-currency-at-books-rate" (unique, rule id first)
    describe: str        # one line: what the break does, as a reviewer would say it
    apply: Callable[[Patcher], None]   # applies the break in-process (embedded syncer)
    module: str = ""


BREAKERS: dict[str, BreakerDef] = {}


def breaker(rule: str, name: str, describe: str) -> Callable[[Callable[[Patcher], None]], Callable]:
    """Decorator registering a breaker; the function body does ``p.setattr(...)`` on syncer code."""
    if not RULE_ID.match(rule):
        raise ValueError(f"breaker {name}: {rule!r} is not a rule id like TW-16")
    if not re.match(rf"^{re.escape(rule)}-[a-z0-9-]+$", name):
        raise ValueError(f"breaker {name!r}: the name starts with its rule id ({rule}-) then lower-case words")

    def register(func: Callable[[Patcher], None]) -> Callable[[Patcher], None]:
        found = BREAKERS.get(name)
        if found is not None and found.apply is not func and (found.module, found.apply.__qualname__) != (
                func.__module__, func.__qualname__):
            raise ValueError(f"breaker name {name} is used twice ({found.module} and {func.__module__})")
        BREAKERS[name] = BreakerDef(rule, name, describe, func, func.__module__)
        return func

    return register


def all_breakers() -> list[BreakerDef]:
    """Every breaker of the imported catalog modules (``runner.discover()`` imports them)."""
    return sorted(BREAKERS.values(), key=lambda b: (b.rule, b.name))


def by_rule(breakers: Iterable[BreakerDef] | None = None) -> dict[str, list[BreakerDef]]:
    out: dict[str, list[BreakerDef]] = {}
    for b in breakers if breakers is not None else all_breakers():
        out.setdefault(b.rule, []).append(b)
    return out


def scenarios_of(rule: str, registry: dict[str, ScenarioDef]) -> list[ScenarioDef]:
    """The scenarios guarding ``rule``: those tagged ``slow`` last (a breaker stops at the first
    scenario that fails, so the quick ones get the first chance), else by id."""
    return sorted((s for s in registry.values() if rule in s.rules), key=lambda s: ("slow" in s.tags, s.id))


class Patch:
    """A minimal ``Patcher`` outside pytest: ``with Patch() as p: b.apply(p); …`` undoes on exit."""

    _MISSING = object()

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def setattr(self, target: Any, name: str, value: Any, raising: bool = True) -> None:
        old = getattr(target, name, self._MISSING)
        if old is self._MISSING and raising:
            raise AttributeError(f"{target!r} has no attribute {name!r}")
        # a class attribute read through getattr would be bound/unwrapped: keep the raw one
        if isinstance(target, type) and name in target.__dict__:
            old = target.__dict__[name]
        setattr(target, name, value)
        self._undo.append(lambda: delattr(target, name) if old is self._MISSING else setattr(target, name, old))

    def setitem(self, mapping: Any, name: Any, value: Any) -> None:
        old = mapping.get(name, self._MISSING) if hasattr(mapping, "get") else mapping[name]
        mapping[name] = value
        self._undo.append(lambda: mapping.pop(name) if old is self._MISSING else mapping.__setitem__(name, old))

    def undo(self) -> None:
        while self._undo:
            self._undo.pop()()

    def __enter__(self) -> Patch:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.undo()


@dataclass
class Verdict:
    """What running a breaker's rule's scenarios under it showed."""
    breaker: BreakerDef
    results: list[Result]
    seconds: float

    @property
    def caught_by(self) -> Result | None:
        return next((r for r in self.results if r.status != "passed"), None)

    @property
    def caught(self) -> bool:
        return self.caught_by is not None


def prove(b: BreakerDef, scenarios: list[ScenarioDef], patcher: Patcher,
          lab_factory: Callable[[], Any] | None = None, *, lab: Any = None) -> Verdict:
    """Apply ``b`` through ``patcher`` and run ``scenarios`` one by one, stopping at the first that
    does not pass. On ``lab`` (a started embedded ``Lab``, kept open: scenarios make their own
    tenants, and the lab undoes their clock and fault changes), or on a fresh one from
    ``lab_factory``, closed afterwards. The caller undoes the patch (pytest's monkeypatch, or
    ``Patch`` as a context manager)."""
    from .runner import run_one

    if (lab is None) == (lab_factory is None):
        raise ValueError("give a lab or a lab_factory")
    started = time.perf_counter()
    b.apply(patcher)
    results: list[Result] = []
    own = lab is None
    lab = lab if lab is not None else lab_factory()
    try:
        for s in scenarios:
            r = run_one(s, lab)
            results.append(r)
            if r.status != "passed":
                break
    finally:
        if own:
            lab.close()
    return Verdict(b, results, time.perf_counter() - started)
