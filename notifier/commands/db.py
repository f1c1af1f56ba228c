"""`notifier db copy --to URL`: move the whole database elsewhere, e.g. from SQLite to PostgreSQL."""
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from notifier.errors import InputError
from notifier.store.engine import WAL_LIMIT_BYTES, sqlite_path


def add_arguments(p):
    p.add_argument("action", choices=("copy",), help="copy: every table of the configured database into --to, "
                   "as it was when the copy began; a running service is not held up, but what it writes meanwhile "
                   "is not copied: stop it first when moving. On SQLite the -wal file beside the database grows by "
                   "what the service writes until the copy ends, and shrinks back to "
                   f"{WAL_LIMIT_BYTES // 2**20} MiB at its next writes")
    p.add_argument("--to", required=True, metavar="URL",
                   help="the target database, e.g. postgresql+psycopg://notifier@db/notifier, empty (the copy "
                        "makes its tables) unless --force. A copy interrupted half-way keeps nothing there: "
                        "run the same command again")
    p.add_argument("--force", action="store_true", help="replace whatever the target database holds")


def run(args) -> int:
    from notifier.commands import load
    from notifier.config import check_database_url
    from notifier.store import Store

    if not args.to:
        raise InputError("--to needs the target database's URL, e.g. postgresql+psycopg://notifier@db/notifier")
    check_database_url(args.to, "--to")
    check_target(args.to)
    config = load(args)
    check_source(config.database_url)
    source = Store(config.database_url)
    try:
        target = Store(args.to)
        try:
            if same_database(source, target):
                raise InputError("--to is the configured database itself; name another one")
            with progress_bar() as progress:
                counts = source.copy_to(target, replace=args.force, progress=progress)
        finally:
            target.close()
    finally:
        source.close()
    for table, count in counts.items():
        print(f"  {table:<16} {count:>9} rows")
    print(f"copied {source.where} to {target.where}: {sum(counts.values())} rows, counts checked table by table")
    return 0


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """Rows copied of all, on a terminal (standard error, gone when done: a million rows took
    over a minute without a sign of life); nothing on a pipe or under CI (which sets CI, and
    often FORCE_COLOR, which rich takes for a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from notifier.logs import progress_console

    console = progress_console()
    if console is None:
        yield lambda *_: None
        return
    columns = (TextColumn("copying {task.description:<16}"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("", total=None)
        yield lambda table, done, total: bar.update(task, description=table, completed=done, total=total)


def check_source(url: str) -> None:
    """A configured SQLite file that does not exist is refused: opening it made an empty database
    and "copied" 0 rows, when the command ran without the service's --config or state folder."""
    path = sqlite_path(url)
    if path is not None and not path.exists():
        raise InputError(f"{path}: no database there, nothing to copy; give the service's --config "
                         "(or NOTIFIER_STATE_DIR)")


def check_target(url: str) -> None:
    """A SQLite target in a folder that does not exist is refused, as cp refuses: a typo in the
    path made the folders and the copy went there. So is one in memory: it was "copied" and gone."""
    path = sqlite_path(url)
    if url.startswith("sqlite") and path is None:
        raise InputError(f"--to {url} is a database in memory, gone when this command ends; name a file")
    if path is not None and not path.parent.is_dir():
        raise InputError(f"--to {url}: there is no folder {path.parent}; create it first, or name another file")


def same_database(source, target) -> bool:
    """The same server database, or one SQLite file by two names (./x, a symbolic link): the copy
    waited 30 s on its own lock and said "locked by another process"."""
    if source.path is None or target.path is None:
        return source.url == target.url
    return os.path.samefile(source.path, target.path)
