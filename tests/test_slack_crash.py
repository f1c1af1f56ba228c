"""A `notifier run` SIGKILLed between Slack taking a message and the run recording it, then run
again: where the message can be looked up (a bot token's channel or direct message) nothing is
posted twice, a thread the kill cut short gets the replies it lacks; a webhook cannot be looked
up, and the operator is told what became of its digest. Real processes, the Slack stand-in
keeping what it is posted as Slack does (tests/slack_server.py); both backends."""
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from digests import paper
from notifier.store import Store
from slack_server import FakeSlack
from test_faults import env_for, ingest, running, states

DAY = "2026-07-29"
HOOK = "/hook/T1/B1/secret-part"


def killed_then_run_again(tmp_path, db_url, monkeypatch, slack: FakeSlack, subscriber: str, *extra: str):
    """`notifier run --all` for one Slack ``subscriber`` SIGKILLed while the stand-in holds its
    ``hold_at``-th message unanswered, then run again -> the second run's output."""
    monkeypatch.setenv("CRASH_SLACK_TOKEN", "xoxb-crash")
    monkeypatch.setenv("CRASH_HOOK", slack.url + HOOK)
    config = tmp_path / "config.toml"
    config.write_text("\n".join([
        f'[database]\nurl = "{db_url}"\n', "[sources.hf_daily]\nenabled = false\n",
        f'[slack]\napi_url = "{slack.url}/api/"\ntoken_env = "CRASH_SLACK_TOKEN"\nmin_interval_seconds = 0\n',
        *extra, f"[[subscribers]]\nslack = \"{subscriber}\"\nkeywords = 'kv cache'\nmax_items = 40\n"]))
    ingest_a_long_day(db_url)
    env = env_for(tmp_path)
    return run_killed_at_the_held_message(str(config), env, slack, db_url, [["sending"]]), str(config), env


def run_killed_at_the_held_message(config: str, env: dict, slack: FakeSlack, db_url: str,
                                   left: list) -> subprocess.CompletedProcess:
    """`notifier run --all` SIGKILLed while the stand-in holds its ``hold_at``-th message unanswered
    (the digests' states then, sorted: ``left``), then run again -> the second run."""
    try:
        with running(config, "run", "--all", env=env, log_path=Path(config).with_name("run.log")) as first:
            assert slack.held.wait(30), "the run never reached the held message"
            first.kill()
            first.wait(10)
        assert sorted(states(db_url).values()) == left
    finally:
        slack.release.set()
    return subprocess.run([sys.executable, "-m", "notifier", "--config", config, "run", "--all"],
                          capture_output=True, text=True, env=env, timeout=60)


def ingest_a_long_day(url: str) -> None:
    """40 papers on the KV cache: a summary and two thread replies."""
    store = Store(url)
    try:
        run_id = store.start_fetch("hf_daily", DAY)
        result = store.ingest([paper(i, digest_day=DAY) for i in range(40)], source="hf_daily", digest_day=DAY)
        store.finish_fetch(run_id, outcome="ok", http_status=200, found=result.found, new=result.new)
    finally:
        store.close()


@pytest.fixture
def slack():
    made = []

    def make(hold_at: int) -> FakeSlack:
        made.append(FakeSlack(hold_at=hold_at))
        return made[-1]
    yield make
    for fake in made:
        fake.close()


def summaries_and_replies(slack: FakeSlack) -> tuple[Counter, Counter]:
    """(how often each digest's summary was posted, how often each of its thread replies)."""
    posts = [p for p in slack.posts() if p.get("metadata")]
    summaries = Counter(p["metadata"]["event_payload"]["key"] for p in posts if "thread_ts" not in p)
    replies = Counter(p["metadata"]["event_payload"]["reply"] for p in posts if "thread_ts" in p)
    return summaries, replies


