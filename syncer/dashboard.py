"""The syncer's dashboard (``GET /dashboard``): one server-rendered page for people.

- the integrations of both kinds (Books/Invoice, and the CRM direct sync), with their state,
  schedule and sync type, **filtered** by name/id/org (``q``), ``state`` and ``kind``, and **paged**
  (``page``, ``per_page``; 10 a page by default), so 33 integrations are not one endless page;
- each one's latest runs: outcome (``partially succeeded`` when records failed in a run that
  succeeded, as Zoho's sync history shows it), start, end, **duration**, per-module counts and
  the ``<Module>FailureLogs.csv`` links;
- on a guarded syncer (``ZLAB_LAB_TOKEN``) the page itself opens only to whoever gives the lab
  token (``token_form``: posted, then kept in an HttpOnly same-site cookie for ``/dashboard``);
- **Sync Now** on each enabled integration: the page POSTs ``/api/v1/integrations/{id}/sync``
  from the browser. When the syncer API is guarded (``ZLAB_LAB_TOKEN``), the page asks the person
  for the lab token and keeps it in this tab only (``sessionStorage``), sending it as
  ``X-Zlab-Lab-Token`` to this same origin: the server never embeds a token in a page that anyone
  who reaches it can read, and no other site can make the browser send it;
- **auto-refresh** every ``refresh`` seconds (10 by default, ``?refresh=0`` or the checkbox
  stops it; the filter and page stay, as they are in the URL);
- the **lab-time note**: times are on the lab clock, and when run times lie after the lab time
  shown (the lab clock was set back after they ran) the page says so and marks them;
- links to Swagger UI (``/docs``), the OpenAPI document and ``/health``; the mail sent.

Everything it loads comes from this page (an inline style and script; no CDN).
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from .outcome import LABELS, duration_seconds, run_outcome
from .store.models import KINDS, STATES
from .store.repo import failure_csv_filename

DEFAULT_PER_PAGE = 10
MAX_PER_PAGE = 100
DEFAULT_REFRESH = 10  # seconds
PRODUCT_NAMES = {"books": "Books", "invoice": "Invoice", "crm": "CRM"}

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1200px;color:#1f2328;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}.muted{color:#59636e}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{border-bottom:1px solid #eaeef2;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}code{font-size:12px;white-space:nowrap}
.b{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;color:#fff;white-space:nowrap}
.succeeded,.enabled{background:#1a7f37}.failed,.disabled{background:#cf222e}.refused,.created{background:#9a6700}
.running{background:#0969da}.partially_succeeded{background:#bc4c00}
form.filter{display:flex;gap:8px;flex-wrap:wrap;align-items:center;margin:8px 0}
form.filter input,form.filter select,button{font:inherit;padding:2px 6px}
.note{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:6px 10px;margin:8px 0}
.future{background:#fff8c5}.pager{margin:10px 0}.pager a,.pager span{margin-right:10px}
.sync-result{margin-left:8px;font-size:13px}
"""

SCRIPT = """
(() => {
  const guarded = document.body.dataset.guarded === "1";
  const api = document.body.dataset.api;
  const tokenKey = "zlab-lab-token";
  const box = document.getElementById("auto-refresh");
  const every = Number(document.body.dataset.refresh || 0);
  let busy = false;
  if (box && every > 0) {
    setInterval(() => { if (box.checked && !busy) location.reload(); }, every * 1000);
  }
  const tokenField = document.getElementById("lab-token");
  if (tokenField) {
    tokenField.value = sessionStorage.getItem(tokenKey) || "";
    tokenField.addEventListener("input", () => sessionStorage.setItem(tokenKey, tokenField.value));
  }
  for (const button of document.querySelectorAll("button.sync-now")) {
    button.addEventListener("click", async () => {
      const out = button.parentElement.querySelector(".sync-result");
      const headers = {"Accept": "application/json"};
      const token = sessionStorage.getItem(tokenKey) || "";
      if (guarded && !token) { out.textContent = "enter the lab token above first"; tokenField && tokenField.focus(); return; }
      if (token) headers["X-Zlab-Lab-Token"] = token;
      busy = true; button.disabled = true; out.textContent = "starting…";
      try {
        const r = await fetch(`${api}/integrations/${encodeURIComponent(button.dataset.id)}/sync`,
                              {method: "POST", headers, credentials: "same-origin"});
        const body = await r.json().catch(() => ({}));
        if (r.ok) {
          out.textContent = `started sync ${body.id} (${body.status})`;
          out.dataset.runId = body.id || "";
          setTimeout(() => { busy = false; location.reload(); }, 1500);
          return;
        }
        out.textContent = r.status === 401 ? "the lab token is missing or wrong" : `${r.status}: ${body.message || body.error || "refused"}`;
      } catch (e) {
        out.textContent = `failed: ${e}`;
      }
      busy = false; button.disabled = false;
    });
  }
})();
"""


