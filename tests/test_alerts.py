"""Operator alerts raised from what the fetches recorded: a source that answers every day but
with no papers on weekdays (its format changed, or the request no longer selects anything) is
reported like a source that is down, once for the whole stretch."""
from datetime import date, timedelta

import pytest
from freezegun import freeze_time

from notifier.alerts import raise_alerts
from notifier.context import open_context
from notifier.fetch_cycle import fetch_cycle
from test_pipeline import SAMPLE, day_items

IDS = [i["paper"]["id"] for i in SAMPLE]
MONDAY = date(2026, 7, 6)


def fetch_days(cfg, hf, days: int, papers_on=lambda day: False) -> list[str]:
    """A daemon's mornings from MONDAY on (each re-reads the day before): the alerts raised."""
    raised = []
    for n in range(days):
        day = MONDAY + timedelta(days=n)
        hf.days[day.isoformat()] = day_items(day.isoformat(), IDS[n % 30:n % 30 + 1]) if papers_on(day) else []
        with freeze_time(f"{day} 07:00"), open_context(cfg) as ctx:
            fetch_cycle(ctx)
            raised += raise_alerts(ctx)
    return raised


def test_a_source_that_finds_no_papers_three_weekdays_running_is_alerted_once(cfg, hf):
    raised = fetch_days(cfg, hf, 9)                 # Monday to the next Tuesday: always []
    [text] = raised
    assert text.startswith("source hf_daily found no papers on 3 weekdays in a row (since 2026-07-06)")


@pytest.mark.parametrize("papers_on", [
    pytest.param(lambda day: day.weekday() < 5, id="empty-weekends-only"),
    pytest.param(lambda day: day.weekday() in (0, 3), id="two-empty-weekdays-between-full-ones"),
])
def test_a_source_with_papers_on_weekdays_raises_no_alert(cfg, hf, papers_on):
    assert fetch_days(cfg, hf, 14, papers_on) == []


def test_an_arxiv_feed_stuck_on_one_listing_for_three_weekdays_is_alerted(arxiv_cfg, hf):
    from hf_server import rss_listing

    hf.rss["cs.LG"] = rss_listing("2607.00001")              # Monday's listing, never replaced
    raised = []
    for day in range(6, 11):                                 # Monday 6 to Friday 10 July
        with freeze_time(f"2026-07-{day:02d} 07:00"), open_context(arxiv_cfg) as ctx:
            fetch_cycle(ctx)
            raised += raise_alerts(ctx)
    [text] = raised
    assert text.startswith("source arxiv:cs.LG found no papers on 3 weekdays in a row (since 2026-07-07)")


NOT_FETCHED = [
    ("hf_daily", {"hf_daily.enabled": False}),
    ("arxiv:cs.LG", {"arxiv.enabled": False}),
    ("arxiv:cs.LG", {"arxiv.enabled": True, "arxiv.categories": ["cs.CL"]}),
]


def failing_for_two_days(config, source: str, settings: dict) -> list[str]:
    """``source`` failed on 2026-06-12 and has not been fetched since: the alerts raised two days
    later under ``settings`` (``section.key`` of [sources])."""
    for name, value in settings.items():
        section, key = name.split(".")
        setattr(getattr(config.sources, section), key, value)
    with freeze_time("2026-06-12 07:00"), open_context(config) as ctx:
        run_id = ctx.store.start_fetch(source, "2026-06-12")
        ctx.store.finish_fetch(run_id, outcome="failed", error="HTTP 503", http_status=503)
    with freeze_time("2026-06-14 07:00"), open_context(config) as ctx:
        return raise_alerts(ctx)


@pytest.mark.parametrize("source,settings", NOT_FETCHED,
                         ids=["hf-disabled", "arxiv-disabled", "arxiv-category-removed"])
def test_a_failed_source_the_configuration_no_longer_fetches_raises_no_alert(config, source, settings):
    """It was alerted as down after a day though `notifier status` names the setting: nothing
    would ever fetch it again."""
    assert failing_for_two_days(config, source, settings) == []


def test_a_failed_source_still_fetched_is_alerted_after_a_day(config):
    [text] = failing_for_two_days(config, "arxiv:cs.LG", {"arxiv.enabled": True, "arxiv.categories": ["cs.LG"]})
    assert text == "source arxiv:cs.LG has not been fetched successfully ever; last error: HTTP 503"


def test_an_alert_about_a_digest_of_unknown_outcome_gives_the_commands_that_settle_it(config):
    from notifier.models import Paper
    from notifier.subscribers import new_subscriber

    with freeze_time("2026-06-12 07:00"), open_context(config) as ctx:
        ctx.store.ingest([Paper("2606.00001", "Agents at scale")], source="hf_daily", digest_day="2026-06-12")
        sub = ctx.store.add_subscriber(new_subscriber(address="#papers", keywords=["agents"]))
        d = ctx.store.plan_delivery(subscriber_id=sub.id, digest_day="2026-06-12", items=[{"id": "2606.00001"}], meta={})
        ctx.store.claim(d.id)
        ctx.store.record(d.id, "unknown", error="no answer from Slack; the message may have been posted")
        [text] = raise_alerts(ctx)
    assert text == ("delivery to #papers for 2026-06-12 is unknown after 1 attempt: no answer from Slack; the message "
                    "may have been posted; if it arrived: `notifier resolve '#papers' 2026-06-12 delivered`, "
                    "if not: `notifier resolve '#papers' 2026-06-12 resend`")


def lost_digest(ctx, address: str = "#papers"):
    """``address``'s digest of 2026-06-12 claimed and recorded unknown (its connection was lost)."""
    from notifier.models import Paper
    from notifier.subscribers import new_subscriber

    ctx.store.ingest([Paper("2606.00001", "Agents at scale")], source="hf_daily", digest_day="2026-06-12")
    sub = ctx.store.add_subscriber(new_subscriber(address=address, keywords=["agents"]))
    d = ctx.store.plan_delivery(subscriber_id=sub.id, digest_day="2026-06-12", items=[{"id": "2606.00001"}], meta={})
    lose(ctx, d)
    return sub, d


def lose(ctx, d) -> None:
    ctx.store.claim(d.id, now=ctx.now())
    ctx.store.record(d.id, "unknown", error="no answer from Slack; the message may have been posted", now=ctx.now())


def test_a_digest_resent_by_the_operator_and_lost_again_is_alerted_again(config):
    """The alert was keyed by the digest and its state alone: the second loss was never told."""
    from notifier.outbox import State

    with freeze_time("2026-06-12 07:00") as clock, open_context(config) as ctx:
        _, d = lost_digest(ctx)
        assert len(raise_alerts(ctx)) == 1
        clock.tick(3600)
        assert ctx.store.resolve_unknown(d.key, State.RETRY, ctx.now()).state == "retry"
        lose(ctx, d)
        [again] = raise_alerts(ctx)
        assert raise_alerts(ctx) == []                   # and once only
    assert again.startswith("delivery to #papers for 2026-06-12 is unknown after 1 attempt: ")


def test_a_lost_digest_of_someone_who_unsubscribed_raises_no_alert(config):
    """Nothing can or should be sent to them: `resend` is refused, and nobody needs to act."""
    with freeze_time("2026-06-12 07:00"), open_context(config) as ctx:
        sub, _ = lost_digest(ctx, "ann@example.org")
        ctx.store.remove_subscriber(sub.id)
        assert raise_alerts(ctx) == []
