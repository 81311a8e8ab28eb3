"""What ``zlab scenarios list`` and ``zlab scenarios run`` print (rich), and the run itself."""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .breakers import by_rule
from .model import Result
from .report import summary, write_html, write_json, write_junit
from .rules import coverage, load_rules, rules_path
from .runner import DEFAULT_CATALOG, discover, run_many, select

STATUS_STYLE = {"passed": "green", "failed": "red", "error": "yellow", "skipped": "cyan"}


def list_scenarios(console: Console, *, keyword: str | None = None, rules: tuple[str, ...] = (),
                   tags: tuple[str, ...] = (), catalogs: tuple[str, ...] = (DEFAULT_CATALOG,)) -> int:
    registry = discover(catalogs)
    chosen = select(registry, keyword=keyword, rules=rules, tags=tags)
    t = Table(title=f"Scenarios ({len(chosen)} of {len(registry)})", box=box.SIMPLE_HEAVY)
    for col in ("id", "title", "rules", "tags"):
        t.add_column(col, overflow="fold")
    for s in chosen:
        t.add_row(s.id, s.title, ", ".join(s.rules), ", ".join(s.tags) + (" (exclusive)" if s.exclusive else ""))
    console.print(t)
    rule_list = load_rules()
    cov = coverage(rule_list, list(registry.values()))
    where = rules_path()
    c = Table(title=f"Rule coverage ({sum(1 for v in cov.values() if v)}/{len(cov)} covered)"
                    + (f" — {where}" if where else " — RULES.md not found (set ZLAB_RULES)"), box=box.SIMPLE_HEAVY)
    c.add_column("rule")
    c.add_column("behaviour", overflow="fold", ratio=3)
    c.add_column("scenarios", overflow="fold", ratio=2)
    c.add_column("breakers (tests/test_breakers.py)", overflow="fold", ratio=2)
    known = {r.id: r for r in rule_list}
    breakers = by_rule()  # registered by the catalog modules discover() imported
    for rid, sids in cov.items():
        behaviour = known[rid].behaviour if rid in known else "(not in RULES.md)"
        names = [b.name for b in breakers.get(rid, [])]
        c.add_row(rid, behaviour[:140], ", ".join(sids) if sids else "[bold red]UNCOVERED[/]",
                  ", ".join(names) if names else ("[yellow]none[/]" if rid[:2] in ("TW", "OB") else "-"))
    console.print(c)
    return 0


def run_scenarios(console: Console, *, keyword: str | None, rules: tuple[str, ...], tags: tuple[str, ...],
                  report_dir: Path, target: str | None, workers: int,
                  catalogs: tuple[str, ...] = (DEFAULT_CATALOG,)) -> int:
    registry = discover(catalogs)
    chosen = select(registry, keyword=keyword, rules=rules, tags=tags)
    if not chosen:
        console.print("[yellow]No scenario matches the selection.[/]")
        return 1
    console.print(f"Running {len(chosen)} scenario(s) on {target or 'an embedded stack per worker'} "
                  f"with {workers} worker(s)")
    failures: list[Result] = []
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        task = progress.add_task("scenarios", total=len(chosen))

        def on_result(r: Result) -> None:
            style = STATUS_STYLE.get(r.status, "white")
            progress.console.print(f"[{style}]{r.status.upper():6}[/] {r.id}  [dim]{r.duration:.2f}s[/]")
            if r.status != "passed":
                failures.append(r)  # skipped ones too: their reason is printed below
            progress.advance(task)

        results = run_many(chosen, workers=workers, target=target, packages=catalogs, on_result=on_result)
    rule_list = load_rules()
    cov = coverage(rule_list, list(registry.values()))
    junit = write_junit(results, report_dir / "junit.xml")
    page = write_html(results, rule_list, cov, report_dir / "report.html", target=target or "embedded")
    write_json(results, report_dir / "results.json")
    s = summary(results)
    t = Table(title="Summary", box=box.SIMPLE_HEAVY)
    for col in ("passed", "failed", "error", "skipped", "total", "seconds"):
        t.add_column(col, justify="right")
    t.add_row(f"[green]{s['passed']}[/]", f"[red]{s['failed']}[/]", f"[yellow]{s['error']}[/]",
              f"[cyan]{s['skipped']}[/]", str(s["total"]), f"{s['duration']:.1f}")
    console.print(t)
    for r in failures:
        f = r.failure
        if f is not None and r.status == "skipped":
            console.print(f"[cyan]{r.id}[/] skipped: {escape(f.seen[:300])}")
        elif f is not None:
            console.print(f"[red]{r.id}[/] step [bold]{f.step or '(before the first step)'}[/]: "
                          f"expected {f.expectation}; saw {f.seen[:300]}")
    console.print(f"Reports: {page} and {junit}")
    # skipped scenarios (what they need is not in the target stack) do not fail the run; none run does
    return 0 if s["failed"] == s["error"] == 0 and s["passed"] > 0 else 1

