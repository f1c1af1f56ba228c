import json

from notifier.commands import context


def add_arguments(p):
    p.add_argument("--all", action="store_true", help="include unsubscribed ones")
    p.add_argument("--json", action="store_true", help="print JSON lines")


def run(args) -> int:
    with context(args) as ctx:
        subs = ctx.store.list_subscribers(active_only=not args.all)
        if args.json:
            for s in subs:
                print(json.dumps({"id": s.id, "name": s.name, "address": s.address, "channel": s.channel,
                                  "profiles": json.loads(s.profile), "timezone": s.timezone,
                                  "time": s.delivery_time, "frequency": s.frequency, "weekday": s.weekday,
                                  "max_items": s.max_items, "threshold": s.threshold, "active": s.active,
                                  "origin": s.origin}))
            return 0
        if not subs:
            print("no subscribers yet: add one with `notifier subscribe ADDRESS --keywords TEXT`")
            return 0
        from rich.console import Console
        from rich.table import Table

        table = Table(show_lines=True)
        threshold = _default_threshold(ctx.config)
        for col in ("id", "name", "address", "profile", "when", "max", "threshold", "from"):
            table.add_column(col)
        for s in subs:
            when = f"{s.frequency}{' ' + s.weekday if s.weekday else ''} {s.delivery_time} {s.timezone}"
            table.add_row(str(s.id), s.name, s.address + ("" if s.active else " (off)"),
                          "\n".join(json.loads(s.profile)), when, str(s.max_items or ctx.config.matching.max_items),
                          f"{s.threshold if s.threshold is not None else threshold:g}", s.origin)
        Console(width=160).print(table)
    return 0


def _default_threshold(config) -> float:
    """What a subscriber without their own threshold gets: the configured one, else the matcher's."""
    if config.matching.threshold is not None:
        return config.matching.threshold
    from notifier.match import RELATIVE_THRESHOLD

    return RELATIVE_THRESHOLD
