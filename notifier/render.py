"""Render a Digest into an email (subject, text, html) or a Slack message. Pure: no I/O
except reading templates; every untrusted field (titles, authors, snippets) is escaped here."""
from __future__ import annotations

import functools
import importlib.resources
import re
import textwrap
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import zip_longest
from pathlib import Path

from notifier.models import Digest, DigestItem
from notifier.tex import WORD_JOINER, readable_tex
from notifier.untrusted import (BIDI_CONTROL, CONTROLS, FSI, PDI, ZWJ, after_virama, balanced, category, continues,
                                depth, few_marks, has_bidi, isolated, resolved, still_open, whole)

MAX_EMAIL_BYTES = 100_000
MAX_TITLE_CHARS = 300
MAX_AUTHORS_SHOWN = 3
PREHEADER_CHARS = 150
SUBJECT_GLANCE_CHARS = 50   # about what a phone's inbox list shows of a subject: the day must be in it
TEXT_COLUMNS = 72        # a reply quotes each line with "> ": three levels still fit RFC 5322's 78
SLACK_MAX_BLOCKS = 50
SLACK_MAX_SECTION_CHARS = 3000
SLACK_MAX_HEADER_CHARS = 150
SLACK_MAX_TEXT_CHARS = 3000
SLACK_MAX_CONTEXT_CHARS = 2000   # a paper's context line
SLACK_MAX_MESSAGE_CHARS = 10_000
SLACK_ITEMS_IN_SUMMARY = 3


@dataclass
class RenderedEmail:
    subject: str
    text: str
    html: str


@dataclass
class SlackMessage:
    text: str
    blocks: list[dict]
    thread: list[list[dict]] = field(default_factory=list)

    def reply_text(self, i: int) -> str:
        """The notification text of thread reply ``i`` (from 1): the summary's, cut to 200 characters
        where it splits no escape ("&am" of "&amp;"), and which reply it is."""
        return f"{mrkdwn_cut(self.text, 200)} (details {i}/{len(self.thread)})"


