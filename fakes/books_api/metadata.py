"""Facts of Zoho Books/Invoice v3 that the fake enforces: scopes, limits, plans, currencies,
field rules and the org settings it understands.

Sources: Zoho's Books v3 OpenAPI (../shared/specs/books-v3: messages, security scopes per
operation, field types), RESEARCH-API.md (limits, error codes, envelopes).
"""

from __future__ import annotations

# -- scopes (security blocks of specs/books-v3/*.yml) -------------------------------------------
SCOPE_PREFIX = {"books": "ZohoBooks", "invoice": "ZohoInvoice"}
# first path segment -> scope module; items, currencies, taxes, organizations are "settings"
SCOPE_MODULE = {
    "contacts": "contacts",
    "invoices": "invoices",
    "items": "settings",
    "itemdetails": "settings",  # GET /itemdetails: ZohoBooks.settings.READ
    "settings": "settings",
    "organizations": "settings",
    "users": "settings",
    "_internal": "settings",
}
SCOPE_OPERATION = {"GET": "READ", "HEAD": "READ", "POST": "CREATE", "PUT": "UPDATE", "DELETE": "DELETE"}

# -- limits (RESEARCH-API.md, Books: Limits) ---------------------------------------------------
PER_MINUTE = 100
PER_DAY = {"free": 1000, "standard": 2000, "professional": 5000}  # premium and above: 10000
PER_DAY_TOP = 10000
CONCURRENT = {"free": 5}  # paid plans: 10
CONCURRENT_PAID = 10

# -- plans as GET /organizations shows them ----------------------------------------------------
PLAN_TYPE = {"free": 0, "standard": 10, "professional": 130, "premium": 140, "elite": 150, "ultimate": 160}

# -- pagination --------------------------------------------------------------------------------
PER_PAGE_DEFAULT = 200
PER_PAGE_MAX = 200

# -- fields ------------------------------------------------------------------------------------
ADDRESS_KEYS = ("attention", "address", "street2", "state_code", "city", "state", "zip", "country", "fax", "phone")
INVOICE_ADDRESS_KEYS = ("address", "street2", "city", "state", "zip", "country", "fax")
PERSON_KEYS = ("salutation", "first_name", "last_name", "email", "phone", "mobile", "designation",
               "department", "skype")
CONTACT_TYPES = ("customer", "vendor")
CUSTOMER_SUB_TYPES = ("business", "individual")
PRODUCT_TYPES = ("goods", "service", "digital_service")
INVOICE_STATUSES = ("draft", "sent", "overdue", "paid", "void", "unpaid", "partially_paid", "viewed")
CONTACT_NAME_MAX = 200
ITEM_NAME_MAX = 100

CONTACT_SORT = {"contact_name": "name_key",  # case-insensitive, the same on every database
                "created_time": "created_time",
                "last_modified_time": "last_modified_time", "email": "email",
                "first_name": "first_name", "last_name": "last_name"}
ITEM_SORT = {"name": "name_key", "rate": "rate", "created_time": "created_time",
             "last_modified_time": "last_modified_time", "sku": "sku"}
INVOICE_SORT = {"customer_name": "customer_name", "invoice_number": "invoice_number", "date": "date",
                "due_date": "due_date", "total": "total", "balance": "balance",
                "created_time": "created_time", "last_modified_time": "last_modified_time"}
STATUS_FILTERS = {"Status.All": None, "Status.Active": "active", "Status.Inactive": "inactive"}

# -- currencies the fake knows by code (name, symbol, decimals) ---------------------------------
CURRENCIES: dict[str, tuple[str, str, int]] = {
    "USD": ("US Dollar", "$", 2), "EUR": ("Euro", "€", 2), "GBP": ("Pound Sterling", "£", 2),
    "INR": ("Indian Rupee", "₹", 2), "AUD": ("Australian Dollar", "$", 2), "CAD": ("Canadian Dollar", "$", 2),
    "JPY": ("Japanese Yen", "¥", 0), "CNY": ("Yuan Renminbi", "¥", 2), "AED": ("UAE Dirham", "AED", 2),
    "SGD": ("Singapore Dollar", "$", 2), "ZAR": ("Rand", "R", 2), "CHF": ("Swiss Franc", "CHF", 2),
    "SAR": ("Saudi Riyal", "SAR", 2), "MXN": ("Mexican Peso", "$", 2), "BRL": ("Brazilian Real", "R$", 2),
    "NZD": ("New Zealand Dollar", "$", 2), "SEK": ("Swedish Krona", "kr", 2), "KWD": ("Kuwaiti Dinar", "KWD", 3),
}
CURRENCY_FORMAT = "1,234,567.89"

# -- org settings (Org.settings keys) the Books fake reads ---------------------------------------
# allow_duplicate_names  bool   "Allow duplicates for customer display name" (TW-02)
# crm_integration        object Zoho-internal CRM<->Books integration state:
#                               {"enabled": bool, "sync_type": "I"|"II"|"III"|"IV"|None,
#                                "sync_in_progress": bool, "crm_org_id": str|None}
# custom_fields          object {"contact"|"item"|"invoice": [{"customfield_id","label","api_name",
#                               "data_type","index"}]} — definitions the org has made
SYNC_TYPES = ("I", "II", "III", "IV")
CUSTOM_FIELD_ENTITIES = ("contact", "item", "invoice")
CUSTOM_FIELD_TYPES = ("string", "number", "decimal", "date", "check_box", "email", "url", "phone")


def per_day(edition: str) -> int:
    return PER_DAY.get(edition, PER_DAY_TOP)


def concurrent(edition: str) -> int:
    return CONCURRENT.get(edition, CONCURRENT_PAID)
