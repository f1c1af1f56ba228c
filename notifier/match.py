"""Matching: score the day's papers against keyword profiles, select, explain. Pure, no I/O.

The index of the day's papers (plus background papers, used only for document frequencies) is
built once; each distinct term is resolved once into {paper: score} and cached, so a profile
costs a few dictionary look-ups. Scoring is BM25F (title weighted) with IDF over all stored
papers; a phrase scores by exact match, else by a loose window match, else by its words.
"""
from __future__ import annotations

import functools
import heapq
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from notifier.models import Evidence, Match, Paper
from notifier.profile import Profile, Term

TOKEN = re.compile(r"[A-Za-z0-9]+")
STOP = frozenset("a an and are as at be by for from in into is of on or the to with via using".split())
K1, B = 1.2, 0.75
FIELD_WEIGHT = {"title": 3.0, "abstract": 1.0}
LOOSE_FACTOR = 0.6          # all words of a phrase within a window, any order
BACKOFF_FACTOR = 1.0        # a phrase's words found apart
ABBREV_FACTOR = 0.9         # an abbreviation standing for the term (or the reverse)
RELATIVE_THRESHOLD = 0.3    # selected: >= this share of the profile's top score ...
ABSOLUTE_FLOOR = 0.36       # ... and at least about one solid term match: this share of the
                            # score ceiling of a term found in one paper (scales with corpus size)
DEFAULT_MAX_ITEMS = 50      # a safety net: the thresholds decide; the pipeline passes its own (10)
PRF_DOCS = 5                # pseudo-relevance feedback: from this many top papers ...
PRF_TERMS = 10              # ... take this many distinctive shared stems ...
PRF_SHARE = 0.3             # ... found in at least this share of them ...
PRF_MAX_DF = 5              # ... and in at most 1/this of the corpus ...
PRF_WEIGHT = 0.2            # ... each added at this weight
PRF_NEW = True              # papers found only by the expansion may rank (never pass the floor alone)
SNIPPET_WORDS = 12

_stemmer = None
_stem_cache: dict[str, str] = {}


def stem_all(words: list[str]) -> list[str]:
    """Lowercase words -> Snowball stems, each distinct word stemmed once per process."""
    global _stemmer
    missing = [w for w in set(words) if w not in _stem_cache]
    if missing:
        if _stemmer is None:
            import Stemmer
            _stemmer = Stemmer.Stemmer("english")
        _stem_cache.update(zip(missing, _stemmer.stemWords(missing)))
    return [_stem_cache[w] for w in words]


def tokens(text: str) -> list[re.Match]:
    return list(TOKEN.finditer(text))


@functools.lru_cache(maxsize=65536)
def term_stems(text: str) -> tuple[str, ...]:
    return tuple(stem_all([m.group().lower() for m in tokens(text)]))


# ----------------------------------------------------------------------------- index
@dataclass
class Doc:
    id: str
    title: str
    abstract: str
    authors: list[str]
    upvotes: int | None


@dataclass
class PaperIndex:
    docs: list[Doc]                     # the day's papers first, then background papers
    n_day: int
    postings: dict[str, dict[str, dict[int, list[int]]]]   # field -> stem -> doc -> positions
    lengths: dict[str, list[int]]
    avg_length: dict[str, float]
    vocab: set[str]                     # raw lowercase tokens, to split squashed words
    short_to_long: dict[str, Counter]   # "moe" -> Counter({("mixtur","of","expert"): 3})
    long_to_short: dict[tuple, Counter]
    cache: dict = field(default_factory=dict)
    doc_stems: list = field(default_factory=list)   # doc -> distinct content stems (day papers)
    df: dict = field(default_factory=dict)           # stem -> number of docs (all fields)

    @property
    def n_docs(self) -> int:
        return len(self.docs)


def as_doc(p) -> Doc:
    if isinstance(p, Paper):
        return Doc(p.arxiv_id, p.title or "", p.abstract or "", list(p.authors), p.upvotes)
    pid = p.get("id") or p.get("arxiv_id") or p.get("pid")
    return Doc(str(pid), p.get("title") or "", p.get("abstract") or "", list(p.get("authors") or []),
               p.get("upvotes"))


