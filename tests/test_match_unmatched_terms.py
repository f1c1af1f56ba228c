"""A term no stored paper has (a typo, a topic not seen yet) matches nothing and takes nothing away:
the profile's other terms' papers are sent as without it."""
from pathlib import Path

import pytest

from notifier.cli import main
from notifier.match import build_index, match_profile
from notifier.parse import parse_text
from notifier.profile import parse_profile
from test_match import background, unrelated_day
from test_match_weights import PROFILE, sent

ABSENT = ["zzqxv", "ornithology", '"quantum chromodynamics"', "title:zzqxv", 'author:"Nobody Atall"']


@pytest.mark.parametrize("absent", ABSENT)
@pytest.mark.parametrize("profile", ["agents", '"language models", reasoning', "distillation", "safety, attention", "model"])
def test_a_term_no_paper_has_keeps_the_other_terms_papers(samples, capsys, profile, absent):
    """Before, `agents, zzqxv` sent none of the 13 papers `agents` sends on the samples, and
    `model, author:"Nobody Atall"` none of the 27 of `model`."""
    before = sent(samples, capsys, profile)
    assert before
    assert sent(samples, capsys, f"{profile}, {absent}") == before


def test_adding_moe_before_any_moe_paper_keeps_the_web_agent_papers(sample_papers):
    """The reported case, on the samples and the arXiv RSS fixtures: `moe` took the profile from 11 papers to 10."""
    papers = sample_papers + [p for f in sorted(Path(__file__).parent.glob("fixtures/arxiv/arxiv_rss_*.xml"))
                              for p in parse_text(f.read_text())]
    index = build_index(papers)

    def selected(text):
        return [m.paper_id for m in match_profile(index, parse_profile(text)) if m.selected]
    assert len(selected(PROFILE)) == 11
    assert selected(f"{PROFILE}, moe") == selected(PROFILE)


@pytest.mark.parametrize("profile", ["zzqxv", "zzqxv, ornithology, title:moe"])
def test_a_profile_no_paper_matches_sends_nothing(samples, capsys, profile):
    """Guard: with every term absent there is nothing to send, and nothing breaks."""
    assert main(["match", "--papers", str(samples), "--profile", profile, "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"


@pytest.mark.parametrize("profile", ['"KV cache", eviction, "long-context inference", zzqxv',
                                     '"step distillation", "fast sampling", ornithology'])
def test_a_day_with_nothing_relevant_sends_nothing_with_an_absent_term(profile):
    """Guard: an absent term no longer raises the floor, and the day's passing mentions still do not pass it."""
    index = build_index(unrelated_day(), background(300))
    matches = match_profile(index, parse_profile(profile))
    assert matches and not any(m.selected for m in matches)
