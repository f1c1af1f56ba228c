"""The index of the day's papers, built once per batch: stems, positions, abbreviations. Pure.

Every word of every title and abstract is stemmed (Snowball, each distinct word once per
process, a British spelling as the American one: "optimised" is "optimized") and laid out on one
position axis, fields and papers separated by gaps wider than any phrase window, so that phrase
and window matching are array look-ups over all papers at once.
A word with inner capitals or digits also stands for its parts at its own position
(``MobileNetV2`` for mobile and net, ``SnapKV`` for kv, ``MixLoRA`` for lora), never a plain
substring ("rag" is not in "average"). Abbreviations the papers define ("Mixture-of-Experts
(MoE)") are mined both ways. Background papers (the stored corpus) count only towards
document frequencies.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import chain

import numpy as np

from notifier.models import Paper, given_paper_id
from notifier.profile import STOP
from notifier.tex import without_commands

INVISIBLE = "\u00ad\u200c\u200d\u2060"   # soft hyphen, zero-width (non-)joiner, word joiner: inside a word
TOKEN = re.compile(rf"[{INVISIBLE}]*[^\W_]+(?:[{INVISIBLE}]+[^\W_]+)*[{INVISIBLE}]*")   # ... and at its ends
_BLANK_PUNCTUATION = str.maketrans({c: " " for c in map(chr, range(128)) if not c.isalnum()})
# 'Code: https://github.com/org/kv-cache.': to a space, or to punctuation before a sentence glued
# to it: a capitalised word with more of its sentence after it ('https://github.com/org/kv-cache.We
# show' ends at '.We'). A capitalised word that ends the text or its sentence is the link's
# ('https://x.org/a.Html. Code soon.'), and so is one with more of the link after it ('.Module.html')
SENTENCE = r"[A-Z][a-z]+(?:-[a-z]+)*[,;:]?\s+\S"
URL = re.compile(rf"(?:(?i:https?|ftp)://|\b(?i:www)\.)(?:[^\s.,;:!?)\]]|[.,;:!?)\]]+(?!{SENTENCE}|\s|$))+")
MORE = re.compile(r"\s+\S")          # the text goes on: a blank, then a character
URL_AT = re.compile(r"://|(?i:www)\.")        # in every URL
BLANK = re.compile(r"\s")
# "in-, on- and out-of-distribution": from the first hanging hyphen (a literal first: the regex engine
# searches for it) the words up to "and", the last one, its small words, the word they all share
SUSPENDED = re.compile(r"-(?<=[^\W_]-)(,?\s+(?:[^\W_]+-,?\s+)*)((?i:and|or|to)|&)\s+([^\W_]+)-"
                       r"((?:(?:of|the|to|in|on)-)*)([^\W_]+(?:-[^\W_]+)*)")
HANGING = re.compile(r"-(,?\s+)")       # the hyphen of each word between the first and "and"
_UNMARKED = str.maketrans({"ø": "o", "ł": "l", "đ": "d", "ß": "ss", "æ": "ae", "œ": "oe", "ı": "i", "ȷ": "j"})
_PART = re.compile(r"[A-Z]+(?=[A-Z](?!v\d)[a-z])|v\d+|[A-Z]?(?!v\d)[a-z]+|[A-Z]+|[0-9]+")   # v3: a version (TPUv3)
FIELD_WEIGHT = np.array([3.0, 1.0])     # BM25F: a word in the title counts three times
K1, B = 1.2, 0.75
GAP = 64                                # positions between two fields or papers (> any window)
RARE_SHARE = 5                          # papers are compared on stems in at most 1/5 of the corpus

# British spellings, read as the American ones before stemming (the stemmer reads "optimized" as
# optim but "optimised" as optimis; "behaviour", "centre", "dialogue" as other words than
# "behavior", "center", "dialog"): an ending after a stem of three letters or more (four with the t
# of -tre; one with a vowel for AMERICAN_ENDINGS: not "rogue"), but where the stem shows the word
# is spelt so in both (ALWAYS_*): "supervised" (else it is no longer "supervision"), "premise",
# "promising", "denoising", "pairwise"; "hours", "Fourier", "contour". "modelling" needs no rule:
# the stemmer reads it as "modeling", model.
BRITISH_ISE = re.compile(r"(\w{3,}?)is(e|es|ed|ings?|ingly|ers?|ations?|ational|abl[ey])")
ALWAYS_ISE = re.compile(r"(?:[aouvw]|[^aeiou]r|prec|conc|exerc|exc|inc|circumc|prem|prom|dem|surm|expert|advert"
                        r"|treat|chast|merchand|parad|desp|franch|disgu)$")
BRITISH_OUR = re.compile(r"(\w{3,}?)our(|s|ed|ings?|al|ally|abl[ey]|ites?|itism|ful|fully|less|ers?|ists?|isms?"
                         r"|y|ies|ier|ations?|hoods?|ly|iz\w*|ous)")
ALWAYS_OUR = re.compile(r"(?:[fhsty]|dev|param|troubad|vel)$")
# centre(s), centred; fibre; metre, litre (a vowel before the t: not "entre"; "hatred" is no -red)
BRITISH_RE = re.compile(r"(\w{3,}t|\w+[aei]t|\w+ib)re(s?)|(\w{3,}t|\w+ib)r(ed)")
AMERICAN_ENDINGS = {"lyse": "lyze", "lysed": "lyzed", "lysing": "lyzing", "lyser": "lyzer", "ogue": "og",
                    "ogued": "oged", "oguing": "oging", "dgement": "dgment", "fence": "fense", "gramme": "gram"}
# the Greek and Latin ae and oe ("haemoglobin", "paediatric"; "oesophagus" and three more only
# beginning a word: not "shoestring") and a few words of their own, inside a word too
# ("orthopaedic", "unlicenced", "smoulder", "disulphide", "snowplough"), but grey, tyre and cheque as
# words of their own ("greyscale", "chequebook"; not "greyhound", "polystyrene", "exchequer")
AMERICAN_PARTS = {"haem": "hem", "anaem": "anem", "anaes": "anes", "aemi": "emi", "paed": "ped", "gynaec": "gynec",
                  "palaeo": "paleo", "aetiol": "etiol", "rrhoe": "rrhe", "homoeo": "homeo", "coeliac": "celiac",
                  "oesophag": "esophag", "oestr": "estr", "oedem": "edem", "foet": "fet", "manoeuvre": "maneuver",
                  "manoeuvr": "maneuver", "sceptic": "skeptic", "licenc": "licens", "grey": "gray",
                  "aluminium": "aluminum", "sulph": "sulf", "mould": "mold", "plough": "plow", "tyre": "tire",
                  "cheque": "check", "chequer": "checker"}
BRITISH_PART = re.compile(r"haem|anaem|anaes|aemi|paed|gynaec|palaeo|aetiol|rrhoe|homoeo|coeliac|sceptic|licenc"
                          r"|manoeuvre(?=s?$)|manoeuvr|^(?:oesophag|oestr|oedem|foet)"
                          r"|^grey(?=$|s$|e[dr]|est|ing|ish|ness|scale)|aluminium|sulph|mould|plough"
                          r"|^tyre(?=s?$)|^cheque(?=s?$|book)|^chequer")
BRITISH_ENDING = re.compile(rf"(\w*?[aeiouy]\w*?)({'|'.join(AMERICAN_ENDINGS)})(s|al)?")

_stemmer = None
_stem_cache: dict[str, str] = {}
_alias_cache: dict[tuple, tuple[str, ...]] = {}


def stem_all(words: list[str]) -> list[str]:
    """Lowercase words -> Snowball stems of their American spelling, each distinct word stemmed once
    per process."""
    global _stemmer
    missing = [w for w in set(words) if w not in _stem_cache]
    if missing:
        if _stemmer is None:
            import Stemmer
            _stemmer = Stemmer.Stemmer("english")
        _stem_cache.update(zip(missing, _stemmer.stemWords([american(w) for w in missing])))
    return [_stem_cache[w] for w in words]


def american(word: str) -> str:
    """'optimisation' -> 'optimization', 'behaviour' -> 'behavior', 'centres' -> 'centers',
    'analysed' -> 'analyzed', 'dialogue' -> 'dialog', 'judgement' -> 'judgment', 'defence' ->
    'defense', 'programme' -> 'program', 'metres' -> 'meters', 'paediatric' -> 'pediatric',
    'licenced' -> 'licensed', 'greyscale' -> 'grayscale', 'sulphate' -> 'sulfate', 'tyres' -> 'tires';
    any other word as it is (see BRITISH_ISE)."""
    word = BRITISH_PART.sub(lambda m: AMERICAN_PARTS[m[0]], word)
    if (m := BRITISH_ISE.fullmatch(word)) and not ALWAYS_ISE.search(m[1]):
        word = f"{m[1]}iz{m[2]}"
    if (m := BRITISH_OUR.fullmatch(word)) and not ALWAYS_OUR.search(m[1]):
        return f"{m[1]}or{m[2]}"
    if m := BRITISH_RE.fullmatch(word):
        return f"{m[1] or m[3]}er{m[4] or m[2]}"
    if m := BRITISH_ENDING.fullmatch(word):
        return m[1] + AMERICAN_ENDINGS[m[2]] + (m[3] or "")
    return word


def normal(word: str) -> str:
    """Lowercase, accents folded: 'Schrödinger' -> 'schrodinger', as subscribers type it; a Greek
    letter named as TeX writes it ('β' -> 'beta'), so "β-VAE" is "$\\beta$-VAE" and "beta-VAE";
    an invisible character gone (a soft hyphen from a PDF: 'atten' U+00AD 'tion' is 'attention');
    a letter with no accent to fold as it is typed without it ('Bjørn', 'Groß' -> 'bjorn', 'gross');
    an abbreviation's plural its singular ('GNNs' -> 'gnn': the stemmer leaves 'gnns' as it is)."""
    word = (word[:-1] if plural_abbreviation(word) else word).lower()
    if word.isascii():
        return word
    return "".join(greek(c) for c in unicodedata.normalize("NFKD", word.translate(_UNMARKED))
                   if not unicodedata.combining(c) and c not in INVISIBLE)


