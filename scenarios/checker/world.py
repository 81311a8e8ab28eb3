"""One history played against the lab, with the model of what both sides must hold.

A ``World`` is one example: a fresh tenant (FSM + Books), an integration made and enabled
(sync type IV, Clone) through the syncer's API, and the model. ``play(steps)`` runs the steps in
order; every clean sync (no kill, no fault) is followed by the invariant check, and the history
always ends with one. A broken invariant raises ``Violation``.

Records carry their model key in their names (``item k7 r2``: key 7, revision 2), so a record is
recognised on either side whatever the syncer did, and a second record of one key on one side
is a duplicate. The model keeps, per record: where it was made, which sides deleted or
deactivated it, its edits (time, side, revision), whether a clean check saw both partners
(``synced``: its partner exists, so it stays), whether a killed or faulty run may have made its
partner (``maybe``), and what each side shows (``shown``: the revision, None when unknown). What must
hold after a clean run, from RULES.md and docs/syncer-design.md:

- every eligible record has exactly one partner; none has two on one side (no duplicates);
- a record deleted on one side is not recreated there, and its partner is not deleted (TW-14);
- an FSM record whose partner was never made because it is inactive, or in a currency Books
  lacks (TW-10), has none; the latter is in the run's failures with a reason naming the currency;
- a pair shows the revision of its latest edit on both sides (TW-02 "the latest modified wins");
- a Books item deactivated after the last FSM edit has an inactive FSM partner (TW-14);
- every Books currency exists in FSM (TW-10);
- the clean run succeeded, every failure it logged has a reason, and its per-module failed counts
  equal its failure rows (TW-25).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scenarios.harness.clients import Tenant
from scenarios.harness.lab import Lab
from scenarios.harness.syncer_client import SyncerClient

SP = "Service_And_Parts"
TOKEN = re.compile(r"\bk(\d+)\b")
FSM_ONLY_CURRENCY = "CHF"  # FSM has it from the start; never added to Books
BOOKS_CURRENCIES = ("JPY", "AUD", "SEK")  # added to Books by steps, one after the other
CLIENT_TIMEOUT = 1.0  # the syncer's client time-out in the checker's runs (seconds)
DELAY_PAST_TIMEOUT = 1.4  # a "timeout" fault: the fake answers this late (and applies the write)
UNKNOWN_OUTCOME_WAIT = 3.0
LEASE_SECONDS = 0.5  # a killed run's lock blocks the next run this long (real time)
CLOCK_PER_STEP = 5  # lab seconds before each step: edits get distinct times
CLOCK_PER_RUN = 75  # lab seconds before each run: Accounts grants 10 tokens per 10 minutes

# where a fault rule may hit: name -> (product, method, path glob)
FAULT_TARGETS: dict[str, tuple[str, str, str]] = {
    "fsm POST Service_And_Parts": ("fsm", "POST", "/fsm/v1/Service_And_Parts"),
    "fsm POST Companies": ("fsm", "POST", "/fsm/v1/Companies"),
    "fsm POST Contacts": ("fsm", "POST", "/fsm/v1/Contacts"),
    "fsm PUT": ("fsm", "PUT", "/fsm/v1/*"),
    "books POST items": ("books", "POST", "/books/v3/items"),
    "books POST contacts": ("books", "POST", "/books/v3/contacts*"),
    "books PUT": ("books", "PUT", "/books/v3/*"),
    "fsm GET": ("fsm", "GET", "/fsm/v1/*"),
    "books GET": ("books", "GET", "/books/v3/*"),
}
FAULT_KINDS: dict[str, dict[str, Any]] = {
    "500": {"type": "error", "status": 500},
    "429": {"type": "rate_limit", "retry_after": 1},
    "drop": {"type": "drop"},
    "timeout": {"type": "delay", "seconds": DELAY_PAST_TIMEOUT},
}


class Violation(AssertionError):
    """An invariant that did not hold after a clean run."""

    def __init__(self, invariant: str, detail: str, step: int | None = None) -> None:
        super().__init__(f"{invariant}: {detail}")
        self.invariant, self.detail, self.step = invariant, detail, step


class HarnessError(RuntimeError):
    """The lab refused a step the model thought valid: a checker bug, or a fake's."""


