"""`notifier status`: exit 0 when all is well, 3 when something needs the operator."""
from collections import Counter
from datetime import timedelta
from shlex import quote

from notifier.alerts import (SILENT_HOURS, delivery_outages, not_fetched, operator_name, resolve_command, span,
                             unsubscribed)
from notifier.commands import context
from notifier.errors import StoreFull
from notifier import outbox

ATTENTION = 3
LISTED = 50          # subscribers listed one by one; more are summarised
RECENT_DAYS = 5
# Waiting digests are sent by the daemon's sweep (every 5 minutes, or its --sweep-minutes) or the
# timer's `notifier run` (every 15: systemd/notifier-run.timer): one later past its next try than
# both has nothing sending it.
CYCLE = timedelta(minutes=15)


EXIT_STATUS = ("exit status: 0 all is well; 1 an error (the configuration or the database could not be read); "
               f"{ATTENTION} something needs the operator: a source failing, a digest failed, of unknown outcome "
               f"or OVERDUE, a channel that has delivered nothing for {SILENT_HOURS} hours while digests wait for a "
               "retry (an OUTAGE), a stored profile that no longer parses, or no room on the database's disk (each "
               "is listed)")


def add_arguments(p):
    p.epilog = EXIT_STATUS


def run(args) -> int:
    """A database that cannot be written for want of room (or a failing disk) cannot be opened by
    SQLite either (its write-ahead log): that is the service stopped, for the operator to fix (3),
    not a broken check (1)."""
    try:
        return print_report(args)
    except StoreFull as err:
        print(f"Database: {err.problem}; nothing is fetched, sent or recorded until it can be written")
        return ATTENTION


def print_report(args) -> int:
    with context(args) as ctx:
        st = ctx.store
        attention = print_sources(st, ctx.config)
        print_holds(st.retry_after_holds(), ctx.now())
        subscribers = st.subscriber_rows("id", "address", "profile", "paused", paused=True)  # held, not gone
        last_sent = st.latest_deliveries((outbox.State.SENT,))
        print_subscribers(subscribers, last_sent)
        attention |= print_unreadable([s for s in subscribers if not s.paused])
        attention |= print_deliveries(ctx, last_sent, notifier_as_called(args))
        print_held(ctx)
        attention |= print_outages(delivery_outages(st, ctx.now()))
    return ATTENTION if attention else 0


def held_lines(ctx, ids: list[int]) -> list[str]:
    """A line for each of these subscribers whose late digest waits for their time coming within
    hours (``planning.held_for_their_time``), to go out then with that day's papers in one message:
    the run that sent nothing of theirs says when it goes, and how to send it now."""
    from zoneinfo import ZoneInfo

    from notifier.planning import held_for_their_time

    now, subs = ctx.now(), ctx.store.list_subscribers(ids=ids)
    held = held_for_their_time(ctx, subs, now)
    lines = []
    for sub in subs:
        if sub.id in held:
            who, slot = operator_name(sub.address, sub.id), held[sub.id]
            minutes = max(1, round((slot - now).total_seconds() / 60))
            within = f"{minutes} min" if minutes < 60 else f"{round(minutes / 60, 1):g} h"
            lines.append(f"wait {who}: their late digest waits for their time, "
                         f"{slot.astimezone(ZoneInfo(sub.timezone)):%H:%M} {sub.timezone} (in {within}), to go out "
                         f"with that day's papers in one message; `notifier run --subscriber {who}` sends it now")
    return lines


def print_held(ctx) -> None:
    """A line for each subscriber whose late digest waits for their time (``held_lines``), as the
    run that kept it said: nothing is pending for them yet, and nobody else names it."""
    from notifier.schedule import due_now

    due = due_now(ctx.store, ctx.now())
    for line in held_lines(ctx, due) if due else ():
        print(f"  {line}")


