"""Text from the web (titles, authors, abstracts) made safe to show beside other text: control
characters dropped (or read as the Windows-1252 punctuation meant), bidi controls closed and
right-to-left text isolated, so that nothing in it turns around or hides the text after it;
a pile of accents cut down, and a cut that splits no character made of several. Pure."""
from __future__ import annotations

import re
import unicodedata


def _c1(code: int) -> str:
    try:
        return bytes([code]).decode("cp1252")
    except UnicodeDecodeError:
        return ""


# Control characters that are not whitespace: dropped, but for C1 ones, which in a paper's text are
# Windows-1252 punctuation read as Latin-1 ("you\x92re"), shown as the character meant ("you’re").
# Gmail shows a message holding one, however short, as "[Message clipped]".
CONTROLS = ({c: "" for c in [*range(0x00, 0x09), *range(0x0e, 0x1c), 0x7f]}
            | {c: _c1(c) for c in range(0x80, 0xa0) if c != 0x85})


# Bidi controls (Unicode UAX #9): an embedding or override (LRE, RLE, LRO, RLO) lasts until a PDF,
# an isolate (LRI, RLI, FSI) until a PDI, which also ends the embeddings opened inside it; either
# lasts to the end of the line when not closed. A title's RLO turned the rest of its line around:
# the next author, the next title in an inbox preview or a Slack notification.
CLOSER = dict.fromkeys("\u202a\u202b\u202d\u202e", "\u202c") | dict.fromkeys("\u2066\u2067\u2068", "\u2069")
BIDI_CONTROL = re.compile("[\u202a-\u202e\u2066-\u2069]")
BIDI_MAX_DEPTH = 16             # deeper than any real text nests; far below the algorithm's 125
PDF, FSI, PDI = "\u202c", "\u2068", "\u2069"
LRI, RLI = "\u2066", "\u2067"


def balanced(s: str) -> str:
    """``s`` with every bidi control closed inside it: a PDF or PDI that closes nothing opened in
    ``s`` is dropped (inside an isolate, an HTML element's too, a PDI closes that one), and what
    is left open is closed at the end."""
    if not BIDI_CONTROL.search(s):
        return s
    opened: list[str] = []
    kept = "".join(c for c in s if _kept(c, opened))
    return kept + "".join(CLOSER[o] for o in reversed(opened))


def still_open(s: str) -> list[str]:
    """The bidi controls ``s`` leaves open at its end, outermost first (as ``balanced`` reads it)."""
    opened: list[str] = []
    for c in s:
        _kept(c, opened)
    return opened


def depth(s: str) -> int:
    """The most bidi controls open at once in ``s`` (as ``balanced`` reads it)."""
    opened: list[str] = []
    most = 0
    for c in s:
        _kept(c, opened)
        most = max(most, len(opened))
    return most


def resolved(s: str) -> str:
    """``s`` with each FSI written as the isolate it opens (LRI or RLI: UAX #9 takes the direction
    from the first strong letter before its PDI), so that a part of it carried onto another line
    keeps the direction the whole had."""
    return "".join(_isolate_of(s, i) if c == FSI else c for i, c in enumerate(s)) if FSI in s else s


def _isolate_of(s: str, i: int) -> str:
    """The isolate the FSI at ``s[i]`` opens, from its first strong letter outside isolates it holds."""
    depth = 0
    for c in s[i + 1:]:
        if c in (LRI, RLI, FSI):
            depth += 1
        elif c == PDI:
            if not depth:
                break
            depth -= 1
        elif not depth and unicodedata.bidirectional(c) in ("L", "R", "AL"):
            return LRI if unicodedata.bidirectional(c) == "L" else RLI
    return FSI


def _kept(c: str, opened: list[str]) -> bool:
    """Whether ``c`` stays, ``opened`` (the controls open before it) brought up to date."""
    if c in CLOSER:
        if len(opened) == BIDI_MAX_DEPTH:
            return False
        opened.append(c)
    elif c == PDI:
        if PDI not in map(CLOSER.get, opened):
            return False
        while CLOSER[opened.pop()] != PDI:
            pass
    elif c == PDF:
        if not opened or CLOSER[opened[-1]] != PDF:
            return False
        opened.pop()
    return True


