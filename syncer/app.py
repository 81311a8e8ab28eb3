"""The syncer's Flask app: ``create_app(service)`` serves the JSON API (``/api/v1``), its OpenAPI
document (``/openapi.json``) with Swagger UI (``/docs``) and ``/health``.

    service = SyncerService(SyncerConfig.from_env(fakes_url=...)).start()   # scheduler thread too
    app = create_app(service)

``create_app()`` without a service builds one from the environment (``SyncerConfig.from_env``)
and starts it: that is what a gunicorn worker calls (``zlab syncer`` runs exactly one worker, so
exactly one scheduler).
"""

from __future__ import annotations

from flask import Flask, Response, jsonify
from flask_swagger_ui import get_swaggerui_blueprint

from syncer.api import API_PREFIX, MAX_BODY_BYTES, create_blueprint, iso, register_errors
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
        return jsonify({"status": "ok", "service": "zlab-syncer", "now": iso(service.repo.now()),
                        "lab_clock": service.config.fakes_url is not None, "fakes_url": service.config.fakes_url,
                        "scheduler": {"running": service.scheduler.running, "interval": service.scheduler.interval},
                        "mail": service.mailer._public_url() or None})

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
        from .dashboard import render

        return Response(render(service, api_prefix=API_PREFIX), content_type="text/html; charset=utf-8")

    return app
