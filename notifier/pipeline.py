"""One cycle of the service: fetch -> store -> match -> render -> deliver.

The stages are pure functions in their own modules; this module is the only place that wires
them to the store, the network and the clock. Deliveries go through the outbox:

    plan   (one transaction) record a pending delivery with its papers, or nothing if this
           subscriber's digest for that local day exists or no paper is left to send;
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
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Callable, Iterator
from zoneinfo import ZoneInfo

from notifier.config import Config, read_secret
from notifier.errors import NotifierError
from notifier.logs import event, redact
from notifier.models import Digest, DigestItem, DigestStats, Evidence, Match, Paper, Recipient
from notifier.store import PLANNED_STATES, Delivery, Store, Subscriber, utcnow

log = logging.getLogger("notifier.pipeline")

SOURCE_NAMES = {"hf_daily": "Hugging Face Daily Papers"}
RETRY_CAP = timedelta(hours=6)
INDEXES_KEPT = 4                   # candidate sets per batch whose index is kept (each ~ the background's size)


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
    _fetcher: object = None
    _background: list | None = None
    _indexes: OrderedDict = field(default_factory=OrderedDict)   # candidate ids -> (background, index)
    _papers_version: tuple | None = None                         # the papers the two above were made of

    def now(self) -> datetime:
        return self.clock()


@contextmanager
def open_context(config: Config, *, clock: Callable[[], datetime] | None = None,
                 progress: bool = False) -> Iterator[Context]:
    store = Store(config.database_url)
    ctx = Context(config=config, store=store, progress=progress)
    if clock:
        ctx.clock = clock
    try:
        sync_config_subscribers(ctx)
        yield ctx
    finally:
        if ctx._fetcher is not None:
            ctx._fetcher.close()
        store.close()


# ----------------------------------------------------------------------------- subscribers
def sync_config_subscribers(ctx: Context) -> None:
    """Subscribers declared in the config file win over the CLI for the same address: their
    profile and settings are written to the store when the file's subscribers (or the default
    zone they fall back to) changed since they were last applied, or when one of them was changed
    in the store meanwhile (e.g. `notifier edit`); CLI-only ones are untouched. Applying 10,000
    at every start of every command took 45 s; checking the fingerprint takes milliseconds."""
    from notifier.subscribers import new_subscriber

    wanted_key = _config_subscribers_fingerprint(ctx.config)
    if ctx.store.setting(CONFIG_SUBSCRIBERS_KEY) == f"{wanted_key} {ctx.store.subscribers_version('config')}":
        return
    wanted = [new_subscriber(address=spec.email or spec.slack, keywords=[spec.keywords], name=spec.name,
                             timezone=spec.timezone or ctx.config.schedule.timezone,
                             time=spec.time or "", frequency=spec.frequency,
                             max_items=spec.max_items or None, threshold=spec.threshold, origin="config")
              for spec in ctx.config.subscribers]
    ctx.store.upsert_subscribers(wanted, SUBSCRIBER_SETTINGS + ("origin",))
    # Recorded after the rows are written: a start that dies in between applies them again.
    ctx.store.put_setting(CONFIG_SUBSCRIBERS_KEY, f"{wanted_key} {ctx.store.subscribers_version('config')}")


CONFIG_SUBSCRIBERS_KEY = "config_subscribers"
SUBSCRIBER_SETTINGS = ("name", "channel", "profile", "timezone", "delivery_time", "frequency", "weekday",
                       "max_items", "threshold")


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
    error: str | None = None


def fetcher(ctx: Context):
    if ctx._fetcher is None:
        from notifier.fetch import Fetcher

        s = ctx.config.sources
        ctx._fetcher = Fetcher(
            hf_base_url=s.hf_daily.base_url, arxiv_base_url=s.arxiv.base_url, arxiv_api_url=s.arxiv.api_url,
            categories=s.arxiv.categories, include_cross=s.arxiv.include_cross, contact=ctx.config.general.contact,
            timeout=s.timeout_seconds, max_attempts=s.max_attempts, hf_min_interval=s.hf_daily.min_interval_seconds,
            arxiv_min_interval=s.arxiv.min_interval_seconds, hf_token=read_secret(s.hf_daily.token_env))
    return ctx._fetcher


def fetch_cycle(ctx: Context, *, days: list[date] | None = None) -> list[FetchReport]:
    """Fetch every enabled source for every digest day since its last success; store the papers.
    One failing source is recorded and reported, and never stops the others."""
    from notifier import fetch as fetch_mod

    cfg, today = ctx.config.sources, ctx.now().date()
    jobs: list[tuple[str, date]] = []
    if cfg.hf_daily.enabled:
        for day in days or fetch_mod.digest_days("hf_daily", _last_success_day(ctx, "hf_daily"), today,
                                                 cfg.hf_daily.max_catchup_days):
            jobs.append(("hf_daily", day))
    if cfg.arxiv.enabled:
        for cat in cfg.arxiv.categories:
            source = f"arxiv:{cat}"
            for day in fetch_mod.digest_days(source, _last_success_day(ctx, source), today, 1):
                jobs.append((source, day))
    reports, started = [], utcnow()
    with _progress(ctx, "Fetching", len(jobs)) as advance:
        broken: set[str] = set()
        for source, day in jobs:
            if source in broken:       # down for one day, down for the next: retry next cycle
                reports.append(FetchReport(source, day.isoformat(), "skipped", error="source failed earlier in this cycle"))
            else:
                reports.append(fetch_claimed(ctx, source, day, started))
                if reports[-1].outcome == "failed":
                    broken.add(source)
            advance()
    return reports


def fetch_claimed(ctx: Context, source: str, day: date, since: datetime) -> FetchReport:
    """``fetch_one`` by one worker at a time per source day (``Store.fetch_claim``). A worker that
    waited while another fetched it skips it; runs a dead worker left `running` are closed."""
    with ctx.store.fetch_claim(source, day.isoformat()):
        if ctx.store.fetched_since(source, day.isoformat(), since):
            return FetchReport(source, day.isoformat(), "skipped", error="fetched by another worker meanwhile")
        ctx.store.close_interrupted_fetches(source, day.isoformat())
        return fetch_one(ctx, source, day)


def fetch_one(ctx: Context, source: str, day: date) -> FetchReport:
    f = fetcher(ctx)
    run_id = ctx.store.start_fetch(source, day.isoformat())
    try:
        if source == "hf_daily":
            outcome = f.fetch_hf_day(day)
        else:
            last = ctx.store.last_fetch(source)
            outcome = f.fetch_arxiv_category(source.split(":", 1)[1], etag=last.etag if last else None,
                                             last_modified=last.last_modified if last else None)
    except NotifierError as err:
        ctx.store.finish_fetch(run_id, outcome="failed", error=str(err), http_status=getattr(err, "status", None))
        event(log, "fetch failed", logging.ERROR, source=source, day=day, error=err)
        return FetchReport(source, day.isoformat(), "failed", error=str(err))
    return record_outcome(ctx, run_id, source, day, outcome)


def record_outcome(ctx: Context, run_id: int, source: str, day: date, outcome) -> FetchReport:
    if not outcome.ok:
        ctx.store.finish_fetch(run_id, outcome="failed", error=outcome.error, http_status=outcome.status)
        event(log, "fetch failed", logging.ERROR, source=source, day=day, status=outcome.status, error=outcome.error)
        return FetchReport(source, day.isoformat(), "failed", error=outcome.error)
    if outcome.not_modified:
        ctx.store.finish_fetch(run_id, outcome="not_modified", http_status=outcome.status,
                               etag=outcome.etag, last_modified=outcome.last_modified)
        event(log, "fetch not modified", source=source, day=day)
        return FetchReport(source, day.isoformat(), "not_modified")
    result = ctx.store.ingest(outcome.papers, source=source, digest_day=day.isoformat())
    ctx.store.finish_fetch(run_id, outcome="ok", http_status=outcome.status, etag=outcome.etag,
                           last_modified=outcome.last_modified, found=result.found, new=result.new,
                           updated=result.updated)
    event(log, "fetched", source=source, day=day, found=result.found, new=result.new, updated=result.updated)
    return FetchReport(source, day.isoformat(), "ok", result.found, result.new, result.updated)


def _last_success_day(ctx: Context, source: str) -> date | None:
    run = ctx.store.last_fetch(source)
    return date.fromisoformat(run.digest_day) if run and run.digest_day else None


@contextmanager
def _progress(ctx: Context, label: str, total: int):
    if not ctx.progress or total < 2:
        yield lambda: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)


# ----------------------------------------------------------------------------- match & plan
def local_day(sub: Subscriber, now: datetime) -> date:
    return now.astimezone(ZoneInfo(sub.timezone)).date()


def candidates(ctx: Context, sub: Subscriber) -> list[Paper]:
    """Papers not yet considered for this subscriber: first seen since their last digest was
    planned (a new subscriber: since the day before subscribing, so they get the latest digest),
    minus any they already have. Papers a digest left out are not offered again the next day."""
    since = ctx.store.last_cutoff(sub.id) or sub.created_at - timedelta(days=1)
    taken = ctx.store.delivered_paper_ids(sub.id)
    return [p for p in ctx.store.papers_since(since) if p.arxiv_id not in taken]


def background(ctx: Context) -> list[Paper]:
    """The stored corpus that term specificity (IDF) is computed over, loaded once per batch."""
    if ctx._background is None:
        ctx._background = ctx.store.recent_papers()
    return ctx._background


def new_batch(ctx: Context) -> None:
    """Forget what earlier batches loaded (the background, the indexes) if the stored papers
    changed since: the daemon delivers to one subscriber at a time and so shares them all day."""
    version = ctx.store.papers_version()
    if version != ctx._papers_version:
        ctx._papers_version = version
        ctx._background = None
        ctx._indexes.clear()


def index_for(ctx: Context, papers: list[Paper], background: list[Paper] | None):
    """The matcher's index of these candidates, built once per batch and shared: subscribers due
    together mostly have the same candidates, an index costs about as much to build as matching
    hundreds of profiles on it, and it keeps the terms it resolved. Keyed by the candidates' ids
    in order (and the background it was built with); only the last INDEXES_KEPT are kept."""
    from notifier import match

    key = tuple(p.arxiv_id for p in papers)
    kept = ctx._indexes.get(key)
    if kept is not None and kept[0] is background:
        ctx._indexes.move_to_end(key)
        return kept[1]
    index = match.build_index(papers, background=background)
    ctx._indexes[key] = (background, index)
    while len(ctx._indexes) > INDEXES_KEPT:
        ctx._indexes.popitem(last=False)
    return index


def match_subscriber(ctx: Context, sub: Subscriber, papers: list[Paper],
                     background: list[Paper] | None = None) -> tuple[list[dict], int]:
    """-> (selected items best first, number of weaker matches). A paper matched by several of
    the subscriber's profiles appears once, tagged with each profile."""
    from notifier.match import match_profile
    from notifier.profile import parse_profile

    if not papers:
        return [], 0
    index = index_for(ctx, papers, background)
    items: dict[str, dict] = {}
    weaker: set[str] = set()
    limit = sub.max_items or ctx.config.matching.max_items
    texts = profiles_of(sub)
    for text in texts:
        profile = parse_profile(text)
        label = ", ".join(profile.labels()[:3]) if len(texts) > 1 else None
        for m in match_profile(index, profile, max_items=limit, threshold=threshold_of(ctx, sub),
                               upvote_weight=ctx.config.matching.upvote_weight):
            if not m.selected:
                weaker.add(m.paper_id)
                continue
            item = items.setdefault(m.paper_id, _item(m))
            if label:
                item["profiles"].append(label)
            item["score"] = max(item["score"], m.score)
    ranked = sorted(items.values(), key=lambda i: -i["score"])[:limit]
    return ranked, len(weaker - set(items))


