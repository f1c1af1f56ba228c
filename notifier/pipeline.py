"""One cycle of the service: fetch -> store -> match -> render -> deliver.

The stages are pure functions in their own modules; this module is the only place that wires
them to the store, the network and the clock. Deliveries go through the outbox:

    plan   (a few queries and transactions for a whole batch of subscribers) record each one's
           pending delivery with its papers, or an `empty` one if nothing matched, or nothing
           if their digest for that local day exists or no paper is left to send;
    claim  pending/retry -> sending, committed before any network I/O;
    send   through the sender of the subscriber's destination (one per destination and batch);
    record sent / retry (with backoff) / failed / unknown, straight after.

A paper that is in any delivery of a subscriber that is not ``failed`` is never selected for
that subscriber again, so a second run, a retry or a restart sends nothing twice.
"""
from __future__ import annotations

import json
import logging
import threading
import traceback
from bisect import bisect_right
from itertools import compress
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cached_property, partial
from typing import TYPE_CHECKING, Callable, Iterable, Iterator
from zoneinfo import ZoneInfo

from notifier.batching import batched
from notifier.clock import as_utc
from notifier.config import Config
from notifier.errors import NotifierError, ProfileError
from notifier.logs import event, progress_console, redact
from notifier.models import Digest, DigestItem, DigestStats, Evidence, Match, Paper, Recipient
from notifier.outbox import FETCHED, WAITING, FetchState, State
from notifier.render import one_line
from notifier.store import Delivery, Planned, Store, Subscriber, utcnow
from notifier.store.tables import delivery_key, message_key

if TYPE_CHECKING:
    from notifier.match import Matcher

log = logging.getLogger("notifier.pipeline")

SOURCE_NAMES = {"hf_daily": "Hugging Face Daily Papers"}
RETRY_CAP = timedelta(hours=6)
PLAN_CHUNK = 500                   # subscribers' digests recorded per transaction when planning a batch


def source_label(source: str) -> str:
    if source.startswith("arxiv:"):
        return "arXiv " + source.split(":", 1)[1]
    return SOURCE_NAMES.get(source, source)


@dataclass
class Context:
    config: Config
    store: Store
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    progress: bool = False
    fetcher: object = None              # made from the config on first use (fetcher_of); tests may set their own

    @cached_property
    def matcher(self) -> Matcher:
        """The background and the indexes, shared by a batch's subscribers. Made on first use:
        numpy and the stemmer load then, not in `status` or `subscribers` (0.2 s of each)."""
        from notifier.match import Matcher

        return Matcher(self.store.recent_papers)

    def now(self) -> datetime:
        return self.clock()


@contextmanager
def open_context(config: Config, *, progress: bool = False) -> Iterator[Context]:
    store = Store(config.database_url)
    ctx = Context(config=config, store=store, progress=progress)
    try:
        sync_config_subscribers(ctx)
        yield ctx
    finally:
        if ctx.fetcher is not None:
            ctx.fetcher.close()
        store.close()


# ----------------------------------------------------------------------------- subscribers
def sync_config_subscribers(ctx: Context) -> None:
    """Subscribers declared in the config file win over the CLI for the same address: their
    profile and settings are written to the store when the file's subscribers (or the default
    zone they fall back to) changed since they were last applied, or when one of them was changed
    in the store meanwhile (e.g. `notifier edit`); CLI-only ones are untouched. Applying 10,000
    at every start of every command took 45 s; checking the fingerprint takes milliseconds."""
    from notifier.subscribers import SETTINGS, spec_subscriber, written

    wanted_key = _config_subscribers_fingerprint(ctx.config)
    if ctx.store.setting(CONFIG_SUBSCRIBERS_KEY) == f"{wanted_key} {ctx.store.subscribers_version('config')}":
        return
    wanted = [written(spec_subscriber(spec, ctx.config.schedule.timezone)) for spec in ctx.config.subscribers]
    ctx.store.upsert_subscribers(wanted, SETTINGS + ("origin",))
    # Recorded after the rows are written: a start that dies in between applies them again.
    ctx.store.put_setting(CONFIG_SUBSCRIBERS_KEY, f"{wanted_key} {ctx.store.subscribers_version('config')}")


CONFIG_SUBSCRIBERS_KEY = "config_subscribers"


