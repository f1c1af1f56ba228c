"""What each subscriber's digest holds: their new papers matched against their profiles and
votes, recorded as a delivery (``plan_batch``), and read back as the ``Digest`` the renderers take
(``digest_of``). A paper that is in any delivery of a subscriber that is not ``failed`` is never
selected for that subscriber again, so a second run, a retry or a restart sends nothing twice."""
from __future__ import annotations

import json
import logging
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import compress
from typing import TYPE_CHECKING, Iterable, Iterator, NamedTuple
from zoneinfo import ZoneInfo

from notifier.batching import batched
from notifier.clock import as_utc
from notifier.config import Config
from notifier.errors import ConfigError, ProfileError
from notifier.fetch_cycle import still_fetched
from notifier.logs import event
from notifier.models import (Digest, DigestItem, DigestStats, Evidence, Match, Paper, Recipient,
                             liked_besides_itself)
from notifier.outbox import State
from notifier.schedule import SubscriberSchedule, due_subscribers, last_slot
from notifier.store import Delivery, Planned, Subscriber
from notifier.store.tables import delivery_key, message_key
from notifier.subscribers import shown_name, stored_profiles

if TYPE_CHECKING:
    from notifier.context import Context

log = logging.getLogger("notifier.pipeline")     # the name its lines had before the cut: operators filter on it
# A digest late for its time, or a retry, coming due this close before the subscriber's next
# digest waits for it and is folded into its catch-up: one message, not two a few hours apart.
# The longest retry back-off (sending.RETRY_CAP): a retry may wait that long anyway.
FOLD_WINDOW = timedelta(hours=6)

SOURCE_NAMES = {"hf_daily": "Hugging Face Daily Papers"}
PLAN_CHUNK = 500                   # subscribers' digests recorded per transaction when planning a batch


def source_label(source: str) -> str:
    if source.startswith("arxiv:"):
        return "arXiv " + source.split(":", 1)[1]
    return SOURCE_NAMES.get(source, source)


def local_day(sub: Subscriber, now: datetime) -> date:
    return now.astimezone(ZoneInfo(sub.timezone)).date()


def schedule_of(sub: Subscriber) -> SubscriberSchedule | None:
    """The subscriber's schedule; None if their stored one is no longer usable."""
    try:
        return SubscriberSchedule(sub.id, sub.delivery_time, sub.timezone, sub.frequency, sub.weekday)
    except ConfigError:
        return None


def next_slot_soon(sub: Subscriber, now: datetime) -> datetime | None:
    """The subscriber's next digest time if it comes within FOLD_WINDOW after ``now``; None if
    not (or their stored schedule is no longer usable)."""
    s = schedule_of(sub)
    if s is None:
        return None
    slot = last_slot(s.time, s.timezone, now + FOLD_WINDOW, s.day_of_week)
    return slot if slot > now else None


class LeftOut(NamedTuple):
    """How many matched papers a digest leaves out: below the bar (``weaker``: a lower threshold
    shows them), or past the subscriber's max items though they passed it (``capped``)."""
    weaker: int = 0
    capped: int = 0


def match_subscriber(ctx: Context, sub: Subscriber, papers: list[Paper]) -> tuple[list[dict], LeftOut]:
    """-> (selected items best first, the matches left out). A paper matched by several of the
    subscriber's profiles appears once, tagged with each profile."""
    if not papers:
        return [], LeftOut()
    # a profile that does not parse raises here: one line, at the boundary
    [(_, items, left)] = match_many(ctx, [(sub, parsed_profiles(sub))], ctx.matcher.index(papers))
    return items, left


def parsed_profiles(sub: Subscriber) -> list:
    from notifier.profile import parse_profile

    return [parse_profile(text) for text in stored_profiles(sub)]


def parse_stored(subs) -> Iterator[tuple[Subscriber, list | None, ProfileError | None]]:
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
    longer parses is skipped, so it holds back that subscriber's digest (planned once the profile
    is edited) and nobody else's; ``sending.alerted`` reports it."""
    for sub, profiles, error in parse_stored(subs):
        if error is None:
            yield sub, profiles


