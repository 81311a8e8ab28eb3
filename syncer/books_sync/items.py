"""Services and Parts (FSM) <-> Items (Books/Invoice), both ways (TW-06, TW-22).

Per record: changed since the previous run's start on either side (TW-07); a linked pair
changed on both sides goes to the latest modified (TW-02); inactive FSM records are ignored and
a Books deactivation deactivates the FSM partner (TW-14); a partner deleted on either side drops
the link and is never recreated (TW-14). Creates are preceded by a write-ahead intent and carry
the partner id where the API holds one (FSM ``ZBilling_Id`` at creation; the Books item's name is
unique in its org), so a crash never leads to a blind second create.
"""

from __future__ import annotations

from typing import Any

from ..clients import ZohoApiError
from ..store.models import RecordLink
from ..sync_core.context import chunked, parse_time, read_or_none, same_instant, with_retries
from ..sync_core.outcomes import create_once, requeue
from ..sync_core.writers import FsmCreate, FsmCreates, FsmUpdate, FsmUpdates, PartnerIdWrites
from . import mapping
from .common import PARTNER_ID_FIELD, RunContext

FSM_MODULE = "Service_And_Parts"
BOOKS_ENTITY = "items"
STAT = "Service_And_Parts"  # module name of the run's stats and <Module>FailureLogs.csv
NOT_FOUND_CODES = {2006, 1002}


def to_books(rec: dict[str, Any], pairs: list[mapping.Pair]) -> dict[str, Any]:
    """A service or part as an item: the core pairs, the type, then the user mappings."""
    return {"name": rec.get("Name") or "", "rate": rec.get("Unit_Price") or 0,
            "product_type": "service" if rec.get("Type") == "Service" else "goods",
            **mapping.to_books(pairs, rec)}


def to_fsm(item: dict[str, Any], pairs: list[mapping.Pair]) -> dict[str, Any]:
    """An item as a service or part: the core pairs, the type, then the user mappings."""
    return {"Name": item.get("name") or "", "Unit_Price": item.get("rate") or 0,
            "Type": "Service" if item.get("product_type") in ("service", "digital_service") else "Part",
            **mapping.to_fsm(pairs, item)}


def _missing(exc: ZohoApiError) -> bool:
    return exc.status == 404 or exc.code in NOT_FOUND_CODES


