"""The app factory machinery: mount products, the chain, error rendering and the control API."""

from __future__ import annotations

import hmac
import logging
import os

from flask import Flask, g, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from . import chain
from .bodies import MAX_BODY_BYTES, MAX_URL_BYTES
from .context import json_response
from .errors import Failure, Kind, LabErrors, ZohoError
from .lab import Lab
from .product import Product

log = logging.getLogger("zlab.fakes")
LAB_ERRORS = LabErrors()


# The control API's guard (README "The lab token"): with ZLAB_LAB_TOKEN set, every /_lab call but
# these presents it; without it the control API is open, as LocalStack's is (the embedded default).
LAB_TOKEN_ENV = "ZLAB_LAB_TOKEN"
LAB_TOKEN_HEADER = "X-Zlab-Lab-Token"
# health: what a container's healthcheck asks; openapi.json: the document /docs shows (no secrets in it)
OPEN_LAB_PATHS = frozenset({"/_lab/health", "/_lab/openapi.json"})


def build_app(lab: Lab, products: list[Product], *, lab_token: str | None = None) -> Flask:
    app = Flask("zlab_fakes")
    app.json.sort_keys = False
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["MAX_FORM_MEMORY_SIZE"] = MAX_BODY_BYTES  # a JSONString form field: the body's limit, not 500 KB
    app.url_map.strict_slashes = False  # Zoho accepts an optional trailing slash
    app.extensions["zlab"] = lab

    for product in products:
        lab.products[product.name] = product
        for i, prefix in enumerate(product.prefixes):
            # registered under the name it was made with, so a product may hand out one
            # module-level blueprint for all its prefixes (Flask's ``name=``)
            name = f"{product.name}@{i}"
            app.register_blueprint(product.make_blueprint(name), url_prefix=prefix, name=name)

    from .lab_api import make_lab_blueprint

    app.register_blueprint(make_lab_blueprint(products), url_prefix="/_lab")
    for product in products:
        if product.on_start is not None:
            product.on_start(lab)
        if product.make_lab_blueprint is not None:
            app.register_blueprint(product.make_lab_blueprint(), url_prefix=f"/_lab/{product.name}")
    from .pages import register_pages

    register_pages(app, products)  # / and /docs, for people

    expected = (lab_token if lab_token is not None else os.environ.get(LAB_TOKEN_ENV, "")).encode()

    @app.before_request
    def _guard_control_api():
        path = request.path.rstrip("/")
        if expected and (path == "/_lab" or path.startswith("/_lab/")) and path not in OPEN_LAB_PATHS:
            if not hmac.compare_digest(presented_lab_token().encode(), expected):
                raise ZohoError(401, {"error": "unauthorized", "message": (
                    f"the control API needs the lab token: send it as {LAB_TOKEN_HEADER} "
                    f"(or Authorization: Bearer …); it is the server's {LAB_TOKEN_ENV}")},
                    {"WWW-Authenticate": 'Bearer realm="zlab"'})

    @app.before_request
    def _begin():
        chain.begin(lab)

    @app.after_request
    def _finish(response):
        return chain.finish(lab, response)

    @app.teardown_request
    def _release(_exc):
        chain.release(lab)

    def catalog():
        ctx = g.get("zlab")
        product = ctx.product if ctx is not None else None
        if product is None:  # routing failed before the product was known: guess from path
            product = _product_for_path(lab, request.path)
        return product.errors if product is not None else LAB_ERRORS

    @app.errorhandler(ZohoError)
    def _zoho_error(err: ZohoError):
        return _render(err)

    @app.errorhandler(Failure)
    def _failure(f: Failure):
        return _render(catalog().render(f))

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if isinstance(exc, MethodNotAllowed):
            return _render(catalog().render(Failure(Kind.METHOD_NOT_ALLOWED)))
        if isinstance(exc, NotFound):
            return _render(catalog().render(Failure(Kind.URL_NOT_FOUND)))
        if exc.code == 413:
            ctx = g.get("zlab")
            if ctx is not None:
                ctx.body_refused = True  # the journal must not try to read it again
            return _render(catalog().render(Failure(Kind.BODY_TOO_LARGE, {"limit": MAX_BODY_BYTES})))
        if exc.code == 414:
            return _render(catalog().render(Failure(Kind.URL_TOO_LONG, {"limit": MAX_URL_BYTES})))
        if exc.code and exc.code < 500:
            return _render(catalog().render(Failure(Kind.MALFORMED_BODY, {"reason": exc.description})))
        return _render(catalog().render(Failure(Kind.INTERNAL)))

    @app.errorhandler(chain.DroppedConnection)
    def _dropped(_exc):
        return _render(ZohoError(500, {}))  # nobody reads it: the socket is closed

    @app.errorhandler(Exception)
    def _crash(exc: Exception):
        log.exception("unhandled error in %s %s", request.method, request.path)
        return _render(catalog().render(Failure(Kind.INTERNAL, {"exception": type(exc).__name__})))

    return app


def presented_lab_token() -> str:
    """The lab token a control call presents: ``X-Zlab-Lab-Token``, else ``Authorization: Bearer``."""
    token = request.headers.get(LAB_TOKEN_HEADER)
    if token is None:
        scheme, _, rest = request.headers.get("Authorization", "").partition(" ")
        token = rest.strip() if scheme.lower() == "bearer" else ""
    return token


def _render(err: ZohoError):
    if err.status in (204, 304):
        from .context import empty_response

        return empty_response(err.status, err.headers)
    return json_response(err.body, err.status, err.headers)


def _product_for_path(lab: Lab, path: str) -> Product | None:
    parts = path.strip("/").split("/")
    head = parts[0] if parts else ""
    for product in lab.products.values():
        for prefix in product.prefixes:
            if prefix.strip("/").split("/")[0] == head:
                return product
    return None
