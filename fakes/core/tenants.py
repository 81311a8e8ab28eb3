"""Tenants: users, their orgs per product, OAuth clients and tokens.

A tenant is what a Zoho customer has: a user (email) who belongs to one org per product, and an
OAuth client in the API console with a refresh token. The accounts fake issues access tokens
from these rows; the auth handler checks them on every product call.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, String, Text, UniqueConstraint, delete, func
from sqlmodel import Field, Session, SQLModel, select

from .db import datetime_column, json_column, json_list_column
from .timefmt import as_utc

PRODUCTS = ("fsm", "books", "invoice", "crm")

# Editions a product knows, cheapest first; the default is the first paid one.
EDITIONS: dict[str, tuple[str, ...]] = {
    "books": ("free", "standard", "professional", "premium", "elite", "ultimate"),
    "invoice": ("free", "standard", "professional", "premium"),
    "crm": ("free", "standard", "professional", "enterprise", "ultimate"),
    "fsm": ("free", "standard", "professional", "premium"),  # FSM has no "Enterprise"
}
DEFAULT_EDITION = "standard"

# Scopes granted by default: everything of every product.
DEFAULT_SCOPES = (
    "ZohoBooks.fullaccess.all",
    "ZohoInvoice.fullaccess.all",
    "ZohoCRM.modules.ALL",
    "ZohoCRM.settings.ALL",
    "ZohoCRM.users.ALL",
    "ZohoCRM.org.ALL",
    "ZohoCRM.coql.READ",
    "ZohoCRM.notifications.ALL",
    "ZohoFSM.modules.all",
    "ZohoFSM.settings.all",
    "ZohoFSM.users.all",
    "ZohoFSM.org.all",
)

ACCESS_TOKEN_SECONDS = 3600
MAX_REFRESH_TOKENS_PER_USER = 20  # the 21st deletes the oldest (RESEARCH-API.md)


class User(SQLModel, table=True):
    __tablename__ = "lab_user"
    id: str = Field(sa_column=Column(String(32), primary_key=True))
    email: str = Field(sa_column=Column(String(200), unique=True, nullable=False))
    name: str = ""
    time_zone: str = "UTC"
    created_time: datetime | None = datetime_column()


class Org(SQLModel, table=True):
    __tablename__ = "lab_org"
    id: str = Field(sa_column=Column(String(32), primary_key=True))
    product: str = Field(index=True)
    name: str
    edition: str = DEFAULT_EDITION
    currency_code: str = "USD"
    time_zone: str = "UTC"
    tax_enabled: bool = False
    active: bool = True
    trial_expired: bool = False
    rate_limits: bool = False  # switched on per org by scenarios (DESIGN.md, Limits)
    owner_id: str = Field(index=True)
    # Product-specific settings and Zoho-internal state (e.g. allow_duplicate_names,
    # crm_integration, pii_api_access); products document their keys in metadata.py.
    settings: dict = json_column()
    currencies: list = json_list_column()  # extra currency codes asked for at creation
    created_time: datetime | None = datetime_column()

    def setting(self, key: str, default: Any = None) -> Any:
        return (self.settings or {}).get(key, default)


class OrgMember(SQLModel, table=True):
    __tablename__ = "lab_org_member"
    org_id: str = Field(primary_key=True)
    user_id: str = Field(primary_key=True)
    role: str = "admin"


class OAuthClient(SQLModel, table=True):
    __tablename__ = "lab_oauth_client"
    client_id: str = Field(sa_column=Column(String(64), primary_key=True))
    client_secret: str
    user_id: str = Field(index=True)
    client_name: str = "Self Client"
    redirect_uris: list = json_list_column()


class RefreshToken(SQLModel, table=True):
    __tablename__ = "lab_refresh_token"
    token: str = Field(sa_column=Column(String(100), primary_key=True))
    client_id: str = Field(index=True)
    user_id: str = Field(index=True)
    scopes: list = json_list_column()
    created_time: datetime | None = datetime_column()


class AccessToken(SQLModel, table=True):
    __tablename__ = "lab_access_token"
    token: str = Field(sa_column=Column(String(100), primary_key=True))
    client_id: str = Field(index=True)
    user_id: str
    refresh_token: str | None = Field(default=None, index=True)
    scopes: list = json_list_column()
    created_time: datetime | None = datetime_column(index=True)
    expires_at: datetime | None = datetime_column()
    org_id: str | None = None  # a client-credentials token for one org (soid) reaches only that org


class GrantCode(SQLModel, table=True):
    """Authorization-code grant codes (``/oauth/v2/auth`` or the API console's self client)."""

    __tablename__ = "lab_grant_code"
    __table_args__ = (UniqueConstraint("code"),)
    code: str = Field(sa_column=Column(String(100), primary_key=True))
    client_id: str
    user_id: str
    scopes: list = json_list_column()
    redirect_uri: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    access_type: str = "offline"
    expires_at: datetime | None = datetime_column()
    used: bool = False


# -- queries -------------------------------------------------------------------------------

def user_by_email(s: Session, email: str) -> User | None:
    return s.exec(select(User).where(func.lower(User.email) == email.lower())).first()


def org_ids_of_user(s: Session, user_id: str) -> set[str]:
    return set(s.exec(select(OrgMember.org_id).where(OrgMember.user_id == user_id)).all())


def orgs_of_user(s: Session, user_id: str, product: str | None = None) -> list[Org]:
    q = select(Org).join(OrgMember, OrgMember.org_id == Org.id).where(OrgMember.user_id == user_id)
    if product:
        q = q.where(Org.product == product)
    return list(s.exec(q.order_by(Org.created_time, Org.id)).all())


def store_refresh_token(s: Session, rt: RefreshToken) -> list[str]:
    """Keep at most 20 refresh tokens per user: the 21st deletes the oldest. Returns the
    tokens deleted (callers drop cached access tokens when it is not empty)."""
    # Issue order is created_time order: on a frozen lab clock, tokens issued at the same
    # instant are spread a microsecond apart so that "the oldest" stays well defined.
    latest = s.exec(select(func.max(RefreshToken.created_time)).where(RefreshToken.user_id == rt.user_id)).one()
    latest = as_utc(latest)
    if latest is not None and rt.created_time is not None and as_utc(rt.created_time) <= latest:
        rt.created_time = latest + timedelta(microseconds=1)
    s.add(rt)
    s.flush()
    tokens = s.exec(
        select(RefreshToken.token)
        .where(RefreshToken.user_id == rt.user_id)
        .order_by(RefreshToken.created_time.desc(), RefreshToken.token)
    ).all()
    evicted = list(tokens[MAX_REFRESH_TOKENS_PER_USER:])
    for old in evicted:
        revoke_refresh_token(s, old)
    return evicted


def revoke_refresh_token(s: Session, token: str) -> bool:
    found = s.get(RefreshToken, token) is not None
    s.exec(delete(AccessToken).where(AccessToken.refresh_token == token))
    s.exec(delete(RefreshToken).where(RefreshToken.token == token))
    return found


def tokens_issued_since(s: Session, refresh_token: str, since: datetime) -> int:
    """Access tokens issued from ``refresh_token`` after ``since`` (a rolling window: a token
    exactly one window old has left it)."""
    return s.exec(
        select(func.count()).select_from(AccessToken).where(
            AccessToken.refresh_token == refresh_token, AccessToken.created_time > since
        )
    ).one()


def issue_access_token(s: Session, *, token: str, client_id: str, user_id: str, scopes: list[str],
                       refresh_token: str | None, now: datetime, org_id: str | None = None) -> AccessToken:
    at = AccessToken(
        token=token, client_id=client_id, user_id=user_id, refresh_token=refresh_token,
        scopes=list(scopes), created_time=now, expires_at=now + timedelta(seconds=ACCESS_TOKEN_SECONDS),
        org_id=org_id,
    )
    s.add(at)
    return at


def token_expired(at: AccessToken, now: datetime) -> bool:
    exp = as_utc(at.expires_at)
    return exp is not None and now >= exp
