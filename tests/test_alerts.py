"""Operator alerts raised from what the fetches recorded: a source that answers every day but
with no papers on weekdays (its format changed, or the request no longer selects anything) is
reported like a source that is down, once for the whole stretch."""
from datetime import date, timedelta

import pytest
from freezegun import freeze_time

from notifier.alerts import raise_alerts
from notifier.pipeline import fetch_cycle, open_context
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