def match_many(ctx: Context, subs: Iterable[tuple[Subscriber, list]], index
               ) -> Iterator[tuple[Subscriber, list[dict], LeftOut]]:
    """Yield (subscriber, selected items, left out) for subscribers, each with its parsed profiles,
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


def merge_profiles(index, ranked: list, limit: int, explained: dict) -> tuple[list[dict], LeftOut]:
    """One subscriber's matches over all their profiles -> (the first ``limit`` selected papers
    best first, each once, tagged with every profile that selected it; how many more papers matched
    weaker, how many more passed a profile's bar: past its max items, or past ``limit`` together).
    A paper's terms and evidence are those of the first profile that selected it; the evidence
    of a term in a paper is worked out once for all subscribers (``explained``)."""
    chosen: dict[int, dict] = {}
    matched: set[int] = set()
    past_cap: set[int] = set()
    for r in ranked:
        label = ", ".join(r.profile.labels()[:3]) if len(ranked) > 1 else None
        matched.update(r.docs)
        past_cap.update(r.past_cap)
        for k in compress(range(len(r.docs)), r.selected):       # most matches are weaker: skip them in C
            d, score = r.docs[k], r.scores[k]
            found = chosen.setdefault(d, {"score": round(score, 4), "of": (r, k), "profiles": []})
            if label:
                found["profiles"].append(label)
            found["score"] = max(found["score"], score)
    best = sorted(chosen.items(), key=lambda kv: -kv[1]["score"])[:limit]
    passed = past_cap | chosen.keys()
    left = LeftOut(weaker=len(matched - passed), capped=len(passed) - len(best))
    return [_item(index, d, **found, explained=explained) for d, found in best], left


def threshold_of(ctx: Context, sub: Subscriber) -> float | None:
    """The subscriber's own threshold, else the configured one, else None (the matcher's default)."""
    return sub.threshold if sub.threshold is not None else ctx.config.matching.threshold


def limit_of(ctx: Context, sub: Subscriber) -> int:
    return sub.max_items or ctx.config.matching.max_items


def _item(index, d: int, score: float, of: tuple, profiles: list[str], explained: dict) -> dict:
    from notifier.match import apart

    ranked, k = of
    code = ranked.codes[k]
    terms = ranked.terms(code)
    item = {"id": index.docs[d].id, "score": score, "matched": ranked.labels(code), "profiles": profiles,
            "evidence": [e for term in dict.fromkeys(terms) for e in _evidence(index, d, term, explained)],
            "apart": apart(index, d, terms)}        # phrases it has only as their words apart: the why line says so
    if ranked.voting:           # which of the subscriber's votes moved it, for the "why" line
        liked, item["disliked"] = ranked.votes(k)
        item["voted_up"] = voted_up(ranked, item["id"])
        item["liked"] = liked_besides_itself(liked, item["voted_up"])
    return item


def voted_up(ranked, paper_id: str) -> bool:
    """Whether the subscriber voted this very paper up (a paper voted down is never ranked again):
    its why line said "like a paper you voted up", the paper being itself."""
    _, papers, signs, _ = ranked.voting
    return any(sign > 0 and paper.arxiv_id == paper_id for paper, sign in zip(papers, signs))


def _evidence(index, d: int, term, explained: dict) -> list[dict]:
    """Why ``term`` matched paper ``d``, as a digest records it (a paper's evidence is its terms'
    one after another); kept in ``explained``: subscribers share terms, and it costs ~1 ms."""
    from notifier.explain import evidence

    if (d, term) not in explained:
        explained[d, term] = [{"term": e.term, "field": e.field, "snippet": [list(s) for s in e.snippet]}
                              for e in evidence(index, d, [term])]
    return explained[d, term]


def plan(ctx: Context, sub: Subscriber, *, now: datetime | None = None) -> Delivery | None:
    """Record this subscriber's digest for their local day (see ``plan_batch``) -> the digest
    waiting to be sent, or None (nothing to send, or planned already)."""
    now = now or ctx.now()
    if not plan_batch(ctx, [sub], now=now):
        return None
    return ctx.store.delivery_by_key(delivery_key(sub.id, local_day(sub, now)))


def plan_batch(ctx: Context, subs: list[Subscriber], *, now: datetime | None = None, at_once: bool = False) -> int:
    """Record each subscriber's digest for their local day, if there is anything to send, and
    (unless ``send_empty``) an `empty` one if not, so they are not re-matched all day and papers
    arriving later go into the next digest; nothing at all while a source is failing
    (``_planned``). The batch is matched together and recorded
    PLAN_CHUNK subscribers per transaction. ``at_once``: a late digest does not wait for the
    subscriber's time (``unplanned_days``). -> how many digests are waiting to be sent."""
    now = now or ctx.now()
    days = unplanned_days(ctx, subs, now, at_once=at_once)
    subs = [sub for sub in subs if sub.id in days]
    sources = source_states(ctx, now)   # before the papers: a fetch that succeeds meanwhile is not taken for failed
    folded = ctx.store.supersede_open_many({sub.id: days[sub.id] for sub in subs})   # missed: a catch-up
    cutoff = ctx.store.take_cutoff()          # papers first seen from now on belong to the next digest
    return sum(record_plans(ctx, chunk, days, folded, cutoff, now, sources)
               for chunk in batched(match_batch(ctx, subs), PLAN_CHUNK))


