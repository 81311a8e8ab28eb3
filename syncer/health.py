"""What the syncer's ``/health`` says: its database, whether the fakes (or Zoho) answer, and
whether this syncer runs the scheduler of its database or stands by.

``status``: ``ok``; ``degraded`` when the fakes/Zoho do not answer (the syncer serves its API, but
no sync can work) — still HTTP 200, the process is alive; ``error`` with HTTP 503 when its own
database does not answer.

The upstream check is a plain HTTP GET with a short connect time-out (``PROBE_TIMEOUT``), cached
for ``PROBE_TTL`` real seconds so health stays cheap however often it is polled; after the first
check a stale answer is served while one background check refreshes it (a black-holed host never
holds a health request for the time-out).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import text

PROBE_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
PROBE_TTL = 5.0


def upstream_url(fakes_url: str | None, accounts_url: str) -> tuple[str, str]:
    """``(what, url)`` to check: the lab's open health endpoint, else Zoho Accounts."""
    if fakes_url:
        return "fakes", f"{fakes_url.rstrip('/')}/_lab/health"
    return "zoho", accounts_url.rstrip("/") + "/"


def probe(url: str, timeout: httpx.Timeout = PROBE_TIMEOUT) -> dict[str, Any]:
    """One check: reachable when anything answers below 500 (Zoho's Accounts root redirects)."""
    started = time.monotonic()
    checked_at = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as http:
            r = http.get(url)
    except httpx.HTTPError as exc:
        return {"status": "unreachable", "url": url, "error": f"{type(exc).__name__}: {exc}"[:300],
                "checked_at": checked_at}
    ms = round((time.monotonic() - started) * 1000, 1)
    if r.status_code >= 500:
        return {"status": "failing", "url": url, "error": f"answered {r.status_code}", "ms": ms,
                "checked_at": checked_at}
    return {"status": "ok", "url": url, "http_status": r.status_code, "ms": ms, "checked_at": checked_at}


class Reachability:
    """The cached upstream check (see the module doc)."""

    def __init__(self, url: str, *, ttl: float = PROBE_TTL, timeout: httpx.Timeout = PROBE_TIMEOUT) -> None:
        self.url, self.ttl, self.timeout = url, ttl, timeout
        self.probes = 0  # how many checks were made (tests: the cache holds)
        self._last: tuple[float, dict[str, Any]] | None = None
        self._lock = threading.Lock()
        self._refreshing = False

    def check(self) -> dict[str, Any]:
        self.probes += 1
        result = probe(self.url, self.timeout)
        with self._lock:
            self._last = (time.monotonic(), result)
            self._refreshing = False
        return result

    def status(self) -> dict[str, Any]:
        with self._lock:
            last = self._last
            stale = last is None or time.monotonic() - last[0] > self.ttl
            refresh = last is not None and stale and not self._refreshing
            if refresh:
                self._refreshing = True
        if last is None:
            return self.check()
        if refresh:
            threading.Thread(target=self.check, name="zlab-health-probe", daemon=True).start()
        return last[1]


def database_status(db) -> dict[str, Any]:
    started = time.monotonic()
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return {"status": "unreachable", "dialect": db.dialect, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"status": "ok", "dialect": db.dialect, "ms": round((time.monotonic() - started) * 1000, 1)}


def scheduler_status(scheduler) -> dict[str, Any]:
    out: dict[str, Any] = {"state": scheduler.state, "running": scheduler.running, "interval": scheduler.interval}
    if scheduler.state == "standby":
        out["message"] = scheduler.standby_message
    return out
