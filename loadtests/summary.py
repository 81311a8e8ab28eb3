"""Our summary of a Locust run: per-second throughput and latency percentiles, errors by status
code with the planned bad requests apart, written as JSON and as one self-contained HTML page
(inline SVG charts, no scripts) that a person would rather look at than Locust's tables.

A locustfile calls ``register_listeners()``: every request lands in
a one-second bucket; in distributed mode workers ship their buckets with each report to the
master, which merges them. When the run ends, the master (or the single process) writes
``zlab-summary.json`` into ``$ZLAB_REPORT_DIR`` (default: the current directory);
``zlab loadtest`` then renders ``summary.html`` from it with ``render_html``.
"""

from __future__ import annotations

import html
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

SUMMARY_JSON = "zlab-summary.json"


class Buckets:
    """Per-second counts and response times; planned bad requests counted apart."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.data: dict[int, dict[str, Any]] = {}

    def add(self, second: int, ms: float, status: int | None, planned: bool, failed: bool) -> None:
        with self.lock:
            b = self.data.setdefault(second, {"n": 0, "ms": [], "codes": {}, "planned": {}, "unplanned": {}})
            b["n"] += 1
            b["ms"].append(round(ms, 2))
            code = str(status or 0)
            b["codes"][code] = b["codes"].get(code, 0) + 1
            if planned:
                b["planned"][code] = b["planned"].get(code, 0) + 1
            elif failed:
                b["unplanned"][code] = b["unplanned"].get(code, 0) + 1

    def take(self) -> dict[int, dict[str, Any]]:
        with self.lock:
            out, self.data = self.data, {}
        return out

    def merge(self, other: dict[Any, dict[str, Any]]) -> None:
        with self.lock:
            for sec, ob in other.items():
                b = self.data.setdefault(int(sec), {"n": 0, "ms": [], "codes": {}, "planned": {}, "unplanned": {}})
                b["n"] += ob["n"]
                b["ms"].extend(ob["ms"])
                for key in ("codes", "planned", "unplanned"):
                    for code, n in ob[key].items():
                        b[key][code] = b[key].get(code, 0) + n


BUCKETS = Buckets()
WORKERS: set[str] = set()  # Locust workers that reported to this master
EXTRA: dict[str, Any] = {}  # what a locustfile adds to the summary (the ceiling run: its phases)


def register_listeners() -> None:
    """Called by the locustfiles only: importing locust monkey-patches the process (gevent), so
    the CLI and the tests that render pages import this module without it."""
    from locust import events
    from locust.runners import MasterRunner, WorkerRunner

    @events.request.add_listener
    def on_request(request_type, name, response_time, response_length, response=None, context=None,
                   exception=None, **_kw) -> None:
        status = getattr(response, "status_code", None)
        planned = bool(context and context.get("planned"))
        BUCKETS.add(int(time.time()), float(response_time or 0), status, planned, exception is not None)

    @events.report_to_master.add_listener
    def on_report(client_id, data) -> None:
        data["zlab_buckets"] = BUCKETS.take()

    @events.worker_report.add_listener
    def on_worker_report(client_id, data) -> None:
        WORKERS.add(client_id)
        BUCKETS.merge(data.get("zlab_buckets") or {})

    @events.quitting.add_listener
    def on_quitting(environment, **_kw) -> None:
        if isinstance(environment.runner, WorkerRunner):
            return
        stats = environment.stats.total
        out = Path(os.environ.get("ZLAB_REPORT_DIR", "."))
        out.mkdir(parents=True, exist_ok=True)
        workers = len(WORKERS) if isinstance(environment.runner, MasterRunner) else 0
        write_summary(out / SUMMARY_JSON, BUCKETS.take(), {
            "requests": stats.num_requests, "failures": stats.num_failures,
            "workers": workers, "host": environment.host, **EXTRA,
        })


def write_summary(path: Path, buckets: dict[int, dict[str, Any]], info: dict[str, Any]) -> dict[str, Any]:
    series = []
    codes: dict[str, int] = {}
    planned: dict[str, int] = {}
    unplanned: dict[str, int] = {}
    start = min(buckets) if buckets else 0
    for sec in sorted(buckets):
        b = buckets[sec]
        ms = sorted(b["ms"])
        series.append({"t": sec - start, "rps": b["n"], "p50": _pct(ms, 50), "p95": _pct(ms, 95), "p99": _pct(ms, 99)})
        for src, dst in ((b["codes"], codes), (b["planned"], planned), (b["unplanned"], unplanned)):
            for code, n in src.items():
                dst[code] = dst.get(code, 0) + n
    all_ms = sorted(v for b in buckets.values() for v in b["ms"])
    summary = {**info, "series": series, "status_codes": codes, "planned_errors": planned,
               "unplanned_errors": unplanned,
               "latency_ms": {"p50": _pct(all_ms, 50), "p95": _pct(all_ms, 95), "p99": _pct(all_ms, 99)},
               "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path.write_text(json.dumps(summary, indent=1))
    return summary


def _pct(sorted_ms: list[float], p: int) -> float:
    if not sorted_ms:
        return 0.0
    i = min(len(sorted_ms) - 1, max(0, round(p / 100 * len(sorted_ms)) - 1))
    return sorted_ms[i]


# -- the page --------------------------------------------------------------------------------------------
W, H, PAD = 720, 220, 44
COLORS = {"rps": "#2563eb", "p50": "#16a34a", "p95": "#d97706", "p99": "#dc2626"}


def _line_chart(title: str, series: list[dict[str, Any]], keys: tuple[str, ...], unit: str) -> str:
    if not series:
        return f'<figure class="chart"><figcaption>{html.escape(title)}</figcaption><p>no data</p></figure>'
    tmax = max(s["t"] for s in series) or 1
    vmax = max(max(s[k] for s in series) for k in keys) or 1
    x = lambda t: PAD + (W - 2 * PAD) * t / tmax  # noqa: E731
    y = lambda v: H - PAD + (2 * PAD - H) * v / vmax  # noqa: E731
    parts = [f'<svg class="chart" role="img" aria-label="{html.escape(title)}" viewBox="0 0 {W} {H}" '
             f'width="{W}" height="{H}" xmlns="http://www.w3.org/2000/svg">',
             f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - PAD}" y2="{H - PAD}" stroke="#888"/>',
             f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{H - PAD}" stroke="#888"/>',
             f'<text x="{PAD - 6}" y="{PAD + 4}" text-anchor="end" font-size="11">{vmax:,.0f}</text>',
             f'<text x="{PAD - 6}" y="{H - PAD + 4}" text-anchor="end" font-size="11">0</text>',
             f'<text x="{W - PAD}" y="{H - PAD + 16}" text-anchor="end" font-size="11">{tmax} s</text>',
             f'<text x="{PAD}" y="{H - PAD + 16}" font-size="11">0 s</text>',
             f'<text x="{PAD}" y="{PAD - 10}" font-size="11">{html.escape(unit)}</text>']
    for i, k in enumerate(keys):
        pts = " ".join(f"{x(s['t']):.1f},{y(s[k]):.1f}" for s in series)
        parts.append(f'<polyline class="series-{k}" fill="none" stroke="{COLORS.get(k, "#333")}" stroke-width="2" '
                     f'points="{pts}"/>')
        parts.append(f'<text x="{W - PAD - 60 * (len(keys) - i)}" y="{PAD - 10}" font-size="12" '
                     f'fill="{COLORS.get(k, "#333")}">{k}</text>')
    parts.append("</svg>")
    return f'<figure><figcaption>{html.escape(title)}</figcaption>{"".join(parts)}</figure>'


def _bar_chart(title: str, bars: list[tuple[str, float, str]], unit: str = "") -> str:
    if not bars:
        return f'<figure><figcaption>{html.escape(title)}</figcaption><p class="none">none</p></figure>'
    vmax = max(v for _, v, _ in bars) or 1
    row_h = 26
    height = row_h * len(bars) + 10
    parts = [f'<svg class="chart" role="img" aria-label="{html.escape(title)}" viewBox="0 0 {W} {height}" '
             f'width="{W}" height="{height}" xmlns="http://www.w3.org/2000/svg">']
    for i, (label, v, color) in enumerate(bars):
        w = (W - 280) * v / vmax
        yy = 5 + i * row_h
        parts.append(f'<text x="170" y="{yy + 16}" text-anchor="end" font-size="12">{html.escape(label)}</text>')
        parts.append(f'<rect x="180" y="{yy}" width="{max(w, 1):.1f}" height="{row_h - 8}" fill="{color}"/>')
        shown = f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"
        parts.append(f'<text x="{186 + w:.1f}" y="{yy + 14}" font-size="12">{shown}{html.escape(unit)}</text>')
    parts.append("</svg>")
    return f'<figure><figcaption>{html.escape(title)}</figcaption>{"".join(parts)}</figure>'


def render_html(summary: dict[str, Any], title: str = "Load test") -> str:
    s = summary
    series = s.get("series", [])
    lat = s.get("latency_ms", {})
    planned = s.get("planned_errors", {})
    unplanned = s.get("unplanned_errors", {})
    err_bars = [(f"planned {code}", n, "#9ca3af") for code, n in sorted(planned.items())]
    err_bars += [(f"UNPLANNED {code}", n, "#dc2626") for code, n in sorted(unplanned.items())]
    if unplanned or s.get("failures"):
        verdict = f"{sum(unplanned.values())} unplanned errors, {s.get('failures', 0)} Locust failures"
    else:
        verdict = "only the planned bad requests" if planned else "none"
    dur = max((p["t"] for p in series), default=0) + 1
    cards = [("requests", f"{s.get('requests', 0):,}"), ("duration", f"{dur} s"),
             ("mean throughput", f"{s.get('requests', 0) / dur:,.0f} req/s"),
             ("p50 / p95 / p99", f"{lat.get('p50', 0):.0f} / {lat.get('p95', 0):.0f} / {lat.get('p99', 0):.0f} ms"),
             ("errors", verdict)]
    if s.get("workers"):
        cards.append(("Locust workers", str(s["workers"])))
    body = [f"<h1>{html.escape(title)}</h1>",
            f'<p class="meta">target {html.escape(str(s.get("host", "")))} · written {html.escape(s.get("written", ""))}</p>',
            '<div class="cards">' + "".join(f'<div class="card"><div class="k">{html.escape(k)}</div>'
                                           f'<div class="v">{html.escape(v)}</div></div>' for k, v in cards) + "</div>"]
    phases = s.get("phases")
    if phases:  # the ceiling run
        outcome = s.get("outcome", {})
        body.append(f'<h2>Ceiling run: {html.escape(str(outcome.get("summary", "")))}</h2>')
        body.append(_bar_chart("Phase durations", [(p["name"], p["seconds"], "#2563eb") for p in phases], " s"))
        body.append(_bar_chart("API calls per phase", [(p["name"], p.get("calls", 0), "#7c3aed") for p in phases]))
    body.append(_line_chart("Throughput over time", series, ("rps",), "requests / s"))
    body.append(_line_chart("Latency over time (p50, p95, p99)", series, ("p50", "p95", "p99"), "ms"))
    body.append(_bar_chart("Errors by status code (planned bad requests in grey, unplanned in red)", err_bars))
    codes = s.get("status_codes", {})
    body.append("<h2>All answers by status</h2><table><tr><th>status</th><th>count</th></tr>" + "".join(
        f"<tr><td>{html.escape(c)}</td><td>{n:,}</td></tr>" for c, n in sorted(codes.items())) + "</table>")
    style = ("body{font-family:system-ui,sans-serif;margin:24px;color:#111;max-width:800px}"
             ".meta{color:#555}.cards{display:flex;flex-wrap:wrap;gap:10px;margin:16px 0}"
             ".card{border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:140px}"
             ".k{font-size:12px;color:#555}.v{font-size:18px;font-weight:600}"
             "figure{margin:18px 0}figcaption{font-weight:600;margin-bottom:4px}"
             "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 10px;text-align:right}")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>")
