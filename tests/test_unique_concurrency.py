"""Uniqueness under concurrency: many clients writing the same unique value at once, against
``zlab serve --workers 4`` (separate processes, as in production) on SQLite and PostgreSQL.

Exactly one write wins; every other one gets the answer a sequential duplicate gets (CRM's
DUPLICATE_DATA with the winner's id, Books' 3062, FSM's currency DUPLICATE_DATA), never a
second copy and never a 500. Covers single creates, batch creates, and updates that change a
unique value (issue 9, item 3).
"""

from __future__ import annotations

import signal
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.conftest import postgres_unavailable
from tests.test_cli import start_serve, stop

RACERS = 50


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def served(request, tmp_path):
    extra: list[str] = []
    if request.param == "postgres":
        if postgres_unavailable():
            pytest.skip(postgres_unavailable())
        extra = ["--db", request.getfixturevalue("pg_url")]  # the later --db wins over start_serve's
    srv = start_serve(tmp_path, "--workers", "4", *extra, timeout=60)
    try:
        yield srv
    finally:
        stop(srv.proc, signal.SIGKILL, group=True)  # a graceful stop of 4 workers takes ~10 s


class Api:
    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=60, limits=httpx.Limits(max_connections=RACERS))
        t = self.http.post("/_lab/tenants", json={"products": ["crm", "books", "fsm"]}).json()
        tok = self.http.post("/oauth/v2/token", data={
            "grant_type": "refresh_token", "client_id": t["client_id"], "client_secret": t["client_secret"],
            "refresh_token": t["refresh_token"]}).json()
        self.headers = {"Authorization": f"Zoho-oauthtoken {tok['access_token']}"}
        self.books_org = t["orgs"]["books"]

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.http.request(method, path, headers=self.headers, **kw)

    def race(self, calls: list[tuple[str, str, dict[str, Any]]]) -> list[httpx.Response]:
        """All calls at once (a barrier releases them together)."""
        gate = threading.Barrier(len(calls))

        def go(c):
            gate.wait()
            return self.call(c[0], c[1], **c[2])

        with ThreadPoolExecutor(len(calls)) as pool:
            return list(pool.map(go, calls))

    def crm_accounts(self, name: str) -> list[dict[str, Any]]:
        r = self.call("GET", "/crm/v8/Accounts/search", params={"criteria": f"(Account_Name:equals:{name})"})
        return r.json()["data"] if r.status_code == 200 else []


def _entry(r: httpx.Response) -> tuple[int, dict[str, Any]]:
    return r.status_code, r.json()["data"][0]


