"""Fake Zoho servers. ``create_app()`` builds one Flask app serving every product on one port,
routed by path like zohoapis.com; ``only=`` serves a subset (``zlab serve --only books``)."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask

from .core.app import build_app
from .core.lab import Lab
from .core.product import Product


def all_products() -> dict[str, list[Product]]:
    """Product plugins by the name ``--only`` takes (books brings Invoice along)."""
    from . import accounts, books_api, crm_api, fsm_api

    return {
        "accounts": [accounts.product()],
        "books": [books_api.product("books"), books_api.product("invoice")],
        "crm": [crm_api.product()],
        "fsm": [fsm_api.product()],
    }


def create_app(db_url: str | None = None, *, only: Iterable[str] | None = None, seed: int = 0,
               shared: bool = False, base_url: str | None = None, lab: Lab | None = None,
               lab_token: str | None = None) -> Flask:
    """``lab_token``: what ``/_lab`` calls must present (default ``$ZLAB_LAB_TOKEN``; "" or unset: open)."""
    available = all_products()
    wanted = list(only) if only else list(available)
    unknown = [w for w in wanted if w not in available]
    if unknown:
        raise ValueError(f"unknown product(s): {', '.join(unknown)}; choose from {', '.join(available)}")
    if "accounts" not in wanted:
        wanted.insert(0, "accounts")  # every product needs tokens
    products = [p for name in wanted for p in available[name]]
    lab = lab or Lab(db_url, seed=seed, shared=shared, base_url=base_url)
    return build_app(lab, products, lab_token=lab_token)
