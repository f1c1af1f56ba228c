"""`notifier run` as cron or a systemd timer runs it: its exit code and summary say whether every
digest due went out. The outside parties are real local stand-ins: aiosmtpd on 127.0.0.1 and a
Slack Web API (tests/slack_server.py)."""
from importlib.resources import files

import pytest
from aiosmtpd.controller import Controller
from freezegun import freeze_time

from notifier.cli import main
from notifier.parse import parse_text
from notifier.store import Store
from slack_server import FakeSlack
from smtp_server import Recorder, free_port

SAMPLE = "hf_daily_papers_api_2026-06-12.json"
KINDS = {"ok@example.org": "agents", "#refused": "agents", "busy@example.org": "agents",
         "paused@example.org": "agents", "nothing@example.org": "zymurgy"}


@pytest.fixture
def clock():
    with freeze_time("2026-06-12 09:30:00", real_asyncio=True) as frozen:
        yield frozen


@pytest.fixture
def batch(tmp_path, db_url, monkeypatch, clock):
    """A config with SMTP and Slack stand-ins, the sample day stored, and a subscriber of every
    kind: an email that goes out, a Slack channel that does not exist, an email the server
    answers 451 once, a paused subscriber and one whose profile matches nothing."""
    smtp, slack = Recorder(), FakeSlack()
    ctl = Controller(smtp, hostname="127.0.0.1", port=free_port())
    ctl.start()
    monkeypatch.setenv("NOTIFIER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("RUN_SLACK_TOKEN", "xoxb-run")
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{db_url}"\n[sources.hf_daily]\nenabled = false\n'
                      f'[email]\nhost = "127.0.0.1"\nport = {ctl.port}\nsecurity = "none"\n'
                      f'[slack]\napi_url = "{slack.url}/api/"\ntoken_env = "RUN_SLACK_TOKEN"\nmin_interval_seconds = 0\n'
                      "[delivery]\nretry_base_seconds = 300\n")
    store = Store(db_url)
    store.ingest(parse_text(files("notifier.samples").joinpath(SAMPLE).read_text()), source="hf_daily",
                 digest_day="2026-06-12")
    store.close()
    for address, keywords in KINDS.items():
        assert main(["--config", str(config), "subscribe", address, "-k", keywords, "--time", "09:00"]) == 0
    assert main(["--config", str(config), "edit", "paused@example.org", "--pause"]) == 0
    smtp.rcpt_replies = {"busy@example.org": ["451 4.3.0 Try again later"]}
    slack.replies["/api/chat.postMessage"] = [(200, {}, {"ok": False, "error": "channel_not_found"})]
    yield str(config), smtp, slack
    ctl.stop()
    slack.close()


def run(config: str, capsys) -> tuple[int, list[str]]:
    code = main(["--config", config, "run"])
    return code, capsys.readouterr().out.splitlines()


def test_run_exits_3_when_a_digest_failed_or_waits_for_a_retry_and_0_once_all_went_out(batch, clock, capsys, db_url):
    config, smtp, slack = batch
    capsys.readouterr()
    clock.tick(1800)
    code, out = run(config, capsys)
    assert code == 3, out
    assert out[0].startswith("deliver ok@example.org: sent, ")
    assert out[1].startswith("deliver #refused: failed, ") and "channel_not_found" in out[1]
    assert out[2].startswith("deliver busy@example.org: retry, ") and "451 4.3.0" in out[2]
    assert out[3:] == ["not delivered: 1 failed, 1 waiting for a retry (next try 2026-06-12 10:05 UTC); "
                       "`notifier status` lists them"]       # paused, nothing matched: no line, no error

    clock.tick(120)                       # the retry is not due yet: still not delivered
    if db_url.startswith("sqlite"):       # the one delivering process answers for every digest
        assert run(config, capsys) == (3, ["not delivered: 1 waiting for a retry (next try 2026-06-12 10:05 UTC); "
                                           "`notifier status` lists them"])
    else:                                 # a shared database: each run for what it tried, here nothing
        assert run(config, capsys) == (0, ["no digest due"])
    clock.tick(200)                       # the outage is over
    code, out = run(config, capsys)
    assert code == 0 and len(out) == 1 and out[0].startswith("deliver busy@example.org: sent, ")
    assert run(config, capsys) == (0, ["no digest due"])
    assert sorted(m["To"] for m in smtp.snapshot()) == ["busy@example.org", "ok@example.org"]
    assert len(slack.posts()) == 1


