"""The syncer service: everything wired from a ``SyncerConfig``, and the operations the API calls.

    service = SyncerService(SyncerConfig.from_env(fakes_url="http://127.0.0.1:8700")).start()
    app = create_app(service)            # syncer.app

- the **clock**: ``LabClock(fakes_url)`` when a lab is given (it falls back to real time against
  real Zoho), else real time; the store, the mail and the scheduler all read it;
- the **store**: ``Repo`` on ``database_url`` (SQLite ``.zlab/syncer.db`` by default);
- **mail**: ``MailSender`` to ``smtp_url``, or to an embedded in-process ``MailSink``;
- **clients** per integration from its stored credentials (cached: tokens are reused);
- the **engine** (``SyncEngine``) and the **scheduler** (``Scheduler``, TW-04).

Errors are the store's (``NotFound``, ``InvalidValue``, ``Refused`` and its kinds) plus
``ImportInProgress`` and ``Unauthorized``; Zoho's answers come as ``ZohoApiError``.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from syncer.books_sync import SyncEngine, mapping
from syncer.clients import AccountsClient, BooksClient, Clock, FsmClient, LabClock, system_clock
from syncer.clients.hosts import ZOHO_TIMEOUT, zoho_url_problem
from syncer.config import SyncerConfig
from syncer.crm_sync.engine import CrmEngine
from syncer.health import Reachability, upstream_url
from syncer.mail import MailSender, MailSink
from syncer.scheduler import Scheduler
from syncer.store import StoreDB
from syncer.store.models import BOOKS_DIRECTIONS, Integration, RecordLink, SyncRun, new_id
from syncer.store.repo import (
    AUTO_SYNC_INTERVAL,
    AlreadyEnabled,
    IntegrationNotEnabled,
    InvalidValue,
    NotFound,
    ReenableForbidden,
    Refused,
    Repo,
    StoreError,
)
from syncer.sync_core.engine import EngineRegistry, RunHooks
from syncer.sync_core.failures import failure_csv_filename
from syncer.sync_core.inbox import Inbox, InboxWorker

log = logging.getLogger("zlab.syncer")

BOOKS_ROOTS = {"books": "/books/v3", "invoice": "/invoice/v3"}
EMAIL_RE = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
MAPPING_MODULES = ("customers", "items", "invoices")


class ImportInProgress(Refused):
    code = "import_in_progress"  # TW-01, TW-08


class AlreadyIntegrated(Refused):
    """Onboarding an FSM org that has an integration already (one per FSM org)."""

    code = "already_integrated"


class PermissionDenied(StoreError):
    """The FSM user the syncer acts for lacks the "Billing Integration" permission (TW-26)."""

    code = "permission_denied"


class EditionNotSupported(StoreError):
    """Two-way sync is not available in the FSM org's edition (TW-27)."""

    code = "edition_not_supported"


class SupportOnly(StoreError):
    """An action only Zoho support may take (TW-28: taxes enabled after onboarding)."""

    code = "support_only"


BILLING_INTEGRATION = "Billing Integration"  # the FSM permission two-way sync needs (TW-26)
TWO_WAY_EDITIONS = ("standard", "professional", "premium")  # TW-27: not Free


