"""The profile tester: what a profile would have sent over the last days of stored papers.

It runs the pipeline's own matching (``planning.match_subscriber``) on a transient subscriber,
so what the page shows is what a digest would carry: the same threshold, the same cap, the
same "why" evidence. The index over those papers is built once and reused until a paper is
added or changed (``Matcher.refresh``); one lock keeps concurrent requests off the cache.
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from notifier.errors import ProfileError
from notifier.logs import event
from notifier.models import Paper

log = logging.getLogger("notifier.web")
DAYS = 7
MAX_PROFILE_CHARS = 2000        # a profile's few dozen telling terms fit many times over; in Chinese, 2,000
                                # characters are 18 KB of form (9 bytes each URL-encoded), and three profiles
                                # on the manage page stay under [web] max_body_bytes (64 KB)
# The live preview's calm lines (``still_typing``), after "Profile 2: " when the page has several
OPEN_PHRASE = 'close the phrase with " to see what it finds.'
UNFINISHED = "finish the last term to see what it finds."
NO_TERM_YET = "add a term to look for, too."     # only exclusions typed so far
LOOKED_FOR = "paper"            # any term to look for, as typing on might add
WARM_PROFILE = "paper"          # any valid profile: running it builds the index the next visitor needs


@dataclass
class TesterItem:
    paper: Paper
    matched: list[str]
    evidence: list[dict]
    liked: int = 0               # how many of the subscriber's liked papers it is like (the digest's "why" line)
    disliked: int = 0
    voted_up: bool = False       # the subscriber voted this very paper up
    apart: list[str] = field(default_factory=list)     # of ``matched``: phrases it has only as their words apart
    heading: str = ""            # a weekly preview (``in_weekly_order``): the day, or "The week's best", it starts
    listed: str = ""             # among the week's best: "listed Wednesday 10 June"

    @property
    def terms(self) -> list[str]:
        """The matched terms as the digest names them ("… (its words apart)")."""
        from notifier.render import named_terms

        return named_terms(self.matched, self.apart)

    @property
    def votes_line(self) -> str:
        from notifier.render import votes_line

        return votes_line(self)


@dataclass
class TesterResult:
    items: list[TesterItem] = field(default_factory=list)
    weaker: int = 0
    capped: int = 0              # passed the bar, past the digest's max items
    considered: int = 0          # stored papers first seen in the window
    error: str = ""              # a malformed profile: one line naming the term
    hint: str = ""               # the live preview of a last term still being typed (``still_typing``)
    ran: bool = False            # False: nothing to test yet (no keywords)
    profiles: int = 1            # how many profiles were run (the manage page has several)


def profile_error(texts: list[str], kept: Collection[str] = ()) -> str:
    """'' when every profile is accepted as typed (``check_typed``, as the command line checks
    it); else the first error, naming the term. ``kept``: the subscriber's stored profiles, which
    may be longer than MAX_PROFILE_CHARS too."""
    return profile_error_at(texts, kept)[1]


def still_typing(boxes: list[str], kept: Collection[str] = ()) -> str:
    """The live preview's calm line for a profile still being typed in one of the keyword ``boxes``
    (blank ones too, as the page has them), else ''. Typed slowly, "agents"
    showed "has only common words" in red after its "a", "speculative decoding" "unbalanced quote"
    after every key, ", -diffusion" "empty term" after its "-", and "-diffusion, agents" "has only
    exclusions" until "agents" was begun. Still being typed: typing on at the end of the first
    refused profile (closing the phrase, a letter, a weight's digit, a term to look for on a line of
    its own) would make every profile valid; finishing its last term counts only when that term is
    refused on its own (``refused_alone``)."""
    typed = [i for i, box in enumerate(boxes) if box.strip()]
    texts = [boxes[i].strip() for i in typed]
    at, _ = profile_error_at(texts, kept)
    if at is None:
        return ""
    text = texts[at]
    phrase_open = text.count('"') % 2
    typed_on = [text + end for end in (('"', 'x"') if phrase_open else ("x", "2"))] if refused_alone(text) else []
    looking_for = [t + "\n" + LOOKED_FOR for t in [text, *typed_on]]
    if not mended(texts, at, typed_on + looking_for, kept):
        return ""
    return of_box(OPEN_PHRASE if phrase_open else UNFINISHED if mended(texts, at, typed_on, kept) else NO_TERM_YET,
                  typed[at], len(boxes))


def of_box(hint: str, at: int, count: int) -> str:
    """A calm line, naming the box it is about, as its label does, when there are several (the
    manage page: "Profile 1 keywords", ..., and last the blank "Add another profile")."""
    if count == 1:
        return hint[:1].upper() + hint[1:]
    return f"{'New profile' if at == count - 1 else f'Profile {at + 1}'}: {hint}"


def mended(texts: list[str], at: int, versions: list[str], kept: Collection[str]) -> bool:
    """Would one of ``versions`` of ``texts[at]`` make every profile valid?"""
    return any(not profile_error([*texts[:at], version, *texts[at + 1:]], kept) for version in versions)


def refused_alone(text: str) -> bool:
    """Is the term ``text``'s error names refused on its own, leaving out its + or -: so 'a' is, and
    'moe' in 'moe, -moe' is not (a mistake whatever is typed after it)."""
    from notifier.profile import check_profile

    try:
        check_profile(text)
        return False
    except ProfileError as err:
        return bool(profile_error([(err.term or "").lstrip("+-")]))


def profile_error_at(texts: list[str], kept: Collection[str] = ()) -> tuple[int | None, str]:
    """(which of ``texts`` is refused, its error naming the term), or (None, '') when none is."""
    from notifier.profile import check_typed

    for i, text in enumerate(texts):
        if len(text) > MAX_PROFILE_CHARS and text not in kept:
            return i, (f"a profile takes at most {MAX_PROFILE_CHARS:,} characters and this one is longer: "
                       "keep the terms that tell your topic best")
        try:
            check_typed(text, kept)
        except ProfileError as err:
            return i, str(err)
    return None, ""


def in_weekly_order(items: list[TesterItem], days: dict[str, list[str]]) -> list[TesterItem]:
    """``items`` (ranked) as a weekly email lists them (``render.in_days``): under the day each was
    first listed on (``days``: ``Store.sighting_days``), newest day first, the week's three best first.
    Ranked alone, a weekly subscriber's preview listed them in another order than their email."""
    from notifier.render import in_days

    if not all(days.get(it.paper.arxiv_id) for it in items):
        return items
    views = [{"item": it, "day": date.fromisoformat(days[it.paper.arxiv_id][0]), "heading": "", "listed": ""}
             for it in items]
    return [replace(v["item"], heading=v["heading"], listed=v["listed"]) for v in in_days(views)]


