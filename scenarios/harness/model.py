"""What a scenario is: a plain function with metadata, steps that read like the seed
sentences, and expectations that say what was expected and what was seen.

    @scenario("BOOKS-DUP-NAME", "A second customer with the same name is refused", tags=["books", "edge"])
    def duplicate_name(lab):
        books = lab.tenant().books()
        with lab.step("Given a customer 'Bowman and Co'"):
            expect(books.post("/contacts", json={"contact_name": "Bowman and Co"}).status_code, "status").equals(201)
        ...
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

RULE_ID = re.compile(r"^[A-Z]{2}-\d{2}$")
KNOWN_TAGS = ("smoke", "edge", "slow", "books", "invoice", "crm", "fsm", "accounts", "lab", "limits", "sync")


@dataclass(frozen=True)
class ScenarioDef:
    id: str
    title: str
    func: Callable[..., Any]
    rules: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    exclusive: bool = False  # moves shared state (the lab clock): never beside another scenario on one server
    module: str = ""
    doc: str = ""

    def matches_text(self) -> str:
        return " ".join((self.id, self.title, *self.rules, *self.tags)).lower()


REGISTRY: dict[str, ScenarioDef] = {}


def scenario(id: str, title: str, *, rules: Iterable[str] = (), tags: Iterable[str] = (),
             exclusive: bool = False):
    """Register a scenario. ``rules`` are RULES.md ids (TW-16); ``exclusive`` for scenarios that
    freeze or move the lab clock (one clock per server)."""
    rules, tags = tuple(rules), tuple(tags)
    for r in rules:
        if not RULE_ID.match(r):
            raise ValueError(f"scenario {id}: {r!r} is not a rule id like TW-16")

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        if id in REGISTRY and REGISTRY[id].func is not func:
            raise ValueError(f"scenario id {id} is used twice ({REGISTRY[id].module} and {func.__module__})")
        REGISTRY[id] = ScenarioDef(id, title, func, rules, tags, exclusive, func.__module__,
                                   (func.__doc__ or "").strip())
        func.scenario_id = id  # type: ignore[attr-defined]
        return func

    return register


# -- expectations ----------------------------------------------------------------------------------

class ScenarioFailure(AssertionError):
    """An expectation that did not hold: the report shows the step, what was expected, what was seen."""

    def __init__(self, expectation: str, seen: Any, step: str | None = None) -> None:
        super().__init__(f"expected {expectation}; saw {seen!r}")
        self.expectation = expectation
        self.seen = seen
        self.step = step


class ScenarioSkipped(Exception):
    """What the scenario needs is not there (a target stack that does not say where its syncer is,
    or its support token): the scenario is skipped, and the report says why."""


class Expectation:
    def __init__(self, value: Any, what: str) -> None:
        self.value = value
        self.what = what

    def _fail(self, expected: str) -> None:
        raise ScenarioFailure(f"{self.what} {expected}", _shown(self.value))

    def equals(self, expected: Any) -> Any:
        if self.value != expected:
            self._fail(f"to be {expected!r}")
        return self.value

    def differs_from(self, other: Any) -> Any:
        if self.value == other:
            self._fail(f"to differ from {other!r}")
        return self.value

    def is_true(self) -> Any:
        if not self.value:
            self._fail("to hold")
        return self.value

    def is_false(self) -> Any:
        if self.value:
            self._fail("not to hold")
        return self.value

    def contains(self, item: Any) -> Any:
        if item not in self.value:
            self._fail(f"to contain {item!r}")
        return self.value

    def lacks(self, item: Any) -> Any:
        if item in self.value:
            self._fail(f"not to contain {item!r}")
        return self.value

    def one_of(self, options: Iterable[Any]) -> Any:
        options = list(options)
        if self.value not in options:
            self._fail(f"to be one of {options!r}")
        return self.value

    def at_least(self, n: Any) -> Any:
        if not self.value >= n:
            self._fail(f"to be at least {n!r}")
        return self.value

    def at_most(self, n: Any) -> Any:
        if not self.value <= n:
            self._fail(f"to be at most {n!r}")
        return self.value

    def has_length(self, n: int) -> Any:
        if len(self.value) != n:
            self._fail(f"to have {n} element(s)")
        return self.value

    def satisfies(self, predicate: Callable[[Any], bool], description: str) -> Any:
        if not predicate(self.value):
            self._fail(description)
        return self.value


def expect(value: Any, what: str = "value") -> Expectation:
    return Expectation(value, what)


def _shown(value: Any) -> Any:
    """Responses are shown as status and body, not as objects."""
    status = getattr(value, "status_code", None)
    if status is not None and hasattr(value, "text"):
        return f"HTTP {status}: {value.text[:500]}"
    return value


# -- what a run produced ---------------------------------------------------------------------------

@dataclass
class StepRecord:
    name: str
    status: str = "passed"  # passed | failed | error | skipped
    duration: float = 0.0
    detail: str = ""


@dataclass
class Failure:
    step: str | None
    expectation: str
    seen: str
    traceback: str = ""
    kind: str = "failed"  # failed (an expectation) | error (anything else) | skipped (seen: the reason)


@dataclass
class Result:
    id: str
    title: str
    rules: tuple[str, ...]
    tags: tuple[str, ...]
    status: str  # passed | failed | error | skipped
    duration: float
    steps: list[StepRecord] = field(default_factory=list)
    failure: Failure | None = None
    journal: list[dict[str, Any]] = field(default_factory=list)
    module: str = ""

    def to_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Result:
        failure = Failure(**d["failure"]) if d.get("failure") else None
        return cls(d["id"], d["title"], tuple(d["rules"]), tuple(d["tags"]), d["status"], d["duration"],
                   [StepRecord(**s) for s in d.get("steps", [])], failure, d.get("journal", []), d.get("module", ""))
