"""The syncer's dashboard: one server-rendered page (no script, no network) for people — the
integrations with their state, schedule and sync type, each one's latest runs with per-module
counts and links to the ``<Module>FailureLogs.csv`` downloads, and the mail sent."""

from __future__ import annotations

import html
from typing import Any

from .store.repo import failure_csv_filename

CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1200px;color:#1f2328;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}.muted{color:#59636e}
table{border-collapse:collapse;width:100%;margin:6px 0}th,td{border-bottom:1px solid #eaeef2;padding:5px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}code{font-size:12px;white-space:nowrap}
.b{display:inline-block;border-radius:10px;padding:0 8px;font-size:12px;font-weight:600;color:#fff;white-space:nowrap}
.succeeded,.enabled{background:#1a7f37}.failed,.disabled{background:#cf222e}.refused,.created{background:#9a6700}.running{background:#0969da}
"""


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _badge(text: str) -> str:
    return f'<span class="b {_e(text)}">{_e(text)}</span>'


def _time(dt) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC") if dt else "—"


def render(service: Any, *, api_prefix: str, runs_per_integration: int = 10) -> str:
    repo = service.repo
    now = repo.now()
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Zoho Sync Lab — syncer</title>"
             f"<style>{CSS}</style></head><body><h1>Zoho Sync Lab — syncer</h1>"
             f"<div class=muted>now {_e(_time(now))} ({'lab clock' if service.config.fakes_url else 'real time'}) · "
             f"automatic sync {'on' if service.scheduler.running else 'off'} · "
             f"<a href='/openapi.json'>API</a></div>"]
    integrations = repo.list_integrations()
    parts.append(f"<h2>Integrations ({len(integrations)})</h2>")
    if not integrations:
        parts.append(f"<p class=muted>None yet: <code>POST {api_prefix}/integrations</code>.</p>")
    for integ in integrations:
        if getattr(integ, "kind", "books") == "crm":  # the CRM direct sync: instant, no schedule of its own
            st = integ.settings or {}
            deletion = st.get("deletion") or {}
            views = {m: v for m, v in (st.get("views") or {}).items() if v}
            inbox = getattr(service, "inbox", None)
            detail = (f"direct sync (instant) · duplicates: {_e(integ.duplicate_policy or '—')} · FSM deletes: "
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
        else:
            detail = (f"sync type {_e(integ.sync_type)} · {_e(integ.mode)} · "
                      f"duplicates: {_e(integ.duplicate_policy or '—')} · automatic sync "
                      f"{'on' if integ.auto_sync else 'off'}, next {_e(_time(integ.next_auto_sync_at))}")
        parts.append(
            f"<h3>{_e(integ.name or integ.id)} {_badge(integ.state)}</h3><div class=muted>"
            f"FSM org <code>{_e(integ.fsm_org_id)}</code> ⇄ Zoho {_e(integ.partner_product.title())} org "
            f"<code>{_e(integ.partner_org_id)}</code> · {detail}"
            + (f" · disabled: {_e(integ.disabled_reason)}" if integ.state == "disabled" else "") + "</div>")
        runs = repo.list_runs(integ.id, limit=runs_per_integration)
        if not runs:
            parts.append("<p class=muted>No sync yet.</p>")
            continue
        parts.append("<table><tr><th>sync id</th><th>trigger</th><th>status</th><th>start</th><th>end</th>"
                     "<th>per module (ok / failed)</th><th>reason</th></tr>")
        for run in runs:
            stats = []
            for st in repo.run_stats(run.id):
                link = ""
                if st.failed:
                    link = (f" <a href='{api_prefix}/runs/{_e(run.id)}/failures/"
                            f"{_e(failure_csv_filename(st.module))}'>CSV</a>")
                stats.append(f"{_e(st.module)}: {st.succeeded} / {st.failed}{link}")
            parts.append(f"<tr><td><code>{_e(run.id)}</code></td><td>{_e(run.trigger)}</td><td>{_badge(run.status)}</td>"
                         f"<td>{_e(_time(run.started_at))}</td><td>{_e(_time(run.ended_at))}</td>"
                         f"<td>{'<br>'.join(stats) or '—'}</td><td>{_e(run.failure_reason or '')}</td></tr>")
        parts.append("</table>")
    mail = repo.list_mail(limit=20)
    parts.append(f"<h2>Mail sent ({len(mail)} latest)</h2>")
    if mail:
        parts.append("<table><tr><th>time</th><th>to</th><th>subject</th><th>body</th></tr>" + "".join(
            f"<tr><td>{_e(_time(m.sent_at))}</td><td>{_e(m.to)}</td><td>{_e(m.subject)}</td>"
            f"<td>{_e(m.body[:300])}</td></tr>" for m in mail) + "</table>")
    else:
        parts.append("<p class=muted>None.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)
