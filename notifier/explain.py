"""Why a paper matched: per term, the field it was found in and a short snippet with the words
highlighted, for the renderers (which escape it, each for its own format). Pure."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from notifier.index import (STOP, SUSPENDED, TOKEN, PaperIndex, aliases, normal, stem_all, term_stems, without_urls,
                            words)
from notifier.models import Evidence
from notifier.profile import Term
from notifier.tex import without_commands

SNIPPET_WORDS = 12
SPACE, WORD, WORD_END = re.compile(r"\s"), re.compile(r"\S*"), re.compile(r"\S*\Z")
JOINERS = " -‐‑"        # between two highlighted words, they are one highlight: a phrase, a hyphenated form


def evidence(index: PaperIndex, d: int, terms: list[Term]) -> list[Evidence]:
    doc = index.docs[d]
    out = []
    for term in dict.fromkeys(terms):
        if term.field == "author":
            want = words(term.text)
            name = next((a for a in doc.authors if set(want) <= set(words(a))), term.text)
            out.append(Evidence(term.text, "authors", [(name, True)]))
            continue
        wanted = (set(term_stems(term.text)) - STOP) | set(stem_all(["".join(words(term.text))]))
        fields = [("title", doc.title)] + ([] if term.field == "title" else [("abstract", doc.abstract)])
        best = where(fields, wanted, term_stems(term.text), index.vocab) or next(
            filter(None, (where(fields, set(s) - STOP, s, index.vocab) for s in spellings(index, term.text))), None)
        if best:
            out.append(Evidence(term.text, best[1], best[2]))
    return out


def where(fields: list[tuple[str, str]], wanted: set[str], phrase: tuple[str, ...], vocab: set[str]):
    """-> (rank, field name, snippet) of the field where the phrase stands whole, else with more
    of its words (the title on a tie); None when no field has any (``vocab``: the index's words,
    splitting words as it did, ``aliases``)."""
    best = None
    for fname, text in fields:
        found, snip, whole = snippet(text, wanted, phrase, vocab)
        if snip and (best is None or (whole, len(found)) > best[0]):
            best = ((whole, len(found)), fname, snip)
    return best


def spellings(index: PaperIndex, text: str) -> list[tuple[str, ...]]:
    """The other spellings a term matches by (its long form or abbreviation as the stored papers
    define it, split or squashed: ``match.variants``), for a paper that has none of its own words:
    'MoE' matched a paper that writes only "Mixture-of-Experts", which had no why line."""
    from notifier.match import variants     # match imports this module

    return [stems for stems, _, _ in variants(index, text)[1:]]


def snippet(text: str, wanted: set[str], phrase: tuple[str, ...] = (),
            vocab: set[str] | frozenset = frozenset()) -> tuple[set[str], list[tuple[str, bool]], bool]:
    """-> (the wanted stems found, a short window of ``text`` around the first hit with the hits
    highlighted ([] when none), whether the ``phrase`` appears whole). A word is a hit when its
    stem or one of its parts' stems ('MobileNet') is wanted; where the ``phrase`` appears whole,
    only its words there are (and those between, where it is read through a suspended hyphen).
    Accents are composed first, as the index reads the text (tokens()); a URL has no words, as the
    index reads a paper (paper_tokens())."""
    text = unicodedata.normalize("NFC", text)
    words_only = without_urls(without_commands(text))
    toks = list(TOKEN.finditer(words_only))
    stems = stem_all([normal(m.group()) for m in toks])
    found: set[str] = set()
    hits = []
    for i, (m, s) in enumerate(zip(toks, stems)):
        matched = wanted.intersection((s,) + aliases(m.group(), vocab))
        if matched:
            hits.append(i)
            found |= matched
    whole = [i + k for i in standing(stems, phrase) for k in range(len(phrase))] if len(phrase) > 1 else []
    if not whole and len(phrase) > 1 and "- " in words_only:
        whole = through_hyphen(words_only, toks, stems, phrase)
    hits = whole or hits
    if not hits:
        return found, [], False
    lo, hi, start, end = window(text, toks, hits[0])
    return found, quoted(text, start, end, [toks[i].span() for i in hits if lo <= i < hi]), bool(whole)


def through_hyphen(text: str, toks: list, stems: list[str], phrase: tuple[str, ...]) -> list[int]:
    """The tokens from the first word of ``phrase`` to its last where it is read through a
    suspended hyphen, as the index reads it (``with_suspended_hyphens``): "Compute- and
    memory-efficient" is compute-efficient, quoted "[Compute- and memory-efficient]", not
    "[Compute]- and memory-[efficient]"; [] if it is not."""
    for m in SUSPENDED.finditer(text):
        hanging = [i for i, t in enumerate(toks) if t.end() == m.start() or m.start(1) <= t.start() < m.end(1)]
        shared = next(i for i, t in enumerate(toks) if t.start() >= m.start(5))
        for h in hanging:
            read = [*range(h + 1), *range(shared, len(toks))]      # the hanging word, then the word it shares
            at = next(standing([stems[i] for i in read], phrase), None)
            if at is not None:
                return list(range(read[at], read[at + len(phrase) - 1] + 1))
    return []


def standing(stems: list[str], phrase: tuple[str, ...]) -> Iterator[int]:
    """Where ``phrase`` stands whole in ``stems``, each start in turn."""
    return (i for i in range(len(stems) - len(phrase) + 1) if tuple(stems[i:i + len(phrase)]) == phrase)


def quoted(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> list[tuple[str, bool]]:
    """``text[start:end]`` as segments with the character ``spans`` highlighted, "… " before and
    " …" after where it cuts the text. Spans that overlap or have only spaces or hyphens between
    them are one highlight: a phrase reads "[Mixture-of-Experts]", not "[Mixture]-[of]-[Experts]"."""
    segments, cursor = ([("… ", False)] if start else []), start
    for a, b in sorted(spans):
        if segments and segments[-1][1] and not text[cursor:a].strip(JOINERS):
            segments[-1] = (segments[-1][0] + text[cursor:max(b, cursor)], True)
        else:
            segments += [(text[cursor:a], False), (text[a:b], True)]
        cursor = max(b, cursor)
    segments.append((text[cursor:end], False))
    if end < len(text):
        segments.append((" …", False))
    return [s for s in segments if s[0]]


def fold(texts: dict[str, str], why: list[Evidence]) -> list[Evidence]:
    """``why`` with each snippet folded into an earlier one of its field where either quotes the
    other's highlights, named after both terms (``texts``: the paper's fields): one sentence was
    quoted twice, "… Sparse mixture-of-experts ([MoE]) …" then "… [Sparse] mixture-of-[experts]
    (MoE) …"."""
    out: list[Evidence] = []
    placed: list = []
    for ev in why:
        text = unicodedata.normalize("NFC", texts.get(ev.field, ""))
        here = located(text, ev.snippet)
        k = next((k for k, p in enumerate(placed) if here and p and out[k].field == ev.field
                  and (within(here[2], p) or within(p[2], here))), None)
        if k is None:
            out.append(ev)
            placed.append(here)
            continue
        start, end, _ = placed[k] if within(here[2], placed[k]) else here
        placed[k] = (start, end, placed[k][2] + here[2])
        terms = out[k].term if ev.term in out[k].term.split(", ") else f"{out[k].term}, {ev.term}"
        out[k] = Evidence(terms, ev.field, quoted(text, start, end, placed[k][2]))
    return out


