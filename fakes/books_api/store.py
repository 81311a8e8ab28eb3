"""State and rules of the fake Zoho Books/Invoice: tables and domain operations, no HTTP.

Every entity keeps the columns lists filter and sort by (indexed) plus a JSON document with the
rest of its fields. Operations validate input and raise the product's errors (``errors.py``);
they never leave a half-written record behind: each API call runs in one transaction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Index, String, bindparam, case, func, or_
from sqlmodel import Field, Session, SQLModel, col, delete, select

from fakes.core import fastread, unique
from fakes.core.db import datetime_column, json_column
from fakes.core.errors import ZohoError
from fakes.core.lab import Lab
from fakes.core.tenants import Org, User
from fakes.core.timefmt import books_date, parse_datetime

from . import errors
from . import metadata as md

# ================================================================================== tables


class BooksCurrency(SQLModel, table=True):
    __tablename__ = "books_currency"
    id: str = Field(sa_column=Column(String(32), primary_key=True))
    org_id: str = Field(index=True)
    code: str
    name: str
    symbol: str
    precision: int = 2
    format: str = md.CURRENCY_FORMAT
    exchange_rate: float = 1.0
    is_base: bool = False
    created_time: datetime | None = datetime_column()


class BooksTax(SQLModel, table=True):
    __tablename__ = "books_tax"
    id: str = Field(sa_column=Column(String(32), primary_key=True))
    org_id: str = Field(index=True)
    name: str
    percentage: float
    tax_type: str = "tax"
    created_time: datetime | None = datetime_column()


class BooksContact(SQLModel, table=True):
    __tablename__ = "books_contact"
    __table_args__ = (
        Index("ix_books_contact_org_name", "org_id", "name_key"),
        Index("ix_books_contact_org_modified", "org_id", "last_modified_time"),
    )
    id: str = Field(sa_column=Column(String(32), primary_key=True))
    org_id: str = Field(index=True)
    contact_name: str
    name_key: str  # lower-cased display name: the duplicate check is case-insensitive
    company_name: str = ""
    contact_type: str = "customer"
    customer_sub_type: str = "business"
    status: str = "active"
    currency_id: str = ""
    email: str = ""  # the primary contact person's, for list filters and Overwrite matching
    first_name: str = ""
    last_name: str = ""
    created_time: datetime | None = datetime_column()
    last_modified_time: datetime | None = datetime_column()
    doc: dict = json_column()


class BooksContactPerson(SQLModel, table=True):
    __tablename__ = "books_contact_person"
    id: str = Field(sa_column=Column(String(32), primary_key=True))
    org_id: str = Field(index=True)
    contact_id: str = Field(index=True)
    is_primary: bool = False
    position: int = 0
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    created_time: datetime | None = datetime_column()
    doc: dict = json_column()


class BooksItem(SQLModel, table=True):
    __tablename__ = "books_item"
    __table_args__ = (
        Index("ix_books_item_org_name", "org_id", "name_key"),
        Index("ix_books_item_org_modified", "org_id", "last_modified_time"),
    )
    id: str = Field(sa_column=Column(String(32), primary_key=True))
    org_id: str = Field(index=True)
    name: str
    name_key: str
    sku: str = ""
    status: str = "active"
    product_type: str = "goods"
    rate: float = 0.0
    tax_id: str = ""
    created_time: datetime | None = datetime_column()
    last_modified_time: datetime | None = datetime_column()
    doc: dict = json_column()


class BooksInvoice(SQLModel, table=True):
    __tablename__ = "books_invoice"
    __table_args__ = (Index("ix_books_invoice_org_modified", "org_id", "last_modified_time"),)
    id: str = Field(sa_column=Column(String(32), primary_key=True))
    org_id: str = Field(index=True)
    invoice_number: str
    customer_id: str = Field(index=True)
    customer_name: str = ""
    status: str = "draft"
    date: str = ""
    due_date: str = ""
    total: float = 0.0
    balance: float = 0.0
    created_time: datetime | None = datetime_column()
    last_modified_time: datetime | None = datetime_column()
    doc: dict = json_column()


# ============================================================================= validation


def _text(body: dict, key: str, *, max_len: int = 500, required: bool = False, default: str = "") -> str:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise errors.invalid_field(key)
        return default
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # Zoho accepts numbers where text is expected (zip, phone)
    if not isinstance(value, str) or len(value) > max_len:
        raise errors.invalid_field(key)
    return value


def _number(body: dict, key: str, *, required: bool = False, default: float = 0.0, minimum: float | None = None) -> float:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise errors.invalid_field(key)
        return default
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise errors.invalid_field(key) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise errors.invalid_field(key)
    if minimum is not None and value < minimum:
        raise errors.invalid_field(key)
    return float(value)


def _choice(body: dict, key: str, choices: tuple[str, ...], default: str) -> str:
    value = body.get(key)
    if value is None or value == "":
        return default
    if not isinstance(value, str) or value not in choices:
        raise errors.invalid_field(key)
    return value


def _bool(body: dict, key: str, default: bool = False) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise errors.invalid_field(key)
    return value


def _address(body: dict, key: str) -> dict[str, str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise errors.invalid_field(key)
    return {k: _text(value, k, max_len=500) for k in md.ADDRESS_KEYS}


def _object(body: Any, name: str) -> dict:
    if not isinstance(body, dict):
        raise errors.invalid_field(name)
    return body


def money(x: float) -> float:
    return round(x + 0.0, 2)


# ================================================================================ service


# -- prepared reads of the single-record GETs (see fakes.core.fastread): read-only rows --------------
_CONTACT_ROW = fastread.by_key(BooksContact, "id")
_PERSON_ROWS = fastread.by_key(BooksContactPerson, "contact_id",
                               order_by=(BooksContactPerson.position, BooksContactPerson.id))
_CURRENCY_ROW = fastread.by_key(BooksCurrency, "id")
_TAX_ROW = fastread.by_key(BooksTax, "id")
_ITEM_ROW = fastread.by_key(BooksItem, "id")
_INVOICE_ROW = fastread.by_key(BooksInvoice, "id")


def _receivables_query():
    due = case((col(BooksInvoice.status).not_in(("draft", "void")), BooksInvoice.balance), else_=0.0)
    return select(func.count(), func.coalesce(func.sum(due), 0.0)).where(
        BooksInvoice.customer_id == bindparam("contact_id", required=False))


_RECEIVABLES = fastread.Prepared(_receivables_query, names=("count", "total"))


@dataclass
class Page:
    page: int
    per_page: int


class BooksStore:
    """Domain operations of one org. ``product`` is "books" or "invoice" (same rules)."""

    def __init__(self, lab: Lab, s: Session, org: Org) -> None:
        self.lab = lab
        self.s = s
        self.org = org
        self.tz = org.time_zone

    # -- helpers ------------------------------------------------------------------------------
    def now(self) -> datetime:
        return self.lab.now()

    def new_id(self) -> str:
        return self.lab.ids.record_id(self.s, "books" if self.org.product == "books" else "invoice", self.org.id)

    def new_ids(self, n: int) -> list[str]:
        return self.lab.ids.record_ids(self.s, "books" if self.org.product == "books" else "invoice", self.org.id, n)

    def today(self) -> str:
        return books_date(self.now(), self.tz) or ""

    def _page(self, query, page: Page, order) -> tuple[list, bool]:
        rows = self.s.exec(query.order_by(*order).offset((page.page - 1) * page.per_page).limit(page.per_page + 1)).all()
        return list(rows[: page.per_page]), len(rows) > page.per_page

    # -- currencies -------------------------------------------------------------------------------
    def currencies(self) -> list[BooksCurrency]:
        return list(self.s.exec(select(BooksCurrency).where(BooksCurrency.org_id == self.org.id)
                                .order_by(col(BooksCurrency.is_base).desc(), BooksCurrency.code)).all())

    def currency(self, currency_id: str) -> BooksCurrency:
        c = self.s.get(BooksCurrency, currency_id)
        if c is None or c.org_id != self.org.id:
            raise errors.currency_not_found()
        return c

    def base_currency_row(self, org_id: str) -> BooksCurrency | None:
        """The org's base currency, read only (None for an org not migrated yet)."""
        return self.s.exec(select(BooksCurrency).where(BooksCurrency.org_id == org_id,
                                                       BooksCurrency.is_base == True)).first()  # noqa: E712

    def base_currency(self) -> BooksCurrency:
        """The base currency, for writes that need it (a new contact's currency, seeding): added
        when missing, as ``add_missing_base_currencies`` does for every org at start."""
        c = self.base_currency_row(self.org.id)
        if c is None:  # every org gets one at creation; an org restored from an older snapshot may lack it
            c = self.add_currency_row(self.org.currency_code, is_base=True)
        return c

    def currency_row(self, currency_id: str) -> Any:
        """A currency as a read-only row (prepared read), or None."""
        return _CURRENCY_ROW.first(self.s, id=currency_id)

    def add_currency_row(self, code: str, *, is_base: bool = False, symbol: str | None = None,
                         name: str | None = None, precision: int | None = None, rate: float = 1.0) -> BooksCurrency:
        known = md.CURRENCIES.get(code, (code, code, 2))
        c = BooksCurrency(id=self.new_id(), org_id=self.org.id, code=code, name=name or f"{code}- {known[0]}",
                          symbol=symbol or known[1], precision=known[2] if precision is None else precision,
                          exchange_rate=1.0 if is_base else rate, is_base=is_base, created_time=self.now())
        self._hold(BooksCurrency, "code", code, None, c.id, errors.duplicate_currency(code))
        self.s.add(c)
        self.s.flush()
        return c

    def create_currency(self, body: dict) -> BooksCurrency:
        body = _object(body, "JSONString")
        code = _text(body, "currency_code", max_len=3, required=True).upper()
        if len(code) != 3 or not code.isalpha():
            raise errors.invalid_field("currency_code")
        symbol = _text(body, "currency_symbol", max_len=10, required=True)
        precision = int(_number(body, "price_precision", default=2, minimum=0))
        if precision > 3:
            raise errors.invalid_field("price_precision")
        if any(c.code == code for c in self.currencies()):
            raise errors.duplicate_currency(code)
        rate = _number(body, "exchange_rate", default=1.0, minimum=0)
        return self.add_currency_row(code, symbol=symbol, precision=precision, rate=rate or 1.0)

    def update_currency(self, currency_id: str, body: dict) -> BooksCurrency:
        body = _object(body, "JSONString")
        c = self.currency(currency_id)
        if "currency_symbol" in body:
            c.symbol = _text(body, "currency_symbol", max_len=10, required=True)
        if "price_precision" in body:
            p = int(_number(body, "price_precision", minimum=0))
            if p > 3:
                raise errors.invalid_field("price_precision")
            c.precision = p
        if "currency_format" in body:
            c.format = _text(body, "currency_format", max_len=30, required=True)
        if "exchange_rate" in body and not c.is_base:
            c.exchange_rate = _number(body, "exchange_rate", minimum=0) or 1.0
        self.s.add(c)
        return c

    def delete_currency(self, currency_id: str) -> None:
        c = self.currency(currency_id)
        if c.is_base:
            raise errors.base_currency_locked()
        self._release(BooksCurrency, c, "code")
        self.s.delete(c)

    # -- taxes ----------------------------------------------------------------------------------------
    def taxes(self) -> list[BooksTax]:
        return list(self.s.exec(select(BooksTax).where(BooksTax.org_id == self.org.id)
                                .order_by(col(BooksTax.created_time).desc(), BooksTax.id)).all())

    def tax_row(self, tax_id: str) -> Any:
        """A tax as a read-only row (prepared read), or None."""
        return _TAX_ROW.first(self.s, id=tax_id)

    def tax(self, tax_id: str) -> BooksTax:
        t = self.s.get(BooksTax, tax_id)
        if t is None or t.org_id != self.org.id:
            raise errors.tax_not_found()
        return t

    def create_tax(self, body: dict) -> BooksTax:
        body = _object(body, "JSONString")
        t = BooksTax(id=self.new_id(), org_id=self.org.id, name=_text(body, "tax_name", max_len=50, required=True),
                     percentage=_number(body, "tax_percentage", required=True, minimum=0),
                     tax_type=_choice(body, "tax_type", ("tax", "compound_tax"), "tax"), created_time=self.now())
        if t.percentage > 100:
            raise errors.invalid_field("tax_percentage")
        self.s.add(t)
        return t

    def update_tax(self, tax_id: str, body: dict) -> BooksTax:
        body = _object(body, "JSONString")
        t = self.tax(tax_id)
        if "tax_name" in body:
            t.name = _text(body, "tax_name", max_len=50, required=True)
        if "tax_percentage" in body:
            t.percentage = _number(body, "tax_percentage", required=True, minimum=0)
            if t.percentage > 100:
                raise errors.invalid_field("tax_percentage")
        if "tax_type" in body:
            t.tax_type = _choice(body, "tax_type", ("tax", "compound_tax"), t.tax_type)
        self.s.add(t)
        return t

    def delete_tax(self, tax_id: str) -> None:
        self.s.delete(self.tax(tax_id))

    # -- custom fields ----------------------------------------------------------------------------------
    def _custom_fields(self, entity: str, value: Any) -> list[dict[str, Any]]:
        """Resolve ``custom_fields`` against the org's definitions (by customfield_id, api_name,
        label or index); a field the org has not defined is refused."""
        if value is None:
            return []
        if not isinstance(value, list):
            raise errors.invalid_field("custom_fields")
        defs = ((self.org.settings or {}).get("custom_fields") or {}).get(entity) or []
        out = []
        for cf in value:
            if not isinstance(cf, dict):
                raise errors.invalid_field("custom_fields")
            match = None
            for d in defs:
                if (("customfield_id" in cf and str(cf["customfield_id"]) == d["customfield_id"])
                        or ("api_name" in cf and cf["api_name"] == d["api_name"])
                        or ("label" in cf and cf["label"] == d["label"])
                        or ("index" in cf and cf["index"] == d["index"])):
                    match = d
                    break
            if match is None:
                raise errors.invalid_field("custom_fields")
            v = cf.get("value")
            if v is not None and not isinstance(v, (str, int, float, bool)):
                raise errors.invalid_field(match["label"])
            out.append({"customfield_id": match["customfield_id"], "index": match["index"],
                        "label": match["label"], "api_name": match["api_name"],
                        "data_type": match.get("data_type", "string"), "value": "" if v is None else v})
        return out

    @staticmethod
    def _merge_custom_fields(old: list[dict], new: list[dict]) -> list[dict]:
        merged = {c["customfield_id"]: c for c in old}
        merged.update({c["customfield_id"]: c for c in new})
        return sorted(merged.values(), key=lambda c: c["index"])

    # -- uniqueness under concurrency (fakes.core.unique) ----------------------------------------------
    def _hold(self, model: Any, field_name: str, value: str | None, old: str | None, row_id: str,
              refused: ZohoError) -> None:
        """Hold ``value`` of a unique field for row ``row_id`` (and give ``old`` up): after the
        sequential check, so that writers racing past it (other workers) still store it once."""
        key, was = unique.unique_key(value), unique.unique_key(old)
        if key == was:
            return
        column = getattr(model, field_name)
        if key is not None:
            def still_has(holder: str) -> bool:
                current = self.s.execute(select(column).where(model.id == holder, model.org_id == self.org.id)).scalar()
                return unique.unique_key(current) == key

            if unique.hold(self.s, self.org.id, model.__tablename__, field_name, key, row_id, still_has) is not None:
                raise refused
        unique.release(self.s, self.org.id, model.__tablename__, field_name, was, row_id)

    def _release(self, model: Any, row: Any, *field_names: str) -> None:
        for name in field_names:
            unique.release(self.s, self.org.id, model.__tablename__, name, unique.unique_key(getattr(row, name)), row.id)

    # -- contacts -------------------------------------------------------------------------------------
    def contact(self, contact_id: str) -> BooksContact:
        c = self.s.get(BooksContact, contact_id)
        if c is None or c.org_id != self.org.id:
            raise errors.contact_not_found()
        return c

    def contact_row(self, contact_id: str) -> Any:
        """The contact as a read-only row, for answers that only render it (GET)."""
        c = _CONTACT_ROW.first(self.s, id=contact_id)
        if c is None or c.org_id != self.org.id:
            raise errors.contact_not_found()
        return c

    def _check_duplicate_name(self, c: BooksContact, old_name: str | None = None) -> None:
        if (self.org.settings or {}).get("allow_duplicate_names"):
            return
        name = c.contact_name
        q = select(BooksContact.id).where(BooksContact.org_id == self.org.id, BooksContact.name_key == name.lower(),
                                          BooksContact.id != c.id)
        if self.s.exec(q.limit(1)).first() is not None:
            raise errors.duplicate_contact(name, c.contact_type)
        self._hold(BooksContact, "contact_name", name, old_name, c.id, errors.duplicate_contact(name, c.contact_type))

    def _contact_fields(self, body: dict, c: BooksContact, creating: bool) -> None:
        if creating or "contact_name" in body:
            name = _text(body, "contact_name", max_len=md.CONTACT_NAME_MAX, required=True).strip()
            if not name:
                raise errors.invalid_field("contact_name")
            c.contact_name, c.name_key = name, name.lower()
        if "company_name" in body or creating:
            c.company_name = _text(body, "company_name", max_len=200, default=c.company_name or "")
        if "contact_type" in body or creating:
            c.contact_type = _choice(body, "contact_type", md.CONTACT_TYPES, c.contact_type or "customer")
        if "customer_sub_type" in body or creating:
            c.customer_sub_type = _choice(body, "customer_sub_type", md.CUSTOMER_SUB_TYPES, c.customer_sub_type or "business")
        if "currency_id" in body and body["currency_id"] not in (None, ""):
            c.currency_id = self.currency(str(body["currency_id"])).id
        elif creating:
            c.currency_id = self.base_currency().id
        doc = dict(c.doc or {})
        for key in ("website", "notes", "facebook", "twitter", "language_code", "payment_terms_label"):
            if key in body:
                doc[key] = _text(body, key, max_len=2000)
        if "payment_terms" in body:
            doc["payment_terms"] = int(_number(body, "payment_terms", minimum=0))
        if "is_taxable" in body:
            doc["is_taxable"] = _bool(body, "is_taxable")
        if "tax_id" in body and body["tax_id"]:
            doc["tax_id"] = self.tax(str(body["tax_id"])).id
        for key in ("billing_address", "shipping_address"):
            addr = _address(body, key)
            if addr is not None:
                doc[key] = addr
        if "custom_fields" in body:
            doc["custom_fields"] = self._merge_custom_fields(doc.get("custom_fields") or [],
                                                             self._custom_fields("contact", body["custom_fields"]))
        c.doc = doc

    def _person_row(self, contact: BooksContact, p: dict, position: int, pid: str | None = None) -> BooksContactPerson:
        p = _object(p, "contact_persons")
        row = BooksContactPerson(id=pid or self.new_id(), org_id=self.org.id, contact_id=contact.id,
                                 position=position, created_time=self.now())
        self._person_fields(row, p)
        return row

    def _person_fields(self, row: BooksContactPerson, p: dict) -> None:
        doc = dict(row.doc or {})
        for key in md.PERSON_KEYS:
            if key in p:
                doc[key] = _text(p, key, max_len=200)
        if "email" in doc and doc["email"] and "@" not in doc["email"]:
            raise errors.invalid_field("email")
        row.doc = doc
        row.email, row.first_name, row.last_name = doc.get("email", ""), doc.get("first_name", ""), doc.get("last_name", "")
        if "is_primary_contact" in p:
            row.is_primary = _bool(p, "is_primary_contact")

    def persons(self, contact_id: str) -> list[BooksContactPerson]:
        return list(self.s.exec(select(BooksContactPerson).where(BooksContactPerson.contact_id == contact_id)
                                .order_by(BooksContactPerson.position, BooksContactPerson.id)).all())

    def _sync_primary(self, contact: BooksContact, persons: list[BooksContactPerson], prefer: str | None = None) -> None:
        """Exactly one primary person when there are any; mirror it on the contact row."""
        if persons:
            primary = next((p for p in persons if p.id == prefer), None) or next(
                (p for p in persons if p.is_primary), persons[0])
            for p in persons:
                if p.is_primary != (p is primary):
                    p.is_primary = p is primary
                    self.s.add(p)
            contact.email, contact.first_name, contact.last_name = primary.email, primary.first_name, primary.last_name
            pdoc = primary.doc or {}
            contact.doc = {**(contact.doc or {}), "primary_phone": pdoc.get("phone", ""),
                           "primary_mobile": pdoc.get("mobile", "")}
        else:
            contact.email = contact.first_name = contact.last_name = ""
            contact.doc = {**(contact.doc or {}), "primary_phone": "", "primary_mobile": ""}

    def create_contact(self, body: dict) -> BooksContact:
        body = _object(body, "JSONString")
        now = self.now()
        c = BooksContact(id=self.new_id(), org_id=self.org.id, contact_name="", name_key="",
                         created_time=now, last_modified_time=now, doc={})
        self._contact_fields(body, c, creating=True)
        self._check_duplicate_name(c)
        raw_persons = body.get("contact_persons") or []
        if not isinstance(raw_persons, list):
            raise errors.invalid_field("contact_persons")
        persons = [self._person_row(c, p, i) for i, p in enumerate(raw_persons)]
        self._sync_primary(c, persons)
        self.s.add(c)
        self.s.add_all(persons)
        return c

    def update_contact(self, contact_id: str, body: dict) -> BooksContact:
        body = _object(body, "JSONString")
        c = self.contact(contact_id)
        old_name = c.contact_name
        self._contact_fields(body, c, creating=False)
        if "contact_name" in body:
            self._check_duplicate_name(c, old_name)
        if "contact_persons" in body:
            # The list replaces the contact's persons: listed ids are updated, new ones added,
            # unlisted ones removed (Books' PUT semantics for the contact_persons array).
            raw = body["contact_persons"] or []
            if not isinstance(raw, list):
                raise errors.invalid_field("contact_persons")
            existing = {p.id: p for p in self.persons(c.id)}
            keep: list[BooksContactPerson] = []
            for i, p in enumerate(raw):
                p = _object(p, "contact_persons")
                pid = str(p.get("contact_person_id") or "")
                if pid and pid in existing:
                    row = existing.pop(pid)
                    self._person_fields(row, p)
                    row.position = i
                elif pid:
                    raise errors.contact_person_not_found()
                else:
                    row = self._person_row(c, p, i)
                keep.append(row)
                self.s.add(row)
            for gone in existing.values():
                self.s.delete(gone)
            self._sync_primary(c, keep)
        c.last_modified_time = self.now()
        self.s.add(c)
        return c

    def set_contact_status(self, contact_id: str, status: str) -> BooksContact:
        c = self.contact(contact_id)
        c.status = status
        c.last_modified_time = self.now()
        self.s.add(c)
        return c

    def delete_contact(self, contact_id: str) -> None:
        c = self.contact(contact_id)
        has_invoice = self.s.exec(select(BooksInvoice.id).where(BooksInvoice.customer_id == c.id).limit(1)).first()
        if has_invoice is not None:
            raise errors.contact_has_transactions()
        self.s.exec(delete(BooksContactPerson).where(BooksContactPerson.contact_id == c.id))
        self._release(BooksContact, c, "contact_name")
        self.s.delete(c)

    def list_contacts(self, args: dict[str, str], page: Page) -> tuple[list[BooksContact], bool, dict[str, str]]:
        q = select(BooksContact).where(BooksContact.org_id == self.org.id)
        filter_by = args.get("filter_by") or "Status.All"
        if filter_by not in md.STATUS_FILTERS:
            raise errors.invalid_value("filter_by")
        if md.STATUS_FILTERS[filter_by]:
            q = q.where(BooksContact.status == md.STATUS_FILTERS[filter_by])
        if args.get("contact_type"):
            if args["contact_type"] not in md.CONTACT_TYPES:
                raise errors.invalid_value("contact_type")
            q = q.where(BooksContact.contact_type == args["contact_type"])
        if args.get("customer_sub_type"):
            q = q.where(BooksContact.customer_sub_type == args["customer_sub_type"])
        for field, column in (("contact_name", BooksContact.contact_name), ("company_name", BooksContact.company_name),
                              ("email", BooksContact.email), ("first_name", BooksContact.first_name),
                              ("last_name", BooksContact.last_name)):
            q = _text_filter(q, args, field, column)
        if args.get("search_text"):
            term = f"%{_like(args['search_text'])}%"
            q = q.where(or_(func.lower(BooksContact.contact_name).like(term.lower(), escape="\\"),
                            func.lower(BooksContact.company_name).like(term.lower(), escape="\\")))
        q = _modified_filter(q, args, BooksContact.last_modified_time)
        sort = args.get("sort_column") or "contact_name"
        if sort not in md.CONTACT_SORT:
            raise errors.invalid_value("sort_column")
        order = _order(args, getattr(BooksContact, md.CONTACT_SORT[sort]), BooksContact.id)
        rows, more = self._page(q, page, order)
        return rows, more, {"applied_filter": filter_by, "sort_column": sort, "sort_order": _sort_order(args)}

    def outstanding_by_contact(self, ids: list[str]) -> dict[str, float]:
        if not ids:
            return {}
        rows = self.s.exec(select(BooksInvoice.customer_id, func.sum(BooksInvoice.balance)).where(
            col(BooksInvoice.customer_id).in_(ids), col(BooksInvoice.status).not_in(("draft", "void")))
            .group_by(BooksInvoice.customer_id)).all()
        return {cid: money(float(total or 0.0)) for cid, total in rows}

    def receivables(self, contact_id: str) -> tuple[int, float]:
        """How many invoices the contact has, and the balance of those that count (not draft or void)."""
        count, total = _RECEIVABLES.first(self.s, contact_id=contact_id)
        return int(count or 0), money(float(total or 0.0))

    def person_rows(self, contact_id: str) -> list[Any]:
        """The contact's persons as read-only rows (prepared read), in their order."""
        return _PERSON_ROWS.rows(self.s, contact_id=contact_id)

    # -- contact persons --------------------------------------------------------------------------------
    def person(self, person_id: str, contact_id: str | None = None) -> BooksContactPerson:
        p = self.s.get(BooksContactPerson, person_id)
        if p is None or p.org_id != self.org.id or (contact_id and p.contact_id != contact_id):
            raise errors.contact_person_not_found()
        return p

    def create_person(self, body: dict) -> BooksContactPerson:
        body = _object(body, "JSONString")
        contact = self.contact(_text(body, "contact_id", required=True, max_len=32))
        persons = self.persons(contact.id)
        row = self._person_row(contact, body, len(persons))
        persons.append(row)
        self.s.add(row)
        self._sync_primary(contact, persons, prefer=row.id if row.is_primary else None)
        contact.last_modified_time = self.now()
        self.s.add(contact)
        return row

    def update_person(self, person_id: str, body: dict) -> BooksContactPerson:
        body = _object(body, "JSONString")
        row = self.person(person_id)
        if body.get("contact_id") and str(body["contact_id"]) != row.contact_id:
            raise errors.invalid_field("contact_id")
        self._person_fields(row, body)
        contact = self.contact(row.contact_id)
        persons = [row if p.id == row.id else p for p in self.persons(contact.id)]
        self._sync_primary(contact, persons, prefer=row.id if body.get("is_primary_contact") is True else None)
        contact.last_modified_time = self.now()
        self.s.add_all([row, contact])
        return row

    def delete_person(self, person_id: str) -> None:
        row = self.person(person_id)
        contact = self.contact(row.contact_id)
        self.s.delete(row)
        self.s.flush()
        self._sync_primary(contact, self.persons(contact.id))
        contact.last_modified_time = self.now()
        self.s.add(contact)

    def make_primary(self, person_id: str) -> None:
        row = self.person(person_id)
        contact = self.contact(row.contact_id)
        self._sync_primary(contact, self.persons(contact.id), prefer=row.id)
        contact.last_modified_time = self.now()
        self.s.add(contact)

    # -- items --------------------------------------------------------------------------------------
    def item(self, item_id: str) -> BooksItem:
        i = self.s.get(BooksItem, item_id)
        if i is None or i.org_id != self.org.id:
            raise errors.item_not_found()
        return i

    def items_by_ids(self, ids: list[str]) -> list[BooksItem]:
        """The org's items among ``ids``, in the order asked; ids it has no item of are left out."""
        rows = self.s.exec(select(BooksItem).where(BooksItem.org_id == self.org.id, BooksItem.id.in_(ids))).all()
        by_id = {r.id: r for r in rows}
        return [by_id[i] for i in dict.fromkeys(ids) if i in by_id]

    def item_row(self, item_id: str) -> Any:
        """The item as a read-only row, for answers that only render it (GET)."""
        i = _ITEM_ROW.first(self.s, id=item_id)
        if i is None or i.org_id != self.org.id:
            raise errors.item_not_found()
        return i

    def _item_fields(self, body: dict, it: BooksItem, creating: bool) -> None:
        if creating or "name" in body:
            name = _text(body, "name", max_len=md.ITEM_NAME_MAX, required=True).strip()
            if not name:
                raise errors.invalid_field("name")
            q = select(BooksItem.id).where(BooksItem.org_id == self.org.id, BooksItem.name_key == name.lower(),
                                           BooksItem.id != it.id)
            if self.s.exec(q.limit(1)).first() is not None:
                raise errors.duplicate_item(name)
            self._hold(BooksItem, "name", name, None if creating else it.name, it.id, errors.duplicate_item(name))
            it.name, it.name_key = name, name.lower()
        if creating or "rate" in body:
            it.rate = _number(body, "rate", required=True, minimum=0)
        if "sku" in body:
            sku = _text(body, "sku", max_len=200).strip()
            if sku:
                q = select(BooksItem.id).where(BooksItem.org_id == self.org.id, BooksItem.sku == sku, BooksItem.id != it.id)
                if self.s.exec(q.limit(1)).first() is not None:
                    raise errors.duplicate_sku(sku)
            self._hold(BooksItem, "sku", sku, None if creating else it.sku, it.id, errors.duplicate_sku(sku))
            it.sku = sku
        if creating or "product_type" in body:
            it.product_type = _choice(body, "product_type", md.PRODUCT_TYPES, it.product_type or "goods")
        if "tax_id" in body:
            it.tax_id = self.tax(str(body["tax_id"])).id if body["tax_id"] else ""
        doc = dict(it.doc or {})
        for key in ("description", "unit", "item_type"):
            if key in body:
                doc[key] = _text(body, key, max_len=2000)
        if "custom_fields" in body:
            doc["custom_fields"] = self._merge_custom_fields(doc.get("custom_fields") or [],
                                                             self._custom_fields("item", body["custom_fields"]))
        it.doc = doc

    def create_item(self, body: dict) -> BooksItem:
        body = _object(body, "JSONString")
        now = self.now()
        it = BooksItem(id=self.new_id(), org_id=self.org.id, name="", name_key="", created_time=now,
                       last_modified_time=now, doc={})
        self._item_fields(body, it, creating=True)
        self.s.add(it)
        return it

    def update_item(self, item_id: str, body: dict) -> BooksItem:
        body = _object(body, "JSONString")
        it = self.item(item_id)
        self._item_fields(body, it, creating=False)
        it.last_modified_time = self.now()
        self.s.add(it)
        return it

    def set_item_status(self, item_id: str, status: str) -> BooksItem:
        it = self.item(item_id)
        it.status = status
        it.last_modified_time = self.now()
        self.s.add(it)
        return it

    def delete_item(self, item_id: str) -> None:
        it = self.item(item_id)
        self._release(BooksItem, it, "name", "sku")
        self.s.delete(it)

    def list_items(self, args: dict[str, str], page: Page) -> tuple[list[BooksItem], bool, dict[str, str]]:
        q = select(BooksItem).where(BooksItem.org_id == self.org.id)
        filter_by = args.get("filter_by") or "Status.All"
        if filter_by not in md.STATUS_FILTERS:
            raise errors.invalid_value("filter_by")
        if md.STATUS_FILTERS[filter_by]:
            q = q.where(BooksItem.status == md.STATUS_FILTERS[filter_by])
        q = _text_filter(q, args, "name", BooksItem.name)
        q = _text_filter(q, args, "sku", BooksItem.sku)
        if args.get("product_type"):
            q = q.where(BooksItem.product_type == args["product_type"])
        if args.get("search_text"):
            q = q.where(func.lower(BooksItem.name).like(f"%{_like(args['search_text']).lower()}%", escape="\\"))
        q = _modified_filter(q, args, BooksItem.last_modified_time)
        sort = args.get("sort_column") or "name"
        if sort not in md.ITEM_SORT:
            raise errors.invalid_value("sort_column")
        rows, more = self._page(q, page, _order(args, getattr(BooksItem, md.ITEM_SORT[sort]), BooksItem.id))
        return rows, more, {"applied_filter": filter_by, "sort_column": sort, "sort_order": _sort_order(args),
                            "report_name": "Items"}

    # -- invoices -----------------------------------------------------------------------------------
    def invoice(self, invoice_id: str) -> BooksInvoice:
        inv = self.s.get(BooksInvoice, invoice_id)
        if inv is None or inv.org_id != self.org.id:
            raise errors.invoice_not_found()
        return inv

    def invoice_row(self, invoice_id: str) -> Any:
        """The invoice as a read-only row, for answers that only render it (GET)."""
        inv = _INVOICE_ROW.first(self.s, id=invoice_id)
        if inv is None or inv.org_id != self.org.id:
            raise errors.invoice_not_found()
        return inv

    def _next_invoice_number(self) -> str:
        from fakes.core.ids import IdSequence
        from fakes.core.sql import increment

        n = increment(self.s, IdSequence, {"scope": f"books-invoice-number:{self.org.id}"}, "value", 1)
        return f"INV-{n:06d}"

    def _line_items(self, raw: Any) -> list[dict[str, Any]]:
        if not isinstance(raw, list) or not raw:
            raise errors.invalid_field("line_items")
        lines = []
        for i, li in enumerate(raw):
            li = _object(li, "line_items")
            item = self.item(str(li["item_id"])) if li.get("item_id") else None
            name = _text(li, "name", max_len=200, default=item.name if item else "")
            if not name:
                raise errors.invalid_field("line_items")
            rate = _number(li, "rate", default=item.rate if item else 0.0, minimum=0)
            qty = _number(li, "quantity", default=1.0, minimum=0)
            discount = _number(li, "discount", default=0.0, minimum=0)
            tax_id = str(li.get("tax_id") or (item.tax_id if item else "") or "")
            tax = self.tax(tax_id) if tax_id else None
            item_total = money(rate * qty - discount)
            lines.append({
                "line_item_id": str(li.get("line_item_id") or ""), "item_id": item.id if item else "",
                "name": name, "description": _text(li, "description", max_len=2000,
                                                   default=(item.doc or {}).get("description", "") if item else ""),
                "item_order": i + 1, "rate": rate, "bcy_rate": rate, "quantity": qty,
                "unit": _text(li, "unit", max_len=50, default=(item.doc or {}).get("unit", "") if item else ""),
                "discount": discount, "discount_amount": discount,
                "product_type": item.product_type if item else "goods",
                "tax_id": tax.id if tax else "", "tax_name": tax.name if tax else "",
                "tax_type": tax.tax_type if tax else "", "tax_percentage": tax.percentage if tax else 0,
                "item_total": item_total,
            })
        return lines

    def _apply_invoice(self, inv: BooksInvoice, body: dict, creating: bool) -> None:
        doc = dict(inv.doc or {})
        if creating or "customer_id" in body:
            customer_id = _text(body, "customer_id", required=True, max_len=32)
            customer = self.s.get(BooksContact, customer_id)
            if customer is None or customer.org_id != self.org.id:
                raise errors.invalid_field("customer_id")
            inv.customer_id, inv.customer_name = customer.id, customer.contact_name
            doc["currency_id"] = customer.currency_id
            cdoc = customer.doc or {}
            doc.setdefault("billing_address", invoice_address(cdoc.get("billing_address")))
            doc.setdefault("shipping_address", invoice_address(cdoc.get("shipping_address")))
        if "currency_id" in body and body["currency_id"]:
            doc["currency_id"] = self.currency(str(body["currency_id"])).id
        if creating or "line_items" in body:
            lines = self._line_items(body.get("line_items"))
            ids = iter(self.new_ids(len(lines)))
            for li in lines:
                li["line_item_id"] = li["line_item_id"] or next(ids)
            doc["line_items"] = lines
        if "invoice_number" in body and body["invoice_number"]:
            number = _text(body, "invoice_number", max_len=100)
            clash = self.s.exec(select(BooksInvoice.id).where(BooksInvoice.org_id == self.org.id,
                                                              BooksInvoice.invoice_number == number,
                                                              BooksInvoice.id != inv.id)).first()
            if clash is not None:
                raise errors.duplicate_invoice_number(number)
            self._hold(BooksInvoice, "invoice_number", number, None if creating else inv.invoice_number, inv.id,
                       errors.duplicate_invoice_number(number))
            inv.invoice_number = number
        elif creating:
            inv.invoice_number = self._next_invoice_number()
        if "date" in body or creating:
            inv.date = _date(body, "date", self.today())
        if "payment_terms" in body:
            doc["payment_terms"] = int(_number(body, "payment_terms", minimum=0))
        terms = int(doc.get("payment_terms", 0))
        if "due_date" in body and body["due_date"]:
            inv.due_date = _date(body, "due_date", inv.date)
        elif creating or "date" in body or "payment_terms" in body:
            inv.due_date = (datetime.fromisoformat(inv.date) + timedelta(days=terms)).date().isoformat()
        for key in ("reference_number", "notes", "terms", "salesperson_name"):
            if key in body:
                doc[key] = _text(body, key, max_len=5000)
        for key in ("adjustment", "shipping_charge", "discount"):
            if key in body:
                doc[key] = _number(body, key)
        for key in ("billing_address", "shipping_address"):
            addr = _address(body, key)
            if addr is not None:
                doc[key] = invoice_address(addr)
        if "custom_fields" in body:
            doc["custom_fields"] = self._merge_custom_fields(doc.get("custom_fields") or [],
                                                             self._custom_fields("invoice", body["custom_fields"]))
        sub_total = money(sum(li["item_total"] for li in doc["line_items"]))
        tax_by_name: dict[str, float] = {}
        for li in doc["line_items"]:
            if li["tax_id"] and self.org.tax_enabled:
                tax_by_name[li["tax_name"]] = tax_by_name.get(li["tax_name"], 0.0) + li["item_total"] * li["tax_percentage"] / 100
        tax_total = money(sum(tax_by_name.values()))
        total = money(sub_total + tax_total + doc.get("adjustment", 0.0) + doc.get("shipping_charge", 0.0)
                      - doc.get("discount", 0.0))
        doc.update({"sub_total": sub_total, "tax_total": tax_total,
                    "taxes": [{"tax_name": k, "tax_amount": money(v)} for k, v in tax_by_name.items()]})
        inv.total = total
        inv.balance = 0.0 if inv.status in ("paid", "void") else total
        inv.doc = doc

    def create_invoice(self, body: dict) -> BooksInvoice:
        body = _object(body, "JSONString")
        now = self.now()
        inv = BooksInvoice(id=self.new_id(), org_id=self.org.id, invoice_number="", customer_id="",
                           created_time=now, last_modified_time=now, doc={})
        self._apply_invoice(inv, body, creating=True)
        self.s.add(inv)
        return inv

    def update_invoice(self, invoice_id: str, body: dict) -> BooksInvoice:
        body = _object(body, "JSONString")
        inv = self.invoice(invoice_id)
        self._apply_invoice(inv, body, creating=False)
        inv.last_modified_time = self.now()
        self.s.add(inv)
        return inv

    def set_invoice_status(self, invoice_id: str, target: str) -> str:
        """Status endpoints: sent, void, draft. Answers the message Zoho gives."""
        inv = self.invoice(invoice_id)
        if target == "sent":
            if inv.status not in ("draft", "sent"):
                raise errors.invoice_status_change("Only draft invoices can be marked as sent.")
            inv.status, msg = "sent", "Invoice status has been changed to Sent."
            inv.balance = inv.total
        elif target == "void":
            if inv.status == "paid":
                raise errors.invoice_status_change("Paid invoices cannot be voided.")
            inv.status, msg = "void", "Invoice status has been changed to Void."
            inv.balance = 0.0
        else:
            if inv.status != "void":
                raise errors.invoice_status_change("Only void invoices can be converted to draft.")
            inv.status, msg = "draft", "Status of invoice changed from void to draft"
            inv.balance = inv.total
        inv.last_modified_time = self.now()
        self.s.add(inv)
        return msg

    def delete_invoice(self, invoice_id: str) -> None:
        inv = self.invoice(invoice_id)
        self._release(BooksInvoice, inv, "invoice_number")
        self.s.delete(inv)

    def list_invoices(self, args: dict[str, str], page: Page) -> tuple[list[BooksInvoice], bool, dict[str, str]]:
        q = select(BooksInvoice).where(BooksInvoice.org_id == self.org.id)
        if args.get("customer_id"):
            q = q.where(BooksInvoice.customer_id == args["customer_id"])
        status = args.get("status")
        if status:
            if status not in md.INVOICE_STATUSES:
                raise errors.invalid_value("status")
            q = q.where(BooksInvoice.status == status)
        filter_by = args.get("filter_by") or "Status.All"
        if filter_by != "Status.All":
            wanted = filter_by.split(".", 1)[-1].lower()
            if not filter_by.startswith("Status.") or wanted not in md.INVOICE_STATUSES:
                raise errors.invalid_value("filter_by")
            q = q.where(BooksInvoice.status == wanted)
        q = _text_filter(q, args, "invoice_number", BooksInvoice.invoice_number)
        q = _text_filter(q, args, "customer_name", BooksInvoice.customer_name)
        if args.get("date"):
            q = q.where(BooksInvoice.date == args["date"])
        q = _modified_filter(q, args, BooksInvoice.last_modified_time)
        sort = args.get("sort_column") or "created_time"
        if sort not in md.INVOICE_SORT:
            raise errors.invalid_value("sort_column")
        default_order = "D" if sort == "created_time" else "A"
        rows, more = self._page(q, page, _order(args, getattr(BooksInvoice, md.INVOICE_SORT[sort]), BooksInvoice.id,
                                                default=default_order))
        return rows, more, {"applied_filter": filter_by, "sort_column": sort,
                            "sort_order": _sort_order(args, default_order), "report_name": "Invoices"}

    # -- organization -----------------------------------------------------------------------------------
    def owner(self, org: Org) -> User | None:
        return self.s.get(User, org.owner_id)

    def counts(self) -> dict[str, int]:
        customers = self.s.exec(select(func.count()).select_from(BooksContact).where(
            BooksContact.org_id == self.org.id, BooksContact.contact_type == "customer")).one()
        items = self.s.exec(select(func.count()).select_from(BooksItem).where(BooksItem.org_id == self.org.id)).one()
        return {"customers": int(customers), "items": int(items)}

    # -- users (Books v3 users.yml: list-users-response, get-current-user-response) -------------------
    # A Books user_id is the org's own id for that user (15 digits, e.g. 982000000554041), not the
    # zuid; derived from the zuid (fakes.core.ids.user_record_id) so it maps back without a table.
    USER_STATUS_FILTERS = {"Status.All": True, "Status.Active": True, "Status.Inactive": False,
                           "Status.Invited": False, "Status.Deleted": False}

    def _members(self) -> list[tuple[User, str]]:
        from fakes.core.tenants import OrgMember

        rows = self.s.exec(select(User, OrgMember.role).join(OrgMember, OrgMember.user_id == User.id)
                           .where(OrgMember.org_id == self.org.id).order_by(User.name, User.id)).all()
        return [(u, role) for u, role in rows]

    def user_record_id(self, zuid: str) -> str:
        return self.lab.ids.user_record_id(self.org.product, self.org.id, zuid)

    def list_users(self, filter_by: str, page: Page) -> tuple[list[tuple[User, str]], bool]:
        """One page of (user, role) of the org's members."""
        if filter_by not in self.USER_STATUS_FILTERS:
            raise errors.invalid_value("filter_by")
        members = self._members() if self.USER_STATUS_FILTERS[filter_by] else []  # all are active
        start = (page.page - 1) * page.per_page
        return members[start:start + page.per_page], start + page.per_page < len(members)

    def get_user(self, user_id: str) -> tuple[User, str]:
        """(user, role) of a Books user_id."""
        zuid = self.lab.ids.zuid_of(self.org.product, self.org.id, user_id)
        for u, role in self._members():
            if u.id == zuid and user_id != zuid:
                return u, role
        raise errors.user_not_found()


