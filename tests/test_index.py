"""The index's reading of a text: abbreviations and the long forms they stand for."""
import pytest

from notifier.index import abbreviations


@pytest.mark.parametrize("text, long", [
    ("Inspired by self supervised learning (SSL) methods, we", "self supervised learning"),
    ("samples are independent and identically distributed (IID), so", "independent and identically distributed"),
    ("We use self-supervised learning (SSL) for speech.", "self-supervised learning"),
    ("a new basic component named Sparse Shift Layer (SSL) is", "Sparse Shift Layer"),
    ("the same size large language model (LLM) can", "large language model"),
], ids=["first-word-spells-a-letter-too", "first-letter-in-a-word-before", "hyphenated-first-word",
        "each-letter-a-word", "no-word-before-the-first-letter"])
def test_an_abbreviation_stands_for_the_words_whose_first_letters_spell_it(text, long):
    """The shortest words spelling it took "supervised learning" for SSL: a profile term
    "supervised learning" then reached every paper writing SSL."""
    [(_, _, _, found)] = abbreviations(text)
    assert found == long
