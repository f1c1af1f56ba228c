"""The fetch side of a cycle with bad input (issue 11) and bounded commands (issue 10): a real
local HTTP server stands in for Hugging Face, the clock is frozen, digests land in the outbox."""
from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import httpx
import pytest
from freezegun import freeze_time
from sqlmodel import select

from notifier.cli import main
from notifier.fetch import Fetcher
from notifier.context import open_context
from notifier.fetch_cycle import fetch_cycle
from notifier.sending import deliver
from notifier.store import FetchRun
from notifier.subscribers import new_subscriber
from hf_server import rss_listing


def item(pid: str, title, day: str = "2026-07-01", **paper) -> dict:
    return {"paper": {"id": pid, "title": title, "summary": f"{title} for long contexts.",
                      "submittedOnDailyAt": f"{day}T00:00:00.000Z"} | paper}



def runs(ctx) -> list[FetchRun]:
    with ctx.store.session() as s:
        return list(s.exec(select(FetchRun).order_by(FetchRun.id)))


def outbox_text(cfg) -> str:
    return "".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(Path(cfg.outbox_dir).glob("*.eml")))


def test_malformed_items_are_skipped_counted_and_the_rest_delivered(cfg, hf, caplog, monkeypatch, capsys):
    hf.days["2026-07-01"] = [item("2607.00001", "Sparse attention"), item("2607.00002", ["a", "list"]),
                             item("2607.00003", "Sparse attention, again", summary=5, authors=7, githubRepo=[1]),
                             [["nested"]], {"paper": {"id": "2607.00004"}}]
    with freeze_time("2026-07-01 06:00"), open_context(cfg) as ctx:
        ctx.store.add_subscriber(new_subscriber(address="ada@example.org", keywords=['"sparse attention"']))
    with freeze_time("2026-07-01 08:00"), open_context(cfg) as ctx, caplog.at_level(logging.INFO):
        [report] = fetch_cycle(ctx)
        deliver(ctx)
        [run] = runs(ctx)
    assert (report.outcome, report.found, report.skipped) == ("ok", 2, 3)
    assert (run.outcome, run.found, run.skipped) == ("ok", 2, 3)
    assert run.error == "first skipped: HF item 2: HF paper 2607.00002 has no title"
    [line] = [r for r in caplog.records if r.getMessage() == "fetched"]
    assert line.levelno == logging.WARNING and line.ctx["skipped"] == 3
    assert line.ctx["skipped_items"] == ("HF item 2: HF paper 2607.00002 has no title; "
                                         "HF item 4: HF item is a JSON list, not an object; "
                                         "HF item 5: HF paper 2607.00004 has no title")
    assert "Sparse attention" in outbox_text(cfg) and "again" in outbox_text(cfg)
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", cfg.database_url)
    monkeypatch.setenv("NOTIFIER_STATE_DIR", cfg.general.state_dir)
    monkeypatch.delenv("NOTIFIER_CONFIG", raising=False)
    main(["status"])
    assert "(day 2026-07-01, 2 new, 3 malformed skipped (first skipped: HF item 2: HF paper 2607.00002 has no " \
           "title))" in capsys.readouterr().out


def test_a_day_of_only_malformed_items_fails_loudly_and_the_next_day_is_still_fetched(cfg, hf):
    hf.days["2026-06-30"] = [{"paper": {"id": "2606.00001"}}, {"paper": {"id": "2606.00002", "title": 5}}]
    hf.days["2026-07-01"] = [item("2607.00001", "Sparse attention")]
    with freeze_time("2026-07-01 08:00"), open_context(cfg) as ctx:
        reports = fetch_cycle(ctx, days=[date(2026, 6, 30), date(2026, 7, 1)])
        assert [(r.day, r.outcome) for r in reports] == [("2026-06-30", "failed"), ("2026-07-01", "ok")]
        assert "all 2 HF items are malformed" in reports[0].error
        assert [(r.outcome, r.digest_day) for r in runs(ctx)] == [("failed", "2026-06-30"), ("ok", "2026-07-01")]


