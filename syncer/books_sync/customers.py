"""FSM Companies and Contacts <-> Books/Invoice customers, by the integration's sync type
(TW-19, TW-06), with Billing <-> billing and Service <-> shipping addresses (TW-20).

What each sync type syncs (the seed's four tables):

- **I**: FSM Companies <-> Books customers of type *business*. FSM Contacts, Books individual
  customers and contact persons are not synced.
- **II**: FSM Contacts (all of them, with or without a Company) <-> Books customers of type
  *individual*: ``contact_name`` is the Contact's full name and the customer has one contact
  person (first/last name, email, phones) as its primary. Companies and business customers are
  not synced.
- **III**: FSM Companies <-> business customers, and each Contact of a Company <-> a contact
  person of that customer (links with books_entity ``contact_persons``). Books contact persons
  become FSM Contacts associated with the Company. Contacts without a Company and individual
  customers are not synced.
- **IV**: III, plus FSM Contacts without a Company <-> individual customers (both ways). A
  Company with a single Contact makes that Contact the customer's primary contact person.

Per record, as in ``items.py``: candidates are records changed since the previous run's start
on either side (TW-07: FSM ``Modified_Time`` search, Books ``last_modified_time``; everything on
the first sync or after a mapping change), streamed; links keep the modified times we synced so
our own writes are not changes; a pair changed on both sides goes to the latest modified side
(TW-02); a write is sent only when the mapped values differ. A partner deleted on either side
deactivates the link and is never recreated, and nothing is deleted (TW-14). A record in an FSM
currency Books lacks fails naming the currency (TW-10). On the first sync with **Overwrite**,
Company_Name matches a business customer's ``company_name`` and a Contact's Email an individual
customer's email (TW-02); with **Clone** a partner is created (a Books display-name clash fails
that record with Books' 3062 unless the org allows duplicate names).

Decisions where the documents are silent:

- **Books deactivation** (TW-14): a Books customer marked inactive deactivates its FSM Company
  or Contact (``"$inactive": true``, docs/fsm.md); inactive FSM records are ignored by sync, so
  nothing flows for that pair afterwards (a Books reactivation does not reactivate FSM, as for
  items). An unlinked inactive customer is not created in FSM. A business customer's
  deactivation leaves its Company's Contacts as they are (Books keeps contact persons inside
  the customer).
- **Contact persons** have no modified time of their own in Books (a person's change moves its
  customer's ``last_modified_time``): a person counts as changed in Books when its values differ
  from its Contact while the Contact is unchanged since the last sync; when both changed, the
  later of the Contact's ``Modified_Time`` and the customer's ``last_modified_time`` wins. A
  Books person and an FSM Contact under a linked pair are paired by email when neither is linked.
- A Contact keeps the kind of link it got first: one synced as an individual customer stays so
  when it later joins a Company, and one synced as a contact person is left alone when it loses
  its Company. A Contact (synced as a person) **moved to another Company** fails with that
  reason and keeps its link: Books cannot move a contact person, and a new person under the new
  customer would leave the old one to come back into FSM as a duplicate Contact. A move is told
  from a person deleted in Books by the Contact's FSM timeline (its Company changed since the
  last sync); a deleted person drops the link and nothing is recreated (TW-14).
- The sync type is chosen once, at enable (TW-01, TW-21): links never change kind under it.
- **Partner ids**: FSM ``ZBilling_Id`` holds the Books contact id (Companies, individual
  Contacts) or the contact person id (Contacts synced as persons); set at creation in FSM and
  written right after a create in Books. When the Books org defines a contact custom field with
  api_name ``cf_fsm_id`` it holds the FSM id.
- **Crash safety**: an intent is recorded before every create. A Books customer made after its
  intent is found again by ``cf_fsm_id`` (when defined) or by display name with
  ``created_time`` at or after the intent; a person by its customer and email; an FSM record by
  ``ZBilling_Id``. A pair's writes to its FSM Company/Contact go 100 a call (writers.FsmUpdates)
  and its link is marked synced only once FSM took them: they are idempotent, so a crash before
  means the same values are written again. A person's write to its Contact goes at once (its
  customer's link is marked in the same pass; a deferred write would be lost in a crash).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from ..clients import ZohoApiError
from ..store.models import RecordLink
from ..sync_core.context import chunked, parse_time, read_or_none, same_instant, with_retries
from ..sync_core.outcomes import HeldIntent, create_once, requeue
from ..sync_core.writers import FsmCreate, FsmCreates, FsmUpdate, FsmUpdates, PartnerIdWrites
from . import mapping
from .common import PARTNER_ID_FIELD, RunContext

COMPANIES = "Companies"
CONTACTS = "Contacts"
BOOKS_CONTACTS = "contacts"
BOOKS_PERSONS = "contact_persons"
MODULES = frozenset({COMPANIES, CONTACTS, BOOKS_CONTACTS, BOOKS_PERSONS})  # pending writes this phase owns
FSM_ID_FIELD = "cf_fsm_id"
NOT_FOUND_CODES = {1002, 1003}
PREFETCH_THREADS = 4  # concurrent customer reads (a real org's latency dominates them)
PERSON_FIELDS = ("first_name", "last_name", "email", "phone", "mobile")


class RecordSkipped(Exception):
    """A record that cannot sync for a reason of ours (e.g. its currency): logged, run goes on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# -- field conversions ----------------------------------------------------------------------------

def full_name(rec: dict[str, Any]) -> str:
    return (rec.get("Full_Name") or " ".join(x for x in (rec.get("First_Name"), rec.get("Last_Name")) if x)
            or rec.get("Email") or "")


def company_to_books(rec: dict[str, Any], pairs: list[mapping.Pair]) -> dict[str, Any]:
    name = rec.get("Company_Name") or ""
    return {"contact_name": name, "company_name": name, "contact_type": "customer", "customer_sub_type": "business",
            "billing_address": mapping.address_to_books(rec.get("Billing_Address")),
            "shipping_address": mapping.address_to_books(rec.get("Service_Address")),
            **mapping.to_books(pairs, rec, COMPANIES)}


def business_to_fsm(customer: dict[str, Any], pairs: list[mapping.Pair]) -> dict[str, Any]:
    out = {"Company_Name": customer.get("company_name") or customer.get("contact_name") or "",
           "Billing_Address": mapping.address_to_fsm(customer.get("billing_address")),
           "Service_Address": mapping.address_to_fsm(customer.get("shipping_address")),
           **_user_to_fsm(pairs, customer, COMPANIES)}
    if customer.get("currency_code"):
        out["Currency"] = customer["currency_code"]
    return out


