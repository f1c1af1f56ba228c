from datetime import timedelta

from notifier.commands import context
from notifier.errors import InputError


def add_arguments(p):
    p.add_argument("--older-than", type=int, metavar="DAYS",
                   help="age in days (default: [general] retention_days)")


def run(args) -> int:
    from notifier.config import BOUNDS

    low, high = BOUNDS["general.retention_days"]
    if args.older_than is not None and not low <= args.older_than <= high:
        raise InputError(f"--older-than {args.older_than} must be between {low} and {high} days")
    with context(args) as ctx:
        days = args.older_than if args.older_than is not None else ctx.config.general.retention_days
        n = ctx.store.prune_raw(days)
        print(f"pruned the raw source records of {n} paper{'s' if n != 1 else ''} not updated for {days} days "
              "(papers and sightings kept)")
        n = ctx.store.prune_said(ctx.now().replace(hour=0, minute=0, second=0, microsecond=0))
        print(f"pruned {n} marker{'s' if n != 1 else ''} of warnings said once a day, of earlier days")
        hours = ctx.config.web.confirm_hours
        n = ctx.store.prune_signups(timedelta(hours=hours))
        print(f"pruned {n} web sign-up{'s' if n != 1 else ''} whose confirmation link expired (older than {hours} hours)")
    return 0
