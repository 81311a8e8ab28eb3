"""The load tests: the compose file's load profile, our summary page, and a tiny Locust run."""

from __future__ import annotations

import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from loadtests.summary import Buckets, render_html, write_summary
from tests.browser import screenshot

ROOT = Path(__file__).resolve().parent.parent


class StrictLoader(yaml.SafeLoader):
    """YAML that refuses a key given twice in one mapping (PyYAML keeps the last one silently)."""


def _no_duplicates(loader, node, deep=False):
    loader.flatten_mapping(node)  # YAML merge keys (<<: *anchor) are not duplicates
    keys = [loader.construct_object(k, deep=deep) for k, _ in node.value]
    dup = {k for k in keys if keys.count(k) > 1}
    if dup:
        raise yaml.constructor.ConstructorError(None, None, f"duplicate key(s) {sorted(dup)}", node.start_mark)
    return loader.construct_mapping(node, deep)


StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def test_the_summary_module_does_not_import_locust():
    # locust monkey-patches the process it is imported in (gevent): that broke pytest-xdist workers
    code = "import sys, loadtests.summary, zlab.loadtest_cli; assert 'locust' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, timeout=60)


def test_strict_loader_refuses_a_duplicate_key():
    with pytest.raises(yaml.constructor.ConstructorError):
        yaml.load("a: 1\nb: 2\na: 3\n", Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass


def test_compose_load_profile_runs_the_real_locustfiles():
    compose = yaml.load((ROOT / "docker-compose.yml").read_text(), Loader=StrictLoader)  # noqa: S506
    load = {name: svc for name, svc in compose["services"].items() if "load" in (svc.get("profiles") or [])}
    assert set(load) == {"locust-master", "locust-worker"}
    for name, svc in load.items():
        cmd = svc["command"]
        path = cmd[cmd.index("-f") + 1]
        assert path.startswith("/app/"), (name, path)  # the image's WORKDIR holds the repository's files
        assert (ROOT / path.removeprefix("/app/")).is_file(), f"{name} runs {path}, which does not exist"


def _summary(tmp_path: Path) -> dict:
    b = Buckets()
    for sec in range(5):
        for i in range(20 + sec):
            b.add(1000 + sec, 5.0 + i, 200, False, False)
        b.add(1000 + sec, 9.0, 404, True, True)
    b.add(1003, 30.0, 500, False, True)
    return write_summary(tmp_path / "s.json", b.take(), {"requests": 116, "failures": 1, "host": "http://x"})


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_summary_page_has_its_charts_and_keeps_planned_errors_apart(tmp_path):
    s = _summary(tmp_path)
    assert s["planned_errors"] == {"404": 5} and s["unplanned_errors"] == {"500": 1}
    assert [p["rps"] for p in s["series"]] == [21, 22, 23, 25, 25]
    page = _Page()
    doc = render_html(s, "test run")
    page.feed(doc)
    svgs = [a for t, a in page.tags if t == "svg"]
    labels = [a.get("aria-label", "") for a in svgs]
    assert "Throughput over time" in labels and "Latency over time (p50, p95, p99)" in labels
    assert any(label.startswith("Errors by status code") for label in labels)
    lines = [a["class"] for t, a in page.tags if t == "polyline"]
    assert lines == ["series-rps", "series-p50", "series-p95", "series-p99"]
    assert "planned 404" in doc and "UNPLANNED 500" in doc and "<script" not in doc  # self-contained
    ceiling = render_html({**s, "phases": [{"name": "fill", "seconds": 3.0, "calls": 40}],
                           "outcome": {"summary": "passed"}}, "ceiling")
    assert "Phase durations" in ceiling and "API calls per phase" in ceiling


def test_summary_page_renders_in_chromium(tmp_path):
    page = tmp_path / "summary.html"
    page.write_text(render_html(_summary(tmp_path), "test run"))
    data = screenshot(page.as_uri(), tmp_path / "shot.png")
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000  # a page with charts, not a blank one


def test_loadtest_api_tiny_run_has_only_planned_errors(tmp_path):
    report = tmp_path / "report"
    r = subprocess.run([sys.executable, "-m", "zlab", "loadtest", "api", "--users", "4", "--spawn-rate", "4",
                        "--duration", "6s", "--report-dir", str(report)],
                       capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = json.loads((report / "zlab-summary.json").read_text())
    assert summary["requests"] > 0 and summary["unplanned_errors"] == {} and summary["failures"] == 0
    assert set(summary["planned_errors"]) <= {"400", "404"}  # what the mix's bad requests are answered
    for name in ("summary.html", "locust.html", "locust_stats.csv"):
        assert (report / name).is_file(), name


def test_loadtest_ceiling_tiny_run_records_phases_and_outcome(tmp_path):
    report = tmp_path / "ceiling"
    r = subprocess.run([sys.executable, "-m", "zlab", "loadtest", "ceiling", "--records", "3", "--users", "2",
                        "--report-dir", str(report)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = json.loads((report / "zlab-summary.json").read_text())
    outcome = summary["outcome"]
    assert outcome["run_status"] != "failed" and outcome["integration_state"] == "enabled" and outcome["as_documented"]
    phases = {p["name"]: p for p in summary["phases"]}
    assert list(phases) == ["setup", "fill (Locust)", "sync"]
    assert phases["fill (Locust)"]["calls"] >= 6  # 3 customers + 3 items through the public API
    assert phases["sync"]["calls"] > 0
    page = (report / "summary.html").read_text()
    assert "Phase durations" in page and "as documented (TW-17)" in page
