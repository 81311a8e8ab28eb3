"""The fake CRM over real HTTP: a client that speaks to it the way Zoho's official SDKs do
(token, current user, org, field metadata, then records), and watch notifications delivered
to a real local HTTP receiver within a second of an edit."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from werkzeug.serving import make_server

from fakes import create_app


@contextmanager
def serve(db_url: str) -> Iterator[str]:
    """The fakes served on 127.0.0.1:<free port> in a thread; yields the base URL."""
    app = create_app(db_url)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
        app.extensions["zlab"].db.dispose()


@pytest.fixture
def live(sqlite_url):
    with serve(sqlite_url) as base:
        yield base


class Receiver:
    """A notify_url: records every POST with its arrival time."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, dict]] = []
        self.arrived = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.calls.append((time.monotonic(), json.loads(body or b"null")))
                outer.arrived.set()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/zoho/notify?source=crm"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, n: int, timeout: float = 2.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.calls) < n and time.monotonic() < deadline:
            time.sleep(0.01)
        return [c for _, c in self.calls]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _tenant(base: str) -> dict:
    t = httpx.post(f"{base}/_lab/tenants", json={}).json()
    return t


def test_sdk_call_sequence_works_with_only_the_base_url_changed(live):
    """The order Zoho's SDKs use: token → users?type=CurrentUser → org → settings/fields → records."""
    t = _tenant(live)
    tok = httpx.post(f"{live}/oauth/v2/token", data={
        "grant_type": "refresh_token", "client_id": t["client_id"], "client_secret": t["client_secret"],
        "refresh_token": t["refresh_token"]}).json()
    api = tok["api_domain"]  # the SDK sends everything to the answered api_domain
    assert api == live
    h = {"Authorization": f"Zoho-oauthtoken {tok['access_token']}"}
    with httpx.Client(base_url=f"{api}/crm/v8", headers=h, timeout=10) as c:
        me = c.get("/users", params={"type": "CurrentUser"})
        assert me.status_code == 200 and me.json()["users"][0]["email"] == t["email"]
        assert c.get("/org").json()["org"][0]["zgid"] == t["orgs"]["crm"]
        fields = {f["api_name"]: f for f in c.get("/settings/fields", params={"module": "Contacts"}).json()["fields"]}
        assert fields["Last_Name"]["system_mandatory"]
        salutation = fields["Salutation"]["pick_list_values"][1]["actual_value"]
        r = c.post("/Contacts", json={"data": [{"Salutation": salutation, "First_Name": "Ann", "Last_Name": "Lee",
                                                "Email": "ann@zylker.com"}], "trigger": ["workflow"]})
        assert r.status_code == 201
        cid = r.json()["data"][0]["details"]["id"]
        got = c.get(f"/Contacts/{cid}").json()["data"][0]
        assert got["Salutation"] == salutation and got["Full_Name"] == "Ann Lee"
        r = c.put(f"/Contacts/{cid}", json={"data": [{"Phone": "555-0101"}]})
        assert r.status_code == 200 and r.json()["data"][0]["code"] == "SUCCESS"
        found = c.get("/Contacts/search", params={"email": "ann@zylker.com"}).json()["data"]
        assert [x["id"] for x in found] == [cid] and found[0]["Phone"] == "555-0101"
        r = c.delete("/Contacts", params={"ids": cid})
        assert r.status_code == 200 and r.json()["data"][0]["message"] == "record deleted"
        assert c.get(f"/Contacts/{cid}").status_code == 204
        assert c.get("/Contacts/deleted").json()["data"][0]["id"] == cid