def build_index(papers: list, background: list | None = None) -> PaperIndex:
    """Index the day's papers once; background papers count only towards document frequencies."""
    day = [as_doc(p) for p in papers]
    seen = {d.id for d in day}
    docs = day + [d for d in map(as_doc, background or []) if d.id not in seen]
    postings = {f: defaultdict(dict) for f in FIELD_WEIGHT}
    lengths = {f: [] for f in FIELD_WEIGHT}
    vocab: set[str] = set()
    s2l, l2s = defaultdict(Counter), defaultdict(Counter)
    doc_stems: list[frozenset] = []
    df: Counter = Counter()
    for i, d in enumerate(docs):
        seen_stems: set[str] = set()
        for f in FIELD_WEIGHT:
            text = d.title if f == "title" else d.abstract
            words = [m.group().lower() for m in tokens(text)]
            vocab.update(words)
            lengths[f].append(len(words))
            stems = stem_all(words)
            seen_stems.update(stems)
            for pos, s in enumerate(stems):
                postings[f][s].setdefault(i, []).append(pos)
            for short, long in abbreviations(text):
                if not short:
                    continue
                s2l[short][long] += 1
                l2s[long][short] += 1
        df.update(seen_stems)
        if i < len(day):
            doc_stems.append(frozenset(s for s in seen_stems if s not in STOP and not s.isdigit()))
    avg = {f: (sum(v) / len(v) if v else 1.0) or 1.0 for f, v in lengths.items()}
    return PaperIndex(docs, len(day), {f: dict(p) for f, p in postings.items()}, lengths, avg, vocab,
                      dict(s2l), dict(l2s), doc_stems=doc_stems, df=dict(df))


# ----------------------------------------------------------------------------- abbreviations
_PAREN = re.compile(r"\(\s*([A-Za-z][A-Za-z0-9\-]{1,9})\s*[),;]")


def abbreviations(text: str):
    """Schwartz-Hearst: 'Mixture-of-Experts (MoE)' -> ('moe', ('mixtur','of','expert'))."""
    for m in _PAREN.finditer(text):
        short = m.group(1)
        if not any(c.isupper() for c in short):
            continue
        if short.endswith("s") and short[:-1].isupper():
            short = short[:-1]
        before = text[max(0, m.start() - 120):m.start()]
        before = re.split(r"[.;:()\[\]]", before)[-1]
        words = before.split()
        window = words[-min(len(short) + 5, 2 * len(short)):]
        long = best_long_form(short, " ".join(window))
        if long:
            stems = term_stems(long)
            if 2 <= len(stems) <= len(short) + 3:
                yield term_stems(short)[0] if len(term_stems(short)) == 1 else None, stems


def best_long_form(short: str, long: str) -> str | None:
    s, l = len(short) - 1, len(long) - 1
    sl, ll = short.lower(), long.lower()
    while s >= 0:
        c = sl[s]
        if not c.isalnum():
            s -= 1
            continue
        while (l >= 0 and ll[l] != c) or (s == 0 and l > 0 and ll[l - 1].isalnum()):
            l -= 1
        if l < 0:
            return None
        l -= 1
        s -= 1
    start = ll.rfind(" ", 0, l + 1) + 1
    return long[start:] if start < len(long) else None


# ----------------------------------------------------------------------------- term resolution
def idf(index: PaperIndex, df: int) -> float:
    n = index.n_docs
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def occurrences(index: PaperIndex, stems: tuple[str, ...], fields, loose: bool = False) -> dict[int, dict[str, int]]:
    """doc -> field -> count of the stems in order (or, loose, within a window in any order)."""
    out: dict[int, dict[str, int]] = {}
    for f in fields:
        lists = [index.postings[f].get(s) for s in stems]
        if not all(lists):
            continue
        docs = set(lists[0]).intersection(*lists[1:]) if len(lists) > 1 else lists[0].keys()
        for d in docs:
            n = count_in_doc([lst[d] for lst in lists], loose)
            if n:
                out.setdefault(d, {})[f] = n
    return out


def count_in_doc(positions: list[list[int]], loose: bool) -> int:
    if len(positions) == 1:
        return len(positions[0])
    if not loose:
        later = [set(p) for p in positions[1:]]
        return sum(all(p + k + 1 in s for k, s in enumerate(later)) for p in positions[0])
    window = len(positions) + 3
    return sum(all(any(abs(q - p) <= window for q in ps) for ps in positions[1:]) for p in positions[0])


