"""Why a paper matched: per term, the field it was found in and a short snippet with the words
highlighted, for the renderers (which escape it, each for its own format). Pure."""
from __future__ import annotations

from notifier.index import STOP, TOKEN, PaperIndex, aliases, stem_all, term_stems, words
from notifier.models import Evidence
from notifier.profile import Term

SNIPPET_WORDS = 12


def evidence(index: PaperIndex, d: int, terms: list[Term]) -> list[Evidence]:
    doc = index.docs[d]
    out = []
    for term in dict.fromkeys(terms):
        if term.field == "author":
            want = words(term.text)
            name = next((a for a in doc.authors if set(want) <= set(words(a))), term.text)
            out.append(Evidence(term.text, "authors", [(name, True)]))
            continue
        wanted = set(term_stems(term.text)) - STOP
        wanted |= set(stem_all(["".join(words(term.text))]))
        for fname, text in (("title", doc.title), ("abstract", doc.abstract)):
            snip = snippet(text, wanted)
            if snip:
                out.append(Evidence(term.text, fname, snip))
                break
    return out


def snippet(text: str, wanted: set[str]) -> list[tuple[str, bool]]:
    """A short window of ``text`` around the first hit, hits highlighted; [] when none.
    A word counts as a hit when its stem or one of its parts' stems ('MobileNet') is wanted."""
    toks = list(TOKEN.finditer(text))
    stems = stem_all([m.group().lower() for m in toks])
    hits = [i for i, (m, s) in enumerate(zip(toks, stems))
            if s in wanted or not wanted.isdisjoint(aliases(m.group()))]
    if not hits:
        return []
    lo = max(0, hits[0] - SNIPPET_WORDS // 2)
    hi = min(len(toks), lo + SNIPPET_WORDS * 2)
    segments, cursor = [], toks[lo].start()
    if lo:
        segments.append(("… ", False))
    for i in (h for h in hits if lo <= h < hi):
        m = toks[i]
        if m.start() > cursor:
            segments.append((text[cursor:m.start()], False))
        segments.append((m.group(), True))
        cursor = m.end()
    segments.append((text[cursor:toks[hi - 1].end()], False))
    if hi < len(toks):
        segments.append((" …", False))
    return [s for s in segments if s[0]]
