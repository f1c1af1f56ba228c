from notifier.commands import context, max_items_help, named, note_declared, option, subscribe_command
from notifier.subscribers import canonical_address, new_subscriber, settings_of, stored_profiles


def add_arguments(p):
    p.add_argument("address", metavar="ADDRESS", help="e-mail address, or Slack target: #channel, C…, U…/@U…, "
                                   "https://hooks.slack.com/… or webhook:ENV_NAME; for someone who unsubscribed, "
                                   "their id too")
    p.add_argument("-k", "--keywords", action="append", metavar="TEXT",
                   help='keyword profile, e.g. \'"kv cache", MoE, -diffusion\'; repeat for several profiles '
                        "(required, but for someone who unsubscribed: without it they get their profiles back; "
                        "the other options they do not give are as they were too)")
    p.add_argument("--name", help="display name")
    p.add_argument("--timezone", default=None, metavar="ZONE", help="IANA time zone (default: [schedule] timezone)")
    p.add_argument("--time", metavar="HH:MM", help="local delivery time (default 07:30)")
    p.add_argument("--frequency", help="daily (default), weekly or weekly:DAY (mon..sun)")
    p.add_argument("--max-items", type=int, default=None, metavar="N", help=max_items_help(" (default from config)"))
    p.add_argument("--threshold", type=float, default=None, metavar="SHARE",
                   help="share of the day's best match a paper must score to be sent, 0.05-0.95: "
                        "lower sends more papers, higher fewer (default from config, else 0.4)")
    p.set_defaults(usage_error=p.error)


def run(args) -> int:
    from notifier.commands.edit import stored_or_given

    with context(args) as ctx:
        existing = ctx.store.find_subscriber(canonical_address(args.address))      # by address, or by id
        gone = existing if existing and not existing.active else None
        settings = stored_or_given(gone, args) if gone else given(args, ctx.config.schedule.timezone)
        sub = new_subscriber(address=existing.address if existing else args.address, named=option,
                             keywords=profiles_given(args, existing), kept=stored_profiles(existing), **settings)
        if gone:
            ctx.store.update_subscriber(gone.id, active=True, **settings_of(sub))
            note_declared(ctx, gone)
            print(f"re-subscribed {named(gone)} ({when(sub)}"
                  f"{'' if args.keywords else '; the profiles they had: ' + shown(gone)}; "
                  "papers sent before will not be sent again)")
            return 0
        ctx.store.add_subscriber(sub)
        print(f"subscribed {named(sub)} ({when(sub)})")
    warn_missing_webhook(sub.address)
    return 0


def given(args, default_zone: str) -> dict:
    """``new_subscriber``'s settings for someone new: the options, else the defaults."""
    return dict(name=args.name or "", timezone=default_zone if args.timezone is None else args.timezone,
                time=args.time, frequency=args.frequency or "daily", max_items=args.max_items,
                threshold=args.threshold)


def when(sub) -> str:
    return f"{sub.channel}, {sub.frequency}{' ' + sub.weekday if sub.weekday else ''} at {sub.delivery_time} {sub.timezone}"


def profiles_given(args, existing) -> list[str]:
    """--keywords; without it, the stored profiles of the subscriber with that address (one who
    unsubscribed gets them back; one still subscribed gets the store's "already exists")."""
    if args.keywords:
        return args.keywords
    if existing is None:
        args.usage_error("the following arguments are required: -k/--keywords (a keyword profile)")
    from notifier.commands.edit import check_stored

    check_stored(existing, f"{subscribe_command(existing, '-k TEXT')} gives them a new one")
    return stored_profiles(existing)


def shown(sub) -> str:
    """Their stored profiles as the message names them: 'agents' | 'agents'."""
    return " | ".join(f"'{text}'" for text in stored_profiles(sub))


def warn_missing_webhook(address: str) -> None:
    """webhook:NAME reads its URL from $NAME (or the systemd credential NAME) when it sends; the
    service may have it where this shell has not, so a missing one is a loud warning, not a refusal."""
    import sys

    from notifier.subscribers import missing_webhook_secret

    name = missing_webhook_secret(address)
    if name:
        print(f"notifier: warning: {address}: ${name} is not set here (nor $CREDENTIALS_DIRECTORY/{name}); "
              "its digests fail until the service has the webhook URL in it", file=sys.stderr)