class ItemsPhase:
    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.repo = ctx.repo
        self.integ = ctx.integration
        self.first_sync = ctx.since is None
        self.resync = "items" in ctx.remapped  # TW-07: the items mappings changed since the last run
        self.done_books: set[str] = set()  # Books ids already handled from the FSM side
        rows = self.repo.get_mappings(self.integ.id, "items")
        self.pairs = mapping.pairs_from_rows(rows) if rows else mapping.defaults("items")
        self.creates = FsmCreates(ctx, FSM_MODULE, BOOKS_ENTITY, partner_id_field=PARTNER_ID_FIELD)
        self.partner_ids = PartnerIdWrites(ctx, partner_id_field=PARTNER_ID_FIELD)
        self.updates = FsmUpdates(ctx)  # Books -> FSM writes, 100 a call
        # after an FSM pass that listed every record: the ZBilling_Id of those that came to it
        # unlinked. Any other FSM record naming a Books item is linked to it already, so an item
        # not named here needs no search for its partner (and the set stays as small as the
        # unlinked records: memory does not grow with the org)
        self.fsm_partner_ids: set[str] | None = None
        # the Books items of the FSM page at hand that _from_fsm compares, read in one call; an id
        # asked for and not answered has no item (deleted in Books)
        self.page_items: dict[str, dict[str, Any]] = {}
        self.page_asked: set[str] = set()

    # -- the phase --------------------------------------------------------------------------------
    def run(self) -> None:
        full = self.ctx.since is None
        fsm_records = (self.ctx.fsm.modified_since(FSM_MODULE, self.ctx.since) if self.ctx.since
                       else self.ctx.fsm.list_records(FSM_MODULE))
        retry = self.ctx.retry.setdefault(STAT, set())
        fsm_records = with_retries(fsm_records, retry, lambda rid: self.ctx.fsm.get_record(FSM_MODULE, rid))
        seen: set[str] = set()
        for page in chunked(fsm_records, 200):
            links = self.repo.links_by_fsm(self.integ.id, FSM_MODULE, [r.get("id", "") for r in page])
            self._read_partners(page, links)
            for rec in page:
                link = links.get(rec.get("id", ""))
                if link is None and rec.get("ZBilling_Id"):
                    seen.add(str(rec["ZBilling_Id"]))
                self._guard(rec.get("id", ""), rec.get("Name", ""), self._from_fsm, rec, link)
        self.page_items, self.page_asked = {}, set()
        self.partner_ids.flush()
        self.updates.flush()
        self.fsm_partner_ids = seen if full else None
        if self.integ.mode == "one_way":  # OB-04: FSM pushes, nothing is read back
            return
        items = (self.ctx.books.list_items(last_modified_time=_books_time(self.ctx.since)) if self.ctx.since
                 else self.ctx.books.list_items())
        items = with_retries(items, retry, lambda rid: read_or_none(self.ctx.books.get_item, rid, NOT_FOUND_CODES),
                             key="item_id")
        for page in chunked(items, 200):
            links = self.repo.links_by_partner(self.integ.id, BOOKS_ENTITY, [i["item_id"] for i in page])
            for item in page:
                if item["item_id"] not in self.done_books:
                    self._guard(item["item_id"], item.get("name", ""), self._from_books, item,
                                links.get(item["item_id"]))
        self.updates.flush()
        self.creates.flush()

    def flush(self) -> None:
        """Send what is queued (creates and updates in FSM, partner ids)."""
        self.creates.flush()
        self.updates.flush()
        self.partner_ids.flush()

    def _guard(self, record_id: str, name: str, fn, record: dict[str, Any], link: RecordLink | None) -> None:
        """A record-level failure is logged with its reason and the run goes on."""
        try:
            fn(record, link)
        except ZohoApiError as exc:
            if not exc.is_record_level:
                raise
            self.ctx.failed(STAT, record_id, self.ctx.reason_of(exc), name)

    # -- FSM -> Books ---------------------------------------------------------------------------------
    def push_for_invoice(self, rec: dict[str, Any]) -> RecordLink | None:
        """TW-22: a service or part used on a work order is pushed to Books/Invoice when its invoice
        is generated. An unlinked record goes through the same path as a sync (adopt by
        ``ZBilling_Id``/name, else create with an intent and link); a linked one is left as it is.
        Returns the active link, or None (an inactive FSM record, or a partner deleted: TW-14).
        Record-level failures raise ZohoApiError."""
        link = self.repo.link_by_fsm(self.integ.id, FSM_MODULE, rec["id"])
        if link is None:
            self._from_fsm(rec, None)
            self.partner_ids.flush()
            self.updates.flush()
            link = self.repo.link_by_fsm(self.integ.id, FSM_MODULE, rec["id"])
        return link if link is not None and link.active else None

    def _from_fsm(self, rec: dict[str, Any], link: RecordLink | None) -> None:
        if rec.get("$inactive"):
            return  # inactive FSM records are ignored (TW-14)
        if link is not None and not link.active:
            return  # its partner was deleted: never recreated (TW-14)
        if link is None:
            link = self._adopt_for_fsm(rec)
            if link is None:
                self._create_in_books(rec)
                return
        user_time = parse_time(rec.get("Modified_Time"))  # the record's own change, before our write below
        if str(rec.get("ZBilling_Id") or "") != link.partner_id:
            rec = self._write_partner_id(link, rec)  # an adopted pair, or a crash between the link and this write
        fsm_time = parse_time(rec.get("Modified_Time"))
        fsm_changed = not same_instant(fsm_time, link.fsm_modified_time)
        if not fsm_changed and not self.resync:
            return  # unchanged since we synced it (our own write)
        item = self._partner_item(link.partner_id)
        if item is None:
            self.repo.deactivate_link(link.id, "deleted in Books")
            return
        self.done_books.add(item["item_id"])
        books_time = parse_time(item.get("last_modified_time"))
        books_changed = not same_instant(books_time, link.partner_modified_time)
        one_way = self.integ.mode == "one_way"  # OB-04: FSM pushes, nothing is read back
        if not fsm_changed and (one_way or not books_changed):
            self._remapped(link, rec, item, one_way)  # TW-07: only the mappings changed
            return
        # the latest modified wins, compared with the user's change: our partner-id write is not one
        if not one_way and books_changed and books_time and user_time and books_time > user_time:
            self._books_to_fsm(link, item, rec["id"])  # both changed: the latest modified wins
        else:
            self._fsm_to_books(link, rec)

    def _read_partners(self, page: list[dict[str, Any]], links: dict[str, RecordLink]) -> None:
        """The Books items this FSM page's changed, linked records are compared with, in one call
        (Bulk fetch item details) rather than a GET each. Should Books refuse the list, they are
        read one by one."""
        wanted = [link.partner_id for rec in page
                  if (link := links.get(rec.get("id", ""))) is not None and link.active and not rec.get("$inactive")
                  and (self.resync or not same_instant(parse_time(rec.get("Modified_Time")), link.fsm_modified_time))]
        self.page_items, self.page_asked = {}, set()
        if not wanted:
            return
        try:
            self.page_items = self.ctx.books.items_by_ids(wanted)
        except ZohoApiError as exc:
            if exc.status in (400, 404) or _missing(exc):
                return
            raise
        self.page_asked = set(wanted)

    def _partner_item(self, item_id: str) -> dict[str, Any] | None:
        """The Books item, from the page's read when it was asked there; None when it is gone."""
        if item_id in self.page_asked:
            return self.page_items.get(item_id)
        try:
            return self.ctx.books.get_item(item_id)
        except ZohoApiError as exc:
            if _missing(exc):
                return None
            raise

    def _adopt_for_fsm(self, rec: dict[str, Any]) -> RecordLink | None:
        """An unlinked FSM record whose partner exists already: by ZBilling_Id, or (Overwrite,
        first sync) an item of the same name (TW-02)."""
        partner_id = rec.get("ZBilling_Id")
        item = None
        if partner_id:
            try:
                item = self.ctx.books.get_item(str(partner_id))
            except ZohoApiError as exc:
                if not _missing(exc):
                    raise
                return None
        elif self.integ.duplicate_policy == "overwrite" and self.first_sync:
            item = self._item_named(rec.get("Name") or "")
        if item is None:
            return None
        if self.repo.link_by_partner(self.integ.id, BOOKS_ENTITY, item["item_id"]) is not None:
            return None
        return self.repo.upsert_link(self.integ.id, fsm_module=FSM_MODULE, fsm_id=rec["id"], partner_entity=BOOKS_ENTITY,
                                     partner_id=item["item_id"], run_id=self.ctx.run_id, result="linked")

    def _item_named(self, name: str) -> dict[str, Any] | None:
        if not name:
            return None
        for item in self.ctx.books.list_items(name=name):
            if item.get("name", "").lower() == name.lower():
                return item
        return None

    def _create_in_books(self, rec: dict[str, Any]) -> None:
        data = to_books(rec, self.pairs)
        pending = self.repo.record_pending(self.integ.id, side="partner", module=BOOKS_ENTITY, source_id=rec["id"],
                                           source_module=FSM_MODULE, run_id=self.ctx.run_id,
                                           payload={"name": data["name"]})
        try:
            item, found = create_once(self.ctx, lambda: self.ctx.books.create_item(data),
                                      lambda: self._created_item(pending))
        except ZohoApiError as exc:
            if exc.is_record_level:  # refused: nothing was made
                self.repo.resolve_pending(pending.id, outcome=f"failed: {exc.code}")
            raise  # else the intent stays open: the next run's recovery finds out
        self._link_created(rec["id"], item, pending.id, "found_existing" if found else "created")

    def _created_item(self, pending) -> dict[str, Any] | None:
        """The item a create of unknown outcome made: the intent's name (unique in a Books org),
        created at or after the intent (an older item of that name is not ours), not linked."""
        item = self._item_named(str(pending.payload.get("name") or ""))
        created = parse_time(item.get("created_time")) if item else None
        if (item is not None and created is not None and pending.started_at is not None
                and created.timestamp() >= int(pending.started_at.timestamp())
                and self.repo.link_by_partner(self.integ.id, BOOKS_ENTITY, item["item_id"]) is None):
            return item
        return None

    def _link_created(self, fsm_id: str, item: dict[str, Any], pending_id: str | None,
                      outcome: str = "created") -> None:
        link = self.repo.upsert_link(self.integ.id, fsm_module=FSM_MODULE, fsm_id=fsm_id, partner_entity=BOOKS_ENTITY,
                                     partner_id=item["item_id"], run_id=self.ctx.run_id, result="created",
                                     partner_modified_time=parse_time(item.get("last_modified_time")))
        if pending_id:
            self.repo.resolve_pending(pending_id, created_id=item["item_id"], outcome=outcome)
        self.done_books.add(item["item_id"])
        self.partner_ids.add(link, STAT, item.get("name", ""))  # sent 100 a call
        self.ctx.ok(STAT)

    def _fsm_to_books(self, link: RecordLink, rec: dict[str, Any]) -> None:
        item = self.ctx.books.update_item(link.partner_id, to_books(rec, self.pairs))
        self._mark_synced(link, fsm_time=parse_time(rec.get("Modified_Time")),
                          books_time=parse_time(item.get("last_modified_time")))
        self.ctx.ok(STAT)

    def _remapped(self, link: RecordLink, rec: dict[str, Any], item: dict[str, Any], one_way: bool) -> None:
        """A pair neither side changed, after a mapping change (TW-07): the user-mapped values FSM
        has go to Books, then (two-way) what only Books holds goes to FSM; a side is written only
        when its values differ (the core pairs did not change, so they are left as they are)."""
        from .customers import differs

        wrote = False
        fsm_time, books_time = parse_time(rec.get("Modified_Time")), parse_time(item.get("last_modified_time"))
        want = mapping.to_books(self.pairs, rec)
        if differs(want, item):
            item = self.ctx.books.update_item(link.partner_id, want)
            books_time = parse_time(item.get("last_modified_time")) or books_time
            wrote = True
        back = {} if one_way else mapping.to_fsm(self.pairs, item)
        if differs(back, rec):
            result = self.ctx.fsm.update_record(FSM_MODULE, link.fsm_id, back)
            if not result.ok:
                raise result.error("fsm")
            fsm_time = parse_time((result.details or {}).get("Modified_Time")) or fsm_time
            wrote = True
        if wrote:
            self._mark_synced(link, fsm_time=fsm_time, books_time=books_time)
            self.ctx.ok(STAT)

    def _write_partner_id(self, link: RecordLink, rec: dict[str, Any]) -> dict[str, Any]:
        result = self.ctx.fsm.update_record(FSM_MODULE, link.fsm_id, {"ZBilling_Id": link.partner_id})
        if not result.ok:
            raise result.error("fsm")
        modified = (result.details or {}).get("Modified_Time")
        self._mark_synced(link, fsm_time=parse_time(modified))
        return {**rec, "ZBilling_Id": link.partner_id, "Modified_Time": modified or rec.get("Modified_Time")}

    # -- Books -> FSM ---------------------------------------------------------------------------------
    def _from_books(self, item: dict[str, Any], link: RecordLink | None) -> None:
        if link is not None and not link.active:
            return  # its partner was deleted: never recreated (TW-14)
        if link is None:
            if item.get("status") == "inactive":
                return
            link = self._adopt_for_books(item)
            if link is None:
                self._create_in_fsm(item)
                return
        inactive = item.get("status") == "inactive"
        if same_instant(parse_time(item.get("last_modified_time")), link.partner_modified_time) and not inactive:
            return  # unchanged since we synced it (a deactivation in that same second is still checked)
        rec = self.ctx.fsm.get_record(FSM_MODULE, link.fsm_id)
        if rec is None:
            self.repo.deactivate_link(link.id, "deleted in FSM")
            return
        if rec.get("$inactive"):
            return  # inactive FSM records are ignored (TW-14); an inactive partner is already so
        self._books_to_fsm(link, item)

    def _adopt_for_books(self, item: dict[str, Any]) -> RecordLink | None:
        found = None
        if self.fsm_partner_ids is None or item["item_id"] in self.fsm_partner_ids:
            found = next(iter(self.ctx.fsm.search(FSM_MODULE, "ZBilling_Id", item["item_id"])), None)
        if found is None and self.integ.duplicate_policy == "overwrite" and self.first_sync:
            found = next((r for r in self.ctx.fsm.search(FSM_MODULE, "Name", item.get("name", ""))
                          if (r.get("Name") or "").lower() == (item.get("name") or "").lower()), None)
        if found is None or self.repo.link_by_fsm(self.integ.id, FSM_MODULE, found["id"]) is not None:
            return None
        return self.repo.upsert_link(self.integ.id, fsm_module=FSM_MODULE, fsm_id=found["id"], partner_entity=BOOKS_ENTITY,
                                     partner_id=item["item_id"], run_id=self.ctx.run_id, result="linked")

    def _create_in_fsm(self, item: dict[str, Any]) -> None:
        self.creates.add(FsmCreate({**to_fsm(item, self.pairs), "ZBilling_Id": item["item_id"]}, item["item_id"],
                                   parse_time(item.get("last_modified_time")), STAT, item.get("name", "")))

    def _books_to_fsm(self, link: RecordLink, item: dict[str, Any], record_id: str | None = None) -> None:
        """Queued: sent 100 a call, its link marked synced when FSM takes it (writers.FsmUpdates)."""
        data = to_fsm(item, self.pairs)
        if item.get("status") == "inactive":
            data["$inactive"] = True  # a Books deactivation deactivates the FSM partner (TW-14)
        self.updates.add(FsmUpdate(link, data, parse_time(item.get("last_modified_time")), STAT,
                                   record_id or item["item_id"], item.get("name", "")))

    # -- bookkeeping --------------------------------------------------------------------------------
    def _mark_synced(self, link: RecordLink, *, fsm_time=None, books_time=None) -> None:
        self.repo.upsert_link(self.integ.id, fsm_module=link.fsm_module, fsm_id=link.fsm_id,
                              partner_entity=link.partner_entity, partner_id=link.partner_id, run_id=self.ctx.run_id,
                              fsm_modified_time=fsm_time or link.fsm_modified_time,
                              partner_modified_time=books_time or link.partner_modified_time, result="synced")

    # -- after a crash --------------------------------------------------------------------------------
    def recover(self, pending) -> None:
        """Finish a create a crashed run left: link the partner if it was made, else let it be redone."""
        if pending.side == "partner":
            item = self._created_item(pending)
            if item is not None:
                self._link_created(pending.source_id, item, pending.id, "found_existing")
                return
        else:
            rec = next(iter(self.ctx.fsm.search(FSM_MODULE, "ZBilling_Id", pending.source_id)), None)
            if rec is not None and self.repo.link_by_fsm(self.integ.id, FSM_MODULE, rec["id"]) is None:
                link = self.repo.upsert_link(self.integ.id, fsm_module=FSM_MODULE, fsm_id=rec["id"],
                                             partner_entity=BOOKS_ENTITY, partner_id=pending.source_id,
                                             run_id=self.ctx.run_id, result="created",
                                             fsm_modified_time=parse_time(rec.get("Modified_Time")))
                self.repo.resolve_pending(pending.id, created_id=rec["id"], outcome="found_existing")
                self._mark_synced(link)
                return
        self.repo.resolve_pending(pending.id, outcome="abandoned")
        requeue(self.ctx, STAT, pending.source_id)  # not made: its source is synced again in this run


def _books_time(dt) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S%z")
