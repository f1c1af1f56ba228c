from notifier.commands import context, option


def add_arguments(p):
    p.add_argument("address", help="e-mail address, or Slack target: #channel, C…, U…/@U…, "
                                   "https://hooks.slack.com/… or webhook:ENV_NAME")
    p.add_argument("-k", "--keywords", action="append", required=True, metavar="TEXT",
                   help='keyword profile, e.g. \'"kv cache", MoE, -diffusion\'; repeat for several profiles')
    p.add_argument("--name", default="", help="display name")
    p.add_argument("--timezone", default=None, help="IANA time zone (default: [schedule] timezone)")
    p.add_argument("--time", metavar="HH:MM", help="local delivery time (default 07:30)")
    p.add_argument("--frequency", default="daily", help="daily, weekly or weekly:DAY (mon..sun)")
    p.add_argument("--max-items", type=int, default=None, help="most papers per digest (default from config)")
    p.add_argument("--threshold", type=float, default=None, metavar="SHARE",
                   help="share of the day's best match a paper must score to be sent, 0.05-0.95: "
                        "lower sends more papers, higher fewer (default from config, else 0.4)")


def run(args) -> int:
    from notifier.subscribers import new_subscriber, settings_of

    with context(args) as ctx:
        zone = ctx.config.schedule.timezone if args.timezone is None else args.timezone
        sub = new_subscriber(address=args.address, keywords=args.keywords, name=args.name, timezone=zone,
                             time=args.time, frequency=args.frequency, max_items=args.max_items,
                             threshold=args.threshold, named=option)
        existing = ctx.store.find_subscriber(sub.address)
        if existing and not existing.active:
            ctx.store.update_subscriber(existing.id, active=True, **settings_of(sub))
            print(f"re-subscribed {sub.address} (papers sent before will not be sent again)")
            return 0
        ctx.store.add_subscriber(sub)
        print(f"subscribed {sub.address} ({sub.channel}, {sub.frequency} at {sub.delivery_time} {sub.timezone})")
    warn_missing_webhook(sub.address)
    return 0


def warn_missing_webhook(address: str) -> None:
    """webhook:NAME reads its URL from $NAME (or the systemd credential NAME) when it sends; the
    service may have it where this shell has not, so a missing one is a loud warning, not a refusal."""
    import sys

    from notifier.subscribers import missing_webhook_secret

    name = missing_webhook_secret(address)
    if name:
        print(f"notifier: warning: {address}: ${name} is not set here (nor $CREDENTIALS_DIRECTORY/{name}); "
              "its digests fail until the service has the webhook URL in it", file=sys.stderr)

