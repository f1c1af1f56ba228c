import sys
from dataclasses import replace

from notifier.alerts import edit_command
from notifier.commands import bring_back, context, find_subscriber, named, parse_day, write_whole
from notifier.commands.edit import check_stored
from notifier.errors import InputError


def add_arguments(p):
    p.add_argument("subscriber", metavar="SUBSCRIBER", help="address, name or id")
    p.add_argument("--date", help="use the papers of this digest day (default: what would be sent next)")
    p.add_argument("--format", choices=("html", "text", "slack"), default=None,
                   help="default: text for e-mail subscribers, slack for Slack ones")
    p.add_argument("--output", metavar="FILE", help="write to FILE instead of standard output")


def run(args) -> int:
    import json

    from notifier.planning import preview_digest
    from notifier import render

    with context(args) as ctx:
        sub = find_subscriber(ctx, args.subscriber)
        check_stored(sub)
        nothing_stored = args.date is None and not ctx.store.count_papers()
        digest = unsent(preview_digest(ctx, sub, stored_day(ctx, args.date) if args.date is not None else None))
        fmt = args.format or ("slack" if sub.channel == "slack" else "text")
        if fmt == "slack":
            msg = render.render_slack(digest)
            out = json.dumps({"text": msg.text, "blocks": msg.blocks, "thread": msg.thread}, indent=2, ensure_ascii=False)
        else:
            email = render.render_email(digest, template_dir=ctx.config.general.template_dir or None)
            out = email.html if fmt == "html" else f"Subject: {email.subject}\n\n{email.text}"
    if args.output:
        write_whole(args.output, lambda fh: fh.write(out), f"--output {args.output}")
        print(f"wrote {args.output}")
    else:
        print(out)
    if nothing_stored:          # else the digest reads as if nothing had matched the profile
        print("notifier: warning: no papers stored yet, so this digest is empty: `notifier fetch` fetches today's",
              file=sys.stderr)
    if not sub.active or sub.paused:    # else it reads as what they will get
        print(f"notifier: warning: {named(sub)} {not_sent(sub)}", file=sys.stderr)
    return 0


def unsent(digest):
    """A preview without "View this digest in your browser" (nor "See all 10 in your browser"):
    that page shows a sent digest, so its link answered 410 ("not stored here") until this one was
    sent, and then showed what was sent, which may differ. The manage and vote links work now, and stay."""
    if digest.links:
        digest.links = replace(digest.links, browser="")
    return digest


def not_sent(sub) -> str:
    if not sub.active:
        return f"has unsubscribed: no digest is sent to them ({bring_back(sub)})"
    return f"is paused: no digest is sent until {edit_command(sub.address, sub.id, '--resume')}"


def stored_day(ctx, text: str):
    """--date as a digest day with stored papers: another (a typo, a day not fetched) would preview
    as an empty digest, 'No new papers', as if nothing had matched."""
    day = parse_day(text, latest=ctx.now().date())
    if not ctx.store.papers_on_day(day.isoformat()):
        raise InputError(f"--date {day}: no papers stored for that digest day "
                         f"(`notifier fetch --date {day}` fetches them)")
    return day
