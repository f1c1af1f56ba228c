r"""TeX formulas in titles and abstracts, as arXiv writes them ("$\mathcal{O}(n \log n)$"), as plain
text, and the text-mode styles and escapes around them ("\emph{Sparse}", "Q\&A"). No mail client or
Slack typesets TeX, so a formula made only of what plain text can show is written that way
("O(n log n)"); one with anything else stays as typed. A "$" opens a formula only
before a non-space and closes one only after a non-space and not before a digit: "$5 and $10" is
money.
"""
from __future__ import annotations

import re
import unicodedata

TEX_MATH = re.compile(r"(?<![\\$])\$(?=\S)([^$\n]{1,200}?)(?<=[^\s\\])\$(?!\d)")
TEX_STYLE = re.compile(r"\\(?:math(?:cal|rm|bf|it|sf|tt|bb|frak|scr)|text(?:rm|bf|it|sf|tt)?|operatorname|bm)\{([\w ]*)\}")
TEX_BB = re.compile(r"\\mathbb\{([NZQRC])\}")
TEX_SQRT = re.compile(r"\\sqrt\{([^{}\\]+)\}")
TEX_COMMAND = re.compile(r"\\([A-Za-z]+|[,;!% ])")
TEX_SCRIPT = re.compile(r"([_^])(?:\{([^{}]*)\}|(\w))")
TEX_SYMBOLS = {
    **dict(zip("alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi pi "
               "rho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Pi Sigma Phi Psi "
               "Omega".split(), "αβγδεεζηθϑικλμνξπρστυϕφχψωΓΔΘΛΞΠΣΦΨΩ")),
    **{f: f for f in "log ln exp sin cos tan max min arg lim sup inf det".split()},
    "ell": "ℓ", "infty": "∞", "times": "×", "cdot": "·", "leq": "≤", "le": "≤", "geq": "≥", "ge": "≥",
    "neq": "≠", "approx": "≈", "sim": "∼", "pm": "±", "to": "→", "rightarrow": "→", "in": "∈",
    "partial": "∂", "nabla": "∇", "ldots": "…", "dots": "…", "cdots": "⋯", ",": " ", ";": " ", " ": " ",
    "!": "", "%": "%", "quad": " ",
}
SUPERSCRIPT = dict(zip("0123456789+-=()in", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁱⁿ")) | dict(zip("dkT", "ᵈᵏᵀ"))
SUBSCRIPT = dict(zip("0123456789+-=()", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎"))
TEX_NAME = re.compile(r"\\([A-Za-z]+)")
# an accented letter: \"o, \'{e}, \"{\i}, \v{c}: the command and the letter; then braces around both ({\"o})
TEX_ACCENT = re.compile(r"""\\(?:(["'`^~=.])|([uvHckr])(?=[{ ]))\s?(?:\{(\\?[A-Za-z])\}|(\\?[A-Za-z]))""")
ACCENT_MARKS = dict(zip("\"'`^~=.uvHckr", "\u0308\u0301\u0300\u0302\u0303\u0304\u0307\u0306\u030c\u030b\u0327\u0328\u030a"))
# a letter of its own: Gro\ss{}e, {\o}, \aa, Ma\l ecki (a command's name ends at a non-letter; "{}" or
# one space after it is part of it)
TEX_LETTER = re.compile(r"\\(ss|aa|AA|ae|AE|oe|OE|o|O|l|L|i|j)(?![A-Za-z])(?:\{\}| )?")
TEX_LETTERS = dict(zip("ss aa AA ae AE oe OE o O l L i j".split(), "ßåÅæÆœŒøØłŁıȷ"))
DROPPED_TIMES = re.compile(r"times(?<=\dtimes)\b")   # "3times": a $\times$ whose backslash a source dropped
WORD_JOINER = "\u2060"     # invisible, inside a word (notifier.index.INVISIBLE)
BRACED_LETTER = re.compile(rf"\{{([^\W\d_]{WORD_JOINER}+)\}}")
TEX_TEXT_STYLE = re.compile(r"\\(?:text(?:bf|it|tt|sc|sf|rm|sl|up|md)|emph|underline)\{([^{}\\$]*)\}")
TEX_TEXT_ESCAPE = re.compile(r"\\([&%#_])")


def readable_tex(s: str) -> str:
    """``s`` with each formula it can show as plain text written so (see TEX_MATH), and outside
    formulas a style command around plain words shown as the words ("\\textbf{Sparse}" ->
    "Sparse"), an escaped character as itself ("Q\\&A" -> "Q&A") and an accented letter or a
    letter of its own as that letter ("B\\"uttiker" -> "Büttiker", as ``without_commands`` reads it)."""
    s = TEX_MATH.sub(_formula, s) if "$" in s else s
    if "\\" not in s:
        return s
    s = BRACED_LETTER.sub(r"\1", TEX_LETTER.sub(_letter, TEX_ACCENT.sub(_accented, s))).replace(WORD_JOINER, "")
    return TEX_TEXT_ESCAPE.sub(r"\1", TEX_TEXT_STYLE.sub(r"\1", s))


def without_commands(s: str) -> str:
    """``s`` with each TeX command that plain text shows as no word blanked, the same length
    ("5.18\\times" -> "5.18      ", and "5.18times" where a source dropped the backslash): "times",
    "emph" or "mathcal" is not a word of the paper, and the why line highlights words where the
    text has them. One shown as a word or letter (\\log, \\alpha) stays. An accented letter, or
    a letter of its own (\\ss, \\o), is that letter, padded to the command's length with word
    joiners, inside its word: "na\\"{\\i}vely" is one word, "naïvely" (not "na" and "vely")."""
    if "times" in s:
        s = DROPPED_TIMES.sub("     ", s)
    if "\\" not in s:
        return s
    s = TEX_LETTER.sub(_letter, TEX_ACCENT.sub(_accented, s))
    return TEX_NAME.sub(_blank, BRACED_LETTER.sub(lambda m: m[1] + WORD_JOINER * 2, s))


def _accented(m: re.Match) -> str:
    """\\"{\\i} -> 'ï' and 5 word joiners."""
    letter = unicodedata.normalize("NFC", (m[3] or m[4])[-1] + ACCENT_MARKS[m[1] or m[2]])
    return letter + WORD_JOINER * (len(m[0]) - len(letter))


def _letter(m: re.Match) -> str:
    """\\ss{} -> 'ß' and 4 word joiners."""
    return TEX_LETTERS[m[1]] + WORD_JOINER * (len(m[0]) - 1)


def _blank(m: re.Match) -> str:
    return m[0] if TEX_SYMBOLS.get(m[1], "").isalpha() else " " * len(m[0])


def _formula(m: re.Match) -> str:
    f = TEX_STYLE.sub(r"\1", TEX_BB.sub(lambda b: "ℕℤℚℝℂ"["NZQRC".index(b[1])], m[1]))
    f = TEX_COMMAND.sub(_symbol, TEX_SQRT.sub(lambda r: f"√{r[1]}" if r[1].isalnum() else f"√({r[1]})", f))
    f = TEX_SCRIPT.sub(_script, f)
    return m[0] if any(c in f for c in "\\{}") else f


def _symbol(m: re.Match) -> str:
    """\\alpha -> α; \\ln -> "ln", with a space before a letter or a command after it: "\\ln\\ln T" is "ln ln T"."""
    shown = TEX_SYMBOLS.get(m[1], m[0])
    spaced = m[1].isalpha() and shown.isalpha() and len(shown) > 1 and re.match(r"[\\\w]", m.string[m.end():])
    return shown + " " if spaced else shown


def _script(m: re.Match) -> str:
    """x^{2} -> x², x_2 -> x₂; what has no such character: x^(1.5), x_i."""
    chars = m[2] if m[2] is not None else m[3]
    table = SUPERSCRIPT if m[1] == "^" else SUBSCRIPT
    if chars and all(c in table for c in chars):
        return "".join(table[c] for c in chars)
    return m[1] + (chars if len(chars) == 1 or chars.isalnum() else f"({chars})")
