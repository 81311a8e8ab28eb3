"""Creating tenants and orgs (``POST /_lab/tenants``, ``POST /_lab/orgs``) and changing orgs.

Input is validated here with messages that name the field, so the control API answers 400
with a reason instead of storing something half-made.
"""

from __future__ import annotations

from typing import Any

from faker import Faker
from sqlmodel import Session

from . import ids
from .errors import lab_error
from .lab import Lab
from .tenants import (
    DEFAULT_EDITION,
    DEFAULT_SCOPES,
    EDITIONS,
    PRODUCTS,
    OAuthClient,
    Org,
    OrgMember,
    RefreshToken,
    User,
    store_refresh_token,
    user_by_email,
)
from .timefmt import is_valid_zone

ORG_OPTION_KEYS = {"name", "edition", "currency_code", "currencies", "time_zone", "tax_enabled",
                   "active", "trial_expired", "rate_limits", "settings"}
TENANT_KEYS = {"email", "name", "products", "time_zone", "currency_code", "currencies", "tax_enabled",
               "rate_limits", "editions", "orgs", "scopes", "company"}


def _check(cond: bool, message: str) -> None:
    if not cond:
        raise lab_error(400, message)


def org_options(product: str, base: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """Merge tenant-wide defaults with the product's own options and validate them."""
    _check(isinstance(own, dict), f"orgs.{product} must be an object")
    unknown = set(own) - ORG_OPTION_KEYS
    _check(not unknown, f"orgs.{product}: unknown option(s) {', '.join(sorted(unknown))}")
    # tenant-wide defaults, except "name": at tenant level it is the user's name, not the org's
    opts = {**{k: v for k, v in base.items() if k in ORG_OPTION_KEYS and k != "name"}, **own}
    edition = str(opts.get("edition") or DEFAULT_EDITION).lower()
    _check(edition in EDITIONS[product],
           f"orgs.{product}.edition must be one of {', '.join(EDITIONS[product])}")
    opts["edition"] = edition
    tz = opts.get("time_zone") or "UTC"
    _check(isinstance(tz, str) and is_valid_zone(tz), f"time_zone {tz!r} is not an IANA time zone")
    opts["time_zone"] = tz
    code = opts.get("currency_code") or "USD"
    _check(isinstance(code, str) and len(code) == 3 and code.isalpha(), "currency_code must be a 3-letter ISO code")
    opts["currency_code"] = code.upper()
    currencies = opts.get("currencies") or []
    _check(isinstance(currencies, list) and all(isinstance(c, str) and len(c) == 3 for c in currencies),
           "currencies must be a list of 3-letter ISO codes")
    opts["currencies"] = sorted({c.upper() for c in currencies} - {opts["currency_code"]})
    name = opts.get("name")
    _check(name is None or (isinstance(name, str) and name.strip() != ""),
           f"orgs.{product}.name must be a non-empty string")
    for flag in ("tax_enabled", "active", "trial_expired", "rate_limits"):
        if flag in opts:
            _check(isinstance(opts[flag], bool), f"{flag} must be true or false")
    _check(isinstance(opts.get("settings", {}), dict), "settings must be an object")
    return opts


def add_org(lab: Lab, s: Session, user: User, product: str, opts: dict[str, Any], company: str) -> Org:
    org_id = lab.ids.org_id(s, product)
    while s.get(Org, org_id) is not None:  # hash collision across products: draw again
        org_id = lab.ids.org_id(s, product)
    org = Org(
        id=org_id, product=product, name=opts.get("name") or company, edition=opts["edition"],
        currency_code=opts["currency_code"], time_zone=opts["time_zone"],
        tax_enabled=bool(opts.get("tax_enabled", False)), active=bool(opts.get("active", True)),
        trial_expired=bool(opts.get("trial_expired", False)),
        rate_limits=bool(opts.get("rate_limits", False)), owner_id=user.id,
        settings=dict(opts.get("settings") or {}), currencies=list(opts.get("currencies") or []),
        created_time=lab.now(),
    )
    s.add(org)
    s.add(OrgMember(org_id=org.id, user_id=user.id, role="admin"))
    s.flush()
    hook = lab.products[product].on_org_created if product in lab.products else None
    if hook is not None:
        hook(s, org, lab)
    return org


def create_tenant(lab: Lab, body: dict[str, Any]) -> dict[str, Any]:
    _check(isinstance(body, dict), "the body must be a JSON object")
    unknown = set(body) - TENANT_KEYS
    _check(not unknown, f"unknown option(s): {', '.join(sorted(unknown))}")
    products = body.get("products") or [p for p in PRODUCTS if p in lab.products]
    _check(isinstance(products, list) and all(p in PRODUCTS for p in products),
           f"products must be a list drawn from {', '.join(PRODUCTS)}")
    missing = [p for p in products if p not in lab.products]
    _check(not missing, f"this server does not serve: {', '.join(missing)}")
    per_org = body.get("orgs") or {}
    _check(isinstance(per_org, dict) and set(per_org) <= set(PRODUCTS), "orgs must map product names to options")
    editions = body.get("editions") or {}
    _check(isinstance(editions, dict) and set(editions) <= set(PRODUCTS),
           f"editions must map product names ({', '.join(PRODUCTS)}) to edition names")
    for key in ("name", "company"):
        _check(body.get(key) is None or (isinstance(body[key], str) and body[key].strip() != ""),
               f"{key} must be a non-empty string")
    scopes = body.get("scopes") or list(DEFAULT_SCOPES)
    _check(isinstance(scopes, list) and all(isinstance(x, str) for x in scopes), "scopes must be a list of strings")

    now = lab.now()
    with lab.db.begin() as s:
        user_id = lab.ids.user_id(s)
        faker = Faker()
        faker.seed_instance(f"{lab.seed}:{user_id}")
        # generated addresses carry the user id, so they never collide with another tenant's
        email = body.get("email") or f"{faker.user_name()}.{user_id[-6:]}@{faker.free_email_domain()}"
        _check(isinstance(email, str) and "@" in email, "email must be an email address")
        if user_by_email(s, email) is not None:
            raise lab_error(409, f"a user with email {email} already exists")
        company = body.get("company") or faker.company()
        user = User(id=user_id, email=email, name=body.get("name") or faker.name(),
                    time_zone=body.get("time_zone") or "UTC", created_time=now)
        s.add(user)
        orgs: dict[str, Org] = {}
        for product in products:
            own = per_org.get(product) or {}
            _check(isinstance(own, dict), f"orgs.{product} must be an object")
            own = dict(own)
            if product in editions:
                own.setdefault("edition", editions[product])
            orgs[product] = add_org(lab, s, user, product, org_options(product, body, own), company)
        client = OAuthClient(client_id=ids.client_id(), client_secret=ids.client_secret(), user_id=user.id)
        s.add(client)
        refresh = RefreshToken(token=ids.token(), client_id=client.client_id, user_id=user.id,
                               scopes=scopes, created_time=now)
        store_refresh_token(s, refresh)
        answer = {
            "email": user.email,
            "user_id": user.id,
            "name": user.name,
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "refresh_token": refresh.token,
            "scope": ",".join(scopes),
            "orgs": {p: o.id for p, o in orgs.items()},
            "org_details": {p: org_json(o) for p, o in orgs.items()},
        }
    lab.forget(tokens=True, orgs=False)
    return answer


def org_json(org: Org) -> dict[str, Any]:
    return {
        "id": org.id, "product": org.product, "name": org.name, "edition": org.edition,
        "currency_code": org.currency_code, "currencies": org.currencies, "time_zone": org.time_zone,
        "tax_enabled": org.tax_enabled, "active": org.active, "trial_expired": org.trial_expired,
        "rate_limits": org.rate_limits, "settings": org.settings, "owner_id": org.owner_id,
    }


def update_org(lab: Lab, org_id: str, body: dict[str, Any]) -> dict[str, Any]:
    _check(isinstance(body, dict), "the body must be a JSON object")
    allowed = {"name", "edition", "time_zone", "tax_enabled", "active", "trial_expired", "rate_limits", "settings"}
    unknown = set(body) - allowed
    _check(not unknown, f"unknown option(s): {', '.join(sorted(unknown))}")
    with lab.db.begin() as s:
        org = s.get(Org, org_id)
        if org is None:
            raise lab_error(404, f"no org {org_id}")
        if "edition" in body:
            edition = body["edition"].lower() if isinstance(body["edition"], str) else body["edition"]
            _check(edition in EDITIONS[org.product],
                   f"edition must be one of {', '.join(EDITIONS[org.product])}")
            org.edition = edition
        if "time_zone" in body:
            _check(isinstance(body["time_zone"], str) and is_valid_zone(body["time_zone"]), "time_zone is not valid")
            org.time_zone = body["time_zone"]
        if "name" in body:
            _check(isinstance(body["name"], str) and body["name"].strip() != "", "name must be a non-empty string")
            org.name = body["name"]
        for flag in ("tax_enabled", "active", "trial_expired", "rate_limits"):
            if flag in body:
                _check(isinstance(body[flag], bool), f"{flag} must be true or false")
                setattr(org, flag, body[flag])
        if "settings" in body:
            _check(isinstance(body["settings"], dict), "settings must be an object")
            org.settings = {**(org.settings or {}), **body["settings"]}
        s.add(org)
        answer = org_json(org)
    lab.forget(tokens=False, orgs=True)
    return answer
