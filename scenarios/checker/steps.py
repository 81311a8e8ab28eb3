"""The steps of a history, as JSON-able dicts, their Hypothesis strategy and their wording.

    {"op": "create", "side": "books", "kind": "company", "n": 2}      a customer with 2 persons
    {"op": "edit", "side": "fsm", "target": 3}                          rename the 4th live record
    {"op": "sync", "kill": {"after_writes": 2}}                         dies after its 2nd write
    {"op": "sync", "faults": [{"at": "fsm POST Contacts", "kind": "timeout", "nth": 1, "times": 1}]}

``target`` picks among the records the step can apply to at that moment (modulo their number),
so any list of steps is a valid history and Hypothesis may drop or simplify steps freely. The
simplest step is ``noop``: shrinking turns steps that do not matter into it.
"""

from __future__ import annotations

from typing import Any

from .world import FAULT_KINDS, FAULT_TARGETS

# (weight, template): the step kinds and how often a history has them. "noop" first: it is
# where Hypothesis shrinks a step to
OPS: list[tuple[int, dict[str, Any]]] = [
    (1, {"op": "noop"}),
    (28, {"op": "sync"}),
    (5, {"op": "create", "side": "books", "kind": "item"}),
    (5, {"op": "create", "side": "fsm", "kind": "item"}),
    (9, {"op": "create", "side": "books", "kind": "company"}),
    (7, {"op": "create", "side": "fsm", "kind": "company"}),
    (3, {"op": "create", "side": "books", "kind": "individual"}),
    (3, {"op": "create", "side": "fsm", "kind": "individual"}),
    (4, {"op": "add_person", "side": "books"}),
    (4, {"op": "add_person", "side": "fsm"}),
    (7, {"op": "edit", "side": "books"}),
    (7, {"op": "edit", "side": "fsm"}),
    (5, {"op": "delete", "side": "books"}),
    (4, {"op": "delete", "side": "fsm"}),
    (3, {"op": "deactivate", "side": "books"}),
    (3, {"op": "deactivate", "side": "fsm"}),
    (2, {"op": "currency", "side": "books"}),
    (2, {"op": "currency", "side": "fsm"}),
    (3, {"op": "mapping"}),
]
SIGKILL_SHARE = 0.15
KILL_POINTS = (1, 1, 2, 2, 3, 4, 5, 6)  # the write a run dies after: early ones are where the creates are  # of kills: a real SIGKILL after a delay; the others die after their N-th write


def step_strategy(*, faults: float, kill: float):
    """Steps; a sync faults each API it calls (``FAULT_TARGETS``) with the chance ``faults``
    and is killed with the chance ``kill``."""
    from hypothesis import strategies as st

    table = [template for weight, template in OPS for _ in range(weight)]

    def chance(draw, p: float) -> bool:
        if p <= 0:
            return False
        if p >= 1:
            return True
        # sampled_from is uniform (integers() favours small values); 0, where Hypothesis shrinks
        # to and which it also draws more often than the rest, is "no": a kill or a fault stays
        # only where it matters
        return 1 <= draw(st.sampled_from(range(1000))) <= round(p * 1000)

    def fault(draw, at: str) -> dict[str, Any]:
        return {"at": at, "kind": draw(st.sampled_from(list(FAULT_KINDS))), "nth": draw(st.integers(1, 3)),
                "times": draw(st.integers(1, 5))}  # 5 times: past the syncer's retries

    @st.composite
    def step(draw) -> dict[str, Any]:
        s = dict(draw(st.sampled_from(table)))
        op = s["op"]
        if op == "sync":
            if chance(draw, kill):
                if chance(draw, SIGKILL_SHARE):
                    s["kill"] = {"sigkill_ms": draw(st.integers(30, 1500))}
                else:
                    s["kill"] = {"after_writes": draw(st.sampled_from(KILL_POINTS))}
            # each API the sync calls is faulted with that chance (a rule fires on its nth call)
            chosen = [fault(draw, at) for at in FAULT_TARGETS if chance(draw, faults)]
            if chosen:
                s["faults"] = chosen
        elif op == "create" and s["kind"] == "company":
            s["n"] = draw(st.sampled_from((1, 2, 0)))  # uniform; shrinks to one person
            if s["side"] == "books":
                s["cur"] = chance(draw, 0.3)
        elif op in ("add_person", "edit", "delete", "deactivate"):
            s["target"] = draw(st.sampled_from(range(8)))
        return s

    return step()


def describe(step: dict[str, Any]) -> str:
    """One step in words, for progress lines and reports."""
    op = step.get("op")
    side = {"books": "Books", "fsm": "FSM"}.get(step.get("side", ""), "")
    if op == "sync":
        parts = ["sync"]
        for f in step.get("faults") or []:
            parts.append(f"with fault {f['kind']} on {f['at']} (call {f.get('nth', 1)}, x{f.get('times', 1)})")
        kill = step.get("kill") or {}
        if "after_writes" in kill:
            parts.append(f"killed after its write #{kill['after_writes']}")
        elif "sigkill_ms" in kill:
            parts.append(f"SIGKILLed after {kill['sigkill_ms']} ms")
        return ", ".join(parts) if len(parts) > 1 else "sync (a clean run, then the check)"
    if op == "create":
        what = {"item": "an item" if side == "Books" else "a service",
                "company": "a business customer" if side == "Books" else "a Company",
                "individual": "an individual customer" if side == "Books" else "a Contact without Company"}[step["kind"]]
        extra = ""
        if step["kind"] == "company":
            extra = f" with {step.get('n', 0)} {'contact persons' if side == 'Books' else 'Contacts'}"
            if step.get("cur"):
                extra += " in the latest Books-only currency"
        return f"{side}: create {what}{extra}"
    if op == "add_person":
        return f"{side}: add a {'contact person' if side == 'Books' else 'Contact'} to customer #{step['target']}"
    if op in ("edit", "delete", "deactivate"):
        verb = {"edit": "rename (new revision)", "delete": "delete", "deactivate": "deactivate"}[op]
        return f"{side}: {verb} record #{step['target']}"
    if op == "currency":
        return ("Books: add a currency" if side == "Books"
                else "FSM: create a Company in a currency only FSM has (CHF)")
    if op == "mapping":
        return "syncer API: change the items mapping (SKU on/off)"
    return str(op)