def test_watch_callback_arrives_within_a_second_of_an_edit(live, receiver):
    t = _tenant(live)
    tok = httpx.post(f"{live}/oauth/v2/token", data={
        "grant_type": "refresh_token", "client_id": t["client_id"], "client_secret": t["client_secret"],
        "refresh_token": t["refresh_token"]}).json()
    h = {"Authorization": f"Zoho-oauthtoken {tok['access_token']}"}
    with httpx.Client(base_url=f"{live}/crm/v8", headers=h, timeout=10) as c:
        r = c.post("/Contacts", json={"data": [{"Last_Name": "Before"}]})
        cid = r.json()["data"][0]["details"]["id"]
        r = c.post("/actions/watch", json={"watch": [{
            "channel_id": "1000000068001", "events": ["Contacts.edit", "Contacts.create", "Contacts.delete"],
            "notify_url": receiver.url, "token": "TOKEN_FOR_VERIFICATION", "return_affected_field_values": True}]})
        assert r.status_code == 201, r.text
        assert not receiver.calls  # nothing before a change
        edited = time.monotonic()
        assert c.put(f"/Contacts/{cid}", json={"data": [{"Last_Name": "After", "Email": "a@b.com"}]}).status_code == 200
        assert receiver.arrived.wait(1.0), "no callback within a second of the edit"
        arrival, payload = receiver.calls[0]
        assert arrival - edited < 1.0
        assert payload["operation"] == "update" and payload["ids"] == [cid] and payload["module"] == "Contacts"
        assert payload["channel_id"] == "1000000068001" and payload["token"] == "TOKEN_FOR_VERIFICATION"
        assert payload["query_params"] == {"source": "crm"}
        assert payload["resource_uri"] == f"{live}/crm/v8/Contacts"
        assert isinstance(payload["server_time"], int)
        assert set(payload["affected_fields"][0][cid]) >= {"Last_Name", "Email", "Full_Name"}
        assert payload["affected_values"][0]["values"]["Email"] == "a@b.com"
        # a batch insert is one callback with every id; a delete another
        r = c.post("/Contacts", json={"data": [{"Last_Name": "N1"}, {"Last_Name": "N2"}]})
        new_ids = [e["details"]["id"] for e in r.json()["data"]]
        c.delete("/Contacts", params={"ids": new_ids[0]})
        calls = receiver.wait(3)
        assert [(x["operation"], x["ids"]) for x in calls[1:]] == [("insert", new_ids), ("delete", new_ids[:1])]
        # unwatched modules and other orgs stay silent; the log shows the deliveries
        c.post("/Accounts", json={"data": [{"Account_Name": "Quiet"}]})
        log = httpx.get(f"{live}/_lab/deliveries", params={"kind": "crm.watch", "org_id": t["orgs"]["crm"]}).json()
        assert len(log["deliveries"]) == 3 and all(d["status"] == 200 for d in log["deliveries"])


def test_watch_channels_expire_on_the_lab_clock(live, receiver):
    t = _tenant(live)
    tok = httpx.post(f"{live}/oauth/v2/token", data={
        "grant_type": "refresh_token", "client_id": t["client_id"], "client_secret": t["client_secret"],
        "refresh_token": t["refresh_token"]}).json()
    h = {"Authorization": f"Zoho-oauthtoken {tok['access_token']}"}
    with httpx.Client(base_url=f"{live}/crm/v8", headers=h, timeout=10) as c:
        r = c.post("/actions/watch", json={"watch": [{"channel_id": 7, "events": ["Contacts.all"],
                                                       "notify_url": receiver.url}]})
        expiry = r.json()["watch"][0]["details"]["events"][0]["channel_expiry"]
        assert expiry  # default: one hour
        assert len(c.get("/actions/watch").json()["watch"]) == 1
        httpx.post(f"{live}/_lab/clock/advance", json={"seconds": 3601})
        tok = httpx.post(f"{live}/oauth/v2/token", data={
            "grant_type": "refresh_token", "client_id": t["client_id"], "client_secret": t["client_secret"],
            "refresh_token": t["refresh_token"]}).json()
        c.headers["Authorization"] = f"Zoho-oauthtoken {tok['access_token']}"
        assert c.get("/actions/watch").status_code == 204
        c.post("/Contacts", json={"data": [{"Last_Name": "Unheard"}]})
        time.sleep(0.3)
        assert receiver.calls == []
