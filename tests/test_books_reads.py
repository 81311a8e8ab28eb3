"""Reads of the fake Books/Invoice never write: every GET leaves the Books tables as they were.

Two witnesses: no INSERT/UPDATE/DELETE on a ``books_*`` table reaches the database while the
GETs run, and the rows of every ``books_*`` table (count and content) are the same after.
An org without a base currency (a database from an older version) gets one from the start-up
migration, not from a read.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager

import pytest
from sqlalchemy import event, text
from sqlmodel import SQLModel, delete, select

from fakes.books_api.store import BooksCurrency, add_missing_base_currencies
from tests.test_books_api import Books

BOOKS_TABLES = sorted(t for t in SQLModel.metadata.tables if t.startswith("books_"))


def books_state(lab) -> dict[str, tuple[int, str]]:
    """Per Books table: row count and a checksum of the rows."""
    out = {}
    with lab.db.engine.connect() as conn:
        for table in BOOKS_TABLES:
            rows = conn.execute(text(f"SELECT * FROM {table} ORDER BY id")).all()
            out[table] = (len(rows), hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest())
    return out


@contextmanager
def books_writes(lab):
    """Collects the statements that write a Books table while the block runs."""
    seen: list[str] = []

    def watch(conn, cursor, statement, params, context, executemany):
        sql = statement.lstrip().upper()
        if sql.startswith(("INSERT", "UPDATE", "DELETE")) and "BOOKS_" in sql:
            seen.append(statement)

    event.listen(lab.db.engine, "before_cursor_execute", watch)
    try:
        yield seen
    finally:
        event.remove(lab.db.engine, "before_cursor_execute", watch)


@pytest.fixture
def lab(fakes_app):
    return fakes_app.extensions["zlab"]


@pytest.fixture
def filled(client, tenant) -> tuple[Books, dict[str, str]]:
    """A Books org with one of every entity the GETs below read."""
    books = Books(client, tenant)

    def made(r, key):
        assert r.status_code == 201, r.get_json()
        value = r.get_json()[key]
        return value[0] if isinstance(value, list) else value

    tax = made(books.post("/settings/taxes", {"tax_name": "VAT", "tax_percentage": 10}), "tax")["tax_id"]
    cur = made(books.post("/settings/currencies", {"currency_code": "EUR", "currency_symbol": "€"}),
               "currency")["currency_id"]
    contact = made(books.post("/contacts", {"contact_name": "Bowman", "contact_persons": [
        {"first_name": "Will", "email": "will@bowman.com"}]}), "contact")
    item = made(books.post("/items", {"name": "Pump", "rate": 12.5, "tax_id": tax}), "item")["item_id"]
    invoice = made(books.post("/invoices", {"customer_id": contact["contact_id"],
                                            "line_items": [{"item_id": item, "quantity": 2}]}), "invoice")
    assert books.post(f"/invoices/{invoice['invoice_id']}/status/sent").status_code == 200
    me = books.get("/users/me").get_json()["user"]["user_id"]
    return books, {"tax": tax, "currency": cur, "contact": contact["contact_id"], "item": item,
                   "person": contact["contact_persons"][0]["contact_person_id"],
                   "invoice": invoice["invoice_id"], "user": me, "org": books.org}


GETS = [
    "/organizations", "/organizations/{org}", "/users", "/users/me", "/users/{user}",
    "/contacts", "/contacts/{contact}", "/contacts/{contact}/contactpersons",
    "/contacts/{contact}/contactpersons/{person}", "/items", "/items/{item}", "/itemdetails?item_ids={item}",
    "/invoices", "/invoices/{invoice}", "/settings/currencies", "/settings/currencies/{currency}",
    "/settings/taxes", "/settings/taxes/{tax}", "/_internal/settings",
]


def get(books: Books, path: str):
    path, _, query = path.partition("?")
    params = dict(p.split("=", 1) for p in query.split("&")) if query else None
    return books.get(path, params=params)


def test_a_get_of_each_entity_leaves_the_books_tables_unchanged(lab, filled):
    books, ids = filled
    before = books_state(lab)
    with books_writes(lab) as writes:
        for path in GETS:
            r = get(books, path.format(**ids))
            assert r.status_code == 200 and r.get_json()["code"] == 0, (path, r.get_json())
    assert writes == []
    assert books_state(lab) == before


def test_an_org_without_base_currency_is_read_without_a_write_and_migrated_at_start(lab, client, tenant):
    books = Books(client, tenant)
    org = tenant.orgs["books"]
    with lab.db.begin() as s:  # as in a database from an older version
        s.exec(delete(BooksCurrency).where(BooksCurrency.org_id == org))
    before = books_state(lab)
    with books_writes(lab) as writes:
        listed = client.get("/books/v3/organizations", headers=tenant.auth).get_json()["organizations"][0]
        one = books.get(f"/organizations/{org}").get_json()["organization"]
    assert writes == [] and books_state(lab) == before
    assert listed["currency_code"] == one["currency_code"] == "USD" and one["currency_symbol"] == "$"

    assert add_missing_base_currencies(lab, "books") == 1
    with lab.db.session() as s:
        base = s.exec(select(BooksCurrency).where(BooksCurrency.org_id == org, BooksCurrency.is_base == True)).one()  # noqa: E712
    assert base.code == "USD"
    assert books.get(f"/organizations/{org}").get_json()["organization"]["currency_id"] == base.id
    assert add_missing_base_currencies(lab, "books") == 0  # once is enough
