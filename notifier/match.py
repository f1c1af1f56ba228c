"""Matching: score the day's papers against keyword profiles, select, explain. Pure, no I/O.

Each distinct term is resolved once per index into a score over every day paper (BM25F, title
weighted, IDF over all stored papers): the best of its spellings (itself, squashed, split,
abbreviation <-> long form), for a phrase also its words within a window (weighted lower) and
its words found apart (back-off). A profile's score is the weighted sum of its terms', gated by
exclusions and required terms, then adjusted by pseudo-relevance feedback: a matched paper
gains by its similarity to the profile's best matches. Profiles are scored in chunks, as
gathers over a (term x paper) matrix, so 10,000 profiles cost about what 10 would in a loop.

Selection: a share of the mean of the profile's TOP_MEAN best scores (RELATIVE_THRESHOLD, or the
subscriber's), lowered by the paper's own evidence (how like the best papers it reads, its term
score against what the profile's strongest term can score in one paper, its terms found as
written: a paper squarely about one term is sent though the best match them all) and raised
without it; a term score of at least ABSOLUTE_FLOOR of that most, or the share if lower (so a
thin day sends nothing rather than noise), some evidence beyond one back-off word of a phrase,
and within the cap. Votes (``feedback``) move matched papers up or down (Rocchio), never past
the evidence rules.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from notifier.explain import evidence
from notifier.index import (K1, RARE_SHARE, STOP, PaperIndex, as_doc, ranks, build_index, csr_positions, expand_csr,
                            rare_stems, stem_all, term_stems, unit_vector, words)
from notifier.models import Match
from notifier.profile import Profile, Term

__all__ = ["build_index", "match_profile", "match_profiles", "Matcher", "PaperIndex"]

LOOSE_FACTOR = 0.6          # all words of a phrase within a window, any order
BACKOFF_FACTOR = 1.0        # a phrase's words found apart
ABBREV_FACTOR = 0.9         # an abbreviation standing for the term (or the reverse)
RELATIVE_THRESHOLD = 0.4    # selected: >= this share of the profile's reference score (the
TOP_MEAN = 3                # mean of its TOP_MEAN best: one outstanding paper does not raise the bar) ...
ABSOLUTE_FLOOR = 0.4        # ... and a term score of at least this share (or the threshold, if lower) of what
                            # the profile's strongest term can score in one paper (a passing mention is not enough)
EVIDENCE_OFFSET = 2.2       # ... where the share is raised to exp(evidence - this), a paper's evidence being
FEEDBACK_EVIDENCE = 1.25    # this x its likeness to the profile's best papers (about 1: it reads as they read
FEEDBACK_CAP = 1.25         # one another; at most this), + ABSOLUTE_EVIDENCE x its term score over what the
ABSOLUTE_EVIDENCE = 1.4     # strongest term can score in one paper, + STRONG_EVIDENCE x the terms found in it
STRONG_EVIDENCE = 0.6       # as written: tuned on the judged set, held out on half of it (benchmarks/eval_matcher.py)
MAX_POWER = 3.0             # the share is raised at most to this power: a high threshold sends only papers near
                            # the best, whatever their evidence (0.9 -> 0.73 of the reference at least)
DEFAULT_MAX_ITEMS = 50      # a safety net: the thresholds decide; the pipeline passes its own (10)
PRF_DOCS = 5                # pseudo-relevance feedback: a matched paper gains its mean similarity
PRF_WEIGHT = 1.0            # to the profile's best PRF_DOCS papers x this x the top score
PRF_MIN_MATCHED = 10        # ... when the profile matches that many papers: its best ones are a sample (the
                            # ranking's concern: the selection measures likeness, and its floor ignores feedback)
PRF_MAX_PAPERS = 6000       # the similarity matrix is papers^2 floats: no feedback on bigger days
VOTE_TERMS = 30             # votes: the stems that set liked papers apart from disliked ones ...
VOTE_STRENGTH = 0.6         # ... move a matched paper by up to this x the profile's reference score
VOTE_SHARED = 2             # ... a liked stem counts only if that many liked papers share it (when they can)
VOTE_SIMILAR = 0.2          # the explanation counts the voted papers a match is at least this similar to
CHUNK_CELLS = 128 * 1024    # profiles x papers scored together: small enough to stay in the CPU cache


# ----------------------------------------------------------------------------- the caches
class Matcher:
    """What matching keeps between subscribers, and when it is dropped: the background corpus
    (term specificity is counted over it) and the indexes of the last ``kept`` candidate sets,
    each with the terms it has resolved. Subscribers due together mostly share their candidates,
    and an index costs about as much to build as matching hundreds of profiles on it. Both are
    dropped together when the stored papers change (``refresh``); nothing else holds them."""

    def __init__(self, load_background: Callable[[], list], kept: int = 4):
        self.load_background, self.kept = load_background, kept
        self.version: object = None
        self._background: list | None = None
        self.indexes: OrderedDict[tuple, PaperIndex] = OrderedDict()   # candidate ids -> index

    def refresh(self, version: object) -> None:
        """Start a batch: forget the background and the indexes if the papers' ``version`` changed."""
        if version != self.version:
            self.version, self._background = version, None
            self.indexes.clear()

    @property
    def background(self) -> list:
        if self._background is None:
            self._background = self.load_background()
        return self._background

    def index(self, papers: list) -> PaperIndex:
        """The index of these candidates (keyed by their ids in order), built once and shared."""
        key = tuple(p.arxiv_id for p in papers)
        if key in self.indexes:
            self.indexes.move_to_end(key)
            return self.indexes[key]
        index = build_index(papers, background=self.background)
        if self.kept:
            self.indexes[key] = index
        while len(self.indexes) > self.kept:
            self.indexes.popitem(last=False)
        return index


