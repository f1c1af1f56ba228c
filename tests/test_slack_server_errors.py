"""A Slack API answering 500 with a page that is not JSON: one log line per try, our WARNING
retry line, readable, and no ERROR line of slack-sdk's own beside it."""
import io
import logging

from freezegun import freeze_time

from notifier.context import open_context
from notifier.logs import make_handler
from notifier.models import Paper
from notifier.sending import deliver
from notifier.subscribers import new_subscriber
from slack_server import FakeSlack


def test_a_slack_500_is_one_readable_warning_per_try_and_no_error_line_of_the_sdks(config, monkeypatch):
    slack = FakeSlack()
    slack.replies["/api/chat.postMessage"] = [(500, {}, "internal error")] * 3
    monkeypatch.setenv("TEST_SLACK_TOKEN", "xoxb-1111-s3cretToken")
    config.slack.api_url, config.slack.token_env = slack.url + "/api/", "TEST_SLACK_TOKEN"
    config.slack.min_interval_seconds = 0
    root, buf = logging.getLogger(), io.StringIO()
    handler, level = make_handler(buf, journald=True), root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        with freeze_time("2026-07-06 07:30"), open_context(config) as ctx:
            ctx.store.add_subscriber(new_subscriber(address="#papers", keywords=["agents"]))
            ctx.store.ingest([Paper("2607.00006", "Agents at scale")], source="hf_daily", digest_day="2026-07-06")
            buf.truncate(0)
            [report] = deliver(ctx)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        slack.close()
    lines = [line for line in buf.getvalue().splitlines() if "digest planned" not in line]
    assert report.state == "retry" and report.error == "Slack answered 500 internal error"
    assert len(lines) == 1 and lines[0].startswith("<4>notifier.pipeline: delivery retry "), lines
    assert "Slack answered 500 internal error" in lines[0] and "non-JSON" not in lines[0], lines
