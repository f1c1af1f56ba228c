"""Parse stage: text in, ``Paper`` records out. Pure: no network, no database.

Formats (docs/SOURCES.md describes them), detected from content by ``detect_format``:
- ``hf_api``: the JSON array of ``GET /api/daily_papers`` (``{"error": ...}`` is a ParseError)
- ``hf_html``: an HF list/search/detail page; papers come from the ``data-props`` JSON of
  ``div[data-target="DailyPapers"]`` (``dailyPapers`` or ``searchResults``), the detail page's
  ``PaperContent`` target, or, as a logged layout-drift fallback, the ``<article>`` cards
- ``arxiv_rss``: ``rss.arxiv.org/rss/<cat>`` RSS 2.0 (a ``Feed error`` channel is a ParseError)
- ``arxiv_atom``: ``export.arxiv.org/api/query`` Atom, legacy and post-2025 shapes
  (an ``Error`` entry is a ParseError), and the daily feed ``rss.arxiv.org/atom/<cat>`` (the RSS
  items' fields: the ``Announce Type`` prefix of ``summary``, ``arxiv:announce_type``, ``dc:creator``)

Whatever the text, a parser returns ``Papers`` or raises ``ParseError``, nothing else. One
malformed item (no id, no title, a number where text belongs) is skipped and its reason kept in
``Papers.skipped``; the others are kept. A document whose items are all malformed is a ParseError.
"""
from __future__ import annotations

import html
import json
import logging
import re
import xml.etree.ElementTree as ET

from bs4 import BeautifulSoup

from notifier.errors import ParseError
from notifier.logs import event
from notifier.models import Paper

log = logging.getLogger(__name__)

HF_BASE = "https://huggingface.co"
MAX_JSON_DEPTH = 100      # HF's responses nest 6-7 deep. Python's json parser stops at ~1,000 levels on 3.11 and
                          # ~9,000 on 3.13, and code deeper in the stack (the store's json.dumps) can stop sooner
NS = {
    "atom": "http://www.w3.org/2005/Atom",
    "arxiv": "http://arxiv.org/schemas/atom",
    "dc": "http://purl.org/dc/elements/1.1/",
}
# New-style 2301.01234(v2) or old-style hep-th/9901001(v1), optionally inside a URL/guid.
_ID_RE = re.compile(r"(\d{4}\.\d{4,5}|[a-z][a-z.\-]*(?:\.[A-Z]{2})?/\d{7})(v\d+)?", re.I)
_RSS_PREFIX = re.compile(r"^\s*arXiv:\S+\s+Announce Type:\s*\S+\s*Abstract:\s*", re.S)
_HF_OPTIONAL = ("ai_summary", "ai_keywords", "ai_summary_model", "githubRepo", "githubRepoAddedBy",
                "githubStars", "projectPage", "organization", "mediaUrls", "withdrawnAt")


class Papers(list):
    """A parser's records, plus one reason per malformed item it skipped."""

    def __init__(self, papers=(), skipped=()):
        super().__init__(papers)
        self.skipped: list[str] = list(skipped)

    def unique(self) -> Papers:
        """One paper per arXiv id, the first one seen (pages shift while read; cards link twice)."""
        first: dict[str, Paper] = {}
        for p in self:
            first.setdefault(p.arxiv_id, p)
        return Papers(first.values(), self.skipped)


def collapse(text: str | None) -> str:
    """Whitespace-collapse (titles carry arXiv hard wraps); anything but a string is absent.
    NULs and lone surrogates (JSON can escape them) go: no database stores them."""
    if not isinstance(text, str):
        return ""
    return " ".join(text.replace("\x00", " ").encode("utf-8", "replace").decode("utf-8").split())


def _count(value) -> int | None:
    """An upvote or comment count; anything but an integer a database column holds is absent."""
    return value if type(value) is int and 0 <= value < 2 ** 63 else None


def _each(items, build, what: str) -> Papers:
    """``build`` every item; a ParseError skips that item only. All items bad is a ParseError:
    a broken page, not an empty day."""
    out = Papers()
    for n, item in enumerate(items, 1):
        try:
            out.append(build(item))
        except ParseError as e:
            out.skipped.append(f"{what} {n}: {e}")
    if out.skipped and not out:
        raise ParseError(f"all {len(out.skipped)} {what}s are malformed (first: {out.skipped[0]})")
    return out


def split_id(text: str) -> tuple[str, str | None]:
    """``"http://arxiv.org/abs/2606.13591v1"`` -> ``("2606.13591", "v1")``."""
    m = _ID_RE.search(text or "")
    if not m:
        raise ParseError(f"no arXiv id in {text!r}")
    return m.group(1), m.group(2)