def isolated(s: str) -> str:
    """Untrusted text that cannot change how the text beside it reads: balanced and, if it has
    right-to-left letters or bidi controls, in an isolate taking its direction from its own first
    letter (FSI ... PDI). Text of left-to-right letters only is left as it is."""
    s = balanced(s)
    return f"{FSI}{s}{PDI}" if has_bidi(s) else s


def has_bidi(s: str) -> bool:
    """Whether ``s`` has a right-to-left letter, digit or mark, or a bidi control."""
    return not s.isascii() and (BIDI_CONTROL.search(s) is not None
                                or any(unicodedata.bidirectional(c) in ("R", "AL", "AN") for c in s))


# Diacritics that are no script's own (Latin, Greek, Cyrillic ones; Vietnamese stacks two): more
# than three on one letter ("Zalgo" text, 30 of them) drew over the lines above and below it.
GENERIC_MARKS = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
STACKED_MARKS = re.compile(f"([{GENERIC_MARKS}]{{3}})[{GENERIC_MARKS}]+")


def few_marks(s: str) -> str:
    """``s`` with at most three generic combining marks on a letter (GENERIC_MARKS)."""
    return STACKED_MARKS.sub(r"\1", s)


ZWJ = "\u200d"
FLAG_LETTERS = "".join(map(chr, range(0x1F1E6, 0x1F200)))     # two make a flag: 🇯🇵


def whole(s: str, i: int) -> int:
    """Where to cut ``s`` at ``i`` or before, splitting no character made of several: a letter and
    its combining marks, an emoji sequence (joined by ZWJ, with a skin tone or a variation
    selector), a flag, an Indic conjunct (``after_virama``). Cut inside one, 👩‍🔬 showed as 👩 and a
    joiner, 🇯🇵 as a lone boxed J."""
    while 0 < i < len(s) and (continues(s[i]) or s[i - 1] == ZWJ or after_virama(s, i)):
        i -= 1
    return i - (i - len(s[:i].rstrip(FLAG_LETTERS))) % 2


def continues(c: str) -> bool:
    """Whether ``c`` belongs with the character before it (Unicode UAX #29's extenders, roughly)."""
    return (category(c) in ("Mn", "Me", "Mc") or c == ZWJ or "\ufe00" <= c <= "\ufe0f"
            or "\U0001f3fb" <= c <= "\U0001f3ff" or "\U000e0020" <= c <= "\U000e007f")


# The marks of combining class 9 that end a consonant and join none to it (Thai's phinthu, Myanmar's
# asat, Tibetan's halanta…: Unicode's Indic_Syllabic_Category, which unicodedata lacks, calls them
# pure killers); the other ones, Devanagari's and Tamil's virama among them, make a conjunct.
KILLERS = frozenset("\u0d3b\u0d3c\u0e3a\u0eba\u0f84\u103a\u1714\u1715\u1734\u1baa\u1bf2\u1bf3\u2d7f\ua82c\ua953"
                    "\uabed\U00011070\U0001107f\U00011134\U000112ea\U0001172b\U0001193d\U00011a34\U00011d44")


# Conjoiners of scripts newer than the Unicode 14 of Python 3.11's unicodedata, to which they are
# unassigned (Cn): Tulu-Tigalari's (Unicode 16) and Kawi's (15). Marks of combining class 9 that join
# a consonant to the next, as Devanagari's virama does (Unicode's InCB=Linker).
NEWER_VIRAMAS = frozenset("\U000113d0\U00011f42")


def category(c: str) -> str:
    """``c``'s general category, a NEWER_VIRAMAS one's (Mn) too."""
    return "Mn" if c in NEWER_VIRAMAS else unicodedata.category(c)


def after_virama(s: str, i: int) -> bool:
    """Whether ``s[i]`` is a letter (or a sign shown) joined by a virama to the consonant before it,
    one syllable with it: क्ष, க்க, and क्‍ष with a ZWJ between (a half form). A letter unknown to
    unicodedata (Cn) counts: after a NEWER_VIRAMAS one, it is of that newer script."""
    k = i - 1 - (s[i - 1:i] == ZWJ)
    joined = k >= 0 and (unicodedata.combining(s[k]) == 9 or s[k] in NEWER_VIRAMAS) and s[k] not in KILLERS
    return joined and (category(s[i]) == "Cn" or category(s[i])[0] not in "MCZ")