# ----------------------------------------------------------------------------- terms
@dataclass
class Resolved:
    """A term over the day papers: its score, where it appears (itself inflected, hyphenated,
    squashed or as its defined abbreviation: never its words merely near each other; only this
    excludes a paper or satisfies a required term), and where it has more evidence than one
    back-off word of a phrase (only that may select a paper)."""
    scores: np.ndarray          # float32
    strong: np.ndarray          # bool
    solid: np.ndarray           # bool


def resolve(index: PaperIndex, term: Term) -> Resolved:
    return resolve_author(index, term) if term.field == "author" else resolve_text(index, term)


def resolve_text(index: PaperIndex, term: Term) -> Resolved:
    fields = (0,) if term.field == "title" else (0, 1)
    scores = np.zeros(index.n_day, np.float32)
    for stems, factor, _ in variants(index, term.text):
        np.maximum(scores, factor * unit(index, stems, fields), out=scores)
    stems = term_stems(term.text)
    if len(stems) == 1:
        hit = scores > 0
        return Resolved(scores, hit, hit)
    strong = scores > 0         # the phrase itself appears: only this excludes or satisfies a +term
    np.maximum(scores, LOOSE_FACTOR * unit(index, stems, fields, loose=True), out=scores)
    content = [s for s in stems if s not in STOP] or list(stems)
    apart = [unit(index, (s,), fields) for s in content]
    np.maximum(scores, BACKOFF_FACTOR / math.sqrt(len(content)) * np.sum(apart, axis=0), out=scores)
    found = np.count_nonzero(apart, axis=0)
    solid = strong if term.compound else (scores > 0) & (strong | (found >= min(2, len(content))))
    return Resolved(scores, strong, solid)


def spellings(index: PaperIndex, term: Term) -> list[tuple[str, int]]:
    """How a term is found among the day papers: (each way, the number of papers found that
    way), for `notifier profile check`."""
    if term.field == "author":
        return [(f"author {term.text}", int(resolve_author(index, term).strong.sum()))]
    fields = (0,) if term.field == "title" else (0, 1)
    out = [(label + ("" if factor == 1.0 else f" (x{factor:g}, as the papers define it)"),
            int(np.count_nonzero(unit(index, stems, fields))))
           for stems, factor, label in variants(index, term.text)]
    stems = term_stems(term.text)
    if len(stems) > 1:
        r = resolve_text(index, term)
        window = unit(index, stems, fields, loose=True) > 0
        out += [(f"its words within {len(stems) + 3} of each other (x{LOOSE_FACTOR:g})", int(window.sum())),
                ("its words apart (ranked, sent only with more evidence)",
                 int(((r.scores > 0) & ~window & ~r.strong).sum()))]
    return out


def resolve_author(index: PaperIndex, term: Term) -> Resolved:
    want = words(term.text)
    hit = np.array([any(contains_seq(words(a), want) for a in d.authors)
                    for d in index.docs[:index.n_day]], bool).reshape(index.n_day)
    return Resolved(np.where(hit, index.idf(1), 0.0).astype(np.float32), hit, hit)


def contains_seq(seq: list[str], want: list[str]) -> bool:
    n = len(want)
    return any(seq[i:i + n] == want for i in range(len(seq) - n + 1))