def html_title(text: str) -> str:
    """The ``<title>`` of an HTML page (an error, captcha or maintenance page), collapsed; "" if none."""
    m = re.search(r"<title[^>]*>(.*?)</title>", text[:100_000], re.I | re.S)
    return collapse(html.unescape(m.group(1)))[:100] if m else ""


def _day(iso: str | None) -> str | None:
    return iso[:10] if isinstance(iso, str) and re.match(r"\d{4}-\d{2}-\d{2}", iso) else None


# ---------------------------------------------------------------- detection

def detect_format(text: str) -> str:
    """Return ``hf_api``, ``hf_html``, ``arxiv_rss`` or ``arxiv_atom``; ParseError if unknown."""
    head = text.lstrip().lstrip("\ufeff").lstrip()[:2000]
    if head.startswith(("[", "{")):
        return "hf_api"
    if re.search(r"<rss[\s>]", head):
        return "arxiv_rss"
    if re.search(r"<feed[\s>]", head):
        return "arxiv_atom"
    if head.startswith("<") and re.search(r"<(!doctype html|html|body|div|article)[\s>]", text[:200000], re.I):
        return "hf_html"
    raise ParseError("unknown format: not HF JSON, HF HTML, arXiv RSS or arXiv Atom")


def parse_text(text: str, *, source_hint: str | None = None, day: str | None = None) -> Papers:
    """Detect the format and parse. ``source_hint`` overrides the ``source`` label,
    ``day`` sets ``digest_day`` where the content does not carry one."""
    fmt = detect_format(text)
    papers = _PARSERS[fmt](text)
    for p in papers:
        if source_hint:
            p.source = source_hint
        if day and not p.digest_day:
            p.digest_day = day
    return papers


# ---------------------------------------------------------------- Hugging Face

def _json(text: str, what: str):
    """The JSON value; ParseError when it is not JSON or nests deeper than MAX_JSON_DEPTH (on any
    Python: one that parsed could stop later code, which recursed into it)."""
    deep = f"{what} is nested too deeply to be a list of papers"
    try:
        value = json.loads(text.removeprefix("\ufeff"))      # a byte order mark, as detect_format allows
    except ValueError as e:
        raise ParseError(f"{what} is not valid JSON (truncated?): {e}") from None
    except RecursionError:
        raise ParseError(deep) from None
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise ParseError(deep)
    return value


def _deeper_than(value, limit: int) -> bool:
    """Whether lists and objects nest more than ``limit`` levels in ``value`` (walked without recursion)."""
    stack = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node)
                     if isinstance(child, (dict, list)))
    return False


def parse_hf_api(text: str) -> Papers:
    """The JSON array of ``/api/daily_papers`` (or any list of such items)."""
    data = _json(text, "HF JSON")
    if isinstance(data, dict):
        if "error" in data:
            raise ParseError(f"HF API returned an error: {data['error']}")
        raise ParseError("HF JSON is an object, expected a list of papers")
    if not isinstance(data, list):
        raise ParseError("HF JSON is not a list of papers")
    return _each(data, hf_item, "HF item")


def _hf_authors(authors) -> list[str]:
    names = []
    for a in authors if isinstance(authors, list) else []:
        name = a.get("name") if isinstance(a, dict) else a
        if isinstance(name, str) and name.strip():   # "hidden" is HF display state: keep them
            names.append(collapse(name))
    return names


def hf_item(item: dict) -> Paper:
    """The one normaliser for API items, ``dailyPapers`` / ``searchResults`` entries and a
    bare ``paper`` object. Every field is read defensively."""
    if not isinstance(item, dict):
        raise ParseError(f"HF item is a JSON {type(item).__name__}, not an object")
    paper = item.get("paper") if isinstance(item.get("paper"), dict) else item
    pid = paper.get("id") or item.get("id")
    if not isinstance(pid, str) or not pid.strip():
        raise ParseError("HF item without paper.id")
    arxiv_id, version = split_id(pid.strip())
    title = collapse(paper.get("title")) or collapse(item.get("title"))
    if not title:
        raise ParseError(f"HF paper {arxiv_id} has no title")
    extra = {k: paper[k] for k in _HF_OPTIONAL if k in paper}
    if "organization" in item and "organization" not in extra:
        extra["organization"] = item["organization"]
    return Paper(
        arxiv_id=arxiv_id, version=version, title=title,
        abstract=collapse(paper.get("summary")) or collapse(item.get("summary")),
        authors=_hf_authors(paper.get("authors")),
        published=_day(paper.get("publishedAt")),
        url=f"{HF_BASE}/papers/{arxiv_id}",
        upvotes=_count(paper.get("upvotes")), comments=_count(item.get("numComments")),
        digest_day=_day(paper.get("submittedOnDailyAt")),
        source="hf_daily", pdf_url=f"https://arxiv.org/pdf/{arxiv_id}",
        hf_url=f"{HF_BASE}/papers/{arxiv_id}",
        code_url=collapse(paper.get("githubRepo")) or None, project_url=collapse(paper.get("projectPage")) or None,
        extra=extra, raw=item,
    )


