"""Running WSGI apps: gunicorn for the services, a threaded server for in-process use.

``run_gunicorn`` serves any app factory under gunicorn (``zlab serve`` now; ``zlab syncer`` and
``zlab up`` later): the factory is called in every worker, so each builds its own app (its own
engine and caches). ``BackgroundServer`` runs an app in a thread of the calling process, on a
free port if asked, for ``zlab demo`` and tests.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

WSGIApp = Callable[..., Any]


DEFAULT_THREADS = 4


def serve_shape(workers: int | None = None, threads: int | None = None,
                cpus: int | None = None) -> tuple[int, int, str]:
    """The (workers, threads) to serve with, and a note for the startup line when chosen here.

    One worker process per CPU: a process runs Python on one core at a time (the GIL), and a
    thread that waits on SQLite or PostgreSQL hands the core to another only at the GIL's switch
    interval, so threads of one process queue behind each other. A few threads per worker still
    overlap the database's waits and slow clients. ``zlab bench fakes`` measures any shape
    (``--workers/--threads``); on the 2-core reference machine 1 x 8, the old default, served a
    Books contact GET at a third of what 2 workers did (issue 13)."""
    n = cpus or os.cpu_count() or 1
    chosen = []
    if workers is None:
        workers = max(1, min(n, 8))
        chosen.append(f"{n} CPU{'s' if n != 1 else ''}")
    if threads is None:
        threads = DEFAULT_THREADS
    note = f"; chosen for {chosen[0]}" if chosen else ""
    return workers, threads, note


def bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def url_for(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - display only
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def check_port_free(host: str, port: int) -> None:
    """Raise OSError (with a readable message) when ``host:port`` cannot be bound; port 0 passes.

    Both servers would otherwise say it in several lines (gunicorn after five one-second retries)."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as both servers do
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            raise OSError(exc.errno, f"cannot listen on {bind_address(host, port)}: {exc.strerror}") from None


class _Arbiter(Arbiter):
    """gunicorn's arbiter, but SIGINT (Ctrl-C) stops gracefully, as SIGTERM does.

    Stock gunicorn answers SIGINT with SIGQUIT to the workers, and the gthread worker's SIGQUIT
    handler shuts its thread pool down from inside the signal handler: when the signal lands
    while the main thread is in ``ThreadPoolExecutor.submit`` (holding the pool's lock) the
    worker deadlocks until the arbiter SIGKILLs it after ``graceful_timeout``. The SIGTERM path
    only flips a flag and wakes the loop, so it is safe; idle keep-alive connections are closed
    at once, so a graceful stop is quick too.
    """

    def handle_int(self) -> None:
        raise StopIteration  # = handle_term: halt() then stops the workers with SIGTERM


class _GunicornApp(BaseApplication):
    """gunicorn, configured from a dict instead of its own command line."""

    def __init__(self, factory: Callable[[], WSGIApp], options: dict[str, Any]) -> None:
        self._factory = factory
        self._options = options
        super().__init__(prog="zlab")

    def load_config(self) -> None:
        for key, value in self._options.items():
            if value is not None:
                self.cfg.set(key, value)

    def load(self) -> WSGIApp:
        return self._factory()

    def run(self) -> None:
        try:
            _Arbiter(self).run()
        except RuntimeError as exc:
            print(f"\nError: {exc}\n", file=sys.stderr)
            sys.exit(1)


def gunicorn_options(*, host: str, port: int, workers: int = 1, threads: int = 8, timeout: int = 120,
                     graceful_timeout: int = 10, access_log: bool = False, log_level: str = "info",
                     proc_name: str = "zlab",
                     on_ready: Callable[[str], None] | None = None,
                     on_exit: Callable[[], None] | None = None) -> dict[str, Any]:
    """The gunicorn settings we use. ``on_ready`` gets the base URL actually bound (port 0 works)."""

    def when_ready(arbiter) -> None:
        if on_ready is None:
            return
        bound_port = port
        for listener in arbiter.LISTENERS:
            try:
                name = listener.sock.getsockname()
            except (AttributeError, OSError):
                continue
            if isinstance(name, tuple):
                bound_port = name[1]
                break
        on_ready(url_for(host, bound_port))

    def post_worker_init(_worker) -> None:
        # Ctrl-C in a terminal sends SIGINT to the whole process group. A gthread worker treats
        # its own SIGINT like SIGQUIT, which can deadlock it (see _Arbiter); leave the decision
        # to the arbiter, which stops the workers with SIGTERM.
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    def at_exit(_arbiter) -> None:
        if on_exit is not None:
            on_exit()

    return {
        "bind": [bind_address(host, port)],
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "timeout": timeout,  # a 10,000-record seed call takes a few seconds; leave room
        "graceful_timeout": graceful_timeout,
        "keepalive": 5,
        # no request-line limit in gunicorn (its default, 4094 bytes, answers an HTML page): the
        # apps refuse URLs over 8 KB themselves, in the product's envelope (fakes/core/bodies.py
        # MAX_URL_BYTES; RFC 9110 §4.1 asks recipients to take at least 8,000 octets)
        "limit_request_line": 0,
        "accesslog": "-" if access_log else None,
        "loglevel": log_level,
        "proc_name": proc_name,
        # gunicorn >= 25 opens a control socket in a fixed per-user place: two servers (parallel
        # tests, `zlab up`) would fight over it, and we do not use it
        "control_socket_disable": True,
        "when_ready": when_ready,
        "post_worker_init": post_worker_init,
        "on_exit": at_exit,
    }


def run_gunicorn(factory: Callable[[], WSGIApp], **options: Any) -> None:
    """Serve in the foreground until SIGINT/SIGTERM; exits the process (gunicorn's arbiter
    calls ``sys.exit``) with 0 on a clean stop. Options: see ``gunicorn_options``."""
    _GunicornApp(factory, gunicorn_options(**options)).run()


# -- in-process ---------------------------------------------------------------------------------
class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class BackgroundServer:
    """A threaded WSGI server in a daemon thread: ``with BackgroundServer(app) as srv: srv.url``."""

    def __init__(self, app: WSGIApp, host: str = "127.0.0.1", port: int = 0, quiet: bool = True) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING if quiet else logging.INFO)
        check_port_free(host, port)  # werkzeug would print two lines and sys.exit(1)
        self._server: BaseWSGIServer = make_server(host, port, app, threaded=True,
                                                   request_handler=_QuietHandler if quiet else None)
        self.host = host
        self.port = self._server.server_port
        self.url = url_for(host, self.port)
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"zlab-http-{self.port}",
                                        daemon=True)

    def start(self, health_path: str | None = "/_lab/health", timeout: float = 15.0) -> BackgroundServer:
        self._thread.start()
        if health_path:
            wait_healthy(self.url + health_path, timeout)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def wait_healthy(url: str, timeout: float = 15.0, is_alive: Callable[[], bool] | None = None) -> None:
    """Poll ``url`` until it answers 200; TimeoutError after ``timeout`` seconds, RuntimeError as
    soon as ``is_alive()`` says the server process is gone."""
    deadline = time.monotonic() + timeout
    last: str = "no answer"
    while time.monotonic() < deadline:
        if is_alive is not None and not is_alive():
            raise RuntimeError(f"the server exited before {url} answered")
        try:
            r = httpx.get(url, timeout=2.0)
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s ({last})")
