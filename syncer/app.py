"""The syncer's Flask app: ``create_app(service)`` serves the JSON API (``/api/v1``), its OpenAPI
document (``/openapi.json``) with Swagger UI (``/docs``) and ``/health``.

    service = SyncerService(SyncerConfig.from_env(fakes_url=...)).start()   # scheduler thread too
    app = create_app(service)

``create_app()`` without a service builds one from the environment (``SyncerConfig.from_env``)
and starts it: that is what a gunicorn worker calls (``zlab syncer`` runs exactly one worker, so
exactly one scheduler).
"""

from __future__ import annotations

import hmac
import os

from flask import Flask, Response, jsonify, redirect, request
from flask_swagger_ui import get_swaggerui_blueprint

from syncer.api import API_PREFIX, MAX_BODY_BYTES, create_blueprint, iso, register_errors
from syncer.health import database_status, scheduler_status
from syncer.openapi import openapi_document
from syncer.service import SyncerService


def create_app(service: SyncerService | None = None) -> Flask:
    if service is None:
        service = SyncerService().start()
    app = Flask("zlab_syncer")
    app.json.sort_keys = False
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions["zlab_syncer"] = service
    app.register_blueprint(create_blueprint())
    register_errors(app)
    # Swagger UI of /openapi.json; its files come from the pinned package, served here (no CDN)
    app.register_blueprint(get_swaggerui_blueprint("/docs", "/openapi.json", config={
        "app_name": "Zoho Sync Lab — syncer API", "validatorUrl": None}))

    @app.get("/health")
    def health():
        """Liveness and start-up truth (syncer/health.py): ``degraded`` when the fakes/Zoho do not
        answer, 503 ``error`` when the database does not; the scheduler active, on standby (another
        syncer on this database runs it) or off."""
        database = database_status(service.db)
        upstream = service.upstream.status()
        status = "error" if database["status"] != "ok" else "ok" if upstream["status"] == "ok" else "degraded"
        resp = jsonify({"status": status, "service": "zlab-syncer",
                        "now": iso(service.repo.now()) if database["status"] == "ok" else None,
                        "lab_clock": service.config.fakes_url is not None, "fakes_url": service.config.fakes_url,
                        "database": database, service.upstream_kind: upstream,
                        "scheduler": scheduler_status(service.scheduler),
                        "mail": service.mailer._public_url() or None})
        resp.status_code = 503 if status == "error" else 200
        return resp

    @app.get("/openapi.json")
    def openapi():
        return jsonify(openapi_document())

    @app.get("/")
    def index():
        return jsonify({"service": "zlab-syncer", "api": API_PREFIX, "openapi": "/openapi.json", "docs": "/docs",
                        "health": "/health", "dashboard": "/dashboard"})

    @app.get("/dashboard")
    def dashboard():
        """For people: integrations, their latest runs (with failure CSVs) and the mail sent."""
        from .dashboard import render, token_form

        if not dashboard_token_ok(request.cookies.get(DASHBOARD_COOKIE, "")):
            return Response(token_form(), status=401, content_type="text/html; charset=utf-8")
        return Response(render(service, api_prefix=API_PREFIX, args=request.args),
                        content_type="text/html; charset=utf-8")

    @app.post("/dashboard")
    def dashboard_sign_in():
        """A guarded syncer: the page's form posts the lab token; a right one is kept in an
        HttpOnly, same-site cookie for this path only (never in the URL, so never in a log)."""
        from .dashboard import token_form

        given = request.form.get("token", "")
        if not os.environ.get("ZLAB_LAB_TOKEN") or not dashboard_token_ok(given):
            return Response(token_form(wrong=bool(given)), status=401, content_type="text/html; charset=utf-8")
        resp = redirect("/dashboard", code=303)
        resp.set_cookie(DASHBOARD_COOKIE, given, httponly=True, samesite="Strict", path="/dashboard")
        return resp

    return app


DASHBOARD_COOKIE = "zlab_lab_token"


def dashboard_token_ok(given: str) -> bool:
    """Open without ``ZLAB_LAB_TOKEN``; with it, the page shows org ids and mail bodies only to
    whoever has the token (as the API does)."""
    expected = os.environ.get("ZLAB_LAB_TOKEN", "")
    return not expected or hmac.compare_digest(given.encode(), expected.encode())
