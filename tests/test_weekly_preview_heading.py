"""A weekly digest's subject and heading name its week, whatever day its papers were listed on."""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from freezegun import freeze_time

from notifier.context import open_context
from notifier.fetch_cycle import fetch_cycle
from notifier.planning import preview_digest
from notifier.render import render_email
from notifier.subscribers import new_subscriber

SAMPLE = json.loads((Path(__file__).parents[1] / "notifier/samples/hf_daily_papers_api_2026-06-12.json").read_text())


def test_a_weekly_preview_of_papers_listed_long_ago_is_headed_with_its_week(cfg, hf):
    """A day of June fetched in December (`notifier fetch --date`, the demo's bundled day): the
    preview was headed "week Fri 12 Jun – Wed 2 Dec", from the oldest unsent paper's day. The
    papers are still listed under the day they were listed on."""
    hf.days["2026-06-12"] = SAMPLE
    with freeze_time("2026-12-01 06:00"), open_context(cfg) as ctx:
        ctx.store.add_subscriber(new_subscriber(address="w@example.org", frequency="weekly:wed",
                                                keywords=['"speculative decoding", "sparse attention"']))
    with freeze_time("2026-12-02 08:00"), open_context(cfg) as ctx:     # a Wednesday
        fetch_cycle(ctx, days=[date(2026, 6, 12)])
        [sub] = ctx.store.list_subscribers()
        mail = render_email(preview_digest(ctx, sub))
    assert mail.subject.startswith("2 papers — week Thu 26 Nov – Wed 2 Dec")
    assert "Friday 12 June" in mail.text
