"""Routes of the fake Zoho Accounts: ``/oauth/v2/token``, ``/token/revoke`` and ``/auth``.

Parameters are read from the query string or the form body, as Zoho accepts both.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from flask import Blueprint, redirect, request

from fakes.core.context import json_response, lab
from fakes.core.lab_api import api_domain

from . import errors, store


def _params() -> dict[str, str]:
    merged = dict(request.args.items())
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        merged.update(request.form.items())
    return merged


def make_blueprint(name: str) -> Blueprint:
    bp = Blueprint(name, __name__)

    @bp.post("/token")
    def token():
        p = _params()
        grant = p.get("grant_type")
        domain = api_domain(lab())
        if grant == "refresh_token":
            body = store.refresh_grant(lab(), p, domain)
        elif grant == "authorization_code":
            body = store.code_grant(lab(), p, domain)
        elif grant == "client_credentials":
            body = store.client_credentials_grant(lab(), p, domain)
        else:
            raise errors.unsupported_grant_type()
        return json_response(body)

    @bp.post("/token/revoke")
    def revoke():
        token = _params().get("token")
        if not token:
            raise errors.oauth_error("invalid_request", 400)
        store.revoke(lab(), token)
        return json_response({"status": "success"})

    @bp.get("/auth")
    def authorize():
        p = _params()
        if p.get("response_type", "code") != "code":
            raise errors.oauth_error("unsupported_response_type")
        code = store.authorize(lab(), p)
        domain = api_domain(lab())
        query = {"code": code.code, "location": "us", "accounts-server": domain}
        if p.get("state"):
            query = {"state": p["state"], **query}
        target = p.get("redirect_uri")
        if not target or not urlsplit(target).scheme:
            return json_response(query)  # no redirect URI: show the code (self-client style)
        sep = "&" if "?" in target else "?"
        return redirect(f"{target}{sep}{urlencode(query)}", code=302)

    return bp
