"""Prepared reads (fakes.core.fastread) answer what the ORM answers, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import bindparam, func
from sqlmodel import select

from fakes.books_api.store import BooksContactPerson, BooksInvoice
from fakes.core import fastread
from fakes.core.db import Database
from fakes.core.timefmt import as_utc

PERSONS = fastread.by_key(BooksContactPerson, "contact_id",
                          order_by=(BooksContactPerson.position, BooksContactPerson.id))
INVOICE = fastread.by_key(BooksInvoice, "id")
DUE = fastread.Prepared(lambda: select(func.count(), func.coalesce(func.sum(BooksInvoice.balance), 0.0)).where(
    BooksInvoice.customer_id == bindparam("cid", required=False),
    BooksInvoice.status.not_in(("draft", "void"))), names=("count", "total"))


def _check(url: str) -> None:
    db = Database(url)
    db.create_all()
    when = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    with db.begin() as s:
        for i, pid in enumerate(("p2", "p1")):
            s.add(BooksContactPerson(id=pid, org_id="o", contact_id="c", position=1 - i, is_primary=pid == "p1",
                                     doc={"first_name": pid, "nested": {"a": [1, 2]}}, created_time=when))
        for iid, status, bal in (("i1", "sent", 10.5), ("i2", "draft", 99.0), ("i3", "overdue", 4.5)):
            s.add(BooksInvoice(id=iid, org_id="o", customer_id="c", status=status, balance=bal, total=bal,
                               invoice_number=iid, doc={"line_items": [{"rate": bal}]}, created_time=when))
    with db.begin() as s:
        rows = PERSONS.rows(s, contact_id="c")
        orm = s.exec(select(BooksContactPerson).where(BooksContactPerson.contact_id == "c")
                     .order_by(BooksContactPerson.position, BooksContactPerson.id)).all()
        assert [r.id for r in rows] == [o.id for o in orm] == ["p1", "p2"]
        assert [(r.is_primary, r.doc) for r in rows] == [(o.is_primary, o.doc) for o in orm]
        assert rows[0].is_primary is True and rows[0].doc["nested"] == {"a": [1, 2]}  # types as the ORM's
        inv = INVOICE.first(s, id="i1")
        assert as_utc(inv.created_time) == when and inv.doc == {"line_items": [{"rate": 10.5}]}
        assert INVOICE.first(s, id="nope") is None
        count, total = DUE.first(s, cid="c")  # constants of the statement (the IN list) kept
        assert (count, float(total)) == (2, 15.0)
        # a pending ORM write of this transaction is seen, as the ORM's autoflush would show it
        s.add(BooksContactPerson(id="p3", org_id="o", contact_id="c", position=5, doc={}))
        assert [r.id for r in PERSONS.rows(s, contact_id="c")] == ["p1", "p2", "p3"]
    db.dispose()


def test_prepared_reads_match_the_orm_on_sqlite(tmp_path):
    _check(f"sqlite:///{tmp_path / 'f.db'}")


@pytest.mark.postgres
def test_prepared_reads_match_the_orm_on_postgres(pg_url):
    _check(pg_url)


def _lazy(url: str, own_reader: bool = True) -> None:
    db = Database(url)
    db.create_all()
    when = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    with db.begin() as s:
        s.add(BooksInvoice(id="i1", org_id="o", customer_id="c", status="sent", balance=1.0, total=1.0,
                           invoice_number="i1", doc={}, created_time=when))
    with db.begin() as s:  # prepared reads alone: no ORM session is made
        assert INVOICE.first(s, id="i1").status == "sent"
        assert (s.real is None) is own_reader
    with db.begin() as s:  # a write through another session is seen by the next read at once
        assert INVOICE.first(s, id="i1").balance == 1.0
        with db.begin() as other:
            other.get(BooksInvoice, "i1").balance = 2.0
        assert INVOICE.first(s, id="i1").balance == 2.0
    with db.begin() as s:  # after an ORM write, reads go through the ORM's transaction and see it
        assert INVOICE.first(s, id="i1") is not None
        s.get(BooksInvoice, "i1").status = "void"
        assert s.real is not None and INVOICE.first(s, id="i1").status == "void"
    with db.begin() as s:
        assert INVOICE.first(s, id="i1").status == "void"  # committed
    try:
        with db.begin() as s:  # a failed view rolls its writes back
            s.get(BooksInvoice, "i1").status = "sent"
            assert INVOICE.first(s, id="i1").status == "sent"
            raise RuntimeError("view failed")
    except RuntimeError:
        pass
    with db.begin() as s:
        assert INVOICE.first(s, id="i1").status == "void"
    db.dispose()


def test_lazy_sessions_read_without_the_orm_and_see_writes_on_sqlite(tmp_path):
    _lazy(f"sqlite:///{tmp_path / 'f.db'}")


@pytest.mark.postgres
def test_lazy_sessions_read_without_the_orm_and_see_writes_on_postgres(pg_url):
    _lazy(pg_url)


def test_in_memory_sqlite_reads_through_the_orm():
    """One shared in-memory connection (StaticPool): no reader of its own, the ORM's is used."""
    _lazy("sqlite://", own_reader=False)