def variants(index: PaperIndex, text: str) -> list[tuple[tuple[str, ...], float, str]]:
    """Spellings of a term with their factor and how to show them: itself, squashed (KV cache
    = KVCache), split (kvcache = kv cache), abbreviation <-> long form as the papers define."""
    ws = words(text)
    stems = tuple(stem_all(ws))
    out = [(stems, 1.0, " ".join(ws))]
    if len(ws) > 1:
        out.append((tuple(stem_all(["".join(ws)])), 1.0, "".join(ws)))
    elif ws:
        w = ws[0]
        out += [(tuple(stem_all([w[:i], w[i:]])), 1.0, f"{w[:i]} {w[i:]}") for i in range(2, len(w) - 1)
                if w[:i] in index.vocab and w[i:] in index.vocab]
    out += [((s,), ABBREV_FACTOR, index.spelled[s]) for s in frequent(index.long_to_short.get(stems))]
    if len(stems) == 1:
        out += [(lf, ABBREV_FACTOR, index.spelled[lf]) for lf in frequent(index.short_to_long.get(stems[0]))]
    return out


def frequent(counter) -> list:
    if not counter:
        return []
    top = max(counter.values())
    return [k for k, n in counter.items() if k and n * 2 >= top]


def unit(index: PaperIndex, stems: tuple[str, ...], fields=(0, 1), loose: bool = False) -> np.ndarray:
    """BM25F over the day papers of the stems in order (``loose``: all within a window of the
    first, any order), counted in ``fields`` (0 title, 1 abstract)."""
    if len(stems) == 1 and len(fields) == 2:
        return unit_vector(index, stems[0])
    key = ("unit", stems, fields, loose)
    if key not in index.cache:
        index.cache[key] = index.bm25f(occurrences(index, stems, fields, loose))
    return index.cache[key]


def occurrences(index: PaperIndex, stems, fields, loose: bool) -> np.ndarray:
    """The (paper * 2 + field) block of each occurrence of the stems' sequence (or window)."""
    lists = [index.positions(s) for s in stems]
    if not all(len(p) for p in lists):
        return np.zeros(0, np.int64)
    first = lists[0]
    ok = np.ones(len(first), bool)
    window = len(stems) + 3
    for k, later in enumerate(lists[1:], 1):
        if loose:
            ok &= np.searchsorted(later, first + window, "right") > np.searchsorted(later, first - window)
        else:
            at = np.minimum(np.searchsorted(later, first + k), len(later) - 1)
            ok &= later[at] == first + k
    block = index.blocks(first[ok])
    return block[block % 2 == fields[0]] if len(fields) == 1 else block


# ----------------------------------------------------------------------------- profiles
@dataclass
class Ranked:
    """One profile's matches, best first: day-paper numbers, scores, selected flags, and which
    positive terms matched as bits (term k = bit k; ``labels`` turns them into words). A term
    matched when it, a spelling of it or all its words are in the paper: one word of a phrase
    ranks a paper but is not claimed as a match."""
    profile: Profile
    docs: list[int]
    scores: list[float]
    selected: list[bool]
    codes: list[int]
    voting: tuple | None = None         # (index, vote vectors, signs) when the profile has votes
    counts: tuple | None = None         # per match: (liked, disliked) papers it resembles, once asked

    def blend(self, boost: list[float]) -> Ranked:
        """Reordered by score x the papers' upvote ``boost``, the selected ones first."""
        order = sorted(range(len(self.docs)),
                       key=lambda i: (not self.selected[i], -self.scores[i] * boost[self.docs[i]]))
        columns = (self.docs, self.scores, self.selected, self.codes)
        return Ranked(self.profile, *([column[i] for i in order] for column in columns), self.voting)

    def votes(self, i: int) -> tuple[int, int]:
        """(liked, disliked): how many of the papers voted on the i-th match resembles (cosine at
        least VOTE_SIMILAR), counted when asked: only explanations need it."""
        if self.voting is None:
            return 0, 0
        if self.counts is None:
            index, vectors, signs = self.voting
            similar = np.array([similarity_to(index, *vector)[self.docs] for vector in vectors]) >= VOTE_SIMILAR
            positive = np.array(signs) > 0
            self.counts = (similar[positive].sum(axis=0).tolist(), similar[~positive].sum(axis=0).tolist())
        return self.counts[0][i], self.counts[1][i]

    def terms(self, code: int) -> list[Term]:
        """The positive terms whose bits are set in ``code``."""
        return [t for k, t in enumerate(self.profile.positive) if code >> k & 1]

    def labels(self, code: int) -> list[str]:
        """The matched terms as written, each once."""
        return list(dict.fromkeys(t.text for t in self.terms(code)))