def print_deliveries(ctx, last_sent, notifier: str) -> bool:
    """One line per digest not delivered, except a failed one planned before the subscriber's
    latest sent digest: its papers were offered again, so that one carried them; and one whose
    subscriber unsubscribed since: nothing more is sent to them (each kind counted in one line).
    An `unknown` one keeps counting whatever was sent since (its papers are taken: no later digest
    carried them) and is followed by the two commands that settle it. A `sending` one whose
    worker stopped says so. Past LISTED digests, those on their way that need nobody are counted
    by state (a run interrupted while planning 20,000 left as many lines). -> any failed or of
    unknown outcome?"""
    unfinished = ctx.store.deliveries(states=outbox.UNFINISHED)
    gone = unsubscribed(ctx.store, unfinished)
    kept = [d for d in unfinished if d.subscriber_id not in gone]
    problems = [d for d in kept if not caught_up(d, last_sent)]
    print("Deliveries:" + ("" if problems else " nothing pending" if unfinished else " nothing pending or failed"))
    print_counted(len(kept) - len(problems), len(unfinished) - len(kept))
    stopped = interrupted(ctx) if any(d.state == outbox.State.SENDING for d in problems) else set()
    late, cycle, on_their_way = False, sending_cycle(ctx.store), Counter()
    subs = ctx.store.addresses_of(d.subscriber_id for d in problems)
    for d in problems:
        retry, overdue = next_try(d, ctx.now(), cycle)
        late |= overdue
        if len(problems) > LISTED and not (overdue or d.state in outbox.ATTENTION or d.id in stopped):
            on_their_way[d.state] += 1
            continue
        print_delivery(d, subs.get(d.subscriber_id), retry, d.id in stopped, notifier)
    print_on_their_way(on_their_way)
    return late or any(d.state in outbox.ATTENTION for d in problems)


def print_delivery(d, address: str, retry: str, stopped: bool, notifier: str) -> None:
    """A digest's line (and for one of unknown outcome, the commands that settle it)."""
    error = ("its send was cut short (its worker stopped, or the channel's answer was lost); the next run or daemon "
             "sweep resolves it") if stopped else d.last_error
    print(f"  {d.state:<8} {operator_name(address, d.subscriber_id)} {d.digest_day} (attempts {d.attempts}{retry})"
          + (f": {error}" if error else ""))
    if d.state == outbox.State.UNKNOWN:
        print_resolve(resolve_command(d, address, notifier))


def print_outages(outages: list[tuple[str, str]]) -> bool:
    """A line per channel (or subscriber) that has delivered nothing for a day while digests wait,
    as the operator's alert says it: the retries listed above are no passing refusal. -> any?"""
    for _, text in outages:
        print(f"  OUTAGE: {text}")
    return bool(outages)


def print_on_their_way(states: Counter) -> None:
    """One line counting, by state, the digests not listed one by one."""
    if states:
        print(f"  {sum(states.values())} waiting to be sent (nothing to do: the next run or daemon sweep sends them): "
              + ", ".join(f"{n} {state}" for state, n in sorted(states.items())))


def sending_cycle(store) -> timedelta:
    """How late a waiting digest can be while something still sends it: a CYCLE, or the sweep
    interval the daemon last started with (`notifier serve --sweep-minutes`), if longer."""
    from notifier.commands.serve import SWEEP_MINUTES_KEY

    return max(CYCLE, timedelta(minutes=float(store.setting(SWEEP_MINUTES_KEY) or 0)))


def next_try(d, now, cycle: timedelta = CYCLE) -> tuple[str, bool]:
    """", next try WHEN" of a digest waiting for one, saying how overdue it is once that passed
    -> (that, whether it is more than a ``cycle`` overdue: nothing is sending it)."""
    from notifier.clock import as_utc

    if d.next_attempt_at is None:
        return "", False
    text, late = f", next try {when(d.next_attempt_at)}", now - as_utc(d.next_attempt_at)
    if d.state not in outbox.WAITING or late <= timedelta(0):
        return text, False
    if late <= cycle:
        return f"{text}, overdue by {span(late)}", False
    return (f"{text}, OVERDUE by {span(late)}: nothing has tried it since (no daemon or timer run, "
            "or its channel stopped: see the log)"), True


def print_counted(caught: int, gone: int) -> None:
    if caught:
        print(f"  {caught} failed earlier, caught up by a later digest sent since")
    if gone:
        print(f"  {gone} not delivered (failed, or of unknown outcome) to subscribers who unsubscribed since: "
              "nothing more is sent to them")


def notifier_as_called(args) -> str:
    """`notifier`, with this status's --config if one was given: the commands it prints use it."""
    return "notifier" + (f" --config {quote(args.config)}" if args.config else "")


def print_resolve(command: str) -> None:
    print(f"           it arrived (see the mail log or the channel)? {command} delivered\n"
          f"           it did not? send it again:                    {command} resend")


