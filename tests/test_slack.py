import json
import re

import pytest

from digests import digest, mrkdwn_faults, overlong_slack_digest, paper

from notifier.channels.slack import SlackChannel, SlackWebhook
from slack_server import FakeSlack


@pytest.fixture
def slack():
    fake = FakeSlack()
    yield fake
    fake.close()


def make(fake, webhook_url=None, **kw):
    sleeps = []
    now = [0.0]
    pacing = dict(sleep=lambda s: (sleeps.append(s), now.__setitem__(0, now[0] + s)), clock=lambda: now[0], **kw)
    if webhook_url:
        return SlackWebhook(url=webhook_url, **pacing), sleeps
    return SlackChannel(token="xoxb-test", api_url=fake.url + "/api/", **pacing), sleeps


def test_short_digest_is_one_message_with_metadata_and_fallback(slack):
    ch, _ = make(slack)
    r = ch.send(digest(2, channel="slack", address="#papers"))
    assert r.state == "sent" and r.provider_ref.startswith("CPAPERS/")
    (post,) = slack.posts()
    assert post["_auth"] == "Bearer xoxb-test" and post["channel"] == "#papers"
    assert post["metadata"] == {"event_type": "notifier_digest", "event_payload": {"key": "7.2026-07-29.email.12"}}
    assert post["text"].startswith("2 papers on kv cache, MoE")
    assert post["blocks"][0]["type"] == "header"


def test_long_digest_goes_to_thread_with_pacing_and_escaping(slack):
    papers = [paper(i, title=f"<b>Title</b> & {i}") for i in range(60)]
    ch, sleeps = make(slack)
    r = ch.send(digest(papers=papers, channel="slack", address="#papers"))
    posts = slack.posts()
    assert r.state == "sent" and len(posts) >= 3
    summary, *replies = posts
    assert all(p["thread_ts"] == r.provider_ref.split("/")[1] for p in replies)
    assert all(len(p["blocks"]) <= 50 for p in posts)
    body = json.dumps(posts)
    assert "<b>Title</b>" not in body and "&lt;b&gt;Title&lt;/b&gt; &amp; 59" in body
    assert len(sleeps) == len(posts) - 1 and all(0 < s <= 1.0 for s in sleeps)


def test_a_thread_reply_slack_refused_is_named_in_one_short_line(slack):
    """The run report and status printed slack_sdk's whole message, its URL and the raw answer, over two lines."""
    slack.replies["/api/chat.postMessage"] = [(200, {}, {"ok": True, "channel": "CPAPERS", "ts": "1700000000.000001"}),
                                              (200, {}, {"ok": False, "error": "invalid_blocks"})]
    ch, _ = make(slack)
    r = ch.send(digest(papers=[paper(i) for i in range(60)], channel="slack", address="#papers"))
    assert (r.state, r.error) == ("sent", "summary posted but thread reply 1 failed: Slack refused the message: invalid_blocks")


def test_direct_message_to_a_user_opens_a_conversation(slack):
    ch, _ = make(slack)
    assert ch.send(digest(1, channel="slack", address="@U123ABC")).state == "sent"
    assert slack.calls[0][0].endswith("/conversations.open") and slack.posts()[0]["channel"] == "DU123ABC"


def test_429_with_retry_after_is_retried_by_the_client(slack):
    slack.replies["/api/chat.postMessage"] = [(429, {"Retry-After": "0"}, {"ok": False, "error": "ratelimited"})]
    ch, _ = make(slack)
    r = ch.send(digest(1, channel="slack", address="#papers"))
    assert r.state == "sent" and len(slack.posts()) == 2


def test_persistent_429_becomes_a_retry_later(slack):
    slack.replies["/api/chat.postMessage"] = [(429, {"Retry-After": "0"}, {"ok": False, "error": "ratelimited"})] * 5
    ch, _ = make(slack, max_rate_limit_retries=1)
    r = ch.send(digest(1, channel="slack", address="#papers"))
    assert r.state == "retry" and len(slack.posts()) == 2


@pytest.mark.parametrize("code,hint", [("channel_not_found", "does not exist"), ("not_in_channel", "/invite")])
def test_permanent_errors_fail_once_with_a_clear_message(slack, code, hint):
    slack.replies["/api/chat.postMessage"] = [(200, {}, {"ok": False, "error": code})]
    ch, _ = make(slack)
    r = ch.send(digest(1, channel="slack", address="#papers"))
    assert r.state == "failed" and code in r.error and hint in r.error
    assert len(slack.posts()) == 1