def test_a_run_for_one_subscriber_leaves_the_others_due_retries_to_the_next_full_run(batch, clock, capsys):
    """It sent busy@example.org's retry too, and on SQLite failed for another's retry not yet due."""
    config, smtp, slack = batch
    clock.tick(1800)
    assert run(config, capsys)[0] == 3                        # busy@example.org's digest waits for a retry
    clock.tick(600)                                           # and its time has come
    for dry_run in (["--dry-run"], []):
        assert main(["--config", config, "run", "--subscriber", "ok@example.org", *dry_run]) == 0
        out = capsys.readouterr().out
        assert out.startswith("no digest to send: 1 already sent by ") and "busy" not in out, out
    assert sorted(m["To"] for m in smtp.snapshot()) == ["ok@example.org"]
    code, out = run(config, capsys)
    assert code == 0 and len(out) == 1 and out[0].startswith("deliver busy@example.org: sent, "), out


def test_digests_a_stopped_channel_never_tried_count_as_not_delivered(batch, clock, capsys):
    config, smtp, slack = batch
    assert main(["--config", config, "subscribe", "#second", "-k", "agents", "--time", "09:00"]) == 0
    slack.replies["/api/chat.postMessage"] = [(200, {}, {"ok": False, "error": "invalid_auth"})]   # every post would fail
    capsys.readouterr()
    clock.tick(1800)
    code, out = run(config, capsys)
    assert code == 3 and not any("#second" in line for line in out)
    assert out[-1] == ("not delivered: 2 waiting for a retry (next try 2026-06-12 10:05 UTC), 1 not sent yet; "
                       "`notifier status` lists them")


def test_run_help_explains_its_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "exit status: 0 every digest due was sent (or had nothing to send)" in text
    assert "3 a digest failed, waits for a retry or is held back by a stored profile that no longer parses" in text


@pytest.mark.parametrize("how,message", [
    (["unsubscribe"], "ada@example.org has unsubscribed: nothing to deliver"),
    (["edit", "--pause"], "ada@example.org is paused: nothing to deliver (`notifier edit ada@example.org --resume`)"),
], ids=["unsubscribed", "paused"])
def test_run_for_one_subscriber_who_would_get_nothing_says_why(cli, tmp_path, how, message):
    config = tmp_path / "offline.toml"
    config.write_text("[sources.hf_daily]\nenabled = false\n")
    cli("subscribe", "ada@example.org", "-k", "mamba")
    cli(how[0], "ada@example.org", *how[1:])
    assert cli("--config", str(config), "run", "--subscriber", "ada@example.org") == (1, "", f"notifier: error: {message}\n")


def test_run_for_a_paused_webhook_url_subscriber_names_them_by_id_not_by_the_secret_url(cli, tmp_path):
    config = tmp_path / "offline.toml"
    config.write_text("[sources.hf_daily]\nenabled = false\n")
    url = "https://hooks.slack.com/services/T0000/B0000/s3cretPart"
    cli("subscribe", url, "-k", "mamba")
    cli("edit", url, "--pause")
    assert cli("--config", str(config), "run", "--subscriber", url) == (
        1, "", "notifier: error: webhook subscriber #1 is paused: nothing to deliver (`notifier edit 1 --resume`)\n")


def test_run_for_a_subscriber_who_does_not_exist_says_so_before_fetching_anything(cli, tmp_path, hf):
    """It fetched first (half a minute of retries with the network down), then named the mistake."""
    config = tmp_path / "stand-in.toml"
    config.write_text(f'[sources.hf_daily]\nbase_url = "{hf.url}"\nmin_interval_seconds = 0\n')
    assert cli("--config", str(config), "run", "--subscriber", "nobody@example.org") == (
        1, "", "notifier: error: no subscriber 'nobody@example.org' (see `notifier subscribers`)\n")
    assert hf.paths == []


