"""What every phase of an FSM <-> Books run shares: the run's context (``books`` is its partner
client). The engine-neutral parts live in ``syncer.sync_core``."""

from __future__ import annotations

from dataclasses import dataclass

from ..clients import BooksClient
from ..sync_core.context import RunContextBase

PARTNER_ID_FIELD = "ZBilling_Id"  # the FSM field that holds a record's Books/Invoice id


@dataclass
class RunContext(RunContextBase):
    """A Books run's context: ``books`` is the Books/Invoice client (the context's ``partner``)."""

    @property
    def books(self) -> BooksClient:
        return self.partner