@pytest.mark.parametrize("code", ["invalid_auth", "token_revoked"])
def test_a_token_problem_stops_the_bot_sender_and_keeps_the_digest_for_a_retry(slack, code):
    slack.replies["/api/chat.postMessage"] = [(200, {}, {"ok": False, "error": code})]
    ch, _ = make(slack)
    r = ch.send(digest(1, channel="slack", address="#papers"))
    assert r.state == "retry" and code in r.error and "token" in r.error and ch.halted == r.error
    assert len(slack.posts()) == 1


def test_webhook_posts_summary_then_details_and_checks_status(slack):
    url = slack.url + "/hook/T1/B1/x"
    ch, _ = make(slack, webhook_url=url)
    r = ch.send(digest(papers=[paper(i) for i in range(10)], channel="slack", address="webhook:papers"))
    hooks = [p for path, p in slack.calls if path.startswith("/hook")]
    assert r.state == "sent" and len(hooks) == 2 and hooks[0]["blocks"][0]["type"] == "header"
    slack.replies["/hook/T1/B1/x"] = [(404, {}, "no_service")]
    r = ch.send(digest(1, channel="slack", address="webhook:papers"))
    assert r.state == "failed" and "404" in r.error


def test_find_sent_reconciles_by_metadata_key(slack):
    ch, _ = make(slack)
    d = digest(1, channel="slack", address="#papers")
    slack.channels["#papers"] = "CPAPERS"
    assert ch.find_sent(d) is False
    slack.history["CPAPERS"] = [{"ts": "1.0", "metadata": {"event_type": "notifier_digest",
                                                            "event_payload": {"key": d.delivery_key}}}]
    assert ch.find_sent(d) is True
    history = [p for path, p in slack.calls if path.endswith("/conversations.history")]
    assert {p["channel"] for p in history} == {"CPAPERS"}       # Slack's history takes no "#name"
    assert all(p.get("include_all_metadata") in ("1", "true", True) for p in history)


def test_a_summary_found_after_a_crash_gets_the_thread_replies_it_lacks_and_no_others(slack):
    """kill -9 after the summary and the first reply: recovery posts replies 2 and 3 only, though a
    reader answered in the thread meanwhile."""
    ch, _ = make(slack)
    d = digest(papers=[paper(i) for i in range(50)], channel="slack", address="#papers")
    assert ch.send(d).state == "sent"
    summary, *replies = slack.posts()
    assert len(replies) == 3
    (ts,) = slack.threads
    slack.threads[ts] = slack.threads[ts][:1] + [{"ts": "9.1", "thread_ts": ts, "text": "nice one"}]
    slack.calls.clear()
    assert ch.find_sent(d) is True
    again = slack.posts()
    assert [p["text"] for p in again] == [r["text"] for r in replies[1:]]
    assert all(p["thread_ts"] == ts and p["channel"] == "CPAPERS" for p in again)
    assert ch.find_sent(d) is True and len(slack.posts()) == 2       # a second look posts nothing more


def test_a_lookup_slack_refuses_is_logged_with_its_reason_and_answers_not_found(slack, caplog):
    ch, _ = make(slack)
    slack.replies["/api/conversations.list"] = [(200, {}, {"ok": False, "error": "missing_scope",
                                                          "needed": "channels:read"})]
    assert ch.find_sent(digest(1, channel="slack", address="#papers")) is False
    (record,) = [r for r in caplog.records if "interrupted Slack digest" in r.getMessage()]
    assert "missing_scope" in str(record.ctx["error"]) and "channels:read" in str(record.ctx["error"])


def test_webhook_subscriber_url_comes_from_the_named_secret(slack, config):
    from notifier.channels import Senders

    with Senders(config, env={"TEAM_HOOK": slack.url + "/hook/T9/B9/y"}) as senders:
        ch = senders.get("slack", "webhook:TEAM_HOOK")
        assert ch.send(digest(1, channel="slack", address="webhook:TEAM_HOOK")).state == "sent"
    assert [path for path, _ in slack.calls] == ["/hook/T9/B9/y"]