# ============================================================================== queries


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _text_filter(q, args: dict[str, str], field: str, column):
    """``field``, ``field_startswith`` and ``field_contains``, case-insensitive like Books."""
    if args.get(field):
        q = q.where(func.lower(column) == args[field].lower())
    if args.get(f"{field}_startswith"):
        q = q.where(func.lower(column).like(_like(args[f"{field}_startswith"].lower()) + "%", escape="\\"))
    if args.get(f"{field}_contains"):
        q = q.where(func.lower(column).like("%" + _like(args[f"{field}_contains"].lower()) + "%", escape="\\"))
    return q


def _modified_filter(q, args: dict[str, str], column):
    """``last_modified_time``: records modified at or after that instant (used by sync tools)."""
    raw = args.get("last_modified_time")
    if raw:
        when = parse_datetime(raw)
        if when is None:
            raise errors.invalid_value("last_modified_time")
        q = q.where(column >= when)
    return q


def _sort_order(args: dict[str, str], default: str = "A") -> str:
    order = args.get("sort_order") or default
    if order not in ("A", "D"):
        raise errors.invalid_value("sort_order")
    return order


def _order(args: dict[str, str], column, tiebreak, default: str = "A") -> list:
    if _sort_order(args, default) == "D":
        return [col(column).desc(), col(tiebreak).desc()]
    return [col(column).asc(), col(tiebreak).asc()]


