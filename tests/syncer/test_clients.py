"""syncer.clients against the embedded fakes (``zlab_lab``): tokens, retries, paging, batches.

Nothing sleeps for real: the RetryPolicy's ``sleep`` is a no-op and ``policy.sleeps`` records
every wait asked for.
"""

from __future__ import annotations

import httpx
import pytest

from syncer.clients import (
    AccountsClient,
    BooksClient,
    CrmClient,
    FsmClient,
    LabClock,
    RetryPolicy,
    ZohoApiError,
    ZohoAuthError,
    ZohoOutcomeUnknown,
    ZohoRateLimitError,
    ZohoServerError,
    ZohoTransportError,
)


class Conn:
    """One tenant's clients, with a recording sleeper and a log of every HTTP answer."""

    def __init__(self, lab, products=("books", "fsm", "crm"), *, attempts=4, timeout=10.0, **tenant_opts):
        self.lab = lab
        self.tenant = lab.tenant(products=list(products), **tenant_opts)
        self.policy = RetryPolicy(attempts=attempts, sleep=lambda _s: None)
        self.clock = LabClock(lab.url)
        self.auth = AccountsClient(lab.url, self.tenant.client_id, self.tenant.client_secret,
                                   self.tenant.refresh_token, clock=self.clock, retry=self.policy)
        self.responses: list[httpx.Response] = []
        self.kw = {"retry": self.policy, "timeout": timeout, "on_response": [self.responses.append]}

    def books(self, product="books"):
        return BooksClient(self.auth, self.tenant.org(product), product=product, **self.kw)

    def fsm(self):
        return FsmClient(self.auth, **self.kw)

    def crm(self):
        return CrmClient(self.auth, **self.kw)

    def statuses(self):
        return [r.status_code for r in self.responses]


@pytest.fixture
def conn(zlab_lab):
    return Conn(zlab_lab)


# -- tokens -------------------------------------------------------------------------------------------

def test_token_refreshes_before_expiry_on_the_lab_clock(zlab_lab, conn):
    zlab_lab.clock.freeze()
    books = conn.books()
    assert list(books.list_contacts()) == []
    assert conn.auth.refresh_count == 1
    zlab_lab.clock.advance(1800)
    list(books.list_contacts())
    assert conn.auth.refresh_count == 1  # still valid: no refresh
    zlab_lab.clock.advance(1801)  # 3601 s after the token was issued
    assert books.create_contact({"contact_name": "After expiry"})["contact_id"]
    assert conn.auth.refresh_count == 2  # refreshed before the call, not after a 401
    assert 401 not in conn.statuses()


def test_lab_clock_reads_lab_time_and_falls_back_for_real_zoho(zlab_lab):
    zlab_lab.clock.freeze("2030-01-02T03:04:05+00:00")
    clock = LabClock(zlab_lab.url)
    assert clock().isoformat().startswith("2030-01-02T03:04:05") and clock.is_lab
    not_lab = LabClock(zlab_lab.url + "/books/v3")  # answers 4xx, like zohoapis.com would
    assert not_lab().year != 2030 and not_lab.is_lab is False


def test_revoked_token_triggers_exactly_one_refresh(conn):
    fsm = conn.fsm()
    token = conn.auth.access_token()
    httpx.post(f"{conn.lab.url}/oauth/v2/token/revoke", params={"token": token})  # revoked elsewhere
    assert list(fsm.list_records("Contacts")) == []
    assert conn.auth.refresh_count == 2
    assert conn.statuses() == [401, 204]


def test_a_refused_fresh_token_is_not_retried_forever(zlab_lab, conn):
    books = conn.books()
    zlab_lab.faults.add(product="books", org=conn.tenant.org("books"), action={
        "type": "error", "status": 401, "body": {"code": 57, "message": "You are not authorized to perform this operation"}})
    with pytest.raises(ZohoAuthError) as err:
        books.get_organization()
    assert err.value.code == 57 and err.value.status == 401 and not err.value.is_record_level
    assert conn.auth.refresh_count == 2 and conn.statuses() == [401, 401]


def test_bad_refresh_token_is_an_auth_error(zlab_lab):
    t = zlab_lab.tenant(products=["books"])
    auth = AccountsClient(zlab_lab.url, t.client_id, t.client_secret, "1000.bad.token",
                          retry=RetryPolicy(sleep=lambda _s: None))
    with pytest.raises(ZohoAuthError) as err:
        auth.access_token()
    assert err.value.product == "accounts" and err.value.code


# -- retries --------------------------------------------------------------------------------------------

def test_429_with_retry_after_is_retried_after_that_wait(zlab_lab, conn):
    books = conn.books()
    zlab_lab.faults.add(product="books", org=conn.tenant.org("books"), nth=1,
                        action={"type": "rate_limit", "retry_after": 7})
    assert books.create_contact({"contact_name": "Patience"})["contact_name"] == "Patience"
    assert list(conn.policy.sleeps) == [7.0]
    assert conn.statuses() == [429, 201]