def test_a_run_whose_subscribers_matched_nothing_says_no_digest_to_send_not_none_due(cli, tmp_path):
    config = tmp_path / "offline.toml"
    config.write_text("[sources.hf_daily]\nenabled = false\n")
    cli("subscribe", "ada@example.org", "-k", "zymurgy")
    assert cli("--config", str(config), "run", "--all") == (0, "no digest to send\n", "")
    assert cli("--config", str(config), "run") == (0, "no digest due\n", "")


def test_a_digest_of_one_paper_is_reported_in_the_singular(cli, tmp_path, store):
    from notifier.models import Paper

    config = tmp_path / "offline.toml"
    config.write_text("[sources.hf_daily]\nenabled = false\n")
    cli("subscribe", "ada@example.org", "-k", "mamba")
    store.ingest([Paper("2606.00001", "Mamba at scale")], source="hf_daily", digest_day="2026-06-12")
    code, out, _ = cli("--config", str(config), "run", "--all")
    assert code == 0 and out.startswith("deliver ada@example.org: written to the outbox (no [email] host is set), 1 paper\n")


def test_a_run_whose_digests_an_earlier_run_sent_says_so_not_no_digest_to_send(cli, tmp_path, store, db_url):
    """`run --all` a second time: "no digest to send" read as if nothing had matched."""
    from notifier.models import Paper

    config = tmp_path / "offline.toml"
    config.write_text("[sources.hf_daily]\nenabled = false\n")
    for address in ("ada@example.org", "bob@example.org"):
        cli("subscribe", address, "-k", "mamba")
    cli("subscribe", "cy@example.org", "-k", "zymurgy")                 # nothing matches: nothing was sent
    store.ingest([Paper("2606.00001", "Mamba at scale")], source="hf_daily", digest_day="2026-06-12")
    assert cli("--config", str(config), "run", "--all")[0] == 0
    by = "an earlier run (or the daemon)" if db_url.startswith("sqlite") else "another worker"   # shared: any of them
    assert cli("--config", str(config), "run", "--all") == (0, f"no digest to send: 2 already sent by {by}\n", "")


def test_run_all_a_few_hours_before_a_subscribers_time_sends_their_digest_as_at_any_other_hour(cli, tmp_path, store):
    """`run --all` at 03:00, 4 h before Ada's 07:00, the day after her first digest: her digest goes
    now, as it does at 20:00. Nothing of hers is late (yesterday's went out), so nothing waits for
    her time; it was kept for 07:00 ("no digest to send") whenever her time came within 6 h. Her
    07:00 run then sends nothing more."""
    from notifier.models import Paper

    config = tmp_path / "offline.toml"
    config.write_text("[sources.hf_daily]\nenabled = false\n")
    with freeze_time("2026-06-11 10:00"):
        cli("subscribe", "ada@example.org", "-k", "mamba", "--time", "07:00", "--timezone", "UTC")
        store.ingest([Paper("2606.00001", "Mamba at scale")], source="hf_daily", digest_day="2026-06-11")
        assert cli("--config", str(config), "run", "--all")[0] == 0
    with freeze_time("2026-06-12 03:00") as clock:
        store.ingest([Paper("2606.00002", "Mamba again")], source="hf_daily", digest_day="2026-06-12")
        code, out, _ = cli("--config", str(config), "run", "--all")
        assert (code, out) == (0, "deliver ada@example.org: written to the outbox (no [email] host is set), 1 paper\n")
        clock.move_to("2026-06-12 07:00")
        assert cli("--config", str(config), "run") == (0, "no digest due\n", "")


