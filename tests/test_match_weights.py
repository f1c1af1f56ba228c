"""Weighted terms (`moe^2`): a weight orders and favours its term's papers; the bar the others'
papers meet stays the one the profile has without it."""
import json

import pytest

from notifier.cli import main
from notifier.match import build_index, match_profile
from notifier.profile import parse_profile
from test_match import background, unrelated_day

PROFILE = 'agents, -diffusion, title:"web agent"'


def sent(samples, capsys, profile: str) -> dict[str, list[str]]:
    """What `notifier match --profile PROFILE --json` selects: paper id -> the terms it matched."""
    assert main(["match", "--papers", str(samples), "--profile", profile, "--json"]) == 0
    return {m["id"]: m["matched"] for m in json.loads(capsys.readouterr().out) if m["selected"]}


def test_adding_a_weighted_term_keeps_the_other_terms_papers(samples, capsys):
    """The reported case: adding `moe^2` to this profile took it from 9 papers to 1 on the samples."""
    before = sent(samples, capsys, PROFILE)
    assert len(before) == 9
    assert sent(samples, capsys, f"{PROFILE}, moe^2") == before


@pytest.mark.parametrize("weight", ["2", "3"])
@pytest.mark.parametrize("term", ["distillation", "safety", "attention", "medical", "search"])
def test_a_boosted_term_sends_at_least_what_the_unweighted_one_sends(samples, capsys, term, weight):
    plain = sent(samples, capsys, f"{PROFILE}, {term}")
    boosted = sent(samples, capsys, f"{PROFILE}, {term}^{weight}")
    assert set(plain) <= set(boosted)


@pytest.mark.parametrize("profile, term", [("agents", "benchmark"), (PROFILE, "search"), ('"language models"', "alignment")])
def test_a_boosted_term_brings_in_more_of_its_own_papers(samples, capsys, profile, term):
    plain = sent(samples, capsys, f"{profile}, {term}")
    boosted = sent(samples, capsys, f"{profile}, {term}^2")
    gained = set(boosted) - set(plain)
    assert gained and all(term in boosted[p] for p in gained)


@pytest.mark.parametrize("profile, term", [("agents", "safety"), ("agents", "attention"), (PROFILE, "memory"),
                                           ('"language models", reasoning', "video")])
def test_a_weight_below_one_asks_more_of_its_own_papers_and_nothing_of_the_others(samples, capsys, profile, term):
    plain = sent(samples, capsys, f"{profile}, {term}")
    lowered = sent(samples, capsys, f"{profile}, {term}^0.5")
    assert set(lowered) <= set(plain)
    assert {p for p in lowered if term not in lowered[p]} == {p for p in plain if term not in plain[p]}


@pytest.mark.parametrize("terms", [["agents"], ['"web agent"'], ["distillation"], ["agents", "safety", "reasoning"]])
@pytest.mark.parametrize("weight", ["3", "0.5"])
def test_a_weight_every_term_shares_changes_nothing_sent(samples, capsys, terms, weight):
    """Guard: a weight says how a term counts against the profile's others; alone it means nothing."""
    assert sent(samples, capsys, ", ".join(f"{t}^{weight}" for t in terms)) == sent(samples, capsys, ", ".join(terms))


@pytest.mark.parametrize("profile", ['"KV cache"^3, eviction, "long-context inference"',
                                     '"KV cache", eviction, "long-context inference", spring^2',
                                     '"step distillation", "fast sampling", observations^3'])
def test_a_day_with_nothing_relevant_sends_nothing_whatever_the_weights(profile):
    """A boosted word the day's unrelated papers all have in passing ("Observations of site 3 in
    spring") is still a passing mention: before, `spring^2` sent all 24 of them."""
    index = build_index(unrelated_day(), background(300))
    matches = match_profile(index, parse_profile(profile))
    assert matches and not any(m.selected for m in matches)
