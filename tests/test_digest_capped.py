"""Papers that pass the subscriber's bar but fall past their max items are counted and told as
such: a higher max items shows them, a lower threshold does not."""
from __future__ import annotations

import dataclasses
import email
import json
from email import policy
from pathlib import Path

import pytest
from digests import digest
from test_pipeline import BROAD, ingest_sample

from notifier import render
from notifier.context import open_context
from notifier.planning import LeftOut, match_subscriber
from notifier.sending import deliver
from notifier.subscribers import new_subscriber


def delivered_text(config, keywords: list[str], max_items: int) -> tuple[dict, str]:
    """Deliver the sample day to one subscriber -> (the digest's stored meta, its mail's text)."""
    with open_context(config) as ctx:
        ctx.store.add_subscriber(new_subscriber(address="ann@example.org", keywords=keywords, max_items=max_items))
        ingest_sample(ctx.store)
        deliver(ctx)
        [d] = ctx.store.deliveries()
    [mail] = Path(config.outbox_dir).glob("*.eml")
    msg = email.message_from_bytes(mail.read_bytes(), policy=policy.default)
    return json.loads(d.meta), msg.get_body(("plain",)).get_content()


def test_papers_past_max_items_are_told_as_passed_not_as_weaker(config):
    """'agents' passes 12 of the sample day's papers, all it matches; the digest holds 10. It said
    "2 weaker matches did not pass your bar. Ask for more papers (a lower threshold)...": neither
    was true."""
    meta, text = delivered_text(config, ["agents"], 10)
    assert (meta["weaker"], meta["capped"]) == (0, 2)
    assert ("2 more papers passed your bar; your digest holds 10 at most (raise that number to see them)."
            in " ".join(text.split()))
    assert "weaker" not in text and render.ASK_MORE not in " ".join(text.split())


def test_weaker_matches_are_still_told_as_weaker_beside_the_capped_ones(config):
    """The broad profile matches 21 papers and passes 14 of them: 10 shown, 4 past max items, 7 weaker
    (it said 11 weaker), with the advice of a lower threshold after the weaker ones."""
    meta, text = delivered_text(config, [BROAD], 10)
    assert (meta["weaker"], meta["capped"]) == (7, 4)
    assert ("4 more papers passed your bar; your digest holds 10 at most (raise that number to see them). "
            f"7 weaker matches did not pass your bar. {render.ASK_MORE}") in " ".join(text.split())


def test_several_profiles_count_what_their_union_passes_past_max_items(config):
    """'agents' and 'reasoning' pass 12 papers each, 16 together; the digest holds 12. The other 4
    were counted nowhere."""
    with open_context(config) as ctx:
        ingest_sample(ctx.store)
        sub = new_subscriber(address="ann@example.org", keywords=["agents", "reasoning"], max_items=12)
        items, left = match_subscriber(ctx, sub, ctx.store.papers_on_day("2026-06-12"))
    assert len(items) == 12 and left == LeftOut(weaker=0, capped=4)


@pytest.mark.parametrize("thread", [False, True], ids=["summary", "thread"])
def test_slack_tells_the_capped_papers_without_asking_for_a_lower_threshold(thread):
    """In the summary when every paper fits in it, else at the end of the thread."""
    d = dataclasses.replace(digest(14 if thread else 2, channel="slack", weaker=0), capped_count=3)
    s = render.render_slack(d)
    where = json.dumps(s.thread[-1] if thread else s.blocks)
    assert f"3 more papers passed your bar; your digest holds {len(d.items)}" in where
    assert "weaker" not in where and render.ASK_MORE not in where


def test_one_capped_paper_is_told_in_the_singular():
    assert render.more_line(0, 0, 1, 10) == ("1 more paper passed your bar; your digest holds 10 "
                                             "at most (raise that number to see them).")


def test_the_html_email_tells_the_capped_papers_and_asks_for_a_lower_threshold_after_weaker_only():
    d = dataclasses.replace(digest(4, weaker=2), capped_count=3)
    html = " ".join(render.render_email(d).html.split())
    said = "3 more papers passed your bar; your digest holds 4 at most (raise that number to see them)."
    assert f"{said} 2 weaker matches did not pass your bar. {render.ASK_MORE}" in html
    html = " ".join(render.render_email(dataclasses.replace(d, weaker_count=0)).html.split())
    assert said in html and render.ASK_MORE not in html