def test_crm_and_fsm_too_many_requests_are_retried(zlab_lab, conn):
    crm, fsm = conn.crm(), conn.fsm()
    zlab_lab.faults.add(product="crm", org=conn.tenant.org("crm"), nth=1, times=2,
                        action={"type": "rate_limit", "kind": "concurrency", "retry_after": 2})
    zlab_lab.faults.add(product="fsm", org=conn.tenant.org("fsm"), nth=1,
                        action={"type": "rate_limit", "kind": "concurrency", "retry_after": 3})
    assert list(crm.list_records("Contacts", ["Last_Name"])) == []
    assert list(fsm.list_records("Contacts")) == []
    assert list(conn.policy.sleeps) == [2.0, 2.0, 3.0]


def test_daily_limit_is_not_waited_for(zlab_lab, conn):
    books = conn.books()
    zlab_lab.faults.add(product="books", org=conn.tenant.org("books"),
                        action={"type": "rate_limit", "kind": "rate_day", "retry_after": 36000})
    with pytest.raises(ZohoRateLimitError) as err:
        list(books.list_items())
    assert err.value.code == 45 and err.value.retry_after == 36000 and err.value.is_rate_limit
    assert list(conn.policy.sleeps) == [] and conn.statuses() == [429]


def test_500s_are_retried_then_succeed(zlab_lab, conn):
    fsm = conn.fsm()
    zlab_lab.faults.add(product="fsm", org=conn.tenant.org("fsm"), nth=1, times=2,
                        action={"type": "error", "status": 500})
    res = fsm.create_records("Contacts", [{"Last_Name": "Retry", "Email": "retry@example.com"}])
    assert res[0].ok and res[0].id
    assert conn.statuses() == [500, 500, 201]
    assert list(conn.policy.sleeps) == [0.5, 1.0]  # exponential backoff


def test_persistent_500s_give_up_with_a_typed_error(zlab_lab, conn):
    books = conn.books()
    zlab_lab.faults.add(product="books", org=conn.tenant.org("books"), action={"type": "error", "status": 503})
    with pytest.raises(ZohoServerError) as err:
        books.get_organization()
    e = err.value
    assert (e.product, e.status, e.is_server, e.is_record_level) == ("books", 503, True, False)
    assert conn.statuses() == [503] * 4 and len(conn.policy.sleeps) == 3


def test_timeouts_are_retried(zlab_lab):
    conn = Conn(zlab_lab, ("books",), timeout=0.3)
    books = conn.books()
    books.get_organization()  # token and first call outside the fault
    item = books.create_item({"name": "Slow widget", "rate": 5})
    zlab_lab.faults.add(product="books", org=conn.tenant.org("books"), nth=1,
                        action={"type": "delay", "seconds": 1})
    assert books.update_item(item["item_id"], {"rate": 6})["rate"] == 6  # an update by id is sent again
    assert len(conn.policy.sleeps) == 1 and books.calls == 3  # the timed-out call had no answer


def test_a_create_without_an_answer_is_not_sent_again(zlab_lab):
    """It may have been applied (and may still be): the caller resolves it (issue 9)."""
    conn = Conn(zlab_lab, ("books", "fsm"), timeout=0.3)
    books, fsm = conn.books(), conn.fsm()
    books.get_organization()
    zlab_lab.faults.add(product="books", org=conn.tenant.org("books"), method="POST", nth=1,
                        action={"type": "delay", "seconds": 1})
    with pytest.raises(ZohoOutcomeUnknown) as err:
        books.create_item({"name": "Slow widget", "rate": 5})
    assert err.value.code == "TIMEOUT" and books.calls == 1 and len(conn.policy.sleeps) == 0
    zlab_lab.faults.add(product="fsm", org=conn.tenant.org("fsm"), method="POST", nth=1, action={"type": "drop"})
    with pytest.raises(ZohoOutcomeUnknown) as err:
        fsm.create_records("Service_And_Parts", [{"Name": "Dropped", "Type": "Service", "Unit_Price": 1}])
    assert err.value.code == "CONNECTION" and len(conn.policy.sleeps) == 0
    zlab_lab.wait_until(lambda: len(list(books.list_items(name="Slow widget"))) == 1, timeout=5)


def test_persistent_timeouts_give_up_with_a_transport_error(zlab_lab):
    conn = Conn(zlab_lab, ("crm",), timeout=0.3, attempts=2)
    crm = conn.crm()
    crm.auth.access_token()
    zlab_lab.faults.add(product="crm", org=conn.tenant.org("crm"), action={"type": "delay", "seconds": 1})
    with pytest.raises(ZohoTransportError) as err:
        crm.org()
    assert err.value.code == "TIMEOUT" and err.value.status is None and not err.value.is_record_level


def test_dropped_connection_is_retried(zlab_lab, conn):
    fsm = conn.fsm()
    zlab_lab.faults.add(product="fsm", org=conn.tenant.org("fsm"), nth=1, action={"type": "drop"})
    assert fsm.internal_settings()["org_id"] == conn.tenant.org("fsm")
    assert len(conn.policy.sleeps) == 1


