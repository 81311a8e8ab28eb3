"""Realistic CRM records from Faker, deterministic by seed (``/_lab/seed``, ``zlab seed``).

Modules, in the order they are made: products, accounts, contacts (some linked to accounts),
deals (for accounts and contacts), sales_orders (accounts, contacts, products as line items).
Record ``i`` of a module depends only on (seed, module, i) and on the records that exist
already; rows are inserted in bulk so thousands per module take a second or two.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlmodel import Session, col, select

from fakes.core.lab import Lab
from fakes.core.records import Record
from fakes.core.seeding import faker_for
from fakes.core.tenants import Org

from . import metadata as md


def _rows(lab: Lab, s: Session, org: Org, module: str, docs: list[dict[str, Any]]) -> int:
    mdef = md.MODULES[module]
    ids = lab.ids.record_ids(s, "crm", org.id, len(docs)) if docs else []
    now = lab.now()
    rows = []
    for rid, doc in zip(ids, docs, strict=True):
        if mdef.derive:
            mdef.derive(doc)
        rows.append(Record(id=rid, product=org.product, org_id=org.id, module=module, owner_id=org.owner_id,
                           created_by=org.owner_id, modified_by=org.owner_id, created_time=now, modified_time=now,
                           doc=doc))
    s.add_all(rows)
    s.flush()
    return len(rows)


def _existing(s: Session, org: Org, module: str, name_field: str, limit: int = 2000) -> list[tuple[str, str]]:
    rows = s.exec(select(Record).where(Record.org_id == org.id, Record.module == module,
                                       col(Record.deleted_time).is_(None)).order_by(Record.id).limit(limit)).all()
    return [(r.id, str((r.doc or {}).get(name_field) or "")) for r in rows]


def _address(f, prefix: str, zip_name: str = "Code") -> dict[str, str]:
    return {f"{prefix}_Street": f.street_address(), f"{prefix}_City": f.city(), f"{prefix}_State": f.state(),
            f"{prefix}_{zip_name}": f.postcode(), f"{prefix}_Country": "United States"}


def seed_products(lab: Lab, s: Session, org: Org, *, start: int, count: int, seed: int) -> int:
    docs = []
    for i in range(start, start + count):
        f = faker_for(seed, "crm.products", i)
        service = f.boolean(40)
        name = (f"{f.bs().title()} Service" if service else f"{f.color_name()} {f.word().title()} Part")[:180]
        docs.append({
            "Product_Name": f"{name} {i + 1}", "Product_Code": f"P-{seed}-{i + 1:06d}",
            "Type": "Service" if service else "Goods", "Product_Active": f.boolean(90),
            "Unit_Price": round(f.pyfloat(min_value=5, max_value=900, right_digits=2), 2),
            "Taxable": f.boolean(60), "Usage_Unit": "Hour(s)" if service else f.random_element(("Each", "Box", "Pieces")),
            "Product_Category": f.random_element(md.PRODUCT_CATEGORIES[1:]),
            "Qty_in_Stock": 0.0 if service else float(f.random_int(0, 500)),
            "Description": f.sentence(nb_words=8),
        })
    return _rows(lab, s, org, "Products", docs)


def seed_accounts(lab: Lab, s: Session, org: Org, *, start: int, count: int, seed: int) -> int:
    docs = []
    for i in range(start, start + count):
        f = faker_for(seed, "crm.accounts", i)
        docs.append({
            # the running number keeps Account_Name unique, as CRM requires
            "Account_Name": f"{f.company()} ({i + 1})"[:200], "Phone": f.phone_number()[:30],
            "Website": f"https://www.{f.domain_name()}", "Account_Type": f.random_element(("Customer", "Prospect", "Partner")),
            "Industry": f.random_element(md.INDUSTRIES[1:]), "Employees": f.random_int(1, 5000),
            "Annual_Revenue": float(f.random_int(10, 5000) * 1000), "Account_Number": f"A-{i + 1:06d}",
            **_address(f, "Billing"), **_address(f, "Shipping"), "Description": f.catch_phrase(),
        })
    taken = {name for _, name in _existing(s, org, "Accounts", "Account_Name", 100_000)}
    for n, d in enumerate(docs):
        if d["Account_Name"] in taken:
            d["Account_Name"] = f"{d['Account_Name']} #{seed}-{start + n}"
        taken.add(d["Account_Name"])
    return _rows(lab, s, org, "Accounts", docs)


def seed_contacts(lab: Lab, s: Session, org: Org, *, start: int, count: int, seed: int) -> int:
    accounts = _existing(s, org, "Accounts", "Account_Name")
    docs = []
    for i in range(start, start + count):
        f = faker_for(seed, "crm.contacts", i)
        first, last = f.first_name(), f.last_name()
        doc = {
            "Salutation": f.random_element(("Mr.", "Ms.", "Mrs.", "Dr.")), "First_Name": first, "Last_Name": last,
            "Email": f"{first}.{last}.{i + 1}@{f.free_email_domain()}".lower(), "Phone": f.phone_number()[:30],
            "Mobile": f.phone_number()[:30], "Title": f.job()[:100], "Department": f.random_element(
                ("Sales", "Finance", "Operations", "IT", "Purchasing")),
            "Lead_Source": f.random_element(md.LEAD_SOURCES[1:]), "Email_Opt_Out": f.boolean(10),
            "Date_of_Birth": f.date_of_birth(minimum_age=20, maximum_age=70).isoformat(),
            **_address(f, "Mailing", "Zip"),
        }
        if accounts and f.boolean(70):
            aid, aname = f.random_element(accounts)
            doc["Account_Name"] = {"name": aname, "id": aid}
        docs.append(doc)
    return _rows(lab, s, org, "Contacts", docs)


def seed_deals(lab: Lab, s: Session, org: Org, *, start: int, count: int, seed: int) -> int:
    accounts = _existing(s, org, "Accounts", "Account_Name")
    contacts = _existing(s, org, "Contacts", "Full_Name")
    today = lab.now().date()
    docs = []
    for i in range(start, start + count):
        f = faker_for(seed, "crm.deals", i)
        doc: dict[str, Any] = {
            "Deal_Name": f"{f.bs().title()} {i + 1}"[:120], "Stage": f.random_element(md.STAGES),
            "Amount": float(f.random_int(5, 500) * 100), "Type": f.random_element(("Existing Business", "New Business")),
            "Closing_Date": (today + timedelta(days=f.random_int(-60, 120))).isoformat(),
            "Lead_Source": f.random_element(md.LEAD_SOURCES[1:]), "Next_Step": f.sentence(nb_words=4)[:100],
        }
        if accounts:
            aid, aname = f.random_element(accounts)
            doc["Account_Name"] = {"name": aname, "id": aid}
        if contacts and f.boolean(60):
            cid, cname = f.random_element(contacts)
            doc["Contact_Name"] = {"name": cname, "id": cid}
        docs.append(doc)
    return _rows(lab, s, org, "Deals", docs)


def seed_sales_orders(lab: Lab, s: Session, org: Org, *, start: int, count: int, seed: int) -> int:
    accounts = _existing(s, org, "Accounts", "Account_Name")
    products = s.exec(select(Record).where(Record.org_id == org.id, Record.module == "Products",
                                           col(Record.deleted_time).is_(None)).order_by(Record.id).limit(2000)).all()
    if not accounts or not products:
        return 0
    catalog = [(p.id, (p.doc or {}).get("Product_Name", ""), (p.doc or {}).get("Unit_Price", 0.0)) for p in products]
    today = lab.now().date()
    docs = []
    for i in range(start, start + count):
        f = faker_for(seed, "crm.sales_orders", i)
        aid, aname = f.random_element(accounts)
        items = []
        for _ in range(f.random_int(1, 4)):
            pid, pname, price = f.random_element(catalog)
            items.append({"Product_Name": {"name": pname, "id": pid}, "Quantity": float(f.random_int(1, 10)),
                          "List_Price": price, "Discount": 0.0})
        docs.append({
            "Subject": f"SO {f.bs().title()} {i + 1}"[:200], "Account_Name": {"name": aname, "id": aid},
            "Status": f.random_element(md.SO_STATUSES), "Ordered_Items": items,
            "Due_Date": (today + timedelta(days=f.random_int(1, 60))).isoformat(),
            "Carrier": f.random_element(md.CARRIERS[1:]), "Tax": 0.0, "Discount": 0.0, "Adjustment": 0.0,
            **_address(f, "Billing"), **_address(f, "Shipping"),
        })
    return _rows(lab, s, org, "Sales_Orders", docs)


SEEDERS = {"products": seed_products, "accounts": seed_accounts, "contacts": seed_contacts, "deals": seed_deals,
           "sales_orders": seed_sales_orders}
