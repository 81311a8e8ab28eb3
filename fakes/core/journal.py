"""The request journal: the recent requests of every product, bounded.

Scenario reports show the journal of the failing tenant, so each entry keeps who (user, org),
what (method, path, query, a bounded body excerpt), the answer (status, excerpt) and any fault
that fired. Two keepers with one interface:

- ``Journal`` (embedded default, one process): in memory (a deque), no database write at all;
- ``SharedJournal`` (``zlab serve --workers N``): one journal for all the workers, in the
  database (table ``lab_journal``), so that any worker answers ``/_lab/journal`` with every
  worker's calls (issue 15). The hot path stays free of queries: a call's entry goes into its
  worker's buffer, and a background thread writes the buffer out in batches (one INSERT of
  many rows, and the oldest beyond the bound dropped). A journal read first makes sure nothing
  is left in any buffer: it writes its own worker's out, then waits for the other workers'
  writers, whose progress each worker publishes in a small file mapped into memory by every
  worker on the host (as the change stamp does, see change_stamp.py): ``buffered`` and
  ``written`` counts per worker, 8-byte writes to shared memory, no system call per request.
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import logging
import mmap
import os
import struct
import tempfile
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Column, Integer, String, Text, delete, func, insert, or_, select
from sqlalchemy.engine import make_url
from sqlmodel import Field, SQLModel

if TYPE_CHECKING:
    from .db import Database

log = logging.getLogger("zlab.fakes")

EXCERPT_BYTES = 2048


@dataclass
class Entry:
    id: int | None
    request_id: str
    time: str  # lab time, ISO 8601 UTC
    product: str
    method: str
    path: str
    query: str
    org_id: str | None = None
    user_id: str | None = None
    status: int | None = None
    duration_ms: float | None = None
    fault: str | None = None
    request_excerpt: str | None = None
    response_excerpt: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _matches(e: Entry, org_id: str | None, org_ids: set[str] | None, user_id: str | None,
             product: str | None, status: int | None) -> bool:
    if org_id and e.org_id != org_id:
        return False
    if org_ids is not None and e.org_id not in org_ids and e.user_id != user_id:
        return False
    if user_id and org_ids is None and e.user_id != user_id:
        return False
    if product and e.product != product:
        return False
    return status is None or e.status == status


class Journal:
    """In memory, one process (the embedded default)."""

    def __init__(self, maxlen: int = 5000) -> None:
        self._entries: deque[Entry] = deque(maxlen=maxlen)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def new_entry(self, **kw: Any) -> Entry:
        return Entry(id=next(self._ids), **kw)

    def record(self, entry: Entry) -> None:
        self._entries.append(entry)  # a bounded deque's append is atomic under the GIL

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def query(self, *, org_id: str | None = None, org_ids: set[str] | None = None,
              user_id: str | None = None, product: str | None = None, since_id: int = 0,
              limit: int = 100, status: int | None = None) -> list[Entry]:
        with self._lock:
            items = list(self._entries)
        out = []
        for e in reversed(items):  # newest first
            if e.id <= since_id:  # type: ignore[operator]
                break
            if not _matches(e, org_id, org_ids, user_id, product, status):
                continue
            out.append(e)
            if len(out) >= limit:
                break
        return out

    def close(self) -> None:
        pass


# -- the shared journal -------------------------------------------------------------------------------

class JournalRow(SQLModel, table=True):
    """One entry of the shared journal (``SharedJournal``); ids grow with every call written."""

    __tablename__ = "lab_journal"
    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    request_id: str = Field(sa_column=Column(String(200), nullable=False))
    time: str = Field(sa_column=Column(String(40), nullable=False))
    product: str = Field(sa_column=Column(String(20), nullable=False))
    method: str = Field(sa_column=Column(String(10), nullable=False))
    path: str = Field(sa_column=Column(Text, nullable=False))
    query: str = Field(sa_column=Column(Text, nullable=False))
    org_id: str | None = Field(default=None, sa_column=Column(String(40)))
    user_id: str | None = Field(default=None, sa_column=Column(String(40)))
    status: int | None = None
    duration_ms: float | None = None
    fault: str | None = Field(default=None, sa_column=Column(Text))
    request_excerpt: str | None = Field(default=None, sa_column=Column(Text))
    response_excerpt: str | None = Field(default=None, sa_column=Column(Text))
    extra: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


_COLUMNS = [c.key for c in JournalRow.__table__.c if c.key != "id"]  # type: ignore[attr-defined]


class WriterBoard:
    """Per worker on this host: how many entries it buffered and how many it has written out.

    A file of ``SLOTS`` slots mapped into memory by every worker on one database; a worker takes
    a free slot (or one of a dead process) once, under a file lock, and from then on writes only
    its own slot. A reader compares the counts to know which workers still hold entries."""

    SLOTS = 128
    SLOT = struct.Struct("<qqq")  # pid, buffered, written

    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            size = self.SLOTS * self.SLOT.size
            if os.fstat(fd).st_size < size:
                os.ftruncate(fd, size)
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        self._slot: int | None = None

    def claim(self) -> None:
        pid = os.getpid()
        with open(self.path, "rb") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                for i in range(self.SLOTS):
                    owner, _, _ = self.SLOT.unpack_from(self._map, i * self.SLOT.size)
                    if owner == pid or owner == 0 or not _alive(owner):
                        self.SLOT.pack_into(self._map, i * self.SLOT.size, pid, 0, 0)
                        self._slot = i
                        return
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
        log.warning("journal: no free writer slot in %s; reads may miss this worker's newest calls", self.path)

    def publish(self, buffered: int, written: int) -> None:
        if self._slot is not None:
            self.SLOT.pack_into(self._map, self._slot * self.SLOT.size, os.getpid(), buffered, written)

    def behind(self) -> dict[int, int]:
        """Other live workers that have buffered more than they wrote: pid -> their buffered count."""
        me = os.getpid()
        out = {}
        for i in range(self.SLOTS):
            pid, buffered, written = self.SLOT.unpack_from(self._map, i * self.SLOT.size)
            if pid and pid != me and written < buffered and _alive(pid):
                out[pid] = buffered
        return out

    def written(self, pid: int) -> int:
        for i in range(self.SLOTS):
            owner, _, written = self.SLOT.unpack_from(self._map, i * self.SLOT.size)
            if owner == pid:
                return written
        return 1 << 62  # gone: nothing to wait for

    def release(self) -> None:
        if self._slot is not None:
            self.SLOT.pack_into(self._map, self._slot * self.SLOT.size, 0, 0, 0)
            self._slot = None

    def close(self) -> None:
        self.release()
        self._map.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def board_path(db_url: str) -> Path:
    url = make_url(db_url)
    ident = str(Path(url.database).resolve()) if url.get_backend_name() == "sqlite" and url.database else \
        url.render_as_string(hide_password=False)
    return Path(tempfile.gettempdir()) / ("zlab-journal-" + hashlib.sha256(ident.encode()).hexdigest()[:24])


class SharedJournal(Journal):
    """One journal for every worker on one database (see the module's docstring)."""

    # s the writer waits after a wake-up, so that it writes in batches: a write (a transaction)
    # costs ~50x an entry's share of it; a read writes and waits for every buffer anyway
    FLUSH_DELAY = 0.05
    WAIT_OTHERS = 3.0  # s a reader waits at most for another worker's writer

    def __init__(self, db: Database, maxlen: int = 5000) -> None:
        self.db = db
        self.maxlen = maxlen
        self._buffer: deque[Entry] = deque()
        self._buffered = 0
        self._written = 0
        self._flush_lock = threading.Lock()
        # guards the counts and their publication: the board's counts only ever grow, and a
        # worker's ``buffered`` covers every entry appended before it was published
        self._count_lock = threading.Lock()
        self._wake = threading.Event()
        self._since_trim = 0  # entries written since the oldest were last dropped
        self._pid = 0  # the process whose counts these are
        self._writer_pid = 0  # the process whose writer thread runs (0: none)
        self._closed = False
        try:
            self.board: WriterBoard | None = WriterBoard(board_path(db.url))
        except (OSError, ValueError) as exc:
            log.warning("journal: no writer board (%s): a read may miss other workers' newest calls", exc)
            self.board = None

    def new_entry(self, **kw: Any) -> Entry:
        return Entry(id=None, **kw)  # the database gives the id when it is written

    def record(self, entry: Entry) -> None:
        with self._count_lock:
            if self._writer_pid != os.getpid():
                self._start_writer()
            self._buffer.append(entry)
            self._buffered += 1
            if self.board is not None:
                self.board.publish(self._buffered, self._written)
        self._wake.set()

    IDLE_EXIT = 30.0  # s without a call after which the writer thread ends (the next call starts one)

    def _start_writer(self) -> None:
        """Under ``_count_lock``. A new process (gunicorn forks workers after the app is built)
        starts its counts afresh in a slot of its own."""
        pid = os.getpid()
        if self._pid != pid:
            self._pid = pid
            self._buffered = self._written = 0
            self._buffer.clear()  # entries of the parent are the parent's to write
            if self.board is not None:
                self.board.claim()
        self._writer_pid = pid
        threading.Thread(target=self._writer, name="zlab-journal", daemon=True).start()

    def _writer(self) -> None:
        idle = 0.0
        while not self._closed:
            if not self._wake.wait(1.0):
                idle += 1.0
                with self._count_lock:
                    if idle >= self.IDLE_EXIT and not self._buffer:
                        self._writer_pid = 0  # the next record() starts a writer again
                        return
                continue
            idle = 0.0
            self._wake.clear()
            time.sleep(self.FLUSH_DELAY)
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the journal must never stop the fake; try again next time
                log.exception("journal: writing entries failed")
                time.sleep(0.5)
                self._wake.set()

    def flush(self) -> None:
        """Write this worker's buffered entries out (one transaction), dropping the oldest rows
        beyond the bound."""
        with self._flush_lock:
            with self._count_lock:
                batch = list(self._buffer)
                self._buffer.clear()
            if not batch:
                return
            table = JournalRow.__table__  # type: ignore[attr-defined]
            rows = [{k: getattr(e, k) for k in _COLUMNS} for e in batch]
            self._since_trim += len(batch)
            trim = self._since_trim >= max(1, self.maxlen // 10)  # reads apply the bound exactly
            with self.db.engine.begin() as conn:
                conn.execute(insert(table), rows)
                if trim:
                    newest = conn.execute(select(func.max(table.c.id))).scalar() or 0
                    if newest > self.maxlen:
                        conn.execute(delete(table).where(table.c.id <= newest - self.maxlen))
            if trim:
                self._since_trim = 0
            with self._count_lock:
                self._written += len(batch)
                if self.board is not None:
                    self.board.publish(self._buffered, self._written)

    def settle(self) -> None:
        """Everything recorded so far by any worker on this host is in the table: write this
        worker's buffer, then wait (a bounded time) for the other workers' writers."""
        self.flush()
        if self.board is None:
            return
        waiting = self.board.behind()
        deadline = time.monotonic() + self.WAIT_OTHERS
        while waiting and time.monotonic() < deadline:
            time.sleep(0.002)
            waiting = {pid: n for pid, n in waiting.items() if self.board.written(pid) < n}
        if waiting:
            log.warning("journal: workers %s did not write their entries within %.0f s",
                        sorted(waiting), self.WAIT_OTHERS)

    def clear(self) -> None:
        self.settle()
        with self.db.engine.begin() as conn:
            conn.execute(delete(JournalRow.__table__))  # type: ignore[attr-defined]

    def query(self, *, org_id: str | None = None, org_ids: set[str] | None = None,
              user_id: str | None = None, product: str | None = None, since_id: int = 0,
              limit: int = 100, status: int | None = None) -> list[Entry]:
        self.settle()
        t = JournalRow.__table__.c  # type: ignore[attr-defined]
        newest = select(func.max(t.id)).scalar_subquery()
        q = select(JournalRow.__table__).where(  # type: ignore[attr-defined]
            t.id > since_id, t.id > newest - self.maxlen)  # the bound, exactly, between two trims
        if org_id:
            q = q.where(t.org_id == org_id)
        if org_ids is not None:
            q = q.where(or_(t.org_id.in_(sorted(org_ids)), t.user_id == user_id) if org_ids else t.user_id == user_id)
        elif user_id:
            q = q.where(t.user_id == user_id)
        if product:
            q = q.where(t.product == product)
        if status is not None:
            q = q.where(t.status == status)
        with self.db.engine.connect() as conn:
            rows = conn.execute(q.order_by(t.id.desc()).limit(limit)).mappings().all()
        return [Entry(**dict(r)) for r in rows]

    def close(self) -> None:
        """Write what is left and stop the writer (the app's end)."""
        self._closed = True
        self._wake.set()
        try:
            if self._pid == os.getpid():
                self.flush()
        except Exception:  # noqa: BLE001 - closing: nothing more to do
            log.exception("journal: last write failed")
        if self.board is not None and self._pid == os.getpid():
            self.board.release()


def excerpt(data: bytes | str | None) -> str | None:
    if not data:
        return None
    if isinstance(data, bytes):
        data = data[:EXCERPT_BYTES].decode("utf-8", "replace")
    return data[:EXCERPT_BYTES]