# -- the syncer's process -------------------------------------------------------------------------

class SyncerProcesses:
    """Runs ``syncer.run_once`` through ``scenarios.checker.proc`` in a fork server (one Python
    start for all runs), and kills a run either at its N-th write or by SIGKILL after a delay."""

    def __init__(self, *, breaker: str | None = None) -> None:
        self.breaker = breaker
        self._tmp = tempfile.TemporaryDirectory(prefix="zlab-check-proc-")
        self._proc = subprocess.Popen([sys.executable, "-m", "scenarios.checker.proc", "serve"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
                                      cwd=str(Path(__file__).resolve().parents[2]))
        self._lock = threading.Lock()
        self._n = 0

    def run(self, argv: list[str], *, die_after_writes: int | None = None,
            sigkill_after: float | None = None) -> tuple[int, str]:
        """(exit status, output) of one run; 137 or -9 when it was killed."""
        with self._lock:
            self._n += 1
            out = os.path.join(self._tmp.name, f"run-{self._n}.log")
            req = {"argv": argv, "die_after_writes": die_after_writes, "breaker": self.breaker,
                   "client_timeout": CLIENT_TIMEOUT, "out": out}
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self._proc.stdin.write(json.dumps(req) + "\n")
            self._proc.stdin.flush()
            started = json.loads(self._proc.stdout.readline() or "{}")
            if "pid" not in started:
                raise HarnessError("the syncer's fork server stopped")
            killer = None
            if sigkill_after is not None:  # real SIGKILL at a wall-clock moment (not replayable exactly)
                killer = threading.Timer(sigkill_after, _kill_quietly, (started["pid"],))
                killer.start()
            done = json.loads(self._proc.stdout.readline() or "{}")
            if killer is not None:
                killer.cancel()
            text = Path(out).read_text(errors="replace") if os.path.exists(out) else ""
            return int(done.get("rc", 1)), text

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._tmp.cleanup()


def _kill_quietly(pid: int) -> None:
    # the fork server reaps its child only after it ended, so the pid is still ours here
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# -- the model ------------------------------------------------------------------------------------

@dataclass
class Ent:
    key: int
    kind: str  # item | company | person | individual
    origin: str  # books | fsm
    parent: int | None = None
    ids: dict[str, str] = field(default_factory=dict)  # side -> id, when known
    deleted: set[str] = field(default_factory=set)
    inactive: dict[str, float] = field(default_factory=dict)  # side -> lab time of the deactivation
    edits: list[tuple[float, str, int]] = field(default_factory=list)  # (lab time, side, revision)
    rev: int = 0
    synced: bool = False  # a clean check saw its partner: it stays whatever happens to the origin
    shown: dict[str, int | None] = field(default_factory=dict)  # side -> revision it shows (None: unknown)
    maybe: bool = False
    currency: str | None = None  # FSM-only currency: the record must fail

    def name(self, rev: int | None = None) -> str:
        r = self.rev if rev is None else rev
        return {"item": f"item k{self.key} r{r}", "company": f"co k{self.key} r{r}",
                "individual": f"ind k{self.key} r{r}", "person": f"p k{self.key} r{r}"}[self.kind]

    def last_name(self, rev: int | None = None) -> str:
        return f"k{self.key} r{self.rev if rev is None else rev}"

    @property
    def first_name(self) -> str:
        return "ind" if self.kind == "individual" else "p"

    @property
    def email(self) -> str:
        return f"k{self.key}@checker.example"

    def latest_rev(self) -> int | None:
        """The revision of the latest change on either side (None: a change whose value the model
        cannot know, e.g. a Books customer touched while a sync may have renamed it)."""
        return max(self.edits, key=lambda x: x[0])[2] if self.edits else 0

    def touch(self, side: str, at: float) -> None:
        """A change of the record that is not a rename (a contact person added to or removed from a
        Books customer moves its modified time): the latest change, with the values it shows."""
        self.edits.append((at, side, self.shown.get(side)))

    def label(self) -> str:
        return f"{self.kind} k{self.key} (made in {'Books' if self.origin == 'books' else 'FSM'})"


def _other(side: str) -> str:
    return "fsm" if side == "books" else "books"


def _side_name(side: str) -> str:
    return "Books" if side == "books" else "FSM"


@dataclass
class Observed:
    """What one side holds, by model key."""

    records: dict[int, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, key: int, rec: dict[str, Any]) -> None:
        self.records.setdefault(key, []).append(rec)

    def of(self, key: int) -> list[dict[str, Any]]:
        return self.records.get(key, [])


class World:
    def __init__(self, lab: Lab, syncer: SyncerClient, procs: SyncerProcesses, syncer_db: str, *,
                 batch_size: int = 3, log=None) -> None:
        self.lab, self.syncer, self.procs, self.syncer_db = lab, syncer, procs, syncer_db
        self.batch_size = batch_size
        self.log = log or (lambda _msg: None)
        self.ents: dict[int, Ent] = {}
        self.next_key = 0
        self.books_currencies: list[str] = []
        self.items_mapping_has_sku = True
        self.kills = 0
        self.faulty_runs = 0
        self.runs = 0
        self.checks = 0
        self.step_index = 0
        self.tenant: Tenant = lab.tenant(products=["fsm", "books"], orgs={
            "fsm": {"currencies": [FSM_ONLY_CURRENCY], "settings": {"multi_currency": True}}})
        self.integration = syncer.create_integration(self.tenant, "books", notify_email="checker@zlab.example")
        self.integration.enable(duplicate_policy="clone", sync_type="IV")

    # -- HTTP to the fakes, as a user of both products ---------------------------------------------
    def _call(self, side: str, method: str, path: str, **kw: Any) -> Any:
        api = self.tenant.books() if side == "books" else self.tenant.fsm()
        r = api.request(method, path, **kw)
        if r.status_code == 401:  # the lab clock moved past the token's hour
            self.tenant.token(fresh=True)
            r = api.request(method, path, **kw)
        if r.status_code >= 400:
            raise HarnessError(f"{_side_name(side)} {method} {path} -> {r.status_code}: {r.text[:300]}")
        return r.json() if r.content else None

    def _fsm_write(self, method: str, path: str, record: dict[str, Any]) -> str:
        body = self._call("fsm", method, path, json={"data": [record]})
        data = body.get("data")
        if isinstance(data, dict):  # insert: {"data": {"<Module>": [{id, …}]}}
            return next(iter(data.values()))[0]["id"]
        entry = data[0]
        if entry.get("status") != "success":
            raise HarnessError(f"FSM {method} {path} refused: {entry}")
        return entry["details"]["id"]

    def _fsm_list(self, module: str) -> list[dict[str, Any]]:
        out, page = [], 1
        while True:
            body = self._call("fsm", "GET", f"/{module}", params={"page": page, "per_page": 200})
            if not body:
                return out
            out.extend(body.get("data") or [])
            if not (body.get("info") or {}).get("more_records"):
                return out
            page += 1

    def _books_list(self, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
        out, page = [], 1
        while True:
            body = self._call("books", "GET", path, params={"page": page, "per_page": 200,
                                                            "filter_by": "Status.All", **params})
            out.extend(body.get(key) or [])
            if not (body.get("page_context") or {}).get("has_more_page"):
                return out
            page += 1

    # -- steps ------------------------------------------------------------------------------------
    def play(self, steps: list[dict[str, Any]], on_step=None) -> None:
        """Run the steps, then a final clean sync and its check. Raises Violation."""
        for i, step in enumerate(steps):
            self.step_index = i
            if on_step is not None:
                on_step(i, step)
            self.do(step)
        self.step_index = len(steps)
        self.do({"op": "sync"})

    def do(self, step: dict[str, Any]) -> bool:
        """Play one step; False when it had nothing to act on (no such record yet): skipped."""
        self.lab.clock.advance(CLOCK_PER_STEP)
        op = step["op"]
        if op == "sync":
            self.sync(step.get("kill"), step.get("faults") or [])
        elif op == "create":
            self.create(step["side"], step["kind"], int(step.get("n", 0)), bool(step.get("cur")))
        elif op == "add_person":
            return self.add_person(step["side"], int(step["target"]))
        elif op == "edit":
            return self.edit(step["side"], int(step["target"]))
        elif op == "deactivate":
            return self.deactivate(step["side"], int(step["target"]))
        elif op == "delete":
            return self.delete(step["side"], int(step["target"]))
        elif op == "currency":
            return self.currency(step["side"])
        elif op == "mapping":
            self.mapping_change()
        else:
            raise HarnessError(f"unknown step {step!r}")
        return True

    def _now(self) -> float:
        from datetime import datetime

        return datetime.fromisoformat(self.lab.clock.now()).timestamp()

    def _new(self, kind: str, origin: str, parent: int | None = None) -> Ent:
        e = Ent(self.next_key, kind, origin, parent)
        self.next_key += 1
        e.edits.append((self._now(), origin, 0))
        e.shown[origin] = 0
        self.ents[e.key] = e
        return e

    def _live(self, side: str, kinds: tuple[str, ...], *, known: bool = True) -> list[Ent]:
        return [e for e in sorted(self.ents.values(), key=lambda x: x.key)
                if e.kind in kinds and side not in e.deleted and (not known or side in e.ids)]

    def create(self, side: str, kind: str, n: int = 0, with_currency: bool = False) -> None:
        if kind == "item":
            e = self._new("item", side)
            if side == "books":
                e.ids["books"] = self._call("books", "POST", "/items", json={
                    "name": e.name(), "rate": 10, "product_type": "service"})["item"]["item_id"]
            else:
                e.ids["fsm"] = self._fsm_write("POST", f"/{SP}", {"Name": e.name(), "Unit_Price": 10,
                                                                  "Type": "Service"})
        elif kind == "individual":
            e = self._new("individual", side)
            if side == "books":
                e.ids["books"] = self._call("books", "POST", "/contacts", json={
                    "contact_name": e.name(), "contact_type": "customer", "customer_sub_type": "individual",
                    "contact_persons": [{"first_name": e.first_name, "last_name": e.last_name(), "email": e.email,
                                         "is_primary_contact": True}]})["contact"]["contact_id"]
            else:
                e.ids["fsm"] = self._fsm_write("POST", "/Contacts", {"First_Name": e.first_name,
                                                                     "Last_Name": e.last_name(), "Email": e.email})
        elif kind == "company":
            company = self._new("company", side)
            persons = [self._new("person", side, company.key) for _ in range(n)]
            if side == "books":
                body: dict[str, Any] = {
                    "contact_name": company.name(), "company_name": company.name(), "contact_type": "customer",
                    "customer_sub_type": "business",
                    "contact_persons": [{"first_name": p.first_name, "last_name": p.last_name(), "email": p.email}
                                        for p in persons]}
                if with_currency and self.books_currencies:
                    body["currency_id"] = self._books_currency_id(self.books_currencies[-1])
                made = self._call("books", "POST", "/contacts", json=body)["contact"]
                company.ids["books"] = made["contact_id"]
                by_email = {p.get("email"): p["contact_person_id"] for p in made.get("contact_persons") or []}
                for p in persons:
                    p.ids["books"] = by_email[p.email]
            else:
                record: dict[str, Any] = {"Company_Name": company.name()}
                if with_currency:
                    company.currency = FSM_ONLY_CURRENCY  # TW-10: Books lacks it, the record must fail
                    record["Currency"] = FSM_ONLY_CURRENCY
                company.ids["fsm"] = self._fsm_write("POST", "/Companies", record)
                for p in persons:
                    p.ids["fsm"] = self._fsm_write("POST", "/Contacts", {
                        "First_Name": p.first_name, "Last_Name": p.last_name(), "Email": p.email,
                        "Company": company.ids["fsm"]})
        else:
            raise HarnessError(f"unknown kind {kind!r}")

    def _books_currency_id(self, code: str) -> str:
        for c in self._call("books", "GET", "/settings/currencies")["currencies"]:
            if c["currency_code"] == code:
                return c["currency_id"]
        raise HarnessError(f"Books has no currency {code}")

    def add_person(self, side: str, target: int) -> bool:
        parents = [c for c in self._live(side, ("company",)) if c.currency is None]
        if not parents:
            return False
        company = parents[target % len(parents)]
        p = self._new("person", side, company.key)
        if side == "books":
            made = self._call("books", "POST", "/contacts/contactpersons", json={
                "contact_id": company.ids["books"], "first_name": p.first_name, "last_name": p.last_name(),
                "email": p.email})
            p.ids["books"] = made["contact_person"][0]["contact_person_id"]
            company.touch("books", self._now())
        else:
            p.ids["fsm"] = self._fsm_write("POST", "/Contacts", {"First_Name": p.first_name, "Last_Name": p.last_name(),
                                                                 "Email": p.email, "Company": company.ids["fsm"]})
        return True

    def edit(self, side: str, target: int) -> bool:
        """A rename (and, for items, a new rate): the next revision, made on one side."""
        cands = self._live(side, ("item", "company"))
        if not cands:
            return False
        e = cands[target % len(cands)]
        e.rev = max(r for _, _, r in e.edits if r is not None) + 1
        e.shown[side] = e.rev
        rid = e.ids[side]
        if e.kind == "item":
            if side == "books":
                self._call("books", "PUT", f"/items/{rid}", json={"name": e.name(), "rate": 10 + e.rev})
            else:
                self._fsm_write("PUT", f"/{SP}/{rid}", {"Name": e.name(), "Unit_Price": 10 + e.rev})
        elif side == "books":
            self._call("books", "PUT", f"/contacts/{rid}", json={"contact_name": e.name(), "company_name": e.name()})
        else:
            self._fsm_write("PUT", f"/Companies/{rid}", {"Company_Name": e.name()})
        e.edits.append((self._now(), side, e.rev))
        return True

    def deactivate(self, side: str, target: int) -> bool:
        cands = [e for e in self._live(side, ("item",)) if side not in e.inactive]
        if not cands:
            return False
        e = cands[target % len(cands)]
        if side == "books":
            self._call("books", "POST", f"/items/{e.ids['books']}/inactive")
        else:
            self._fsm_write("PUT", f"/{SP}/{e.ids['fsm']}", {"$inactive": True})
        e.inactive[side] = self._now()
        return True

    def delete(self, side: str, target: int) -> bool:
        cands = self._live(side, ("item", "company", "person", "individual"))
        if side == "fsm":  # an FSM Company deleted leaves its Contacts without one: not modelled
            cands = [e for e in cands if e.kind != "company"
                     or not any(p.parent == e.key and "fsm" not in p.deleted for p in self.ents.values())]
        if not cands:
            return False
        e = cands[target % len(cands)]
        rid = e.ids[side]
        if side == "books":
            path = {"item": f"/items/{rid}", "company": f"/contacts/{rid}", "individual": f"/contacts/{rid}",
                    "person": f"/contacts/contactpersons/{rid}"}[e.kind]
            self._call("books", "DELETE", path)
            if e.kind == "person" and e.parent is not None:
                self.ents[e.parent].touch("books", self._now())
            if e.kind == "company":  # its contact persons go with it
                for p in self.ents.values():
                    if p.parent == e.key:
                        p.deleted.add("books")
        else:
            module = {"item": SP, "company": "Companies", "individual": "Contacts", "person": "Contacts"}[e.kind]
            self._call("fsm", "DELETE", f"/{module}/{rid}")
        e.deleted.add(side)
        return True

    def currency(self, side: str) -> bool:
        if side == "books":  # a new Books currency: the next run creates it in FSM at rate 1 (TW-10)
            if len(self.books_currencies) >= len(BOOKS_CURRENCIES):
                return False
            code = BOOKS_CURRENCIES[len(self.books_currencies)]
            self._call("books", "POST", "/settings/currencies", json={"currency_code": code, "currency_symbol": code})
            self.books_currencies.append(code)
        else:  # a Company in a currency only FSM has: it must fail, naming the currency (TW-10)
            self.create("fsm", "company", 0, with_currency=True)
        return True

    def mapping_change(self) -> None:
        """Through the syncer's API: the items mapping with or without SKU. The mapping version
        moves, so the next run reads every record again (TW-03, TW-07)."""
        self.items_mapping_has_sku = not self.items_mapping_has_sku
        rows = [{"fsm_field": "Description", "books_field": "description"},
                {"fsm_field": "Unit", "books_field": "unit"}]
        if self.items_mapping_has_sku:
            rows.append({"fsm_field": "SKU", "books_field": "sku"})
        self.integration.settings(mappings={"items": rows})

    # -- runs -------------------------------------------------------------------------------------
    def _argv(self) -> list[str]:
        return ["--integration", self.integration.id, "--db", self.syncer_db, "--fakes", self.lab.url,
                "--trigger", "auto", "--lease-seconds", str(LEASE_SECONDS), "--batch-size", str(self.batch_size),
                # a write of unknown outcome is looked for this long before it is sent again: longer
                # than the late answers the checker injects, far shorter than the 30 s default
                "--unknown-outcome-wait", str(UNKNOWN_OUTCOME_WAIT)]

    def sync(self, kill: dict[str, Any] | None, faults: list[dict[str, Any]]) -> None:
        self.lab.clock.advance(CLOCK_PER_RUN)
        self.runs += 1
        if not kill and not faults:
            rc, out = self.procs.run(self._argv())
            self.check(out)
            return
        added = []
        for f in faults:
            product, method, path = FAULT_TARGETS[f["at"]]
            added.append(self.lab.faults.add(product=product, method=method, path=path,
                                             org=self.tenant.org(product), nth=int(f.get("nth", 1)),
                                             times=int(f.get("times", 1)), action=FAULT_KINDS[f["kind"]]))
        try:
            if kill and "sigkill_ms" in kill:
                rc, _ = self.procs.run(self._argv(), sigkill_after=int(kill["sigkill_ms"]) / 1000)
            else:
                rc, _ = self.procs.run(self._argv(), die_after_writes=int(kill["after_writes"]) if kill else None)
        finally:
            for rule in added:
                self.lab.faults.remove(rule["id"])
        self.faulty_runs += bool(faults)
        if rc in (137, -9):
            self.kills += 1
            time.sleep(LEASE_SECONDS + 0.1)  # the dead run's lock lease runs out
        if any(f["kind"] == "timeout" for f in faults):
            time.sleep(DELAY_PAST_TIMEOUT - CLIENT_TIMEOUT + 0.2)  # a delayed call still in the fakes lands
        for e in self.ents.values():  # a run that did not finish cleanly may have made any partner
            if not e.synced:
                e.maybe = True
            e.shown = {}  # and written any value

    # -- the invariants ---------------------------------------------------------------------------
    def observe(self) -> dict[str, Observed]:
        fsm, books = Observed(), Observed()
        for module in (SP, "Companies", "Contacts"):
            for rec in self._fsm_list(module):
                text = rec.get("Last_Name") if module == "Contacts" else rec.get("Name" if module == SP else
                                                                                  "Company_Name")
                m = TOKEN.search(str(text or ""))
                if m:
                    fsm.add(int(m.group(1)), {"id": rec["id"], "module": module, "name": text,
                                              "inactive": bool(rec.get("$inactive")), "raw": rec})
        for item in self._books_list("/items", "items"):
            m = TOKEN.search(item.get("name") or "")
            if m:
                books.add(int(m.group(1)), {"id": item["item_id"], "module": "items", "name": item["name"],
                                            "inactive": item.get("status") == "inactive", "raw": item})
        for row in self._books_list("/contacts", "contacts", contact_type="customer"):
            m = TOKEN.search(row.get("contact_name") or "")
            if m:
                books.add(int(m.group(1)), {"id": row["contact_id"], "module": "contacts",
                                            "name": row["contact_name"],
                                            "inactive": row.get("status") == "inactive", "raw": row})
            if row.get("customer_sub_type") == "business":
                customer = self._call("books", "GET", f"/contacts/{row['contact_id']}")["contact"]
                for p in customer.get("contact_persons") or []:
                    pm = TOKEN.search(p.get("last_name") or "")
                    if pm:
                        books.add(int(pm.group(1)), {"id": p["contact_person_id"], "module": "contact_persons",
                                                     "name": p.get("last_name"), "inactive": False, "raw": p})
        return {"fsm": fsm, "books": books}

    def expect(self, e: Ent, side: str) -> str:
        """'yes' (exactly one), 'no' (none) or 'maybe' (none or one) records of ``e`` on ``side``."""
        if side in e.deleted:
            return "no"  # deleted there: never recreated (TW-14)
        if side == e.origin:
            return "yes"
        if e.synced:
            return "yes"  # a partner is never deleted by a delete on the other side (TW-14)
        eligible = self._eligible(e)
        if eligible == "yes":
            return "yes"
        return "maybe" if (e.maybe or eligible == "maybe") else "no"

    def _eligible(self, e: Ent) -> str:
        if e.origin in e.deleted or e.currency:
            return "no"
        if e.kind == "item" and e.origin in e.inactive:
            return "no"  # Books: nothing is made from an inactive item; FSM: inactive is ignored (TW-14)
        if e.kind == "person":
            parent = self.ents[e.parent]
            states = {self.expect(parent, "books"), self.expect(parent, "fsm")}
            if states == {"yes"}:
                return "yes"
            return "maybe" if "maybe" in states and "no" not in states else "no"
        return "yes"

    def check(self, run_output: str) -> None:
        self.checks += 1
        step = self.step_index
        line = (run_output.strip().splitlines() or [""])[-1].split()
        run_id, status = (line[0], line[1]) if len(line) >= 2 else ("", "")
        if status != "succeeded":
            raise Violation("clean run succeeds", f"a run without faults or kills ended {status or 'without a result'}: "
                            f"{run_output.strip()[-400:]}", step)
        obs = self.observe()
        failures = self.syncer.failures(run_id)
        failed_ids = {f.get("record_id"): f for f in failures}
        # the run log: one reason per failed record, counts that match the rows (TW-25)
        for f in failures:
            if not (f.get("reason") or "").strip():
                raise Violation("failed records carry a reason", f"failure without a reason: {f}", step)
        run = self.syncer.run(run_id)
        for m in run.get("modules") or []:
            rows = [f for f in failures if f.get("module") == m["module"]]
            if int(m.get("failed", 0)) != len(rows):
                raise Violation("the run log counts match the records",
                                f"run {run_id} counts {m['failed']} failed {m['module']}, its failure log has "
                                f"{len(rows)}", step)
        for e in sorted(self.ents.values(), key=lambda x: x.key):
            for side in ("books", "fsm"):
                seen = obs[side].of(e.key)
                want = self.expect(e, side)
                names = [r["name"] for r in seen]
                if len(seen) > 1:
                    raise Violation("no duplicates", f"{e.label()} is {len(seen)} times in {_side_name(side)}: "
                                    f"{names}", step)
                if want == "no" and seen:
                    what = ("a deleted record came back" if side in e.deleted else "a record that must not sync "
                            "has a partner")
                    raise Violation("no revived deletes" if side in e.deleted else "exactly one partner",
                                    f"{e.label()}: {what} in {_side_name(side)}: {names}", step)
                if want == "yes" and not seen:
                    why = ""
                    src = e.ids.get(_other(side))
                    if src in failed_ids:
                        why = f" (the run failed it: {failed_ids[src].get('reason')})"
                    what = ("its partner was deleted" if side != e.origin and e.synced else
                            "has no partner" if side != e.origin else "is gone from the side it was made on")
                    raise Violation("exactly one partner", f"{e.label()} {what} in {_side_name(side)}{why}", step)
            if e.currency and e.origin not in e.deleted and not obs[_other(e.origin)].of(e.key):
                f = failed_ids.get(e.ids.get(e.origin))
                if f is None or e.currency not in (f.get("reason") or ""):
                    raise Violation("failed records carry a reason",
                                    f"{e.label()} in {e.currency} (a currency Books lacks) is not in the run's "
                                    f"failures with a reason naming the currency: {f}", step)
            self._check_pair(e, obs, step)
        fsm_codes = {c.get("iso_code") for c in (self._call("fsm", "GET", "/_internal/currencies") or {})
                     .get("currencies", [])}
        missing = [c for c in self.books_currencies if c not in fsm_codes]
        if missing:
            raise Violation("Books currencies exist in FSM", f"FSM lacks {missing} after a clean run (TW-10)", step)
        # what the check saw settles the model
        for e in self.ents.values():
            for side in ("books", "fsm"):
                seen = obs[side].of(e.key)
                if len(seen) == 1:
                    e.ids[side] = seen[0]["id"]
                    m = re.search(r"\br(\d+)\b", str(seen[0]["name"] or ""))
                    e.shown[side] = int(m.group(1)) if m else None
                    if side != e.origin:
                        e.synced = True
            e.maybe = False

    def _check_pair(self, e: Ent, obs: dict[str, Observed], step: int) -> None:
        fsm, books = obs["fsm"].of(e.key), obs["books"].of(e.key)
        if len(fsm) != 1 or len(books) != 1 or e.kind not in ("item", "company"):
            return
        if e.kind == "item" and "books" in e.inactive:
            # TW-14: a Books deactivation (later than any FSM edit) deactivates the FSM partner
            fsm_edits = [t for t, side, _ in e.edits if side == "fsm"] + [e.inactive.get("fsm", 0)]
            if e.inactive["books"] > max(fsm_edits) and not fsm[0]["inactive"]:
                raise Violation("a Books deactivation deactivates the FSM partner",
                                f"{e.label()} is inactive in Books, its FSM partner is active", step)
        if e.inactive or e.latest_rev() is None:
            return  # inactive FSM records are ignored by the sync (TW-14); or a change of unknown value
        want = e.name(e.latest_rev())
        got = {"Books": books[0]["name"], "FSM": fsm[0]["name"]}
        if any(v != want for v in got.values()):
            last = max(e.edits, key=lambda x: x[0])
            raise Violation("latest edit wins", f"{e.label()}: its latest edit (revision {last[2]}, in "
                            f"{_side_name(last[1])}) is {want!r}, but Books shows {got['Books']!r} and FSM "
                            f"{got['FSM']!r}", step)
        if e.kind == "item":
            rates = (float(books[0]["raw"].get("rate") or 0), float(fsm[0]["raw"].get("Unit_Price") or 0))
            if rates[0] != rates[1]:
                raise Violation("latest edit wins", f"{e.label()}: rate {rates[0]} in Books, {rates[1]} in FSM", step)
