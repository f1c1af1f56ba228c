"""Keyword profiles: what a subscriber types, parsed into terms.

Syntax (README, "Subscribers and keyword profiles"): comma- or newline-separated terms; a term is a word or a "quoted phrase";
``-term`` excludes, ``+term`` is required, ``term^2`` weights, ``author:"Tri Dao"`` follows an
author, ``title:term`` looks only in titles. Pure: no I/O.
"""
from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from functools import cached_property, lru_cache

from notifier.errors import ProfileError

FIELDS = ("title", "author")
# Words that say nothing of a topic: the matcher reads around them, and a term of nothing else
# would match almost every paper (a typed profile refuses it).
STOP = frozenset("a an and are as at be by for from in into is of on or the to with via using".split())
_WEIGHT = re.compile(r"\^\s*([^\s^]*)\s*$")
_FIELD = re.compile(r"^([A-Za-z_]+):(?!//)")
_WORD = re.compile(r"[^\W_]+")
_SPECIAL = re.compile(r'[",\n]')      # what decides where a term ends: a quote, a comma, a newline
# Control characters (but tab and line breaks) and the bidi embedding/override/isolate controls:
# invisible in a terminal, they change how a profile, a subject line or a listing reads.
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# What other search boxes separate or combine terms with. In a term typed without quotes they made
# one long phrase: 'kv cache; mixture of experts; -diffusion' looked for those words together and
# excluded nothing. (Within quotes they are the phrase's: "R AND D".)
_JOINER = re.compile(r"\s*[;|]\s*|\s+(OR|AND|NOT)\s+")
_JOINED_AS = {"AND": ", +", "NOT": ", -"}     # else ', ': the next term


@dataclass(frozen=True)
class Term:
    """One profile term. ``text`` is the words without quotes/operators, as written."""

    raw: str
    text: str
    phrase: bool = False
    mode: str = "any"          # "any" (adds to the score), "required", "exclude"
    weight: float = 1.0
    field: str | None = None   # None = title+abstract, "title", "author"

    @property
    def kind(self) -> str:
        return "phrase" if self.phrase else "word"

    @property
    def compound(self) -> bool:
        """Words joined without a space ('low-bit', 'KV-cache'): a phrase that only counts as
        found where it appears, never from its words found apart."""
        return self.phrase and not any(c.isspace() for c in self.text)

    @property
    def positive(self) -> bool:
        return self.mode != "exclude"

    @cached_property
    def key(self) -> tuple[str, str | None]:
        """What the matcher resolves: the same words in the same field are the same term."""
        return self.text.lower(), self.field


@dataclass(frozen=True)
class Profile:
    text: str
    terms: tuple[Term, ...]

    @cached_property
    def positive(self) -> list[Term]:
        return [t for t in self.terms if t.positive]

    @cached_property
    def excluded(self) -> list[Term]:
        return [t for t in self.terms if t.mode == "exclude"]

    @cached_property
    def required(self) -> list[Term]:
        return [t for t in self.terms if t.mode == "required"]

    def labels(self) -> list[str]:
        """The positive terms as the user wrote them, for subject lines: ["kv cache", "MoE"]."""
        return [t.text for t in self.positive]


def parse_profile(text: str) -> Profile:
    """Profile text -> Profile; ProfileError (one line naming the term) when malformed."""
    bad = invisible_at(text)
    if bad:
        raise ProfileError(f"invisible control character {bad}: retype the profile without it")
    terms = tuple(map(parse_term, split_terms(text)))
    if not terms:
        raise ProfileError("empty profile: type at least one term, e.g. \"kv cache\", MoE")
    if not any(t.positive for t in terms):
        raise ProfileError(f"profile has only exclusions ({shown(terms[0].raw)}): add a term to look for",
                           term=terms[0].raw)
    return Profile(text=text, terms=terms)