def test_a_retry_after_recorded_by_an_earlier_run_holds_this_runs_fetch_without_a_request(cfg, hf):
    from datetime import datetime, timezone

    hf.days["2026-07-01"] = [item("2607.00001", "Sparse attention")]
    with freeze_time("2026-07-01 08:00"), open_context(cfg) as ctx:
        ctx.store.hold_host("hf", datetime(2026, 7, 2, 8, tzinfo=timezone.utc), "HTTP 429", 429)
        [report] = fetch_cycle(ctx)
    assert report.outcome == "failed" and "Retry-After until 2026-07-02 08:00 UTC" in report.error
    assert hf.paths == []


def test_a_day_hf_has_not_published_is_not_counted_as_the_latest_days_papers(cfg, hf):
    hf.clamp = True
    hf.days["2026-07-01"] = [item("2607.00001", "Sparse attention"), item("2607.00002", "Dense attention")]
    with freeze_time("2026-07-02 08:00"), open_context(cfg) as ctx:
        reports = fetch_cycle(ctx, days=[date(2026, 7, 1), date(2026, 7, 2)])
        assert [(r.day, r.outcome, r.found) for r in reports] == [("2026-07-01", "ok", 2), ("2026-07-02", "ok", 0)]
        assert ctx.store.papers_on_day("2026-07-02") == [] and len(ctx.store.papers_on_day("2026-07-01")) == 2


def test_a_paper_on_hf_and_in_two_arxiv_categories_is_sent_once_and_never_again_when_revised(cfg, hf):
    cfg.sources.arxiv.enabled, cfg.sources.arxiv.categories = True, ["cs.AI", "cs.LG"]
    cfg.sources.arxiv.base_url, cfg.sources.arxiv.min_interval_seconds = hf.url, 0
    with freeze_time("2026-07-05 20:00"), open_context(cfg) as ctx:
        ctx.store.add_subscriber(new_subscriber(address="ada@example.org", keywords=["study"]))
    hf.days["2026-07-06"] = [item("2607.00001", "Paper 2607.00001", "2026-07-06", summary="A study.")]
    hf.rss["cs.AI"], hf.rss["cs.LG"] = rss_listing("2607.00001"), rss_listing("2607.00001", announce="cross")
    with freeze_time("2026-07-06 08:00"), open_context(cfg) as ctx:
        assert [r.found for r in fetch_cycle(ctx)] == [1, 1, 1]
        assert [(r.state, r.papers) for r in deliver(ctx)] == [("sent", 1)]
        assert len(ctx.store.sightings("2607.00001")) == 3
    hf.days["2026-07-07"] = [item("2607.00001", "Paper 2607.00001", "2026-07-07", summary="A study."),
                             item("2607.00002", "Paper 2607.00002", "2026-07-07", summary="A study.")]
    hf.rss["cs.AI"] = rss_listing("2607.00001", announce="replace", version="v2")
    hf.rss["cs.LG"] = rss_listing("2607.00001", announce="replace-cross", version="v2")
    with freeze_time("2026-07-07 08:00"), open_context(cfg) as ctx:
        fetch_cycle(ctx)
        assert [(r.state, r.papers) for r in deliver(ctx)] == [("sent", 1)]       # 2607.00002 alone
        assert ctx.store.get_papers(["2607.00001"])["2607.00001"].version == "v1"


def broken_client(error: BaseException) -> httpx.Client:
    def handler(request):
        raise error
    return httpx.Client(transport=httpx.MockTransport(handler))


