"""The request journal: the recent requests of every product, in memory, bounded.

Scenario reports show the journal of the failing tenant, so each entry keeps who (user, org),
what (method, path, query, a bounded body excerpt), the answer (status, excerpt) and any fault
that fired. It lives in memory (a deque) to keep the hot path free of database writes.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

EXCERPT_BYTES = 2048


@dataclass
class Entry:
    id: int
    request_id: str
    time: str  # lab time, ISO 8601 UTC
    product: str
    method: str
    path: str
    query: str
    org_id: str | None = None
    user_id: str | None = None
    status: int | None = None
    duration_ms: float | None = None
    fault: str | None = None
    request_excerpt: str | None = None
    response_excerpt: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Journal:
    def __init__(self, maxlen: int = 5000) -> None:
        self._entries: deque[Entry] = deque(maxlen=maxlen)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def new_entry(self, **kw: Any) -> Entry:
        return Entry(id=next(self._ids), **kw)

    def record(self, entry: Entry) -> None:
        with self._lock:
            self._entries.append(entry)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def query(self, *, org_id: str | None = None, org_ids: set[str] | None = None,
              user_id: str | None = None, product: str | None = None, since_id: int = 0,
              limit: int = 100, status: int | None = None) -> list[Entry]:
        with self._lock:
            items = list(self._entries)
        out = []
        for e in reversed(items):  # newest first
            if e.id <= since_id:
                break
            if org_id and e.org_id != org_id:
                continue
            if org_ids is not None and e.org_id not in org_ids and e.user_id != user_id:
                continue
            if user_id and org_ids is None and e.user_id != user_id:
                continue
            if product and e.product != product:
                continue
            if status is not None and e.status != status:
                continue
            out.append(e)
            if len(out) >= limit:
                break
        return out


def excerpt(data: bytes | str | None) -> str | None:
    if not data:
        return None
    if isinstance(data, bytes):
        data = data[:EXCERPT_BYTES].decode("utf-8", "replace")
    return data[:EXCERPT_BYTES]