def plural_abbreviation(word: str) -> bool:
    """'GNNs', 'A100s', 'MoEs', 'EdgeTPUs': an 's' after a capital (or a capital and digits) of a
    word with two capitals or more."""
    return len(word) > 2 and word[-1] == "s" and (
        word[:-1].isupper() or word[-2].isupper() and sum(map(str.isupper, word)) > 1)


def greek(c: str) -> str:
    """'β' -> 'beta' ('ϕ' comes as 'φ' out of NFKD: 'phi'); any other character as it is."""
    return unicodedata.name(c).split()[-1].lower() if "\u0370" <= c <= "\u03ff" and c.isalpha() else c


def tokens(text: str) -> list[str]:
    """The words of a text: runs of letters and digits (TOKEN's; in ASCII text, 2x faster, what is
    left between blanks once all else is blanked), TeX commands shown as no word left out
    (``without_commands``). Accents are composed first: a combining mark is no letter, so
    'Mu' + U+0308 + 'ller' (text pasted from a PDF) would be two words, 'mu' and 'ller'."""
    text = without_commands(text)
    if text.isascii():
        return text.translate(_BLANK_PUNCTUATION).split()
    return TOKEN.findall(unicodedata.normalize("NFC", text))


def without_urls(text: str) -> str:
    """``text`` with each URL blanked, the same length: a paper's code link is none of its words
    ("Code: https://github.com/org/fast-kv-cache" is not about a kv cache, and every paper with a
    link would share the phrase "github com"). URL runs only over the blank-free stretches that
    hold a URL_AT (a URL holds no blank): the 10,000 papers' texts 0.086 -> 0.040 s."""
    if "://" not in text and "www." not in text:
        return text
    parts, done = [], 0
    for at in URL_AT.finditer(text):
        if at.start() >= done:
            start = at.start() - len(_last_word(text[done:at.start()]))
            blank = BLANK.search(text, at.end())
            end = blank.start() if blank else len(text)
            parts += [text[done:start], _blanked(text, start, end)]
            done = end
    return "".join(parts) + text[done:]


