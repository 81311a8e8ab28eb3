"""Notification mail: SMTP to ``ZLAB_SMTP_URL`` (``smtp://host:port``, ``smtps://…``, optional
``user:password@``), and every message stored in the ``MailMessage`` table as well, so the syncer
API can list sent mail whatever SMTP server is behind (the embedded sink, Mailpit, a real one).

A delivery failure never raises into the sync (unless ``raise_errors``): the message is stored
with the error, and the caller goes on.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from collections.abc import Iterable
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from urllib.parse import unquote, urlsplit

from syncer.store.models import MailMessage, new_id
from syncer.store.repo import Repo

ENV_VAR = "ZLAB_SMTP_URL"
DEFAULT_SENDER = "Zoho FSM <noreply@zohofsm.lab>"


def smtp_url_from_env() -> str | None:
    return os.environ.get(ENV_VAR) or None


def parse_smtp_url(url: str) -> tuple[str, str, int, str | None, str | None]:
    """``smtp://[user:pass@]host[:port]`` -> (scheme, host, port, user, password)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(f"SMTP URL must look like smtp://host:port or smtps://host:port; got {url!r}")
    port = parts.port or (465 if scheme == "smtps" else 25)
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return scheme, parts.hostname, port, user, password


class MailSender:
    """``MailSender(repo, smtp_url).send(to, subject, body, integration_id=…) -> MailMessage``."""

    def __init__(self, repo: Repo, smtp_url: str | None = None, *, sender: str = DEFAULT_SENDER,
                 timeout: float = 10.0, raise_errors: bool = False) -> None:
        self.repo = repo
        self.smtp_url = smtp_url if smtp_url is not None else smtp_url_from_env()
        if self.smtp_url:
            parse_smtp_url(self.smtp_url)  # fail fast on a malformed URL
        self.sender = sender
        self.timeout = timeout
        self.raise_errors = raise_errors

    def build(self, message_id: str, to: list[str], subject: str, body: str) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = ", ".join(to)
        msg["Subject"] = subject
        msg["Date"] = format_datetime(self.repo.now())
        msg["Message-ID"] = make_msgid(idstring=message_id, domain="zlab.syncer")
        msg.set_content(body)
        return msg

    def send(self, to: str | Iterable[str], subject: str, body: str, *,
             integration_id: str | None = None) -> MailMessage:
        recipients = [a.strip() for a in (to.split(",") if isinstance(to, str) else to) if a.strip()]
        if not recipients:
            raise ValueError("a mail needs at least one recipient")
        message_id = new_id()
        error: str | None = None
        if self.smtp_url:
            try:
                self._deliver(recipients, self.build(message_id, recipients, subject, body))
            except (OSError, smtplib.SMTPException) as exc:
                error = f"{type(exc).__name__}: {exc}"
        stored = self.repo.log_mail(id=message_id, to=recipients, subject=subject, body=body,
                                    integration_id=integration_id, sender=self.sender,
                                    delivered_via=self._public_url(), error=error)
        if error and self.raise_errors:
            raise smtplib.SMTPException(f"mail {message_id} not delivered: {error}")
        return stored

    def _deliver(self, recipients: list[str], msg: EmailMessage) -> None:
        scheme, host, port, user, password = parse_smtp_url(self.smtp_url or "")
        if scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=self.timeout,
                                                    context=ssl.create_default_context())
        else:
            client = smtplib.SMTP(host, port, timeout=self.timeout)
        with client:
            if user:
                client.login(user, password or "")
            client.send_message(msg, to_addrs=recipients)

    def _public_url(self) -> str:
        """The SMTP URL without its password, for the record."""
        if not self.smtp_url:
            return ""
        scheme, host, port, user, _ = parse_smtp_url(self.smtp_url)
        return f"{scheme}://{user + '@' if user else ''}{host}:{port}"