# -- paging -----------------------------------------------------------------------------------------

def test_books_contacts_stream_page_by_page(zlab_lab, conn):
    books = conn.books()
    zlab_lab.control.seed(conn.tenant.org("books"), {"contacts": 450})
    books.auth.access_token()
    stream = books.list_contacts()
    first = next(stream)
    assert first["contact_id"] and books.calls == 1  # only the first page fetched so far
    ids = [first["contact_id"], *(c["contact_id"] for c in stream)]
    assert len(ids) == 450 == len(set(ids))
    pages = [r.request.url.params["page"] for r in conn.responses]
    assert pages == ["1", "2", "3"]


def test_books_pages_and_filters(zlab_lab, conn):
    books = conn.books()
    zlab_lab.control.seed(conn.tenant.org("books"), {"contacts": 30})
    pages = list(books.iter_pages("/contacts", "contacts", per_page=10))
    assert [len(p) for p in pages] == [10, 10, 10]
    zlab_lab.clock.freeze()
    zlab_lab.clock.advance(120)
    later = books.create_contact({"contact_name": "Changed later"})
    since = later["last_modified_time"]
    assert [c["contact_name"] for c in books.list_contacts(modified_since=since)] == ["Changed later"]


def test_crm_contacts_stream_beyond_2000_records(zlab_lab):
    conn = Conn(zlab_lab, ("crm",))
    crm = conn.crm()
    zlab_lab.control.seed(conn.tenant.org("crm"), {"contacts": 2100})
    ids = [r["id"] for r in crm.list_records("Contacts", ["Last_Name", "Email"])]
    assert len(ids) == 2100 == len(set(ids))
    assert len(conn.responses) == 11  # 200 a page
    assert any("page_token" in r.request.url.params for r in conn.responses)


def test_empty_lists_are_204(conn):
    fsm, crm = conn.fsm(), conn.crm()
    assert list(fsm.list_records("Companies")) == []
    assert list(crm.search("Contacts", email="nobody@example.com")) == []
    assert fsm.get_record("Contacts", "1234567890123456789") is None
    assert conn.statuses() == [204, 204, 204]


# -- batches and record-level errors ------------------------------------------------------------------------

def test_fsm_batch_create_of_150_makes_two_calls(conn):
    fsm = conn.fsm()
    fsm.auth.access_token()
    records = [{"Last_Name": f"Batch {i}", "Email": f"b{i}@example.com"} for i in range(150)]
    results = fsm.create_records("Contacts", records)
    assert fsm.calls == 2 and [r.index for r in results] == list(range(150))
    assert all(r.ok and r.id for r in results)
    listed = {r["id"] for r in fsm.list_records("Contacts", per_page=100)}
    assert listed == {r.id for r in results}


def test_fsm_partial_batch_gives_per_record_results(conn):
    fsm = conn.fsm()
    results = fsm.create_records("Contacts", [
        {"Last_Name": "Good", "Email": "good@example.com"},
        {"Email": "nolastname@example.com"},
        {"Last_Name": "Also good", "Email": "also@example.com"},
    ])
    assert [r.ok for r in results] == [True, False, True]
    bad = results[1]
    assert bad.status == 207 and bad.code == "MANDATORY_NOT_FOUND" and bad.details.get("api_name") == "Last_Name"
    assert bad.error("fsm").is_record_level
    all_bad = fsm.create_records("Contacts", [{"Email": "x@example.com"}])
    assert all_bad[0].status == 400 and not all_bad[0].ok


def test_crm_partial_batch_and_upsert(conn):
    crm = conn.crm()
    res = crm.create_records("Contacts", [{"Last_Name": "Ok", "Email": "ok@example.com"}, {"First_Name": "No last"}])
    assert [r.ok for r in res] == [True, False] and res[1].code == "MANDATORY_NOT_FOUND" and res[0].status == 207
    up = crm.upsert_records("Contacts", [{"Last_Name": "Ok2", "Email": "ok@example.com"},
                                         {"Last_Name": "New", "Email": "new@example.com"}])
    assert [(r.ok, r.action) for r in up] == [(True, "update"), (True, "insert")]
    assert up[0].id == res[0].id


def test_books_duplicate_name_is_a_record_level_error(conn):
    books = conn.books()
    books.create_contact({"contact_name": "Bowman and Co"})
    with pytest.raises(ZohoApiError) as err:
        books.create_contact({"contact_name": "Bowman and Co"})
    e = err.value
    assert (e.product, e.status, e.code) == ("books", 400, 3062) and "already exists" in e.message
    assert e.is_record_level and not e.is_rate_limit and type(e) is ZohoApiError
    with pytest.raises(ZohoApiError) as missing:
        books.get_contact("460000000099999")
    assert missing.value.code == 1002 and missing.value.is_record_level

