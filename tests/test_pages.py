"""Pages for people: the fakes' landing page (``/``), Swagger UI of both services (``/docs``), served
from their own port (no CDN), and — in headless Chromium — that they render what they promise."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
import pytest

from tests.browser import rendered_dom


class Links(HTMLParser):
    """The URLs a page loads or links to (src, href)."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []  # scripts, stylesheets, icons
        self.anchors: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.anchors.append(a["href"])
        elif tag in ("script", "img") and a.get("src"):
            self.loads.append(a["src"])
        elif tag == "link" and a.get("href"):
            self.loads.append(a["href"])


def links(page: str) -> Links:
    parser = Links()
    parser.feed(page)
    return parser


# -- the fakes -------------------------------------------------------------------------------------
def test_landing_page_links_docs_health_and_every_product(sqlite_app):
    c = sqlite_app.test_client()
    r = c.get("/")
    assert r.status_code == 200 and r.mimetype == "text/html"
    page = r.get_data(as_text=True)
    anchors = links(page).anchors
    assert {"/docs", "/_lab/openapi.json", "/_lab/health"} <= set(anchors)
    for href in anchors:  # every link of the page answers
        assert c.get(href).status_code == 200, href
    # each product's base path, a converter shown as its newest choice
    for base in ("/oauth/v2", "/books/v3", "/invoice/v3", "/crm/v8", "/fsm/v1"):
        assert f"<code>{base}</code>" in page, base


def test_landing_page_lists_only_the_products_served():
    from fakes import create_app

    app = create_app("sqlite://", only=["crm"])
    page = app.test_client().get("/").get_data(as_text=True)
    assert "/crm/v8" in page and "/oauth/v2" in page and "/books/v3" not in page
    app.extensions["zlab"].db.dispose()


def _assert_swagger_ui_served_locally(get, docs_url: str, document_url: str) -> None:
    r = get(docs_url)
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    page = r.text
    loads = links(page).loads
    assert any(u.endswith("/swagger-ui-bundle.js") for u in loads) and any(u.endswith("/swagger-ui.css") for u in loads)
    for url in loads:
        assert url.startswith("/docs/"), f"{url} is not served by this port"
        asset = get(url)
        assert asset.status_code == 200 and len(asset.content) > 100, url
    assert f'"url": "{document_url}"' in page
    assert '"validatorUrl": null' in page  # never sends the document to swagger.io's validator
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


def test_fakes_docs_is_swagger_ui_of_the_control_api(sqlite_app):
    c = sqlite_app.test_client()

    class Get:
        def __call__(self, url):
            r = c.get(url)
            return httpx.Response(r.status_code, headers=dict(r.headers), content=r.get_data())

    _assert_swagger_ui_served_locally(Get(), "/docs", "/_lab/openapi.json")
    assert c.get("/docs/no-such-file.js").status_code == 404
    assert c.get("/docs/../pyproject.toml").status_code == 404
    assert c.get("/_lab/journal").get_json()["entries"] == []  # pages are not product calls


def test_syncer_docs_is_swagger_ui_of_its_api(zlab_lab):
    with httpx.Client(base_url=zlab_lab.syncer.url, follow_redirects=True) as http:
        _assert_swagger_ui_served_locally(http.get, "/docs", "/openapi.json")
        assert http.get("/").json()["docs"] == "/docs"


# -- in headless Chromium ----------------------------------------------------------------------------
def _operations(dom: str) -> set[str]:
    """The operations Swagger UI rendered: ``METHOD /path`` of each ``opblock``."""
    found = re.findall(r'opblock-summary-method">(\w+)</span>.*?data-path="([^"]+)"', dom, re.S)
    return {f"{m} {p}" for m, p in found}


@pytest.fixture
def lab_urls(zlab_lab):
    _ = zlab_lab.syncer  # started on first use
    return zlab_lab.url, zlab_lab.syncer_url


def test_fakes_docs_renders_the_control_api_in_chromium(lab_urls):
    fakes_url, _ = lab_urls
    dom = rendered_dom(f"{fakes_url}/docs/")
    ops = _operations(dom)
    assert 'class="opblock ' in dom and "Unable to render" not in dom
    assert {"POST /_lab/tenants", "GET /_lab/journal", "POST /_lab/faults", "GET /_lab/workflows/runs"} <= ops, ops
    assert "control API of the fakes" in dom  # the document's title, so it is this document


def test_syncer_docs_renders_its_api_in_chromium(lab_urls):
    _, syncer_url = lab_urls
    dom = rendered_dom(f"{syncer_url}/docs/")
    ops = _operations(dom)
    assert 'class="opblock ' in dom and "Unable to render" not in dom
    assert {"POST /api/v1/integrations", "POST /api/v1/integrations/{integration_id}/sync",
            "GET /api/v1/runs/{run_id}"} <= ops, ops
