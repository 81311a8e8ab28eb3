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
    (6, {"op": "create", "side": "books", "kind": "company"}),
    (5, {"op": "create", "side": "fsm", "kind": "company"}),
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
SIGKILL_SHARE = 0.15  # of kills: a real SIGKILL after a delay; the others die after their N-th write


def step_strategy(*, faults: float, kill: float):
    """Steps with about ``faults`` of the syncs run under injected faults and ``kill`` of them
    killed."""
    from hypothesis import strategies as st

    table = [template for weight, template in OPS for _ in range(weight)]

    def chance(draw, p: float) -> bool:
        if p <= 0:
            return False
        if p >= 1:
            return True
        # shrinks towards 0, i.e. towards "no": a kill or a fault stays only where it matters
        return draw(st.integers(0, 999)) >= 1000 - round(p * 1000)

    fault = st.fixed_dictionaries({"at": st.sampled_from(sorted(FAULT_TARGETS)),
                                   "kind": st.sampled_from(list(FAULT_KINDS)),
                                   "nth": st.integers(1, 4), "times": st.integers(1, 5)})

    @st.composite
    def step(draw) -> dict[str, Any]:
        s = dict(draw(st.sampled_from(table)))
        op = s["op"]
        if op == "sync":
            if chance(draw, kill):
                if chance(draw, SIGKILL_SHARE):
                    s["kill"] = {"sigkill_ms": draw(st.integers(30, 1500))}
                else:
                    s["kill"] = {"after_writes": draw(st.integers(1, 12))}
            if chance(draw, faults):
                s["faults"] = draw(st.lists(fault, min_size=1, max_size=2))
        elif op == "create" and s["kind"] == "company":
            s["n"] = draw(st.integers(0, 2))
            if s["side"] == "books":
                s["cur"] = chance(draw, 0.3)
        elif op in ("add_person", "edit", "delete", "deactivate"):
            s["target"] = draw(st.integers(0, 7))
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
        if len(parts) == 1:
            parts.append("(clean run, then the check)")
        return ", ".join(parts)
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
