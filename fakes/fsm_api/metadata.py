"""Facts of Zoho FSM v1 that the fake enforces: modules and fields, mandatory and searchable
fields, PII defaults, scopes, editions and limits, and the org settings it understands.

Sources (see docs/fsm.md for the addresses): Zoho's FSM API docs — Create a Contact / Company /
Service-Part / Work Order (mandatory fields, Currency and Exchange_Rate, address objects), List
Companies / Services-Parts (answer fields such as ``$inactive``, ``ZBilling_Id``, ``Tax``),
Search Records (``api_name``/``value``/``comparator``, searchable fields, DateTime comparators),
Associate Records with Integrated Service (``actions/process_sync``); RESEARCH-API.md (limits,
editions, PII, imports). Where nothing public says, the choice is marked [lab].
"""

from __future__ import annotations

from typing import Any

from fakes.core.fields import FieldDef as F
from fakes.core.fields import ModuleDef, module

# -- addresses (Billing_Address / Service_Address) ------------------------------------------------
# Stored as JSON objects. The documented keys; a Contact's or Company's address also gets an "id"
# (Work Orders pick an address by that id, per "Create a Work Order").
ADDRESS_KEYS = ("Address_Name", "Street_1", "Street_2", "City", "State", "Zip_Code", "Country",
                "Territory", "Latitude", "Longitude", "id")
ADDRESS_FIELDS = ("Billing_Address", "Service_Address")
MAX_ADDRESS_KEYS = 30

# -- derived values ---------------------------------------------------------------------------------


def _full_name(doc: dict[str, Any]) -> None:
    doc["Full_Name"] = " ".join(x for x in (doc.get("First_Name"), doc.get("Last_Name")) if isinstance(x, str) and x)


def _money(x: float) -> float:
    return round(x + 0.0, 2)


def _totals(doc: dict[str, Any]) -> None:
    """Line amounts and totals of Work Orders, Estimates and Requests: Amount = Quantity ×
    List_Price, Line_Item_Amount = Amount − Discount, Sub_Total, Grand_Total (taxes left out)."""
    rows = doc.get("Service_Line_Items")
    if not isinstance(rows, list):
        return
    sub_total = 0.0
    for row in rows:
        qty = row.get("Quantity")
        qty = 1.0 if qty is None else float(qty)
        row["Quantity"] = qty
        price = float(row.get("List_Price") or 0.0)
        amount = _money(qty * price)
        row["Amount"] = amount
        row["Line_Item_Amount"] = _money(amount - float(row.get("Discount") or 0.0))
        sub_total += row["Line_Item_Amount"]
    doc["Sub_Total"] = _money(sub_total)
    doc["Grand_Total"] = _money(sub_total - float(doc.get("Discount") or 0.0) + float(doc.get("Adjustment") or 0.0))


# -- field building blocks -------------------------------------------------------------------------

def _addresses() -> list[F]:
    return [F(name, "jsonobject", label=name.replace("_", " ")) for name in ADDRESS_FIELDS]


def _money_fields() -> list[F]:
    return [F("Currency", "text", max_length=3), F("Exchange_Rate", "double")]


def _links() -> list[F]:
    return [F("ZBilling_Id", "bigint", label="Books/Invoice Id", searchable=True),
            F("ZCRM_Id", "bigint", label="CRM Id", searchable=True)]


LINE_ITEM_COLUMNS = (
    F("Service", "lookup", lookup="Service_And_Parts", mandatory=True), F("Quantity", "double"),
    F("List_Price", "currency"), F("Amount", "currency"), F("Discount", "currency"),
    F("Discount_Type", "text"), F("Line_Item_Amount", "currency"), F("Unit", "text"),
    F("Description", "textarea"), F("Sequence", "integer"), F("Status", "text"), F("Tax", "jsonobject"),
    F("Contact", "lookup", lookup="Contacts"),
    # a Request's line may name its own service address by id (``{"id": …}``), as real orgs send
    F("Service_Address", "jsonobject"),
    # nested rows whose shape the fake does not check beyond "a list of objects"
    F("Part_Line_Items", "jsonarray"), F("Skill_Line_Items", "jsonarray"),
)