def check_profile(text: str) -> Profile:
    """``parse_profile``, refusing too what parses but cannot be what was meant: a term written twice
    (it silently counted twice; in two forms, 'agent, agents', it is let be, as profiles in config
    files have it), a term joined to others as other search boxes join them ('a; b', 'a OR b'), a
    term both looked for and excluded (it can never match), or a term of common words alone ('the',
    "of the": it would match or exclude almost every paper; an author may be called An or To). For
    text a person just typed; stored profiles are parsed as before, so none stops a delivery."""
    profile = parse_profile(text)
    for t in profile.terms:
        joined = _JOINER.search(t.raw) if '"' not in t.raw else None
        if joined:
            raise ProfileError(f"term '{shown(t.raw)}' joins terms with '{joined.group().strip()}': separate "
                               f"them with commas, e.g. {shown(_as_terms(t.raw))}", term=t.raw)
        if t.field != "author" and STOP.issuperset(_WORD.findall(t.text.lower())):
            raise ProfileError(f"term '{shown(t.raw)}' has only common words: it would "
                               + ("exclude almost every paper; remove it" if t.mode == "exclude" else
                                  "match almost every paper; write what the papers are about"), term=t.raw)
    typed: dict[tuple, Term] = {}
    for t in profile.positive:
        first = typed.setdefault((tuple(_WORD.findall(t.text.lower())), t.field), t)
        if first is not t:
            raise ProfileError(f"term '{shown(t.raw)}' repeats '{shown(first.raw)}': write it once "
                               f"({first.text}^2 weighs it more)", term=t.raw)
    wanted = {_read_as(t.text, t.field): t for t in profile.positive}
    for e in profile.excluded:
        fields = (None, "title") if e.field is None else (e.field,)    # -moe excludes title:moe too
        t = next((wanted[_read_as(e.text, f)] for f in fields if _read_as(e.text, f) in wanted), None)
        if t is not None:
            raise ProfileError(f"term '{shown(t.raw)}' is also excluded by '{shown(e.raw)}': "
                               "no paper could match it; remove one", term=e.raw)
    return profile


def _as_terms(raw: str) -> str:
    """A term joined as other search boxes do, written as separate terms: 'moe; rag' -> 'moe, rag',
    'moe AND rag' -> '+moe, +rag', 'moe NOT rag' -> 'moe, -rag'."""
    terms = _JOINER.sub(lambda m: _JOINED_AS.get(m.group(1), ", "), raw)
    return "+" + terms if re.search(r"\s+AND\s+", raw) and terms[0] not in "+-" else terms


def check_typed(text: str, kept: Collection[str] = ()) -> Profile:
    """``check_profile`` for text typed anew; a profile in ``kept`` (the subscriber's, stored
    already) only parsed, as their digest reads it: a check added since, or a profile longer than
    the web page takes, never stops a change to their other settings."""
    return parse_profile(text) if text in kept else check_profile(text)


def _read_as(text: str, field: str | None) -> tuple:
    """What the matcher reads a term as, and its field: the stems of its words ('kv-cache' and "KV
    caches" are one term, and so are 'distill' and 'distillation', 'C++' and 'C#' (the word c)), an
    author's name as its words. An exclusion read as a term looked for excludes all it finds."""
    from notifier.index import term_stems      # notifier.index reads STOP from this module
    return (tuple(_WORD.findall(text.lower())) if field == "author" else term_stems(text)), field


def invisible_at(text: str) -> str | None:
    """'U+001B at position 6' for the first invisible control character in ``text`` (not tab or a
    line break), else None."""
    bad = _INVISIBLE.search(text)
    return f"U+{ord(bad.group()):04X} at position {bad.start() + 1}" if bad else None


def split_terms(text: str) -> list[str]:
    """Split on commas/newlines outside quotes; blank chunks are skipped, empty ones between
    two commas are an error."""
    if text.count('"') % 2:
        raise unbalanced(text)
    chunks = _chunks(text)
    terms = [c.strip() for c, _ in chunks]
    if all(terms):
        return terms
    for i, (chunk, sep) in enumerate(chunks):
        if not chunk.strip() and sep == "," and 0 < i:
            raise ProfileError(f"empty term after '{shown(chunks[i - 1][0])}': remove the extra comma",
                               term="")
    return [t for t in terms if t]


