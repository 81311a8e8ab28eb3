"""``zlab bench``: benchmarks whose numbers people quote (never asserted by timed tests)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)  # a wide table in logs too
err = Console(stderr=True, highlight=False)


@click.group()
def bench() -> None:
    """Benchmarks: the fakes' throughput beside a hello and peers; the syncer's cost."""


@bench.command("fakes")
@click.option("--seconds", default=5.0, show_default=True, type=click.FloatRange(0.1, 600),
              help="Length of each measurement.")
@click.option("--rounds", default=3, show_default=True, type=click.IntRange(1, 50),
              help="Rounds over all targets (alternating); figures are medians.")
@click.option("--connections", default=16, show_default=True, type=click.IntRange(1, 1024),
              help="Keep-alive connections of the load generator.")
@click.option("--workers", default=None, type=click.IntRange(1, 128),
              help="gunicorn workers of every server (default: as `zlab serve` chooses).")
@click.option("--threads", default=None, type=click.IntRange(1, 512), help="Threads per worker (default: as `zlab serve`).")
@click.option("--db", "db_url", metavar="URL", help="The fakes' database (default: a fresh SQLite file).")
@click.option("--only", multiple=True, metavar="PRODUCT",
              type=click.Choice(["crm record", "fsm record", "books contact", "books item", "invoice"]),
              help="Bench only these products (repeatable).")
@click.option("--moto/--no-moto", default=True, show_default=True, help="Measure moto's server as a peer when installed.")
@click.option("--posts/--no-posts", default=True, show_default=True, help="Measure single-record creates too.")
@click.option("--json", "json_path", default=".zlab/reports/bench-fakes.json", show_default=True,
              type=click.Path(dir_okay=False), help="Where to write the results.")
def bench_fakes(seconds: float, rounds: int, connections: int, workers: int | None, threads: int | None,
                db_url: str | None, only: tuple[str, ...], moto: bool, posts: bool, json_path: str) -> None:
    """Single-record GET and POST of every product beside a Flask hello, a one-query SQLModel GET
    and peer mocks, all under the same gunicorn shape, in alternating rounds."""
    from zlab.server import serve_shape

    from .fakes_bench import BenchConfig, run_bench

    workers, threads, _ = serve_shape(workers, threads)
    cfg = BenchConfig(seconds=seconds, rounds=rounds, connections=connections, workers=workers, threads=threads,
                      db_url=db_url, only=only, moto=moto, posts=posts)
    with err.status("starting") as status:
        result = run_bench(cfg, progress=lambda m: status.update(m))
    print_fakes_table(result)
    path = Path(json_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    out.print(f"results: {path}")


def _x(v: Any) -> str:
    return "-" if v is None else f"{v:.2f}x"


def print_fakes_table(result: dict[str, Any], console: Console = out) -> None:
    cfg = result["config"]
    peers = result["peers"]
    t = Table(title=f"zlab bench fakes: {cfg['workers']} workers x {cfg['threads']} threads, {cfg['connections']} "
                    f"connections, {cfg['rounds']} rounds of {cfg['seconds']:g} s (medians)",
              box=box.SIMPLE_HEAVY)
    t.add_column("target")
    t.add_column("GET req/s", justify="right")
    t.add_column("x hello", justify="right")
    for p in peers:
        t.add_column(f"x {p.removeprefix('peer: ')}", justify="right")
    t.add_column("GET req/CPU-s (x hello)", justify="right")
    t.add_column("rounds", justify="right")
    t.add_column("POST req/s (x hello)", justify="right")
    for row in result["targets"]:
        g, p = row.get("get"), row.get("post")
        cells = [row["name"]]
        if g:
            stall = f" [red]stall r{','.join(map(str, g['stalls']))}[/]" if g["stalls"] else ""
            cells += [f"{g['median']:,.0f}", _x(g["ratios"]["hello"]), *[_x(g["ratios"].get(pe)) for pe in peers],
                      f"{g['median_per_cpu']:,.0f} ({_x(g['cpu_ratio_hello'])})",
                      " ".join(f"{v:,.0f}" for v in g["rounds"]) + stall]
        else:
            cells += ["-"] * (4 + len(peers))
        cells.append(f"{p['median']:,.0f} ({_x(p['ratios']['hello'])})" if p else "-")
        t.add_row(*cells)
    console.print(t)
    for note in result["notes"]:
        console.print(f"note: {note}")
    acc = result["acceptance"]
    console.print(f"single-record GETs >= 0.5x hello: {acc['get_at_least_half_hello']}; "
                  f"no GET round below 0.8x its median: {acc['no_get_stalls']}; "
                  f"only 2xx answers: {acc['no_unexpected_answers']}")


@bench.command("sync")
@click.option("--records", default=10_000, show_default=True, type=click.IntRange(1, 100_000),
              help="Customers and items (each) of the org the full sync reads.")
@click.option("--changes", default=10, show_default=True, type=click.IntRange(1, 1000),
              help="Items, and customers, changed before each incremental sync.")
@click.option("--small", default=100, show_default=True, type=click.IntRange(1, 100_000),
              help="Size of the second org the incremental sync is measured at.")
@click.option("--json", "json_path", default=".zlab/reports/bench-sync.json", show_default=True,
              type=click.Path(dir_okay=False), help="Where to write the results.")
def bench_sync(records: int, changes: int, small: int, json_path: str) -> None:
    """A full initial sync of N customers + N items (calls vs the minimum, wall time, the syncer's
    CPU share and peak memory), and k changes synced at two org sizes."""
    from .sync_bench import run_sync_bench

    with err.status("starting") as status:
        result = run_sync_bench(records, changes, small, progress=lambda m: status.update(m))
    print_sync_table(result)
    path = Path(json_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2))
    out.print(f"results: {path}")


def _write_calls(inc: dict[str, Any]) -> str:
    return f"{inc['fsm_item_write_calls']}, {inc.get('fsm_customer_write_calls', 0)}"


def print_sync_table(result: dict[str, Any], console: Console = out) -> None:
    """Each org's full sync, its settle run and its k changes (calls next to the minimum), then
    the calls of the two incremental runs per endpoint, side by side."""
    t = Table(title=f"zlab bench sync: {result['records']:,} and {result['small']:,} customers + items each",
              box=box.SIMPLE_HEAVY)
    for col in ("org", "run", "status", "API calls", "minimum", "wall s", "syncer CPU share", "peak RSS MiB"):
        t.add_column(col, justify="left" if col in ("org", "run") else "right")
    for size, runs in result["sizes"].items():
        full, settle, inc = runs["full"], runs["settle"], runs["incremental"]
        org = f"{int(size):,}"
        t.add_row(org, "full initial", str(full["status"]), f"{full['calls']:,}", f"{full['minimum_calls']:,}",
                  f"{full['seconds']:.1f}", str(full["syncer_cpu_share"]), str(full["syncer_peak_rss_mb"]))
        t.add_row(org, "settle (no changes)", str(settle["status"]), f"{settle['calls']:,}", "-",
                  f"{settle['seconds']:.1f}", str(settle["syncer_cpu_share"]), "-")
        changed = f"{inc['changed']} changed items + {inc.get('changed_customers', 0)} customers"
        t.add_row(org, changed, str(inc["status"]), f"{inc['calls']:,}", "-",
                  f"{inc['seconds']:.1f}", str(inc["syncer_cpu_share"]), "-")
    console.print(t)
    sizes = list(result["incremental"])
    e = Table(title=f"calls of the {result['changes']} changes' run, per endpoint", box=box.SIMPLE_HEAVY)
    e.add_column("endpoint")
    for size in sizes:
        e.add_column(f"at {int(size):,}", justify="right")
    endpoints: dict[str, None] = {}
    for size in sizes:
        endpoints.update(dict.fromkeys(result["incremental"][size]["by_endpoint"]))
    for ep in endpoints:
        e.add_row(ep, *[str(result["incremental"][size]["by_endpoint"].get(ep, 0)) for size in sizes])
    console.print(e)
    big, small = (result["incremental"][s] for s in sizes)
    console.print(f"changes' run at {int(sizes[0]):,} minus at {int(sizes[1]):,}: "
                  f"{result['incremental_calls_difference']} calls; FSM write calls (items, customers): "
                  f"{_write_calls(big)} at {int(sizes[0]):,} and {_write_calls(small)} at {int(sizes[1]):,}")
