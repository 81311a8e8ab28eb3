"""Deliberately broken syncers, for the checker's own tests (``zlab check sync --breaker NAME``):
each is a monkeypatch applied in the syncer's process before the run, a few lines each. A
checker that does not catch them is not checking anything."""

from __future__ import annotations

from collections.abc import Callable


def _no_recovery() -> None:
    """Leftover write-ahead intents are never resolved: a kill between a create and its link
    makes the next run create the record again (a duplicate, or a name clash)."""
    from syncer.books_sync.engine import SyncEngine

    SyncEngine.recover = lambda self, ctx: None


def _persons_dropped() -> None:
    """A new Company's contact persons are never queued as its Contacts: they never reach FSM."""
    from syncer.books_sync.customers import CustomersPhase

    CustomersPhase._queue_contacts = lambda self, persons, company_id, customer, *rest, **kw: None


BREAKERS: dict[str, Callable[[], None]] = {
    "no-recovery": _no_recovery,
    "persons-dropped": _persons_dropped,
}


def apply(name: str) -> None:
    if name not in BREAKERS:
        raise ValueError(f"unknown breaker {name!r} (known: {', '.join(sorted(BREAKERS))})")
    BREAKERS[name]()
