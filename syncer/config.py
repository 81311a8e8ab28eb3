"""The syncer's configuration: explicit values first, then environment variables, then defaults.

| setting | env | default |
|---|---|---|
| ``database_url`` | ``ZLAB_SYNCER_DATABASE_URL`` | ``sqlite:///.zlab/syncer.db`` |
| ``fakes_url`` (the lab: its clock, and the default Accounts URL) | ``ZLAB_FAKES_URL`` | none: real time |
| ``smtp_url`` | ``ZLAB_SMTP_URL`` | none: an embedded in-process mail sink |
| ``support_token`` (``X-Support-Token`` of the support API) | ``ZLAB_SUPPORT_TOKEN`` | generated, logged at start |
| ``scheduler_interval`` (real seconds between scheduler ticks; 0 = no thread) | ``ZLAB_SCHEDULER_INTERVAL`` | 1.0 |
| ``accounts_url`` (when an integration names none and no lab is given) | ``ZLAB_ACCOUNTS_URL`` | ``https://accounts.zoho.com`` |
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

from syncer.store.db import syncer_database_url

ZOHO_ACCOUNTS_URL = "https://accounts.zoho.com"
DEFAULT_SCHEDULER_INTERVAL = 1.0


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {raw!r}") from None


@dataclass
class SyncerConfig:
    database_url: str = ""
    fakes_url: str | None = None
    smtp_url: str | None = None
    support_token: str = ""
    scheduler_interval: float = DEFAULT_SCHEDULER_INTERVAL
    accounts_url: str = ""
    embedded_mail: bool = True  # start an in-process mail sink when no smtp_url is given
    support_token_generated: bool = field(default=False, repr=False)

    @classmethod
    def from_env(cls, *, database_url: str | None = None, fakes_url: str | None = None,
                 smtp_url: str | None = None, support_token: str | None = None,
                 scheduler_interval: float | None = None, accounts_url: str | None = None,
                 embedded_mail: bool = True) -> SyncerConfig:
        token = support_token or os.environ.get("ZLAB_SUPPORT_TOKEN") or ""
        generated = not token
        fakes = (fakes_url or os.environ.get("ZLAB_FAKES_URL") or "").rstrip("/") or None
        interval = (scheduler_interval if scheduler_interval is not None
                    else _env_float("ZLAB_SCHEDULER_INTERVAL", DEFAULT_SCHEDULER_INTERVAL))
        if interval < 0:
            raise ValueError("the scheduler interval cannot be negative")
        return cls(
            database_url=syncer_database_url(database_url),
            fakes_url=fakes,
            smtp_url=smtp_url or os.environ.get("ZLAB_SMTP_URL") or None,
            support_token=token or secrets.token_urlsafe(18),
            scheduler_interval=interval,
            accounts_url=(accounts_url or os.environ.get("ZLAB_ACCOUNTS_URL") or fakes or ZOHO_ACCOUNTS_URL).rstrip("/"),
            embedded_mail=embedded_mail,
            support_token_generated=generated,
        )
