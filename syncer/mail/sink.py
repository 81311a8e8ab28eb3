"""The embedded mail sink: an in-process aiosmtpd SMTP server that keeps what it receives.

It is the embedded default for ``ZLAB_SMTP_URL`` (``zlab up``): the syncer sends real SMTP to it,
and the messages are readable through ``MailSink.messages()`` (the syncer API can expose them).
Start/stop from ordinary (non-async) code: aiosmtpd runs its event loop in its own thread.
Messages are kept in memory, bounded (oldest dropped first).
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

DEFAULT_MAX_MESSAGES = 1000


@dataclass(frozen=True)
class SinkMessage:
    id: int
    mail_from: str
    rcpt_tos: list[str]
    to: str  # the To header
    subject: str
    body: str  # the text/plain body (or the first text part)
    received_at: datetime
    headers: dict[str, str] = field(default_factory=dict)
    raw: str = ""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["received_at"] = self.received_at.isoformat()
        return d


def _text_body(msg: EmailMessage) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        text = part.get_content()
    except (LookupError, KeyError):
        text = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
    return text.replace("\r\n", "\n").rstrip("\n")


class _Handler:
    def __init__(self, sink: MailSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd hook name
        self.sink._store(envelope.mail_from or "", list(envelope.rcpt_tos), envelope.original_content
                         or envelope.content)
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """aiosmtpd's Controller, able to bind port 0 (an OS-chosen free port) without a race."""

    def _trigger_server(self) -> None:
        if self.port == 0 and self.server is not None:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class MailSink:
    """``with MailSink() as sink: send to sink.url …; sink.messages()``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, max_messages: int = DEFAULT_MAX_MESSAGES,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.host, self._port = host, port
        self._clock = clock or (lambda: datetime.now(UTC))
        self._messages: deque[SinkMessage] = deque(maxlen=max_messages)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._controller: _Controller | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> MailSink:
        if self._controller is not None:
            return self
        ctl = _Controller(_Handler(self), hostname=self.host, port=self._port,
                          server_hostname="zlab-mail-sink", ready_timeout=10.0)
        ctl.start()
        self._controller = ctl
        self._port = ctl.port
        return self

    def stop(self) -> None:
        ctl, self._controller = self._controller, None
        if ctl is not None:
            ctl.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> MailSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        """What to give ``ZLAB_SMTP_URL`` / ``MailSender``: ``smtp://host:port``."""
        if not self._port:
            raise RuntimeError("the mail sink is not started")
        return f"smtp://{self.host}:{self._port}"

    # -- messages -----------------------------------------------------------------------------
    def _store(self, mail_from: str, rcpt_tos: list[str], content: bytes | str) -> None:
        data = content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content
        msg = message_from_bytes(data, policy=policy.default)
        item = SinkMessage(
            id=next(self._ids), mail_from=mail_from, rcpt_tos=rcpt_tos, to=str(msg.get("To", "")),
            subject=str(msg.get("Subject", "")), body=_text_body(msg), received_at=self._clock(),
            headers={k: str(v).strip() for k, v in msg.items()}, raw=data.decode("utf-8", "replace"))
        with self._lock:
            self._messages.append(item)

    def messages(self, *, to: str | None = None) -> list[SinkMessage]:
        """Received messages, oldest first; ``to`` filters on a recipient (case-insensitive)."""
        with self._lock:
            items = list(self._messages)
        if to is not None:
            want = to.lower()
            items = [m for m in items if want in (r.lower() for r in m.rcpt_tos)]
        return items

    def get(self, message_id: int) -> SinkMessage | None:
        return next((m for m in self.messages() if m.id == message_id), None)

    def clear(self) -> int:
        with self._lock:
            n = len(self._messages)
            self._messages.clear()
            return n

    def __len__(self) -> int:
        with self._lock:
            return len(self._messages)
