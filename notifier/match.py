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
written; most of all, one term scoring near what that term can score in one paper: a paper
squarely about one term is sent though the best match them all) and raised without it; a term
score of at least ABSOLUTE_FLOOR of that most, or the share if lower (so a thin day sends
nothing rather than noise; UNWRITTEN_FLOOR times it without a term as written), some evidence beyond one back-off word of a phrase, and within the
cap. Votes (``feedback``, see ``votes.py``) move matched papers up or down, so they decide
which fill a full digest; the bar judges the scores before votes. Weights (``moe^2``) likewise move
their term's papers against the bar, never the bar: it is the profile's with every term at one
weight (``level_weights``), so boosting one term does not drop the others' papers. Nor does a term no
stored paper has: it can score nothing, so it is not the strongest term (``ceiling``).
"""
from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain, islice

import numpy as np

from notifier.explain import evidence
from notifier.index import (K1, STOP, PaperIndex, best_in_turn, build_index, csr_positions, ranks, rare_stems, stem_all,
                            term_stems, unit_vector, words)
from notifier.models import Match
from notifier.profile import Profile, Term
from notifier.votes import VOTE_KEPT_CELLS, VOTE_SIMILAR, apply_votes, resemblance, rocchio_weights

__all__ = ["build_index", "match_profile", "match_profiles", "matches_of", "Matcher", "PaperIndex"]

LOOSE_FACTOR = 0.6          # all words of a phrase within a window, any order
BACKOFF_FACTOR = 1.0        # a phrase's words found apart (a word two phrases share backs off in each: counted once, the
                            # 24 profiles fell, tests/test_match_shared_words.py)
ABBREV_FACTOR = 0.9         # an abbreviation standing for the term (or the reverse)
RELATIVE_THRESHOLD = 0.4    # selected: >= this share of the profile's reference score (the
TOP_MEAN = 3                # mean of its TOP_MEAN best: one outstanding paper does not raise the bar) ...
ABSOLUTE_FLOOR = 0.4        # ... and a term score of at least this share (or the threshold, if lower) of what
                            # the profile's strongest term can score in one paper (a passing mention is not enough),
UNWRITTEN_FLOOR = 1.25      # this x that for a paper with none of the profile's terms as written (only a phrase's
                            # words apart): on a day of 40 papers judged irrelevant, 9 sent over 24 profiles, not 22
EVIDENCE_OFFSET = 2.2       # ... where the share is raised to exp(evidence - this), a paper's evidence being
FEEDBACK_EVIDENCE = 1.25    # this x its likeness to the profile's best papers (about 1: it reads as they read
FEEDBACK_CAP = 1.25         # one another; at most this), + ABSOLUTE_EVIDENCE x its term score over what the
ABSOLUTE_EVIDENCE = 1.4     # strongest term can score in one paper, + STRONG_EVIDENCE x the terms found in it
STRONG_EVIDENCE = 0.6       # as written: tuned on the judged set, held out on half of it (benchmarks/eval_matcher.py)
MAX_POWER = 3.0             # the share is raised at most to this power: a high threshold sends only papers near
                            # the best, whatever their evidence (0.9 -> 0.73 of the reference at least)
SQUARELY = 0.8              # ... and to it for a paper squarely about one term: the term (more than one back-off
                            # word of it) scores at least this share of what it can score in one paper
STRONG, SQUARE = 1, 2       # TermMatrix.flags' bits
DEFAULT_MAX_ITEMS = 50      # a safety net: the thresholds decide; the pipeline passes its own (10)
PRF_DOCS = 5                # pseudo-relevance feedback: a matched paper gains its mean similarity
PRF_WEIGHT = 1.0            # to the profile's best PRF_DOCS papers x this x the top score
PRF_MIN_MATCHED = 10        # ... when the profile matches that many papers: its best ones are a sample (the
                            # ranking's concern: the selection measures likeness, and its floor ignores feedback)
PRF_MAX_PAPERS = 6000       # the similarity matrix is papers^2 floats: no feedback on bigger days
CHUNK_CELLS = 512 * 1024    # profiles x papers scored together: a chunk's matrices fit in the L2/L3 cache, and
                            # its ~100 array operations' fixed cost is spread over 4x the profiles of 128 K


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
    stems = term_stems(term.text)
    for spelling, factor, _ in variants(index, term.text):
        np.maximum(scores, spelled(index, spelling, factor, fields, stems), out=scores)
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
    stems = term_stems(term.text)
    out = [(label + ("" if factor == 1.0 else f" (x{factor:g}, as the papers define it)"),
            int(np.count_nonzero(spelled(index, spelling, factor, fields, stems))))
           for spelling, factor, label in variants(index, term.text)]
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


def spelled(index: PaperIndex, spelling: tuple[str, ...], factor: float, fields, term: tuple[str, ...]) -> np.ndarray:
    """A spelling's BM25F over the day papers x its ``factor``; an abbreviation standing for the
    ``term`` counts nowhere it is defined as something else."""
    found = factor * unit(index, spelling, fields)
    if factor == ABBREV_FACTOR and len(spelling) == 1:
        found[defined_otherwise(index, spelling[0], term)] = 0.0
    return found


def defined_otherwise(index: PaperIndex, short: str, long: tuple[str, ...]) -> list[int]:
    """The day papers that define the abbreviation ``short`` as something with none of the words
    of ``long``: there it is not the term ("test-time scaling (TTS)" is no text-to-speech paper)."""
    own = set(long) - STOP
    return [d for d, other in index.defined.get(short, ()) if not own & set(other)]


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
        fill_units(index, [key])
    return index.cache[key]


def prefetch_units(index: PaperIndex, terms: list[Term]) -> None:
    """Work out together the units that resolving these terms asks ``unit`` for: each phrase
    (or title-only word) as written and, for a phrase, its words within a window."""
    keys = {}
    for term in (t for t in terms if t.field != "author"):
        stems, fields = term_stems(term.text), (0,) if term.field == "title" else (0, 1)
        if len(stems) > 1 or len(fields) == 1:
            keys[("unit", stems, fields, False)] = True
        if len(stems) > 1:
            keys[("unit", stems, fields, True)] = True
    fill_units(index, [key for key in keys if key not in index.cache])


def fill_units(index: PaperIndex, keys: list[tuple]) -> None:
    """Each unit's BM25F row (``unit``'s ``key``) into the index's cache, scored together: a few
    array operations for them all, not ~12 for each unit."""
    found = [occurrences(index, stems, fields, loose) for _, stems, fields, loose in keys]
    unit = np.repeat(np.arange(len(keys)), [len(blocks) for blocks in found])
    index.cache.update(zip(keys, index.bm25f(unit, np.concatenate([np.zeros(0, np.int64), *found]), len(keys))))


def occurrences(index: PaperIndex, stems, fields, loose: bool) -> np.ndarray:
    """The (paper * 2 + field) block of each occurrence of the stems' sequence (or window)."""
    lists = [index.positions(s) for s in stems]
    if not all(len(p) for p in lists):
        return np.zeros(0, np.int64)
    first = within_window(lists) if loose else in_sequence(lists)
    block = index.blocks(first)
    return block[block % 2 == fields[0]] if len(fields) == 1 else block