def unplanned_days(ctx: Context, subs: list[Subscriber], now: datetime, *, at_once: bool = False) -> dict[int, str]:
    """Subscriber id -> their local day, for those of ``subs`` whose digest of that day is not
    recorded yet, but those whose digest is late and waits for their time (``held_for_their_time``)
    unless asked for ``at_once`` (`run --all`, `run --subscriber`)."""
    held = {} if at_once else held_for_their_time(ctx, subs, now)
    days = {sub.id: local_day(sub, now).isoformat() for sub in subs if sub.id not in held}
    known = ctx.store.delivery_keys([delivery_key(sub_id, day) for sub_id, day in days.items()])
    return {sub_id: day for sub_id, day in days.items() if delivery_key(sub_id, day) not in known}


def held_for_their_time(ctx: Context, subs: list[Subscriber], now: datetime) -> dict[int, datetime]:
    """Subscriber id -> their next digest time, for those of ``subs`` whose late digest waits for
    it (``waits_for_its_time``)."""
    soon = {sub.id: next_slot_soon(sub, now) for sub in subs}
    last = ctx.store.last_planned() if any(soon.values()) else {}
    return {sub.id: soon[sub.id] for sub in subs if waits_for_its_time(sub, now, soon[sub.id], last.get(sub.id))}


def waits_for_its_time(sub: Subscriber, now: datetime, soon: datetime | None, last_planned: datetime | None) -> bool:
    """A digest late for its time (of an earlier local day: the source failed all day, or no run
    came), with the subscriber's next time (``soon``: ``next_slot_soon``) coming later the same
    local day, waits for it and goes out then with both days' papers: one message at their time,
    not one in the night and none at their time. A new subscriber's first digest goes at once, and
    so does one asked for before its time that is not late (`run --all` at 03:00 for a 07:00
    subscriber whose digest of yesterday went out): the same at any hour."""
    return (last_planned is not None and soon is not None and local_day(sub, soon) == local_day(sub, now)
            and missed_its_time(sub, last_planned, now))


def missed_its_time(sub: Subscriber, last_planned: datetime, now: datetime) -> bool:
    """Whether the subscriber's latest digest time passed with no digest planned on its local day:
    the rule that makes them due (``schedule.due_subscribers``). Their schedule is usable."""
    return due_subscribers([schedule_of(sub)], lambda _: last_planned, now) != []


def record_plans(ctx: Context, matched: list[tuple], days: dict[int, str], folded: dict[int, int],
                 cutoff: datetime, now: datetime, sources: tuple[list[str], list[str]]) -> int:
    """Record the digests of a chunk of matched subscribers in one transaction. -> how many are
    waiting to be sent (not `empty`, not held for a failing source, not planned meanwhile by
    another process)."""
    facts = digest_facts(ctx, matched, now, sources)
    planned = [(m[0], _planned(ctx, facts, m, days[m[0].id], now, folded.get(m[0].id, 0))) for m in matched]
    digests = [(sub, p) for sub, p in planned if p is not None]
    recorded = set(ctx.store.plan_deliveries([p for _, p in digests], created_at=cutoff))
    pending = [(sub, p) for sub, p in digests if p.key in recorded and p.state == State.PENDING]
    for sub, p in pending:
        event(log, "digest planned", subscriber=sub.address, day=p.digest_day, papers=len(p.items),
              weaker=p.meta["weaker"], capped=p.meta["capped"])
    return len(pending)


def _planned(ctx: Context, facts: DigestFacts, matched: tuple, day: str, now: datetime, folded: int) -> Planned | None:
    """The digest to record for a matched subscriber; None while it would be `empty` and a source
    failed since its last success: recorded, it would close the day, and the papers the daemon's
    fetch-again stores an hour later would wait for the next morning. The first run after the
    source is back plans it; a source down until the next day gives one digest with both days.
    A digest with papers from the sources that work goes out as usual, naming the one that
    failed, and so does ``send_empty``'s "nothing yet" (asked for at the subscriber's time)."""
    sub, papers, items, left = matched
    if not items and facts.failed and not ctx.config.general.send_empty:
        return None
    meta = digest_meta(facts, sub, len(papers), items, left, now, folded=folded)
    items = dated(facts, items)
    if not items and not ctx.config.general.send_empty:
        return Planned(sub.id, day, [], meta, state=State.EMPTY)
    return Planned(sub.id, day, items, meta)


