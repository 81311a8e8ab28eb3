"""Record links (an FSM record and its partner record, TW-24) and write-ahead intents."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from syncer.store.base import StoreBase
from syncer.store.db import to_utc
from syncer.store.errors import LinkConflict, NotFound
from syncer.store.models import (
    SIDES,
    PendingWrite,
    RecordLink,
    new_id,
)


@dataclass(frozen=True)
class LinkSpec:
    """One link to save: an FSM record, its partner record, and the modified times we synced."""

    fsm_module: str
    fsm_id: str
    partner_entity: str
    partner_id: str
    fsm_modified_time: datetime | None = None
    partner_modified_time: datetime | None = None
    result: str | None = None


class LinksStore(StoreBase):
    """Record links and the write-ahead intents of creates."""

    # -- record links ---------------------------------------------------------------------------
    @staticmethod
    def _by_fsm(s: Session, integration_id: str, fsm_module: str, fsm_id: str) -> RecordLink | None:
        return s.exec(select(RecordLink).where(
            RecordLink.integration_id == integration_id, RecordLink.fsm_module == fsm_module,
            RecordLink.fsm_id == str(fsm_id))).first()

    @staticmethod
    def _by_partner(s: Session, integration_id: str, partner_entity: str, partner_id: str) -> RecordLink | None:
        return s.exec(select(RecordLink).where(
            RecordLink.integration_id == integration_id, RecordLink.partner_entity == partner_entity,
            RecordLink.partner_id == str(partner_id))).first()

    def link_by_fsm(self, integration_id: str, fsm_module: str, fsm_id: str) -> RecordLink | None:
        """The link of an FSM record (active or not: an inactive link means "do not recreate")."""
        with self.db.session() as s:
            return self._by_fsm(s, integration_id, fsm_module, fsm_id)

    def link_by_partner(self, integration_id: str, partner_entity: str, partner_id: str) -> RecordLink | None:
        """The link of a partner record (Books/Invoice or CRM), active or not."""
        with self.db.session() as s:
            return self._by_partner(s, integration_id, partner_entity, partner_id)

    def get_link(self, link_id: str) -> RecordLink:
        with self.db.session() as s:
            link = s.get(RecordLink, link_id)
            if link is None:
                raise NotFound(f"Record link {link_id} does not exist")
            return link

    def links_by_fsm(self, integration_id: str, fsm_module: str, fsm_ids: Iterable[str]) -> dict[str, RecordLink]:
        """The links of many FSM records in one query (a batch of a streamed page): fsm id -> link."""
        with self.db.session() as s:
            return self._links_in(s, integration_id, "fsm", fsm_module, fsm_ids)

    def links_by_partner(self, integration_id: str, partner_entity: str,
                         partner_ids: Iterable[str]) -> dict[str, RecordLink]:
        """The links of many partner records in one query: partner id -> link."""
        with self.db.session() as s:
            return self._links_in(s, integration_id, "partner", partner_entity, partner_ids)

    @staticmethod
    def _links_in(s: Session, integration_id: str, side: str, kind: str, ids: Iterable[str]) -> dict[str, RecordLink]:
        """Links of ``side`` ("fsm": FSM module and id; "partner": partner entity and id) whose id is
        in ``ids``: id -> link, 500 ids a query (well under SQLite's bound-parameter limit)."""
        kind_col, id_col = ((RecordLink.fsm_module, RecordLink.fsm_id) if side == "fsm"
                            else (RecordLink.partner_entity, RecordLink.partner_id))
        wanted = sorted({str(i) for i in ids})
        out: dict[str, RecordLink] = {}
        for start in range(0, len(wanted), 500):
            for link in s.exec(select(RecordLink).where(RecordLink.integration_id == integration_id, kind_col == kind,
                                                        col(id_col).in_(wanted[start:start + 500]))):
                out[getattr(link, id_col.key)] = link
        return out

    def upsert_link(self, integration_id: str, *, fsm_module: str, fsm_id: str, partner_entity: str,
                    partner_id: str, fsm_modified_time: datetime | None = None,
                    partner_modified_time: datetime | None = None, result: str | None = None,
                    run_id: str | None = None) -> RecordLink:
        """Create or update the link of an FSM record and its partner record; marks it synced now
        and active. Raises ``LinkConflict`` when each side is already linked to a different record."""
        spec = LinkSpec(fsm_module, str(fsm_id), partner_entity, str(partner_id), fsm_modified_time,
                        partner_modified_time, result)
        [link] = self.save_links(integration_id, [spec], run_id=run_id)
        return link

    def save_links(self, integration_id: str, specs: Iterable[LinkSpec], *, run_id: str | None = None,
                   resolved: Iterable[tuple[str, str | None, str]] = ()) -> list[RecordLink]:
        """Upsert many links and resolve their write-ahead intents (``(pending id, created id,
        outcome)``) in one transaction: a batch of creates is recorded all at once, or not at all.
        Raises ``LinkConflict`` as ``upsert_link`` does (and then nothing of the batch is saved)."""
        specs = list(specs)
        now = self.now()
        out: list[RecordLink] = []
        try:
            with self.db.begin() as s:
                # the batch's existing links in two queries; later specs see earlier ones
                by_fsm, by_partner = self._existing_links(s, integration_id, specs)
                for spec in specs:
                    link = self._save_link(s, integration_id, spec, now, run_id, by_fsm, by_partner)
                    by_fsm[(link.fsm_module, link.fsm_id)] = by_partner[(link.partner_entity, link.partner_id)] = link
                    out.append(link)
                self._resolve_many(s, resolved, now)
                s.flush()
                s.expunge_all()
        except IntegrityError as exc:  # a concurrent writer linked one side meanwhile
            raise LinkConflict("an FSM or partner record of this batch is already linked") from exc
        return out

    @classmethod
    def _existing_links(cls, s: Session, integration_id: str, specs: list[LinkSpec]):
        """The links the batch names, by (FSM module, id) and by (partner entity, id)."""
        by_fsm: dict[tuple[str, str], RecordLink] = {}
        by_partner: dict[tuple[str, str], RecordLink] = {}
        for module in {sp.fsm_module for sp in specs}:
            ids = [sp.fsm_id for sp in specs if sp.fsm_module == module]
            by_fsm.update(((module, i), link) for i, link in cls._links_in(s, integration_id, "fsm", module, ids).items())
        for entity in {sp.partner_entity for sp in specs}:
            ids = [sp.partner_id for sp in specs if sp.partner_entity == entity]
            by_partner.update(((entity, i), link)
                              for i, link in cls._links_in(s, integration_id, "partner", entity, ids).items())
        return by_fsm, by_partner

    @staticmethod
    def _save_link(s: Session, integration_id: str, spec: LinkSpec, now: datetime, run_id: str | None,
                   by_fsm: dict[tuple[str, str], RecordLink],
                   by_partner: dict[tuple[str, str], RecordLink]) -> RecordLink:
        a = by_fsm.get((spec.fsm_module, spec.fsm_id))
        b = by_partner.get((spec.partner_entity, spec.partner_id))
        if a is not None and b is not None and a.id != b.id:
            raise LinkConflict(
                f"FSM {spec.fsm_module} {spec.fsm_id} is linked to {a.partner_entity} {a.partner_id} and "
                f"partner {spec.partner_entity} {spec.partner_id} to {b.fsm_module} {b.fsm_id}")
        link = a or b or RecordLink(id=new_id(), integration_id=integration_id, fsm_module=spec.fsm_module,
                                    fsm_id=spec.fsm_id, partner_entity=spec.partner_entity,
                                    partner_id=spec.partner_id, created_at=now)
        if link is a and (spec.partner_entity, spec.partner_id) != (a.partner_entity, a.partner_id):
            by_partner.pop((a.partner_entity, a.partner_id), None)  # re-pointed: its old partner is free
        if link is b and (spec.fsm_module, spec.fsm_id) != (b.fsm_module, b.fsm_id):
            by_fsm.pop((b.fsm_module, b.fsm_id), None)
        link.fsm_module, link.fsm_id = spec.fsm_module, spec.fsm_id
        link.partner_entity, link.partner_id = spec.partner_entity, spec.partner_id
        if spec.fsm_modified_time is not None:
            link.fsm_modified_time = to_utc(spec.fsm_modified_time)  # as a reload would give it
        if spec.partner_modified_time is not None:
            link.partner_modified_time = to_utc(spec.partner_modified_time)
        link.last_synced_at, link.last_result, link.last_run_id = now, spec.result, run_id or link.last_run_id
        link.active, link.inactive_reason = True, None
        s.add(link)
        return link

    def deactivate_link(self, link_id: str, reason: str) -> RecordLink:
        """Mark a link inactive (a side was deleted or deactivated). Nothing is deleted (TW-14);
        the row stays so the surviving record is not recreated on the other side."""
        with self.db.begin() as s:
            link = s.get(RecordLink, link_id)
            if link is None:
                raise NotFound(f"Record link {link_id} does not exist")
            link.active, link.inactive_reason = False, reason
            link.last_synced_at = self.now()
            s.add(link)
        return link

    def list_links(self, integration_id: str, *, active: bool | None = None, fsm_module: str | None = None,
                   partner_entity: str | None = None, limit: int = 1000, offset: int = 0) -> list[RecordLink]:
        stmt = select(RecordLink).where(RecordLink.integration_id == integration_id)
        if active is not None:
            stmt = stmt.where(RecordLink.active == active)
        if fsm_module is not None:
            stmt = stmt.where(RecordLink.fsm_module == fsm_module)
        if partner_entity is not None:
            stmt = stmt.where(RecordLink.partner_entity == partner_entity)
        with self.db.session() as s:
            return list(s.exec(stmt.order_by(RecordLink.created_at, RecordLink.id).offset(offset).limit(limit)))

    # -- pending writes (write-ahead intents) -------------------------------------------------------
    def record_pending(self, integration_id: str, *, side: str, module: str, source_id: str,
                       source_module: str = "", run_id: str | None = None,
                       payload: Mapping[str, Any] | None = None) -> PendingWrite:
        """Record the intent to create a record on ``side`` before creating it. Idempotent: an open
        intent for the same (side, module, source_id) is returned as it is."""
        [pw] = self.record_pendings(integration_id, side=side, module=module, source_module=source_module,
                                    run_id=run_id, intents=[(source_id, payload)])
        return pw

    def record_pendings(self, integration_id: str, *, side: str, module: str, source_module: str = "",
                        run_id: str | None = None,
                        intents: Iterable[tuple[str, Mapping[str, Any] | None]]) -> list[PendingWrite]:
        """The intents of a batch of creates (``(source id, payload)`` each) in one transaction,
        in the order given; each idempotent like ``record_pending``."""
        self._check_choice("side", side, SIDES)
        intents = [(str(source_id), payload) for source_id, payload in intents]
        now = self.now()
        out: list[PendingWrite] = []
        with self.db.begin() as s:
            self._integration(s, integration_id, lock=True)  # serialises intents per integration
            open_ = {pw.source_id: pw for pw in s.exec(select(PendingWrite).where(
                PendingWrite.integration_id == integration_id, PendingWrite.side == side,
                PendingWrite.module == module, PendingWrite.done == False,  # noqa: E712
                col(PendingWrite.source_id).in_([i for i, _ in intents] or [""])))}
            for source_id, payload in intents:
                pw = open_.get(source_id)
                if pw is None:
                    pw = PendingWrite(id=new_id(), integration_id=integration_id, side=side, module=module,
                                      source_module=source_module, source_id=source_id, run_id=run_id,
                                      payload=dict(payload or {}), started_at=now)
                    s.add(pw)
                    open_[source_id] = pw
                out.append(pw)
            s.flush()
            s.expunge_all()
        return out

    def resolve_pending(self, pending_id: str, *, created_id: str | None = None,
                        outcome: str = "created") -> PendingWrite:
        with self.db.begin() as s:
            [pw] = self._resolve_many(s, [(pending_id, created_id, outcome)], self.now())
            s.flush()
            s.expunge(pw)
        return pw

    def resolve_pendings(self, resolved: Iterable[tuple[str, str | None, str]]) -> None:
        """Resolve many intents (``(pending id, created id, outcome)``) in one transaction."""
        resolved = list(resolved)
        if not resolved:
            return
        with self.db.begin() as s:
            self._resolve_many(s, resolved, self.now())

    @staticmethod
    def _resolve_many(s: Session, resolved: Iterable[tuple[str, str | None, str]],
                      now: datetime) -> list[PendingWrite]:
        resolved = list(resolved)
        done: list[PendingWrite] = []
        ids = [pending_id for pending_id, _, _ in resolved]
        loaded: dict[str, PendingWrite] = {}
        for start in range(0, len(ids), 500):  # the batch's intents in one query
            loaded.update((pw.id, pw) for pw in s.exec(select(PendingWrite).where(
                col(PendingWrite.id).in_(ids[start:start + 500]))))
        for pending_id, created_id, outcome in resolved:
            pw = loaded.get(pending_id)
            if pw is None:
                raise NotFound(f"Pending write {pending_id} does not exist")
            pw.done, pw.done_at, pw.outcome = True, now, outcome
            if created_id is not None:
                pw.created_id = str(created_id)
            done.append(pw)
        return done

    def open_pending(self, integration_id: str) -> list[PendingWrite]:
        """Intents never resolved: after a crash, the engine checks each against the target side
        (by the partner id the record holds) before any new create."""
        with self.db.session() as s:
            return list(s.exec(select(PendingWrite).where(
                PendingWrite.integration_id == integration_id, PendingWrite.done == False,  # noqa: E712
            ).order_by(PendingWrite.started_at, PendingWrite.id)))
