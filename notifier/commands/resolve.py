"""`notifier resolve SUBSCRIBER DAY delivered|resend`: settle a digest of unknown outcome (its
connection was lost after the data went out; `[delivery] unknown_policy = "hold"` leaves it to
the operator), as `notifier status` says."""

from notifier.alerts import edit_command, operator_name
from notifier.commands import context, find_subscriber, parse_day
from notifier.errors import InputError
from notifier.outbox import State
from notifier.store.tables import delivery_key

OUTCOMES = {"delivered": State.SENT, "resend": State.RETRY}
DONE = {"delivered": "recorded sent", "resend": "re-queued: the next run or daemon sweep sends it again, "
                                                "with the same Message-ID"}


def add_arguments(p):
    p.add_argument("subscriber", metavar="SUBSCRIBER", help="address, name or id")
    p.add_argument("day", metavar="DAY", help="the digest's day (YYYY-MM-DD), as `notifier status` lists it")
    p.add_argument("outcome", choices=list(OUTCOMES),
                   help="delivered: the mail server's log shows it arrived; resend: it did not, send it again")


def run(args) -> int:
    with context(args) as ctx:
        sub = find_subscriber(ctx, args.subscriber)
        day = parse_day(args.day, "day")
        key = delivery_key(sub.id, day)
        name = operator_name(sub.address, sub.id)
        if args.outcome == "resend" and not sub.active:
            raise InputError(f"{name} has unsubscribed: nothing is sent to them again")
        d = ctx.store.resolve_unknown(key, OUTCOMES[args.outcome], ctx.now())
        if d is None:
            raise InputError(not_unknown(ctx.store.delivery_by_key(key), name, day))
        resume = edit_command(sub.address, sub.id, "--resume")
        print(f"{name} {day}: {DONE[args.outcome]}"
              + (f" once they resume ({resume})" if d.state == State.HELD else ""))
    return 0


def not_unknown(d, address: str, day) -> str:
    """Why there is nothing to resolve: no such digest, or it is not of unknown outcome (any more)."""
    if d is None:
        return f"no digest of {day} for {address} (see `notifier status`)"
    return f"the digest of {day} for {address} is {d.state}, not unknown: nothing to resolve"
