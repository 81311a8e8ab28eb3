"""``zlab check sync``: random histories against the fakes, kills and faults, invariants after
every clean run, and on a violation a reproducer shrunk by Hypothesis.

Each history is one example of a Hypothesis ``RuleBasedStateMachine`` whose single rule plays a
step (see ``steps.py``); every example starts from a fresh tenant and integration, kills are step
parameters ("die after the N-th write"), so Hypothesis can replay and shrink a failing history by
itself: what it hands back is the shortest history it found that still breaks an invariant.
"""

from __future__ import annotations

import json
import math
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scenarios.harness.lab import Lab
from scenarios.harness.syncer_client import SyncerClient

from .steps import describe, step_strategy
from .world import HarnessError, SyncerProcesses, Violation, World

HISTORY_MAX = 50  # steps per example (the run's --steps are spread over examples of this length)
REPRODUCER_FORMAT = "zlab-check-sync/1"


@dataclass
class CheckOptions:
    seed: int = 0
    steps: int = 100
    faults: float = 0.1
    kills: int = 3
    batch_size: int = 3
    breaker: str | None = None
    target: str | None = None
    shrink_seconds: float = 600.0
    history_max: int = HISTORY_MAX
    verbose: bool = False  # print every step played


@dataclass
class Failure:
    steps: list[dict[str, Any]]
    invariant: str
    detail: str
    at_step: int | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CheckResult:
    options: CheckOptions
    ok: bool
    examples: int = 0
    steps_run: int = 0
    kills: int = 0
    faulty_runs: int = 0
    runs: int = 0
    checks: int = 0
    seconds: float = 0.0
    first_failure: Failure | None = None  # as found, before shrinking
    shrunk: Failure | None = None
    shrink_tries: int = 0
    flaky: str | None = None
    notes: list[str] = field(default_factory=list)


class ShrinkDone(Exception):
    """Raised by every example once shrinking is over (a one-step reproducer, or the time is up):
    Hypothesis then runs out of work at once; the shortest failure recorded is the result."""


class Stack:
    """The lab (embedded fakes, or ``--target``), the syncer's API service on a fresh SQLite file
    (no scheduler: runs happen only when the checker says) and the fork server for its runs."""

    def __init__(self, target: str | None, breaker: str | None) -> None:
        from syncer.app import create_app as create_syncer_app
        from syncer.config import SyncerConfig
        from syncer.service import SyncerService
        from zlab.server import BackgroundServer

        self.lab = Lab(target).start()
        self._tmp = tempfile.TemporaryDirectory(prefix="zlab-check-")
        self.syncer_db = f"sqlite:///{Path(self._tmp.name) / 'syncer.db'}"
        config = SyncerConfig.from_env(database_url=self.syncer_db, fakes_url=self.lab.url, smtp_url=None,
                                       support_token=secrets.token_urlsafe(12), scheduler_interval=0)
        config.smtp_url = None  # the embedded mail sink, whatever the environment says
        in_process = self.lab._app.extensions["zlab"].now if self.lab.target is None else None
        self.service = SyncerService(config, clock=in_process).start()
        self.server = BackgroundServer(create_syncer_app(self.service)).start(health_path="/health")
        self.syncer = SyncerClient(self.server.url)
        self.procs = SyncerProcesses(breaker=breaker)
        self.lab.clock.freeze()  # the checker moves time itself: edits get distinct, ordered times

    def world(self, batch_size: int = 3, log: Callable[[str], None] | None = None) -> World:
        return World(self.lab, self.syncer, self.procs, self.syncer_db, batch_size=batch_size, log=log)

    def close(self) -> None:
        self.procs.close()
        self.syncer.close()
        self.server.stop()
        self.service.close()
        if self.lab.target is not None:
            self.lab.clock.reset()
        self.lab.close()
        self._tmp.cleanup()