def bm25f(index: PaperIndex, occ: dict[int, dict[str, int]]) -> dict[int, float]:
    weight = idf(index, len(occ))
    out = {}
    for d, by_field in occ.items():
        if d >= index.n_day:
            continue
        tf = sum(FIELD_WEIGHT[f] * n / (1 - B + B * index.lengths[f][d] / index.avg_length[f])
                 for f, n in by_field.items())
        out[d] = weight * tf * (K1 + 1) / (tf + K1)
    return out


def unit_scores(index: PaperIndex, stems: tuple[str, ...], fields, loose=False) -> dict[int, float]:
    key = ("unit", stems, fields, loose)
    if key not in index.cache:
        index.cache[key] = bm25f(index, occurrences(index, stems, fields, loose)) if stems else {}
    return index.cache[key]


def variants(index: PaperIndex, text: str) -> list[tuple[tuple[str, ...], float]]:
    """Spellings of a term with their factor: itself, squashed (KV cache = KVCache), split
    (kvcache = kv cache), abbreviation <-> long form as defined in the stored papers."""
    words = [m.group().lower() for m in tokens(text)]
    stems = tuple(stem_all(words))
    out = [(stems, 1.0)]
    if len(words) > 1:
        out.append((tuple(stem_all(["".join(words)])), 1.0))
    elif words:
        w = words[0]
        out += [(tuple(stem_all([w[:i], w[i:]])), 1.0) for i in range(2, len(w) - 1)
                if w[:i] in index.vocab and w[i:] in index.vocab]
    out += [((s,), ABBREV_FACTOR) for s in frequent(index.long_to_short.get(stems))]
    if len(stems) == 1:
        out += [(lf, ABBREV_FACTOR) for lf in frequent(index.short_to_long.get(stems[0]))]
    return out


def frequent(counter: Counter | None) -> list:
    if not counter:
        return []
    top = max(counter.values())
    return [k for k, n in counter.items() if k and n * 2 >= top]


@dataclass
class Resolved:
    scores: dict[int, float]           # doc -> score of the term (best way it matched)
    strong: set[int]                   # docs where the term itself (or a variant) occurs
    weak: set[int] = field(default_factory=set)   # docs matched only by one back-off word of
                                       # a phrase: counts for ranking, not for the floor
    arrays: tuple | None = None        # numpy (scores, hit, solid, strong) over day papers, lazily


def resolve(index: PaperIndex, term: Term) -> Resolved:
    key = ("term", term.text.lower(), term.field)
    if key not in index.cache:
        index.cache[key] = (resolve_author(index, term) if term.field == "author"
                            else resolve_text(index, term))
    return index.cache[key]


def resolve_text(index: PaperIndex, term: Term) -> Resolved:
    fields = ("title",) if term.field == "title" else tuple(FIELD_WEIGHT)
    scores: dict[int, float] = {}
    for stems, factor in variants(index, term.text):
        merge_max(scores, unit_scores(index, stems, fields), factor)
    strong = set(scores)
    stems = term_stems(term.text)
    if len(stems) > 1:
        merge_max(scores, unit_scores(index, stems, fields, loose=True), LOOSE_FACTOR)
        strong |= set(scores)
        content = [s for s in stems if s not in STOP] or list(stems)
        backoff: dict[int, float] = defaultdict(float)
        found: Counter = Counter()
        for s in content:
            for d, v in unit_scores(index, (s,), fields).items():
                backoff[d] += v
                found[d] += 1
        merge_max(scores, backoff, BACKOFF_FACTOR / math.sqrt(len(content)))
        need = min(2, len(content))
        weak = {d for d in scores if d not in strong and found[d] < need}
        return Resolved(scores, strong, weak)
    return Resolved(scores, strong)


def resolve_author(index: PaperIndex, term: Term) -> Resolved:
    want = [w.lower() for w in TOKEN.findall(term.text)]
    hits = {d for d in range(index.n_day)
            if any(contains_seq([w.lower() for w in TOKEN.findall(a)], want) for a in index.docs[d].authors)}
    return Resolved({d: idf(index, 1) for d in hits}, hits)


def contains_seq(words: list[str], want: list[str]) -> bool:
    n = len(want)
    return any(words[i:i + n] == want for i in range(len(words) - n + 1))


def merge_max(into: dict[int, float], scores: dict[int, float], factor: float) -> None:
    for d, v in scores.items():
        v *= factor
        if v > into.get(d, 0.0):
            into[d] = v


