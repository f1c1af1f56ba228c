"""Votes (notifier/votes.py): what a subscriber who votes would notice in the order of their matches."""
import pytest

from notifier.match import build_index, match_profile
from notifier.profile import parse_profile
from test_match import background, paper

LIKED = paper("gates", "Routing with gates for experts", "A learned gate sends tokens to experts.")
DAY = ([paper(f"experts{i}", f"Routing for experts {i}", "Each token goes to two experts.") for i in range(2)]
       + [paper(f"strong{i}", f"Routing in sparse models {i}", "Routing decides the path; routing is learned end to end.")
          for i in range(3)]
       + [paper(f"weak{i}", f"Datacenter switches {i}", "Switches forward packets by a table; routing is static.")
          for i in range(3)])


def lifts(day: list, stored: list, liked=LIKED) -> dict:
    """Each day paper's score with a like of ``liked`` over its score without, for the profile 'routing'."""
    index = build_index(day, background() + stored)
    plain = {m.paper_id: m.score for m in match_profile(index, parse_profile("routing"))}
    return {m.paper_id: m.score / plain[m.paper_id]
            for m in match_profile(index, parse_profile("routing"), feedback=[(liked, 1)])}


def test_a_liked_paper_lifts_the_papers_like_it_as_far_from_todays_list_as_from_an_earlier_day():
    """A subscriber likes the gates paper in today's digest, or the same paper in an earlier one: the
    expert papers like it rise as far either way. In today's list the liked paper is as like itself as
    a paper can be; that must not weaken its pull on the others."""
    today, earlier = lifts(DAY + [LIKED], []), lifts(DAY, [LIKED])
    assert earlier["experts0"] > 1.05
    assert today["experts0"] == pytest.approx(earlier["experts0"], rel=0.02)


def test_a_liked_paper_lifts_no_paper_for_sharing_its_code_link_host():
    """Two switch papers alike but for a code link on GitHub, as the liked gates paper has: the votes
    moved the one with the link up, for the words 'github' and 'com' and the phrase "github com"."""
    linked = [paper(f"linked{i}", f"Datacenter switches {i}", "Switches forward packets by a table; routing is "
                    f"static (https://github.com/lab/switch{i}).") for i in range(3)]
    liked = paper("gates", LIKED.title, LIKED.abstract + " (https://github.com/lab/gates)")
    moved = lifts(DAY + linked, [liked], liked)
    assert moved["linked0"] == pytest.approx(moved["weak0"], rel=0.001)


TITLED = {   # a liked paper, and two papers with its title's word or phrase: in their title, and in an abstract
    "word": (paper("liked", "Gates for routing", "Learned routing with kernels."),
             paper("titled", "Gates in routing", "Routing with lattices."),
             paper("mentioned", "Lattices in routing", "Routing with gates.")),
    "phrase": (paper("liked", "Load balancing for routing", "Learned routing with kernels."),
               paper("titled", "Load balancing in routing", "Routing with lattices and learned gates."),
               paper("mentioned", "Balancing the load in routing", "Routing with load balancing lattices and learned gates.")),
}


@pytest.mark.parametrize("today", [True, False], ids=["liked today", "liked on an earlier day"])
@pytest.mark.parametrize("kind", list(TITLED))
def test_a_liked_paper_lifts_a_paper_titled_as_it_is_above_one_that_mentions_its_title_words(kind, today):
    """A subscriber likes the paper titled 'Gates for routing' (or 'Load balancing for routing'). Of
    two papers with the same words, the one with gates (load balancing) in its title rises above
    the one that has it in its abstract: a title says what a paper is about."""
    liked, titled, mentioned = TITLED[kind]
    day = DAY + [titled, mentioned]
    moved = lifts(day + [liked], [], liked) if today else lifts(day, [liked], liked)
    assert moved["titled"] > 1.05 * moved["mentioned"] > 1.05
