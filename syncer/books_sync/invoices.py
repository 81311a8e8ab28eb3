"""Work Orders (FSM) -> Invoices (Books/Invoice) (TW-23, TW-22, OB-04).

    writer = InvoiceWriter((fsm, books), repo, integration_id)   # or InvoiceWriter(run_context)
    invoice = writer.invoice_for_work_order(wo_id)             # the Books invoice (a dict)

One invoice per work order, only ever pushed (nothing is read back into FSM but the invoice's
own id, in one-way and two-way mode alike):

- **customer**: the Books partner of the work order's Company or Contact, by sync type (I and
  III: the Company; II: the Contact; IV: the Company, else the Contact) — the customers sync's
  link, else the FSM record's ``ZBilling_Id`` when that Books contact exists. A customer not
  synced yet fails with ``InvoiceError`` naming it (this module does not sync customers);
- **line items** from ``Service_Line_Items``: each service/part without a Books partner is pushed
  first through ``ItemsPhase.push_for_invoice`` (the items sync's own adopt-or-create with its
  intent and link, TW-22); a line whose service has no partner left (inactive in FSM, or its
  item deleted in Books, TW-14) goes as a name + rate line;
- rate, quantity and per-line discount as on the work order, the work order's Discount and
  Adjustment too, so the invoice total equals ``Grand_Total`` (FSM leaves taxes out);
- ``reference_number`` = the work order's Name (``WO-1``) unless a user mapping sets it; the
  Work Order -> Invoice user mappings (TW-03) are validated, then applied: ``cf_…`` targets as
  ``custom_fields`` by api_name, standard fields (reference_number, notes, terms) as text;
- written back to FSM: ``Invoice_Id`` and ``Billing_Status = "Invoiced"`` (no workflows, TW-12),
  and a RecordLink ``Work_Orders`` -> ``invoices`` (TW-24).

Idempotent: a linked work order gets its invoice back (and a missing write-back is redone); an
unlinked one whose ``Invoice_Id`` names an existing invoice adopts it; a create is preceded by a
write-ahead intent, and an intent a crash left open is resolved by finding the invoice it made
(same customer and reference number, created after the intent) before anything is created again.
Calls for the same work order in one process are serialised; across processes the intent and
link make a repeat safe once the first call has finished.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from ..clients import BooksClient, FsmClient, ZohoApiError
from ..clients.base import fmt_books_datetime
from ..store.models import Integration, PendingWrite
from ..store.repo import Repo
from ..sync_core.context import parse_time
from ..sync_core.outcomes import create_once
from . import mapping
from .common import RunContext
from .items import FSM_MODULE as ITEMS_MODULE
from .items import ItemsPhase

FSM_MODULE = "Work_Orders"
BOOKS_ENTITY = "invoices"
CUSTOMER_ENTITY = "contacts"  # mapping.MODULES["customers"]
STAT = "Invoices"
NOT_FOUND_CODES = {1002, 2006}
INVOICED = "Invoiced"

_locks_guard = threading.Lock()
_locks: dict[tuple[str, str], threading.Lock] = {}


class InvoiceError(Exception):
    """The invoice cannot be generated; ``reason`` says why, for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _lock_for(integration_id: str, wo_id: str) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault((integration_id, wo_id), threading.Lock())