@pytest.mark.parametrize("stored,why", [
    ("+-mamba", "two operators in term '+-mamba': use one, + (required) or - (excluded)"),
    ("mamba^2^3", "bad weight in term 'mamba^2^3': one ^ per term, e.g. moe^2"),
    ("title:-mamba", "operator after the field in term 'title:-mamba': put it first, -title:mamba"),
], ids=["stacked_operators", "stacked_weights", "operator_after_field"])
def test_a_digest_held_back_by_an_unreadable_stored_profile_fails_the_run_naming_subscriber_and_term(
        cli, tmp_path, store, stored, why):
    """The others' digests went out and the run exited 0, as if every digest due had: only the log
    and `notifier status` told that one subscriber's day was waiting; then the run's line sent the
    operator to `notifier status` for the term. Profiles older versions stored, refused now."""
    import json

    from notifier.models import Paper

    config = tmp_path / "offline.toml"
    config.write_text("[sources.hf_daily]\nenabled = false\n")
    for address in ("ada@example.org", "bob@example.org"):
        cli("subscribe", address, "-k", "mamba")
    store.update_subscriber(store.find_subscriber("bob@example.org").id, profile=json.dumps([stored]))
    store.ingest([Paper("2606.00001", "Mamba at scale")], source="hf_daily", digest_day="2026-06-12")
    code, out, _ = cli("--config", str(config), "run", "--all")
    assert code == 3 and out.splitlines()[1:] == [
        f"deliver bob@example.org: held, 0 papers - stored profile unreadable ({why}): "
        "`notifier edit bob@example.org --keywords TEXT` replaces it",
        "not delivered: 1 held back (stored profile unreadable); `notifier status` lists them"], out
    assert out.splitlines()[0] == "deliver ada@example.org: written to the outbox (no [email] host is set), 1 paper"


def test_the_operator_is_alerted_once_of_a_stored_profile_that_holds_a_digest(cli, tmp_path, store):
    """A daemon met it at every sweep (every 5 minutes) and logged it, and mailed [alerts] nothing:
    the digests waited until someone ran `notifier status`."""
    import json

    from notifier.models import Paper

    config = tmp_path / "alerts.toml"
    config.write_text('[sources.hf_daily]\nenabled = false\n[alerts]\nemail = "ops@example.org"\n')
    cli("subscribe", "bob@example.org", "-k", "mamba")
    store.update_subscriber(store.find_subscriber("bob@example.org").id, profile=json.dumps(["title:-mamba"]))
    store.ingest([Paper("2606.00001", "Mamba at scale")], source="hf_daily", digest_day="2026-06-12")
    for _ in range(3):
        assert cli("--config", str(config), "run", "--all")[0] == 3
    [alert] = (tmp_path / "outbox").glob("digest-notifier-needs-attention-*.txt")
    assert alert.read_text().splitlines()[::3] == ["To: ops@example.org", (
        "digests to bob@example.org wait: stored profile unreadable (operator after the field in term "
        "'title:-mamba': put it first, -title:mamba): `notifier edit bob@example.org --keywords TEXT` replaces it")]


def test_a_run_into_a_file_or_pipe_starts_with_its_report_and_shows_its_progress_only_on_a_terminal(
        cli, tmp_path, hf, monkeypatch):
    """Piped (cron mail, a log file), rich's bar left a blank first line. rich takes TTY_COMPATIBLE=1
    for a terminal; CI systems set CI (and often FORCE_COLOR, which rich also takes for one)."""
    from hf_server import rss_listing

    hf.rss["cs.LG"] = rss_listing("2606.00001")
    config = tmp_path / "two.toml"         # two sources: a day's fetch is more than one job
    config.write_text(f'[sources]\nmax_attempts = 1\n[sources.hf_daily]\nbase_url = "{hf.url}"\nmin_interval_seconds = 0\n'
                      f'[sources.arxiv]\nenabled = true\nbase_url = "{hf.url}"\nmin_interval_seconds = 0\n')
    monkeypatch.delenv("CI", raising=False)
    seen = []
    with freeze_time("2026-07-01 08:00") as clock:
        for env in ({}, {"TTY_COMPATIBLE": "1"}, {"CI": "true"}):
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            code, out, err = cli("--config", str(config), "run")
            assert code == 0 and out.splitlines()[0].startswith("fetch hf_daily "), out
            seen.append("Fetching" in err)
            clock.tick(86400)                     # the next day: both sources are due again
    assert seen == [False, True, False]