def in_sequence(lists: list[np.ndarray]) -> np.ndarray:
    """The positions of the first stem followed by the others in turn (``lists``: each stem's
    positions, sorted), looked for from the rarest stem on and among fewer candidates after each
    (a phrase's common first word, "large", has 100x the positions of its rare one)."""
    rarest = min(range(len(lists)), key=lambda k: len(lists[k]))
    first = lists[rarest] - rarest
    for k, later in sorted(enumerate(lists), key=lambda kl: len(kl[1])):
        if k != rarest and len(first):
            at = np.minimum(np.searchsorted(later, first + k), len(later) - 1)
            first = first[later[at] == first + k]
    return first


def within_window(lists: list[np.ndarray]) -> np.ndarray:
    """The positions of the first stem with each other stem within len(lists) + 3 of it (either
    side), the candidates fewer after each stem."""
    first, window = lists[0], len(lists) + 3
    for later in lists[1:]:
        first = first[np.searchsorted(later, first + window, "right") > np.searchsorted(later, first - window)]
    return first


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
    voting: tuple | None = None         # (index, papers voted on, signs, directions) when the profile has votes
    counts: tuple | None = None         # per match: (liked, disliked) papers it resembles, once asked
    past_cap: list[int] = field(default_factory=list)   # day papers that passed the bar past max_items

    def blend(self, boost: list[float]) -> Ranked:
        """Reordered by score x the papers' upvote ``boost``, the selected ones first."""
        order = sorted(range(len(self.docs)),
                       key=lambda i: (not self.selected[i], -self.scores[i] * boost[self.docs[i]]))
        columns = (self.docs, self.scores, self.selected, self.codes)
        return Ranked(self.profile, *([column[i] for i in order] for column in columns), self.voting,
                      past_cap=self.past_cap)

    def votes(self, i: int) -> tuple[int, int]:
        """(liked, disliked): how many of the liked papers the i-th match resembles (cosine at
        least VOTE_SIMILAR by stems or by phrases) if the votes moved it up, of the disliked ones
        if they moved it down; counted when asked: only explanations need it."""
        if self.voting is None:
            return 0, 0
        if self.counts is None:
            index, papers, signs, moved = self.voting
            similar = np.array([resemblance(index, paper)[self.docs] for paper in papers]) >= VOTE_SIMILAR
            positive, moved = np.array(signs) > 0, moved[self.docs]
            self.counts = ((similar[positive].sum(axis=0) * (moved > 0)).tolist(),
                           (similar[~positive].sum(axis=0) * (moved < 0)).tolist())
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
        self._flags: tuple = (0, SQUARELY, None)    # (rows done, at what SQUARELY, ``flags``)
        self.strong[1] = True

    @classmethod
    def of(cls, index: PaperIndex) -> TermMatrix:
        if "terms" not in index.cache:
            index.cache["terms"] = cls(index)
        return index.cache["terms"]

    def flags(self) -> np.ndarray:
        """Per row and day paper, as bits: STRONG where the term appears as written, SQUARE where the
        paper is squarely about it: more than one back-off word of it (solid), scoring at least
        SQUARELY of what it can score in one paper. Worked out for the rows filled since last asked
        (for all of them again if SQUARELY changed: the eval tunes it), one gather tells both."""
        done, squarely, flags = self._flags
        if flags is None or len(flags) != len(self.scores) or squarely != SQUARELY:
            done, flags = 0, np.zeros(self.scores.shape, np.uint8)
        new = slice(done, self.n)
        square = self.scores[new] >= SQUARELY * self.ceiling[new, None]
        square &= self.solid[new]
        bits = flags[new]                                   # in place: no int64 (terms x papers) temporaries
        bits[...] = square
        bits *= SQUARE
        bits |= self.strong[new] * np.uint8(STRONG)
        self._flags = (self.n, SQUARELY, flags)
        return flags

    def at(self, rows: np.ndarray, doc: np.ndarray) -> np.ndarray:
        """Where each (term row, day paper) cell is in the matrices raveled (``solid.ravel()[at]``):
        one index array gathers ~1.6x faster than the pair (``solid[rows, doc]``)."""
        return rows * self.scores.shape[1] + doc

    def add(self, term: Term) -> int:
        """The term's row, resolved into the next free one if new (``rows`` makes the room)."""
        key = term.key
        if key not in self.row:
            r = resolve(self.index, term)
            self.scores[self.n], self.strong[self.n], self.solid[self.n] = r.scores, r.strong, r.solid
            author = term.field == "author"     # an author scores the same in every paper of theirs
            self.ceiling[self.n] = float(r.scores.max(initial=0.0)) if author else ceiling(self.index, term)
            self.row[key] = self.n
            self.n += 1
        return self.row[key]

    def reserve(self, more: int) -> None:
        """Room for ``more`` rows beyond those filled, made at once for a batch (at 10,000 papers
        a row is 60 kB: doubling as terms arrive held up to three times what they need), or a
        quarter more when a kept index grows again: one-profile batches do not copy it each time."""
        if self.n + more > len(self.scores):
            for name in ("scores", "strong", "solid", "ceiling"):
                old = getattr(self, name)
                grown = np.zeros((self.n + max(more, self.n // 4), *old.shape[1:]), old.dtype)
                grown[:self.n] = old[:self.n]
                setattr(self, name, grown)

    def rows(self, terms: list[Term]) -> np.ndarray:
        """Each term's row, resolving the new ones (the plain words all at once)."""
        new = {t.key: t for t in terms if t.key not in self.row}
        self.reserve(len(new))
        self.add_words(list(new.values()))
        prefetch_units(self.index, list(new.values()))
        return np.array([self.add(t) for t in terms], np.int64)

    def add_words(self, terms: list[Term]) -> None:
        """Resolve together the terms that are one word with no other spelling, in title and
        abstract: each is its stem's BM25F row (as ``unit_vector`` has it), found where it scores."""
        index = self.index
        words = [(t, v[0][0][0]) for t in terms if t.field is None and len(term_stems(t.text)) == 1
                 and len(v := variants(index, t.text)) == 1]
        if not words:
            return
        rows = np.arange(self.n, self.n + len(words))
        stems = np.array([index.sid.get(stem, -1) for _, stem in words], np.int64)
        which, at = csr_positions(index.unit_ptr, stems[stems >= 0])
        self.scores[rows[stems >= 0][which], index.unit_doc[at]] = index.unit_score[at]
        self.strong[rows] = self.solid[rows] = self.scores[rows] > 0
        for (term, _), r in zip(words, rows.tolist()):
            self.ceiling[r], self.row[term.key] = ceiling(index, term), r
        self.n += len(words)


def ceiling(index: PaperIndex, term: Term) -> float:
    """About the most a term can score in one paper: BM25F's saturation x the IDF of its rarest
    word the stored papers have, in the first of its spellings (``variants``) they have a word of;
    0 for a term no stored paper has in any spelling: it can score nothing, so it does not raise
    the floor the profile's other terms' papers meet (a typo, a topic not seen yet). (An author's:
    what it scores, the same in every paper of theirs, in the day papers: ``TermMatrix.add``.)"""
    for spelling, _, _ in variants(index, term.text):
        stems = [s for s in spelling if s not in STOP] or list(spelling)
        df = min((int(index.df[index.sid[s]]) for s in stems if s in index.sid), default=0)
        if df:
            return float(index.idf(df)) * (K1 + 1)
    return 0.0


class Batch:
    """Profiles as padded arrays of term rows (and weights), looked up once for the whole batch."""

    def __init__(self, matrix: TermMatrix, profiles: list[Profile]):
        self.profiles = profiles
        terms = list(chain.from_iterable([p.terms for p in profiles]))
        distinct = list(dict(zip(map(id, terms), terms)).values())     # the parser shares a Term per spelling
        number = {id(t): i for i, t in enumerate(distinct)}
        which = np.fromiter(map(number.__getitem__, map(id, terms)), np.int64, len(terms))
        rows = matrix.rows(distinct)[which]
        mode = np.array([t.mode for t in distinct])[which]
        weight = np.array([t.weight for t in distinct], np.float32)[which]
        owner = np.repeat(np.arange(len(profiles)), [len(p.terms) for p in profiles])
        keep = mode != "exclude"
        self.positive = padded(owner[keep], rows[keep], len(profiles), 0)
        self.excluded = padded(owner[~keep], rows[~keep], len(profiles), 0)
        self.required = padded(owner[mode == "required"], rows[mode == "required"], len(profiles), 1)
        self.weights = None
        if (weight[keep] != 1.0).any():
            self.weights = padded(owner[keep], weight[keep], len(profiles), 0.0)[0]

    def chunk(self, lo: int, hi: int):
        """-> (profiles, positive rows, their weights or None, excluded rows, required rows),
        each as wide as the chunk's widest profile needs."""
        def cut(rows_counts: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
            rows, counts = rows_counts
            return rows[lo:hi, :int(counts[lo:hi].max(initial=0))]
        positive = cut(self.positive)
        weights = None if self.weights is None else self.weights[lo:hi, :positive.shape[1]]
        return self.profiles[lo:hi], positive, weights, cut(self.excluded), cut(self.required)


def padded(owner: np.ndarray, values: np.ndarray, n: int, pad) -> tuple[np.ndarray, np.ndarray]:
    """Values grouped by their ``owner`` row (ascending) -> (an n-row matrix of them padded with
    ``pad`` on the right, each row's count)."""
    counts = np.bincount(owner, minlength=n)
    out = np.full((n, int(counts.max(initial=0))), pad, values.dtype)
    out[owner, ranks(counts)] = values
    return out, counts


def chunk_size(index) -> int:
    """How many profiles ``match_profiles`` scores together on this day (CHUNK_CELLS cells)."""
    return max(1, CHUNK_CELLS // max(index.n_day, 1))


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
    size = chunk_size(index)
    votes = (*rocchio_weights(feedback), {}) if feedback else None

    for lo in range(0, len(profiles), size):
        chunk, positive, weights, excluded, required = batch.chunk(lo, lo + size)
        scored = score_chunk(index, matrix, positive, weights, excluded, required)
        totals, solid = scored[:2]
        bar = Bar(share, *bar_inputs(index, matrix, (positive, weights, excluded, required), scored), matrix, positive)
        judged = totals.copy() if feedback else totals     # the bar judges the profile's evidence, before votes
        voting = apply_votes(index, totals, feedback, votes, lo, lo + len(chunk),
                             similarity(index) if uses_prf(index) else None) if feedback else {}
        if voting:                                           # ... of the papers still ranked
            rows = list(voting)
            judged[rows] = np.where(totals[rows] == 0, 0.0, judged[rows])
        ranked = rank_chunk(index, matrix, chunk, totals, judged, solid, positive, bar, cap, selected_only, voting)
        yield from (r.blend(boost) for r in ranked) if upvote_weight else ranked


def score_chunk(index: PaperIndex, matrix: TermMatrix, positive: np.ndarray, weights, excluded: np.ndarray,
                required: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """-> (totals, solid, likeness, lexical), each (profiles x day papers): a paper's total is above
    zero iff it is matched and passes the exclusions and required terms; its likeness to the
    profile's best papers is 0 where there is no feedback (see ``pseudo_feedback``); lexical: its
    score from the terms alone (no gates, no feedback)."""
    totals = matrix.scores[positive[:, 0]]
    solid = matrix.solid[positive[:, 0]]
    if weights is not None:
        totals *= weights[:, :1]
    part = np.empty_like(totals)
    for k in range(1, positive.shape[1]):
        np.take(matrix.scores, positive[:, k], axis=0, out=part, mode="clip")  # all rows exist ("raise": 3x slower)
        if weights is not None:
            part *= weights[:, k, None]
        totals += part
        solid |= matrix.solid[positive[:, k]]
    lexical = totals.copy()
    if excluded.size or required.size:
        gates = np.ones(totals.shape, bool)
        for rows in excluded.T:
            gates &= ~matrix.strong[rows]
        for rows in required.T:
            gates &= matrix.strong[rows]
        totals *= gates
    if not uses_prf(index):
        return totals, solid, np.zeros(totals.shape, np.float32), lexical
    added, likeness = pseudo_feedback(index, totals)
    totals += added
    return totals, solid, likeness, lexical


def bar_inputs(index: PaperIndex, matrix: TermMatrix, terms: tuple, scored: tuple) -> tuple:
    """-> (refs, ceilings, likeness, lexical): what the ``Bar`` judges a chunk's papers against, from
    what ``score_chunk`` gave (``scored``) for its ``terms`` (positive rows, weights, excluded rows,
    required rows). A profile whose terms carry different weights has the bar it would have with
    every term at its level weight (``level_weights``), scored again so: weights order its papers
    and move each term's papers against that bar (the judged score keeps them), they do not move it."""
    positive, weights, excluded, required = terms
    totals, _, likeness, lexical = scored
    refs, ceilings = reference(totals), matrix.ceiling[positive]
    if weights is None:
        return refs, ceilings.max(axis=1), likeness, lexical
    level = level_weights(weights)
    rows = np.flatnonzero(((weights != level[:, None]) & (weights > 0)).any(axis=1))
    if len(rows):
        even = np.broadcast_to(level[rows, None], positive[rows].shape)
        totals, _, likeness[rows], lexical[rows] = score_chunk(index, matrix, positive[rows], even, excluded[rows],
                                                               required[rows])
        refs[rows] = reference(totals)
    return refs, (ceilings * level[:, None]).max(axis=1), likeness, lexical


def level_weights(weights: np.ndarray) -> np.ndarray:
    """Per profile (``weights``: its positive terms', 0 padding), the weight its bar is set at: the
    one of its terms' nearest 1 (an unweighted term's, if it has one; of two as near, the heavier).
    So a boosted term's papers pass more easily without raising the bar for the others', a term
    lowered below 1 asks more of its own papers, and a weight every term shares (a one-term
    profile's) changes nothing."""
    distance = np.abs(np.log(np.where(weights > 0, weights, 1.0).astype(np.float64)))
    distance += np.where(weights > 0, 0.0, np.inf) + np.where(weights < 1, 1e-9, 0.0)     # ties: the heavier
    return weights[np.arange(len(weights)), distance.argmin(axis=1)]


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
    every = np.arange(len(totals))
    mean = np.zeros(totals.shape, np.float32)
    n_best = np.zeros(len(totals), np.int64)
    chosen, rows = [], np.empty(totals.shape, np.float32)
    for best, found in best_in_turn(totals.copy(), min(PRF_DOCS, totals.shape[1])):
        np.take(sim, best, axis=0, out=rows, mode="clip")   # into one buffer, no temporary (every row exists)
        if not found.all():
            rows *= found[:, None]
        mean += rows
        n_best += found
        chosen.append((best, found))
    mean /= np.maximum(n_best, 1)[:, None].astype(np.float32)
    matched = totals > 0
    mean *= matched
    among = sum(mean[every, best] * found for best, found in chosen) / np.maximum(n_best, 1)
    likeness = mean / np.maximum(among, 1e-6).astype(np.float32)[:, None]
    likeness *= ((n_best >= 2) & (among > 0))[:, None]     # best papers with nothing in common: no likeness
    enough = (n_best >= 2) & (np.count_nonzero(matched, axis=1) >= PRF_MIN_MATCHED)
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
        step = max(1, (1 << 18) // max(n, 1))         # by blocks of rows: no n^2 float64 temporaries
        for lo in range(0, n, step):
            sim[lo:lo + step] /= np.maximum(np.multiply.outer(norms[lo:lo + step], norms), 1e-9).astype(np.float32)
        np.fill_diagonal(sim, 0.0)
        index.cache["similarity"] = sim
    return index.cache["similarity"]


def rank_chunk(index: PaperIndex, matrix: TermMatrix, chunk: list[Profile], totals: np.ndarray, judged: np.ndarray,
               solid: np.ndarray, positive: np.ndarray, bar: Bar, cap: int, selected_only: bool, voting: dict):
    """Yield each profile's ``Ranked``: its papers by score (``totals``, votes included; ties in
    input order), flagged selected when solid, passing the ``bar`` with their ``judged`` score (the
    same without votes: votes reorder, they do not move the bar) and among the profile's first
    ``cap`` to; with its ``voting`` (by its number in the chunk) if it has votes, and the papers
    that passed the bar past the ``cap`` (``past_cap``)."""
    if selected_only:
        above = judged >= bar.floor()[:, None]
        prof, doc, cell = pairs(np.logical_and(above, solid, out=above))
        keep = np.flatnonzero(bar.sends(prof, doc, cell, judged.ravel()[cell], solid))    # one mask's positions, 3 takes
        prof, doc, cell = prof[keep], doc[keep], cell[keep]
    else:
        prof, doc, cell = pairs(totals > 0)
    values = totals.ravel()[cell]
    order = np.argsort(prof * (2.0 * float(values.max(initial=0)) + 1.0) - values, kind="stable")
    prof, doc, values, cell = prof[order], doc[order], values[order], cell[order]
    flags = np.ones(len(prof), bool) if selected_only else bar.sends(prof, doc, cell, judged.ravel()[cell], solid)
    passed = np.flatnonzero(flags)
    within = ranks(np.bincount(prof[passed], minlength=len(chunk))) < cap
    flags[passed] = within
    past = passed[~within]          # in profile order, as ``prof`` is
    past_docs, past_first = doc[past].tolist(), np.searchsorted(prof[past], np.arange(len(chunk) + 1)).tolist()
    if selected_only:
        prof, doc, values, flags = prof[flags], doc[flags], values[flags], flags[flags]
    first = np.searchsorted(prof, np.arange(len(chunk) + 1))
    codes, solid_at = np.zeros(len(prof), np.int64), matrix.solid.ravel()
    at = matrix.at(positive[prof], doc[:, None])
    for k in range(positive.shape[1]):
        codes |= solid_at[at[:, k]].astype(np.int64) << k
    docs, scores = doc.tolist(), values.astype(np.float64).round(4).tolist()
    flags, codes, first = flags.tolist(), codes.tolist(), first.tolist()
    for i, profile in enumerate(chunk):
        a, b = first[i], first[i + 1]
        yield Ranked(profile, docs[a:b], scores[a:b], flags[a:b], codes[a:b], voting.get(i),
                     past_cap=past_docs[past_first[i]:past_first[i + 1]])


@dataclass
class Bar:
    """What a chunk's profiles ask of a paper before it is sent: a score of at least
    ``share ** min(exp(evidence - EVIDENCE_OFFSET), MAX_POWER)`` of the profile's reference. The
    evidence does not hang on how well the day's best papers match, nor on how strongly feedback
    is weighted: its likeness to the profile's best papers (against theirs to one another), its
    term score against what the profile's strongest term can score in one paper, each term found
    as written. Strong evidence lowers the bar (to share ** MAX_POWER at most, so a high share
    still asks for papers near the best; so does one term scoring at least SQUARELY of what it can
    score in one paper, measured against its own most, as a common phrase cannot score what a rare
    word can), weak raises it towards the reference, which always suffices. And a term score,
    without feedback or votes, of at least the lesser of ABSOLUTE_FLOOR and the share of that
    most: a thin day sends nothing at the default, a low share lowers the floor too (it asks for
    nearly anything matched); UNWRITTEN_FLOOR times that for a paper with none of the profile's
    terms as written, only a phrase's words apart or near each other (a day's best may be no more)."""
    share: float
    refs: np.ndarray            # per profile: the mean of its TOP_MEAN best scores
    ceilings: np.ndarray        # per profile: what its strongest term can score in one paper
    likeness: np.ndarray        # per profile and paper: how like the profile's best it reads (~1: as they do)
    lexical: np.ndarray         # per profile and paper: its score from the terms alone (no feedback, no votes)
    matrix: TermMatrix
    positive: np.ndarray        # the profiles' term rows

    def floor(self) -> np.ndarray:
        return min(ABSOLUTE_FLOOR, self.share) * self.ceilings

    def sends(self, prof: np.ndarray, doc: np.ndarray, cell: np.ndarray, values: np.ndarray,
              solid: np.ndarray) -> np.ndarray:
        """Per (profile, paper) pair, with its ``cell`` in the raveled (profile x paper) matrices (as
        ``pairs`` gives it) and its score: whether it is solid and passes the bar (the evidence is
        worked out only for the solid pairs above the floor)."""
        ref, ceiling, floor = self.refs[prof], self.ceilings[prof], self.floor()[prof]
        out = (values >= floor) & solid.ravel()[cell]
        at = np.flatnonzero(out)
        if len(at) == len(out):     # every pair (all rank_chunk gives when selecting): views, not gathers
            at = slice(None)
        lexical, (strong, square) = self.lexical.ravel()[cell[at]], self.found(prof[at], doc[at])
        like = np.minimum(self.likeness.ravel()[cell[at]], FEEDBACK_CAP)
        evidence = FEEDBACK_EVIDENCE * like + ABSOLUTE_EVIDENCE * lexical / ceiling[at] + STRONG_EVIDENCE * strong
        share = self.share ** np.minimum(np.exp(evidence - EVIDENCE_OFFSET), MAX_POWER)
        lexical_ok = lexical >= floor[at] * np.where(strong > 0, 1.0, UNWRITTEN_FLOOR)
        passed = (values[at] >= share * ref[at]) & lexical_ok
        lowest = np.flatnonzero(~passed & lexical_ok & (values[at] >= self.share ** MAX_POWER * ref[at]))
        passed[lowest] = square[lowest]
        out[at] = passed
        return out

    def found(self, prof: np.ndarray, doc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per pair: how many of the profile's terms appear in the paper as written, and whether the
        paper is squarely about one of them (``TermMatrix.flags``)."""
        strong, square = np.zeros(len(prof), np.int64), np.zeros(len(prof), bool)
        flags = self.matrix.flags().ravel()
        for k in range(self.positive.shape[1]):
            bits = flags[self.matrix.at(self.positive[prof, k], doc)]
            strong += bits & STRONG
            square |= bits >= SQUARE
        return strong, square


def pairs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (profile, paper) pairs where a (profiles x papers) ``mask`` is set, in order, and each
    one's cell in such a matrix raveled: one index array gathers ~3x faster than the pair."""
    cell = np.flatnonzero(mask)
    prof = cell // mask.shape[1]
    return prof, cell - prof * mask.shape[1], cell


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
    set; evidence for each when ``explain`` (`notifier match` shows why the weaker ones matched
    too); ``feedback``: the subscriber's votes, ``[(paper, +1 | -1), ...]``."""
    [ranked] = match_profiles(index, [profile], max_items=max_items, threshold=threshold,
                              upvote_weight=upvote_weight, selected_only=selected_only,
                              feedback=[feedback] if feedback else None)
    return matches_of(index, ranked, explain)


def matches_of(index: PaperIndex, ranked: Ranked, explain: bool = True) -> list[Match]:
    """A profile's ``Ranked`` as ``Match``es, best first (``match_profile``)."""
    docs = index.docs
    matches = []
    for i, (d, score, sel, code) in enumerate(zip(ranked.docs, ranked.scores, ranked.selected, ranked.codes)):
        liked, disliked = ranked.votes(i)
        terms = ranked.terms(code)
        matches.append(Match(docs[d].id, score, sel, ranked.labels(code), evidence(index, d, terms) if explain else [],
                             liked, disliked, apart(index, d, terms) if explain else []))
    return matches


def apart(index: PaperIndex, d: int, terms: list[Term]) -> list[str]:
    """The phrases among ``terms`` that paper ``d`` has only as their words apart, not as written
    nor in another spelling (``Resolved.strong``): a why line names them so, not as if the paper
    had the phrase."""
    matrix = TermMatrix.of(index)
    return list(dict.fromkeys(t.text for t in terms if not matrix.strong[matrix.row[t.key], d]))


def prepare(index: PaperIndex, profiles: list[Profile], feedback: list[list] | None) -> None:
    """Work out ahead what ``match_profiles`` reads of the index for these profiles, so that a
    batch cut into shares makes it once (before a fork, the processes share it, copy on write)
    rather than once a share: every term's row (in the order one call adds them), their flags,
    the papers' similarity, and each paper voted on's likeness to the day papers (as many as the
    index keeps: profiles of every share vote on the same papers; 1,000 x 10,000: -0.15 s CPU)."""
    matrix = TermMatrix.of(index)
    matrix.rows(list({id(t): t for p in profiles for t in p.terms}.values()))
    matrix.flags()
    if uses_prf(index):
        similarity(index)
    if feedback:
        voted = {id(paper): paper for votes in feedback for paper, _ in votes}     # (a batch shares a paper)
        for paper in islice(voted.values(), VOTE_KEPT_CELLS // max(index.n_day, 1)):
            resemblance(index, paper)
