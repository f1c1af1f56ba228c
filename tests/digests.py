"""Sample digests for the render/channel tests (plain data, no I/O)."""
from __future__ import annotations

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