def person_from_contact(rec: dict[str, Any]) -> dict[str, Any]:
    """An FSM Contact as a Books contact person."""
    return {"first_name": rec.get("First_Name") or "", "last_name": rec.get("Last_Name") or "",
            "email": rec.get("Email") or "", "phone": rec.get("Phone") or "", "mobile": rec.get("Mobile") or ""}


def contact_from_person(person: dict[str, Any], fallback_name: str = "", fallback_email: str = "") -> dict[str, Any]:
    """A Books contact person as FSM Contact fields (Last_Name and Email are mandatory in FSM)."""
    first, last = person.get("first_name") or "", person.get("last_name") or ""
    if not last:
        first, last = "", first or fallback_name
    return {"First_Name": first, "Last_Name": last, "Email": person.get("email") or fallback_email,
            "Phone": person.get("phone") or "", "Mobile": person.get("mobile") or ""}


def individual_to_books(rec: dict[str, Any], pairs: list[mapping.Pair]) -> dict[str, Any]:
    return {"contact_name": full_name(rec), "contact_type": "customer", "customer_sub_type": "individual",
            "billing_address": mapping.address_to_books(rec.get("Billing_Address")),
            "shipping_address": mapping.address_to_books(rec.get("Service_Address")),
            **mapping.to_books([p for p in pairs if p.fsm_field != "Full_Name"], rec, CONTACTS)}


def primary_person(customer: dict[str, Any]) -> dict[str, Any] | None:
    persons = customer.get("contact_persons") or []
    return next((p for p in persons if p.get("is_primary_contact")), persons[0] if persons else None)


def individual_to_fsm(customer: dict[str, Any], pairs: list[mapping.Pair]) -> dict[str, Any]:
    person = primary_person(customer) or {}
    out = {**contact_from_person(person, customer.get("contact_name") or "", customer.get("email") or ""),
           "Billing_Address": mapping.address_to_fsm(customer.get("billing_address")),
           "Service_Address": mapping.address_to_fsm(customer.get("shipping_address")),
           **_user_to_fsm(pairs, customer, CONTACTS)}
    if customer.get("currency_code"):
        out["Currency"] = customer["currency_code"]
    return out


def _user_to_fsm(pairs: list[mapping.Pair], customer: dict[str, Any], module: str) -> dict[str, Any]:
    # core pairs name a Company / Contact already; read-only Full_Name is never written
    return {k: v for k, v in mapping.to_fsm(pairs, customer, module).items() if k != "Full_Name"}