class Unauthorized(StoreError):
    """The support API without (401) or with a wrong (403) ``X-Support-Token``."""

    code = "unauthorized"

    def __init__(self, message: str, *, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


# -- run starts: the run id chosen before the engine starts, and the exact refusal --------------------
@dataclass
class _RunStart:
    """One run the service starts: its id is chosen here (so Sync Now can answer 202 with it) and
    the engine reports through ``hooks`` when the run opened, or the ``start_run`` refusal (so the
    API answers 429 for the 31st Sync Now, 409 for a sync in progress) instead of only a "refused"
    run row."""

    run_id: str
    started: threading.Event = field(default_factory=threading.Event)
    refusal: Refused | None = None
    opened: bool = False

    def hooks(self) -> RunHooks:
        return RunHooks(started=self._started, refused=self._refused)

    def _started(self, _run: SyncRun) -> None:
        self.opened = True
        self.started.set()

    def _refused(self, exc: Refused) -> None:
        self.refusal = exc
        self.started.set()


class SyncerService:
    def __init__(self, config: SyncerConfig | None = None, *, clock: Clock | None = None) -> None:
        self.config = config or SyncerConfig.from_env()
        # a lab in this same process hands its clock over directly (zlab up, the scenario harness):
        # exact and free; otherwise the lab clock is read over HTTP (LabClock), or real time
        self.lab_clock: LabClock | None = (LabClock(self.config.fakes_url)
                                           if self.config.fakes_url and clock is None else None)
        self.clock = clock or self.lab_clock or system_clock
        self.db = StoreDB(self.config.database_url)
        self.repo = Repo(self.db, clock=self.clock)
        self.sink: MailSink | None = None
        smtp_url = self.config.smtp_url
        if not smtp_url and self.config.embedded_mail:
            self.sink = MailSink().start()
            smtp_url = self.sink.url
        self.mailer = MailSender(self.repo, smtp_url or "")
        # the CRM direct sync: its engine, and the inbox its notifications wait in (CR-09)
        self.inbox = Inbox(self.db, self.clock)
        self.crm = CrmEngine(self.repo, mailer=self.mailer, inbox=self.inbox, clock=self.clock,
                             accounts_url=self.config.accounts_url, public_url=self.config_public_url())
        self.inbox_worker = InboxWorker(self.inbox, self.crm.apply)
        # the sync engines by Integration.kind: runs are dispatched through it (sync_core.engine)
        self.engines = EngineRegistry([SyncEngine(self.repo, clients=self.clients_for, mailer=self.mailer), self.crm])
        self.scheduler = Scheduler(self, interval=self.config.scheduler_interval)
        # /health: do the fakes (or Zoho) answer? (a short connect time-out, cached; syncer.health)
        self.upstream_kind, url = upstream_url(self.config.fakes_url, self.config.accounts_url)
        self.upstream = Reachability(url)
        self._clients: dict[str, tuple[tuple, FsmClient, BooksClient]] = {}
        self._clients_lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._threads_lock = threading.Lock()

    # -- life cycle -------------------------------------------------------------------------------
    def start(self, *, inbox_worker: bool = True, announce_token: bool = True) -> SyncerService:
        """``inbox_worker=False``: notifications are stored but not applied (tests of a crash
        between storing and applying one). ``announce_token=False``: the caller prints the
        generated support token itself (``zlab syncer``, ``zlab up``). The scheduler starts active,
        or on standby when another syncer runs the scheduler of this database (logged)."""
        if announce_token and self.config.support_token_generated:
            log.warning("support token (X-Support-Token) for this run: %s (set ZLAB_SUPPORT_TOKEN to choose it)",
                        self.config.support_token)
        self.scheduler.start()
        if inbox_worker:
            self.inbox_worker.start()
            self.inbox_worker.wake()  # what an earlier process stored and did not apply
        return self

    def config_public_url(self) -> str | None:
        """Where Zoho reaches this syncer (notification URLs): ``ZLAB_SYNCER_PUBLIC_URL``, else the
        URL the enable request came to."""
        import os

        return (os.environ.get("ZLAB_SYNCER_PUBLIC_URL") or "").rstrip("/") or None

    def receive(self, source: str, integration_id: str, body: Mapping[str, Any]):
        """A notification (CR-09): the channel's token checked, stored durably, the worker woken."""
        integ = self.repo.get_integration(integration_id)
        if getattr(integ, "kind", "books") != "crm" or not self.crm.verify_token(integ, body.get("token")):
            raise Unauthorized("The notification's channel token is not this integration's", status=403)
        item = self.inbox.put(integration_id, source, dict(body))
        self.inbox_worker.wake()
        return item

    def close(self) -> None:
        self.inbox_worker.stop()
        self.scheduler.stop()
        self.crm.close()
        with self._threads_lock:
            threads = list(self._threads)
        for t in threads:
            t.join(timeout=10)
        with self._clients_lock:
            for _key, fsm, books in self._clients.values():
                fsm.close()
                books.close()
                fsm.auth.close()
            self._clients.clear()
        if self.sink is not None:
            self.sink.stop()
        if self.lab_clock is not None:
            self.lab_clock.close()
        self.db.dispose()

    def __enter__(self) -> SyncerService:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def smtp_url(self) -> str:
        return self.mailer.smtp_url or ""

    # -- clients ----------------------------------------------------------------------------------
    def clients_for(self, integ: Integration) -> tuple[FsmClient, BooksClient]:
        """FSM and Books/Invoice clients on the integration's stored credentials (cached, so the
        access token is reused until it expires on the lab clock)."""
        key = (integ.accounts_url, integ.client_id, integ.client_secret, integ.refresh_token, integ.api_domain,
               integ.partner_org_id, integ.partner_product)
        with self._clients_lock:
            cached = self._clients.get(integ.id)
            if cached is not None and cached[0] == key:
                return cached[1], cached[2]
            if cached is not None:
                cached[1].close()
                cached[2].close()
            auth = AccountsClient(integ.accounts_url or self.config.accounts_url, integ.client_id,
                                  integ.client_secret, integ.refresh_token, clock=self.clock,
                                  token_store=self.repo)
            domain = integ.api_domain or None
            fsm = FsmClient(auth, api_domain=domain)
            books = BooksClient(auth, integ.partner_org_id, product=integ.partner_product, api_domain=domain)
            self._clients[integ.id] = (key, fsm, books)
            return fsm, books

    # -- integrations -----------------------------------------------------------------------------
    def create_integration(self, *, fsm_org_id: str, partner_org_id: str, client_id: str, client_secret: str,
                           refresh_token: str, partner_product: str = "books", accounts_url: str | None = None,
                           api_domain: str | None = None, name: str = "", notify_email: str | None = None,
                           time_zone: str | None = None, sync_type: str | None = None, mode: str | None = None,
                           verify: bool = True, new_org: bool = False, choice: str | None = None,
                           signup_email: str | None = None) -> Integration:
        """Store a new FSM - Books/Invoice integration (kind ``books``, state ``created``); the
        Books/Invoice org is ``partner_org_id``, the product ``partner_product``. ``verify``: exchange the refresh token
        first, so bad credentials are refused now rather than at the first sync. ``new_org``: the
        Books/Invoice org was made for this FSM org (OB-01): at enable FSM's taxes go to it, while
        an existing org's taxes come to FSM (OB-03). ``choice`` (onboarding, OB-01): new_invoice,
        existing_invoice or existing_books, checked against the orgs the signup account may
        integrate (``signup_email``); it decides ``new_org``, and the FSM org must not be
        integrated already."""
        if notify_email is not None:
            check_email(notify_email)
        accounts = (accounts_url or self.config.accounts_url).rstrip("/")
        self.check_zoho_urls(accounts_url, api_domain)
        if choice is not None:
            new_org = self._check_choice(choice, signup_email, fsm_org_id=fsm_org_id, books_org_id=partner_org_id,
                                         books_product=partner_product, accounts_url=accounts, client_id=client_id,
                                         client_secret=client_secret, refresh_token=refresh_token,
                                         api_domain=api_domain)
            verify = False  # the check exchanged the refresh token already
        if verify:
            auth = AccountsClient(accounts, client_id, client_secret, refresh_token, clock=self.clock,
                                  token_store=self.repo, timeout=ZOHO_TIMEOUT)  # the first sync reuses this token
            try:
                auth.refresh()
            finally:
                auth.close()
        fields: dict[str, Any] = {"name": name, "client_id": client_id, "client_secret": client_secret,
                                  "refresh_token": refresh_token, "accounts_url": accounts,
                                  "api_domain": (api_domain or "").rstrip("/")}
        for key, value in (("time_zone", time_zone), ("sync_type", sync_type), ("mode", mode)):
            if value is not None:
                fields[key] = value
        fields["settings"] = {"new_org": new_org, **({"notify_email": notify_email} if notify_email else {}),
                              **({"onboarding": {"choice": choice, "signup_email": signup_email}} if choice else {})}
        return self.repo.create_integration(fsm_org_id=fsm_org_id, kind="books", partner_org_id=partner_org_id,
                                            partner_product=partner_product, **fields)

    def check_zoho_urls(self, accounts_url: str | None, api_domain: str | None) -> None:
        """A caller's ``accounts_url``/``api_domain``: Zoho's hosts or the configured lab only (the
        syncer posts the credentials there from its own network; see clients/hosts.py)."""
        for name, url in (("accounts_url", accounts_url), ("api_domain", api_domain)):
            problem = zoho_url_problem(url, also=(self.config.fakes_url, self.config.accounts_url)) if url else None
            if problem:
                raise InvalidValue(f"{name} {problem}")

    def _check_choice(self, choice: str, signup_email: str | None, *, fsm_org_id: str, books_org_id: str,
                      books_product: str, accounts_url: str, client_id: str, client_secret: str,
                      refresh_token: str, api_domain: str | None) -> bool:
        """OB-01 at onboarding: the chosen org may be integrated with this FSM org; answers new_org."""
        from .books_sync.onboarding import OnboardingError, check_choice

        if self.repo.list_integrations(fsm_org_id=fsm_org_id):
            raise AlreadyIntegrated(f"FSM organization {fsm_org_id} is already integrated with Zoho Books/Invoice")
        auth = AccountsClient(accounts_url, client_id, client_secret, refresh_token, clock=self.clock)
        fsm = FsmClient(auth, api_domain=api_domain or None)
        books = BooksClient(auth, books_org_id, product=books_product, api_domain=api_domain or None)
        try:
            if str(fsm.internal_settings().get("org_id") or fsm_org_id) != fsm_org_id:
                raise InvalidValue(f"The credentials are not those of FSM organization {fsm_org_id}")
            return check_choice(fsm, books, choice, signup_email=signup_email)
        except OnboardingError as exc:
            raise InvalidValue(exc.reason) from None
        finally:
            fsm.close()
            books.close()
            auth.close()

    def enable(self, integration_id: str, *, duplicate_policy: str, sync_type: str | None = None,
               mode: str | None = None, mappings: Mapping[str, Any] | None = None) -> Integration:
        """The one-time enable (TW-01): refused a second time, refused while an FSM data import is
        in progress (TW-01, TW-08), refused to users after an error disabled it (TW-15)."""
        integ = self.repo.get_integration(integration_id)
        if integ.state == "enabled":
            raise AlreadyEnabled("Sync is already enabled for this integration; enabling is a one-time action")
        if integ.state == "disabled" and integ.disabled_by_error:
            raise ReenableForbidden("This sync was disabled because of an error and can only be re-enabled "
                                    f"by support (reason: {integ.disabled_reason})")
        rows = check_mappings(mappings) if mappings is not None else {}
        self.check_permission(integ)  # TW-26
        self._check_edition(integ, mode)  # TW-27
        self._refuse_during_import(integ)
        rows = {**self._default_mappings(), **rows}  # OB-02: defaults for what is not given
        self._validate_mappings(integ, rows)
        settings: dict[str, Any] = {"duplicate_policy": duplicate_policy,
                                    "next_auto_sync_at": self.repo.now() + AUTO_SYNC_INTERVAL}
        if sync_type is None:  # TW-21: an existing org takes the CRM-Books integration's sync type
            sync_type = self._default_sync_type(integ)
        if sync_type is not None:
            settings["sync_type"] = sync_type
        if mode is not None:
            settings["mode"] = mode
        self.repo.enable_integration(integration_id, **settings)
        for module, items in rows.items():
            self.repo.set_mappings(integration_id, module, mapping.store_rows(items))
        from .books_sync.onboarding import onboard_taxes

        fsm, books = self.clients_for(integ)
        onboard_taxes(fsm, books, new_org=bool(integ.settings.get("new_org")))  # OB-03
        # TW-28: whether taxes were on at onboarding decides who may switch them on later
        fresh = self.repo.get_integration(integration_id)
        taxes_on = bool(fsm.internal_settings().get("tax_enabled"))
        self.repo.update_integration(integration_id, settings={**fresh.settings, "taxes_at_onboarding": taxes_on})
        return self.repo.get_integration(integration_id)

    # -- who may (TW-26, TW-27) ---------------------------------------------------------------------
    def check_permission(self, integ: Integration) -> None:
        """TW-26: the syncer acts for the FSM user whose token the integration holds; that user's
        FSM profile must have the "Billing Integration" permission (read over HTTP from FSM)."""
        fsm, _books = self.clients_for(integ)
        user = fsm.current_user()
        profile = user.get("profile") or {}
        if BILLING_INTEGRATION not in (profile.get("permissions") or []):
            raise PermissionDenied(f"The FSM user {user.get('id') or '?'} (profile {profile.get('name') or '?'}) "
                                   f"does not have the \"{BILLING_INTEGRATION}\" permission needed to set up "
                                   "and run the two-way sync")

    def _check_edition(self, integ: Integration, mode: str | None) -> None:
        """TW-27: two-way sync needs FSM Standard edition or above (Free cannot enable it)."""
        if (mode or integ.mode) != "two_way":
            return
        fsm, _books = self.clients_for(integ)
        edition = str(fsm.internal_settings().get("edition") or "").lower()
        if edition and edition not in TWO_WAY_EDITIONS:
            raise EditionNotSupported(f"Two-way sync is not available in the Zoho FSM {edition.title()} edition: "
                                      "upgrade to Standard or above to enable it")

    @staticmethod
    def _default_mappings() -> dict[str, list[dict[str, Any]]]:
        from .books_sync import mapping

        return {m: mapping.rows_from_pairs(mapping.defaults(m)) for m in mapping.MODULES}

    def _validate_mappings(self, integ: Integration, rows: Mapping[str, list[dict[str, Any]]]) -> None:
        """Against the orgs' real fields: PII/EPHI refused (TW-11), mandatory Books fields mapped,
        unknown fields refused (TW-03)."""
        from .books_sync import mapping

        fsm, books = self.clients_for(integ)
        custom = (books.internal_settings().get("custom_fields") or {})
        problems: list[str] = []
        for module, items in rows.items():
            fsm_modules, _entity = mapping.MODULES[module]
            fields = {m: fsm.fields(m) for m in fsm_modules}
            custom_names = [c.get("api_name") for c in custom.get({"items": "item", "customers": "contact",
                                                                  "invoices": "invoice"}[module], [])]
            pairs = [mapping.Pair(r["fsm_field"], r["books_field"], r.get("direction") or "both",
                                  r.get("fsm_module") or "") for r in items]
            problems += [f"{module}: {p}" for p in mapping.validate(module, pairs, fields, custom_names)]
        if problems:
            raise InvalidValue("; ".join(problems))

    def _default_sync_type(self, integ: Integration) -> str | None:
        """The CRM-Books integration's sync type when the org has one (TW-21); otherwise the
        integration keeps its own (IV unless chosen at creation)."""
        from .books_sync.onboarding import default_sync_type

        _fsm, books = self.clients_for(integ)
        state = books.internal_settings()
        if not (state.get("crm_integration") or {}).get("enabled"):
            return None
        return default_sync_type(not integ.settings.get("new_org", False), state)

    def _refuse_during_import(self, integ: Integration) -> None:
        fsm, _books = self.clients_for(integ)
        if fsm.internal_settings().get("import_in_progress"):
            raise ImportInProgress("An FSM data import is in progress: sync cannot be enabled until it ends "
                                   "(TW-01, TW-08).")

    def support_reenable(self, integration_id: str, token: str | None) -> Integration:
        """Support only (TW-15): re-enable a sync an error disabled."""
        self.check_support_token(token)
        self.repo.enable_integration(integration_id, by_support=True,
                                     next_auto_sync_at=self.repo.now() + AUTO_SYNC_INTERVAL)
        return self.repo.get_integration(integration_id)

    def support_enable_taxes(self, integration_id: str, token: str | None) -> Integration:
        """Support only (TW-28): switch taxes on in FSM for an integration onboarded without them
        (through FSM's internal tax settings). Books/Invoice taxes are the org's own switch."""
        self.check_support_token(token)
        integ = self.repo.get_integration(integration_id)
        fsm, _books = self.clients_for(integ)
        fsm.set_taxes(enabled=True)
        self.repo.update_integration(integration_id, settings={**integ.settings, "taxes_enabled_by_support": True})
        return self.repo.get_integration(integration_id)

    def set_taxes(self, integ: Integration, enabled: bool) -> None:
        """The user's tax switch for FSM (TW-28): off always; on only when taxes were enabled at
        onboarding (else only support can, ``support_enable_taxes``)."""
        if enabled and not integ.settings.get("taxes_at_onboarding") and not integ.settings.get(
                "taxes_enabled_by_support"):
            raise SupportOnly("Taxes were not enabled during the initial onboarding: only Zoho FSM support can "
                              "enable them (support@zohofsm.com, or support@eu.zohofsm.com in the EU and UK)")
        fsm, _books = self.clients_for(integ)
        fsm.set_taxes(enabled=enabled)

    def check_support_token(self, token: str | None) -> None:
        import hmac

        if not token:
            raise Unauthorized("The support API needs the X-Support-Token header", status=401)
        if not hmac.compare_digest(token.encode(), self.config.support_token.encode()):
            raise Unauthorized("The X-Support-Token is not valid", status=403)

    def update_settings(self, integration_id: str, *, auto_sync: bool | None = None,
                        notify_email: str | None = None, mappings: Mapping[str, Any] | None = None,
                        name: str | None = None, time_zone: str | None = None,
                        tax_enabled: bool | None = None) -> Integration:
        """auto sync on/off (TW-04), the notification address, mappings (each module given is
        replaced and the mapping version bumped, so the next run syncs every affected record, TW-07),
        FSM's taxes switch (TW-28). Needs the "Billing Integration" permission (TW-26)."""
        integ = self.repo.get_integration(integration_id)
        rows = check_mappings(mappings) if mappings is not None else {}
        self.check_permission(integ)
        if rows:
            self._validate_mappings(integ, rows)
        if tax_enabled is not None:
            self.set_taxes(integ, tax_enabled)
        changes: dict[str, Any] = {}
        settings = dict(integ.settings)
        if notify_email is not None:
            check_email(notify_email)
            settings["notify_email"] = notify_email
        if rows:  # TW-07: the next run re-syncs every record of these module pairs, linked ones too
            settings["remapped_modules"] = sorted(set(settings.get("remapped_modules") or []) | set(rows))
        if settings != integ.settings:
            changes["settings"] = settings
        if name is not None:
            changes["name"] = name
        if time_zone is not None:
            changes["time_zone"] = time_zone
        if auto_sync is not None:
            changes["auto_sync"] = auto_sync
            if auto_sync and integ.state == "enabled" and integ.next_auto_sync_at is None:
                base = integ.last_run_ended_at or self.repo.now()
                changes["next_auto_sync_at"] = base + AUTO_SYNC_INTERVAL
        if changes:
            self.repo.update_integration(integration_id, **changes)
        for module, items in rows.items():
            self.repo.set_mappings(integration_id, module, mapping.store_rows(items))
        return self.repo.get_integration(integration_id)

    # -- runs -------------------------------------------------------------------------------------
    def run_sync(self, integration_id: str, *, trigger: str = "manual") -> SyncRun:
        """One run, here and now. Raises the ``start_run`` refusal (``ManualSyncLimitReached``,
        ``SyncInProgress``, ``IntegrationNotEnabled``) instead of answering a refused run."""
        self.repo.get_integration(integration_id)
        start = _RunStart(new_id())
        run = self._run(start, integration_id, trigger)
        if start.refusal is not None:
            raise start.refusal
        return run

    def sync_now(self, integration_id: str, *, wait: bool = False) -> SyncRun:
        """Sync Now (manual; 30 a day, TW-05). ``wait``: run it and answer the finished run; else
        start it in a thread and answer the run as soon as it is open (status ``running``). Needs the
        "Billing Integration" permission (TW-26); automatic runs are the integration's own."""
        self.check_permission(self.repo.get_integration(integration_id))
        if wait:
            return self.run_sync(integration_id, trigger="manual")
        self.repo.get_integration(integration_id)
        start = _RunStart(new_id())
        thread = threading.Thread(target=self._background, args=(start, integration_id, "manual"),
                                  name=f"zlab-sync-{integration_id}", daemon=True)
        with self._threads_lock:
            self._threads.add(thread)
        thread.start()
        start.started.wait(timeout=60)
        if start.refusal is not None:
            raise start.refusal
        return self.repo.get_run(start.run_id)

    def _background(self, start: _RunStart, integration_id: str, trigger: str) -> None:
        try:
            self._run(start, integration_id, trigger)
        except Exception:  # noqa: BLE001 - logged; the run is marked failed by _run
            log.exception("background sync of %s failed", integration_id)
        finally:
            with self._threads_lock:
                self._threads.discard(threading.current_thread())

    def _run(self, start: _RunStart, integration_id: str, trigger: str) -> SyncRun:
        """The run, by the engine of the integration's kind, with the id and hooks of ``start``."""
        try:
            engine = self.engines.for_integration(self.repo.get_integration(integration_id))
            return engine.run(integration_id, trigger=trigger, run_id=start.run_id, hooks=start.hooks())
        except Exception as exc:
            # a bug or an unexpected error: close the run (and free the lock) instead of leaving
            # it "running" until its lease expires
            if start.opened:
                try:
                    self.repo.finish_run(start.run_id, status="failed",
                                         failure_reason=f"internal error: {type(exc).__name__}: {exc}")
                except StoreError:
                    pass
            raise
        finally:
            start.started.set()

    def run_view(self, run_id: str) -> dict[str, Any]:
        run = self.repo.get_run(run_id)
        return {"run": run, "stats": self.repo.run_stats(run_id)}

    def failure_modules(self, run_id: str) -> list[str]:
        """Modules of a run that have counts or failures."""
        modules = {s.module for s in self.repo.run_stats(run_id)}
        modules |= {f.module for f in self.repo.record_failures(run_id)}
        return sorted(modules)

    def failure_csv(self, run_id: str, name: str) -> tuple[str, str]:
        """``(filename, csv text)`` for ``<Module>FailureLogs.csv`` (or the module's own name)."""
        self.repo.get_run(run_id)
        for module in self.failure_modules(run_id):
            filename = failure_csv_filename(module)
            if name in (filename, module):
                return filename, self.repo.failure_csv(run_id, module)
        raise NotFound(f"Sync {run_id} has no module whose failure log is {name!r}; it has: "
                       f"{', '.join(failure_csv_filename(m) for m in self.failure_modules(run_id)) or 'none'}")

    # -- records (TW-24) ----------------------------------------------------------------------------
    def record(self, integration_id: str, fsm_module: str, fsm_id: str) -> tuple[Integration, RecordLink]:
        integ = self.repo.get_integration(integration_id)
        link = self.repo.link_by_fsm(integration_id, fsm_module, fsm_id)
        if link is None:
            raise NotFound(f"FSM {fsm_module} record {fsm_id} has not been synced by this integration")
        return integ, link

    # -- invoices and onboarding ------------------------------------------------------------------
    def invoice_for_work_order(self, integration_id: str, wo_id: str) -> dict[str, Any]:
        """TW-23: the Books/Invoice invoice of an FSM work order (its services and parts pushed
        first, TW-22); a second call answers the same invoice."""
        from .books_sync.invoices import InvoiceError, InvoiceWriter

        integ = self.repo.get_integration(integration_id)
        if integ.state != "enabled":
            raise IntegrationNotEnabled("Sync is not enabled for this integration")
        try:
            return InvoiceWriter(self.clients_for(integ), self.repo, integ).invoice_for_work_order(wo_id)
        except InvoiceError as exc:
            raise InvalidValue(exc.reason) from None

    def offered_orgs(self, *, client_id: str, client_secret: str, refresh_token: str, signup_email: str | None,
                     accounts_url: str | None = None, api_domain: str | None = None) -> list[dict[str, Any]]:
        """OB-01: the active Books/Invoice orgs of the signup account a new FSM org may integrate
        with (expired Books trials are not offered)."""
        from .books_sync.onboarding import offered_orgs

        self.check_zoho_urls(accounts_url, api_domain)
        auth = AccountsClient(accounts_url or self.config.accounts_url, client_id, client_secret, refresh_token,
                              clock=self.clock, timeout=ZOHO_TIMEOUT)
        domain = api_domain or None
        books = BooksClient(auth, "", product="books", api_domain=domain)
        invoice = BooksClient(auth, "", product="invoice", api_domain=domain)
        try:
            return [{"product": o.product, "organization_id": o.organization_id, "name": o.name, "email": o.email}
                    for o in offered_orgs(books, invoice, signup_email=signup_email)]
        finally:
            books.close()
            invoice.close()

    def record_by_books(self, integration_id: str, books_entity: str, books_id: str) -> tuple[Integration, RecordLink]:
        integ = self.repo.get_integration(integration_id)
        link = self.repo.link_by_partner(integration_id, books_entity, books_id)
        if link is None:
            raise NotFound(f"Books {books_entity} record {books_id} has not been synced by this integration")
        return integ, link

    def api_domain(self, integ: Integration) -> str:
        """Where links point: the integration's API domain, else its token's, else the lab's."""
        if integ.api_domain:
            return integ.api_domain
        fsm, _books = self.clients_for(integ)
        token = fsm.auth.token
        if token is not None:
            return token.api_domain.rstrip("/")
        return self.config.fakes_url or "https://www.zohoapis.com"

    def books_url(self, integ: Integration, entity: str, books_id: str) -> str:
        return (f"{self.api_domain(integ)}{BOOKS_ROOTS.get(integ.partner_product, '/books/v3')}/{entity}/{books_id}"
                f"?organization_id={integ.partner_org_id}")

    def fsm_url(self, integ: Integration, module: str, fsm_id: str) -> str:
        return f"{self.api_domain(integ)}/fsm/v1/{module}/{fsm_id}"


# -- validation shared by the service and the API ---------------------------------------------------
def check_email(value: Any) -> str:
    if not isinstance(value, str) or not all(EMAIL_RE.match(a.strip()) for a in value.split(",")):
        raise InvalidValue(f"notify_email must be an email address (or several, comma-separated); got {value!r}")
    return value


def check_mappings(mappings: Any) -> dict[str, list[dict[str, Any]]]:
    """``{"items": [{"fsm_field", "books_field", "direction"?, "fsm_module"?, "books_entity"?}], …}``."""
    if not isinstance(mappings, Mapping):
        raise InvalidValue('mappings must be an object: {"items": [{"fsm_field": …, "books_field": …}], …}')
    out: dict[str, list[dict[str, Any]]] = {}
    for module, rows in mappings.items():
        if module not in MAPPING_MODULES:
            raise InvalidValue(f"mappings: unknown module {module!r}; choose from {', '.join(MAPPING_MODULES)}")
        if not isinstance(rows, list):
            raise InvalidValue(f"mappings.{module} must be a list of field pairs")
        clean: list[dict[str, Any]] = []
        for i, row in enumerate(rows):
            where = f"mappings.{module}[{i}]"
            if not isinstance(row, Mapping):
                raise InvalidValue(f"{where} must be an object with fsm_field and books_field")
            unknown = set(row) - {"fsm_field", "books_field", "direction", "fsm_module", "books_entity"}
            if unknown:
                raise InvalidValue(f"{where}: unknown keys {', '.join(sorted(unknown))}")
            for key in ("fsm_field", "books_field"):
                if not isinstance(row.get(key), str) or not row[key].strip():
                    raise InvalidValue(f"{where}.{key} must be a non-empty string")
            for key in ("fsm_module", "books_entity"):
                if key in row and not isinstance(row[key], str):
                    raise InvalidValue(f"{where}.{key} must be a string")
            direction = row.get("direction", "both")
            if direction not in BOOKS_DIRECTIONS:
                raise InvalidValue(f"{where}.direction must be one of {', '.join(BOOKS_DIRECTIONS)}; got {direction!r}")
            clean.append({**row, "direction": direction})
        out[module] = clean
    return out


__all__ = ["EditionNotSupported", "ImportInProgress", "PermissionDenied", "SupportOnly", "SyncerService",
           "Unauthorized", "check_email", "check_mappings"]
