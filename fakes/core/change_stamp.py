"""A change stamp every worker process on one host sees at once, for the caches of the hot path.

With ``zlab serve --workers N`` each worker keeps the lab clock, the fault rules, access tokens
and orgs in memory, so that a request costs no query for them. A change made through one worker
(a token revoked, the clock advanced, an org deactivated, a fault added, a reset or restore) must
reach the others before their next request, or a revoked or expired token keeps working there.
The worker that made the change writes a fresh random stamp into an 8-byte file mapped into
memory by every worker on the same database; each request compares it with the stamp it last
saw (an 8-byte read of shared memory: no system call, no query) and, when it differs, re-reads
the clock and faults and drops its token and org caches. Workers share a host (gunicorn forks
them), so the file lives in the temporary directory, named after the database.

Several ``zlab serve`` processes on different hosts sharing one PostgreSQL do not share the file:
there the periodic re-read (``Lab.CACHE_SECONDS``) stays the bound.
"""

from __future__ import annotations

import hashlib
import logging
import mmap
import os
import secrets
import tempfile
from pathlib import Path

from sqlalchemy.engine import make_url

log = logging.getLogger("zlab.fakes")

SIZE = 8


def stamp_path(db_url: str) -> Path:
    """One file per database: SQLite by its absolute path, others by their URL."""
    url = make_url(db_url)
    ident = str(Path(url.database).resolve()) if url.get_backend_name() == "sqlite" and url.database else \
        url.render_as_string(hide_password=False)
    name = "zlab-state-" + hashlib.sha256(ident.encode()).hexdigest()[:24]
    return Path(tempfile.gettempdir()) / name


class ChangeStamp:
    def __init__(self, path: Path) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < SIZE:
                os.ftruncate(fd, SIZE)  # several workers may do this at once: same size, same zeros
            self._map = mmap.mmap(fd, SIZE)
        finally:
            os.close(fd)

    def read(self) -> bytes:
        return self._map[:SIZE]

    def bump(self) -> None:
        """A new stamp, never a counter: two workers bumping at once cannot write the same value."""
        self._map[:SIZE] = secrets.token_bytes(SIZE)

    def close(self) -> None:
        self._map.close()


def open_stamp(db_url: str) -> ChangeStamp | None:
    try:
        return ChangeStamp(stamp_path(db_url))
    except (OSError, ValueError) as exc:
        log.warning("no shared change stamp (%s): workers see each other's changes only at their "
                    "periodic re-read", exc)
        return None
