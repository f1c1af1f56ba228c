"""Votes: a subscriber's "more like this" / "not for me" on papers move the matched papers of a
profile (Rocchio in two vector spaces of the day papers: their rare stems and their phrases,
pairs of adjacent stems; how much more like the liked papers a paper is than like the lower
half of the profile's matches; and, a second round, how like it is to the best papers of the
ranking that made). Pure, no I/O; kept per index in ``index.cache``.

Votes reorder a profile's matched papers; they never match a paper the profile does not, and
the selection bar judges the scores before votes (``match.match_profiles``)."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from notifier.index import (RARE_SHARE, STOP, Doc, PaperIndex, as_doc, best_in_turn, content_stems, csr_positions, normal,
                            paper_tokens, stem_all)

VOTE_WEIGHT = 1.25          # votes: a matched paper's similarity to the liked papers, by stems and by phrases,
                            # each standardised, moves its log score by this x their sum x its spread (one weight
                            # for both spaces: a weight per space was fitted to the judged set's 5 votes; the lift
                            # is flat from 1.0 to 1.5 with 3 to 10 votes, benchmarks/eval_matcher.py)
VOTE_LIKED = 0.2            # ... that sum (the liked papers' term) weighing this, standardised over the matched papers
                            # not voted on, as votes on earlier days' papers have it: a day paper voted on is as like
                            # itself as a paper can be, and counted in it made the term's pull several times weaker
                            # when the papers voted on are in the day's list (the judged set's protocol) than when
                            # they are not (what subscribers do), where it was too strong. Residual nDCG@10 with 5
                            # votes on papers not in the list +0.043 -> +0.074 (old 6 +0.004 -> +0.039, new 18
                            # +0.056 -> +0.086), in the protocol +0.078 -> +0.080, held out +0.075 -> +0.073 (this
                            # and VOTE_CONTRAST, 0.8 before, tuned too), benchmarks/eval_matcher.py
VOTE_DISLIKED = 0.2         # ... less this x how much more like the disliked papers it is than the liked
                            # (Rocchio's textbook gamma / beta, 0.15 / 0.75)
VOTE_CONTRAST = 0.4         # ... plus this x how much more like the liked papers it is than like the lower half of
                            # the profile's matched papers (the liked papers against what the profile matches
                            # only weakly: the words that set them apart count, not those all its matches share;
                            # on days the pseudo-relevance feedback compares, its similarity of the day papers.
                            # Residual nDCG@10 with 5 votes +0.070 -> +0.079, held out (this tuned too) +0.060 ->
                            # +0.076, with 3 / 7 / 10 votes +0.012 / +0.074 / +0.109, benchmarks/eval_matcher.py)
VOTE_CONTRAST_SAMPLE = 32   # ... that lower half sampled: this many of its papers, evenly by rank (all of them would
                            # take a matrix product a chunk, and BLAS threads spin on a busy machine; 16 or 64
                            # move the 5-vote lift by -0.003 / +0.003 and cost 1.5% of the match CPU less / more)
VOTE_CONTRAST_MIN = 10      # ... for a profile matching at least this many papers (its lower half a sample of what it
                            # matches weakly, not one or two papers as likely as any to be what it wants)
VOTE_SECOND_ROUND = 0.05    # ... plus this x how like the best VOTE_SECOND_ROUND_DOCS of the ranking the votes made (not
                            # papers voted on) it is, standardised: pseudo-relevance feedback again, on a top the votes
                            # made better; a tie-breaker (with 0.5 / 0.25 / 0.1 the residual nDCG@10's mean over 3, 5, 7
                            # and 10 votes fell by 0.026 / 0.004 / rose by 0.001: more pulls a ranking towards its own
                            # top). That mean: old 6 +0.025 -> +0.025, new 18 +0.083 -> +0.091; 5 votes +0.079 -> +0.084,
                            # held out (this tuned too) +0.076 -> +0.083, benchmarks/eval_matcher.py
VOTE_SECOND_ROUND_DOCS = 5  # (as many as the first round's match.PRF_DOCS)
VOTE_CREDIBILITY = 10      # ... all of it, for more than VOTE_TUNED_AT votes, x their credibility n / (n + this) over
VOTE_TUNED_AT = 5           # that of this many (the count the weights above were tuned at): the mean of many votes says
                            # more than that of a few (Buehlmann's credibility; this: the count at which the votes weigh
                            # as much as the profile). With a constant pull, 10 votes lifted the old 6 less than 3 did.
                            # Residual nDCG@10 with 3 / 5 / 7 / 10 votes on papers not in the day's list: old 6 +0.042
                            # +0.029 +0.018 -0.014 -> +0.042 +0.029 +0.022 +0.034, new 18 +0.039 +0.100 +0.107 +0.126 ->
                            # +0.039 +0.100 +0.124 +0.126; the mean over all 24 +0.075 -> +0.081, +0.080 held out (this
                            # chosen from 2, 5, 10, 20, 40 on 12 profiles, measured on the other 12: a plateau from 10
                            # to 40, 2 and 5 no better than none). In the judged set's protocol (the votes in the day's
                            # list) the mean +0.065 -> +0.067 (old 6 +0.024 -> +0.023). benchmarks/eval_matcher.py
VOTE_SPREAD_TOP = 40        # ... the spread: of the log scores of the profile's best this many papers
VOTE_MIN_SPREAD = 0.25      # ... assumed at least (profiles that cannot tell their papers apart)
VOTE_CLIP = 1.0             # ... by at most this either way (x2.7 or /2.7)
VOTE_KEPT_CELLS = 1 << 24   # ... similarities of papers voted on kept per index: 64 MB of float32
VOTE_BATCH_CELLS = 1 << 21  # ... and those of a batch's papers voted on, as float64, when they are few: 16 MB
REDUCEAT_IN_ORDER = 7       # np.add.reduceat sums a segment's rows after its first in order when fewer than 8
                            # (its pairwise sum's unrolling; vote_sums_reduceat pads the last segment with a row)
VOTE_TITLE = 0.5            # in both spaces a stem or phrase of a paper's title weighs 1 + this: a title says what the
                            # paper is about, and a vote is on that. Residual nDCG@10's mean over 3, 5, 7 and 10 votes
                            # on papers not in the day's list +0.065 -> +0.077 (old 6 +0.018 -> +0.019, new 18 +0.080
                            # -> +0.096), in the protocol +0.065 -> +0.070 (+0.026 -> +0.028, +0.078 -> +0.084); with
                            # 0.25 / 1: +0.068 / +0.076 and +0.068 / +0.065; this tuned on 12 profiles, on the other
                            # 12: +0.073 and +0.066 (benchmarks/eval_matcher.py's profiles)
VOTE_SIMILAR = 0.2          # the explanation counts the voted papers a match is at least this similar to


def apply_votes(index: PaperIndex, totals: np.ndarray, feedback: list[list], votes: tuple, lo: int, hi: int,
                day_similarity: np.ndarray | None = None) -> dict:
    """For the profiles of a chunk that have votes, Rocchio in two vector spaces of the day
    papers, their rare stems and their phrases (pairs of adjacent stems: 'load balancing' says
    more than its two common words apart): a matched paper's mean similarity to the liked
    papers, standardised over the matched papers not voted on, less VOTE_DISLIKED x how much more
    like the disliked papers it is than the liked (a disliked paper shares the profile's words with
    the liked ones: only what is closer to it falls; with no liked paper, nothing: "not for me"
    alone hides that paper, since moving papers like it down made the judged set's rankings
    worse at 5, 7 and 10 votes), in each space, x VOTE_LIKED, plus VOTE_CONTRAST x how much
    more like the liked papers it is (the two spaces' mean) than like the lower half of the
    profile's matched papers (by ``day_similarity``, the day papers' similarity to each other:
    none when not given), standardised, moves its log score by VOTE_WEIGHT x their sum x the
    spread of the log scores of the profile's VOTE_SPREAD_TOP best papers (where the votes
    reorder; a long tail would make it large) x the votes' ``credibility`` (more than VOTE_TUNED_AT
    pull harder), at most VOTE_CLIP either way; the sum also holds
    VOTE_SECOND_ROUND x how like it is to the best papers of the ranking the rest of it makes.
    Only matched papers move: an unmatched one stays unmatched, a moved one is still selected
    only with solid evidence; a day paper marked not for me is dropped.
    The chunk is the batch's profiles ``lo`` to ``hi`` (``feedback`` the batch's, ``votes`` its
    ``rocchio_weights`` and the similarities kept for the batch; the totals the chunk's).
    -> per voting profile, (the index, the papers voted on, their signs, each day paper's
    direction: +1 up, -1 down, 0 unmoved)."""
    docs, (profile, paper, w), kept = votes
    a, b = np.searchsorted(profile, [lo, hi])
    if a == b:
        return {}
    profile, paper, w = profile[a:b], paper[a:b], w[a:b]
    owners, n_votes = np.unique(profile, return_counts=True)
    rows = (owners - lo).tolist()
    scores = totals[rows]
    matched = scores > 0
    shift, likeness = np.zeros(matched.shape), np.zeros(matched.shape)
    liking = np.isin(owners, profile[w > 0])
    day = day_numbers(index, docs, kept)[paper]
    unvoted = matched.copy()                    # its matched papers but the day papers it voted on
    unvoted[np.searchsorted(owners, profile[day >= 0]), day[day >= 0]] = False
    for space in (vote_space(index), phrase_space(index)):
        similar, row = voted_similarity(index, space, docs, paper, kept)
        liked, disliked = (vote_sums(similar, row, w * sign, profile, owners) for sign in (1, -1))
        closer = np.maximum(disliked - liked, 0.0) * liking[:, None]
        shift += VOTE_WEIGHT * VOTE_LIKED * (standardised(liked, unvoted)
                                             - VOTE_DISLIKED * standardised(closer, unvoted, centred=False))
        likeness += liked / 2
    others = other_matches(unvoted, liking)
    if day_similarity is not None and VOTE_CONTRAST:
        shift += VOTE_WEIGHT * VOTE_CONTRAST * contrast(likeness, scores, matched, day_similarity, others)
    shift *= credibility(n_votes)[:, None]
    nth = min(VOTE_SPREAD_TOP, totals.shape[1]) - 1
    best = -np.partition(-scores, nth, axis=1)[:, nth]
    top = matched & (scores >= best[:, None])
    spread = np.maximum(np.sqrt(masked_moments(np.log(np.where(matched, scores, 1.0)), top)[1]),
                        VOTE_MIN_SPREAD)
    def moved(shift):           # what the votes multiply each score by: matched papers only, clipped
        return np.exp(np.clip(spread[:, None] * shift, -VOTE_CLIP, VOTE_CLIP) * matched)

    if day_similarity is not None and VOTE_SECOND_ROUND:
        shift += VOTE_WEIGHT * VOTE_SECOND_ROUND * second_round(scores * moved(shift), matched, day_similarity, others)
    totals[rows] = scores * moved(shift).astype(np.float32)
    gone = (w < 0) & (day >= 0)                                 # day papers marked not for me: never ranked again
    totals[profile[gone] - lo, day[gone]] = 0.0
    moved = np.sign(shift * matched).astype(np.int8)
    return {i: (index, [paper for paper, _ in feedback[lo + i]], [1 if vote > 0 else -1 for _, vote in feedback[lo + i]],
                moved[k]) for k, i in enumerate(rows)}


def credibility(n_votes: np.ndarray) -> np.ndarray:
    """How much harder a profile's ``n_votes`` votes pull than VOTE_TUNED_AT of them: the credibility
    n / (n + VOTE_CREDIBILITY) of their mean against theirs, so more votes pull harder, never past
    (VOTE_TUNED_AT + VOTE_CREDIBILITY) / VOTE_TUNED_AT times; fewer pull as hard (1)."""
    more = np.maximum(n_votes, VOTE_TUNED_AT)
    return more * (VOTE_TUNED_AT + VOTE_CREDIBILITY) / (VOTE_TUNED_AT * (more + VOTE_CREDIBILITY))


def other_matches(unvoted: np.ndarray, liking: np.ndarray) -> np.ndarray:
    """Per voting profile (row), its matched papers not voted on (``unvoted``) that ``contrast`` and
    ``second_round`` compare with; none for a profile that likes no paper (``liking``) or matches
    fewer than VOTE_CONTRAST_MIN others."""
    return unvoted & (liking & (unvoted.sum(axis=1) >= VOTE_CONTRAST_MIN))[:, None]


def contrast(likeness: np.ndarray, scores: np.ndarray, matched: np.ndarray, day_similarity: np.ndarray,
             others: np.ndarray) -> np.ndarray:
    """Per profile (row), each day paper's ``likeness`` to the liked papers less its mean
    ``day_similarity`` to the lower half by score of ``others`` (its matched papers not voted on;
    VOTE_CONTRAST_SAMPLE of them), standardised over the matched papers: Rocchio's non-relevant
    papers taken from what the profile matches only weakly, which sets the words that make the
    liked papers what they are apart from those all its matches share. 0 for profiles without
    ``others`` (``apply_votes`` leaves none to those that like no paper: what a profile matches
    weakly alone says nothing of what it wants, nor to those matching fewer than VOTE_CONTRAST_MIN)."""
    papers, real = lower_half(scores, others, VOTE_CONTRAST_SAMPLE)
    count = real.sum(axis=1)
    weight = (real / np.maximum(count, 1)[:, None]).astype(np.float32)
    rest = np.empty(scores.shape, np.float32)
    step = max(1, VOTE_BATCH_CELLS // (VOTE_CONTRAST_SAMPLE * scores.shape[1]))     # profiles' gathered rows at a time
    for lo in range(0, len(rest), step):        # a product per profile: small, so BLAS runs it on one thread
        rest[lo:lo + step] = np.matmul(weight[lo:lo + step, None, :], day_similarity[papers[lo:lo + step]])[:, 0]
    return standardised(likeness - rest, matched) * others.any(axis=1)[:, None]


def second_round(voted: np.ndarray, matched: np.ndarray, day_similarity: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Per profile (row), each day paper's summed ``day_similarity`` to the VOTE_SECOND_ROUND_DOCS
    best of ``others`` (its matched papers not voted on) by their ``voted`` scores, standardised over
    the matched papers: the pseudo-relevance feedback of ``match.pseudo_feedback`` again, on the
    ranking the votes made. 0 for profiles without ``others`` (as for ``contrast``)."""
    near = np.zeros(voted.shape, np.float32)
    for best, found in best_in_turn(np.where(others, voted, 0.0), VOTE_SECOND_ROUND_DOCS):
        near += day_similarity[best] * found[:, None]
    return standardised(near, matched) * others.any(axis=1)[:, None]


