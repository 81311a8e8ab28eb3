"""The ``zlab`` command line: serve the fakes, create tenants, seed data, run the demo.

Commands that talk to a running server (``seed``, ``tenants``) do so over HTTP through the
control API (``/_lab``), never by importing its internals, so they work against a server in
another process, container or machine. Bad arguments give a one-line error and exit 2; a
failure at run time (server unreachable, a refusal from it) gives a one-line error and exit 1.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click
import httpx
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

DEFAULT_URL = "http://127.0.0.1:8700"
SEED_CHUNK = 500
SEED_CHUNK_MAX = 10_000  # what POST /_lab/seed accepts per module and call
DEMO_EMAIL = "demo@zlab.example"

# Tests may set this (an ``httpx.MockTransport`` or ``httpx.WSGITransport``) to intercept HTTP.
HTTP_TRANSPORT: httpx.BaseTransport | None = None

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


# -- one-line errors ------------------------------------------------------------------------------
class ZlabGroup(click.Group):
    """A group whose errors are one line: ``zlab seed: error: Missing option '--module'.``"""

    def main(self, args: Iterable[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:  # `zlab`, `zlab tenants`: show the help
            click.echo(exc.format_message(), err=True)
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx is not None else (prog_name or "zlab")
            hint = f" (see '{where} --help')"
            click.echo(f"{where}: error: {_one_line(exc.format_message())}{hint}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"{prog_name or 'zlab'}: error: {_one_line(exc.format_message())}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Interrupted.", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


# -- HTTP to a running server ---------------------------------------------------------------------
class LabHttp:
    """The shared lab client (``zlab.labclient``), turning every failure into a one-line error."""

    def __init__(self, url: str, timeout: float = 120.0) -> None:
        from .labclient import LabClient

        self.lab = LabClient(url, timeout=timeout, transport=HTTP_TRANSPORT)
        self.url = self.lab.url
        self.client = self.lab.http

    def __enter__(self) -> LabHttp:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.lab.close()

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return self.lab.request(method, path, **kw)
        except httpx.HTTPError as exc:
            reason = _one_line(str(exc)) or type(exc).__name__
            raise click.ClickException(
                f"cannot reach the fakes at {self.url} ({reason}); is `zlab serve` running there?") from None

    def call(self, method: str, path: str, expect: tuple[int, ...] = (200, 201), **kw: Any) -> Any:
        r = self.request(method, path, **kw)
        if r.status_code not in expect:
            raise click.ClickException(f"{method} {path} answered HTTP {r.status_code}: {error_text(r)}")
        try:
            return r.json()
        except ValueError:
            raise click.ClickException(f"{method} {path} answered something that is not JSON") from None


def error_text(r: httpx.Response) -> str:
    try:
        body = r.json()
    except ValueError:
        return _one_line(r.text[:200]) or "(empty body)"
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            if isinstance(body.get(key), str):
                return body[key]
    return _one_line(json.dumps(body)[:200])


def _check_url(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise click.BadParameter(f"{value!r} is not an http(s) URL")
    return value.rstrip("/")


def url_option(f):
    return click.option("--url", default=DEFAULT_URL, envvar="ZLAB_URL", show_default=True,
                        callback=_check_url, help="Base URL of a running `zlab serve` (env ZLAB_URL).")(f)


class KeyValue(click.ParamType):
    """``NAME=VALUE`` (repeatable options such as ``--module contacts=100``)."""

    def __init__(self, value_type: type = str, example: str = "name=value") -> None:
        self.value_type = value_type
        self.example = example
        self.name = "NAME=COUNT" if value_type is int else "NAME=VALUE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        name, sep, raw = str(value).partition("=")
        name, raw = name.strip(), raw.strip()
        if not sep or not name or not raw:
            self.fail(f"{value!r} is not {self.name} (e.g. {self.example})", param, ctx)
        if self.value_type is int:
            try:
                number = int(raw)
            except ValueError:
                self.fail(f"{raw!r} in {value!r} is not a whole number", param, ctx)
            if number < 0:
                self.fail(f"{value!r}: the count cannot be negative", param, ctx)
            return name, number
        return name, raw


# -- the group -------------------------------------------------------------------------------------
@click.group(name="zlab", cls=ZlabGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="zoho-sync-lab", prog_name="zlab")
def cli() -> None:
    """Zoho Sync Lab: fakes of Zoho's APIs, and the tools around them.

    Start with `zlab demo`, or `zlab serve` and then `zlab tenants create`.
    """


def main() -> None:
    cli(prog_name="zlab")


# -- scenarios -------------------------------------------------------------------------------------
@cli.group()
def scenarios() -> None:
    """The scenario catalog: list it with its rule coverage, run it with reports."""


def _importable_here() -> None:
    """Catalog packages are looked up from the current directory too (as ``python -m`` would)."""
    import os

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())


def _selection(f):
    f = click.option("-k", "keyword", metavar="EXPR",
                     help="Only scenarios whose id, title, rules or tags match (words with and/or/not).")(f)
    f = click.option("--rule", "rules", multiple=True, metavar="ID", help="Only scenarios guarding this rule (TW-16).")(f)
    f = click.option("--catalog", "catalogs", multiple=True, metavar="PACKAGE",
                     help="Python package of scenarios added to the built-in catalog (repeatable).")(f)
    f = click.option("--catalog-only", is_flag=True,
                     help="Only the --catalog packages, without the built-in catalog.")(f)
    return click.option("--tag", "tags", multiple=True, metavar="TAG", help="Only scenarios with this tag.")(f)


def _catalogs(catalogs: tuple[str, ...], catalog_only: bool) -> tuple[str, ...]:
    """The built-in catalog plus the --catalog packages, or (--catalog-only) just those."""
    from scenarios.harness.runner import DEFAULT_CATALOG

    if catalog_only and not catalogs:
        raise click.UsageError("--catalog-only needs at least one --catalog PACKAGE")
    chosen = catalogs if catalog_only else (DEFAULT_CATALOG, *catalogs)
    return tuple(dict.fromkeys(chosen))  # each once, in order


@scenarios.command("list")
@_selection
def scenarios_list(keyword: str | None, rules: tuple[str, ...], tags: tuple[str, ...],
                   catalogs: tuple[str, ...], catalog_only: bool) -> None:
    """Table of scenarios (id, title, rules, tags) and the rule coverage of the rule catalog."""
    from scenarios.harness.console import list_scenarios
    from scenarios.harness.runner import ExpressionError

    _importable_here()
    chosen = _catalogs(catalogs, catalog_only)
    try:
        sys.exit(list_scenarios(out, keyword=keyword, rules=rules, tags=tags, catalogs=chosen))
    except ModuleNotFoundError as exc:
        raise click.UsageError(f"--catalog: {exc}") from None
    except ExpressionError as exc:
        raise click.UsageError(str(exc)) from None


@scenarios.command("run")
@_selection
@click.option("--report-dir", default=".zlab/reports", show_default=True, type=click.Path(file_okay=False),
              help="Where junit.xml, report.html and results.json go.")
@click.option("--target", metavar="URL", callback=lambda c, p, v: _check_url(c, p, v) if v else None,
              help="Run against a running stack (zlab up, docker compose) instead of embedded ones; its "
                   "syncer and support token come from GET /_lab/stack, or ZLAB_SYNCER_URL and "
                   "ZLAB_SUPPORT_TOKEN; scenarios needing what it lacks are skipped.")
@click.option("-n", "--workers", default=1, show_default=True, type=click.IntRange(1, 32),
              help="Worker processes (each with its own embedded stack).")
def scenarios_run(keyword: str | None, rules: tuple[str, ...], tags: tuple[str, ...], catalogs: tuple[str, ...],
                  catalog_only: bool, report_dir: str, target: str | None, workers: int) -> None:
    """Run scenarios with live progress; exit 0 when none failed or errored (skipped ones say why)."""
    from scenarios.harness.console import run_scenarios
    from scenarios.harness.runner import ExpressionError

    _importable_here()
    chosen = _catalogs(catalogs, catalog_only)
    if target:
        _check_target(target)
    try:
        code = run_scenarios(out, keyword=keyword, rules=rules, tags=tags, report_dir=Path(report_dir),
                             target=target, workers=workers, catalogs=chosen)
    except ExpressionError as exc:
        raise click.UsageError(str(exc)) from None
    except ModuleNotFoundError as exc:
        raise click.UsageError(f"--catalog: {exc}") from None
    sys.exit(code)


def _check_target(target: str) -> None:
    """A target that is down, not a lab, or guarded without our token: one line, before any scenario."""
    with LabHttp(target, timeout=10) as http:
        health = http.call("GET", "/_lab/health", expect=(200,))
        if not isinstance(health, dict) or health.get("status") != "ok":
            raise click.ClickException(f"{target} is not a Zoho Sync Lab stack (GET /_lab/health)")
        r = http.request("GET", "/_lab/stack")
        if r.status_code == 401:
            raise click.ClickException(f"{target} is guarded: set ZLAB_LAB_TOKEN to its lab token")


# -- serve -----------------------------------------------------------------------------------------
def product_names() -> list[str]:
    import fakes

    return list(fakes.all_products())


def _split_only(values: Iterable[str]) -> list[str]:
    names: list[str] = []
    for v in values:
        names += [x.strip().lower() for x in v.split(",") if x.strip()]
    return list(dict.fromkeys(names))


def _mask(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for display
        return url


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (0.0.0.0 for all).")
@click.option("--port", default=8700, show_default=True, type=click.IntRange(0, 65535),
              help="Port to bind (0 picks a free one).")
@click.option("--db", "db_url", metavar="URL", envvar="ZLAB_DATABASE_URL",
              help="SQLAlchemy URL (env ZLAB_DATABASE_URL); default sqlite:///.zlab/fakes.db, "
                   "or e.g. postgresql+psycopg://user:pass@host/db.")
@click.option("--only", multiple=True, metavar="PRODUCT",
              help="Serve only this product (repeatable or comma-separated): accounts, books, crm, fsm. "
                   "Accounts always comes along.")
@click.option("--workers", default=None, type=click.IntRange(1, 128),
              help="gunicorn worker processes (default: one per CPU, see `zlab bench fakes`); more than 1 "
                   "shares state through the database.")
@click.option("--threads", default=None, type=click.IntRange(1, 512),
              help="Threads per worker (gthread; default 4).")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of generated ids and data.")
@click.option("--base-url", metavar="URL", envvar="ZLAB_BASE_URL",
              help="Base URL to advertise as api_domain (default: the URL each request came in on).")
@click.option("--access-log/--no-access-log", default=False, show_default=True,
              help="Log every request (gunicorn access log on stderr).")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False))
def serve(host: str, port: int, db_url: str | None, only: tuple[str, ...], workers: int | None, threads: int | None,
          seed: int, base_url: str | None, access_log: bool, log_level: str) -> None:
    """Serve the fakes under gunicorn (all products, one port).

    Products are routed by path like zohoapis.com: /oauth/v2 (Accounts), /books/v3 and /api/v3
    (Books), /invoice/v3 (Invoice), CRM and FSM as they land. /_lab is the control API, documented
    at /_lab/openapi.json. Ctrl-C stops.
    """
    names = _split_only(only)
    available = product_names()
    unknown = [n for n in names if n not in available]
    if unknown:
        raise click.BadParameter(f"unknown product {', '.join(map(repr, unknown))}; "
                                 f"choose from {', '.join(available)}", param_hint="'--only'")
    from .server import check_port_free, run_gunicorn, serve_shape

    workers, threads, shape_note = serve_shape(workers, threads)
    shared = workers > 1

    try:
        check_port_free(host, port)
    except OSError as exc:
        raise click.ClickException(exc.strerror or str(exc)) from None

    import fakes
    from fakes.core.db import database_url

    shown_db = _mask(database_url(db_url))

    def factory():
        return fakes.create_app(db_url, only=names or None, seed=seed, shared=shared, base_url=base_url)

    # Build it once here, before forking: a bad --db fails with one line instead of N worker
    # tracebacks, and the tables exist before several workers race to create them.
    try:
        probe = factory()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--only'") from None
    except Exception as exc:  # noqa: BLE001 - any failure to open the database
        first = _one_line(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise click.ClickException(f"cannot start the fakes on {shown_db}: {first}") from None
    lab = probe.extensions["zlab"]
    served = sorted(lab.products)
    lab.db.dispose()  # no connection may cross the fork
    del probe, lab

    def ready(url: str) -> None:
        plural = "s" if workers > 1 else ""
        err.print(f"[bold green]zlab fakes listening on {url}[/]  "
                  f"(products: {', '.join(served)}; db: {escape(shown_db)}; "
                  f"{workers} worker{plural} x {threads} threads{shape_note}) - Ctrl-C to stop",
                  soft_wrap=True, markup=True)
        err.print(f"  health: {url}/_lab/health   control API: {url}/_lab/openapi.json", soft_wrap=True)

    def stopped() -> None:
        err.print("zlab fakes stopped.")

    run_gunicorn(factory, host=host, port=port, workers=workers, threads=threads, access_log=access_log,
                 log_level=log_level.lower(), proc_name="zlab-fakes", on_ready=ready, on_exit=stopped)


# -- syncer and up ---------------------------------------------------------------------------------
def _optional_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    return _check_url(ctx, param, value) if value else None


def _check_smtp(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if not value:
        return None
    from syncer.mail import parse_smtp_url

    try:
        parse_smtp_url(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _syncer_config(db_url: str | None, fakes_url: str | None, smtp_url: str | None, interval: float):
    from syncer.config import SyncerConfig

    try:
        return SyncerConfig.from_env(database_url=db_url, fakes_url=fakes_url, smtp_url=smtp_url,
                                     scheduler_interval=interval)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def _probe_syncer_db(url: str) -> None:
    """Open the syncer's database once (tables created) so a bad --db is one line."""
    from syncer.store import StoreDB

    try:
        StoreDB(url).dispose()
    except Exception as exc:  # noqa: BLE001 - any failure to open the database
        first = _one_line(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise click.ClickException(f"cannot open the syncer's database {_mask(url)}: {first}") from None


def _tell_start_up_truth(service, *, check_fakes: bool = True) -> None:
    """What would surprise a person later, said at start: the fakes (or Zoho) do not answer; another
    syncer runs the scheduler of this database (this one stands by). The syncer starts either way;
    /health says the same (degraded, scheduler standby)."""
    if check_fakes:
        upstream = service.upstream.status()
        if upstream["status"] != "ok":
            what = "the fakes" if service.upstream_kind == "fakes" else "Zoho Accounts"
            err.print(f"  warning: {what} at {upstream['url']} do not answer ({upstream.get('error')}); the syncer "
                      "starts anyway and /health says degraded until they do", soft_wrap=True, markup=False)
    if service.scheduler.state == "standby":
        err.print(f"  warning: {service.scheduler.standby_message}", soft_wrap=True, markup=False)


def _syncer_options(f):
    f = click.option("--scheduler-interval", default=1.0, show_default=True, type=click.FloatRange(0, 3600),
                     envvar="ZLAB_SCHEDULER_INTERVAL",
                     help="Real seconds between scheduler ticks (each reads the lab clock); 0 switches the "
                          "automatic sync off.")(f)
    return click.option("--smtp", "smtp_url", metavar="URL", envvar="ZLAB_SMTP_URL", callback=_check_smtp,
                        help="Where notification mail goes (env ZLAB_SMTP_URL), e.g. smtp://127.0.0.1:1025; "
                             "default: an embedded in-process mail sink.")(f)


@cli.command("syncer")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (0.0.0.0 for all).")
@click.option("--port", default=8710, show_default=True, type=click.IntRange(0, 65535),
              help="Port to bind (0 picks a free one).")
@click.option("--fakes", "fakes_url", metavar="URL", envvar="ZLAB_FAKES_URL", callback=_optional_url,
              help="The lab (zlab serve) to read the clock from and to take as Zoho Accounts by default "
                   "(env ZLAB_FAKES_URL); without it: real time, real Zoho.")
@click.option("--db", "db_url", metavar="URL", envvar="ZLAB_SYNCER_DATABASE_URL",
              help="SQLAlchemy URL of the syncer's state (env ZLAB_SYNCER_DATABASE_URL); "
                   "default sqlite:///.zlab/syncer.db.")
@_syncer_options
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 512), help="Request threads.")
@click.option("--access-log/--no-access-log", default=False, show_default=True, help="Log every request.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False))
def syncer_cmd(host: str, port: int, fakes_url: str | None, db_url: str | None, smtp_url: str | None,
               scheduler_interval: float, threads: int, access_log: bool, log_level: str) -> None:
    """Serve the syncer: its JSON API (/api/v1, documented at /openapi.json) and the scheduler.

    Runs under gunicorn with exactly one worker process (threads serve the requests): the
    scheduler of automatic syncs lives in that worker; a second syncer on the same database stands by.
    Support calls need X-Support-Token = ZLAB_SUPPORT_TOKEN (generated and printed when unset).
    Ctrl-C stops.
    """
    from .server import check_port_free, run_gunicorn

    try:
        check_port_free(host, port)
    except OSError as exc:
        raise click.ClickException(exc.strerror or str(exc)) from None
    config = _syncer_config(db_url, fakes_url, smtp_url, scheduler_interval)
    _probe_syncer_db(config.database_url)

    def factory():
        # in the (single) worker: the service, its scheduler thread and the embedded mail sink
        import atexit

        from syncer.app import create_app
        from syncer.service import SyncerService

        service = SyncerService(config)
        service.start(announce_token=False)  # scheduler (or its standby) and the CRM notification worker
        atexit.register(service.close)
        err.print(f"  mail: {service.smtp_url or '(none)'}"
                  f"{' (embedded sink)' if service.sink is not None else ''}", soft_wrap=True, markup=False)
        _tell_start_up_truth(service)
        return create_app(service)

    def ready(url: str) -> None:
        err.print(f"[bold green]zlab syncer listening on {url}[/]  (db: {escape(_mask(config.database_url))}; "
                  f"clock: {escape(config.fakes_url + '/_lab/clock') if config.fakes_url else 'real time'}; "
                  f"1 worker x {threads} threads) - Ctrl-C to stop", soft_wrap=True, markup=True)
        err.print(f"  health: {url}/health   API: {url}/api/v1   OpenAPI: {url}/openapi.json", soft_wrap=True)
        if config.support_token_generated:
            err.print(f"  support token (X-Support-Token): {config.support_token}", soft_wrap=True, markup=False)

    def stopped() -> None:
        err.print("zlab syncer stopped.")

    run_gunicorn(factory, host=host, port=port, workers=1, threads=threads, access_log=access_log,
                 log_level=log_level.lower(), proc_name="zlab-syncer", on_ready=ready, on_exit=stopped)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (0.0.0.0 for all).")
@click.option("--port", default=8700, show_default=True, type=click.IntRange(0, 65535),
              help="Port of the fakes (0 picks a free one).")
@click.option("--syncer-port", default=8710, show_default=True, type=click.IntRange(0, 65535),
              help="Port of the syncer (0 picks a free one).")
@click.option("--db", "db_url", metavar="URL", envvar="ZLAB_DATABASE_URL",
              help="The fakes' database (env ZLAB_DATABASE_URL); default sqlite:///.zlab/fakes.db.")
@click.option("--syncer-db", "syncer_db_url", metavar="URL", envvar="ZLAB_SYNCER_DATABASE_URL",
              help="The syncer's database (env ZLAB_SYNCER_DATABASE_URL); default sqlite:///.zlab/syncer.db.")
@_syncer_options
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the fakes' generated ids and data.")
def up(host: str, port: int, syncer_port: int, db_url: str | None, syncer_db_url: str | None,
       smtp_url: str | None, scheduler_interval: float, seed: int) -> None:
    """Fakes + syncer + embedded mail sink, all in this one process (the embedded default).

    The fakes answer on --port (the Zoho paths and /_lab), the syncer on --syncer-port (/api/v1)
    reading the fakes' lab clock; notification mail goes to an in-process SMTP sink unless --smtp
    says otherwise. Threaded in-process servers, for one machine; for scale use `zlab serve` and
    `zlab syncer` (gunicorn). Ctrl-C (or SIGTERM) stops everything cleanly.
    """
    import signal
    import threading

    import fakes
    from fakes.core.db import database_url
    from syncer.app import create_app as create_syncer_app
    from syncer.service import SyncerService

    from .server import BackgroundServer, check_port_free

    if port and port == syncer_port:
        raise click.UsageError("--port and --syncer-port must differ")
    for p in (port, syncer_port):
        try:
            check_port_free(host, p)
        except OSError as exc:
            raise click.ClickException(exc.strerror or str(exc)) from None
    config = _syncer_config(syncer_db_url, None, smtp_url, scheduler_interval)  # validated before anything starts
    _probe_syncer_db(config.database_url)
    shown_db = _mask(database_url(db_url))
    try:
        fakes_app = fakes.create_app(db_url, seed=seed)
    except Exception as exc:  # noqa: BLE001 - any failure to open the database
        first = _one_line(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise click.ClickException(f"cannot start the fakes on {shown_db}: {first}") from None

    stop = threading.Event()
    previous = {s: signal.signal(s, lambda *_a: stop.set()) for s in (signal.SIGINT, signal.SIGTERM)}
    fakes_server = syncer_server = service = None
    try:
        try:
            fakes_server = BackgroundServer(fakes_app, host=host, port=port).start()
            # the fakes are the lab: their clock, and the Accounts server integrations default to
            config = _syncer_config(syncer_db_url, fakes_server.url, smtp_url, scheduler_interval)
            service = SyncerService(config, clock=fakes_app.extensions["zlab"].now)  # one process, one clock
            service.start(announce_token=False)  # (the support token is printed below, not logged)
            syncer_server = BackgroundServer(create_syncer_app(service), host=host, port=syncer_port)
            syncer_server.start(health_path="/health")
        except OSError as exc:
            raise click.ClickException(exc.strerror or str(exc)) from None
        except (TimeoutError, RuntimeError) as exc:
            raise click.ClickException(str(exc)) from None
        # GET /_lab/stack tells clients of the fakes' URL where the rest is (`scenarios run --target`)
        fakes_app.config["ZLAB_STACK"] = {"syncer_url": syncer_server.url, "support_token": config.support_token,
                                          "mail_url": f"{syncer_server.url}/api/v1/mail"}
        err.print(f"[bold green]zlab fakes listening on {fakes_server.url}[/]  (db: {escape(shown_db)})",
                  soft_wrap=True)
        err.print(f"[bold green]zlab syncer listening on {syncer_server.url}[/]  "
                  f"(db: {escape(_mask(config.database_url))}; clock: {fakes_server.url}/_lab/clock)", soft_wrap=True)
        for label, url in up_urls(fakes_server.url, syncer_server.url):
            err.print(f"  {label:<14}{url}", soft_wrap=True, markup=False)
        err.print(f"  {'mail (SMTP)':<14}{service.smtp_url}{' (embedded sink)' if service.sink is not None else ''}",
                  soft_wrap=True, markup=False)
        if config.support_token_generated:
            err.print(f"  support token (X-Support-Token): {config.support_token}", soft_wrap=True, markup=False)
        if os.environ.get("ZLAB_LAB_TOKEN"):
            err.print("  guarded: /_lab and the syncer API need X-Zlab-Lab-Token ($ZLAB_LAB_TOKEN)", soft_wrap=True,
                      markup=False)
        _tell_start_up_truth(service, check_fakes=False)  # the fakes are in this process
        err.print("  everything in this one process - Ctrl-C to stop", soft_wrap=True)
        while not stop.wait(0.5):
            pass
        err.print("Stopping.")
    finally:
        if syncer_server is not None:
            syncer_server.stop()
        if service is not None:
            service.close()
        if fakes_server is not None:
            fakes_server.stop()
        lab = fakes_app.extensions["zlab"]
        lab.notifier.close()
        lab.db.dispose()
        for s, handler in previous.items():
            signal.signal(s, handler)
    err.print("zlab up stopped.")


def up_urls(fakes_url: str, syncer_url: str) -> list[tuple[str, str]]:
    """Every URL of a `zlab up` stack, as it prints them."""
    return [("fakes", fakes_url), ("control API", f"{fakes_url}/_lab/openapi.json"),
            ("stack", f"{fakes_url}/_lab/stack"), ("syncer API", f"{syncer_url}/api/v1"),
            ("syncer docs", f"{syncer_url}/openapi.json"), ("dashboard", f"{syncer_url}/dashboard"),
            ("mail (API)", f"{syncer_url}/api/v1/mail")]


# -- tenants ---------------------------------------------------------------------------------------
@cli.group()
def tenants() -> None:
    """Create and list tenants of a running server.

    A tenant is a user with one org per product, an OAuth client and a refresh token.
    """


def _lab_products() -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    from fakes.core.tenants import EDITIONS, PRODUCTS

    return tuple(PRODUCTS), {k: tuple(v) for k, v in EDITIONS.items()}


def _print_kv(rows: list[tuple[str, str]], title: str | None = None) -> None:
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", show_header=False)
    key_width = max(len(k) for k, _ in rows)
    value_width = max(len(v) for _, v in rows)
    table.add_column("key", style="bold", no_wrap=True, min_width=key_width)
    table.add_column("value", no_wrap=True, min_width=value_width)
    for k, v in rows:
        table.add_row(k, v)
    # never fold a secret: print wider than the terminal rather than break it
    needed = key_width + value_width + 8
    wide = out if out.width >= needed else Console(
        file=out.file, width=needed, highlight=False, force_terminal=out.is_terminal,
        color_system=out.color_system and "auto")
    wide.print(table)


@tenants.command("create")
@url_option
@click.option("--email", help="The user's email (default: generated).")
@click.option("--name", help="The user's name (default: generated).")
@click.option("--products", metavar="LIST",
              help="Comma-separated products to make orgs for, e.g. fsm,books (default: all the server serves).")
@click.option("--edition", "editions", multiple=True, type=KeyValue(str, "books=premium"),
              metavar="PRODUCT=EDITION", help="Edition of one product's org (repeatable).")
@click.option("--rate-limits", is_flag=True, help="Switch Zoho's rate limits on for the new orgs (off by default).")
@click.option("--json", "as_json", is_flag=True, help="Print the server's raw JSON answer.")
def tenants_create(url: str, email: str | None, name: str | None, products: str | None,
                   editions: tuple[tuple[str, str], ...], rate_limits: bool, as_json: bool) -> None:
    """Create a tenant and print its credentials (POST /_lab/tenants)."""
    known, known_editions = _lab_products()
    body: dict[str, Any] = {}
    if email:
        body["email"] = email
    if name:
        body["name"] = name
    if products is not None:
        wanted = [p.strip().lower() for p in products.split(",") if p.strip()]
        bad = [p for p in wanted if p not in known]
        if bad or not wanted:
            raise click.BadParameter(f"{products!r}: products are {', '.join(known)}", param_hint="'--products'")
        body["products"] = list(dict.fromkeys(wanted))
    if editions:
        ed: dict[str, str] = {}
        for product, edition in editions:
            product, edition = product.lower(), edition.lower()
            if product not in known:
                raise click.BadParameter(f"unknown product {product!r}; products are {', '.join(known)}",
                                         param_hint="'--edition'")
            if edition not in known_editions.get(product, ()):
                raise click.BadParameter(f"{product} editions are {', '.join(known_editions[product])}",
                                         param_hint="'--edition'")
            ed[product] = edition
        body["editions"] = ed
    if rate_limits:
        body["rate_limits"] = True
    with LabHttp(url) as http:
        answer = http.call("POST", "/_lab/tenants", json=body)
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    rows = [(k, str(answer.get(k, ""))) for k in
            ("email", "user_id", "client_id", "client_secret", "refresh_token", "api_domain")]
    rows += [(f"org ({p})", str(o)) for p, o in (answer.get("orgs") or {}).items()]
    _print_kv(rows, title="Tenant created")
    out.print(f"Access token: POST {url}/oauth/v2/token with grant_type=refresh_token, client_id, "
              f"client_secret and refresh_token.", soft_wrap=True)


@tenants.command("list")
@url_option
@click.option("--json", "as_json", is_flag=True, help="Print the server's raw JSON answer.")
def tenants_list(url: str, as_json: bool) -> None:
    """List the tenants of a running server (GET /_lab/tenants)."""
    with LabHttp(url) as http:
        answer = http.call("GET", "/_lab/tenants")
    rows = answer.get("tenants") or []
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    if not rows:
        out.print("No tenants yet: create one with `zlab tenants create`.")
        return
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("email", no_wrap=True)
    table.add_column("user_id", no_wrap=True)
    table.add_column("orgs")
    for t in rows:
        table.add_row(t.get("email", ""), str(t.get("user_id", "")),
                      ", ".join(f"{p}={o}" for p, o in (t.get("orgs") or {}).items()))
    out.print(table)


# -- seed ------------------------------------------------------------------------------------------
def seed_chunks(http: LabHttp, org_id: str, modules: dict[str, int], *, seed: int = 0, start: int = 0,
                chunk: int = SEED_CHUNK, console: Console | None = None) -> dict[str, int]:
    """Seed ``modules`` (name -> count) into an org through POST /_lab/seed, ``chunk`` records per
    module and call, with a progress bar per module. Every call carries all modules still short of
    their count at the same ``start``, so the server seeds them in its own dependency order.
    Returns the records created per module."""
    chunk = max(1, min(chunk, SEED_CHUNK_MAX))
    created = dict.fromkeys(modules, 0)
    total = max(modules.values(), default=0)
    columns = (TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console or err) as progress:
        bars = {m: progress.add_task(m, total=n) for m, n in modules.items()}
        offset = 0
        while offset < total:
            batch = {m: min(chunk, n - offset) for m, n in modules.items() if n > offset}
            answer = http.call("POST", "/_lab/seed", json={
                "org_id": org_id, "modules": batch, "seed": seed, "start": start + offset})
            for m, n in (answer.get("created") or {}).items():
                if m in created:
                    created[m] += int(n)
                    progress.advance(bars[m], int(n))
            offset += chunk
    return created


def seedable(http: LabHttp) -> dict[str, list[str]]:
    return http.call("GET", "/_lab/seed").get("modules") or {}


@cli.command()
@click.option("--org", "org_id", metavar="ORG_ID", help="The org to seed.")
@click.option("--email", help="Instead of --org: a tenant's email (with --product).")
@click.option("--product", type=click.Choice(["books", "invoice", "crm", "fsm"], case_sensitive=False),
              help="With --email: which of the tenant's orgs to seed.  [default: books]")
@click.option("--module", "-m", "modules", multiple=True, required=True, metavar="MODULE=COUNT",
              type=KeyValue(int, "contacts=100"), help="Records to make, e.g. contacts=10000 (repeatable).")
@click.option("--seed", default=0, show_default=True, type=int, help="Faker seed: same seed, same data.")
@click.option("--start", default=0, show_default=True, type=click.IntRange(0),
              help="Index of the first record (to add more records later).")
@click.option("--chunk", default=SEED_CHUNK, show_default=True, type=click.IntRange(1, SEED_CHUNK_MAX),
              help="Records per module and request.")
@url_option
def seed(org_id: str | None, email: str | None, product: str | None, modules: tuple[tuple[str, int], ...],
         seed: int, start: int, chunk: int, url: str) -> None:
    """Seed an org of a running server with Faker data.

    Goes through POST /_lab/seed in chunks (same --seed, same data), a progress bar per module.

    Example: zlab seed --email demo@zlab.example --product books -m contacts=10000 -m items=500
    """
    if bool(org_id) == bool(email):
        raise click.UsageError("give either --org or --email (with --product)")
    if product and not email:
        raise click.UsageError("--product goes with --email; --org already names one org")
    wanted: dict[str, int] = {}
    for name, count in modules:
        if name in wanted:
            raise click.BadParameter(f"{name} given twice", param_hint="'--module'")
        wanted[name] = count
    with LabHttp(url) as http:
        if email:
            product = (product or "books").lower()
            tenant = http.call("GET", f"/_lab/tenants/{quote(email, safe='@')}")
            orgs = [o for o in tenant.get("orgs") or [] if o.get("product") == product]
            if not orgs:
                have = ", ".join(sorted({o.get("product", "?") for o in tenant.get("orgs") or []})) or "none"
                raise click.ClickException(f"{email} has no {product} org (it has: {have})")
            org_id, org_product = str(orgs[0]["id"]), product
        else:
            org_product = http.call("GET", f"/_lab/orgs/{quote(org_id or '', safe='')}").get("product", "")
        can = seedable(http).get(org_product) or []
        if not can:
            raise click.ClickException(f"the server cannot seed {org_product} orgs yet (GET /_lab/seed lists none)")
        bad = [m for m in wanted if m not in can]
        if bad:
            raise click.BadParameter(f"{org_product} cannot seed {', '.join(map(repr, bad))}; "
                                     f"it seeds: {', '.join(can)}", param_hint="'--module'")
        began = time.monotonic()
        created = seed_chunks(http, str(org_id), wanted, seed=seed, start=start, chunk=chunk)
    secs = max(time.monotonic() - began, 1e-6)
    out.print(f"Seeded {org_product} org {org_id}:")
    table = Table(box=box.SIMPLE_HEAD)
    table.add_column("module")
    table.add_column("created", justify="right")
    for m, n in created.items():
        table.add_row(m, str(n))
    out.print(table)
    total = sum(created.values())
    out.print(f"{total} records in {secs:.1f} s ({total / secs:.0f}/s), seed {seed}, start {start}.")


# -- snapshots -------------------------------------------------------------------------------------
@cli.group()
def snapshot() -> None:
    """Named snapshots of a running server's whole state (tenants, records, faults, clock)."""


def _with_progress(events, what: str) -> dict[str, Any]:
    """Show a stream of ``start``/``progress``/``done`` events as a bar; the ``done`` event."""
    from .labclient import LabApiError

    columns = (TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    done: dict[str, Any] = {}
    try:
        with Progress(*columns, console=err, transient=True) as progress:
            bar = progress.add_task(what, total=None)
            for event in events:
                kind = event.get("event")
                if kind == "start":
                    progress.update(bar, total=event.get("rows") or 0)
                elif kind == "progress":
                    progress.update(bar, completed=event.get("rows", 0),
                                    description=f"{what} {event.get('table', '')}"[:28])
                elif kind == "done":
                    done = event
    except LabApiError as exc:
        raise click.ClickException(_one_line(str(exc))) from None
    except httpx.HTTPError as exc:
        raise click.ClickException(f"the stream broke off: {_one_line(str(exc)) or type(exc).__name__}") from None
    if not done:
        raise click.ClickException("the server ended the stream before it was done")
    return done


@snapshot.command("take")
@click.argument("name")
@url_option
def snapshot_take(name: str, url: str) -> None:
    """Snapshot everything as NAME (replacing one of that name), with progress."""
    with LabHttp(url) as http:
        done = _with_progress(_guarded(http, lambda: http.lab.snapshot_events(name)), "taking")
    out.print(f"Snapshot {done['name']!r}: {done['rows']} rows in {done['seconds']:.1f} s.", markup=False)


@snapshot.command("restore")
@click.argument("name")
@url_option
def snapshot_restore(name: str, url: str) -> None:
    """Replace all state by snapshot NAME, with progress."""
    with LabHttp(url) as http:
        done = _with_progress(_guarded(http, lambda: http.lab.restore_events(name)), "restoring")
    out.print(f"Restored {done['name']!r}: {done['rows']} rows in {done['seconds']:.1f} s.", markup=False)


@snapshot.command("list")
@url_option
def snapshot_list(url: str) -> None:
    """The server's snapshots."""
    with LabHttp(url) as http:
        snaps = http.call("GET", "/_lab/snapshots").get("snapshots") or []
    if not snaps:
        out.print("No snapshots.")
        return
    for snap in snaps:
        out.print(f"{snap['name']}  {snap.get('created_time') or ''}", markup=False)


@snapshot.command("drop")
@click.argument("name")
@url_option
def snapshot_drop(name: str, url: str) -> None:
    """Delete snapshot NAME."""
    with LabHttp(url) as http:
        http.call("DELETE", f"/_lab/snapshots/{quote(name, safe='')}")
    out.print(f"Deleted snapshot {name!r}.", markup=False)


def _guarded(http: LabHttp, start):
    """The events of ``start()``, with an unreachable server as the CLI's one-line error."""
    try:
        yield from start()
    except httpx.ConnectError as exc:
        raise click.ClickException(f"cannot reach the fakes at {http.url} ({_one_line(str(exc))}); "
                                   "is `zlab serve` running there?") from None


# -- demo ------------------------------------------------------------------------------------------
def _fresh_sqlite(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm", "-journal"):
        p = Path(f"{path}{suffix}")
        if p.exists():
            p.unlink()
    return f"sqlite:///{path}"


@cli.command()
@click.option("--port", default=0, show_default=True, type=click.IntRange(0, 65535),
              help="Port to serve on (0 picks a free one).")
@click.option("--keep", is_flag=True, help="Keep the fakes running after the demo, until Ctrl-C.")
@click.option("--seed", default=42, show_default=True, type=int, help="Seed of the demo data.")
@click.option("--contacts", default=25, show_default=True, type=click.IntRange(0, 10_000),
              help="Books contacts to seed.")
@click.option("--items", default=10, show_default=True, type=click.IntRange(0, 10_000), help="Books items to seed.")
@click.option("--scenarios/--no-scenarios", "with_scenarios", default=True, show_default=True,
              help="Then run the whole scenario catalog and write its report.")
@click.option("--report-dir", default=".zlab/reports", show_default=True, type=click.Path(file_okay=False),
              help="Where the scenario report goes.")
@click.option("-n", "--workers", default=2, show_default=True, type=click.IntRange(1, 32),
              help="Worker processes for the scenarios.")
@click.option("--db-path", default=".zlab/demo.db", show_default=True, type=click.Path(dir_okay=False),
              help="SQLite file of the demo (deleted first: every run starts fresh).")
def demo(port: int, keep: bool, seed: int, contacts: int, items: int, with_scenarios: bool, report_dir: str,
         workers: int, db_path: str) -> None:
    """Demo: fakes in-process, a tenant, Books data, an API call, then the scenario catalog.

    Runs the fakes in this process on the embedded SQLite default, creates a tenant, seeds its
    Books org, exchanges the refresh token and lists the contacts like a Zoho client would. Prints
    the tenant's credentials and a curl command you can paste while the fakes run (--keep). Then
    runs every scenario on embedded stacks and prints where the HTML report is.
    """
    import fakes

    from .server import BackgroundServer

    db_url = _fresh_sqlite(Path(db_path))
    app = fakes.create_app(db_url, seed=seed)
    try:
        server = BackgroundServer(app, host="127.0.0.1", port=port).start()
    except OSError as exc:
        raise click.ClickException(exc.strerror or str(exc)) from None
    except (TimeoutError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    base = server.url
    out.print(f"[bold green]Fakes running at {base}[/] (in-process; database {db_path})", soft_wrap=True)
    try:
        ok = _demo_steps(base, seed=seed, contacts=contacts, items=items)
        if keep:
            out.print(f"The fakes stay up at {base} - Ctrl-C to stop.", soft_wrap=True)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                out.print("Stopping.")
    finally:
        server.stop()
        app.extensions["zlab"].db.dispose()
    if not ok:
        raise click.ClickException("the demo's Books request failed (see above)")
    out.print("Demo done: fakes stopped.")
    if with_scenarios:
        from scenarios.harness.console import run_scenarios

        out.rule("The scenario catalog")
        code = run_scenarios(out, keyword=None, rules=(), tags=(), report_dir=Path(report_dir), target=None,
                             workers=workers)
        out.print(f"[bold]Scenario report: {(Path(report_dir) / 'report.html').resolve()}[/]", soft_wrap=True)
        if code:
            raise click.ClickException("some scenarios failed (see the report)")


def _demo_steps(base: str, *, seed: int, contacts: int, items: int) -> bool:
    """The demo against a running server; False when the Books API answers with a server error."""
    with LabHttp(base) as http:
        tenant = http.call("POST", "/_lab/tenants", json={"email": DEMO_EMAIL})
        org = (tenant.get("orgs") or {}).get("books")
        token_answer = http.call("POST", "/oauth/v2/token", data={
            "grant_type": "refresh_token", "client_id": tenant["client_id"],
            "client_secret": tenant["client_secret"], "refresh_token": tenant["refresh_token"]})
        token = token_answer.get("access_token")
        if not token:
            raise click.ClickException(f"the token exchange failed: {token_answer}")
        if not org:
            raise click.ClickException("the demo tenant has no Books org")
        auth = {"Authorization": f"Zoho-oauthtoken {token}"}

        wanted = {m: n for m, n in (("contacts", contacts), ("items", items)) if n}
        if wanted:
            created = seed_chunks(http, org, wanted, seed=seed, chunk=SEED_CHUNK)
            out.print("Seeded the Books org: " + ", ".join(f"{n} {m}" for m, n in created.items()))

        _print_kv([("email", tenant["email"]), ("client_id", tenant["client_id"]),
                   ("client_secret", tenant["client_secret"]), ("refresh_token", tenant["refresh_token"]),
                   ("access_token", token), ("books org", org), ("api_domain", tenant.get("api_domain", base))],
                  title="Demo tenant")
        list_url = f"{base}/books/v3/contacts?organization_id={org}"
        out.print("List the Books contacts like a Zoho client would:")
        out.print(f"  curl -s -H 'Authorization: Zoho-oauthtoken {token}' '{list_url}'",
                  soft_wrap=True, markup=False)
        r = http.request("GET", f"/books/v3/contacts?organization_id={org}", headers=auth)
        body: Any = None
        try:
            body = r.json()
        except ValueError:
            pass
        if r.status_code == 200 and isinstance(body, dict) and isinstance(body.get("contacts"), list):
            more = " (more pages)" if (body.get("page_context") or {}).get("has_more_page") else ""
            out.print(f"[bold]GET /books/v3/contacts -> HTTP 200, {len(body['contacts'])} contacts{more}[/]")
            return True
        if r.status_code >= 500:
            out.print(f"[red]GET /books/v3/contacts -> HTTP {r.status_code}: {error_text(r)}[/]")
            return False
        out.print(f"[red]GET /books/v3/contacts -> HTTP {r.status_code}: {error_text(r)}[/]")
        return False



# -- zlab check (the randomized sync checker lives in scenarios/checker) -----------------------
from scenarios.checker.command import check as _check  # noqa: E402

cli.add_command(_check)

# -- commands defined in their own modules ------------------------------------------------------------
from .bench.cli import bench  # noqa: E402 - registered after the group exists
from .loadtest_cli import loadtest  # noqa: E402

cli.add_command(bench)
cli.add_command(loadtest)