class TermMatrix:
    """Every term resolved on an index, a row each over the day papers (scores, strong, solid),
    kept in the index's cache, so a term is resolved once per batch however many profiles share
    it. Row 0 matches nothing; row 1 is strong everywhere (the padding of required terms)."""

    def __init__(self, index: PaperIndex):
        self.index, self.row, self.n = index, {}, 2
        self.scores = np.zeros((64, index.n_day), np.float32)
        self.strong = np.zeros((64, index.n_day), bool)
        self.solid = np.zeros((64, index.n_day), bool)
        self.ceiling = np.zeros(64, np.float32)     # per row: what one occurrence-rich paper could score
        self.strong[1] = True

    @classmethod
    def of(cls, index: PaperIndex) -> TermMatrix:
        if "terms" not in index.cache:
            index.cache["terms"] = cls(index)
        return index.cache["terms"]

    def add(self, term: Term) -> int:
        key = term.key
        if key not in self.row:
            if self.n == len(self.scores):
                for name in ("scores", "strong", "solid", "ceiling"):
                    old = getattr(self, name)
                    setattr(self, name, np.concatenate([old, np.zeros_like(old)]))
            r = resolve(self.index, term)
            self.scores[self.n], self.strong[self.n], self.solid[self.n] = r.scores, r.strong, r.solid
            self.ceiling[self.n] = ceiling(self.index, term)
            self.row[key] = self.n
            self.n += 1
        return self.row[key]


def ceiling(index: PaperIndex, term: Term) -> float:
    """About the most a term can score in one paper: BM25F's saturation x the IDF of its rarest
    word (a word no stored paper has counts as found in one)."""
    if term.field == "author":
        return float(index.idf(1))
    stems = [s for s in term_stems(term.text) if s not in STOP] or list(term_stems(term.text))
    df = min((int(index.df[index.sid[s]]) for s in stems if s in index.sid), default=1)
    return float(index.idf(max(df, 1))) * (K1 + 1)