# ----------------------------------------------------------------------------- shared wording
def one_line(s: str, limit: int | None = None) -> str:
    """Collapse whitespace (newlines in a title must never reach a header), drop control
    characters and cut long text, after a whole word when one ends in its last fifth ("… of the…",
    not "… of tran…")."""
    s = " ".join(few_marks((s or "").translate(CONTROLS)).split())
    if limit and len(s) > limit:
        cut = s[: whole(s, limit - 1)]
        space = cut.rfind(" ", limit * 4 // 5)
        s = (cut[:space] if s[limit - 1] != " " and space > 0 else cut).rstrip() + "…"
    return s


def typed(term: str, limit: int) -> str:
    """A profile's term or label as a digest shows it: on one line and, like a title, isolated
    (``isolated``): a right-to-left control in a term turned the subject around after it, and in
    Slack's notification the titles after it too."""
    return isolated(one_line(term, limit))


def short_authors(authors: list[str]) -> str:
    names = [isolated(readable_tex(one_line(a, 80))) for a in authors if a and a.strip()]
    if len(names) > MAX_AUTHORS_SHOWN + 1:
        return ", ".join(names[:MAX_AUTHORS_SHOWN]) + f" and {len(names) - MAX_AUTHORS_SHOWN} more"
    return ", ".join(names)


def is_catch_up(digest: Digest) -> bool:
    return len(digest.covers_days) > 1


def day_label(d) -> str:
    return f"{d:%a} {d.day} {d:%b}"


def long_day_label(d) -> str:
    return f"{d:%A} {d.day} {d:%B}"


def subject(digest: Digest) -> str:
    """'4 papers on kv cache, MoE — Wed 29 Jul'; when longer than SUBJECT_GLANCE_CHARS, the count
    and the days first and the profile's terms, the same every day, last: '12 papers — Wed 29 Jul
    — on retrieval-augmented generation, …'. With three long terms the day came after 80."""
    n, failed = len(digest.items), digest.stats.failed_sources
    what, about, when = count_label(n, failed), terms_label(digest.recipient.profile_terms), when_label(digest)
    broken = f": {' and '.join(failed)} could not be fetched" if failed and not n else ""
    s = f"{what} on {about}{broken} — {when}" if about else f"{what}{broken} — {when}"
    if len(s) > SUBJECT_GLANCE_CHARS:
        s = f"{what} — {when}{broken}" + (f" — on {about}" if about else "")
    return balanced(one_line(s, 200))


def terms_label(profile_terms: list[str]) -> str:
    terms = list(dict.fromkeys(t for t in (typed(t, 30) for t in profile_terms) if t))
    return ", ".join(terms[:3]) + (" …" if len(terms) > 3 else "")


def when_label(digest: Digest) -> str:
    if is_catch_up(digest):
        days = sorted(digest.covers_days)
        return f"catch-up {days_label(days[0], days[-1])}"
    if digest.recipient.frequency == "weekly":
        return f"week {days_label(*week_days(digest))}"
    return day_label(digest.day)


def days_label(first, last) -> str:
    """'Thu 23 – Wed 29 Jul', 'Tue 30 Jun – Mon 6 Jul': the month once when both days are in it
    (in full, a weekly email's heading ran onto a second line at 600 px for the month alone; a
    catch-up's subject said "catch-up Mon 27 Jul – Wed 29 Jul" beside the weekly's "week Thu 23 –
    Wed 29 Jul")."""
    start = f"{first:%a} {first.day}" if first.month == last.month else day_label(first)
    return f"{start} – {day_label(last)}"


def week_days(digest: Digest) -> tuple:
    """The first and last day a weekly digest covers: the six days before the day it is sent and
    that day (it is planned after the day's listing is fetched). Its subject said "week of" the
    send day less 7, a day whose listing was in the digest before; then it widened to the day of
    any paper listed outside the week (fetched late): a day of June fetched in December made
    "week Fri 12 Jun – Wed 2 Dec". Such a paper is listed under its own day in the body. A
    listing day after the send day (a time zone behind UTC, where the day's listing came out
    before the local day began) still ends the span."""
    return digest.day - timedelta(days=6), max([digest.day, *(item.day for item in digest.items if item.day)])


def count_label(n: int, failed: list[str]) -> str:
    """'3 papers', 'No new papers', or, when nothing came and a source could not be fetched,
    'Nothing yet' (the subject names the source): a broken source is told as such, never as a
    quiet day (its papers come in a later digest)."""
    return f"{n} paper{'s' if n != 1 else ''}" if n else "Nothing yet" if failed else "No new papers"


def status_line(digest: Digest) -> str:
    s = digest.stats
    sources = " and ".join(s.sources) if s.sources else "your sources"
    line = (f"From {s.new_papers} new paper{'s' if s.new_papers != 1 else ''} on {sources}; "
            f"{len(digest.items)} matched your profile.")
    if s.failed_sources:
        its, it_is = ("its", "it is") if len(s.failed_sources) == 1 else ("their", "they are")
        line += (f" {' and '.join(s.failed_sources)} could not be fetched this time; "
                 f"{its} papers will be included once {it_is} back.")
    if is_catch_up(digest):
        days = sorted(digest.covers_days)
        line = f"Catch-up digest covering {len(days)} days ({days_label(days[0], days[-1])}). " + line
    return line


# Kana are Japanese only: a title with some is marked lang="ja", so that its Han characters take
# Japanese glyph forms, not the Chinese ones a font may show by default in a lang="en" page.
KANA = re.compile("[\u3040-\u30ff\uff66-\uff9f]")


def item_view(item: DigestItem) -> dict:
    from notifier.explain import fold      # (it reads the index module: ~50 ms, once a digest has a paper)
    p = item.paper
    evidence = []
    shown = fold({"title": p.title, "abstract": p.abstract}, item.match.evidence)[:2]     # a sentence once
    for ev in sorted(shown, key=lambda ev: ev.field not in SHOWN_ABOVE):    # the short lines first, as read down
        segments = [(balanced(readable_tex(re.sub(r"\s+", " ", few_marks(t.translate(CONTROLS)))[:400])), bool(h))
                    for t, h in ev.snippet]
        segments = joined_hits(segments)
        if ev.field in SHOWN_ABOVE:
            segments = [] if said(segments, ev.term.split(", ")) else hits_only(segments)
        terms = ev.term.split(", ")     # (fold names two so)
        evidence.append({"term": ", ".join(typed(t, 60) for t in terms), "segments": isolated_snippet(segments),
                         "field": found_in(ev.field, terms, item.match.apart)})
    links = [("abstract", p.abs_url)]
    links.append(("PDF", p.pdf_url or f"https://arxiv.org/pdf/{p.arxiv_id}"))
    if p.code_url:
        links.append(("code", p.code_url))
    hf = p.hf_url or f"https://huggingface.co/papers/{p.arxiv_id}"
    links.append(("HF page", hf))
    links = [(label, url) for label, url in links if _safe_url(url)]
    stats = []
    if p.upvotes is not None:
        stats.append(f"▲ {p.upvotes} upvote{'s' if p.upvotes != 1 else ''}")
    if p.comments is not None:
        stats.append(f"{p.comments} comment{'s' if p.comments != 1 else ''}")
    why = {t for ev in shown for t in ev.term.split(", ")}      # "matched:" lists the terms left
    terms = named_terms([t for t in item.match.matched if t not in why], item.match.apart)
    return {"title": isolated(readable_tex(one_line(p.title, MAX_TITLE_CHARS))) or p.arxiv_id,
            "lang": "ja" if KANA.search(p.title or "") else "", "url": p.url if _safe_url(p.url) else p.abs_url,
            "authors": short_authors(p.authors), "terms": terms, "votes": votes_line(item.match),
            "profiles_line": profiles_line(item.profiles),
            "evidence": evidence, "day": item.day, "heading": "", "listed": "",
            "stats": " · ".join(stats), "links": links, "arxiv_id": p.arxiv_id}


def named_terms(matched: list[str], apart: list[str]) -> list[str]:
    """The matched terms as a digest names them, each once (``named``)."""
    return list(dict.fromkeys(named(t, apart) for t in matched))


def named(term: str, apart: list[str]) -> str:
    """A matched term as a digest names it, a phrase the paper has only as its words apart said so
    ("long-context inference (its words apart)", as `notifier match` says): its why line quoted
    "… *inference* …" as if the paper had the phrase."""
    return f"{typed(term, 60)} (its words apart)" if term in apart else typed(term, 60)


def found_in(where: str, terms: list[str], apart: list[str]) -> str:
    """Where a why line's terms were found, and which of them only as their words apart: "abstract",
    "abstract, its words apart", "abstract, sparse experts by its words apart". Said by ``named``
    beside the term, the line read "web agent (its words apart) (abstract)"."""
    loose = [typed(t, 60) for t in terms if t in apart]
    if not loose:
        return where
    whose = "its" if len(loose) == 1 else "their"
    return f"{where}, {whose} words apart" if len(loose) == len(terms) else f"{where}, {', '.join(loose)} by {whose} words apart"


def isolated_snippet(segments: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """The snippet's segments (each one balanced), the whole snippet isolated as ``isolated``
    does, by a segment before and after it, outside any highlight."""
    if has_bidi("".join(t for t, _ in segments)):
        return [(FSI, False), *segments, (PDI, False)]
    return segments


SHOWN_ABOVE = ("title", "authors")      # a paper's fields its digest shows above its why lines


def said(segments: list[tuple[str, bool]], terms: list[str]) -> bool:
    """Whether each highlight of a title's (or author list's) snippet reads as one of the ``terms``
    (case, spaces and hyphens aside): shown just above, "why: distillation (title): *Distillation*"
    then said the title's word a second time, the term a third."""
    def bare(s: str) -> str:
        return "".join(c for c in s.casefold() if c.isalnum())
    return {bare(text) for text, hit in segments if hit} <= {bare(t) for t in terms}


def hits_only(segments: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """A title's snippet as the words it matched ("*FaaSMoE* … *MoE*"): the title is shown just
    above it, and quoting it again doubled a long title's lines."""
    hits = list(dict.fromkeys((text.strip(), True) for text, hit in segments if hit))
    return [s for i, hit in enumerate(hits) for s in ([(" … ", False)] if i else []) + [hit]]


def joined_hits(segments: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """Highlighted words with only spaces or hyphens between them as one highlight: "*mixture of
    experts*", "*multi-agent*", not "*mixture* *of* *experts*" (text and Slack mark each highlight
    with stars). ``explain.quoted`` joins those of the paper's text, but not across a line break
    (HF abstracts have them), which ``item_view`` makes a space; nor did it in digests planned
    before it joined."""
    out: list[tuple[str, bool]] = []
    for i, (text, hit) in enumerate(segments):
        bridge = not text.strip(" -‐‑") and i + 1 < len(segments) and segments[i + 1][1]
        if out and out[-1][1] and (hit or bridge):
            out[-1] = (out[-1][0] + text, True)
        else:
            out.append((text, hit))
    return out


def preheader(views: list[dict], nothing: str) -> str:
    """What a glance shows after the subject (an inbox list, a Slack notification): the first
    titles, else why there are none. An inbox list showed the body's first text, the subject again;
    a notification the status line."""
    if not views:
        return nothing
    return balanced(one_line(" · ".join(v["title"] for v in views), PREHEADER_CHARS))


# After the weaker matches are counted (``more_line``, ``nothing_line``); linked to the manage page, where
# there is one: its "Fewer ↔ more papers".
ASK_MORE = "Ask for more papers (a lower threshold) to see such matches."


def more_line(cut: int, weaker: int, capped: int = 0, holds: int = 0, online: bool = False) -> str:
    """What a digest leaves out and why, '' when nothing (``cut``: the weakest matched papers, left
    out for size; ``capped``: papers that passed the bar past the ``holds`` papers of max items;
    ``weaker``: matches below the bar): '2 more papers, the weakest, were left out: Gmail cuts
    longer emails short. 4 more papers passed your bar; your digest holds 10 at most (raise that
    number to see them). 3 weaker matches did not pass your bar.' (then ``ASK_MORE``, for the
    weaker ones only). It said "and 2 more papers and 3 weaker matches not shown", neither
    why nor how to see them; then it told capped papers as weaker ones, which no lower threshold shows.
    ``online``: the digest has a web page (``DigestLinks.browser``), which holds the papers cut: 'See
    all 10 in your browser.' follows the cut (the reader was told of papers with no way to see them)."""
    return " ".join(x for x in more_parts(cut, weaker, capped, holds, online) if x)


def more_parts(cut: int, weaker: int, capped: int = 0, holds: int = 0, online: bool = False) -> tuple[str, str, str]:
    """``more_line`` in three: (the papers cut for size, where to see them all, the rest); the HTML
    links the second to the digest's web page."""
    papers = (f"{cut} more paper{'s, the weakest, were' if cut != 1 else ', the weakest, was'} left out: "
              "Gmail cuts longer emails short.") if cut else ""
    see_all = f"See all {holds} in your browser." if cut and online else ""
    passed = (f"{capped} more paper{'s' if capped != 1 else ''} passed your bar; your digest holds {holds} "
              "at most (raise that number to see them).") if capped else ""
    matches = f"{weaker} weaker match{'es' if weaker != 1 else ''} did not pass your bar." if weaker else ""
    return papers, see_all, " ".join(x for x in (passed, matches) if x)


def left_out_parts(digest: Digest, cut: int = 0) -> tuple[str, str, str]:
    """``more_parts`` for a digest, ``cut`` of its papers left out for size."""
    online = bool(digest.links and digest.links.browser)
    return more_parts(cut, digest.weaker_count, digest.capped_count, len(digest.items), online)


def left_out_line(digest: Digest, cut: int = 0) -> str:
    """``more_line`` for a digest, ``cut`` of its papers left out for size."""
    return " ".join(x for x in left_out_parts(digest, cut) if x)


def nothing_line(weaker: int, failed: list[str]) -> str:
    """What a digest with no paper says in their place; with weaker matches it says how many and
    how to see them (``ASK_MORE``), instead of "Nothing matched" followed by "and 1 more weaker match"; with a
    source that could not be fetched (the status line names it), not that nothing matched. It never
    says "today": a weekly digest covers a week; nor that we write only when something matches:
    such a digest is sent only with [general] send_empty, every day."""
    if not weaker:
        if failed:
            return "Nothing matched in the papers that could be fetched."
        return "None of the new papers matched your profile."
    return f"None of the new papers passed your bar; {weaker} weaker match{'es' if weaker != 1 else ''} not shown."


def profiles_line(labels: list[str]) -> str:
    """Which of the subscriber's profiles sent a paper: "profile: kv cache, MoE" or "profiles: kv
    cache, MoE; mamba" (a label lists its terms with commas, so profiles are set apart by ";")."""
    labels = [typed(x, 60) for x in labels]
    if not labels:
        return ""
    return f"profile{'s' if len(labels) > 1 else ''}: " + "; ".join(labels)


def with_votes(views: list[dict], digest: Digest) -> list[dict]:
    """Each view gets ``vote``: (more-like-this URL, not-for-me URL), or None without web links."""
    votes = digest.links.votes if digest.links else {}
    for v in views:
        v["vote"] = votes.get(v["arxiv_id"])
    return views


def grouped_by_day(views: list[dict], digest: Digest) -> bool:
    """A weekly or catch-up digest whose papers all know their day."""
    return (is_catch_up(digest) or digest.recipient.frequency == "weekly") and all(v["day"] for v in views)


def by_day(views: list[dict], digest: Digest) -> list[dict]:
    """A weekly or catch-up digest's papers under their day ("Tuesday 28 July" starts each day's
    first paper: its ``heading``), the newest day first, as a mailbox or channel lists messages, and
    best first within a day; with more than four, its three best first (``split_summary``, as Slack's
    summary message has them: ``best_first``), then the rest so. By days alone, the week's best
    paper, listed on its first day, came last. A daily digest, or one planned before items kept
    their day, stays as ranked. Which papers are shown is decided on the ranking, before this."""
    if not grouped_by_day(views, digest):
        return views
    return in_days(views, is_catch_up(digest))


def in_days(views: list[dict], catch_up: bool = False) -> list[dict]:
    """``by_day``'s order of ``views`` (as ranked, each knowing its day), for a weekly digest or
    a catch-up one; the manage page's live preview of a weekly subscriber's papers has it too."""
    best, rest = split_summary(views, SLACK_ITEMS_IN_SUMMARY)
    return [*best_first(best, catch_up), *under_days(rest)] if rest else under_days(best)


def best_first(best: list[dict], catch_up: bool) -> list[dict]:
    """The best papers of a weekly or catch-up email, best first under one heading, each saying
    the day it was listed on."""
    heading = "The best of these days" if catch_up else "The week's best"
    return [dict(v, heading="" if k else heading, listed=f"listed {long_day_label(v['day'])}")
            for k, v in enumerate(best)]


def under_days(views: list[dict]) -> list[dict]:
    """``views``, each of which knows its day, newest day first, and each day's first a ``heading``."""
    ordered = [dict(v) for v in sorted(views, key=lambda v: v["day"], reverse=True)]    # stable: rank in a day
    for before, v in zip([None, *ordered], ordered):
        v["heading"] = "" if before and before["day"] == v["day"] else long_day_label(v["day"])
    return ordered


def votes_line(match) -> str:
    """Which way the subscriber's votes moved a paper, in their words: 'ranked up: like 2 papers
    you voted up', 'ranked down: like a paper you voted down', 'ranked up: you voted it up; like 1
    other paper you voted up'; '' when they did not."""
    counts = [(n, way) for n, way in ((match.liked, "up"), (match.disliked, "down")) if n]
    if match.voted_up:
        others = " and ".join(f"{n} other paper{'s' if n != 1 else ''} you voted {way}" for n, way in counts)
        return "ranked up: you voted it up" + (f"; like {others}" if others else "")
    if not counts:
        return ""
    return f"ranked {counts[0][1]}: like " + " and ".join(
        f"{'a paper' if n == 1 else f'{n} papers'} you voted {way}" for n, way in counts)


def _safe_url(url: str | None) -> bool:
    return (bool(url) and url.startswith(("https://", "http://")) and not any(c in url for c in "\r\n \"'<>")
            and not has_bidi(url))


# ----------------------------------------------------------------------------- email
@functools.lru_cache(maxsize=8)
def _env(template_dir: str | None):
    """Cached per template folder: compiling the templates dominates the cost of a render."""
    import jinja2

    loaders = []
    if template_dir:
        loaders.append(jinja2.FileSystemLoader(str(template_dir)))
    loaders.append(_PackageLoader())
    return jinja2.Environment(loader=jinja2.ChoiceLoader(loaders),
                              autoescape=jinja2.select_autoescape(["html", "html.j2", "xml"]),
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


class _PackageLoader:
    """Loads from importlib.resources so a non-editable install (or a zip) works."""

    def __new__(cls):
        import jinja2

        class Loader(jinja2.BaseLoader):
            def get_source(self, environment, name):
                res = importlib.resources.files("notifier.templates") / name
                if not res.is_file():
                    raise jinja2.TemplateNotFound(name)
                return res.read_text(encoding="utf-8"), None, lambda: True
        return Loader()


def render_email(digest: Digest, *, from_name: str = "digest-notifier", unsubscribe_mailto: str | None = None,
                 unsubscribe_url: str | None = None, template_dir: str | Path | None = None,
                 max_bytes: int = MAX_EMAIL_BYTES) -> RenderedEmail:
    env = _env(str(template_dir) if template_dir else None)
    views = with_votes([item_view(i) for i in digest.items], digest)
    unsubscribe = unsubscribe_url or (f"mailto:{unsubscribe_mailto}?subject=unsubscribe" if unsubscribe_mailto else None)
    css = _stylesheet(str(template_dir) if template_dir else None)
    ctx = dict(subject=subject(digest), status=status_line(digest), weaker_count=digest.weaker_count,
               name=isolated(one_line(digest.recipient.name, 80)), from_name=isolated(one_line(from_name, 80)),
               unsubscribe=unsubscribe, catch_up=is_catch_up(digest), css=css,
               manage=digest.links.manage if digest.links else None,
               browser=digest.links.browser if digest.links else "",
               nothing=nothing_line(digest.weaker_count, digest.stats.failed_sources) if not views else "",
               ask_more=ASK_MORE if digest.weaker_count else "")
    shown = len(views)
    while True:
        more = len(views) - shown + digest.weaker_count + digest.capped_count
        args = dict(ctx, items=by_day(views[:shown], digest), cut=len(views) - shown, more=more,
                    preheader=preheader(views[:shown], ctx["nothing"]),
                    more_line=left_out_line(digest, len(views) - shown),
                    more_parts=left_out_parts(digest, len(views) - shown))
        page = env.get_template("digest.html.j2").render(**args)
        page = charset_first(_inliner().inline(page))
        size = len(page.encode("utf-8"))
        if size <= max_bytes or shown == 0:
            break
        shown = min(shown - 1, shown * max_bytes // size)       # papers take about the same room each
    text = wrap_text(env.get_template("digest.txt.j2").render(**args))
    return RenderedEmail(subject=ctx["subject"], text=text, html=page)


def wrap_text(text: str, width: int = TEXT_COLUMNS) -> str:
    """The plain-text part with its lines folded at ``width`` columns (``TEXT_COLUMNS``), each
    continuation under the start of its line's text ("1. " and a label, "why: ", count as indent). A line with a link
    ("code: https://…") is left whole, so a reader can click or copy the link and sees its label
    beside it. A word longer than a line is folded where the line ends (a 297-letter title word
    ran 300 columns)."""
    return "\n".join(_wrap_line(line, width) for line in text.split("\n"))


def _wrap_line(line: str, width: int) -> str:
    """``line`` folded at ``width`` (``counted``); every folded line opens again, and closes, the bidi
    controls open across it (``isolated_lines``): the fold leaves room for them."""
    if counted(line) <= width or "://" in line:
        return line
    label = re.match(r"\s*(\d+\.\s|[a-z]+: )?", line).group()
    text, indent = resolved(line[len(label):]), " " * len(label)
    if any(w != 1 for w in widths(text)):      # (its length can equal its columns: 日 and an isolate)
        return "\n".join(isolated_lines(_wrap_wide(text, width - 2 * depth(text), label, indent)))
    return "\n".join(isolated_lines(textwrap.wrap(text, width, initial_indent=label, subsequent_indent=indent,
                                                 break_on_hyphens=False)))


def isolated_lines(lines: list[str]) -> list[str]:
    """Folded lines each with its bidi controls closed: an isolate open at a fold (a right-to-left
    title's) is closed at the end of its line and opened again after the next one's indent. A
    viewer that takes each line's direction from its first letter showed the title's second line
    right-to-left, its indent on the right ("resolved" keeps the direction the whole title had)."""
    out, carried = [], ""
    for line in lines:
        text = line.lstrip(" ")
        line = line[:len(line) - len(text)] + carried + text
        carried = "".join(still_open(line))
        out.append(balanced(line))
    return out


def counted(s: str) -> int:
    """How long ``s`` is for a mail client: its ``columns``, and one for each bidi control, which
    shows nothing but which a client counting characters counts (a right-to-left title's folded
    lines, 72 columns and two isolates, no longer fit 78 quoted thrice)."""
    return columns(s) + len(BIDI_CONTROL.findall(s))


def columns(s: str) -> int:
    """The columns ``s`` takes in a terminal (``widths``)."""
    return sum(widths(s))


def widths(s: str) -> Iterator[int]:
    """The columns each character of ``s`` adds in a terminal: ``column``'s, but an Indic syllable
    is drawn at most two wide, as wcwidth counts it: a spacing vowel sign (हि, கொ) or a consonant
    joined by a virama (क्ष) makes its letter two wide, and one more (त्रि, न्दी) adds nothing.
    Counted one a piece, "हिन्दी" was five columns (four drawn): a Hindi or Tamil title was folded
    a word early."""
    cluster = 0         # the columns of the syllable (or other character made of several) so far
    for i, c in enumerate(s):
        w = column(c, s[i - 1] if i else "")
        if cluster and (category(c) == "Mc" or after_virama(s, i)):
            w, cluster = 2 - cluster, 2
        elif w:
            cluster = w
        yield w


# What joins the character before it on screen: a decomposed Hangul syllable's vowel and final
# consonant (its first consonant is wide), a skin tone after an emoji.
JOINS_BEFORE = re.compile("[\u1160-\u11ff\ud7b0-\ud7ff\U0001f3fb-\U0001f3ff]")
EMOJI_STYLE = "\ufe0f"


def column(c: str, before: str = "") -> int:
    """The columns ``c`` adds after ``before``: two for a wide (CJK) character, none for a combining
    mark or an invisible one (a bidi control, a zero-width space, an emoji's joiner), nor for what
    joins the character before (JOINS_BEFORE, an emoji after a joiner: 👨‍👩‍👧 is one); U+FE0F draws
    a narrow symbol as a wide emoji (❤️). Counted apart, a decomposed Korean title was folded at 45
    columns, and ❤️ overran a line by one column each."""
    if before and (before == ZWJ or JOINS_BEFORE.match(c)):
        return 0
    if c == EMOJI_STYLE:
        return int(bool(before) and column(before) == 1)
    return 0 if category(c) in ("Mn", "Me", "Mc", "Cf") else 2 if wide(c) else 1


# Where Unicode gives a code point it has not assigned (yet) two columns (EastAsianWidth.txt's
# defaults): CJK ideographs and emoji.
WIDE_BY_DEFAULT = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U0001f000-\U0001faff\U0001fc00-\U0001fffd"
                             "\U00020000-\U0003fffd]")


def wide(c: str) -> bool:
    """Whether ``c`` is drawn two columns wide. Python 3.11's unicodedata (Unicode 14) calls every
    character it does not know wide ("F"): a newer script's letter (Kawi's) too, which is one."""
    if category(c) == "Cn":
        return WIDE_BY_DEFAULT.match(c) is not None
    return unicodedata.east_asian_width(c) in "WF"


# What Japanese and Chinese line breaking (kinsoku) never starts a line with: closing punctuation,
# small kana, the prolonged sound mark; and never ends one with: opening brackets.
NO_LINE_START = "、。，．・：；？！ー)）」』】〕〉》〗〙〛”’ゝゞ々ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ…‥"
NO_LINE_END = "(（「『【〔〈《〖〘〚“‘"
# Chinese and Japanese, with no spaces between words, fold between any two of these; Korean has
# spaces and folds there, as Latin does ("대규모 언\n어 모델" split a word).
WIDE = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uff60"
FOLD_UNIT = re.compile(rf"\s+|[{re.escape(NO_LINE_END)}]*(?:[^\s{WIDE}]+|.)[{re.escape(NO_LINE_START)}]*")


def _wrap_wide(text: str, width: int, label: str, indent: str) -> list[str]:
    """A line's text after its ``label`` ("1. ", "why: "), holding wide or invisible characters,
    folded by columns (``counted``; textwrap counts characters), between words or between any two
    wide characters (CJK text has no spaces to fold at), but for kinsoku: a line never starts with
    "、" or "っ", nor ends with "「" (the fold moves a character earlier). A word longer than a
    line starts on the line it comes to and is folded where each line ends, as textwrap does."""
    out, current, empty = [], label, True
    for chunk in _fold_units(text):
        if not empty and counted(current + chunk.rstrip()) > width and counted(indent + chunk.strip()) <= width:
            out.append(current.rstrip())
            current, empty, chunk = indent, True, chunk.lstrip()
        while counted(current + chunk.rstrip()) > width:
            head = _fitting(chunk, width - counted(current)) or (chunk[:1] if empty else "")    # (at least one)
            out.append((current + head).rstrip())
            current, empty, chunk = indent, True, chunk[len(head):]
        current += chunk
        empty = empty and not chunk.strip()
    return out + [current.rstrip()]


def _fitting(word: str, room: int) -> str:
    """The start of ``word`` that fits ``room`` columns (``counted``), splitting no character made of
    several."""
    used = 0
    for end, (c, w) in enumerate(zip(word, widths(word))):
        used += w + bool(BIDI_CONTROL.match(c))
        if used > room:
            return word[:whole(word, end)]
    return word


def _fold_units(text: str) -> list[str]:
    """FOLD_UNIT's pieces of ``text``, one that starts with a mark (``continues``: か and its ゚ are
    two wide pieces) joined to the piece before it, so that no line starts with the mark alone."""
    units: list[str] = []
    for chunk in FOLD_UNIT.findall(text):
        if units and continues(chunk[0]):
            units[-1] += chunk
        else:
            units.append(chunk)
    return units


@functools.lru_cache(maxsize=8)
def _stylesheet(template_dir: str | None) -> str:
    """digest.css (the template folder's, else ours), read once per process and folder: a batch
    read it once per email. A changed stylesheet applies from the next start."""
    env = _env(template_dir)
    return env.loader.get_source(env, "digest.css")[0]


@functools.lru_cache(maxsize=1)
def _inliner():
    """Inlines the stylesheet, written short ("color:#57606a"), and keeps in the <style> only its
    @media rules (dark mode), which cannot be inlined. The <style> kept the inlined rules a second
    time and each declaration had its spaces: 5% of a 40-paper email, two papers of Gmail's 102 KB."""
    import css_inline

    return css_inline.CSSInliner(keep_at_rules=True, minify_css=True)


# The charset declaration and what stands before it in <head>: the inliner puts the <style> it keeps there.
BEFORE_CHARSET = re.compile(r"(<head[^>]*>)(.*?)(<meta charset=[^>]*>\n?)", re.S | re.I)


def charset_first(page: str) -> str:
    """``page`` with its <meta charset> first in <head>, where HTML wants it (within the first 1024
    bytes): the inliner put the dark-mode <style> it keeps before it, and a template folder's
    larger @media rules could push it past them."""
    return BEFORE_CHARSET.sub(r"\1\3\2", page, count=1)


# ----------------------------------------------------------------------------- slack
MRKDWN_LOOKALIKES = {"*": "\u2217", "_": "\u02cd", "~": "\u223c", "`": "\u02cb", ">": "\u02c3"}     # ∗ ˍ ∼ ˋ ˃
MRKDWN_MARKER = re.compile(r"[*_~`]")
# Slack shows ":fire:" or "Model:Smile:Net" in any mrkdwn (``verbatim`` too) and in a plain_text
# header as an emoji and has no escape for it: an invisible word joiner after the colon that opens
# one keeps the text as typed.
EMOJI_CODE = re.compile(r":(?=[\w+'-]+:)")
# A line that starts with ">" (written "&gt;") is a block quote in mrkdwn, and has no escape either.
QUOTE_MARK = re.compile(r"^(\s*)&gt;", re.M)


def mrkdwn_escape(s: str) -> str:
    """Text shown as itself in mrkdwn. Slack asks for &, < and > as entities; its formatting
    markers * _ ~ ` have no escape (a backslash is shown as is), so a title "*Fast* _attention_"
    came out bold and italic. A marker that could open or close formatting is written as its
    look-alike (as ``_link`` does with | in labels); one inside a word (snake_case, 2*3) or alone
    between spaces cannot, and stays as typed, so most titles copy unchanged. So is a ">" that
    starts a line (the text's start counts: the caller may put it at one), which made an author
    list "> Ann Lee" a quote. An emoji code is broken (``emoji_broken``)."""
    s = (s or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    s = QUOTE_MARK.sub(lambda m: m[1] + MRKDWN_LOOKALIKES[">"], s)
    return emoji_broken(MRKDWN_MARKER.sub(lambda m: _marker(m.string, m.start()), s))


def emoji_broken(s: str) -> str:
    """``s`` with each emoji code shown as typed (EMOJI_CODE), in mrkdwn or plain_text."""
    return EMOJI_CODE.sub(":" + WORD_JOINER, s)


def _marker(s: str, i: int) -> str:
    """The marker at ``s[i]``, or its look-alike where it borders anything but a word or spaces on
    both sides (the text's ends count: the caller may wrap it in markers of its own)."""
    before, after = s[i - 1:i], s[i + 1:i + 2]
    inert = (before.isalnum() and after.isalnum()) or (before.isspace() and after.isspace())
    return s[i] if inert else MRKDWN_LOOKALIKES[s[i]]


def _link(url: str, label: str) -> str:
    """<url|label>: in the URL, Slack reads its three entities as in text, and a "|" would start
    the label: "&" is written "&amp;", the rest percent-encoded."""
    url = url.replace("&", "&amp;").replace("|", "%7C").replace("<", "%3C").replace(">", "%3E")
    return f"<{url}|{mrkdwn_escape(label).replace('|', '¦')}>"


def _cut(s: str, limit: int) -> str:
    return s if len(s) <= limit else s[: whole(s, limit - 1)] + "…"


SLACK_LINK = re.compile(r"<([^<>|]*)\|([^<>]*)>")     # <url|label>; they format nothing around the link
# The end of a mrkdwn text cut inside a link ("<https://…|tit") or an escape ("&am" of "&amp;").
MRKDWN_UNFINISHED = re.compile(r"<[^<>]*$|&[a-z]*$")


def mrkdwn_cut(s: str, limit: int) -> str:
    """``s`` in at most ``limit`` characters, "…" where it is cut: after a whole line, else a
    whole word, when one ends in its last fifth; never inside a link, an escape or a character
    made of several; and with the bold, italic or strike and the bidi isolates it leaves open
    closed. A cut through a title's "*<url|title>*" showed the link as typed and what followed
    it in bold."""
    room = limit - 1
    while len(s) > limit:
        head = _mrkdwn_head(s, room)
        cut = balanced(head) + "".join(reversed(open_markers(head)))
        if len(cut) <= limit:
            return cut
        room -= len(cut) - limit
    return s


def _mrkdwn_head(s: str, room: int) -> str:
    """What ``mrkdwn_cut`` keeps of ``s`` in ``room`` characters and its "…", before the closers; a
    marker or space it would end on goes too (a bold opened before "…" made "…" bold). A link it
    would cut before its last fifth is cut itself (``_link_head``)."""
    i = whole(s, room)
    i = next((j for j in (s.rfind("\n", 0, i), s.rfind(" ", 0, i)) if j >= room * 4 // 5), i)
    unfinished = MRKDWN_UNFINISHED.search(s[:i])
    link = SLACK_LINK.match(s, unfinished.start()) if unfinished else None
    if link and link.start() < room * 4 // 5:
        return _link_head(s, link, room)
    i = unfinished.start() if unfinished else i
    return re.sub(r"[\s*_~]+$", "", s[:i]) + "…"


def _link_head(s: str, link: re.Match, room: int) -> str:
    """``_mrkdwn_head`` of ``s`` cut inside its ``link``: the label cut, or when the URL would take
    more than four fifths of the room left, the label as text in its place. A title link longer
    than its section's room came out as "…" alone."""
    (url, label), start = link.groups(), link.start()
    label_room = room - start - len(url) - 2
    if label_room < (room - start) // 5:
        unlinked = s[:start] + label + s[link.end():]
        return unlinked if len(unlinked) <= room + 1 else _mrkdwn_head(unlinked, room)
    if len(label) > label_room:
        return f"{s[:start]}<{url}|{mrkdwn_cut(label, label_room)}>"
    return s[:link.end()] + "…"


def open_markers(s: str) -> list[str]:
    """The formatting markers (* _ ~) that the last line of mrkdwn ``s`` leaves open, outermost
    first, paired as Slack pairs them (formatting never spans lines): a marker opens before a
    non-space when no letter or digit is before it, and closes the one open after a non-space
    when no letter or digit follows ("2*3" and "snake_case" format nothing)."""
    line, opened = SLACK_LINK.sub("L", s[s.rfind("\n") + 1:]), []
    for m in re.finditer(r"[*_~]", line):
        before, after = line[m.start() - 1:m.start()], line[m.end():m.end() + 1]
        if opened and opened[-1] == m[0] and before.strip() and not after.isalnum():
            opened.pop()
        elif not before.isalnum() and after.strip():
            opened.append(m[0])
    return opened


def _mrkdwn(text: str):
    """A mrkdwn text object that Slack shows as written: our own <url|label> links and *bold* still
    work, but it does not turn a title's "@channel", "@here" or "#general" into a mention or a
    channel link (``verbatim`` false, Slack's default, parses them)."""
    from slack_sdk.models.blocks import MarkdownTextObject

    return MarkdownTextObject(text=text, verbatim=True)


def _snippet(segments: list[tuple[str, bool]]) -> str:
    """A snippet in mrkdwn, its highlights bold. A star against a letter formats nothing ("x*y*"),
    so a highlight is set apart by spaces, but for the punctuation after it: "*KV cache*.", not
    "*KV cache* ." (nor before the end of an isolated snippet). A highlight is escaped without the
    spaces around it: a marker there, inert between spaces, borders the star once they go ("*_ x*")."""
    out = []
    for i, (text, hit) in enumerate(segments):
        after = segments[i + 1][0][:1] if i + 1 < len(segments) else ""
        closing = bool(after) and after in ".,;:!?" + PDI
        shown = mrkdwn_escape(text.strip())
        out.append(f" *{shown}*{'' if closing else ' '}" if hit and shown else mrkdwn_escape(text))
    return " ".join("".join(out).split())


def _item_blocks(v: dict) -> list:
    from slack_sdk.models.blocks import ContextBlock, SectionBlock

    lines = [f"*{_link(v['url'], v['title'])}*"]
    if v["authors"]:
        lines.append(mrkdwn_escape(v["authors"]))
    for ev in v["evidence"]:
        quoted = f": {_snippet(ev['segments'])}" if ev["segments"] else ""
        lines.append(f"> {mrkdwn_escape(ev['term'])} ({ev['field']}){quoted}")
    links = " · ".join(_link(u, label) for label, u in v["links"])
    room = max(SLACK_MAX_SECTION_CHARS - len(links) - 1, SLACK_MAX_SECTION_CHARS // 2)
    text = mrkdwn_cut(mrkdwn_cut("\n".join(lines), room) + "\n" + links, SLACK_MAX_SECTION_CHARS)
    blocks = [SectionBlock(text=_mrkdwn(text))]
    if meta := _meta(v):
        blocks.append(ContextBlock(elements=[_mrkdwn(mrkdwn_cut(meta, SLACK_MAX_CONTEXT_CHARS))]))
    if v.get("vote"):
        blocks.append(_vote_buttons(*v["vote"]))
    return blocks


def _meta(v: dict) -> str:
    """A paper's context line: "matched: …", how votes moved it, its profiles, its stats. The
    matched terms take the room the rest leaves ("… and 12 more terms"): listed whole, 150 of them
    pushed the votes, the profiles and the ▲ stats past the cut."""
    rest = [x for x in (v["votes"], mrkdwn_escape(v["profiles_line"]), v["stats"]) if x]
    room = SLACK_MAX_CONTEXT_CHARS - len(" · ".join(["matched: ", *rest]))
    matched = ["matched: " + listed(v["terms"], max(room, SLACK_MAX_CONTEXT_CHARS // 4))] if v["terms"] else []
    return " · ".join(matched + rest)


def listed(names: list[str], room: int) -> str:
    """``names`` joined by commas, in mrkdwn, in at most ``room`` characters: as many as fit
    whole, then how many are left out ("kv cache, MoE and 3 more terms")."""
    for shown in range(len(names), 0, -1):
        left = len(names) - shown
        text = mrkdwn_escape(", ".join(names[:shown])) + (f" and {left} more term{'s' * (left > 1)}" if left else "")
        if len(text) <= room:
            return text
    return f"{len(names)} term{'s' * (len(names) > 1)}"


def _vote_buttons(up: str, down: str):
    """Buttons whose value is the signed vote token (the last part of the vote URL); a click
    reaches `notifier web`'s /slack/actions, which verifies Slack's signature and the token."""
    from slack_sdk.models.blocks import ActionsBlock, ButtonElement

    return ActionsBlock(elements=[
        ButtonElement(text="👍 More like this", action_id="vote_up", value=up.rsplit("/", 1)[-1]),
        ButtonElement(text="👎 Not for me", action_id="vote_down", value=down.rsplit("/", 1)[-1])])


def split_summary(views: list[dict], items_in_summary: int) -> tuple[list[dict], list[dict]]:
    """-> (the papers of the summary message, those of the thread): the best ones in the summary,
    whatever their day (a weekly digest's then listed by day, each part on its own: ``under_days``). Split
    after the days were ordered, a week's best paper, listed on its first day, went to the thread,
    which a reader of the channel does not open."""
    if len(views) <= items_in_summary + 1:
        return views, []
    return views[:items_in_summary], views[items_in_summary:]


def _day_blocks(v: dict) -> list:
    """The day heading that starts a day's papers in a weekly or catch-up digest (``by_day``)."""
    from slack_sdk.models.blocks import SectionBlock

    return [SectionBlock(text=_mrkdwn(f"*{v['heading']}*"))] if v["heading"] else []


def day_heads(views: list[dict], grouped: bool) -> list[dict | None]:
    """Each paper's day heading block when the digest is grouped by day (``by_day``), else None:
    what a thread reply that starts inside a day begins with."""
    return [_day_blocks(dict(v, heading=long_day_label(v["day"])))[0].to_dict() if grouped else None
            for v in views]


def pack_messages(groups: list[list[dict]], heads: list[dict | None] = ()) -> list[list[dict]]:
    """Groups of blocks (one paper's, kept together) packed in turn into messages of at most
    SLACK_MAX_BLOCKS blocks and SLACK_MAX_MESSAGE_CHARS characters of text. Slack refuses a message
    whose texts add up to about 12,000 (``msg_blocks_too_long``) well below its documented limits;
    16 papers, 48 blocks, came to 15,700. ``heads``: a group's day heading, which a message that
    starts inside that day begins with (a reply is read on its own). A message does not start with
    the divider that sets a group apart from the one before."""
    parts: list[list[dict]] = []
    size = 0
    for group, head in zip_longest(groups, heads):
        chars = text_chars(group)
        if not parts or len(parts[-1]) + len(group) > SLACK_MAX_BLOCKS or size + chars > SLACK_MAX_MESSAGE_CHARS:
            parts.append([])
            size = 0
            group = group[group[0]["type"] == "divider":]
            if head and group[0] != head:
                group, chars = [head, *group], chars + text_chars(head)
        parts[-1] += group
        size += chars
    return parts


def text_chars(node) -> int:
    """The characters of every text in these blocks (what Slack's message limit counts)."""
    if isinstance(node, dict):
        return sum(len(v) if k == "text" and isinstance(v, str) else text_chars(v) for k, v in node.items())
    return sum(text_chars(x) for x in node) if isinstance(node, list) else 0


def _note(text: str, digest: Digest):
    """A context line: what the digest leaves out (``text``) and, with weaker matches, ``ASK_MORE``,
    a link to the manage page where there is one."""
    from slack_sdk.models.blocks import ContextBlock

    ask = (_link(digest.links.manage, ASK_MORE) if digest.links else ASK_MORE) if digest.weaker_count else ""
    return ContextBlock(elements=[_mrkdwn(" ".join(x for x in (text, ask) if x))])


def render_slack(digest: Digest, *, items_in_summary: int = SLACK_ITEMS_IN_SUMMARY) -> SlackMessage:
    """A summary message (header, status, the best papers: ``split_summary``); the rest in thread
    replies within Slack's limits (``pack_messages``). Blocks come back as plain dicts (JSON-ready)."""
    from slack_sdk.models.blocks import ContextBlock, DividerBlock, HeaderBlock, SectionBlock

    subj = subject(digest)
    views = with_votes([item_view(i) for i in digest.items], digest)
    head = [HeaderBlock(text=_cut(emoji_broken(subj), SLACK_MAX_HEADER_CHARS)),
            ContextBlock(elements=[_mrkdwn(mrkdwn_escape(status_line(digest)))])]
    summary = list(head)
    grouped = grouped_by_day(views, digest)
    shown, rest = (under_days(part) if grouped else part for part in split_summary(views, items_in_summary))
    for v in shown:
        summary += [DividerBlock(), *_day_blocks(v), *_item_blocks(v)]
    if rest:
        summary.append(SectionBlock(text=_mrkdwn(
            text=f"{len(rest)} more paper{'s' if len(rest) != 1 else ''} in the thread :thread:")))
    nothing, left = nothing_line(digest.weaker_count, digest.stats.failed_sources), left_out_line(digest)
    if not views:
        summary.append(_note(nothing, digest))
    elif left and not rest:
        summary.append(_note(left, digest))
    groups = [[b.to_dict() for b in [DividerBlock(), *_day_blocks(v), *_item_blocks(v)]] for v in rest]
    if rest and left:
        groups.append([_note(left, digest).to_dict()])
    if digest.links:
        summary.append(ContextBlock(elements=[_mrkdwn(
            text=f"{_link(digest.links.manage, 'Change keywords, pause or unsubscribe')}")]))
    fallback = mrkdwn_cut(mrkdwn_escape(f"{subj}\n{preheader(views, nothing)}"), SLACK_MAX_TEXT_CHARS)
    return SlackMessage(text=fallback, blocks=[b.to_dict() for b in summary[:SLACK_MAX_BLOCKS]],
                        thread=pack_messages(groups, day_heads(rest, grouped)))
