"""Fake Zoho Accounts (OAuth 2.0): the token endpoint every product client calls first."""

from fakes.core.product import Product

from .api import make_blueprint
from .errors import AccountsErrors


def product() -> Product:
    return Product(
        name="accounts",
        family="accounts",
        prefixes=("/oauth/v2",),
        make_blueprint=make_blueprint,
        errors=AccountsErrors(),
        requires_auth=False,
    )