# ----------------------------------------------------------------------------- profiles
def score_profile(index: PaperIndex, profile: Profile,
                  resolved: list[tuple[Term, Resolved]] | None = None) -> dict[int, float]:
    """doc -> score for every day paper scoring above zero (exclusions and required applied)."""
    resolved = resolved or [(t, resolve(index, t)) for t in profile.positive]
    totals: dict[int, float] = {}
    get = totals.get
    for term, res in resolved:
        w = term.weight
        if not totals and w == 1.0:
            totals.update(res.scores)
            continue
        for d, v in res.scores.items():
            totals[d] = get(d, 0.0) + w * v
    gate(index, profile, totals)
    if PRF_DOCS and totals:
        expand(index, profile, totals)
    return totals


def gate(index: PaperIndex, profile: Profile, totals: dict[int, float]) -> None:
    for term in profile.excluded:
        for d in resolve(index, term).strong:
            totals.pop(d, None)
    for term in profile.required:
        strong = resolve(index, term).strong
        for d in [d for d in totals if d not in strong]:
            del totals[d]


def expand(index: PaperIndex, profile: Profile, totals: dict[int, float]) -> None:
    """Pseudo-relevance feedback: the stems shared by several of the best-scoring papers and
    rare in the corpus are added to the profile at a low weight (papers that say the same
    thing in other words move up; a paper cannot pass the floor on them alone)."""
    top = heapq.nlargest(PRF_DOCS, totals, key=totals.__getitem__)
    get = totals.get
    for s in feedback_stems(index, profile, top):
        for d, v in unit_scores(index, (s,), tuple(FIELD_WEIGHT)).items():
            if d in totals or PRF_NEW:
                totals[d] = get(d, 0.0) + PRF_WEIGHT * v
    if PRF_NEW:
        gate(index, profile, totals)


def feedback_stems(index: PaperIndex, profile: Profile, top: list[int]) -> list[str]:
    """The PRF_TERMS stems found in at least PRF_SHARE of the ``top`` papers, rare in the
    corpus (df <= n / PRF_MAX_DF), not in the profile, by count x IDF."""
    if len(top) < 2:
        return []
    counts: Counter = Counter()
    for d in top:
        counts.update(rare_stems(index, d))
    need = max(2, math.ceil(PRF_SHARE * len(top)))
    shared = [s for s, c in counts.items() if c >= need]
    if not shared:
        return []
    own = {s for t in profile.terms for s in term_stems(t.text)}
    idfs = index.cache["rare-idf"]
    best = heapq.nlargest(PRF_TERMS, ((counts[s] * idfs[s], s) for s in shared if s not in own))
    return [s for _, s in best]


def rare_stems(index: PaperIndex, d: int) -> list[str]:
    key = ("rare", d)
    if key not in index.cache:
        n = index.n_docs
        index.cache[key] = rare = [s for s in index.doc_stems[d] if index.df[s] * PRF_MAX_DF <= n]
        idfs = index.cache.setdefault("rare-idf", {})
        for s in rare:
            if s not in idfs:
                idfs[s] = idf(index, index.df[s])
    return index.cache[key]


# ----------------------------------------------------------------------------- numpy path
# The same scoring over arrays of the day's papers: one vector add per term instead of one
# dictionary update per (term, paper). Used when numpy is installed; the dict code above is
# the reference and the fallback.
_np = None


def numpy():
    global _np
    if _np is None:
        try:
            import numpy as np
        except ImportError:
            np = False
        _np = np
    return _np


def term_arrays(index: PaperIndex, res: Resolved) -> tuple:
    if res.arrays is None:
        np, n = _np, index.n_day
        scores, hit = np.zeros(n), np.zeros(n, bool)
        if res.scores:
            keys = np.fromiter(res.scores.keys(), np.intp, len(res.scores))
            scores[keys] = np.fromiter(res.scores.values(), float, len(res.scores))
            hit[keys] = True
        solid = hit.copy()
        if res.weak:
            solid[list(res.weak)] = False
        strong = np.zeros(n, bool)
        day = [d for d in res.strong if d < n]
        if day:
            strong[day] = True
        res.arrays = (scores, hit, solid, strong)
    return res.arrays


