"""Rate-limit headers on every answer of an org, whether its limits are enforced or not.

Real Zoho sends them on ordinary answers: Books ``X-Rate-Limit-Limit/-Remaining/-Reset`` with
the daily plan limit (seen on every Books answer since Dec 2019: Weble/ZohoBooksApi issue #38,
e.g. Limit 7500, Remaining 6775, Reset 34881 = seconds to the day's end), FSM its
``x-ratelimit-*``. Clients read them after every call, so an answer without them breaks them.

``RateLimit`` (chain.py) fills them while it counts (limits on). This handler fills whatever is
still missing, cheaply: with limits off nothing is counted, so the plan's full figure is
remaining [lab]; with limits on and the call refused before the advertised rule was counted
(concurrency, per-minute), the count so far is read. No database query when limits are off.
"""

from __future__ import annotations

from flask import Response

from .context import RequestContext
from .lab import Lab
from .product import LimitRule


def advertised_rule(lab: Lab, product, org) -> LimitRule | None:
    if product.limits_for is None or product.limit_headers is None:
        return None
    for rule in lab.limits_of(product, org):
        if rule.advertise:
            return rule
    return None


def fill_limit_headers(lab: Lab, ctx: RequestContext) -> None:
    """Put the advertised rule's limit, remaining and reset into ``ctx.headers`` if not there."""
    product, org = ctx.product, ctx.org
    if product is None or org is None:
        return
    h = product.limit_headers
    if h is None or h.limit in ctx.headers:
        return
    rule = advertised_rule(lab, product, org)
    if rule is None:
        return
    now_ts = lab.clock.timestamp()
    used = 0
    if org.rate_limits:  # counted already; this call was refused before reaching this rule
        used = _used(lab, f"rl:{org.id}:{rule.name}", rule, now_ts)
    if rule.slots > 1:  # rolling: capacity frees up as the oldest slot leaves the window
        slot = max(1, rule.window // rule.slots)
        reset = slot - (now_ts % slot)
    else:
        reset = rule.window - (now_ts % rule.window)
    ctx.headers[h.limit] = str(rule.limit)
    ctx.headers[h.remaining] = str(max(0, rule.limit - used))
    ctx.headers[h.reset] = str(max(0, int(reset)))


def _used(lab: Lab, key: str, rule: LimitRule, now_ts: float) -> int:
    if rule.slots > 1:
        slot = max(1, rule.window // rule.slots)
        earlier = lab.counters.previous(key, now_ts, slot, rule.slots - 1)
        return lab.counters.peek(key, now_ts, slot) + sum(earlier.values())
    return lab.counters.peek(key, now_ts, rule.window)


class AdvertiseLimits:
    """Response-side chain handler: runs before ``AddHeaders`` copies ``ctx.headers`` out."""

    def on_request(self, lab: Lab, ctx: RequestContext) -> None:
        pass

    def on_response(self, lab: Lab, ctx: RequestContext, response: Response) -> Response:
        fill_limit_headers(lab, ctx)
        return response
