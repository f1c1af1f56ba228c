"""Operator alerts: a source failing for a whole day, a delivery that failed for good.

Each problem is raised once (keyed in the store) and sent to ``[alerts] email`` and/or
``[alerts] slack``; it is always logged at ERROR level, so journald shows it even with no
alert channel configured.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from notifier.logs import event
from notifier.outbox import ATTENTION, FetchState

log = logging.getLogger("notifier.alerts")


def find_problems(store, now: datetime, source_failure_hours: int = 24) -> list[tuple[str, str]]:
    """-> [(key, one-line text)] for every current problem."""
    problems = []
    for source in store.fetch_sources():
        ok = store.last_fetch(source)
        bad = store.last_fetch(source, outcome=FetchState.FAILED)
        if bad is None or (ok is not None and ok.id > bad.id):
            continue
        since = ok.finished_at if ok else None
        first_failure = since or bad.started_at
        if now - first_failure >= timedelta(hours=source_failure_hours):
            when = f"since {since:%Y-%m-%d %H:%M} UTC" if since else "ever"
            problems.append((f"source:{source}:{since:%Y%m%d%H%M}" if since else f"source:{source}:never",
                             f"source {source} has not been fetched successfully {when}; last error: {bad.error}"))
    attention = store.deliveries(states=ATTENTION)
    subs = store.addresses_of(d.subscriber_id for d in attention)
    for d in attention:
        problems.append((f"delivery:{d.id}:{d.state}",
                         f"delivery to {subs.get(d.subscriber_id)} for {d.digest_day} is {d.state} after "
                         f"{d.attempts} attempts: {d.last_error}"))
    return problems


def raise_alerts(ctx, now: datetime | None = None) -> list[str]:
    """Record new problems, log them, and send unsent alerts to the operator. -> new texts."""
    now = now or ctx.now()
    fresh = []
    for key, text in find_problems(ctx.store, now, ctx.config.alerts.source_failure_hours):
        if ctx.store.raise_alert(key, text):
            event(log, "alert", logging.ERROR, text=text)
            fresh.append(text)
    send_alerts(ctx)
    return fresh


def send_alerts(ctx) -> None:
    from notifier.pipeline import send_operator_message

    targets = [t for t in (ctx.config.alerts.email, ctx.config.alerts.slack) if t]
    if not targets:
        return
    for alert in ctx.store.unsent_alerts():
        if all(send_operator_message(ctx, target, "digest-notifier needs attention", alert.text)
               for target in targets):
            ctx.store.mark_alert_sent(alert.id)