def _blanked(text: str, start: int, end: int) -> str:
    """``text[start:end]``, a stretch without blanks, with its URLs blanked; whether the text goes
    on after it tells a sentence glued to a link's end from a word of the link."""
    more = MORE.match(text, end)
    return URL.sub(lambda m: " " * len(m.group()), text[start:more.end() if more else end])[:end - start]


def _last_word(head: str) -> str:
    """What of ``head`` is glued to the text after it: its last blank-free run, or nothing."""
    return head.split()[-1] if head and not head[-1].isspace() else ""


def paper_tokens(text: str) -> list[str]:
    """The words of a title or an abstract: ``tokens`` but a URL's, a suspended hyphen's word
    written out (``with_suspended_hyphens``)."""
    return tokens(with_suspended_hyphens(without_urls(text)))


def with_suspended_hyphens(text: str) -> str:
    """``text`` with the word a suspended hyphen stands for written after it: "compute- and
    memory-efficient" -> "compute-efficient and memory-efficient" (a profile term
    "compute-efficient" finds it), "2-, 4- or 8-bit" -> "2-bit, 4-bit or 8-bit"."""
    return SUSPENDED.sub(_written_out, text) if "- " in text else text


def _written_out(m: re.Match) -> str:
    """'pre- and post-training' -> 'pre-training and post-training', 'in- and out-of-distribution'
    -> 'in-distribution and out-of-distribution'."""
    return f"-{m[5]}" + HANGING.sub(lambda h: f"-{m[5]}{h[1]}", m[1]) + f"{m[2]} {m[3]}-{m[4]}{m[5]}"


