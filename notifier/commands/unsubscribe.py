from notifier.commands import context, find_subscriber, named, note_declared


def add_arguments(p):
    p.add_argument("subscriber", metavar="SUBSCRIBER", help="address, name or id")


def run(args) -> int:
    with context(args) as ctx:
        sub = find_subscriber(ctx, args.subscriber)
        if not sub.active:              # what was asked holds already: not an error (exit 0)
            print(f"{named(sub)} was already unsubscribed; nothing changed")
            return 0
        note_declared(ctx, sub, "it stays unsubscribed (the file never re-subscribes anyone), but remove it there too")
        cancelled = ctx.store.remove_subscriber(sub.id)
        print(f"unsubscribed {named(sub)}" + (f"; {cancelled} queued digest(s) cancelled" if cancelled else ""))
    return 0
