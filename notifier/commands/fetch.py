from datetime import timedelta

from notifier.commands import context, parse_day
from notifier.errors import InputError


def add_arguments(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--date", help="fetch this digest day (YYYY-MM-DD)")
    g.add_argument("--since", help="fetch every day from this one (YYYY-MM-DD) to today")


def run(args) -> int:
    from notifier.pipeline import fetch_cycle

    with context(args, progress=True) as ctx:
        days = None
        if args.date:
            days = [parse_day(args.date)]
        elif args.since:
            start, today = parse_day(args.since, "--since"), ctx.now().date()
            if start > today:
                raise InputError(f"--since {start} is in the future")
            days = [start + timedelta(days=i) for i in range((today - start).days + 1)]
        reports = fetch_cycle(ctx, days=days)
    for f in reports:
        print(f"{f.source} {f.day}: {f.outcome}" + (f" ({f.found} found, {f.new} new, {f.updated} updated)"
                                                    if f.outcome == "ok" else "") + (f" - {f.error}" if f.error else ""))
    return 1 if any(f.outcome == "failed" for f in reports) else 0
