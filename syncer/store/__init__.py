"""The syncer's state store: integrations, mappings, record links, write-ahead intents, runs,
failures, the manual-sync counter and the mail log (SQLModel; SQLite default, PostgreSQL)."""

from syncer.store.db import (
    DEFAULT_SYNCER_DB_URL,
    StoreDB,
    SyncerModel,
    UTCDateTime,
    syncer_database_url,
    to_utc,
)
from syncer.store.models import (
    FieldMapping,
    Integration,
    MailMessage,
    ManualSyncCounter,
    PendingWrite,
    RecordFailure,
    RecordLink,
    RunModuleStat,
    StoredAccessToken,
    SyncLock,
    SyncRun,
    new_id,
)
from syncer.store.repo import (
    AlreadyEnabled,
    IntegrationNotEnabled,
    InvalidValue,
    LinkConflict,
    LinkSpec,
    LockKeeper,
    ManualSyncLimitReached,
    NotFound,
    ReenableForbidden,
    Refused,
    Repo,
    StoreError,
    SyncInProgress,
    failure_csv_filename,
)

__all__ = [
    "DEFAULT_SYNCER_DB_URL", "StoreDB", "SyncerModel", "UTCDateTime", "syncer_database_url", "to_utc",
    "FieldMapping", "Integration", "MailMessage", "ManualSyncCounter", "PendingWrite", "RecordFailure",
    "RecordLink", "RunModuleStat", "StoredAccessToken", "SyncLock", "SyncRun", "new_id",
    "AlreadyEnabled", "IntegrationNotEnabled", "InvalidValue", "LinkConflict", "LinkSpec", "LockKeeper",
    "ManualSyncLimitReached", "NotFound", "ReenableForbidden", "Refused", "Repo", "StoreError",
    "SyncInProgress", "failure_csv_filename",
]