def test_an_unexpected_error_closes_the_fetch_run_as_failed_and_the_cycle_goes_on(cfg, caplog):
    cfg.sources.arxiv.enabled = True
    with freeze_time("2026-07-01 08:00"), open_context(cfg) as ctx, caplog.at_level(logging.ERROR):
        ctx.fetcher = Fetcher.from_config(cfg, client=broken_client(RuntimeError("a bug")))
        reports = fetch_cycle(ctx, days=[date(2026, 6, 30), date(2026, 7, 1)])
        assert [(r.source, r.outcome) for r in reports] == [
            ("hf_daily", "failed"), ("hf_daily", "skipped"), ("arxiv:cs.LG", "failed")]
        assert [(r.outcome, r.error) for r in runs(ctx)] == [("failed", "unexpected RuntimeError: a bug")] * 2
        assert deliver(ctx) == []
    [hf_failed, _] = [r for r in caplog.records if r.getMessage() == "fetch failed"]
    assert hf_failed.ctx["day"] == date(2026, 6, 30) and "RuntimeError: a bug" in hf_failed.ctx["traceback"]


def test_arxiv_categories_on_a_host_that_cannot_be_connected_to_each_fail_by_name_asking_it_once_a_cycle(cfg):
    """Without a network each category paid every attempt (most of a 43 s `notifier fetch`)."""
    from smtp_server import free_port

    slept = []
    cfg.sources.max_attempts, cfg.sources.hf_daily.enabled = 3, False
    cfg.sources.arxiv.enabled, cfg.sources.arxiv.categories = True, ["cs.LG", "cs.CL"]
    cfg.sources.arxiv.base_url, cfg.sources.arxiv.min_interval_seconds = f"http://127.0.0.1:{free_port()}", 0
    with freeze_time("2026-07-01 08:00"), open_context(cfg) as ctx:
        ctx.fetcher = Fetcher.from_config(cfg, sleep=slept.append)
        for cycle in (1, 2):
            reports = fetch_cycle(ctx)
            assert [(r.source, r.outcome) for r in reports] == [("arxiv:cs.LG", "failed"), ("arxiv:cs.CL", "failed")]
            assert "cs.CL not tried: 127.0.0.1:" in reports[1].error and len(slept) == 2 * cycle   # cs.LG's retries
        assert [(r.source, r.outcome) for r in runs(ctx)] == [("arxiv:cs.LG", "failed"), ("arxiv:cs.CL", "failed")] * 2


def test_a_source_disabled_after_its_fetch_failed_does_not_keep_the_daemon_fetching_again(cfg, hf):
    """Its failure stayed the latest fetch of the day: every sweep from an hour on fetched every
    enabled source again, HF's day every 5 minutes until the next fetch time."""
    import queue
    from datetime import datetime, timedelta, timezone

    from notifier.commands.serve import Daemon
    from smtp_server import free_port

    cfg.schedule.time = "07:00"
    cfg.sources.arxiv.enabled, cfg.sources.arxiv.categories = True, ["cs.CL"]
    cfg.sources.arxiv.base_url, cfg.sources.arxiv.min_interval_seconds = f"http://127.0.0.1:{free_port()}", 0
    with freeze_time("2026-07-01 07:00") as clock, open_context(cfg) as ctx:
        daemon = Daemon(ctx, queue.Queue())
        daemon.build(cfg)
        daemon.fetch()                                      # HF ok, arXiv cs.CL failed
        cfg.sources.arxiv.enabled = False                   # the operator turns it off
        for minutes in range(5, 3 * 60, 5):                 # a sweep every 5 minutes
            clock.move_to(datetime(2026, 7, 1, 7, tzinfo=timezone.utc) + timedelta(minutes=minutes))
            daemon.sweep()
        assert [r.source for r in runs(ctx)] == ["hf_daily", "arxiv:cs.CL"]


def test_an_interrupted_fetch_closes_its_run_as_interrupted_not_failed(cfg, caplog):
    with freeze_time("2026-07-01 08:00"), open_context(cfg) as ctx, caplog.at_level(logging.INFO):
        ctx.fetcher = Fetcher.from_config(cfg, client=broken_client(KeyboardInterrupt()))
        with pytest.raises(KeyboardInterrupt):
            fetch_cycle(ctx)
        assert [(r.outcome, r.error, r.finished_at is not None) for r in runs(ctx)] == [("interrupted", "interrupted", True)]
    assert [(r.getMessage(), r.levelno) for r in caplog.records if "fetch" in r.getMessage()] == [
        ("fetch interrupted", logging.WARNING)]


