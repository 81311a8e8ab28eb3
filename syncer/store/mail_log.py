"""The log of every notification the syncer sent (or tried to)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlmodel import col, select

from syncer.store.base import StoreBase
from syncer.store.errors import NotFound
from syncer.store.models import MailMessage, new_id


class MailLog(StoreBase):
    """The mail log."""

    # -- mail log -------------------------------------------------------------------------------------
    def log_mail(self, *, to: str | Iterable[str], subject: str, body: str, integration_id: str | None = None,
                 sender: str = "", delivered_via: str = "", error: str | None = None,
                 id: str | None = None, sent_at: datetime | None = None) -> MailMessage:
        to_text = to if isinstance(to, str) else ", ".join(to)
        msg = MailMessage(id=id or new_id(), to=to_text, sender=sender, subject=subject, body=body,
                          sent_at=sent_at or self.now(), integration_id=integration_id,
                          delivered_via=delivered_via, error=error)
        with self.db.begin() as s:
            s.add(msg)
        return msg

    def list_mail(self, *, integration_id: str | None = None, limit: int = 100, offset: int = 0) -> list[MailMessage]:
        """Newest first."""
        stmt = select(MailMessage)
        if integration_id is not None:
            stmt = stmt.where(MailMessage.integration_id == integration_id)
        stmt = stmt.order_by(col(MailMessage.sent_at).desc(), col(MailMessage.id).desc()).offset(offset).limit(limit)
        with self.db.session() as s:
            return list(s.exec(stmt))

    def get_mail(self, mail_id: str) -> MailMessage:
        with self.db.session() as s:
            msg = s.get(MailMessage, mail_id)
            if msg is None:
                raise NotFound(f"Mail {mail_id} does not exist")
            return msg
