"""Pages for people: the fakes' landing page (``/``), Swagger UI of both services (``/docs``), served
from their own port (no CDN), and — in headless Chromium — that they render what they promise."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
import pytest

from tests.browser import browser_page


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


def test_syncer_document_is_valid_openapi_3_1_and_names_its_docs_page():
    from openapi_spec_validator import validate

    from syncer.openapi import openapi_document

    doc = openapi_document()
    validate(doc)
    assert {"/docs/", "/docs/{path}"} <= set(doc["paths"])  # tests/syncer/test_api.py: routes == document


# -- in headless Chromium ----------------------------------------------------------------------------
OPERATIONS = """[...document.querySelectorAll('.opblock')].map(op =>
    op.querySelector('.opblock-summary-method').textContent + ' ' +
    op.querySelector('.opblock-summary-path').getAttribute('data-path'))"""


@pytest.fixture
def lab_urls(zlab_lab):
    _ = zlab_lab.syncer  # started on first use
    return zlab_lab.url, zlab_lab.syncer_url


def test_fakes_docs_renders_the_control_api_in_chromium(lab_urls):
    fakes_url, _ = lab_urls
    with browser_page() as page:
        page.goto(f"{fakes_url}/docs")
        page.wait_for("document.querySelectorAll('.opblock').length > 0")
        ops = set(page.evaluate(OPERATIONS))
        assert {"POST /_lab/tenants", "GET /_lab/journal", "POST /_lab/faults", "GET /_lab/workflows/runs",
                "GET /_lab/deliveries"} <= ops, ops
        assert "control API of the fakes" in page.evaluate("document.querySelector('.info .title').textContent")
        assert page.evaluate("document.querySelector('.errors-wrapper')") is None
        # open "POST /_lab/tenants": its answer is described by a schema, so Swagger UI shows its fields
        page.click("#operations-tenants-post__lab_tenants .opblock-summary-control")
        example = page.wait_for("(document.querySelector('#operations-tenants-post__lab_tenants "
                                ".responses-wrapper .microlight') || {}).textContent")
        assert '"client_secret"' in example and '"org_details"' in example


def test_syncer_docs_renders_its_api_in_chromium(lab_urls):
    _, syncer_url = lab_urls
    with browser_page() as page:
        page.goto(f"{syncer_url}/docs/")
        page.wait_for("document.querySelectorAll('.opblock').length > 0")
        ops = set(page.evaluate(OPERATIONS))
        assert {"POST /api/v1/integrations", "POST /api/v1/integrations/{integration_id}/sync",
                "GET /api/v1/runs/{run_id}"} <= ops, ops
        assert "syncer API" in page.evaluate("document.querySelector('.info .title').textContent")
        assert page.evaluate("document.querySelector('.errors-wrapper')") is None


# -- the scenario report -----------------------------------------------------------------------------
def _report(tmp_path):
    from scenarios.harness.model import Failure, Result, StepRecord
    from scenarios.harness.report import write_html
    from scenarios.harness.rules import Rule

    def result(sid, status, rules, tags=()):
        failure = Failure("Then it holds", "it to hold", "it did not", kind=status) if status != "passed" else None
        return Result(sid, f"title of {sid}", tuple(rules), tuple(tags), status, 0.5,
                      [StepRecord("Then it holds", status)], failure)

    results = [result("QA-LIMIT", "passed", ["QA-01"], ["books"]), result("QA-BROKEN", "failed", ["QA-02"]),
               result("QA-CRASH", "error", ["QA-03"], ["crm"]), result("QA-BOTH", "passed", ["QA-01", "QA-02"])]
    rules = [Rule("QA-01", "limits", ""), Rule("QA-02", "broken things", ""), Rule("QA-03", "crashes", ""),
             Rule("QA-04", "nobody tests this", "")]
    coverage = {"QA-01": ["QA-LIMIT", "QA-BOTH"], "QA-02": ["QA-BROKEN", "QA-BOTH"], "QA-03": ["QA-CRASH"], "QA-04": []}
    return write_html(results, rules, coverage, tmp_path / "report.html")


def test_report_has_a_filter_and_loads_nothing_from_the_network(tmp_path):
    page = _report(tmp_path).read_text()
    assert "id=filter" in page and "id=failed-only" in page
    assert not links(page).loads and not re.search(r"(https?:)?//[a-z]", page.split("<script>")[1])
    assert page.count('class=scenario data-status="passed"') == 2


VISIBLE = """[...document.querySelectorAll('%s')].filter(el => !el.hidden).map(el => el.id ||
             el.querySelector('code').textContent)"""


def _visible(page) -> dict[str, list[str]]:
    return {"rows": page.evaluate(VISIBLE % "tr.scenario"), "details": page.evaluate(VISIBLE % "details[data-text]"),
            "rules": page.evaluate(VISIBLE % "tr.rule"), "shown": page.evaluate("document.getElementById('shown').textContent")}


def test_report_filter_and_failed_only_in_chromium(tmp_path):
    url = _report(tmp_path).as_uri()
    with browser_page() as page:
        page.goto(url)
        v = _visible(page)
        assert v["rows"] == ["QA-LIMIT", "QA-BROKEN", "QA-CRASH", "QA-BOTH"] and len(v["rules"]) == 4
        assert v["shown"] == "4 of 4 scenarios shown"
        page.type("#filter", "qa-02")  # a rule id, typed: rows whose rules, id, title or tags hold it
        v = _visible(page)
        assert v["rows"] == ["QA-BROKEN", "QA-BOTH"] and sorted(v["details"]) == ["QA-BOTH", "QA-BROKEN"]
        assert v["rules"] == ["QA-02"] and v["shown"] == "2 of 4 scenarios shown"
        page.click("#failed-only")
        v = _visible(page)
        assert v["rows"] == ["QA-BROKEN"] and v["details"] == ["QA-BROKEN"] and v["rules"] == ["QA-02"]
        assert page.evaluate("location.search") == "?q=qa-02&failed=1"  # a filtered view has an address
        page.clear("#filter")
        v = _visible(page)  # failed only: the failed and the errored scenario, the rules they fail
        assert v["rows"] == ["QA-BROKEN", "QA-CRASH"] and v["rules"] == ["QA-02", "QA-03"]
        page.type("#filter", "crm title")  # every word must match
        assert _visible(page)["rows"] == ["QA-CRASH"]
        page.click("#failed-only")
        page.clear("#filter")
        assert _visible(page)["rows"] == ["QA-LIMIT", "QA-BROKEN", "QA-CRASH", "QA-BOTH"]
        # a shared address opens the same view
        page.goto(url + "?q=limit&failed=1")
        assert _visible(page)["rows"] == [] and page.evaluate("document.getElementById('failed-only').checked")
        page.goto(url + "?q=limit")
        v = _visible(page)
        assert v["rows"] == ["QA-LIMIT"] and v["rules"] == ["QA-01"]
        assert page.evaluate("document.getElementById('filter').value") == "limit"
