"""Every property of Zoho's Books v3 response schemas, so answers carry all of them (issue 14).

Real Books answers carry every key of the resource, empty ("" / 0 / false / [] / {}) where the
org has nothing; strict client parsers fail on a missing one. Instead of hand-listing ~70 keys
per resource, the property lists are taken from Zoho's OpenAPI files (/work/shared/specs/books-v3)
into ``spec_fields.json`` (committed, so the fake needs no spec at run time) and loaded once at
start-up. ``complete(kind, obj)`` adds the keys ``obj`` lacks, each with its empty value.

Regenerate after a spec update (tests/contract/test_books_contract.py checks it is current)::

    python -m fakes.books_api.spec_fields /work/shared/specs/books-v3
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DATA = Path(__file__).with_name("spec_fields.json")

# kind -> (spec file, response schema, pointer inside it; "[]" = the array's item)
SOURCES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "contact": ("contacts.yml", "get-contact-response", ("contact",)),
    "contact_list": ("contacts.yml", "list-contacts-response", ("contacts", "[]")),
    "contact_person": ("contact-persons.yml", "get-a-contact-person-response", ("contact_person",)),
    "contact_person_list": ("contact-persons.yml", "list-contact-persons-response", ("contact_persons", "[]")),
    "item": ("items.yml", "get-an-item-response", ("item",)),
    "item_list": ("items.yml", "list-items-response", ("items", "[]")),
    "invoice": ("invoices.yml", "get-an-invoice-response", ("invoice",)),
    "invoice_list": ("invoices.yml", "list-invoices-response", ("invoices", "[]")),
    "organization": ("organizations.yml", "get-an-organization-response", ("organization",)),
    "organization_list": ("organizations.yml", "list-organizations-response", ("organizations", "[]")),
    "currency": ("currency.yml", "get-a-currency-response", ("currency",)),
    "currency_list": ("currency.yml", "list-currencies-response", ("currencies", "[]")),
}

# Keys whose spec type is wrong against Zoho's own examples and answers (tests/contract ERRATA):
# their empty value follows the real answers.
EMPTY_OVERRIDES: dict[str, Any] = {"total": 0.0, "balance": 0.0, "shipping_charge": 0.0}


# -- build (dev time, from the specs) ------------------------------------------------------------

def _resolve(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            return {}  # refs to other files: left empty (none in the Books resources used)
        target: Any = doc
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def _empty(doc: dict[str, Any], schema: Any, depth: int = 0) -> Any:
    schema = _resolve(doc, schema)
    if not isinstance(schema, dict):
        return ""
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        if depth >= 3:
            return {}
        return {k: _empty(doc, v, depth + 1) for k, v in props.items()}
    if kind == "array":
        return []
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        return 0.0 if kind == "number" else 0
    return ""


def build(specs_dir: Path) -> dict[str, dict[str, Any]]:
    import yaml  # dev dependency: only the generator reads the specs

    out: dict[str, dict[str, Any]] = {}
    docs: dict[str, Any] = {}
    for kind, (file, schema_name, pointer) in SOURCES.items():
        doc = docs.setdefault(file, yaml.safe_load((specs_dir / file).read_text()))
        node = _resolve(doc, doc["components"]["schemas"][schema_name])
        for part in pointer:
            node = _resolve(doc, node)
            node = node["items"] if part == "[]" else node["properties"][part]
        empty = _empty(doc, node)
        out[kind] = {k: EMPTY_OVERRIDES.get(k, v) for k, v in empty.items()}
    return out


# -- run time ------------------------------------------------------------------------------------

def _load() -> dict[str, list[tuple[str, Any, bool]]]:
    """Per kind: (key, empty value, mutable) in the spec's order."""
    raw = json.loads(DATA.read_text()) if DATA.exists() else {}
    return {kind: [(k, v, isinstance(v, (list, dict))) for k, v in props.items()] for kind, props in raw.items()}


_FIELDS = _load()


def keys(kind: str) -> list[str]:
    return [k for k, _, _ in _FIELDS.get(kind, [])]


def complete(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with every property of the spec's schema for ``kind``: the missing ones get their
    empty value (a fresh copy for lists and objects). Keys ``obj`` has are left as they are."""
    for key, empty, mutable in _FIELDS.get(kind, ()):
        if key not in obj:
            obj[key] = _fresh(empty) if mutable else empty
    return obj


def _fresh(value: Any) -> Any:
    """A copy of an empty value (dicts, lists and scalars parsed from JSON): ``copy.deepcopy``
    without its memo, which cost as much as the rest of rendering a contact."""
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fresh(v) for v in value]
    return value


if __name__ == "__main__":  # python -m fakes.books_api.spec_fields <specs/books-v3>
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/specs/books-v3")
    DATA.write_text(json.dumps(build(source), indent=1, sort_keys=False) + "\n")
    print(f"wrote {DATA} ({', '.join(f'{k}: {len(v)}' for k, v in build(source).items())})")