class Batch:
    """Profiles as padded arrays of term rows (and weights), looked up once for the whole batch."""

    def __init__(self, matrix: TermMatrix, profiles: list[Profile]):
        self.profiles = profiles
        positive, excluded, required, weights = [], [], [], []
        for p in profiles:
            pos, exc, req, w = [], [], [], []
            for t in p.terms:
                row = matrix.add(t)
                if t.mode == "exclude":
                    exc.append(row)
                    continue
                pos.append(row)
                w.append(t.weight)
                if t.mode == "required":
                    req.append(row)
            positive.append(pos), excluded.append(exc), required.append(req), weights.append(w)
        self.positive, self.excluded, self.required = padded(positive, 0), padded(excluded, 0), padded(required, 1)
        self.weights = None
        if any(w != 1.0 for ws in weights for w in ws):
            self.weights = np.zeros(self.positive[0].shape, np.float32)
            self.weights[self.positive[0] >= 2] = [w for ws in weights for w in ws]

    def chunk(self, lo: int, hi: int):
        """-> (profiles, positive rows, their weights or None, excluded rows, required rows),
        each as wide as the chunk's widest profile needs."""
        def cut(rows_counts: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
            rows, counts = rows_counts
            return rows[lo:hi, :int(counts[lo:hi].max(initial=0))]
        positive = cut(self.positive)
        weights = None if self.weights is None else self.weights[lo:hi, :positive.shape[1]]
        return self.profiles[lo:hi], positive, weights, cut(self.excluded), cut(self.required)


def padded(rows: list[list[int]], pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Lists of rows -> (a matrix padded with ``pad`` on the right, each list's length)."""
    counts = np.array([len(r) for r in rows], np.int64)
    out = np.full((len(rows), int(counts.max(initial=0))), pad, np.int64)
    out[np.repeat(np.arange(len(rows)), counts), ranks(counts)] = [x for r in rows for x in r]
    return out, counts


def match_profiles(index: PaperIndex, profiles: list[Profile], *, max_items: int | None = None,
                   threshold: float | None = None, upvote_weight: float = 0.0, selected_only: bool = False,
                   feedback: list[list] | None = None):
    """Yield a ``Ranked`` per profile, in order: every day paper scoring above zero, or with
    ``selected_only`` just the selected ones. ``threshold`` is the share of each profile's
    reference score a paper of ordinary evidence needs to be selected (default RELATIVE_THRESHOLD,
    see ``Bar``; below ABSOLUTE_FLOOR it lowers the floor too): lower sends more, higher fewer.
    ``upvote_weight`` > 0 blends HF upvotes into the order, never into what is selected.
    ``feedback``: per profile, its subscriber's votes as ``(paper, +1 | -1)`` (a ``Paper`` or a
    dict with id, title, abstract; from any day): matched papers like the liked ones rise, like
    the disliked ones fall; a paper the profile does not match stays unmatched."""
    if not index.n_day:
        yield from (Ranked(p, [], [], [], []) for p in profiles)
        return
    cap = max_items or DEFAULT_MAX_ITEMS
    share = RELATIVE_THRESHOLD if threshold is None else threshold
    boost = upvote_boost(index, upvote_weight) if upvote_weight else None
    matrix = TermMatrix.of(index)
    batch = Batch(matrix, profiles)
    if uses_prf(index):
        similarity(index)
    size = max(1, CHUNK_CELLS // max(index.n_day, 1))

    for lo in range(0, len(profiles), size):
        chunk, positive, weights, excluded, required = batch.chunk(lo, lo + size)
        totals, solid, likeness = score_chunk(index, matrix, positive, weights, excluded, required)
        refs = reference(totals)
        strongest = matrix.ceiling[positive] * (1.0 if weights is None else weights)
        bar = Bar(share, refs, strongest.max(axis=1), likeness, matrix, positive, weights)
        voting = apply_votes(index, totals, refs, feedback[lo:lo + size], chunk) if feedback else {}
        ranked = rank_chunk(index, matrix, chunk, totals, solid, positive, bar, cap, selected_only)
        ranked = (replace(r, voting=voting[i]) if i in voting else r for i, r in enumerate(ranked))
        yield from (r.blend(boost) for r in ranked) if upvote_weight else ranked


def score_chunk(index: PaperIndex, matrix: TermMatrix, positive: np.ndarray, weights, excluded: np.ndarray,
                required: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (totals, solid, likeness), each (profiles x day papers): a paper's total is above zero
    iff it is matched and passes the exclusions and required terms; its likeness to the profile's
    best papers is 0 where there is no feedback (see ``pseudo_feedback``)."""
    totals = matrix.scores[positive[:, 0]]
    solid = matrix.solid[positive[:, 0]]
    if weights is not None:
        totals *= weights[:, :1]
    part = np.empty_like(totals)
    for k in range(1, positive.shape[1]):
        np.take(matrix.scores, positive[:, k], axis=0, out=part)
        if weights is not None:
            part *= weights[:, k, None]
        totals += part
        solid |= matrix.solid[positive[:, k]]
    if excluded.size or required.size:
        gates = np.ones(totals.shape, bool)
        for rows in excluded.T:
            gates &= ~matrix.strong[rows]
        for rows in required.T:
            gates &= matrix.strong[rows]
        totals *= gates
    if not uses_prf(index):
        return totals, solid, np.zeros(totals.shape, np.float32)
    added, likeness = pseudo_feedback(index, totals)
    totals += added
    return totals, solid, likeness


def upvote_boost(index: PaperIndex, weight: float) -> list[float]:
    """Per day paper: 1 + weight x its upvotes' share of the day's most (log-scaled)."""
    votes = np.log1p([d.upvotes or 0 for d in index.docs[:index.n_day]])
    return (1 + weight * votes / (votes.max(initial=0) or 1.0)).tolist()


def uses_prf(index: PaperIndex) -> bool:
    return PRF_DOCS > 0 and 1 < index.n_day <= PRF_MAX_PAPERS


def pseudo_feedback(index: PaperIndex, totals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pseudo-relevance feedback for a chunk of profiles: each matched paper gains
    PRF_WEIGHT x the profile's top score x its mean similarity to the profile's
    PRF_DOCS best papers. Papers that say the same thing in other words move up; a paper
    cannot be selected on it alone (it is not 'solid' evidence). -> (what each paper gains,
    its likeness: that mean similarity over the one the best papers have among themselves, so
    about 1 for a paper that reads like them whatever the similarity's scale; 0 unmatched)."""
    sim = similarity(index)
    remaining = totals.copy()
    every = np.arange(len(totals))
    mean = np.zeros(totals.shape, np.float32)
    n_best = np.zeros(len(totals), np.int64)
    chosen = []
    for _ in range(min(PRF_DOCS, totals.shape[1])):    # the best papers, one argmax at a time
        best = remaining.argmax(axis=1)
        found = remaining[every, best] > 0
        mean += sim[best] if found.all() else sim[best] * found[:, None]
        n_best += found
        chosen.append((best, found))
        remaining[every, best] = 0.0
    mean /= np.maximum(n_best, 1)[:, None].astype(np.float32)
    mean *= totals > 0
    among = sum(mean[every, best] * found for best, found in chosen) / np.maximum(n_best, 1)
    likeness = mean / np.maximum(among, 1e-6).astype(np.float32)[:, None]
    likeness *= ((n_best >= 2) & (among > 0))[:, None]     # best papers with nothing in common: no likeness
    enough = (n_best >= 2) & (np.count_nonzero(totals > 0, axis=1) >= PRF_MIN_MATCHED)
    return mean * np.where(enough, PRF_WEIGHT * totals.max(axis=1), 0.0).astype(np.float32)[:, None], likeness


def similarity(index: PaperIndex) -> np.ndarray:
    """(day paper x day paper) cosine similarity over their rare stems, each weighted by its
    BM25F score in the paper (IDF x saturated, title-weighted frequency: what a paper is about
    counts more than a passing word), computed once per index, a block of stems at a time; 0 on
    the diagonal."""
    if "similarity" not in index.cache:
        ptr, cols, weight = rare_stems(index)
        n, n_cols = index.n_day, int(cols.max(initial=-1)) + 1
        rows = np.repeat(np.arange(n), np.diff(ptr))
        norms = np.sqrt(np.bincount(rows, weights=weight.astype(np.float64) ** 2, minlength=n))
        sim = np.zeros((n, n), np.float32)
        for lo in range(0, n_cols, 1024):
            block = np.zeros((n, min(1024, n_cols - lo)), np.float32)
            inside = (cols >= lo) & (cols < lo + 1024)
            block[rows[inside], cols[inside] - lo] = weight[inside]
            sim += block @ block.T
        sim /= np.maximum(np.outer(norms, norms), 1e-9).astype(np.float32)
        np.fill_diagonal(sim, 0.0)
        index.cache["similarity"] = sim
    return index.cache["similarity"]


# ----------------------------------------------------------------------------- votes
def apply_votes(index: PaperIndex, totals: np.ndarray, refs: np.ndarray, feedback: list[list],
                profiles: list[Profile]) -> dict:
    """For the profiles of a chunk that have votes, Rocchio over the index's term weights: the
    VOTE_TERMS stems that most set the liked papers apart from the disliked ones (the profile's
    own words left out: they already count) score every day paper by BM25F; a matched paper
    gains up to VOTE_STRENGTH x the profile's reference score by it (or loses, for stems of the
    disliked papers, never below a hundredth of its own score: it stays matched, and an
    unmatched paper stays unmatched). -> per voting profile, (the index, its vote vectors, their signs)."""
    voting = {}
    for i, votes in enumerate(feedback):
        if not votes:
            continue
        vectors = [paper_vector(index, paper) for paper, _ in votes]
        signs = [1 if vote > 0 else -1 for _, vote in votes]
        row = totals[i]
        shift = rocchio(index, vectors, signs, own_stems(index, profiles[i]), row > 0)
        np.maximum(row + refs[i] * shift * (row > 0), row * 0.01, out=row)
        voting[i] = (index, vectors, signs)
    return voting


def rocchio(index: PaperIndex, vectors: list, signs: list[int], own: np.ndarray, matched: np.ndarray) -> np.ndarray:
    """The liked papers' mean vector minus the disliked ones', cut to its VOTE_TERMS strongest
    stems (not ``own``; a liked stem only if VOTE_SHARED liked papers have it), as a query over
    the day papers; scaled so the matched papers' strongest response is VOTE_STRENGTH."""
    n_liked, n_disliked = max(signs.count(1), 1), max(signs.count(-1), 1)
    ids = np.concatenate([v[0] for v in vectors])
    w = np.concatenate([v[1] * (1 / n_liked if sign > 0 else -1 / n_disliked) for v, sign in zip(vectors, signs)])
    stems, at = np.unique(ids, return_inverse=True)
    if not len(stems):
        return np.zeros(index.n_day, np.float32)
    centroid = np.bincount(at, weights=w, minlength=len(stems))
    shared = np.bincount(at, weights=w > 0, minlength=len(stems))
    centroid[(centroid > 0) & (shared < min(VOTE_SHARED, signs.count(1)))] = 0.0     # one paper's quirks
    mine = np.minimum(np.searchsorted(stems, own), len(stems) - 1)
    centroid[mine[stems[mine] == own]] = 0.0
    top = np.argsort(-np.abs(centroid), kind="stable")[:VOTE_TERMS]
    top = top[centroid[top] != 0]
    rows, at = csr_positions(index.unit_ptr, stems[top])
    response = np.bincount(index.unit_doc[at], weights=centroid[top][rows] * index.unit_score[at],
                           minlength=index.n_day)
    strongest = np.abs(response[matched]).max(initial=0) or 1.0
    return (VOTE_STRENGTH * response / strongest).astype(np.float32)


def own_stems(index: PaperIndex, profile: Profile) -> np.ndarray:
    return np.array([index.sid[s] for t in profile.terms for s in term_stems(t.text) if s in index.sid], np.int64)


def vote_space(index: PaperIndex) -> tuple[np.ndarray, np.ndarray]:
    """Built once per index: each stem's weight when papers are compared (its IDF; 0 for stems
    in more than 1/RARE_SHARE of the corpus (and in more than one paper), stop words and
    numbers) and each day paper's norm."""
    if "vote_space" not in index.cache:
        weight = index.idf(index.df).astype(np.float32)
        weight[index.df > max(1, index.n_docs // RARE_SHARE)] = 0.0
        for s, i in index.sid.items():
            if s in STOP or s.isdigit():
                weight[i] = 0.0
        day_df = np.diff(index.unit_ptr)
        stem = np.repeat(np.arange(len(day_df)), day_df)
        norms = np.sqrt(np.bincount(index.unit_doc, weights=weight[stem] ** 2, minlength=index.n_day))
        index.cache["vote_space"] = (weight, np.maximum(norms, 1e-9).astype(np.float32))
    return index.cache["vote_space"]


def paper_vector(index: PaperIndex, paper) -> tuple[np.ndarray, np.ndarray]:
    """A paper (a day paper, or one from any other day seen through the index's vocabulary) as
    its distinct stems' ids and IDF weights, of unit length; kept per index (many subscribers
    vote on the same papers)."""
    doc = as_doc(paper)
    key = ("vector", doc.id, doc.title, doc.abstract)
    if key not in index.cache:
        weight, _ = vote_space(index)
        stems = {index.sid.get(s) for s in stem_all(words(doc.title + " " + doc.abstract))} - {None}
        ids = np.array(sorted(stems), np.int64)
        ids = ids[weight[ids] > 0]
        w = weight[ids].astype(np.float64)
        index.cache[key] = (ids, w / max(float(np.sqrt((w * w).sum())), 1e-9))
    return index.cache[key]


def similarity_to(index: PaperIndex, ids: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Cosine similarity of a paper vector to every day paper."""
    weight, norms = vote_space(index)
    rows, docs = expand_csr(index.unit_ptr, index.unit_doc, ids)
    return np.bincount(docs, weights=(w * weight[ids])[rows], minlength=index.n_day) / norms


def rank_chunk(index: PaperIndex, matrix: TermMatrix, chunk: list[Profile], totals: np.ndarray, solid: np.ndarray,
               positive: np.ndarray, bar: Bar, cap: int, selected_only: bool):
    """Yield each profile's ``Ranked``: its papers by score (ties in input order), flagged
    selected when solid, passing the ``bar`` and among the profile's first ``cap`` to."""
    if selected_only:
        prof, doc = np.nonzero((totals >= bar.floor()[:, None]) & solid)
        keep = bar.sends(prof, doc, totals[prof, doc], solid)
        prof, doc = prof[keep], doc[keep]
    else:
        prof, doc = np.nonzero(totals > 0)
    values = totals[prof, doc]
    order = np.argsort(prof * (2.0 * float(values.max(initial=0)) + 1.0) - values, kind="stable")
    prof, doc, values = prof[order], doc[order], values[order]
    flags = np.ones(len(prof), bool) if selected_only else bar.sends(prof, doc, values, solid)
    flags[flags] = ranks(np.bincount(prof[flags], minlength=len(chunk))) < cap
    if selected_only:
        prof, doc, values, flags = prof[flags], doc[flags], values[flags], flags[flags]
    first = np.searchsorted(prof, np.arange(len(chunk) + 1))
    codes = np.zeros(len(prof), np.int64)
    for k in range(positive.shape[1]):
        codes |= matrix.solid[positive[prof, k], doc].astype(np.int64) << k
    docs, scores = doc.tolist(), values.astype(np.float64).round(4).tolist()
    flags, codes, first = flags.tolist(), codes.tolist(), first.tolist()
    for i, profile in enumerate(chunk):
        a, b = first[i], first[i + 1]
        yield Ranked(profile, docs[a:b], scores[a:b], flags[a:b], codes[a:b])


@dataclass
class Bar:
    """What a chunk's profiles ask of a paper before it is sent: a score of at least
    ``share ** min(exp(evidence - EVIDENCE_OFFSET), MAX_POWER)`` of the profile's reference. The
    evidence does not hang on how well the day's best papers match, nor on how strongly feedback
    is weighted: its likeness to the profile's best papers (against theirs to one another), its
    term score against what the profile's strongest term can score in one paper, each term found
    as written. Strong evidence lowers the bar (to share ** MAX_POWER at most, so a high share
    still asks for papers near the best), weak raises it towards the reference, which always
    suffices. And a term score, without feedback or votes, of at least the lesser of
    ABSOLUTE_FLOOR and the share of that most: a thin day sends nothing at the default, a low
    share lowers the floor too (it asks for nearly anything matched)."""
    share: float
    refs: np.ndarray            # per profile: the mean of its TOP_MEAN best scores
    ceilings: np.ndarray        # per profile: what its strongest term can score in one paper
    likeness: np.ndarray        # per profile and paper: how like the profile's best it reads (~1: as they do)
    matrix: TermMatrix
    positive: np.ndarray        # the profiles' term rows, and their weights (or None)
    weights: np.ndarray | None

    def floor(self) -> np.ndarray:
        return min(ABSOLUTE_FLOOR, self.share) * self.ceilings

    def sends(self, prof: np.ndarray, doc: np.ndarray, values: np.ndarray, solid: np.ndarray) -> np.ndarray:
        """Per (profile, paper) pair with its score: whether it is solid and passes the bar (the
        evidence is worked out only for the solid pairs above the floor)."""
        ref, ceiling, floor = self.refs[prof], self.ceilings[prof], self.floor()[prof]
        out = (values >= floor) & solid[prof, doc]
        at = np.flatnonzero(out)
        lexical, strong = self.terms(prof[at], doc[at])
        like = np.minimum(self.likeness[prof[at], doc[at]], FEEDBACK_CAP)
        evidence = FEEDBACK_EVIDENCE * like + ABSOLUTE_EVIDENCE * lexical / ceiling[at] + STRONG_EVIDENCE * strong
        share = self.share ** np.minimum(np.exp(evidence - EVIDENCE_OFFSET), MAX_POWER)
        out[at] = (values[at] >= share * ref[at]) & (lexical >= floor[at])
        return out

    def terms(self, prof: np.ndarray, doc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per pair: its score from the profile's terms alone (no feedback, no votes) and how
        many of them appear in the paper as written."""
        lexical = np.zeros(len(prof), np.float32)
        strong = np.zeros(len(prof), np.int64)
        scores, found, width = self.matrix.scores.ravel(), self.matrix.strong.ravel(), self.matrix.scores.shape[1]
        for k in range(self.positive.shape[1]):
            cell = self.positive[prof, k] * width + doc
            lexical += scores[cell] if self.weights is None else scores[cell] * self.weights[prof, k]
            strong += found[cell]
        return lexical, strong


def reference(totals: np.ndarray) -> np.ndarray:
    """Per profile, the mean of its TOP_MEAN best scores above zero (the bar selection is relative
    to), one argmax at a time (several times faster than a partition)."""
    rest, rows = totals.copy(), np.arange(len(totals))
    total, count = np.zeros(len(totals)), np.zeros(len(totals))
    for _ in range(min(TOP_MEAN, totals.shape[1])):
        best = rest.argmax(axis=1)
        value = rest[rows, best]
        total += value
        count += value > 0
        rest[rows, best] = 0.0
    return total / np.maximum(count, 1)


def match_profile(index: PaperIndex, profile: Profile, *, max_items: int | None = None,
                  threshold: float | None = None, upvote_weight: float = 0.0, explain: bool = True,
                  selected_only: bool = False, feedback: list | None = None) -> list[Match]:
    """Every day paper scoring above zero (or only the selected ones), best first, ``selected``
    set; evidence for the selected ones when ``explain``; ``feedback``: the subscriber's votes,
    ``[(paper, +1 | -1), ...]``."""
    [ranked] = match_profiles(index, [profile], max_items=max_items, threshold=threshold,
                              upvote_weight=upvote_weight, selected_only=selected_only,
                              feedback=[feedback] if feedback else None)
    docs = index.docs
    matches = []
    for i, (d, score, sel, code) in enumerate(zip(ranked.docs, ranked.scores, ranked.selected, ranked.codes)):
        liked, disliked = ranked.votes(i)
        matches.append(Match(docs[d].id, score, sel, ranked.labels(code),
                             evidence(index, d, ranked.terms(code)) if explain and sel else [], liked, disliked))
    return matches
