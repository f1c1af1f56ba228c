"""A Slack bot's post whose answer was lost (Slack took the message, the connection dropped before
its answer): the message is not posted a second time on the spot; it is looked for in the channel
at once, and found, recorded sent (no operator needed). Not shown there yet, the next run or
daemon sweep looks again as after a crash: found, it is sent; not found, it goes the
`unknown_policy` way. The Slack stand-in keeps what it is posted as Slack does
(tests/slack_server.py); both backends."""
import logging

import pytest
from freezegun import freeze_time

from notifier.context import open_context
from notifier.models import Paper
from notifier.sending import deliver
from notifier.subscribers import new_subscriber
from slack_server import FakeSlack

DAY = "2026-07-06"


class AnswerLost(FakeSlack):
    """Slack takes the ``hold_at``-th message, and the connection drops before its answer. With
    ``shown`` False, the channel's history does not list what it took until ``show()``."""

    def __init__(self, hold_at: int, shown: bool = True):
        super().__init__(hold_at=hold_at)
        self.server.handle_error = lambda request, address: None     # the dropped answer, on purpose
        self.shown, self.unlisted = shown, {}

    def hold_if_due(self) -> None:
        self.taken += 1
        if self.taken == self.hold_at:
            if not self.shown:
                self.unlisted, self.history = self.history, {}
            raise ConnectionAbortedError("the answer is lost")

    def show(self) -> None:
        self.history = self.unlisted


def answer_lost(config, monkeypatch, shown: bool) -> AnswerLost:
    """The first post's answer lost; Ada's digest goes to #papers."""
    fake = AnswerLost(hold_at=1, shown=shown)
    monkeypatch.setenv("TEST_SLACK_TOKEN", "xoxb-test")
    config.slack.api_url, config.slack.token_env, config.slack.min_interval_seconds = fake.url + "/api/", "TEST_SLACK_TOKEN", 0
    with freeze_time(f"{DAY} 07:00"), open_context(config) as ctx:
        ctx.store.add_subscriber(new_subscriber(address="#papers", keywords=["agents"]))
        ctx.store.ingest([Paper("2607.00006", "Agents at scale")], source="hf_daily", digest_day=DAY)
    return fake


@pytest.fixture
def slack(config, monkeypatch):
    fake = answer_lost(config, monkeypatch, shown=True)
    yield fake
    fake.close()


@pytest.fixture
def slack_late(config, monkeypatch):
    """The channel lists the post only once ``show()`` is called."""
    fake = answer_lost(config, monkeypatch, shown=False)
    yield fake
    fake.close()


def run_at(config, when: str):
    """A delivery at ``when`` -> (its reports, the stored states)."""
    with freeze_time(f"{DAY} {when}"), open_context(config) as ctx:
        reports = deliver(ctx)
        return reports, [d.state for d in ctx.store.deliveries()]


def summaries(fake: FakeSlack) -> int:
    return len([p for p in fake.posts() if "thread_ts" not in p])


@pytest.mark.parametrize("policy", ["resend", "hold"])
def test_a_slack_post_whose_answer_was_lost_is_found_in_the_channel_at_once_and_recorded_sent(
        config, slack, policy, caplog):
    """Before: slack-sdk posted it again at once (a duplicate in the channel), or, on a timeout,
    it stayed `unknown` for the operator although the channel could be checked; then it stayed
    `sending` until its claim ran out (a run on PostgreSQL waited 300 s for it)."""
    config.delivery.unknown_policy = policy
    with caplog.at_level(logging.INFO):
        (report,), states = run_at(config, "07:30")
    assert report.state == "sent" and report.error is None and states == ["sent"]
    assert summaries(slack) == 1                                     # not posted twice
    (line,) = [r for r in caplog.records if r.getMessage() == "answer lost; found in the channel"]
    assert line.ctx["subscriber"] == "#papers"