def test_a_ctrl_c_after_a_fetch_was_stored_leaves_it_recorded_ok_not_interrupted(cfg, hf, monkeypatch):
    """The day's papers were in, but the run was overwritten `interrupted` and logged so."""
    import notifier.fetch_cycle

    logged = []

    def ctrl_c_at_the_fetched_line(logger, message, *args, **fields):
        logged.append(message)
        if message == "fetched":
            raise KeyboardInterrupt
    hf.days["2026-07-01"] = [item("2607.00001", "Sparse attention")]
    monkeypatch.setattr(notifier.fetch_cycle, "event", ctrl_c_at_the_fetched_line)
    with freeze_time("2026-07-01 08:00"), open_context(cfg) as ctx:
        with pytest.raises(KeyboardInterrupt):
            fetch_cycle(ctx)
        assert [(r.outcome, r.found) for r in runs(ctx)] == [("ok", 1)]
    assert logged == ["fetched"]


def test_after_the_clock_steps_back_a_skipped_re_read_says_so_not_another_worker(cfg, hf):
    """It was reported 'fetched by another worker meanwhile', on one SQLite box too. The re-read
    waits for the clock: asked now, the host's pace would first wait out the step."""
    hf.days["2026-07-01"] = [item("2607.00001", "Sparse attention")]
    with freeze_time("2026-07-01 08:00") as clock, open_context(cfg) as ctx:
        fetch_cycle(ctx)
        asked = len(hf.paths)
        clock.move_to("2026-07-01 07:30")                     # the clock is set back half an hour
        [report] = fetch_cycle(ctx)
    assert report.outcome == "skipped" and report.error.startswith(
        "fetched at 2026-07-01 08:00:00 UTC, later than the clock says now (it was set back")     # on PostgreSQL too
    assert report.error.endswith("): read again once the clock passes that time")
    assert len(hf.paths) == asked


def test_a_failed_day_whose_fetch_again_was_interrupted_is_fetched_again_next_cycle(cfg, hf):
    """An interrupted run is no answer: the day's failure before it still asks for a fetch."""
    with freeze_time("2026-07-01 08:00"), open_context(cfg) as ctx:
        for day, outcome in [("2026-06-30", "failed"), ("2026-07-01", "ok"), ("2026-06-30", "interrupted")]:
            ctx.store.finish_fetch(ctx.store.start_fetch("hf_daily", day), outcome=outcome)
        fetch_cycle(ctx)
    assert [p for p in hf.paths if "2026-06-30" in p], hf.paths


# ---------------------------------------------------------------- `notifier fetch --since`

def test_a_fetch_stopped_with_ctrl_c_leaves_status_without_a_failing_source(cli, hf, monkeypatch):
    """status said 'FAILING since ...: interrupted' and exited 3 until the next good fetch."""
    assert cli("fetch")[0] == 0

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(Fetcher, "fetch_hf_day", ctrl_c)
    assert cli("fetch", "--since", "2026-06-20")[0] == 130
    code, out, err = cli("status")
    assert "FAILING" not in out and code == 0, (out, err)


@pytest.fixture
def cli(cfg, monkeypatch, capsys):
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", cfg.database_url)
    monkeypatch.setenv("NOTIFIER_STATE_DIR", cfg.general.state_dir)
    path = Path(cfg.general.state_dir) / "config.toml"
    path.write_text(f'[sources]\nmax_attempts = 1\n[sources.hf_daily]\nbase_url = "{cfg.sources.hf_daily.base_url}"\n'
                    "min_interval_seconds = 0\n")

    def run(*argv):
        with freeze_time("2026-07-01 08:00"):
            code = main(["--config", str(path), *argv])
        return (code, *capsys.readouterr())
    return run