def _norm(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def differs(want: dict[str, Any], have: dict[str, Any] | None) -> bool:
    """Whether ``have`` lacks any of ``want``'s values (nested objects compared on want's keys,
    lookups ``{"id","name"}`` by id; lists are compared elsewhere)."""
    have = have or {}
    for key, value in want.items():
        got = have.get(key)
        if isinstance(value, list):
            continue
        if isinstance(value, dict):
            if differs(value, got if isinstance(got, dict) else {}):
                return True
        elif isinstance(got, dict) and "id" in got:
            if _norm(value) != _norm(got.get("id")):
                return True
        elif _norm(value) != _norm(got):
            return True
    return False


def _missing(exc: ZohoApiError) -> bool:
    return exc.status == 404 or exc.code in NOT_FOUND_CODES


def _lookup_id(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


# -- the phase ------------------------------------------------------------------------------------

class CustomersPhase:
    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.repo = ctx.repo
        self.integ = ctx.integration
        self.first_sync = ctx.since is None
        self.resync = "customers" in ctx.remapped  # TW-07: the customers mappings changed since the last run
        kind = self.integ.sync_type
        self.sync_type = kind
        self.companies = kind in ("I", "III", "IV")  # Companies <-> business customers
        self.persons = kind in ("III", "IV")  # a Company's Contacts <-> contact persons
        self.individuals = kind in ("II", "IV")  # Contacts <-> individual customers
        self.one_way = self.integ.mode == "one_way"  # OB-04: FSM pushes, nothing is read back
        self.done_books: set[str] = set()  # Books customers handled from the FSM side
        self.done_contacts: set[str] = set()  # FSM Contacts handled as contact persons
        rows = self.repo.get_mappings(self.integ.id, "customers")
        self.pairs = mapping.pairs_from_rows(rows) if rows else mapping.defaults("customers")
        self._currencies: dict[str, str] | None = None
        # customer id -> (the last_modified_time our own person write left, the time before it)
        self._own_times: dict[str, tuple[datetime | None, datetime | None]] = {}
        self._has_fsm_id_field: bool | None = None
        # creates in FSM and partner-id writes go 100 a call (sync_core.writers)
        self.creates = {COMPANIES: FsmCreates(ctx, COMPANIES, BOOKS_CONTACTS, partner_id_field=PARTNER_ID_FIELD),
                        CONTACTS: FsmCreates(ctx, CONTACTS, BOOKS_CONTACTS, partner_id_field=PARTNER_ID_FIELD),
                        BOOKS_PERSONS: FsmCreates(ctx, CONTACTS, BOOKS_PERSONS, partner_id_field=PARTNER_ID_FIELD)}
        self.partner_ids = PartnerIdWrites(ctx, partner_id_field=PARTNER_ID_FIELD)
        # a pair's writes to its FSM Company/Contact (Books values, deactivation, partner id) go 100
        # a call per module; its link is marked synced only when FSM took them (writers.FsmUpdates)
        self.updates = FsmUpdates(ctx)
        self._subject: tuple[str, str] = ("", "")  # the record being handled: a failure's id and name
        # module -> after an FSM pass that listed the whole module: the ZBilling_Id of the records
        # that came to it unlinked. Any other record naming a customer is linked to it already,
        # so a customer not named here needs no search for its partner (the set stays as small
        # as the unlinked records: memory does not grow with the org)
        self.fsm_partner_ids: dict[str, set[str]] = {}
        self._fetched: dict[str, dict[str, Any]] = {}  # customers read ahead for the current page

    def flush(self) -> None:
        """Send what is queued: Companies before the Contacts their persons become."""
        for key in (COMPANIES, CONTACTS, BOOKS_PERSONS):
            self.creates[key].flush()
        self.updates.flush()
        self.partner_ids.flush()

    # -- the run ----------------------------------------------------------------------------------
    def run(self) -> None:
        if self.companies:
            self._fsm_pass(COMPANIES, lambda rec, link: self._guard(
                COMPANIES, rec.get("id", ""), rec.get("Company_Name", ""), self._company_from_fsm, rec, link))
        if self.individuals or self.persons:
            self._fsm_pass(CONTACTS, lambda rec, link: rec.get("id") in self.done_contacts or self._guard(
                CONTACTS, rec.get("id", ""), full_name(rec), self._contact_from_fsm, rec, link))
        self.partner_ids.flush()
        if self.one_way:
            return
        filters: dict[str, Any] = {"contact_type": "customer"}
        if not self.individuals:
            filters["customer_sub_type"] = "business"
        elif not self.companies:
            filters["customer_sub_type"] = "individual"
        rows = self.ctx.books.list_contacts(modified_since=self.ctx.since, **filters)
        retry = self.ctx.retry.get(COMPANIES, set()) | self.ctx.retry.get(CONTACTS, set())
        for page in chunked(with_retries(rows, retry, self._retry_customer, key="contact_id"), 200):
            links = self.repo.links_by_partner(self.integ.id, BOOKS_CONTACTS, [r.get("contact_id", "") for r in page])
            self._prefetch({r.get("contact_id", "") for r in page},
                           [r["contact_id"] for r in page if r.get("contact_id") not in links
                            and r.get("contact_id") not in self.done_books and r.get("status") != "inactive"])
            for row in page:
                cid = row.get("contact_id", "")
                if cid in self.done_books:
                    continue
                sub_type = row.get("customer_sub_type") or "business"
                if sub_type == "business" and self.companies:
                    self._guard(COMPANIES, cid, row.get("contact_name", ""), self._business_from_books, row,
                                links.get(cid))
                elif sub_type == "individual" and self.individuals:
                    self._guard(CONTACTS, cid, row.get("contact_name", ""), self._individual_from_books, row,
                                links.get(cid))
        self.flush()

    def _fsm_pass(self, module: str, handle: Callable[[dict[str, Any], RecordLink | None], Any]) -> None:
        """The FSM records of ``module`` changed since the previous run (all on a first sync or
        after a mapping change), a page at a time with their links read in one query."""
        full = self.ctx.since is None
        records = self.ctx.fsm.list_records(module) if full else self.ctx.fsm.modified_since(module, self.ctx.since)
        records = with_retries(records, self.ctx.retry.setdefault(module, set()),
                               lambda rid: self.ctx.fsm.get_record(module, rid))
        seen: set[str] = set()
        for page in chunked(records, 200):
            links = self.repo.links_by_fsm(self.integ.id, module, [r.get("id", "") for r in page])
            for rec in page:
                link = links.get(rec.get("id", ""))
                if link is None and rec.get("ZBilling_Id"):
                    seen.add(str(rec["ZBilling_Id"]))
                handle(rec, link)
        self.updates.flush()  # the pass's pairs are synced before the next pass reads their links
        if full:
            self.fsm_partner_ids[module] = seen

    def _guard(self, stat: str, record_id: str, name: str,
               fn: Callable[[dict[str, Any], RecordLink | None], None], record: dict[str, Any],
               link: RecordLink | None) -> None:
        """A record-level failure is logged with its reason and the run goes on."""
        self._subject = (record_id, name)  # a queued write of it that FSM refuses fails under these
        try:
            fn(record, link)
        except RecordSkipped as exc:
            self.ctx.failed(stat, record_id, exc.reason, name)
        except ZohoApiError as exc:
            if not exc.is_record_level:
                raise
            self.ctx.failed(stat, record_id, self.ctx.reason_of(exc), name)

    # -- shared helpers ---------------------------------------------------------------------------------
    def _currency_id(self, code: Any) -> str | None:
        """The Books currency of an FSM record's Currency; an FSM-only currency fails the record (TW-10)."""
        if not code:
            return None
        if self._currencies is None:
            self._currencies = {c.get("currency_code"): c.get("currency_id") for c in self.ctx.books.list_currencies()}
        if code not in self._currencies:
            raise RecordSkipped(f"Currency {code} is not available in Zoho {self.integ.partner_product.title()}")
        return self._currencies[code]

    def _fsm_id_field(self) -> bool:
        if self._has_fsm_id_field is None:
            defs = ((self.ctx.books.internal_settings().get("custom_fields") or {}).get("contact") or [])
            self._has_fsm_id_field = any(d.get("api_name") == FSM_ID_FIELD for d in defs)
        return self._has_fsm_id_field

    def _prefetch(self, page_ids: set[str], contact_ids: list[str]) -> None:
        """Read the customers a page will create a few at a time: Books lists no addresses or
        persons, so each new customer costs one GET, and those need not wait on each other. What
        was read already for this page (a retried customer, linked or not) is kept, not read again."""
        self._fetched = {cid: c for cid, c in self._fetched.items() if cid in page_ids}
        contact_ids = [cid for cid in contact_ids if cid not in self._fetched]
        if len(contact_ids) < 2:
            return

        def fetch(cid: str) -> tuple[str, dict[str, Any] | None]:
            try:
                return cid, self.ctx.books.get_contact(cid)
            except ZohoApiError:
                return cid, None  # read again (and failed properly) when the record is handled

        with ThreadPoolExecutor(PREFETCH_THREADS, thread_name_prefix="zlab-prefetch") as pool:
            self._fetched.update((cid, c) for cid, c in pool.map(fetch, contact_ids) if c is not None)

    def _retry_customer(self, contact_id: str) -> dict[str, Any] | None:
        """A customer a previous run failed, as its list row would show it (None when the id is
        not a customer's: deleted, an FSM id, a contact person's)."""
        customer = read_or_none(self.ctx.books.get_contact, contact_id, NOT_FOUND_CODES)
        if customer is None or customer.get("contact_type") != "customer":
            return None
        self._fetched[contact_id] = customer  # no second read when it is handled
        return customer

    def _get_customer(self, contact_id: str) -> dict[str, Any] | None:
        fetched = self._fetched.pop(contact_id, None)
        if fetched is not None:
            return fetched
        try:
            return self.ctx.books.get_contact(contact_id)
        except ZohoApiError as exc:
            if _missing(exc):
                return None
            raise

    def _books_time(self, customer: dict[str, Any]) -> datetime | None:
        """The customer's time of its last change that was not ours: a contact person we wrote moves
        the customer's ``last_modified_time``, which must not beat an FSM edit made before it."""
        now = parse_time(customer.get("last_modified_time"))
        own = self._own_times.get(customer.get("contact_id", ""))
        return own[1] if own is not None and same_instant(now, own[0]) else now

    def _wrote_persons(self, before: dict[str, Any], after: dict[str, Any]) -> None:
        self._own_times[after["contact_id"]] = (parse_time(after.get("last_modified_time")), self._books_time(before))

    def _fsm_update(self, module: str, record_id: str, data: dict[str, Any]) -> datetime | None:
        result = self.ctx.fsm.update_record(module, record_id, data)
        if not result.ok:
            raise result.error("fsm")
        return parse_time((result.details or {}).get("Modified_Time"))

    def _queue_update(self, link: RecordLink, data: dict[str, Any], books_time: datetime | None, *,
                      counted: bool = True) -> None:
        """Queue a pair's write to its FSM record (sent 100 a call per module): FSM taking it marks
        the link synced with the write's FSM time and ``books_time``; FSM refusing it fails the
        record being handled alone (``_guard``'s id and name), and the pair is tried again next run."""
        record_id, name = self._subject
        self.updates.add(FsmUpdate(link, data, books_time, COMPANIES if link.fsm_module == COMPANIES else CONTACTS,
                                   record_id or link.fsm_id, name, counted=counted))

    def _mark(self, link: RecordLink, *, fsm_time: datetime | None = None, books_time: datetime | None = None,
              result: str = "synced") -> RecordLink:
        return self.repo.upsert_link(self.integ.id, fsm_module=link.fsm_module, fsm_id=link.fsm_id,
                                     partner_entity=link.partner_entity, partner_id=link.partner_id, run_id=self.ctx.run_id,
                                     fsm_modified_time=fsm_time or link.fsm_modified_time,
                                     partner_modified_time=books_time or link.partner_modified_time, result=result)

    def _link(self, fsm_module: str, fsm_id: str, books_entity: str, books_id: str, result: str, *,
              fsm_time: datetime | None = None, books_time: datetime | None = None) -> RecordLink:
        return self.repo.upsert_link(self.integ.id, fsm_module=fsm_module, fsm_id=fsm_id, partner_entity=books_entity,
                                     partner_id=books_id, run_id=self.ctx.run_id, result=result,
                                     fsm_modified_time=fsm_time, partner_modified_time=books_time)

    def _unlinked_books(self, contact_id: str) -> bool:
        return self.repo.link_by_partner(self.integ.id, BOOKS_CONTACTS, contact_id) is None

    def _unlinked_fsm(self, module: str, record_id: str) -> bool:
        return self.repo.link_by_fsm(self.integ.id, module, record_id) is None

    # -- a pair: Company <-> business customer, or Contact <-> individual customer ----------------------
    def _pair(self, link: RecordLink, *, rec: dict[str, Any] | None = None, customer: dict[str, Any] | None = None,
              force_persons: bool = False) -> None:
        module = link.fsm_module
        stat = COMPANIES if module == COMPANIES else CONTACTS
        rec = rec if rec is not None else self.ctx.fsm.get_record(module, link.fsm_id)
        if rec is None:
            self.repo.deactivate_link(link.id, "deleted in FSM")
            return
        customer = customer if customer is not None else self._get_customer(link.partner_id)
        if customer is None:
            self.repo.deactivate_link(link.id, "deleted in Books")
            return
        self.done_books.add(customer["contact_id"])
        if rec.get("$inactive"):
            return  # inactive FSM records are ignored (TW-14)
        if customer.get("status") == "inactive":
            self._deactivate(link, rec, customer)  # a Books deactivation deactivates the partner (TW-14)
            return
        if customer["contact_id"] in self.ctx.pair_dependents:  # its persons' creates were abandoned
            self.ctx.pair_dependents.discard(customer["contact_id"])
            force_persons = True
        fsm_time = parse_time(rec.get("Modified_Time"))
        books_time = parse_time(customer.get("last_modified_time"))
        fsm_changed = not same_instant(fsm_time, link.fsm_modified_time)
        books_changed = not self.one_way and not same_instant(books_time, link.partner_modified_time)
        external_time = self._books_time(customer)
        wrote = False
        to_fsm: dict[str, Any] = {}  # what the FSM record gets: queued, sent 100 a call (self.updates)
        remapped = self.resync and not fsm_changed and not books_changed
        if remapped:  # TW-07: only the mappings changed: FSM's mapped values go (where they differ)
            fsm_changed = True
        if fsm_changed and not (books_changed and external_time and fsm_time and external_time > fsm_time):
            currency_id = self._currency_id(rec.get("Currency"))
            if module == COMPANIES:
                want = company_to_books(rec, self.pairs)
                person_want = None
            else:
                want = individual_to_books(rec, self.pairs)
                person_want = {**person_from_contact(rec), "is_primary_contact": True}
            if currency_id and currency_id != customer.get("currency_id"):
                want["currency_id"] = currency_id
            primary = primary_person(customer)
            if person_want is not None and (primary is None or differs(person_from_contact(rec), primary)):
                if primary is None:  # made once: a lost answer is looked for by email (outcomes.create_once)
                    cid, email = customer["contact_id"], (person_want.get("email") or "").lower()
                    create_once(self.ctx, lambda: self.ctx.books.create_contact_person(cid, person_want),
                                lambda: next((p for p in self.ctx.books.get_contact(cid).get("contact_persons") or []
                                              if email and (p.get("email") or "").lower() == email), None))
                else:
                    self.ctx.books.update_contact_person(primary["contact_person_id"], person_want)
                wrote = True
            if differs(want, customer):
                customer = self.ctx.books.update_contact(customer["contact_id"], want)
                wrote = True
            elif wrote:
                customer = self.ctx.books.get_contact(customer["contact_id"])
            books_time = parse_time(customer.get("last_modified_time")) or books_time
            if str(rec.get("ZBilling_Id") or "") != customer["contact_id"]:  # an adopted pair: its partner id
                to_fsm["ZBilling_Id"] = customer["contact_id"]
        elif books_changed:
            want = (business_to_fsm(customer, self.pairs) if module == COMPANIES
                    else individual_to_fsm(customer, self.pairs))
            if str(rec.get("ZBilling_Id") or "") != customer["contact_id"]:
                want["ZBilling_Id"] = customer["contact_id"]
            if differs(want, rec):
                to_fsm.update(want)
                wrote = True
        if remapped and not self.one_way:  # … then what only Books holds comes to FSM
            back = _user_to_fsm(self.pairs, customer, module)
            if differs(back, rec):
                to_fsm.update(back)
                wrote = True
        if module == COMPANIES and self.persons and (books_changed or force_persons):
            # contact persons changed in Books move the customer's time: pair them with the Contacts
            before = customer.get("last_modified_time")
            customer, persons_wrote = self._reconcile_persons(rec, customer)
            if customer.get("last_modified_time") != before:
                books_time = parse_time(customer.get("last_modified_time")) or books_time
            wrote = wrote or persons_wrote
        if to_fsm:
            # the link is marked synced (with the FSM time of the write) only once FSM took it: a
            # crash before leaves the pair unsynced, and the next run writes the same values again
            self._queue_update(link, to_fsm, books_time, counted=wrote)
            return
        self._mark(link, fsm_time=fsm_time, books_time=books_time)
        if wrote:
            self.ctx.ok(stat)

    def _deactivate(self, link: RecordLink, rec: dict[str, Any], customer: dict[str, Any]) -> None:
        """TW-14: the FSM Company/Contact of a customer Books deactivated is deactivated, and from
        then on ignored like every inactive FSM record (a reactivation in Books does not bring it
        back: FSM's inactive records are not synced, as for items)."""
        self._queue_update(link, {"$inactive": True}, parse_time(customer.get("last_modified_time")))

    # -- FSM -> Books ---------------------------------------------------------------------------------
    def _company_from_fsm(self, rec: dict[str, Any], link: RecordLink | None) -> None:
        if rec.get("$inactive"):
            return  # inactive FSM records are ignored (TW-14)
        if link is not None and not link.active:
            return  # its partner was deleted: never recreated (TW-14)
        if link is None:
            currency_id = self._currency_id(rec.get("Currency"))
            link = self._adopt_for_fsm(rec, COMPANIES)
            if link is None:
                self._create_customer(rec, COMPANIES, currency_id)
                return
            self._pair(link, rec=rec, force_persons=True)
            return
        if same_instant(parse_time(rec.get("Modified_Time")), link.fsm_modified_time) and not self.resync:
            return  # unchanged since we synced it (our own write)
        self._pair(link, rec=rec)

    def _contact_from_fsm(self, rec: dict[str, Any], link: RecordLink | None) -> None:
        if rec.get("$inactive"):
            return
        if link is not None and not link.active:
            return
        company_id = _lookup_id(rec.get("Company"))
        if link is not None:
            as_person = link.partner_entity == BOOKS_PERSONS
        elif self.sync_type == "II":
            as_person = False
        elif company_id:
            if not self.persons:
                return
            as_person = True
        elif self.sync_type == "IV":
            as_person = False
        else:
            return  # III: Contacts without a Company are not synced
        if as_person:
            if company_id and self.persons:
                self._person_from_fsm(rec, company_id, link)
            return
        if link is None:
            currency_id = self._currency_id(rec.get("Currency"))
            link = self._adopt_for_fsm(rec, CONTACTS)
            if link is None:
                self._create_customer(rec, CONTACTS, currency_id)
                return
            self._pair(link, rec=rec)
            return
        if same_instant(parse_time(rec.get("Modified_Time")), link.fsm_modified_time) and not self.resync:
            return
        self._pair(link, rec=rec)

    def _adopt_for_fsm(self, rec: dict[str, Any], module: str) -> RecordLink | None:
        """An unlinked Company/Contact whose Books partner exists already: by ZBilling_Id, or
        (Overwrite, first sync) by Company_Name / Email (TW-02)."""
        sub_type = "business" if module == COMPANIES else "individual"
        found = None
        partner_id = str(rec.get("ZBilling_Id") or "")
        if partner_id:
            found = self._get_customer(partner_id)
            if found is not None and found.get("customer_sub_type") != sub_type:
                found = None
        elif self.integ.duplicate_policy == "overwrite" and self.first_sync:
            if module == COMPANIES:
                name = (rec.get("Company_Name") or "").strip()
                rows = self.ctx.books.list_contacts(company_name=name, contact_type="customer",
                                                    customer_sub_type="business") if name else []
                found = next((c for c in rows if (c.get("company_name") or "").lower() == name.lower()
                              and self._unlinked_books(c["contact_id"])), None)
            else:
                email = (rec.get("Email") or "").strip()
                rows = self.ctx.books.list_contacts(email=email, contact_type="customer",
                                                    customer_sub_type="individual") if email else []
                found = next((c for c in rows if (c.get("email") or "").lower() == email.lower()
                              and self._unlinked_books(c["contact_id"])), None)
            if found is not None:
                found = self._get_customer(found["contact_id"])
        if found is None or not self._unlinked_books(found["contact_id"]):
            return None
        return self._link(module, rec["id"], BOOKS_CONTACTS, found["contact_id"], "linked")

    def _create_customer(self, rec: dict[str, Any], module: str, currency_id: str | None) -> None:
        contacts: list[dict[str, Any]] = []
        if module == COMPANIES:
            data = company_to_books(rec, self.pairs)
            if self.persons:  # the Company's Contacts come along as contact persons
                contacts = [c for c in self.ctx.fsm.related(COMPANIES, rec["id"], CONTACTS)
                            if self._unlinked_fsm(CONTACTS, c["id"])]
                data["contact_persons"] = [{**person_from_contact(c), **({"is_primary_contact": True}
                                                                          if len(contacts) == 1 else {})}
                                           for c in contacts]
        else:
            data = {**individual_to_books(rec, self.pairs),
                    "contact_persons": [{**person_from_contact(rec), "is_primary_contact": True}]}
        if currency_id:
            data["currency_id"] = currency_id
        if self._fsm_id_field():
            data["custom_fields"] = [{"api_name": FSM_ID_FIELD, "value": rec["id"]}]
        pending = self.repo.record_pending(self.integ.id, side="partner", module=BOOKS_CONTACTS, source_id=rec["id"],
                                           source_module=module, run_id=self.ctx.run_id,
                                           payload={"contact_name": data["contact_name"]})
        try:
            customer, found = create_once(self.ctx, lambda: self.ctx.books.create_contact(data),
                                          lambda: self._find_created_customer(pending))
        except ZohoApiError as exc:
            if exc.is_record_level:  # refused: nothing was made
                self.repo.resolve_pending(pending.id, outcome=f"failed: {exc.code}")
            raise  # else the intent stays open: the next run's recovery finds out
        link = self._link_created(module, rec["id"], customer, pending.id, "found_existing" if found else "created")
        if module == COMPANIES and self.persons:
            customer, _ = self._reconcile_persons(rec, customer, contacts)
            self._mark(link, books_time=parse_time(customer.get("last_modified_time")))
        self.ctx.ok(COMPANIES if module == COMPANIES else CONTACTS)

    def _link_created(self, module: str, fsm_id: str, customer: dict[str, Any], pending_id: str | None,
                      outcome: str = "created") -> RecordLink:
        """Link a customer we created, finish its intent, and give the FSM record its partner id."""
        link = self._link(module, fsm_id, BOOKS_CONTACTS, customer["contact_id"], "created",
                          books_time=parse_time(customer.get("last_modified_time")))
        if pending_id:
            self.repo.resolve_pending(pending_id, created_id=customer["contact_id"], outcome=outcome)
        self.done_books.add(customer["contact_id"])
        self.partner_ids.add(link, COMPANIES if module == COMPANIES else CONTACTS,
                             customer.get("contact_name", ""))  # sent 100 a call
        return link

    # -- Contacts of a Company <-> contact persons (III, IV) ----------------------------------------------
    def _person_from_fsm(self, rec: dict[str, Any], company_id: str, link: RecordLink | None) -> None:
        if link is not None and same_instant(parse_time(rec.get("Modified_Time")), link.fsm_modified_time):
            return
        company_link = self.repo.link_by_fsm(self.integ.id, COMPANIES, company_id)
        if company_link is None or not company_link.active:
            return  # its Company is not synced (or its partner was deleted)
        customer = self._get_customer(company_link.partner_id)
        if customer is None:
            self.repo.deactivate_link(company_link.id, "deleted in Books")
            return
        if customer.get("status") == "inactive":
            return
        in_sync = same_instant(parse_time(customer.get("last_modified_time")), company_link.partner_modified_time)
        persons = {p["contact_person_id"]: p for p in customer.get("contact_persons") or []}
        wrote = self._person_pair(rec, customer, persons, set(), single=None, books_in_sync=in_sync)
        if wrote:  # our person write moved the customer's time: not a Books change
            before, customer = customer, self.ctx.books.get_contact(customer["contact_id"])
            self._wrote_persons(before, customer)
            new_time = parse_time(customer.get("last_modified_time"))
            person_link = self.repo.link_by_fsm(self.integ.id, CONTACTS, rec["id"])
            if person_link is not None:
                self._mark(person_link, books_time=new_time)
            if in_sync:
                self._mark(company_link, books_time=new_time)

    def _reconcile_persons(self, company: dict[str, Any], customer: dict[str, Any],
                           contacts: list[dict[str, Any]] | None = None) -> tuple[dict[str, Any], bool]:
        """Pair a linked Company's Contacts with its customer's contact persons, both ways. Returns
        the customer (read again when we wrote to its persons) and whether anything was written."""
        if contacts is None:
            contacts = list(self.ctx.fsm.related(COMPANIES, company["id"], CONTACTS))
        persons = {p["contact_person_id"]: p for p in customer.get("contact_persons") or []}
        used: set[str] = set()
        wrote_books = wrote_fsm = False
        contact_ids = {c["id"] for c in contacts}
        for c in contacts:
            if c["id"] in self.done_contacts:
                link = self.repo.link_by_fsm(self.integ.id, CONTACTS, c["id"])
                if link is not None:
                    used.add(link.partner_id)
                continue
            try:
                wrote_books |= self._person_pair(c, customer, persons, used, single=len(contacts) == 1)
            except RecordSkipped as exc:
                self.ctx.failed(CONTACTS, c["id"], exc.reason, full_name(c))
            except ZohoApiError as exc:
                if not exc.is_record_level:
                    raise
                self.ctx.failed(CONTACTS, c["id"], self.ctx.reason_of(exc), full_name(c))
        new: list[dict[str, Any]] = []
        for pid, person in persons.items():
            if pid in used:
                continue
            link = self.repo.link_by_partner(self.integ.id, BOOKS_PERSONS, pid)
            if link is None:
                new.append(person)
            elif link.active and link.fsm_id not in contact_ids and self.ctx.fsm.get_record(CONTACTS, link.fsm_id) is None:
                self.repo.deactivate_link(link.id, "deleted in FSM")
        if new and not self.one_way:
            wrote_fsm = self._create_contacts(new, company["id"], customer)
        if wrote_books:
            before, customer = customer, self.ctx.books.get_contact(customer["contact_id"])
            self._wrote_persons(before, customer)
            new_time = parse_time(customer.get("last_modified_time"))
            for pid in used:
                link = self.repo.link_by_partner(self.integ.id, BOOKS_PERSONS, pid)
                if link is not None and link.active:
                    self._mark(link, books_time=new_time)
        return customer, wrote_books or wrote_fsm

    def _person_pair(self, rec: dict[str, Any], customer: dict[str, Any], persons: dict[str, dict[str, Any]],
                     used: set[str], *, single: bool | None, books_in_sync: bool = False) -> bool:
        """One Contact of a linked Company and its contact person. Returns whether Books was written."""
        self.done_contacts.add(rec["id"])
        link = self.repo.link_by_fsm(self.integ.id, CONTACTS, rec["id"])
        if link is not None and (not link.active or link.partner_entity != BOOKS_PERSONS):
            return False
        parent_time = self._books_time(customer)
        if link is None:
            email = (rec.get("Email") or "").lower()
            person = next((p for pid, p in persons.items() if pid not in used and email
                           and (p.get("email") or "").lower() == email
                           and self.repo.link_by_partner(self.integ.id, BOOKS_PERSONS, pid) is None), None)
            if person is None:
                if single is None:
                    single = self._single_contact(_lookup_id(rec.get("Company")))
                pid = self._create_person(rec, customer, single)
                used.add(pid)
                return True
            link = self._link(CONTACTS, rec["id"], BOOKS_PERSONS, person["contact_person_id"], "linked")
        else:
            person = persons.get(link.partner_id)
            if person is None and self._company_changed(rec, link):
                # it moved here from another Company. Books cannot move a contact person, and a new
                # one would leave the old one to come back into FSM as a duplicate Contact: the
                # record fails with the reason and keeps its link (module docstring)
                raise RecordSkipped("The Contact moved to another Company; moving a Contact between "
                                    "Companies is not synced (its contact person stays with the old customer)")
            if person is None:
                self.repo.deactivate_link(link.id, "deleted in Books")
                return False
        pid = person["contact_person_id"]
        used.add(pid)
        fsm_time = parse_time(rec.get("Modified_Time"))
        to_books = person_from_contact(rec)
        to_fsm = contact_from_person(person, customer.get("contact_name") or "")
        if str(rec.get("ZBilling_Id") or "") != pid:
            to_fsm["ZBilling_Id"] = pid
        if not differs(to_books, person):
            link = self._mark(link, fsm_time=fsm_time, books_time=parent_time)
            if "ZBilling_Id" in to_fsm:  # a newly paired Contact gets its partner id (sent 100 a call)
                self.partner_ids.add(link, CONTACTS, full_name(rec))
                self.ctx.ok(CONTACTS)
            return False
        fsm_changed = not same_instant(fsm_time, link.fsm_modified_time)
        books_unchanged = books_in_sync or (link.partner_modified_time is not None
                                            and same_instant(parent_time, link.partner_modified_time))
        if self.one_way:
            fsm_wins = True
        elif not fsm_changed:
            fsm_wins = False
        elif books_unchanged:
            fsm_wins = True
        else:  # both may have changed: the later of the Contact and its customer wins
            fsm_wins = not (parent_time and fsm_time and parent_time > fsm_time)
        if fsm_wins:
            self.ctx.books.update_contact_person(pid, to_books)
            if "ZBilling_Id" in to_fsm:
                fsm_time = self._fsm_update(CONTACTS, rec["id"], {"ZBilling_Id": pid}) or fsm_time
            self._mark(link, fsm_time=fsm_time, books_time=parent_time)
            self.ctx.ok(CONTACTS)
            return True
        fsm_time = self._fsm_update(CONTACTS, rec["id"], to_fsm) or fsm_time
        self._mark(link, fsm_time=fsm_time, books_time=parent_time)
        self.ctx.ok(CONTACTS)
        return False

    def _company_changed(self, rec: dict[str, Any], link: RecordLink) -> bool:
        """Whether the Contact's Company changed since we last synced it, by its FSM timeline
        (read only when its person is missing from its Company's customer: a move, or a delete
        in Books)."""
        synced = link.fsm_modified_time
        if synced is None or same_instant(parse_time(rec.get("Modified_Time")), synced):
            return False
        for entry in self.ctx.fsm.timeline(CONTACTS, rec["id"], sort_order="desc"):
            at = parse_time(entry.get("audited_time"))
            if at is None or at <= synced:
                return False
            if any(h.get("api_name") == "Company" for h in entry.get("field_history") or []):
                return True
        return False

    def _single_contact(self, company_id: str) -> bool:
        count = 0
        for _ in self.ctx.fsm.related(COMPANIES, company_id, CONTACTS):
            count += 1
            if count > 1:
                return False
        return count == 1

    def _create_person(self, rec: dict[str, Any], customer: dict[str, Any], single: bool) -> str:
        data = person_from_contact(rec)
        if single:  # a Company's only Contact is the customer's primary contact (TW-19)
            data["is_primary_contact"] = True
        pending = self.repo.record_pending(self.integ.id, side="partner", module=BOOKS_PERSONS, source_id=rec["id"],
                                           source_module=CONTACTS, run_id=self.ctx.run_id,
                                           payload={"contact_id": customer["contact_id"], "email": data["email"]})
        try:
            person, found = create_once(self.ctx, lambda: self.ctx.books.create_contact_person(customer["contact_id"],
                                                                                              data),
                                        lambda: self._find_created_person(pending))
        except ZohoApiError as exc:
            if exc.is_record_level:  # refused: nothing was made
                self.repo.resolve_pending(pending.id, outcome=f"failed: {exc.code}")
            raise  # else the intent stays open: the next run's recovery finds out
        pid = person["contact_person_id"]
        link = self._link(CONTACTS, rec["id"], BOOKS_PERSONS, pid, "created")
        self.repo.resolve_pending(pending.id, created_id=pid, outcome="found_existing" if found else "created")
        fsm_time = self._fsm_update(CONTACTS, rec["id"], {"ZBilling_Id": pid})
        self._mark(link, fsm_time=fsm_time, result="created")
        self.ctx.ok(CONTACTS)
        return pid

    def _create_contacts(self, persons: list[dict[str, Any]], company_id: str, customer: dict[str, Any]) -> bool:
        """Books contact persons as FSM Contacts of the Company: one intent each (carrying the
        customer, so recovery can pair its persons again), sent as one batch. Whether any was made."""
        creates = FsmCreates(self.ctx, CONTACTS, BOOKS_PERSONS, partner_id_field=PARTNER_ID_FIELD)
        for create in self._contact_creates(persons, company_id, customer):
            creates.queue.append(create)
        creates.flush()
        return creates.created > 0

    def _contact_creates(self, persons: list[dict[str, Any]], company_id: str,
                         customer: dict[str, Any]) -> list[FsmCreate]:
        books_time = parse_time(customer.get("last_modified_time"))
        out = []
        for p in persons:
            pid = p["contact_person_id"]
            name = " ".join(x for x in (p.get("first_name"), p.get("last_name")) if x) or p.get("email") or pid
            out.append(FsmCreate({**contact_from_person(p, customer.get("contact_name") or ""), "Company": company_id,
                                  "ZBilling_Id": pid}, pid, books_time, CONTACTS, name, self.done_contacts.add,
                                 payload={"contact_id": customer["contact_id"]}))
        return out

    # -- Books -> FSM ---------------------------------------------------------------------------------
    def _business_from_books(self, row: dict[str, Any], link: RecordLink | None) -> None:
        self._from_books(row, COMPANIES, link)

    def _individual_from_books(self, row: dict[str, Any], link: RecordLink | None) -> None:
        self._from_books(row, CONTACTS, link)

    def _from_books(self, row: dict[str, Any], module: str, link: RecordLink | None) -> None:
        if link is not None and (not link.active or link.fsm_module != module):
            return  # partner deleted (never recreated, TW-14), or linked as the other kind
        if link is not None:
            if (same_instant(parse_time(row.get("last_modified_time")), link.partner_modified_time)
                    and row.get("status") != "inactive" and row["contact_id"] not in self.ctx.pair_dependents):
                return  # unchanged since we synced it (a same-second deactivation and redo work still go on)
            self._pair(link)
            return
        if row.get("status") == "inactive":
            return  # nothing is created from an inactive customer
        customer = self._get_customer(row["contact_id"])
        if customer is None:
            return
        link = self._adopt_for_books(customer, module)
        if link is not None:
            self._pair(link, customer=customer, force_persons=True)
            return
        self._create_in_fsm(customer, module)

    def _adopt_for_books(self, customer: dict[str, Any], module: str) -> RecordLink | None:
        cid = customer["contact_id"]
        found = None
        listed = self.fsm_partner_ids.get(module)
        if listed is None or cid in listed:
            found = next((r for r in self.ctx.fsm.search(module, "ZBilling_Id", cid)
                          if self._unlinked_fsm(module, r["id"])), None)
        if found is None and self.integ.duplicate_policy == "overwrite" and self.first_sync:
            if module == COMPANIES:
                name = (customer.get("company_name") or customer.get("contact_name") or "").strip()
                found = next((r for r in (self.ctx.fsm.search(COMPANIES, "Company_Name", name, "equal") if name else [])
                              if (r.get("Company_Name") or "").lower() == name.lower()
                              and self._unlinked_fsm(COMPANIES, r["id"])), None)
            else:
                email = (customer.get("email") or (primary_person(customer) or {}).get("email") or "").strip()
                found = next((r for r in (self.ctx.fsm.search(CONTACTS, "Email", email, "equal") if email else [])
                              if (r.get("Email") or "").lower() == email.lower()
                              and (self.sync_type == "II" or not _lookup_id(r.get("Company")))
                              and self._unlinked_fsm(CONTACTS, r["id"])), None)
        if found is None:
            return None
        return self._link(module, found["id"], BOOKS_CONTACTS, cid, "linked")

    def _create_in_fsm(self, customer: dict[str, Any], module: str) -> None:
        """Queue the customer's FSM partner (created 100 a call); a business customer's contact
        persons follow as the new Company's Contacts."""
        cid = customer["contact_id"]
        data = business_to_fsm(customer, self.pairs) if module == COMPANIES else individual_to_fsm(customer, self.pairs)
        then = None
        if module == COMPANIES and self.persons and customer.get("contact_persons"):
            persons = list(customer["contact_persons"])
            then = lambda company_id, held: self._queue_contacts(persons, company_id, customer, held)  # noqa: E731
        # the Company's intent covers its persons until theirs are recorded (FsmCreate.dependents)
        self.creates[module].add(FsmCreate({**data, "ZBilling_Id": cid}, cid,
                                           parse_time(customer.get("last_modified_time")),
                                           COMPANIES if module == COMPANIES else CONTACTS,
                                           customer.get("contact_name", ""), then, dependents=then is not None))

    def _queue_contacts(self, persons: list[dict[str, Any]], company_id: str, customer: dict[str, Any],
                        held: HeldIntent) -> int:
        """A new Company's contact persons as its Contacts (queued; created 100 a call). The
        Company's intent stays open (``held``) until theirs are recorded: a crash before leaves it
        open, and recovery pairs the customer's persons again. Returns how many were queued."""
        creates = self._contact_creates(persons, company_id, customer)
        for create in creates:
            create.held = held
        held.waiting = len(creates)  # before a full queue sends (and releases) any of them
        for create in creates:
            self.creates[BOOKS_PERSONS].add(create)
        return len(creates)

    # -- after a crash --------------------------------------------------------------------------------
    def recover(self, pending) -> None:
        """Finish a create a crashed run left: link the partner if it was made, else abandon the
        intent and put its source back into this run (outcomes.requeue). Either way a Company
        made from a customer gets its contact persons paired again: they may never have been sent."""
        try:
            if self._recover(pending):
                if pending.side == "fsm" and pending.module == COMPANIES and self.persons:
                    requeue(self.ctx, COMPANIES, pending.source_id, dependents=True)
                return
        except ZohoApiError as exc:
            if not exc.is_record_level:
                raise
        self.repo.resolve_pending(pending.id, outcome="abandoned")
        if pending.side == "fsm" and pending.source_module == BOOKS_PERSONS:
            # a person's Contact never made: its customer's persons are paired again
            requeue(self.ctx, COMPANIES, str(pending.payload.get("contact_id") or ""), dependents=True)
        elif pending.side == "fsm":
            requeue(self.ctx, pending.module, pending.source_id, dependents=pending.module == COMPANIES and self.persons)
        else:  # a Books customer or person never made: its FSM record is synced again
            requeue(self.ctx, COMPANIES if pending.source_module == COMPANIES else CONTACTS, pending.source_id)

    def _recover(self, pending) -> bool:
        if pending.side == "partner" and pending.module == BOOKS_CONTACTS:
            customer = self._find_created_customer(pending)
            if customer is None:
                return False
            module = pending.source_module or COMPANIES
            link = self._link_created(module, pending.source_id, customer, pending.id)
            if module == COMPANIES and self.persons:
                company = self.ctx.fsm.get_record(COMPANIES, pending.source_id)
                if company is not None:
                    customer, _ = self._reconcile_persons(company, customer)
                    self._mark(link, books_time=parse_time(customer.get("last_modified_time")))
            return True
        if pending.side == "partner" and pending.module == BOOKS_PERSONS:
            person = self._find_created_person(pending)
            if person is None or not self._unlinked_fsm(CONTACTS, pending.source_id):
                return False
            pid = person["contact_person_id"]
            link = self._link(CONTACTS, pending.source_id, BOOKS_PERSONS, pid, "created")
            self.repo.resolve_pending(pending.id, created_id=pid, outcome="found_existing")
            self._mark(link, fsm_time=self._fsm_update(CONTACTS, pending.source_id, {"ZBilling_Id": pid}))
            return True
        if pending.side == "fsm":
            rec = next(iter(self.ctx.fsm.search(pending.module, "ZBilling_Id", pending.source_id)), None)
            if rec is None:
                return False
            linked = self.repo.link_by_fsm(self.integ.id, pending.module, rec["id"])
            if linked is not None:  # linked before the crash; its intent was kept open for its dependents
                if linked.partner_id != pending.source_id:
                    return False
                self.repo.resolve_pending(pending.id, created_id=rec["id"], outcome="found_existing")
                return True
            books_entity = pending.source_module or BOOKS_CONTACTS
            self._link(pending.module, rec["id"], books_entity, pending.source_id, "created",
                       fsm_time=parse_time(rec.get("Modified_Time")))
            self.repo.resolve_pending(pending.id, created_id=rec["id"], outcome="found_existing")
            return True
        return False

    def _find_created_person(self, pending) -> dict[str, Any] | None:
        """The contact person a create of unknown outcome made: under the intent's customer, with
        its email, not linked (read fresh: a read-ahead copy may predate the create)."""
        cid = str(pending.payload.get("contact_id") or "")
        email = str(pending.payload.get("email") or "").lower()
        customer = read_or_none(self.ctx.books.get_contact, cid, NOT_FOUND_CODES) if cid and email else None
        return next((p for p in (customer or {}).get("contact_persons") or []
                     if (p.get("email") or "").lower() == email
                     and self.repo.link_by_partner(self.integ.id, BOOKS_PERSONS, p["contact_person_id"]) is None), None)

    def _find_created_customer(self, pending) -> dict[str, Any] | None:
        """The customer a crashed create made: its ``cf_fsm_id`` names the FSM record, or (without
        that field) the display name matches and it was created at or after the intent."""
        started = pending.started_at
        if started is None:
            return None
        if self._fsm_id_field():
            for row in self.ctx.books.list_contacts(modified_since=started, contact_type="customer"):
                values = {cf.get("api_name"): cf.get("value") for cf in row.get("custom_fields") or []}
                if str(values.get(FSM_ID_FIELD) or "") == pending.source_id and self._unlinked_books(row["contact_id"]):
                    return self._get_customer(row["contact_id"])
        name = str(pending.payload.get("contact_name") or "")
        if not name:
            return None
        for row in self.ctx.books.list_contacts(contact_name=name, contact_type="customer"):
            created = parse_time(row.get("created_time"))
            # only a customer made after the intent is ours (an older one of that name is not)
            if ((row.get("contact_name") or "").lower() == name.lower() and created is not None
                    and created.timestamp() >= int(started.timestamp())
                    and self._unlinked_books(row["contact_id"])):
                return self._get_customer(row["contact_id"])
        return None
