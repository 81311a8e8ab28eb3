"""``zlab scenarios run --target URL``: the syncer and its support token come from the stack
(``GET /_lab/stack``), scenarios needing what the stack lacks are skipped with that reason, and a
guarded stack (``ZLAB_LAB_TOKEN``) runs them with the token and refuses to start without it."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import httpx
import pytest

from scenarios.harness.lab import Lab
from scenarios.harness.model import REGISTRY
from scenarios.harness.runner import DEFAULT_CATALOG, discover, run_one
from tests.test_cli import start_serve
from tests.test_cli import stop as stop_serve
from tests.test_cli_syncer import FAKES_LINE, SYNCER_LINE, clean_env, start, stop

TOKEN = "target-run-token"
# fakes only, the syncer end to end, and a support call
SCENARIOS = ("FAKE-LAB-FAULT-NTH", "TW-06-BIDIRECTIONAL", "TW-28-TAXES-SUPPORT-ONLY")


def scenarios_run(target: str, *ids: str, report_dir, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zlab", "scenarios", "run", "--target", target,
                           "-k", " or ".join(ids), "--report-dir", str(report_dir)],
                          capture_output=True, text=True, timeout=600, env=env, stdin=subprocess.DEVNULL)


def results(report_dir) -> dict[str, dict]:
    return {x["id"]: x for x in json.loads((report_dir / "results.json").read_text())["results"]}


@pytest.fixture(scope="module")
def guarded_up(tmp_path_factory):
    """`zlab up` with the lab token set: the fakes know where their syncer is."""
    tmp = tmp_path_factory.mktemp("up")
    proc, (fakes, syncer), log = start(tmp, "up", "--port", "0", "--syncer-port", "0",
                                       patterns=(FAKES_LINE, SYNCER_LINE), env=clean_env(ZLAB_LAB_TOKEN=TOKEN))
    yield fakes, syncer, log
    assert stop(proc) == 0, log.read_text()


def test_the_stack_says_where_its_syncer_is(guarded_up):
    fakes, syncer, log = guarded_up
    assert httpx.get(f"{fakes}/_lab/stack").status_code == 401
    stack = httpx.get(f"{fakes}/_lab/stack", headers={"X-Zlab-Lab-Token": TOKEN}).json()
    assert stack["fakes_url"] == fakes and stack["syncer_url"] == syncer
    assert stack["dashboard_url"] == f"{syncer}/dashboard"
    assert f"support token (X-Support-Token): {stack['support_token']}" in log.read_text()


def test_a_guarded_target_runs_with_the_token_and_finds_the_syncer(guarded_up, tmp_path):
    fakes, _syncer, _log = guarded_up
    r = scenarios_run(fakes, *SCENARIOS, report_dir=tmp_path, env=clean_env(ZLAB_LAB_TOKEN=TOKEN))
    assert r.returncode == 0, r.stdout + r.stderr
    assert {k: v["status"] for k, v in results(tmp_path).items()} == dict.fromkeys(SCENARIOS, "passed")


def test_a_guarded_target_without_the_token_stops_before_any_scenario(guarded_up, tmp_path):
    fakes, _syncer, _log = guarded_up
    r = scenarios_run(fakes, *SCENARIOS, report_dir=tmp_path, env=clean_env())
    assert r.returncode == 1 and "guarded: set ZLAB_LAB_TOKEN" in r.stderr, r.stdout + r.stderr
    assert not (tmp_path / "results.json").exists()


def test_a_support_scenario_is_skipped_when_the_stack_does_not_know_the_token(guarded_up, monkeypatch):
    fakes, _syncer, _log = guarded_up
    monkeypatch.setenv("ZLAB_LAB_TOKEN", TOKEN)
    discover(DEFAULT_CATALOG)
    with Lab(fakes) as lab:
        assert lab.syncer_url and lab.support_token  # from /_lab/stack
        lab.support_token = None  # as with compose when ZLAB_SUPPORT_TOKEN is not set
        result = run_one(REGISTRY["TW-28-TAXES-SUPPORT-ONLY"], lab)
    assert result.status == "skipped" and "ZLAB_SUPPORT_TOKEN" in result.failure.seen
    assert result.steps[-1].status == "skipped"


def test_a_target_without_a_syncer_skips_what_needs_it(tmp_path, monkeypatch):
    monkeypatch.delenv("ZLAB_LAB_TOKEN", raising=False)
    served = start_serve(tmp_path)  # the fakes alone: /_lab/stack knows no syncer
    try:
        assert httpx.get(f"{served.url}/_lab/stack").json()["syncer_url"] is None
        env = clean_env()
        r = scenarios_run(served.url, "FAKE-BOOKS-DUPLICATE-NAME", "TW-06-BIDIRECTIONAL",
                          report_dir=tmp_path / "out", env=env)
    finally:
        stop_serve(served.proc)
    assert r.returncode == 0, r.stdout + r.stderr  # a skip is no failure
    got = results(tmp_path / "out")
    assert got["FAKE-BOOKS-DUPLICATE-NAME"]["status"] == "passed"
    skipped = got["TW-06-BIDIRECTIONAL"]
    assert skipped["status"] == "skipped" and "ZLAB_SYNCER_URL" in skipped["failure"]["seen"]
    assert "TW-06-BIDIRECTIONAL skipped: needs the syncer" in " ".join(r.stdout.split())
    suite = ET.parse(tmp_path / "out" / "junit.xml").getroot().find("testsuite")
    assert suite.get("skipped") == "1" and suite.get("failures") == "0" and suite.get("errors") == "0"
    case = next(c for c in suite.iter("testcase") if c.get("name").startswith("TW-06"))
    assert case.find("skipped") is not None and case.find("error") is None
    assert "Skipped:" in (tmp_path / "out" / "report.html").read_text()


def test_the_stack_answer_comes_from_the_fakes_environment_under_compose(tmp_path, monkeypatch):
    import fakes

    for name in ("ZLAB_SYNCER_URL", "ZLAB_SUPPORT_TOKEN", "ZLAB_MAIL_URL", "ZLAB_LAB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    bare = fakes.create_app(f"sqlite:///{tmp_path / 'a.db'}").test_client().get("/_lab/stack").get_json()
    assert bare == {"fakes_url": "http://localhost", "syncer_url": None, "support_token": None, "mail_url": None,
                    "dashboard_url": None}
    monkeypatch.setenv("ZLAB_SYNCER_URL", "http://127.0.0.1:8710/")
    monkeypatch.setenv("ZLAB_SUPPORT_TOKEN", "sup/port")
    monkeypatch.setenv("ZLAB_MAIL_URL", "http://127.0.0.1:8025")
    told = fakes.create_app(f"sqlite:///{tmp_path / 'b.db'}").test_client().get("/_lab/stack").get_json()
    assert told == {"fakes_url": "http://localhost", "syncer_url": "http://127.0.0.1:8710", "support_token": "sup/port",
                    "mail_url": "http://127.0.0.1:8025", "dashboard_url": "http://127.0.0.1:8710/dashboard"}
