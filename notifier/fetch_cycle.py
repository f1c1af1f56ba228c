"""A fetch cycle: every enabled source for every digest day since its last success, each source
day claimed by one worker, its outcome stored and its run closed whatever happens."""
from __future__ import annotations

import logging
import traceback
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING

from notifier.clock import as_utc
from notifier.config import Config
from notifier.errors import NotifierError
from notifier.logs import event, progress_console
from notifier.outbox import FETCHED, FetchState
from notifier.store import utcnow

if TYPE_CHECKING:
    from notifier.context import Context

log = logging.getLogger("notifier.pipeline")     # the name its lines had before the cut: operators filter on it

# A weekday's arXiv listing reaches the feed around 04:00 UTC (docs/SOURCES.md): "not modified"
# from this time on says the day has none (a holiday); before it, only that it was not out yet.
LISTING_OUT = time(6, 0)


@dataclass
class FetchReport:
    source: str
    day: str | None
    outcome: str
    found: int = 0
    new: int = 0
    updated: int = 0
    skipped: int = 0
    error: str | None = None
    status: int | None = None


def fetcher_of(ctx: Context):
    if ctx.fetcher is None:
        from notifier.fetch import Fetcher

        ctx.fetcher = Fetcher.from_config(ctx.config, hosts=ctx.store)     # pace and Retry-After shared, outliving a run
    return ctx.fetcher


def fetch_cycle(ctx: Context, *, days: list[date] | None = None) -> list[FetchReport]:
    """Fetch every enabled source for every digest day since its last success; store the papers.
    One failing source is recorded and reported, and never stops the others."""
    cfg, today = ctx.config.sources, ctx.now().date()
    if not (cfg.hf_daily.enabled or cfg.arxiv.enabled):
        return []               # a worker that only delivers does not load httpx and the parsers (0.25 s)
    from notifier import fetch as fetch_mod

    jobs: list[tuple[str, date]] = []
    if cfg.hf_daily.enabled:
        last, window = _last_success_day(ctx, "hf_daily"), cfg.hf_daily.max_catchup_days + 1    # today, and the days caught up
        if not days:
            report_not_caught_up(ctx, "hf_daily", fetch_mod.days_beyond_catchup(last, today, window))
        first = _first_hf_day(ctx, last, today, window)
        for day in days or fetch_mod.digest_days("hf_daily", first, today, window):
            jobs.append(("hf_daily", day))
    if cfg.arxiv.enabled:
        for cat in cfg.arxiv.categories:
            source = f"arxiv:{cat}"
            last = _last_success_day(ctx, source)
            if not days:
                report_listings_missed(ctx, source, *listings_missed(ctx, source, last, today))
            for day in fetch_mod.digest_days(source, last, today, 1):
                jobs.append((source, day))
    reports, started = [], utcnow()
    if jobs:
        fetcher_of(ctx).new_cycle()     # a host no connection could be made to is asked once a cycle
    with _progress(ctx, "Fetching", len(jobs)) as advance:
        broken: set[str] = set()
        for source, day in jobs:
            if source in broken:       # down for one day, down for the next: retry next cycle
                reports.append(FetchReport(source, day.isoformat(), FetchState.SKIPPED, error="source failed earlier in this cycle"))
            else:
                reports.append(fetch_claimed(ctx, source, day, started))
                if reports[-1].outcome == FetchState.FAILED and reports[-1].status != 200:
                    broken.add(source)     # a bad page (HTTP 200) says nothing about the next day
            advance()
    return reports


def report_not_caught_up(ctx: Context, source: str, skipped: list[date]) -> None:
    """Days an outage longer than ``max_catchup_days`` left unfetched: logged as a WARNING and
    raised once as an operator alert, with the command that fetches them."""
    if not skipped:
        return
    first, last = skipped[0], skipped[-1]
    text = (f"source {source}: {len(skipped)} day{'s' if len(skipped) != 1 else ''} missed, {first} to {last}, "
            f"{'is' if len(skipped) == 1 else 'are'} older than [sources.{source}] max_catchup_days and not fetched: "
            f"`notifier fetch --since {first}` fetches them")
    alert_not_fetched(ctx, source, skipped, "days not fetched", text)


def listings_missed(ctx: Context, source: str, last: date | None, today: date) -> tuple[list[date], list[date]]:
    """The weekdays after ``last`` (the latest listing stored) and before ``today`` whose listing
    no fetch of this arXiv category read: the feed holds only the current listing, so each of
    theirs left it unread (docs/SOURCES.md); and those of them asked only before LISTING_OUT (an
    arXiv holiday looks the same then). A day answered "not modified" from LISTING_OUT on had no
    listing (a holiday); one whose fetches failed is the failing source's alert."""
    if last is None or last >= today - timedelta(days=1):
        return [], []
    tried = ctx.store.fetch_days(source, (last + timedelta(days=1)).isoformat())
    weekdays = [day for day in (last + timedelta(days=n) for n in range(1, (today - last).days)) if day.weekday() < 5]
    early = [day for day in weekdays if day.isoformat() in tried and asked_too_early(ctx, source, day)]
    return [day for day in weekdays if day.isoformat() not in tried or day in early], early


