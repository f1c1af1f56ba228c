"""TeX in titles and abstracts: the words the matcher reads, where the why line finds them."""
import pytest

from notifier.index import words
from notifier.tex import without_commands


@pytest.mark.parametrize("tex, word", [
    ('na\\"{\\i}vely', "naively"),
    ('Schr\\"odinger', "schrodinger"),
    ('Schr{\\"o}dinger', "schrodinger"),
    ("caf\\'e", "cafe"),
    ("\\'{E}tienne", "etienne"),
    ("Erd\\H{o}s", "erdos"),
    ("\\v{C}ech", "cech"),
], ids=["dotless-i-in-braces", "umlaut", "braces-around-the-accent", "accent-at-the-end",
        "accent-at-the-start", "letter-named-accent", "caron"])
def test_a_tex_accent_leaves_its_word_one_word_the_text_the_same_length(tex, word):
    assert words(f"a {tex} b") == ["a", word, "b"]
    assert len(without_commands(tex)) == len(tex)


def test_a_tex_command_that_is_no_accent_is_still_no_word():
    assert words("5.18\\times faster, {\\em sparse} and \\cite{x}") == ["5", "18", "faster", "sparse", "and", "x"]


@pytest.mark.parametrize("tex, word", [
    ("Gro\\ss{}e", "grosse"),
    ("Gro\\ss e", "grosse"),
    ("Bj{\\o}rn", "bjorn"),
    ("Bj\\o rn", "bjorn"),
    ('\\AA ngstr\\"om', "angstrom"),
    ("Ma\\l{}ecki", "malecki"),
    ("P\\aa l", "pal"),
], ids=["ss-braces", "ss-space", "o-in-braces", "o-space", "AA-and-accent", "l-braces", "aa-space"])
def test_a_tex_letter_is_its_letter_inside_its_word_the_text_the_same_length(tex, word):
    """\\ss, \\o, \\aa, \\l are letters of their own: "Gro\\ss{}e" was the words "gro" and "e"."""
    assert words(f"a {tex} b") == ["a", word, "b"]
    assert len(without_commands(tex)) == len(tex)


def test_a_command_that_begins_like_a_tex_letter_is_still_no_word():
    assert words("x \\leq y \\in z, \\log n, \\ldots") == ["x", "y", "z", "log", "n"]


def test_a_number_glued_to_times_is_a_factor_not_the_word_times():
    """A source that drops the backslash and dollars of "4$\\times$" writes "4times": its part
    "times" was the word time, found by a profile term "inference time"."""
    assert words("up to 4times faster, 2.5times less memory, 3 times") == \
        ["up", "to", "4", "faster", "2", "5", "less", "memory", "3", "times"]
