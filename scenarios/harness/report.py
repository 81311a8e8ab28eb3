"""Reports of a scenario run: JUnit XML (for CI) and one self-contained HTML page (for people).

The HTML page needs no network: per scenario its status, duration, steps and, on failure, the
step, the expectation, what was seen and the fakes' journal for its tenants; then the rule
coverage matrix against RULES.md. A filter box (rule id, scenario id, title, tag; every word must
match) and a "failed only" toggle narrow all three lists; a small inline script does it, and keeps
the filter in the page's address (``report.html?q=TW-05&failed=1``) so a filtered view can be shared.
"""

from __future__ import annotations

import html
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .model import Result
from .rules import Rule


def summary(results: list[Result]) -> dict[str, Any]:
    counts = {"passed": 0, "failed": 0, "error": 0}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return {"total": len(results), **counts, "duration": round(sum(r.duration for r in results), 3)}


def write_junit(results: list[Result], path: Path, *, name: str = "zlab-scenarios") -> Path:
    s = summary(results)
    suites = ET.Element("testsuites", name=name, tests=str(s["total"]), failures=str(s["failed"]),
                        errors=str(s["error"]), time=f"{s['duration']:.3f}")
    suite = ET.SubElement(suites, "testsuite", name=name, tests=str(s["total"]), failures=str(s["failed"]),
                          errors=str(s["error"]), skipped="0", time=f"{s['duration']:.3f}",
                          timestamp=datetime.now(UTC).isoformat(timespec="seconds"))
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=r.module or "scenarios", name=f"{r.id}: {r.title}",
                             time=f"{r.duration:.3f}")
        if r.failure is not None:
            f = r.failure
            tag = "failure" if r.status == "failed" else "error"
            el = ET.SubElement(case, tag, message=f"step {f.step!r}: expected {f.expectation}; saw {f.seen}"[:1000],
                               type=f.kind)
            el.text = f.traceback
        steps = "\n".join(f"[{st.status}] {st.name} ({st.duration:.3f}s){' — ' + st.detail if st.detail else ''}"
                          for st in r.steps)
        props = ET.SubElement(case, "properties")
        for rid in r.rules:
            ET.SubElement(props, "property", name="rule", value=rid)
        for tag_name in r.tags:
            ET.SubElement(props, "property", name="tag", value=tag_name)
        ET.SubElement(case, "system-out").text = steps
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)
    return path


CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1200px;color:#1f2328;padding:0 16px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.meta{color:#59636e;margin-bottom:16px}
.cards{display:flex;gap:12px;margin:12px 0}.card{border:1px solid #d0d7de;border-radius:8px;padding:8px 14px;min-width:90px}
.card b{display:block;font-size:20px}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{border-bottom:1px solid #eaeef2;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600}
.b{display:inline-block;white-space:nowrap;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;color:#fff}
.passed{background:#1a7f37}.failed{background:#cf222e}.error{background:#9a6700}.uncovered{background:#6e7781}.notrun{background:#8c959f}
details{border:1px solid #d0d7de;border-radius:8px;margin:8px 0;padding:6px 10px}summary{cursor:pointer}
.fail{background:#ffebe9;border:1px solid #ff818266;border-radius:6px;padding:8px 10px;margin:8px 0}
pre{background:#f6f8fa;padding:8px;border-radius:6px;overflow:auto;font-size:12px;white-space:pre-wrap}
code{font-size:12px;white-space:nowrap}.muted{color:#59636e}[hidden]{display:none!important}
.filters{position:sticky;top:0;background:#fff;padding:8px 0;display:flex;gap:14px;align-items:center;z-index:1}
.filters input[type=search]{font:inherit;padding:4px 8px;width:380px;border:1px solid #d0d7de;border-radius:6px}.steps li{margin:2px 0}.tag{background:#ddf4ff;border-radius:6px;padding:0 6px;margin-right:4px;font-size:12px}
"""


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _row(status: str, *texts: Any) -> str:
    """The attributes the filter reads: the row's status and its searchable text, lower case."""
    return f'data-status="{_e(status)}" data-text="{_e(" ".join(str(t) for t in texts if t).lower())}"'


FILTER_SCRIPT = """
(function () {
  var box = document.getElementById('filter'), failedOnly = document.getElementById('failed-only');
  var shown = document.getElementById('shown');
  function apply() {
    var words = box.value.toLowerCase().split(/\\s+/).filter(Boolean), only = failedOnly.checked;
    var total = 0, visible = 0;
    document.querySelectorAll('[data-text]').forEach(function (el) {
      var status = el.getAttribute('data-status'), text = el.getAttribute('data-text');
      var keep = (!only || status === 'failed' || status === 'error') &&
                 words.every(function (w) { return text.indexOf(w) >= 0; });
      el.hidden = !keep;
      if (el.classList.contains('scenario')) { total++; if (keep) visible++; }
    });
    shown.textContent = visible + ' of ' + total + ' scenarios shown';
    var q = new URLSearchParams();
    if (box.value) q.set('q', box.value);
    if (only) q.set('failed', '1');
    try { history.replaceState(null, '', (q.toString() ? '?' + q : location.pathname) + location.hash); }
    catch (e) { /* some browsers refuse it on file:// pages: the filter works all the same */ }
  }
  var given = new URLSearchParams(location.search);
  box.value = given.get('q') || '';
  failedOnly.checked = given.get('failed') === '1';
  box.addEventListener('input', apply);
  failedOnly.addEventListener('change', apply);
  apply();
})();
"""


def _badge(status: str, text: str | None = None) -> str:
    return f'<span class="b {status}">{_e(text or status)}</span>'


def write_html(results: list[Result], rules: list[Rule], coverage: dict[str, list[str]], path: Path, *,
               target: str = "embedded", title: str = "Zoho Sync Lab — scenario report") -> Path:
    s = summary(results)
    by_id = {r.id: r for r in results}
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{_e(title)}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>{_e(title)}</h1><div class=meta>{_e(datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC'))} · "
             f"stack: {_e(target)} · {s['total']} scenarios in {s['duration']:.1f} s</div>",
             "<div class=cards>" + "".join(
                 f"<div class=card><b>{s[k]}</b>{_badge(k)}</div>" for k in ("passed", "failed", "error")) +
             f"<div class=card><b>{sum(1 for v in coverage.values() if v)}/{len(coverage)}</b>rules covered</div></div>",
             "<div class=filters><input type=search id=filter aria-label='Filter' "
             "placeholder='Filter: rule id, scenario id, title or tag'>"
             "<label title='failed and errored scenarios; rules with a failed scenario'>"
             "<input type=checkbox id=failed-only> failed only</label>"
             f"<span id=shown class=muted>{s['total']} scenarios</span></div>"]
    # scenarios table
    parts.append("<h2>Scenarios</h2><table><tr><th>status</th><th>id</th><th>title</th><th>rules</th><th>tags</th>"
                 "<th>time</th></tr>")
    for r in results:
        parts.append(f"<tr class=scenario {_row(r.status, r.id, r.title, *r.rules, *r.tags)}><td>{_badge(r.status)}</td><td><a href='#{_e(r.id)}'><code>{_e(r.id)}</code></a></td>"
                     f"<td>{_e(r.title)}</td><td>{_e(', '.join(r.rules))}</td>"
                     f"<td>{''.join(f'<span class=tag>{_e(t)}</span>' for t in r.tags)}</td>"
                     f"<td>{r.duration:.2f}s</td></tr>")
    parts.append("</table>")
    # details, failures first
    parts.append("<h2>Details</h2>")
    for r in sorted(results, key=lambda r: (r.status == "passed", r.id)):
        opened = " open" if r.status != "passed" else ""
        parts.append(f"<details id='{_e(r.id)}' {_row(r.status, r.id, r.title, *r.rules, *r.tags)}{opened}><summary>{_badge(r.status)} <code>{_e(r.id)}</code> "
                     f"{_e(r.title)} <span class=muted>({r.duration:.2f}s)</span></summary>")
        parts.append("<ol class=steps>" + "".join(
            f"<li>{_badge(st.status)} {_e(st.name)} <span class=muted>{st.duration:.2f}s</span>"
            + (f"<div class=muted>{_e(st.detail)}</div>" if st.detail else "") + "</li>" for st in r.steps) + "</ol>")
        if r.failure is not None:
            f = r.failure
            parts.append(f"<div class=fail><b>Failed step:</b> {_e(f.step or '(before the first step)')}<br>"
                         f"<b>Expected:</b> {_e(f.expectation)}<br><b>Seen:</b> <code>{_e(f.seen)}</code></div>")
            parts.append(f"<details><summary>Traceback</summary><pre>{_e(f.traceback)}</pre></details>")
        if r.journal:
            parts.append("<details><summary>Request journal of this scenario's tenants "
                         f"({len(r.journal)} calls, newest first)</summary><table><tr><th>#</th><th>call</th>"
                         "<th>status</th><th>fault</th><th>request</th><th>answer</th></tr>")
            for j in r.journal:
                call = f"{j.get('method')} {j.get('path')}" + (f"?{j['query']}" if j.get("query") else "")
                parts.append(f"<tr><td>{_e(j.get('id'))}</td><td><code>{_e(call)}</code></td><td>{_e(j.get('status'))}</td>"
                             f"<td>{_e(j.get('fault') or '')}</td><td><code>{_e((j.get('request_excerpt') or '')[:300])}</code></td>"
                             f"<td><code>{_e((j.get('response_excerpt') or '')[:300])}</code></td></tr>")
            parts.append("</table></details>")
        parts.append("</details>")
    # coverage
    parts.append("<h2>Rule coverage</h2>")
    if not rules:
        parts.append("<p class=muted>RULES.md was not found (set ZLAB_RULES); showing the rules scenarios name.</p>")
    known = {r.id: r for r in rules}
    from .breakers import by_rule

    breakers = by_rule()
    parts.append("<table><tr><th>rule</th><th>behaviour</th><th>scenarios</th><th>breakers</th>"
                 "<th>in this run</th></tr>")
    for rid, sids in coverage.items():
        rule = known.get(rid)
        ran = [by_id[x] for x in sids if x in by_id]
        if not sids:
            status, state = "uncovered", _badge("uncovered", "no scenario")
        elif not ran:
            status, state = "notrun", _badge("notrun", "not run")
        elif all(x.status == "passed" for x in ran):
            status, state = "passed", _badge("passed")
        else:
            status, state = "failed", _badge("failed")
        links = ", ".join(f"<a href='#{_e(x)}'><code>{_e(x)}</code></a>" for x in sids) or "—"
        behaviour = _e(rule.behaviour) if rule else "<i>not in RULES.md</i>"
        names = ", ".join(f"<code title='{_e(b.describe)}'>{_e(b.name)}</code>" for b in breakers.get(rid, [])) or "—"
        searchable = (rid, rule.behaviour if rule else "", *sids, *(b.name for b in breakers.get(rid, [])))
        parts.append(f"<tr class=rule {_row(status, *searchable)}><td><code>{_e(rid)}</code></td><td>{behaviour}</td>"
                     f"<td>{links}</td><td>{names}</td><td>{state}</td></tr>")
    parts.append(f"</table><script>{FILTER_SCRIPT}</script></body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def write_json(results: list[Result], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"summary": summary(results), "results": [r.to_json() for r in results]},
                               indent=1, default=str), encoding="utf-8")
    return path