def threshold_of(ctx: Context, sub: Subscriber) -> float | None:
    """The subscriber's own threshold, else the configured one, else None (the matcher's default)."""
    return sub.threshold if sub.threshold is not None else ctx.config.matching.threshold


def _item(m: Match) -> dict:
    return {"id": m.paper_id, "score": round(m.score, 4), "matched": list(m.matched), "profiles": [],
            "evidence": [{"term": e.term, "field": e.field, "snippet": [list(s) for s in e.snippet]}
                         for e in m.evidence]}


def profiles_of(sub: Subscriber) -> list[str]:
    return json.loads(sub.profile)


def plan(ctx: Context, sub: Subscriber, *, now: datetime | None = None) -> Delivery | None:
    """Record this subscriber's digest for their local day, if there is anything to send."""
    now = now or ctx.now()
    day = local_day(sub, now).isoformat()
    if ctx.store.has_delivery(sub.id, day):
        return None
    folded = ctx.store.supersede_open(sub.id, day)      # missed digests: this one is a catch-up
    cutoff = utcnow()         # papers first seen from now on belong to the next digest
    papers = candidates(ctx, sub)
    items, weaker = match_subscriber(ctx, sub, papers, background(ctx))
    meta = digest_meta(ctx, sub, papers, items, weaker, now, folded=folded)
    if not items and not ctx.config.general.send_empty:
        # Nothing to send today: record that, so the subscriber is not re-matched all day and
        # papers arriving later go into tomorrow's digest.
        ctx.store.plan_delivery(subscriber_id=sub.id, digest_day=day, items=[], meta=meta, state="empty",
                                created_at=cutoff)
        return None
    delivery = ctx.store.plan_delivery(subscriber_id=sub.id, digest_day=day, items=items, meta=meta,
                                       created_at=cutoff)
    if delivery:
        event(log, "digest planned", subscriber=sub.address, day=day, papers=len(items), weaker=weaker)
    return delivery


