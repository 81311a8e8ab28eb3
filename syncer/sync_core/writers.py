"""Batched FSM writes, for either engine: FSM takes 100 records a call, so creates in FSM and
partner-id writes are queued and sent 100 at a time, and their intents and links are saved one
transaction a batch (docs/syncer-design.md, "Crash safety")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..clients import RecordResult, ZohoApiError, ZohoOutcomeUnknown
from ..store.models import PendingWrite, RecordLink
from ..store.repo import LinkSpec
from .context import RunContextBase, parse_time
from .outcomes import SEND_ATTEMPTS, HeldIntent, find_settled


@dataclass
class FsmCreate:
    """One record to create in FSM from a partner record (``data`` carries the partner id, in the
    field its ``FsmCreates`` names)."""

    data: dict[str, Any]
    partner_id: str
    partner_time: datetime | None
    stat: str  # the module of the run's stats and failure CSV
    name: str
    # called with the new FSM id once it is linked; with ``dependents``, also with the HeldIntent
    # that the creates it queues must carry (``held``), and it returns how many it queued
    then: Callable[..., Any] | None = None
    payload: dict[str, Any] | None = None  # the intent's payload (what recovery needs, e.g. a parent id)
    dependents: bool = False
    held: HeldIntent | None = None  # the parent's intent this create's intent releases


class FsmCreates:
    """Creates in one FSM module from one partner entity. ``add`` queues; a full queue is sent as one
    insert: its intents are recorded first (one transaction), then the links of what was created
    and the resolution of every intent are saved together (one transaction). A record FSM refuses
    is a record-level failure; a batch that fails as a whole for an API reason (5xx after retries)
    raises with its intents open, and the next run's ``recover`` finds what was made. An insert
    whose answer is lost (``ZohoOutcomeUnknown``) is resolved at once: the records it made are
    looked for by the partner id they carry (``partner_id_field``, e.g. ``ZBilling_Id``;
    outcomes.find_settled), linked, and only the rest sent again."""

    def __init__(self, ctx: RunContextBase, module: str, partner_entity: str, *, partner_id_field: str) -> None:
        self.ctx, self.module, self.partner_entity, self.size = ctx, module, partner_entity, ctx.batch_size
        self.partner_id_field = partner_id_field
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
        pendings = ctx.repo.record_pendings(integ.id, side="fsm", module=self.module, source_module=self.partner_entity,
                                            run_id=ctx.run_id, intents=[(c.partner_id, c.payload) for c in batch])
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
                made = [(c, p, found[c.partner_id]) for c, p in todo if c.partner_id in (found or {})]
                self._finish(made, outcome="found_existing")
                todo = [(c, p) for c, p in todo if c.partner_id not in (found or {})]
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
                    ctx.failed(c.stat, c.partner_id, ctx.reason_of(exc), c.name)
                return
            self._finish([(c, p, r) for (c, p), r in zip(todo, results, strict=True)])
            return

    def _made(self, todo: list[tuple[FsmCreate, PendingWrite]]) -> dict[str, RecordResult]:
        """The records an insert of unknown outcome made, by the partner id they carry: FSM records
        modified since the intents (with a margin for the two clocks), matched on the partner id field."""
        wanted = {c.partner_id for c, _ in todo}
        started = min((p.started_at for _, p in todo if p.started_at is not None), default=None)
        since = (started or datetime.now(UTC)) - timedelta(minutes=5)
        out: dict[str, RecordResult] = {}
        for rec in self.ctx.fsm.modified_since(self.module, since):
            partner = str(rec.get(self.partner_id_field) or "")
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
                specs.append(LinkSpec(self.module, result.id, self.partner_entity, c.partner_id,
                                      parse_time((result.details or {}).get("Modified_Time")), c.partner_time,
                                      "created"))
                if not c.dependents:
                    resolved.append((pending.id, result.id, outcome))
                created.append((c, pending, result.id))
            else:
                resolved.append((pending.id, None, f"failed: {result.code}"))
                refused.append((c, result))
        ctx.repo.save_links(ctx.integration.id, specs, run_id=ctx.run_id, resolved=resolved)
        for c, result in refused:
            ctx.failed(c.stat, c.partner_id, ctx.reason_of(result.error("fsm")), c.name)
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
    """Partner-id writes (``partner_id_field``, e.g. ``ZBilling_Id``) to FSM records after their
    partners were created in the partner product, sent 100
    a call per module. Each link is marked synced with the FSM time the write left (one
    transaction a batch), so the write is not read back as a user's change. A crash before the
    write is harmless: the next run sees the link without its partner id on the record and
    writes it then."""

    def __init__(self, ctx: RunContextBase, *, partner_id_field: str) -> None:
        self.ctx, self.size, self.partner_id_field = ctx, ctx.batch_size, partner_id_field
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
        results = ctx.fsm.update_records(module, [{"id": link.fsm_id, self.partner_id_field: link.partner_id}
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


@dataclass
class FsmUpdate:
    """One linked FSM record to overwrite with its partner's values."""

    link: RecordLink
    data: dict[str, Any]
    partner_time: datetime | None  # the partner's modified time these values are from
    stat: str  # the module of the run's stats and failure CSV
    record_id: str  # the id a failure is logged under
    name: str
    counted: bool = True  # whether FSM taking it counts the record synced (False: e.g. only its partner id)


class FsmUpdates:
    """Updates of linked FSM records from their partners, sent 100 a call per module (FSM's
    ``PUT /{module}`` takes up to 100 records, each answered on its own). A record FSM takes has
    its link marked synced with the FSM time the write left and the partner's time (one
    transaction a batch), so the write is not read back as a user's change; a record FSM refuses
    is a record-level failure (logged, tried again next run). An update is idempotent: a crash
    after the call and before the links are saved leaves the pairs unsynced, and the next run
    writes the same values again."""

    def __init__(self, ctx: RunContextBase) -> None:
        self.ctx, self.size = ctx, ctx.batch_size
        self.queues: dict[str, list[FsmUpdate]] = {}

    def add(self, update: FsmUpdate) -> None:
        queue = self.queues.setdefault(update.link.fsm_module, [])
        queue.append(update)
        if len(queue) >= self.size:
            self._send(update.link.fsm_module)

    def flush(self) -> None:
        for module in list(self.queues):
            self._send(module)

    def _send(self, module: str) -> None:
        batch, self.queues[module] = self.queues.get(module, []), []
        if not batch:
            return
        ctx = self.ctx
        results = ctx.fsm.update_records(module, [{**u.data, "id": u.link.fsm_id} for u in batch])
        specs, done = [], []
        for u, result in zip(batch, results, strict=True):
            if not result.ok:
                ctx.failed(u.stat, u.record_id, ctx.reason_of(result.error("fsm")), u.name)
                continue
            link = u.link
            specs.append(LinkSpec(link.fsm_module, link.fsm_id, link.partner_entity, link.partner_id,
                                  parse_time((result.details or {}).get("Modified_Time")), u.partner_time, "synced"))
            if u.counted:
                done.append(u.stat)
        ctx.repo.save_links(ctx.integration.id, specs, run_id=ctx.run_id)
        for stat in done:
            ctx.ok(stat)
