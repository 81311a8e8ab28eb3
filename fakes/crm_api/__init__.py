"""Fake Zoho CRM v2…v8 (``/crm/v2`` … ``/crm/v8``). Skeleton: routes arrive with issue 3."""

from __future__ import annotations

from flask import Blueprint

from fakes.core.crm_style import CrmStyleErrors, user_org
from fakes.core.product import Product


def product() -> Product:
    return Product(
        name="crm",
        family="crm",
        prefixes=("/crm/<any(v2,v3,v4,v5,v6,v7,v8):version>",),
        make_blueprint=lambda name: Blueprint(name, __name__),
        errors=CrmStyleErrors(),
        org_for=lambda c: user_org(c, "X-CRM-ORG"),
    )
