"""Fake Zoho FSM v1 (``/fsm/v1``). Skeleton: routes arrive with issue 3."""

from __future__ import annotations

from flask import Blueprint

from fakes.core.crm_style import CrmStyleErrors, user_org
from fakes.core.product import Product


def product() -> Product:
    return Product(
        name="fsm",
        family="fsm",
        prefixes=("/fsm/v1",),
        make_blueprint=lambda name: Blueprint(name, __name__),
        errors=CrmStyleErrors(),
        org_for=lambda c: user_org(c),
    )
