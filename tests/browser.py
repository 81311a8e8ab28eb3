"""Headless Chromium for the tests that check pages people read (Debian's ``chromium`` package:
``apt-get install -y chromium``). Tests that need it are skipped with that reason when it is absent."""

from __future__ import annotations

import shutil
import subprocess
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


def rendered_dom(url: str, budget_ms: int = 20_000) -> str:
    """The page's DOM after its scripts ran: the virtual-time budget lets the page's timers and
    fetches (Swagger UI loading its document) finish before the DOM is printed."""
    r = subprocess.run([chromium_or_skip(), *FLAGS, f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
                       check=True, capture_output=True, text=True, timeout=120)
    return r.stdout
