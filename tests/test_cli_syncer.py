"""``zlab syncer`` (gunicorn, one worker) and ``zlab up`` (fakes + syncer + mail sink, one process),
as real subprocesses on free ports, stopped by signals."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

FAKES_LINE = re.compile(r"zlab fakes listening on (http://\S+)")
SYNCER_LINE = re.compile(r"zlab syncer listening on (http://\S+)")
ENV_DROP = ("ZLAB_DATABASE_URL", "ZLAB_SYNCER_DATABASE_URL", "ZLAB_FAKES_URL", "ZLAB_SMTP_URL", "ZLAB_URL",
            "ZLAB_SUPPORT_TOKEN", "ZLAB_SCHEDULER_INTERVAL", "ZLAB_ACCOUNTS_URL", "ZLAB_LAB_TOKEN",
            "ZLAB_SYNCER_URL", "ZLAB_MAIL_URL")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_DROP}
    env.update(extra)
    return env


def start(tmp: Path, *args: str, patterns: tuple[re.Pattern, ...], env: dict[str, str] | None = None,
          timeout: float = 30) -> tuple[subprocess.Popen, list[str], Path]:
    log = tmp / "out.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "zlab", *args], cwd=tmp, env=env or clean_env(),
                                stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        found = [p.search(text) for p in patterns]
        if all(found):
            return proc, [m.group(1) for m in found], log
        if proc.poll() is not None:
            pytest.fail(f"zlab {' '.join(args)} exited with {proc.returncode}:\n{text}")
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail(f"no startup lines within {timeout} s:\n{log.read_text()}")


def healthy(url: str, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            r = httpx.get(url, timeout=2)
            if r.status_code == 200:
                return r.json()
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{url} never answered")
        time.sleep(0.1)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
            pytest.fail(f"did not stop on signal {sig} within {timeout} s")
    return proc.returncode


def run(*args: str, env: dict[str, str] | None = None):
    """In-process (fast): everything that fails before a server starts."""
    from click.testing import CliRunner

    from zlab import cli as zcli

    return CliRunner(env={k: None for k in ENV_DROP} | (env or {})).invoke(zcli.cli, list(args), prog_name="zlab")


def test_help_of_both_commands():
    for cmd, words in (("syncer", ("--port", "--fakes", "--db", "--smtp", "one worker")),
                       ("up", ("--port", "--syncer-port", "--syncer-db", "one process"))):
        r = run(cmd, "--help")
        assert r.exit_code == 0, r.output
        text = " ".join(r.stdout.split())
        assert all(w in text for w in words), (cmd, text)


@pytest.mark.parametrize("args", [
    ("syncer", "--port", "70000"), ("syncer", "--fakes", "ftp://x"), ("syncer", "--smtp", "http://mail"),
    ("syncer", "--scheduler-interval", "-1"), ("syncer", "--bogus"),
    ("up", "--syncer-port", "x"), ("up", "--port", "8799", "--syncer-port", "8799"), ("up", "--smtp", "mail"),
])
def test_bad_arguments_are_one_line_and_exit_2(args):
    r = run(*args)
    assert r.exit_code == 2, r.output
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"zlab {args[0]}: error:"), r.stderr


def test_a_bad_environment_value_is_one_line_and_exit_2():
    r = run("syncer", env={"ZLAB_SCHEDULER_INTERVAL": "soon"})
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_a_busy_port_is_one_line_and_exit_1():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        for args in (("syncer", "--port", port), ("up", "--port", "0", "--syncer-port", port)):
            r = run(*args)
            assert r.exit_code == 1, r.output
            assert r.stderr.strip() == f"zlab: error: cannot listen on 127.0.0.1:{port}: Address already in use"


def test_up_serves_fakes_and_syncer_in_one_process_and_stops_on_sigterm(tmp_path):
    proc, (fakes, syncer), log = start(tmp_path, "up", "--port", "0", "--syncer-port", "0",
                                       patterns=(FAKES_LINE, SYNCER_LINE))
    try:
        assert healthy(f"{fakes}/_lab/health")["status"] == "ok"
        health = healthy(f"{syncer}/health")
        assert health["status"] == "ok" and health["fakes_url"] == fakes and health["lab_clock"] is True
        assert health["scheduler"]["running"] is True and health["mail"].startswith("smtp://127.0.0.1:")
        # wired end to end: an integration on a tenant of these fakes (its credentials are checked)
        t = httpx.post(f"{fakes}/_lab/tenants", json={"products": ["fsm", "books"]}).json()
        r = httpx.post(f"{syncer}/api/v1/integrations", json={
            "fsm_org_id": t["orgs"]["fsm"], "books_org_id": t["orgs"]["books"], "client_id": t["client_id"],
            "client_secret": t["client_secret"], "refresh_token": t["refresh_token"]}, timeout=30)
        assert r.status_code == 201 and r.json()["accounts_url"] == fakes, r.text
        assert (tmp_path / ".zlab" / "fakes.db").exists() and (tmp_path / ".zlab" / "syncer.db").exists()
        # every URL it prints answers, the dashboard and the mail API among them
        from zlab.cli import up_urls

        printed = log.read_text()
        for label, url in up_urls(fakes, syncer):
            assert url in printed, label
            path = {"syncer API": "/integrations", "fakes": "/_lab/health"}.get(label, "")
            assert httpx.get(url + path, timeout=10).status_code == 200, (label, url)
        assert {"dashboard", "mail (API)", "syncer API", "stack"} <= {label for label, _ in up_urls(fakes, syncer)}
    finally:
        code = stop(proc)
    out = log.read_text()
    assert code == 0, out
    assert "zlab up stopped." in out and "Traceback" not in out
    assert "support token (X-Support-Token): " in out and "(embedded sink)" in out


def test_up_stops_on_ctrl_c_too(tmp_path):
    proc, _urls, log = start(tmp_path, "up", "--port", "0", "--syncer-port", "0", patterns=(SYNCER_LINE,))
    assert stop(proc, signal.SIGINT) == 0, log.read_text()
    assert "zlab up stopped." in log.read_text()


def test_syncer_under_gunicorn_reads_the_lab_clock_and_stops_on_sigterm(tmp_path, zlab_lab):
    env = clean_env(ZLAB_FAKES_URL=zlab_lab.url, ZLAB_SUPPORT_TOKEN="s3cret")
    proc, (syncer,), log = start(tmp_path, "syncer", "--port", "0", "--db", f"sqlite:///{tmp_path / 's.db'}",
                                 "--threads", "2", patterns=(SYNCER_LINE,), env=env)
    try:
        health = healthy(f"{syncer}/health")
        assert health["lab_clock"] is True and health["fakes_url"] == zlab_lab.url
        assert httpx.get(f"{syncer}/openapi.json").json()["openapi"].startswith("3.1")
        r = httpx.post(f"{syncer}/api/v1/support/integrations/1/reenable", headers={"X-Support-Token": "s3cret"})
        assert r.status_code == 404  # the token from the environment is accepted; no such integration
    finally:
        code = stop(proc)
    out = log.read_text()
    assert code == 0, out
    assert "Starting gunicorn" in out and "1 worker x 2 threads" in out and "zlab syncer stopped." in out
    assert "support token" not in out  # it was given, so it is not printed
    assert "Traceback" not in out


def test_syncer_says_at_start_that_its_fakes_do_not_answer_and_a_second_one_stands_by(tmp_path):
    """Start-up truth: a dead --fakes URL is said at start (it still starts, /health degraded); a
    second syncer on the same database serves its API but leaves the scheduler to the first."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, (url_a,), log_a = start(tmp_path / "a", "syncer", "--port", "0", "--db", db, "--fakes", dead,
                                   patterns=(SYNCER_LINE,))
    try:
        health = healthy(f"{url_a}/health")
        assert health["status"] == "degraded" and health["fakes"]["status"] == "unreachable"
        assert health["scheduler"]["state"] == "active"
        assert f"warning: the fakes at {dead}/_lab/health do not answer" in log_a.read_text()
        second, (url_b,), log_b = start(tmp_path / "b", "syncer", "--port", "0", "--db", db, "--fakes", dead,
                                        patterns=(SYNCER_LINE,))
        try:
            standby = healthy(f"{url_b}/health")["scheduler"]
            assert standby["state"] == "standby" and "One scheduler per database" in standby["message"]
            assert "warning: scheduler on standby:" in log_b.read_text()
        finally:
            assert stop(second) == 0, log_b.read_text()
    finally:
        assert stop(first) == 0, log_a.read_text()
    assert "Traceback" not in log_a.read_text() + log_b.read_text()