@pytest.mark.parametrize("policy", ["resend", "hold"])
def test_a_lost_slack_post_the_channel_does_not_show_yet_is_left_to_the_next_run_which_finds_it(
        config, slack_late, policy, caplog, cli):
    """Not re-posted at once (Slack may still be taking it), not `unknown` for the operator."""
    config.delivery.unknown_policy = policy
    (report,), states = run_at(config, "07:30")
    assert report.state == "unknown" and "may have been posted" in report.error
    assert report.error.endswith("not in the channel yet: the next run or daemon sweep looks for it again")
    assert states == ["sending"] and summaries(slack_late) == 1      # left to recovery, not posted twice
    with freeze_time(f"{DAY} 07:40"):
        out = cli("status")[1]
    assert "sending  #papers" in out and "the channel's answer was lost); the next run or daemon sweep resolves it" in out
    slack_late.show()
    with caplog.at_level(logging.INFO):
        assert run_at(config, "07:40") == ([], ["sent"])             # once its claim ran out
    assert summaries(slack_late) == 1
    (line,) = [r for r in caplog.records if r.getMessage() == "recovered interrupted delivery"]
    assert line.ctx["state"] == "sent" and line.ctx["outcome"] == "found in the channel on a later look (its answer was lost)"


@pytest.mark.parametrize("policy, state, posted", [("resend", "sent", 2), ("hold", "unknown", 1)])
def test_a_slack_post_whose_answer_was_lost_and_not_found_in_the_channel_goes_the_unknown_policy_way(
        config, slack_late, policy, state, posted, caplog):
    """Slack did not keep it after all: `resend` posts it again, `hold` leaves it to the operator,
    told what happened (it was told "interrupted while sending", as after a crash)."""
    config.delivery.unknown_policy = policy
    run_at(config, "07:30")
    with caplog.at_level(logging.INFO):
        assert run_at(config, "07:40")[1] == [state]
    assert summaries(slack_late) == posted
    (line,) = [r for r in caplog.records if r.getMessage() == "recovered interrupted delivery"]
    assert line.ctx["outcome"].startswith("its answer was lost and it is not in the channel; ")


@pytest.mark.parametrize("policy", ["resend", "hold"])
def test_a_webhook_post_whose_answer_was_lost_is_posted_once_and_left_unknown(config, slack, monkeypatch, policy):
    """A webhook's message cannot be looked up: it is `unknown` for the operator under either
    policy. Before: slack-sdk posted it again at once, a duplicate in the channel recorded sent."""
    config.delivery.unknown_policy = policy
    monkeypatch.setenv("TEAM_HOOK", slack.url + "/hook/T1/B1/x")
    with open_context(config) as ctx:
        (sub,) = ctx.store.list_subscribers()
        ctx.store.update_subscriber(sub.id, address="webhook:TEAM_HOOK")
    (report,), states = run_at(config, "07:30")
    assert report.state == "unknown" and states == ["unknown"]
    assert len(slack.hooks("/hook/T1/B1/x")) == 1


def test_a_run_does_not_wait_out_its_own_lost_slack_post_at_its_end(config, slack_late, monkeypatch, caplog):
    """A run on PostgreSQL waits at its end while other workers are sending; it took its own
    lost post (left `sending` for the next run) for one, and waited its lease out: 300 s."""
    import time

    from notifier.recovery import finish_claimed

    with open_context(config) as ctx:
        with freeze_time(f"{DAY} 07:30"):
            [report] = deliver(ctx)
        clock = [0.0]                                 # simulated: a wait moves it, nothing else
        monkeypatch.setattr(time, "monotonic", lambda: clock[0])
        monkeypatch.setattr(time, "sleep", lambda seconds: clock.__setitem__(0, clock[0] + seconds))
        with caplog.at_level(logging.INFO):
            assert finish_claimed(ctx) == []
        [row] = ctx.store.deliveries()
    assert report.state == "unknown" and row.state == "sending" and row.worker == ctx.store.worker
    assert clock[0] == 0 and not [r for r in caplog.records if "waiting" in r.getMessage()]
