"""Zoho-style ids: long numeric strings, deterministic for a given lab seed.

Real Zoho ids are an org-specific prefix followed by a running number, e.g. CRM
``4150868000000224005`` (19 digits) and Books ``460000000026049`` (15 digits). We do the same:
the prefix is derived from (seed, org id) by hashing, the running number comes from one
database sequence shared by all orgs (so ids never collide even when two orgs' prefixes do), so
the same seed and the same sequence of calls give the same ids, on SQLite and PostgreSQL alike,
across worker processes.
"""

from __future__ import annotations

import hashlib
import secrets
from functools import lru_cache

from sqlalchemy import BigInteger, Column, String
from sqlmodel import Field, Session, SQLModel

from .sql import increment

# digits of the prefix and of the running part, per id family
FAMILIES = {
    "crm": (7, 12),  # 19 digits
    "fsm": (7, 12),
    "books": (3, 12),  # 15 digits
    "invoice": (4, 12),  # 16 digits; Invoice ids are a little longer in the wild
    "user": (8, 0),
}
ORG_ID_DIGITS = {"books": 9, "invoice": 9, "crm": 9, "fsm": 11, "accounts": 8}
USER_RECORD_FAMILIES = frozenset({"crm", "books", "invoice"})  # products whose users and org have record ids
RUNNING_BASE = 100000  # running numbers start at ...000100001, like real orgs


@lru_cache(maxsize=4096)
def _prefix(seed: int, family: str, org_id: str, n: int) -> str:
    return _digits(seed, "prefix", family, org_id, n=n)


class IdSequence(SQLModel, table=True):
    __tablename__ = "lab_id_sequence"
    scope: str = Field(sa_column=Column(String(120), primary_key=True))
    value: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


def _digits(seed: int, *parts: object, n: int) -> str:
    h = hashlib.sha256(("|".join(map(str, (seed, *parts)))).encode()).hexdigest()
    num = int(h, 16)
    first = str(1 + num % 9)  # never a leading zero
    rest = str(num // 9).zfill(n)[-(n - 1) :] if n > 1 else ""
    return first + rest


class IdFactory:
    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    def org_id(self, session: Session, product: str) -> str:
        ordinal = increment(session, IdSequence, {"scope": f"org:{product}"}, "value", 1)
        return _digits(self.seed, "org", product, ordinal, n=ORG_ID_DIGITS.get(product, 9))

    def user_id(self, session: Session) -> str:
        ordinal = increment(session, IdSequence, {"scope": "user"}, "value", 1)
        return _digits(self.seed, "user", ordinal, n=9)

    def record_ids(self, session: Session, family: str, org_id: str, count: int = 1) -> list[str]:
        """Reserve ``count`` consecutive record ids for one org of one product family."""
        prefix_len, running_len = FAMILIES[family]
        # One running number for every record of every org: prefixes are short hashes and may
        # repeat across orgs, the running part never does, so ids are unique lab-wide.
        last = increment(session, IdSequence, {"scope": "records"}, "value", count)
        prefix = _prefix(self.seed, family, org_id, prefix_len)
        return [f"{prefix}{RUNNING_BASE + n:0{running_len}d}" for n in range(last - count + 1, last + 1)]

    def record_id(self, session: Session, family: str, org_id: str) -> str:
        return self.record_ids(session, family, org_id, 1)[0]

    # A product's user and org are records of their own in CRM: a user's ``id`` is a long record
    # id (1386586000000078001) distinct from its ``zuid``, the org's ``id`` distinct from its
    # ``zgid`` (issue 14). Derived, not stored: org prefix + the zuid (or zgid) in the running
    # part, so they map back without a table. Record running numbers count up from
    # RUNNING_BASE and would reach a 9-digit zuid only after ~10^8 records lab-wide.
    def user_record_id(self, family: str, org_id: str, zuid: str) -> str:
        if family not in USER_RECORD_FAMILIES or not zuid or not zuid.isdigit():
            return zuid
        prefix_len, running_len = FAMILIES[family]
        return _prefix(self.seed, family, org_id, prefix_len) + f"{int(zuid):0{running_len}d}"

    def zuid_of(self, family: str, org_id: str, ref: str) -> str:
        """The zuid behind a user record id of this org (``ref`` itself when it is not one)."""
        if family not in USER_RECORD_FAMILIES or not isinstance(ref, str) or not ref.isdigit():
            return ref
        prefix_len, running_len = FAMILIES[family]
        prefix = _prefix(self.seed, family, org_id, prefix_len)
        if len(ref) == prefix_len + running_len and ref.startswith(prefix):
            return str(int(ref[prefix_len:]))
        return ref

    def org_prefix(self, family: str, org_id: str) -> str:
        return _prefix(self.seed, family, org_id, FAMILIES[family][0])

    def org_record_id(self, family: str, org_id: str) -> str:
        return self.user_record_id(family, org_id, org_id)


def token(prefix: str = "1000") -> str:
    """OAuth tokens look like ``1000.<32 hex>.<32 hex>``; they are secrets, not ids."""
    return f"{prefix}.{secrets.token_hex(16)}.{secrets.token_hex(16)}"


def client_id() -> str:
    return "1000." + secrets.token_hex(15).upper()[:30]


def client_secret() -> str:
    return secrets.token_hex(21)