def _props(soup: BeautifulSoup, target: str) -> dict | None:
    div = soup.select_one(f'[data-target="{target}"][data-props]')
    if div is None:
        return None
    props = _json(div["data-props"], f"HF page: {target} data-props")   # bs4 already unescaped the entities
    return props if isinstance(props, dict) else None


def parse_hf_html(text: str) -> Papers:
    """An HF day, search or paper page; see the module docstring for the order of attempts."""
    soup = BeautifulSoup(text, "lxml")
    props = _props(soup, "DailyPapers")
    if props is not None:
        for key in ("dailyPapers", "searchResults"):
            if isinstance(props.get(key), list):
                return _each(props[key], hf_item, "HF item")
        raise ParseError("HF page: DailyPapers props have neither dailyPapers nor searchResults")
    detail = _props(soup, "PaperContent")
    if detail is not None and isinstance(detail.get("paper"), dict):
        return Papers([hf_item(detail)])
    return _hf_cards(soup, html_title(text))


def _card_upvotes(article) -> int | None:
    for div in reversed(article.select("div.leading-none")):
        digits = div.get_text(strip=True).replace(",", "")
        if digits.isdigit():
            return int(digits)
    return None


def _hf_cards(soup: BeautifulSoup, title: str) -> Papers:
    """Layout-drift fallback: title, link and upvotes from ``<article>`` cards. A page without
    either is named by its ``title``: a captcha or error page is not a layout change."""
    articles = soup.find_all("article")
    if not articles:
        raise ParseError(f"HF page{f' {title!r}' if title else ''} has no DailyPapers data and no <article> cards "
                         "(layout changed?)")
    event(log, "HF page layout drift, reading <article> cards (no DailyPapers hydration data)", logging.WARNING,
          cards=len(articles))
    linked = [(art, art.select_one("h3 a[href^='/papers/']") or art.select_one("a[href^='/papers/']"))
              for art in articles]
    linked = [(art, link) for art, link in linked if link is not None]
    if not linked:
        raise ParseError(f"HF page has {len(articles)} <article> cards but no paper links (layout changed?)")
    return _each(linked, _hf_card, "HF card").unique()


def _hf_card(art_link) -> Paper:
    art, link = art_link
    arxiv_id, version = split_id(link["href"].split("#")[0].rsplit("/", 1)[-1])
    title = collapse(link.get_text())
    if not title:
        raise ParseError(f"HF card of {arxiv_id} has no title")
    return Paper(arxiv_id=arxiv_id, version=version, title=title,
                 url=f"{HF_BASE}/papers/{arxiv_id}", hf_url=f"{HF_BASE}/papers/{arxiv_id}",
                 upvotes=_card_upvotes(art), source="hf_daily", raw={"href": link["href"]})


# ---------------------------------------------------------------- arXiv RSS

def _xml(text: str, what: str) -> ET.Element:
    try:
        return ET.fromstring(text.encode("utf-8") if text.lstrip().startswith("<?xml") else text)
    except (ET.ParseError, ValueError) as e:     # ValueError: an encoding expat cannot read
        raise ParseError(f"{what} is not well-formed XML (truncated?): {e}") from None


def split_creators(text: str) -> list[str]:
    """Split ``dc:creator`` on commas outside parentheses (affiliations contain commas)."""
    names, depth, cur = [], 0, []
    for ch in text or "":
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth <= 0:
            names.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    names.append("".join(cur))
    return [collapse(n) for n in names if collapse(n)]


def parse_arxiv_rss(text: str) -> Papers:
    """Every item, whatever its ``announce_type``; the caller decides what counts as new."""
    root = _xml(text, "arXiv RSS")
    channel = root.find("channel")
    if channel is None:
        raise ParseError("arXiv RSS has no <channel>")
    title = collapse(channel.findtext("title"))
    if title.lower().startswith("feed error"):
        raise ParseError(f"arXiv RSS error feed: {title}")
    return _each(channel.findall("item"), _rss_item, "arXiv RSS item")


