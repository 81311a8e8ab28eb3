"""The ``zlab`` command line: help, argument errors, ``serve`` under gunicorn, ``tenants``,
``seed`` (chunking), ``demo``, and the deployment files (Dockerfile, Makefile, .ci/run;
docker-compose.yml: test_compose.py).

Servers are started on port 0 (the startup line names the port), so tests run in parallel.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from zlab import cli as zcli

ROOT = Path(__file__).resolve().parents[1]
URL_LINE = re.compile(r"listening on (http://[0-9.]+:\d+)")


def run(*args: str):
    return CliRunner().invoke(zcli.cli, list(args), prog_name="zlab")


def error_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


# -- help and argument errors -------------------------------------------------------------------
COMMANDS = [[], ["serve"], ["seed"], ["demo"], ["tenants"], ["tenants", "create"], ["tenants", "list"]]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "zlab")
def test_every_command_has_help(command):
    result = run(*command, "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: {' '.join(['zlab', *command])}")


def test_top_level_help_lists_the_commands():
    result = run("--help")
    for name in ("serve", "seed", "demo", "tenants"):
        assert re.search(rf"^\s+{name}\s", result.stdout, re.M), name


BAD_ARGS = [
    ["nope"],
    ["serve", "--port", "x"],
    ["serve", "--port", "70000"],
    ["serve", "--only", "zzz"],
    ["serve", "--workers", "0"],
    ["serve", "--bogus"],
    ["seed", "--org", "1"],
    ["seed", "--org", "1", "-m", "contacts"],
    ["seed", "--org", "1", "-m", "contacts=ten"],
    ["seed", "--org", "1", "-m", "contacts=-5"],
    ["seed", "-m", "contacts=1"],
    ["seed", "--org", "1", "--email", "a@b.c", "-m", "contacts=1"],
    ["seed", "--org", "1", "--product", "books", "-m", "contacts=1"],
    ["seed", "--org", "1", "-m", "contacts=1", "-m", "contacts=2"],
    ["seed", "--org", "1", "-m", "contacts=1", "--url", "ftp://x"],
    ["tenants", "create", "--products", "nope"],
    ["tenants", "create", "--edition", "books"],
    ["tenants", "create", "--edition", "books=diamond"],
    ["tenants", "create", "--edition", "zzz=free"],
    ["demo", "--port", "-1"],
]


@pytest.mark.parametrize("args", BAD_ARGS, ids=" ".join)
def test_bad_arguments_give_one_line_and_exit_2(args):
    result = run(*args)
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = error_lines(result)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("zlab") and "error:" in lines[0]


def test_unknown_only_names_the_choices():
    result = run("serve", "--only", "zzz")
    assert "'zzz'" in result.stderr and "books" in result.stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_is_one_line_and_exit_1():
    url = f"http://127.0.0.1:{free_port()}"
    for args in (["tenants", "list"], ["tenants", "create"], ["seed", "--org", "1", "-m", "contacts=5"]):
        result = run(*args, "--url", url)
        assert result.exit_code == 1, result.output
        lines = error_lines(result)
        assert len(lines) == 1 and "cannot reach the fakes" in lines[0], result.stderr


def test_busy_port_is_one_line_and_exit_1(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        for args in (["serve", "--port", port, "--db", f"sqlite:///{tmp_path / 'x.db'}"], ["demo", "--port", port]):
            result = run(*args)
            assert result.exit_code == 1, result.output
            assert error_lines(result) == [f"zlab: error: cannot listen on 127.0.0.1:{port}: Address already in use"]


# -- zlab serve (a real gunicorn in a subprocess) ---------------------------------------------------
@dataclass
class Served:
    proc: subprocess.Popen
    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_serve(tmp: Path, *extra: str, timeout: float = 30.0) -> Served:
    log = tmp / "serve.log"
    env = {k: v for k, v in os.environ.items() if k not in ("ZLAB_DATABASE_URL", "ZLAB_URL", "ZLAB_BASE_URL")}
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "zlab", "serve", "--port", "0", "--db", f"sqlite:///{tmp / 'fakes.db'}",
             "--threads", "4", *extra],
            cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
            start_new_session=True)
    deadline = time.monotonic() + timeout
    url = None
    while time.monotonic() < deadline and url is None:
        if proc.poll() is not None:
            pytest.fail(f"zlab serve exited with {proc.returncode}:\n{log.read_text()}")
        m = URL_LINE.search(log.read_text(errors="replace"))
        if m:
            url = m.group(1)
        else:
            time.sleep(0.1)
    if url is None:
        stop(proc)
        pytest.fail(f"no startup line within {timeout} s:\n{log.read_text()}")
    while time.monotonic() < deadline:  # the line comes from the master; wait for a worker
        try:
            if httpx.get(f"{url}/_lab/health", timeout=2).status_code == 200:
                return Served(proc, url, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop(proc)
    pytest.fail(f"{url}/_lab/health never answered:\n{log.read_text()}")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20.0, group: bool = False) -> int:
    """Signal the server (``group``: its whole process group, as Ctrl-C in a terminal does)."""
    if proc.poll() is None:
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
            pytest.fail(f"zlab serve did not stop on signal {sig} within {timeout} s")
    return proc.returncode


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Served]:
    served = start_serve(tmp_path_factory.mktemp("serve"))
    yield served
    stop(served.proc)


def test_serve_answers_health_and_logs_its_url(server):
    r = httpx.get(f"{server.url}/_lab/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    out = server.output()
    assert "Starting gunicorn" in out  # the production server, not a development one
    from zlab.server import serve_shape

    workers, _, note = serve_shape(None, 4)  # no --workers: one per CPU, and the line says so
    assert f"{workers} worker{'s' if workers > 1 else ''} x 4 threads{note})" in out and "chosen for" in note
    assert "accounts" in r.json()["products"]


@pytest.mark.parametrize(("sig", "workers", "group"), [
    (signal.SIGINT, "1", False), (signal.SIGTERM, "1", False), (signal.SIGINT, "2", True)],
    ids=["SIGINT", "SIGTERM", "Ctrl-C-2-workers"])
def test_serve_stops_cleanly_on_signal(tmp_path, sig, workers, group):
    served = start_serve(tmp_path, "--workers", workers)
    httpx.get(f"{served.url}/_lab/health")
    assert stop(served.proc, sig, group=group) == 0, served.output()
    out = served.output()
    assert "zlab fakes stopped" in out
    # a worker that hangs is SIGKILLed by the arbiter after the graceful timeout
    assert "Traceback" not in out and "SIGKILL" not in out, out


def test_serve_with_workers_shares_state_through_the_database(tmp_path):
    served = start_serve(tmp_path, "--workers", "2")
    try:
        assert "2 workers x 4 threads" in served.output()
        health = httpx.get(f"{served.url}/_lab/health").json()
        assert health["shared"] is True
        made = httpx.post(f"{served.url}/_lab/tenants", json={}).json()
        # fresh connections are spread over both workers; every one must know the tenant
        for _ in range(6):
            with httpx.Client() as c:
                assert c.get(f"{served.url}/_lab/tenants/{made['email']}").status_code == 200
    finally:
        assert stop(served.proc) == 0, served.output()


def test_serve_only_books(tmp_path):
    served = start_serve(tmp_path, "--only", "books")
    try:
        assert sorted(httpx.get(f"{served.url}/_lab/health").json()["products"]) == ["accounts", "books", "invoice"]
    finally:
        stop(served.proc)


def test_serve_bad_database_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = subprocess.run(
        [sys.executable, "-m", "zlab", "serve", "--port", "0", "--db", f"sqlite:///{blocker}/sub/x.db"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result.stderr
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "cannot start the fakes" in lines[0], result.stderr


# -- zlab tenants ----------------------------------------------------------------------------------
def test_tenants_create_json(server):
    result = run("tenants", "create", "--url", server.url, "--json")
    assert result.exit_code == 0, result.output
    t = json.loads(result.stdout)
    for key in ("email", "user_id", "client_id", "client_secret", "refresh_token", "orgs", "api_domain"):
        assert t.get(key), key
    assert t["orgs"]["books"]
    tok = httpx.post(f"{server.url}/oauth/v2/token", data={
        "grant_type": "refresh_token", "client_id": t["client_id"],
        "client_secret": t["client_secret"], "refresh_token": t["refresh_token"]}).json()
    assert tok["access_token"]


def test_tenants_create_options_and_table(server):
    email = f"opts-{os.getpid()}-{time.monotonic_ns()}@example.com"
    result = run("tenants", "create", "--url", server.url, "--email", email, "--products", "books",
                 "--edition", "books=premium", "--rate-limits")
    assert result.exit_code == 0, result.output
    assert email in result.stdout and "refresh_token" in result.stdout and "org (books)" in result.stdout
    tenant = httpx.get(f"{server.url}/_lab/tenants/{email}").json()
    assert [o["product"] for o in tenant["orgs"]] == ["books"]
    assert tenant["orgs"][0]["edition"] == "premium" and tenant["orgs"][0]["rate_limits"] is True
    # a refusal by the server is a one-line error, exit 1
    again = run("tenants", "create", "--url", server.url, "--email", email)
    assert again.exit_code == 1 and len(error_lines(again)) == 1 and "409" in again.stderr


def test_tenants_list(server):
    made = json.loads(run("tenants", "create", "--url", server.url, "--json").stdout)
    listed = run("tenants", "list", "--url", server.url, "--json")
    assert listed.exit_code == 0
    assert made["email"] in [t["email"] for t in json.loads(listed.stdout)["tenants"]]
    table = run("tenants", "list", "--url", server.url)
    assert table.exit_code == 0 and made["email"] in table.stdout


# -- zlab seed -------------------------------------------------------------------------------------
class FakeLab:
    """Just enough of /_lab for the seed command, recording the seed calls."""

    def __init__(self, seedable: dict[str, list[str]]) -> None:
        self.seedable = seedable
        self.calls: list[dict] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/_lab/seed" and request.method == "GET":
            return httpx.Response(200, json={"modules": self.seedable})
        if path == "/_lab/seed" and request.method == "POST":
            body = json.loads(request.content)
            self.calls.append(body)
            return httpx.Response(201, json={"org_id": body["org_id"], "product": "books", "seed": body["seed"],
                                             "start": body["start"], "created": body["modules"]})
        if path.startswith("/_lab/orgs/"):
            return httpx.Response(200, json={"id": path.rsplit("/", 1)[1], "product": "books"})
        if path.startswith("/_lab/tenants/"):
            if path.endswith("/nobody@example.com"):
                return httpx.Response(404, json={"error": "no tenant nobody@example.com"})
            return httpx.Response(200, json={"email": path.rsplit("/", 1)[1], "orgs": [
                {"id": "111", "product": "invoice"}, {"id": "222", "product": "books"}]})
        return httpx.Response(404, json={"error": "not here"})


@pytest.fixture
def fake_lab(monkeypatch) -> FakeLab:
    lab = FakeLab({"books": ["contacts", "items"], "invoice": ["contacts"]})
    monkeypatch.setattr(zcli, "HTTP_TRANSPORT", httpx.MockTransport(lab))
    return lab


def test_seed_goes_in_chunks(fake_lab):
    result = run("seed", "--org", "999", "-m", "contacts=1200", "-m", "items=300", "--chunk", "500", "--seed", "7")
    assert result.exit_code == 0, result.output
    assert [(c["start"], c["modules"]) for c in fake_lab.calls] == [
        (0, {"contacts": 500, "items": 300}), (500, {"contacts": 500}), (1000, {"contacts": 200})]
    assert {c["org_id"] for c in fake_lab.calls} == {"999"} and {c["seed"] for c in fake_lab.calls} == {7}
    assert "1500 records" in result.stdout


def test_seed_start_offsets_every_chunk(fake_lab):
    result = run("seed", "--org", "999", "-m", "contacts=10", "--chunk", "4", "--start", "100")
    assert result.exit_code == 0, result.output
    assert [(c["start"], c["modules"]["contacts"]) for c in fake_lab.calls] == [(100, 4), (104, 4), (108, 2)]


def test_seed_by_email_and_product(fake_lab):
    result = run("seed", "--email", "someone@example.com", "-m", "contacts=3")
    assert result.exit_code == 0, result.output
    assert fake_lab.calls[0]["org_id"] == "222"  # the books org (the default product)
    result = run("seed", "--email", "someone@example.com", "--product", "invoice", "-m", "contacts=3")
    assert result.exit_code == 0 and fake_lab.calls[-1]["org_id"] == "111"


def test_seed_errors(fake_lab):
    bad_module = run("seed", "--org", "999", "-m", "widgets=3")
    assert bad_module.exit_code == 2 and "it seeds: contacts, items" in bad_module.stderr
    no_org = run("seed", "--email", "someone@example.com", "--product", "crm", "-m", "contacts=3")
    assert no_org.exit_code == 1 and "has no crm org" in no_org.stderr
    no_tenant = run("seed", "--email", "nobody@example.com", "-m", "contacts=3")
    assert no_tenant.exit_code == 1 and "no tenant nobody@example.com" in no_tenant.stderr
    for r in (bad_module, no_org, no_tenant):
        assert len(error_lines(r)) == 1, r.stderr
    assert fake_lab.calls == []


def test_seed_against_a_real_server(server):
    modules = httpx.get(f"{server.url}/_lab/seed").json()["modules"].get("books") or []
    if "contacts" not in modules:
        pytest.skip("the Books fake has no contacts seeder yet (GET /_lab/seed lists none)")
    t = httpx.post(f"{server.url}/_lab/tenants", json={"products": ["books"]}).json()
    result = run("seed", "--url", server.url, "--org", t["orgs"]["books"], "-m", "contacts=1200", "--chunk", "500")
    assert result.exit_code == 0, result.output
    assert "1200 records" in result.stdout
    tok = httpx.post(f"{server.url}/oauth/v2/token", data={
        "grant_type": "refresh_token", "client_id": t["client_id"],
        "client_secret": t["client_secret"], "refresh_token": t["refresh_token"]}).json()["access_token"]
    r = httpx.get(f"{server.url}/books/v3/contacts", params={"organization_id": t["orgs"]["books"], "per_page": 200},
                  headers={"Authorization": f"Zoho-oauthtoken {tok}"})
    assert r.status_code == 200 and len(r.json()["contacts"]) == 200 and r.json()["page_context"]["has_more_page"]


# -- zlab demo -------------------------------------------------------------------------------------
def test_demo_runs_end_to_end(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for args in (("demo",), ("demo", "--no-scenarios")):  # fresh each run: no tripping over the first one's tenant
        result = run(*args)
        assert result.exit_code == 0, result.output
    out = result.stdout
    assert (tmp_path / ".zlab" / "demo.db").exists()
    m = re.search(r"curl -s -H 'Authorization: Zoho-oauthtoken (\S+)' "
                  r"'http://127\.0\.0\.1:\d+/books/v3/contacts\?organization_id=(\d+)'", out)
    assert m, out
    assert "refresh_token" in out and "Demo done" in out
    assert (tmp_path / ".zlab" / "reports" / "report.html").exists()  # the first run ran the scenarios
    if "HTTP 200" in out:
        assert re.search(r"HTTP 200, 25 contacts", out), out


# -- deployment files ------------------------------------------------------------------------------
def test_dockerfile_installs_the_package():
    text = (ROOT / "docker" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.1[1-9]", text, re.M)
    assert "pip install --no-deps ." in text and '"zlab", "serve"' in text


def test_ci_run_is_executable_bash():
    ci = ROOT / ".ci" / "run"
    assert os.access(ci, os.X_OK)
    assert ci.read_text().startswith("#!/usr/bin/env bash")
    assert subprocess.run(["bash", "-n", str(ci)]).returncode == 0
    assert "make test" in ci.read_text()


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_makefile_targets():
    for target, expect in (("test", ".venv/bin/pytest -n 2"), ("demo", ".venv/bin/zlab demo"),
                           ("serve", ".venv/bin/zlab serve"), ("lint", "ruff check")):
        r = subprocess.run(["make", "-n", "-C", str(ROOT), target], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert expect in r.stdout, (target, r.stdout)


def test_serve_shape_follows_the_cpu_count_unless_given():
    from zlab.server import serve_shape

    assert serve_shape(cpus=1) == (1, 4, "; chosen for 1 CPU")
    assert serve_shape(cpus=2) == (2, 4, "; chosen for 2 CPUs")
    assert serve_shape(cpus=64)[0] == 8  # each worker holds its own caches and connections: a cap
    assert serve_shape(3, 8, cpus=2) == (3, 8, "")
