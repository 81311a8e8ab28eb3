"""FSM <-> Books/Invoice two-way sync (rules TW-*, OB-*): see docs/syncer-design.md."""

from .engine import SyncEngine

__all__ = ["SyncEngine"]
