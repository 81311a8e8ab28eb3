"""The ``Lab``: the running stack a scenario (or a developer's pytest test) talks to.

Embedded by default: the fakes start in this process on a free port with a fresh SQLite file
(in a temporary folder), like moto's ``mock_aws``. With ``target="http://…"`` it drives a stack
that is already running (``zlab serve``, the docker-compose stack) through the same HTTP APIs.

Isolation: every scenario makes its own tenants, so scenarios never share records; what is
global to a server (the lab clock) is reset after a scenario that touched it, and fault rules a
scenario added are removed.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from .clients import Clock, Control, Faults, Tenant
from .model import StepRecord
from .webhook import Webhook


class Lab:
    def __init__(self, target: str | None = None, *, seed: int = 0, timeout: float = 30.0) -> None:
        self.target = target.rstrip("/") if target else None
        self.seed = seed
        self.http = httpx.Client(timeout=timeout)
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
        return self

    def close(self) -> None:
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
