"""Realistic Books/Invoice records from Faker, deterministic by seed (``/_lab/seed``).

Modules, in the order they are made: taxes, items, contacts (customers: business ones with
contact persons, individual ones with one person; addresses), invoices (for existing customers
and items). Record ``i`` of a module depends only on (seed, module, i).
"""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session, select

from fakes.core.lab import Lab
from fakes.core.seeding import faker_for
from fakes.core.tenants import Org

from .store import BooksContact, BooksContactPerson, BooksItem, BooksStore, BooksTax

UNITS = ("hrs", "pcs", "box", "kg", "m", "visit")


def _address(f) -> dict[str, str]:
    return {"attention": f.name(), "address": f.street_address(), "street2": f.secondary_address(),
            "state_code": f.state_abbr(), "city": f.city(), "state": f.state(), "zip": f.postcode(),
            "country": "U.S.A", "fax": "", "phone": f.phone_number()}


def _unique(st: BooksStore, model, names: list[str]) -> set[str]:
    keys = [n.lower() for n in names]
    return set(st.s.exec(select(model.name_key).where(model.org_id == st.org.id, model.name_key.in_(keys))).all())


def seed_taxes(lab: Lab, s: Session, org: Org, *, start: int, count: int, seed: int) -> int:
    st = BooksStore(lab, s, org)
    ids = st.new_ids(count)
    now = st.now()
    rows = []
    for n, i in enumerate(range(start, start + count)):
        f = faker_for(seed, "taxes", i)
        rows.append(BooksTax(id=ids[n], org_id=org.id, name=f"{f.state_abbr()} Sales Tax {i + 1}",
                             percentage=round(f.pyfloat(min_value=1, max_value=20, right_digits=2), 2),
                             created_time=now))
    s.add_all(rows)
    return len(rows)


def seed_items(lab: Lab, s: Session, org: Org, *, start: int, count: int, seed: int) -> int:
    st = BooksStore(lab, s, org)
    ids = st.new_ids(count)
    now = st.now()
    rows = []
    for n, i in enumerate(range(start, start + count)):
        # every draw for record i happens here, right after its Faker is seeded
        f = faker_for(seed, "items", i)
        service = f.boolean(40)
        name = (f"{f.bs().title()} Service" if service else f"{f.color_name()} {f.word().title()} Part")[:90]
        rows.append(BooksItem(
            id=ids[n], org_id=org.id, name=name, name_key=name.lower(), sku=f"SKU-{seed}-{i + 1:06d}",
            product_type="service" if service else "goods",
            rate=round(f.pyfloat(min_value=5, max_value=900, right_digits=2), 2),
            created_time=now, last_modified_time=now,
            doc={"description": f.sentence(nb_words=8), "unit": f.random_element(UNITS)}))
    taken = _unique(st, BooksItem, [r.name for r in rows])
    for r, i in zip(rows, range(start, start + count), strict=True):
        if r.name_key in taken:
            r.name = f"{r.name[:85]} #{i + 1}"
            r.name_key = r.name.lower()
        taken.add(r.name_key)
    s.add_all(rows)
    return len(rows)


def seed_contacts(lab: Lab, s: Session, org: Org, *, start: int, count: int, seed: int) -> int:
    st = BooksStore(lab, s, org)
    base = st.base_currency().id
    now = st.now()
    ids = iter(st.new_ids(count * 4))  # a contact and at most three persons each
    contacts, persons = [], []
    for i in range(start, start + count):
        # every draw for record i happens here, right after its Faker is seeded
        f = faker_for(seed, "contacts", i)
        business = f.boolean(70)
        people = [(f.first_name(), f.last_name()) for _ in range(f.random_int(1, 3) if business else 1)]
        company = f.company() if business else ""
        name = company if business else f"{people[0][0]} {people[0][1]}"
        cid = next(ids)
        billing = _address(f)
        doc = {"billing_address": billing, "shipping_address": _address(f) if f.boolean(50) else dict(billing),
               "website": f"https://{f.domain_name()}" if business else "",
               "payment_terms": f.random_element((0, 15, 30)), "notes": ""}
        row_persons = []
        for pos, (first, last) in enumerate(people):
            email = f"{first}.{last}.{i + 1}@{f.free_email_domain()}".lower()
            pdoc = {"salutation": f.random_element(("Mr.", "Ms.", "Mrs.", "Dr.")), "first_name": first,
                    "last_name": last, "email": email, "phone": f.phone_number(), "mobile": f.phone_number(),
                    "designation": f.job()[:100] if business else "", "department": "", "skype": ""}
            row_persons.append(BooksContactPerson(id=next(ids), org_id=org.id, contact_id=cid, is_primary=pos == 0,
                                                  position=pos, email=email, first_name=first, last_name=last,
                                                  created_time=now, doc=pdoc))
        primary = row_persons[0]
        doc["primary_phone"], doc["primary_mobile"] = primary.doc["phone"], primary.doc["mobile"]
        contacts.append(BooksContact(
            id=cid, org_id=org.id, contact_name=name, name_key=name.lower(), company_name=company,
            contact_type="customer", customer_sub_type="business" if business else "individual",
            currency_id=base, email=primary.email, first_name=primary.first_name, last_name=primary.last_name,
            created_time=now, last_modified_time=now, doc=doc))
        persons.extend(row_persons)
    if not (org.settings or {}).get("allow_duplicate_names"):
        taken = _unique(st, BooksContact, [c.contact_name for c in contacts])
        for c, i in zip(contacts, range(start, start + count), strict=True):
            if c.name_key in taken:  # keep display names unique, as Books requires by default
                c.contact_name = f"{c.contact_name} ({i + 1})"
                c.name_key = c.contact_name.lower()
            taken.add(c.name_key)
    s.add_all(contacts)
    s.add_all(persons)
    return len(contacts)


def seed_invoices(lab: Lab, s: Session, org: Org, *, start: int, count: int, seed: int) -> int:
    st = BooksStore(lab, s, org)
    customers = list(s.exec(select(BooksContact.id).where(BooksContact.org_id == org.id,
                                                          BooksContact.contact_type == "customer")
                            .order_by(BooksContact.id).limit(2000)).all())
    items = list(s.exec(select(BooksItem.id).where(BooksItem.org_id == org.id).order_by(BooksItem.id).limit(2000)).all())
    if not customers or not items:
        return 0
    today = st.now().date()
    made = 0
    for i in range(start, start + count):
        f = faker_for(seed, "invoices", i)
        lines = [{"item_id": f.random_element(items), "quantity": f.random_int(1, 5)} for _ in range(f.random_int(1, 4))]
        st.create_invoice({"customer_id": f.random_element(customers), "line_items": lines,
                           "date": (today - timedelta(days=f.random_int(0, 90))).isoformat(),
                           "payment_terms": f.random_element((0, 15, 30))})
        made += 1
    return made


SEEDERS = {"taxes": seed_taxes, "items": seed_items, "contacts": seed_contacts, "invoices": seed_invoices}
