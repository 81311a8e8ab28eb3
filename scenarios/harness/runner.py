"""Finding, selecting and running scenarios.

``run_one`` runs a scenario on a ``Lab`` and returns a ``Result`` (steps, failure with the step,
expectation and what was seen, and the fakes' journal for the scenario's tenants). ``run_many``
runs a selection in worker processes, each with its own embedded stack (or against one target),
reporting progress through a callback; scenarios marked ``exclusive`` run one at a time against
a shared target, since they move its clock.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any

from .lab import Lab
from .model import REGISTRY, Failure, Result, ScenarioDef, ScenarioFailure, ScenarioSkipped

DEFAULT_CATALOG = "scenarios.catalog"


def discover(packages: str | Iterable[str] = DEFAULT_CATALOG) -> dict[str, ScenarioDef]:
    """Import every module of the catalog package(s), which registers their scenarios; answer the
    scenarios of those packages by id. Teams add their own catalogs as packages (``--catalog``)."""
    names = [packages] if isinstance(packages, str) else list(packages)
    for package in names:
        pkg = importlib.import_module(package)
        for info in pkgutil.walk_packages(getattr(pkg, "__path__", []), prefix=f"{package}."):
            importlib.import_module(info.name)
    return {k: v for k, v in sorted(REGISTRY.items())
            if any(v.module == n or v.module.startswith(n + ".") for n in names)}


# -- selection ----------------------------------------------------------------------------------

class ExpressionError(ValueError):
    pass


def keyword_matcher(expr: str) -> Callable[[ScenarioDef], bool]:
    """``-k`` like pytest's: words match (case-insensitive substrings of id, title, rules, tags),
    combined with ``and``, ``or``, ``not`` and parentheses."""
    tokens = re.findall(r"\(|\)|[^\s()]+", expr)
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        tok = peek()
        if tok is None:
            raise ExpressionError(f"-k {expr!r}: unexpected end")
        pos += 1
        return tok

    def parse_or():
        left = parse_and()
        while peek() == "or":
            take()
            right = parse_and()
            left = (lambda a, b: lambda s: a(s) or b(s))(left, right)
        return left

    def parse_and():
        left = parse_not()
        while peek() == "and":
            take()
            right = parse_not()
            left = (lambda a, b: lambda s: a(s) and b(s))(left, right)
        return left

    def parse_not():
        if peek() == "not":
            take()
            inner = parse_not()
            return lambda s: not inner(s)
        return parse_atom()

    def parse_atom():
        tok = take()
        if tok == "(":
            inner = parse_or()
            if take() != ")":
                raise ExpressionError(f"-k {expr!r}: missing ')'")
            return inner
        if tok in ("and", "or", ")"):
            raise ExpressionError(f"-k {expr!r}: unexpected {tok!r}")
        word = tok.lower()
        return lambda s: word in s.matches_text()

    if not tokens:
        return lambda s: True
    matcher = parse_or()
    if pos != len(tokens):
        raise ExpressionError(f"-k {expr!r}: unexpected {tokens[pos]!r}")
    return matcher


def select(registry: dict[str, ScenarioDef], *, keyword: str | None = None, rules: Iterable[str] = (),
           tags: Iterable[str] = ()) -> list[ScenarioDef]:
    match = keyword_matcher(keyword or "")
    rules = {r.upper() for r in rules}
    tags = {t.lower() for t in tags}
    out = []
    for s in registry.values():
        if not match(s):
            continue
        if rules and not rules & set(s.rules):
            continue
        if tags and not tags & set(s.tags):
            continue
        out.append(s)
    return out


# -- running -------------------------------------------------------------------------------------

def run_one(defn: ScenarioDef, lab: Lab) -> Result:
    lab.begin()
    started = time.perf_counter()
    failure: Failure | None = None
    status = "passed"
    try:
        defn.func(lab)
    except ScenarioSkipped as exc:
        status = "skipped"
        failure = Failure(_failed_step(lab), "what the scenario needs", str(exc), "", "skipped")
    except ScenarioFailure as exc:
        status = "failed"
        failure = Failure(exc.step or _failed_step(lab), exc.expectation, _text(exc.seen), traceback.format_exc(), "failed")
    except AssertionError as exc:
        status = "failed"
        failure = Failure(_failed_step(lab), str(exc) or "assertion", "", traceback.format_exc(), "failed")
    except Exception as exc:  # a broken scenario or an unreachable stack: reported, never fatal
        status = "error"
        failure = Failure(_failed_step(lab), "no error", f"{type(exc).__name__}: {exc}", traceback.format_exc(), "error")
    duration = time.perf_counter() - started
    journal = lab.journal() if failure is not None and status != "skipped" else []
    try:
        lab.end()
    except Exception as exc:  # noqa: BLE001 - cleanup trouble must not hide the result
        if failure is None:
            status = "error"
            failure = Failure(None, "clean-up", f"{type(exc).__name__}: {exc}", traceback.format_exc(), "error")
    return Result(defn.id, defn.title, defn.rules, defn.tags, status, round(duration, 3), list(lab.steps),
                  failure, journal[:60], defn.module)


def _failed_step(lab: Lab) -> str | None:
    for rec in reversed(lab.steps):
        if rec.status != "passed":
            return rec.name
    return lab.steps[-1].name if lab.steps else None


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 2000 else text[:2000] + "…"


# worker processes: one Lab each, kept for all the scenarios the worker runs
_WORKER_LAB: Lab | None = None


def _init_worker(target: str | None, packages: tuple[str, ...]) -> None:
    global _WORKER_LAB
    discover(packages)
    _WORKER_LAB = Lab(target).start()


def _run_in_worker(scenario_id: str) -> dict[str, Any]:
    assert _WORKER_LAB is not None
    return run_one(REGISTRY[scenario_id], _WORKER_LAB).to_json()


def run_many(selected: list[ScenarioDef], *, workers: int = 1, target: str | None = None,
             packages: Iterable[str] = (DEFAULT_CATALOG,),
             on_result: Callable[[Result], None] | None = None) -> list[Result]:
    """Run ``selected``; results come back in the selection's order."""
    results: dict[str, Result] = {}

    def done(r: Result) -> None:
        results[r.id] = r
        if on_result:
            on_result(r)

    parallel = [s for s in selected if not (target and s.exclusive)]
    serial = [s for s in selected if target and s.exclusive]
    if workers <= 1 or len(parallel) <= 1:
        serial = parallel + serial
        parallel = []
    if parallel:
        ctx = get_context("spawn")  # a fresh interpreter per worker: no server thread is forked
        with ProcessPoolExecutor(max_workers=min(workers, len(parallel)), mp_context=ctx,
                                 initializer=_init_worker, initargs=(target, tuple(packages))) as pool:
            futures = {pool.submit(_run_in_worker, s.id): s for s in parallel}
            for fut in as_completed(futures):
                s = futures[fut]
                try:
                    done(Result.from_json(fut.result()))
                except Exception as exc:  # the worker died
                    done(Result(s.id, s.title, s.rules, s.tags, "error", 0.0, [],
                                Failure(None, "a worker process", f"{type(exc).__name__}: {exc}",
                                        traceback.format_exc(), "error"), [], s.module))
    if serial:
        with Lab(target) as lab:
            for s in serial:
                done(run_one(s, lab))
    return [results[s.id] for s in selected]
