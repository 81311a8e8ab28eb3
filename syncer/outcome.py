"""A run's outcome as people read it, derived from its status and its record failures (never
stored: the engines finish runs as ``succeeded``/``failed``/``refused``, and this reads them).

Zoho's sync logs show, per sync, "the details of the success and failure of records sync", the
failed records count opening ``[Module]FailureLogs.csv`` (two-way sync FSM-Books, "Sync Logs";
the CRM direct sync's "Sync History": ../shared/seeds/two-way-sync-fsm-books.txt,
fsm-crm-direct-sync.txt): a sync with failed records is not a clean success. A run that ended ``succeeded``
with record failures is ``partially_succeeded`` here — in the API's run JSON (``outcome``), the
failures listing and the dashboard.
"""

from __future__ import annotations

from datetime import datetime

OUTCOMES = ("succeeded", "partially_succeeded", "failed", "refused", "running")
LABELS = {"succeeded": "succeeded", "partially_succeeded": "partially succeeded", "failed": "failed",
          "refused": "refused", "running": "running"}


def run_outcome(status: str, failed_records: int) -> str:
    """``succeeded`` with ``failed_records`` > 0 is ``partially_succeeded``; any other status is its own."""
    if status == "succeeded" and failed_records > 0:
        return "partially_succeeded"
    return status if status in OUTCOMES else "failed"


def duration_seconds(started_at: datetime | None, ended_at: datetime | None) -> float | None:
    """End minus start on the lab clock (None while running); a lab clock set back between the two
    cannot make it negative."""
    if started_at is None or ended_at is None:
        return None
    return max(0.0, (ended_at - started_at).total_seconds())
