"""Run one sync of one integration and exit: ``python -m syncer.run_once --integration ID``.

For operators and for the crash-safety tests, which SIGKILL this process mid-run and check the
next run converges. Credentials come from the integration stored in the syncer's database.
"""

from __future__ import annotations

import argparse
import sys

from .books_sync import SyncEngine
from .clients import AccountsClient, BooksClient, FsmClient, LabClock, system_clock
from .mail import MailSender
from .store.repo import Repo
from .sync_core.engine import EngineRegistry
from .sync_core.outcomes import UNKNOWN_OUTCOME_WAIT


def clients_for(clock, token_store=None, *, timeout: float = 30.0):
    """Clients on the integration's credentials. With ``token_store`` (the Repo) the access token
    is kept there while valid, so each start reuses it rather than minting one (Accounts grants 10
    per 10 minutes: a crash-looping run_once would run out). ``timeout`` (seconds) per call: a
    create that gets no answer in it raises ZohoOutcomeUnknown and is resolved by the engine
    (docs/syncer-design.md)."""
    def build(integration):
        auth = AccountsClient(integration.accounts_url, integration.client_id, integration.client_secret,
                              integration.refresh_token, clock=clock, token_store=token_store)
        fsm = FsmClient(auth, api_domain=integration.api_domain or None, timeout=timeout)
        books = BooksClient(auth, integration.partner_org_id, product=integration.partner_product,
                            api_domain=integration.api_domain or None, timeout=timeout)
        return fsm, books

    return build


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m syncer.run_once", description=__doc__.splitlines()[0])
    p.add_argument("--integration", required=True, help="the integration's id")
    p.add_argument("--db", default=None, help="syncer database URL (default: ZLAB_SYNCER_DATABASE_URL or .zlab)")
    p.add_argument("--fakes", default=None, help="the lab's base URL: time comes from its clock")
    p.add_argument("--trigger", default="manual", choices=("manual", "auto"))
    p.add_argument("--lease-seconds", type=float, default=60.0,
                   help="how long a killed run's lock blocks the next run (default 60)")
    p.add_argument("--batch-size", type=int, default=100, metavar="N",
                   help="records per FSM write call, 1-100 (default 100, the API's limit)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS",
                   help="time-out of each API call (default 30)")
    p.add_argument("--unknown-outcome-wait", type=float, default=UNKNOWN_OUTCOME_WAIT, metavar="SECONDS",
                   help="how long a create without an answer is looked for before it is sent again "
                        f"(default {UNKNOWN_OUTCOME_WAIT:g})")
    args = p.parse_args(argv)
    if not 1 <= args.batch_size <= 100:
        p.error("--batch-size must be between 1 and 100")
    # one reading per quarter second: a run asks the time for every record it writes
    clock = LabClock(args.fakes, max_age=0.25) if args.fakes else system_clock
    repo = Repo(args.db, clock=clock, lease_seconds=args.lease_seconds)
    engines = EngineRegistry([
        SyncEngine(repo, clients=clients_for(clock, repo, timeout=args.timeout), mailer=MailSender(repo),
                   batch_size=args.batch_size, unknown_outcome_wait=args.unknown_outcome_wait)])
    engine = engines.for_integration(repo.get_integration(args.integration))
    run = engine.run(args.integration, trigger=args.trigger)
    print(f"{run.id} {run.status} {run.failure_reason or ''}".strip())
    return 0 if run.status == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
