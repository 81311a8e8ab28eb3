"""The ``Lab``: the running stack a scenario (or a developer's pytest test) talks to.

Embedded by default: the fakes start in this process on a free port with a fresh SQLite file
(in a temporary folder), like moto's ``mock_aws``. With ``target="http://…"`` it drives a stack
that is already running (``zlab serve``, the docker-compose stack) through the same HTTP APIs.

Isolation: every scenario makes its own tenants, so scenarios never share records; what is
global to a server (the lab clock) is reset after a scenario that touched it, and fault rules a
scenario added are removed.

The syncer: ``lab.syncer`` (a ``SyncerClient`` over its JSON API). Embedded, it starts on first
use (or at ``start()`` with ``with_syncer=True``) in this process against the lab's fakes, with a
fresh SQLite file, an in-process mail sink and its scheduler thread. With a target, its URL is
``syncer_url=``, ``$ZLAB_SYNCER_URL``, or what the stack says (``GET /_lab/stack``: ``zlab up`` and
the compose stack know it); the support token likewise (``$ZLAB_SUPPORT_TOKEN``, else the stack's).
A scenario that needs what the target does not have is skipped, with that reason.

A guarded stack (``ZLAB_LAB_TOKEN`` set on it): set the same variable here, every call sends it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from zlab.labclient import lab_token_headers

from .clients import Clock, Control, Faults, Tenant
from .model import ScenarioSkipped, StepRecord
from .syncer_client import SyncerClient
from .webhook import Webhook


class Lab:
    def __init__(self, target: str | None = None, *, seed: int = 0, timeout: float = 30.0,
                 with_syncer: bool = False, syncer_url: str | None = None,
                 syncer_scheduler_interval: float = 0.25) -> None:
        self.target = target.rstrip("/") if target else None
        self.with_syncer = with_syncer
        self.syncer_url = (syncer_url or (os.environ.get("ZLAB_SYNCER_URL") if self.target else None) or "").rstrip("/")
        self.support_token = (os.environ.get("ZLAB_SUPPORT_TOKEN") or None) if self.target else None
        self.syncer_scheduler_interval = syncer_scheduler_interval
        self._syncer: SyncerClient | None = None
        self._syncer_service = None
        self._syncer_server = None
        self.seed = seed
        # every call to the stack carries the lab token when $ZLAB_LAB_TOKEN is set (a guarded stack)
        self.http = httpx.Client(timeout=timeout, headers=lab_token_headers())
        self._server = None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self.url = self.target or ""
        self.control = Control(self)
        self.clock = Clock(self)
        self.faults = Faults(self)
        self.steps: list[StepRecord] = []
        self.tenants: list[Tenant] = []
        self._webhooks: list[Webhook] = []

    # -- life cycle ----------------------------------------------------------------------------
    def start(self) -> Lab:
        if self.target is None:
            from fakes import create_app  # the harness may import the fakes; the syncer may not
            from zlab.server import BackgroundServer

            self._tmp = tempfile.TemporaryDirectory(prefix="zlab-lab-")
            db = Path(self._tmp.name) / "fakes.db"
            self._app = create_app(f"sqlite:///{db}", seed=self.seed)
            self._server = BackgroundServer(self._app).start()
            self.url = self._server.url
        else:
            health = self.control.health()
            if health.get("status") != "ok":
                raise RuntimeError(f"{self.target} is not a Zoho Sync Lab stack: {health}")
            self._ask_the_stack()
        if self.with_syncer:
            _ = self.syncer
        return self

    def _ask_the_stack(self) -> None:
        """Fill in the syncer's URL and support token the caller did not give from ``/_lab/stack``."""
        from .clients import LabApiError

        try:
            stack = self.control.client.call("GET", "/stack")
        except LabApiError as exc:
            if exc.status == 401:
                raise LabApiError(f"{self.target} is guarded: set ZLAB_LAB_TOKEN to its lab token", 401) from None
            return  # a stack from before /_lab/stack: only the environment tells
        self.syncer_url = self.syncer_url or (stack.get("syncer_url") or "").rstrip("/")
        self.support_token = self.support_token or stack.get("support_token") or None

    @property
    def syncer(self) -> SyncerClient:
        """The syncer's API (started on first use when embedded)."""
        if self._syncer is None:
            if self.target is None:
                self._start_syncer()
            elif not self.syncer_url:
                raise ScenarioSkipped(f"needs the syncer, and {self.target} does not say where it is "
                                      "(GET /_lab/stack); give its URL with ZLAB_SYNCER_URL")
            self._syncer = SyncerClient(self.syncer_url, support_token=self.support_token)
            self._syncer.missing_support_token = (
                f"needs the syncer's support token, and {self.target} does not know it; set ZLAB_SUPPORT_TOKEN")
            if self._syncer_service is not None:
                self._syncer.support_token = self._syncer_service.config.support_token
        return self._syncer

    def _start_syncer(self) -> None:
        from syncer.app import create_app as create_syncer_app
        from syncer.config import SyncerConfig
        from syncer.service import SyncerService
        from zlab.server import BackgroundServer

        if not self.url:
            raise RuntimeError("start the lab before its syncer")
        assert self._tmp is not None
        config = SyncerConfig.from_env(database_url=f"sqlite:///{Path(self._tmp.name) / 'syncer.db'}",
                                       fakes_url=self.url, smtp_url=None,
                                       support_token=secrets.token_urlsafe(12),
                                       scheduler_interval=self.syncer_scheduler_interval)
        config.smtp_url = None  # always the embedded sink, whatever the environment says
        # the embedded fakes' own clock: exact, and no HTTP round trip per reading
        in_process = self._app.extensions["zlab"].now if self._server is not None else None
        service = SyncerService(config, clock=in_process).start()
        try:
            server = BackgroundServer(create_syncer_app(service)).start(health_path="/health")
        except BaseException:
            service.close()
            raise
        self._syncer_service, self._syncer_server = service, server
        self.syncer_url = server.url

    def close(self) -> None:
        if self._syncer is not None:
            self._syncer.close()
            self._syncer = None
        if self._syncer_server is not None:
            self._syncer_server.stop()
            self._syncer_server = None
        if self._syncer_service is not None:
            self._syncer_service.close()
            self._syncer_service = None
        if self._server is not None:
            self._server.stop()
            self._app.extensions["zlab"].db.dispose()
            self._app.extensions["zlab"].notifier.close()
            self._server = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        self.http.close()

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- per scenario ----------------------------------------------------------------------------
    def begin(self) -> None:
        self.steps, self.tenants = [], []

    def end(self) -> None:
        """Undo what a scenario changed that others would see."""
        self.faults.remove_added()
        if self.clock.touched:
            self.clock.reset()
        for hook in self._webhooks:
            hook.stop()
        self._webhooks = []

    def webhook(self) -> Webhook:
        """A local HTTP receiver for notifications and workflow webhooks: ``.url``,
        ``.received`` (JSON bodies), ``.wait_for(n)``. Stopped at the end of the scenario."""
        hook = Webhook().start()
        self._webhooks.append(hook)
        return hook

    # -- what scenarios use --------------------------------------------------------------------------
    def tenant(self, **options: Any) -> Tenant:
        """A fresh tenant: a user with one org per product (options as ``POST /_lab/tenants``)."""
        t = self.control.create_tenant(**options)
        tenant = Tenant(self, t["email"], t["client_id"], t["client_secret"], t["refresh_token"], t["orgs"], t)
        self.tenants.append(tenant)
        return tenant

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[StepRecord]:
        """A named step: the report shows each one, and the one a failure happened in."""
        rec = StepRecord(name)
        self.steps.append(rec)
        started = time.perf_counter()
        try:
            yield rec
        except ScenarioSkipped as exc:
            rec.status, rec.detail = "skipped", str(exc)
            raise
        except AssertionError as exc:
            rec.status, rec.detail = "failed", str(exc)
            if getattr(exc, "step", "missing") is None:
                exc.step = name  # type: ignore[attr-defined]
            raise
        except Exception as exc:
            rec.status, rec.detail = "error", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            rec.duration = time.perf_counter() - started

    def journal(self) -> list[dict[str, Any]]:
        """The fakes' request journal for this scenario's tenants (newest first)."""
        out: list[dict[str, Any]] = []
        for t in self.tenants:
            with contextlib.suppress(Exception):
                out.extend(self.control.journal(email=t.email, limit=100))
        return sorted(out, key=lambda e: e.get("id", 0), reverse=True)

    def wait_until(self, check, *, timeout: float = 2.0, interval: float = 0.05, what: str = "condition") -> Any:
        """Poll ``check()`` until it returns something truthy (e.g. an async notification)."""
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() >= deadline:
                from .model import ScenarioFailure

                raise ScenarioFailure(f"{what} within {timeout:g} s", value)
            time.sleep(interval)
