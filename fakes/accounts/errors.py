"""Zoho Accounts' error answers. Most are HTTP 200 with ``{"error": "..."}`` (observed)."""

from __future__ import annotations

from fakes.core.errors import ErrorCatalog, Failure, Kind, ZohoError


def oauth_error(error: str, status: int = 200, **extra) -> ZohoError:
    return ZohoError(status, {"error": error, **extra})


def invalid_client() -> ZohoError:
    return oauth_error("invalid_client")


def invalid_code() -> ZohoError:
    return oauth_error("invalid_code")


def unsupported_grant_type() -> ZohoError:
    return oauth_error("unsupported_grant_type")


def invalid_redirect_uri() -> ZohoError:
    return oauth_error("invalid_redirect_uri")


def invalid_scope() -> ZohoError:
    return oauth_error("invalid_scope")


def too_many_requests() -> ZohoError:
    # observed answer when more than 10 tokens are asked for in 10 minutes with one refresh token
    return ZohoError(400, {
        "error": "Access Denied",
        "error_description": "You have made too many requests continuously. Please try again after some time.",
        "status": "failure",
    })


class AccountsErrors(ErrorCatalog):
    def render(self, failure: Failure) -> ZohoError:
        if failure.kind == Kind.URL_NOT_FOUND:
            return oauth_error("invalid_request", 404)
        if failure.kind == Kind.METHOD_NOT_ALLOWED:
            return oauth_error("invalid_request", 405)
        if failure.kind in (Kind.MALFORMED_BODY, Kind.INVALID_VALUE):
            return oauth_error("invalid_request", 400)
        if failure.kind == Kind.BODY_TOO_LARGE:
            return oauth_error("invalid_request", 413)
        if failure.kind == Kind.URL_TOO_LONG:
            return oauth_error("invalid_request", 414)
        if failure.kind in (Kind.RATE_MINUTE, Kind.RATE_DAY, Kind.CONCURRENCY):
            err = too_many_requests()
            err.headers["Retry-After"] = str(failure.detail.get("retry_after", 60))
            return err
        return ZohoError(500, {"error": "server_error", "status": "failure"})