def digest_meta(ctx: Context, sub: Subscriber, papers: list[Paper], items: list[dict], weaker: int,
                now: datetime, folded: int = 0) -> dict:
    last = ctx.store.last_delivery(sub.id)
    since = last.created_at if last else sub.created_at
    sources = sorted({s for s in ctx.store.fetch_sources()} or {"hf_daily"})
    failed = ctx.store.failed_sources_since(now - timedelta(days=1))
    days = sorted({d for p in items for _, d in ctx.store.sightings(p["id"])})
    return {"new_papers": len(papers), "sources": [source_label(s) for s in sources],
            "failed_sources": [source_label(s) for s in failed], "weaker": weaker,
            "covers_days": days if folded or (now - since) > timedelta(days=1, hours=12) else [],
            "empty_note": not items}


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
    """Plan and send the digests of the given subscribers (default: every active one).
    ``stop`` (set by SIGTERM) ends the batch after the message in flight."""
    now = now or ctx.now()
    subs = [s for s in ctx.store.list_subscribers() if subscriber_ids is None or s.id in subscriber_ids]
    new_batch(ctx)
    if dry_run:
        return [preview_report(ctx, s, now) for s in subs]
    for sub in subs:
        plan(ctx, sub, now=now)
    return send_pending(ctx, now=now, stop=stop)     # also retries whose time has come, for anyone


