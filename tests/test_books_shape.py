"""The Books/Invoice fake's views are module-level functions (importable and testable alone),
one blueprint registered once per prefix and one lab blueprint registered once per product."""

from __future__ import annotations

from fakes.books_api import api, lab_api

REGISTRATIONS = {"books@0": "/books/v3", "books@1": "/api/v3", "invoice@0": "/invoice/v3"}


def test_each_prefix_serves_the_module_level_views_of_api(sqlite_app):
    for name, prefix in REGISTRATIONS.items():
        rules = [r for r in sqlite_app.url_map.iter_rules() if r.endpoint.startswith(f"{name}.")]
        assert rules and all(str(r.rule).startswith(prefix) for r in rules)
        for r in rules:
            view = r.endpoint.split(".", 1)[1]
            assert sqlite_app.view_functions[r.endpoint] is getattr(api, view), r.endpoint
    assert {r.endpoint.split(".", 1)[1] for r in sqlite_app.url_map.iter_rules() if r.endpoint.startswith("books@0.")} \
        == {r.endpoint.split(".", 1)[1] for r in sqlite_app.url_map.iter_rules() if r.endpoint.startswith("invoice@0.")}


def test_the_lab_routes_of_both_products_are_the_module_level_views_of_lab_api(sqlite_app):
    for product in ("books", "invoice"):
        rules = [r for r in sqlite_app.url_map.iter_rules() if r.endpoint.startswith(f"lab_{product}.")]
        assert len(rules) == 4 and all(str(r.rule).startswith(f"/_lab/{product}/orgs/") for r in rules)
        for r in rules:
            assert sqlite_app.view_functions[r.endpoint] is getattr(lab_api, r.endpoint.split(".", 1)[1])
