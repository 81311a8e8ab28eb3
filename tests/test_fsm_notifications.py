"""FSM change notifications delivered to a real HTTP server (a thread on 127.0.0.1:0): subscribe
on the internal surface, write through the API, receive CRM-shaped callbacks within a second."""

from __future__ import annotations

import json
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.fsm_helpers import module_app, new_fsm


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fsm_app(request, tmp_path_factory):
    yield from module_app(request, tmp_path_factory)


@pytest.fixture
def client(fsm_app):
    c = fsm_app.test_client()
    yield c
    c.post("/_lab/clock/reset")


@pytest.fixture(scope="module")
def receiver():
    """A local HTTP server that queues every POST it gets: (path, JSON body, arrival time)."""
    got: queue.Queue = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length") or 0)
            got.put((self.path, json.loads(self.rfile.read(length) or b"null"), time.monotonic()))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, got
    server.shutdown()
    server.server_close()


def url_of(receiver, path: str) -> str:
    server, _ = receiver
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def next_call(receiver, path: str, timeout: float = 1.0):
    """The next callback to ``path`` within ``timeout`` seconds (others, from other tests, skipped)."""
    _, got = receiver
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        try:
            p, body, at = got.get(timeout=left)
        except queue.Empty:
            return None
        if p.split("?")[0] == path:
            return body, at


def test_callbacks_arrive_within_a_second_in_crm_shape(client, receiver):
    fsm = new_fsm(client)
    path = "/hook/shape"
    r = fsm.post("/_internal/notifications", {"watch": [{
        "channel_id": "1000000068001", "events": ["Contacts.all", "Companies.create"], "token": "secret-1",
        "notify_url": url_of(receiver, path) + "?tenant=acme&key=val", "return_affected_field_values": True}]})
    assert r.status_code == 201
    sub = r.get_json()["watch"][0]
    assert sub["status"] == "success" and {e["resource_name"] for e in sub["details"]["events"]} == {"Contacts", "Companies"}

    started = time.monotonic()
    cid = fsm.contact("Robins", "lucy@zylker.com")
    body, at = next_call(receiver, path)
    assert at - started < 1.0
    assert set(body) == {"server_time", "query_params", "module", "resource_uri", "ids", "operation", "channel_id",
                         "token"}
    assert body["module"] == "Contacts" and body["ids"] == [cid] and body["operation"] == "insert"
    assert body["channel_id"] == "1000000068001" and body["token"] == "secret-1"
    assert body["query_params"] == {"tenant": "acme", "key": "val"} and body["resource_uri"].endswith("/fsm/v1/Contacts")
    assert isinstance(body["server_time"], int)

    fsm.put(f"/Contacts/{cid}", {"data": [{"Phone": "555", "First_Name": "Lucy"}]})
    body, _ = next_call(receiver, path)
    assert body["operation"] == "update"
    assert body["affected_fields"] == [{cid: ["First_Name", "Full_Name", "Phone"]}]
    assert body["affected_values"] == [{"record_id": cid, "values": {"First_Name": "Lucy", "Full_Name": "Lucy Robins",
                                                                      "Phone": "555"}}]
    # a sync write (no workflow triggers) is still a change the syncer is told about
    fsm.put(f"/Contacts/{cid}", {"data": [{"Email": "l@z.com"}], "trigger": []})
    assert next_call(receiver, path)[0]["affected_fields"] == [{cid: ["Email"]}]

    two = fsm.create("Contacts", {"Last_Name": "A", "Email": "a@x.com"}, {"Last_Name": "B", "Email": "b@x.com"})
    body, _ = next_call(receiver, path)
    assert body["ids"] == two  # one callback per request and operation

    comp = fsm.company("Zylker")
    assert next_call(receiver, path)[0]["ids"] == [comp]
    fsm.put(f"/Companies/{comp}", {"data": [{"Phone": "1"}]})  # Companies.edit is not watched
    assert next_call(receiver, path, timeout=0.5) is None

    fsm.delete(f"/Contacts/{cid}")
    body, _ = next_call(receiver, path)
    assert body["operation"] == "delete" and body["ids"] == [cid] and "affected_fields" not in body
    for _ in range(50):  # the receiver queued the body before it answered: wait for the last answer
        deliveries = client.get("/_lab/deliveries", query_string={"org_id": fsm.org, "kind": "fsm.notification"})
        if all(d["status"] == 200 for d in deliveries.get_json()["deliveries"]):
            break
        time.sleep(0.02)
    logged = deliveries.get_json()["deliveries"]
    assert len(logged) == 6 and all(d["status"] == 200 and d["url"].startswith(url_of(receiver, path)) for d in logged)


def test_subscriptions_list_replace_unsubscribe_expire_and_hide_pii(client, receiver):
    fsm = new_fsm(client)
    path = "/hook/life"
    watch = {"channel_id": "77", "events": ["Service_And_Parts.all"], "notify_url": url_of(receiver, path)}
    assert fsm.get("/_internal/notifications").status_code == 204
    assert fsm.post("/_internal/notifications", {"watch": [watch]}).status_code == 201
    assert fsm.post("/_internal/notifications", {"watch": [{**watch, "events": ["Contacts.edit"],
                                                            "return_affected_field_values": True}]}).status_code == 201
    listed = fsm.get("/_internal/notifications").get_json()["watch"]
    assert len(listed) == 1 and listed[0]["events"] == ["Contacts.edit"]  # same channel id: replaced
    fsm.service("Cleaning")
    assert next_call(receiver, path, timeout=0.5) is None

    cid = fsm.contact("Robins", "lucy@zylker.com")
    client.put(f"/_lab/fsm/orgs/{fsm.org}/pii-access", json={"enabled": False})
    fsm.put(f"/Contacts/{cid}", {"data": [{"Email": "new@zylker.com", "Mobile": "9"}]})
    body, _ = next_call(receiver, path)
    assert body["affected_values"] == [{"record_id": cid, "values": {"Mobile": "9"}}]

    r = fsm.post("/_internal/notifications", {"watch": [{**watch, "events": ["Work_Orders.all"]}]})
    assert r.status_code == 400 and r.get_json()["watch"][0]["details"]["api_name"] == "events"
    r = fsm.delete("/_internal/notifications", params={"channel_ids": "77,88"})
    assert [e["status"] for e in r.get_json()["watch"]] == ["success", "error"]
    fsm.put(f"/Contacts/{cid}", {"data": [{"Mobile": "10"}]})
    assert next_call(receiver, path, timeout=0.5) is None

    # channels expire (default one hour on the lab clock)
    fsm.post("/_internal/notifications", {"watch": [{**watch, "channel_id": "78", "events": ["Contacts.all"]}]})
    client.post("/_lab/clock/advance", json={"seconds": 3601})
    fsm.refresh()
    fsm.put(f"/Contacts/{cid}", {"data": [{"Mobile": "11"}]})
    assert next_call(receiver, path, timeout=0.5) is None
