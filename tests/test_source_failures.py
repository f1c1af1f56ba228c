"""The Hugging Face source failing the ways real servers fail (tests/hf_server.py ``FAILURES``),
through a whole cycle: each failure is recorded with its status, logged at ERROR and shown by
`notifier status`; it never becomes an empty digest, and the day's papers go out once the source
is back. Real HTTP on 127.0.0.1, a frozen clock, digests to the outbox."""
from __future__ import annotations

import logging
from pathlib import Path

import pytest
from freezegun import freeze_time

from notifier.context import open_context
from notifier.fetch_cycle import fetch_cycle
from notifier.sending import deliver
from notifier.subscribers import new_subscriber

DAY = "2026-07-01"        # a Wednesday


def item(pid: str, title: str, day: str = DAY) -> dict:
    return {"paper": {"id": pid, "title": title, "summary": f"{title} for long contexts.",
                      "submittedOnDailyAt": f"{day}T00:00:00.000Z"}}


def sent(cfg) -> list[str]:
    """The digests in the outbox, oldest first."""
    return [p.read_text(encoding="utf-8", errors="replace") for p in sorted(Path(cfg.outbox_dir).glob("*.eml"))]


def cycle(cfg, when: str):
    """A fetch cycle and a delivery at ``when`` -> the fetch reports."""
    with freeze_time(when), open_context(cfg) as ctx:
        reports = fetch_cycle(ctx)
        deliver(ctx)
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
    """Guard. The digest planned while the source failed is recorded empty (nothing is sent), so
    the day's papers, fetched once the source is back, go out in the next morning's digest."""
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
    cycle(cfg, "2026-07-02 08:00")
    (message,) = sent(cfg)
    assert "Sparse attention, sparser" in message


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