def words(text: str) -> list[str]:
    return [normal(w) for w in tokens(text)]


@functools.lru_cache(maxsize=65536)
def term_stems(text: str) -> tuple[str, ...]:
    return tuple(stem_all(words(text)))


def aliases(token: str, vocab: set[str] | frozenset = frozenset()) -> tuple[str, ...]:
    """The stems a word with inner capitals or digits also stands for: 'MobileNetV2' ->
    mobil, net, mobilenet, ...; spans of its parts of 3+ letters, or 2 capitals ('KV'); those of
    its singular if it is an abbreviation's plural: 'EdgeTPUs' -> edg, tpu; 'TPUs', no 'TP'."""
    if not token.isascii():
        token = "".join(c for c in token if c not in INVISIBLE)
    if plural_abbreviation(token):
        token = token[:-1]
    parts = tuple(split(token, vocab)) if not (token.islower() or token.isupper() or token.istitle()) \
        or not token.isalpha() else ()
    if (token, parts) in _alias_cache:
        return _alias_cache[token, parts]
    spans = set()
    for i in range(len(parts)):
        for j in range(i + 1, min(len(parts), i + 4) + 1):
            span = "".join(parts[i:j])
            if (j - i) < len(parts) and (len(span) >= 3 or (len(span) == 2 and span.isupper()
                                                            and beside_a_word(parts, i, j))) and not span.isdigit():
                spans.add(span.lower())
    own = stem_all([normal(token)])[0]
    _alias_cache[token, parts] = out = tuple(sorted({s for s in stem_all(sorted(spans)) if s != own}))
    return out


def beside_a_word(parts: tuple[str, ...], i: int, j: int) -> bool:
    """Whether ``parts[i:j]`` stands beside a part of 3+ letters or a number: 'KV' in SnapKV, 'FP' in
    FP8; not 'RA' in LoRA or 'PE' in RoPE, capitals of an abbreviation whose other letters are lowercase."""
    return any(len(p) >= 3 or p.isdigit() for p in parts[max(i - 1, 0):i] + parts[j:j + 1])