@pytest.mark.parametrize("change, eve, sent_at", [
    ("autumn fold: 02:30 comes twice", "2026-10-24", "2026-10-25 00:30"),       # the first 02:30, CEST
    ("spring gap: 02:30 never comes", "2026-03-28", "2026-03-29 01:30"),        # 03:30 CEST
], ids=["autumn", "spring"])
def test_a_timer_run_every_15_minutes_across_a_dst_change_sends_that_days_digest_once(cli, tmp_path, store,
                                                                                      change, eve, sent_at):
    """A subscriber at 02:30 Europe/Berlin, `notifier run` every quarter hour through the night of
    the change: the day's digest goes out once, at the instant the scheduler fires (not twice in
    the fold, not skipped in the gap), with the paper stored that evening."""
    from datetime import datetime, timedelta

    from notifier.models import Paper

    config = tmp_path / "offline.toml"
    config.write_text("[sources.hf_daily]\nenabled = false\n")
    with freeze_time(f"{eve} 20:00"):
        cli("subscribe", "night@example.org", "-k", "mamba", "--time", "02:30", "--timezone", "Europe/Berlin")
        store.ingest([Paper("2606.00001", "Mamba at scale")], source="hf_daily", digest_day=eve)
        assert cli("--config", str(config), "run")[0] == 0                       # the eve's own digest
    with freeze_time(f"{eve} 21:00"):
        store.ingest([Paper("2606.00002", "Mamba in the night")], source="hf_daily", digest_day=eve)
    tick = datetime.fromisoformat(f"{eve} 21:00")
    while tick < datetime.fromisoformat(f"{eve} 21:00") + timedelta(hours=7):
        tick += timedelta(minutes=15)
        with freeze_time(tick):
            assert cli("--config", str(config), "run")[0] == 0
    sent = [(d.digest_day, d.state, d.created_at.strftime("%Y-%m-%d %H:%M")) for d in store.deliveries()]
    day = sent_at[:10]
    assert sent == [(eve, "sent", f"{eve} 20:00"), (day, "sent", sent_at)], change
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 2


def test_a_dry_run_prints_the_lines_the_run_would_marked_dry_run_and_none_for_nothing_matched(batch, db_url, clock,
                                                                                              capsys):
    """It printed 'deliver nothing@example.org: dry-run, 0 papers', where the run prints no line."""
    config, smtp, slack = batch
    capsys.readouterr()
    clock.tick(1800)
    assert main(["--config", config, "run", "--dry-run"]) == 0
    dry = capsys.readouterr().out.splitlines()
    code, out = run(config, capsys)
    sent = [line.split(": ")[0] + ": dry-run, " + line.split(", ")[1].split(" - ")[0] for line in out
            if line.startswith("deliver ")]
    assert dry == sent and len(sent) == 3, (dry, out)
    waiting = "not delivered: 1 waiting" if db_url.startswith("sqlite") else "no digest due"   # shared: each run
    assert run(config, capsys)[1][0].startswith(waiting)                                      # for what it tried
    assert main(["--config", config, "run", "--dry-run", "--all"]) == 0      # the day's digests are recorded already
    assert [line.split(":")[0] for line in capsys.readouterr().out.splitlines()] == ["no digest to send"]


