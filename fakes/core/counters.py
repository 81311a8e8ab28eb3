"""Counters for rate limits, concurrency and fault rules, on the lab clock.

Fixed windows keyed by ``(key, window index)`` where the index is lab time // window length,
so advancing the lab clock by a day really starts a new day. Two backends with one interface:
- ``MemoryCounters`` (embedded default, one process): a dict, pruned as windows pass;
- ``SqlCounters`` (scale-out, several gunicorn workers): one upsert per hit, shared through the
  database (PostgreSQL in docker-compose).
"""

from __future__ import annotations

import threading
from collections import defaultdict

from sqlalchemy import BigInteger, Column, String, delete
from sqlmodel import Field, SQLModel, select

from .db import Database
from .sql import increment


class Counter(SQLModel, table=True):
    __tablename__ = "lab_counter"
    key: str = Field(sa_column=Column(String(200), primary_key=True))
    window: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    value: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    ends: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))  # 0: never


class Counters:
    def hit(self, key: str, now_ts: float, window_seconds: int, amount: int = 1) -> tuple[int, float]:
        """Add ``amount`` in the window holding ``now_ts``; return (count, window end ts)."""
        raise NotImplementedError

    def peek(self, key: str, now_ts: float, window_seconds: int) -> int:
        raise NotImplementedError

    def gauge(self, key: str, delta: int) -> int:
        """An up/down counter with no window (in-flight requests)."""
        raise NotImplementedError

    def hit_rolling(self, key: str, now_ts: float, window_seconds: int, slots: int,
                    amount: int = 1) -> tuple[int, float]:
        """A rolling window (e.g. "credits used in the last 24 hours") kept as ``slots`` fixed
        sub-windows: add ``amount`` to the current slot and return (sum over the last ``slots``
        slots, when the oldest counted slot leaves the window, i.e. when capacity frees up)."""
        slot = max(1, window_seconds // max(1, slots))
        n, _ = self.hit(key, now_ts, slot, amount)
        cur = int(now_ts // slot)
        earlier = self.previous(key, now_ts, slot, slots - 1)
        oldest = min([i for i, v in earlier.items() if v] or [cur])
        return n + sum(earlier.values()), float((oldest + slots) * slot)

    def previous(self, key: str, now_ts: float, window_seconds: int, count: int) -> dict[int, int]:
        """Counts of the ``count`` windows before the current one, by window index."""
        cur = int(now_ts // window_seconds)
        return {i: self.peek(key, i * window_seconds, window_seconds) for i in range(cur - count, cur)}

    def clear(self) -> None:
        raise NotImplementedError


class MemoryCounters(Counters):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, int, int], int] = {}  # (key, window length, index)
        self._gauges: dict[str, int] = defaultdict(int)
        self._hits = 0

    def hit(self, key, now_ts, window_seconds, amount=1):
        w = int(now_ts // window_seconds)
        with self._lock:
            n = self._windows.get((key, window_seconds, w), 0) + amount
            self._windows[(key, window_seconds, w)] = n
            self._hits += 1
            if self._hits % 5000 == 0:
                self._prune(now_ts)
        return n, (w + 1) * window_seconds

    def peek(self, key, now_ts, window_seconds):
        return self._windows.get((key, window_seconds, int(now_ts // window_seconds)), 0)

    def gauge(self, key, delta):
        with self._lock:
            # never below zero: a reset may clear the count while requests are still in flight
            self._gauges[key] = max(0, self._gauges[key] + delta)
            return self._gauges[key]

    def clear(self):
        with self._lock:
            self._windows.clear()
            self._gauges.clear()

    RETAIN_SECONDS = 86400  # ended windows are kept a day: rolling windows sum earlier slots

    def _prune(self, now_ts: float) -> None:
        """Drop windows that ended over a day ago: keeps memory bounded however long the fake runs."""
        dead = [k for k in self._windows if (k[2] + 1) * k[1] < now_ts - self.RETAIN_SECONDS]
        for k in dead:
            del self._windows[k]


class SqlCounters(Counters):
    PRUNE_EVERY = 2000  # hits between deletions of windows that have ended

    def __init__(self, db: Database) -> None:
        self.db = db
        self._hits = 0

    # the row key names the window length too, as the memory backend's does: one key counted
    # in windows of two lengths is two counters, not one
    def hit(self, key, now_ts, window_seconds, amount=1):
        w = int(now_ts // window_seconds)
        ends = (w + 1) * window_seconds
        with self.db.begin() as s:
            n = increment(s, Counter, {"key": f"{key}@{window_seconds}", "window": w}, "value", amount,
                          extra={"ends": ends})
            self._hits += 1
            if self._hits % self.PRUNE_EVERY == 0:  # keeps the table small however long it runs
                s.exec(delete(Counter).where(Counter.ends > 0, Counter.ends < now_ts - 86400))
        return n, ends

    def peek(self, key, now_ts, window_seconds):
        with self.db.session() as s:
            row = s.get(Counter, (f"{key}@{window_seconds}", int(now_ts // window_seconds)))
            return row.value if row else 0

    def previous(self, key, now_ts, window_seconds, count):
        cur = int(now_ts // window_seconds)
        with self.db.session() as s:
            rows = s.exec(select(Counter.window, Counter.value).where(
                Counter.key == f"{key}@{window_seconds}", Counter.window >= cur - count, Counter.window < cur)).all()
        return {int(w): int(v) for w, v in rows}

    def gauge(self, key, delta):
        with self.db.begin() as s:
            return increment(s, Counter, {"key": "gauge:" + key, "window": 0}, "value", delta)

    def clear(self):
        with self.db.begin() as s:
            s.exec(delete(Counter))