def _transaction(api_name: str, singular: str, *, status: tuple[str, ...], extra: list[F],
                 contact_mandatory: bool = True) -> ModuleDef:
    fields = [
        F("Name", "autonumber", read_only=True, searchable=True),
        F("Summary", "text", mandatory=True),
        F("Contact", "lookup", lookup="Contacts", mandatory=contact_mandatory, searchable=True),
        F("Company", "lookup", lookup="Companies", searchable=True),
        F("Status", "picklist", pick_list=status, searchable=True),
        F("Priority", "picklist", pick_list=("Low", "Medium", "High")),
        F("Email", "email"), F("Phone", "phone"), F("Territory", "text"),
        *_addresses(),
        F("Service_Line_Items", "subform", subform=LINE_ITEM_COLUMNS),
        F("Sub_Total", "currency", read_only=True), F("Discount", "currency"), F("Adjustment", "currency"),
        F("Grand_Total", "currency", read_only=True),
        *_money_fields(),
        # the CRM Deal or Sales Order the record is created from or linked to (the CRM extension's
        # "link an existing Request, Estimate or Work Order to a Sales Order or Deal",
        # ../shared/seeds/fsm-crm-direct-sync.txt); searchable so a Deal's or Sales Order's FSM
        # records can be listed [lab: searchable]
        F("ZCRM_Deals_Id", "bigint", searchable=True), F("ZCRM_Deals_Name", "text", searchable=True),
        F("ZCRM_Sales_Orders_Id", "bigint", searchable=True), F("ZCRM_Sales_Orders_Name", "text"),
        F("Description", "textarea"),
        *extra,
    ]
    return module(api_name, singular, "Name", fields, derive=_totals)


# -- service appointment statuses and blueprint transitions ----------------------------------------
# List Service Appointment Transitions (zoho.com/fsm/developer/help/api/list-service-appointment-
# transitions.html): Reschedule, Dispatch, Start Work, Complete Work, Cancel, Terminate; Cancel and
# Terminate ask for Notes. Which transition leaves which status is [lab] (the docs show Dispatched).
SA_STATUSES = ("New", "Scheduled", "Dispatched", "In Progress", "Completed", "Cannot Complete", "Cancelled")
SA_INITIAL_STATUS = ("Scheduled", "New")  # [lab] with service resources / without
NOTES_FIELD = {"display_label": "Notes", "data_type": "notes", "id": "0", "transition_sequence": 1,
               "mandatory": True}
# (module, status) -> [(transition name, next status or None, needs notes)]
TRANSITIONS: dict[tuple[str, str], list[tuple[str, str | None, bool]]] = {}
for _status in SA_STATUSES:
    _moves: list[tuple[str, str | None, bool]] = []
    if _status == "New":
        _moves.append(("Schedule", "Scheduled", False))
    if _status == "Scheduled":
        _moves += [("Dispatch", "Dispatched", False), ("Reschedule", "Scheduled", False)]
    if _status == "Dispatched":
        _moves += [("Start Work", "In Progress", False), ("Reschedule", "Scheduled", False)]
    if _status == "In Progress":
        _moves.append(("Complete Work", "Completed", False))
    if _status in ("Scheduled", "Dispatched", "In Progress"):
        _moves.append(("Terminate", "Cannot Complete", True))
    if _status in ("New", "Scheduled", "Dispatched"):
        _moves.append(("Cancel", "Cancelled", True))
    TRANSITIONS[("Service_Appointments", _status)] = _moves
# A Request's blueprint offers "Convert to Estimate" (FSM help, Estimates: "In the Request Details
# page, click the transition Convert to Estimate displayed in the blueprint pane"): the new Estimate
# copies the Request (customer, addresses, line items, and the CRM Deal/Sales Order it is listed
# under) and points back at it; the Request becomes "Estimate Created". Cancel asks for Notes [lab].
REQUEST_CONVERT = "Convert to Estimate"
TRANSITIONS[("Requests", "New")] = [(REQUEST_CONVERT, "Estimate Created", False), ("Cancel", "Cancelled", True)]
# what the new Estimate takes from the Request [lab: the fields both modules have]
CONVERTED_FIELDS = ("Summary", "Contact", "Company", "Priority", "Email", "Phone", "Territory", "Billing_Address",
                    "Service_Address", "Service_Line_Items", "Discount", "Adjustment", "Currency", "Exchange_Rate",
                    "ZCRM_Deals_Id", "ZCRM_Deals_Name", "ZCRM_Sales_Orders_Id", "ZCRM_Sales_Orders_Name",
                    "Description")