def run_check(opts: CheckOptions, *, progress: Callable[[str], None] = print) -> CheckResult:
    """Generate histories until ``opts.steps`` steps ran or an invariant broke; then shrink."""
    from hypothesis import HealthCheck, Phase, Verbosity, seed, settings
    from hypothesis.errors import Flaky
    from hypothesis.internal.conjecture import engine as hypothesis_engine
    from hypothesis.stateful import RuleBasedStateMachine, rule, run_state_machine_as_test

    started = time.monotonic()
    result = CheckResult(options=opts, ok=True)
    length = max(1, min(opts.history_max, opts.steps))
    examples = math.ceil(opts.steps / length)
    syncs = 0.28 * opts.steps + examples  # a history is about 28 % syncs, and ends with one
    kill_p = min(0.9, opts.kills / syncs) if opts.kills > 0 else 0.0
    strategy = step_strategy(faults=opts.faults, kill=kill_p)
    stack = Stack(opts.target, opts.breaker)
    state: dict[str, Any] = {"best": None, "shrinking": False, "shrink_until": None}

    def shrink_done() -> bool:
        best = state["best"]
        return state["shrinking"] and (len(best.steps) <= 1 or time.monotonic() > state["shrink_until"])

    def record(world: World, steps: list[dict[str, Any]], exc: Exception) -> None:
        if isinstance(exc, Violation):
            failure = Failure(list(steps), exc.invariant, exc.detail, exc.step)
        else:
            failure = Failure(list(steps), "harness", f"{type(exc).__name__}: {exc}", world.step_index)
        if result.first_failure is None:
            result.first_failure = failure
            result.kills += world.kills
            result.faulty_runs += world.faulty_runs
            result.runs += world.runs
            result.checks += world.checks
            progress(f"VIOLATION after {len(steps)} steps: {failure.invariant}: {failure.detail}")
            progress("shrinking the history (Hypothesis)...")
            state["shrinking"] = True
            state["shrink_until"] = time.monotonic() + opts.shrink_seconds
        else:
            result.shrink_tries += 1
        best = state["best"]
        if best is None or len(failure.steps) <= len(best.steps):
            if best is None or len(failure.steps) < len(best.steps):
                progress(f"  shrunk to {len(failure.steps)} steps: {failure.invariant}")
            state["best"] = failure

    class SyncHistory(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.world: World | None = None
            self.steps: list[dict[str, Any]] = []
            self.failed = False
            self.started = time.monotonic()

        @rule(step=strategy)
        def step(self, step: dict[str, Any]) -> None:
            if shrink_done():
                state["stopped"] = True
                raise ShrinkDone()
            if step["op"] == "noop" or self.failed:
                return
            if not state["shrinking"] and result.steps_run >= opts.steps:
                return  # the budget is spent: the rest of this history is not played
            if self.world is None:
                self.world = stack.world(opts.batch_size)
                result.examples += 1 if not state["shrinking"] else 0
            self.steps.append(step)
            self.world.step_index = len(self.steps) - 1
            acted = [False]

            def play() -> None:
                acted[0] = self.world.do(step)

            self._guarded(play)
            if not acted[0]:  # nothing to act on: not part of the history
                self.steps.pop()
                return
            if not state["shrinking"]:
                result.steps_run += 1
            if opts.verbose:
                progress(f"  {len(self.steps)}. {describe(step)}")

        def _guarded(self, fn: Callable[[], None]) -> None:
            try:
                fn()
            except (Violation, HarnessError) as exc:
                self.failed = True
                record(self.world, self.steps, exc)
                raise

        def teardown(self) -> None:
            w = self.world
            if w is None or self.failed:
                return
            if shrink_done():
                state["stopped"] = True
                raise ShrinkDone()
            w.step_index = len(self.steps)
            self._guarded(lambda: w.do({"op": "sync"}))
            if not state["shrinking"]:
                result.kills += w.kills
                result.faulty_runs += w.faulty_runs
                result.runs += w.runs
                result.checks += w.checks
                progress(f"history {result.examples}: {len(self.steps)} steps, {w.runs} syncs, {w.kills} kills, "
                         f"{w.faulty_runs} with faults, {w.checks} checks: every invariant held "
                         f"({time.monotonic() - self.started:.0f} s; {result.steps_run}/{opts.steps} steps)")

    def factory() -> SyncHistory:
        return SyncHistory()

    seed(opts.seed)(factory)
    hypothesis_engine.MAX_SHRINKING_SECONDS = int(opts.shrink_seconds) + 30  # ours stops it first
    run_settings = settings(max_examples=examples + 2, stateful_step_count=length, deadline=None, database=None,
                            phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck),
                            report_multiple_bugs=False, verbosity=Verbosity.quiet, print_blob=False)
    try:
        run_state_machine_as_test(factory, settings=run_settings)
    except (Violation, HarnessError, ShrinkDone):
        pass
    except Flaky as exc:  # a replay did not break the same way (a real SIGKILL lands where it lands)
        if not state.get("stopped"):  # (our ShrinkDone makes Hypothesis call its own data flaky)
            result.flaky = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        stack.close()
    result.shrunk = state["best"]
    result.ok = result.first_failure is None
    result.seconds = time.monotonic() - started
    return result


