"""Notification mail: ``MailSender`` (SMTP + the MailMessage log) and ``MailSink`` (the embedded
in-process SMTP server, the default ``ZLAB_SMTP_URL`` under ``zlab up``)."""

from syncer.mail.sender import DEFAULT_SENDER, MailSender, parse_smtp_url, smtp_url_from_env
from syncer.mail.sink import MailSink, SinkMessage

__all__ = ["DEFAULT_SENDER", "MailSender", "MailSink", "SinkMessage", "parse_smtp_url", "smtp_url_from_env"]