def within(spans: list[tuple[int, int]], where: tuple) -> bool:
    return all(where[0] <= a and b <= where[1] for a, b in spans)


def located(text: str, segments: list[tuple[str, bool]]) -> tuple[int, int, list[tuple[int, int]]] | None:
    """Where a snippet of ``text`` stands in it: (start, end, the highlighted spans); None if not there."""
    inner = [s for k, s in enumerate(segments) if not (s == ("… ", False) and k == 0
                                                       or s == (" …", False) and k == len(segments) - 1)]
    start = text.find("".join(t for t, _ in inner)) if inner else -1
    if start < 0:
        return None
    spans, at = [], start
    for t, hit in inner:
        if hit:
            spans.append((at, at + len(t)))
        at += len(t)
    return start, at, spans


def window(text: str, toks: list, first: int) -> tuple[int, int, int, int]:
    """The tokens (lo, hi) of a snippet around the hit ``first`` and the characters (start, end) it
    quotes, widened to whole words: from the space before to the space after (from the text's
    start and to its end: its "(" or "“", its "?"). Cut at tokens, "end-to-end" began "… to-end"
    and "(e.g.," ended "(e.g …"."""
    lo = max(0, first - SNIPPET_WORDS // 2)
    hi = min(len(toks), lo + SNIPPET_WORDS * 2)
    while lo and not SPACE.search(text, toks[lo - 1].end(), toks[lo].start()):
        lo -= 1
    while hi < len(toks) and not SPACE.search(text, toks[hi - 1].end(), toks[hi].start()):
        hi += 1
    start = WORD_END.search(text, 0, toks[lo].start()).start() if lo else 0
    return lo, hi, start, WORD.match(text, toks[hi - 1].end()).end() if hi < len(toks) else len(text)