def split(token: str, vocab: set[str] | frozenset) -> list[str]:
    """A word's parts: 'KVCache' -> KV, Cache; the capital before a lowercase run goes to the
    capitals before it when only that run is a word of ``vocab`` (3+ letters): 'KDEformer' ->
    KDE, former, not KD, Eformer (KD is no abbreviation of it)."""
    parts = _PART.findall(token)
    for i in range(len(parts) - 1):
        caps, word = parts[i], parts[i + 1]
        if caps.isupper() and word.istitle() and len(word) > 3 and caps.isalpha() \
                and word[1:].lower() in vocab and word.lower() not in vocab:
            parts[i], parts[i + 1] = caps + word[0], word[1:]
    return parts


# ----------------------------------------------------------------------------- the index
@dataclass
class Doc:
    id: str
    title: str
    abstract: str
    authors: list[str]
    upvotes: int | None


def as_doc(p) -> Doc:
    if isinstance(p, Paper):
        return Doc(p.arxiv_id, p.title or "", p.abstract or "", list(p.authors), p.upvotes)
    pid = given_paper_id(p)
    return Doc(str(pid), p.get("title") or "", p.get("abstract") or "", list(p.get("authors") or []),
               p.get("upvotes"))


@dataclass
class PaperIndex:
    docs: list[Doc]                 # the day's papers first, then background papers
    n_day: int
    sid: dict[str, int]             # stem -> id
    starts: np.ndarray              # position of each (paper, field) block: paper * 2 + field
    norm: np.ndarray                # (papers, 2) BM25 length normalisation per field
    occ_ptr: np.ndarray             # stem id -> its slice of occ_pos
    occ_pos: np.ndarray             # positions of each stem (aliases included), sorted
    df: np.ndarray                  # stem id -> number of papers with it
    unit_ptr: np.ndarray            # stem id -> its slice of unit_doc / unit_score:
    unit_doc: np.ndarray            # the day papers with the stem and its BM25F score there
    unit_score: np.ndarray
    vocab: set[str]                 # lowercase words, to split squashed words ('kvcache')
    short_to_long: dict[str, Counter]   # 'moe' -> Counter({('mixtur', 'of', 'expert'): 3})
    long_to_short: dict[tuple, Counter]
    spelled: dict                       # abbreviation or long form (stems) -> as first written
    defined: dict[str, list[tuple]]     # 'moe' -> [(day paper, ('mixtur', 'of', 'expert')), ...]: who defines it how
    day_stems: np.ndarray               # the stem id of each word of the day papers' texts, in order,
    day_lengths: np.ndarray             # ... each text's length (title, abstract, title, ...)
    cache: dict = field(default_factory=dict)

    @property
    def n_docs(self) -> int:
        return len(self.docs)

    def idf(self, df) -> np.ndarray | float:
        return idf(self.n_docs, df)

    def positions(self, stem: str) -> np.ndarray:
        i = self.sid.get(stem)
        return self.occ_pos[self.occ_ptr[i]:self.occ_ptr[i + 1]] if i is not None else self.occ_pos[:0]

    def blocks(self, positions: np.ndarray) -> np.ndarray:
        return blocks(self.starts, positions)

    def bm25f(self, unit: np.ndarray, blocks: np.ndarray, n_units: int) -> np.ndarray:
        """Units' occurrences as their (paper * 2 + field) blocks with each one's unit number, by unit
        and block -> each unit's BM25F score in each day paper, a row per unit."""
        doc, fld = blocks // 2, blocks % 2
        start = np.ones(len(doc), bool)             # a unit's first occurrence in a paper
        start[1:] = (doc[1:] != doc[:-1]) | (unit[1:] != unit[:-1])
        df = np.bincount(unit[start], minlength=n_units)
        day = doc < self.n_day
        unit, doc, fld, start = unit[day], doc[day], fld[day], start[day]
        tf = np.bincount(np.cumsum(start) - 1, weights=FIELD_WEIGHT[fld] / self.norm[doc, fld])
        unit, doc = unit[start], doc[start]
        out = np.zeros((n_units, self.n_day), np.float32)
        out[unit, doc] = self.idf(df[unit]) * tf * (K1 + 1) / (tf + K1)
        return out


