"""Deliveries go through the outbox:

    plan   (``planning.plan_batch``: a few queries and transactions for a whole batch of
           subscribers) record each one's pending delivery with its papers, or an `empty` one if
           nothing matched, or nothing if their digest for that local day exists or no paper is
           left to send;
    claim  pending/retry -> sending, committed before any network I/O;
    send   through the sender of the subscriber's destination (one per destination and batch);
    record sent / retry (with backoff) / failed / unknown, straight after.
"""
from __future__ import annotations

import json
import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from hashlib import sha256
from typing import TYPE_CHECKING, Iterator

from notifier.errors import ProfileError, StoreError
from notifier.alerts import edit_command, operator_name
from notifier.logs import event
from notifier.models import Paper
from notifier.outbox import WAITING, State
from notifier.planning import (FOLD_WINDOW, build_digest, digest_of, local_day, match_batch, next_slot_soon,
                               parse_stored, plan_batch, unplanned_days)
from notifier.recovery import LOOKED_FOR_LATER, lease_of, recover, what_recovery_does
from notifier.render import one_line
from notifier.store import Delivery, Subscriber

if TYPE_CHECKING:
    from notifier.context import Context

log = logging.getLogger("notifier.pipeline")     # the name its lines had before the cut: operators filter on it

RETRY_CAP = FOLD_WINDOW


@dataclass
class DeliveryReport:
    subscriber: str
    state: str
    papers: int = 0
    where: str | None = None
    error: str | None = None
    outbox: str | None = None      # why it was written to the outbox folder instead (``why_outbox``)

    @property
    def outcome(self) -> str:
        """What became of it, as the operator reads it: its state, or that it went to the outbox
        folder (`sent` there would read as on its way to the subscriber)."""
        return "written to the outbox" if self.outbox and self.state == State.SENT else self.state


def why_outbox(config, channel: str) -> str:
    """Why a digest of this channel goes to the outbox folder: nothing to send it with here."""
    if channel == "email":
        return "no [email] host is set"
    name = config.slack.token_env
    return f"no Slack token: ${name} is not set" if name else "no Slack token: [slack] token_env is empty"


def deliver(ctx: Context, subscriber_ids: list[int] | None = None, dry_run: bool = False,
            now: datetime | None = None, stop: threading.Event | None = None,
            alone: bool = False, at_once: bool = False) -> list[DeliveryReport]:
    """Plan and send the digests of the given subscribers (default: every active one); only
    those are read. Every digest waiting whose time has come goes out with them, unless ``alone``
    (`run --subscriber`: theirs only). ``at_once`` (`run --all`, `run --subscriber`): a late
    digest goes now rather than wait for the subscriber's time (``planning.unplanned_days``).
    ``stop`` (set by SIGTERM) ends the batch after the message in flight."""
    now, pending_of = now or ctx.now(), subscriber_ids if alone else None
    subs = ctx.store.list_subscribers(ids=subscriber_ids)
    if subs:                # none due: nothing is matched, and the matcher is not loaded
        ctx.matcher.refresh(ctx.store.papers_version())
    if dry_run:
        return preview_reports(ctx, subs, now, pending_of, at_once)
    plan_batch(ctx, subs, now=now, at_once=at_once)
    return (send_pending(ctx, pending_of, now=now, stop=stop)
            + [alerted(ctx, sub, error) for sub, _, error in parse_stored(subs) if error])


def preview_reports(ctx: Context, subs: list[Subscriber], now: datetime,
                    pending_of: list[int] | None = None, at_once: bool = False) -> list[DeliveryReport]:
    """The lines a run would print, marked dry-run, in its order: one per digest waiting whose time
    has come (a retry due), then one per digest it would plan and send (nothing matched: only with
    ``send_empty``; none for a subscriber whose digest of the day is recorded already; a waiting
    one it would fold into it is counted in it, as the catch-up carries its papers), and one whose
    stored profile no longer parses reported held, as the run holds it. ``pending_of``: only
    these subscribers' waiting digests (None: all), as ``send_pending`` takes them."""
    days = unplanned_days(ctx, subs, now, at_once=at_once)
    due = [sub for sub in subs if sub.id in days]
    waiting = ctx.store.deliveries(states=WAITING, subscriber_ids=pending_of)
    folded = {d.id for d in waiting if d.digest_day < days.get(d.subscriber_id, d.digest_day)}
    found = {sub.id: len(items) for sub, _, items, _ in match_batch(ctx, due, papers_of(waiting, folded))}
    return waiting_previews(ctx, [d for d in waiting if d.id not in folded and is_due(d, now)], now) + [
        DeliveryReport(operator_name(sub.address, sub.id), "dry-run", found[sub.id]) if sub.id in found
        else held_back(sub)
        for sub in due if found.get(sub.id, 1) or ctx.config.general.send_empty]