def lower_half(scores: np.ndarray, among: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, ``size`` papers of ``among`` spread evenly by rank over its lower half by score (the
    middle one of an odd count too; tied scores in input order, as the ranking has them: numpy's
    default sort leaves ties in any order), as (their numbers, whether each is one of them: a lower
    half of fewer papers has each once, first)."""
    count = among.sum(axis=1)[:, None]
    half, n = count // 2, count - count // 2
    k = np.arange(size)
    rank = half + np.where(n > size, k * n // size, k)
    order = np.argsort(np.where(among, -scores, np.inf), axis=1, kind="stable")
    return np.take_along_axis(order, np.minimum(rank, scores.shape[1] - 1), axis=1), k < n


def vote_sums(similar: np.ndarray, paper: np.ndarray, w: np.ndarray, profile: np.ndarray,
              owners: np.ndarray) -> np.ndarray:
    """Per profile in ``owners``, the sum of its votes' rows of ``similar`` (the vote's ``paper``)
    x their weight ``w`` where it is positive: only those rows are gathered (the others would add
    exact zeros), not a matrix product (BLAS threads spin on a busy machine). Summed as
    ``np.add.reduceat`` sums a profile's rows when it has at most REDUCEAT_IN_ORDER (the first + the
    sum of the others in order), a vote at a time for all the profiles: reduceat sums a column at a
    time, 3x slower; with more votes, by reduceat itself (``vote_sums_reduceat``)."""
    keep = w > 0
    paper, w, profile = paper[keep], w[keep], profile[keep]
    first = np.searchsorted(profile, owners)
    count = np.searchsorted(profile, owners, "right") - first
    if count.max(initial=0) > REDUCEAT_IN_ORDER:
        return vote_sums_reduceat(similar, paper, w, profile, owners)
    rest = np.zeros((len(owners), similar.shape[1]))
    for k in range(1, int(count.max(initial=0))):
        has = np.flatnonzero(count > k)
        rest[has] += similar[paper[first[has] + k]] * w[first[has] + k][:, None]
    has = np.flatnonzero(count > 0)
    rest[has] += similar[paper[first[has]]] * w[first[has]][:, None]
    return rest


def vote_sums_reduceat(similar: np.ndarray, paper: np.ndarray, w: np.ndarray, profile: np.ndarray,
                       owners: np.ndarray) -> np.ndarray:
    """``vote_sums`` of the votes given (all with a positive weight) by ``np.add.reduceat``."""
    cells = np.concatenate([similar[paper] * w[:, None], np.zeros((1, similar.shape[1]))])
    first = np.searchsorted(profile, owners)
    sums = np.add.reduceat(cells, first)
    sums[first == np.append(first[1:], len(paper))] = 0.0        # profiles without such votes
    return sums


def voted_similarity(index: PaperIndex, space: Space, docs: list, paper: np.ndarray,
                     kept: dict) -> tuple[np.ndarray, np.ndarray]:
    """The similarity of the papers voted on (``paper``: numbers in ``docs``, the batch's papers
    voted on) to every day paper, as float64 rows, with each vote's row: those of all the batch's
    papers made once and kept in ``kept`` when they are few (VOTE_BATCH_CELLS), else those of the
    papers ``paper`` names looked up for each chunk."""
    if len(docs) * index.n_day > VOTE_BATCH_CELLS:
        used, row = np.unique(paper, return_inverse=True)
        return np.array([space.similar(index, docs[j]) for j in used.tolist()], np.float64), row
    if space.name not in kept:
        kept[space.name] = np.array([space.similar(index, doc) for doc in docs], np.float64)
    return kept[space.name], paper


def day_numbers(index: PaperIndex, docs: list, kept: dict) -> np.ndarray:
    """Each paper voted on in the batch (``docs``) as its day paper's number, -1 if it is not
    one of them: looked up once for the batch, kept in ``kept``."""
    if "day" not in kept:
        at = {d.id: k for k, d in enumerate(index.docs[:index.n_day])}
        kept["day"] = np.array([at.get(doc.id, -1) for doc in docs], np.int64)
    return kept["day"]


def rocchio_weights(feedback: list[list]) -> tuple[list, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The papers voted on (each once, as ``Doc``) and each vote as (its profile, the paper's
    number, its weight: 1 / the profile's liked papers for a liked one, -1 / its disliked papers
    for a disliked one), by profile: worked out once for a batch."""
    column: dict[tuple, int] = {}
    papers, cells = [], []
    for k, votes in enumerate(feedback):
        if not votes:           # most profiles of a batch (counting their votes took 0.25 s at 100,000)
            continue
        n_liked = max(sum(vote > 0 for _, vote in votes), 1)
        n_disliked = max(sum(vote < 0 for _, vote in votes), 1)
        for paper, vote in votes:
            doc = as_doc(paper)
            key = (doc.id, doc.title, doc.abstract)
            if key not in column:
                column[key] = len(papers)
                papers.append(doc)
            cells.append((k, column[key], 1 / n_liked if vote > 0 else -1 / n_disliked))
    profile, paper, weight = zip(*cells) if cells else ((), (), ())
    return papers, (np.array(profile, np.int64), np.array(paper, np.int64), np.array(weight, np.float64))


