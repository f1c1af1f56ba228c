"""`notifier run`: one cycle now. Its exit status tells cron or a systemd timer whether every digest
due went out: 0 yes, 1 a fetch failed, 3 a digest failed, waits for a retry or is held back (as
`notifier status`, whose list names them). On a shared database each worker's run answers for its
own digests (``left_waiting``)."""
from notifier.commands import find_subscriber, parse_day
from notifier.commands.status import ATTENTION, held_lines, when
from notifier.outbox import FetchState, State

EXIT_STATUS = ("exit status: 0 every digest due was sent (or had nothing to send); 1 a fetch failed "
               "(or any other error); 3 a digest failed, waits for a retry or is held back by a stored "
               "profile that no longer parses (`notifier status` lists them). A paused subscriber's digests "
               "are held, and count as neither. With several workers on one PostgreSQL database, a run "
               "answers only for the digests it tried or was due to send.")


def add_arguments(p):
    p.epilog = EXIT_STATUS
    p.add_argument("--date", help="fetch this digest day (YYYY-MM-DD) instead of catching up")
    p.add_argument("--dry-run", action="store_true", help="fetch and match, but record and send nothing")
    p.add_argument("--all", action="store_true", help="deliver to every subscriber now, not only those due (a late "
                   "digest too, which a run keeps for the subscriber's time when it comes within 6 hours)")
    p.add_argument("--subscriber", help="only this subscriber (address, name or id), now")


def run(args) -> int:
    from notifier.commands import load
    from notifier.config import require_secrets, warn_unsubscribe_missing
    from notifier.lock import DaemonLock
    from notifier.logs import progress_console
    from notifier.context import open_context
    from notifier.fetch_cycle import fetch_cycle
    from notifier.recovery import finish_claimed, recover
    from notifier.sending import deliver
    from notifier.schedule import due_now

    config = load(args) if args.dry_run else require_secrets(load(args))
    waiting = []
    with DaemonLock.of(config), open_context(config, progress=True) as ctx:
        asked = deliverable(ctx, args.subscriber) if args.subscriber else None    # before a fetch of minutes
        if not args.dry_run:
            in_terminal = progress_console() is not None
            warn_unsubscribe_missing(config, first=lambda what: in_terminal or ctx.store.said_first_on(ctx.now(), what))
            recover(ctx, at_start=True, subscriber_ids=[asked.id] if asked else None)    # theirs only, as the rest
        days = [parse_day(args.date, latest=ctx.now().date())] if args.date is not None else None
        fetched = fetch_cycle(ctx, days=days)
        if asked:
            ids = [asked.id]
        elif args.all:
            ids = None                  # every active one
        else:
            ids = due_now(ctx.store, ctx.now())
        at_once = asked is not None or args.all          # asked for now: a late digest does not wait for its time
        reports = deliver(ctx, ids, dry_run=args.dry_run, alone=asked is not None, at_once=at_once)
        held = [] if at_once else held_lines(ctx, ids)
        if ctx.store.shared and not args.dry_run and not asked:
            reports += finish_claimed(ctx)       # other workers' digests, if one of them died
        if not args.dry_run:
            from notifier.alerts import raise_alerts

            raise_alerts(ctx)
            waiting = left_waiting(ctx, ids, alone=asked is not None)      # a retry not due yet, a halted sender's
        idle = "" if reports or waiting or held else nothing_sent(ctx, ids)
    return summary(fetched, reports, waiting, idle, held)


def nothing_sent(ctx, ids: list[int] | None) -> str:
    """Why a run sent nothing: nobody was due, or the digests of the day of those asked for (None:
    every active subscriber) were sent already, by another worker or an earlier run; or no
    digest had anything to send."""
    if ids == []:
        return "no digest due"
    sent = sent_elsewhere(ctx, ids)
    by = "another worker" if ctx.store.shared else "an earlier run (or the daemon)"
    return f"no digest to send: {sent} already sent by {by}" if sent else "no digest to send"


