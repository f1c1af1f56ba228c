"""`notifier db copy --to URL`: move the whole database elsewhere, e.g. from SQLite to PostgreSQL."""
import os
from pathlib import Path

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
    check_folder(args.to)
    config = load(args)
    source = Store(config.database_url)
    try:
        target = Store(args.to)
        try:
            if same_database(source, target):
                raise InputError("--to is the configured database itself; name another one")
            counts = source.copy_to(target, replace=args.force)
        finally:
            target.close()
    finally:
        source.close()
    for table, count in counts.items():
        print(f"  {table:<16} {count:>9} rows")
    print(f"copied {source.where} to {target.where}: {sum(counts.values())} rows, counts checked table by table")
    return 0


def check_folder(url: str) -> None:
    """A SQLite target in a folder that does not exist is refused, as cp refuses: a typo in the
    path made the folders and the copy went there."""
    from sqlalchemy.engine import make_url

    database = make_url(url).database if url.startswith("sqlite") else None
    folder = Path(database).parent if database and database != ":memory:" else None
    if folder is not None and not folder.is_dir():
        raise InputError(f"--to {url}: there is no folder {folder}; create it first, or name another file")


def same_database(source, target) -> bool:
    """The same server database, or one SQLite file by two names (./x, a symbolic link): the copy
    waited 30 s on its own lock and said "locked by another process"."""
    if source.path is None or target.path is None:
        return source.url == target.url
    return os.path.samefile(source.path, target.path)