def masked_moments(x: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the mean and the variance of ``x`` where ``mask`` (0 for an empty row)."""
    count = np.maximum(mask.sum(axis=1), 1)
    mean = (x * mask).sum(axis=1) / count
    deviation = x - mean[:, None]
    deviation *= deviation              # ** 2, in place: one temporary, not three
    deviation *= mask
    return mean, deviation.sum(axis=1) / count


def standardised(x: np.ndarray, among: np.ndarray, centred: bool = True) -> np.ndarray:
    """Each row of ``x`` less its mean over ``among`` (unless not ``centred``), in units of its
    standard deviation there (0 for a flat row)."""
    mean, var = masked_moments(x, among)
    spread = np.sqrt(var)
    return np.where(spread[:, None] > 1e-9, (x - mean[:, None] * centred) / np.maximum(spread, 1e-9)[:, None], 0.0)


@dataclass
class Space:
    """The day papers as vectors of one kind of feature, to compare them with papers voted on:
    each feature's weight, its day papers and their values (CSR: ``ptr``, ``doc``, ``value``),
    each day paper's norm, and ``features(index, title, abstract)``: any paper's features as
    (columns, what each is worth before its weight)."""
    name: str
    weight: np.ndarray
    ptr: np.ndarray
    doc: np.ndarray
    value: np.ndarray
    norms: np.ndarray
    features: Callable

    def vector(self, index: PaperIndex, doc) -> tuple[np.ndarray, np.ndarray]:
        """A paper (a day paper, or one from any other day) as its features' columns and
        weights, of unit length."""
        ids, worth = self.features(index, doc.title, doc.abstract)
        w = self.weight[ids] * worth
        ids, w = ids[w > 0], w[w > 0]
        return ids, w / max(float(np.sqrt((w * w).sum())), 1e-9)

    def similar(self, index: PaperIndex, doc: Doc) -> np.ndarray:
        """A paper's cosine similarity to every day paper, kept per index for the last
        VOTE_KEPT_CELLS / day papers voted on (subscribers vote on the same papers)."""
        kept = index.cache.setdefault(("similar", self.name), OrderedDict())
        key = (doc.id, doc.title, doc.abstract)
        if key in kept:
            kept.move_to_end(key)
            return kept[key]
        kept[key] = self.similarity(*self.vector(index, doc)).astype(np.float32)
        while len(kept) > max(1, VOTE_KEPT_CELLS // max(index.n_day, 1)):
            kept.popitem(last=False)
        return kept[key]

    def similarity(self, ids: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Cosine similarity of a (unit) vector to every day paper."""
        rows, at = csr_positions(self.ptr, ids)
        return np.bincount(self.doc[at], weights=w[rows] * self.value[at], minlength=len(self.norms)) / self.norms


def vote_space(index: PaperIndex) -> Space:
    """Built once per index: the day papers by the stems they have, each weighted by its IDF
    (0 for stems in more than 1/RARE_SHARE of the corpus (and in more than one paper), stop
    words and numbers), x 1 + VOTE_TITLE for a stem of the paper's title."""
    if "vote_space" not in index.cache:
        weight = index.idf(index.df).astype(np.float64)
        weight[(index.df > max(1, index.n_docs // RARE_SHARE)) | ~content_stems(index)] = 0.0
        value = weight[np.repeat(np.arange(len(weight)), np.diff(index.unit_ptr))] * (1 + VOTE_TITLE * in_titles(index))
        norms = np.sqrt(np.bincount(index.unit_doc, weights=value ** 2, minlength=index.n_day))
        index.cache["vote_space"] = Space("stems", weight, index.unit_ptr, index.unit_doc, value,
                                          np.maximum(norms, 1e-9), stem_features)
    return index.cache["vote_space"]


def stem_features(index: PaperIndex, title: str, abstract: str) -> tuple[np.ndarray, np.ndarray]:
    """The stems of a paper the index knows, each counted once (the stem space is of presence),
    worth 1 + VOTE_TITLE if in its title."""
    heading = stem_ids(index, title)
    ids = np.unique(np.concatenate([heading, stem_ids(index, abstract)]), return_counts=True)[0]
    ids = ids[ids >= 0]     # (unique without counts would import numpy.ma: 15 ms)
    return ids, 1 + VOTE_TITLE * np.isin(ids, heading)


def in_titles(index: PaperIndex) -> np.ndarray:
    """Per cell of the index's stems by day papers (``unit_ptr`` / ``unit_doc``), whether the stem
    is that of a word of the paper's title (a part of a word, as 'kv' of SnapKV, is not)."""
    text = day_texts(index)
    title = text % 2 == 0
    words = index.day_stems[title].astype(np.int64) * index.n_day + text[title] // 2
    stem = np.repeat(np.arange(len(index.unit_ptr) - 1), np.diff(index.unit_ptr))
    return where_in(stem * index.n_day + index.unit_doc, words)     # (by stem, then paper: ascending)


def where_in(ascending: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``np.isin(ascending, values)`` for ``values`` all among the ``ascending`` ones, each found by
    bisection: the title cells of the vote spaces at 10,000 papers 0.10 -> 0.04 s (isin sorts both)."""
    at = np.minimum(np.searchsorted(ascending, values), max(len(ascending) - 1, 0))
    out = np.zeros(len(ascending), bool)
    out[at[ascending[at] == values]] = True
    return out


def day_texts(index: PaperIndex) -> np.ndarray:
    """Per word of the day papers (``index.day_stems``), its text's number: a paper's title is
    2 x its number, its abstract that + 1."""
    return np.repeat(np.arange(len(index.day_lengths)), index.day_lengths)


def stem_ids(index: PaperIndex, text: str) -> np.ndarray:
    """The index's id of each word's stem in ``text`` in order (-1: a stem no indexed paper has),
    each distinct word looked up once per index."""
    known = index.cache.setdefault("word_stem_ids", {})
    found = paper_tokens(text)
    try:
        return np.fromiter(map(known.__getitem__, found), np.int64, len(found))
    except KeyError:        # words new to the index: stemmed once (a text seen before has none)
        missing = list(set(found).difference(known))
        known.update(zip(missing, (index.sid.get(s, -1) for s in stem_all([normal(w) for w in missing]))))
        return np.fromiter(map(known.__getitem__, found), np.int64, len(found))


def phrase_codes(index: PaperIndex, text: str) -> np.ndarray:
    """Each pair of adjacent stems in ``text``, neither a stop word, as one number."""
    ids = stem_ids(index, text)
    ok = ~no_phrase(index)[ids]
    ok = ok[:-1] & ok[1:]
    return ids[:-1][ok] * len(index.sid) + ids[1:][ok]


def no_phrase(index: PaperIndex) -> np.ndarray:
    """Per stem id, whether it cannot be part of a phrase: stop words, and (last) a stem no
    indexed paper has."""
    if "no_phrase" not in index.cache:
        index.cache["no_phrase"] = np.array([s in STOP for s in index.sid] + [True])
    return index.cache["no_phrase"]


def day_phrases(index: PaperIndex) -> tuple[np.ndarray, np.ndarray]:
    """Every phrase of the day papers as ``phrase_codes`` numbers it (from the index's own words:
    no text split again), with its text's number (``day_texts``)."""
    ids, text = index.day_stems.astype(np.int64), day_texts(index)
    ok = ~no_phrase(index)[ids]
    pair = ok[:-1] & ok[1:] & (text[:-1] == text[1:])
    return ids[:-1][pair] * len(index.sid) + ids[1:][pair], text[:-1][pair]


def phrase_features(index: PaperIndex, title: str, abstract: str) -> tuple[np.ndarray, np.ndarray]:
    """The phrases of a paper that the phrase space has, as (columns, counts damped: 1 + log, x 1 +
    VOTE_TITLE for a phrase of its title)."""
    space = phrase_space(index)
    heading = phrase_codes(index, title)
    codes, counts = np.unique(np.concatenate([heading, phrase_codes(index, abstract)]), return_counts=True)
    col = np.minimum(np.searchsorted(space.codes, codes), max(len(space.codes) - 1, 0))
    known = space.codes[col] == codes if len(space.codes) else np.zeros(len(codes), bool)
    return col[known], (1 + np.log(counts[known])) * (1 + VOTE_TITLE * np.isin(codes[known], heading))


@dataclass
class PhraseSpace(Space):
    codes: np.ndarray | None = None     # the phrase (as ``phrase_codes`` numbers it) of each column, sorted


def phrase_space(index: PaperIndex) -> PhraseSpace:
    """Built once per index: the day papers by the phrases (pairs of adjacent stems, in the
    title or in the abstract) that at least two of them share, each weighted by its IDF over
    the day papers, counts damped (1 + log), x 1 + VOTE_TITLE for a phrase of the paper's title."""
    if "phrase_space" not in index.cache:
        n = index.n_day
        code, text = day_phrases(index)
        title = text % 2 == 0
        cells, tf = np.unique(code * n + text // 2, return_counts=True)
        titled = where_in(cells, code[title] * n + text[title] // 2)
        code, doc = cells // n, cells % n
        codes, inverse, df = np.unique(code, return_inverse=True, return_counts=True)
        codes, shared = codes[df >= 2], (df >= 2)[inverse]
        col, doc, tf, titled = np.searchsorted(codes, code[shared]), doc[shared], tf[shared], titled[shared]
        weight = np.log(max(n, 1) / np.maximum(np.bincount(col, minlength=len(codes)), 1))
        value = weight[col] * (1 + np.log(tf)) * (1 + VOTE_TITLE * titled)
        norms = np.sqrt(np.bincount(doc, weights=value ** 2, minlength=n))
        index.cache["phrase_space"] = PhraseSpace("phrases", weight, np.searchsorted(col, np.arange(len(codes) + 1)),
                                                  doc, value, np.maximum(norms, 1e-9), phrase_features, codes)
    return index.cache["phrase_space"]


def resemblance(index: PaperIndex, paper) -> np.ndarray:
    """A paper's cosine similarity to every day paper, the higher of the stem and phrase spaces'."""
    doc = as_doc(paper)
    return np.maximum(vote_space(index).similar(index, doc), phrase_space(index).similar(index, doc))
