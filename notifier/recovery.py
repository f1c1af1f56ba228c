"""Deliveries a dead worker (or a Slack post's lost answer) left claimed: resolved once its lease
ran out (``recover``), and waited for at the end of a `run` on a shared database (``finish_claimed``)."""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from notifier.logs import event
from notifier.outbox import State
from notifier.planning import build_digest

if TYPE_CHECKING:
    from notifier.context import Context
    from notifier.sending import DeliveryReport
    from notifier.store import Subscriber

log = logging.getLogger("notifier.pipeline")     # the name its lines had before the cut: operators filter on it


LOOKED_FOR_LATER = "not in the channel yet: the next run or daemon sweep looks for it again"   # a lost answer's row


def lease_of(ctx: Context) -> timedelta:
    return timedelta(seconds=ctx.config.delivery.lease_seconds)


def recover(ctx: Context, now: datetime | None = None, *, at_start: bool = False,
            subscriber_ids: list[int] | None = None) -> int:
    """Resolve deliveries a dead worker left in `sending` once its lease ran out, and those a
    send whose answer was lost left so (``sending.recorded_as``); the row is taken over first,
    so of several workers one resolves it. Email is re-sent with the same
    Message-ID (recipients' clients fold the duplicate); Slack is checked for the message where
    the sender can look it up; otherwise the row becomes `unknown` for the operator (policy
    `hold`). A subscriber who is no longer active gets nothing re-sent: the row is held (see
    ``set_paused``). ``at_start`` (of `run` / `serve`) on SQLite: this process holds the local
    lock and only lock holders send, so every `sending` row was left by a dead process, however
    recent (even with a clock set back); on a shared database other workers are sending.
    ``subscriber_ids``: only these subscribers' digests (`run --subscriber`: the others' are
    left as they are, for the next full run or daemon start)."""
    from notifier.channels import Senders

    now, lease = now or ctx.now(), lease_of(ctx)
    everything = at_start and not ctx.store.shared
    claims = [d for d in ctx.store.claims_to_recover(now, lease, expired_only=not everything)
              if subscriber_ids is None or d.subscriber_id in subscriber_ids]
    if not claims:
        return 0
    subs = {s.id: s for s in ctx.store.list_subscribers(active_only=False, ids={d.subscriber_id for d in claims})}
    resolved = 0
    with Senders(ctx.config) as senders:
        for d in claims:
            if ctx.store.take_over(d.id, now, lease, expired_only=not everything, worker=d.worker) is None:
                continue                                   # another worker resolves it
            sub = subs[d.subscriber_id]
            state, why = settled(ctx, d, sub, senders.get(sub.channel, sub.address))
            ctx.store.record(d.id, state, error=why, now=now)
            resolved += 1
            event(log, "recovered interrupted delivery", logging.WARNING, subscriber=sub.address, key=d.key,
                  state=state, outcome=why)
    return resolved


def settled(ctx: Context, d, sub: Subscriber, sender) -> tuple[str, str]:
    """What ``recover`` records of a digest of ``sub`` left `sending`, and why: (state, reason).
    The reason tells a send a crash interrupted from a Slack post whose answer was lost and which
    the channel did not show at once (``sending.send_one``)."""
    find_sent = getattr(sender, "find_sent", None)
    lost = (d.last_error or "").endswith(LOOKED_FOR_LATER)
    what = "its answer was lost" if lost else "interrupted while sending"
    if not sub.active or sub.paused:
        return State.HELD, f"{what}; the subscriber is not active"
    if find_sent is not None and find_sent(build_digest(ctx, d, sub)):
        return State.SENT, "found in the channel on a later look (its answer was lost)" if lost else "confirmed after restart"
    if lost:
        what += " and it is not in the channel"
    if ctx.config.delivery.unknown_policy == "resend":
        unchecked = "" if find_sent or sub.channel == "email" else " (the channel cannot be checked: it may arrive twice)"
        return State.RETRY, f"{what}; re-sending{unchecked}"
    return State.UNKNOWN, f"{what}; check and re-queue"


def what_recovery_does(ctx: Context, sub: Subscriber, sender) -> str:
    """What becomes of a digest of ``sub`` left `sending` (its send done, its outcome unrecorded),
    as ``recover`` decides it for an active subscriber: when, then what."""
    lease = f"its claim of {ctx.config.delivery.lease_seconds} s"
    when = (f"Once {lease} runs out, the next run or a worker's sweep" if ctx.store.shared else
            f"The next `notifier run` or daemon start (a running daemon's sweep once {lease} runs out)")
    if ctx.config.delivery.unknown_policy == "resend":
        then = "sends it again" + (" with the same Message-ID (a mail client shows the two as one)"
                                   if sub.channel == "email" else "")
    else:
        then = "records it unknown, and `notifier status` names the `notifier resolve` that settles it"
    if getattr(sender, "find_sent", None) is not None:
        return f"{when} looks for it in the channel and records it sent if it is there; if not, it {then}"
    return f"{when} {then}"


def finish_claimed(ctx: Context, stop: threading.Event | None = None, poll: float = 0.5) -> list[DeliveryReport]:
    """`run` on a shared database, after its batch: wait while digests are still claimed by other
    workers, taking over and sending those whose claim expires (their worker died), so the run
    leaves nothing behind. Waits at most two leases: long enough for a dead worker's claim to run
    out, not for live workers' batches (theirs to finish). This worker's own claims are not waited
    for: its batch is over, and one still `sending` is a Slack post whose answer was lost and
    which the channel did not show yet (``sending.recorded_as``): the run reports it, and the next
    run or a worker's sweep looks for it again. (Waiting for it took the run a lease: 300 s.)"""
    import time

    from notifier.sending import send_pending      # (sending imports this module)

    def others_claims():
        return [d for d in ctx.store.deliveries(states=(State.SENDING,)) if d.worker != ctx.store.worker]

    reports: list[DeliveryReport] = []
    wait = 2 * lease_of(ctx).total_seconds()
    deadline, claimed = time.monotonic() + wait, others_claims()
    if claimed:
        event(log, "waiting for digests other workers are sending", **claims(claimed), at_most=f"{wait:g} s")
    while claimed and time.monotonic() < deadline and not (stop is not None and stop.is_set()):
        time.sleep(poll)
        reports += send_pending(ctx, stop=stop)          # takes over expired claims first
        claimed = others_claims()
    if claimed:
        event(log, "stopped waiting: digests still claimed by other workers", logging.WARNING, **claims(claimed))
    return reports


def claims(rows) -> dict:
    """Which digests are claimed, and by which workers (host:pid:random), for a log line."""
    return {"digests": len(rows), "keys": ", ".join(d.key for d in rows[:5]) + (", ..." if len(rows) > 5 else ""),
            "workers": ", ".join(sorted({d.worker or "?" for d in rows}))}