def score_arrays(index: PaperIndex, profile: Profile, resolved: list[tuple[Term, Resolved]]):
    """(scores, keep, solid) arrays over the day's papers: ``keep`` = scored above zero and
    passing exclusions/required; ``solid`` = not only lone back-off words of phrases."""
    np, n = _np, index.n_day
    totals, present, solid = np.zeros(n), np.zeros(n, bool), np.zeros(n, bool)
    for term, res in resolved:
        a, h, s, _ = term_arrays(index, res)
        totals += a if term.weight == 1.0 else term.weight * a
        present |= h
        solid |= s
    gates = np.ones(n, bool)
    for term in profile.excluded:
        gates &= ~term_arrays(index, resolve(index, term))[3]
    for term in profile.required:
        gates &= term_arrays(index, resolve(index, term))[3]
    keep = present & gates
    if PRF_DOCS:
        cand = np.flatnonzero(keep)
        if len(cand) >= 2:
            k = min(PRF_DOCS, len(cand))
            part = cand[np.argpartition(-totals[cand], k - 1)[:k]] if len(cand) > k else cand
            best = feedback_stems_np(index, profile, part)
            if len(best):
                added = index.cache["rare-matrix"][4][best].sum(axis=0)
                totals += PRF_WEIGHT * added
                if PRF_NEW:
                    present |= added > 0
            keep = present & gates
    return totals, keep, solid


def feedback_stems_np(index: PaperIndex, profile: Profile, top):
    """feedback_stems over a (day paper x rare stem) incidence matrix built once per index;
    returns the stems' rows in the index's rare-stem score matrix."""
    np = _np
    if "rare-matrix" not in index.cache:
        rows = [rare_stems(index, d) for d in range(index.n_day)]
        names = sorted({s for r in rows for s in r})
        col = {s: i for i, s in enumerate(names)}
        matrix = np.zeros((index.n_day, len(names)), np.uint8)
        for d, r in enumerate(rows):
            matrix[d, [col[s] for s in r]] = 1
        idfs = index.cache["rare-idf"]
        scores = np.zeros((len(names), index.n_day), np.float32)   # stem -> its BM25F per paper
        fields = tuple(FIELD_WEIGHT)
        for i, s in enumerate(names):
            unit = unit_scores(index, (s,), fields)
            scores[i, list(unit)] = list(unit.values())
        index.cache["rare-matrix"] = (matrix, names, col, np.array([idfs[s] for s in names]), scores)
    matrix, names, col, idfs, _ = index.cache["rare-matrix"]
    if len(top) < 2 or not names:
        return []
    counts = matrix[top].sum(axis=0, dtype=np.int32)
    need = max(2, math.ceil(PRF_SHARE * len(top)))
    weight = np.where(counts >= need, counts * idfs, 0.0)
    for t in profile.terms:
        for s in term_stems(t.text):
            if s in col:
                weight[col[s]] = 0.0
    best = np.flatnonzero(weight)          # only the shared stems: a few dozen
    return best[np.argsort(-weight[best], kind="stable")[:PRF_TERMS]]


def ranked_np(index: PaperIndex, profile: Profile, resolved, cap: int, selected_only: bool):
    """(docs best first, their scores, selected flags, matched labels) with numpy."""
    np = _np
    totals, keep, solid = score_arrays(index, profile, resolved)
    cand = np.flatnonzero(keep)
    if selected_only and len(cand) > cap:
        cand = cand[np.argpartition(-totals[cand], cap - 1)[:cap]]
    order = cand[np.argsort(-totals[cand], kind="stable")]
    if not len(order):
        return [], [], [], []
    scores = totals[order]
    floor = ABSOLUTE_FLOOR * idf(index, 1)
    flags = (scores >= RELATIVE_THRESHOLD * scores[0]) & solid[order] & (scores >= floor)
    flags[cap:] = False
    if selected_only:
        stop = int(np.argmin(flags)) if not flags.all() else len(flags)
        order, scores, flags = order[:stop], scores[:stop], flags[:stop]
    codes = np.zeros(len(order), np.int64)
    for i, (_, res) in enumerate(resolved):
        codes |= term_arrays(index, res)[1][order].astype(np.int64) << i
    labels: dict[int, list[str]] = {}
    matched = []
    for c in codes.tolist():
        if c not in labels:
            labels[c] = unique_labels([t for i, (t, _) in enumerate(resolved) if c >> i & 1])
        matched.append(labels[c])
    return order.tolist(), scores.round(4).tolist(), flags.tolist(), matched


