"""What every Locust user of the lab shares: its own tenant, its token, and planned bad requests.

Each user creates its own tenant through the lab's control API (``zlab.labclient``, the client
the CLI and the scenario harness use too), so users never see each other's data or limits.
A *planned* bad request is one the mix sends on purpose (a missing record, an invalid id, a
body Zoho refuses) and expects a given status for: Locust counts it a success when that status
comes back, a failure otherwise, and the summary (``loadtests.summary``) shows it apart from
unplanned errors.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

from locust import HttpUser, between

from zlab.labclient import LabClient

_NAMES = itertools.count(int(time.time() * 1000) % 10**9)


def unique(prefix: str) -> str:
    """A name no other request of this run used (Books refuses duplicate names)."""
    return f"{prefix} {os.getpid()}-{next(_NAMES)}"


class TenantUser(HttpUser):
    """A Locust user with its own lab tenant; subclasses set ``products`` and their tasks."""

    abstract = True
    wait_time = between(0.05, 0.3)
    products: tuple[str, ...] = ()

    def on_start(self) -> None:
        lab = LabClient(self.host, timeout=60)
        try:
            self.tenant = lab.create_tenant(products=list(self.products)) if self.products else lab.create_tenant()
            self.token = lab.access_token(self.tenant)
        finally:
            lab.close()
        self.auth = {"Authorization": f"Zoho-oauthtoken {self.token}"}
        self.setup()

    def setup(self) -> None:  # noqa: B027 - optional hook
        """Create what the tasks read (called once per user, after its tenant exists)."""

    def org(self, product: str) -> str:
        return self.tenant["orgs"][product]

    def call(self, method: str, path: str, name: str, **kw: Any):
        """A product call that must succeed (2xx, or 204 for an empty list)."""
        with self.client.request(method, path, name=name, headers=self.auth, catch_response=True, **kw) as r:
            if r.status_code >= 400:
                r.failure(f"HTTP {r.status_code}: {r.text[:200]}")
            return r

    def planned(self, method: str, path: str, name: str, expect: int, **kw: Any) -> None:
        """A bad request sent on purpose: a success when Zoho's error status ``expect`` comes back."""
        with self.client.request(method, path, name=f"planned: {name}", headers=self.auth, catch_response=True,
                                 context={"planned": True}, **kw) as r:
            if r.status_code == expect:
                r.success()
            else:
                r.failure(f"planned {expect}, got HTTP {r.status_code}: {r.text[:200]}")
