"""A word two phrases of a profile share ("kernel" in "kernel fusion" and "GPU kernels")."""
from notifier.match import build_index, match_profile
from notifier.profile import parse_profile
from test_match import background, paper


def test_a_word_two_phrases_share_counts_for_each_phrase():
    """Guard: a paper with only the shared word ranks well above one with another word of one phrase,
    as the word backs off from both phrases. Counting it once per paper (for the phrase it serves
    best) was measured and rejected: nDCG@10 over the 24 judged profiles 0.843 -> 0.823 (old 6
    0.932 -> 0.898, new 18 0.814 -> 0.798), selection F1 0.686 -> 0.669; the word the subscriber
    repeats is what the profile is about (benchmarks/eval_matcher.py)."""
    papers = [paper("kernels", "Faster kernels for inference", "We write new kernels."),
              paper("fusion", "Faster fusion for inference", "We write new fusion.")]
    index = build_index(papers, background())
    scores = {m.paper_id: m.score for m in match_profile(index, parse_profile('"kernel fusion", "GPU kernels"'))}
    assert scores["kernels"] > 1.3 * scores["fusion"]
