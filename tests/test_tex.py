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
