"""The one protocol every sync engine offers, and the registry the service, scheduler and API
dispatch through by ``Integration.kind`` without knowing which engine they talk to.

    engines = EngineRegistry([SyncEngine(repo, clients=..., mailer=...)])   # kind "books"
    run = engines.for_integration(integ).run(integ.id, trigger="manual", run_id=new_id())

The run id and the callbacks are passed explicitly: the caller chooses the id (so Sync Now can
answer with it before the run ends) and learns through ``RunHooks`` the moment the run opened,
or the exact refusal (``SyncInProgress``, ``ManualSyncLimitReached``, …) when it could not.
``open_run`` does that part for every engine.

The scheduler starts the ``auto`` runs of every kind that are due (``Repo.due_integrations``:
``next_auto_sync_at`` passed; an engine whose integrations need no such runs leaves it empty)
and calls each engine's ``tick(now)`` for any other periodic work of its kind.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Protocol, runtime_checkable

from ..store.errors import InvalidValue, Refused
from ..store.models import Integration, SyncRun
from ..store.repo import Repo


@dataclass
class RunHooks:
    """Callbacks of one run: ``started(run)`` once the run is open (its lock taken), or
    ``refused(exc)`` when it may not start (a refused run is recorded all the same)."""

    started: Callable[[SyncRun], None] | None = None
    refused: Callable[[Refused], None] | None = None


@runtime_checkable
class Engine(Protocol):
    kind: ClassVar[str]  # "books" | "crm": the Integration.kind it syncs

    def run(self, integration_id: str, *, trigger: str, run_id: str | None = None,
            hooks: RunHooks | None = None) -> SyncRun:
        """One run, start to end; answers the finished (or refused) run. Never raises a refusal:
        it is recorded as a ``refused`` run and reported through ``hooks.refused``."""
        ...

    def tick(self, now: datetime) -> None:
        """The scheduler's periodic work for this kind (besides the due ``auto`` runs)."""
        ...


def open_run(repo: Repo, integration_id: str, *, trigger: str, run_id: str | None,
             hooks: RunHooks | None) -> tuple[SyncRun, bool]:
    """Take the integration's lock and open the run (``Repo.start_run``): ``(run, True)``. When it
    may not start (another run, TW-09; not enabled; the manual limit, TW-05): the refused run is
    recorded, ``hooks.refused`` told, and ``(refused run, False)`` answered."""
    hooks = hooks or RunHooks()
    try:
        run = repo.start_run(integration_id, trigger, run_id=run_id)
    except Refused as exc:
        if hooks.refused is not None:
            hooks.refused(exc)
        return repo.record_refused_run(integration_id, trigger, str(exc)), False
    if hooks.started is not None:
        hooks.started(run)
    return run, True


class EngineRegistry(Mapping[str, Engine]):
    """The engines by kind: ``registry[kind]`` or ``registry.for_integration(integ)``."""

    def __init__(self, engines: Iterable[Engine] = ()) -> None:
        self._engines: dict[str, Engine] = {}
        for engine in engines:
            self.register(engine)

    def register(self, engine: Engine) -> Engine:
        if engine.kind in self._engines:
            raise ValueError(f"an engine for kind {engine.kind!r} is registered already")
        self._engines[engine.kind] = engine
        return engine

    def __getitem__(self, kind: str) -> Engine:
        try:
            return self._engines[kind]
        except KeyError:
            raise InvalidValue(f"No sync engine for integrations of kind {kind!r}; "
                               f"known: {', '.join(sorted(self._engines)) or 'none'}") from None

    def __contains__(self, kind: object) -> bool:
        return kind in self._engines

    def get(self, kind: str, default: Engine | None = None) -> Engine | None:  # type: ignore[override]
        return self._engines.get(kind, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._engines)

    def __len__(self) -> int:
        return len(self._engines)

    def for_integration(self, integration: Integration) -> Engine:
        return self[integration.kind]