def _date(body: dict, key: str, default: str) -> str:
    value = body.get(key)
    if value in (None, ""):
        return default
    if not isinstance(value, str):
        raise errors.invalid_field(key)
    try:
        return datetime.strptime(value, "%Y-%m-%d").date().isoformat()
    except ValueError:
        raise errors.invalid_field(key) from None


def invoice_address(addr: dict[str, str] | None) -> dict[str, str]:
    """An invoice's copy of an address has fewer keys than a contact's (Books v3 invoices spec)."""
    addr = addr or {}
    return {k: addr.get(k, "") for k in md.INVOICE_ADDRESS_KEYS}


# ============================================================================ migration


def add_missing_base_currencies(lab: Lab, product: str) -> int:
    """Give every org of ``product`` that has no base currency its own (the org's currency code).
    Every org gets one at creation; databases from older versions may hold orgs without, and
    reads never write, so this runs once when the app starts. Answers how many were added."""
    with lab.db.begin() as s:
        has_base = select(BooksCurrency.org_id).where(BooksCurrency.is_base == True)  # noqa: E712
        orgs = s.exec(select(Org).where(Org.product == product, col(Org.id).not_in(has_base))).all()
        added = 0
        for org in orgs:
            try:
                BooksStore(lab, s, org).add_currency_row(org.currency_code, is_base=True)
                added += 1
            except ZohoError:  # another worker starting beside this one added it first
                continue
    return added
