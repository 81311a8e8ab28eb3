"""Datetime formats, one per product family, rendered in the org's time zone.

Zoho CRM and FSM: ``2021-05-02T11:17:33+05:30`` (ISO 8601, colon in the offset).
Zoho Books/Invoice: ``2013-08-05T12:06:10+0530`` (no colon) and plain dates ``2013-08-05``.
Sources: RESEARCH-API.md; Books v3 spec examples (``created_time``), CRM v8 spec examples.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@lru_cache(maxsize=256)
def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def is_valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
        return True
    except (ZoneInfoNotFoundError, ValueError):
        return False


def crm_datetime(dt: datetime | None, tz: str | None = None) -> str | None:
    """CRM/FSM style: 2021-05-02T11:17:33+05:30."""
    if dt is None:
        return None
    return _local(dt, tz).isoformat(timespec="seconds")


def books_datetime(dt: datetime | None, tz: str | None = None) -> str | None:
    """Books/Invoice style: 2013-08-05T12:06:10+0530."""
    if dt is None:
        return None
    return _local(dt, tz).strftime("%Y-%m-%dT%H:%M:%S%z")


def books_date(dt: datetime | date | None, tz: str | None = None) -> str | None:
    if dt is None:
        return None
    if isinstance(dt, datetime):
        dt = _local(dt, tz).date()
    return dt.isoformat()


def parse_datetime(text: str) -> datetime | None:
    """Parse either family's format (or a bare date) to an aware UTC datetime; None if invalid."""
    if not isinstance(text, str) or not text.strip():
        return None
    s = text.strip().replace(" ", "T", 1) if "T" not in text and len(text) > 10 else text.strip()
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    # Books writes the offset without a colon (+0530); fromisoformat accepts both on 3.11.
    try:
        parsed = datetime.fromisoformat(s)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:59:59-23:59 lies outside datetime's range in UTC
        return None


def _local(dt: datetime, tz: str | None) -> datetime:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(zone(tz))


def as_utc(dt: datetime | None) -> datetime | None:
    """Database rows come back naive on SQLite: they are stored as UTC."""
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
