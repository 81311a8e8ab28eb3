"""The store's errors: each has a stable machine-readable ``code`` the API answers with."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the store's errors. ``code`` is a stable machine-readable name."""

    code = "store_error"


class NotFound(StoreError, LookupError):
    code = "not_found"


class InvalidValue(StoreError, ValueError):
    code = "invalid_value"


class LinkConflict(StoreError):
    """The FSM record and the partner record are each already linked to someone else."""

    code = "link_conflict"


class Refused(StoreError):
    """An action the rules refuse; the message is meant for the user."""

    code = "refused"


class SyncInProgress(Refused):
    code = "sync_in_progress"  # TW-09


class ManualSyncLimitReached(Refused):
    code = "manual_sync_limit"  # TW-05


class IntegrationNotEnabled(Refused):
    code = "not_enabled"


class AlreadyEnabled(Refused):
    code = "already_enabled"  # TW-01


class ReenableForbidden(Refused):
    code = "reenable_forbidden"  # TW-15
