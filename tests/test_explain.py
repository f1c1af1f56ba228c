"""Explanations a subscriber reads: which votes moved a paper, in every format, escaped like the rest."""
import json

import pytest

from notifier import render
from notifier.cli import main
from digests import digest


def voted_digest(liked: int, disliked: int):
    d = digest(2)
    d.items[0].match.liked, d.items[0].match.disliked = liked, disliked
    return d


@pytest.mark.parametrize("liked, disliked, line", [
    (2, 0, "ranked up: like 2 papers you voted up"),
    (1, 0, "ranked up: like a paper you voted up"),
    (0, 1, "ranked down: like a paper you voted down"),
    (0, 3, "ranked down: like 3 papers you voted down"),
], ids=["two-liked", "one-liked", "one-disliked", "three-disliked"])
def test_the_why_line_says_which_way_votes_moved_a_paper_in_email_and_slack(liked, disliked, line):
    email = render.render_email(voted_digest(liked, disliked))
    assert email.text.count(line) == 1 and email.html.count(line) == 1
    slack = json.dumps(render.render_slack(voted_digest(liked, disliked)).__dict__, default=str)
    assert line in slack


def test_no_vote_line_without_votes():
    email = render.render_email(digest(2))
    assert "voted" not in email.text and "voted" not in email.html


# ----------------------------------------------------------------------------- notifier match --feedback
PAPERS = [{"id": "experts", "title": "Routing in sparse models",
           "abstract": "Tokens are sent to experts with a learned gate and load balancing."},
          {"id": "packets", "title": "Routing in sparse networks",
           "abstract": "Packets are sent to switches with a learned table and load shedding."},
          {"id": "proteins", "title": "Protein folding", "abstract": "Proteins fold."}]
OLD_LIKED = {"id": "old-1", "title": "Load balancing for mixture-of-experts", "abstract": "A gate sends tokens to experts."}


@pytest.fixture
def files(tmp_path):
    def write(name, rows):
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return str(path)
    return write