def build_index(papers: list, background: list | None = None) -> PaperIndex:
    """Index the day's papers once; background papers count only towards document frequencies."""
    day = [as_doc(p) for p in papers]
    seen = {d.id for d in day}
    docs = day + [d for d in map(as_doc, background or []) if d.id not in seen]
    texts = [text for d in docs for text in (d.title, d.abstract)]
    # each word numbered as it first appears, streamed a text at a time into one array (all the
    # words' strings at once would be ~120 MB at 10,000 papers; an array per text, 2x slower)
    number: defaultdict[str, int] = defaultdict()
    number.default_factory = number.__len__         # a new word gets the next number
    counted: list[int] = []
    word_ids = np.fromiter(map(number.__getitem__, chain.from_iterable(map(counting(counted), texts))), np.int64)
    lengths = np.array(counted, np.int64)
    starts = (np.cumsum(lengths + GAP) - (lengths + GAP)).astype(np.int64)
    # each distinct word once: its stem and the stems of its parts
    distinct = list(number)
    low = [normal(w) for w in distinct]
    vocab = set(low)
    sid: dict[str, int] = {}
    word_stem = np.array([sid.setdefault(s, len(sid)) for s in stem_all(low)], np.int64)
    plain = [w.isalpha() and (w.islower() or w.istitle()) for w in distinct]   # no parts to look for
    parts = [[] if simple else [sid.setdefault(a, len(sid)) for a in aliases(w, vocab)] for w, simple in zip(distinct, plain)]
    part_ptr = np.cumsum([0] + [len(p) for p in parts])
    part_ids = np.array([a for p in parts for a in p], np.int64)
    # every occurrence (a word, and each of its parts at the word's position), sorted by stem
    main_pos = np.repeat(starts, lengths) + ranks(lengths)
    which, part_of = expand_csr(part_ptr, part_ids, word_ids)
    stem_of = np.concatenate([word_stem[word_ids], part_of])
    pos = np.concatenate([main_pos, main_pos[which]])
    span = int(pos.max(initial=0)) + 1
    key = np.sort(stem_of * span + pos)        # by stem, then position: one key sorts 3x faster than lexsort
    stem_of, pos = key // span, key % span
    occ_ptr = np.searchsorted(stem_of, np.arange(len(sid) + 1))
    lengths = lengths.reshape(-1, 2)
    norm = 1 - B + B * lengths / (np.maximum(lengths.mean(axis=0), 1.0) if len(docs) else 1.0)
    df, unit = unit_table(stem_of, blocks(starts, pos), norm, len(sid), len(day))
    short_to_long, long_to_short, spelled, defined = defaultdict(Counter), defaultdict(Counter), {}, defaultdict(list)
    for i, text in enumerate(texts):
        for short, long, short_text, long_text in abbreviations(text):
            short_to_long[short][long] += 1
            long_to_short[long][short] += 1
            spelled.setdefault(short, short_text)
            spelled.setdefault(long, long_text)
            if i < 2 * len(day):
                defined[short].append((i // 2, long))
    day_lengths = lengths[:len(day)].ravel()
    return PaperIndex(docs, len(day), sid, starts, norm, occ_ptr, pos, df, *unit,
                      vocab, dict(short_to_long), dict(long_to_short), spelled, dict(defined),
                      word_stem[word_ids[:int(day_lengths.sum())]].astype(np.int32), day_lengths)


def counting(counted: list[int]) -> Callable[[str], list[str]]:
    """``paper_tokens``, noting each text's number of words in ``counted``."""
    def split(text: str) -> list[str]:
        words = paper_tokens(text)
        counted.append(len(words))
        return words
    return split


def blocks(starts: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """(paper * 2 + field) of each position, given where each such block starts."""
    return np.searchsorted(starts, positions, side="right") - 1


def ranks(lengths: np.ndarray) -> np.ndarray:
    """[2, 3] -> [0, 1, 0, 1, 2]"""
    total = int(lengths.sum())
    return np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def best_in_turn(scores: np.ndarray, k: int):
    """Per row, its best ``k`` columns by ``scores``, one argmax at a time (ties in column order):
    yields (each row's best column, whether it scored > 0). ``scores`` is used up (zeroed as chosen)."""
    every = np.arange(len(scores))
    for _ in range(k):
        best = scores.argmax(axis=1)
        yield best, scores[every, best] > 0
        scores[every, best] = 0.0


def idf(n_docs: int, df):
    return np.log1p((n_docs - df + 0.5) / (df + 0.5))


def unit_table(stem_of, block, norm, n_stems: int, n_day: int):
    """Every stem's BM25F score (title + abstract) in every day paper that has it, in one pass
    over the occurrences sorted by stem and block. -> (df per stem, (ptr per stem, day papers, scores))."""
    n = len(norm)
    every = (stem_of * n + block // 2) * 2 + block % 2
    first = run_starts(every)
    keys, counts = every[first], np.diff(first, append=len(every))
    pair, fld = keys // 2, keys % 2
    weighted = counts * FIELD_WEIGHT[fld] / norm[pair % n, fld]
    first = run_starts(pair)
    pairs = pair[first]
    tf = np.add.reduceat(weighted, first) if len(first) else weighted
    stem, doc = pairs // n, pairs % n
    df = np.bincount(stem, minlength=n_stems)
    score = idf(n, df[stem]) * tf * (K1 + 1) / (tf + K1)
    day = doc < n_day
    return df, (np.searchsorted(stem[day], np.arange(n_stems + 1)), doc[day], score[day].astype(np.float32))


def run_starts(values: np.ndarray) -> np.ndarray:
    """Where each run of equal values starts (all of each value's, when sorted): [3, 3, 5] -> [0, 2]."""
    return np.flatnonzero(np.diff(values, prepend=values[:1] - 1))


def unit_vector(index: PaperIndex, stem: str) -> np.ndarray:
    """A single stem's BM25F score over the day papers (title + abstract)."""
    out = np.zeros(index.n_day, np.float32)
    i = index.sid.get(stem)
    if i is not None:
        lo, hi = index.unit_ptr[i], index.unit_ptr[i + 1]
        out[index.unit_doc[lo:hi]] = index.unit_score[lo:hi]
    return out


# ----------------------------------------------------------------------------- abbreviations
_PAREN = re.compile(r"\(\s*([A-Za-z][A-Za-z0-9\-]{1,9})\s*[),;]")
_CLAUSE = re.compile(r"[.;:()\[\]]")
_WORDS_AND_PARTS = re.compile(r"[\s\-‐]+")


def abbreviations(text: str):
    """Schwartz-Hearst: 'Mixture-of-Experts (MoE)' -> ('moe', ('mixtur', 'of', 'expert'), 'MoE',
    'Mixture-of-Experts')."""
    for m in _PAREN.finditer(text):
        short = m.group(1)
        if not any(c.isupper() for c in short):
            continue
        if short.endswith("s") and short[:-1].isupper():
            short = short[:-1]
        before = _CLAUSE.split(text[max(0, m.start() - 120):m.start()])[-1].split()
        window = before[-min(len(short) + 5, 2 * len(short)):]
        long = fullest_long_form(short, window)
        short_stems = term_stems(short)
        if long and len(short_stems) == 1:
            stems = term_stems(long)
            if 2 <= len(stems) <= len(short) + 3:
                yield short_stems[0], stems, short, long


def fullest_long_form(short: str, window: list[str]) -> str | None:
    """The long form of ``short`` in the ``window`` of words before it: the shortest that spells it
    (``best_long_form``) or a longer tail spelling it from its first letter on, whichever has more of
    its letters beginning words or hyphenated parts, the shortest on a tie: "self supervised
    learning (SSL)", not "supervised learning"."""
    shortest = best_long_form(short, " ".join(window))
    if shortest is None:
        return None
    before = window[:len(window) - len(shortest.split())]
    longer = [tail for tail in (" ".join(window[k:]) for k, word in enumerate(before)
                                if word[:1].lower() == short[0].lower()) if spelled_from_start(short, tail)]
    return max([shortest] + longer, key=lambda long: (initials(short, long), -len(long))) if longer else shortest


def spelled_from_start(short: str, long: str) -> bool:
    """Whether ``long`` begins with ``short``'s first letter and has its other letters after it, in order."""
    first, *rest = [c for c in short.lower() if c.isalnum()]
    letters = iter(long[1:].lower())
    return long[:1].lower() == first and all(c in letters for c in rest)


def initials(short: str, long: str) -> int:
    """How many of ``short``'s letters, from its first on, begin words or hyphenated parts of ``long``
    in turn: 'SSL' 3 in "self supervised learning", 1 in "supervised learning"."""
    letters, found = short.lower(), 0
    for word in _WORDS_AND_PARTS.split(long.lower()):
        found += found < len(letters) and word[:1] == letters[found]
    return found


def best_long_form(short: str, long: str) -> str | None:
    """The shortest tail of ``long`` whose letters spell ``short`` in order, starting a word
    with the abbreviation's first letter (Schwartz & Hearst 2003)."""
    s, i = len(short) - 1, len(long) - 1
    sl, ll = short.lower(), long.lower()
    while s >= 0:
        c = sl[s]
        if not c.isalnum():
            s -= 1
            continue
        while (i >= 0 and ll[i] != c) or (s == 0 and i > 0 and ll[i - 1].isalnum()):
            i -= 1
        if i < 0:
            return None
        i -= 1
        s -= 1
    start = ll.rfind(" ", 0, i + 1) + 1
    return long[start:] if start < len(long) else None


def content_stems(index: PaperIndex) -> np.ndarray:
    """Per stem id, whether papers may be compared on it: not a stop word or a number (once per index)."""
    if "content" not in index.cache:
        index.cache["content"] = np.array([not (s in STOP or s.isdigit()) for s in index.sid], bool)
    return index.cache["content"]


def rare_stems(index: PaperIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The vocabulary papers are compared on, built once: stems in at most 1/RARE_SHARE of the
    corpus and in at least two day papers (only those can be shared), no stop words or numbers.
    -> (per day paper its stems' columns as CSR ptr / cols, and each one's BM25F score there:
    a stem in the title or repeated weighs more than one passing mention)."""
    if "rare" not in index.cache:
        day_df = np.diff(index.unit_ptr)
        ok = (index.df * RARE_SHARE <= index.n_docs) & (day_df >= 2) & content_stems(index)
        col = np.cumsum(ok) - 1
        stem = np.repeat(np.arange(len(ok)), day_df)
        keep = ok[stem]
        doc, cols, score = index.unit_doc[keep], col[stem[keep]], index.unit_score[keep]
        order = np.argsort(doc, kind="stable")
        ptr = np.searchsorted(doc[order], np.arange(index.n_day + 1))
        index.cache["rare"] = (ptr, cols[order], score[order])
    return index.cache["rare"]


def expand_csr(ptr: np.ndarray, values: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each ``rows[i]``, its CSR slice: -> (i repeated per element, the elements)."""
    which, at = csr_positions(ptr, rows)
    return which, values[at]


def csr_positions(ptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each ``rows[i]``, its CSR slice: -> (i repeated per element, the elements' positions)."""
    lengths = ptr[rows + 1] - ptr[rows]
    return np.repeat(np.arange(len(rows)), lengths), np.repeat(ptr[rows], lengths) + ranks(lengths)