def sent_elsewhere(ctx, ids: list[int] | None) -> int:
    """How many of these subscribers' digests of their day were sent by another worker or process."""
    from notifier.planning import local_day
    from notifier.store.tables import delivery_key

    now, asked = ctx.now(), None if ids is None else set(ids)
    keys = [delivery_key(r.id, local_day(r, now)) for r in ctx.store.subscriber_rows("id", "timezone")
            if asked is None or r.id in asked]
    return sum(1 for d in ctx.store.delivery_keys(keys).values() if d.state == State.SENT and d.worker != ctx.store.worker)


def left_waiting(ctx, ids: list[int] | None, alone: bool = False) -> list:
    """The digests waiting to be sent that this run answers for. On SQLite one process delivers,
    so every one, but a run for one subscriber (``alone``) answers for theirs only. On a shared
    database each worker's run answers for its own: those it tried last (a retry) and those of
    the subscribers it delivered to that it did not try (their channel stopped). Another
    worker's retry fails that worker's run, not this one's."""
    from notifier.outbox import WAITING

    rows = ctx.store.deliveries(states=WAITING, subscriber_ids=ids if alone else None)
    if not ctx.store.shared:
        return rows
    asked = None if ids is None else set(ids)
    return [d for d in rows if d.worker == ctx.store.worker
            or (d.worker is None and (asked is None or d.subscriber_id in asked))]


def summary(fetched: list, reports: list, waiting: list, idle: str, held: list[str] = ()) -> int:
    """Print a line per fetch and per delivery, one per late digest held for its time
    (``held_lines``), then what was not delivered, or ``idle`` (why nothing was sent) -> the exit
    status."""
    for f in fetched:
        print(f"fetch {f.source} {f.day}: {f.outcome}" + (f" ({f.found} found, {f.new} new)" if f.outcome == FetchState.OK else "")
              + (f" - {f.error}" if f.error else ""))
    for r in reports:
        print(f"deliver {r.subscriber}: {r.outcome}" + (f" ({r.outbox})" if r.outcome != r.state else "")
              + f", {r.papers} paper{'s' if r.papers != 1 else ''}"
              + (f" - {r.error}" if r.error else ""))
    for line in held:
        print(line)
    lost = [r.state for r in reports if r.state in (State.FAILED, State.UNKNOWN, State.HELD)]
    if lost or waiting:
        print(not_delivered(lost, waiting))
    elif not reports:
        print(idle)
    return 1 if any(f.outcome == FetchState.FAILED for f in fetched) else ATTENTION if lost or waiting else 0


def deliverable(ctx, ref: str):
    """The subscriber --subscriber names; InputError if they would get nothing (paused, unsubscribed)."""
    from notifier.alerts import edit_command, operator_name
    from notifier.errors import InputError

    sub = find_subscriber(ctx, ref)
    name = operator_name(sub.address, sub.id)
    if not sub.active:
        raise InputError(f"{name} has unsubscribed: nothing to deliver")
    if sub.paused:
        raise InputError(f"{name} is paused: nothing to deliver ({edit_command(sub.address, sub.id, '--resume')})")
    return sub


def not_delivered(lost: list[str], waiting: list) -> str:
    """The summary line of a run that left digests undelivered: how many failed for good, how
    many may not have arrived (`unknown`), how many were held back (a stored profile that no
    longer parses), how many wait for a retry (and when the first is tried), how many were not
    tried (their channel stopped the batch: SMTP login refused)."""
    from notifier.clock import as_utc

    retries = [d for d in waiting if d.state == State.RETRY]
    times = [as_utc(d.next_attempt_at) for d in retries if d.next_attempt_at]      # None: re-sent at once
    counts = ((lost.count(State.FAILED), "failed"), (lost.count(State.UNKNOWN), "of unknown outcome"),
              (lost.count(State.HELD), "held back (stored profile unreadable)"),
              (len(retries), "waiting for a retry" + (f" (next try {when(min(times))})" if times else "")),
              (len(waiting) - len(retries), "not sent yet"))
    return f"not delivered: {', '.join(f'{n} {what}' for n, what in counts if n)}; `notifier status` lists them"