# List Work Order Transitions (…/list-work-order-transitions.html): Cancel and Terminate with Notes
for _status in ("New", "Scheduled", "Dispatched", "In Progress"):
    TRANSITIONS[("Work_Orders", _status)] = [("Cancel", "Cancelled", True),
                                             ("Terminate", "Cannot Be Completed", True)]
ATTACHMENT_MODULES = ("Requests", "Work_Orders", "Estimates", "Service_Appointments", "Contacts", "Companies",
                      "Assets", "Service_And_Parts")  # Add Attachments: supported modules

# -- the modules -----------------------------------------------------------------------------------

MODULES: dict[str, ModuleDef] = {
    "Contacts": module("Contacts", "Contact", "Full_Name", [
        F("Salutation", "picklist", pick_list=("Mr.", "Mrs.", "Ms.", "Dr.", "Prof.")),
        F("First_Name", "text", max_length=40),
        F("Last_Name", "text", max_length=80, mandatory=True, searchable=True, pii=True),
        F("Full_Name", "text", read_only=True),
        F("Email", "email", mandatory=True, searchable=True, pii=True),
        F("Phone", "phone", searchable=True), F("Mobile", "phone", searchable=True),
        F("Company", "lookup", lookup="Companies"),
        *_addresses(), *_money_fields(),
        F("Tax", "jsonobject"),
        F("$inactive", "boolean", label="Inactive"),  # [lab] as on Services and Parts (docs/fsm.md)
        *_links(),
        F("Description", "textarea"),
    ], derive=_full_name),
    "Companies": module("Companies", "Company", "Company_Name", [
        F("Company_Name", "text", max_length=200, mandatory=True, searchable=True),
        F("Email", "email"), F("Phone", "phone"), F("Mobile", "phone"), F("Fax", "phone"),
        F("Website", "website"),
        F("Company_Type", "picklist", pick_list=("Customer", "Prospect", "Partner", "Vendor")),
        *_addresses(), *_money_fields(),
        F("Tax", "jsonobject"),
        F("$inactive", "boolean", label="Inactive"),  # [lab] as on Services and Parts (docs/fsm.md)
        *_links(),
        F("Description", "textarea"),
    ]),
    "Service_And_Parts": module("Service_And_Parts", "Service/Part", "Name", [
        F("Name", "text", max_length=200, mandatory=True, searchable=True),
        F("Type", "picklist", pick_list=("Service", "Part", "Goods"), restricted_picklist=True, mandatory=True),
        F("Unit_Price", "currency", mandatory=True),
        F("Unit", "text"), F("SKU", "text"), F("Description", "textarea"),
        F("Work_Type", "text"),
        F("Tax", "jsonobject"),
        F("$inactive", "boolean", label="Inactive"),
        F("Service_Tasks", "jsonarray"),
        *_links(),
    ], plural="Services and Parts"),
    "Work_Orders": _transaction(
        "Work_Orders", "Work Order",
        status=("New", "Scheduled", "Dispatched", "In Progress", "Completed", "Cannot Be Completed", "Cancelled"),
        extra=[F("Type", "picklist", pick_list=("Service", "Inspection"), restricted_picklist=True, mandatory=True),
               F("Due_Date", "date"), F("Asset", "lookup", lookup="Assets"),
               F("Request", "lookup", lookup="Requests"), F("Estimate", "lookup", lookup="Estimates"),
               F("Billing_Status", "picklist", pick_list=("Not Invoiced", "Invoiced", "Paid")),
               F("Invoice_Id", "bigint")]),
    # Request statuses: "Estimate Created" once converted to an Estimate (help.zoho.com FSM FAQ
    # "What do the different Request statuses mean in Zoho FSM?"); "Converted" kept for older data
    "Requests": _transaction(
        "Requests", "Request", status=("New", "Estimate Created", "Converted", "Cancelled", "Completed"),
        extra=[F("Due_Date", "date"), F("Preferred_Date_1", "date"), F("Preferred_Date_2", "date")]),
    "Estimates": _transaction(
        "Estimates", "Estimate", status=("New", "Sent", "Accepted", "Rejected", "Converted", "Expired"),
        extra=[F("Expiry_Date", "date"), F("Request", "lookup", lookup="Requests")]),
    "Service_Appointments": module("Service_Appointments", "Service Appointment", "Name", [
        F("Name", "autonumber", read_only=True, searchable=True),
        # given, or the work order whose ``$Service_Line_Items`` the appointment is for
        F("Work_Order", "lookup", lookup="Work_Orders", mandatory=True),
        F("Summary", "text"),
        F("Contact", "lookup", lookup="Contacts", searchable=True),
        F("Company", "lookup", lookup="Companies", searchable=True),
        F("Status", "picklist", pick_list=SA_STATUSES, searchable=True),
        F("Territory", "text"),
        F("Scheduled_Start_Date_Time", "datetime"), F("Scheduled_End_Date_Time", "datetime"),
        F("Scheduled_Start_Time", "datetime"), F("Scheduled_End_Time", "datetime"),  # older fake's names
        F("$Service_Line_Items", "jsonarray"), F("$Service_Tasks_Line_Items", "jsonarray"),
        F("$Service_Resources", "jsonarray"), F("Lead", "text"),
        F("Service_Address", "jsonobject", label="Service Address"),
        F("Description", "textarea"),
    ]),
    "Assets": module("Assets", "Asset", "Name", [
        F("Name", "text", max_length=200, mandatory=True, searchable=True),
        F("Product", "lookup", lookup="Service_And_Parts"),
        F("Contact", "lookup", lookup="Contacts"), F("Company", "lookup", lookup="Companies"),
        F("Serial_Number", "text"), F("Purchase_Date", "date"), F("Warranty_Expiration", "date"),
        F("Address", "jsonobject"), F("Description", "textarea"),
        F("ZCRM_Id", "bigint"),
        # an Asset created from a CRM Sales Order is listed under it (the seed's "From the Sales Order
        # record … you can create records for Zoho FSM Assets … view all the Assets associated with it")
        F("ZCRM_Sales_Orders_Id", "bigint", searchable=True), F("ZCRM_Sales_Orders_Name", "text"),
    ]),
    # List Service Territories (zoho.com/fsm/developer/help/api/get-territories.html)
    "Territories": module("Territories", "Territory", "Name", [
        F("Name", "text", max_length=200, mandatory=True, searchable=True),
        F("Description", "textarea"), F("Street", "text"), F("City", "text"), F("State", "text"),
        F("Country", "text"), F("Zip_Code", "text"), F("Latitude", "double"), F("Longitude", "double"),
        F("$inactive", "boolean", label="Inactive"),
    ]),
}
for _i, _m in enumerate(MODULES.values()):
    _m.module_id = str(3_000_000 + _i)

