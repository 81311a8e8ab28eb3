"""Notification mail (syncer/mail): real SMTP into the embedded aiosmtpd sink, and the MailMessage log."""

from __future__ import annotations

import smtplib
import socket
from datetime import UTC, datetime

import pytest

from syncer.mail import MailSender, MailSink, parse_smtp_url, smtp_url_from_env
from syncer.store import Repo

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def repo(sqlite_url):
    r = Repo(sqlite_url, clock=lambda: NOW)
    yield r
    r.db.dispose()


@pytest.fixture
def sink():
    with MailSink() as s:
        yield s


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_send_through_the_sink_over_smtp_and_read_back(repo, sink):
    assert sink.url.startswith("smtp://127.0.0.1:") and sink.port > 0
    sender = MailSender(repo, sink.url)
    subject = "Sync between Zoho FSM and Zoho Books is disabled"
    body = "The sync failed: sync type mismatch (TW-16).\nContact support to re-enable it — merci."
    stored = sender.send(["admin@example.com", "ops@example.com"], subject, body, integration_id="42")

    [got] = sink.messages()
    assert got.subject == subject and got.body == body
    assert got.rcpt_tos == ["admin@example.com", "ops@example.com"]
    assert got.to == "admin@example.com, ops@example.com"
    assert got.mail_from == "noreply@zohofsm.lab" and stored.id in got.headers["Message-ID"]
    assert got.to_json()["received_at"]
    assert sink.messages(to="OPS@example.com") == [got] and sink.messages(to="x@y.z") == []

    [row] = repo.list_mail()
    assert row.id == stored.id and row.to == "admin@example.com, ops@example.com"
    assert (row.subject, row.body, row.integration_id) == (subject, body, "42")
    assert row.sent_at == NOW and row.delivered_via == sink.url and row.error is None
    assert repo.list_mail(integration_id="42") == [row] and repo.list_mail(integration_id="7") == []
    assert repo.get_mail(stored.id).subject == subject


def test_sink_is_bounded_and_clearable(repo):
    with MailSink(max_messages=3) as sink:
        sender = MailSender(repo, sink.url)
        for n in range(5):
            sender.send("a@example.com", f"mail {n}", "body")
        assert [m.subject for m in sink.messages()] == ["mail 2", "mail 3", "mail 4"]
        assert sink.get(sink.messages()[0].id).subject == "mail 2"
        assert sink.clear() == 3 and len(sink) == 0
        assert len(repo.list_mail(limit=10)) == 5  # the log keeps everything the syncer sent


def test_sink_stops_cleanly_and_frees_its_port():
    sink = MailSink().start()
    port = sink.port
    assert sink.running
    sink.stop()
    assert not sink.running
    with pytest.raises(OSError):
        smtplib.SMTP("127.0.0.1", port, timeout=2)
    sink.stop()  # idempotent
    with pytest.raises(RuntimeError):
        _ = MailSink().url


def test_undeliverable_mail_is_still_stored_with_the_error(repo):
    url = f"smtp://127.0.0.1:{_free_port()}"  # nobody listens there
    msg = MailSender(repo, url, timeout=2).send("a@example.com", "subject", "body")
    assert msg.error and msg.delivered_via == url
    assert repo.get_mail(msg.id).error == msg.error
    with pytest.raises(smtplib.SMTPException):
        MailSender(repo, url, timeout=2, raise_errors=True).send("a@example.com", "s", "b")
    assert len(repo.list_mail()) == 2


def test_no_smtp_url_stores_only(repo, monkeypatch):
    monkeypatch.delenv("ZLAB_SMTP_URL", raising=False)
    assert smtp_url_from_env() is None
    msg = MailSender(repo).send("a@example.com", "s", "b")
    assert msg.delivered_via == "" and msg.error is None
    with pytest.raises(ValueError):
        MailSender(repo).send([], "s", "b")


def test_smtp_url_from_env_and_parsing(repo, monkeypatch, sink):
    monkeypatch.setenv("ZLAB_SMTP_URL", sink.url)
    sender = MailSender(repo)
    assert sender.smtp_url == sink.url
    sender.send("b@example.com", "via env", "x")
    assert [m.subject for m in sink.messages()] == ["via env"]
    assert parse_smtp_url("smtp://mailpit:1025") == ("smtp", "mailpit", 1025, None, None)
    assert parse_smtp_url("smtps://u%40x:p%2Fw@mail.example.com") == ("smtps", "mail.example.com", 465, "u@x", "p/w")
    assert parse_smtp_url("smtp://localhost")[2] == 25
    for bad in ("http://x:25", "smtp://", "mailpit:1025"):
        with pytest.raises(ValueError):
            parse_smtp_url(bad)
    with pytest.raises(ValueError):
        MailSender(repo, "nonsense://")
    assert MailSender(repo, "smtp://u:secret@h:1")._public_url() == "smtp://u@h:1"