def _lookup_id(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if value not in (None, "") else None


def _lookup_name(value: Any) -> str:
    return str(value.get("name") or value.get("id") or "") if isinstance(value, dict) else str(value or "")


def _missing(exc: ZohoApiError) -> bool:
    return exc.status == 404 or exc.code in NOT_FOUND_CODES


def _plain(value: Any) -> Any:
    """A work order value as Books takes it: a lookup by its name, a list or object as text."""
    if isinstance(value, dict):
        return value.get("name") or value.get("id") or ""
    if isinstance(value, list):
        return ", ".join(str(_plain(v)) for v in value)
    return value


class InvoiceWriter:
    """Generates Books/Invoice invoices from FSM work orders for one integration."""

    def __init__(self, ctx_or_clients: RunContext | tuple[FsmClient, BooksClient], repo: Repo | None = None,
                 integration: Integration | str | None = None) -> None:
        if isinstance(ctx_or_clients, RunContext):
            self.ctx = ctx_or_clients
        else:
            if repo is None or integration is None:
                raise TypeError("InvoiceWriter((fsm, books), repo, integration) needs the repo and the integration")
            fsm, books = ctx_or_clients
            integ = repo.get_integration(integration) if isinstance(integration, str) else integration
            # no run: links and intents carry no run id; ``since`` as the items sync would use it
            self.ctx = RunContext(repo, integ, None, fsm, books, integ.last_success_started_at)  # type: ignore[arg-type]
        self.repo = self.ctx.repo
        self.integ = self.ctx.integration
        self.fsm = self.ctx.fsm
        self.books = self.ctx.books
        self.product = "Invoice" if self.integ.partner_product == "invoice" else "Books"

    # -- the one public action ---------------------------------------------------------------------------
    def invoice_for_work_order(self, wo_id: str) -> dict[str, Any]:
        """The Books invoice of work order ``wo_id``: the existing one, else a new one (TW-23)."""
        wo_id = str(wo_id)
        with _lock_for(self.integ.id, wo_id):
            wo = self.fsm.get_record(FSM_MODULE, wo_id)
            if wo is None:
                raise InvoiceError(f"Work order {wo_id} does not exist in Zoho FSM")
            existing = self._existing(wo)
            if existing is not None:
                return existing
            return self._create(wo)

    # -- finding what is there already ------------------------------------------------------------------
    def _existing(self, wo: dict[str, Any]) -> dict[str, Any] | None:
        link = self.repo.link_by_fsm(self.integ.id, FSM_MODULE, wo["id"])
        if link is not None and link.active:
            invoice = self._get_invoice(link.partner_id)
            if invoice is not None:
                self._write_back(wo, invoice)
                return invoice
            # the invoice was deleted in Books: generating it again is what the user asks for now
            self.repo.deactivate_link(link.id, "deleted in Books")
        written = wo.get("Invoice_Id")
        if written and (link is None or link.partner_id != str(written)):
            invoice = self._get_invoice(str(written))
            if invoice is not None and self.repo.link_by_partner(self.integ.id, BOOKS_ENTITY,
                                                               invoice["invoice_id"]) is None:
                self._link(wo, invoice, pending_id=None, result="linked")
                return invoice
        for pending in self.repo.open_pending(self.integ.id):
            if pending.side == "partner" and pending.module == BOOKS_ENTITY and pending.source_id == wo["id"]:
                invoice = self._recover(pending)
                if invoice is not None:
                    self._link(wo, invoice, pending_id=pending.id, result="created")
                    self._write_back(wo, invoice)
                    return invoice
                self.repo.resolve_pending(pending.id, outcome="abandoned")
        return None

    def _get_invoice(self, invoice_id: str) -> dict[str, Any] | None:
        try:
            return self.books.get_invoice(invoice_id)
        except ZohoApiError as exc:
            if _missing(exc):
                return None
            raise

    def _recover(self, pending: PendingWrite) -> dict[str, Any] | None:
        """The invoice a crashed call created after its intent, if it did (same customer and
        reference number, created at or after the intent, not linked to anything)."""
        customer_id = pending.payload.get("customer_id")
        reference = pending.payload.get("reference_number")
        if not customer_id or pending.started_at is None:
            return None
        started = pending.started_at.replace(microsecond=0)
        for inv in self.books.list_invoices(customer_id=customer_id,
                                            last_modified_time=fmt_books_datetime(started - timedelta(seconds=1))):
            created = parse_time(inv.get("created_time"))
            if (inv.get("reference_number") == reference and created is not None
                    and created.timestamp() >= int(started.timestamp())
                    and self.repo.link_by_partner(self.integ.id, BOOKS_ENTITY, inv["invoice_id"]) is None):
                return self.books.get_invoice(inv["invoice_id"])
        return None

    # -- making a new one ---------------------------------------------------------------------------------
    def _create(self, wo: dict[str, Any]) -> dict[str, Any]:
        body = self.invoice_body(wo)
        pending = self.repo.record_pending(self.integ.id, side="partner", module=BOOKS_ENTITY, source_id=wo["id"],
                                           source_module=FSM_MODULE, run_id=self.ctx.run_id,
                                           payload={"customer_id": body["customer_id"],
                                                    "reference_number": body.get("reference_number", "")})
        try:  # an answer lost to a time-out is looked for before the invoice is sent again (outcomes.py)
            invoice, _found = create_once(self.ctx, lambda: self.books.create_invoice(body),
                                         lambda: self._recover(pending))
        except ZohoApiError as exc:
            if exc.is_record_level:  # refused: nothing was made
                self.repo.resolve_pending(pending.id, outcome=f"failed: {exc.code}")
                raise InvoiceError(f"Zoho {self.product} refused the invoice of work order {wo.get('Name')}: "
                                   f"{self.ctx.reason_of(exc)}") from exc
            raise  # the intent stays open: the next call finds the invoice it may have made
        self._link(wo, invoice, pending_id=pending.id, result="created")  # found or made: ours either way
        self._write_back(wo, invoice)
        self.ctx.ok(STAT)
        return invoice

    def invoice_body(self, wo: dict[str, Any]) -> dict[str, Any]:
        """The invoice to create for ``wo`` (pushes the services it needs to Books first)."""
        pairs = self._pairs()
        body: dict[str, Any] = {"customer_id": self.customer_id(wo), "reference_number": str(wo.get("Name") or ""),
                                "line_items": self.line_items(wo)}
        for key in ("Discount", "Adjustment"):
            if wo.get(key):
                body[key.lower()] = wo[key]
        custom: list[dict[str, Any]] = []
        for books_field, value in mapping.to_books(pairs, wo).items():
            value = _plain(value)
            if books_field.startswith("cf_"):
                custom.append({"api_name": books_field, "value": value})
            else:
                body[books_field] = str(value)
        if custom:
            body["custom_fields"] = custom
        return body

    def _pairs(self) -> list[mapping.Pair]:
        """The Work Order -> Invoice mappings, validated against both sides (TW-03, TW-11)."""
        rows = self.repo.get_mappings(self.integ.id, "invoices")
        pairs = mapping.pairs_from_rows(rows) if rows else mapping.defaults("invoices")
        if not pairs:
            return pairs
        defs = ((self.books.internal_settings().get("custom_fields") or {}).get("invoice")) or []
        problems = mapping.validate("invoices", pairs, {FSM_MODULE: self.fsm.fields(FSM_MODULE)},
                                    custom_books_fields=[d.get("api_name") for d in defs if d.get("api_name")])
        if problems:
            raise InvoiceError("The Work Order to Invoice mapping is not valid: " + "; ".join(problems))
        return pairs

    def customer_id(self, wo: dict[str, Any]) -> str:
        """The Books customer of the work order, by the integration's sync type (TW-19)."""
        company, contact = wo.get("Company"), wo.get("Contact")
        sync_type = self.integ.sync_type
        if sync_type in ("I", "III") or (sync_type == "IV" and _lookup_id(company)):
            if not _lookup_id(company):
                raise InvoiceError(f"Work order {wo.get('Name')} has no Company: with sync type {sync_type} "
                                   f"customers in Zoho {self.product} are Companies")
            module, value, what = "Companies", company, "Company"
        else:
            module, value, what = "Contacts", contact, "Contact"
        fsm_id = _lookup_id(value)
        if fsm_id is None:
            raise InvoiceError(f"Work order {wo.get('Name')} has no {what}")
        link = self.repo.link_by_fsm(self.integ.id, module, fsm_id)
        if link is not None and link.active and link.partner_entity == CUSTOMER_ENTITY:
            return link.partner_id
        rec = self.fsm.get_record(module, fsm_id) or {}
        partner = rec.get("ZBilling_Id")
        if partner:
            try:
                return self.books.get_contact(str(partner))["contact_id"]
            except ZohoApiError as exc:
                if not _missing(exc):
                    raise
        raise InvoiceError(f"The {what} {_lookup_name(value)!r} of work order {wo.get('Name')} is not synced to "
                           f"Zoho {self.product} yet: sync customers first, then generate the invoice")

    def line_items(self, wo: dict[str, Any]) -> list[dict[str, Any]]:
        rows = wo.get("Service_Line_Items") or []
        if not rows:
            raise InvoiceError(f"Work order {wo.get('Name')} has no service line items to invoice")
        items = ItemsPhase(self.ctx)
        lines = []
        for row in rows:
            service_id = _lookup_id(row.get("Service"))
            service = self.fsm.get_record(ITEMS_MODULE, service_id) if service_id else None
            if service is None:
                raise InvoiceError(f"Work order {wo.get('Name')}: the service or part "
                                   f"{_lookup_name(row.get('Service'))!r} of a line item no longer exists in FSM")
            try:
                link = items.push_for_invoice(service)  # TW-22: pushed to Books first
            except ZohoApiError as exc:
                if not exc.is_record_level:
                    raise
                raise InvoiceError(f"The service or part {service.get('Name')!r} could not be pushed to Zoho "
                                   f"{self.product}: {self.ctx.reason_of(exc)}") from exc
            line: dict[str, Any] = {"rate": row.get("List_Price") if row.get("List_Price") is not None
                                    else service.get("Unit_Price") or 0,
                                    "quantity": row.get("Quantity") if row.get("Quantity") is not None else 1}
            if link is not None:
                line["item_id"] = link.partner_id
            else:  # no partner (inactive in FSM, or its item deleted in Books): a plain line
                line["name"] = service.get("Name") or _lookup_name(row.get("Service"))
            if row.get("Discount"):
                line["discount"] = row["Discount"]
            if row.get("Description"):
                line["description"] = str(row["Description"])
            lines.append(line)
        return lines

    # -- bookkeeping ----------------------------------------------------------------------------------------
    def _link(self, wo: dict[str, Any], invoice: dict[str, Any], *, pending_id: str | None, result: str) -> None:
        self.repo.upsert_link(self.integ.id, fsm_module=FSM_MODULE, fsm_id=wo["id"], partner_entity=BOOKS_ENTITY,
                              partner_id=invoice["invoice_id"], run_id=self.ctx.run_id, result=result,
                              partner_modified_time=parse_time(invoice.get("last_modified_time")),
                              fsm_modified_time=parse_time(wo.get("Modified_Time")))
        if pending_id:
            self.repo.resolve_pending(pending_id, created_id=invoice["invoice_id"], outcome=result)

    def _write_back(self, wo: dict[str, Any], invoice: dict[str, Any]) -> None:
        """The work order shows its invoice (TW-24): ``Invoice_Id`` and ``Billing_Status``."""
        if str(wo.get("Invoice_Id") or "") == invoice["invoice_id"] and wo.get("Billing_Status") in (INVOICED, "Paid"):
            return
        data: dict[str, Any] = {"Invoice_Id": invoice["invoice_id"]}
        if wo.get("Billing_Status") != "Paid":
            data["Billing_Status"] = INVOICED
        result = self.fsm.update_record(FSM_MODULE, wo["id"], data)
        if not result.ok:
            raise InvoiceError(f"The invoice {invoice.get('invoice_number')} was created but work order "
                               f"{wo.get('Name')} could not be updated: {result.message} ({result.code}); "
                               "generating the invoice again finishes it")
