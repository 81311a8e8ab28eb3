"""``zlab loadtest``: Locust runs, headless, with Locust's reports and our summary page."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def locustfile(name: str) -> Path:
    import loadtests

    return Path(loadtests.__file__).parent / name


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EmbeddedSyncer:
    """``zlab syncer`` in a child process (its embedded mail sink), talking to ``fakes_url``."""

    def __init__(self, fakes_url: str, tmp: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "syncer.log"
        argv = [sys.executable, "-c", "from zlab.cli import main; main()", "syncer", "--port", str(self.port),
                "--fakes", fakes_url, "--db", f"sqlite:///{tmp / 'syncer.db'}", "--log-level", "warning"]
        env = {k: v for k, v in os.environ.items() if k not in ("ZLAB_SMTP_URL", "ZLAB_SYNCER_DATABASE_URL")}
        self.proc = subprocess.Popen(argv, stdout=self.log.open("w"), stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)

    def __enter__(self) -> EmbeddedSyncer:
        from zlab.server import wait_healthy

        try:
            wait_healthy(f"{self.url}/health", 60, is_alive=lambda: self.proc.poll() is None)
        except (TimeoutError, RuntimeError) as exc:
            self.__exit__()
            raise click.ClickException(f"the syncer did not start: {exc}: {self.log.read_text()[-500:]}") from None
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class EmbeddedFakes:
    """``zlab serve`` in a child process on a fresh SQLite file, for runs without ``--target``."""

    def __init__(self, workers: int | None = None) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="zlab-loadtest-"))
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-c", "from zlab.cli import main; main()", "serve", "--port", str(self.port),
                "--db", f"sqlite:///{self.tmp / 'fakes.db'}", "--log-level", "warning"]
        if workers:
            argv += ["--workers", str(workers)]
        self.log = self.tmp / "fakes.log"
        self.proc = subprocess.Popen(argv, stdout=self.log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)

    def __enter__(self) -> EmbeddedFakes:
        from zlab.server import wait_healthy

        try:
            wait_healthy(f"{self.url}/_lab/health", 60, is_alive=lambda: self.proc.poll() is None)
        except (TimeoutError, RuntimeError) as exc:
            self.__exit__()
            raise click.ClickException(f"the embedded fakes did not start: {exc}") from None
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def run_locust(file: Path, *, host: str, users: int, spawn_rate: float, duration: str, workers: int,
               report_dir: Path, title: str, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """Locust headless (``workers`` > 0: its master and that many worker processes); returns our summary."""
    from loadtests.summary import SUMMARY_JSON, render_html

    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / SUMMARY_JSON).unlink(missing_ok=True)
    env = {**os.environ, "ZLAB_REPORT_DIR": str(report_dir), **(extra_env or {})}
    locust = [sys.executable, "-m", "locust", "-f", str(file)]
    master = [*locust, "--headless", "--users", str(users), "--spawn-rate", str(spawn_rate), "--run-time", duration,
              "--host", host, "--html", str(report_dir / "locust.html"), "--csv", str(report_dir / "locust"),
              "--csv-full-history", "--stop-timeout", "10", "--exit-code-on-error", "0"]
    procs: list[subprocess.Popen] = []
    if workers:
        port = _free_port()
        master += ["--master", "--expect-workers", str(workers), "--master-bind-host", "127.0.0.1",
                   "--master-bind-port", str(port)]
        for _ in range(workers):
            procs.append(subprocess.Popen([*locust, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                                          env=env, stdout=subprocess.DEVNULL, stderr=(report_dir / "workers.log").open("a")))
    err.print(f"locust: {users} users, spawn rate {spawn_rate}/s, {duration}"
              f"{f', master + {workers} workers' if workers else ''}, target {host}")
    try:
        rc = subprocess.call(master, env=env)
    finally:
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.terminate()
    path = report_dir / SUMMARY_JSON
    if not path.exists():
        raise click.ClickException(f"locust exited with {rc} and wrote no summary (see {report_dir})")
    summary = json.loads(path.read_text())
    (report_dir / "summary.html").write_text(render_html(summary, title))
    return summary


def print_summary(summary: dict[str, Any], report_dir: Path) -> None:
    lat = summary.get("latency_ms", {})
    out.print(f"[bold]{summary.get('requests', 0):,} requests[/], {summary.get('failures', 0)} failures; "
              f"p50 {lat.get('p50', 0):.0f} ms, p95 {lat.get('p95', 0):.0f} ms, p99 {lat.get('p99', 0):.0f} ms")
    out.print(f"planned bad requests: {summary.get('planned_errors') or 'none'}; "
              f"unplanned errors: {summary.get('unplanned_errors') or 'none'}")
    out.print(f"reports: {report_dir / 'summary.html'}  {report_dir / 'locust.html'}  {report_dir}/locust_*.csv")


@click.group()
def loadtest() -> None:
    """Locust load tests of the fakes (headless), with reports."""
    import signal

    # SIGTERM unwinds like Ctrl-C, so the servers this command started are stopped too
    signal.signal(signal.SIGTERM, lambda *_a: sys.exit(143))


@loadtest.command("api")
@click.option("--users", default=10, show_default=True, type=click.IntRange(1, 10_000), help="Locust users (each its own tenant).")
@click.option("--spawn-rate", default=5.0, show_default=True, type=click.FloatRange(0.1, 1000), help="Users started per second.")
@click.option("--duration", default="30s", show_default=True, help="Run time, Locust style (30s, 5m, 1h).")
@click.option("--workers", default=0, show_default=True, type=click.IntRange(0, 64),
              help="Locust worker processes under a Locust master (0: one process).")
@click.option("--target", metavar="URL", help="A running lab (default: start `zlab serve` on a fresh SQLite file).")
@click.option("--report-dir", default=".zlab/reports/loadtest-api", show_default=True, type=click.Path(file_okay=False))
def loadtest_api(users: int, spawn_rate: float, duration: str, workers: int, target: str | None, report_dir: str) -> None:
    """A realistic API mix per product (loadtests/api_mix.py). Exit 1 on unplanned errors."""
    report = Path(report_dir)
    if target:
        summary = run_locust(locustfile("api_mix.py"), host=target.rstrip("/"), users=users, spawn_rate=spawn_rate,
                             duration=duration, workers=workers, report_dir=report, title="zlab loadtest api")
    else:
        with EmbeddedFakes() as fakes:
            summary = run_locust(locustfile("api_mix.py"), host=fakes.url, users=users, spawn_rate=spawn_rate,
                                 duration=duration, workers=workers, report_dir=report, title="zlab loadtest api")
    print_summary(summary, report)
    if summary.get("unplanned_errors") or summary.get("failures"):
        raise SystemExit(1)


def _journal_mark(lab_url: str) -> int:
    """The newest journal entry's id: ids grow by one per product call, so the difference between
    two marks is the number of API calls made in between (the journal keeps only the latest
    entries; its ids keep counting)."""
    from zlab.labclient import LabClient

    with LabClient(lab_url) as lab:
        entries = lab.journal(limit=1)
    return int(entries[0]["id"]) if entries else 0


def run_ceiling(records: int, users: int, report_dir: Path) -> dict[str, Any]:
    """Fill an Invoice org to ``records`` customers and items with Locust, then run the sync."""
    from loadtests.summary import SUMMARY_JSON, render_html
    from scenarios.harness.lab import Lab

    phases: list[dict[str, Any]] = []
    t0 = time.monotonic()
    # one fakes worker: the cheapest journal (in memory); its ids are our call counter
    with EmbeddedFakes(workers=1) as fakes, EmbeddedSyncer(fakes.url, fakes.tmp) as syncer, \
            Lab(fakes.url, syncer_url=syncer.url, timeout=600) as lab:
        tenant = lab.tenant(products=["fsm", "invoice"])
        integ = lab.syncer.create_integration(tenant, "invoice", notify_email="admin@example.com")
        integ.enable(duplicate_policy="clone")
        mark = _journal_mark(lab.url)
        phases.append({"name": "setup", "seconds": round(time.monotonic() - t0, 2), "calls": mark})

        t0 = time.monotonic()
        config = {"records": records, "tenant": {**tenant.raw, "orgs": tenant.orgs}}
        summary = run_locust(locustfile("ceiling_fill.py"), host=lab.url, users=users, spawn_rate=users,
                             duration="3h", workers=0, report_dir=report_dir,
                             title=f"zlab loadtest ceiling --records {records}",
                             extra_env={"ZLAB_CEILING": json.dumps(config)})
        end = _journal_mark(lab.url)
        phases.append({"name": "fill (Locust)", "seconds": round(time.monotonic() - t0, 2), "calls": end - mark})

        t0, mark = time.monotonic(), end
        started = integ.sync_now(wait=False)
        run = started
        while run.get("status") in (None, "queued", "pending", "running"):
            time.sleep(1.0)
            runs = integ.runs()
            run = next((r for r in runs if r.get("id") == started.get("id")), runs[0] if runs else started)
        state = integ.refresh().get("state")
        mails = len(integ.mail())
        end = _journal_mark(lab.url)
        phases.append({"name": "sync", "seconds": round(time.monotonic() - t0, 2), "calls": end - mark})
    expected_pass = records <= 10_000
    outcome = {"records": records, "run_status": run.get("status"), "failure_reason": run.get("failure_reason"),
               "integration_state": state, "mails": mails}
    ok = (run.get("status") != "failed" and state == "enabled") if expected_pass else (
        run.get("status") == "failed" and state == "disabled" and mails == 1)
    outcome["as_documented"] = ok
    outcome["summary"] = (f"{records:,} customers + {records:,} items: sync {run.get('status')}, integration {state}, "
                          f"{mails} mail(s) - {'as documented (TW-17)' if ok else 'NOT as documented (TW-17)'}")
    summary.update({"phases": phases, "outcome": outcome})
    (report_dir / SUMMARY_JSON).write_text(json.dumps(summary, indent=1))
    (report_dir / "summary.html").write_text(render_html(summary, f"zlab loadtest ceiling --records {records}"))
    return summary


@loadtest.command("ceiling")
@click.option("--records", default=10_000, show_default=True, type=click.IntRange(1, 100_000),
              help="Customers and items (each) to fill the Invoice org with; Zoho Invoice's ceiling is 10,000.")
@click.option("--users", default=8, show_default=True, type=click.IntRange(1, 500), help="Locust users filling the org.")
@click.option("--report-dir", default=".zlab/reports/loadtest-ceiling", show_default=True,
              type=click.Path(file_okay=False))
def loadtest_ceiling(records: int, users: int, report_dir: str) -> None:
    """The ceiling run: fill an Invoice org through the public API with Locust users, run the
    syncer, record the outcome (<= 10,000 passes; more fails, disables the sync and mails, TW-17)."""
    report = Path(report_dir)
    summary = run_ceiling(records, users, report)
    for p in summary["phases"]:
        out.print(f"  {p['name']:<14} {p['seconds']:>9.1f} s  {p['calls']:>8,} API calls")
    out.print(f"[bold]{summary['outcome']['summary']}[/]")
    out.print(f"reports: {report / 'summary.html'}  {report / 'locust.html'}")
    if not summary["outcome"]["as_documented"]:
        raise SystemExit(1)