def asked_too_early(ctx: Context, source: str, day: date) -> bool:
    """Whether the latest answer of ``day`` ("not modified") came before its listing is out."""
    run = ctx.store.last_fetch(source, FETCHED, digest_day=day.isoformat())
    return run is not None and as_utc(run.started_at) < datetime.combine(day, LISTING_OUT, timezone.utc)


def report_listings_missed(ctx: Context, source: str, missed: list[date], early: list[date]) -> None:
    """arXiv listings no fetch read (``listings_missed``): a WARNING and, once, an operator alert."""
    if not missed:
        return
    which = f"listing of {missed[0]}" if len(missed) == 1 else f"{len(missed)} listings, of {missed[0]} to {missed[-1]},"
    asked = (f"; {', '.join(map(str, early))} {'was' if len(early) == 1 else 'were'} asked only before "
             f"{LISTING_OUT:%H:%M} UTC, when a listing is not out yet, unless arXiv had a holiday") if early else ""
    text = (f"source {source}: the {which} left the feed before anything fetched it (the service was not running, "
            f"or could not reach arXiv{asked}): RSS holds only the current listing, so its papers are in no digest")
    alert_not_fetched(ctx, source, missed, "listings not fetched", text)


def alert_not_fetched(ctx: Context, source: str, days: list[date], message: str, text: str) -> None:
    """Days of ``source`` no fetch read: a WARNING ``message`` and, once for these days, an operator alert."""
    event(log, message, logging.WARNING, source=source, first=days[0], last=days[-1], days=len(days), text=text)
    ctx.store.raise_alert(f"not-fetched:{source}:{days[0]}:{days[-1]}", text)


def fetch_claimed(ctx: Context, source: str, day: date, since: datetime) -> FetchReport:
    """``fetch_one`` by one worker at a time per source day (``Store.fetch_claim``). A worker that
    waited while another fetched it skips it; runs a dead worker left `running` are closed."""
    with ctx.store.fetch_claim(source, day.isoformat()):
        latest = ctx.store.last_fetch(source, digest_day=day.isoformat())
        if latest is not None and as_utc(latest.started_at) >= as_utc(since):
            return FetchReport(source, day.isoformat(), FetchState.SKIPPED, error=fetched_meanwhile(ctx, latest))
        ctx.store.close_interrupted_fetches(source, day.isoformat())
        return fetch_one(ctx, source, day)


def fetched_meanwhile(ctx: Context, run) -> str:
    """Why a day fetched at or after the cycle began is skipped: another worker fetched it, or (a
    fetch stamped later than the clock says now; on SQLite no other worker runs) the clock was set
    back since; re-reading now would first wait that long for the host's pace (``notifier.pace``
    reserved its next turn by the clock), so it is read once the clock passes it."""
    started = as_utc(run.started_at)
    if ctx.store.shared and started <= as_utc(ctx.now()):
        return "fetched by another worker meanwhile"
    return (f"fetched at {started:%Y-%m-%d %H:%M:%S} UTC, later than the clock says now (it was set back"
            + (", or that worker's clock is ahead" if ctx.store.shared else "")
            + "): read again once the clock passes that time")


def fetch_one(ctx: Context, source: str, day: date) -> FetchReport:
    """Fetch and store one source/day. Its fetch run is closed whatever happens: an unexpected
    error is recorded and reported as a failure (the cycle goes on), its traceback in the log
    line's ``traceback`` field (one key=value line, like every other); an interruption (Ctrl-C)
    as `interrupted`, which status and alerts do not take for a failing source."""
    run_id = ctx.store.start_fetch(source, day.isoformat())
    report = FetchReport(source, day.isoformat(), FetchState.INTERRUPTED, error="interrupted")
    trace = None
    try:
        report = record_outcome(ctx, run_id, source, day, _fetch(ctx, source, day))
    except NotifierError as err:
        report = FetchReport(source, day.isoformat(), FetchState.FAILED, error=str(err), status=getattr(err, "status", None))
    except Exception as err:                  # a bug must not leave the run `running` or stop the cycle
        report = FetchReport(source, day.isoformat(), FetchState.FAILED, error=f"unexpected {type(err).__name__}: {err}")
        trace = traceback.format_exc()
    finally:
        close_unanswered(ctx, run_id, day, report, trace)
    return report