def test_feedback_file_reorders_and_explains(files, capsys):
    papers = files("papers.jsonl", PAPERS)
    votes = files("votes.jsonl", [{**OLD_LIKED, "vote": 1}, {"id": "proteins", "vote": -1}])
    assert main(["match", "--papers", papers, "--profile", "routing", "--feedback", votes]) == 0
    out = capsys.readouterr().out
    assert out.index("experts") < out.index("packets") and "ranked up: like a paper you voted up" in out
    assert main(["match", "--papers", papers, "--profile", "routing", "--feedback", votes, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == ["experts", "packets"] and set(rows[0]) == {"id", "score", "selected", "matched"}


def test_a_vote_on_an_unknown_paper_without_text_is_skipped_with_a_note(files, capsys):
    papers = files("papers.jsonl", PAPERS)
    votes = files("votes.jsonl", [{"id": "never-seen", "vote": 1}])
    assert main(["match", "--papers", papers, "--profile", "routing", "--feedback", votes, "--json"]) == 0
    captured = capsys.readouterr()
    assert "vote on never-seen skipped" in captured.err and len(json.loads(captured.out)) == 2


@pytest.mark.parametrize("line", [{"id": "x", "vote": 2}, {"vote": 1}, {"id": "x", "vote": True}, ["x", 1]],
                         ids=["vote-2", "no-id", "vote-true", "not-an-object"])
def test_a_bad_vote_line_is_one_line_naming_file_and_line(files, capsys, line):
    papers = files("papers.jsonl", PAPERS)
    votes = files("votes.jsonl", [{"id": "experts", "vote": 1}, line])
    assert main(["match", "--papers", papers, "--profile", "routing", "--feedback", votes]) == 1
    err = capsys.readouterr().err.strip()
    assert "votes.jsonl: line 2: expected" in err and "\n" not in err


def test_profiles_lines_carry_their_own_feedback(files, capsys):
    papers = files("papers.jsonl", PAPERS)
    packets_fan = {"id": "old-2", "title": "Packet switches", "abstract": "Switches forward packets to a table.", "vote": 1}
    profiles = files("profiles.jsonl", [{"id": "a", "profile": "routing", "feedback": [{**OLD_LIKED, "vote": 1}]},
                                        {"id": "b", "profile": "routing", "feedback": [packets_fan]},
                                        {"id": "c", "profile": "routing"}])
    votes = files("votes.jsonl", [packets_fan])
    assert main(["match", "--papers", papers, "--profiles", profiles, "--json", "--feedback", votes]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [[m["id"] for m in x["matches"]] for x in lines] == [["experts", "packets"], ["packets", "experts"],
                                                                ["packets", "experts"]]


def test_the_liked_line_goes_only_to_the_paper_the_votes_moved_up(files, capsys):
    """Both papers have every word of the liked one; only the one with its phrase 'load balancing' rose."""
    papers = files("papers.jsonl", [
        {"id": "whole", "title": "Routing of tokens", "abstract": "Load balancing keeps every expert busy during routing."},
        {"id": "apart", "title": "Routing of tokens", "abstract": "Balancing keeps every expert busy during load routing."},
        {"id": "host", "title": "Serving requests", "abstract": "Load balancing spreads requests across servers."}])
    votes = files("votes.jsonl", [{"id": "old-9", "title": "Load balancing in sparse networks",
                                   "abstract": "Load balancing for experts.", "vote": 1}])
    assert main(["match", "--papers", papers, "--profile", "routing", "--feedback", votes]) == 0
    out = capsys.readouterr().out
    assert out.index("whole") < out.index("apart") and out.count("ranked up: like a paper you voted up") == 1
    assert out.index("ranked up: like a paper you voted up") < out.index("apart")


def test_notifier_match_says_a_paper_voted_up_itself_was_voted_up_not_that_it_is_like_one(files, capsys):
    """As the digest says it: 'like a paper you voted up' named the paper itself."""
    papers = files("papers.jsonl", PAPERS)
    votes = files("votes.jsonl", [{"id": "experts", "vote": 1}])
    assert main(["match", "--papers", papers, "--profile", "routing", "--feedback", votes]) == 0
    experts = capsys.readouterr().out.split("packets")[0]
    assert "ranked up: you voted it up" in experts and "like a paper you voted up" not in experts


# ----------------------------------------------------------------------------- snippets
@pytest.mark.parametrize("text", [
    "(Re)Thinking the KV cache?",
    "“Lost in the Middle”: KV cache retrieval.",
    "*Bold* KV cache claims <i>",
], ids=["parentheses", "quotes", "markup"])
def test_a_snippet_that_quotes_the_whole_text_keeps_its_first_and_last_characters(text):
    """A short title is quoted whole: it read "Re)Thinking the KV cache" or "Lost in the
    Middle”: …" without its first and last punctuation."""
    from notifier.explain import snippet
    from notifier.index import term_stems

    _, segments, _ = snippet(text, set(term_stems("kv cache")), term_stems("kv cache"))
    assert "".join(t for t, _ in segments) == text
    assert [t for t, hit in segments if hit] == ["KV cache"]


def test_a_phrase_is_shown_where_it_stands_whole_not_where_its_words_are_scattered(files, capsys):
    """The title has both words apart, the abstract the phrase itself: the why line quotes the
    abstract, not a title that is about something else."""
    papers = files("papers.jsonl", [
        {"id": "p1", "title": "Compressing the KV states of a shared cache for serving",
         "abstract": "We study the KV cache of transformers and compress it with quantization."}])
    assert main(["match", "--papers", papers, "--profile", '"kv cache"']) == 0
    out = capsys.readouterr().out
    assert "abstract: We study the [KV cache] of transformers" in out and "title:" not in out


def test_a_title_term_is_shown_in_the_title_even_where_the_abstract_has_it_whole(files, capsys):
    papers = files("papers.jsonl", [{"id": "p1", "title": "State tracking in a space of models",
                                     "abstract": "A state space model with selective scans."}])
    assert main(["match", "--papers", papers, "--profile", 'title:"state space"']) == 0
    out = capsys.readouterr().out
    assert "title: [State] tracking in a [space] of models" in out and "abstract:" not in out


@pytest.mark.parametrize("profile", ["naive", "naïve"])
def test_a_word_written_with_combining_accents_is_highlighted_in_its_snippet(files, capsys, profile):
    """'naïve' pasted from a PDF is 'nai' + U+0308 + 've': the paper matched, but its why line
    showed no snippet, as if the word were not in the title."""
    import unicodedata

    title = unicodedata.normalize("NFD", "Müller’s naïve entropy estimator")
    papers = files("papers.jsonl", [{"id": "p1", "title": title, "abstract": "Entropy."}])
    assert main(["match", "--papers", papers, "--profile", profile]) == 0
    out = unicodedata.normalize("NFC", capsys.readouterr().out)
    assert "title: Müller’s [naïve] entropy estimator" in out


@pytest.mark.parametrize("profile", ["naively", "naïvely"])
def test_a_word_with_a_tex_accent_is_highlighted_whole_as_the_paper_writes_it(files, capsys, profile):
    """arXiv abstracts write accents in TeX: 'na\\"{\\i}vely' was two words, "na" and "vely"."""
    papers = files("papers.jsonl", [{"id": "p1", "title": "Attention at scale",
                                     "abstract": 'However, na\\"{\\i}vely implemented it is slow.'}])
    assert main(["match", "--papers", papers, "--profile", profile]) == 0
    assert 'abstract: However, [na\\"{\\i}vely] implemented it is slow.' in capsys.readouterr().out


@pytest.mark.parametrize("profile, title, shown", [
    ("optimized kernels", "Optimised kernels for attention", "title: [Optimised kernels] for attention"),
    ("regularisation", "Regularization of sparse experts", "title: [Regularization] of sparse experts"),
    ("agent behavior", "Agent behaviour in games", "title: [Agent behaviour] in games"),
    ("data center", "Scheduling in a data centre", "title: Scheduling in a [data centre]"),
], ids=["ise", "isation", "our", "re"])
def test_a_term_in_one_spelling_finds_and_highlights_the_papers_other_spelling(files, capsys, profile, title, shown):
    papers = files("papers.jsonl", [{"id": "p1", "title": title, "abstract": "Results."},
                                    {"id": "p2", "title": "Protein folding", "abstract": "Proteins fold."}])
    assert main(["match", "--papers", papers, "--profile", profile]) == 0
    assert shown in capsys.readouterr().out


@pytest.mark.parametrize("profile", ["große", "grosse"])
def test_a_word_with_a_tex_letter_is_highlighted_whole_as_the_paper_writes_it(files, capsys, profile):
    papers = files("papers.jsonl", [{"id": "p1", "title": "Sprachmodelle", "abstract": "Gro\\ss{}e Sprachmodelle lernen."}])
    assert main(["match", "--papers", papers, "--profile", profile]) == 0
    assert "abstract: [Gro\\ss{}e] Sprachmodelle lernen." in capsys.readouterr().out


def test_a_phrase_written_through_a_suspended_hyphen_is_found_whole(files, capsys):
    """"Compute- and memory-efficient" is compute-efficient too: it was a weaker match, "part of
    compute-efficient", as a paper with the two words apart is."""
    papers = files("papers.jsonl", [
        {"id": "p1", "title": "Compute- and memory-efficient training", "abstract": "We train."},
        {"id": "p2", "title": "Efficient training", "abstract": "Compute budgets matter. We train efficiently."},
        {"id": "p3", "title": "Protein folding", "abstract": "Proteins fold."}])
    assert main(["match", "--papers", papers, "--profile", "compute-efficient"]) == 0
    out = capsys.readouterr().out
    assert "p1  Compute- and memory-efficient training\n            matched: compute-efficient\n" in out
    assert "title: [Compute- and memory-efficient] training" in out


@pytest.mark.parametrize("text, term, shown", [
    ("Compute- and memory-efficient training", "compute-efficient", "[Compute- and memory-efficient] training"),
    ("Weights in 2-, 4- or 8-bit formats", "4-bit", "Weights in 2-, [4- or 8-bit] formats"),
    ("We test in- and out-of-distribution data", "in-distribution", "We test [in- and out-of-distribution] data"),
    ("Compute- and memory-efficient training", "memory-efficient", "Compute- and [memory-efficient] training"),
], ids=["first-hanging-word", "one-of-a-list", "shared-after-small-words", "the-phrase-as-written"])
def test_a_phrase_read_through_a_suspended_hyphen_is_one_highlight_over_the_words_it_was_read_from(text, term, shown):
    """Its two words were highlighted apart: "[Compute]- and memory-[efficient]"."""
    from notifier.explain import snippet
    from notifier.index import term_stems

    _, segments, whole = snippet(text, set(term_stems(term)), term_stems(term))
    assert whole and "".join(f"[{t}]" if hit else t for t, hit in segments) == shown


def test_the_first_word_of_a_sentence_glued_to_a_link_is_found_and_highlighted(files, capsys):
    papers = files("papers.jsonl", [{"id": "p1", "title": "Small students", "abstract":
                                     "Code: https://github.com/org/repo.Distillation helps."},
                                    {"id": "p2", "title": "Protein folding", "abstract": "Proteins fold."}])
    assert main(["match", "--papers", papers, "--profile", "distillation"]) == 0
    assert "abstract: Code: https://github.com/org/repo.[Distillation] helps." in capsys.readouterr().out


def test_an_abbreviation_is_highlighted_in_its_plural_and_not_inside_a_longer_one(files, capsys):
    """"GNN" found "GNNs" nowhere; "TP" was highlighted inside "TPUs"."""
    papers = files("papers.jsonl", [{"id": "p1", "title": "Scaling GNNs on TPUs", "abstract": "Graphs."}])
    assert main(["match", "--papers", papers, "--profile", "GNN, TP"]) == 0
    out = capsys.readouterr().out
    assert "title: Scaling [GNNs] on TPUs" in out and "[TP" not in out


def test_a_paper_matched_through_the_long_form_of_an_abbreviation_shows_the_long_form(files, capsys):
    """Another stored paper defines "Mixture-of-Experts (MoE)"; this one never writes MoE."""
    papers = files("papers.jsonl", [
        {"id": "long", "title": "Routing tokens in Mixture-of-Experts layers without auxiliary loss",
         "abstract": "We route tokens among experts; the Mixture-of-Experts layer needs no balancing loss."},
        {"id": "short", "title": "Scaling MoE inference", "abstract": "Mixture-of-Experts (MoE) models are costly."},
        {"id": "other", "title": "Protein folding", "abstract": "Proteins fold."}])
    assert main(["match", "--papers", papers, "--profile", "MoE", "--threshold", "0.1"]) == 0
    out = capsys.readouterr().out
    assert "title: Routing tokens in [Mixture-of-Experts] layers without auxiliary loss" in out


def test_a_weaker_match_shows_why_it_matched_too(files, capsys):
    """`notifier match` lists the matches below the bar with their terms; they had no snippet, so a
    subscriber tuning a profile could not see where a weaker paper had the term."""
    papers = files("papers.jsonl", PAPERS)
    assert main(["match", "--papers", papers, "--profile", "routing", "--max-items", "1"]) == 0
    out = capsys.readouterr().out
    assert "title: [Routing] in sparse models" in out and "title: [Routing] in sparse networks" in out
    assert "1 selected (*), 1 more passed the bar (--max-items 1), 0 weaker matches, 3 papers" in out


def test_a_phrase_found_only_as_its_words_apart_is_named_so(files, capsys):
    """The paper has "long" and "inference" but never "long-context inference": the why line said
    "matched: long-context inference" above a snippet "as [long] as", as if it had the phrase."""
    papers = files("papers.jsonl", [
        {"id": "apart", "title": "Fast inference for transformers", "abstract": "It runs long sequences quickly."},
        {"id": "whole", "title": "Long-context inference at scale", "abstract": "Serving long prompts."}])
    assert main(["match", "--papers", papers, "--profile", '"long-context inference"', "--threshold", "0.05"]) == 0
    out = capsys.readouterr().out
    assert out.count("matched: long-context inference (its words apart)") == 1
    assert out.count("matched: long-context inference\n") == 1
    assert out.index("whole") < out.index("(its words apart)")


def test_a_long_title_is_cut_after_a_word(files, capsys):
    title = "LazyEviction: Lagged KV Eviction with Attention Pattern Observation for Efficient Long Reasoning"
    papers = files("papers.jsonl", [{"id": "p1", "title": title, "abstract": "KV eviction."}])
    assert main(["match", "--papers", papers, "--profile", "eviction"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.endswith("p1  LazyEviction: Lagged KV Eviction with Attention Pattern Observation for …")


def test_two_terms_found_in_the_same_words_quote_them_once(files, capsys):
    """'speech' and 'speech separation' both found in the title: it was quoted twice, '[Speech]
    Separation' and then '[Speech Separation]'."""
    papers = files("papers.jsonl", [{"id": "p1", "title": "Monaural speech separation with transformers",
                                     "abstract": "We separate voices."}])
    assert main(["match", "--papers", papers, "--profile", 'speech, "speech separation"']) == 0
    out = capsys.readouterr().out
    assert out.count("title:") == 1 and "title: Monaural [speech separation] with transformers" in out


def test_a_snippet_starts_and_ends_at_whole_words():
    """Cut at the tokens around the hit, a snippet began "… to-end" and ended "(e.g …"."""
    from notifier.explain import snippet
    from notifier.index import term_stems

    filler = " ".join(f"w{k}" for k in range(15))
    text = f"Alpha beta gamma delta end-to-end w w w w KV cache {filler} (e.g., more text) follows here."
    _, segments, _ = snippet(text, set(term_stems("kv cache")), term_stems("kv cache"))
    shown = "".join(t for t, _ in segments)
    assert shown.startswith("… end-to-end w w w w KV cache") and shown.endswith(" (e.g., …")


def test_two_terms_found_in_one_sentence_are_quoted_once_with_both_highlighted(files, capsys):
    """'MoE' and 'sparse experts' in one sentence: it was quoted twice, '… Sparse mixture-of-experts
    ([MoE]) …' and then '… [Sparse] mixture-of-[experts] (MoE) …'."""
    papers = files("papers.jsonl", [{"id": "p1", "title": "Scaling language models",
                                     "abstract": "As the hidden layer width grows, sparse mixture-of-experts (MoE) "
                                                 "architectures decouple model size from compute."}])
    assert main(["match", "--papers", papers, "--profile", 'MoE, "sparse experts"']) == 0
    out = capsys.readouterr().out
    assert out.count("abstract:") == 1
    assert "[sparse] mixture-of-[experts] ([MoE]) architectures" in out


def test_a_digest_quotes_a_sentence_once_for_two_terms_found_in_it():
    """The digest's why lines quoted one sentence twice, once per term: '… Sparse mixture-of-experts
    (*MoE*) …' and '… *Sparse* mixture-of-*experts* (MoE) …'."""
    from notifier.match import build_index, match_profile
    from notifier.profile import parse_profile

    abstract = "As the hidden layer width grows, sparse mixture-of-experts (MoE) architectures decouple model size."
    index = build_index([{"id": "p1", "title": "Scaling language models", "abstract": abstract}])
    [m] = match_profile(index, parse_profile('MoE, "sparse experts"'))
    d = digest(1)
    d.items[0].paper.title, d.items[0].paper.abstract, d.items[0].match = "Scaling language models", abstract, m
    text = " ".join(render.render_email(d).text.split())
    assert text.count("why:") == 1 and "why: MoE, sparse experts (abstract, sparse experts by its words apart):" in text
    assert "*sparse* mixture-of-*experts* (*MoE*) architectures" in text
