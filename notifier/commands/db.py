"""`notifier db copy --to URL`: move the whole database elsewhere, e.g. from SQLite to PostgreSQL."""
from notifier.errors import InputError


def add_arguments(p):
    p.add_argument("action", choices=("copy",), help="copy: every table of the configured database into --to")
    p.add_argument("--to", required=True, metavar="URL",
                   help="the target database, e.g. postgresql+psycopg://notifier@db/notifier (created tables "
                        "on first use); it must be empty")
    p.add_argument("--force", action="store_true", help="replace whatever the target database holds")


def run(args) -> int:
    from notifier.commands import load
    from notifier.config import check_database_url
    from notifier.store import Store

    if not args.to:
        raise InputError("--to needs the target database's URL, e.g. postgresql+psycopg://notifier@db/notifier")
    check_database_url(args.to, "--to")
    config = load(args)
    if args.to == config.database_url:
        raise InputError("--to is the configured database itself; name another one")
    source = Store(config.database_url)
    try:
        target = Store(args.to)
        try:
            counts = source.copy_to(target, replace=args.force)
        finally:
            target.close()
    finally:
        source.close()
    for table, count in counts.items():
        print(f"  {table:<16} {count:>9} rows")
    print(f"copied {source.where} to {target.where}: {sum(counts.values())} rows, counts checked table by table")
    return 0