def preview_report(ctx: Context, sub: Subscriber, now: datetime) -> DeliveryReport:
    items, _ = match_subscriber(ctx, sub, candidates(ctx, sub), background(ctx))
    return DeliveryReport(sub.address, "dry-run", len(items))


def send_pending(ctx: Context, subscriber_ids: list[int] | None = None, now: datetime | None = None,
                 stop: threading.Event | None = None) -> list[DeliveryReport]:
    """Send every waiting delivery whose time has come, each through the sender of its own
    destination; the batch opens the senders and closes them at the end (one SMTP connection
    per batch, never an idle one kept for hours). Paused and unsubscribed subscribers' digests
    are held or cancelled by the store and never reach this loop. Claims a dead worker left
    are taken over first; digests another worker claims first are its own (not reported)."""
    from notifier.channels import Senders

    now = now or ctx.now()
    recover(ctx, now=now)
    waiting = ctx.store.deliveries(states=("pending", "retry"), subscriber_ids=subscriber_ids)
    subs = {s.id: s for s in ctx.store.list_subscribers()} if waiting else {}
    reports = []
    with Senders(ctx.config) as senders:
        for d in waiting:
            if stop is not None and stop.is_set():
                break
            sub = subs.get(d.subscriber_id)
            if sub is None or (d.next_attempt_at and d.next_attempt_at > now):
                continue
            sender = senders.get(sub.channel, sub.address)
            if not sender.halted:      # halted: e.g. SMTP login refused, every message would fail the same way
                report = send_one(ctx, d, sub, sender, now)
                if report.state != "skipped":
                    reports.append(report)
        for label, reason in senders.halted():
            text = f"{label}: delivery stopped: {reason}"
            if ctx.store.raise_alert(f"halted:{label}:{now:%Y%m%d}:{reason[:120]}", text):
                event(log, "ALERT " + text, logging.ERROR)
    return reports


