"""Zoho Accounts: the OAuth refresh-token grant, token caching and expiry on a given clock."""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx

from .base import (
    Clock,
    RetryPolicy,
    ZohoApiError,
    ZohoAuthError,
    ZohoRateLimitError,
    ZohoServerError,
    ZohoTransportError,
    safe_json,
    system_clock,
)

log = logging.getLogger("syncer.accounts")


@dataclass(frozen=True)
class Token:
    access_token: str = field(repr=False)  # a secret: never in logs or reprs
    api_domain: str
    expires_at: datetime
    scope: str = ""


class TokenStore(Protocol):
    """Where access tokens outlive the process (``syncer.store.Repo``): every process on the
    same store reuses a valid one instead of minting its own (Accounts grants 10 per refresh
    token per 10 minutes). ``load`` answers an object with ``access_token``, ``api_domain``,
    ``scope`` and ``expires_at``, or None."""

    def load_access_token(self, key: str) -> Any: ...

    def save_access_token(self, key: str, access_token: str, *, api_domain: str, scope: str,
                          expires_at: datetime) -> None: ...

    def discard_access_token(self, key: str, access_token: str) -> None: ...


class AccountsClient:
    """Access tokens for one OAuth client + refresh token.

    ``access_token()`` answers the cached token, refreshing it first when ``clock()`` is within
    ``margin`` seconds of its expiry (``expires_in`` of the answer, on that clock); ``invalidate``
    drops it (after an INVALID_TOKEN). ``api_domain`` is the token answer's, where product calls
    go. Thread-safe: concurrent callers share one refresh. ``refresh_count`` counts grants.
    With a ``token_store`` the token also outlives the process: a valid stored one is used before
    minting, a minted one is stored, a rejected one is dropped from the store too.
    """

    product = "accounts"

    def __init__(self, accounts_url: str, client_id: str, client_secret: str, refresh_token: str, *,
                 clock: Clock = system_clock, margin: float = 60.0, timeout: float | httpx.Timeout = 30.0,
                 retry: RetryPolicy | None = None, http: httpx.Client | None = None,
                 token_store: TokenStore | None = None) -> None:
        self.accounts_url = accounts_url.rstrip("/")
        self.client_id, self.client_secret, self.refresh_token = client_id, client_secret, refresh_token
        self.clock = clock
        self.margin = timedelta(seconds=margin)
        self.retry = retry or RetryPolicy()
        self._own_http = http is None
        self.http = http or httpx.Client(timeout=timeout)
        self.timeout = timeout
        self._token: Token | None = None
        self._lock = threading.RLock()
        self.refresh_count = 0
        self.token_store = token_store
        # the stored token belongs to this connection only: another refresh token (or client, or
        # Accounts server) must never pick it up
        self.store_key = hashlib.sha256(
            f"{self.accounts_url}\n{client_id}\n{refresh_token}".encode()).hexdigest()

    # -- tokens -----------------------------------------------------------------------------------
    @property
    def token(self) -> Token | None:
        return self._token

    @property
    def api_domain(self) -> str:
        tok = self._token
        if tok is None:
            self.access_token()
            tok = self._token
        assert tok is not None
        return tok.api_domain.rstrip("/")

    def access_token(self) -> str:
        tok = self._token
        if tok is not None and self.clock() < tok.expires_at - self.margin:
            return tok.access_token
        with self._lock:
            tok = self._token
            if tok is None or self.clock() >= tok.expires_at - self.margin:
                tok = self._stored() or self.refresh()
            return tok.access_token

    def _stored(self) -> Token | None:
        """The store's token for this connection while it is valid (then also cached here)."""
        if self.token_store is None:
            return None
        try:
            row = self.token_store.load_access_token(self.store_key)
        except Exception as exc:  # noqa: BLE001 - the store is an optimisation: mint instead
            log.warning("cannot read the stored access token (%s): minting one", type(exc).__name__)
            return None
        if row is None or row.expires_at is None or self.clock() >= row.expires_at - self.margin:
            return None
        self._token = Token(row.access_token, row.api_domain or self.accounts_url, row.expires_at, row.scope or "")
        return self._token

    def invalidate(self, access_token: str | None = None) -> None:
        """Forget the cached token (only if it is still ``access_token``, when given), in the
        store too: the API rejected it (revoked, or expired early)."""
        with self._lock:
            dropped = access_token or (self._token.access_token if self._token is not None else None)
            if self._token is not None and (access_token is None or self._token.access_token == access_token):
                self._token = None
            if dropped and self.token_store is not None:
                try:
                    self.token_store.discard_access_token(self.store_key, dropped)
                except Exception as exc:  # noqa: BLE001 - a stale row is refused once more, then replaced
                    log.warning("cannot drop the stored access token (%s)", type(exc).__name__)

    def refresh(self) -> Token:
        """A new access token from the refresh-token grant (always a call)."""
        with self._lock:
            body = self.retry.run(lambda: self._grant({
                "grant_type": "refresh_token", "client_id": self.client_id,
                "client_secret": self.client_secret, "refresh_token": self.refresh_token}), "POST",
                idempotent=True)  # a second grant only mints another token
            now = self.clock()
            self._token = Token(body["access_token"], str(body.get("api_domain") or self.accounts_url),
                                now + timedelta(seconds=float(body.get("expires_in", 3600))),
                                str(body.get("scope", "")))
            self.refresh_count += 1
            if self.token_store is not None:
                tok = self._token
                try:
                    self.token_store.save_access_token(self.store_key, tok.access_token, api_domain=tok.api_domain,
                                                       scope=tok.scope, expires_at=tok.expires_at)
                except Exception as exc:  # noqa: BLE001 - the token works all the same in this process
                    log.warning("cannot store the access token (%s)", type(exc).__name__)
            return self._token

    def revoke(self, token: str | None = None) -> None:
        """Revoke a token (default: the refresh token) — ``POST /oauth/v2/token/revoke``."""
        self._post("/oauth/v2/token/revoke", {"token": token or self.refresh_token}, as_params=True)
        if token is None or (self._token is not None and token == self._token.access_token):
            self.invalidate()

    # -- http -------------------------------------------------------------------------------------
    def _grant(self, form: dict[str, str]) -> dict[str, Any]:
        body = self._post("/oauth/v2/token", form)
        if "access_token" not in body:
            raise ZohoAuthError(self.product, 200, body.get("error", "invalid_response"),
                                str(body.get("error_description") or body.get("error") or body), body=body)
        return body

    def _post(self, path: str, data: dict[str, str], as_params: bool = False) -> dict[str, Any]:
        url = self.accounts_url + path
        try:
            if as_params:
                resp = self.http.post(url, params=data, timeout=self.timeout)
            else:
                resp = self.http.post(url, data=data, timeout=self.timeout)
        except httpx.TransportError as exc:
            code = "CONNECT" if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout) else (
                "TIMEOUT" if isinstance(exc, httpx.TimeoutException) else "CONNECTION")
            raise ZohoTransportError(self.product, None, code, f"{type(exc).__name__}: {exc}",
                                     method="POST", url=url) from exc
        body = safe_json(resp)
        if resp.status_code >= 400 or not isinstance(body, dict):
            b = body if isinstance(body, dict) else {}
            code = b.get("error") or b.get("code")
            # never the body of an answer that is not Zoho's JSON: the API would echo it to its caller
            msg = str(b.get("error_description") or b.get("message")
                      or f"HTTP {resp.status_code}: not a Zoho Accounts answer ({len(resp.content)} bytes)")
            if resp.status_code >= 500:
                cls: type[ZohoApiError] = ZohoServerError
            elif resp.status_code == 429 or "too many requests" in msg.lower():
                cls = ZohoRateLimitError  # Accounts' throttle: 400 "Access Denied" (observed)
            else:
                cls = ZohoAuthError
            # the throttle window is 10 minutes: not worth a retry within one call
            retry_after = 600.0 if cls is ZohoRateLimitError else None
            raise cls(self.product, resp.status_code, code, msg, body=body, method="POST", url=url,
                      retry_after=retry_after)
        return body

    def close(self) -> None:
        if self._own_http:
            self.http.close()
