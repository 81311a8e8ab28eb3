"""The syncer as the checker runs it: ``python -m syncer.run_once`` in a process of its own,
with a deterministic kill point, a short client time-out and, for the checker's own tests, a
deliberately broken syncer.

    python -m scenarios.checker.proc run [--die-after-writes N] [--breaker NAME]
                                         [--client-timeout S] -- <run_once arguments>
    python -m scenarios.checker.proc serve     # the fork server the checker uses (JSON lines)

``--die-after-writes N``: the process ends with ``os._exit(137)`` right after the answer of its
N-th write (POST/PUT/DELETE to a product API; token calls and FSM's internal sync mark are not
counted) — no ``finally``, no lock release, no intent resolved: what a SIGKILL at that instant
leaves, but at the same point every time, so a history that kills can be replayed and shrunk.

``serve``: starting Python and importing the syncer costs about a second; a history runs dozens
of syncs. The server imports everything once and forks one child per run (a real process: it can
be SIGKILLed, it exits on its own). It reads one JSON request per line
``{"argv": [...], "die_after_writes": N|null, "breaker": NAME|null, "client_timeout": S,
"out": PATH}`` and answers ``{"pid": PID}`` at once, then ``{"pid": PID, "rc": RC}`` when the
child ended.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

KILLED_RC = 137
RETRY_SLEEP_CAP = 0.02  # real seconds: the retries (and their count) stay, the waits shrink


def _is_counted_write(method: str, url: str) -> bool:
    return method.upper() in ("POST", "PUT", "DELETE") and "/oauth/" not in url and "/_internal/" not in url


def prepare(*, die_after_writes: int | None, breaker: str | None, client_timeout: float) -> None:
    """Patch the syncer in this process: the kill point, the client time-out, short retry waits
    and the breaker. Called before ``syncer.run_once.main``."""
    from syncer import run_once
    from syncer.clients import base

    from .breakers import apply as apply_breaker

    if die_after_writes is not None:
        writes = [0]
        original_send = base.ApiClient._send

        def send(self, method, url, *args, **kwargs):
            resp = original_send(self, method, url, *args, **kwargs)
            if _is_counted_write(method, url):
                writes[0] += 1
                if writes[0] >= die_after_writes:
                    sys.stdout.flush()
                    os._exit(KILLED_RC)  # like SIGKILL: nothing is cleaned up
            return resp

        base.ApiClient._send = send

    build_clients = run_once.clients_for

    def clients_for(clock, token_store=None, **kw):
        build = build_clients(clock, token_store, **kw)

        def clients(integration):
            fsm, books = build(integration)
            for c in (fsm, books):
                c.timeout = client_timeout  # a delayed answer ends as a time-out, then a retry
                c.retry.sleep = lambda s: time.sleep(min(s, RETRY_SLEEP_CAP))
            return fsm, books

        return clients

    run_once.clients_for = clients_for
    if breaker:
        apply_breaker(breaker)


def run(argv: list[str], *, die_after_writes: int | None = None, breaker: str | None = None,
        client_timeout: float = 1.0) -> int:
    prepare(die_after_writes=die_after_writes, breaker=breaker, client_timeout=client_timeout)
    from syncer import run_once

    return run_once.main(argv)


def _child(req: dict[str, Any]) -> None:
    """In the forked child: stdout/stderr to the request's file, run, exit."""
    rc = 1
    try:
        fd = os.open(req["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        sys.stdin.close()
        rc = run(list(req["argv"]), die_after_writes=req.get("die_after_writes"), breaker=req.get("breaker"),
                 client_timeout=float(req.get("client_timeout") or 1.0))
    except BaseException as exc:  # noqa: BLE001 — report anything, never return into the server loop
        import traceback

        traceback.print_exc()
        rc = exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)


def serve() -> int:
    # everything a run needs, imported once; no thread, no connection exists yet, so forking is safe
    import syncer.run_once  # noqa: F401
    from syncer.books_sync import customers, engine, items  # noqa: F401

    from . import breakers  # noqa: F401

    out = sys.stdout
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(req)
        out.write(json.dumps({"pid": pid}) + "\n")
        out.flush()
        _, status = os.waitpid(pid, 0)
        rc = os.waitstatus_to_exitcode(status)
        out.write(json.dumps({"pid": pid, "rc": rc}) + "\n")
        out.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["serve"]:
        return serve()
    if argv[:1] != ["run"]:
        print(__doc__, file=sys.stderr)
        return 2
    rest = argv[1:]
    cut = rest.index("--") if "--" in rest else len(rest)
    own, run_once_args = rest[:cut], rest[cut + 1:]
    p = argparse.ArgumentParser(prog="python -m scenarios.checker.proc run")
    p.add_argument("--die-after-writes", type=int, default=None)
    p.add_argument("--breaker", default=None)
    p.add_argument("--client-timeout", type=float, default=1.0)
    args = p.parse_args(own)
    return run(run_once_args, die_after_writes=args.die_after_writes, breaker=args.breaker,
               client_timeout=args.client_timeout)


if __name__ == "__main__":
    sys.exit(main())
