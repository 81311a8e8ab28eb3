"""Zoho-style ids (deterministic for a seed, unique, the right lengths) and datetime formats."""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from fakes.core import ids
from fakes.core.db import Database
from fakes.core.ids import IdFactory
from fakes.core.timefmt import (
    as_utc,
    books_date,
    books_datetime,
    crm_datetime,
    is_valid_zone,
    parse_datetime,
)


@pytest.fixture
def db(backend):
    d = Database(backend)
    d.create_all()
    yield d
    d.dispose()


def allocate(db: Database, seed: int, family: str, org: str, n: int) -> list[str]:
    f = IdFactory(seed)
    with db.begin() as s:
        return f.record_ids(s, family, org, n)


@pytest.mark.parametrize("family, length", [("books", 15), ("crm", 19), ("fsm", 19), ("invoice", 16)])
def test_record_ids_are_digit_strings_of_the_family_length(db, family, length):
    got = allocate(db, 0, family, "60012345", 50)
    assert len(got) == 50 == len(set(got))
    for i in got:
        assert isinstance(i, str) and i.isdigit() and len(i) == length and i[0] != "0"
    # one org's ids share the org prefix and run consecutively, like real Zoho ids
    nums = [int(i) for i in got]
    assert nums == list(range(nums[0], nums[0] + 50))


def test_record_ids_deterministic_for_a_seed_and_sequence_of_calls(backend, tmp_path):
    a = Database(backend)
    a.create_all()
    first = allocate(a, 7, "crm", "111", 3) + allocate(a, 7, "books", "222", 2) + allocate(a, 7, "crm", "111", 1)
    a.drop_all()
    a.create_all()
    again = allocate(a, 7, "crm", "111", 3) + allocate(a, 7, "books", "222", 2) + allocate(a, 7, "crm", "111", 1)
    a.drop_all()
    a.create_all()
    other_seed = allocate(a, 8, "crm", "111", 3)
    a.dispose()
    assert first == again
    assert other_seed != first[:3]
    # batches and single calls continue one sequence: no id is handed out twice
    assert len(set(first)) == len(first)


def test_different_orgs_get_different_prefixes(db):
    a = allocate(db, 0, "crm", "org-a", 5)
    b = allocate(db, 0, "crm", "org-b", 5)
    assert not set(a) & set(b)
    assert a[0][:7] != b[0][:7]


def test_org_and_user_ids(db):
    f = IdFactory(3)
    with db.begin() as s:
        books = [f.org_id(s, "books") for _ in range(20)]
        fsm = [f.org_id(s, "fsm") for _ in range(5)]
        users = [f.user_id(s) for _ in range(20)]
    assert all(len(x) == 9 and x.isdigit() and x[0] != "0" for x in books)
    assert all(len(x) == 11 and x.isdigit() for x in fsm)
    assert all(len(x) == 9 and x.isdigit() for x in users)
    assert len(set(books)) == 20 and len(set(users)) == 20
    g = IdFactory(3)
    db.drop_all()
    db.create_all()
    with db.begin() as s:
        assert [g.org_id(s, "books") for _ in range(20)] == books
        assert [g.user_id(s) for _ in range(20)] == users


def test_concurrent_allocation_from_threads_is_unique(backend):
    db = Database(backend)
    db.create_all()
    f = IdFactory(0)
    out: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def work():
        try:
            start.wait()
            for _ in range(15):
                for attempt in range(20):  # SQLite may say "locked" under contention: retry
                    try:
                        with db.begin() as s:
                            got = f.record_ids(s, "books", "999", 2)
                        break
                    except Exception as exc:  # noqa: BLE001
                        if "locked" not in str(exc) or attempt == 19:
                            raise
                with lock:
                    out.extend(got)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.dispose()
    assert not errors, errors
    assert len(out) == 8 * 15 * 2
    assert len(set(out)) == len(out)
    nums = sorted(int(x) for x in out)
    assert nums == list(range(nums[0], nums[0] + len(out)))  # no gaps, no repeats


