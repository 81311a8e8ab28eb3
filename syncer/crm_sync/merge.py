"""CR-04 Overwrite at the initial sync (pure): an FSM record and a CRM record that are the same
(Contacts by Email, Accounts/Companies by the company name) become one linked pair whose values
are merged field by field: when both have a value the CRM value wins, else the one that has a
value is used. The merged values are then written to whichever side differs.
Source: ../shared/seeds/fsm-crm-direct-sync.txt ("Handling Duplicate Records").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .mapping import _UNRESOLVED, ModulePair, Resolver, crm_value, empty, fsm_value, same


def match_key(value: Any) -> str | None:
    """Emails and names match case-insensitively, surrounding spaces ignored."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip().lower()


def overwrite(pair: ModulePair, rows: Iterable[Mapping[str, str]], crm_record: Mapping[str, Any],
              fsm_record: Mapping[str, Any], resolve_to_fsm: Resolver,
              resolve_to_crm: Resolver) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(fsm_changes, crm_changes)``: what to write on each side so both hold the merged values.
    Each row merges in the directions it allows (a ``crm_to_fsm`` row never writes the CRM)."""
    to_fsm: dict[str, Any] = {}
    to_crm: dict[str, Any] = {}
    for row in rows:
        crm_v = crm_record.get(row["crm_field"])
        fsm_v = fsm_record.get(row["fsm_field"])
        if not empty(crm_v):  # the CRM value wins whenever it has one
            if row["direction"] in ("both", "crm_to_fsm"):
                value = fsm_value(pair, row, crm_v, resolve_to_fsm)
                if value is not _UNRESOLVED and not same(value, fsm_v):
                    to_fsm[row["fsm_field"]] = value
        elif not empty(fsm_v) and row["direction"] in ("both", "fsm_to_crm"):
            value = crm_value(pair, row, fsm_v, resolve_to_crm)
            if value is not _UNRESOLVED and not same(value, crm_v):
                to_crm[row["crm_field"]] = value
    return to_fsm, to_crm


__all__ = ["match_key", "overwrite"]
