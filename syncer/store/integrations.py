"""Integrations (and their OAuth access tokens, state and schedule) and field mappings."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from syncer.store.base import StoreBase
from syncer.store.db import to_utc
from syncer.store.errors import (
    AlreadyEnabled,
    InvalidValue,
    ReenableForbidden,
)
from syncer.store.models import (
    DIRECTIONS,
    KINDS,
    PARTNER_PRODUCTS,
    FieldMapping,
    Integration,
    StoredAccessToken,
    new_id,
)


class IntegrationsStore(StoreBase):
    """Integrations, their stored access tokens and their field mappings."""

    # -- integrations -------------------------------------------------------------------------
    _UPDATABLE = frozenset(set(Integration.model_fields) - {"id", "created_at", "updated_at"})

    def create_integration(self, *, fsm_org_id: str, partner_org_id: str, kind: str = "books",
                           partner_product: str | None = None, id: str | None = None,
                           **fields: Any) -> Integration:
        """A new integration of ``kind``; ``partner_product`` defaults to the kind's first product."""
        unknown = set(fields) - self._UPDATABLE
        if unknown:
            raise InvalidValue(f"Unknown integration fields: {', '.join(sorted(unknown))}")
        self._check_choice("kind", kind, KINDS)
        partner_product = partner_product or PARTNER_PRODUCTS[kind][0]
        self._check_choice("partner_product", partner_product, PARTNER_PRODUCTS[kind])
        all_fields = {"kind": kind, "partner_product": partner_product, **fields}
        self._validate_integration_fields(all_fields)
        now = self.now()
        integ = Integration(id=id or new_id(), fsm_org_id=str(fsm_org_id), partner_org_id=str(partner_org_id),
                            created_at=now, updated_at=now, **all_fields)
        try:
            with self.db.begin() as s:
                s.add(integ)
                s.flush()
                self._ensure_lock_row(s, integ.id)
        except IntegrityError as exc:
            raise InvalidValue(f"Integration {integ.id} already exists") from exc
        return integ

    def get_integration(self, integration_id: str) -> Integration:
        with self.db.session() as s:
            return self._integration(s, integration_id)

    def find_integration(self, integration_id: str) -> Integration | None:
        with self.db.session() as s:
            return s.get(Integration, integration_id)

    def list_integrations(self, *, state: str | None = None, fsm_org_id: str | None = None,
                          partner_org_id: str | None = None, kind: str | None = None) -> list[Integration]:
        stmt = select(Integration)
        if kind is not None:
            stmt = stmt.where(Integration.kind == kind)
        if state is not None:
            stmt = stmt.where(Integration.state == state)
        if fsm_org_id is not None:
            stmt = stmt.where(Integration.fsm_org_id == str(fsm_org_id))
        if partner_org_id is not None:
            stmt = stmt.where(Integration.partner_org_id == str(partner_org_id))
        with self.db.session() as s:
            return list(s.exec(stmt.order_by(Integration.created_at, Integration.id)))

    def update_integration(self, integration_id: str, **changes: Any) -> Integration:
        unknown = set(changes) - self._UPDATABLE
        if unknown:
            raise InvalidValue(f"Unknown or read-only integration fields: {', '.join(sorted(unknown))}")
        self._validate_integration_fields(changes)
        with self.db.begin() as s:
            integ = self._integration(s, integration_id, lock=True)
            for k, v in changes.items():
                setattr(integ, k, v)
            integ.updated_at = self.now()
            s.add(integ)
        return integ

    # -- access tokens: reused by every process while valid (see StoredAccessToken) ------------------
    def load_access_token(self, key: str) -> StoredAccessToken | None:
        with self.db.session() as s:
            return s.get(StoredAccessToken, key)

    def save_access_token(self, key: str, access_token: str, *, api_domain: str, scope: str,
                          expires_at: datetime) -> None:
        values = {"key": key, "access_token": access_token, "api_domain": api_domain, "scope": scope,
                  "expires_at": expires_at, "obtained_at": self.now()}
        stmt = self._insert()(StoredAccessToken).values(**values)
        stmt = stmt.on_conflict_do_update(index_elements=["key"], set_={k: v for k, v in values.items() if k != "key"})
        with self.db.begin() as s:
            s.execute(stmt)

    def discard_access_token(self, key: str, access_token: str) -> None:
        """Forget the stored token if it is still ``access_token`` (another process may have
        stored a newer one meanwhile)."""
        with self.db.begin() as s:
            s.execute(delete(StoredAccessToken).where(StoredAccessToken.key == key,
                                                     StoredAccessToken.access_token == access_token))

    def enable_integration(self, integration_id: str, *, by_support: bool = False,
                           **settings: Any) -> Integration:
        """created/disabled -> enabled. A second enable is refused (TW-01); a sync disabled by an
        error is re-enabled only with ``by_support=True`` (TW-15). ``settings`` are applied too."""
        unknown = set(settings) - self._UPDATABLE
        if unknown or "state" in settings:
            raise InvalidValue(f"Unknown or read-only integration fields: {', '.join(sorted(unknown | {'state'} & set(settings)))}")
        self._validate_integration_fields(settings)
        with self.db.begin() as s:
            integ = self._integration(s, integration_id, lock=True)
            if integ.state == "enabled":
                raise AlreadyEnabled("Sync is already enabled for this integration; enabling is a one-time action")
            if integ.state == "disabled" and integ.disabled_by_error and not by_support:
                raise ReenableForbidden(
                    "This sync was disabled because of an error and can only be re-enabled by support "
                    f"(reason: {integ.disabled_reason})")
            for k, v in settings.items():
                setattr(integ, k, v)
            now = self.now()
            integ.state, integ.disabled_reason, integ.disabled_by_error = "enabled", None, False
            integ.enabled_at = integ.enabled_at or now
            integ.updated_at = now
            s.add(integ)
        return integ

    def disable_integration(self, integration_id: str, reason: str, *, by_error: bool = False) -> Integration:
        """Disable; with ``by_error`` only support can re-enable (TW-15). Periodic sync stops."""
        with self.db.begin() as s:
            integ = self._integration(s, integration_id, lock=True)
            integ.state, integ.disabled_reason = "disabled", reason
            integ.disabled_by_error = bool(by_error or integ.disabled_by_error)
            integ.next_auto_sync_at = None
            integ.updated_at = self.now()
            s.add(integ)
        return integ

    def due_integrations(self, at: datetime | None = None) -> list[Integration]:
        """Enabled integrations with auto sync on whose next auto sync is due at ``at`` (default now)."""
        at = to_utc(at) if at else self.now()
        stmt = select(Integration).where(
            Integration.state == "enabled", Integration.auto_sync == True,  # noqa: E712
            col(Integration.next_auto_sync_at).is_not(None), col(Integration.next_auto_sync_at) <= at,
        ).order_by(Integration.next_auto_sync_at)
        with self.db.session() as s:
            return list(s.exec(stmt))

    # -- mappings -----------------------------------------------------------------------------
    def set_mappings(self, integration_id: str, module: str,
                     mappings: Iterable[Mapping[str, Any] | FieldMapping]) -> list[FieldMapping]:
        """Replace the field mappings of one module pair and bump ``mapping_version`` (TW-07)."""
        rows: list[FieldMapping] = []
        for i, m in enumerate(mappings):
            data = m.model_dump() if isinstance(m, FieldMapping) else dict(m)
            data.pop("id", None)
            data.update(integration_id=integration_id, module=module)
            data.setdefault("position", i)
            data.setdefault("direction", "both")
            self._check_choice("direction", data["direction"], DIRECTIONS)
            if not data.get("fsm_field") or not data.get("partner_field"):
                raise InvalidValue(f"mapping #{i + 1} needs both fsm_field and partner_field")
            rows.append(FieldMapping(id=new_id(), **data))
        with self.db.begin() as s:
            integ = self._integration(s, integration_id, lock=True)
            s.execute(delete(FieldMapping).where(
                FieldMapping.integration_id == integration_id, FieldMapping.module == module))
            s.add_all(rows)
            integ.mapping_version += 1
            integ.updated_at = self.now()
            s.add(integ)
        return rows

    def get_mappings(self, integration_id: str, module: str | None = None) -> list[FieldMapping]:
        stmt = select(FieldMapping).where(FieldMapping.integration_id == integration_id)
        if module is not None:
            stmt = stmt.where(FieldMapping.module == module)
        with self.db.session() as s:
            return list(s.exec(stmt.order_by(FieldMapping.module, FieldMapping.position)))
