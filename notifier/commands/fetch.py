from datetime import timedelta

from notifier.commands import load, parse_day
from notifier.errors import ConfigError, InputError
from notifier.outbox import FetchState

# Days one `notifier fetch --since` may cover: each HF day is at least one request, paced, so a
# month takes a minute or so; a typo like 0001-01-01 would otherwise send ~740,000 requests.
MAX_SINCE_DAYS = 31


def add_arguments(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--date", help="fetch this Hugging Face digest day (YYYY-MM-DD); arXiv's feed has only "
                                  "its current listing, fetched when due")
    g.add_argument("--since", metavar="DATE", help=f"fetch every Hugging Face day from this one (YYYY-MM-DD) to today, at most "
                                   f"{MAX_SINCE_DAYS} days")


def since_days(text: str, today):
    start = parse_day(text, "--since", latest=today)
    if (today - start).days + 1 > MAX_SINCE_DAYS:
        raise InputError(f"--since {start} covers {(today - start).days + 1} days; one fetch covers at most "
                         f"{MAX_SINCE_DAYS} (from {today - timedelta(days=MAX_SINCE_DAYS - 1)}): "
                         "fetch older days with --date or in steps")
    return [start + timedelta(days=i) for i in range((today - start).days + 1)]


def check_sources(config, args) -> None:
    """A fetch with every source disabled would print nothing, like a day with nothing due; a day
    asked of arXiv alone would fetch its current listing instead, reported under today."""
    where = config.path or "the configuration"
    if not (config.sources.hf_daily.enabled or config.sources.arxiv.enabled):
        raise ConfigError(f"nothing to fetch: no source is enabled in {where} "
                          "(set [sources.hf_daily] enabled or [sources.arxiv] enabled to true)")
    asked = "--date" if args.date is not None else "--since" if args.since is not None else ""
    if asked and not config.sources.hf_daily.enabled:
        raise ConfigError(f"{asked} fetches Hugging Face days, and [sources.hf_daily] is disabled in {where}; "
                          "arXiv's feed has only its current listing: `notifier fetch` fetches it")


def run(args) -> int:
    """Under the lock `run` and `serve` take (lock.py): the store counts on one fetching process
    per state folder, and closes the runs of a source day left `running` as a dead process's."""
    from notifier.lock import DaemonLock
    from notifier.context import open_context
    from notifier.fetch_cycle import fetch_cycle

    config = load(args)
    check_sources(config, args)
    with DaemonLock.of(config), open_context(config, progress=True) as ctx:
        days, today = None, ctx.now().date()
        if args.date is not None:
            days = [parse_day(args.date, latest=today)]
        elif args.since is not None:
            days = since_days(args.since, today)
        reports = fetch_cycle(ctx, days=days)
    for f in reports:
        print(_line(f))
    if not reports:
        print("nothing due: every enabled source is fetched up to today")
    return 1 if any(f.outcome == FetchState.FAILED for f in reports) else 0


def _line(f) -> str:
    line = f"{f.source} {f.day}: {f.outcome}"
    if f.outcome == FetchState.OK:
        skipped = f", {f.skipped} malformed skipped" if f.skipped else ""
        line += f" ({f.found} found, {f.new} new, {f.updated} updated{skipped})"
    return line + (f" - {f.error}" if f.error else "")