# URL aliases: deletes of services/parts were observed at /fsm/v1/Products/{id} (RESEARCH-API.md);
# the fake accepts the alias on every record route of that module.
ALIASES = {"Products": "Service_And_Parts"}
# what the create answer of a service/part calls its tab ("TabName": "Products", Create a Service/Part)
TAB_NAMES = {"Service_And_Parts": "Products"}

# Name numbering of the modules whose Name is generated [lab: prefixes]
AUTONUMBER = {"Work_Orders": "WO-", "Requests": "RE-", "Estimates": "ES-", "Service_Appointments": "AP-"}

# datetimes the fake stores and compares: rendered in any time zone without overflow [lab]
YEARS = (1900, 9000)

# -- search (Search Records) -------------------------------------------------------------------
TEXT_COMPARATORS = ("contains", "equal")
DATETIME_COMPARATORS = ("equal", "not_equal", "greater_than", "greater_equal", "less_than", "less_equal",
                        "between", "not_between")
DATETIME_SEARCH_FIELDS = ("Modified_Time", "Created_Time")


def searchable(module_name: str) -> tuple[str, ...]:
    m = MODULES[module_name]
    return tuple(f.api_name for f in m.fields.values() if f.searchable)


# -- references: what a delete refuses (RECORD_LOOKUP_IN_OTHER_MODULE) -----------------------------
# Transactions and assets that point at a record keep it from being deleted. A Company's own
# Contacts do not: deleting the Company leaves them without one [lab].
BLOCKING_MODULES = ("Work_Orders", "Requests", "Estimates", "Service_Appointments", "Assets")

