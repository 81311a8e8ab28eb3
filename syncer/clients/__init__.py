"""httpx clients for Zoho Accounts, Books/Invoice, FSM and CRM (or the lab's fakes), over HTTP only.

    auth = AccountsClient(accounts_url, client_id, client_secret, refresh_token, clock=LabClock(lab_url))
    books = BooksClient(auth, org_id)              # or product="invoice"
    fsm, crm = FsmClient(auth), CrmClient(auth)
    for contact in books.list_contacts(): ...     # streamed page by page
"""

from .accounts import AccountsClient, Token
from .base import (
    ApiClient,
    Clock,
    LabClock,
    RecordApiClient,
    RecordResult,
    RetryPolicy,
    ZohoApiError,
    ZohoAuthError,
    ZohoOutcomeUnknown,
    ZohoRateLimitError,
    ZohoServerError,
    ZohoTransportError,
    system_clock,
)
from .books import BooksClient
from .crm import CrmClient
from .fsm import FsmClient

__all__ = [
    "AccountsClient", "ApiClient", "BooksClient", "Clock", "CrmClient", "FsmClient", "LabClock",
    "RecordApiClient", "RecordResult", "RetryPolicy", "Token", "ZohoApiError", "ZohoAuthError",
    "ZohoOutcomeUnknown", "ZohoRateLimitError", "ZohoServerError", "ZohoTransportError", "system_clock",
]
