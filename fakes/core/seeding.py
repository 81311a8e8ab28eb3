"""Seeding orgs with realistic records (``POST /_lab/seed``, ``zlab seed``).

Products register one seeder per module. A seeder makes records ``start .. start+count-1`` of
a module, each from its own Faker seeded with ``(seed, module, index)``: the same seed gives the
same data whether it is made in one call or in chunks (the CLI seeds in chunks to show a
progress bar), and records are inserted in bulk so 10,000 per module take seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Protocol

from faker import Faker
from sqlmodel import Session

from .errors import lab_error
from .lab import Lab
from .tenants import Org

MAX_PER_CALL = 10_000
MAX_TOTAL = 100_000


class Seeder(Protocol):
    def __call__(self, lab: Lab, s: Session, org: Org, *, start: int, count: int, seed: int) -> int: ...


def faker_for(seed: int, module: str, index: int, locale: str | None = None) -> Faker:
    f = _FAKERS.get(locale or "en_US")
    if f is None:
        f = _FAKERS[locale or "en_US"] = Faker(locale or "en_US")
    f.seed_instance(f"{seed}:{module}:{index}")
    return f


_FAKERS: dict[str, Faker] = {}
_SEED_LOCK = threading.Lock()  # the shared Faker instances are not thread-safe


def seed_org(lab: Lab, body: dict[str, Any]) -> dict[str, Any]:
    """Body: ``{"org_id", "modules": {"contacts": 100, …}, "seed": 42, "start": 0}``."""
    org_id = body.get("org_id")
    modules = body.get("modules")
    seed = body.get("seed", 0)
    start = body.get("start", 0)
    if not isinstance(org_id, str):
        raise lab_error(400, "org_id is required")
    if not isinstance(modules, dict) or not modules:
        raise lab_error(400, "modules must map module names to record counts, e.g. {\"contacts\": 100}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise lab_error(400, "seed must be a whole number")
    if not isinstance(start, int) or start < 0 or start > MAX_TOTAL:
        raise lab_error(400, f"start must be a whole number from 0 to {MAX_TOTAL}")
    org = lab.lookup_org(org_id)
    if org is None:
        raise lab_error(404, f"no org {org_id}")
    product = lab.products.get(org.product)
    seeders: dict[str, Callable[..., int]] = product.seeders if product else {}
    for module, count in modules.items():
        if module not in seeders:
            raise lab_error(400, f"{org.product} cannot seed {module!r}; it seeds: {', '.join(sorted(seeders))}")
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_PER_CALL:
            raise lab_error(400, f"modules.{module} must be a whole number from 0 to {MAX_PER_CALL}")
    created: dict[str, int] = {}
    # order of the product's registration: e.g. items before invoices that use them
    with _SEED_LOCK:
        for module in [m for m in seeders if m in modules]:
            with lab.db.begin() as s:
                created[module] = seeders[module](lab, s, org, start=start, count=modules[module], seed=seed)
    return {"org_id": org.id, "product": org.product, "seed": seed, "start": start, "created": created}