def test_a_channel_digest_killed_mid_thread_gets_the_replies_it_lacks_and_nothing_twice(
        tmp_path, db_url, monkeypatch, slack):
    """kill -9 while Slack holds the answer to the first thread reply (it has the summary and that
    reply): the next run finds the summary by its key, posts the second reply only."""
    fake = slack(hold_at=2)
    again, _, _ = killed_then_run_again(tmp_path, db_url, monkeypatch, fake, "#papers")
    assert again.returncode == 0, again.stdout + again.stderr
    summaries, replies = summaries_and_replies(fake)
    assert list(summaries.values()) == [1] and replies == {1: 1, 2: 1}
    (thread,) = fake.threads.values()
    assert [m["metadata"]["event_payload"]["reply"] for m in thread] == [1, 2]
    assert states(db_url) == {"#papers": ["sent"]}


def test_a_direct_message_digest_killed_after_slack_took_it_is_not_posted_again(
        tmp_path, db_url, monkeypatch, slack):
    """A user's digest goes to the direct message conversations.open names: looked up there."""
    fake = slack(hold_at=1)
    again, _, _ = killed_then_run_again(tmp_path, db_url, monkeypatch, fake, "U0CRASH01")
    assert again.returncode == 0, again.stdout + again.stderr
    summaries, replies = summaries_and_replies(fake)
    assert list(summaries.values()) == [1] and set(replies.values()) == {1}
    assert list(fake.history) == ["DU0CRASH01"] and states(db_url) == {"U0CRASH01": ["sent"]}



def test_a_webhook_digest_killed_after_slack_took_it_is_sent_again_and_the_log_says_it_may_arrive_twice(
        tmp_path, db_url, monkeypatch, slack):
    """A webhook cannot be looked up: with the default `unknown_policy = "resend"` the digest is
    posted again, and the operator's log line says so (it said only "recovered interrupted
    delivery", not whether the digest was confirmed, held or sent again)."""
    fake = slack(hold_at=1)
    again, _, _ = killed_then_run_again(tmp_path, db_url, monkeypatch, fake, "webhook:CRASH_HOOK")
    assert again.returncode == 0, again.stdout + again.stderr
    summaries = [p for p in fake.hooks(HOOK) if p["blocks"][0]["type"] == "header"]
    assert len(summaries) == 2 and states(db_url) == {"webhook:CRASH_HOOK": ["sent"]}
    (line,) = [x for x in again.stderr.splitlines() if "recovered interrupted delivery" in x]
    assert "state=retry" in line and "re-sending (the channel cannot be checked: it may arrive twice)" in line


