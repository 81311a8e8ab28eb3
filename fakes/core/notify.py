"""Outgoing HTTP calls of the fakes: change notifications and workflow webhooks.

Delivered from a small thread pool so a slow or dead receiver never slows the API call that
caused it; retried a few times (tenacity) like Zoho does for notification URLs; every attempt's
outcome is kept in a bounded in-memory log readable at ``/_lab/deliveries``.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_fixed

TIMEOUT_SECONDS = 5.0
ATTEMPTS = 3


@dataclass
class Delivery:
    id: int
    url: str
    kind: str  # e.g. crm.watch, fsm.notification, workflow.webhook
    org_id: str
    payload: Any
    status: int | None = None
    error: str | None = None
    attempts: int = 0
    sent_at: str | None = None  # real time, ISO 8601

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class _Retry(Exception):
    pass


class Notifier:
    def __init__(self, workers: int = 4, log_size: int = 2000) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="zlab-notify")
        self._client = httpx.Client(timeout=TIMEOUT_SECONDS)
        self._log: deque[Delivery] = deque(maxlen=log_size)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def send(self, url: str, payload: Any, *, kind: str, org_id: str, headers: dict[str, str] | None = None) -> Delivery:
        d = Delivery(next(self._ids), url, kind, org_id, payload)
        with self._lock:
            self._log.append(d)
        self._pool.submit(self._deliver, d, headers or {})
        return d

    def _deliver(self, d: Delivery, headers: dict[str, str]) -> None:
        @retry(stop=stop_after_attempt(ATTEMPTS), wait=wait_fixed(0.2), retry=retry_if_exception_type(_Retry),
               reraise=True)
        def attempt() -> None:
            d.attempts += 1
            try:
                r = self._client.post(d.url, json=d.payload, headers={"User-Agent": "ZohoSyncLab-Notifier", **headers})
            except httpx.HTTPError as exc:
                d.error = f"{type(exc).__name__}: {exc}"
                raise _Retry() from None
            d.status, d.error = r.status_code, None
            d.sent_at = datetime.now(UTC).isoformat()
            if r.status_code >= 500:
                raise _Retry()

        try:
            attempt()
        except _Retry:
            pass

    def log(self, *, org_id: str | None = None, kind: str | None = None, limit: int = 100) -> list[Delivery]:
        with self._lock:
            items = list(self._log)
        out = [d for d in reversed(items) if (org_id is None or d.org_id == org_id) and (kind is None or d.kind == kind)]
        return out[:limit]

    def clear(self) -> None:
        with self._lock:
            self._log.clear()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()