@pytest.mark.parametrize("since", ["0001-01-01", "2025-06-01", "2026-05-31"])
def test_fetch_since_too_far_back_is_refused_before_any_request(cli, hf, since):
    days = (date(2026, 7, 1) - date.fromisoformat(since)).days + 1
    code, out, err = cli("fetch", "--since", since)
    assert code == 1 and out == "" and hf.paths == []
    assert err == (f"notifier: error: --since {since} covers {days} days; one fetch covers at most 31 "
                   "(from 2026-06-01): fetch older days with --date or in steps\n")


def test_fetch_since_a_month_ago_fetches_every_day(cli, hf):
    hf.days["2026-06-01"] = [item("2606.00001", "First day", day="2026-06-01")]
    code, out, err = cli("fetch", "--since", "2026-06-01")
    assert code == 0 and len(hf.paths) == 31, (out, err)
    assert "hf_daily 2026-06-01: ok (1 found, 1 new, 0 updated)" in out.splitlines()


def test_fetch_into_a_file_or_pipe_writes_its_report_lines_and_no_progress_bar(cli, hf):
    """The bar is for a terminal; piped (cron mail, a log) it left a blank line before the report."""
    hf.days["2026-06-30"] = [item("2606.00001", "Yesterday", day="2026-06-30")]
    code, out, err = cli("fetch", "--since", "2026-06-30")
    assert code == 0 and out.splitlines() == ["hf_daily 2026-06-30: ok (1 found, 1 new, 0 updated)",
                                              "hf_daily 2026-07-01: ok (0 found, 0 new, 0 updated)"], (out, err)


def test_fetch_while_the_daemon_holds_the_lock_is_refused_in_one_line_and_fetches_nothing(cli, cfg, hf):
    """It fetched beside the daemon, and closed the daemon's fetch in progress as 'process died'."""
    import os

    from notifier.lock import DaemonLock

    with DaemonLock(cfg.general.state_dir):
        code, out, err = cli("fetch")
    lock = Path(cfg.general.state_dir) / "notifier.lock"
    assert (code, out, hf.paths) == (1, "", [])
    assert err == (f"notifier: error: another notifier (pid {os.getpid()}) is already running: {lock} is locked; "
                   "stop it first (systemctl stop notifier) or let it finish\n")


def test_fetch_with_no_source_enabled_is_one_line_naming_the_keys(cfg, monkeypatch, capsys):
    """It printed nothing and exited 0: an operator could not tell a disabled source from a quiet day."""
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", cfg.database_url)
    monkeypatch.setenv("NOTIFIER_STATE_DIR", cfg.general.state_dir)
    path = Path(cfg.general.state_dir) / "config.toml"
    path.write_text("[sources.hf_daily]\nenabled = false\n")
    assert main(["--config", str(path), "fetch"]) == 1
    assert capsys.readouterr() == ("", f"notifier: error: nothing to fetch: no source is enabled in {path} "
                                       "(set [sources.hf_daily] enabled or [sources.arxiv] enabled to true)\n")


@pytest.mark.parametrize("option", [["--date", "2026-06-30"], ["--since", "2026-06-29"]])
def test_a_day_asked_of_arxiv_alone_is_one_line_and_fetches_nothing(cfg, hf, monkeypatch, capsys, option):
    """arXiv's feed has only its current listing: the day asked for was not fetched, today's was,
    reported as 'arxiv:cs.LG 2026-07-01: ok'."""
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", cfg.database_url)
    monkeypatch.setenv("NOTIFIER_STATE_DIR", cfg.general.state_dir)
    path = Path(cfg.general.state_dir) / "config.toml"
    path.write_text(f'[sources.hf_daily]\nenabled = false\n[sources.arxiv]\nenabled = true\nbase_url = "{hf.url}"\n')
    with freeze_time("2026-07-01 08:00"):
        assert main(["--config", str(path), "fetch", *option]) == 1
    assert capsys.readouterr() == ("", f"notifier: error: {option[0]} fetches Hugging Face days, and "
                                       f"[sources.hf_daily] is disabled in {path}; arXiv's feed has only its "
                                       "current listing: `notifier fetch` fetches it\n")
    assert hf.paths == []