def match_batch(ctx: Context, subs: list[Subscriber], freed: dict[int, set[str]] | None = None
                ) -> Iterator[tuple[Subscriber, list[Paper], list[dict], LeftOut]]:
    """Yield (subscriber, candidates, selected items, left out) for every subscriber whose stored
    profile parses (``readable``: with papers or not, the others' day waits), a candidate set at a
    time: each set's index is built once and its subscribers matched together. ``freed``: papers
    taken now that count as free (a dry run's digests that the run would fold into a catch-up)."""
    for papers, group in candidate_sets(ctx, subs, freed):
        ready = list(readable(group))
        if not papers:
            yield from ((sub, papers, [], LeftOut()) for sub, _ in ready)
            continue
        index = ctx.matcher.index(papers)
        yield from ((sub, papers, items, left) for sub, items, left in match_many(ctx, ready, index))


def candidates(ctx: Context, sub: Subscriber) -> list[Paper]:
    """Papers not yet considered for this subscriber: first seen since their last digest was
    planned (a new subscriber: since the day before subscribing, so they get the latest digest),
    minus any they already have. Papers a digest left out are not offered again the next day."""
    [(papers, _)] = candidate_sets(ctx, [sub])
    return papers


def candidate_sets(ctx: Context, subs: list[Subscriber], freed: dict[int, set[str]] | None = None
                   ) -> list[tuple[list[Paper], list[Subscriber]]]:
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
        had = frozenset(pid for pid in taken.get(sub.id, set()) - (freed or {}).get(sub.id, set())
                        if first_seen.get(pid, oldest) >= since[sub.id])
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


def source_states(ctx: Context, now: datetime) -> tuple[list[str], list[str]]:
    """(the sources a digest names, those of them whose latest fetch, within a day, failed)."""
    sources = digest_sources(ctx.config, ctx.store.fetch_sources())
    return sources or ["hf_daily"], [s for s in ctx.store.failed_sources_since(now - timedelta(days=1)) if s in sources]


def digest_facts(ctx: Context, matched: list[tuple], now: datetime, sources: tuple[list[str], list[str]]) -> DigestFacts:
    """``sources``: ``source_states``."""
    ids = [m[0].id for m in matched]
    named, failed = sources
    return DigestFacts(sources=named, failed=failed,
                       last_settled=ctx.store.last_cutoffs(ids),
                       days=ctx.store.sighting_days(i["id"] for m in matched for i in m[2]))


def digest_sources(config: Config, fetched: list[str]) -> list[str]:
    """The fetched sources a digest names: those the configuration still fetches (one disabled
    since, or a category dropped, brings no papers and will not be "back"). A configuration that
    fetches nothing (a worker that only delivers, the demo) names every source fetched."""
    if not (config.sources.hf_daily.enabled or config.sources.arxiv.enabled):
        return fetched
    return still_fetched(config, fetched)


def digest_meta(facts: DigestFacts, sub: Subscriber, new_papers: int, items: list[dict], left: LeftOut,
                now: datetime, folded: int = 0) -> dict:
    days = sorted({d for i in items for d in facts.days.get(i["id"], [])})
    return {"new_papers": new_papers, "sources": [source_label(s) for s in facts.sources],
            "failed_sources": [source_label(s) for s in facts.failed], "weaker": left.weaker, "capped": left.capped,
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
        liked=i.get("liked", 0), disliked=i.get("disliked", 0), apart=i.get("apart", []),
        voted_up=i.get("voted_up", False)),
        day=date.fromisoformat(i["day"]) if i.get("day") else None)     # planned before items kept their day: None
        for i in items if i["id"] in papers]
    return Digest(recipient=recipient(sub), day=date.fromisoformat(d.digest_day), items=digest_items,
                  stats=DigestStats(meta.get("new_papers", 0), meta.get("sources", []), meta.get("failed_sources", [])),
                  weaker_count=meta.get("weaker", 0), capped_count=meta.get("capped", 0),
                  covers_days=[date.fromisoformat(x) for x in meta.get("covers_days", [])],
                  delivery_key=message_key(d), planned_at=as_utc(d.created_at),
                  links=links_for(config, sub.id, [i.paper.arxiv_id for i in digest_items], day=d.digest_day))


def preview_digest(ctx: Context, sub: Subscriber, day: date | None = None) -> Digest:
    """The digest the subscriber would get now (or for one digest day), recording nothing."""
    now = ctx.now()
    papers = ctx.store.papers_on_day(day.isoformat()) if day else candidates(ctx, sub)
    items, left = match_subscriber(ctx, sub, papers)
    facts = digest_facts(ctx, [(sub, papers, items, left)], now, source_states(ctx, now))
    meta = digest_meta(facts, sub, len(papers), items, left, now)
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
    return Recipient(id=sub.id, name=shown_name(sub), channel=sub.channel, address=sub.address, profile_terms=terms,
                     frequency=sub.frequency)
