"""Headless Chromium for the tests that check pages people read (Debian's ``chromium`` package:
``apt-get install -y chromium``). Tests that need it are skipped with that reason when it is absent."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]


def chromium_or_skip() -> str:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return chromium


def screenshot(url: str, png: Path, size: str = "820,1400") -> bytes:
    subprocess.run([chromium_or_skip(), *FLAGS, f"--screenshot={png}", f"--window-size={size}", url],
                   check=True, capture_output=True, timeout=120)
    return png.read_bytes()


class Page:
    """One tab of a headless Chromium driven over the DevTools protocol on a pipe
    (``--remote-debugging-pipe``: JSON messages ended by NUL on fds 3 and 4), so a test can type
    into a page and click it without a driver package:

        with browser_page() as page:
            page.goto(url)
            page.type("#filter", "TW-05")
            assert page.evaluate("document.querySelectorAll('tr[hidden]').length") == 3
    """

    def __init__(self) -> None:
        exe = chromium_or_skip()
        child_in, self._to_browser = os.pipe()
        self._from_browser, child_out = os.pipe()
        # bash puts the pipe ends on fds 3 and 4, where Chromium expects them
        self._proc = subprocess.Popen(
            ["bash", "-c", f'exec "$0" "$@" 3<&{child_in} 4>&{child_out} {child_in}<&- {child_out}>&-', exe,
             *FLAGS, "--remote-debugging-pipe", "about:blank"],
            pass_fds=(child_in, child_out), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(child_in)
        os.close(child_out)
        self._buffer = b""
        self._ids = 0
        self._events: list[dict] = []
        self._session: str | None = None
        target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self._send("Page.enable")
        self._send("Runtime.enable")

    # -- the protocol -------------------------------------------------------------------------------
    def _send(self, method: str, params: dict | None = None, timeout: float = 30.0) -> dict:
        self._ids += 1
        message = {"id": self._ids, "method": method, "params": params or {}}
        if self._session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self._session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._next(deadline)
            if answer.get("id") == self._ids:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self._events.append(answer)

    def _next(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def _wait_event(self, method: str, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self._events):
                if event.get("method") == method:
                    return self._events.pop(i)
            self._events.append(self._next(deadline))

    # -- what tests use ------------------------------------------------------------------------------
    def goto(self, url: str) -> None:
        self._events.clear()
        answer = self._send("Page.navigate", {"url": url})
        if answer.get("errorText"):
            raise RuntimeError(f"{url}: {answer['errorText']}")
        self._wait_event("Page.loadEventFired")

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (a promise is awaited)."""
        answer = self._send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                 "awaitPromise": True})
        if "exceptionDetails" in answer:
            raise RuntimeError(f"{expression}: {answer['exceptionDetails'].get('exception', answer['exceptionDetails'])}")
        return answer["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0):
        """Polls until the expression is truthy (a page that renders after fetching, like Swagger UI)."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"still false after {timeout} s: {expression}")
            time.sleep(0.1)

    def type(self, selector: str, text: str) -> None:
        """Focus the element and type: the page gets the same input events as from a keyboard."""
        self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        self._send("Input.insertText", {"text": text})

    def clear(self, selector: str) -> None:
        """Empty a text field the way a person does: select all, then delete."""
        self.evaluate(f"document.querySelector({json.dumps(selector)}).select()")
        for kind in ("keyDown", "keyUp"):
            self._send("Input.dispatchKeyEvent", {"type": kind, "key": "Backspace", "code": "Backspace",
                                                  "windowsVirtualKeyCode": 8})

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element."""
        box = self.evaluate(f"(() => {{ const el = document.querySelector({json.dumps(selector)}); "
                            "el.scrollIntoView({block: 'center'}); const r = el.getBoundingClientRect(); "
                            "return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        for kind in ("mousePressed", "mouseReleased"):
            self._send("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1], "button": "left",
                                                    "clickCount": 1})

    def close(self) -> None:
        try:
            self._send("Browser.close", timeout=5)
        except (OSError, RuntimeError, TimeoutError):
            pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)


@contextmanager
def browser_page() -> Iterator[Page]:
    page = Page()
    try:
        yield page
    finally:
        page.close()
