"""Operator alerts: a source failing for a whole day, a source answering with no papers on
several weekdays running (a changed format or request: docs/SOURCES.md), a delivery that failed
for good, a channel that has delivered nothing for a day while digests wait for it, and that
channel delivering again.

Each problem is raised once (keyed in the store) and sent to ``[alerts] email`` and/or
``[alerts] slack``; it is always logged at ERROR level (an outage's end at WARNING), so journald
shows it even with no alert channel configured.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from shlex import quote
from typing import NamedTuple

from notifier.clock import as_utc
from notifier.logs import event
from notifier.outbox import ATTENTION, FETCHED, FetchState, State

log = logging.getLogger("notifier.alerts")

# Weekdays running on which a source's fetches succeeded but found no paper before it is
# reported (weekends are empty on HF and have no arXiv listing), and how far back such a
# stretch is read.
EMPTY_WEEKDAYS = 3
EMPTY_LOOKBACK_DAYS = 31
# A channel that delivered nothing for this long while digests wait for a retry is reported: with
# `[delivery] max_attempts` 11 (~28.6 h) and each morning's catch-up folding a waiting digest into
# the next, a digest never fails through an outage of several days, so no failure tells of it.
SILENT_HOURS = 24
# An outage's alert key, silent:<carrier key>:<its last delivery, or never>; its end's, over:<that key>.
SILENT, OVER, STAMP = "silent:", "over:", "%Y%m%d%H%M%S"


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
    return problems + _delivery_problems(store) + delivery_outages(store, now)


def _delivery_problems(store) -> list[tuple[str, str]]:
    """A digest that failed or may not have arrived, unless its subscriber has unsubscribed since."""
    attention = store.deliveries(states=ATTENTION)
    gone = unsubscribed(store, attention)
    subs = store.addresses_of(d.subscriber_id for d in attention)
    return [(_delivery_key(d), f"delivery to {operator_name(subs.get(d.subscriber_id), d.subscriber_id)} for "
             f"{d.digest_day} is {d.state} after {d.attempts} attempt{'s' if d.attempts != 1 else ''}: {d.last_error}"
             + _settle(d, subs.get(d.subscriber_id)))
            for d in attention if d.subscriber_id not in gone]


def is_webhook_url(text: str) -> bool:
    """An incoming webhook URL (`https://hooks.slack.com/...`) stored as an address: whoever reads
    it can post to the channel, so operator texts name its subscriber instead."""
    return text.startswith("https://")


def operator_name(address: str | None, sid: int) -> str:
    """A subscriber as the operator's texts name them (alerts, status, resolve, run's lines): their
    address, but an incoming webhook URL (`https://hooks.slack.com/...`: whoever reads it can post
    to the channel; the log redacts it) by id, which every command takes for the address."""
    if address is None:
        return f"subscriber #{sid}"
    return f"webhook subscriber #{sid}" if is_webhook_url(address) else address


def _delivery_key(d) -> str:
    """A digest's alert: once for a failed one (failed for good), once per lost send for one of
    unknown outcome (by its claim time), so one re-sent by the operator (`notifier resolve ...
    resend`) and lost again is alerted again."""
    return f"delivery:{d.id}:{d.state}" + (f":{d.claimed_at:%Y%m%d%H%M%S%f}" if d.state == State.UNKNOWN else "")


class Carrier(NamedTuple):
    """What carries a group of subscribers' digests, as an outage alert names it: its key, what
    the alert says while it delivers nothing, what it says once it delivers again, and once it
    delivers its first digest (it never had)."""
    key: str
    silent: str
    back: str
    first: str


def delivery_outages(store, now: datetime) -> list[tuple[str, str]]:
    """A channel (``carrier_of``) with digests waiting for a retry that has delivered nothing for
    SILENT_HOURS since the first of them was due (``due_since``); and, on a channel that delivers, a subscriber
    of whom that is true (their own mail server deferring them). Keyed by the last delivery, which
    no catch-up changes (each morning's is a new row: its own age never reaches a day); a later
    delivery ends it, and the next outage is raised anew."""
    waiting = store.delivery_rows(("subscriber_id", "created_at", "claimed_at", "last_error"), [State.RETRY])
    if not waiting:
        return []
    rows = {row.id: row for row in store.subscriber_rows("id", "channel", "address", active_only=False)}
    sent = {sid: row.sent_at for sid, row in store.latest_deliveries().items() if row.sent_at is not None}
    tried = [(d.subscriber_id, due_since(d))
             for d in store.delivery_rows(("subscriber_id", "due_at", "attempts"),
                                          [State.RETRY, State.SUPERSEDED, State.FAILED],
                                          {d.subscriber_id for d in waiting}) if d.attempts]
    channels = {sid: carrier_of(row) for sid, row in rows.items()}
    down = _outages(channels, sent, tried, now)
    alone = {sid: mailbox_of(rows[sid]) for sid in {d.subscriber_id for d in waiting} if channels[sid] not in down}
    return _outage_texts(channels, down, waiting) + _outage_texts(alone, _outages(alone, sent, tried, now), waiting)


def _outage_texts(groups: dict[int, Carrier], found: dict, waiting: list) -> list[tuple[str, str]]:
    """(key, text) of each group ``_outages`` found, with the digests of its subscribers waiting."""
    of_group: dict[Carrier, list] = {}
    for d in waiting:
        if d.subscriber_id in groups:
            of_group.setdefault(groups[d.subscriber_id], []).append(d)
    return [_silent(group, last, of_group[group]) for group, last in found.items()]


def carrier_of(sub) -> Carrier:
    """What carries a subscriber's digests: the mail server, the Slack API (the bot token), or one
    Slack webhook (a broken one stops only its own subscribers). Not ``subscribers.channel_of``,
    which checks an address."""
    if sub.channel == "email":
        return _carrier("email", "email")
    if sub.address.startswith("webhook:"):
        return _carrier(sub.address, f"Slack {sub.address}")
    if is_webhook_url(sub.address):                         # the URL is a secret: named by its subscriber
        return _carrier(f"webhook-of:{sub.id}", f"the Slack webhook of subscriber {sub.id}")
    return _carrier("slack", "Slack")


def _carrier(key: str, name: str) -> Carrier:
    return Carrier(key, f"{name} has delivered no digest", f"{name} is delivering again",
                   f"{name} delivered its first digest")


def mailbox_of(sub) -> Carrier:
    """One subscriber as an outage alert names them when only they get nothing (their own mail
    server deferring them)."""
    who = operator_name(sub.address, sub.id)
    return Carrier(f"subscriber:{sub.id}", f"no digest has reached {who}", f"digests reach {who} again",
                   f"the first digest reached {who}")


def due_since(d) -> datetime:
    """Since when a digest has been due to go out: since it was planned, or resumed from a pause
    (or re-queued by the operator): ``Delivery.due_at``, which planning sets and a resume moves."""
    return d.due_at


def _outages(groups: dict[int, Carrier], sent: dict[int, datetime], tried: list[tuple[int, datetime]],
             now: datetime) -> dict:
    """The groups of subscribers whose digests tried since the group's last delivery (``sent``:
    each subscriber's; ``tried``: (subscriber, ``due_since``) of each) include one due SILENT_HOURS
    ago or more -> that last delivery (None: never)."""
    last: dict[Carrier, datetime] = {}
    for sid, at in sent.items():
        if sid in groups:
            last[groups[sid]] = max(last.get(groups[sid], at), at)
    since: dict[Carrier, datetime] = {}
    for sid, due in tried:
        group = groups.get(sid)
        if group is not None and (group not in last or due > last[group]):
            since[group] = min(since.get(group, due), due)
    return {group: last.get(group) for group, start in since.items() if now - start >= timedelta(hours=SILENT_HOURS)}


def _silent(group: Carrier, last: datetime | None, waiting: list) -> tuple[str, str]:
    latest, n = max(waiting, key=lambda d: d.claimed_at or d.created_at), len(waiting)
    since = f"since {last:%Y-%m-%d %H:%M} UTC" if last else "yet"
    return (f"{SILENT}{group.key}:{last:{STAMP}}" if last else f"{SILENT}{group.key}:never",
            f"{group.silent} {since}; {n} digest{'s' if n != 1 else ''} wait{'s' if n == 1 else ''} for a retry; "
            f"last error: {latest.last_error}")


def outages_over(store) -> list[tuple[str, str, datetime | None]]:
    """(key, text, when it ended) for each outage alerted (``delivery_outages``) whose channel (or
    subscriber) has delivered since, keyed by its alert. An outage that ended otherwise (the digests
    waiting failed for good, or their subscribers paused) is told of by the next digest that gets
    through, if one does: until then nobody knows the channel works. One whose subscribers have all
    unsubscribed ends with no time (None): nobody is left to deliver to, and nobody is told."""
    keys = store.alert_keys(SILENT, OVER + SILENT)
    alerted = [k for k in keys if k.startswith(SILENT) and OVER + k not in keys]
    if not alerted:
        return []
    groups: dict[str, tuple[Carrier, set[int]]] = {}
    active = set()
    for row in store.subscriber_rows("id", "channel", "address", "active", active_only=False):
        for carrier in (carrier_of(row), mailbox_of(row)):
            groups.setdefault(carrier.key, (carrier, set()))[1].add(row.id)
        if row.active:
            active.add(row.id)
    over = []
    for key in alerted:
        name, stamp = key.removeprefix(SILENT).rsplit(":", 1)
        last = None if stamp == "never" else datetime.strptime(stamp, STAMP).replace(tzinfo=timezone.utc)
        carrier, members = groups.get(name, (None, set()))
        back = _back(store, carrier, members, last) if members else None
        if back:
            over.append((OVER + key, *back))
        elif not members & active:
            over.append((OVER + key, f"{key.removeprefix(SILENT)}: its subscribers all unsubscribed", None))
    return over


def _back(store, carrier: Carrier, members: set[int], last: datetime | None) -> tuple[str, datetime] | None:
    """What says ``carrier`` delivers again: a digest of its ``members`` sent after ``last`` (the
    outage's key keeps it to the second: a second later), how many went out since, how many still
    wait -> (that text, when it delivered). None: it has not delivered. One that never had
    (``last`` None) tells its first digest, and how long after the first of its members' digests
    was due."""
    sent = sorted(as_utc(at) for at in store.sent_times(members, last and last + timedelta(seconds=1)))
    if not sent:
        return None
    n, waiting = len(sent), len(store.delivery_rows(("subscriber_id",), [State.RETRY], members))
    head, when = ((f"{carrier.back} since", f"after {span(sent[0] - last)} without a digest") if last else
                  (f"{carrier.first} at", f"{span(sent[0] - first_due(store, members))} after the first was due"))
    left = f"{waiting} still wait{'s' if waiting == 1 else ''} for a retry" if waiting else "none waits for a retry"
    return (f"{head} {sent[0]:%Y-%m-%d %H:%M} UTC, {when}; {n} digest{'s' if n != 1 else ''} went out since, {left}",
            sent[0])


def first_due(store, members: set[int]) -> datetime:
    """When the first digest these subscribers were sent or tried became due (``due_since``)."""
    rows = store.delivery_rows(("due_at", "attempts"), [State.SENT, State.RETRY, State.SUPERSEDED, State.FAILED],
                               members)
    return min(as_utc(due_since(d)) for d in rows if d.attempts)


def span(delta: timedelta) -> str:
    """A delay to the minute: '10 min', '2 h 5 min', '3 days 1 h'."""
    minutes = int(delta.total_seconds() // 60)
    days, hours = divmod(minutes // 60, 24)
    if days:
        return f"{days} day{'s' if days != 1 else ''} {hours} h"
    return f"{hours} h {minutes % 60} min" if hours else f"{minutes} min"


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
    return f"{notifier} resolve {quote(operator_ref(address, d.subscriber_id))} {d.digest_day}"


def operator_ref(address: str | None, sid: int) -> str:
    """A subscriber as a command given to the operator names them: the address ``operator_name``
    shows, else the id."""
    return address if address and operator_name(address, sid) == address else str(sid)


def subscriber_command(verb: str, address: str, sid: int, options: str = "") -> str:
    """`notifier VERB` of this subscriber (``operator_ref``) with ``options``, quoted for a shell."""
    return f"`notifier {verb} {quote(operator_ref(address, sid))}{' ' + options if options else ''}`"


def edit_command(address: str, sid: int, options: str) -> str:
    """`notifier edit` of this subscriber with ``options`` (``subscriber_command``)."""
    return subscriber_command("edit", address, sid, options)


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
    told_from = ctx.store.outage_ends_told_from()
    for key, text, ended in outages_over(ctx.store):         # good news: journald's -p warning shows it too
        if ended is None or (told_from and ended < told_from):
            ctx.store.raise_alert(key, text, quiet=True)     # nobody left, or over before the upgrade: nobody needs it
        elif ctx.store.raise_alert(key, text):
            event(log, "alert", logging.WARNING, text=text)
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