def _rss_day(pub: str | None) -> str | None:
    from email.utils import parsedate_to_datetime
    try:
        return parsedate_to_datetime(pub).date().isoformat() if pub else None
    except (TypeError, ValueError, OverflowError, IndexError):
        return None


def _rss_item(item: ET.Element) -> Paper:
    guid = item.findtext("guid") or item.findtext("link") or ""
    arxiv_id, version = split_id(guid)
    title = collapse(item.findtext("title"))
    if not title:
        raise ParseError(f"arXiv RSS item {arxiv_id} has no title")
    cats = [collapse(c.text) for c in item.findall("category") if collapse(c.text)]
    announce = collapse(item.findtext("arxiv:announce_type", namespaces=NS)) or "new"   # absent: a new paper
    day = _rss_day(item.findtext("pubDate"))
    raw = {child.tag: child.text for child in item}
    return Paper(
        arxiv_id=arxiv_id, version=version, title=title,
        abstract=collapse(_RSS_PREFIX.sub("", item.findtext("description") or "")),
        authors=split_creators(item.findtext("dc:creator", namespaces=NS) or ""),
        url=f"https://arxiv.org/abs/{arxiv_id}", digest_day=day,
        source=f"arxiv:{cats[0]}" if cats else "arxiv", categories=cats, announce_type=announce,
        pdf_url=f"https://arxiv.org/pdf/{arxiv_id}", raw=raw,
    )


# ---------------------------------------------------------------- arXiv API Atom

def parse_arxiv_atom(text: str) -> Papers:
    """An ``export.arxiv.org/api/query`` response, legacy or post-2025 shape."""
    root = _xml(text, "arXiv Atom")
    entries = root.findall("atom:entry", NS)
    for e in entries:
        if collapse(e.findtext("atom:title", namespaces=NS)) == "Error" or \
                "/api/errors" in (e.findtext("atom:id", namespaces=NS) or ""):
            msg = collapse(e.findtext("atom:summary", namespaces=NS))
            raise ParseError(f"arXiv API error: {msg}")
    return _each(entries, _atom_entry, "arXiv Atom entry")


def _atom_link(entry: ET.Element, title: str) -> str | None:
    for link in entry.findall("atom:link", NS):
        if link.get("title") == title:
            return link.get("href")
    return None


def _atom_authors(entry: ET.Element) -> list[str]:
    """``author/name`` (the API), else ``dc:creator`` (the daily feed ``rss.arxiv.org/atom/<cat>``)."""
    names = [collapse(a.findtext("atom:name", namespaces=NS)) for a in entry.findall("atom:author", NS)]
    return [n for n in names if n] or split_creators(entry.findtext("dc:creator", namespaces=NS) or "")


def _atom_entry(e: ET.Element) -> Paper:
    arxiv_id, version = split_id(e.findtext("atom:id", namespaces=NS) or "")
    title = collapse(e.findtext("atom:title", namespaces=NS))
    if not title:
        raise ParseError(f"arXiv Atom entry {arxiv_id} has no title")
    cats = [c.get("term") for c in e.findall("atom:category", NS) if c.get("term")]
    primary = e.find("arxiv:primary_category", NS)
    if primary is not None and primary.get("term") in cats:
        cats.remove(primary.get("term"))
        cats.insert(0, primary.get("term"))
    extra = {k: collapse(e.findtext(f"arxiv:{k}", namespaces=NS))
             for k in ("comment", "journal_ref", "doi") if e.find(f"arxiv:{k}", NS) is not None}
    return Paper(
        arxiv_id=arxiv_id, version=version, title=title,
        abstract=collapse(_RSS_PREFIX.sub("", e.findtext("atom:summary", namespaces=NS) or "")),
        authors=_atom_authors(e), published=_day(e.findtext("atom:published", namespaces=NS)),
        announce_type=collapse(e.findtext("arxiv:announce_type", namespaces=NS)) or None,
        url=f"https://arxiv.org/abs/{arxiv_id}", source="arxiv_api", categories=cats,
        pdf_url=_atom_link(e, "pdf") or f"https://arxiv.org/pdf/{arxiv_id}", extra=extra,
        raw={"id": e.findtext("atom:id", namespaces=NS), "updated": e.findtext("atom:updated", namespaces=NS)},
    )


_PARSERS = {"hf_api": parse_hf_api, "hf_html": parse_hf_html,
            "arxiv_rss": parse_arxiv_rss, "arxiv_atom": parse_arxiv_atom}