def select(scores: list[float], max_items: int, floor: float,
           solid: list[float] | None = None) -> list[bool]:
    """Scores best first -> selected flags: near the top, above the floor, within the cap.
    ``solid`` (same order) is the part of each score the floor is checked on: without the
    single back-off words of phrases, which alone are too weak evidence to send a paper."""
    top = scores[0] if scores else 0.0
    solid = solid or scores
    return [i < max_items and s >= RELATIVE_THRESHOLD * top and f >= floor
            for i, (s, f) in enumerate(zip(scores, solid))]


def solid_score(d: int, score: float, resolved: list[tuple[Term, Resolved]]) -> float:
    """The score, or 0 when every term found in the paper is only one back-off word of a phrase."""
    return score if any(d in res.scores and d not in res.weak for _, res in resolved) else 0.0


def match_profile(index: PaperIndex, profile: Profile, *, max_items: int | None = None,
                  upvote_weight: float = 0.0, explain: bool = True,
                  selected_only: bool = False) -> list[Match]:
    """Every day paper scoring above zero (or only the selected ones), best first, ``selected``
    set; evidence for the selected ones when ``explain``."""
    resolved = [(t, resolve(index, t)) for t in profile.positive]
    cap = max_items or DEFAULT_MAX_ITEMS
    if numpy() and len(resolved) < 60:
        ranked, scores, flags, matched = ranked_np(index, profile, resolved, cap, selected_only)
        docs = index.docs
        matches = [Match(docs[d].id, score, sel, list(labels),
                         evidence(index, d, [t for t, res in resolved if d in res.scores])
                         if explain and sel else [])
                   for d, score, sel, labels in zip(ranked, scores, flags, matched)]
    else:
        matches = match_dicts(index, profile, resolved, cap, explain, selected_only)
    return blend_upvotes(index, matches, upvote_weight) if upvote_weight else matches


def match_dicts(index: PaperIndex, profile: Profile, resolved, cap: int, explain: bool,
                selected_only: bool) -> list[Match]:
    """match_profile without numpy: the reference implementation."""
    scored = score_profile(index, profile, resolved)
    if selected_only:
        ranked = heapq.nlargest(cap, scored, key=scored.__getitem__)
    else:
        ranked = sorted(scored, key=scored.__getitem__, reverse=True)
    floor = ABSOLUTE_FLOOR * idf(index, 1)
    head = ranked[:cap]
    flags = select([scored[d] for d in head], cap, floor,
                   [solid_score(d, scored[d], resolved) for d in head])
    flags += [False] * (len(ranked) - len(head))
    matches = []
    for d, sel in zip(ranked, flags):
        if selected_only and not sel:
            break
        terms = [t for t, res in resolved if d in res.scores]
        matches.append(Match(index.docs[d].id, round(scored[d], 4), sel, unique_labels(terms),
                             evidence(index, d, terms) if explain and sel else []))
    return matches


def unique_labels(terms: list[Term]) -> list[str]:
    return list(dict.fromkeys(t.text for t in terms))


def blend_upvotes(index: PaperIndex, matches: list[Match], weight: float) -> list[Match]:
    """Reorder by score x (1 + weight x upvote share); selection is left as it was."""
    votes = {d.id: d.upvotes or 0 for d in index.docs[:index.n_day]}
    most = max(votes.values(), default=0) or 1
    key = lambda m: (not m.selected, -m.score * (1 + weight * math.log1p(votes.get(m.paper_id, 0)) / math.log1p(most)))
    return sorted(matches, key=key)


# ----------------------------------------------------------------------------- explanations
def evidence(index: PaperIndex, d: int, terms: list[Term]) -> list[Evidence]:
    doc = index.docs[d]
    out = []
    for term in dict.fromkeys(terms):
        if term.field == "author":
            name = next((a for a in doc.authors if term.text.lower() in a.lower()), term.text)
            out.append(Evidence(term.text, "authors", [(name, True)]))
            continue
        wanted = set(term_stems(term.text)) - STOP
        for fname, text in (("title", doc.title), ("abstract", doc.abstract)):
            snip = snippet(text, wanted)
            if snip:
                out.append(Evidence(term.text, fname, snip))
                break
    return out


def snippet(text: str, wanted: set[str]) -> list[tuple[str, bool]]:
    """A short window of ``text`` around the first hit, hits highlighted; [] when none."""
    toks = tokens(text)
    hits = [i for i, s in enumerate(stem_all([m.group().lower() for m in toks])) if s in wanted]
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
