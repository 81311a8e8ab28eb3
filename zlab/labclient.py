"""The one client of the lab's control API (``/_lab``) and its token exchange, over HTTP.

Used by the command line (``zlab tenants``, ``seed``, ``bench``, ``loadtest``), the scenario
harness (``scenarios.harness.clients.Control``) and the load tests (``loadtests/``), so the
three never drift apart. It only needs httpx: the load tests import it inside Locust workers.

The lab token: a stack started with ``ZLAB_LAB_TOKEN`` answers 401 to a control call without it;
this client sends it (``lab_token=``, else that environment variable) as ``X-Zlab-Lab-Token``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx

LAB_TOKEN_ENV = "ZLAB_LAB_TOKEN"  # the fakes (fakes/core/app.py) and the syncer API read the same name
LAB_TOKEN_HEADER = "X-Zlab-Lab-Token"


def lab_token_headers(token: str | None = None) -> dict[str, str]:
    """The header carrying the lab token (``token``, else ``$ZLAB_LAB_TOKEN``); none when unset."""
    token = token if token is not None else os.environ.get(LAB_TOKEN_ENV, "")
    return {LAB_TOKEN_HEADER: token} if token else {}


class LabApiError(RuntimeError):
    """The control API refused a call (or answered something that is not JSON)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LabClient:
    """``LabClient("http://127.0.0.1:8700")``; pass ``http=`` to share an ``httpx.Client``;
    ``lab_token`` (default ``$ZLAB_LAB_TOKEN``) goes with every call."""

    def __init__(self, url: str, *, http: httpx.Client | None = None, timeout: float = 120.0,
                 transport: httpx.BaseTransport | None = None, lab_token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self._owns_http = http is None
        self.http = http or httpx.Client(timeout=timeout, transport=transport)
        self.token_headers = lab_token_headers(lab_token)

    def close(self) -> None:
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> LabClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- raw --------------------------------------------------------------------------------------
    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """Any call under the lab's URL (``path`` starts with ``/``); transport errors propagate."""
        if self.token_headers:
            kw["headers"] = {**self.token_headers, **(kw.get("headers") or {})}
        return self.http.request(method, f"{self.url}{path}", **kw)

    def call(self, method: str, path: str, body: Any = None, *, params: dict[str, Any] | None = None,
             expect: tuple[int, ...] | None = None) -> Any:
        """A control call under ``/_lab``: its JSON answer, or ``LabApiError`` on a refusal."""
        kw: dict[str, Any] = {"params": params} if params else {}
        if body is not None or method in ("POST", "PUT", "PATCH"):
            kw["json"] = body if body is not None else {}
        r = self.request(method, f"/_lab{path}", **kw)
        return self.answer(r, f"{method} /_lab{path}", expect)

    @staticmethod
    def answer(r: httpx.Response, what: str, expect: tuple[int, ...] | None = None) -> Any:
        if (r.status_code not in expect) if expect else r.status_code >= 400:
            raise LabApiError(f"{what}: HTTP {r.status_code}: {r.text[:300]}", r.status_code)
        if not r.content:
            return None
        try:
            return r.json()
        except ValueError:
            raise LabApiError(f"{what}: the answer is not JSON", r.status_code) from None

    # -- the calls everyone makes -----------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self.call("GET", "/health")

    def create_tenant(self, **options: Any) -> dict[str, Any]:
        """A user with one org per product (``products=[...]``, ``rate_limits``, ``editions``…)."""
        return self.call("POST", "/tenants", options)

    def tenants(self) -> list[dict[str, Any]]:
        return self.call("GET", "/tenants")["tenants"]

    def patch_org(self, org_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        return self.call("PATCH", f"/orgs/{org_id}", changes)

    def seed(self, org_id: str, modules: dict[str, int], *, seed: int = 0, start: int = 0) -> dict[str, Any]:
        return self.call("POST", "/seed", {"org_id": org_id, "modules": modules, "seed": seed, "start": start})

    def journal(self, **filters: Any) -> list[dict[str, Any]]:
        params = {k: v for k, v in filters.items() if v is not None}
        return self.call("GET", "/journal", params=params)["entries"]

    def snapshot(self, name: str) -> dict[str, Any]:
        return self.call("POST", "/snapshots", {"name": name})

    def restore(self, name: str) -> dict[str, Any]:
        return self.call("POST", f"/snapshots/{name}/restore")

    def progress_events(self, path: str, body: Any = None) -> Iterator[dict[str, Any]]:
        """A control call that streams its progress (``?progress=1``): its NDJSON events as they
        come (``start``, ``progress``…, ``done``); ``LabApiError`` on a refusal or an ``error`` event."""
        kw: dict[str, Any] = {"json": body if body is not None else {}, "params": {"progress": "1"}}
        if self.token_headers:
            kw["headers"] = dict(self.token_headers)
        with self.http.stream("POST", f"{self.url}/_lab{path}", **kw) as r:
            if r.status_code >= 400:
                r.read()
                self.answer(r, f"POST /_lab{path}")
            for line in r.iter_lines():
                if not line.strip():
                    continue
                event = json.loads(line)
                if event.get("event") == "error":
                    raise LabApiError(f"POST /_lab{path}: {event.get('error')}", r.status_code)
                yield event

    def snapshot_events(self, name: str) -> Iterator[dict[str, Any]]:
        return self.progress_events("/snapshots", {"name": name})

    def restore_events(self, name: str) -> Iterator[dict[str, Any]]:
        return self.progress_events(f"/snapshots/{quote(name, safe='')}/restore")

    def reset(self, *, snapshots: bool = False) -> dict[str, Any]:
        return self.call("POST", "/reset", {"snapshots": snapshots})

    def access_token(self, tenant: dict[str, Any]) -> str:
        """Exchange a tenant's refresh token (as ``create_tenant`` returned it) for an access token."""
        r = self.request("POST", "/oauth/v2/token", data={
            "grant_type": "refresh_token", "client_id": tenant["client_id"],
            "client_secret": tenant["client_secret"], "refresh_token": tenant["refresh_token"]})
        body = self.answer(r, "token exchange")
        if not isinstance(body, dict) or "access_token" not in body:
            raise LabApiError(f"token exchange refused: {body}", r.status_code)
        return body["access_token"]
