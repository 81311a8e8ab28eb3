"""CR-06: fields that never cross between FSM and CRM (pure, no HTTP).

- CRM's "Restrict Data Transfer to Zoho Apps" (Setup > Security Control > Compliance Settings >
  GDPR Compliance), per module, level ``normal`` (every personal-data field) or ``sensitive``
  (only sensitive ones): the CRM's internal settings list each module's ``restricted_fields``.
- FSM's "PII (Personally Identifiable Information) data access using APIs" (Setup > Developer
  Space > APIs): while it is off, FSM fields flagged PII (or EPHI) stay out.

A mapping row whose CRM or FSM field is excluded is dropped in *both* directions: the value is
neither read from nor written to either side, at install and later.
Source: ../shared/seeds/fsm-crm-direct-sync.txt ("Restricting Usage of PII Data").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Excluded:
    crm: dict[str, frozenset[str]] = field(default_factory=dict)  # CRM module -> fields
    fsm: dict[str, frozenset[str]] = field(default_factory=dict)  # FSM module -> fields

    def crm_fields(self, module: str) -> frozenset[str]:
        return self.crm.get(module, frozenset())

    def fsm_fields(self, module: str) -> frozenset[str]:
        return self.fsm.get(module, frozenset())


def crm_restricted(crm_settings: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """Per CRM module, the fields "Restrict Data Transfer to Zoho Apps" keeps in the CRM."""
    out: dict[str, frozenset[str]] = {}
    transfer = crm_settings.get("restrict_data_transfer") or {}
    for module, conf in transfer.items():
        if not isinstance(conf, Mapping):
            continue
        level = conf.get("level", "none")
        if level == "none":
            continue
        restricted = conf.get("restricted_fields")
        if restricted is None:  # derive from the marks when the list is not given
            marks = conf.get("fields") or {}
            restricted = [n for n, m in marks.items() if m == "sensitive" or (level == "normal" and m)]
        out[module] = frozenset(str(x) for x in restricted)
    return out


def fsm_restricted(fsm_settings: Mapping[str, Any],
                   fsm_fields: Mapping[str, Iterable[Mapping[str, Any]]]) -> dict[str, frozenset[str]]:
    """Per FSM module, the PII/EPHI fields while "PII data access using APIs" is off (else none).
    ``fsm_fields``: module -> ``GET /settings/fields`` answer (with ``pii``/``ephi`` flags)."""
    if fsm_settings.get("pii_api_access", True) is not False:
        return {}
    return {module: frozenset(str(f["api_name"]) for f in fields if f.get("pii") or f.get("ephi"))
            for module, fields in fsm_fields.items()}


def excluded(crm_settings: Mapping[str, Any], fsm_settings: Mapping[str, Any],
             fsm_fields: Mapping[str, Iterable[Mapping[str, Any]]]) -> Excluded:
    return Excluded(crm_restricted(crm_settings), fsm_restricted(fsm_settings, fsm_fields))


def allowed_rows(rows: Iterable[Mapping[str, str]], ex: Excluded, *, fsm_module: str,
                 crm_module: str) -> list[Mapping[str, str]]:
    """The mapping rows whose fields may cross (CR-06), both ways."""
    crm_out, fsm_out = ex.crm_fields(crm_module), ex.fsm_fields(fsm_module)
    return [r for r in rows if r["crm_field"] not in crm_out and r["fsm_field"] not in fsm_out]


__all__ = ["Excluded", "allowed_rows", "crm_restricted", "excluded", "fsm_restricted"]
