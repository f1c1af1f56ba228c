"""The index's reading of a text: abbreviations and the long forms they stand for."""
import pytest

from notifier.index import abbreviations, paper_tokens, term_stems, words


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


@pytest.mark.parametrize("british, american", [
    ("optimised", "optimized"), ("regularisation", "regularization"), ("quantising", "quantizing"),
    ("behaviour", "behavior"), ("colours", "colors"), ("modelling", "modeling"), ("centre", "center"),
    ("centred", "centered"), ("fibres", "fibers"), ("analysed", "analyzed"), ("dialogue", "dialog"),
    ("judgements", "judgments"), ("adversarial defence", "adversarial defense"),
    ("metres", "meters"), ("litre", "liter"), ("centimetre", "centimeter"), ("anaemia", "anemia"),
    ("oesophageal cancer", "esophageal cancer"), ("paediatric", "pediatric"), ("haemoglobin", "hemoglobin"),
    ("orthopaedic", "orthopedic"), ("foetal ultrasound", "fetal ultrasound"), ("licenced", "licensed"),
    ("greyscale images", "grayscale images"), ("grey", "gray"), ("sceptical", "skeptical"),
    ("manoeuvres", "maneuvers"), ("aluminium oxide", "aluminum oxide"), ("sulphur", "sulfur"),
    ("sulphide", "sulfide"), ("moulded", "molded"), ("ploughing", "plowing"), ("tyres", "tires"),
    ("cheques", "checks"), ("chequered", "checkered"),
], ids=["ise", "isation", "ising", "our", "ours-plural", "ll", "re", "red", "ibres", "yse", "ogue", "dgement",
        "fence", "metre", "litre", "centimetre", "ae", "oe", "paed", "haem", "ae-inside", "oe-beginning",
        "licence", "greyscale", "grey", "sceptic", "manoeuvre", "aluminium", "sulphur", "sulph-inside",
        "mould", "plough", "tyre", "cheque", "chequer"])
def test_a_british_spelling_is_the_same_word_as_the_american_one(british, american):
    """The stemmer read "optimised" as optimis and "optimized" as optim: a profile written one way
    missed papers written the other way."""
    assert term_stems(british) == term_stems(american)


@pytest.mark.parametrize("word, other", [
    ("premise", "premize"), ("promising", "promizing"), ("ours", "ors"), ("four", "for"),
    ("hours", "hors"), ("hatred", "hated"), ("entre", "enter"), ("shoestring", "shestring"),
    ("greyhound", "grayhound"), ("polystyrene", "polystirene"), ("exchequer", "exchecker"),
], ids=["premise", "promising", "ours", "four", "hours", "hatred", "entre", "oe-inside-a-word", "greyhound",
        "tyre-inside-a-word", "cheque-inside-a-word"])
def test_a_word_spelt_so_in_both_is_not_read_as_another(word, other):
    assert term_stems(word) != term_stems(other)


def test_a_word_always_spelt_ise_keeps_its_family():
    """Read as "supervized", "supervised" would no longer be "supervision"."""
    assert term_stems("weakly supervised") == term_stems("weak supervision")


def test_a_letter_with_a_stroke_is_read_as_typed_without_it():
    """"Bjørn", "Łukasz" and "Groß" fold like "Schrödinger": NFKD has no mark to take off them."""
    assert words("Bjørn Łukasz Groß Æsir") == ["bjorn", "lukasz", "gross", "aesir"]


@pytest.mark.parametrize("text, found", [
    ("Code: https://github.com/org/kv-cache.Distillation helps.", ["Code", "Distillation", "helps"]),
    ("Code at www.example.org/kv-cache,Distillation helps.", ["Code", "at", "Distillation", "helps"]),
    ("See https://github.com/org/kv-cache. Then https://x.org/a.b?q=1:2.", ["See", "Then"]),
], ids=["sentence-glued-to-a-link", "www-link", "links-to-their-end"])
def test_a_url_ends_where_a_sentence_glued_to_it_begins(text, found):
    """The link ran to the next space: "Distillation" was part of it, no word of the paper."""
    assert paper_tokens(text) == found


@pytest.mark.parametrize("text, found", [
    ("Slides: https://x.org/a.Html", ["Slides"]),
    ("Slides: https://x.org/a.Html. Code soon.", ["Slides", "Code", "soon"]),
    ("See https://pytorch.org/docs/torch.nn.Module.html for it.", ["See", "for", "it"]),
    ("Code: https://github.com/org/repo.Self-supervised training helps.",
     ["Code", "Self", "supervised", "training", "helps"]),
], ids=["extension-ends-the-text", "extension-ends-a-sentence", "more-of-the-link-after-it",
        "hyphenated-sentence-start"])
def test_a_capitalised_word_after_a_dot_in_a_link_is_the_links_unless_a_sentence_goes_on(text, found):
    """A link ended at any dot before a capital and a small letter: "Html" and "Module html" were
    words of the paper. A sentence is a capitalised word with more text after it."""
    assert paper_tokens(text) == found


@pytest.mark.parametrize("text, found", [
    ("compute- and memory-efficient", "compute efficient and memory efficient"),
    ("pre- and post-training", "pre training and post training"),
    ("2-, 4- or 8-bit weights", "2 bit 4 bit or 8 bit weights"),
    ("low- to high-resolution", "low resolution to high resolution"),
    ("Compute- And Memory-Efficient", "Compute Efficient And Memory Efficient"),
    ("in- and out-of-distribution", "in distribution and out of distribution"),
    ("the model - and the data-set", "the model and the data set"),
], ids=["and", "prefixes", "a-list", "to", "title-case", "shared-after-small-words", "a-dash-is-no-suspended-hyphen"])
def test_a_suspended_hyphen_stands_for_the_word_after_the_last_one(text, found):
    assert paper_tokens(text) == found.split()