def papers_of(deliveries: list[Delivery], ids: set[int]) -> dict[int, set[str]]:
    """Subscriber id -> the papers in those of these digests of theirs whose id is in ``ids``."""
    papers: dict[int, set[str]] = {}
    for d in deliveries:
        if d.id in ids:
            papers.setdefault(d.subscriber_id, set()).update(i["id"] for i in json.loads(d.items))
    return papers


def waiting_previews(ctx: Context, waiting: list[Delivery], now: datetime) -> list[DeliveryReport]:
    """The dry-run lines of these waiting digests, as ``send_pending`` would send them (a retry it
    would keep for the subscriber's next digest has none)."""
    subs = {s.id: s for s in ctx.store.list_subscribers(ids={d.subscriber_id for d in waiting})}
    return [DeliveryReport(operator_name(subs[d.subscriber_id].address, d.subscriber_id), "dry-run",
                           len(json.loads(d.items)))
            for d in waiting if d.subscriber_id in subs and not next_digest_folding(d, subs[d.subscriber_id], now)]


def is_due(d: Delivery, now: datetime) -> bool:
    """A waiting digest whose time has come: never tried, or its retry's time passed."""
    return not (d.next_attempt_at and d.next_attempt_at > now)


def next_digest_folding(d: Delivery, sub: Subscriber, now: datetime) -> datetime | None:
    """When a retry of ``d`` waits for instead: the subscriber's next digest, if it is planned
    within FOLD_WINDOW and folds ``d`` (of an earlier local day) into its catch-up. None: ``d``
    goes now (not a retry backing off after a failed try, no digest that soon, or a stored
    schedule no longer usable). A retry with no next try set is one meant to go at once: a send
    a crash interrupted (``recovery``), or one the operator re-queued (`notifier resolve`)."""
    backing_off = d.state == State.RETRY and d.next_attempt_at is not None
    slot = next_slot_soon(sub, now) if backing_off else None
    return slot if slot and d.digest_day < local_day(sub, slot).isoformat() else None


def put_off(ctx: Context, d: Delivery, sub: Subscriber, now: datetime) -> bool:
    """Keep a retry due now for the subscriber's next digest (``next_digest_folding``): its next
    try becomes that moment, when planning folds it in. -> whether it was put off."""
    until = next_digest_folding(d, sub, now)
    if until is None or not ctx.store.put_off(d.id, until):
        return False
    event(log, "retry kept for the next digest", subscriber=sub.address, day=d.digest_day, until=until)
    return True


def held_back(sub: Subscriber) -> DeliveryReport:
    """A subscriber whose stored profile no longer parses: their digest waits (``readable``). The
    report names the term and the fix: the operator reading the run needs nothing else."""
    [(_, _, error)] = parse_stored([sub])
    edit = edit_command(sub.address, sub.id, "--keywords TEXT")
    return DeliveryReport(operator_name(sub.address, sub.id), State.HELD,
                          error=f"stored profile unreadable ({error}): {edit} replaces it")


def alerted(ctx: Context, sub: Subscriber, error: ProfileError) -> DeliveryReport:
    """``held_back``, and the operator alerted once for this stored text (a daemon meets it at
    every sweep; an edit into another unreadable profile is alerted again). Logged at ERROR with
    the alert, at DEBUG each later time: a line every sweep flooded journald."""
    report = held_back(sub)
    text = f"digests to {report.subscriber} wait: {report.error}"
    new = ctx.store.raise_alert(f"profile:{sub.id}:{sha256(sub.profile.encode()).hexdigest()[:16]}", text)
    event(log, "profile unreadable", logging.ERROR if new else logging.DEBUG, subscriber=report.subscriber,
          term=error.term, error=str(error))          # a webhook URL subscriber by id, as the alert: the log redacts URLs
    return report


