"""A small HTTP/1.1 load generator: asyncio, keep-alive connections, pre-built requests.

Why not httpx or Locust for ``zlab bench``: on a 2-core machine the load generator shares the
CPU with the server it measures, so it must spend as little as possible per request. This one
writes pre-encoded request bytes and reads each answer by its ``Content-Length`` (or chunks):
one event-loop process does tens of thousands of requests a second, where an httpx client does
a few thousand. It speaks only what our servers answer (HTTP/1.1, keep-alive) and counts
statuses; it is not a general client.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# the {n} of varying bodies: unique across runs of one process and, by starting at the clock,
# across processes writing to the same database
_SEQ = itertools.count(int(time.time() * 1000))


@dataclass
class RequestSpec:
    method: str
    url: str  # absolute: http://host:port/path?query
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @property
    def varies(self) -> bool:
        """A body holding ``{n}`` gets a new number in each request (unique names for creates)."""
        return b"{n}" in self.body

    def encode(self) -> tuple[str, int, bytes]:
        parts = urlsplit(self.url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        lines = [f"{self.method} {target} HTTP/1.1", f"Host: {host}:{port}", "Connection: keep-alive"]
        lines += [f"{k}: {v}" for k, v in self.headers.items()]
        head = "\r\n".join(lines).encode("latin-1")
        if self.varies:  # the worker adds Content-Length and the body per request
            return host, port, head
        if self.body or self.method in ("POST", "PUT", "PATCH"):
            head += f"\r\nContent-Length: {len(self.body)}".encode()
        return host, port, head + b"\r\n\r\n" + self.body


@dataclass
class LoadResult:
    requests: int
    seconds: float
    statuses: dict[int, int]
    errors: int  # connection errors (resets, time-outs)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> int:
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300)


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one response; return (status, keep-alive)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked, close = 0, False, False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == b"connection" and value.strip().lower() == b"close":
            close = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status, not close


async def _worker(spec: tuple[str, int, bytes], body: bytes | None, deadline: float, statuses: Counter,
                  counts: list[int], max_requests: int | None) -> None:
    host, port, payload = spec
    reader = writer = None
    while time.perf_counter() < deadline and (max_requests is None or counts[0] < max_requests):
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            if body is not None:
                data = body.replace(b"{n}", str(next(_SEQ)).encode())
                writer.write(payload + b"\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
            else:
                writer.write(payload)
            status, keep = await asyncio.wait_for(_read_response(reader), timeout=30)
            statuses[status] += 1
            counts[0] += 1
            if not keep:
                writer.close()
                writer = None
        except (TimeoutError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            counts[1] += 1
            if writer is not None:
                writer.close()
            writer = None
            await asyncio.sleep(0.01)
    if writer is not None:
        writer.close()


async def _run(request: RequestSpec, connections: int, seconds: float, max_requests: int | None) -> LoadResult:
    spec = request.encode()
    statuses: Counter = Counter()
    counts = [0, 0]  # requests answered, connection errors
    body = request.body if request.varies else None
    start = time.perf_counter()
    await asyncio.gather(*(_worker(spec, body, start + seconds, statuses, counts, max_requests)
                           for _ in range(connections)))
    return LoadResult(counts[0], time.perf_counter() - start, dict(statuses), counts[1])


def run_load(request: RequestSpec, *, connections: int = 16, seconds: float = 5.0,
             max_requests: int | None = None) -> LoadResult:
    """Send ``request`` over ``connections`` keep-alive connections for ``seconds`` (or until
    ``max_requests`` answers) and count what came back."""
    return asyncio.run(_run(request, connections, seconds, max_requests))
