"""Operator alerts: a source failing for a whole day, a source answering with no papers on
several weekdays running (a changed format or request: docs/SOURCES.md), a delivery that failed
for good.

Each problem is raised once (keyed in the store) and sent to ``[alerts] email`` and/or
``[alerts] slack``; it is always logged at ERROR level, so journald shows it even with no
alert channel configured.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from shlex import quote

from notifier.logs import event
from notifier.outbox import ATTENTION, FETCHED, FetchState, State

log = logging.getLogger("notifier.alerts")

# Weekdays running on which a source's fetches succeeded but found no paper before it is
# reported (weekends are empty on HF and have no arXiv listing), and how far back such a
# stretch is read.
EMPTY_WEEKDAYS = 3
EMPTY_LOOKBACK_DAYS = 31


def find_problems(store, now: datetime, source_failure_hours: int = 24, config=None) -> list[tuple[str, str]]:
    """-> [(key, one-line text)] for every current problem. With ``config``, a source it no longer
    fetches is none (as in `notifier status`: nothing would fetch it again to end the alert)."""
    problems = []
    for source in store.fetch_sources():
        if config is not None and not_fetched(config, source):
            continue
        problems += _empty_source(store, source, now.date())
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
    return problems + _delivery_problems(store)


def _delivery_problems(store) -> list[tuple[str, str]]:
    """A digest that failed or may not have arrived, unless its subscriber has unsubscribed since."""
    attention = store.deliveries(states=ATTENTION)
    gone = unsubscribed(store, attention)
    subs = store.addresses_of(d.subscriber_id for d in attention)
    return [(_delivery_key(d), f"delivery to {subs.get(d.subscriber_id)} for {d.digest_day} is {d.state} after "
             f"{d.attempts} attempt{'s' if d.attempts != 1 else ''}: {d.last_error}"
             + _settle(d, subs.get(d.subscriber_id)))
            for d in attention if d.subscriber_id not in gone]


def _delivery_key(d) -> str:
    """A digest's alert: once for a failed one (failed for good), once per lost send for one of
    unknown outcome (by its claim time), so one re-sent by the operator (`notifier resolve ...
    resend`) and lost again is alerted again."""
    return f"delivery:{d.id}:{d.state}" + (f":{d.claimed_at:%Y%m%d%H%M%S%f}" if d.state == State.UNKNOWN else "")


def unsubscribed(store, deliveries) -> set[int]:
    """Those of these deliveries' subscribers who have unsubscribed: nothing more is sent to them
    (their open digests were cancelled), so a failed or lost digest of theirs needs nobody."""
    ids = {d.subscriber_id for d in deliveries}
    return {s.id for s in store.list_subscribers(active_only=False, ids=ids) if not s.active}


def _settle(d, address: str | None) -> str:
    """What settles a digest of unknown outcome (`notifier status` lists the same commands)."""
    if d.state != State.UNKNOWN:
        return ""
    command = resolve_command(d, address)
    return f"; if it arrived: `{command} delivered`, if not: `{command} resend`"


def resolve_command(d, address: str | None, notifier: str = "notifier") -> str:
    """`notifier resolve` for this digest, less its outcome, quoted for a shell."""
    return f"{notifier} resolve {quote(address or str(d.subscriber_id))} {d.digest_day}"


def not_fetched(config, source: str) -> str | None:
    """Why the configuration has no cycle fetch this source (the setting that says so), or None."""
    if source == "hf_daily":
        return None if config.sources.hf_daily.enabled else "[sources.hf_daily] enabled = false"
    arxiv = config.sources.arxiv
    if source.startswith("arxiv:"):
        return ("[sources.arxiv] enabled = false" if not arxiv.enabled else
                None if source.split(":", 1)[1] in arxiv.categories else "not in [sources.arxiv] categories")
    return None


def _empty_source(store, source: str, today: date) -> list[tuple[str, str]]:
    """The alert for a source whose fetches found nothing on EMPTY_WEEKDAYS weekdays running,
    keyed by the first of them so the stretch is raised once."""
    empty = empty_weekdays(store, source, today)
    if len(empty) < EMPTY_WEEKDAYS:
        return []
    return [(f"empty:{source}:{empty[-1]}", f"source {source} found no papers on {len(empty)} weekdays in a row "
             f"(since {empty[-1]}): its format or the request may have changed; see docs/SOURCES.md")]


def empty_weekdays(store, source: str, today: date) -> list[date]:
    """The weekdays running before ``today``, newest first, whose latest successful fetch of
    ``source`` found no papers, or only answered "not modified" (an arXiv feed stuck on an old
    listing); a weekday it found some, or was not fetched, ends them. Today is left out: its
    list is still growing."""
    days = []
    for back in range(1, EMPTY_LOOKBACK_DAYS + 1):
        day = today - timedelta(days=back)
        if day.weekday() >= 5:
            continue
        run = store.last_fetch(source, FETCHED, digest_day=day.isoformat())
        if run is None or run.found:
            break
        days.append(day)
    return days


def raise_alerts(ctx, now: datetime | None = None) -> list[str]:
    """Record new problems, log them, and send unsent alerts to the operator. -> new texts."""
    now = now or ctx.now()
    fresh = []
    for key, text in find_problems(ctx.store, now, ctx.config.alerts.source_failure_hours, ctx.config):
        if ctx.store.raise_alert(key, text):
            event(log, "alert", logging.ERROR, text=text)
            fresh.append(text)
    send_alerts(ctx)
    return fresh


def send_alerts(ctx) -> None:
    from notifier.sending import send_operator_message

    targets = [t for t in (ctx.config.alerts.email, ctx.config.alerts.slack) if t]
    if not targets:
        return
    for alert in ctx.store.unsent_alerts():
        if all(send_operator_message(ctx, target, "digest-notifier needs attention", alert.text)
               for target in targets):
            ctx.store.mark_alert_sent(alert.id)
