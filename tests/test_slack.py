import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from digests import digest, paper

from notifier.channels.slack import SlackChannel


class FakeSlack:
    """A stand-in for the Slack Web API and a webhook endpoint on 127.0.0.1."""

    def __init__(self):
        self.calls = []            # (path, payload)
        self.replies = {}          # path -> list of (status, headers, body) to give first
        self.history = []
        fake = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    payload = json.loads(raw or "{}")
                else:
                    payload = {k: v[0] for k, v in parse_qs(raw).items()}
                payload["_auth"] = self.headers.get("Authorization")
                fake.calls.append((self.path, payload))
                queue = fake.replies.get(self.path)
                if queue:
                    status, headers, body = queue.pop(0)
                else:
                    status, headers, body = 200, {}, fake.answer(self.path, payload)
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def answer(self, path, payload):
        if path.endswith("/conversations.open"):
            return {"ok": True, "channel": {"id": "D" + payload["users"]}}
        if path.endswith("/chat.postMessage"):
            ts = f"1700000000.{len(self.calls):06d}"
            return {"ok": True, "channel": "C" + payload["channel"].lstrip("#").upper()[:8]
                    if payload["channel"].startswith("#") else payload["channel"], "ts": ts}
        if path.endswith("/conversations.history"):
            return {"ok": True, "messages": self.history}
        if path.startswith("/hook"):
            return "ok"
        return {"ok": False, "error": "unknown_method"}

    def posts(self):
        return [p for path, p in self.calls if path.endswith("/chat.postMessage")]


@pytest.fixture
def slack():
    fake = FakeSlack()
    yield fake
    fake.server.shutdown()


def make(fake, **kw):
    sleeps = []
    now = [0.0]
    ch = SlackChannel(token="xoxb-test", api_url=fake.url + "/api/", sleep=lambda s: (sleeps.append(s), now.__setitem__(0, now[0] + s)),
                      clock=lambda: now[0], **kw)
    return ch, sleeps


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


@pytest.mark.parametrize("code,hint", [("invalid_auth", "token"), ("channel_not_found", "does not exist"),
                                       ("not_in_channel", "/invite")])
def test_permanent_errors_fail_once_with_a_clear_message(slack, code, hint):
    slack.replies["/api/chat.postMessage"] = [(200, {}, {"ok": False, "error": code})]
    ch, _ = make(slack)
    r = ch.send(digest(1, channel="slack", address="#papers"))
    assert r.state == "failed" and code in r.error and hint in r.error
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
    assert ch.find_sent(d) is False
    slack.history = [{"ts": "1.0", "metadata": {"event_type": "notifier_digest",
                                                 "event_payload": {"key": d.delivery_key}}}]
    assert ch.find_sent(d) is True
    assert any(p.get("include_all_metadata") in ("1", "true", True) for path, p in slack.calls
               if path.endswith("/conversations.history"))


def test_webhook_subscriber_url_comes_from_the_named_secret(slack, tmp_path):
    from types import SimpleNamespace

    from notifier.channels import open_channel
    from notifier.config import Config

    config = Config()
    config.slack.token_env = ""
    sub = SimpleNamespace(channel="slack", address="webhook:TEAM_HOOK")
    ch = open_channel(config, sub, env={"TEAM_HOOK": slack.url + "/hook/T9/B9/y"})
    assert ch.send(digest(1, channel="slack", address="webhook:TEAM_HOOK")).state == "sent"
    assert [path for path, _ in slack.calls] == ["/hook/T9/B9/y"]
    # without the secret there is nothing to post to: the digest goes to the local outbox
    config.general.outbox_dir = str(tmp_path)
    assert open_channel(config, sub, env={}).name == "outbox"


def test_operator_alert_is_a_plain_escaped_message(slack):
    ch, _ = make(slack)
    assert ch.send_text("#ops", "digest-notifier needs attention", "source <hf> & co failed").state == "sent"
    [post] = slack.posts()
    assert post["channel"] == "#ops" and "source &lt;hf&gt; &amp; co failed" in post["blocks"][0]["text"]["text"]