def send_pending(ctx: Context, subscriber_ids: list[int] | None = None, now: datetime | None = None,
                 stop: threading.Event | None = None) -> list[DeliveryReport]:
    """Send every waiting delivery whose time has come, each through the sender of its own
    destination; the batch opens the senders and closes them at the end (one SMTP connection
    per batch, never an idle one kept for hours). Paused and unsubscribed subscribers' digests
    are held or cancelled by the store and never reach this loop. Claims a dead worker left
    are taken over first; digests another worker claims first are its own (not reported).
    Only the subscribers with a digest waiting are read."""
    from notifier.channels import Senders

    now = now or ctx.now()
    recover(ctx, now=now, subscriber_ids=subscriber_ids)
    waiting = ctx.store.deliveries(states=WAITING, subscriber_ids=subscriber_ids)
    subs = {s.id: s for s in ctx.store.list_subscribers(ids={d.subscriber_id for d in waiting})}
    due = [(d, subs[d.subscriber_id]) for d in waiting if d.subscriber_id in subs and is_due(d, now)]
    due = [(d, sub) for d, sub in due if not put_off(ctx, d, sub, now)]
    papers = ctx.store.get_papers({i["id"] for d, _ in due for i in json.loads(d.items)})   # once per batch
    reports = []
    with Senders(ctx.config) as senders, emails_ahead(ctx, senders, due, papers) as ahead:
        for d, sub in due:
            if stop is not None and stop.is_set():
                break
            sender = senders.get(sub.channel, sub.address)
            if not sender.halted:      # halted: e.g. SMTP login refused, every message would fail the same way
                report = send_one(ctx, d, sub, sender, now, papers, ahead.take(d.id))
                if report.state != "skipped":
                    reports.append(report)
        for label, reason in senders.halted():
            text = f"{label}: delivery stopped: {one_line(reason)}"     # a mail server's answer of several lines too
            if ctx.store.raise_alert(f"halted:{label}:{now:%Y%m%d}:{reason[:120]}", text):
                event(log, "alert", logging.ERROR, text=text)
    return reports


def send_one(ctx: Context, d: Delivery, sub: Subscriber, sender, now: datetime,
             papers: dict[str, Paper] | None = None, ready: tuple | None = None) -> DeliveryReport:
    """Claim, send, record. ``ready``: (the message, its number of papers) prepared ahead from
    the same row (``emails_ahead``); otherwise the digest is built and rendered here."""
    who = operator_name(sub.address, sub.id)        # reports are printed
    claimed = ctx.store.claim(d.id, now=now, lease=lease_of(ctx))
    if claimed is None:              # another worker (or process) has it
        return DeliveryReport(who, "skipped", len(json.loads(d.items)))
    if ready is None:
        digest = build_digest(ctx, claimed, sub, papers)
        send, n = partial(sender.send, digest), len(digest.items)
    else:
        send, n = partial(sender.send_prepared, ready[0]), ready[1]
    with renewing(ctx, d.id):
        result = send()
    error = one_line(result.error) or None      # a mail server's answer of several lines: one line of status
    state, next_at = settle(ctx, sub, result.state, claimed.attempts, now)
    stored = recorded_as(state, sender)
    if stored == State.SENDING:                      # its answer was lost: is it in the channel?
        if sender.find_sent(build_digest(ctx, claimed, sub, papers)):
            state, stored, error = State.SENT, State.SENT, None
            event(log, "answer lost; found in the channel", subscriber=sub.address, key=d.key)
        else:
            error = f"{error or 'no answer'}; {LOOKED_FOR_LATER}"
    if not record(ctx, d, sub, sender, stored, result.provider_ref, error=error,
                  next_attempt_at=next_at, now=now):
        event(log, "delivery taken over", logging.WARNING, subscriber=sub.address, key=d.key, outcome=state)
        return DeliveryReport(who, "taken over", n, where=result.provider_ref, error=error)
    level = logging.INFO if state == State.SENT else logging.WARNING
    event(log, f"delivery {state}", level, subscriber=sub.address, channel=sub.channel, via=sender.label,
          papers=n, attempt=claimed.attempts, error=error)
    return DeliveryReport(who, state, n, where=result.provider_ref, error=error,
                          outbox=why_outbox(ctx.config, sub.channel) if sender.name == "outbox" else None)