def load_reproducer(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except ValueError:
        data = None
    if not isinstance(data, dict) or data.get("format") != REPRODUCER_FORMAT or not isinstance(data.get("steps"), list):
        raise ValueError(f"{path} is not a `zlab check sync` reproducer ({REPRODUCER_FORMAT})")
    return data


def replay(path: Path, *, target: str | None = None, breaker: str | None = None,
           progress: Callable[[str], None] = print, stack: Stack | None = None) -> Failure | None:
    """Play a reproducer once (on ``stack``, or a new one); the Failure it causes, or None when
    every invariant held."""
    data = load_reproducer(path)
    steps = data["steps"]
    own = stack is None
    if stack is None:
        stack = Stack(target, breaker if breaker is not None else data.get("breaker"))
    try:
        world = stack.world(int(data.get("batch_size") or 3))
        try:
            world.play(steps, on_step=lambda i, s: progress(f"  {i + 1}. {describe(s)}"))
        except Violation as exc:
            return Failure(steps, exc.invariant, exc.detail, exc.step)
        except HarnessError as exc:
            return Failure(steps, "harness", f"{type(exc).__name__}: {exc}", world.step_index)
        return None
    finally:
        if own:
            stack.close()


def reproducer(result: CheckResult) -> dict[str, Any]:
    f = result.shrunk
    assert f is not None
    return {"format": REPRODUCER_FORMAT, "seed": result.options.seed, "batch_size": result.options.batch_size,
            "breaker": result.options.breaker, "violation": {"invariant": f.invariant, "detail": f.detail,
                                                             "at_step": f.at_step},
            "steps": f.steps,
            "replay": "zlab check sync --replay reproducer.json"}


def write_report(result: CheckResult, report_dir: Path) -> dict[str, Path]:
    report_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": report_dir / "report.json", "md": report_dir / "report.md"}
    body = {"ok": result.ok, "options": asdict(result.options), "examples": result.examples,
            "steps_run": result.steps_run, "syncs": result.runs, "kills": result.kills,
            "faulty_runs": result.faulty_runs, "clean_checks": result.checks, "seconds": round(result.seconds, 1),
            "first_failure": result.first_failure.to_json() if result.first_failure else None,
            "shrunk": result.shrunk.to_json() if result.shrunk else None, "shrink_tries": result.shrink_tries,
            "flaky": result.flaky}
    paths["json"].write_text(json.dumps(body, indent=2))
    o = result.options
    lines = [f"# zlab check sync — {'every invariant held' if result.ok else 'VIOLATION'}", "",
             f"`zlab check sync --seed {o.seed} --steps {o.steps} --faults {o.faults} --kills {o.kills} "
             f"--batch-size {o.batch_size}`" + (f" `--breaker {o.breaker}`" if o.breaker else ""), "",
             f"- histories: {result.examples}, steps: {result.steps_run}, syncs: {result.runs}, "
             f"kills: {result.kills}, runs with faults: {result.faulty_runs}, clean checks: {result.checks}",
             f"- time: {result.seconds:.0f} s", ""]
    if result.shrunk is not None:
        f = result.shrunk
        (report_dir / "reproducer.json").write_text(json.dumps(reproducer(result), indent=2))
        paths["reproducer"] = report_dir / "reproducer.json"
        lines += ["## Violation", "", f"**{f.invariant}**: {f.detail}", "",
                  f"Found after {len(result.first_failure.steps) if result.first_failure else '?'} steps, "
                  f"shrunk by Hypothesis to {len(f.steps)} (then a final clean sync):", ""]
        lines += [f"{i + 1}. {describe(s)}" for i, s in enumerate(f.steps)]
        lines += [f"{len(f.steps) + 1}. sync (the final clean run, then the check)", "",
                  f"Replay: `zlab check sync --replay {paths['reproducer']}`", ""]
        if result.flaky:
            lines += [f"Note: a replay during shrinking did not fail the same way ({result.flaky}); the "
                      "reproducer is the shortest history that did.", ""]
    paths["md"].write_text("\n".join(lines))
    return paths