def test_tokens_and_client_credentials_look_like_zoho():
    tok = ids.token()
    assert re.fullmatch(r"1000\.[0-9a-f]{32}\.[0-9a-f]{32}", tok)
    assert ids.token() != tok
    assert re.fullmatch(r"1000\.[0-9A-F]{30}", ids.client_id())
    assert re.fullmatch(r"[0-9a-f]{42}", ids.client_secret())


# -- datetime formats -------------------------------------------------------------------------

INSTANT = datetime(2021, 5, 2, 5, 47, 33, tzinfo=UTC)  # 11:17:33 in Kolkata


def test_crm_datetime_in_org_time_zone():
    assert crm_datetime(INSTANT, "Asia/Kolkata") == "2021-05-02T11:17:33+05:30"
    assert crm_datetime(INSTANT, "UTC") == "2021-05-02T05:47:33+00:00"
    assert crm_datetime(INSTANT, "America/New_York") == "2021-05-02T01:47:33-04:00"  # DST
    assert crm_datetime(INSTANT.replace(microsecond=999999), "Asia/Kolkata") == "2021-05-02T11:17:33+05:30"
    assert crm_datetime(None, "UTC") is None


def test_books_datetime_in_org_time_zone():
    t = datetime(2013, 8, 5, 6, 36, 10, tzinfo=UTC)
    assert books_datetime(t, "Asia/Kolkata") == "2013-08-05T12:06:10+0530"
    assert books_datetime(t, "Europe/London") == "2013-08-05T07:36:10+0100"
    assert books_datetime(t, None) == "2013-08-05T06:36:10+0000"
    assert books_datetime(None) is None


def test_naive_datetimes_are_taken_as_utc_and_unknown_zones_fall_back_to_utc():
    naive = datetime(2021, 5, 2, 5, 47, 33)
    assert crm_datetime(naive, "Asia/Kolkata") == "2021-05-02T11:17:33+05:30"
    assert books_datetime(naive, "Not/AZone") == "2021-05-02T05:47:33+0000"
    assert as_utc(naive) == INSTANT
    assert as_utc(datetime(2021, 5, 2, 11, 17, 33, tzinfo=timezone(timedelta(hours=5, minutes=30)))) == INSTANT
    assert as_utc(None) is None


def test_books_date_uses_the_local_day():
    late = datetime(2024, 1, 31, 20, 0, tzinfo=UTC)  # already Feb 1st in Kolkata
    assert books_date(late, "Asia/Kolkata") == "2024-02-01"
    assert books_date(late, "UTC") == "2024-01-31"
    assert books_date(date(2024, 3, 4)) == "2024-03-04"


@pytest.mark.parametrize("text, expected", [
    ("2021-05-02T11:17:33+05:30", INSTANT),
    ("2021-05-02T11:17:33+0530", INSTANT),
    ("2021-05-02T05:47:33Z", INSTANT),
    ("2021-05-02 05:47:33", INSTANT),
    ("2021-05-02T05:47:33", INSTANT),
    ("2021-05-02", datetime(2021, 5, 2, tzinfo=UTC)),
])
def test_parse_datetime_accepts_both_families(text, expected):
    assert parse_datetime(text) == expected


@pytest.mark.parametrize("text", ["", "   ", "yesterday", "2021-02-30T00:00:00Z", None, 12, "2021-05-02T25:00:00"])
def test_parse_datetime_rejects_garbage(text):
    assert parse_datetime(text) is None


def test_round_trip_both_formats():
    for tz in ("Asia/Kolkata", "America/Los_Angeles", "Australia/Adelaide", "UTC"):
        assert parse_datetime(crm_datetime(INSTANT, tz)) == INSTANT
        assert parse_datetime(books_datetime(INSTANT, tz)) == INSTANT


def test_is_valid_zone():
    assert is_valid_zone("Asia/Kolkata") and is_valid_zone("UTC")
    assert not is_valid_zone("Mars/Olympus") and not is_valid_zone("")