def _chunks(text: str) -> list[tuple[str, str]]:
    """(chunk, the comma or newline that ends it; '' for the last) split at the commas and
    newlines outside quotes, in one pass (a regex looking ahead over the rest of the text at
    each comma took 6 s for a 32 KB profile)."""
    chunks, start, quoted = [], 0, False
    for m in _SPECIAL.finditer(text):
        if m.group() == '"':
            quoted = not quoted
        elif not quoted:
            chunks.append((text[start:m.start()], m.group()))
            start = m.end()
    chunks.append((text[start:], ""))
    return chunks


def shown(term: str) -> str:
    """A term or profile as an error message quotes it: on one line (a phrase may span lines),
    invisible control characters spelled out (U+001B), so the message cannot hide or reorder text."""
    return " ".join(_INVISIBLE.sub(lambda m: f"U+{ord(m.group()):04X}", term).split())


def unbalanced(text: str) -> ProfileError:
    """The error for an odd number of quotes, naming the term the open quote is in."""
    bad = next(c for c, _ in reversed(_chunks(text)) if '"' in c).strip()
    return ProfileError(f"unbalanced quote in term '{shown(bad)}': close the phrase with \"", term=bad)


@lru_cache(maxsize=16384)
def parse_term(raw: str) -> Term:
    body, mode = raw, "any"
    if body[0] in "+-":
        mode = "required" if body[0] == "+" else "exclude"
        body = body[1:].strip()
        if body[:1] in ("+", "-"):      # '+-a' was a required term labelled '-a'
            raise ProfileError(f"two operators in term '{shown(raw)}': use one, + (required) or - (excluded)", term=raw)
    body, weight = _split_weight(body, raw)
    field = None
    m = _FIELD.match(body)
    if m:
        field = m.group(1).lower()
        if field not in FIELDS:
            raise ProfileError(f"unknown field '{m.group(1)}:' in term '{shown(raw)}': use title: or author:", term=raw)
        body = body[m.end():].strip()
        again = _FIELD.match(body)
        if again and again.group(1).lower() in FIELDS:     # 'title:title:a' was the phrase 'title a'
            raise ProfileError(f"two fields in term '{shown(raw)}': use one, title: or author:", term=raw)
        if body[:1] in ("+", "-"):      # 'title:-moe' looked for moe in titles, labelled '-moe'
            raise ProfileError(f"operator after the field in term '{shown(raw)}': put it first, "
                               f"{shown(body[0] + m.group(1) + ':' + body[1:].strip())}", term=raw)
    if body.startswith('"'):
        if not (len(body) >= 2 and body.endswith('"') and body.count('"') == 2):
            raise ProfileError(f"misplaced quote in term '{shown(raw)}': quote the whole phrase", term=raw)
        body = body[1:-1].strip()
    elif '"' in body:
        raise ProfileError(f"misplaced quote in term '{shown(raw)}': quote the whole phrase", term=raw)
    if not _WORD.search(body):
        raise ProfileError(f"empty term '{shown(raw)}': it has no letters or digits", term=raw)
    words = _WORD.findall(body)
    return Term(raw=raw, text=" ".join(body.split()), phrase=len(words) > 1,
                mode=mode, weight=weight, field=field)


def _split_weight(body: str, raw: str) -> tuple[str, float]:
    m = _WEIGHT.search(body)
    if not m:
        return body, 1.0
    try:
        weight = float(m.group(1))
    except ValueError:
        raise ProfileError(f"bad weight in term '{shown(raw)}': write a number after ^, e.g. moe^2", term=raw) from None
    if not 0 < weight <= 100:
        raise ProfileError(f"bad weight in term '{shown(raw)}': it must be above 0 and at most 100", term=raw)
    if "^" in body[:m.start()]:         # 'a^2^3' was the phrase 'a 2' weighted 3
        raise ProfileError(f"bad weight in term '{shown(raw)}': one ^ per term, e.g. moe^2", term=raw)
    return body[:m.start()].strip(), weight
