"""The lab clock: the one source of time for every fake (DESIGN.md, clock contract).

Real time by default. The control API can freeze it, set it, advance it or move it by an
offset, so that token expiry, rolling rate-limit windows and a syncer's three-hour schedule can
be exercised without waiting. Times are timezone-aware UTC datetimes; products render them in
the org's time zone (see ``fakes.core.timefmt``).

The state is three values (frozen instant or None, and an offset to real time), kept in memory
and mirrored to the database by the lab state store so that several worker processes agree.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class ClockState:
    frozen_at: datetime | None = None  # when set, now() returns exactly this
    offset_seconds: float = 0.0  # added to real time when not frozen

    def to_json(self) -> dict:
        return {
            "frozen": self.frozen_at is not None,
            "frozen_at": self.frozen_at.isoformat() if self.frozen_at else None,
            "offset_seconds": self.offset_seconds,
        }


class LabClock:
    """Thread-safe lab clock. ``now()`` is on the hot path: one lock-free attribute read."""

    def __init__(self, state: ClockState | None = None) -> None:
        self._state = state or ClockState()
        self._lock = threading.Lock()

    @property
    def state(self) -> ClockState:
        return self._state

    def load(self, state: ClockState) -> None:
        self._state = state

    def now(self) -> datetime:
        st = self._state
        if st.frozen_at is not None:
            return st.frozen_at
        real = datetime.now(UTC)
        return real + timedelta(seconds=st.offset_seconds) if st.offset_seconds else real

    def timestamp(self) -> float:
        return self.now().timestamp()

    # -- control ------------------------------------------------------------------------
    def freeze(self, at: datetime | None = None) -> ClockState:
        with self._lock:
            self._state = ClockState(frozen_at=_aware(at) if at else self.now(), offset_seconds=0.0)
            return self._state

    def unfreeze(self) -> ClockState:
        """Let time run again from the current lab instant (keeps continuity)."""
        with self._lock:
            current = self.now()
            self._state = ClockState(None, (current - datetime.now(UTC)).total_seconds())
            return self._state

    def set(self, at: datetime) -> ClockState:
        """Jump to ``at``: frozen clocks stay frozen there, running clocks run on from there."""
        at = _aware(at)
        with self._lock:
            if self._state.frozen_at is not None:
                self._state = ClockState(frozen_at=at)
            else:
                self._state = ClockState(None, (at - datetime.now(UTC)).total_seconds())
            return self._state

    def advance(self, seconds: float) -> ClockState:
        with self._lock:
            st = self._state
            if st.frozen_at is not None:
                self._state = ClockState(frozen_at=st.frozen_at + timedelta(seconds=seconds))
            else:
                self._state = ClockState(None, st.offset_seconds + seconds)
            return self._state

    def reset(self) -> ClockState:
        with self._lock:
            self._state = ClockState()
            return self._state


def _aware(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def monotonic() -> float:
    """Real monotonic seconds, for measuring durations (never for lab time)."""
    return time.monotonic()
