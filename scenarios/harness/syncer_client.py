"""A typed helper over the syncer's JSON API (``/api/v1``), as scenarios use it: ``lab.syncer``.

    s = lab.syncer
    integ = s.create_integration(tenant, product="books", notify_email="ops@example.com")
    integ.enable(duplicate_policy="clone")
    run = integ.sync_now()                      # waits; the finished run (dict, see the OpenAPI)
    csv_text = s.failures_csv(run["id"], "Service_And_Parts")
    s.record(integ.id, "Service_And_Parts", fsm_id)["partner"]["id"]

Every call goes over HTTP, so the same scenario runs against the embedded syncer or a running
one (``ZLAB_SYNCER_URL``). A refusal raises ``SyncerApiError`` with ``status``, ``code`` and
``message``; ``request()`` gives the raw ``httpx.Response`` for anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from .clients import Tenant

API = "/api/v1"


class SyncerApiError(RuntimeError):
    """The syncer answered an error: ``status`` (HTTP), ``code`` (``error``), ``message``."""

    def __init__(self, status: int, code: str, message: str, body: Any = None) -> None:
        super().__init__(f"syncer answered {status} {code}: {message}")
        self.status, self.code, self.message, self.body = status, code, message, body


def _answer(r: httpx.Response) -> Any:
    if r.status_code >= 400:
        try:
            body = r.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            raise SyncerApiError(r.status_code, str(body.get("error", "")), str(body.get("message", "")), body)
        raise SyncerApiError(r.status_code, "http_error", r.text[:300])
    if not r.content:
        return None
    return r.json() if "json" in r.headers.get("content-type", "") else r.text


@dataclass
class SyncerIntegration:
    """One integration, with its calls bound: ``enable``, ``sync_now``, ``runs``, ``settings``…"""

    syncer: SyncerClient
    id: str
    data: dict[str, Any]

    def refresh(self) -> dict[str, Any]:
        self.data = self.syncer.integration(self.id)
        return self.data

    def enable(self, duplicate_policy: str = "clone", **options: Any) -> dict[str, Any]:
        self.data = self.syncer.enable(self.id, duplicate_policy=duplicate_policy, **options)
        return self.data

    def settings(self, **changes: Any) -> dict[str, Any]:
        self.data = self.syncer.settings(self.id, **changes)
        return self.data

    def sync_now(self, *, wait: bool = True) -> dict[str, Any]:
        return self.syncer.sync_now(self.id, wait=wait)

    def runs(self, **params: Any) -> list[dict[str, Any]]:
        return self.syncer.runs(self.id, **params)

    def record(self, fsm_module: str, fsm_id: str) -> dict[str, Any]:
        return self.syncer.record(self.id, fsm_module, fsm_id)

    def books_record(self, books_entity: str, books_id: str) -> dict[str, Any]:
        return self.syncer.books_record(self.id, books_entity, books_id)

    def enable_crm(self, duplicate_policy: str = "clone", **options: Any) -> dict[str, Any]:
        """The CRM sync's "Save & Next": deletion, views, mappings; waits for the initial sync."""
        self.data = self.syncer.enable_crm(self.id, duplicate_policy=duplicate_policy, **options)
        return self.data

    def partner_record(self, module: str, record_id: str, *, crm_user: str | None = None) -> dict[str, Any]:
        return self.syncer.partner_record(self.id, module, record_id, crm_user=crm_user)

    def notifications(self, state: str | None = None) -> list[dict[str, Any]]:
        return self.syncer.notifications(self.id, state=state)

    def mail(self) -> list[dict[str, Any]]:
        return self.syncer.mail(integration_id=self.id)

    def invoice_for(self, work_order_id: str) -> dict[str, Any]:
        """TW-23: the invoice of an FSM work order."""
        return self.syncer.work_order_invoice(self.id, work_order_id)

    def support_reenable(self, token: str | None = None) -> dict[str, Any]:
        self.data = self.syncer.support_reenable(self.id, token=token)
        return self.data