def caught_up(d, last_sent) -> bool:
    """A failed digest planned before the subscriber's latest sent one (which then had its papers)."""
    from notifier.clock import as_utc

    later = last_sent.get(d.subscriber_id)
    return d.state == outbox.State.FAILED and later is not None and as_utc(later.created_at) > as_utc(d.created_at)


def interrupted(ctx) -> set[int]:
    """The `sending` digests whose worker stopped (its lease ran out, or its process on this host is gone)."""
    from notifier.recovery import lease_of

    return {d.id for d in ctx.store.claims_to_recover(ctx.now(), lease_of(ctx))}


def print_sources(st, config) -> bool:
    """One line per source fetched: its latest success, and whether it is failing (since its first
    failure after that success, with the latest error; only one that the configuration still has
    fetched is: a failure of one it no longer fetches will not end, and needs nobody). -> any failing?"""
    print("Sources:")
    sources = st.fetch_sources()
    if not sources:
        print("  no fetch yet")
    failing = False
    for source in sources:
        ok, off = st.last_fetch(source), not_fetched(config, source)
        bad = st.last_fetch(source, outcome=outbox.FetchState.FAILED)
        latest_failed = off is None and bad is not None and (ok is None or bad.id > ok.id)
        failing |= latest_failed
        print(f"  {source:<12} last ok: {last_ok(ok)}" + (f"; not fetched: {off}" if off else "")
              + (f"; FAILING since {when(st.first_failure(source, ok).started_at)}: {bad.error}" if latest_failed else ""))
    return failing


def print_holds(holds: dict, now) -> None:
    """One line per host group whose Retry-After has not ended: no run or worker asks it before then."""
    from notifier.clock import as_utc

    for group, (until, problem, _) in sorted(holds.items()):
        if as_utc(until) > as_utc(now):
            print(f"  {group} sources held until {when(until)}: their host answered {problem} with a Retry-After "
                  "(no fetch asks it before then)")


def last_ok(run) -> str:
    """A source's latest successful fetch: when, for which day, and what it brought (a "not
    modified" answer brought nothing and kept what is stored: "0 new" read as an empty day)."""
    if run is None:
        return "never"
    if run.outcome == outbox.FetchState.NOT_MODIFIED:
        brought = "not modified"
    else:
        brought = f"{run.new} new" + (f", {run.skipped} malformed skipped ({run.error})" if run.skipped else "")
    return f"{when(run.finished_at)} (day {run.digest_day}, {brought})"


def when(moment) -> str:
    """A stored instant as UTC, labelled so: an operator in another zone would read it as local."""
    from datetime import timezone

    from notifier.clock import as_utc

    return f"{as_utc(moment).astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC"


def print_unreadable(subs) -> bool:
    """Subscribers whose stored profile this version no longer reads: their digests wait. -> any?"""
    from notifier.planning import parse_stored

    unreadable = False
    for sub, _, error in parse_stored(subs):
        if error is not None:
            print(f"  {operator_name(sub.address, sub.id)}: PROFILE UNREADABLE, digests wait until it is edited: "
                  f"{error}")
            unreadable = True
    return unreadable


def print_subscribers(subs, last_sent) -> None:
    """One line per subscriber (a paused one says so); past LISTED of them, how many got their
    latest digest on which day."""
    print("Subscribers:" + ("" if subs else " none"))
    if len(subs) <= LISTED:
        for sub in subs:
            last = last_sent.get(sub.id)
            print(f"  {operator_name(sub.address, sub.id):<28} last sent: "
                  + (f"{when(last.sent_at)} ({last.digest_day})" if last and last.sent_at else "never")
                  + ("; paused" if sub.paused else ""))
        return
    days = Counter(last_sent[s.id].digest_day if s.id in last_sent else "never" for s in subs)
    never, paused = days.pop("never", 0), sum(1 for s in subs if s.paused)
    recent = sorted(days, reverse=True)
    print(f"  {len(subs)} active" + (f" ({paused} of them paused)" if paused else "")
          + "; their latest digest sent was for (digest day: subscribers)")
    for day in recent[:RECENT_DAYS]:
        print(f"    {day}: {days[day]}")
    if recent[RECENT_DAYS:]:
        print(f"    before {recent[RECENT_DAYS - 1]}: {sum(days[d] for d in recent[RECENT_DAYS:])}")
    if never:
        print(f"    never: {never}")
