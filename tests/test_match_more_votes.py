"""More votes pull harder (notifier/votes.py ``credibility``): a subscriber who keeps voting for papers
like one another should see papers like them rise further, not as far as after a few votes."""
import numpy as np
import pytest

from notifier.match import build_index, match_profile
from notifier.profile import parse_profile
from notifier.votes import credibility
from test_match import background
from test_votes import DAY, LIKED


def lift_after(likes: int) -> dict:
    """Each day paper's score with ``likes`` likes (on earlier days' papers, each a copy of the gates
    paper) over its score without them, for the profile 'routing'."""
    index = build_index(DAY, background() + [LIKED])
    profile = parse_profile("routing")
    plain = {m.paper_id: m.score for m in match_profile(index, profile)}
    votes = [({"id": f"liked-{i}", "title": LIKED.title, "abstract": LIKED.abstract}, 1) for i in range(likes)]
    return {m.paper_id: m.score / plain[m.paper_id] for m in match_profile(index, profile, feedback=votes)}


def test_ten_likes_lift_the_papers_like_them_further_than_five():
    five, ten = lift_after(5), lift_after(10)
    assert five["experts0"] > 1.05
    assert ten["experts0"] > five["experts0"] * 1.02
    assert ten["weak0"] < five["weak0"]          # ... and what is unlike them falls further


@pytest.mark.parametrize("likes", [1, 3])
def test_fewer_than_five_likes_pull_as_five_do(likes):
    """Guard: below the count the vote weights were tuned at, a like's pull is what it was."""
    assert lift_after(likes)["experts0"] == pytest.approx(lift_after(5)["experts0"], rel=1e-4)


def test_a_hundred_likes_still_move_a_paper_at_most_x2_7():
    """Guard: however many votes, the cap on how far they move a paper holds."""
    moved = lift_after(100)
    assert max(moved.values()) <= 2.7183 + 0.001
    assert min(moved.values()) >= 1 / 2.718 - 0.001


def test_ten_votes_pull_one_and_a_half_times_as_hard_as_five_and_no_number_past_three_times():
    """The README's figures for the pull of many votes."""
    assert credibility(np.array([1, 5, 10, 10**9])) == pytest.approx([1.0, 1.0, 1.5, 3.0], rel=1e-6)
