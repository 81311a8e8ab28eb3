"""A local HTTP receiver for the fakes' outgoing calls (CRM/FSM notifications, workflow
webhooks): scenarios subscribe its URL and wait for what arrives."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Webhook:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw or b"null")
                except ValueError:
                    body = {"_raw": raw.decode("utf-8", "replace")}
                with hook._lock:
                    hook.received.append({"path": self.path, "body": body, "at": time.monotonic()})
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self._server.server_port}/hook"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="zlab-webhook")

    def start(self) -> Webhook:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def bodies(self) -> list[Any]:
        with self._lock:
            return [r["body"] for r in self.received]

    def wait_for(self, predicate=lambda bodies: bool(bodies), timeout: float = 2.0) -> list[Any]:
        """Wait until ``predicate(bodies)`` holds; answers the bodies (the caller checks them)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            bodies = self.bodies()
            if predicate(bodies):
                return bodies
            time.sleep(0.02)
        return self.bodies()