def test_fetch_with_nothing_due_says_so(cfg, hf, monkeypatch, capsys):
    """arXiv alone on a Saturday: its listings come Monday to Friday."""
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", cfg.database_url)
    monkeypatch.setenv("NOTIFIER_STATE_DIR", cfg.general.state_dir)
    path = Path(cfg.general.state_dir) / "config.toml"
    path.write_text(f'[sources.hf_daily]\nenabled = false\n[sources.arxiv]\nenabled = true\ncategories = ["cs.LG"]\n'
                    f'base_url = "{hf.url}"\n')
    with freeze_time("2026-07-04 08:00"):
        assert main(["--config", str(path), "fetch"]) == 0
    assert capsys.readouterr() == ("nothing due: every enabled source is fetched up to today\n", "") and hf.paths == []


def fetch_at(cfg, when: str) -> list[str]:
    with freeze_time(when), open_context(cfg) as ctx:
        return [r.outcome for r in fetch_cycle(ctx)]


def test_an_arxiv_listing_later_than_the_fetch_is_fetched_at_the_next_try(arxiv_cfg, hf):
    hf.rss["cs.LG"] = rss_listing("2607.00001")
    assert fetch_at(arxiv_cfg, "2026-07-06 07:00") == ["ok"]                  # Monday's listing
    assert fetch_at(arxiv_cfg, "2026-07-07 07:00") == ["not_modified"]        # Tuesday's is late
    hf.rss["cs.LG"] = rss_listing("2607.00002")
    assert fetch_at(arxiv_cfg, "2026-07-07 09:00") == ["ok"]
    hf.rss["cs.LG"] = rss_listing("2607.00003")
    assert fetch_at(arxiv_cfg, "2026-07-08 07:00") == ["ok"]
    with open_context(arxiv_cfg) as ctx:
        assert [p.arxiv_id for p in ctx.store.papers_on_day("2026-07-07")] == ["2607.00002"]


def test_days_missed_beyond_max_catchup_days_are_named_in_a_warning_and_an_alert(cfg, hf, caplog):
    fetch_at(cfg, "2026-06-01 07:00")
    with caplog.at_level(logging.WARNING):
        reports = fetch_at(cfg, "2026-06-20 07:00")                 # back after 19 days; 7 are caught up, and today
        fetch_at(cfg, "2026-06-20 08:00")
    assert len(reports) == cfg.sources.hf_daily.max_catchup_days + 1 == 8
    [line] = [r for r in caplog.records if r.getMessage() == "days not fetched"]
    assert line.levelno == logging.WARNING and (line.ctx["first"], line.ctx["last"]) == (date(2026, 6, 2), date(2026, 6, 12))
    with open_context(cfg) as ctx:
        [alert] = ctx.store.unsent_alerts()
    assert alert.text == ("source hf_daily: 11 days missed, 2026-06-02 to 2026-06-12, are older than [sources.hf_daily] "
                          "max_catchup_days and not fetched: `notifier fetch --since 2026-06-02` fetches them")


@pytest.mark.parametrize("first", [None, "2026-06-01 07:00"], ids=["first-run", "after-an-outage"])
def test_max_catchup_days_0_fetches_todays_digest_and_no_missed_day(cfg, hf, first):
    """0 read as "no catch-up, just today" (config.example.toml): it fetched nothing at all."""
    cfg.sources.hf_daily.max_catchup_days = 0
    if first:
        fetch_at(cfg, first)
    with freeze_time("2026-06-20 07:00"), open_context(cfg) as ctx:
        reports = fetch_cycle(ctx)
    assert [(r.day, r.outcome) for r in reports] == [("2026-06-20", "ok")]


