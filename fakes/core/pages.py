"""Pages for people on the fakes' port: ``/`` (where things are) and ``/docs`` (Swagger UI of the
control API's ``/_lab/openapi.json``).

Swagger UI's files come from the pinned ``flask-swagger-ui`` package and are served from this
port, so the page works without network (a lab behind a firewall, CI). The emulated Zoho APIs
have no document here: Zoho publishes theirs (see README "Contract tests").
"""

from __future__ import annotations

import html
import re

from flask import Flask, Response
from flask_swagger_ui import get_swaggerui_blueprint

from .product import Product

DOCS_PATH = "/docs"
LAB_OPENAPI = "/_lab/openapi.json"
TITLES = {"accounts": "Zoho Accounts (OAuth)", "books": "Zoho Books", "invoice": "Zoho Invoice",
          "crm": "Zoho CRM", "fsm": "Zoho FSM"}

CSS = ("body{font:15px/1.5 system-ui,sans-serif;margin:32px auto;max-width:760px;color:#1f2328;padding:0 16px}"
       "h1{font-size:22px}h2{font-size:17px;margin-top:24px}code{background:#f6f8fa;padding:1px 5px;border-radius:4px}"
       "li{margin:3px 0}.muted{color:#59636e}")


def register_pages(app: Flask, products: list[Product]) -> None:
    app.register_blueprint(get_swaggerui_blueprint(
        DOCS_PATH, LAB_OPENAPI, blueprint_name="swagger_ui",
        config={"app_name": "Zoho Sync Lab — control API of the fakes", "deepLinking": True,
                # no "validatorUrl": Swagger UI would send the document to swagger.io for a badge
                "validatorUrl": None}))
    page = landing_page(products)

    @app.get("/")
    def landing():
        return Response(page, content_type="text/html; charset=utf-8")


def base_path(prefix: str) -> str:
    """A prefix as a person types it: a converter such as ``<any(v2,...,v8):version>`` becomes
    its last (newest) choice, ``<version>`` stays a placeholder."""
    def one(m: re.Match[str]) -> str:
        choices = re.match(r"any\(([^)]*)\)", m.group(1))
        return choices.group(1).split(",")[-1].strip() if choices else "{" + m.group(1).split(":")[-1] + "}"

    return re.sub(r"<([^>]+)>", one, prefix)


def landing_page(products: list[Product]) -> str:
    rows = "".join(
        f"<li>{html.escape(TITLES.get(p.name, p.name))}: "
        + ", ".join(f"<code>{html.escape(base_path(prefix))}</code>" for prefix in p.prefixes) + "</li>"
        for p in products)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Zoho Sync Lab — fakes</title>"
        f"<style>{CSS}</style></head><body><h1>Zoho Sync Lab — fakes</h1>"
        "<p class=muted>Fakes of Zoho's APIs on one port, routed by path like zohoapis.com.</p>"
        "<h2>For people</h2><ul>"
        f"<li><a href='{DOCS_PATH}'>API docs</a>: Swagger UI of the control API (<code>/_lab</code>)</li>"
        f"<li><a href='{LAB_OPENAPI}'>{LAB_OPENAPI}</a>: its OpenAPI 3.1 document</li>"
        "<li><a href='/_lab/health'>/_lab/health</a>: liveness, lab clock and database</li>"
        "<li><a href='/_lab/journal'>/_lab/journal</a>: recent product calls, newest first</li></ul>"
        f"<h2>Products (base paths)</h2><ul>{rows}</ul>"
        "<p class=muted>Product calls need <code>Authorization: Zoho-oauthtoken …</code> from "
        "<code>POST /oauth/v2/token</code>; create a tenant first with <code>POST /_lab/tenants</code>.</p>"
        "</body></html>")