class Tester:
    def __init__(self, ctx):
        self.ctx = ctx
        self._lock = threading.Lock()
        self._papers: tuple[tuple, list[Paper]] | None = None

    def papers(self) -> list[Paper]:
        """Stored papers first seen in the last DAYS days; reloaded when the store changed."""
        version = self.ctx.store.papers_version()
        self.ctx.matcher.refresh(version)
        if self._papers is None or self._papers[0] != version:
            since = self.ctx.now() - timedelta(days=DAYS)
            self._papers = (version, self.ctx.store.papers_since(since))
        return self._papers[1]

    def run(self, texts: list[str], *, threshold: float | None = None, max_items: int | None = None,
            subscriber_id: int = 0, kept: Collection[str] = (), weekly: bool = False) -> TesterResult:
        """What ``texts`` would have sent; with ``subscriber_id``, that subscriber's votes applied
        (0: nobody's, the sign-up page), and ``kept`` their stored profiles (``profile_error``);
        ``weekly``: in a weekly email's order (``in_weekly_order``)."""
        texts = [t.strip() for t in texts if t and t.strip()]
        if not texts:
            return TesterResult()
        error = profile_error(texts, kept)
        if error:
            return TesterResult(error=error, ran=True)
        with self._lock:
            result = self._match(texts, threshold, max_items, subscriber_id)
        if weekly:
            result.items = in_weekly_order(result.items, self.ctx.store.sighting_days(
                it.paper.arxiv_id for it in result.items))
        return result

    def _match(self, texts: list[str], threshold: float | None, max_items: int | None,
               subscriber_id: int) -> TesterResult:
        from notifier.planning import match_subscriber
        from notifier.store import Subscriber

        papers = self.papers()
        sub = Subscriber(id=subscriber_id, channel="email", address="tester", profile=json.dumps(texts),
                         threshold=threshold, max_items=max_items)
        items, left = match_subscriber(self.ctx, sub, papers)       # reads the votes of sub.id
        by_id = {p.arxiv_id: p for p in papers}
        shown = [TesterItem(by_id[i["id"]], i["matched"], i["evidence"], i.get("liked", 0), i.get("disliked", 0),
                            i.get("voted_up", False), i["apart"])
                 for i in items if i["id"] in by_id]
        return TesterResult(items=shown, weaker=left.weaker, capped=left.capped, considered=len(papers), ran=True,
                            profiles=len(texts))

    def keep_warm(self, stop: threading.Event, every_seconds: float = 60.0) -> None:
        """Rebuild the index whenever the stored papers changed (a fetch), so that no visitor
        waits for it: the first request on new papers costs seconds, later ones milliseconds."""
        while not stop.is_set():
            try:
                self.run([WARM_PROFILE])
            except Exception as err:       # a broken warm-up must not end the thread; visitors still work
                event(log, "tester warm-up failed", logging.ERROR, error=repr(err))
            stop.wait(every_seconds)
