"""``zlab bench fakes``: single-record GET and POST throughput of every product, in one run,
beside a bare Flask hello, a one-query SQLModel GET and peer mocks, all under the same gunicorn
settings (workers x threads) on the same machine.

Every server is its own process, started once; the rounds alternate over the targets (the
order rotates each round), so a machine that gets busier for a while hurts all of them alike.
Figures are medians of the rounds; ratios are to the hello and to the peers of the same run.
A GET round below ``STALL_RATIO`` x its median is reported as a stall: a fake that slows down
as a load test runs makes every load report wrong.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from zlab.labclient import LabClient
from zlab.server import wait_healthy

from .apps import CRM_RECORD, moto_available
from .loadgen import LoadResult, RequestSpec, run_load

STALL_RATIO = 0.8
PRODUCTS = ("crm record", "fsm record", "books contact", "books item", "invoice")


@dataclass
class Target:
    name: str
    kind: str  # baseline | peer | product
    get: RequestSpec
    post: RequestSpec | None = None
    server: Server | None = None


@dataclass
class Measure:
    rounds: list[float] = field(default_factory=list)  # req/s
    per_cpu: list[float] = field(default_factory=list)  # requests per CPU-second of the server
    statuses: dict[str, int] = field(default_factory=dict)
    errors: int = 0

    def add(self, r: LoadResult, cpu_seconds: float | None = None) -> None:
        self.rounds.append(round(r.rate, 1))
        if cpu_seconds:
            self.per_cpu.append(round(r.requests / cpu_seconds, 1))
        for code, n in r.statuses.items():
            self.statuses[str(code)] = self.statuses.get(str(code), 0) + n
        self.errors += r.errors

    @property
    def median(self) -> float:
        return round(statistics.median(self.rounds), 1) if self.rounds else 0.0

    @property
    def median_per_cpu(self) -> float:
        return round(statistics.median(self.per_cpu), 1) if self.per_cpu else 0.0

    def stalls(self) -> list[int]:
        """Rounds (1-based) below STALL_RATIO x the median."""
        m = self.median
        return [i + 1 for i, v in enumerate(self.rounds) if m and v < STALL_RATIO * m]

    @property
    def unexpected(self) -> int:
        """Answers outside 2xx and connection errors: a benchmark of failures measures nothing."""
        return self.errors + sum(n for code, n in self.statuses.items() if not code.startswith("2"))


# -- servers ------------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name, self.port = name, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.proc = subprocess.Popen(argv, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def wait(self, path: str, timeout: float = 60.0) -> None:
        try:
            wait_healthy(self.url + path, timeout, is_alive=lambda: self.proc.poll() is None)
        except (TimeoutError, RuntimeError) as exc:
            tail = self.log.read_text(errors="replace")[-1500:]
            raise RuntimeError(f"{self.name} did not start: {exc}\n{tail}") from None

    def cpu_seconds(self) -> float | None:
        """CPU time used so far by the server's processes (arbiter and workers: its session).

        On a machine shared with other work, req/s swings with the neighbours' load; the CPU a
        request costs the server does not, so the bench reports requests per CPU-second too."""
        return session_cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _session_stats(sid: int) -> list[tuple[int, list[str]]]:
    """(pid, stat fields after the command name) of every process in session ``sid`` (Linux)."""
    out = []
    try:
        pids = [d for d in os.listdir("/proc") if d.isdigit()]
    except OSError:
        return out
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[3]) == sid:  # session id (field 6 of stat)
            out.append((int(pid), fields))
    return out


def session_cpu_seconds(sid: int) -> float | None:
    """User + system CPU seconds of the processes of session ``sid`` (None off Linux)."""
    if not Path("/proc").is_dir():
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(f[11]) + int(f[12]) for _, f in _session_stats(sid)) / ticks


def session_peak_rss_mb(sid: int) -> float | None:
    """The largest peak resident set (VmHWM) among the processes of session ``sid``, in MiB."""
    peak = None
    for pid, _ in _session_stats(sid):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    kb = int(line.split()[1])
                    peak = max(peak or 0, kb / 1024)
        except OSError:
            continue
    return round(peak, 1) if peak is not None else None


def _python() -> str:
    return sys.executable


def _zlab_argv() -> list[str]:
    return [_python(), "-c", "from zlab.cli import main; main()"]


# -- setup of the records each target reads ---------------------------------------------------------
def fakes_targets(url: str) -> list[Target]:
    """One tenant with every product; one record of each kind to read; create bodies to post."""
    with LabClient(url) as lab:
        t = lab.create_tenant()
        token = lab.access_token(t)
        auth = {"Authorization": f"Zoho-oauthtoken {token}", "Content-Type": "application/json"}
        http = lab.http
        books, inv = t["orgs"]["books"], t["orgs"]["invoice"]

        def post(path: str, body: Any) -> Any:
            r = http.post(url + path, json=body, headers=auth)
            return LabClient.answer(r, f"POST {path}")

        crm_id = post("/crm/v8/Contacts", {"data": [{"Last_Name": "Bench"}]})["data"][0]["details"]["id"]
        fsm_id = post("/fsm/v1/Contacts", {"data": [{"Last_Name": "Bench", "Email": "bench@example.com"}]}
                      )["data"]["Contacts"][0]["id"]
        contact_id = post(f"/books/v3/contacts?organization_id={books}", {"contact_name": "Bench"})["contact"]["contact_id"]
        item_id = post(f"/books/v3/items?organization_id={books}", {"name": "Bench", "rate": 10})["item"]["item_id"]
        customer = post(f"/invoice/v3/contacts?organization_id={inv}", {"contact_name": "Bench"})["contact"]["contact_id"]
        inv_item = post(f"/invoice/v3/items?organization_id={inv}", {"name": "Bench", "rate": 10})["item"]["item_id"]
        invoice_body = {"customer_id": customer, "line_items": [{"item_id": inv_item, "quantity": 2}]}
        invoice_id = post(f"/invoice/v3/invoices?organization_id={inv}", invoice_body)["invoice"]["invoice_id"]

    def req(method: str, path: str, body: Any = None, vary: bool = False) -> RequestSpec:
        raw = json.dumps(body).encode() if body is not None else b""
        if vary:
            raw = raw.replace(b"BENCH", b"Bench {n}")
        return RequestSpec(method, url + path, dict(auth), raw)

    return [
        Target("crm record", "product", req("GET", f"/crm/v8/Contacts/{crm_id}"),
               req("POST", "/crm/v8/Contacts", {"data": [{"Last_Name": "BENCH"}]}, vary=True)),
        Target("fsm record", "product", req("GET", f"/fsm/v1/Contacts/{fsm_id}"),
               req("POST", "/fsm/v1/Contacts", {"data": [{"Last_Name": "BENCH", "Email": "b@example.com"}]}, vary=True)),
        Target("books contact", "product", req("GET", f"/books/v3/contacts/{contact_id}?organization_id={books}"),
               req("POST", f"/books/v3/contacts?organization_id={books}", {"contact_name": "BENCH"}, vary=True)),
        Target("books item", "product", req("GET", f"/books/v3/items/{item_id}?organization_id={books}"),
               req("POST", f"/books/v3/items?organization_id={books}", {"name": "BENCH", "rate": 10}, vary=True)),
        Target("invoice", "product", req("GET", f"/invoice/v3/invoices/{invoice_id}?organization_id={inv}"),
               req("POST", f"/invoice/v3/invoices?organization_id={inv}", invoice_body)),
    ]


# moto's server picks the AWS service from the request's credential scope; it checks no signature
MOTO_AUTH = {"Authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/s3/aws4_request, "
                              "SignedHeaders=host, Signature=0"}


def _moto_target(url: str) -> Target:
    for path, body in (("/zlab-bench", b""), ("/zlab-bench/record.json", json.dumps(CRM_RECORD).encode())):
        r = httpx.put(url + path, content=body, headers=MOTO_AUTH)  # a bucket, then the object read
        if r.status_code >= 400:
            raise RuntimeError(f"moto: PUT {path} answered HTTP {r.status_code}")
    return Target("peer: moto S3 object", "peer", RequestSpec("GET", f"{url}/zlab-bench/record.json", dict(MOTO_AUTH)),
                  RequestSpec("PUT", f"{url}/zlab-bench/new.json", dict(MOTO_AUTH), b'{"n": "{n}"}'))


# -- the run -------------------------------------------------------------------------------------------
@dataclass
class BenchConfig:
    seconds: float = 5.0
    rounds: int = 3
    connections: int = 16
    workers: int = 2
    threads: int = 4
    db_url: str | None = None  # the fakes' database (default: a fresh SQLite file)
    only: tuple[str, ...] = ()  # product names to bench (default: all)
    moto: bool = True
    posts: bool = True
    warmup: float = 1.0


def run_bench(cfg: BenchConfig, progress: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="zlab-bench-"))
    servers: list[Server] = []
    try:
        shape = ["--workers", str(cfg.workers), "--threads", str(cfg.threads)]
        sqlite_floor = f"sqlite:///{tmp / 'floor.db'}"
        fakes_db = cfg.db_url or f"sqlite:///{tmp / 'fakes.db'}"
        apps = [_python(), "-m", "zlab.bench.apps"]
        hello = Server("hello", [*apps, "hello", "--port", "{port}", *shape], tmp / "hello.log")
        floor = Server("sqlmodel", [*apps, "sqlmodel", "--port", "{port}", "--db", sqlite_floor, *shape], tmp / "sqlmodel.log")
        mock = Server("stateless", [*apps, "stateless", "--port", "{port}", *shape], tmp / "stateless.log")
        fakes = Server("fakes", [*_zlab_argv(), "serve", "--port", "{port}", "--db", fakes_db, "--log-level", "warning",
                                 *shape], tmp / "fakes.log")
        servers += [hello, floor, mock, fakes]
        moto = None
        if cfg.moto and moto_available():
            # moto keeps its state in process memory: one worker, with all the threads of the shape
            moto = Server("moto", [*apps, "moto", "--port", "{port}", "--workers", "1", "--threads",
                                   str(cfg.workers * cfg.threads)], tmp / "moto.log")
            servers.append(moto)
        progress(f"starting {len(servers)} servers ({cfg.workers} workers x {cfg.threads} threads each)")
        hello.wait("/hello")
        _wait_any(mock)
        fakes.wait("/_lab/health")
        _wait_any(floor)
        httpx.post(f"{floor.url}/things", json={"name": "floor"}, timeout=60).raise_for_status()  # the row read

        targets = [
            Target("hello", "baseline", RequestSpec("GET", f"{hello.url}/hello"),
                   RequestSpec("POST", f"{hello.url}/hello", {"Content-Type": "application/json"}, b'{"n": {n}}')),
            Target("sqlmodel one-query", "baseline", RequestSpec("GET", f"{floor.url}/things/1"),
                   RequestSpec("POST", f"{floor.url}/things", {"Content-Type": "application/json"}, b'{"name": "t{n}"}')),
            Target("peer: stateless CRM mock", "peer",
                   RequestSpec("GET", f"{mock.url}/crm/v8/Contacts/1", {"Authorization": "Zoho-oauthtoken x"}),
                   RequestSpec("POST", f"{mock.url}/crm/v8/Contacts", {"Authorization": "Zoho-oauthtoken x"},
                               b'{"data": [{"Last_Name": "n{n}"}]}')),
        ]
        moto_note = "moto: not installed (pip install -e '.[bench]')" if cfg.moto and moto is None else None
        if moto is not None:
            try:
                _wait_any(moto)
                targets.append(_moto_target(moto.url))
            except Exception as exc:  # noqa: BLE001 - the run goes on without this peer, and says why
                moto_note = f"moto: left out ({exc})"
        products = [t for t in fakes_targets(fakes.url) if not cfg.only or t.name in cfg.only]
        for t in products:
            t.server = fakes
        targets[0].server, targets[1].server, targets[2].server = hello, floor, mock
        if moto is not None and targets[-1].kind == "peer" and targets[-1].name.startswith("peer: moto"):
            targets[-1].server = moto
        targets += products

        def measure(t: Target, spec: RequestSpec, into: Measure) -> None:
            before = t.server.cpu_seconds() if t.server else None
            res = run_load(spec, connections=cfg.connections, seconds=cfg.seconds)
            after = t.server.cpu_seconds() if t.server else None
            into.add(res, (after - before) if before is not None and after is not None else None)

        results: dict[str, dict[str, Measure]] = {t.name: {"get": Measure(), "post": Measure()} for t in targets}
        for t in targets:  # warm every worker's caches and connections
            run_load(t.get, connections=cfg.connections, seconds=cfg.warmup)
        for r in range(cfg.rounds):
            order = targets[r % len(targets):] + targets[:r % len(targets)]
            for t in order:
                progress(f"round {r + 1}/{cfg.rounds}: {t.name} GET")
                measure(t, t.get, results[t.name]["get"])
            if cfg.posts:
                for t in order:
                    if t.post is not None:
                        progress(f"round {r + 1}/{cfg.rounds}: {t.name} POST")
                        measure(t, t.post, results[t.name]["post"])
        return report(cfg, targets, results, notes=[n for n in (moto_note,) if n])
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _wait_any(server: Server, timeout: float = 60.0) -> None:
    """Wait until the server answers anything at all (moto and the floor have no health path)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited: {server.log.read_text(errors='replace')[-800:]}")
        try:
            httpx.get(server.url + "/", timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not start within {timeout:.0f} s")


def report(cfg: BenchConfig, targets: list[Target], results: dict[str, dict[str, Measure]],
           notes: list[str]) -> dict[str, Any]:
    def med(name: str, op: str) -> float:
        return results[name][op].median if name in results else 0.0

    peers = [t.name for t in targets if t.kind == "peer"]
    rows = []
    for t in targets:
        row: dict[str, Any] = {"name": t.name, "kind": t.kind}
        for op in ("get", "post"):
            m = results[t.name][op]
            if not m.rounds:
                continue
            ratios = {"hello": _ratio(m.median, med("hello", op))}
            for p in peers:
                ratios[p] = _ratio(m.median, med(p, op))
            hello_cpu = results["hello"][op].median_per_cpu if "hello" in results else 0.0
            row[op] = {**asdict(m), "median": m.median, "ratios": ratios, "median_per_cpu": m.median_per_cpu,
                       "cpu_ratio_hello": _ratio(m.median_per_cpu, hello_cpu), "stalls": m.stalls(),
                       "unexpected": m.unexpected}
        rows.append(row)
    gets = [r for r in rows if r["kind"] == "product" and "get" in r]
    return {
        "benchmark": "zlab bench fakes",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": sys.platform},
        "config": {**asdict(cfg), "stall_ratio": STALL_RATIO},
        "targets": rows,
        "peers": peers,
        "notes": notes,
        "acceptance": {
            "get_at_least_half_hello": all(r["get"]["ratios"]["hello"] >= 0.5 for r in gets) if gets else None,
            "no_get_stalls": all(not r["get"]["stalls"] for r in rows if "get" in r),
            "no_unexpected_answers": all(r[op]["unexpected"] == 0 for r in rows for op in ("get", "post") if op in r),
        },
    }


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None