def close_unanswered(ctx: Context, run_id: int, day: date, report: FetchReport, trace: str | None) -> None:
    """Close the run of a fetch that stored nothing: failed (an ERROR line), or interrupted (a WARNING)."""
    if report.outcome not in (FetchState.FAILED, FetchState.INTERRUPTED):
        return                                # record_outcome closed it
    if not ctx.store.finish_fetch(run_id, outcome=report.outcome, error=report.error, http_status=report.status):
        return                                # it did, and was interrupted before it returned
    failed = report.outcome == FetchState.FAILED
    event(log, "fetch failed" if failed else "fetch interrupted", logging.ERROR if failed else logging.WARNING,
          source=report.source, day=day, status=report.status, error=report.error, traceback=trace)


def _fetch(ctx: Context, source: str, day: date):
    if source == "hf_daily":
        return fetcher_of(ctx).fetch_hf_day(day)
    last = ctx.store.last_fetch(source)
    return fetcher_of(ctx).fetch_arxiv(source.split(":", 1)[1], today=day, etag=last.etag if last else None,
                                    last_modified=last.last_modified if last else None)


def record_outcome(ctx: Context, run_id: int, source: str, day: date, outcome) -> FetchReport:
    """Store an outcome and close its run; a failed outcome is left to the caller to record."""
    if not outcome.ok:
        return FetchReport(source, day.isoformat(), FetchState.FAILED, error=outcome.error, status=outcome.status)
    if outcome.not_modified:
        ctx.store.finish_fetch(run_id, outcome=FetchState.NOT_MODIFIED, http_status=outcome.status,
                               etag=outcome.etag, last_modified=outcome.last_modified)
        event(log, "fetch not modified", source=source, day=day)
        return FetchReport(source, day.isoformat(), FetchState.NOT_MODIFIED)
    result = ctx.store.ingest(outcome.papers, source=source, digest_day=day.isoformat())
    skipped = outcome.skipped
    note = f"first skipped: {skipped[0]}" if skipped else None
    ctx.store.finish_fetch(run_id, outcome=FetchState.OK, http_status=outcome.status, etag=outcome.etag,
                           last_modified=outcome.last_modified, found=result.found, new=result.new,
                           updated=result.updated, skipped=len(skipped), error=note)
    event(log, "fetched", logging.WARNING if skipped else logging.INFO, source=source, day=day, found=result.found,
          new=result.new, updated=result.updated, skipped=len(skipped), skipped_items=outcome.skipped_named)
    return FetchReport(source, day.isoformat(), FetchState.OK, result.found, result.new, result.updated, len(skipped))


def _last_success_day(ctx: Context, source: str) -> date | None:
    """The digest day of the source's latest `ok` fetch. A "not modified" answer (arXiv RSS) does
    not complete its day: the feed still holds the listing stored before, so the day's listing
    is later than the fetch (docs/SOURCES.md), and the day stays due for the next try."""
    run = ctx.store.last_fetch(source, outcome=FetchState.OK)
    return date.fromisoformat(run.digest_day) if run and run.digest_day else None


def _first_hf_day(ctx: Context, last: date | None, today: date, max_days: int) -> date | None:
    """The HF day a cycle fetches from: the day of the latest `ok` fetch (re-read: a day keeps
    growing), or an earlier day among the newest ``max_days`` whose latest fetch failed. A bad
    page (HTTP 200) fails its day and the cycle goes on to the next, whose success would
    otherwise leave that day behind for good."""
    failed = ctx.store.failed_days("hf_daily", (today - timedelta(days=max_days - 1)).isoformat())
    return min([date.fromisoformat(d) for d in failed] + ([last] if last else []), default=None)


def unfinished_fetches(ctx: Context, since: datetime) -> list:
    """The runs of sources whose latest fetch since ``since`` left its day to fetch again: it
    failed, or arXiv answered "not modified" (a listing later than the fetch). The daemon asks
    again later (``serve.Daemon.fetch_again_if_failed``). A source the configuration no longer
    fetches has none: no cycle would end its failure, and each sweep fetched the others again."""
    runs = [ctx.store.last_fetch(source, outcome=FETCHED | {FetchState.FAILED})
            for source in still_fetched(ctx.config, ctx.store.fetch_sources())]
    return [run for run in runs if run is not None and as_utc(run.started_at) >= as_utc(since)
            and run.outcome in (FetchState.FAILED, FetchState.NOT_MODIFIED)]


def still_fetched(config: Config, sources: list[str]) -> list[str]:
    """Those of ``sources`` the configuration fetches (``alerts.not_fetched``: as status and alerts read them)."""
    from notifier.alerts import not_fetched

    return [source for source in sources if not_fetched(config, source) is None]


@contextmanager
def _progress(ctx: Context, label: str, total: int):
    """A bar on standard error while a command fetches several source days, on a terminal only
    (gone when done): piped (cron mail, a log file) rich left a blank first line. Nothing under
    CI either, which sets CI and often FORCE_COLOR, which rich takes for a terminal."""
    console = progress_console() if ctx.progress and total > 1 else None
    if console is None:
        yield lambda: None
        return
    from rich.progress import Progress

    with Progress(console=console, transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)