def test_concurrent_writes_of_one_unique_value_store_it_once(served):
    api = Api(served.url)

    # -- CRM: 50 single creates of one Account_Name --------------------------------------------------
    answers = api.race([("POST", "/crm/v8/Accounts", {"json": {"data": [{"Account_Name": "Zylker Race"}]}})] * RACERS)
    assert Counter(r.status_code for r in answers) == {201: 1, 400: RACERS - 1}, [r.text for r in answers]
    [stored] = api.crm_accounts("Zylker Race")
    sequential = _entry(api.call("POST", "/crm/v8/Accounts", json={"data": [{"Account_Name": "zylker race"}]}))
    assert sequential[1]["details"]["duplicate_record"]["id"] == stored["id"]
    for r in answers:  # the losers' answer is the sequential one: status, code, details
        if r.status_code != 201:
            assert _entry(r) == sequential

    # -- CRM: batch creates, the same five names in different orders --------------------------------
    names = [f"Batch Co {i}" for i in range(5)]
    batches = [names[k:] + names[:k] for k in range(5)] * 2
    answers = api.race([("POST", "/crm/v8/Accounts", {"json": {"data": [{"Account_Name": n} for n in b]}})
                        for b in batches])
    assert all(r.status_code in (201, 207, 400) for r in answers), [r.text for r in answers]
    won = Counter(e["status"] for r in answers for e in r.json()["data"])
    assert won == {"success": 5, "error": 5 * len(batches) - 5}
    for n in names:
        assert len(api.crm_accounts(n)) == 1, n

    # -- CRM: upserts of one name: one inserts, the others update it ---------------------------------
    answers = api.race([("POST", "/crm/v8/Accounts/upsert", {"json": {"data": [{"Account_Name": "Upsert Co",
                                                                                 "Employees": n}]}})
                        for n in range(20)])
    assert all(r.status_code in (200, 201) for r in answers), [r.text for r in answers]
    actions = Counter(_entry(r)[1]["action"] for r in answers)
    assert actions == {"insert": 1, "update": 19}, actions
    assert len(api.crm_accounts("Upsert Co")) == 1

    # -- CRM: updates renaming 20 accounts to one name at once ---------------------------------------
    made = api.call("POST", "/crm/v8/Accounts", json={"data": [{"Account_Name": f"Old {i}"} for i in range(20)]})
    ids = [e["details"]["id"] for e in made.json()["data"]]
    answers = api.race([("PUT", f"/crm/v8/Accounts/{i}", {"json": {"data": [{"Account_Name": "Renamed Once"}]}})
                        for i in ids])
    assert Counter(r.status_code for r in answers) == {200: 1, 400: 19}, [r.text for r in answers]
    assert len(api.crm_accounts("Renamed Once")) == 1
    assert all(_entry(r)[1]["code"] == "DUPLICATE_DATA" for r in answers if r.status_code == 400)
    # the winner's old name is free again; a deleted account frees its name too
    winner = next(i for i, r in zip(ids, answers, strict=True) if r.status_code == 200)
    old_name = f"Old {ids.index(winner)}"
    assert api.call("POST", "/crm/v8/Accounts", json={"data": [{"Account_Name": old_name}]}).status_code == 201
    assert api.call("DELETE", f"/crm/v8/Accounts/{winner}").status_code == 200
    assert api.call("POST", "/crm/v8/Accounts", json={"data": [{"Account_Name": "Renamed Once"}]}).status_code == 201

    # -- Books: contact names (3062) ----------------------------------------------------------------
    answers = api.race([("POST", "/books/v3/contacts", {"params": {"organization_id": api.books_org},
                                                        "json": {"contact_name": "Bowman Race"}})] * RACERS)
    assert Counter(r.status_code for r in answers) == {201: 1, 400: RACERS - 1}, [r.text for r in answers]
    assert {r.json()["code"] for r in answers if r.status_code == 400} == {3062}
    listed = api.call("GET", "/books/v3/contacts", params={"organization_id": api.books_org,
                                                           "contact_name": "Bowman Race"}).json()["contacts"]
    assert len([c for c in listed if c["contact_name"] == "Bowman Race"]) == 1

    # renames of 20 contacts to one name at once
    org = {"organization_id": api.books_org}
    ids = [api.call("POST", "/books/v3/contacts", params=org, json={"contact_name": f"Was {i}"}).json()["contact"]
           ["contact_id"] for i in range(20)]
    answers = api.race([("PUT", f"/books/v3/contacts/{i}", {"params": org, "json": {"contact_name": "Bowman Renamed"}})
                        for i in ids])
    assert Counter(r.status_code for r in answers) == {200: 1, 400: 19}, [r.text for r in answers]
    items = [api.call("POST", "/books/v3/items", params=org, json={"name": f"Part {i}", "rate": 1}).json()["item"]
             ["item_id"] for i in range(20)]
    answers = api.race([("PUT", f"/books/v3/items/{i}", {"params": org, "json": {"name": "Part Renamed"}})
                        for i in items])
    assert Counter(r.status_code for r in answers) == {200: 1, 400: 19}, [r.text for r in answers]
    # item names and SKUs (1000)
    answers = api.race([("POST", "/books/v3/items", {"params": org, "json": {"name": f"Bolt {i}", "rate": 1,
                                                                              "sku": "SKU-RACE"}})
                        for i in range(10)] + [("POST", "/books/v3/items", {"params": org,
                                                                             "json": {"name": "Nut", "rate": 1}})] * 10)
    assert Counter(r.status_code for r in answers) == {201: 2, 400: 18}, [r.text for r in answers]

    # currencies (a duplicate code)
    answers = api.race([("POST", "/books/v3/settings/currencies",
                         {"params": org, "json": {"currency_code": "CHF", "currency_symbol": "CHF"}})] * 20)
    assert Counter(r.status_code for r in answers)[201] == 1, [r.text for r in answers]

    # -- FSM: org currencies (iso_code) --------------------------------------------------------------
    answers = api.race([("POST", "/fsm/v1/_internal/currencies",
                         {"json": {"currencies": [{"iso_code": "CHF", "exchange_rate": "0.9"}]}})] * 20)
    assert Counter(r.status_code for r in answers)[201] == 1, [r.text for r in answers]
    codes = [c["iso_code"] for c in api.call("GET", "/fsm/v1/_internal/currencies").json()["currencies"]]
    assert codes.count("CHF") == 1
