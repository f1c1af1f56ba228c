"""The profile language: what a subscriber types and how it is understood."""
import pytest

from notifier.errors import ProfileError
from notifier.profile import parse_profile


@pytest.mark.parametrize("text, expected", [
    ("moe", [("moe", "word", "any", 1.0, None)]),
    ('"KV cache"', [("KV cache", "phrase", "any", 1.0, None)]),
    ("moe, -federated", [("moe", "word", "any", 1.0, None), ("federated", "word", "exclude", 1.0, None)]),
    ("+diffusion", [("diffusion", "word", "required", 1.0, None)]),
    ("moe^2", [("moe", "word", "any", 2.0, None)]),
    ('"kv cache"^1.5', [("kv cache", "phrase", "any", 1.5, None)]),
    ('author:"Tri Dao"', [("Tri Dao", "phrase", "any", 1.0, "author")]),
    ("title:LLM", [("LLM", "word", "any", 1.0, "title")]),
    ('+title:"speculative decoding"', [("speculative decoding", "phrase", "required", 1.0, "title")]),
    ("moe, rag\nlora", [("moe", "word", "any", 1.0, None), ("rag", "word", "any", 1.0, None),
                        ("lora", "word", "any", 1.0, None)]),
    ('"a, b", c', [("a, b", "phrase", "any", 1.0, None), ("c", "word", "any", 1.0, None)]),
    ("moe,\n\n", [("moe", "word", "any", 1.0, None)]),
], ids=["word", "phrase", "exclude", "required", "weight", "phrase-weight", "author", "title",
        "required-title-phrase", "comma-and-newline", "comma-inside-quotes", "trailing-blank-lines"])
def test_terms_are_understood(text, expected):
    got = [(t.text, t.kind, t.mode, t.weight, t.field) for t in parse_profile(text).terms]
    assert got == expected


@pytest.mark.parametrize("text, message", [
    ('"kv cache, moe', "unbalanced quote in term '\"kv cache, moe': close the phrase with \""),
    ("foo:bar", "unknown field 'foo:' in term 'foo:bar': use title: or author:"),
    ("moe,,rag", "empty term after 'moe': remove the extra comma"),
    ("moe^x", "bad weight in term 'moe^x': write a number after ^, e.g. moe^2"),
    ("moe^0", "bad weight in term 'moe^0': it must be above 0 and at most 100"),
    ('moe, ""', "empty term '\"\"': it has no letters or digits"),
    ("moe, -", "empty term '-': it has no letters or digits"),
    ('kv "cache"', "misplaced quote in term 'kv \"cache\"': quote the whole phrase"),
    ("", "empty profile: type at least one term, e.g. \"kv cache\", MoE"),
    ("-federated", "profile has only exclusions (-federated): add a term to look for"),
], ids=["unbalanced-quote", "unknown-field", "empty-between-commas", "bad-weight", "zero-weight",
        "empty-quotes", "lone-minus", "misplaced-quote", "empty-profile", "only-exclusions"])
def test_malformed_profile_gets_one_line_naming_the_term(text, message):
    with pytest.raises(ProfileError) as err:
        parse_profile(text)
    assert str(err.value) == message
    assert "\n" not in str(err.value)


def test_labels_are_the_positive_terms_as_written():
    assert parse_profile('"kv cache", MoE^2, -federated, +title:LLM').labels() == ["kv cache", "MoE", "LLM"]
