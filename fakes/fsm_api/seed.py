"""Realistic FSM data for ``POST /_lab/seed`` and ``zlab seed`` (Faker, deterministic by seed).

Record ``i`` of a module is drawn from its own Faker seeded with ``(seed, module, i)`` (all its
draws happen right after seeding), so the same seed gives the same data in one call or in
chunks. Rows go into the record table in bulk, like a data import: no workflow rules, no
notifications. Order of registration = seeding order: companies before the contacts that join
them, services and parts before the work orders that use them.
"""

from __future__ import annotations

from typing import Any

from faker import Faker
from sqlmodel import Session, col, select

from fakes.core.ids import IdSequence
from fakes.core.lab import Lab
from fakes.core.records import Record
from fakes.core.seeding import faker_for
from fakes.core.sql import increment
from fakes.core.tenants import Org

from . import metadata as md
from .store import FsmStore

# Links pick existing records by position in creation (id) order, from the record's own index —
# never from how many exist — so chunked seeding (``zlab seed`` sends the modules chunk by chunk,
# companies before contacts in each) links exactly as one call would.


def _address(f: Faker, ids, label: str) -> dict[str, Any]:
    return {"Address_Name": label, "Street_1": f.street_address(), "Street_2": None, "City": f.city(),
            "State": f.state(), "Zip_Code": f.postcode(), "Country": "United States", "id": next(ids)}


def _rows(st: FsmStore, module: str, docs: list[dict[str, Any]], ids: list[str]) -> list[Record]:
    now = st.lab.now()
    uid = st.org.owner_id
    return [Record(id=rid, product="fsm", org_id=st.org.id, module=module, owner_id=uid, created_by=uid,
                   modified_by=uid, created_time=now, modified_time=now, doc=doc) for rid, doc in zip(ids, docs, strict=True)]


def _existing(s: Session, org: Org, module: str) -> list[Record]:
    return list(s.exec(select(Record).where(Record.org_id == org.id, Record.module == module,
                                            col(Record.deleted_time).is_(None)).order_by(Record.id)).all())


def _at(rows: list[Record], position: int) -> Record | None:
    """The record at ``position``, wrapping round once all exist."""
    if not rows:
        return None
    return rows[position] if position < len(rows) else rows[position % len(rows)]


def _link(rec: Record, st: FsmStore) -> dict[str, str]:
    return {"name": st.display_name(rec.module, rec), "id": rec.id}


def seed_companies(lab: Lab, s: Session, org: Org, *, start: int, count: int, seed: int) -> int:
    st = FsmStore(lab, s, org, user_id=org.owner_id)
    base = st.base_currency().code
    ids = iter(lab.ids.record_ids(s, "fsm", org.id, count * 3) if count else [])
    docs, rec_ids = [], []
    for i in range(start, start + count):
        f = faker_for(seed, "fsm.companies", i)
        name = f"{f.company()} ({i + 1})"
        domain = f.domain_name()
        rec_ids.append(next(ids))
        billing = _address(f, ids, "Billing Address")
        service = _address(f, ids, "Service Address") if f.boolean(50) else {**billing, "Address_Name": "Service Address"}
        docs.append({"Company_Name": name, "Email": f"info{i + 1}@{domain}", "Phone": f.phone_number(),
                     "Website": f"https://www.{domain}", "Company_Type": "Customer",
                     "Billing_Address": billing, "Service_Address": service,
                     "Currency": base, "Exchange_Rate": 1.0})
    s.add_all(_rows(st, "Companies", docs, rec_ids))
    return count


