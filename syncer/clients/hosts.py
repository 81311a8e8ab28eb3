"""Where the syncer may send an integration's credentials: Zoho's own data centres, or the lab.

A caller of the syncer API chooses ``accounts_url`` and ``api_domain``; the syncer then posts the
refresh token and client secret there from its own network. So only Zoho's hosts are accepted
(https), plus the configured fakes or Accounts URL (same scheme, host and port).

Zoho's data centres (https://www.zoho.com/accounts/protocol/oauth/multi-dc.html): Accounts at
accounts.zoho.com, .eu, .in, .com.au, .jp, .com.cn, .sa, .uk and accounts.zohocloud.ca; APIs at
www.zohoapis.<the same>, and the products' own hosts (books.zoho.com, fsm.zoho.eu…).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

import httpx

ZOHO_TLDS = ("com", "eu", "in", "com.au", "jp", "com.cn", "sa", "uk", "ca")
ZOHO_DOMAINS = tuple(f"{name}.{tld}" for name in ("zoho", "zohoapis") for tld in ZOHO_TLDS) + ("zohocloud.ca",)

# A URL that goes nowhere must not hold a request thread: a short connect, a bounded answer.
ZOHO_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


def _origin(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


def zoho_url_problem(url: str, *, also: Iterable[str | None] = ()) -> str | None:
    """Why ``url`` is not a Zoho URL (nor one of ``also``, the configured lab URLs); None when it is."""
    origin = _origin(url)
    if origin is None:
        return "must be an http(s) URL with a host"
    if any(origin == _origin(u) for u in also if u):
        return None
    scheme, host, port = origin
    if scheme == "https" and port == 443 and any(host == d or host.endswith("." + d) for d in ZOHO_DOMAINS):
        return None
    return "must be one of Zoho's https hosts (zoho.com, zohoapis.com and their other data centres) or the lab's URL"
