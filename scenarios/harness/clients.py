"""Typed helpers for the lab's APIs: the fakes as a Zoho client sees them (OAuth token in the
header, the product's root and org parameter) and the control API (clock, faults, journal,
snapshots, seeding, workflow rules, deliveries). Everything goes over HTTP, so the same
scenario runs against the embedded stack or a target stack (``--target URL``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

# LabApiError: the control API refused a setup call (a broken scenario or an incompatible
# target); the same class as the CLI's and the load tests' lab client, which makes the calls.
from zlab.labclient import LabApiError, LabClient

if TYPE_CHECKING:
    from .lab import Lab



def _ok(r: httpx.Response, what: str) -> Any:
    return LabClient.answer(r, what)


class ZohoApi:
    """One product API of one tenant: ``get/post/put/patch/delete(path, ...)`` → httpx.Response."""

    def __init__(self, tenant: Tenant, root: str, *, params: dict[str, str] | None = None) -> None:
        self.tenant = tenant
        self.root = root
        self.params = params or {}

    @property
    def url(self) -> str:
        return self.tenant.lab.url + self.root

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, auth: bool = True,
                headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        h = dict(headers or {})
        if auth:
            h.setdefault("Authorization", f"Zoho-oauthtoken {self.tenant.token()}")
        return self.tenant.lab.http.request(method, self.url + path, params={**self.params, **(params or {})},
                                            headers=h, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)


@dataclass
class Tenant:
    """A Zoho customer in the lab: a user, one org per product, an OAuth client."""

    lab: Lab
    email: str
    client_id: str
    client_secret: str
    refresh_token: str
    orgs: dict[str, str]
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    _token: str | None = field(default=None, repr=False)

    def token(self, *, fresh: bool = False) -> str:
        """An access token from the accounts server (cached; ``fresh`` asks for a new one)."""
        if self._token is None or fresh:
            r = self.lab.http.post(f"{self.lab.url}/oauth/v2/token", data={
                "grant_type": "refresh_token", "client_id": self.client_id,
                "client_secret": self.client_secret, "refresh_token": self.refresh_token})
            body = _ok(r, "token exchange")
            if "access_token" not in body:
                raise LabApiError(f"token exchange refused: {body}")
            self._token = body["access_token"]
        return self._token

    def org(self, product: str) -> str:
        if product not in self.orgs:
            raise LabApiError(f"tenant {self.email} has no {product} org (it has {', '.join(self.orgs)})")
        return self.orgs[product]

    def books(self) -> ZohoApi:
        return ZohoApi(self, "/books/v3", params={"organization_id": self.org("books")})

    def invoice(self) -> ZohoApi:
        return ZohoApi(self, "/invoice/v3", params={"organization_id": self.org("invoice")})

    def crm(self, version: str = "v8") -> ZohoApi:
        self.org("crm")
        return ZohoApi(self, f"/crm/{version}")

    def fsm(self) -> ZohoApi:
        self.org("fsm")
        return ZohoApi(self, "/fsm/v1")

    def set_org(self, product: str, **changes: Any) -> dict[str, Any]:
        """Change an org through the control API (edition, rate_limits, tax_enabled, settings…)."""
        return self.lab.control.patch_org(self.org(product), changes)


class Clock:
    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.touched = False

    def _post(self, action: str, **body: Any) -> dict[str, Any]:
        self.touched = True
        return _ok(self.lab.http.post(f"{self.lab.url}/_lab/clock", json={"action": action, **body}), f"clock {action}")

    def now(self) -> str:
        return _ok(self.lab.http.get(f"{self.lab.url}/_lab/clock"), "clock")["now"]

    def freeze(self, at: str | None = None) -> dict[str, Any]:
        return self._post("freeze", **({"at": at} if at else {}))

    def set(self, at: str) -> dict[str, Any]:
        return self._post("set", at=at)

    def advance(self, seconds: float) -> dict[str, Any]:
        return self._post("advance", seconds=seconds)

    def reset(self) -> dict[str, Any]:
        out = self._post("reset")
        self.touched = False
        return out


class Faults:
    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.added: list[int] = []

    def add(self, **rule: Any) -> dict[str, Any]:
        out = _ok(self.lab.http.post(f"{self.lab.url}/_lab/faults", json=rule), "fault rule")
        self.added.append(out["id"])
        return out

    def list(self) -> list[dict[str, Any]]:
        return _ok(self.lab.http.get(f"{self.lab.url}/_lab/faults"), "fault rules")["faults"]

    def remove(self, rule_id: int) -> None:
        self.lab.http.delete(f"{self.lab.url}/_lab/faults/{rule_id}")
        if rule_id in self.added:
            self.added.remove(rule_id)

    def remove_added(self) -> None:
        for rule_id in list(self.added):
            self.remove(rule_id)


class Control:
    """The rest of the control API."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    @property
    def client(self) -> LabClient:
        """The shared lab client, on this lab's URL (known once it started) and HTTP client."""
        return LabClient(self.lab.url, http=self.lab.http)

    def _get(self, path: str, **params: Any) -> Any:
        return self.client.call("GET", path, params=params)

    def _post(self, path: str, body: Any = None) -> Any:
        return self.client.call("POST", path, body or {})

    def health(self) -> dict[str, Any]:
        return self.client.health()

    def create_tenant(self, **options: Any) -> dict[str, Any]:
        return self.client.create_tenant(**options)

    def patch_org(self, org_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        return self.client.patch_org(org_id, changes)

    def journal(self, *, email: str | None = None, org: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        return self.client.journal(email=email, org=org, limit=limit)

    def seed(self, org_id: str, modules: dict[str, int], *, seed: int = 0, start: int = 0) -> dict[str, Any]:
        return self.client.seed(org_id, modules, seed=seed, start=start)

    def snapshot(self, name: str) -> dict[str, Any]:
        return self.client.snapshot(name)

    def restore(self, name: str) -> dict[str, Any]:
        return self.client.restore(name)

    def add_workflow(self, **rule: Any) -> dict[str, Any]:
        return self._post("/workflows", rule)

    def workflow_runs(self, org_id: str, **filters: Any) -> list[dict[str, Any]]:
        return self._get("/workflows/runs", org_id=org_id, **filters)["runs"]

    def deliveries(self, org_id: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("org_id", org_id), ("kind", kind)) if v}
        return self._get("/deliveries", **params)["deliveries"]

    def get(self, path: str, **params: Any) -> Any:
        """Any other control endpoint (product-internal state: /_lab/books/…, /_lab/fsm/…)."""
        return self._get(path, **params)

    def call(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return self.lab.http.request(method, f"{self.lab.url}/_lab{path}", json=body)
