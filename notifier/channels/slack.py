"""Slack: a bot token (chat.postMessage to a channel, or to a user via conversations.open) or an
incoming webhook. The summary message first, the rest of a long digest as thread replies (a
webhook cannot thread: it posts them as follow-up messages)."""
from __future__ import annotations

import logging
import socket
import time
from datetime import timedelta
from functools import cache
from itertools import islice
from typing import Callable
from urllib.error import URLError

from notifier.channels.base import Channel, SendResult
from notifier.logs import event
from notifier.models import Digest
from notifier.outbox import State

PERMANENT_ERRORS = {
    "invalid_auth": "the Slack token is invalid: check the [slack] token secret",
    "not_authed": "no Slack token was sent: check the [slack] token secret",
    "account_inactive": "the Slack token belongs to a deactivated app or user",
    "token_revoked": "the Slack token was revoked: install the app again",
    "channel_not_found": "the Slack channel does not exist or the bot cannot see it",
    "not_in_channel": "the bot is not a member of the channel: /invite it there",
    "is_archived": "the Slack channel is archived",
    "user_not_found": "no such Slack user",
    "missing_scope": "the Slack token lacks a scope (chat:write, im:write, channels:history)",
}
TOKEN_ERRORS = ("invalid_auth", "not_authed", "account_inactive", "token_revoked", "missing_scope")
EVENT_TYPE = "notifier_digest"
HISTORY_PAGES = 50          # of 200 messages since the digest was planned: how far an interrupted digest is
                            # looked for (it read the newest 5 pages, and a busy channel could push it off them)
CLOCK_SKEW = timedelta(hours=1)     # how far this host's clock may be ahead of Slack's (a post's ts is Slack's)
NON_JSON = "Received a response in a non-JSON format: "     # slack-sdk's error for such an answer
MAX_BODY_CHARS = 200                   # of an answer's text quoted in an error
log = logging.getLogger(__name__)


class Redirected(OSError):
    """Slack (or what answers at the configured URL) answered a 3xx, which is never followed:
    nothing was posted. Every post to that URL gets the same answer: a configuration problem."""

    def __init__(self, status: int, location: str | None):
        from urllib.parse import urlsplit

        try:
            parts = urlsplit(location or "")
            host = parts.hostname and (f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname)
        except ValueError:          # a Location with a malformed port
            host = "a malformed address"
        host = host or ("another path on the same host" if location else None)
        super().__init__(f"Slack answered {status} (" + (f"redirect to {host} refused)" if host else
                                                          "redirect without a Location)"))
        self.status = status


class _Paced(Channel):
    """What both Slack senders share: the SDK's retry handlers and at most one post per
    ``min_interval_seconds`` to a conversation (Slack's per-channel limit is about one a second)."""

    def __init__(self, *, min_interval_seconds: float = 1.0, timeout_seconds: float = 30.0,
                 max_rate_limit_retries: int = 2, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic):
        self.min_interval_seconds = min_interval_seconds
        self.timeout_seconds = timeout_seconds
        self.max_rate_limit_retries = max_rate_limit_retries
        self.sleep, self.clock = sleep, clock
        self._last_post: dict[str, float] = {}

    def _handlers(self):
        """Slack's rate limit waited out; a connection error retried once only when the request
        never reached Slack (urllib wraps a failed connect or send as URLError). One dropped
        after it may have been taken: slack-sdk's default retried it too, posting it twice."""
        from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

        return [RateLimitErrorRetryHandler(max_retry_count=self.max_rate_limit_retries),
                ConnectionErrorRetryHandler(max_retry_count=1, error_types=[URLError])]

    def _pace(self, channel: str) -> None:
        last = self._last_post.get(channel)
        if last is not None:
            wait = self.min_interval_seconds - (self.clock() - last)
            if wait > 0:
                self.sleep(wait)
        self._last_post[channel] = self.clock()

    def send(self, digest: Digest) -> SendResult:
        from notifier.render import render_slack

        return self._post(digest.recipient.address, render_slack(digest), digest.delivery_key)

    def send_text(self, address: str, subject: str, text: str) -> SendResult:
        from notifier.render import SLACK_MAX_SECTION_CHARS, SLACK_MAX_TEXT_CHARS
        from notifier.render import SlackMessage, mrkdwn_cut, mrkdwn_escape

        body = f"*{mrkdwn_escape(subject)}*\n{mrkdwn_escape(text)}"
        block = {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn_cut(body, SLACK_MAX_SECTION_CHARS)}}
        # the notification's text is mrkdwn too
        fallback = mrkdwn_cut(mrkdwn_escape(f"{subject}: {text}"), SLACK_MAX_TEXT_CHARS)
        return self._post(address, SlackMessage(text=fallback, blocks=[block], thread=[]), None)

    def _post(self, address: str, msg, key: str | None) -> SendResult:   # pragma: no cover - interface
        raise NotImplementedError

    def _misdirected(self, e: Redirected) -> SendResult:
        """A redirect answers every post to this URL alike: stop this sender, keep the digests for a
        retry once the operator fixed the URL."""
        self.halted = str(e)
        return SendResult(State.RETRY, error=str(e))


