"""Writes of unknown outcome: found before they are redone (docs/syncer-design.md, "Crash safety").

Every create is preceded by a write-ahead intent (``PendingWrite``). Its outcome is unknown
when the process died after it (a crash: the next run's ``recover`` finds the intent open) or
when the call got no answer (``ZohoOutcomeUnknown``: a time-out or a dropped connection — the
product may have applied it, or may still apply it). Either way the intent stays open and the
write is resolved against the product before it is sent again: the record it made is searched
by what it carries (FSM ``ZBilling_Id``; a Books customer's ``cf_fsm_id`` or name and created
time; an item's unique name; a person's email under its customer; an invoice's customer and
reference number), linked if found, and only what was not made is sent again.

This module holds the part every create path shares, product- and partner-neutral:

- ``create_once`` sends one create, resolving a lost answer by ``find`` before one more try;
- ``find_settled`` looks for a write's result for a while, since a call the client gave up on
  may be applied by the server after it (a slow write still in flight);
- ``requeue`` puts an abandoned intent's source record back into the run (with its dependent
  records, e.g. a customer's contact persons), so nothing an intent covered is left behind;
- ``HeldIntent`` keeps a parent's intent open until its dependents' intents are recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

from ..clients import ZohoOutcomeUnknown

if TYPE_CHECKING:
    from .context import RunContextBase

UNKNOWN_OUTCOME_WAIT = 30.0  # seconds a write of unknown outcome is looked for before it is sent again
SEND_ATTEMPTS = 2  # a create whose answer is lost twice stays open for the next run's recovery
T = TypeVar("T")


class Settling(Protocol):
    """How long to look for what a write of unknown outcome made (a RunContext is one)."""

    unknown_outcome_wait: float

    def sleep(self, seconds: float, /) -> None: ...


@dataclass
class Patience:
    """A ``Settling`` outside a run (onboarding at enable)."""

    unknown_outcome_wait: float = UNKNOWN_OUTCOME_WAIT

    def sleep(self, seconds: float, /) -> None:
        time.sleep(seconds)


def find_settled(ctx: Settling, find: Callable[[], T | None], *, done: Callable[[T], bool] | None = None) -> T | None:
    """``find()`` until it finds (``done(found)``, default: not None) or ``ctx.unknown_outcome_wait``
    seconds have passed; the last finding (None when nothing). Polls at 0.25 s, doubling to 2 s."""
    deadline = time.monotonic() + max(0.0, ctx.unknown_outcome_wait)
    pause = 0.25
    while True:
        found = find()
        if found is not None and (done is None or done(found)):
            return found
        left = deadline - time.monotonic()
        if left <= 0:
            return found
        ctx.sleep(min(pause, left))
        pause = min(pause * 2, 2.0)


def create_once(ctx: Settling, send: Callable[[], T], find: Callable[[], T | None]) -> tuple[T, bool]:
    """Send a create whose intent is recorded; ``(record, found)``. When the answer is lost
    (``ZohoOutcomeUnknown``) the record is looked for (``find``, see ``find_settled``): found, it
    is returned with ``found`` True; not found, the create is sent once more. A second lost answer
    raises ZohoOutcomeUnknown: the caller leaves the intent open (the next run resolves it) and
    closes an intent as failed only on a definite refusal (a record-level error)."""
    for attempt in range(1, SEND_ATTEMPTS + 1):
        try:
            return send(), False
        except ZohoOutcomeUnknown:
            found = find_settled(ctx, find)
            if found is not None:
                return found, True
            if attempt == SEND_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


def requeue(ctx: RunContextBase, stat: str, record_id: str, *, dependents: bool = False) -> None:
    """An abandoned intent's source record goes back into this run, read again though nobody
    modified it; ``dependents``: and the records that hang off it (a customer's contact persons)
    are paired again, though it is linked and unchanged."""
    if not record_id:
        return
    ctx.retry.setdefault(stat, set()).add(str(record_id))
    if dependents:
        ctx.pair_dependents.add(str(record_id))


@dataclass
class HeldIntent:
    """The intent of a create that has dependent writes (a Company's Contacts), kept open after
    its link until the intents of all its dependents are recorded: a crash at any point between
    leaves an open intent that covers them (recovery re-queues them)."""

    pending_id: str
    created_id: str
    outcome: str
    waiting: int = 0  # dependents whose intents are not recorded yet