def _config_subscribers_fingerprint(config: Config) -> str:
    import hashlib
    from dataclasses import asdict

    specs = [asdict(spec) for spec in config.subscribers]
    text = json.dumps([config.schedule.timezone, specs], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


# ----------------------------------------------------------------------------- fetch
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

        ctx.fetcher = Fetcher.from_config(ctx.config, holds=ctx.store)     # Retry-After holds outlive a run
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
            for day in fetch_mod.digest_days(source, _last_success_day(ctx, source), today, 1):
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
    event(log, "days not fetched", logging.WARNING, source=source, first=first, last=last, days=len(skipped), text=text)
    ctx.store.raise_alert(f"not-fetched:{source}:{first}:{last}", text)


def fetch_claimed(ctx: Context, source: str, day: date, since: datetime) -> FetchReport:
    """``fetch_one`` by one worker at a time per source day (``Store.fetch_claim``). A worker that
    waited while another fetched it skips it; runs a dead worker left `running` are closed."""
    with ctx.store.fetch_claim(source, day.isoformat()):
        if ctx.store.fetched_since(source, day.isoformat(), since):
            return FetchReport(source, day.isoformat(), FetchState.SKIPPED, error="fetched by another worker meanwhile")
        ctx.store.close_interrupted_fetches(source, day.isoformat())
        return fetch_one(ctx, source, day)


def fetch_one(ctx: Context, source: str, day: date) -> FetchReport:
    """Fetch and store one source/day. Its fetch run is closed whatever happens: an unexpected
    error is recorded and reported as a failure (the cycle goes on), its traceback in the log
    line's ``traceback`` field (one key=value line, like every other); an interruption too."""
    run_id = ctx.store.start_fetch(source, day.isoformat())
    report = FetchReport(source, day.isoformat(), FetchState.FAILED, error="interrupted")
    trace = None
    try:
        report = record_outcome(ctx, run_id, source, day, _fetch(ctx, source, day))
    except NotifierError as err:
        report.error, report.status = str(err), getattr(err, "status", None)
    except Exception as err:                  # a bug must not leave the run `running` or stop the cycle
        report.error, trace = f"unexpected {type(err).__name__}: {err}", traceback.format_exc()
    finally:
        if report.outcome == FetchState.FAILED:
            ctx.store.finish_fetch(run_id, outcome=FetchState.FAILED, error=report.error, http_status=report.status)
            event(log, "fetch failed", logging.ERROR, source=source, day=day, status=report.status, error=report.error,
                  traceback=trace)
    return report


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


# ----------------------------------------------------------------------------- match & plan
def local_day(sub: Subscriber, now: datetime) -> date:
    return now.astimezone(ZoneInfo(sub.timezone)).date()


def match_subscriber(ctx: Context, sub: Subscriber, papers: list[Paper]) -> tuple[list[dict], int]:
    """-> (selected items best first, number of weaker matches). A paper matched by several of
    the subscriber's profiles appears once, tagged with each profile."""
    if not papers:
        return [], 0
    # a profile that does not parse raises here: one line, at the boundary
    [(_, items, weaker)] = match_many(ctx, [(sub, parsed_profiles(sub))], ctx.matcher.index(papers))
    return items, weaker


def parsed_profiles(sub: Subscriber) -> list:
    from notifier.profile import parse_profile

    return [parse_profile(text) for text in profiles_of(sub)]


def stored_profiles(subs) -> Iterator[tuple[Subscriber, list | None, ProfileError | None]]:
    """(subscriber, parsed profiles, None) for each subscriber (or row with ``profile``) whose
    stored profiles parse, (subscriber, None, why) for one written before the profile language
    got stricter. Each distinct stored text is parsed once: many subscribers share theirs."""
    parsed: dict[str, tuple[list | None, ProfileError | None]] = {}
    for sub in subs:
        if sub.profile not in parsed:
            try:
                parsed[sub.profile] = parsed_profiles(sub), None
            except ProfileError as e:
                parsed[sub.profile] = None, e
        yield sub, *parsed[sub.profile]


def readable(subs: list[Subscriber]) -> Iterator[tuple[Subscriber, list]]:
    """(subscriber, parsed profiles) for each subscriber whose stored profiles parse. One that no
    longer parses is logged and skipped, so it holds back that subscriber's digest (planned once
    the profile is edited) and nobody else's."""
    for sub, profiles, error in stored_profiles(subs):
        if error is None:
            yield sub, profiles
        else:
            event(log, "profile unreadable", logging.ERROR, subscriber=sub.address, term=error.term, error=str(error))


def match_many(ctx: Context, subs: Iterable[tuple[Subscriber, list]], index) -> Iterator[tuple[Subscriber, list[dict], int]]:
    """Yield (subscriber, selected items, weaker) for subscribers, each with its parsed profiles,
    sharing one index: profiles are matched together, one batch per (threshold, max items)
    setting the subscribers chose."""
    from notifier.match import match_profiles

    settings: dict[tuple, list[tuple[Subscriber, list]]] = {}
    for sub, profiles in subs:
        settings.setdefault((threshold_of(ctx, sub), limit_of(ctx, sub)), []).append((sub, profiles))
    explained: dict = {}
    votes = votes_of(ctx, [sub for pairs in settings.values() for sub, _ in pairs])
    for (threshold, limit), pairs in settings.items():
        group, parsed = [sub for sub, _ in pairs], [profiles for _, profiles in pairs]
        feedback = [votes.get(sub.id, []) for sub, profiles in zip(group, parsed) for _ in profiles]
        ranked = match_profiles(index, [p for profiles in parsed for p in profiles], max_items=limit,
                                threshold=threshold, upvote_weight=ctx.config.matching.upvote_weight,
                                feedback=feedback if any(feedback) else None)
        for sub, profiles in zip(group, parsed):
            yield sub, *merge_profiles(index, [next(ranked) for _ in profiles], limit, explained)


def votes_of(ctx: Context, subs: list[Subscriber]) -> dict[int, list[tuple[Paper, int]]]:
    """Each subscriber's votes ("more like this" +1, "not for me" -1) with the papers voted on,
    which are usually from earlier days: read in two queries for the whole batch."""
    votes = ctx.store.votes_of([sub.id for sub in subs])
    papers = ctx.store.get_papers({pid for vs in votes.values() for pid, _ in vs}) if votes else {}
    return {sid: [(papers[pid], v) for pid, v in vs if pid in papers] for sid, vs in votes.items()}


def merge_profiles(index, ranked: list, limit: int, explained: dict) -> tuple[list[dict], int]:
    """One subscriber's matches over all their profiles -> (the selected papers best first, each
    once, tagged with every profile that selected it; how many more papers matched weaker).
    A paper's terms and evidence are those of the first profile that selected it; the evidence
    of a term in a paper is worked out once for all subscribers (``explained``)."""
    chosen: dict[int, dict] = {}
    matched: set[int] = set()
    for r in ranked:
        label = ", ".join(r.profile.labels()[:3]) if len(ranked) > 1 else None
        matched.update(r.docs)
        for k in compress(range(len(r.docs)), r.selected):       # most matches are weaker: skip them in C
            d, score = r.docs[k], r.scores[k]
            found = chosen.setdefault(d, {"score": round(score, 4), "of": (r, k), "profiles": []})
            if label:
                found["profiles"].append(label)
            found["score"] = max(found["score"], score)
    best = sorted(chosen.items(), key=lambda kv: -kv[1]["score"])[:limit]
    return [_item(index, d, **found, explained=explained) for d, found in best], len(matched - chosen.keys())


def threshold_of(ctx: Context, sub: Subscriber) -> float | None:
    """The subscriber's own threshold, else the configured one, else None (the matcher's default)."""
    return sub.threshold if sub.threshold is not None else ctx.config.matching.threshold


def limit_of(ctx: Context, sub: Subscriber) -> int:
    return sub.max_items or ctx.config.matching.max_items


def _item(index, d: int, score: float, of: tuple, profiles: list[str], explained: dict) -> dict:
    ranked, k = of
    code = ranked.codes[k]
    item = {"id": index.docs[d].id, "score": score, "matched": ranked.labels(code), "profiles": profiles,
            "evidence": [e for term in dict.fromkeys(ranked.terms(code)) for e in _evidence(index, d, term, explained)]}
    if ranked.voting:           # which of the subscriber's votes moved it, for the "why" line
        item["liked"], item["disliked"] = ranked.votes(k)
    return item


def _evidence(index, d: int, term, explained: dict) -> list[dict]:
    """Why ``term`` matched paper ``d``, as a digest records it (a paper's evidence is its terms'
    one after another); kept in ``explained``: subscribers share terms, and it costs ~1 ms."""
    from notifier.explain import evidence

    if (d, term) not in explained:
        explained[d, term] = [{"term": e.term, "field": e.field, "snippet": [list(s) for s in e.snippet]}
                              for e in evidence(index, d, [term])]
    return explained[d, term]


def profiles_of(sub: Subscriber) -> list[str]:
    return json.loads(sub.profile)


def plan(ctx: Context, sub: Subscriber, *, now: datetime | None = None) -> Delivery | None:
    """Record this subscriber's digest for their local day (see ``plan_batch``) -> the digest
    waiting to be sent, or None (nothing to send, or planned already)."""
    now = now or ctx.now()
    if not plan_batch(ctx, [sub], now=now):
        return None
    return ctx.store.delivery_by_key(delivery_key(sub.id, local_day(sub, now)))


def plan_batch(ctx: Context, subs: list[Subscriber], *, now: datetime | None = None) -> int:
    """Record each subscriber's digest for their local day, if there is anything to send, and
    (unless ``send_empty``) an `empty` one if not, so they are not re-matched all day and papers
    arriving later go into the next digest. The batch is matched together and recorded
    PLAN_CHUNK subscribers per transaction. -> how many digests are waiting to be sent."""
    now = now or ctx.now()
    days = {sub.id: local_day(sub, now).isoformat() for sub in subs}
    known = ctx.store.delivery_keys([delivery_key(sub.id, days[sub.id]) for sub in subs])
    subs = [sub for sub in subs if delivery_key(sub.id, days[sub.id]) not in known]
    folded = ctx.store.supersede_open_many({sub.id: days[sub.id] for sub in subs})   # missed: a catch-up
    cutoff = utcnow()         # papers first seen from now on belong to the next digest
    return sum(record_plans(ctx, chunk, days, folded, cutoff, now)
               for chunk in batched(match_batch(ctx, subs), PLAN_CHUNK))


def record_plans(ctx: Context, matched: list[tuple], days: dict[int, str], folded: dict[int, int],
                 cutoff: datetime, now: datetime) -> int:
    """Record the digests of a chunk of matched subscribers in one transaction. -> how many are
    waiting to be sent (not `empty`, not planned meanwhile by another process)."""
    facts = digest_facts(ctx, matched, now)
    digests = [(m[0], _planned(ctx, facts, m, days[m[0].id], now, folded.get(m[0].id, 0))) for m in matched]
    recorded = set(ctx.store.plan_deliveries([p for _, p in digests], created_at=cutoff))
    pending = [(sub, p) for sub, p in digests if p.key in recorded and p.state == State.PENDING]
    for sub, p in pending:
        event(log, "digest planned", subscriber=sub.address, day=p.digest_day, papers=len(p.items),
              weaker=p.meta["weaker"])
    return len(pending)


def _planned(ctx: Context, facts: DigestFacts, matched: tuple, day: str, now: datetime, folded: int) -> Planned:
    sub, papers, items, weaker = matched
    meta = digest_meta(facts, sub, len(papers), items, weaker, now, folded=folded)
    items = dated(facts, items)
    if not items and not ctx.config.general.send_empty:
        return Planned(sub.id, day, [], meta, state=State.EMPTY)
    return Planned(sub.id, day, items, meta)


def match_batch(ctx: Context, subs: list[Subscriber]) -> Iterator[tuple[Subscriber, list[Paper], list[dict], int]]:
    """Yield (subscriber, candidates, selected items, weaker) for every subscriber whose stored
    profile parses (``readable``: with papers or not, the others' day waits), a candidate set at a
    time: each set's index is built once and its subscribers matched together."""
    for papers, group in candidate_sets(ctx, subs):
        ready = list(readable(group))
        if not papers:
            yield from ((sub, papers, [], 0) for sub, _ in ready)
            continue
        index = ctx.matcher.index(papers)
        yield from ((sub, papers, items, weaker) for sub, items, weaker in match_many(ctx, ready, index))


def candidates(ctx: Context, sub: Subscriber) -> list[Paper]:
    """Papers not yet considered for this subscriber: first seen since their last digest was
    planned (a new subscriber: since the day before subscribing, so they get the latest digest),
    minus any they already have. Papers a digest left out are not offered again the next day."""
    [(papers, _)] = candidate_sets(ctx, [sub])
    return papers


def candidate_sets(ctx: Context, subs: list[Subscriber]) -> list[tuple[list[Paper], list[Subscriber]]]:
    """The subscribers grouped by their candidates (see ``candidates``): most share them (they
    were planned together last time, or subscribed on the same day). The papers are read and
    decoded once for the whole batch, what each subscriber has already had in one query."""
    if not subs:
        return []
    cutoffs = ctx.store.last_cutoffs([sub.id for sub in subs])
    since = {sub.id: as_utc(cutoffs.get(sub.id) or sub.created_at - timedelta(days=1)) for sub in subs}
    oldest = min(since.values())
    seen = ctx.store.papers_seen_since(oldest)
    times = [as_utc(at) for at, _ in seen]
    first_seen = {p.arxiv_id: at for at, (_, p) in zip(times, seen)}
    taken = ctx.store.taken_papers([sub.id for sub in subs], oldest)
    groups: dict[tuple, list[Subscriber]] = {}
    for sub in subs:
        start = bisect_right(times, since[sub.id])      # seen at the cutoff: considered then
        had = frozenset(pid for pid in taken.get(sub.id, ()) if first_seen.get(pid, oldest) >= since[sub.id])
        groups.setdefault((start, had), []).append(sub)
    return [([p for _, p in seen[start:] if p.arxiv_id not in had], group)
            for (start, had), group in groups.items()]


@dataclass
class DigestFacts:
    """What the digests of a chunk of subscribers say besides their papers, read in a few queries."""
    sources: list[str]
    failed: list[str]
    last_settled: dict[int, datetime]       # subscriber -> when their latest sent or empty digest was planned
    days: dict[str, list[str]]              # paper -> the digest days it was seen on


def digest_facts(ctx: Context, matched: list[tuple], now: datetime) -> DigestFacts:
    ids = [m[0].id for m in matched]
    sources = digest_sources(ctx.config, ctx.store.fetch_sources())
    return DigestFacts(sources=sources or ["hf_daily"],
                       failed=[s for s in ctx.store.failed_sources_since(now - timedelta(days=1)) if s in sources],
                       last_settled=ctx.store.last_cutoffs(ids),
                       days=ctx.store.sighting_days(i["id"] for m in matched for i in m[2]))


def digest_sources(config: Config, fetched: list[str]) -> list[str]:
    """The fetched sources a digest names: those the configuration still fetches (one disabled
    since, or a category dropped, brings no papers and will not be "back"). A configuration that
    fetches nothing (a worker that only delivers, the demo) names every source fetched."""
    if not (config.sources.hf_daily.enabled or config.sources.arxiv.enabled):
        return fetched
    return still_fetched(config, fetched)


def digest_meta(facts: DigestFacts, sub: Subscriber, new_papers: int, items: list[dict], weaker: int,
                now: datetime, folded: int = 0) -> dict:
    days = sorted({d for i in items for d in facts.days.get(i["id"], [])})
    return {"new_papers": new_papers, "sources": [source_label(s) for s in facts.sources],
            "failed_sources": [source_label(s) for s in facts.failed], "weaker": weaker,
            "covers_days": days if folded or missed_a_digest(facts, sub, now) else [],
            "empty_note": not items}


def dated(facts: DigestFacts, items: list[dict]) -> list[dict]:
    """Each item with ``day``: the first digest day it was seen on, the listing it came from (a
    weekly or catch-up digest lists its papers under their day)."""
    return [dict(i, day=facts.days[i["id"]][0]) if facts.days.get(i["id"]) else i for i in items]


def missed_a_digest(facts: DigestFacts, sub: Subscriber, now: datetime) -> bool:
    """True when the subscriber's last digest (sent, or empty: a quiet day or week had its digest
    too) was planned more than one period (a day, or a week for a weekly subscriber) and half a
    day ago: this one catches up on days missed after an outage or a pause. A weekly digest
    covering its own week is a normal digest."""
    since = facts.last_settled.get(sub.id, sub.created_at)
    period = timedelta(days=7 if sub.frequency == "weekly" else 1)
    return now - since > period + timedelta(hours=12)


# ----------------------------------------------------------------------------- deliver
@dataclass
class DeliveryReport:
    subscriber: str
    state: str
    papers: int = 0
    where: str | None = None
    error: str | None = None


def deliver(ctx: Context, subscriber_ids: list[int] | None = None, dry_run: bool = False,
            now: datetime | None = None, stop: threading.Event | None = None) -> list[DeliveryReport]:
    """Plan and send the digests of the given subscribers (default: every active one); only
    those are read. ``stop`` (set by SIGTERM) ends the batch after the message in flight."""
    now = now or ctx.now()
    subs = ctx.store.list_subscribers(ids=subscriber_ids)
    if subs:                # none due: nothing is matched, and the matcher is not loaded
        ctx.matcher.refresh(ctx.store.papers_version())
    if dry_run:
        return preview_reports(ctx, subs)
    plan_batch(ctx, subs, now=now)
    return send_pending(ctx, now=now, stop=stop) + [held_back(sub) for sub, _, error in stored_profiles(subs) if error]


def preview_reports(ctx: Context, subs: list[Subscriber]) -> list[DeliveryReport]:
    """What a run would match for each subscriber; one whose stored profile no longer parses is
    reported held, as the run holds it (``readable``)."""
    found = {sub.id: len(items) for sub, _, items, _ in match_batch(ctx, subs)}
    return [DeliveryReport(sub.address, "dry-run", found[sub.id]) if sub.id in found else held_back(sub) for sub in subs]


def held_back(sub: Subscriber) -> DeliveryReport:
    """A subscriber whose stored profile no longer parses: their digest waits (``readable``)."""
    return DeliveryReport(redact(sub.address), State.HELD, error="stored profile unreadable: `notifier status` says why")


def send_pending(ctx: Context, subscriber_ids: list[int] | None = None, now: datetime | None = None,
                 stop: threading.Event | None = None) -> list[DeliveryReport]:
    """Send every waiting delivery whose time has come, each through the sender of its own
    destination; the batch opens the senders and closes them at the end (one SMTP connection
    per batch, never an idle one kept for hours). Paused and unsubscribed subscribers' digests
    are held or cancelled by the store and never reach this loop. Claims a dead worker left
    are taken over first; digests another worker claims first are its own (not reported).
    Only the subscribers with a digest waiting are read."""
    from notifier.channels import Senders

    now = now or ctx.now()
    recover(ctx, now=now)
    waiting = ctx.store.deliveries(states=WAITING, subscriber_ids=subscriber_ids)
    subs = {s.id: s for s in ctx.store.list_subscribers(ids={d.subscriber_id for d in waiting})}
    due = [(d, subs[d.subscriber_id]) for d in waiting
           if d.subscriber_id in subs and not (d.next_attempt_at and d.next_attempt_at > now)]
    papers = ctx.store.get_papers({i["id"] for d, _ in due for i in json.loads(d.items)})   # once per batch
    reports = []
    with Senders(ctx.config) as senders, emails_ahead(ctx, senders, due, papers) as ahead:
        for d, sub in due:
            if stop is not None and stop.is_set():
                break
            sender = senders.get(sub.channel, sub.address)
            if not sender.halted:      # halted: e.g. SMTP login refused, every message would fail the same way
                report = send_one(ctx, d, sub, sender, now, papers, ahead.take(d.id))
                if report.state != "skipped":
                    reports.append(report)
        for label, reason in senders.halted():
            text = f"{label}: delivery stopped: {one_line(reason)}"     # a mail server's answer of several lines too
            if ctx.store.raise_alert(f"halted:{label}:{now:%Y%m%d}:{reason[:120]}", text):
                event(log, "alert", logging.ERROR, text=text)
    return reports


def send_one(ctx: Context, d: Delivery, sub: Subscriber, sender, now: datetime,
             papers: dict[str, Paper] | None = None, ready: tuple | None = None) -> DeliveryReport:
    """Claim, send, record. ``ready``: (the message, its number of papers) prepared ahead from
    the same row (``emails_ahead``); otherwise the digest is built and rendered here."""
    who = redact(sub.address)        # a webhook URL address is a secret, and reports are printed
    claimed = ctx.store.claim(d.id, now=now, lease=lease_of(ctx))
    if claimed is None:              # another worker (or process) has it
        return DeliveryReport(who, "skipped", len(json.loads(d.items)))
    if ready is None:
        digest = build_digest(ctx, claimed, sub, papers)
        send, n = partial(sender.send, digest), len(digest.items)
    else:
        send, n = partial(sender.send_prepared, ready[0]), ready[1]
    with renewing(ctx, d.id):
        result = send()
    error = one_line(result.error) or None      # a mail server's answer of several lines: one line of status
    state, next_at = settle(ctx, sub, result.state, claimed.attempts, now)
    if not ctx.store.record(d.id, state, error=error, provider_ref=result.provider_ref, next_attempt_at=next_at, now=now):
        event(log, "delivery taken over", logging.WARNING, subscriber=sub.address, key=d.key, outcome=state)
        return DeliveryReport(who, "taken over", n, where=result.provider_ref, error=error)
    level = logging.INFO if state == State.SENT else logging.WARNING
    event(log, f"delivery {state}", level, subscriber=sub.address, channel=sub.channel, via=sender.label,
          papers=n, attempt=claimed.attempts, error=error)
    return DeliveryReport(who, state, n, where=result.provider_ref, error=error)


PREPARE_AHEAD_MIN = 200        # a batch with at least this many emails has them rendered in a second process


def emails_ahead(ctx: Context, senders, due: list[tuple[Delivery, Subscriber]], papers: dict[str, Paper]):
    """A big batch's emails rendered and flattened in a second process, in the batch's order,
    while this one claims, sends and records (``channels.PreparedAhead``); a small batch's here."""
    from notifier.channels import PreparedAhead
    from notifier.channels.email import EmailChannel, prepare

    emails = [(d, sub) for d, sub in due if sub.channel == "email"]
    sender = senders.get("email", emails[0][1].address) if len(emails) >= PREPARE_AHEAD_MIN else None
    if not isinstance(sender, EmailChannel):
        return PreparedAhead.none()
    return PreparedAhead(partial(digest_of, ctx.config, papers=papers), prepare, sender.settings,
                         {d.id: (d, sub) for d, sub in emails})


def lease_of(ctx: Context) -> timedelta:
    return timedelta(seconds=ctx.config.delivery.lease_seconds)


@contextmanager
def renewing(ctx: Context, delivery_id: int) -> Iterator[None]:
    """Renew this worker's claim every third of the lease while a send runs, so a live worker's
    slow send is never taken over; a dead worker stops renewing and its claim runs out."""
    lease, done = lease_of(ctx), threading.Event()

    def renew():
        while not done.wait(lease.total_seconds() / 3):
            if not ctx.store.renew(delivery_id, ctx.now(), lease):
                return
    renewer = threading.Thread(target=renew, name=f"lease-{delivery_id}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        done.set()
        renewer.join()


def settle(ctx: Context, sub: Subscriber, state: str, attempts: int, now: datetime) -> tuple[str, datetime | None]:
    """A send's outcome -> (the delivery's state, when to try again)."""
    if state == State.UNKNOWN and sub.channel == "email" and ctx.config.delivery.unknown_policy == "resend":
        state = State.RETRY     # re-sent later with the same Message-ID: a copy is recognisably the same mail
    if state != State.RETRY:
        return state, None
    if attempts >= ctx.config.delivery.max_attempts:
        return State.FAILED, None
    return state, now + min(RETRY_CAP, timedelta(seconds=ctx.config.delivery.retry_base_seconds * 2 ** (attempts - 1)))


def build_digest(ctx: Context, d: Delivery, sub: Subscriber, papers: dict[str, Paper] | None = None) -> Digest:
    """The digest a delivery records; ``papers``: those a batch already loaded (else read here)."""
    items = json.loads(d.items)
    if papers is None or any(i["id"] not in papers for i in items):
        papers = ctx.store.get_papers(i["id"] for i in items)
    return digest_of(ctx.config, d, sub, papers, items)


def digest_of(config: Config, d: Delivery, sub: Subscriber, papers: dict[str, Paper],
              items: list[dict] | None = None) -> Digest:
    """The digest a delivery records, from its row and its papers (pure: it may run in another
    process). A paper missing from ``papers`` is left out."""
    from notifier.web.links import links_for

    items = json.loads(d.items) if items is None else items
    meta = json.loads(d.meta)
    digest_items = [DigestItem(paper=papers[i["id"]], profiles=i["profiles"], match=Match(
        paper_id=i["id"], score=i["score"], selected=True, matched=i["matched"],
        evidence=[Evidence(e["term"], e["field"], [tuple(s) for s in e["snippet"]]) for e in i["evidence"]],
        liked=i.get("liked", 0), disliked=i.get("disliked", 0)),
        day=date.fromisoformat(i["day"]) if i.get("day") else None)     # planned before items kept their day: None
        for i in items if i["id"] in papers]
    return Digest(recipient=recipient(sub), day=date.fromisoformat(d.digest_day), items=digest_items,
                  stats=DigestStats(meta.get("new_papers", 0), meta.get("sources", []), meta.get("failed_sources", [])),
                  weaker_count=meta.get("weaker", 0),
                  covers_days=[date.fromisoformat(x) for x in meta.get("covers_days", [])],
                  delivery_key=message_key(d),
                  links=links_for(config, sub.id, [i.paper.arxiv_id for i in digest_items]))


def preview_digest(ctx: Context, sub: Subscriber, day: date | None = None) -> Digest:
    """The digest the subscriber would get now (or for one digest day), recording nothing."""
    now = ctx.now()
    papers = ctx.store.papers_on_day(day.isoformat()) if day else candidates(ctx, sub)
    items, weaker = match_subscriber(ctx, sub, papers)
    facts = digest_facts(ctx, [(sub, papers, items, weaker)], now)
    meta = digest_meta(facts, sub, len(papers), items, weaker, now)
    day = day or local_day(sub, now)
    preview = Delivery(key=delivery_key(sub.id, day) + ":preview", subscriber_id=sub.id, digest_day=day.isoformat(),
                       items=json.dumps(dated(facts, items)), meta=json.dumps(meta), id=0)
    return build_digest(ctx, preview, sub)


def recipient(sub: Subscriber) -> Recipient:
    try:
        profiles = parsed_profiles(sub)
    except ProfileError:            # a digest planned before its stored profile stopped parsing: no terms line
        profiles = []
    terms = [t for profile in profiles for t in profile.labels()]
    return Recipient(id=sub.id, name=sub.name, channel=sub.channel, address=sub.address, profile_terms=terms,
                     frequency=sub.frequency)


def send_operator_message(ctx: Context, target: str, subject: str, text: str) -> bool:
    """Send an alert to the operator's address or Slack target; True when it went out."""
    from notifier.channels import send_text

    result = send_text(ctx.config, target, subject, text)
    if result.state != State.SENT:
        event(log, "alert not sent", logging.ERROR, target=target, error=result.error)
    return result.state == State.SENT


# ----------------------------------------------------------------------------- recovery
def recover(ctx: Context, now: datetime | None = None, *, at_start: bool = False) -> int:
    """Resolve deliveries a dead worker left in `sending` once its lease ran out (the row is
    taken over first, so of several workers one resolves it). Email is re-sent with the same
    Message-ID (recipients' clients fold the duplicate); Slack is checked for the message where
    the sender can look it up; otherwise the row becomes `unknown` for the operator (policy
    `hold`). A subscriber who is no longer active gets nothing re-sent: the row is held (see
    ``set_paused``). ``at_start`` (of `run` / `serve`) on SQLite: this process holds the local
    lock and only lock holders send, so every `sending` row was left by a dead process, however
    recent (even with a clock set back); on a shared database other workers are sending."""
    from notifier.channels import Senders

    now, lease = now or ctx.now(), lease_of(ctx)
    everything = at_start and not ctx.store.shared
    claims = ctx.store.claims_to_recover(now, lease, expired_only=not everything)
    if not claims:
        return 0
    subs = {s.id: s for s in ctx.store.list_subscribers(active_only=False)}
    resolved = 0
    with Senders(ctx.config) as senders:
        for d in claims:
            if ctx.store.take_over(d.id, now, lease, expired_only=not everything, worker=d.worker) is None:
                continue                                   # another worker resolves it
            sub = subs[d.subscriber_id]
            find_sent = getattr(senders.get(sub.channel, sub.address), "find_sent", None)
            if not sub.active or sub.paused:
                ctx.store.record(d.id, State.HELD, error="interrupted while sending; the subscriber is not active", now=now)
            elif find_sent is not None and find_sent(build_digest(ctx, d, sub)):
                ctx.store.record(d.id, State.SENT, error="confirmed after restart", now=now)
            elif ctx.config.delivery.unknown_policy == "resend":
                ctx.store.record(d.id, State.RETRY, error="interrupted while sending; re-sending", now=now)
            else:
                ctx.store.record(d.id, State.UNKNOWN, error="interrupted while sending; check and re-queue", now=now)
            resolved += 1
            event(log, "recovered interrupted delivery", logging.WARNING, subscriber=sub.address, key=d.key)
    return resolved


def finish_claimed(ctx: Context, stop: threading.Event | None = None, poll: float = 0.5) -> list[DeliveryReport]:
    """`run` on a shared database, after its batch: wait while digests are still claimed by other
    workers, taking over and sending those whose claim expires (their worker died), so the run
    leaves nothing behind. Waits at most two leases: long enough for a dead worker's claim to run
    out, not for live workers' batches (theirs to finish)."""
    import time

    reports: list[DeliveryReport] = []
    deadline = time.monotonic() + 2 * lease_of(ctx).total_seconds()
    while ctx.store.deliveries(states=(State.SENDING,)) and time.monotonic() < deadline \
            and not (stop is not None and stop.is_set()):
        time.sleep(poll)
        reports += send_pending(ctx, stop=stop)          # takes over expired claims first
    return reports

