"""`notifier subscribers`: list them; `import FILE` / `export [FILE]` many at once (CSV or JSON lines)."""
import sys

from notifier.commands import context, named, write_whole
from notifier.config import DEFAULT_THRESHOLD
from notifier.subscribers import shown_name, stored_profiles

SHOWN = 200          # table rows printed before a summary of the rest


def add_arguments(p):
    p.add_argument("action", nargs="?", default="list", choices=("list", "import", "export"),
                   help="list (default); import FILE: add or update every subscriber in it, all or nothing; "
                        "export [FILE]: write them (standard output when no FILE)")
    p.add_argument("file", nargs="?", metavar="FILE", help="for import/export: a .csv or .jsonl file; - for standard input/output")
    p.add_argument("--format", choices=("csv", "jsonl"), help="file format (default: from the file name; "
                                                             "export to standard output: jsonl); with list: "
                                                             "print the subscribers so instead of a table")
    p.add_argument("--all", action="store_true", help="include those who unsubscribed (a full backup needs it; "
                                                      "paused ones are always in)")
    p.add_argument("--resubscribe", action="store_true", help="for import: make active again those who "
                   "unsubscribed (without it they stay unsubscribed: a row of an old export says active)")
    p.add_argument("--json", action="store_true", help="for list: print JSON lines")
    p.set_defaults(usage_error=p.error)


# The flags that apply to some actions only: used with another, each said nothing and did nothing.
FLAG_ACTIONS = {"all": ("list", "export"), "resubscribe": ("import",), "json": ("list",)}


def check_usage(args) -> None:
    """A usage error (exit 2, as argparse's own) for a FILE, flag or standard input the action cannot take."""
    if args.file and args.action == "list":
        args.usage_error(f"unexpected '{args.file}': did you mean `notifier subscribers import {args.file}`?")
    for flag, actions in FLAG_ACTIONS.items():
        if getattr(args, flag) and args.action not in actions:
            args.usage_error(f"--{flag} is for {' and '.join(actions)}, not {args.action}")
    if args.json and args.format not in (None, "jsonl"):
        args.usage_error(f"--json prints JSON lines, --format {args.format} {args.format.upper()}: give one of them")
    if args.action == "import" and not args.file:
        args.usage_error("import needs a FILE (.csv or .jsonl), or - for standard input")
    if args.action == "import" and args.file == "-" and not args.format:
        args.usage_error("import - reads standard input: give its format, --format csv or --format jsonl")
    if args.action == "import" and args.file == "-" and sys.stdin.isatty():     # it would wait, saying nothing
        args.usage_error("import - reads standard input, a terminal here: pipe a file in (< team.csv) or name the file")


def run(args) -> int:
    check_usage(args)
    with context(args) as ctx:
        if args.action == "import":
            return import_file(ctx, args)
        if args.action == "export":
            return export(ctx, args)
        if args.json or args.format:        # list as the rows of an export, printed
            return export(ctx, args)
        with ctx.store.transaction():        # the rows shown and the count agree
            total = ctx.store.count_subscribers(active_only=not args.all, paused=True)
            shown = ctx.store.list_subscribers(active_only=not args.all, paused=True, limit=SHOWN)
        if not total:
            print(nobody_listed(ctx, args.all))
            return 0
        print_table(ctx, shown, total)
    return 0


def nobody_listed(ctx, everyone: bool) -> str:
    """'no subscribers yet' was said after everyone had unsubscribed, as if their rows were gone."""
    left = 0 if everyone else ctx.store.count_subscribers(active_only=False)
    if left:
        return f"no active subscribers ({left} unsubscribed: `notifier subscribers --all` lists them)"
    return "no subscribers yet: add one with `notifier subscribe ADDRESS --keywords TEXT`"


def import_file(ctx, args) -> int:
    from notifier import subscriber_files
    from notifier.subscribers import SETTINGS

    fmt = subscriber_files.file_format(args.file, args.format)
    rows, encoding, errors = subscriber_files.read(args.file, fmt, ctx.config.schedule.timezone,
                                                   lambda addresses: profiles_at(ctx, addresses))
    name = subscriber_files.shown_name(args.file)
    owned = config_owned(ctx, rows)
    subscriber_files.fail(name, errors + [(line, f"'{sub['address']}' is declared in the config file; change it there")
                                          for line, sub in rows if sub["address"] in owned
                                          and not same(owned[sub["address"]], sub)])
    subs = [_resubscribing(sub) if args.resubscribe else sub for _, sub in rows if sub["address"] not in owned]
    kept_off = [] if args.resubscribe else _unsubscribed(ctx, subs)
    added, updated, skipped = ctx.store.upsert_subscribers(subs, SETTINGS, skip_unsubscribed=not args.resubscribe)
    if encoding == "Windows-1252":
        print(f"{name}: not UTF-8, so read as Windows-1252 (Excel's \"CSV\"); if a name looks wrong, "
              "save the file as \"CSV UTF-8\" and import it again", file=sys.stderr)
    print(f"imported {name}: {added} added, {updated} updated, {len(rows) - added - updated - skipped} unchanged"
          + (f", {skipped} skipped: unsubscribed since ({few(kept_off)}); --resubscribe to add them anyway"
             if skipped else ""))
    return 0