# -- change notifications (internal surface) ------------------------------------------------------
NOTIFY_MODULES = ("Contacts", "Companies", "Service_And_Parts")
NOTIFY_OPERATIONS = ("create", "edit", "delete", "all")
CHANNEL_DEFAULT_SECONDS = 3600  # CRM: default one hour
CHANNEL_MAX_SECONDS = 7 * 86400  # CRM v7 docs: at most a week; beyond that the default applies

# -- process_sync (Associate Records with Integrated Service) ---------------------------------------
SYNC_SERVICES = ("finance", "zohocrm")
SYNC_PROCESSES = ("link", "unlink", "push")
# (module, service) -> field the link writes; push is accepted where link is
SYNC_TARGETS: dict[tuple[str, str], str] = {
    ("Contacts", "finance"): "ZBilling_Id", ("Companies", "finance"): "ZBilling_Id",
    ("Service_And_Parts", "finance"): "ZBilling_Id",
    # direct CRM sync keeps the partner in ZCRM_Id [lab: the docs list finance only for these]
    ("Contacts", "zohocrm"): "ZCRM_Id", ("Companies", "zohocrm"): "ZCRM_Id",
    ("Service_And_Parts", "zohocrm"): "ZCRM_Id",
    ("Requests", "zohocrm"): "ZCRM_Deals_Id", ("Estimates", "zohocrm"): "ZCRM_Deals_Id",
    ("Work_Orders", "zohocrm"): "ZCRM_Deals_Id",
}
INTEG_MODULES = {"Deals": "ZCRM_Deals_Id", "Sales_Orders": "ZCRM_Sales_Orders_Id"}

# -- scopes (each doc page's "Scope") ----------------------------------------------------------------
SCOPE_PREFIX = "ZohoFSM"
SCOPE_NAMES = {"Work_Orders": "WorkOrders", "Service_Appointments": "ServiceAppointments"}
SCOPE_OPERATION = {"GET": "READ", "HEAD": "READ", "POST": "CREATE", "PUT": "UPDATE", "PATCH": "UPDATE",
                   "DELETE": "DELETE"}

# -- pagination ----------------------------------------------------------------------------------
PER_PAGE_DEFAULT = 200
PER_PAGE_MAX = 200

# -- editions and limits (RESEARCH-API.md, FSM: Limits) ---------------------------------------
EDITIONS = ("free", "standard", "professional", "premium")  # no "Enterprise"
PER_DAY = {"free": 5000, "standard": 25000, "professional": 25000}
PER_DAY_PREMIUM = 50000  # [lab] not published; Premium gets twice Professional
CONCURRENT = {"free": 5}
CONCURRENT_PAID = 15

# -- profiles and permissions (Setup > Workforce > Profiles) ---------------------------------------
# Zoho FSM has five standard profiles whose permissions cannot be changed, and custom profiles;
# of the standard ones only the Administrator manages the Billing (Invoice/Books) integration:
# https://help.zoho.com/portal/en/kb/fsm/set-up-workforce/articles/profiles-and-permissions
# The permission names below are the ones the help pages print as "Permission Required" (the
# two-way sync page: "Billing Integration", "Two way sync logs"); the per-profile lists beyond the
# billing ones are [lab] (what the fake and the syncer check).
BILLING_INTEGRATION = "Billing Integration"
PERMISSIONS = ("Billing Integration", "Two way sync logs", "Companies", "Contacts", "Data Import",
               "Workflow Rules", "General Permissions")