def test_webhook_whose_secret_is_not_set_is_a_retry_naming_the_variable_never_the_outbox(slack, config):
    from notifier.channels import Senders

    with Senders(config, env={}) as senders:
        ch = senders.get("slack", "webhook:TEAM_HOOK")
        r = ch.send(digest(1, channel="slack", address="webhook:TEAM_HOOK"))
        assert r.state == "retry" and "TEAM_HOOK is not set" in r.error
        assert senders.halted() == [("slack webhook", r.error)]
    assert slack.calls == [] and not config.outbox_dir.exists()


def test_refused_webhook_connection_posted_nothing_and_is_retried():
    from smtp_server import free_port

    ch = SlackWebhook(url=f"http://127.0.0.1:{free_port()}/hook/T1/B1/x", sleep=lambda s: None)
    r = ch.send(digest(1, channel="slack", address="webhook:TEAM_HOOK"))
    assert r.state == "retry" and "cannot reach the Slack webhook" in r.error


def test_webhook_that_never_answers_may_have_posted_and_is_unknown():
    import socket

    with socket.socket() as silent:            # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        ch = SlackWebhook(url=f"http://127.0.0.1:{silent.getsockname()[1]}/hook/x", timeout_seconds=1,
                          sleep=lambda s: None)
        r = ch.send(digest(1, channel="slack", address="webhook:TEAM_HOOK"))
    assert r.state == "unknown" and "may have been posted" in r.error


def test_operator_alert_is_a_plain_escaped_message(slack):
    ch, _ = make(slack)
    assert ch.send_text("#ops", "digest-notifier needs attention", "source <hf> & co failed").state == "sent"
    [post] = slack.posts()
    assert post["channel"] == "#ops" and "source &lt;hf&gt; &amp; co failed" in post["blocks"][0]["text"]["text"]


def test_an_operator_alert_quoting_a_mention_never_pings_the_channel_from_its_notification(slack):
    """Slack reads the top-level text (the notification) as mrkdwn: "<!channel>" there notifies
    everyone, as in a block."""
    ch, _ = make(slack)
    ch.send_text("#ops", "Slack said <!channel>", "webhook answered <!here> & 500")
    [post] = slack.posts()
    assert post["text"] == "Slack said &lt;!channel&gt;: webhook answered &lt;!here&gt; &amp; 500"


def test_an_operator_alert_quoting_a_line_or_an_emoji_code_shows_it_as_typed(slack):
    """A line starting with ">" is a block quote in mrkdwn, ":fire:" an emoji, in the block and the notification."""
    ch, _ = make(slack)
    ch.send_text("#ops", "HF :fire: failed", "HF answered:\n> 502 Bad Gateway")
    [post] = slack.posts()
    for text in (post["text"], post["blocks"][0]["text"]["text"]):
        assert "HF :\u2060fire: failed" in text and "\n˃ 502 Bad Gateway" in text


@pytest.mark.parametrize("typed, shown", [("&", "&amp;"), ("\U0001f468\u200d\U0001f469\u200d\U0001f467",) * 2],
                         ids=["escape", "emoji family"])
def test_a_long_operator_alert_is_cut_after_a_whole_escape_or_emoji(slack, typed, shown):
    """It was cut at 3,000 characters wherever that fell: "&am" of "&amp;" showed as typed, and
    👨‍👩‍👧 as 👨 and a dangling joiner."""
    ch, _ = make(slack)
    ch.send_text("#ops", "HF failed", typed * 1000)
    [post] = slack.posts()
    for text, start in ((post["blocks"][0]["text"]["text"], "*HF failed*\n"), (post["text"], "HF failed: ")):
        assert len(text) <= 3000 and re.fullmatch(f"{re.escape(start)}(?:{re.escape(shown)})+…", text)



def mrkdwn_texts(node) -> list[str]:
    """Every mrkdwn text in a post (the notification's "text" is mrkdwn too)."""
    if isinstance(node, dict):
        own = [node["text"]] if node.get("type") == "mrkdwn" or "channel" in node else []
        return own + [t for v in node.values() for t in mrkdwn_texts(v)]
    return [t for v in node for t in mrkdwn_texts(v)] if isinstance(node, list) else []


def test_a_digest_past_slacks_limits_arrives_with_every_link_escape_and_formatting_whole(slack):
    ch, _ = make(slack)
    assert ch.send(overlong_slack_digest()).state == "sent"
    posts = slack.posts()
    shown = mrkdwn_texts(posts)
    assert len(posts) > 2 and len(shown) > 2 * 24 and not [f for t in shown for f in mrkdwn_faults(t)]
    assert json.dumps(posts).count("|HF page>") == 24