def seed_contacts(lab: Lab, s: Session, org: Org, *, start: int, count: int, seed: int) -> int:
    st = FsmStore(lab, s, org, user_id=org.owner_id)
    base = st.base_currency().code
    companies = _existing(s, org, "Companies")
    ids = iter(lab.ids.record_ids(s, "fsm", org.id, count * 3) if count else [])
    docs, rec_ids = [], []
    for i in range(start, start + count):
        f = faker_for(seed, "fsm.contacts", i)
        first, last = f.first_name(), f.last_name()
        joins = f.boolean(60)
        company = companies[i // 3] if joins and i // 3 < len(companies) else None
        rec_ids.append(next(ids))
        billing = _address(f, ids, "Billing Address")
        doc = {"Salutation": f.random_element(("Mr.", "Ms.", "Mrs.", "Dr.")), "First_Name": first, "Last_Name": last,
               "Email": f"{first}.{last}.{i + 1}@{f.free_email_domain()}".lower(), "Phone": f.phone_number(),
               "Mobile": f.phone_number(), "Billing_Address": billing,
               "Service_Address": {**billing, "Address_Name": "Service Address", "id": next(ids)},
               "Currency": base, "Exchange_Rate": 1.0}
        if company is not None:
            doc["Company"] = _link(company, st)
        md.MODULES["Contacts"].derive(doc)
        docs.append(doc)
    s.add_all(_rows(st, "Contacts", docs, rec_ids))
    return count


SERVICES = ("Installation", "Repair", "Maintenance", "Inspection", "Cleaning", "Calibration", "Replacement")
PARTS = ("Filter", "Compressor", "Valve", "Thermostat", "Fan Motor", "Capacitor", "Hose", "Pump", "Sensor")
UNITS = ("Each", "Hours", "Box", "Set")


def seed_service_and_parts(lab: Lab, s: Session, org: Org, *, start: int, count: int, seed: int) -> int:
    st = FsmStore(lab, s, org, user_id=org.owner_id)
    rec_ids = lab.ids.record_ids(s, "fsm", org.id, count) if count else []
    docs = []
    for i in range(start, start + count):
        f = faker_for(seed, "fsm.service_and_parts", i)
        kind = f.random_element(("Service", "Part", "Goods"))
        noun = f.random_element(SERVICES if kind == "Service" else PARTS)
        docs.append({"Name": f"{f.color_name()} {noun} {i + 1}", "Type": kind,
                     "Unit_Price": float(f.random_int(10, 2000)), "Unit": f.random_element(UNITS),
                     "SKU": f"SKU-{seed}-{i + 1}", "Description": f.sentence(nb_words=8),
                     "$inactive": f.boolean(5), "Tax": {"Taxable": f.boolean(70)}})
    s.add_all(_rows(st, "Service_And_Parts", docs, rec_ids))
    return count


def seed_work_orders(lab: Lab, s: Session, org: Org, *, start: int, count: int, seed: int) -> int:
    st = FsmStore(lab, s, org, user_id=org.owner_id)
    contacts = _existing(s, org, "Contacts")
    services = _existing(s, org, "Service_And_Parts")
    if not contacts or not services or not count:
        return 0
    base = st.base_currency().code
    rec_ids = lab.ids.record_ids(s, "fsm", org.id, count)
    last = increment(s, IdSequence, {"scope": f"fsm:name:{org.id}:Work_Orders"}, "value", count)
    docs = []
    for n, i in enumerate(range(start, start + count)):
        f = faker_for(seed, "fsm.work_orders", i)
        contact = _at(contacts, i)
        lines = []
        for seq in range(f.random_int(1, 3)):
            svc = _at(services, max(0, i - seq))
            if (svc.doc or {}).get("$inactive"):
                continue  # inactive services and parts cannot go on a work order
            lines.append({"Service": _link(svc, st), "Quantity": float(f.random_int(1, 4)),
                          "List_Price": (svc.doc or {}).get("Unit_Price", 0.0), "Sequence": len(lines) + 1})
        doc = {"Name": f"WO-{last - count + 1 + n}", "Summary": f.catch_phrase(), "Type": f.random_element(("Service", "Inspection")),
               "Priority": f.random_element(("Low", "Medium", "High")), "Status": "New",
               "Contact": _link(contact, st), "Service_Line_Items": lines, "Currency": base, "Exchange_Rate": 1.0}
        company = (contact.doc or {}).get("Company")
        if company:
            doc["Company"] = company
        md.MODULES["Work_Orders"].derive(doc)
        docs.append(doc)
    s.add_all(_rows(st, "Work_Orders", docs, rec_ids))
    return count


SEEDERS = {"companies": seed_companies, "contacts": seed_contacts, "service_and_parts": seed_service_and_parts,
           "work_orders": seed_work_orders}
