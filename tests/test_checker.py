"""`zlab check sync`, the randomized sync checker (scenarios/checker): it catches a deliberately
broken syncer and shrinks the history to a short reproducer that replays; a quick clean check
of today's syncer; the kill point and the arguments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from scenarios.checker.runner import REPRODUCER_FORMAT, CheckOptions, Stack, replay, run_check, write_report
from scenarios.checker.world import Violation
from zlab.cli import cli

REPRODUCERS = Path(__file__).parent / "checker_reproducers"


def test_a_broken_syncer_is_caught_shrunk_and_replayed(tmp_path):
    """Breaker "persons-dropped": a new Company's contact persons never become its Contacts."""
    opts = CheckOptions(seed=1, steps=25, faults=0.0, kills=2, breaker="persons-dropped", shrink_seconds=40)
    result = run_check(opts, progress=lambda _msg: None)
    assert not result.ok, "the checker missed the broken syncer"
    shrunk = result.shrunk
    assert shrunk is not None and shrunk.invariant == "exactly one partner", shrunk
    assert "person" in shrunk.detail and "has no partner in FSM" in shrunk.detail
    assert 1 <= len(shrunk.steps) <= 6, shrunk.steps
    assert len(shrunk.steps) < len(result.first_failure.steps) or len(shrunk.steps) == 1
    paths = write_report(result, tmp_path)
    saved = json.loads(paths["reproducer"].read_text())
    assert saved["steps"] == shrunk.steps and saved["breaker"] == "persons-dropped"
    assert "VIOLATION" in paths["md"].read_text()
    # the reproducer replays through the command line: exit 1 while it breaks
    run = CliRunner().invoke(cli, ["check", "sync", "--replay", str(paths["reproducer"])])
    assert run.exit_code == 1, run.output
    assert "exactly one partner" in run.output


def test_a_kill_mid_create_without_crash_recovery_is_caught_and_the_reproducer_replays(tmp_path):
    """Breaker "no-recovery": leftover intents are never resolved. A run killed right after the Books
    create of an FSM service leaves the service unlinked; the next run makes it again."""
    path = tmp_path / "reproducer.json"
    path.write_text(json.dumps({"format": REPRODUCER_FORMAT, "batch_size": 3, "breaker": "no-recovery", "steps": [
        {"op": "create", "side": "fsm", "kind": "item"}, {"op": "sync", "kill": {"after_writes": 1}}]}))
    failure = replay(path, progress=lambda _m: None)
    assert failure is not None and failure.invariant == "no duplicates", failure
    assert replay(path, breaker="", progress=lambda _m: None) is None  # the real recovery holds


def test_a_quick_clean_check_of_the_syncer_holds():
    result = run_check(CheckOptions(seed=3, steps=30, faults=0.1, kills=2, shrink_seconds=30),
                       progress=lambda _msg: None)
    assert result.steps_run == 30 and result.checks >= 1
    assert result.ok, f"{result.shrunk.invariant}: {result.shrunk.detail}\n{result.shrunk.steps}"


def test_a_write_kill_lands_at_its_write_and_the_model_sees_a_broken_invariant():
    """`die after the N-th write` ends the run at that write; a record deleted behind the
    checker's back is missing where the model expects it."""
    stack = Stack(None, None)
    try:
        world = stack.world(batch_size=1)
        for _ in range(3):
            world.create("fsm", "item")
        # with one record a call: POST item, PUT its ZBilling_Id in FSM, POST item, (dies), PUT …
        world.sync({"after_writes": 3}, [])
        assert world.kills == 1
        assert len(world._books_list("/items", "items")) == 2
        world.sync(None, [])  # the clean run after it converges, and the check holds
        assert len(world._books_list("/items", "items")) == 3
        world._call("books", "DELETE", f"/items/{world.ents[1].ids['books']}")  # the model does not know
        with pytest.raises(Violation, match="exactly one partner: item k1 .* partner was deleted in Books"):
            world.sync(None, [])
    finally:
        stack.close()


def test_the_reproducers_of_the_known_holes_hold():
    """What `zlab check sync` found in today's syncer, kept as replayable reproducers: they must
    hold once the holes are closed."""
    stack = Stack(None, None)
    try:
        broken = {}
        for path in sorted(REPRODUCERS.glob("*.json")):
            failure = replay(path, progress=lambda _m: None, stack=stack)
            if failure is not None:
                broken[path.name] = f"{failure.invariant}: {failure.detail}"
        assert broken == {}
    finally:
        stack.close()


@pytest.mark.parametrize("args", [["--steps", "0"], ["--faults", "2"], ["--breaker", "nope"],
                                  ["--target", "ftp://x"], ["--replay", "/no/such/file.json"]])
def test_bad_arguments_exit_2(args):
    run = CliRunner().invoke(cli, ["check", "sync", *args])
    assert run.exit_code == 2, run.output


def test_help_names_the_invariants():
    run = CliRunner().invoke(cli, ["check", "sync", "--help"])
    assert run.exit_code == 0
    for words in ("exactly one partner", "no duplicates", "latest edit wins", "--replay", "--kills"):
        assert words in run.output.replace("\n  ", " ")