class SlackChannel(_Paced):
    """A bot token: chat.postMessage to the digest's own target (#channel, C…, or a user's DM)."""

    name = "slack"

    def __init__(self, *, token: str, api_url: str = "https://slack.com/api/", **pacing):
        super().__init__(**pacing)
        self.token, self.api_url = token, api_url
        self._client = None

    @property
    def label(self) -> str:
        return f"slack bot at {self.api_url}"

    @property
    def client(self):
        if self._client is None:
            self._client = web_client()(token=self.token, base_url=self.api_url, timeout=int(self.timeout_seconds),
                                     retry_handlers=self._handlers())
        return self._client

    def _target(self, address: str) -> str:
        address = address.strip()
        user = address[1:] if address.startswith("@") else address
        if user[:1] in ("U", "W") and user.isalnum():
            return self.client.conversations_open(users=user)["channel"]["id"]
        return address

    def _post(self, address: str, msg, key: str | None) -> SendResult:
        from slack_sdk.errors import SlackApiError

        metadata = {"event_type": EVENT_TYPE, "event_payload": {"key": key}} if key else None
        try:
            channel = self._target(address)
            self._pace(channel)
            resp = self.client.chat_postMessage(channel=channel, text=msg.text, blocks=msg.blocks,
                                                metadata=metadata, unfurl_links=False, unfurl_media=False)
        except SlackApiError as e:
            return self._refused(e)
        except Redirected as e:
            return self._misdirected(e)
        except OSError as e:
            return _unanswered(e, f"Slack at {self.api_url}")
        channel_id, ts = resp["channel"], resp["ts"]
        self._last_post[channel_id] = self._last_post[channel]     # "#name" and its id are one channel
        return SendResult(State.SENT, f"{channel_id}/{ts}", self._reply(channel_id, ts, msg, key))

    def _reply(self, channel_id: str, ts: str, msg, key: str | None, posted: frozenset = frozenset()) -> str | None:
        """Post the thread replies of ``msg`` under the summary ``ts``, but those ``posted`` already,
        each carrying the digest's key and its number; None, or what stopped them."""
        from slack_sdk.errors import SlackApiError

        for i, part in enumerate(msg.thread, 1):
            if i in posted:
                continue
            metadata = {"event_type": EVENT_TYPE, "event_payload": {"key": key, "reply": i}} if key else None
            try:
                self._pace(channel_id)
                self.client.chat_postMessage(channel=channel_id, thread_ts=ts, blocks=part, text=msg.reply_text(i),
                                             metadata=metadata, unfurl_links=False, unfurl_media=False)
            except (SlackApiError, OSError) as e:
                return f"summary posted but thread reply {i} failed: {_why(e)}"
        return None

    def _refused(self, e) -> SendResult:
        """A token problem fails every message alike: stop this sender, keep the digests for a
        retry once the operator fixed it. Anything else concerns this one target."""
        result = _classify(e)
        if _code(e) in TOKEN_ERRORS:
            self.halted = result.error
            return SendResult(State.RETRY, error=result.error)
        return result

    def find_sent(self, digest: Digest) -> bool:
        """Was this delivery already posted? Looks for our metadata key in the conversation's
        history since the digest was planned (an hour earlier: this host's clock may be ahead of
        Slack's), HISTORY_PAGES pages at most (a "#name" is first looked up: history takes only an
        id). A summary found there gets the thread replies the interrupted send had not posted. A
        lookup Slack refuses is logged with Slack's reason and answers no."""
        from slack_sdk.errors import SlackApiError

        since = {"oldest": f"{(digest.planned_at - CLOCK_SKEW).timestamp():.6f}"} if digest.planned_at else {}
        try:
            channel = self._conversation_id(digest.recipient.address)
            pages = islice(self.client.conversations_history(channel=channel, include_all_metadata=True, limit=200,
                                                             **since), HISTORY_PAGES)
            ts = next((m["ts"] for page in pages for m in page.get("messages", []) if _key(m) == digest.delivery_key),
                      None)
        except (SlackApiError, OSError) as e:
            event(log, "could not look for an interrupted Slack digest", logging.WARNING,
                  subscriber=digest.recipient.address, error=_why(e))
            return False
        if ts is not None:
            self._finish_thread(channel, ts, digest)
        return ts is not None

    def _conversation_id(self, address: str) -> str:
        """The id Slack's history and replies take for a subscriber's address; a "#name" is looked
        up in the channels the token can list (channels:read, groups:read)."""
        from slack_sdk.errors import SlackApiError

        target = self._target(address)
        if not target.startswith("#"):
            return target
        for page in self.client.conversations_list(types="public_channel,private_channel", exclude_archived=True,
                                                   limit=1000):
            for c in page.get("channels", []):
                if c.get("name") == target[1:]:
                    return c["id"]
        raise SlackApiError(f"no channel {target}", {"ok": False, "error": "channel_not_found"})

    def _finish_thread(self, channel: str, ts: str, digest: Digest) -> None:
        """Post what the summary ``ts`` of ``digest`` still lacks of its thread (a reply counts as
        posted when it carries the digest's key and number, so a reader's reply is not one)."""
        from slack_sdk.errors import SlackApiError

        from notifier.render import render_slack

        msg = render_slack(digest)
        try:
            thread = self.client.conversations_replies(channel=channel, ts=ts, include_all_metadata=True, limit=200)
            posted = frozenset(_reply_number(m, digest.delivery_key) for m in thread.get("messages", []))
            why = self._reply(channel, ts, msg, digest.delivery_key, posted) if msg.thread else None
        except (SlackApiError, OSError) as e:
            why = f"its thread could not be read: {_why(e)}"
        if why:
            event(log, "an interrupted Slack digest's thread is incomplete", logging.WARNING,
                  subscriber=digest.recipient.address, error=why)


