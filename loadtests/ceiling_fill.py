"""Locustfile: fill one Invoice org to N customers and N items through the public API.

The fill phase of the ceiling run (``zlab loadtest ceiling``): the tenant (with its Invoice org)
comes from ``$ZLAB_CEILING`` (JSON: the tenant as ``POST /_lab/tenants`` answered it, and
``records``). Users share one list of work (customer 0, item 0, customer 1, …); a create that
fails goes back on the list, so the org ends with exactly N of each. The run stops itself when
the last one is created.
"""

from __future__ import annotations

import json
import os
from collections import deque

import gevent
from locust import HttpUser, constant, task
from locust.exception import StopUser

from loadtests.summary import register_listeners
from zlab.labclient import LabClient

register_listeners()  # our summary page's per-second buckets

CONFIG = json.loads(os.environ.get("ZLAB_CEILING") or "{}")
RECORDS = int(CONFIG.get("records", 0))
WORK: deque[tuple[str, int]] = deque((kind, i) for i in range(RECORDS) for kind in ("customer", "item"))
DONE = {"created": 0}


class CeilingFiller(HttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        lab = LabClient(self.host, timeout=60)
        try:
            token = lab.access_token(CONFIG["tenant"])
        finally:
            lab.close()
        self.auth = {"Authorization": f"Zoho-oauthtoken {token}"}
        self.q = f"?organization_id={CONFIG['tenant']['orgs']['invoice']}"

    @task
    def create_next(self) -> None:
        if not WORK:
            raise StopUser()
        kind, i = WORK.popleft()
        if kind == "customer":
            path, body, name = "/invoice/v3/contacts", {"contact_name": f"Ceiling customer {i:05d}"}, "fill: create customer"
        else:
            path, body, name = "/invoice/v3/items", {"name": f"Ceiling item {i:05d}", "rate": 10 + i % 90}, "fill: create item"
        with self.client.post(path + self.q, json=body, headers=self.auth, name=name, catch_response=True) as r:
            if r.status_code != 201:
                WORK.append((kind, i))  # try it again later
                r.failure(f"HTTP {r.status_code}: {r.text[:200]}")
                return
        DONE["created"] += 1
        if DONE["created"] == 2 * RECORDS:
            gevent.spawn(self.environment.runner.quit)  # from another greenlet: this one is a user
