"""``zlab check sync``: registered on the ``zlab`` group by ``zlab/cli.py`` (heavy imports are
inside the command, so ``zlab --help`` stays quick)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .breakers import BREAKERS


@click.group("check")
def check() -> None:
    """Randomized checks of the syncer against the fakes."""


def _target(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is not None and not value.startswith(("http://", "https://")):
        raise click.BadParameter(f"{value!r} is not an http(s) URL")
    return value.rstrip("/") if value else None


@check.command("sync")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the random histories.")
@click.option("--steps", type=click.IntRange(1, 100_000), default=100, show_default=True,
              help="Steps to play in all (spread over histories of at most 50 steps, each on a fresh tenant).")
@click.option("--faults", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Chance that a sync gets a fault on each of the 9 APIs it calls (FSM and Books creates, "
                   "updates, reads): a 500, a 429 + Retry-After, a dropped connection or an answer later "
                   "than the syncer's time-out, on its 1st-3rd call, 1-5 times.")
@click.option("--kills", type=click.IntRange(0, 100_000), default=3, show_default=True,
              help="About how many syncs are killed (most at their N-th write, some by a real SIGKILL).")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".zlab/check-sync"),
              show_default=True, help="Where report.json, report.md and reproducer.json go.")
@click.option("--batch-size", type=click.IntRange(1, 100), default=3, show_default=True,
              help="Records per FSM write call in the syncer's runs (small: kills land mid-run).")
@click.option("--shrink-seconds", type=click.IntRange(1, 36_000), default=600, show_default=True,
              help="At most this long shrinking a failing history.")
@click.option("--replay", "replay_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Play a reproducer (reproducer.json) once instead: exit 1 if it still breaks.")
@click.option("--target", callback=_target, default=None, metavar="URL",
              help="A running fakes stack (zlab serve) instead of embedded ones.")
@click.option("-v", "--verbose", is_flag=True, help="Print every step as it is played.")
@click.option("--breaker", type=click.Choice(sorted(BREAKERS)), default=None,
              help="For the checker's own tests: run a deliberately broken syncer.")
def sync(seed: int, steps: int, faults: float, kills: int, report_dir: Path, batch_size: int,
         shrink_seconds: int, replay_file: Path | None, target: str | None, verbose: bool,
         breaker: str | None) -> None:
    """Drive random histories against the fakes, kill and fault the syncer, check the invariants.

    A history creates, renames, deactivates and deletes Books items, customers (with contact
    persons) and currencies, and FSM services, Companies, Contacts and currencies, changes the
    mappings through the syncer's API, and syncs (python -m syncer.run_once): some syncs under
    injected faults, some killed. After every clean sync it checks: each eligible record has
    exactly one partner, no duplicates on either side, deletes never propagate nor revive
    (TW-14), the latest edit wins, failed records carry a reason, the run log counts match.

    On a violation the history is shrunk (Hypothesis) to a short reproducer, printed and written
    to --report-dir with report.json and report.md; replay it with --replay. Exit 0 when every
    invariant held, 1 on a violation, 2 on bad arguments.
    """
    from rich.console import Console

    from .runner import CheckOptions, replay, run_check, write_report
    from .steps import describe

    out = Console(highlight=False)
    if replay_file is not None:
        out.print(f"Replaying {replay_file}:")
        try:
            failure = replay(replay_file, target=target, breaker=breaker, progress=out.print)
        except ValueError as exc:  # not a reproducer: a bad argument (exit 2)
            raise click.BadParameter(str(exc), param_hint="'--replay'") from None
        if failure is None:
            out.print("[green]Every invariant held: the reproducer no longer breaks the syncer.[/]")
            sys.exit(0)
        out.print(f"[red]VIOLATION (step {failure.at_step}): {failure.invariant}: {failure.detail}[/]")
        sys.exit(1)
    opts = CheckOptions(seed=seed, steps=steps, faults=faults, kills=kills, batch_size=batch_size,
                        breaker=breaker, target=target, shrink_seconds=shrink_seconds, verbose=verbose)
    out.print(f"zlab check sync: seed {seed}, {steps} steps, faults {faults}, about {kills} kills, "
              f"batch size {batch_size}" + (f", breaker {breaker}" if breaker else ""))
    result = run_check(opts, progress=lambda msg: out.print(msg, markup=False))
    paths = write_report(result, report_dir)
    out.print(f"{result.examples} histories, {result.steps_run} steps, {result.runs} syncs, {result.kills} kills, "
              f"{result.faulty_runs} with faults, {result.checks} clean checks, {result.seconds:.0f} s")
    if result.ok:
        out.print("[green]Every invariant held.[/]")
        out.print(f"Report: {paths['md']}")
        sys.exit(0)
    f = result.shrunk
    assert f is not None
    out.print(f"[red bold]VIOLATION: {f.invariant}[/]: {f.detail}", soft_wrap=True)
    out.print(f"Shortest history found ({len(f.steps)} steps, then a final clean sync):")
    for i, s in enumerate(f.steps):
        out.print(f"  {i + 1}. {describe(s)}", markup=False)
    out.print(f"Reproducer: {paths['reproducer']}  (replay: zlab check sync --replay {paths['reproducer']})",
              soft_wrap=True)
    out.print(f"Report: {paths['md']}")
    sys.exit(1)
