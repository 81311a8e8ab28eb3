"""Facts of Zoho CRM v2…v8 that the fake enforces: modules and their fields, scopes, limits,
pagination, and the org settings (Zoho-internal state) it understands.

Sources: Zoho's CRM v8 OpenAPI (../shared/specs/crm-v8: record.json, fields.json, modules.json,
users.json, org.json, coql.json, notifications.json), RESEARCH-API.md ("CRM v2…v8"), Zoho's
docs (API limits, Kaizen #93 on credits and concurrency), see docs/crm.md for the list.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fakes.core.fields import FieldDef as F
from fakes.core.fields import ModuleDef, module

VERSIONS = ("v2", "v3", "v4", "v5", "v6", "v7", "v8")

# -- pagination (RESEARCH-API.md; get-records docs) -------------------------------------------------
PER_PAGE_DEFAULT = 200
PER_PAGE_MAX = 200
DISCRETE_LIMIT = 2000  # records reachable with ``page``; beyond: ``page_token``
PAGE_TOKEN_SECONDS = 24 * 3600
MAX_FIELDS = 50  # ``fields`` parameter
SEARCH_MAX = 2000
COQL_LIMIT_DEFAULT = 200
COQL_LIMIT_MAX = {"v2": 200, "v3": 200, "v4": 200, "v5": 200, "v6": 2000, "v7": 2000, "v8": 2000}
COQL_OFFSET_MAX = {"v2": 10_000, "v3": 10_000, "v4": 10_000, "v5": 10_000, "v6": 10_000,
                   "v7": 100_000, "v8": 100_000}
RECYCLE_BIN_DAYS = 60  # deleted records stay in the recycle bin this long, then are "permanent"
SORTABLE = ("id", "Created_Time", "Modified_Time")  # from v3 on; v2 sorts by any field

# -- notifications (RESEARCH-API.md; notifications/enable docs) ------------------------------------
CHANNEL_EXPIRY_DEFAULT = 3600
CHANNEL_EXPIRY_MAX = 7 * 24 * 3600  # v7/v8 docs: one week
WATCH_TOKEN_MAX = 50
WATCH_EVENT_OPS = ("create", "edit", "delete", "all")
OPERATION_EVENT = {"insert": "create", "update": "edit", "delete": "delete"}

# -- limits (API limits docs; Kaizen #93) ------------------------------------------------------------
# credits per rolling 24 h: base + per user licence; Free has a flat 5,000
CREDITS_BASE = {"free": 5000, "standard": 50_000, "professional": 50_000, "enterprise": 50_000,
                "ultimate": 50_000}
CREDITS_PER_USER = {"free": 0, "standard": 250, "professional": 500, "enterprise": 1000, "ultimate": 2000}
CREDITS_MAX = {"free": 5000, "standard": 100_000, "professional": 3_000_000, "enterprise": 5_000_000,
               "ultimate": 10**12}
CONCURRENCY = {"free": 5, "standard": 10, "professional": 15, "enterprise": 20, "ultimate": 25}
ROLLING_SLOTS = 24  # the rolling day is counted in hourly slots


def credits(edition: str, settings: dict[str, Any] | None = None) -> int:
    s = settings or {}
    fixed = s.get("credits_limit")  # lab knob: an explicit credit limit (to exhaust it in a test)
    if isinstance(fixed, int) and not isinstance(fixed, bool) and fixed > 0:
        return fixed
    users = s.get("user_licenses", 1)
    users = users if isinstance(users, int) and not isinstance(users, bool) and users > 0 else 1
    addon = s.get("addon_credits", 0)
    addon = addon if isinstance(addon, int) and not isinstance(addon, bool) and addon > 0 else 0
    total = CREDITS_BASE.get(edition, 50_000) + users * CREDITS_PER_USER.get(edition, 250) + addon
    return min(total, CREDITS_MAX.get(edition, total))


def concurrency(edition: str) -> int:
    return CONCURRENCY.get(edition, 10)


# -- scopes -----------------------------------------------------------------------------------------
SCOPE_OPERATION = {"GET": "READ", "HEAD": "READ", "POST": "CREATE", "PUT": "UPDATE", "PATCH": "UPDATE",
                   "DELETE": "DELETE"}

# -- org settings (Org.settings keys) the CRM fake reads --------------------------------------------
# books_integration   {"enabled": bool, "linked_org_id": str|None, "product": "books"|"invoice",
#                      "sync_type": "I".."IV"|None, "sync_in_progress": bool}
# data_transfer       {"<Module>": {"level": "none"|"normal"|"sensitive",
#                                   "fields": {"<api_name>": "normal"|"sensitive"}}}
# extensions          [{"name": str, "namespace": str, "profiles": "admins"|"all"|[profile names]}]
# user_licenses, addon_credits  numbers that feed the credit limit
# credits_limit       lab knob: a fixed credit limit per rolling 24 h instead of the edition's
SYNC_TYPES = ("I", "II", "III", "IV")
BOOKS_PRODUCTS = ("books", "invoice")
TRANSFER_LEVELS = ("none", "normal", "sensitive")
FIELD_MARKS = ("normal", "sensitive")
PROFILES = ("Administrator", "Standard")


def meta_id(*parts: object) -> str:
    """A stable 19-digit id for metadata (modules, fields, picklist values, profiles)."""
    h = int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest(), 16)
    return str(1 + h % 9) + str(h // 9)[-18:].zfill(18)


# -- modules ------------------------------------------------------------------------------------------
NONE = "-None-"
ACCOUNT_TYPES = (NONE, "Analyst", "Competitor", "Customer", "Distributor", "Integrator", "Investor", "Other",
                 "Partner", "Press", "Prospect", "Reseller", "Supplier", "Vendor")
INDUSTRIES = (NONE, "ASP (Application Service Provider)", "Data/Telecom OEM", "ERP (Enterprise Resource Planning)",
              "Government/Military", "Large Enterprise", "ManagementISV", "MSP (Management Service Provider)",
              "Network Equipment Enterprise", "Non-management ISV", "Optical Networking", "Service Provider",
              "Small/Medium Enterprise", "Storage Equipment", "Storage Service Provider", "Systems Integrator",
              "Wireless Industry", "Communications", "Consulting", "Education", "Financial Services",
              "Manufacturing", "Retail", "Technology")
RATINGS = (NONE, "Acquired", "Active", "Market Failed", "Project Cancelled", "Shut Down")
OWNERSHIP = (NONE, "Other", "Private", "Public", "Subsidiary", "Partnership", "Government", "Privately Held",
             "Public Company")
SALUTATIONS = (NONE, "Mr.", "Mrs.", "Ms.", "Dr.", "Prof.")
LEAD_SOURCES = (NONE, "Advertisement", "Cold Call", "Employee Referral", "External Referral", "Online Store",
                "Partner", "Public Relations", "Sales Email Alias", "Seminar Partner", "Internal Seminar",
                "Trade Show", "Web Download", "Web Research", "Chat")
PRODUCT_CATEGORIES = (NONE, "Hardware", "Software", "CRM Applications")
MANUFACTURERS = (NONE, "AltvetPet Inc.", "LexPro Corp.", "MetBeat Corp.")
USAGE_UNITS = ("Box", "Carton", "Dozen", "Each", "Hour(s)", "Impressions", "Lb", "M", "Pack", "Pages", "Pieces",
               "Quantity", "Reams", "Sheet", "Spiral Binder", "Sq Ft")
PRODUCT_TYPES = ("Service", "Goods")  # the custom picklist of the issue
STAGES = ("Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers", "Perception Analysis",
          "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost", "Closed Lost to Competition")
STAGE_PROBABILITY = {"Qualification": 10, "Needs Analysis": 20, "Value Proposition": 40, "Id. Decision Makers": 60,
                     "Perception Analysis": 70, "Proposal/Price Quote": 75, "Negotiation/Review": 90,
                     "Closed Won": 100, "Closed Lost": 0, "Closed Lost to Competition": 0}
DEAL_TYPES = (NONE, "Existing Business", "New Business")
SO_STATUSES = ("Created", "Approved", "Delivered", "Cancelled")
CARRIERS = (NONE, "FedEX", "UPS", "USPS", "DHL", "BlueDart")


def _system() -> list[F]:
    return [
        F("Owner", "ownerlookup", label="Contact Owner", lookup="users"),
        F("Created_By", "ownerlookup", lookup="users", system=True),
        F("Modified_By", "ownerlookup", lookup="users", system=True),
        F("Created_Time", "datetime", system=True),
        F("Modified_Time", "datetime", system=True),
    ]


def _address(prefix: str, zip_name: str = "Code") -> list[F]:
    return [F(f"{prefix}_Street", max_length=250), F(f"{prefix}_City", max_length=100),
            F(f"{prefix}_State", max_length=100), F(f"{prefix}_{zip_name}", max_length=30),
            F(f"{prefix}_Country", max_length=100)]


def _full_name(doc: dict[str, Any]) -> None:
    parts = [doc.get("First_Name"), doc.get("Last_Name")]
    name = " ".join(p for p in parts if isinstance(p, str) and p)
    if name:
        doc["Full_Name"] = name
    else:
        doc.pop("Full_Name", None)


def _deal_probability(doc: dict[str, Any]) -> None:
    if "Probability" not in doc and doc.get("Stage") in STAGE_PROBABILITY:
        doc["Probability"] = STAGE_PROBABILITY[doc["Stage"]]


def _so_totals(doc: dict[str, Any]) -> None:
    rows = doc.get("Ordered_Items")
    sub = 0.0
    if isinstance(rows, list):
        for row in rows:
            qty = row.get("Quantity") if isinstance(row.get("Quantity"), (int, float)) else 0
            price = row.get("List_Price") if isinstance(row.get("List_Price"), (int, float)) else 0
            disc = row.get("Discount") if isinstance(row.get("Discount"), (int, float)) else 0
            row["Amount"] = round(qty * price, 2)
            row["Total"] = round(qty * price - disc, 2)
            sub += row["Total"]
    doc["Sub_Total"] = round(sub, 2)
    disc = doc.get("Discount") if isinstance(doc.get("Discount"), (int, float)) else 0
    tax = doc.get("Tax") if isinstance(doc.get("Tax"), (int, float)) else 0
    adj = doc.get("Adjustment") if isinstance(doc.get("Adjustment"), (int, float)) else 0
    doc["Grand_Total"] = round(sub - disc + tax + adj, 2)


ORDERED_ITEM_FIELDS = (
    F("Product_Name", "lookup", label="Product Name", lookup="Products", mandatory=True),
    F("Quantity", "double", mandatory=True),
    F("List_Price", "currency", label="List Price"),
    F("Amount", "currency", read_only=True),
    F("Discount", "currency"),
    F("Total", "currency", read_only=True),
    F("Description", "textarea", max_length=2000),
)


def _modules() -> dict[str, ModuleDef]:
    accounts = module("Accounts", "Account", "Account_Name", [
        *_system(),
        F("Account_Name", mandatory=True, unique=True, searchable=True, label="Account Name", max_length=200),
        F("Account_Number", max_length=40), F("Account_Site", max_length=80),
        F("Parent_Account", "lookup", lookup="Accounts", label="Parent Account"),
        F("Account_Type", "picklist", pick_list=ACCOUNT_TYPES, label="Account Type"),
        F("Industry", "picklist", pick_list=INDUSTRIES), F("Rating", "picklist", pick_list=RATINGS),
        F("Ownership", "picklist", pick_list=OWNERSHIP),
        F("Annual_Revenue", "currency", label="Annual Revenue"), F("Employees", "integer"),
        F("Phone", "phone", searchable=True, max_length=30), F("Fax", "phone", max_length=30),
        F("Website", "website"), F("Ticker_Symbol", max_length=30), F("SIC_Code", "integer", label="SIC Code"),
        *_address("Billing"), *_address("Shipping"),
        F("Description", "textarea"),
    ])
    contacts = module("Contacts", "Contact", "Full_Name", [
        *_system(),
        F("Salutation", "picklist", pick_list=SALUTATIONS),
        F("First_Name", label="First Name", max_length=40, searchable=True),
        F("Last_Name", label="Last Name", mandatory=True, max_length=80, searchable=True),
        F("Full_Name", label="Contact Name", read_only=True),
        F("Email", "email", searchable=True, pii=True, sensitivity="low"),
        F("Secondary_Email", "email", label="Secondary Email", pii=True, sensitivity="low"),
        F("Phone", "phone", searchable=True, pii=True, sensitivity="low", max_length=30),
        F("Mobile", "phone", searchable=True, pii=True, sensitivity="low", max_length=30),
        F("Home_Phone", "phone", label="Home Phone", pii=True, sensitivity="low", max_length=30),
        F("Other_Phone", "phone", label="Other Phone", max_length=30),
        F("Fax", "phone", max_length=30), F("Assistant", max_length=40),
        F("Asst_Phone", "phone", label="Asst Phone", max_length=30),
        F("Title", max_length=100), F("Department", max_length=100),
        F("Account_Name", "lookup", lookup="Accounts", label="Account Name"),
        F("Reporting_To", "lookup", lookup="Contacts", label="Reporting To"),
        F("Lead_Source", "picklist", pick_list=LEAD_SOURCES, label="Lead Source"),
        F("Date_of_Birth", "date", label="Date of Birth", pii=True, sensitivity="high"),
        F("Email_Opt_Out", "boolean", label="Email Opt Out"),
        F("Skype_ID", label="Skype ID", max_length=50),
        *_address("Mailing", "Zip"), *_address("Other", "Zip"),
        F("Description", "textarea"),
    ], derive=_full_name)
    products = module("Products", "Product", "Product_Name", [
        *_system(),
        F("Product_Name", label="Product Name", mandatory=True, max_length=200, searchable=True),
        F("Product_Code", label="Product Code", max_length=40, searchable=True),
        F("Product_Active", "boolean", label="Product Active"),
        F("Product_Category", "picklist", pick_list=PRODUCT_CATEGORIES, label="Product Category"),
        F("Manufacturer", "picklist", pick_list=MANUFACTURERS),
        F("Type", "picklist", pick_list=PRODUCT_TYPES, custom=True, restricted_picklist=True),
        F("Unit_Price", "currency", label="Unit Price"),
        F("Commission_Rate", "currency", label="Commission Rate"),
        F("Taxable", "boolean"),
        F("Usage_Unit", "picklist", pick_list=USAGE_UNITS, label="Usage Unit"),
        F("Qty_Ordered", "double", label="Qty Ordered"), F("Qty_in_Stock", "double", label="Qty in Stock"),
        F("Reorder_Level", "double", label="Reorder Level"), F("Qty_in_Demand", "double", label="Qty in Demand"),
        F("Sales_Start_Date", "date", label="Sales Start Date"), F("Sales_End_Date", "date", label="Sales End Date"),
        F("Description", "textarea"),
    ])
    deals = module("Deals", "Deal", "Deal_Name", [
        *_system(),
        F("Deal_Name", label="Deal Name", mandatory=True, max_length=120, searchable=True),
        F("Account_Name", "lookup", lookup="Accounts", label="Account Name"),
        F("Contact_Name", "lookup", lookup="Contacts", label="Contact Name"),
        F("Amount", "currency"),
        F("Closing_Date", "date", label="Closing Date", mandatory=True),
        F("Stage", "picklist", pick_list=STAGES, mandatory=True),
        F("Type", "picklist", pick_list=DEAL_TYPES),
        F("Probability", "integer", label="Probability (%)"),
        F("Expected_Revenue", "currency", label="Expected Revenue", read_only=True),
        F("Next_Step", label="Next Step", max_length=100),
        F("Lead_Source", "picklist", pick_list=LEAD_SOURCES, label="Lead Source"),
        F("Description", "textarea"),
    ], derive=_deal_probability)
    sales_orders = module("Sales_Orders", "Sales Order", "Subject", [
        *_system(),
        F("Subject", mandatory=True, max_length=200, searchable=True),
        F("SO_Number", "autonumber", label="SO Number", read_only=True),
        F("Customer_No", label="Customer No", max_length=100),
        F("Account_Name", "lookup", lookup="Accounts", label="Account Name", mandatory=True),
        F("Contact_Name", "lookup", lookup="Contacts", label="Contact Name"),
        F("Deal_Name", "lookup", lookup="Deals", label="Deal Name"),
        F("Status", "picklist", pick_list=SO_STATUSES),
        F("Due_Date", "date", label="Due Date"),
        F("Carrier", "picklist", pick_list=CARRIERS),
        F("Purchase_Order", label="Purchase Order", max_length=100),
        F("Ordered_Items", "subform", label="Ordered Items", subform=ORDERED_ITEM_FIELDS, mandatory=True),
        F("Sub_Total", "currency", label="Sub Total", read_only=True),
        F("Discount", "currency"), F("Tax", "currency"), F("Adjustment", "currency"),
        F("Grand_Total", "currency", label="Grand Total", read_only=True),
        *_address("Billing"), *_address("Shipping"),
        F("Terms_and_Conditions", "textarea", label="Terms and Conditions"),
        F("Description", "textarea"),
    ], plural="Sales Orders", derive=_so_totals)
    mods = {m.api_name: m for m in (accounts, contacts, products, deals, sales_orders)}
    return mods


MODULES: dict[str, ModuleDef] = _modules()
SUBFORM_MODULES = {"Ordered_Items": ("Sales_Orders", "Ordered_Items")}  # fields metadata of line items
# system-defined duplicate check fields used by upsert when the body names none
DUPLICATE_CHECK = {"Accounts": ("Account_Name",), "Contacts": ("Email",), "Products": ("Product_Name",),
                   "Deals": ("Deal_Name",), "Sales_Orders": ("Subject",)}
MODULE_SEQUENCE = ("Accounts", "Contacts", "Products", "Deals", "Sales_Orders")
# Related lists made by a lookup (Get Related Records, ../shared/specs/crm-v8/related_records.json:
# ``GET /crm/v8/{module}/{id}/{related_list_api_name}``): (module, related list) -> the related
# module's lookup field pointing at the record. An Account's or Contact's Deals and Sales Orders are
# how CRM lists the transactions made with synced FSM Companies and Contacts (CR-16).
RELATED_LISTS: dict[tuple[str, str], str] = {
    ("Accounts", "Contacts"): "Account_Name", ("Accounts", "Deals"): "Account_Name",
    ("Accounts", "Sales_Orders"): "Account_Name", ("Contacts", "Deals"): "Contact_Name",
    ("Contacts", "Sales_Orders"): "Contact_Name", ("Deals", "Sales_Orders"): "Deal_Name",
}
SCOPE_NAMES = {"Accounts": "accounts", "Contacts": "contacts", "Products": "products", "Deals": "deals",
               "Sales_Orders": "salesorders"}