def token_form(*, wrong: bool = False) -> str:
    """What a guarded syncer (``ZLAB_LAB_TOKEN``) shows before the token: a form that posts it."""
    note = "<p class=bad>That is not the lab token.</p>" if wrong else ""
    return ("<!doctype html><meta charset=utf-8><title>zlab syncer — lab token</title>"
            "<style>body{font:15px system-ui,sans-serif;margin:3em}.bad{color:#b00}</style>"
            "<h1>zlab syncer</h1><p>This syncer is guarded: give the stack's lab token "
            "(<code>ZLAB_LAB_TOKEN</code>) to see its dashboard.</p>" + note +
            "<form method=post action=/dashboard><input type=password name=token autofocus "
            "aria-label='Lab token' required> <button>Open</button></form>")


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _badge(state: str, label: str | None = None) -> str:
    return f'<span class="b {_e(state)}">{_e(label or state)}</span>'


def _time(dt) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC") if dt else "—"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return "< 1 s"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{hours} h {minutes} min" if hours else f"{minutes} min {secs} s" if minutes else f"{secs} s")


def _int(args: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    """A page's query number: out of range or not a number falls back (a page never answers 400)."""
    try:
        value = int(args.get(name, default))
    except (TypeError, ValueError):
        return default
    return min(max(value, lo), hi)


class View:
    """What the query asks for: the filter, the page, the refresh."""

    def __init__(self, args: Mapping[str, str]) -> None:
        self.q = (args.get("q") or "").strip()[:200]
        self.state = args.get("state") if args.get("state") in STATES else ""
        self.kind = args.get("kind") if args.get("kind") in KINDS else ""
        self.per_page = _int(args, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
        self.page = _int(args, "page", 1, 1, 10**6)
        self.refresh = _int(args, "refresh", DEFAULT_REFRESH, 0, 3600)

    def keeps(self, integ) -> bool:
        if self.state and integ.state != self.state:
            return False
        if self.kind and getattr(integ, "kind", "books") != self.kind:
            return False
        if self.q:
            hay = " ".join(str(x or "") for x in (integ.name, integ.id, integ.fsm_org_id, integ.partner_org_id)).lower()
            return self.q.lower() in hay
        return True

    def url(self, **changes: Any) -> str:
        params = {"q": self.q, "state": self.state, "kind": self.kind, "per_page": self.per_page, "page": self.page,
                  "refresh": self.refresh, **changes}
        defaults = {"per_page": DEFAULT_PER_PAGE, "page": 1, "refresh": DEFAULT_REFRESH}
        return "?" + urlencode({k: v for k, v in params.items() if v not in ("", None) and defaults.get(k) != v})


def _filter_form(view: View) -> str:
    def options(name: str, choices: tuple[str, ...], chosen: str) -> str:
        return (f"<select name={name} id=filter-{name}><option value=''>any {name}</option>"
                + "".join(f"<option{' selected' if c == chosen else ''}>{_e(c)}</option>" for c in choices)
                + "</select>")

    return ("<form class=filter method=get action='/dashboard'>"
            f"<input type=search name=q id=filter-q placeholder='name, id or org id' value='{_e(view.q)}'>"
            + options("state", STATES, view.state) + options("kind", KINDS, view.kind)
            + "<select name=per_page id=filter-per-page>"
            + "".join(f"<option value={n}{' selected' if n == view.per_page else ''}>{n} a page</option>"
                      for n in sorted({10, 25, 50, 100, view.per_page}))
            + f"</select><input type=hidden name=refresh value={view.refresh}>"
            "<button type=submit id=filter-apply>Filter</button> <a href='/dashboard'>clear</a></form>")


def _pager(view: View, total: int, pages: int) -> str:
    if pages <= 1:
        return ""
    prev = (f"<a rel=prev id=page-prev href='{_e(view.url(page=view.page - 1))}'>« previous</a>"
            if view.page > 1 else "<span class=muted>« previous</span>")
    nxt = (f"<a rel=next id=page-next href='{_e(view.url(page=view.page + 1))}'>next »</a>"
           if view.page < pages else "<span class=muted>next »</span>")
    return f"<div class=pager>{prev}<span>page {view.page} of {pages}</span>{nxt}</div>"


def _detail(service: Any, integ) -> str:
    if getattr(integ, "kind", "books") == "crm":  # the CRM direct sync: instant, no schedule of its own
        st = integ.settings or {}
        deletion = st.get("deletion") or {}
        views = {m: v for m, v in (st.get("views") or {}).items() if v}
        inbox = getattr(service, "inbox", None)
        return (f"direct sync (instant) · duplicates: {_e(integ.duplicate_policy or '—')} · FSM deletes: "
                f"{_e(deletion.get('fsm_deleted', 'keep_in_crm'))} · CRM deletes: "
                f"{_e(deletion.get('crm_deleted', 'keep_in_fsm'))} · views: "
                f"{_e(', '.join(f'{m} {v}' for m, v in views.items()) or 'all records')} · channels until "
                f"{_e((st.get('channels') or {}).get('expires_at') or '—')} · next daily log "
                f"{_e(st.get('next_daily_at') or '—')}"
                + (f" · notifications waiting: {inbox.pending_count(integ.id)}" if inbox is not None else "")
                # CR-07/CR-08: FSM records created from CRM and linked to Deals / Sales Orders
                + f" · FSM records created from CRM: {int((st.get('extension_actions') or {}).get('conversions') or 0)}"
                f", linked to Deals/Sales Orders: {int((st.get('extension_actions') or {}).get('links') or 0)}"
                f", custom conversion mappings: {len(st.get('conversion_mappings') or {})}")
    return (f"sync type {_e(integ.sync_type)} · {_e(integ.mode)} · "
            f"duplicates: {_e(integ.duplicate_policy or '—')} · automatic sync "
            f"{'on' if integ.auto_sync else 'off'}, next {_e(_time(integ.next_auto_sync_at))}")


def _time_cell(dt: datetime | None, now: datetime, future: list[int]) -> str:
    if dt is not None and dt > now:
        future.append(1)
        return (f"<td class=future title='after the lab time shown: the lab clock was set back after this run'>"
                f"{_e(_time(dt))} ⚠</td>")
    return f"<td>{_e(_time(dt))}</td>"


def _runs_table(service: Any, integ, *, api_prefix: str, now: datetime, limit: int, future: list[int]) -> str:
    repo = service.repo
    runs = repo.list_runs(integ.id, limit=limit)
    if not runs:
        return "<p class=muted>No sync yet.</p>"
    rows = ["<table class=runs><tr><th>sync id</th><th>trigger</th><th>outcome</th><th>start</th><th>end</th>"
            "<th>duration</th><th>per module (ok / failed)</th><th>reason</th></tr>"]
    for run in runs:
        stats, failed = [], 0
        failed_modules = {f.module for f in repo.record_failures(run.id)}
        for st in repo.run_stats(run.id):
            failed += st.failed
            link = ""
            if st.failed or st.module in failed_modules:
                link = (f" <a href='{api_prefix}/runs/{_e(run.id)}/failures/"
                        f"{_e(failure_csv_filename(st.module))}'>CSV</a>")
            stats.append(f"{_e(st.module)}: {st.succeeded} / {st.failed}{link}")
        outcome = run_outcome(run.status, failed or len(failed_modules))
        rows.append(f"<tr data-run='{_e(run.id)}' data-outcome='{_e(outcome)}'><td><code>{_e(run.id)}</code></td>"
                    f"<td>{_e(run.trigger)}</td><td>{_badge(outcome, LABELS[outcome])}</td>"
                    + _time_cell(run.started_at, now, future) + _time_cell(run.ended_at, now, future)
                    + f"<td>{_e(_duration(duration_seconds(run.started_at, run.ended_at)))}</td>"
                    f"<td>{'<br>'.join(stats) or '—'}</td><td>{_e(run.failure_reason or '')}</td></tr>")
    rows.append("</table>")
    return "".join(rows)


def render(service: Any, *, api_prefix: str, args: Mapping[str, str] | None = None,
           runs_per_integration: int = 10) -> str:
    repo = service.repo
    view = View(args or {})
    now = repo.now()
    guarded = bool(os.environ.get("ZLAB_LAB_TOKEN"))
    lab = bool(service.config.fakes_url)
    state = getattr(service.scheduler, "state", "active" if service.scheduler.running else "off")
    scheduler_text = {"active": "on", "standby": "on standby (another syncer on this database runs it)",
                      "off": "off"}.get(state, state)
    every = view.refresh
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Zoho Sync Lab — syncer</title>"
             f"<style>{CSS}</style></head>"
             f"<body data-api='{_e(api_prefix)}' data-guarded='{int(guarded)}' data-refresh='{every}'>"
             "<h1>Zoho Sync Lab — syncer</h1>"
             f"<div class=muted>now <span id=now>{_e(_time(now))}</span> ({'lab clock' if lab else 'real time'}) · "
             f"automatic sync {_e(scheduler_text)} · "
             "<a href='/docs'>API docs</a> · <a href='/openapi.json'>OpenAPI</a> · <a href='/health'>health</a> · "
             f"<label><input type=checkbox id=auto-refresh{' checked' if every else ''}"
             f"{'' if every else ' disabled'}> auto-refresh{f' every {every} s' if every else ' (off: ?refresh=N)'}"
             "</label></div>"]
    if lab:
        parts.append("<div class=muted>Times are lab time (the fakes' clock, which tests freeze and move).</div>")
    if guarded:
        parts.append("<div class=muted><label>Lab token for Sync Now (kept in this tab only): "
                     "<input type=password id=lab-token autocomplete=off></label></div>")
    everything = repo.list_integrations()
    chosen = [i for i in everything if view.keeps(i)]
    pages = max(1, -(-len(chosen) // view.per_page))
    view.page = min(view.page, pages)
    first = (view.page - 1) * view.per_page
    shown = chosen[first:first + view.per_page]
    counted = (f"{len(chosen)} of {len(everything)}" if len(chosen) != len(everything) else str(len(everything)))
    parts.append(f"<h2>Integrations ({counted})</h2>" + _filter_form(view))
    if shown:
        parts.append(f"<div class=muted id=showing>showing {first + 1}–{first + len(shown)} of {len(chosen)}</div>")
    parts.append("<div id=future-note></div>")  # filled in below once the runs are read
    note_at = len(parts) - 1
    if not everything:
        parts.append(f"<p class=muted>None yet: <code>POST {api_prefix}/integrations</code>.</p>")
    elif not chosen:
        parts.append("<p class=muted id=no-match>No integration matches this filter.</p>")
    future: list[int] = []
    for integ in shown:
        sync_now = ""
        if integ.state == "enabled":
            sync_now = (f"<span><button type=button class=sync-now data-id='{_e(integ.id)}'>Sync Now</button>"
                        "<span class=sync-result></span></span>")
        parts.append(
            f"<section class=integration data-id='{_e(integ.id)}' data-state='{_e(integ.state)}' "
            f"data-kind='{_e(getattr(integ, 'kind', 'books'))}'>"
            f"<h3>{_e(integ.name or integ.id)} {_badge(integ.state)} {sync_now}</h3><div class=muted>"
            f"<code>{_e(integ.id)}</code> · FSM org <code>{_e(integ.fsm_org_id)}</code> ⇄ Zoho "
            f"{_e(PRODUCT_NAMES.get(integ.partner_product, integ.partner_product))} org <code>{_e(integ.partner_org_id)}</code> · {_detail(service, integ)}"
            + (f" · disabled: {_e(integ.disabled_reason)}" if integ.state == "disabled" else "") + "</div>"
            + _runs_table(service, integ, api_prefix=api_prefix, now=now, limit=runs_per_integration, future=future)
            + "</section>")
    parts.append(_pager(view, len(chosen), pages))
    if future:
        parts[note_at] = (
            f"<div class=note id=future-note>{len(future)} run time(s) on this page are later than the lab time shown "
            f"({_e(_time(now))}): "
            + ("the lab clock was set back after those runs (<code>POST /_lab/clock</code> or a lab reset)" if lab
               else "the clock was set back after those runs")
            + ". They are marked ⚠; the runs are real, only the clock moved.</div>")
    mail = repo.list_mail(limit=20)
    parts.append(f"<h2>Mail sent ({len(mail)} latest)</h2>")
    if mail:
        parts.append("<table><tr><th>time</th><th>to</th><th>subject</th><th>body</th></tr>" + "".join(
            f"<tr><td>{_e(_time(m.sent_at))}</td><td>{_e(m.to)}</td><td>{_e(m.subject)}</td>"
            f"<td>{_e(m.body[:300])}</td></tr>" for m in mail) + "</table>")
    else:
        parts.append("<p class=muted>None.</p>")
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(parts)


__all__ = ["render"]