def test_an_operator_alert_with_a_subject_too_long_for_its_block_keeps_its_bold_closed(slack):
    ch, _ = make(slack)
    ch.send_text("#ops", "HF failed: " + "<timeout> " * 400, "retrying")
    [post] = slack.posts()
    text = post["blocks"][0]["text"]["text"]
    assert len(text) <= 3000 and text.endswith("&lt;timeout&gt;…*") and not mrkdwn_faults(text)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_webhook_that_redirects_elsewhere_sends_nothing_there_and_is_not_counted_sent(slack, status):
    """urllib follows a 301/302/303 to any host as a GET and reported that host's 200 as the
    webhook's: the digest was recorded sent though Slack never had it. A 3xx is the webhook's answer."""
    elsewhere = FakeSlack()
    try:
        slack.replies["/hook/T1/B1/x"] = [(status, {"Location": elsewhere.url + "/stolen"}, "")]
        ch, _ = make(slack, webhook_url=slack.url + "/hook/T1/B1/x")
        r = ch.send(digest(1, channel="slack", address="webhook:papers"))
    finally:
        elsewhere.close()
    assert elsewhere.calls == []
    assert r.state == "retry" and f"Slack answered {status} (redirect to 127.0.0.1:" in r.error


def test_the_bot_token_never_follows_a_redirect_to_another_host(slack):
    """urllib re-sent the Web API call to a redirect's host as a GET with the Authorization
    header, the bot token in it; the 3xx is now the answer and nothing goes elsewhere."""
    elsewhere = FakeSlack()
    try:
        slack.replies["/api/chat.postMessage"] = [(302, {"Location": elsewhere.url + "/api/chat.postMessage"}, "")]
        ch, _ = make(slack)
        r = ch.send(digest(1, channel="slack", address="#papers"))
    finally:
        elsewhere.close()
    assert elsewhere.calls == []
    assert r.state == "retry" and len(slack.posts()) == 1


@pytest.mark.parametrize("address", ["#papers", "webhook:TEAM_HOOK"])
def test_a_redirect_is_reported_with_its_status_and_host_and_the_digest_kept_for_a_retry(
        slack, config, monkeypatch, caplog, address):
    """A 3xx from the Slack URL read "Received a response in a non-JSON format" (the bot) or
    "webhook answered 302" with no word of where it pointed; the operator reads the status and the
    host in the delivery's log line, its stored error and the alert, and nothing is lost."""
    from pathlib import Path

    from notifier.parse import parse_text
    from notifier.context import open_context
    from notifier.sending import deliver
    from notifier.subscribers import new_subscriber

    monkeypatch.setenv("TEAM_HOOK", slack.url + "/hook/T1/B1/x")
    monkeypatch.setenv("TEST_SLACK_TOKEN", "xoxb-test")
    config.slack.api_url, config.slack.token_env, config.slack.min_interval_seconds = (
        slack.url + "/api/", "TEST_SLACK_TOKEN", 0)
    moved = {"Location": "https://slack.example.net:8443/elsewhere"}
    slack.replies["/api/chat.postMessage"] = [(302, moved, "")]
    slack.replies["/hook/T1/B1/x"] = [(302, moved, "")]
    sample = Path(__file__).parents[1] / "notifier/samples/hf_daily_papers_api_2026-06-12.json"
    with open_context(config) as ctx:
        ctx.store.add_subscriber(new_subscriber(address=address, keywords=["diffusion, llm, agents, model"]))
        ctx.store.ingest(parse_text(sample.read_text()), source="hf_daily", digest_day="2026-06-12")
        [report] = deliver(ctx)
        [stored] = ctx.store.deliveries()
        alerts = [a.text for a in ctx.store.unsent_alerts()]
    said = "Slack answered 302 (redirect to slack.example.net:8443 refused)"
    assert report.state == "retry" and stored.state == "retry" and stored.last_error == said
    [line] = [r for r in caplog.records if r.getMessage() == "delivery retry"]
    assert line.ctx["error"] == said
    assert [a.endswith(f"delivery stopped: {said}") for a in alerts] == [True]
    assert [r.ctx["text"] for r in caplog.records if r.getMessage() == "alert"] == alerts
    assert "non-JSON" not in caplog.text