def _key(message: dict) -> str | None:
    """The delivery key a message of ours carries in its metadata, or None."""
    meta = message.get("metadata") or {}
    return meta.get("event_payload", {}).get("key") if meta.get("event_type") == EVENT_TYPE else None


def _reply_number(message: dict, key: str) -> int | None:
    """Which thread reply of the digest ``key`` a message is, or None."""
    return (message.get("metadata") or {}).get("event_payload", {}).get("reply") if _key(message) == key else None


class SlackWebhook(_Paced):
    """An incoming webhook: posts to the one conversation its URL (a secret) belongs to."""

    name = "slack-webhook"

    def __init__(self, *, url: str, **pacing):
        super().__init__(**pacing)
        self.url = url

    @property
    def label(self) -> str:
        return "slack webhook"

    def _post(self, address: str, msg, key: str | None) -> SendResult:
        client = webhook_client()(self.url, timeout=int(self.timeout_seconds), retry_handlers=self._handlers())
        for i, blocks in enumerate([msg.blocks, *msg.thread]):
            self._pace(self.url)
            try:
                resp = client.send(text=msg.text if i == 0 else msg.reply_text(i),
                                   blocks=blocks, unfurl_links=False, unfurl_media=False)
            except OSError as e:
                if i > 0:
                    return SendResult(State.SENT, error=f"summary posted but part {i} failed: {e}")
                return self._misdirected(e) if isinstance(e, Redirected) else _unanswered(e, "the Slack webhook")
            if resp.status_code != 200:
                text = f"webhook answered {resp.status_code} {resp.body}"
                if i > 0:
                    return SendResult(State.SENT, error=f"summary posted but part {i} failed: {text}")
                if resp.status_code in (400, 403, 404, 410) or resp.body in ("no_service", "channel_not_found",
                                                                             "invalid_token", "action_prohibited"):
                    return SendResult(State.FAILED, error=text + " (webhook removed or invalid: create a new one)")
                return SendResult(State.RETRY, error=text)
        return SendResult(State.SENT, provider_ref="webhook")