class SyncerClient:
    def __init__(self, url: str, *, http: httpx.Client | None = None, support_token: str | None = None,
                 timeout: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self.http = http or httpx.Client(timeout=timeout)
        self.support_token = support_token

    # -- raw ------------------------------------------------------------------------------------------
    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """Any call; ``path`` under the syncer's root (``/api/v1/…``, ``/health``)."""
        return self.http.request(method, self.url + path, **kw)

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        return _answer(self.request(method, API + path, **kw))

    def health(self) -> dict[str, Any]:
        return _answer(self.request("GET", "/health"))

    def openapi(self) -> dict[str, Any]:
        return _answer(self.request("GET", "/openapi.json"))

    # -- integrations -----------------------------------------------------------------------------------
    def create_integration(self, tenant: Tenant, product: str = "books", *, notify_email: str | None = None,
                           **fields: Any) -> SyncerIntegration:
        """An integration between the tenant's FSM org and its Books (or Invoice) org, on the
        tenant's OAuth client. ``fields``: name, sync_type, mode, time_zone, accounts_url…"""
        body: dict[str, Any] = {
            "fsm_org_id": tenant.org("fsm"), "books_org_id": tenant.org(product), "books_product": product,
            "client_id": tenant.client_id, "client_secret": tenant.client_secret,
            "refresh_token": tenant.refresh_token, **fields}
        if notify_email is not None:
            body["notify_email"] = notify_email
        data = self._call("POST", "/integrations", json=body)
        return SyncerIntegration(self, data["id"], data)

    def integration(self, integration_id: str) -> dict[str, Any]:
        return self._call("GET", f"/integrations/{integration_id}")

    def integrations(self, **filters: Any) -> list[dict[str, Any]]:
        return self._call("GET", "/integrations", params=filters)["integrations"]

    def enable(self, integration_id: str, *, duplicate_policy: str = "clone", sync_type: str | None = None,
               mode: str | None = None, mappings: dict[str, Any] | None = None) -> dict[str, Any]:
        body = {k: v for k, v in (("duplicate_policy", duplicate_policy), ("sync_type", sync_type), ("mode", mode),
                                  ("mappings", mappings)) if v is not None}
        return self._call("POST", f"/integrations/{integration_id}/enable", json=body)

    def settings(self, integration_id: str, **changes: Any) -> dict[str, Any]:
        """auto_sync, notify_email, mappings, name, time_zone."""
        return self._call("PATCH", f"/integrations/{integration_id}/settings", json=changes)

    # -- runs ---------------------------------------------------------------------------------------
    def sync_now(self, integration_id: str, *, wait: bool = True) -> dict[str, Any]:
        return self._call("POST", f"/integrations/{integration_id}/sync", params={"wait": "true" if wait else "false"})

    def runs(self, integration_id: str, **params: Any) -> list[dict[str, Any]]:
        return self._call("GET", f"/integrations/{integration_id}/runs", params=params)["runs"]

    def run(self, run_id: str) -> dict[str, Any]:
        return self._call("GET", f"/runs/{run_id}")

    def failures(self, run_id: str, module: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", f"/runs/{run_id}/failures", params={"module": module} if module else None)["failures"]

    def failures_csv(self, run_id: str, module: str) -> str:
        """The text of ``<Module>FailureLogs.csv`` (``module``: its name or the file name)."""
        return self._call("GET", f"/runs/{run_id}/failures/{module}")

    def tick(self) -> list[dict[str, Any]]:
        """The automatic syncs due now on the lab clock, run at once (TW-04)."""
        return self._call("POST", "/scheduler/tick")["runs"]

    # -- records, mail, support -------------------------------------------------------------------------
    def record(self, integration_id: str, fsm_module: str, fsm_id: str) -> dict[str, Any]:
        return self._call("GET", f"/integrations/{integration_id}/records/{fsm_module}/{fsm_id}")

    # -- the CRM direct sync (docs/crm-sync.md) -------------------------------------------------------
    def create_crm_integration(self, tenant: Tenant, *, notify_email: str | None = None,
                               access: dict[str, Any] | None = None, **fields: Any) -> SyncerIntegration:
        """A direct sync between the tenant's FSM and CRM orgs (``kind`` crm); ``access`` CR-02."""
        body: dict[str, Any] = {"kind": "crm", "fsm_org_id": tenant.org("fsm"), "crm_org_id": tenant.org("crm"),
                                "client_id": tenant.client_id, "client_secret": tenant.client_secret,
                                "refresh_token": tenant.refresh_token, **fields}
        if notify_email is not None:
            body["notify_email"] = notify_email
        if access is not None:
            body["access"] = access
        data = self._call("POST", "/integrations", json=body)
        return SyncerIntegration(self, data["id"], data)

    def enable_crm(self, integration_id: str, *, duplicate_policy: str = "clone", deletion: dict | None = None,
                   views: dict | None = None, mappings: dict | None = None, wait: bool = True) -> dict[str, Any]:
        body = {k: v for k, v in (("duplicate_policy", duplicate_policy), ("deletion", deletion), ("views", views),
                                  ("mappings", mappings)) if v is not None}
        return self._call("POST", f"/integrations/{integration_id}/enable",
                          params={"wait": "true" if wait else "false"}, json=body)

    def partner_record(self, integration_id: str, module: str, record_id: str, *,
                       crm_user: str | None = None) -> dict[str, Any]:
        """CR-13 from the partner's side (``X-Zlab-Crm-User`` when ``crm_user``, CR-02)."""
        headers = {"X-Zlab-Crm-User": crm_user} if crm_user else None
        return self._call("GET", f"/integrations/{integration_id}/partner-records/{module}/{record_id}",
                          headers=headers)

    def notifications(self, integration_id: str, state: str | None = None) -> list[dict[str, Any]]:
        """The CRM sync's stored notifications, newest first (state pending|claimed|done|failed)."""
        params = {"state": state} if state else None
        return self._call("GET", f"/integrations/{integration_id}/notifications", params=params)["notifications"]

    def books_record(self, integration_id: str, books_entity: str, books_id: str) -> dict[str, Any]:
        return self._call("GET", f"/integrations/{integration_id}/books-records/{books_entity}/{books_id}")

    def mail(self, *, integration_id: str | None = None, to: str | None = None) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("integration_id", integration_id), ("to", to)) if v}
        return self._call("GET", "/mail", params=params)["mail"]

    def support_reenable(self, integration_id: str, *, token: str | None = None) -> dict[str, Any]:
        token = token if token is not None else self.support_token
        headers = {"X-Support-Token": token} if token else {}
        return self._call("POST", f"/support/integrations/{integration_id}/reenable", headers=headers)

    def work_order_invoice(self, integration_id: str, work_order_id: str) -> dict[str, Any]:
        return self._call("POST", f"/integrations/{integration_id}/work-orders/{work_order_id}/invoice")["invoice"]

    def offered_orgs(self, tenant: Tenant, *, signup_email: str | None = None) -> list[dict[str, Any]]:
        """OB-01: the Books/Invoice orgs offered to a new FSM org of this tenant."""
        body = {"client_id": tenant.client_id, "client_secret": tenant.client_secret,
                "refresh_token": tenant.refresh_token, "signup_email": signup_email or tenant.email}
        return self._call("POST", "/onboarding/offered-orgs", json=body)["organizations"]

    def close(self) -> None:
        self.http.close()
