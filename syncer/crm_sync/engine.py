"""The FSM <-> CRM direct sync engine ("Zoho FSM Extension for Zoho CRM", rules CR-01…CR-06,
CR-09…CR-14; ../shared/seeds/fsm-crm-direct-sync.txt).

- **install** (``create``): CR-01 refusals from both products' internal state, CR-02 access;
- **enable** (the install's "Save & Next"): duplicates, deletion preferences, CRM views, mappings;
  subscribes CRM ``actions/watch`` and FSM's notifications, then the initial sync (CR-09, mail at
  its start and end; CR-04 Clone or Overwrite);
- **instant sync** (``apply``): each stored notification (``syncer.sync_core.inbox``) is applied
  under the integration's lock. Only values that differ are written, and an edit notification
  carries only its affected fields: the engine's own writes coming back as notifications find
  nothing to write and stop there (one edit, one write on the other side);
- **deletes** (CR-05): per direction, delete the partner or keep it out of later syncs (a link
  marked inactive). An FSM-side delete kept in CRM comes back with a manual sync or an edit of
  the CRM record; a CRM-side delete kept in FSM comes back only with an edit of the FSM record;
- **PII** (CR-06): rows whose fields are restricted on either side are left out both ways;
- **runs and logs** (CR-12): a run for the initial sync, manual syncs and reconciliations; every
  24 lab hours a ``daily`` run counting the instant syncs of those hours with their failures;
  failures also go into the FSM record's timeline;
- **tick** (the scheduler): switch-over (CR-14) and Free-edition checks (CR-01), channel renewal
  before expiry, the daily logs, and a periodic reconciliation catching up missed notifications.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from syncer.clients import AccountsClient, CrmClient, FsmClient, ZohoApiError
from syncer.clients.base import chunks, fmt_crm_datetime
from syncer.clients.hosts import ZOHO_TIMEOUT
from syncer.store.models import InboxItem, Integration, RecordLink, SyncRun, new_id
from syncer.store.repo import AlreadyEnabled, InvalidValue, LinkSpec, NotFound, Refused, Repo, StoreError
from syncer.sync_core.engine import RunHooks
from syncer.sync_core.inbox import Inbox

from . import install, pii
from .mapping import (
    BY_CRM,
    BY_FSM,
    DEFAULT_MAPPINGS,
    ORDER,
    PAIRS,
    FieldInfo,
    InvalidMapping,
    MappingFailure,
    ModulePair,
    changes,
    empty,
    field_infos,
    same,
    to_crm,
    to_fsm,
    validate_mapping,
)
from .merge import match_key, overwrite

log = logging.getLogger("zlab.syncer.crm")

FSM_DELETED = ("delete_in_crm", "keep_in_crm")  # "What should I do if a record in Zoho FSM gets deleted?"
CRM_DELETED = ("delete_in_fsm", "keep_in_fsm")  # "... in Zoho CRM gets deleted?"
DELETION_DEFAULTS = {"fsm_deleted": "keep_in_crm", "crm_deleted": "keep_in_fsm"}
VIEW_MODULES = ("Contacts", "Accounts")
CHANNEL_LIFETIME = timedelta(days=1)  # asked for at each (re)subscription, on the lab clock
RENEW_BEFORE = timedelta(hours=2)
DAILY = timedelta(hours=24)  # CR-12: a sync log every 24 hours
RECONCILE_EVERY = timedelta(minutes=15)
CHECK_EVERY = 5.0  # real seconds between a background tick's remote checks of one integration
META_TTL = 10.0  # real seconds field metadata is reused
ECHO_MEMORY = 60.0  # real seconds a write is remembered to recognise its notification
SWITCH_OFF_SUBJECT = "Two-Way Sync between Zoho CRM and Zoho FSM is disabled"  # CR-14, exactly
EXTENSION = "Zoho FSM for Zoho CRM"
CRM_EVENTS = [f"{m}.all" for m in ("Accounts", "Contacts", "Products")]
FSM_EVENTS = [f"{m}.all" for m in ("Companies", "Contacts", "Service_And_Parts")]


class CrmError(StoreError):
    """A CRM-sync refusal with its own code and HTTP status (422 install refusals, 403 access)."""

    code = "crm_refused"

    def __init__(self, code: str, message: str, *, status: int = 422) -> None:
        super().__init__(message)
        self.code = code
        self.http_status = status


class AlreadyIntegrated(CrmError):
    def __init__(self, message: str) -> None:
        super().__init__("already_integrated", message, status=409)


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def crm_web_url(integ: Integration, module: str, record_id: str) -> str:
    """Where the CRM shows the record ("View Record in CRM", CR-13)."""
    return f"https://crm.zoho.com/crm/org{integ.partner_org_id}/tab/{module}/{record_id}"


def fsm_web_url(integ: Integration, module: str, record_id: str) -> str:
    """Where FSM shows the record ("View Records in FSM", CR-13)."""
    return f"https://fsm.zoho.com/fsm/org{integ.fsm_org_id}/{module}/{record_id}"


@dataclass
class Ctx:
    """One run or one notification: the clients, the mappings left after PII, the outcomes."""

    integ: Integration
    fsm: FsmClient
    crm: CrmClient
    rows: dict[str, list[Mapping[str, str]]]
    fsm_fields: dict[str, dict[str, FieldInfo]]
    crm_fields: dict[str, dict[str, FieldInfo]]
    run_id: str | None = None
    sync_id: str = ""
    results: list[dict[str, Any]] = field(default_factory=list)
    view_ids: dict[str, set[str]] = field(default_factory=dict)

    @property
    def settings(self) -> dict[str, Any]:
        return self.integ.settings or {}

    def deletion(self, key: str) -> str:
        return (self.settings.get("deletion") or {}).get(key) or DELETION_DEFAULTS[key]


class CrmEngine:
    kind = "crm"

    def __init__(self, repo: Repo, *, mailer: Any, inbox: Inbox, clock: Callable[[], datetime],
                 accounts_url: str, public_url: str | None = None) -> None:
        self.repo = repo
        self.mailer = mailer
        self.inbox = inbox
        self.clock = clock
        self.accounts_url = accounts_url
        self.public_url = public_url
        self._clients: dict[str, tuple[tuple, FsmClient, CrmClient]] = {}
        self._clients_lock = threading.Lock()
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()
        self._meta: dict[str, tuple[float, dict, dict]] = {}
        self._checked: dict[str, float] = {}
        self._tick_locks: dict[str, threading.Lock] = {}
        self._written: dict[tuple[str, str, str], tuple[float, dict[str, Any]]] = {}
        self._threads: set[threading.Thread] = set()

    # -- plumbing ---------------------------------------------------------------------------------
    def clients(self, integ: Integration) -> tuple[FsmClient, CrmClient]:
        key = (integ.accounts_url, integ.client_id, integ.client_secret, integ.refresh_token, integ.api_domain)
        with self._clients_lock:
            cached = self._clients.get(integ.id)
            if cached is not None and cached[0] == key:
                return cached[1], cached[2]
            auth = AccountsClient(integ.accounts_url or self.accounts_url, integ.client_id, integ.client_secret,
                                  integ.refresh_token, clock=self.clock, token_store=self.repo)
            fsm = FsmClient(auth, api_domain=integ.api_domain or None)
            crm = CrmClient(auth, api_domain=integ.api_domain or None)
            self._clients[integ.id] = (key, fsm, crm)
            return fsm, crm

    def close(self) -> None:
        for t in list(self._threads):
            t.join(timeout=10)
        with self._clients_lock:
            for _key, fsm, crm in self._clients.values():
                fsm.close()
                crm.close()
                fsm.auth.close()
            self._clients.clear()

    def lock(self, integration_id: str) -> threading.RLock:
        """One at a time per integration: runs and notifications never interleave their writes."""
        with self._locks_guard:
            return self._locks.setdefault(integration_id, threading.RLock())

    def _metadata(self, integ: Integration, fsm: FsmClient, crm: CrmClient) -> tuple[dict, dict]:
        cached = self._meta.get(integ.id)
        if cached is not None and time.monotonic() - cached[0] < META_TTL:
            return cached[1], cached[2]
        raw_fsm = {p.fsm_module: fsm.fields(p.fsm_module) for p in PAIRS.values()}
        raw_crm = {p.crm_module: crm.fields(p.crm_module) for p in PAIRS.values()}
        self._meta[integ.id] = (time.monotonic(), raw_fsm, raw_crm)
        return raw_fsm, raw_crm

    def mappings(self, integ: Integration) -> dict[str, list[dict[str, str]]]:
        own = (integ.settings or {}).get("mappings") or {}
        return {key: list(own.get(key) or DEFAULT_MAPPINGS[key]) for key in ORDER}

    def context(self, integ: Integration, *, run_id: str | None = None, sync_id: str = "") -> Ctx:
        fsm, crm = self.clients(integ)
        raw_fsm, raw_crm = self._metadata(integ, fsm, crm)
        excluded = pii.excluded(crm.internal_settings(), fsm.internal_settings(), raw_fsm)  # CR-06, read each time
        rows = {key: pii.allowed_rows(rows, excluded, fsm_module=PAIRS[key].fsm_module,
                                      crm_module=PAIRS[key].crm_module)
                for key, rows in self.mappings(integ).items()}
        return Ctx(integ, fsm, crm, rows,
                   {p.key: field_infos(raw_fsm[p.fsm_module]) for p in PAIRS.values()},
                   {p.key: field_infos(raw_crm[p.crm_module]) for p in PAIRS.values()},
                   run_id=run_id, sync_id=sync_id or run_id or "")

    # -- install (CR-01, CR-02) -------------------------------------------------------------------------
    def create(self, *, fsm_org_id: str, crm_org_id: str, client_id: str, client_secret: str, refresh_token: str,
               accounts_url: str | None = None, api_domain: str | None = None, name: str = "",
               notify_email: str | None = None, installed_by: str | None = None,
               access: Any = None) -> Integration:
        try:
            access = install.check_access(access)
        except ValueError as exc:
            raise InvalidValue(str(exc)) from None
        accounts = (accounts_url or self.accounts_url).rstrip("/")
        auth = AccountsClient(accounts, client_id, client_secret, refresh_token, clock=self.clock, token_store=self.repo,
                              timeout=ZOHO_TIMEOUT)
        fsm = FsmClient(auth, api_domain=api_domain or None)
        crm = CrmClient(auth, api_domain=api_domain or None)
        try:
            fsm_state, crm_state = fsm.internal_settings(), crm.internal_settings()
        finally:
            fsm.close()
            crm.close()
            auth.close()
        if str(fsm_state.get("org_id") or fsm_org_id) != str(fsm_org_id):
            raise InvalidValue(f"fsm_org_id: the credentials are not those of FSM organization {fsm_org_id}")
        if str(crm_state.get("org_id") or crm_org_id) != str(crm_org_id):
            raise InvalidValue(f"crm_org_id: the credentials are not those of CRM organization {crm_org_id}")
        refusal = install.install_refusal(fsm_state, crm_state)
        if refusal is not None:
            raise CrmError(refusal.code, refusal.message)
        for other in self.repo.list_integrations(fsm_org_id=str(fsm_org_id)):
            if getattr(other, "kind", "books") == "crm" and other.state != "disabled":
                raise AlreadyIntegrated(f"FSM organization {fsm_org_id} already has a direct sync with Zoho CRM "
                                        f"(integration {other.id})")
        settings: dict[str, Any] = {"access": access, "installed_by": installed_by}
        if notify_email:
            settings["notify_email"] = notify_email
        return self.repo.create_integration(
            kind="crm", partner_product="crm", partner_org_id=str(crm_org_id), fsm_org_id=str(fsm_org_id),
            name=name, client_id=client_id, client_secret=client_secret, refresh_token=refresh_token,
            accounts_url=accounts, api_domain=(api_domain or "").rstrip("/"), auto_sync=False, settings=settings)

    def check_access(self, integ: Integration, user_email: str | None) -> None:
        """CR-02: the acting CRM user (``X-Zlab-Crm-User``) must be inside the install's access."""
        if user_email is None:
            return
        _fsm, crm = self.clients(integ)
        user = crm.user_by_email(user_email)
        profile = ((user or {}).get("profile") or {}).get("name")
        access = (integ.settings or {}).get("access") or {"mode": "admins"}
        if not install.access_allows(access, profile):
            who = f"CRM user {user_email}" + (f" (profile {profile})" if profile else " (not a user of this CRM org)")
            raise CrmError("extension_access_denied",
                           f"{who} may not use the {EXTENSION} extension: it is installed for "
                           + {"admins": "admins only", "all": "all users"}.get(
                               access.get("mode", "admins"), "the profiles " + ", ".join(access.get("profiles") or [])),
                           status=403)

    # -- settings ---------------------------------------------------------------------------------------
    def check_settings(self, integ: Integration, *, deletion: Any = None, views: Any = None,
                       mappings: Any = None) -> dict[str, Any]:
        """Validated settings (only those given): ``InvalidValue`` names the field."""
        out: dict[str, Any] = {}
        if deletion is not None:
            if not isinstance(deletion, Mapping) or set(deletion) - set(DELETION_DEFAULTS):
                raise InvalidValue('deletion must be {"fsm_deleted": "delete_in_crm"|"keep_in_crm", '
                                   '"crm_deleted": "delete_in_fsm"|"keep_in_fsm"}')
            merged = {**DELETION_DEFAULTS, **((integ.settings or {}).get("deletion") or {})}
            for key, allowed in (("fsm_deleted", FSM_DELETED), ("crm_deleted", CRM_DELETED)):
                if key in deletion:
                    if deletion[key] not in allowed:
                        raise InvalidValue(f"deletion.{key} must be one of {', '.join(allowed)}; got {deletion[key]!r}")
                    merged[key] = deletion[key]
            out["deletion"] = merged
        fsm, crm = self.clients(integ)
        if views is not None:
            if not isinstance(views, Mapping) or set(views) - set(VIEW_MODULES):
                raise InvalidValue('views must be {"Contacts": "<CRM criteria>"|null, "Accounts": "<CRM criteria>"|null}')
            merged_views = dict((integ.settings or {}).get("views") or {})
            for module, criteria in views.items():
                if criteria is not None and (not isinstance(criteria, str) or not criteria.strip()):
                    raise InvalidValue(f"views.{module} must be a CRM search criteria such as "
                                       "(Account_Type:equals:Customer), or null for every record")
                if criteria is not None:
                    try:
                        next(iter(crm.search(module, criteria=criteria, fields=["Modified_Time"], per_page=1)), None)
                    except ZohoApiError as exc:
                        if (exc.status or 500) >= 500:
                            raise
                        raise InvalidValue(f"views.{module}: CRM refused the criteria {criteria!r}: "
                                           f"{exc.code} {exc.message}") from None
                merged_views[module] = criteria
            out["views"] = merged_views
        if mappings is not None:
            if not isinstance(mappings, Mapping):
                raise InvalidValue('mappings must be {"contacts": [...], "companies": [...], "products": [...]}')
            raw_fsm, raw_crm = self._metadata(integ, fsm, crm)
            merged_maps = dict((integ.settings or {}).get("mappings") or {})
            for key, rows in mappings.items():
                try:
                    pair = PAIRS.get(key)
                    if pair is None:
                        raise InvalidMapping(f"mappings: unknown module {key!r}; choose from {', '.join(ORDER)}")
                    merged_maps[key] = validate_mapping(key, rows, field_infos(raw_fsm[pair.fsm_module]),
                                                        field_infos(raw_crm[pair.crm_module]))
                except InvalidMapping as exc:
                    raise InvalidValue(str(exc)) from None
            out["mappings"] = merged_maps
        return out

    def update_settings(self, integration_id: str, **given: Any) -> Integration:
        integ = self.repo.get_integration(integration_id)
        checked = self.check_settings(integ, deletion=given.get("deletion"), views=given.get("views"),
                                      mappings=given.get("mappings"))
        settings = {**(integ.settings or {}), **checked}
        if given.get("access") is not None:
            try:
                settings["access"] = install.check_access(given["access"])
            except ValueError as exc:
                raise InvalidValue(str(exc)) from None
        if given.get("notify_email") is not None:
            settings["notify_email"] = given["notify_email"]
        changes_: dict[str, Any] = {"settings": settings}
        if given.get("name") is not None:
            changes_["name"] = given["name"]
        return self.repo.update_integration(integration_id, **changes_)

    # -- enable and the initial sync (CR-09) -----------------------------------------------------------
    def enable(self, integration_id: str, *, duplicate_policy: str, deletion: Any = None, views: Any = None,
               mappings: Any = None, notify_base: str, wait: bool = False) -> Integration:
        integ = self.repo.get_integration(integration_id)
        if integ.state == "enabled":
            raise AlreadyEnabled("The direct sync is already enabled for this integration")
        fsm, crm = self.clients(integ)
        refusal = install.install_refusal(fsm.internal_settings(), crm.internal_settings())
        if refusal is not None:
            raise CrmError(refusal.code, refusal.message)
        checked = self.check_settings(integ, deletion=deletion or {}, views=views or {}, mappings=mappings)
        settings = {**(integ.settings or {}), **checked}
        self.repo.enable_integration(integration_id, duplicate_policy=duplicate_policy, settings=settings)
        integ = self.repo.get_integration(integration_id)
        self.subscribe(integ, notify_base)
        if wait:
            self.initial_sync(integration_id)
        else:
            self._background(self.initial_sync, integration_id)
        return self.repo.get_integration(integration_id)

    def _background(self, fn: Callable[..., Any], *args: Any) -> None:
        def target() -> None:
            try:
                fn(*args)
            except Exception:  # noqa: BLE001 - logged; the run row says failed
                log.exception("CRM sync background work failed")
            finally:
                self._threads.discard(threading.current_thread())

        t = threading.Thread(target=target, name="zlab-crm-sync", daemon=True)
        self._threads.add(t)
        t.start()

    def _mail(self, integ: Integration, subject: str, body: str) -> None:
        to = (integ.settings or {}).get("notify_email") or (integ.settings or {}).get("installed_by")
        if to:
            try:
                self.mailer.send(to, subject, body, integration_id=integ.id)
            except Exception:  # noqa: BLE001 - the mail is logged by the sender; the sync goes on
                log.exception("mail to %s failed", to)

    def initial_sync(self, integration_id: str) -> SyncRun:
        """CR-09: the initial sync right after the install, with a mail at its start and its end."""
        integ = self.repo.get_integration(integration_id)
        self._mail(integ, "Initial sync between Zoho FSM and Zoho CRM has started",
                   f"The initial data sync between Zoho FSM organization {integ.fsm_org_id} and Zoho CRM organization "
                   f"{integ.partner_org_id} has started. You will get another email when it ends.")
        run = self.run(integration_id, trigger="initial")
        stats = self.repo.run_stats(run.id)
        lines = "\n".join(f"  {s.module}: {s.succeeded} synced, {s.failed} failed" for s in stats) or "  nothing to sync"
        self._mail(self.repo.get_integration(integration_id),
                   "Initial sync between Zoho FSM and Zoho CRM has completed"
                   if run.status == "succeeded" else "Initial sync between Zoho FSM and Zoho CRM has failed",
                   f"The initial data sync ended ({run.status}).\n{lines}\nSync log: {run.id}"
                   + (f"\nReason: {run.failure_reason}" if run.failure_reason else ""))
        integ = self.repo.get_integration(integration_id)
        ended = run.ended_at or self.repo.now()
        self.repo.update_integration(integration_id, settings={
            **(integ.settings or {}), "daily_from": ended.isoformat(), "next_daily_at": (ended + DAILY).isoformat(),
            "next_reconcile_at": (ended + RECONCILE_EVERY).isoformat()})
        return run

    # -- channels (CR-09) ----------------------------------------------------------------------------------
    def subscribe(self, integ: Integration, notify_base: str | None = None) -> dict[str, Any]:
        """(Re)subscribe CRM actions/watch and FSM notifications; the same call renews them."""
        fsm, crm = self.clients(integ)
        channels = dict((integ.settings or {}).get("channels") or {})
        base = (notify_base or channels.get("notify_base") or self.public_url or "").rstrip("/")
        token = channels.get("token") or secrets.token_hex(16)
        channel_id = channels.get("channel_id") or str(int(integ.id) % 10**18 or 1)
        expiry = self.repo.now() + CHANNEL_LIFETIME
        common = {"channel_id": channel_id, "token": token, "channel_expiry": fmt_crm_datetime(expiry)}
        answer = crm.watch([{**common, "events": CRM_EVENTS, "notify_url": f"{base}/api/v1/notifications/crm/{integ.id}",
                             "notify_on_related_action": False}])
        entries = answer.get("watch") or []
        if not entries or entries[0].get("status") != "success":
            raise CrmError("subscription_failed", f"CRM refused the notification channel: {entries[:1]}", status=502)
        fsm.subscribe([{**common, "events": FSM_EVENTS, "notify_url": f"{base}/api/v1/notifications/fsm/{integ.id}"}])
        channels.update({"channel_id": channel_id, "token": token, "notify_base": base,
                         "expires_at": expiry.isoformat(), "renewed_at": self.repo.now().isoformat()})
        fresh = self.repo.get_integration(integ.id)
        self.repo.update_integration(integ.id, settings={**(fresh.settings or {}), "channels": channels})
        return channels

    def drop_channels(self, integ: Integration) -> None:
        channels = (integ.settings or {}).get("channels") or {}
        if not channels.get("channel_id"):
            return
        fsm, crm = self.clients(integ)
        with suppress(ZohoApiError):
            crm.unwatch([channels["channel_id"]])
        with suppress(ZohoApiError):
            fsm.unsubscribe([channels["channel_id"]])
        fresh = self.repo.get_integration(integ.id)
        self.repo.update_integration(integ.id, settings={**(fresh.settings or {}), "channels": {
            **channels, "dropped_at": self.repo.now().isoformat(), "expires_at": None}})

    def verify_token(self, integ: Integration, token: Any) -> bool:
        import hmac

        expected = ((integ.settings or {}).get("channels") or {}).get("token")
        return bool(expected) and isinstance(token, str) and hmac.compare_digest(token.encode(), str(expected).encode())

    # -- runs ---------------------------------------------------------------------------------------------
    def run(self, integration_id: str, *, trigger: str, run_id: str | None = None,
            hooks: RunHooks | None = None) -> SyncRun:
        """One full reconciliation (initial | manual | reconcile) as a run with its log
        (``sync_core.engine.Engine``: a refusal is a ``refused`` run, told through ``hooks``)."""
        hooks = hooks or RunHooks()
        try:  # CRM manual syncs are not counted against the Books engine's 30 a day (TW-05)
            run = self.repo.start_run(integration_id, trigger, run_id=run_id, count_manual=False)
        except Refused as exc:
            if hooks.refused is not None:
                hooks.refused(exc)
            return self.repo.record_refused_run(integration_id, trigger, str(exc))
        if hooks.started is not None:
            hooks.started(run)
        status, reason = "succeeded", None
        ctx: Ctx | None = None
        with self.lock(integration_id), self.repo.keep_alive(integration_id, run.id):
            try:
                integ = self.repo.get_integration(integration_id)
                ctx = self.context(integ, run_id=run.id)
                self._recover_intents(ctx)
                for key in ORDER:
                    self._full(ctx, PAIRS[key], trigger)
            except Exception as exc:  # noqa: BLE001 - the run says why; the service stays up
                log.exception("CRM %s sync of %s failed", trigger, integration_id)
                status, reason = "failed", f"{type(exc).__name__}: {exc}"
            stats: dict[str, dict[str, int]] = {}
            for r in ctx.results if ctx else []:
                s = stats.setdefault(r["module"], {"succeeded": 0, "failed": 0})
                s["succeeded" if r["ok"] else "failed"] += 1
                if not r["ok"]:
                    with suppress(StoreError):
                        self.repo.add_record_failure(run.id, r["module"], r["record_id"], r["reason"], r.get("name", ""))
            return self.repo.finish_run(run.id, status=status, failure_reason=reason, stats=stats, auto_interval=None)

    def sync_now(self, integration_id: str, *, wait: bool) -> SyncRun:
        """A manual sync (a full reconciliation; CR-05: brings back CRM records kept out after an
        FSM-side delete, not FSM records kept out after a CRM-side delete)."""
        integ = self.repo.get_integration(integration_id)
        if integ.state != "enabled":
            from syncer.store.repo import IntegrationNotEnabled

            raise IntegrationNotEnabled("The direct sync is not enabled for this integration")
        run_id = new_id()
        if wait:
            return self.run(integration_id, trigger="manual", run_id=run_id)
        self._background(lambda: self.run(integration_id, trigger="manual", run_id=run_id))
        for _ in range(600):
            with suppress(NotFound):
                return self.repo.get_run(run_id)
            time.sleep(0.01)
        return self.repo.get_run(run_id)

    def _crm_fields(self, ctx: Ctx, pair: ModulePair) -> list[str]:
        names = [r["crm_field"] for r in ctx.rows[pair.key]]
        extra = ["Modified_Time", pair.crm_match_field or "", "Product_Name" if pair.key == "products" else "",
                 "Full_Name" if pair.key == "contacts" else "", "Last_Name" if pair.key == "contacts" else ""]
        return list(dict.fromkeys(n for n in [*names, *extra] if n))[:50]

    def _in_view(self, ctx: Ctx, pair: ModulePair, crm_id: str) -> bool:
        """CR-03: a CRM record outside the module's view is left alone."""
        criteria = (ctx.settings.get("views") or {}).get(pair.crm_module) if pair.has_view else None
        if not criteria:
            return True
        if pair.crm_module not in ctx.view_ids:
            ctx.view_ids[pair.crm_module] = {str(r["id"]) for r in ctx.crm.search(
                pair.crm_module, criteria=criteria, fields=["Modified_Time"])}
        return crm_id in ctx.view_ids[pair.crm_module]

    def _full(self, ctx: Ctx, pair: ModulePair, trigger: str) -> None:
        iid = ctx.integ.id
        crm_all = {str(r["id"]): r for r in ctx.crm.list_records(pair.crm_module, self._crm_fields(ctx, pair))}
        fsm_all = {str(r["id"]): r for r in ctx.fsm.list_records(pair.fsm_module)}
        links = self.repo.list_links(iid, fsm_module=pair.fsm_module, limit=10**7)
        linked_crm = {lk.partner_id for lk in links}
        linked_fsm = {lk.fsm_id for lk in links}
        bring_back: list[dict[str, Any]] = []
        for link in links:
            c, f = crm_all.get(link.partner_id), fsm_all.get(link.fsm_id)
            if link.active:
                if c is not None and f is not None:
                    self._reconcile_pair(ctx, pair, link, c, f)
                elif f is not None:  # deleted in CRM while no notification came
                    self._crm_deleted(ctx, pair, link)
                elif c is not None:
                    self._fsm_deleted(ctx, pair, link)
                else:
                    self.repo.deactivate_link(link.id, "both_deleted")
            elif (trigger == "manual" and link.inactive_reason == "fsm_deleted" and c is not None and f is None):
                bring_back.append(c)  # CR-05: a manual sync brings the kept CRM record back to FSM
        new_crm = [c for cid, c in crm_all.items() if cid not in linked_crm and self._in_view(ctx, pair, cid)]
        new_fsm = [f for fid, f in fsm_all.items() if fid not in linked_fsm]
        if trigger == "initial" and ctx.integ.duplicate_policy == "overwrite" and pair.crm_match_field:
            new_crm, new_fsm = self._overwrite_duplicates(ctx, pair, new_crm, new_fsm)
        self._create_in_fsm(ctx, pair, new_crm + bring_back)
        self._create_in_crm(ctx, pair, new_fsm)

    def _overwrite_duplicates(self, ctx: Ctx, pair: ModulePair, new_crm: list[dict], new_fsm: list[dict]):
        """CR-04 Overwrite: pairs matched on Contact Email / Account name, merged field by field."""
        by_key: dict[str, dict] = {}
        for f in new_fsm:
            k = match_key(f.get(pair.fsm_match_field or ""))
            if k is not None and k not in by_key:
                by_key[k] = f
        left_crm, matched_fsm = [], set()
        for c in new_crm:
            k = match_key(c.get(pair.crm_match_field or ""))
            f = by_key.pop(k, None) if k is not None else None
            if f is None:
                left_crm.append(c)
                continue
            matched_fsm.add(str(f["id"]))
            self._merge_pair(ctx, pair, c, f)
        return left_crm, [f for f in new_fsm if str(f["id"]) not in matched_fsm]

    def _merge_pair(self, ctx: Ctx, pair: ModulePair, c: dict, f: dict) -> None:
        to_fsm_, to_crm_ = overwrite(pair, ctx.rows[pair.key], c, f, self._resolver_to_fsm(ctx),
                                     self._resolver_to_crm(ctx))
        fsm_time, crm_time = parse_time(f.get("Modified_Time")), parse_time(c.get("Modified_Time"))
        reasons = []
        if to_fsm_:
            r = ctx.fsm.update_record(pair.fsm_module, str(f["id"]), to_fsm_)
            if r.ok:
                self._remember("fsm", pair.fsm_module, str(f["id"]), to_fsm_)
                fsm_time = parse_time(r.details.get("Modified_Time")) or fsm_time
            else:
                reasons.append(f"FSM refused the merged values: {r.code} {r.message} {r.details}")
        if to_crm_:
            r = ctx.crm.update_record(pair.crm_module, str(c["id"]), to_crm_)
            if r.ok:
                self._remember("crm", pair.crm_module, str(c["id"]), to_crm_)
                crm_time = parse_time(r.details.get("Modified_Time")) or crm_time
            else:
                reasons.append(f"CRM refused the merged values: {r.code} {r.message} {r.details}")
        self.repo.save_links(ctx.integ.id, [LinkSpec(pair.fsm_module, str(f["id"]), pair.crm_module, str(c["id"]),
                                                     fsm_time, crm_time, "merged")], run_id=ctx.run_id)
        self._outcome(ctx, pair, not reasons, crm_id=str(c["id"]), fsm_id=str(f["id"]), name=self._name(pair, c, f),
                      reason="; ".join(reasons), action="merged", direction="both")

    def _reconcile_pair(self, ctx: Ctx, pair: ModulePair, link: RecordLink, c: dict, f: dict) -> None:
        """A linked pair during a run: the side that changed since the last sync (both: the later one,
        CRM on a tie) is written to the other, field by field where values differ."""
        c_t, f_t = parse_time(c.get("Modified_Time")), parse_time(f.get("Modified_Time"))
        crm_changed = link.partner_modified_time is None or (c_t is not None and c_t > link.partner_modified_time)
        fsm_changed = link.fsm_modified_time is None or (f_t is not None and f_t > link.fsm_modified_time)
        if crm_changed and (not fsm_changed or (c_t or f_t) >= (f_t or c_t)):
            self._update_fsm(ctx, pair, link, c, fsm_rec=f)
        elif fsm_changed:
            self._update_crm(ctx, pair, link, f, crm_rec=c)
        elif c_t == link.partner_modified_time and f_t == link.fsm_modified_time:
            # a standing lab clock gives an edit the time of the last sync: which side changed cannot be
            # told, so values that differ are settled as Overwrite does, the CRM value first (CR-04)
            self._update_fsm(ctx, pair, link, c, fsm_rec=f)

    # -- resolvers, outcomes ----------------------------------------------------------------------------
    def _resolver_to_fsm(self, ctx: Ctx) -> Callable[[str, str], str | None]:
        def resolve(crm_module: str, crm_id: str) -> str | None:
            link = self.repo.link_by_partner(ctx.integ.id, crm_module, crm_id)
            return link.fsm_id if link is not None and link.active else None
        return resolve

    def _resolver_to_crm(self, ctx: Ctx) -> Callable[[str, str], str | None]:
        def resolve(fsm_module: str, fsm_id: str) -> str | None:
            link = self.repo.link_by_fsm(ctx.integ.id, fsm_module, fsm_id)
            return link.partner_id if link is not None and link.active else None
        return resolve

    @staticmethod
    def _name(pair: ModulePair, c: Mapping[str, Any] | None, f: Mapping[str, Any] | None) -> str:
        c, f = c or {}, f or {}
        for value in (c.get("Account_Name"), c.get("Full_Name"), c.get("Product_Name"), c.get("Last_Name"),
                      f.get("Company_Name"), f.get("Full_Name"), f.get("Name"), f.get("Last_Name")):
            if isinstance(value, str) and value:
                return value
        return ""

    def _outcome(self, ctx: Ctx, pair: ModulePair, ok: bool, *, crm_id: str | None, fsm_id: str | None,
                 name: str = "", reason: str = "", action: str, direction: str) -> None:
        """One record's result; a failure also goes into the FSM record's timeline (CR-12)."""
        record_id = (crm_id if direction == "crm_to_fsm" else fsm_id) or crm_id or fsm_id or ""
        ctx.results.append({"module": pair.crm_module, "record_id": record_id, "crm_id": crm_id, "fsm_id": fsm_id,
                            "name": name, "ok": ok, "reason": reason, "action": action, "direction": direction})
        if not ok and fsm_id:
            with suppress(ZohoApiError):
                ctx.fsm.add_timeline(pair.fsm_module, fsm_id, f"Sync with Zoho CRM failed: {reason}"[:2000],
                                     service="zohocrm", extension=EXTENSION, sync_id=ctx.sync_id or None,
                                     partner_id=crm_id, partner_module=pair.crm_module, direction=direction)

    # -- writes -----------------------------------------------------------------------------------------
    def _create_in_fsm(self, ctx: Ctx, pair: ModulePair, crm_records: Iterable[dict[str, Any]]) -> None:
        todo: list[tuple[dict, dict]] = []
        for c in crm_records:
            try:
                todo.append((c, to_fsm(pair, ctx.rows[pair.key], c, self._resolver_to_fsm(ctx), creating=True,
                                       crm_fields=ctx.crm_fields[pair.key])))
            except MappingFailure as exc:
                self._outcome(ctx, pair, False, crm_id=str(c["id"]), fsm_id=None, name=self._name(pair, c, None),
                              reason=exc.reason, action="create", direction="crm_to_fsm")
        for batch in chunks(todo, 100):
            intents = self.repo.record_pendings(ctx.integ.id, side="fsm", module=pair.fsm_module,
                                                source_module=pair.crm_module, run_id=ctx.run_id,
                                                intents=[(str(c["id"]), {"match": self._fsm_match(pair, p)})
                                                         for c, p in batch])
            results = ctx.fsm.create_records(pair.fsm_module, [p for _c, p in batch])
            specs, resolved = [], []
            for (c, _p), pw, r in zip(batch, intents, results, strict=True):
                if r.ok and r.id:
                    specs.append(LinkSpec(pair.fsm_module, str(r.id), pair.crm_module, str(c["id"]),
                                          parse_time(r.details.get("Modified_Time")), parse_time(c.get("Modified_Time")),
                                          "created"))
                    resolved.append((pw.id, str(r.id), "created"))
                else:
                    resolved.append((pw.id, None, f"failed: {r.code}"))
            self.repo.save_links(ctx.integ.id, specs, run_id=ctx.run_id, resolved=resolved)
            for (c, _p), r in zip(batch, results, strict=True):
                self._outcome(ctx, pair, bool(r.ok and r.id), crm_id=str(c["id"]), fsm_id=str(r.id) if r.ok else None,
                              name=self._name(pair, c, None), action="create", direction="crm_to_fsm",
                              reason="" if r.ok else f"Zoho FSM refused the record: {r.code} {r.message} {r.details}")

    def _create_in_crm(self, ctx: Ctx, pair: ModulePair, fsm_records: Iterable[dict[str, Any]]) -> None:
        todo: list[tuple[dict, dict]] = []
        for f in fsm_records:
            try:
                todo.append((f, to_crm(pair, ctx.rows[pair.key], f, self._resolver_to_crm(ctx), creating=True,
                                       fsm_fields=ctx.fsm_fields[pair.key])))
            except MappingFailure as exc:
                self._outcome(ctx, pair, False, crm_id=None, fsm_id=str(f["id"]), name=self._name(pair, None, f),
                              reason=exc.reason, action="create", direction="fsm_to_crm")
        for batch in chunks(todo, 100):
            intents = self.repo.record_pendings(ctx.integ.id, side="partner", module=pair.crm_module,
                                                source_module=pair.fsm_module, run_id=ctx.run_id,
                                                intents=[(str(f["id"]), {"match": self._crm_match(pair, p)})
                                                         for f, p in batch])
            results = ctx.crm.create_records(pair.crm_module, [p for _f, p in batch])
            specs, resolved = [], []
            for (f, _p), pw, r in zip(batch, intents, results, strict=True):
                if r.ok and r.id:
                    specs.append(LinkSpec(pair.fsm_module, str(f["id"]), pair.crm_module, str(r.id),
                                          parse_time(f.get("Modified_Time")), parse_time(r.details.get("Modified_Time")),
                                          "created"))
                    resolved.append((pw.id, str(r.id), "created"))
                else:
                    resolved.append((pw.id, None, f"failed: {r.code}"))
            self.repo.save_links(ctx.integ.id, specs, run_id=ctx.run_id, resolved=resolved)
            for (f, _p), r in zip(batch, results, strict=True):
                self._outcome(ctx, pair, bool(r.ok and r.id), crm_id=str(r.id) if r.ok else None, fsm_id=str(f["id"]),
                              name=self._name(pair, None, f), action="create", direction="fsm_to_crm",
                              reason="" if r.ok else f"Zoho CRM refused the record: {r.code} {r.message} {r.details}")

    @staticmethod
    def _fsm_match(pair: ModulePair, payload: Mapping[str, Any]) -> dict[str, Any]:
        name = {"Companies": "Company_Name", "Contacts": "Email", "Service_And_Parts": "Name"}[pair.fsm_module]
        return {"field": name, "value": payload.get(name)}

    @staticmethod
    def _crm_match(pair: ModulePair, payload: Mapping[str, Any]) -> dict[str, Any]:
        name = {"Accounts": "Account_Name", "Contacts": "Email", "Products": "Product_Name"}[pair.crm_module]
        return {"field": name, "value": payload.get(name)}

    def _recover_intents(self, ctx: Ctx) -> None:
        """Creates a crash interrupted: found by their match field and linked, else abandoned
        (the next pass creates them again)."""
        for pw in self.repo.open_pending(ctx.integ.id):
            match = (pw.payload or {}).get("match") or {}
            found = None
            value = match.get("value")
            try:
                if value and pw.side == "fsm":
                    found = next(iter(ctx.fsm.search(pw.module, match["field"], value)), None)
                elif value:
                    found = next(iter(ctx.crm.search(pw.module, criteria=f"({match['field']}:equals:{value})")), None)
            except ZohoApiError:
                found = None
            pair = BY_FSM.get(pw.module) if pw.side == "fsm" else BY_CRM.get(pw.module)
            if found is not None and pair is not None:
                fsm_id, crm_id = (str(found["id"]), pw.source_id) if pw.side == "fsm" else (pw.source_id, str(found["id"]))
                with suppress(StoreError):
                    self.repo.save_links(ctx.integ.id, [LinkSpec(pair.fsm_module, fsm_id, pair.crm_module, crm_id,
                                                                 None, None, "recovered")],
                                         run_id=ctx.run_id, resolved=[(pw.id, str(found["id"]), "found_existing")])
                    continue
            self.repo.resolve_pending(pw.id, outcome="abandoned")

    def _update_fsm(self, ctx: Ctx, pair: ModulePair, link: RecordLink, c: dict[str, Any], *,
                    only: Iterable[str] | None = None, fsm_rec: dict[str, Any] | None = None) -> str:
        """CRM -> FSM for a linked pair: ``written`` | ``same`` (nothing differs: e.g. our own echo) |
        ``missing`` (the FSM record is gone) | ``failed``."""
        try:
            payload = to_fsm(pair, ctx.rows[pair.key], c, self._resolver_to_fsm(ctx), only=only,
                             crm_fields=ctx.crm_fields[pair.key])
        except MappingFailure as exc:
            self._outcome(ctx, pair, False, crm_id=link.partner_id, fsm_id=link.fsm_id, name=self._name(pair, c, None),
                          reason=exc.reason, action="update", direction="crm_to_fsm")
            return "failed"
        if fsm_rec is None:
            fsm_rec = ctx.fsm.get_record(pair.fsm_module, link.fsm_id)
        if fsm_rec is None:
            return "missing"
        diff = changes(payload, fsm_rec)
        c_t, f_t = parse_time(c.get("Modified_Time")), parse_time(fsm_rec.get("Modified_Time"))
        if not diff:
            self._touch(ctx, pair, link, f_t, c_t, link.last_result or "same")
            return "same"
        r = ctx.fsm.update_record(pair.fsm_module, link.fsm_id, diff)
        if r.ok:
            self._remember("fsm", pair.fsm_module, link.fsm_id, diff)
            self._touch(ctx, pair, link, parse_time(r.details.get("Modified_Time")) or f_t, c_t, "updated")
        self._outcome(ctx, pair, r.ok, crm_id=link.partner_id, fsm_id=link.fsm_id, name=self._name(pair, c, fsm_rec),
                      action="update", direction="crm_to_fsm",
                      reason="" if r.ok else f"Zoho FSM refused the update: {r.code} {r.message} {r.details}")
        return "written" if r.ok else "failed"

    def _update_crm(self, ctx: Ctx, pair: ModulePair, link: RecordLink, f: dict[str, Any], *,
                    only: Iterable[str] | None = None, crm_rec: dict[str, Any] | None = None) -> str:
        """FSM -> CRM for a linked pair (see ``_update_fsm``)."""
        try:
            payload = to_crm(pair, ctx.rows[pair.key], f, self._resolver_to_crm(ctx), only=only,
                             fsm_fields=ctx.fsm_fields[pair.key])
        except MappingFailure as exc:
            self._outcome(ctx, pair, False, crm_id=link.partner_id, fsm_id=link.fsm_id, name=self._name(pair, None, f),
                          reason=exc.reason, action="update", direction="fsm_to_crm")
            return "failed"
        if crm_rec is None:
            found = ctx.crm.get_records(pair.crm_module, [link.partner_id], self._crm_fields(ctx, pair))
            crm_rec = found[0] if found else None
        if crm_rec is None:
            return "missing"
        diff = changes(payload, crm_rec)
        if pair.key == "products" and diff.get("Type") == "Goods" and empty(crm_rec.get("Type")):
            diff.pop("Type")  # no Type in CRM means Goods already (CR-11)
        c_t, f_t = parse_time(crm_rec.get("Modified_Time")), parse_time(f.get("Modified_Time"))
        if not diff:
            self._touch(ctx, pair, link, f_t, c_t, link.last_result or "same")
            return "same"
        r = ctx.crm.update_record(pair.crm_module, link.partner_id, diff)
        if r.ok:
            self._remember("crm", pair.crm_module, link.partner_id, diff)
            self._touch(ctx, pair, link, f_t, parse_time(r.details.get("Modified_Time")) or c_t, "updated")
        self._outcome(ctx, pair, r.ok, crm_id=link.partner_id, fsm_id=link.fsm_id, name=self._name(pair, crm_rec, f),
                      action="update", direction="fsm_to_crm",
                      reason="" if r.ok else f"Zoho CRM refused the update: {r.code} {r.message} {r.details}")
        return "written" if r.ok else "failed"

    def _touch(self, ctx: Ctx, pair: ModulePair, link: RecordLink, fsm_time: datetime | None,
               crm_time: datetime | None, result: str) -> None:
        self.repo.save_links(ctx.integ.id, [LinkSpec(link.fsm_module, link.fsm_id, link.partner_entity, link.partner_id,
                                                     fsm_time, crm_time, result)], run_id=ctx.run_id)

    # -- deletes (CR-05) ---------------------------------------------------------------------------------
    def _crm_deleted(self, ctx: Ctx, pair: ModulePair, link: RecordLink) -> None:
        if ctx.deletion("crm_deleted") == "delete_in_fsm":
            [r] = ctx.fsm.delete_records(pair.fsm_module, [link.fsm_id])
            self._outcome(ctx, pair, r.ok, crm_id=link.partner_id, fsm_id=link.fsm_id, action="delete",
                          direction="crm_to_fsm",
                          reason="" if r.ok else f"Zoho FSM refused the delete: {r.code} {r.message}")
        self.repo.deactivate_link(link.id, "crm_deleted")

    def _fsm_deleted(self, ctx: Ctx, pair: ModulePair, link: RecordLink) -> None:
        if ctx.deletion("fsm_deleted") == "delete_in_crm":
            [r] = ctx.crm.delete_records(pair.crm_module, [link.partner_id])
            self._outcome(ctx, pair, r.ok, crm_id=link.partner_id, fsm_id=None, action="delete",
                          direction="fsm_to_crm",
                          reason="" if r.ok else f"Zoho CRM refused the delete: {r.code} {r.message}")
        self.repo.deactivate_link(link.id, "fsm_deleted")

    # -- instant sync (CR-09) --------------------------------------------------------------------------------
    def apply(self, item: InboxItem) -> dict[str, Any]:
        """Apply one stored notification; answers what it did (kept with the inbox item)."""
        integ = self.repo.find_integration(item.integration_id)
        if integ is None or getattr(integ, "kind", "") != "crm" or integ.state != "enabled":
            return {"skipped": "the integration is not an enabled CRM sync", "results": []}
        with self.lock(integ.id):
            ctx = self.context(integ, sync_id=f"instant-{item.id}")
            self._recover_intents(ctx)  # a create whose answer was lost (a retried item) is found, not repeated
            payload = item.payload or {}
            if item.source == "crm":
                self._apply_crm(ctx, payload)
            else:
                self._apply_fsm(ctx, payload)
        return {"results": ctx.results}

    def _remember(self, side: str, module: str, record_id: str, values: Mapping[str, Any]) -> None:
        """What the engine just wrote to a record, so its notification is known as our echo."""
        now = time.monotonic()
        with self._locks_guard:
            for key in [k for k, (at, _v) in self._written.items() if now - at > ECHO_MEMORY]:
                self._written.pop(key, None)
            self._written[(side, module, str(record_id))] = (now, dict(values))

    def _is_echo(self, side: str, module: str, record_id: str, record: Mapping[str, Any],
                 affected: list[str] | None, mapped: set[str]) -> bool:
        """An edit notification whose mapped changed fields all hold what we wrote last (recently):
        our own write. Anything else (someone edited after us) is synced as usual."""
        if affected is None:
            return False
        with self._locks_guard:
            entry = self._written.get((side, module, str(record_id)))
        if entry is None or time.monotonic() - entry[0] > ECHO_MEMORY:
            return False
        written = entry[1]
        changed = [f for f in affected if f in mapped]
        if not all(f in written and same(record.get(f), written[f]) for f in changed):
            return False
        with self._locks_guard:
            self._written.pop((side, module, str(record_id)), None)
        return True

    @staticmethod
    def _affected(payload: Mapping[str, Any]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for entry in payload.get("affected_fields") or []:
            if isinstance(entry, Mapping):
                for rid, names in entry.items():
                    if isinstance(names, list):
                        out[str(rid)] = [str(n) for n in names]
        return out

    def _apply_crm(self, ctx: Ctx, payload: Mapping[str, Any]) -> None:
        pair = BY_CRM.get(str(payload.get("module")))
        ids = [str(i) for i in payload.get("ids") or []]
        if pair is None or not ids:
            return
        op = payload.get("operation")
        iid = ctx.integ.id
        if op == "delete":
            for rid in ids:
                link = self.repo.link_by_partner(iid, pair.crm_module, rid)
                if link is not None and link.active:
                    self._crm_deleted(ctx, pair, link)
            return
        affected = self._affected(payload)
        found = {str(r["id"]): r for r in ctx.crm.get_records(pair.crm_module, ids, self._crm_fields(ctx, pair))}
        for rid in ids:
            c = found.get(rid)
            if c is None:
                continue
            link = self.repo.link_by_partner(iid, pair.crm_module, rid)
            only = affected.get(rid) if op == "update" and rid in affected else None
            if link is not None and link.active:
                if op == "insert" or self._is_echo("crm", pair.crm_module, rid, c, only,
                                                   {r["crm_field"] for r in ctx.rows[pair.key]}):
                    continue  # our own create or write coming back: it stops here
                if self._update_fsm(ctx, pair, link, c, only=only) == "missing":
                    self._fsm_deleted(ctx, pair, link)  # its FSM partner went while no notification came
            elif link is not None:
                # CR-05: an edit of a kept record brings it back (to its FSM record when that still exists)
                f = ctx.fsm.get_record(pair.fsm_module, link.fsm_id)
                if f is not None:
                    self._touch(ctx, pair, link, None, None, "restored")
                    self._update_fsm(ctx, pair, self.repo.get_link(link.id), c, fsm_rec=f)
                elif op == "update" or link.inactive_reason != "fsm_deleted":
                    self._create_in_fsm(ctx, pair, [c])
            elif self._in_view(ctx, pair, rid):
                self._create_in_fsm(ctx, pair, [c])

    def _apply_fsm(self, ctx: Ctx, payload: Mapping[str, Any]) -> None:
        pair = BY_FSM.get(str(payload.get("module")))
        ids = [str(i) for i in payload.get("ids") or []]
        if pair is None or not ids:
            return
        op = payload.get("operation")
        iid = ctx.integ.id
        if op == "delete":
            for rid in ids:
                link = self.repo.link_by_fsm(iid, pair.fsm_module, rid)
                if link is not None and link.active:
                    self._fsm_deleted(ctx, pair, link)
            return
        affected = self._affected(payload)
        for rid in ids:
            f = ctx.fsm.get_record(pair.fsm_module, rid)
            if f is None:
                continue
            link = self.repo.link_by_fsm(iid, pair.fsm_module, rid)
            only = affected.get(rid) if op == "update" and rid in affected else None
            if link is not None and link.active:
                if op == "insert" or self._is_echo("fsm", pair.fsm_module, rid, f, only,
                                                   {r["fsm_field"] for r in ctx.rows[pair.key]}):
                    continue  # our own create or write coming back: it stops here
                if self._update_crm(ctx, pair, link, f, only=only) == "missing":
                    self._crm_deleted(ctx, pair, link)
            elif link is not None:
                # CR-05: an edit of the FSM record kept after its CRM partner's delete brings it back
                if op == "update":
                    self._create_in_crm(ctx, pair, [f])
            else:
                self._create_in_crm(ctx, pair, [f])

    # -- records and links (CR-13) ---------------------------------------------------------------------------
    def record_view(self, integ: Integration, link: RecordLink) -> dict[str, Any]:
        return {
            "integration_id": integ.id,
            "fsm": {"module": link.fsm_module, "id": link.fsm_id, "url": fsm_web_url(integ, link.fsm_module, link.fsm_id)},
            "partner": {"product": "crm", "module": link.partner_entity, "entity": link.partner_entity,
                        "id": link.partner_id, "url": crm_web_url(integ, link.partner_entity, link.partner_id)},
            "active": link.active, "inactive_reason": link.inactive_reason,
            "last_synced_at": link.last_synced_at.isoformat(timespec="seconds") if link.last_synced_at else None,
            "last_sync": {"at": link.last_synced_at.isoformat(timespec="seconds") if link.last_synced_at else None,
                          "result": link.last_result, "run_id": link.last_run_id},
        }

    def record(self, integration_id: str, fsm_module: str, fsm_id: str) -> dict[str, Any]:
        integ = self.repo.get_integration(integration_id)
        link = self.repo.link_by_fsm(integration_id, fsm_module, fsm_id)
        if link is None:
            raise NotFound(f"FSM {fsm_module} record {fsm_id} has not been synced with Zoho CRM")
        return self.record_view(integ, link)

    def partner_record(self, integration_id: str, crm_module: str, crm_id: str) -> dict[str, Any]:
        integ = self.repo.get_integration(integration_id)
        link = self.repo.link_by_partner(integration_id, crm_module, crm_id)
        if link is None:
            raise NotFound(f"CRM {crm_module} record {crm_id} has not been synced with Zoho FSM")
        view = self.record_view(integ, link)
        view["url"] = view["fsm"]["url"]  # from the CRM side: "View Records in FSM"
        return view

    # -- the scheduler's periodic work -------------------------------------------------------------------------
    def tick(self, now: datetime | None = None, *, force: bool = False) -> None:
        now = now or self.repo.now()
        for integ in self.repo.list_integrations(state="enabled"):
            if getattr(integ, "kind", "books") != "crm":
                continue
            if not force and time.monotonic() - self._checked.get(integ.id, 0.0) < CHECK_EVERY:
                continue
            self._checked[integ.id] = time.monotonic()
            with self._tick_lock(integ.id):  # the scheduler's thread and POST /scheduler/tick, one at a time
                fresh = self.repo.find_integration(integ.id)  # what the other one did meanwhile
                if fresh is None or fresh.state != "enabled":
                    continue
                try:
                    self._tick_one(fresh, now, force=force)
                except Exception:  # noqa: BLE001 - one integration's trouble must not stop the others
                    log.exception("CRM periodic work of %s failed", integ.id)

    def tick_now(self, now: datetime | None = None) -> None:
        """All the periodic work, now (an explicit ``POST /scheduler/tick``)."""
        self.tick(now, force=True)

    def _tick_lock(self, integration_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._tick_locks.setdefault(integration_id, threading.Lock())

    def _tick_one(self, integ: Integration, now: datetime, *, force: bool) -> None:
        if not ((integ.settings or {}).get("channels") or {}).get("channel_id"):
            return  # enabling right now: it subscribes and runs the initial sync itself
        fsm, crm = self.clients(integ)
        crm_state = crm.internal_settings()
        refusal = install.books_refusal(crm_state)
        if refusal is not None:  # CR-14: the CRM org is integrated with Books/Invoice now
            self.switch_off(integ, refusal.message, SWITCH_OFF_SUBJECT,
                            "The two-way sync between Zoho CRM and Zoho FSM is disabled: the Zoho CRM organization is "
                            "now integrated with Zoho Finance (Books/Invoice). Data now syncs between Zoho FSM and Zoho "
                            "CRM via Zoho Books/Invoice.")
            return
        fsm_refusal = install.edition_refusal("FSM", fsm.internal_settings().get("edition"), install.FSM_EDITIONS_OK)
        if fsm_refusal is not None:  # CR-01: a Free FSM stops the sync
            self.switch_off(integ, fsm_refusal.message, "Sync between Zoho FSM and Zoho CRM has stopped",
                            f"The direct sync between Zoho FSM and Zoho CRM has stopped: {fsm_refusal.message}.")
            return
        settings = integ.settings or {}
        channel_id = (settings.get("channels") or {}).get("channel_id")
        if not channel_id:  # Save & Next is still subscribing (with the URL it was called at): nothing to renew yet
            return
        expires = parse_time((settings.get("channels") or {}).get("expires_at"))
        expired = expires is not None and expires <= now
        # renew before expiry (lab clock); a channel either side no longer has (dropped, expired while the
        # clock jumped) is made again, and the reconciliation below catches up what it missed
        gone = not crm.channels(channel_id=channel_id) or not any(
            str(c.get("channel_id")) == str(channel_id) for c in fsm.channels())
        if expires is None or expires - now <= RENEW_BEFORE or gone:
            self.subscribe(integ)
        expired = expired or gone
        self._daily_logs(integ, now)
        due = parse_time(settings.get("next_reconcile_at"))
        if expired or (due is not None and due <= now):
            fresh = self.repo.get_integration(integ.id)
            self.repo.update_integration(integ.id, settings={**(fresh.settings or {}),
                                                             "next_reconcile_at": (now + RECONCILE_EVERY).isoformat()})
            if self.repo.is_sync_running(integ.id):
                return
            if force:
                with suppress(Refused):
                    self.run(integ.id, trigger="reconcile")
            else:
                self._background(self._reconcile_quietly, integ.id)

    def _reconcile_quietly(self, integration_id: str) -> None:
        with suppress(Refused):
            self.run(integration_id, trigger="reconcile")

    def switch_off(self, integ: Integration, reason: str, subject: str, body: str) -> None:
        """CR-14 / CR-01: disable with the reason, drop the channels, tell the admin."""
        self.repo.disable_integration(integ.id, reason)
        self.drop_channels(self.repo.get_integration(integ.id))
        self._mail(integ, subject, body)

    def _daily_logs(self, integ: Integration, now: datetime) -> None:
        """CR-12: one ``daily`` run per 24 lab hours, counting the instant syncs applied in them."""
        settings = integ.settings or {}
        nxt = parse_time(settings.get("next_daily_at"))
        start = parse_time(settings.get("daily_from"))
        made = 0
        while nxt is not None and nxt <= now and made < 31:
            self._daily_run(integ, start, nxt)
            start, nxt = nxt, nxt + DAILY
            made += 1
        if made:
            fresh = self.repo.get_integration(integ.id)
            self.repo.update_integration(integ.id, settings={**(fresh.settings or {}), "daily_from": start.isoformat(),
                                                             "next_daily_at": nxt.isoformat()})

    def _daily_run(self, integ: Integration, start: datetime | None, end: datetime) -> SyncRun:
        run = SyncRun(id=new_id(), integration_id=integ.id, trigger="daily", started_at=start or end, ended_at=end,
                      status="succeeded", holder=getattr(self.repo, "holder", None))
        with self.repo.db.begin() as s:
            s.add(run)
        counts: dict[str, list[int]] = {}
        for item in self.inbox.applied_between(integ.id, start, end):
            for r in (item.result or {}).get("results") or []:
                c = counts.setdefault(r["module"], [0, 0])
                c[0 if r.get("ok") else 1] += 1
                if not r.get("ok"):
                    with suppress(StoreError):
                        self.repo.add_record_failure(run.id, r["module"], r.get("record_id") or "", r.get("reason") or "",
                                                     r.get("name") or "")
        for module, (ok, bad) in counts.items():
            self.repo.bump_module_stat(run.id, module, succeeded=ok, failed=bad)
        return run


__all__ = ["CRM_DELETED", "CrmEngine", "CrmError", "DELETION_DEFAULTS", "FSM_DELETED", "SWITCH_OFF_SUBJECT",
           "crm_web_url", "fsm_web_url"]