def record(ctx: Context, d: Delivery, sub: Subscriber, sender, state: str, ref: str | None, **outcome) -> bool:
    """``Store.record`` of a send that is over: if the database fails now, the error says what went
    out, that it is not recorded, and what recovery will do with it (the row stays `sending`)."""
    try:
        return ctx.store.record(d.id, state, provider_ref=ref, **outcome)
    except StoreError as err:
        went = f"was tried ({state})" if state != State.SENT else f"went out ({ref})" if ref else "went out"
        raise StoreError(f"{operator_name(sub.address, sub.id)}: the digest of {d.digest_day} {went} but could not be "
                         f"recorded: {err.problem}. {what_recovery_does(ctx, sub, sender)}") from None


PREPARE_AHEAD_MIN = 200        # a batch with at least this many emails has them rendered in a second process


def emails_ahead(ctx: Context, senders, due: list[tuple[Delivery, Subscriber]], papers: dict[str, Paper]):
    """A big batch's emails rendered and flattened in a second process, in the batch's order,
    while this one claims, sends and records (``channels.PreparedAhead``); a small batch's here."""
    from notifier.channels import PreparedAhead
    from notifier.channels.email import EmailChannel, prepare

    emails = [(d, sub) for d, sub in due if sub.channel == "email"]
    sender = senders.get("email", emails[0][1].address) if len(emails) >= PREPARE_AHEAD_MIN else None
    if not isinstance(sender, EmailChannel):
        return PreparedAhead.none()
    return PreparedAhead(partial(digest_of, ctx.config, papers=papers), prepare, sender.settings,
                         {d.id: (d, sub) for d, sub in emails})


@contextmanager
def renewing(ctx: Context, delivery_id: int) -> Iterator[None]:
    """Renew this worker's claim every third of the lease while a send runs, so a live worker's
    slow send is never taken over; a dead worker stops renewing and its claim runs out."""
    lease, done = lease_of(ctx), threading.Event()

    def renew():
        while not done.wait(lease.total_seconds() / 3):
            if not ctx.store.renew(delivery_id, ctx.now(), lease):
                return
    renewer = threading.Thread(target=renew, name=f"lease-{delivery_id}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        done.set()
        renewer.join()


def settle(ctx: Context, sub: Subscriber, state: str, attempts: int, now: datetime) -> tuple[str, datetime | None]:
    """A send's outcome -> (the delivery's state, when to try again)."""
    if state == State.UNKNOWN and sub.channel == "email" and ctx.config.delivery.unknown_policy == "resend":
        state = State.RETRY     # re-sent later with the same Message-ID: a copy is recognisably the same mail
    if state != State.RETRY:
        return state, None
    if attempts >= ctx.config.delivery.max_attempts:
        return State.FAILED, None
    return state, now + min(RETRY_CAP, timedelta(seconds=ctx.config.delivery.retry_base_seconds * 2 ** (attempts - 1)))


def recorded_as(state: str, sender) -> str:
    """The state a send's outcome is stored in. One of unknown outcome stays `sending` where the
    channel can be looked up (a Slack bot's: the answer to its post was lost): ``send_one`` looks
    for it at once and records it sent if it is there; if not yet, recovery looks again once its
    claim runs out, as after a crash: found, it is sent; not found, it goes the ``unknown_policy``
    way (never re-posted at once: Slack may still be taking the post)."""
    return State.SENDING if state == State.UNKNOWN and getattr(sender, "find_sent", None) is not None else state


def send_operator_message(ctx: Context, target: str, subject: str, text: str) -> bool:
    """Send an alert to the operator's address or Slack target; True when it went out."""
    from notifier.channels import send_text

    result = send_text(ctx.config, target, subject, text)
    if result.state != State.SENT:
        event(log, "alert not sent", logging.ERROR, target=target, error=result.error)
    return result.state == State.SENT