def test_a_day_whose_page_was_bad_is_fetched_again_at_the_next_cycle_though_a_later_day_was_fetched(cfg, hf):
    """A bad page (HTTP 200) fails its day and the cycle goes on to the next; the next cycle read
    from the latest good day on, so the bad day was never fetched again and its papers never came."""
    hf.days["2026-06-29"] = [item("2606.00029", "Agents on the 29th", day="2026-06-29")]
    assert fetch_at(cfg, "2026-06-29 08:00") == ["ok"]
    hf.days["2026-06-30"] = [{"paper": {"id": "2606.00030"}}]                 # malformed: no title
    hf.days["2026-07-01"] = [item("2607.00001", "Agents on the 1st")]
    assert fetch_at(cfg, "2026-07-01 08:00") == ["ok", "failed", "ok"]         # the 29th re-read, the 30th, the 1st
    hf.days["2026-06-30"] = [item("2606.00030", "Agents on the 30th", day="2026-06-30")]   # the page is fixed
    with freeze_time("2026-07-01 09:00"), open_context(cfg) as ctx:
        reports = fetch_cycle(ctx)
        stored = ctx.store.get_papers(["2606.00030"])
    assert [(r.day, r.outcome) for r in reports] == [("2026-06-30", "ok"), ("2026-07-01", "ok")]
    assert list(stored) == ["2606.00030"]


def test_arxiv_listings_the_feed_held_while_nothing_fetched_it_are_named_in_a_warning_and_an_alert(arxiv_cfg, hf, caplog):
    """Off from Thursday evening to Monday: the feed only ever holds the current listing, so
    Friday's went without a trace. The weekend has none, and a day fetched "not modified" all
    day (an arXiv holiday) was not missed."""
    hf.rss["cs.LG"] = rss_listing("2607.00001")
    assert fetch_at(arxiv_cfg, "2026-07-08 07:00") == ["ok"]                  # Wednesday
    assert fetch_at(arxiv_cfg, "2026-07-09 07:00") == ["not_modified"]        # Thursday: no listing
    hf.rss["cs.LG"] = rss_listing("2607.00003")
    with caplog.at_level(logging.WARNING):
        assert fetch_at(arxiv_cfg, "2026-07-13 09:00") == ["ok"]              # Monday
        assert fetch_at(arxiv_cfg, "2026-07-13 10:00") == []
    [line] = [r for r in caplog.records if r.getMessage() == "listings not fetched"]
    assert line.levelno == logging.WARNING and line.ctx["days"] == 1
    with open_context(arxiv_cfg) as ctx:
        [alert] = ctx.store.unsent_alerts()
    assert alert.text == ("source arxiv:cs.LG: the listing of 2026-07-10 left the feed before anything fetched it "
                          "(the service was not running, or could not reach arXiv): RSS holds only the current "
                          "listing, so its papers are in no digest")



def test_a_listing_asked_only_before_it_was_out_and_then_missed_is_named_with_the_holiday_it_may_have_been(
        arxiv_cfg, hf):
    """Thursday asked at 03:00 UTC ("not modified": its listing comes around 04:00), then off to
    Monday: it was taken for an arXiv holiday, and only Friday was named."""
    hf.rss["cs.LG"] = rss_listing("2607.00001")
    assert fetch_at(arxiv_cfg, "2026-07-08 07:00") == ["ok"]                  # Wednesday
    assert fetch_at(arxiv_cfg, "2026-07-09 03:00") == ["not_modified"]        # Thursday, before its listing
    hf.rss["cs.LG"] = rss_listing("2607.00003")
    assert fetch_at(arxiv_cfg, "2026-07-13 09:00") == ["ok"]                  # Monday
    with open_context(arxiv_cfg) as ctx:
        [alert] = ctx.store.unsent_alerts()
    assert alert.text == ("source arxiv:cs.LG: the 2 listings, of 2026-07-09 to 2026-07-10, left the feed before "
                          "anything fetched it (the service was not running, or could not reach arXiv; 2026-07-09 was "
                          "asked only before 06:00 UTC, when a listing is not out yet, unless arXiv had a holiday): "
                          "RSS holds only the current listing, so its papers are in no digest")