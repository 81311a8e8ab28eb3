"""Locustfile: a realistic API mix per product, each Locust user its own tenant.

Run it with ``zlab loadtest api`` (headless, reports), or by hand:
``locust -f loadtests/api_mix.py --host http://127.0.0.1:8700``. Each product's user reads more
than it writes, as integrations do: list pages, single reads, searches (and CRM's COQL),
creates and updates, plus a few planned bad requests (``TenantUser.planned``).
"""

from __future__ import annotations

import random

from locust import task

from loadtests.summary import register_listeners
from loadtests.tenant_users import TenantUser, unique

register_listeners()  # our summary page's per-second buckets

class BooksUser(TenantUser):
    products = ("books",)

    def setup(self) -> None:
        self.q = f"?organization_id={self.org('books')}"
        self.contacts = [self._create_contact() for _ in range(3)]
        self.items = [self.call("POST", f"/books/v3/items{self.q}", "books: create item",
                                json={"name": unique("Load item"), "rate": 12.5}).json()["item"]["item_id"]]

    def _create_contact(self) -> str:
        r = self.call("POST", f"/books/v3/contacts{self.q}", "books: create contact",
                      json={"contact_name": unique("Load contact")})
        return r.json()["contact"]["contact_id"]

    @task(6)
    def read_contact(self) -> None:
        self.call("GET", f"/books/v3/contacts/{random.choice(self.contacts)}{self.q}", "books: get contact")

    @task(3)
    def list_contacts(self) -> None:
        self.call("GET", f"/books/v3/contacts{self.q}&page=1&per_page=25", "books: list contacts")

    @task(2)
    def search_contacts(self) -> None:
        self.call("GET", f"/books/v3/contacts{self.q}&contact_name_contains=Load", "books: search contacts")

    @task(2)
    def read_item(self) -> None:
        self.call("GET", f"/books/v3/items/{random.choice(self.items)}{self.q}", "books: get item")

    @task(1)
    def create_contact(self) -> None:
        self.contacts.append(self._create_contact())

    @task(1)
    def update_contact(self) -> None:
        self.call("PUT", f"/books/v3/contacts/{random.choice(self.contacts)}{self.q}", "books: update contact",
                  json={"notes": unique("updated")})

    @task(1)
    def planned_missing_contact(self) -> None:
        self.planned("GET", f"/books/v3/contacts/460000000999999{self.q}", "books: missing contact (1002)", 404)


class InvoiceUser(TenantUser):
    products = ("invoice",)

    def setup(self) -> None:
        self.q = f"?organization_id={self.org('invoice')}"
        self.customer = self.call("POST", f"/invoice/v3/contacts{self.q}", "invoice: create customer",
                                  json={"contact_name": unique("Load customer")}).json()["contact"]["contact_id"]
        self.item = self.call("POST", f"/invoice/v3/items{self.q}", "invoice: create item",
                              json={"name": unique("Load item"), "rate": 40}).json()["item"]["item_id"]
        self.invoices = [self._create_invoice()]

    def _create_invoice(self) -> str:
        r = self.call("POST", f"/invoice/v3/invoices{self.q}", "invoice: create invoice",
                      json={"customer_id": self.customer, "line_items": [{"item_id": self.item, "quantity": 2}]})
        return r.json()["invoice"]["invoice_id"]

    @task(5)
    def read_invoice(self) -> None:
        self.call("GET", f"/invoice/v3/invoices/{random.choice(self.invoices)}{self.q}", "invoice: get invoice")

    @task(2)
    def list_invoices(self) -> None:
        self.call("GET", f"/invoice/v3/invoices{self.q}&page=1&per_page=25", "invoice: list invoices")

    @task(1)
    def create_invoice(self) -> None:
        self.invoices.append(self._create_invoice())

    @task(1)
    def planned_invoice_without_customer(self) -> None:
        self.planned("POST", f"/invoice/v3/invoices{self.q}", "invoice: no customer", 400,
                     json={"line_items": [{"item_id": self.item}]})


class CrmUser(TenantUser):
    products = ("crm",)

    def setup(self) -> None:
        self.ids = [self._create() for _ in range(3)]

    def _create(self) -> str:
        r = self.call("POST", "/crm/v8/Contacts", "crm: create record",
                      json={"data": [{"Last_Name": unique("Load"), "Email": "load@example.com"}]})
        return r.json()["data"][0]["details"]["id"]

    @task(6)
    def read_record(self) -> None:
        self.call("GET", f"/crm/v8/Contacts/{random.choice(self.ids)}", "crm: get record")

    @task(3)
    def list_records(self) -> None:
        self.call("GET", "/crm/v8/Contacts?fields=Last_Name,Email&per_page=20", "crm: list records")

    @task(2)
    def search_records(self) -> None:
        self.call("GET", "/crm/v8/Contacts/search?criteria=(Last_Name:starts_with:Load)", "crm: search")

    @task(2)
    def coql(self) -> None:
        self.call("POST", "/crm/v8/coql", "crm: COQL",
                  json={"select_query": "select Last_Name, Email from Contacts where Last_Name like 'Load%' limit 10"})

    @task(1)
    def create_record(self) -> None:
        self.ids.append(self._create())

    @task(1)
    def update_record(self) -> None:
        self.call("PUT", f"/crm/v8/Contacts/{random.choice(self.ids)}", "crm: update record",
                  json={"data": [{"Description": unique("updated")}]})

    @task(1)
    def planned_invalid_id(self) -> None:
        self.planned("GET", "/crm/v8/Contacts/not-an-id", "crm: invalid id (INVALID_DATA)", 400)


class FsmUser(TenantUser):
    products = ("fsm",)

    def setup(self) -> None:
        self.ids = [self._create() for _ in range(3)]

    def _create(self) -> str:
        r = self.call("POST", "/fsm/v1/Contacts", "fsm: create record",
                      json={"data": [{"Last_Name": unique("Load"), "Email": "load@example.com"}]})
        return r.json()["data"]["Contacts"][0]["id"]

    @task(6)
    def read_record(self) -> None:
        self.call("GET", f"/fsm/v1/Contacts/{random.choice(self.ids)}", "fsm: get record")

    @task(3)
    def list_records(self) -> None:
        self.call("GET", "/fsm/v1/Contacts?per_page=20", "fsm: list records")

    @task(2)
    def search_records(self) -> None:
        self.call("GET", "/fsm/v1/Contacts/search?api_name=Email&value=load@example.com", "fsm: search")

    @task(1)
    def create_record(self) -> None:
        self.ids.append(self._create())

    @task(1)
    def update_record(self) -> None:
        self.call("PUT", f"/fsm/v1/Contacts/{random.choice(self.ids)}", "fsm: update record",
                  json={"data": [{"Phone": "+1 555 0101"}]})

    @task(1)
    def planned_missing_module(self) -> None:
        self.planned("GET", "/fsm/v1/NoSuchModule", "fsm: unknown module", 400)
