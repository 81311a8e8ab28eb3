"""One sync run of an FSM <-> Books/Invoice integration, start to end (docs/syncer-design.md).

    engine = SyncEngine(repo, clients=lambda integration: (fsm, books), mailer=sender)
    run = engine.run(integration_id, trigger="manual")

The engine of kind ``books`` (``syncer.sync_core.engine.Engine``).

Lock (TW-09) -> preflight (TW-08, TW-13, TW-16, TW-17, TW-18) -> mark FSM "sync in progress" ->
finish what a crashed run left -> currencies (TW-10) -> items (TW-22) -> stats and watermark.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, ClassVar

from ..clients import BooksClient, FsmClient, RecordResult, ZohoApiError
from ..store.models import Integration, SyncRun
from ..store.repo import Repo
from ..sync_core.context import FSM_BATCH, RunFailed, RunRefused
from ..sync_core.engine import RunHooks, open_run
from ..sync_core.outcomes import UNKNOWN_OUTCOME_WAIT, create_once
from .common import RunContext
from .customers import MODULES as CUSTOMER_MODULES
from .customers import CustomersPhase
from .items import BOOKS_ENTITY as ITEMS_ENTITY
from .items import FSM_MODULE as ITEMS_MODULE
from .items import ItemsPhase

log = logging.getLogger("zlab.syncer")

WATERMARK_MARGIN = timedelta(seconds=2)
INVOICE_RECORD_LIMIT = 10_000  # TW-17: more than this many customers or items in an Invoice org
DEFAULT_NOTIFY = "fsm-admin@zlab.example"

Clients = Callable[[Integration], tuple[FsmClient, BooksClient]]


class SyncEngine:
    """FSM <-> Books/Invoice runs (integrations of kind ``books``)."""

    kind: ClassVar[str] = "books"

    def __init__(self, repo: Repo, *, clients: Clients, mailer: Any | None = None,
                 batch_size: int = FSM_BATCH, unknown_outcome_wait: float = UNKNOWN_OUTCOME_WAIT) -> None:
        if not 1 <= batch_size <= FSM_BATCH:
            raise ValueError(f"batch_size must be 1..{FSM_BATCH} (FSM takes at most {FSM_BATCH} records a call)")
        self.repo = repo
        self.clients = clients
        self.mailer = mailer
        self.batch_size = batch_size
        self.unknown_outcome_wait = unknown_outcome_wait  # outcomes.find_settled

    def tick(self, now: datetime) -> None:
        """Nothing beyond the due ``auto`` runs the scheduler starts (TW-04)."""

    def run(self, integration_id: str, trigger: str = "manual", *, run_id: str | None = None,
            hooks: RunHooks | None = None) -> SyncRun:
        # refused: another run (TW-09), sync not enabled, 30 a day (TW-05)
        run, opened = open_run(self.repo, integration_id, trigger=trigger, run_id=run_id, hooks=hooks)
        if not opened:
            return run
        integ = self.repo.get_integration(integration_id)
        fsm, books = self.clients(integ)
        mapping_changed = integ.settings.get("synced_mapping_version") != integ.mapping_version
        since = None if mapping_changed else integ.last_success_started_at  # TW-07
        # TW-07: after a mapping change every record of the remapped module pairs is compared and
        # synced, linked unchanged ones included (a newly mapped field reaches the other side)
        remapped = set(integ.settings.get("remapped_modules") or []) if mapping_changed else set()
        if since is not None:
            # both products show seconds: a change in the same second as the previous start would
            # slip through a strict "after"; links' synced times make re-reading it harmless
            since -= WATERMARK_MARGIN
        # an incremental run also tries again what the last run failed (a full one reads everything)
        retry = self.repo.failures_to_retry(integ.id) if since is not None else {}
        ctx = RunContext(self.repo, integ, run.id, fsm, books, since, batch_size=self.batch_size, retry=retry,
                         remapped=remapped, unknown_outcome_wait=self.unknown_outcome_wait)
        with self.repo.keep_alive(integ.id, run.id):
            try:
                self.preflight(ctx)
            except RunRefused as exc:
                return self.repo.finish_run(run.id, status="refused", failure_reason=exc.reason)
            except RunFailed as exc:
                return self._fail(ctx, exc)
            except ZohoApiError as exc:
                return self._fail(ctx, RunFailed(f"could not read the integration's state: {exc}"))
            marked = False
            try:
                fsm.set_sync_state(True)  # no import may start while we sync (TW-08)
                marked = True
                self.recover(ctx)
                if integ.mode != "one_way":  # OB-04: one-way writes nothing from Books into FSM
                    self.sync_currencies(ctx)
                if integ.settings.get("new_org"):
                    self.sync_taxes(ctx)
                ItemsPhase(ctx).run()
                CustomersPhase(ctx).run()
            except RunFailed as exc:
                return self._fail(ctx, exc)
            except ZohoApiError as exc:  # an API that keeps failing: the run fails, nothing is disabled
                log.warning("run %s failed: %s", run.id, exc)
                return self._fail(ctx, RunFailed(f"{exc.product} answered {exc.status}: {exc.message}"))
            finally:
                if marked:
                    try:
                        fsm.set_sync_state(False)
                    except ZohoApiError:
                        log.warning("could not clear FSM's sync-in-progress mark for %s", integ.id)
        if mapping_changed:
            self.mark_mappings_synced(integ, remapped)
        return self.repo.finish_run(run.id, status="succeeded", stats={m: tuple(v) for m, v in ctx.stats.items()})

    def mark_mappings_synced(self, integ: Integration, remapped: set[str]) -> None:
        """The run synced the mappings it started with: the modules it re-synced are done (a
        mapping changed while it ran keeps its module, and the version, for the next run)."""
        fresh = self.repo.get_integration(integ.id)
        left = sorted(set(fresh.settings.get("remapped_modules") or []) - remapped)
        if fresh.mapping_version != integ.mapping_version:
            left = sorted(set(fresh.settings.get("remapped_modules") or []))
        self.repo.update_integration(integ.id, settings={**fresh.settings, "remapped_modules": left,
                                                         "synced_mapping_version": integ.mapping_version})

    # -- before anything is written --------------------------------------------------------------------
    def preflight(self, ctx: RunContext) -> None:
        integ = ctx.integration
        fsm_state = ctx.fsm.internal_settings()
        if fsm_state.get("import_in_progress"):
            raise RunRefused("An FSM data import is in progress: sync cannot start (TW-08).")
        books_state = ctx.books.internal_settings()
        crm = books_state.get("crm_integration") or {}
        if crm.get("sync_in_progress"):
            raise RunRefused("A CRM - Books/Invoice sync is in progress: FSM - Books sync cannot start (TW-13).")
        if crm.get("enabled") and crm.get("sync_type") and crm["sync_type"] != integ.sync_type:
            raise RunFailed(f"The FSM - {integ.partner_product.title()} sync type ({integ.sync_type}) differs from the "
                            f"CRM - {integ.partner_product.title()} sync type ({crm['sync_type']}). Sync has been "
                            "disabled; contact support to enable it again.", disable=True, mail=True)
        if integ.partner_product == "invoice":
            counts = books_state.get("counts") or {}
            for what in ("customers", "items"):
                if int(counts.get(what, 0)) > INVOICE_RECORD_LIMIT:
                    raise RunFailed(f"Zoho Invoice holds {counts[what]} {what.title()}: more than the "
                                    f"{INVOICE_RECORD_LIMIT:,} that can be synced. Sync has been disabled.",
                                    disable=True, mail=True)
        if bool(fsm_state.get("tax_enabled")) != bool(books_state.get("tax_enabled")):
            fsm_word = "enabled" if fsm_state.get("tax_enabled") else "disabled"
            books_word = "enabled" if books_state.get("tax_enabled") else "disabled"
            raise RunFailed(f"Taxes are {fsm_word} in Zoho FSM but {books_word} in Zoho "
                            f"{integ.partner_product.title()}: they must be enabled or disabled on both sides.",
                            mail=True)

    # -- after a crash ----------------------------------------------------------------------------------
    def recover(self, ctx: RunContext) -> None:
        """Resolve every intent a crashed or failed run left open before anything else is written:
        what was made is linked; an intent whose write was not made is abandoned and its source
        record (with its dependents) goes back into this run (outcomes.requeue)."""
        items = ItemsPhase(ctx)
        customers = CustomersPhase(ctx)
        for pending in self.repo.open_pending(ctx.integration.id):
            if ITEMS_ENTITY in (pending.module, pending.source_module) or ITEMS_MODULE in (
                    pending.module, pending.source_module):
                items.recover(pending)
            elif pending.module in CUSTOMER_MODULES:
                customers.recover(pending)
        items.flush()
        customers.flush()

    # -- currencies (TW-10) ------------------------------------------------------------------------------
    def sync_currencies(self, ctx: RunContext) -> None:
        """Books currencies FSM lacks are created in FSM at rate 1; FSM-only ones stay (their
        records fail, naming the currency)."""
        have = {c.get("iso_code") for c in ctx.fsm.currencies()}
        missing = [c for c in ctx.books.list_currencies() if c.get("currency_code") not in have]
        if not missing:
            return

        def send() -> list[Any]:
            return ctx.fsm.create_currencies([{"iso_code": c["currency_code"], "exchange_rate": "1",
                                               "symbol": c.get("currency_symbol") or c["currency_code"]}
                                              for c in missing])

        def made() -> list[Any] | None:  # a lost answer: what FSM has now, looked for before a resend
            now = {c.get("iso_code") for c in ctx.fsm.currencies()}
            return [RecordResult(i, True, code="SUCCESS") for i, _ in enumerate(missing)] if all(
                c.get("currency_code") in now for c in missing) else None

        results, _ = create_once(ctx, send, made)
        for cur, result in zip(missing, results, strict=False):
            if result.ok:
                ctx.ok("Currencies")
            else:
                ctx.failed("Currencies", cur.get("currency_id", ""), f"fsm: {result.message} ({result.code})",
                           cur.get("currency_code", ""))

    # -- taxes (OB-03) -----------------------------------------------------------------------------------
    def sync_taxes(self, ctx: RunContext) -> None:
        """A new Invoice org gets the taxes configured in FSM, those added after enable included."""
        from .onboarding import push_fsm_taxes

        fsm_taxes = ctx.fsm.internal_settings().get("taxes") or []
        if not fsm_taxes:
            return
        pushed = push_fsm_taxes(ctx.books, fsm_taxes, ctx.books.list_taxes(),
                                on_error=lambda tax, exc: ctx.failed("Taxes", str(tax.get("tax_id") or ""),
                                                                     ctx.reason_of(exc), str(tax.get("tax_name"))))
        for _tax in pushed:
            ctx.ok("Taxes")

    # -- run-level failures ---------------------------------------------------------------------------------
    def _fail(self, ctx: RunContext, exc: RunFailed) -> SyncRun:
        integ = ctx.integration
        if exc.mail and self.mailer is not None:
            to = integ.settings.get("notify_email") or DEFAULT_NOTIFY
            self.mailer.send(to, "Zoho FSM - Zoho Invoice/Books sync failed", exc.reason, integration_id=integ.id)
        run = self.repo.finish_run(ctx.run_id, status="failed", failure_reason=exc.reason,
                                   stats={m: tuple(v) for m, v in ctx.stats.items()})
        if exc.disable:  # periodic sync stops and only support can enable it again (TW-15, TW-16, TW-17)
            self.repo.disable_integration(integ.id, exc.reason, by_error=True)
        return run
