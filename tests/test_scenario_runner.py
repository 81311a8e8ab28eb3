"""The scenario runner and its reports, tested with a small sample catalog (one scenario broken
on purpose), and the rule coverage against RULES.md."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from scenarios.harness.model import REGISTRY, ScenarioDef
from scenarios.harness.rules import coverage, load_rules, rules_path
from scenarios.harness.runner import ExpressionError, discover, keyword_matcher, run_one, select

SAMPLES = "tests.scenario_samples"


def zlab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zlab", *args], capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL)


def test_a_broken_expectation_exits_1_and_the_report_names_the_failed_step(tmp_path):
    out = tmp_path / "out"
    r = zlab("scenarios", "run", "--catalog-only", "--catalog", SAMPLES, "--report-dir", str(out))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "SAMPLE-BROKEN" in r.stdout and "Then there are two customers" in r.stdout
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite.get("tests") == "2" and suite.get("failures") == "1" and suite.get("errors") == "0"
    failed = [c for c in suite.iter("testcase") if c.find("failure") is not None]
    assert [c.get("name").split(":")[0] for c in failed] == ["SAMPLE-BROKEN"]
    assert "Then there are two customers (wrong on purpose)" in failed[0].find("failure").get("message")
    page = (out / "report.html").read_text()
    assert "Then there are two customers (wrong on purpose)" in page
    assert "number of customers to be 2" in page and "POST /books/v3/contacts" in page  # expectation and journal
    results = json.loads((out / "results.json").read_text())["results"]
    broken = next(x for x in results if x["id"] == "SAMPLE-BROKEN")
    assert broken["failure"]["seen"] == "1" and broken["journal"]


def test_only_passing_scenarios_exit_0_and_selection_by_tag_rule_and_keyword(tmp_path):
    r = zlab("scenarios", "run", "--catalog-only", "--catalog", SAMPLES, "-k", "passes or smoke", "--report-dir", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite.get("tests") == "1" and suite.get("failures") == "0"
    assert zlab("scenarios", "run", "--catalog-only", "--catalog", SAMPLES, "--rule", "TW-06", "--report-dir",
                str(tmp_path / "b")).returncode == 0
    nothing = zlab("scenarios", "run", "--catalog-only", "--catalog", SAMPLES, "--tag", "crm", "--report-dir", str(tmp_path / "c"))
    assert nothing.returncode == 1 and "No scenario matches" in nothing.stdout


def test_parallel_workers_give_the_same_results(tmp_path):
    r = zlab("scenarios", "run", "--catalog-only", "--catalog", SAMPLES, "-n", "2", "--report-dir", str(tmp_path))
    assert r.returncode == 1
    results = {x["id"]: x["status"] for x in json.loads((tmp_path / "results.json").read_text())["results"]}
    assert results == {"SAMPLE-PASSES": "passed", "SAMPLE-BROKEN": "failed"}


def test_catalog_adds_to_the_built_in_one_unless_catalog_only(tmp_path):
    both = zlab("scenarios", "run", "--catalog", SAMPLES, "-k", "SAMPLE-PASSES or FAKE-BOOKS-DUPLICATE-NAME",
                "--report-dir", str(tmp_path / "a"))
    assert both.returncode == 0, both.stdout + both.stderr
    ran = {x["id"] for x in json.loads((tmp_path / "a" / "results.json").read_text())["results"]}
    assert ran == {"SAMPLE-PASSES", "FAKE-BOOKS-DUPLICATE-NAME"}
    only = zlab("scenarios", "run", "--catalog-only", "--catalog", SAMPLES, "-k", "FAKE-BOOKS-DUPLICATE-NAME",
                "--report-dir", str(tmp_path / "b"))
    assert only.returncode == 1 and "No scenario matches" in only.stdout
    alone = zlab("scenarios", "list", "--catalog-only")
    assert alone.returncode == 2 and "--catalog-only needs" in alone.stderr


def test_bad_arguments_are_one_line_and_exit_2():
    r = zlab("scenarios", "run", "-k", "(books and")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1
    r = zlab("scenarios", "list", "--catalog", "no.such.package")
    assert r.returncode == 2 and "--catalog" in r.stderr and "No module named" in r.stderr


def test_list_shows_every_rule_of_rules_md_with_uncovered_ones_marked(tmp_path, monkeypatch):
    # every catalogued rule has scenarios now: a rules file with one more rule shows it uncovered
    rules = tmp_path / "RULES.md"
    text = rules_path().read_text()
    rules.write_text(text.replace("| TW-01 |", "| XY-01 | A rule no scenario names. | |\n| TW-01 |", 1))
    monkeypatch.setenv("ZLAB_RULES", str(rules))
    r = zlab("scenarios", "list", "--catalog", SAMPLES)
    assert r.returncode == 0
    text = r.stdout
    for rule in load_rules():
        assert rule.id in text
    row = next(line for line in text.splitlines() if line.strip().startswith("XY-01"))
    assert "UNCOVERED" in row and "ZZ-99" in text  # a rule id unknown to RULES.md shows up too


def test_coverage_and_rules_parsing():
    rules = load_rules()
    ids = [r.id for r in rules]
    assert len(ids) == len(set(ids)) and {"TW-01", "TW-25", "OB-04", "CR-14"} <= set(ids)
    s = ScenarioDef("X", "x", lambda lab: None, rules=("TW-16", "TW-17"))
    cov = coverage(rules, [s])
    assert cov["TW-16"] == ["X"] and cov["TW-01"] == []


def test_keyword_expressions():
    s = ScenarioDef("FAKE-BOOKS-X", "Duplicate names", lambda lab: None, rules=("TW-02",), tags=("books", "edge"))
    assert keyword_matcher("books")(s) and keyword_matcher("duplicate and edge")(s)
    assert not keyword_matcher("crm or (books and not edge)")(s)
    assert keyword_matcher("tw-02")(s)
    for bad in ("(books", "books and", "or", ")"):
        with pytest.raises(ExpressionError):
            keyword_matcher(bad)
    assert select({"a": s}, tags=["crm"]) == [] and select({"a": s}, rules=["tw-02"]) == [s]


def test_run_one_records_steps_and_errors_not_only_failures(zlab_lab):
    discover(SAMPLES)
    ok = run_one(REGISTRY["SAMPLE-PASSES"], zlab_lab)
    assert ok.status == "passed" and [s.name for s in ok.steps] == ["When the contacts are listed", "Then there are none"]
    bad = run_one(REGISTRY["SAMPLE-BROKEN"], zlab_lab)
    assert bad.status == "failed" and bad.failure.step == "Then there are two customers (wrong on purpose)"
    assert bad.steps[-1].status == "failed"

    def crashes(lab):
        with lab.step("Given something that raises"):
            raise RuntimeError("boom")

    err = run_one(ScenarioDef("CRASH", "crash", crashes), zlab_lab)
    assert err.status == "error" and "boom" in err.failure.seen and err.failure.step == "Given something that raises"