def test_a_dry_run_lists_the_retries_that_are_due_in_the_words_of_the_run_that_sends_them(batch, clock, capsys):
    """It printed "no digest due" while the run would send busy@example.org's retry."""
    config, smtp, slack = batch
    capsys.readouterr()
    clock.tick(1800)
    run(config, capsys)                       # busy@example.org answered 451: tried again from 10:05
    clock.tick(120)
    assert main(["--config", config, "run", "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines() == ["no digest due"]          # not due yet
    clock.tick(200)
    assert main(["--config", config, "run", "--dry-run"]) == 0
    dry = capsys.readouterr().out.splitlines()
    assert dry == [line.replace(": sent, ", ": dry-run, ") for line in run(config, capsys)[1]], dry
    assert dry[0].startswith("deliver busy@example.org: dry-run, ") and len(dry) == 1


def test_a_dry_run_counts_a_waiting_digest_in_the_next_days_catch_up_as_the_run_folds_it(batch, clock, capsys):
    """The retry's papers counted as taken: busy@example.org's catch-up had no line at all."""
    config, smtp, slack = batch
    smtp.rcpt_replies = {"busy@example.org": ["451 4.3.0 Try again later"] * 40}     # down until tomorrow
    capsys.readouterr()
    clock.tick(1800)
    run(config, capsys)
    clock.tick(86400)                         # 10:00 the next day: each one's next digest is due
    assert main(["--config", config, "run", "--dry-run"]) == 0
    dry = capsys.readouterr().out.splitlines()
    ran = [line.split(": ")[0] + ": dry-run, " + line.split(", ")[1].split(" - ")[0] for line in run(config, capsys)[1]
           if line.startswith("deliver ")]
    assert dry == ran and "deliver busy@example.org: dry-run, 10 papers" in dry, (dry, ran)


def test_with_send_empty_a_dry_run_names_the_subscriber_nothing_matched_as_the_run_does(batch, clock, capsys):
    config, smtp, slack = batch
    with open(config, "a") as f:
        f.write("[general]\nsend_empty = true\n")
    capsys.readouterr()
    clock.tick(1800)
    assert main(["--config", config, "run", "--dry-run"]) == 0
    assert "deliver nothing@example.org: dry-run, 0 papers" in capsys.readouterr().out.splitlines()
    assert "deliver nothing@example.org: sent, 0 papers" in run(config, capsys)[1]


def test_a_digest_waits_out_a_day_long_mail_outage_and_is_folded_into_the_next_days_not_failed(batch, clock, capsys,
                                                                                              db_url):
    """At 8 attempts (~10.6 h) it failed in the evening, with an alert of its own, although the next
    morning's catch-up carries its papers."""
    config, smtp, slack = batch
    smtp.rcpt_replies = {"busy@example.org": ["451 4.3.0 Try again later"] * 40}     # down until tomorrow
    capsys.readouterr()
    clock.tick(1800)
    lines = []
    for _ in range(24):                                   # a run every hour, as a timer would, to 09:00 tomorrow
        lines += run(config, capsys)[1]
        clock.tick(3600)
    assert not [line for line in lines if line.startswith("deliver busy@example.org: failed")], lines
    store = Store(db_url)
    try:
        [sub] = [s for s in store.list_subscribers() if s.address == "busy@example.org"]
        days = {d.digest_day: d.state for d in store.deliveries(subscriber_ids=[sub.id])}
    finally:
        store.close()
    assert days == {"2026-06-12": "superseded", "2026-06-13": "retry"}


@pytest.mark.parametrize("token_env, why", [
    ("NOTIFIER_SLACK_TOKEN", "no Slack token: $NOTIFIER_SLACK_TOKEN is not set"),
    ("", "no Slack token: [slack] token_env is empty"),
], ids=["token-unset", "no-token-env"])
def test_a_slack_digest_written_to_the_outbox_for_want_of_a_token_is_not_reported_sent(cli, tmp_path, store,
                                                                                       monkeypatch, token_env, why):
    """The run said "sent" for a digest that only reached the outbox folder: the operator took the
    channel for delivered to."""
    from notifier.models import Paper

    monkeypatch.delenv("NOTIFIER_SLACK_TOKEN", raising=False)
    config = tmp_path / "offline.toml"
    config.write_text(f'[sources.hf_daily]\nenabled = false\n[slack]\ntoken_env = "{token_env}"\n')
    cli("subscribe", "#papers", "-k", "mamba")
    store.ingest([Paper("2606.00001", "Mamba at scale")], source="hf_daily", digest_day="2026-06-12")
    code, out, _ = cli("--config", str(config), "run", "--all")
    assert (code, out) == (0, f"deliver #papers: written to the outbox ({why}), 1 paper\n")
    assert len(list((tmp_path / "outbox").glob("*.json"))) == 1


def test_a_run_for_one_subscriber_settles_only_their_digest_a_crash_left_mid_send(cli, tmp_path, store):
    """`run --subscriber ada` re-sent bob's digest too, which a crash had left `sending`: recovery
    at start settled everyone's. Bob's waits for the next full run (or daemon start)."""
    from datetime import datetime, timedelta, timezone

    from notifier.models import Paper

    config = tmp_path / "offline.toml"
    config.write_text("[sources.hf_daily]\nenabled = false\n")
    for address in ("ada@example.org", "bob@example.org"):
        cli("subscribe", address, "-k", "mamba")
    store.ingest([Paper("2606.00001", "Mamba at scale")], source="hf_daily", digest_day="2026-06-12")
    item = {"id": "2606.00001", "score": 1.0, "matched": ["mamba"], "profiles": [], "evidence": []}
    crashed = datetime.now(timezone.utc) - timedelta(hours=1)          # its lease ran out long ago
    for sub in store.list_subscribers():
        d = store.plan_delivery(subscriber_id=sub.id, digest_day="2026-06-12", items=[item], meta={})
        store.claim(d.id, now=crashed, lease=timedelta(minutes=5))
    code, out, _ = cli("--config", str(config), "run", "--subscriber", "ada@example.org")
    states = {store.find_subscriber(d.subscriber_id).address: d.state for d in store.deliveries()}
    assert states == {"ada@example.org": "sent", "bob@example.org": "sending"}, (states, out)
    assert code == 0 and out.startswith("deliver ada@example.org: written to the outbox"), out


def late_by_a_day(cli, store, config):
    """Ada (07:00 Berlin) and Bob had their digests of 11 June; no run came on the 12th. -> the
    papers of the 12th, stored."""
    from notifier.models import Paper

    with freeze_time("2026-06-11 10:00"):
        cli("subscribe", "ada@example.org", "-k", "mamba", "--time", "07:00", "--timezone", "Europe/Berlin")
        cli("subscribe", "bob@example.org", "-k", "mamba", "--time", "20:00", "--timezone", "UTC")
        store.ingest([Paper("2606.00001", "Mamba at scale")], source="hf_daily", digest_day="2026-06-11")
        assert cli("--config", str(config), "run", "--all")[0] == 0
    store.ingest([Paper("2606.00002", "Mamba again")], source="hf_daily", digest_day="2026-06-12")


def test_a_late_digest_kept_for_the_subscribers_time_is_named_by_the_run_and_status_with_when_and_how_to_send_it_now(
        cli, tmp_path, store):
    """At 03:00 Berlin a timer's run kept Ada's late digest for her 07:00 (one message with both
    days' papers, none in the night) and said "no digest to send", as if nothing had matched; and
    `notifier status` named nothing of hers (the digest is not planned until her time)."""
    config = tmp_path / "offline.toml"
    config.write_text("[sources.hf_daily]\nenabled = false\n")
    late_by_a_day(cli, store, config)
    wait = ("wait ada@example.org: their late digest waits for their time, 07:00 Europe/Berlin (in 4 h), to go out "
            "with that day's papers in one message; `notifier run --subscriber ada@example.org` sends it now")
    with freeze_time("2026-06-13 01:00") as clock:
        for args in (["run", "--dry-run"], ["run"]):
            code, out, _ = cli("--config", str(config), *args)
            assert (code, out.splitlines()) == (0, [out.splitlines()[0], wait]), args
            assert out.startswith("deliver bob@example.org: ")      # his time is 19 h away: his goes now
        clock.move_to("2026-06-13 02:00")
        code, out, _ = cli("--config", str(config), "status")       # an hour later, the operator looks
        assert code == 0 and f"\n  {wait.replace('(in 4 h)', '(in 3 h)')}\n" in out, out
        clock.move_to("2026-06-13 05:00")                            # her 07:00
        code, out, _ = cli("--config", str(config), "run")
        assert (code, out) == (0, "deliver ada@example.org: written to the outbox (no [email] host is set), 1 paper\n")
        assert "wait " not in cli("--config", str(config), "status")[1]


@pytest.mark.parametrize("ask", [["--subscriber", "ada@example.org"], ["--all"]], ids=["subscriber", "all"])
def test_a_late_digest_asked_for_by_name_or_with_all_goes_now_and_not_again_at_their_time(cli, tmp_path, store, ask):
    """Asked for now, it was kept for her 07:00 all the same: "no digest to send"."""
    config = tmp_path / "offline.toml"
    config.write_text("[sources.hf_daily]\nenabled = false\n")
    late_by_a_day(cli, store, config)
    with freeze_time("2026-06-13 01:00") as clock:
        code, out, _ = cli("--config", str(config), "run", *ask)
        assert code == 0 and "deliver ada@example.org: written to the outbox (no [email] host is set), 1 paper\n" in out
        assert "wait " not in out
        clock.move_to("2026-06-13 05:00")                            # her 07:00: nothing more of hers
        code, out, _ = cli("--config", str(config), "run")
    assert code == 0 and "ada@example.org" not in out
