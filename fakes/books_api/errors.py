"""Zoho Books/Invoice errors: ``{"code": <int>, "message": "..."}`` with an HTTP status.

Where a code comes from: [doc] RESEARCH-API.md or the Books v3 spec; [obs] seen in integrators'
code and tests (e.g. ``{"code":2,"message":"Invalid value passed for organization_id"}``,
``{"code":6041,"message":"This user is not associated with the CompanyID/CompanyName:…"}``,
``{"code":5,"message":"Invalid URL Passed"}``, ``{"code":37,…}`` for a wrong method);
[lab] our choice where nothing public says — kept few, and listed here so they are easy to fix.
"""

from __future__ import annotations

from fakes.core.errors import ErrorCatalog, Failure, Kind, ZohoError

NOT_AUTHORIZED = "You are not authorized to perform this operation"


def error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> ZohoError:
    return ZohoError(status, {"code": code, "message": message}, headers)


# -- request-level ------------------------------------------------------------------------------

def invalid_value(field: str) -> ZohoError:  # [obs] code 2 for query parameters and ids
    return error(400, 2, f"Invalid value passed for {field}")


def invalid_field(field: str) -> ZohoError:  # [obs] code 4 for body fields ("...for Amount")
    return error(400, 4, f"Invalid value passed for {field}")


def malformed_json() -> ZohoError:  # [doc] 1038
    return error(400, 1038, "JSON is not well formed")


# -- contacts --------------------------------------------------------------------------------------

def contact_not_found() -> ZohoError:  # [doc] 1002
    return error(404, 1002, "Contact does not exist.")


def duplicate_contact(name: str, contact_type: str) -> ZohoError:  # [doc] 3062
    return error(400, 3062, f'The {contact_type} "{name}" already exists. Please specify a different name.')


def contact_has_transactions() -> ZohoError:  # [lab] code; Books refuses to delete such contacts
    return error(400, 3048, "Contacts with transactions cannot be deleted.")


def contact_person_not_found() -> ZohoError:  # [lab]
    return error(404, 1002, "Contact person does not exist.")


def currency_not_found() -> ZohoError:  # [doc] 9004
    return error(400, 9004, "This currency does not exist")


# -- items -----------------------------------------------------------------------------------------

def item_not_found() -> ZohoError:  # [doc] 2006
    return error(404, 2006, "Item does not exist.")


def duplicate_item(name: str) -> ZohoError:  # [doc] 1000
    return error(400, 1000, f'The item "{name}" already exists.')


def duplicate_sku(sku: str) -> ZohoError:  # [lab] same code as a duplicate name
    return error(400, 1000, f'The SKU "{sku}" already exists.')


# -- invoices --------------------------------------------------------------------------------------

def invoice_not_found() -> ZohoError:  # [doc] 1002 ("Invoice does not exist." is documented)
    return error(404, 1002, "Invoice does not exist.")


def duplicate_invoice_number(number: str) -> ZohoError:  # [lab]
    return error(400, 1001, f'Invoice "{number}" already exists.')


def invoice_status_change(message: str) -> ZohoError:  # [lab]
    return error(400, 1004, message)


# -- settings ----------------------------------------------------------------------------------------

def duplicate_currency(code: str) -> ZohoError:  # [lab]
    return error(400, 9005, f"The currency {code} already exists.")


def base_currency_locked() -> ZohoError:  # [lab]
    return error(400, 9006, "The base currency cannot be deleted.")


def tax_not_found() -> ZohoError:  # [lab]
    return error(404, 1002, "Tax does not exist.")


def user_not_found() -> ZohoError:  # [lab] code and message
    return error(404, 1002, "User does not exist.")


class BooksErrors(ErrorCatalog):
    """Maps the shared machinery's failures to Books' envelopes."""

    def render(self, failure: Failure) -> ZohoError:
        k, d = failure.kind, failure.detail
        if k in (Kind.AUTH_MISSING, Kind.AUTH_INVALID, Kind.AUTH_EXPIRED, Kind.SCOPE_MISMATCH, Kind.ORG_INACTIVE):
            return error(401, 57, NOT_AUTHORIZED)  # [obs] 401 code 57 for bad or expired tokens
        if k in (Kind.ORG_MISSING, Kind.ORG_INVALID):
            return invalid_value("organization_id")
        if k == Kind.ORG_FORBIDDEN:
            return error(401, 6041, f"This user is not associated with the CompanyID/CompanyName:{d.get('org_id')}.")
        # Real Books sends no Retry-After on 429 (its X-Rate-Limit-* headers tell the reset): docs/books.md,
        # "Sources settled". A 429 injected by a fault rule keeps it, so a test can steer a client's wait.
        retry = {"Retry-After": str(d.get("retry_after", 60))} if d.get("injected") else {}
        if k == Kind.RATE_MINUTE:  # [doc] 44; message [lab]
            return error(429, 44, "You have made too many requests per minute. Please try again after some time.", retry)
        if k == Kind.RATE_DAY:  # [doc] 45 with this message
            limit = d.get("limit", "")
            return error(429, 45, f"The API call for this organization has exceeded the maximum call rate limit of {limit}.", retry)
        if k == Kind.CONCURRENCY:  # [doc] 1070; message [lab]
            return error(429, 1070, "You have exceeded the maximum number of concurrent API calls. Please try again after some time.", retry)
        if k == Kind.MALFORMED_BODY:
            if d.get("reason") == "JSONString is missing":
                return invalid_value("JSONString")
            return malformed_json()
        if k == Kind.INVALID_VALUE:  # a NUL or lone surrogate: codes 2 (parameters) and 4 (body fields) [obs]
            name = str(d.get("param") or "")
            return invalid_field(name) if d.get("in") == "body" else invalid_value(name)
        if k == Kind.BODY_TOO_LARGE:  # [lab] status 413; code and message ours (nothing public says)
            return error(413, 4, "The request body is too large.")
        if k == Kind.URL_TOO_LONG:  # [lab] status 414, in Books' envelope rather than a front server's page
            return error(414, 5, "The request URL is too long.")
        if k == Kind.URL_NOT_FOUND:
            return error(404, 5, "Invalid URL Passed")
        if k == Kind.METHOD_NOT_ALLOWED:
            return error(405, 37, "The HTTP method is not allowed for the requested resource")
        return error(500, 1, "Internal error. Please try again after some time.")  # [lab]