def send_one(ctx: Context, d: Delivery, sub: Subscriber, sender, now: datetime) -> DeliveryReport:
    who = redact(sub.address)        # a webhook URL address is a secret, and reports are printed
    claimed = ctx.store.claim(d.id, now=now, lease=lease_of(ctx))
    if claimed is None:              # another worker (or process) has it
        return DeliveryReport(who, "skipped", len(json.loads(d.items)))
    digest = build_digest(ctx, claimed, sub)
    with renewing(ctx, d.id):
        result = sender.send(digest)
    state, next_at = settle(ctx, sub, result.state, claimed.attempts, now)
    if not ctx.store.record(d.id, state, error=result.error, provider_ref=result.provider_ref,
                            next_attempt_at=next_at, now=now):
        event(log, "delivery taken over", logging.WARNING, subscriber=sub.address, key=d.key, outcome=state)
        return DeliveryReport(who, "taken over", len(digest.items), where=result.provider_ref, error=result.error)
    level = logging.INFO if state == "sent" else logging.WARNING
    event(log, f"delivery {state}", level, subscriber=sub.address, channel=sub.channel, via=sender.label,
          papers=len(digest.items), attempt=claimed.attempts, error=result.error)
    return DeliveryReport(who, state, len(digest.items), where=result.provider_ref, error=result.error)


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
    if state == "unknown" and sub.channel == "email" and ctx.config.delivery.unknown_policy == "resend":
        state = "retry"     # re-sent later with the same Message-ID: a copy is recognisably the same mail
    if state != "retry":
        return state, None
    if attempts >= ctx.config.delivery.max_attempts:
        return "failed", None
    return state, now + min(RETRY_CAP, timedelta(seconds=ctx.config.delivery.retry_base_seconds * 2 ** (attempts - 1)))


def build_digest(ctx: Context, d: Delivery, sub: Subscriber) -> Digest:
    items = json.loads(d.items)
    meta = json.loads(d.meta)
    papers = ctx.store.get_papers(i["id"] for i in items)
    digest_items = [DigestItem(paper=papers[i["id"]], profiles=i["profiles"], match=Match(
        paper_id=i["id"], score=i["score"], selected=True, matched=i["matched"],
        evidence=[Evidence(e["term"], e["field"], [tuple(s) for s in e["snippet"]]) for e in i["evidence"]]))
        for i in items if i["id"] in papers]
    return Digest(recipient=recipient(sub), day=date.fromisoformat(d.digest_day), items=digest_items,
                  stats=DigestStats(meta.get("new_papers", 0), meta.get("sources", []), meta.get("failed_sources", [])),
                  weaker_count=meta.get("weaker", 0),
                  covers_days=[date.fromisoformat(x) for x in meta.get("covers_days", [])],
                  delivery_key=f"{d.key.replace(':', '.')}.{d.id}")


def preview_digest(ctx: Context, sub: Subscriber, day: date | None = None) -> Digest:
    """The digest the subscriber would get now (or for one digest day), recording nothing."""
    now = ctx.now()
    papers = ctx.store.papers_on_day(day.isoformat()) if day else candidates(ctx, sub)
    items, weaker = match_subscriber(ctx, sub, papers, background(ctx))
    meta = digest_meta(ctx, sub, papers, items, weaker, now)
    day = day or local_day(sub, now)
    preview = Delivery(key=f"{sub.id}:{day}:preview", subscriber_id=sub.id, digest_day=day.isoformat(),
                       items=json.dumps(items), meta=json.dumps(meta), id=0)
    return build_digest(ctx, preview, sub)


