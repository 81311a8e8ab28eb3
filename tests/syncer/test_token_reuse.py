"""``python -m syncer.run_once`` reuses a valid access token across processes (issue 9, item 6).

Accounts grants 10 access tokens per refresh token per 10 minutes; a crash-looping run_once that
minted one per start ran into that limit. The token now lives in the syncer's store while it is
valid: 15 starts in a row mint one token, and a stored token that was revoked or has expired is
replaced without the run noticing. Tokens are counted in the fakes' journal.
"""

from __future__ import annotations

import subprocess
import sys

import httpx
import pytest
from sqlmodel import select

from syncer.clients import AccountsClient, LabClock
from syncer.run_once import main as run_once
from syncer.store.models import StoredAccessToken
from syncer.store.repo import Repo


def _grants(lab, after: int) -> int:
    return sum(1 for e in lab.control.journal(limit=5000)
               if e.get("id", 0) > after and e.get("path") == "/oauth/v2/token" and e.get("status") == 200)


def _last_id(lab) -> int:
    return max((e.get("id", 0) for e in lab.control.journal(limit=1)), default=0)


@pytest.fixture
def setup(zlab_lab, tmp_path):
    t = zlab_lab.tenant(products=["fsm", "books"])
    db = f"sqlite:///{tmp_path / 'syncer.db'}"
    repo = Repo(db, clock=LabClock(zlab_lab.url))
    integ = repo.create_integration(fsm_org_id=t.org("fsm"), partner_org_id=t.org("books"), client_id=t.client_id,
                                    client_secret=t.client_secret, refresh_token=t.refresh_token,
                                    accounts_url=zlab_lab.url, api_domain=zlab_lab.url)
    repo.enable_integration(integ.id, duplicate_policy="clone")
    args = ["--integration", integ.id, "--db", db, "--fakes", zlab_lab.url, "--lease-seconds", "0.1"]
    return zlab_lab, repo, args


def _stored(repo: Repo) -> str:
    with repo.db.session() as s:
        [row] = s.exec(select(StoredAccessToken)).all()
        return row.access_token


def test_fifteen_starts_mint_one_token_and_a_revoked_or_expired_one_is_replaced(setup, capsys):
    lab, repo, args = setup
    start = _last_id(lab)
    for _ in range(14):  # each main() builds its clients afresh, as a new process does
        assert run_once(args) == 0
    # and a real process on top
    proc = subprocess.run([sys.executable, "-m", "syncer.run_once", *args], capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert _grants(lab, start) == 1
    token = _stored(repo)
    output = capsys.readouterr()
    assert token not in output.out + output.err + proc.stdout + proc.stderr  # never logged

    # revoked behind the syncer's back: the next start is refused once, mints a new one, succeeds
    assert httpx.post(f"{lab.url}/oauth/v2/token/revoke", params={"token": token}).status_code == 200
    assert run_once(args) == 0
    assert _grants(lab, start) == 2 and _stored(repo) != token
    token = _stored(repo)

    # expired on the lab clock: replaced before use
    lab.clock.advance(3600)
    assert run_once(args) == 0 and run_once(args) == 0
    assert _grants(lab, start) == 3 and _stored(repo) != token


def test_a_token_is_reused_only_by_its_own_connection(setup):
    lab, repo, _args = setup
    other = lab.tenant(products=["books"])
    mine = repo.get_integration(repo.list_integrations()[0].id)
    a = AccountsClient(lab.url, mine.client_id, mine.client_secret, mine.refresh_token, clock=repo.clock,
                       token_store=repo)
    b = AccountsClient(lab.url, other.client_id, other.client_secret, other.refresh_token, clock=repo.clock,
                       token_store=repo)
    assert a.access_token() != b.access_token()
    assert a.refresh_count == 1 and b.refresh_count == 1
    assert "access_token" not in repr(a.token)
