"""Batched FSM updates (syncer/sync_core/writers.py ``FsmUpdates``), with stand-ins for FSM and the
store: what goes out per call, and what a record FSM refuses does to the rest of its batch."""

from __future__ import annotations

from types import SimpleNamespace

from syncer.clients import RecordResult
from syncer.store.models import RecordLink
from syncer.sync_core.context import RunContextBase
from syncer.sync_core.writers import FsmUpdate, FsmUpdates

TIME = "2026-01-02T03:04:05+00:00"


class Fsm:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[dict]]] = []

    def update_records(self, module, records):
        self.calls.append((module, records))
        return [RecordResult(i, True, id=r["id"], code="SUCCESS", details={"Modified_Time": TIME}) if r["id"] != "gone"
                else RecordResult(i, False, code="INVALID_DATA", message="the id given seems to be invalid",
                                  details={"id": "gone"}, status=207)
                for i, r in enumerate(records)]


class Store:
    def __init__(self) -> None:
        self.saved: list[list] = []
        self.failures: list[tuple] = []

    def save_links(self, integration_id, specs, *, run_id=None, resolved=()):
        self.saved.append(list(specs))

    def add_record_failure(self, run_id, module, record_id, reason, record_name=""):
        self.failures.append((module, record_id, reason))


def update(fsm_id: str, module: str = "Service_And_Parts") -> FsmUpdate:
    link = RecordLink(integration_id="i", fsm_module=module, fsm_id=fsm_id, partner_entity="items",
                      partner_id=f"b{fsm_id}")
    return FsmUpdate(link, {"Unit_Price": 1}, None, "Service_And_Parts", f"b{fsm_id}", f"name {fsm_id}")


def test_updates_go_a_batch_a_call_and_a_refused_record_fails_alone():
    fsm, store = Fsm(), Store()
    ctx = RunContextBase(store, SimpleNamespace(id="i"), "run", fsm, None, None, batch_size=3)
    writes = FsmUpdates(ctx)
    for fsm_id in ("1", "gone", "2", "3"):
        writes.add(update(fsm_id))
    assert [[r["id"] for r in records] for _, records in fsm.calls] == [["1", "gone", "2"]]  # a full batch goes
    writes.add(update("c1", module="Companies"))
    writes.flush()
    assert [(m, [r["id"] for r in rs]) for m, rs in fsm.calls] == [
        ("Service_And_Parts", ["1", "gone", "2"]), ("Service_And_Parts", ["3"]), ("Companies", ["c1"])]
    assert fsm.calls[0][1][0] == {"Unit_Price": 1, "id": "1"}
    # each batch's links in one save, with the FSM time the write left; the refused one is not synced
    assert [[s.fsm_id for s in specs] for specs in store.saved] == [["1", "2"], ["3"], ["c1"]]
    assert all(s.fsm_modified_time.isoformat() == TIME and s.result == "synced" for specs in store.saved for s in specs)
    assert store.failures == [("Service_And_Parts", "bgone", "fsm: the id given seems to be invalid (code INVALID_DATA)")]
    assert ctx.stats == {"Service_And_Parts": [4, 1]}
    writes.flush()
    assert len(fsm.calls) == 3  # nothing queued: no call


def test_an_update_not_counted_is_synced_but_leaves_the_run_counts_alone():
    """A write that only gives a pair its partner id (``counted=False``) is no sync of the record."""
    fsm, store = Fsm(), Store()
    ctx = RunContextBase(store, SimpleNamespace(id="i"), "run", fsm, None, None, batch_size=10)
    writes = FsmUpdates(ctx)
    writes.add(update("1"))
    quiet = update("2")
    quiet.counted = False
    writes.add(quiet)
    writes.flush()
    assert [[s.fsm_id for s in specs] for specs in store.saved] == [["1", "2"]]
    assert ctx.stats == {"Service_And_Parts": [1, 0]}