def web_client():
    """slack-sdk's ``WebClient`` (the bot's Web API calls) that never follows a redirect."""
    return _no_redirects()[0]


def webhook_client():
    """slack-sdk's ``WebhookClient`` (incoming webhooks, a click's ``response_url``) that never
    follows a redirect."""
    return _no_redirects()[1]


@cache
def _no_redirects():
    """The SDK's two clients, posting through an opener without urllib's redirect handling: a 3xx
    raises ``Redirected`` (its status and host). urllib follows a 301, 302 or 303 to whatever host
    its Location names, as a GET with the same headers (the bot token's Authorization too), and the
    SDK hands back that host's answer: a webhook's digest was recorded sent though Slack never had it."""
    import urllib.error
    import urllib.request

    from slack_sdk import WebClient
    from slack_sdk.errors import SlackRequestError
    from slack_sdk.webhook import WebhookClient, WebhookResponse

    class NoRedirects(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args):
            return None                  # urllib then raises the 3xx as an HTTPError

    def post(client, url: str, req) -> tuple:
        if not url.lower().startswith(("https://", "http://")):     # urllib also opens file:// and ftp://
            raise SlackRequestError(f"Invalid URL detected: {url}")
        opener = urllib.request.build_opener(NoRedirects(), urllib.request.HTTPSHandler(context=client.ssl))
        try:
            with opener.open(req, timeout=client.timeout) as resp:
                return resp.status, resp.headers, resp.read().decode(resp.headers.get_content_charset() or "utf-8")
        except urllib.error.HTTPError as e:
            if 300 <= e.code < 400:     # its empty body read as "a response in a non-JSON format"
                raise Redirected(e.code, e.headers.get("Location")) from None
            raise

    class Bot(WebClient):
        def _perform_urllib_http_request_internal(self, url: str, req) -> dict:
            status, headers, body = post(self, url, req)
            return {"status": status, "headers": headers, "body": body}

    class Webhook(WebhookClient):
        def _perform_http_request_internal(self, url: str, req) -> WebhookResponse:
            status, headers, body = post(self, url, req)
            return WebhookResponse(url=url, status_code=status, body=body, headers=headers)
    return Bot, Webhook


def _unanswered(e: OSError, where: str) -> SendResult:
    """A refused connection (or an unknown host) posted nothing: retry. Any other network error
    may have come after Slack took the message: unknown (a bot's is then looked for in the
    channel by recovery, ``sending.recorded_as``)."""
    reason = getattr(e, "reason", e)
    if isinstance(reason, (ConnectionRefusedError, socket.gaierror)):
        return SendResult(State.RETRY, error=f"cannot reach {where}: {reason}")
    return SendResult(State.UNKNOWN, error=f"no answer from {where}; the message may have been posted: {reason}")


def _code(e) -> str | None:
    """Slack's error code; for an answer that is not JSON (a proxy's or load balancer's 5xx page),
    its text, short, without slack-sdk's "Received a response in a non-JSON format: " before it."""
    resp = e.response
    code = resp.get("error") if hasattr(resp, "get") else None
    return code[len(NON_JSON):][:MAX_BODY_CHARS] if code and code.startswith(NON_JSON) else code


def _why(e: Exception) -> str:
    """What a failed Slack call says: Slack's reason for a refusal, else the connection's error."""
    from slack_sdk.errors import SlackApiError

    return _classify(e).error if isinstance(e, SlackApiError) else str(e)


def _classify(e) -> SendResult:
    resp, code = e.response, _code(e)
    if code == "missing_scope" and resp.get("needed"):               # Slack names the scope it wanted
        return SendResult(State.FAILED, error=f"{code}: the Slack token lacks the scope {resp['needed']}")
    if code in PERMANENT_ERRORS:
        return SendResult(State.FAILED, error=f"{code}: {PERMANENT_ERRORS[code]}")
    status = getattr(resp, "status_code", None)
    if code == "ratelimited" or status == 429 or (status and status >= 500):
        return SendResult(State.RETRY, error=f"Slack answered {status} {code or ''}".strip())
    return SendResult(State.FAILED, error=f"Slack refused the message: {code or status}")
