"""Plain data passed between the pipeline stages.

fetch -> parse -> ``Paper`` records -> store -> match -> ``Match`` -> render -> ``Digest`` -> deliver.
Nothing here does I/O; every stage takes and returns these.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass
class Paper:
    """One paper as a source showed it. ``arxiv_id`` is the identity (no version)."""

    arxiv_id: str
    title: str
    abstract: str = ""
    authors: list[str] = field(default_factory=list)
    published: str | None = None        # arXiv publication day, YYYY-MM-DD
    url: str = ""                       # the page a reader should open (abs page or HF page)
    upvotes: int | None = None          # HF upvotes, when known
    comments: int | None = None         # HF comment count, when known
    digest_day: str | None = None       # the digest day this sighting belongs to, YYYY-MM-DD
    source: str = ""                    # "hf_daily", "arxiv:cs.LG", ...
    version: str | None = None          # "v2" when the source named one
    categories: list[str] = field(default_factory=list)
    announce_type: str | None = None    # arXiv RSS: new, cross, replace, replace-cross
    pdf_url: str | None = None
    hf_url: str | None = None
    code_url: str | None = None
    project_url: str | None = None
    extra: dict = field(default_factory=dict)   # optional fields kept as-is (ai_summary, githubStars, ...)
    raw: dict | None = None                      # the source record, untouched

    @property
    def abs_url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv_id}"

    def to_json(self) -> dict:
        """The `notifier parse --json` shape (README, "Configuration": parse's --json and --jsonl, what
        `match --papers` reads), plus the optional fields. arxiv_id, title, abstract, authors, upvotes,
        published and url stay: tools read them (tests/test_parse.py checks them)."""
        out = {
            "arxiv_id": self.arxiv_id,
            "title": self.title,
            "abstract": self.abstract,
            "authors": list(self.authors),
            "upvotes": self.upvotes,
            "published": self.published,
            "url": self.url or self.abs_url,
            "comments": self.comments,
            "digest_day": self.digest_day,
            "source": self.source,
            "categories": list(self.categories),
            "pdf_url": self.pdf_url,
            "hf_url": self.hf_url,
            "code_url": self.code_url,
            "project_url": self.project_url,
        }
        if self.version:
            out["version"] = self.version
        if self.announce_type:
            out["announce_type"] = self.announce_type
        if self.extra:
            out["extra"] = self.extra
        return out


@dataclass
class Evidence:
    """Why a term matched: the term as the subscriber wrote it, the field, and a snippet.

    ``snippet`` is a list of (text, highlighted) segments so every renderer escapes it its own way.
    """

    term: str
    field: str                          # "title", "abstract" or "authors"
    snippet: list[tuple[str, bool]] = field(default_factory=list)


@dataclass
class Match:
    """A (profile, paper) score. ``selected`` means it would be sent. ``liked`` / ``disliked``:
    how many papers the subscriber voted up / down this one resembles (their votes moved it).
    ``apart`` is filled with the evidence, for explanations."""

    paper_id: str
    score: float
    selected: bool
    matched: list[str] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    liked: int = 0
    disliked: int = 0
    apart: list[str] = field(default_factory=list)     # of ``matched``: phrases found only as their words apart
    voted_up: bool = False              # the subscriber voted this very paper up (not counted in ``liked``)


def liked_besides_itself(liked: int, voted_up: bool) -> int:
    """How many liked papers a paper is like (``Match.liked``, a digest item's "liked"), once a paper
    the subscriber voted up itself is left out: the votes find it like itself, not one more paper."""
    return liked - (voted_up and liked > 0)


def given_paper_id(paper: dict):
    """The id of a paper given as a JSON object (`notifier match --papers`): "id" as
    ``Paper.to_json`` writes it, else "arxiv_id", else "pid"; as given, of whatever type."""
    return paper.get("id") or paper.get("arxiv_id") or paper.get("pid")


@dataclass
class DigestItem:
    paper: Paper
    match: Match
    profiles: list[str] = field(default_factory=list)   # names of the subscriber's profiles it matched
    day: date | None = None             # the digest day whose listing it came from (the first it was seen on)


@dataclass
class DigestStats:
    new_papers: int = 0                                 # new papers considered for this digest
    sources: list[str] = field(default_factory=list)    # human names, e.g. "Hugging Face Daily Papers"
    failed_sources: list[str] = field(default_factory=list)


@dataclass
class Recipient:
    """Who a digest goes to, as the renderers and channels need it."""

    id: int
    name: str
    channel: str                # "email" | "slack"
    address: str                # email address, "#channel", "@U123", "U123" or a webhook URL / "webhook:NAME"
    profile_terms: list[str] = field(default_factory=list)   # short labels for the subject line
    frequency: str = "daily"    # "daily" | "weekly": a weekly digest's subject names its week


@dataclass
class DigestLinks:
    """Signed links of one digest (notifier/web/links.py): each ends in its token."""

    manage: str
    unsubscribe: str                                    # https; a POST of List-Unsubscribe=One-Click works too
    votes: dict[str, tuple[str, str]] = field(default_factory=dict)   # paper id -> (more like this, not for me)
    browser: str = ""                                   # the digest as a web page, all its papers; '' without one


@dataclass
class Digest:
    recipient: Recipient
    day: date
    items: list[DigestItem]
    stats: DigestStats = field(default_factory=DigestStats)
    weaker_count: int = 0               # below-threshold matches not shown
    capped_count: int = 0               # papers that passed the bar but not into the first max_items
    covers_days: list[date] = field(default_factory=list)    # > 1 day: a catch-up digest
    delivery_key: str = ""              # stable id of this delivery (Message-ID, Slack metadata)
    planned_at: datetime | None = None  # when it was planned (UTC): it was posted after that, if at all
    links: DigestLinks | None = None    # manage / unsubscribe / vote links, when `notifier web` is set up
