"""The Hugging Face source failing the ways real servers fail (tests/hf_server.py ``FAILURES``),
through a whole cycle: each failure is recorded with its status, logged at ERROR and shown by
`notifier status`; it never becomes an empty digest, and the day's papers go out once the source
is back, that day. Real HTTP on 127.0.0.1, a frozen clock, digests to the outbox, each cycle
delivering to those due as `notifier run` does."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
from freezegun import freeze_time

from notifier.context import open_context
from notifier.fetch_cycle import fetch_cycle
from notifier.schedule import SCHEDULE_COLUMNS, due_subscribers, schedules_of
from notifier.sending import deliver
from notifier.subscribers import new_subscriber

DAY = "2026-07-01"        # a Wednesday


def item(pid: str, title: str, day: str = DAY) -> dict:
    return {"paper": {"id": pid, "title": title, "summary": f"{title} for long contexts.",
                      "submittedOnDailyAt": f"{day}T00:00:00.000Z"}}


def sent(cfg) -> list[str]:
    """The digests in the outbox, oldest first."""
    return [p.read_text(encoding="utf-8", errors="replace") for p in sorted(Path(cfg.outbox_dir).glob("*.eml"))]


def sent_to(cfg, address: str) -> list[str]:
    return [m for m in sent(cfg) if f"To: {address}" in m]


def cycle(cfg, when: str):
    """A fetch cycle and a delivery to those due at ``when`` -> the fetch reports."""
    with freeze_time(when), open_context(cfg) as ctx:
        reports = fetch_cycle(ctx)
        schedules = schedules_of(ctx.store.subscriber_rows(*SCHEDULE_COLUMNS))
        deliver(ctx, due_subscribers(schedules, ctx.store.last_planned().get, ctx.now()))
    return reports


@pytest.fixture
def source(cfg, hf):
    """Ada wants sparse attention; HF has a paper on it on DAY, and the day before one on agents."""
    cfg.sources.timeout_seconds = 0.3          # a hung request is abandoned fast
    hf.days["2026-06-30"] = [item("2606.00030", "Agents on the 30th", "2026-06-30")]
    with freeze_time("2026-06-30 06:00"), open_context(cfg) as ctx:
        ctx.store.add_subscriber(new_subscriber(address="ada@example.org", keywords=['"sparse attention"']))
    cycle(cfg, "2026-06-30 08:00")
    hf.days[DAY] = [item("2607.00001", "Sparse attention, sparser")]
    return hf


FAILING = [("500", 500, "HTTP 500"), ("429", 429, "Retry-After until 2026-07-01 09:00 UTC"),
           ("hang", None, "ReadTimeout"), ("truncated", None, "RemoteProtocolError"),
           ("cut json", 200, "JSON"), ("html 200", 200, "Hugging Face is down for maintenance")]


@pytest.mark.parametrize("fail, status, says", FAILING, ids=[f[0] for f in FAILING])
def test_a_failing_source_is_reported_with_its_cause_sends_no_empty_digest_and_its_papers_go_out_once_it_is_back(
        cfg, source, fail, status, says, caplog, cli):
    """Nothing is recorded for the digest due while the source failed (recorded empty, it closed
    the day), so the day's papers go out at the first cycle after the source is back, that day,
    not in the next morning's digest."""
    source.fail = fail
    with caplog.at_level(logging.INFO):
        reread, today = cycle(cfg, f"{DAY} 08:00")          # the day before is read again: it may have grown
    assert (reread.outcome, reread.status) == ("failed", status) and says in reread.error
    assert today.outcome in ("failed", "skipped")                   # skipped: the source failed earlier in this cycle
    lines = [r for r in caplog.records if r.getMessage() == "fetch failed"]
    assert lines and all(r.levelno == logging.ERROR and says in r.ctx["error"] for r in lines)
    code, out, _ = cli("status")
    assert code == 3 and says in out and sent(cfg) == []
    source.fail = None
    assert [r.outcome for r in cycle(cfg, f"{DAY} 10:00")] == ["ok", "ok"]
    (message,) = sent(cfg)
    assert "Sparse attention, sparser" in message
    cycle(cfg, "2026-07-02 08:00")
    assert len(sent(cfg)) == 1