STANDARD_PROFILES: dict[str, tuple[str, ...]] = {
    "Administrator": PERMISSIONS,
    "Dispatcher": ("Companies", "Contacts"),
    "Call Center Agent": ("Companies", "Contacts"),
    "Field Agent": (),
    "Limited Field Agent": (),
}
DEFAULT_PROFILE = "Administrator"  # [lab] a tenant's user created the org: its administrator

# -- currencies the fake knows by code (name, symbol) ------------------------------------------------
CURRENCIES: dict[str, tuple[str, str]] = {
    "USD": ("US Dollar", "$"), "EUR": ("Euro", "€"), "GBP": ("Pound Sterling", "£"), "INR": ("Indian Rupee", "₹"),
    "AUD": ("Australian Dollar", "$"), "CAD": ("Canadian Dollar", "$"), "JPY": ("Japanese Yen", "¥"),
    "CNY": ("Yuan Renminbi", "¥"), "AED": ("UAE Dirham", "AED"), "SGD": ("Singapore Dollar", "$"),
    "ZAR": ("Rand", "R"), "CHF": ("Swiss Franc", "CHF"), "SAR": ("Saudi Riyal", "SAR"),
    "MXN": ("Mexican Peso", "$"), "BRL": ("Brazilian Real", "R$"), "NZD": ("New Zealand Dollar", "$"),
    "SEK": ("Swedish Krona", "kr"),
}

# -- org settings (Org.settings keys) the FSM fake reads -------------------------------------------
# pii_api_access       bool   "PII (Personally Identifiable Information) data access using APIs"
#                             (Setup > Developer Space > APIs). Default true. Off: fields flagged PII
#                             or EPHI are left out of every API answer (records, search, related lists,
#                             timeline field history, notification values) and cannot be searched on.
# field_flags          object Per-org PII/EPHI flags overriding the defaults of MODULES:
#                             {"Contacts": {"Phone": {"pii": true, "ephi": false}}}
# multi_currency       bool   Multi-currency on. Default: on when the org was created with extra
#                             currencies. Off: a record's Currency must be the base currency.
# taxes                list   The org's tax rates [{"tax_id", "tax_name", "tax_percentage"}]; whether
#                             taxes are enabled at all is the core column Org.tax_enabled.
# trial                bool   A trial org: the Free per-day limit applies whatever the edition.
# api_limit_per_day    int    [lab knob] overrides the edition's per-day API limit (scenarios, tests).
# api_concurrency      int    [lab knob] overrides the edition's concurrency limit.
# sync_in_progress     bool   Set by a syncer through PUT /fsm/v1/_internal/sync-state while its
#                             FSM-Books sync runs; no data import may start meanwhile (TW-08).
# sync_service         str    Which sync set sync_in_progress ("finance" or "zohocrm").
# user_profiles        object Each user's profile: {user_id: profile name}; users not listed have
#                             DEFAULT_PROFILE (PUT /_lab/fsm/orgs/{id}/users/{user_id}/profile).
# custom_profiles      object Custom profiles: {name: [permission, …]} (PUT /_lab/fsm/orgs/{id}/profiles/{name}).
SETTING_KEYS = ("pii_api_access", "field_flags", "multi_currency", "taxes", "trial", "api_limit_per_day",
                "api_concurrency", "sync_in_progress", "sync_service", "user_profiles", "custom_profiles")


def per_day(edition: str, settings: dict[str, Any] | None = None) -> int:
    settings = settings or {}
    knob = settings.get("api_limit_per_day")
    if isinstance(knob, int) and not isinstance(knob, bool) and knob > 0:
        return knob
    if settings.get("trial"):
        return PER_DAY["free"]
    return PER_DAY.get(edition, PER_DAY_PREMIUM)


def concurrent(edition: str, settings: dict[str, Any] | None = None) -> int:
    knob = (settings or {}).get("api_concurrency")
    if isinstance(knob, int) and not isinstance(knob, bool) and knob > 0:
        return knob
    return CONCURRENT.get(edition, CONCURRENT_PAID)
