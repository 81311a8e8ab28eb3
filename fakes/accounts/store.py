"""Token grants of the fake Zoho Accounts: no HTTP here, only the rules.

Refresh grant: client id + secret must match the client the refresh token was issued to
(else ``invalid_client``); an unknown refresh token is ``invalid_code``; at most 10 access
tokens per refresh token per 10 minutes on the lab clock. Authorization-code grant: one use,
before expiry, same client (and redirect URI when one was given); answers a refresh token when
``access_type`` was offline. Client-credentials grant: the client's own user, the scopes asked
for, optionally one org named by ``soid`` (``ZohoCRM.<org id>``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session

from fakes.core import ids
from fakes.core.lab import Lab
from fakes.core.tenants import (
    AccessToken,
    GrantCode,
    OAuthClient,
    Org,
    RefreshToken,
    issue_access_token,
    org_ids_of_user,
    revoke_refresh_token,
    store_refresh_token,
    tokens_issued_since,
)
from fakes.core.timefmt import as_utc

from . import errors
from .metadata import ACCESS_TOKEN_SECONDS, THROTTLE_TOKENS, THROTTLE_WINDOW_SECONDS, TOKEN_TYPE

SOID_PRODUCTS = {"zohocrm": "crm", "zohobooks": "books", "zohoinvoice": "invoice", "zohofsm": "fsm"}


def _client(s: Session, client_id: str | None, client_secret: str | None) -> OAuthClient:
    client = s.get(OAuthClient, client_id or "")
    if client is None or client.client_secret != (client_secret or ""):
        raise errors.invalid_client()
    return client


def _answer(at: AccessToken, api_domain: str, refresh: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"access_token": at.token}
    if refresh:
        body["refresh_token"] = refresh
    body.update({"scope": " ".join(at.scopes), "api_domain": api_domain, "token_type": TOKEN_TYPE,
                 "expires_in": ACCESS_TOKEN_SECONDS})
    return body


def refresh_grant(lab: Lab, p: dict[str, str], api_domain: str) -> dict[str, Any]:
    now = lab.now()
    with lab.db.begin() as s:
        rt = s.get(RefreshToken, p.get("refresh_token") or "")
        client = _client(s, p.get("client_id"), p.get("client_secret"))
        if rt is None or rt.client_id != client.client_id:
            raise errors.invalid_code()
        since = now - timedelta(seconds=THROTTLE_WINDOW_SECONDS)
        if tokens_issued_since(s, rt.token, since) >= THROTTLE_TOKENS:
            raise errors.too_many_requests()
        at = issue_access_token(s, token=ids.token(), client_id=client.client_id, user_id=rt.user_id,
                                scopes=rt.scopes, refresh_token=rt.token, now=now)
        return _answer(at, api_domain)


def code_grant(lab: Lab, p: dict[str, str], api_domain: str) -> dict[str, Any]:
    now = lab.now()
    with lab.db.begin() as s:
        client = _client(s, p.get("client_id"), p.get("client_secret"))
        code = s.get(GrantCode, p.get("code") or "")
        if code is None or code.used or code.client_id != client.client_id:
            raise errors.invalid_code()
        expires = as_utc(code.expires_at)
        if expires is not None and now >= expires:
            raise errors.invalid_code()
        if code.redirect_uri and p.get("redirect_uri") and p["redirect_uri"] != code.redirect_uri:
            raise errors.invalid_redirect_uri()
        code.used = True
        s.add(code)
        refresh = None
        evicted: list[str] = []
        if code.access_type != "online":
            rt = RefreshToken(token=ids.token(), client_id=client.client_id, user_id=code.user_id,
                              scopes=code.scopes, created_time=now)
            evicted = store_refresh_token(s, rt)
            refresh = rt.token
        at = issue_access_token(s, token=ids.token(), client_id=client.client_id, user_id=code.user_id,
                                scopes=code.scopes, refresh_token=refresh, now=now)
        answer = _answer(at, api_domain, refresh)
    if evicted:  # the oldest refresh token went, and its access tokens with it
        lab.forget(tokens=True, orgs=False)
    return answer


def client_credentials_grant(lab: Lab, p: dict[str, str], api_domain: str) -> dict[str, Any]:
    now = lab.now()
    scopes = [x for x in (p.get("scope") or "").replace(" ", ",").split(",") if x]
    if not scopes:
        raise errors.invalid_scope()
    with lab.db.begin() as s:
        client = _client(s, p.get("client_id"), p.get("client_secret"))
        soid = p.get("soid")
        org_id = None
        if soid:  # e.g. ZohoCRM.123456789: the org must be the client user's own
            service, _, org_id = soid.partition(".")
            org = s.get(Org, org_id)
            if (org is None or SOID_PRODUCTS.get(service.lower()) != org.product
                    or org.id not in org_ids_of_user(s, client.user_id)):
                raise errors.oauth_error("invalid_soid")
        at = issue_access_token(s, token=ids.token(), client_id=client.client_id, user_id=client.user_id,
                                scopes=scopes, refresh_token=None, now=now, org_id=org_id)
        return _answer(at, api_domain)


def revoke(lab: Lab, token: str) -> None:
    with lab.db.begin() as s:
        if not revoke_refresh_token(s, token):
            at = s.get(AccessToken, token)
            if at is not None:
                s.delete(at)
    lab.forget(tokens=True, orgs=False)


def authorize(lab: Lab, p: dict[str, str]) -> GrantCode:
    """``/oauth/v2/auth``: the lab's user consents at once (there is no login page)."""
    scopes = [x for x in (p.get("scope") or "").replace(" ", ",").split(",") if x]
    with lab.db.begin() as s:
        client = s.get(OAuthClient, p.get("client_id") or "")
        if client is None:
            raise errors.invalid_client()
        if not scopes:
            raise errors.invalid_scope()
        redirect = p.get("redirect_uri") or ""
        if client.redirect_uris and redirect not in client.redirect_uris:
            raise errors.invalid_redirect_uri()
        code = GrantCode(code=ids.token(), client_id=client.client_id, user_id=client.user_id,
                         scopes=scopes, redirect_uri=redirect,
                         access_type=(p.get("access_type") or "online").lower(),
                         expires_at=lab.now() + timedelta(minutes=2))
        s.add(code)
        return code