def test_a_source_down_all_day_gives_one_digest_with_both_days_when_it_is_back_daily_and_weekly(cfg, source):
    """HF fails all of Wednesday and is back on Thursday morning: the daily subscriber gets one
    digest with both days' papers, and the weekly one (due on Wednesdays) gets Wednesday's on
    Thursday, not a week later. Nothing is sent while the source is down."""
    with freeze_time("2026-06-30 06:00"), open_context(cfg) as ctx:
        ctx.store.add_subscriber(new_subscriber(address="bo@example.org", keywords=['"sparse attention"'],
                                                frequency="weekly:wed"))
    cycle(cfg, "2026-06-30 09:00")          # Bo's first digest, at sign-up: nothing matched
    source.fail = "500"
    for hour in ("08:00", "10:00", "14:00", "20:00"):
        cycle(cfg, f"{DAY} {hour}")
    assert sent(cfg) == []
    source.fail = None
    source.days["2026-07-02"] = [item("2607.00002", "Sparse attention again", "2026-07-02")]
    cycle(cfg, "2026-07-02 08:00")
    (ada,) = sent_to(cfg, "ada@example.org")
    assert "Sparse attention, sparser" in ada and "Sparse attention again" in ada
    (bo,) = sent_to(cfg, "bo@example.org")
    assert "Sparse attention, sparser" in bo


@pytest.mark.parametrize("wednesday", ["source failing", "machine off"])
def test_a_digest_late_by_night_goes_out_at_the_subscribers_time_not_at_once(cfg, source, wednesday):
    """HF fails all of Wednesday (or no run comes: the machine is off) and all is back at 02:00
    on Thursday, 5 h 30 before Ada's 07:30: the late digest waits for her time and goes out then
    with both days' papers, one message. Before, it went at 02:00 (the first cycle after) and
    nothing came at her time."""
    if wednesday == "source failing":
        source.fail = "500"
        for hour in ("08:00", "14:00", "20:00"):
            cycle(cfg, f"{DAY} {hour}")
        source.fail = None
    source.days["2026-07-02"] = [item("2607.00002", "Sparse attention again", "2026-07-02")]
    for hour in ("02:00", "04:00", "06:00"):
        cycle(cfg, f"2026-07-02 {hour}")
    assert sent(cfg) == []
    cycle(cfg, "2026-07-02 08:00")
    (ada,) = sent(cfg)
    assert "Sparse attention, sparser" in ada and "Sparse attention again" in ada


@pytest.mark.parametrize("fail", ["empty", "another day"])
def test_a_weekday_answered_with_no_papers_of_its_own_sends_nothing_and_its_papers_go_out_once_published(
        cfg, source, fail, caplog):
    """Guard. HF answering a weekday with an empty list, or with another day's list (its answer
    to a day it has not published), stores no paper for it and sends nothing; the day is read
    again at the next cycle (the latest day read), and its papers go out."""
    published = source.days.pop(DAY)
    source.fail = fail
    with caplog.at_level(logging.INFO):
        reports = cycle(cfg, f"{DAY} 08:00")
    assert [(r.day, r.outcome, r.found) for r in reports][-1] == (DAY, "ok", 0) and sent(cfg) == []
    source.fail, source.days[DAY] = None, published
    assert [(r.day, r.found) for r in cycle(cfg, f"{DAY} 10:00")] == [(DAY, 1)]
    cycle(cfg, "2026-07-02 08:00")
    (message,) = sent(cfg)
    assert "Sparse attention, sparser" in message


def test_a_digest_with_papers_from_the_sources_that_work_goes_out_at_its_time_naming_the_failing_one(cfg, source):
    """Guard. Only a digest with nothing in it waits for a failing source: Ada's HF paper goes
    out at 08:00 while arXiv is unreachable, and the digest says arXiv could not be fetched."""
    from smtp_server import free_port

    cfg.sources.arxiv.enabled, cfg.sources.arxiv.categories = True, ["cs.CL"]
    cfg.sources.arxiv.base_url, cfg.sources.arxiv.min_interval_seconds = f"http://127.0.0.1:{free_port()}", 0
    assert {r.source: r.outcome for r in cycle(cfg, f"{DAY} 08:00")}["arxiv:cs.CL"] == "failed"
    (message,) = sent(cfg)
    assert "Sparse attention, sparser" in message and "arXiv cs.CL could not be fetched" in " ".join(message.split())
