"""``zlab snapshot take|restore|list|drop`` against a running (guarded) server: a progress bar fed
by the server's NDJSON stream, and how long it took."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import httpx

from tests.test_cli import start_serve, stop

TOKEN = "snapshot-cli-token"


def zlab(*args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("ZLAB_LAB_TOKEN", "ZLAB_URL")}
    if token:
        env["ZLAB_LAB_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "zlab", *args], capture_output=True, text=True, timeout=300,
                          env=env, stdin=subprocess.DEVNULL)


def test_snapshot_commands_on_a_guarded_server(tmp_path, monkeypatch):
    monkeypatch.setenv("ZLAB_LAB_TOKEN", TOKEN)
    served = start_serve(tmp_path)
    headers = {"X-Zlab-Lab-Token": TOKEN}
    try:
        url = served.url
        tenant = httpx.post(f"{url}/_lab/tenants", json={}, headers=headers).json()
        httpx.post(f"{url}/_lab/seed", headers=headers, timeout=60, json={
            "org_id": tenant["orgs"]["books"], "modules": {"contacts": 300}, "seed": 1})
        taken = zlab("snapshot", "take", "before", "--url", url)
        assert taken.returncode == 0, taken.stderr
        m = re.search(r"Snapshot 'before': (\d+) rows in [\d.]+ s\.", taken.stdout)
        assert m and int(m.group(1)) > 300, taken.stdout
        assert "before" in zlab("snapshot", "list", "--url", url).stdout
        httpx.post(f"{url}/_lab/reset", headers=headers)
        restored = zlab("snapshot", "restore", "before", "--url", url)
        assert restored.returncode == 0 and f"Restored 'before': {m.group(1)} rows" in restored.stdout, restored
        emails = [t["email"] for t in httpx.get(f"{url}/_lab/tenants", headers=headers).json()["tenants"]]
        assert emails == [tenant["email"]]
        missing = zlab("snapshot", "restore", "nope", "--url", url)
        assert missing.returncode == 1 and "no snapshot nope" in missing.stderr
        listed = zlab("tenants", "list", "--url", url)  # the other commands send the token too
        assert listed.returncode == 0 and tenant["email"] in listed.stdout, listed.stderr
        assert zlab("tenants", "list", "--url", url, token=None).returncode == 1
        refused = zlab("snapshot", "take", "x", "--url", url, token=None)
        assert refused.returncode == 1 and "401" in refused.stderr and "Traceback" not in refused.stderr
        dropped = zlab("snapshot", "drop", "before", "--url", url)
        assert dropped.returncode == 0 and "No snapshots." in zlab("snapshot", "list", "--url", url).stdout
    finally:
        stop(served.proc)


def test_snapshot_against_nothing_is_one_line():
    r = zlab("snapshot", "take", "x", "--url", "http://127.0.0.1:9")
    assert r.returncode == 1 and "cannot reach the fakes" in r.stderr and len(r.stderr.strip().splitlines()) == 1
