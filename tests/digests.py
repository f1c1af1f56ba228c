"""Sample digests for the render/channel tests (plain data, no I/O)."""
from __future__ import annotations

import re
from datetime import date

from notifier.models import Digest, DigestItem, DigestStats, Evidence, Match, Paper, Recipient

NASTY_TITLES = {
    "script": "<script>alert('x')</script> KV cache",
    "amp": "Attention & Memory: KV cache",
    "bold": "<b>Bold</b> claims about KV cache",
    "newline": "KV cache\r\nBcc: victim@example.com",
    "long": "KV cache " + "x" * 2000,
    "emoji": "🚀 KV cache goes brrr 🔥",
    "rtl": "ذاكرة KV cache \u202eevil\u202c",
}


def paper(i: int, title: str | None = None, **kw) -> Paper:
    defaults = dict(arxiv_id=f"2507.{10000 + i}", title=title or f"Paper {i} on KV cache eviction",
                    abstract="We study the KV cache.", authors=[f"Author {j}" for j in range(1 + i % 6)],
                    url=f"https://huggingface.co/papers/2507.{10000 + i}", upvotes=10 + i if i % 2 == 0 else None,
                    comments=i % 3 if i % 2 == 0 else None, code_url="https://github.com/example/repo" if i % 3 == 0 else None)
    defaults.update(kw)
    return Paper(**defaults)


def item(p: Paper, profiles=("llm",)) -> DigestItem:
    ev = Evidence("kv cache", "abstract", [("A study of the ", False), ("KV cache", True), (" in <long> & context", False)])
    return DigestItem(paper=p, match=Match(p.arxiv_id, 2.5, True, matched=["kv cache"], evidence=[ev]),
                      profiles=list(profiles))


def digest(n: int = 4, *, channel: str = "email", address: str = "ann@example.org", weaker: int = 2,
           failed=(), papers: list[Paper] | None = None, covers_days=(), name: str = "Ann") -> Digest:
    papers = papers if papers is not None else [paper(i) for i in range(n)]
    items = [item(p, ("llm", "systems") if i == 0 else ("llm",)) for i, p in enumerate(papers)]
    return Digest(recipient=Recipient(7, name, channel, address, ["kv cache", "MoE"]), day=date(2026, 7, 29),
                  items=items, stats=DigestStats(38, ["Hugging Face Daily Papers", "arXiv cs.LG"], list(failed)),
                  weaker_count=weaker, covers_days=list(covers_days), delivery_key="7.2026-07-29.email.12")


HOSTILE_MARKUP = "*Fast* _sparse_ ~old~ <b|i> a>b & 2*3 "


def overlong_slack_digest(n: int = 24) -> Digest:
    """Papers whose Slack texts run past Slack's limits, each at another place: titles, authors,
    highlighted snippets and matched terms full of mrkdwn's markers, "<", "|", ">" and "&" (an "&"
    takes five characters escaped)."""
    papers = [paper(i, title=(HOSTILE_MARKUP * 9)[:290 - 3 * i], authors=[HOSTILE_MARKUP * 2] * (i + 1))
              for i in range(n)]
    d = digest(papers=papers, channel="slack")
    for i, it in enumerate(d.items):
        hit = Evidence("kv cache", "abstract", [("& " * (15 * i), False), ("KV cache " + HOSTILE_MARKUP * 8, True),
                                                (" &<>" * 90, False)])
        it.match.evidence, it.match.matched = [hit, hit], [f"{j} {HOSTILE_MARKUP}" for j in range(30 + i)]
    return d


SLACK_LINK = re.compile(r"<[^<>|\s]+\|[^<>|]*>")
INERT_MARKER = re.compile(r"(?<=[^\W_])[*_~](?=[^\W_])|(?<=\s)[*_~](?=\s)")


def mrkdwn_faults(text: str) -> list[str]:
    """What Slack shows broken in a mrkdwn text: a "<" or ">" outside a whole <url|label> link (but
    a quote's "> "), an escape cut ("&am"), or a line whose * _ ~ formatting does not pair up (one
    between letters or between spaces formats nothing)."""
    bare = SLACK_LINK.sub("L", re.sub(r"^> ", "", text, flags=re.M))
    faults = ["link cut"] * bool(re.search("[<>]", bare)) + ["escape cut"] * bool(re.search("&(?!amp;|lt;|gt;)", bare))
    for line in bare.split("\n"):
        markers = re.findall("[*_~]", INERT_MARKER.sub("", line))
        faults += [f"{m} left open: {line[-60:]}" for m in "*_~" if markers.count(m) % 2]
    return faults