def profiles_at(ctx, addresses: list[str]) -> dict[str, list[str]]:
    """Address -> stored profiles, for those of these addresses that are stored."""
    return {address: stored_profiles(sub) for address, sub in ctx.store.subscribers_at(addresses).items()}


def config_owned(ctx, rows: list[tuple[int, dict]]) -> dict:
    """Address -> stored subscriber, for the rows' subscribers that the config file declares
    (only they are read: every stored subscriber was, for a file of a few rows)."""
    return ctx.store.subscribers_at([sub["address"] for _, sub in rows], origin="config")


def same(stored, row: dict) -> bool:
    """A row that changes nothing of a stored subscriber: they are left alone (a full export of
    them, imported back, was refused for the subscribers the config file declares)."""
    from notifier.subscribers import SETTINGS, settings_of

    return (settings_of(stored) == {k: row[k] for k in SETTINGS}
            and all(row[k] in (None, getattr(stored, k)) for k in ("active", "paused")))


def _unsubscribed(ctx, subs: list[dict]) -> list[str]:
    """The addresses import leaves as they are without --resubscribe: stored as unsubscribed, and
    their row does not say active false (``Store.upsert_subscribers``'s skip_unsubscribed)."""
    wanted = [sub["address"] for sub in subs if sub["active"] is not False]
    off = ctx.store.subscribers_at(wanted, active=False)
    return [address for address in wanted if address in off]


FEW = 3             # addresses named in a summary line before "and N more"


def few(names: list[str]) -> str:
    """'a, b, c and 4 more': a one-line summary names some, not thousands."""
    shown = ", ".join(names[:FEW])
    return shown + (f" and {len(names) - FEW} more" if len(names) > FEW else "")


def _resubscribing(sub: dict) -> dict:
    """--resubscribe: a row that does not say active false makes an unsubscribed address active again."""
    sub["active"] = sub["active"] is not False
    return sub


def export(ctx, args) -> int:
    from notifier import subscriber_files

    with ctx.store.transaction():          # the rows written and the count of those left out agree
        rows = [subscriber_files.to_row(s) for s in ctx.store.list_subscribers(active_only=not args.all, paused=True)]
        left_out = ctx.store.count_subscribers(active_only=False) - len(rows)
    to_file = args.action == "export" and args.file not in (None, subscriber_files.STDIN)
    if to_file:
        fmt = subscriber_files.file_format(args.file, args.format)
        write_whole(args.file, lambda fh: subscriber_files.write(fh, rows, fmt, bom=True), args.file)
    else:
        sys.stdout.reconfigure(encoding="utf-8")     # the data as a file holds it, whatever the terminal's locale
        subscriber_files.write(sys.stdout, rows, args.format or "jsonl")
    if args.action == "export" and (to_file or left_out):    # `export > backup.jsonl` left people out unsaid
        print(f"exported {len(rows)} subscriber{'' if len(rows) == 1 else 's'} to "
              f"{args.file if to_file else 'standard output'}"
              + (f" ({left_out} who unsubscribed left out: --all adds them)" if left_out else ""), file=sys.stderr)
    return 0


def print_table(ctx, subs, total: int) -> None:
    """The first SHOWN subscribers (``subs``), then how many more of ``total`` there are."""
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=True)
    threshold = _default_threshold(ctx.config)
    for col in ("id", "name", "address", "profile", "when", "max", "threshold", "from"):
        table.add_column(col)
    for s in subs[:SHOWN]:
        when = f"{s.frequency}{' ' + s.weekday if s.weekday else ''} {s.delivery_time} {s.timezone}"
        address = named(s)              # a webhook URL is a secret: `export` writes it, the table does not
        table.add_row(str(s.id), shown_name(s),
                      address + (" (off)" if not s.active else " (paused)" if s.paused else ""),
                      "\n".join(stored_profiles(s)), when, str(s.max_items or ctx.config.matching.max_items),
                      f"{s.threshold if s.threshold is not None else threshold:g}", s.origin)
    console = Console(width=160)
    with console.capture() as shown:        # written below: a reader that stops early (| head) exits 0,
        console.print(table)                # not rich's exit 1 on a broken pipe
        if total > SHOWN:
            console.print(f"... and {total - SHOWN} more ({total} in all): "
                          "`notifier subscribers export FILE` writes every one")
    sys.stdout.reconfigure(errors="replace")      # a name a non-UTF-8 terminal cannot show is a '?', not a traceback
    sys.stdout.write(shown.get())


def _default_threshold(config) -> float:
    """What a subscriber without their own threshold gets: the configured one, else the matcher's."""
    return DEFAULT_THRESHOLD if config.matching.threshold is None else config.matching.threshold