def recipient(sub: Subscriber) -> Recipient:
    from notifier.profile import parse_profile

    terms = [t for text in profiles_of(sub) for t in parse_profile(text).labels()]
    return Recipient(id=sub.id, name=sub.name, channel=sub.channel, address=sub.address, profile_terms=terms)


def send_operator_message(ctx: Context, target: str, subject: str, text: str) -> bool:
    """Send an alert to the operator's address or Slack target; True when it went out."""
    from notifier.channels import Senders
    from notifier.subscribers import channel_of

    with Senders(ctx.config) as senders:
        result = senders.get(channel_of(target), target).send_text(target, subject, text)
    if result.state != "sent":
        event(log, "alert not sent", logging.ERROR, target=target, error=result.error)
    return result.state == "sent"


# ----------------------------------------------------------------------------- recovery
def recover(ctx: Context, now: datetime | None = None, *, at_start: bool = False) -> int:
    """Resolve deliveries a dead worker left in `sending` once its lease ran out (the row is
    taken over first, so of several workers one resolves it). Email is re-sent with the same
    Message-ID (recipients' clients fold the duplicate); Slack is checked for the message where
    the sender can look it up; otherwise the row becomes `unknown` for the operator (policy
    `hold`). A subscriber who is no longer active gets nothing re-sent: the row is held (see
    ``hold_open``). ``at_start`` (of `run` / `serve`) on SQLite: this process holds the local
    lock and only lock holders send, so every `sending` row was left by a dead process, however
    recent (even with a clock set back); on a shared database other workers are sending."""
    from notifier.channels import Senders

    now, lease = now or ctx.now(), lease_of(ctx)
    everything = at_start and not ctx.store.shared
    if not ctx.store.claims_to_recover(now, lease, expired_only=not everything):
        return 0
    subs = {s.id: s for s in ctx.store.list_subscribers(active_only=False)}
    resolved = 0
    with Senders(ctx.config) as senders:
        for d in ctx.store.claims_to_recover(now, lease, expired_only=not everything):
            if ctx.store.take_over(d.id, now, lease, expired_only=not everything, worker=d.worker) is None:
                continue                                   # another worker resolves it
            sub = subs[d.subscriber_id]
            find_sent = getattr(senders.get(sub.channel, sub.address), "find_sent", None)
            if not sub.active:
                ctx.store.record(d.id, "held", error="interrupted while sending; the subscriber is not active", now=now)
            elif find_sent is not None and find_sent(build_digest(ctx, d, sub)):
                ctx.store.record(d.id, "sent", error="confirmed after restart", now=now)
            elif ctx.config.delivery.unknown_policy == "resend":
                ctx.store.record(d.id, "retry", error="interrupted while sending; re-sending", now=now)
            else:
                ctx.store.record(d.id, "unknown", error="interrupted while sending; check and re-queue", now=now)
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
    while ctx.store.deliveries(states=("sending",)) and time.monotonic() < deadline \
            and not (stop is not None and stop.is_set()):
        time.sleep(poll)
        reports += send_pending(ctx, stop=stop)          # takes over expired claims first
    return reports


def due_subscribers(ctx: Context, subs: list[Subscriber]) -> list[int]:
    from notifier.schedule import SubscriberSchedule, due_deliveries

    scheds = []
    for s in subs:
        try:
            scheds.append(SubscriberSchedule(s.id, s.delivery_time, s.timezone, s.frequency, s.weekday))
        except NotifierError as err:
            event(log, "subscriber not scheduled", logging.ERROR, subscriber=s.address, error=err)
    latest = ctx.store.latest_deliveries(PLANNED_STATES)
    last = {s.id: latest[s.id].created_at if s.id in latest else None for s in subs}
    return due_deliveries(scheds, last, ctx.now())