def test_a_webhook_digest_killed_under_the_hold_policy_is_left_unknown_with_the_commands_that_settle_it(
        tmp_path, db_url, monkeypatch, slack):
    """Guard: `unknown_policy = "hold"`: nothing posted twice; the alert and `notifier status` name
    the two `notifier resolve` commands, and neither shows the webhook's URL (a secret)."""
    fake = slack(hold_at=1)
    again, config, env = killed_then_run_again(tmp_path, db_url, monkeypatch, fake, "webhook:CRASH_HOOK",
                                               '[delivery]\nunknown_policy = "hold"\n')
    status = subprocess.run([sys.executable, "-m", "notifier", "--config", config, "status"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert states(db_url) == {"webhook:CRASH_HOOK": ["unknown"]}
    assert len([p for p in fake.hooks(HOOK) if p["blocks"][0]["type"] == "header"]) == 1
    (alert,) = [x for x in again.stderr.splitlines() if "notifier.alerts" in x]
    day = digest_day_of(db_url)
    for text in (alert, status.stdout):
        assert f"resolve webhook:CRASH_HOOK {day} delivered" in text and f"resolve webhook:CRASH_HOOK {day} resend" in text
    assert status.returncode == 3
    assert "secret-part" not in again.stdout + again.stderr + status.stdout + status.stderr


def digest_day_of(url: str) -> str:
    store = Store(url)
    try:
        (d,) = store.deliveries()
        return d.digest_day
    finally:
        store.close()


def test_a_digest_found_after_a_busy_hour_in_the_channel_is_not_posted_again():
    """A daemon restarted after 250 messages in the channel: the digest was no longer among the
    newest 100 that the one page of history read listed, and was posted again."""
    from digests import digest
    from notifier.channels.slack import SlackChannel

    fake = FakeSlack()
    try:
        ch = SlackChannel(token="xoxb-busy", api_url=fake.url + "/api/", sleep=lambda s: None)
        d = digest(1, channel="slack", address="#papers")
        assert ch.send(d).state == "sent"
        fake.history["CPAPERS"][:0] = [{"type": "message", "ts": f"1800000000.{i:06d}", "text": "chat"}
                                       for i in range(250, 0, -1)]
        assert ch.find_sent(d) is True and len(fake.posts()) == 1
    finally:
        fake.close()


def test_a_digest_found_after_a_busy_weekend_is_not_posted_again_and_no_older_history_is_read():
    """A daemon down for a weekend in a channel of 1,500 messages since: the digest was past the
    newest 5 pages (1,000 messages) the look read, and was posted again. The look now reads the
    history since the digest was planned (an hour earlier, for clocks apart), however long, and
    not the 3,000 older messages."""
    import time
    from datetime import datetime, timezone

    from digests import digest
    from notifier.channels.slack import SlackChannel

    fake = FakeSlack()
    try:
        ch = SlackChannel(token="xoxb-busy", api_url=fake.url + "/api/", sleep=lambda s: None)
        d = digest(1, channel="slack", address="#papers")
        d.planned_at = datetime.now(timezone.utc)
        fake.channels["#papers"] = "CPAPERS"
        fake.history["CPAPERS"] = [{"type": "message", "ts": f"{1600000000 + i}.000000", "text": "older chat"}
                                   for i in range(3000, 0, -1)]
        assert ch.send(d).state == "sent"
        later = int(time.time()) + 10
        fake.history["CPAPERS"][:0] = [{"type": "message", "ts": f"{later}.{i:06d}", "text": "chat"}
                                       for i in range(1500, 0, -1)]
        fake.calls.clear()
        assert ch.find_sent(d) is True and fake.posts() == []
        looks = [p for path, p in fake.calls if path.endswith("/conversations.history")]
        assert len(looks) == 8                        # 1,501 messages since it was planned, 200 a page
    finally:
        fake.close()


@pytest.fixture
def two_channels_killed(tmp_path, db_url, monkeypatch):
    """A `notifier run` SIGKILLed once Slack took its first digest (#first's summary post) but had
    not answered yet, then run again -> the Slack stand-in, with the database url."""
    slack = FakeSlack(hold_at=1)
    monkeypatch.setenv("FAULT_SLACK_TOKEN", "xoxb-fault")
    config = tmp_path / "config.toml"
    config.write_text("\n".join(
        [f'[database]\nurl = "{db_url}"\n', "[sources.hf_daily]\nenabled = false\n",
         f'[slack]\napi_url = "{slack.url}/api/"\ntoken_env = "FAULT_SLACK_TOKEN"\nmin_interval_seconds = 0\n']
        + [f"[[subscribers]]\nslack = \"{c}\"\nkeywords = 'agents'\n" for c in ("#first", "#second")]))
    ingest(db_url)
    again = run_killed_at_the_held_message(str(config), env_for(tmp_path), slack, db_url, [["pending"], ["sending"]])
    assert again.returncode == 0, again.stdout + again.stderr
    yield slack, db_url
    slack.close()


def test_a_run_killed_after_slack_took_the_digest_is_not_posted_again(two_channels_killed):
    """kill -9 between Slack accepting a bot's post and the run recording it: the next run finds the
    message by its delivery key in the channel's history and records it sent, posting nothing twice."""
    slack, db_url = two_channels_killed
    assert all(s == ["sent"] for s in states(db_url).values()) and len(states(db_url)) == 2
    summaries = Counter(p["channel"] for p in slack.posts() if "thread_ts" not in p and p.get("metadata"))
    assert summaries == {"#first": 1, "#second": 1}


def test_a_slack_digest_killed_after_its_summary_gets_its_thread_replies_after_the_restart(two_channels_killed):
    """The summary says "N more papers in the thread": a thread left empty by the kill loses them."""
    slack, _ = two_channels_killed
    replies = Counter(p["channel"] for p in slack.posts() if "thread_ts" in p)
    assert replies == {"CFIRST": 1, "CSECOND": 1}
