"""The sync lock's keeper: heartbeats a held lock while a run goes, for either engine."""

from __future__ import annotations

import threading
from typing import Protocol


class Heartbeats(Protocol):
    def heartbeat(self, integration_id: str, run_id: str) -> bool: ...


class LockKeeper:
    """Heartbeats a held sync lock from a daemon thread while a run goes (see ``Repo.keep_alive``)."""

    def __init__(self, repo: Heartbeats, integration_id: str, run_id: str, interval: float) -> None:
        self.repo, self.integration_id, self.run_id, self.interval = repo, integration_id, run_id, interval
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"sync-lock-{integration_id}", daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not self.repo.heartbeat(self.integration_id, self.run_id):
                    self.lost = True
                    return
            except Exception:  # noqa: BLE001 - a transient DB error; the next beat retries
                continue

    def __enter__(self) -> LockKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=max(5.0, self.interval))
