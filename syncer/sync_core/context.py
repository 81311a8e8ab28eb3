"""What every run shares, whichever the partner product: the run context, run-level outcomes
(``RunFailed``, ``RunRefused``), times of both sides and streaming helpers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any, TypeVar

from ..clients import FsmClient, ZohoApiError
from ..store.models import Integration
from ..store.repo import Repo
from .outcomes import UNKNOWN_OUTCOME_WAIT

FSM_BATCH = 100  # records per FSM insert/update call (the API's limit)
T = TypeVar("T")


def with_retries(records: Iterable[dict[str, Any]], retry: set[str], fetch: Callable[[str], dict[str, Any] | None],
                 key: str = "id") -> Iterator[dict[str, Any]]:
    """The changed records, then the previously failed ones (``retry``) that were not among them,
    read one by one (``fetch`` answers None for an id of the other side or a deleted record).
    Ids handled here leave ``retry``, so a later pass over the other product gets the rest."""
    for rec in records:
        retry.discard(str(rec.get(key, "")))
        yield rec
    for record_id in sorted(retry):
        rec = fetch(record_id)
        if rec is not None:
            retry.discard(record_id)
            yield rec


def read_or_none(read: Callable[[str], dict[str, Any]], record_id: str,
                 not_found_codes: set[int]) -> dict[str, Any] | None:
    """``read(record_id)``, or None when the product says there is no such record: 404, one of
    its not-found codes, or 400 for an id it cannot take (an id of the other product)."""
    try:
        return read(record_id)
    except ZohoApiError as exc:
        if exc.status in (400, 404) or exc.code in not_found_codes:
            return None
        raise


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """A stream in lists of ``size`` (the last may be shorter), read lazily."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def parse_time(text: Any) -> datetime | None:
    """Books ``2013-08-05T12:06:10+0530``, FSM and CRM ``2021-05-02T11:17:33+05:30`` as aware UTC."""
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
    """The run may not start (an import in progress, another sync in progress, …)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class RunContextBase:
    """What one run of either engine carries: the store, the integration, the run id, the FSM
    client and the partner product's client (``partner``: Books/Invoice or CRM), the TW-07
    watermark, per-module counts, and how writes of unknown outcome are waited for. An engine
    subclasses it for what only it needs (``books_sync.common.RunContext`` names ``partner``
    ``books``)."""

    repo: Repo
    integration: Integration
    run_id: str
    fsm: FsmClient
    partner: Any  # the partner product's client
    since: datetime | None  # TW-07: records modified after this are candidates (None: all)
    stats: dict[str, list[int]] = field(default_factory=dict)  # module -> [succeeded, failed]
    batch_size: int = FSM_BATCH  # records per FSM write call (smaller only to test crash points)
    # stats module -> ids of records the last succeeded run failed: tried again though unmodified
    # (and the sources of intents recovery abandoned: outcomes.requeue)
    retry: dict[str, set[str]] = field(default_factory=dict)
    # TW-07: module pairs ("items", "customers") whose mappings changed since the last run: their
    # linked records are compared and synced even when neither side changed
    remapped: set[str] = field(default_factory=set)
    # ids of linked, unchanged records whose dependents are paired again (a customer whose
    # persons' creates were abandoned): outcomes.requeue
    pair_dependents: set[str] = field(default_factory=set)
    # seconds a write of unknown outcome is looked for before it is sent again (outcomes.py)
    unknown_outcome_wait: float = UNKNOWN_OUTCOME_WAIT
    sleep: Callable[[float], None] = time.sleep

    def ok(self, module: str) -> None:
        self.stats.setdefault(module, [0, 0])[0] += 1

    def failed(self, module: str, record_id: str, reason: str, name: str = "", *, was_ok: bool = False) -> None:
        """A record that did not sync: logged with its reason, counted, and the run goes on.
        ``was_ok``: it was counted a success before a deferred write of it failed."""
        counts = self.stats.setdefault(module, [0, 0])
        counts[1] += 1
        if was_ok and counts[0] > 0:
            counts[0] -= 1
        self.repo.add_record_failure(self.run_id, module, record_id, reason, record_name=name)

    def reason_of(self, exc: ZohoApiError) -> str:
        code = f" (code {exc.code})" if exc.code not in (None, "") else ""
        return f"{exc.product}: {exc.message}{code}"
