"""CR-01 and CR-02 checks of the FSM <-> CRM direct sync (pure: they read the products' internal
state, fetched by the caller).

CR-01: both FSM and CRM must be Standard edition or above, and the CRM org must not be
integrated with a Zoho Finance Suite (Books/Invoice) org. A Free FSM later stops the sync; a CRM
org that becomes integrated with Books/Invoice switches the direct sync off (CR-14).
CR-02: the extension is installed for admins only (the Administrator profile), all users, or
chosen profiles; other users may not use its actions.
Source: ../shared/seeds/fsm-crm-direct-sync.txt ("Prerequisites", "Install the Extension").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FSM_EDITIONS_OK = ("standard", "professional", "premium")
CRM_EDITIONS_OK = ("standard", "professional", "enterprise", "ultimate")
ACCESS_MODES = ("admins", "all", "profiles")
ADMIN_PROFILE = "Administrator"


@dataclass(frozen=True)
class Refusal:
    code: str  # edition_not_supported | crm_integrated_with_books
    message: str


def edition_refusal(app: str, edition: Any, allowed: tuple[str, ...]) -> Refusal | None:
    if str(edition or "").lower() in allowed:
        return None
    return Refusal("edition_not_supported",
                   f"Zoho {app} is on the {str(edition or 'unknown').capitalize()} edition: the FSM extension for "
                   f"Zoho CRM needs the Standard edition or above of Zoho {app}")


def books_refusal(crm_settings: Mapping[str, Any]) -> Refusal | None:
    books = crm_settings.get("books_integration") or {}
    if not books.get("enabled"):
        return None
    product = "Invoice" if books.get("product") == "invoice" else "Books"
    return Refusal("crm_integrated_with_books",
                   f"Zoho CRM organization {crm_settings.get('org_id', '')} is integrated with Zoho {product} "
                   f"(organization {books.get('linked_org_id')}): the direct sync with Zoho FSM is not available; "
                   "sync goes through Zoho Books/Invoice")


def install_refusal(fsm_settings: Mapping[str, Any], crm_settings: Mapping[str, Any]) -> Refusal | None:
    """Why an install is refused (CR-01), or None."""
    return (edition_refusal("FSM", fsm_settings.get("edition"), FSM_EDITIONS_OK)
            or edition_refusal("CRM", crm_settings.get("edition"), CRM_EDITIONS_OK)
            or books_refusal(crm_settings))


def check_access(access: Any) -> dict[str, Any]:
    """``{"mode": "admins"|"all"|"profiles", "profiles": [...]}`` (default admins), or ValueError."""
    if access is None:
        return {"mode": "admins", "profiles": []}
    if not isinstance(access, Mapping):
        raise ValueError('access must be an object: {"mode": "admins"|"all"|"profiles", "profiles": [...]}')
    unknown = set(access) - {"mode", "profiles"}
    if unknown:
        raise ValueError(f"access: unknown key(s) {', '.join(sorted(unknown))}")
    mode = access.get("mode", "admins")
    if mode not in ACCESS_MODES:
        raise ValueError(f"access.mode must be one of {', '.join(ACCESS_MODES)}; got {mode!r}")
    profiles = access.get("profiles") or []
    if not isinstance(profiles, list) or not all(isinstance(p, str) and p.strip() for p in profiles):
        raise ValueError("access.profiles must be a list of CRM profile names")
    if mode == "profiles" and not profiles:
        raise ValueError("access.profiles: choose at least one profile")
    return {"mode": mode, "profiles": list(profiles) if mode == "profiles" else []}


def access_allows(access: Mapping[str, Any], profile: str | None) -> bool:
    """Whether a CRM user with this profile may use the extension's actions (CR-02)."""
    mode = access.get("mode", "admins")
    if profile is None:  # not a user of this CRM org: "all users" means the org's users
        return False
    if mode == "all":
        return True
    if mode == "admins":
        return profile == ADMIN_PROFILE
    return profile in (access.get("profiles") or [])


__all__ = ["ACCESS_MODES", "ADMIN_PROFILE", "Refusal", "access_allows", "books_refusal", "check_access",
           "edition_refusal", "install_refusal"]
