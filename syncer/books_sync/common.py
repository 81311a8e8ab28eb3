"""What every phase of an FSM <-> Books run shares: the run's context, times of both products,
and counting outcomes per module."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..clients import BooksClient, FsmClient, ZohoApiError
from ..store.models import Integration
from ..store.repo import Repo


def parse_time(text: Any) -> datetime | None:
    """Books ``2013-08-05T12:06:10+0530`` and FSM ``2021-05-02T11:17:33+05:30`` as aware UTC."""
    if not isinstance(text, str) or not text:
        return None
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)


def same_instant(a: datetime | None, b: datetime | None) -> bool:
    """Both products show seconds: compare at that precision."""
    if a is None or b is None:
        return False
    return int(a.timestamp()) == int(b.timestamp())


class RunFailed(Exception):
    """A run-level failure (TW-16/17/18, or an API that keeps failing): the run stops."""

    def __init__(self, reason: str, *, disable: bool = False, mail: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.disable = disable
        self.mail = mail


class RunRefused(Exception):
    """The run may not start (import in progress, another sync, CRM-Books sync in progress)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class RunContext:
    repo: Repo
    integration: Integration
    run_id: str
    fsm: FsmClient
    books: BooksClient
    since: datetime | None  # TW-07: records modified after this are candidates (None: all)
    stats: dict[str, list[int]] = field(default_factory=dict)  # module -> [succeeded, failed]

    def ok(self, module: str) -> None:
        self.stats.setdefault(module, [0, 0])[0] += 1

    def failed(self, module: str, record_id: str, reason: str, name: str = "") -> None:
        """A record that did not sync: logged with its reason, counted, and the run goes on."""
        self.stats.setdefault(module, [0, 0])[1] += 1
        self.repo.add_record_failure(self.run_id, module, record_id, reason, record_name=name)

    def reason_of(self, exc: ZohoApiError) -> str:
        code = f" (code {exc.code})" if exc.code not in (None, "") else ""
        return f"{exc.product}: {exc.message}{code}"
