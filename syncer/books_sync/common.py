"""What every phase of an FSM <-> Books run shares: the run's context, times of both products,
and counting outcomes per module."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any, TypeVar

from ..clients import BooksClient, FsmClient, RecordResult, ZohoApiError, ZohoOutcomeUnknown
from ..store.models import Integration, PendingWrite, RecordLink
from ..store.repo import LinkSpec, Repo
from .outcomes import SEND_ATTEMPTS, UNKNOWN_OUTCOME_WAIT, find_settled

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


# -- batched FSM writes ---------------------------------------------------------------------------------
# Books has no batch create, FSM takes 100 records a call: FSM creates and partner-id writes are
# queued and sent 100 at a time, and their intents and links are saved one transaction a batch.

@dataclass
class HeldIntent:
    """The intent of a create that has dependent writes (a Company's Contacts), kept open after
    its link until the intents of all its dependents are recorded: a crash at any point between
    leaves an open intent that covers them (recovery re-queues them)."""

    pending_id: str
    created_id: str
    outcome: str
    waiting: int = 0  # dependents whose intents are not recorded yet


@dataclass
class FsmCreate:
    """One record to create in FSM from a Books record (``data`` carries ``ZBilling_Id``)."""

    data: dict[str, Any]
    books_id: str
    books_time: datetime | None
    stat: str  # the module of the run's stats and failure CSV
    name: str
    # called with the new FSM id once it is linked; with ``dependents``, also with the HeldIntent
    # that the creates it queues must carry (``held``), and it returns how many it queued
    then: Callable[..., Any] | None = None
    payload: dict[str, Any] | None = None  # the intent's payload (what recovery needs, e.g. a parent id)
    dependents: bool = False
    held: HeldIntent | None = None  # the parent's intent this create's intent releases


class FsmCreates:
    """Creates in one FSM module from one Books entity. ``add`` queues; a full queue is sent as one
    insert: its intents are recorded first (one transaction), then the links of what was created
    and the resolution of every intent are saved together (one transaction). A record FSM refuses
    is a record-level failure; a batch that fails as a whole for an API reason (5xx after retries)
    raises with its intents open, and the next run's ``recover`` finds what was made. An insert
    whose answer is lost (``ZohoOutcomeUnknown``) is resolved at once: the records it made are
    looked for by ``ZBilling_Id`` (outcomes.find_settled), linked, and only the rest sent again."""

    def __init__(self, ctx: RunContext, module: str, books_entity: str) -> None:
        self.ctx, self.module, self.books_entity, self.size = ctx, module, books_entity, ctx.batch_size
        self.queue: list[FsmCreate] = []
        self.created = 0  # records created (or found made) so far

    def add(self, create: FsmCreate) -> None:
        self.queue.append(create)
        if len(self.queue) >= self.size:
            self.flush()

    def flush(self) -> None:
        while self.queue:
            batch, self.queue = self.queue[: self.size], self.queue[self.size:]
            self._send(batch)

    def _send(self, batch: list[FsmCreate]) -> None:
        ctx = self.ctx
        integ = ctx.integration
        pendings = ctx.repo.record_pendings(integ.id, side="fsm", module=self.module, source_module=self.books_entity,
                                            run_id=ctx.run_id, intents=[(c.books_id, c.payload) for c in batch])
        released = []
        for c in batch:  # their intents cover them now: a parent whose dependents all have one is closed
            if c.held is not None:
                c.held.waiting -= 1
                if c.held.waiting == 0:
                    released.append((c.held.pending_id, c.held.created_id, c.held.outcome))
        ctx.repo.resolve_pendings(released)
        todo = list(zip(batch, pendings, strict=True))
        for attempt in range(1, SEND_ATTEMPTS + 1):
            try:
                results = ctx.fsm.create_records(self.module, [c.data for c, _ in todo])
            except ZohoOutcomeUnknown:
                found = find_settled(ctx, lambda t=todo: self._made(t), done=lambda f, n=len(todo): len(f) == n)
                made = [(c, p, found[c.books_id]) for c, p in todo if c.books_id in (found or {})]
                self._finish(made, outcome="found_existing")
                todo = [(c, p) for c, p in todo if c.books_id not in (found or {})]
                if not todo:
                    return
                if attempt == SEND_ATTEMPTS:
                    raise  # the rest stays open: the next run's recovery resolves it
                continue
            except ZohoApiError as exc:
                if not exc.is_record_level:
                    raise  # intents stay open: it may have been applied (recover finds out)
                ctx.repo.resolve_pendings([(p.id, None, f"failed: {exc.code}") for _, p in todo])
                for c, _ in todo:
                    ctx.failed(c.stat, c.books_id, ctx.reason_of(exc), c.name)
                return
            self._finish([(c, p, r) for (c, p), r in zip(todo, results, strict=True)])
            return

    def _made(self, todo: list[tuple[FsmCreate, PendingWrite]]) -> dict[str, RecordResult]:
        """The records an insert of unknown outcome made, by the Books id they carry: FSM records
        modified since the intents (with a margin for the two clocks), matched on ``ZBilling_Id``."""
        wanted = {c.books_id for c, _ in todo}
        started = min((p.started_at for _, p in todo if p.started_at is not None), default=None)
        since = (started or datetime.now(UTC)) - timedelta(minutes=5)
        out: dict[str, RecordResult] = {}
        for rec in self.ctx.fsm.modified_since(self.module, since):
            partner = str(rec.get("ZBilling_Id") or "")
            if partner in wanted and partner not in out:
                out[partner] = RecordResult(len(out), True, id=str(rec["id"]), code="SUCCESS",
                                            details={"Modified_Time": rec.get("Modified_Time")}, raw=rec)
        return out

    def _finish(self, sent: list[tuple[FsmCreate, PendingWrite, RecordResult]], outcome: str = "created") -> None:
        """Link what was created and resolve the intents (one transaction); count and follow up."""
        ctx = self.ctx
        specs, resolved, created, refused = [], [], [], []
        for c, pending, result in sent:
            if result.ok and result.id:
                specs.append(LinkSpec(self.module, result.id, self.books_entity, c.books_id,
                                      parse_time((result.details or {}).get("Modified_Time")), c.books_time,
                                      "created"))
                if not c.dependents:
                    resolved.append((pending.id, result.id, outcome))
                created.append((c, pending, result.id))
            else:
                resolved.append((pending.id, None, f"failed: {result.code}"))
                refused.append((c, result))
        ctx.repo.save_links(ctx.integration.id, specs, run_id=ctx.run_id, resolved=resolved)
        for c, result in refused:
            ctx.failed(c.stat, c.books_id, ctx.reason_of(result.error("fsm")), c.name)
        released = []
        for c, pending, fsm_id in created:
            self.created += 1
            ctx.ok(c.stat)
            if c.dependents:
                # ``then`` sets ``waiting`` before it queues (a full queue sends, and releases, at once)
                queued = c.then(fsm_id, HeldIntent(pending.id, fsm_id, outcome)) if c.then is not None else 0
                if not queued:
                    released.append((pending.id, fsm_id, outcome))
            elif c.then is not None:
                c.then(fsm_id)
        ctx.repo.resolve_pendings(released)


class PartnerIdWrites:
    """``ZBilling_Id`` writes to FSM records after their partners were created in Books, sent 100
    a call per module. Each link is marked synced with the FSM time the write left (one
    transaction a batch), so the write is not read back as a user's change. A crash before the
    write is harmless: the next run sees the link without its partner id on the record and
    writes it then."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx, self.size = ctx, ctx.batch_size
        self.queues: dict[str, list[tuple[RecordLink, str, str]]] = {}

    def add(self, link: RecordLink, stat: str, name: str) -> None:
        queue = self.queues.setdefault(link.fsm_module, [])
        queue.append((link, stat, name))
        if len(queue) >= self.size:
            self._send(link.fsm_module)

    def flush(self) -> None:
        for module in list(self.queues):
            self._send(module)

    def _send(self, module: str) -> None:
        batch, self.queues[module] = self.queues.get(module, []), []
        if not batch:
            return
        ctx = self.ctx
        results = ctx.fsm.update_records(module, [{"id": link.fsm_id, "ZBilling_Id": link.partner_id}
                                                  for link, _, _ in batch])
        specs = []
        for (link, stat, name), result in zip(batch, results, strict=True):
            if not result.ok:
                ctx.failed(stat, link.fsm_id, ctx.reason_of(result.error("fsm")), name, was_ok=True)
                continue
            specs.append(LinkSpec(link.fsm_module, link.fsm_id, link.partner_entity, link.partner_id,
                                  parse_time((result.details or {}).get("Modified_Time")), None,
                                  link.last_result))
        ctx.repo.save_links(ctx.integration.id, specs, run_id=ctx.run_id)
