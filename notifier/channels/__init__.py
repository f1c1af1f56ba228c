"""Senders and the pool of one delivery batch.

A subscriber's destination decides the sender that serves them:

    email, [email] host set             -> EmailChannel (one SMTP connection shared by the batch)
    slack, webhook:NAME or https:// URL  -> SlackWebhook for that URL (NAME's secret must be set)
    slack, bot target with a token      -> SlackChannel (chat.postMessage; the target is the digest's)
    anything else                        -> OutboxChannel (files in the outbox folder)

``Senders`` keeps one sender per destination, keyed by everything the sender object holds
(settings, credential, URL), so a sender never carries one subscriber's destination while
serving another; it is opened and closed by one delivery batch (``with Senders(config) as s``).
"""
from __future__ import annotations

from notifier.channels.base import Channel, SendResult, Unavailable

__all__ = ["Channel", "SendResult", "Senders", "send_text", "sender_spec"]


def sender_spec(config, kind: str, address: str, env: dict | None = None) -> tuple[type, dict]:
    """-> (sender class, its constructor arguments) for one destination."""
    g, e = config.general, config.email
    if kind == "email" and e.host:
        from notifier.channels.email import EmailChannel

        return EmailChannel, dict(host=e.host, port=e.port, security=e.security, username=e.username or None,
                                  password=_secret(e.password_env, env), from_addr=e.from_,
                                  timeout_seconds=e.timeout_seconds, ca_file=e.ca_file or None,
                                  unsubscribe_mailto=e.unsubscribe_mailto or None, template_dir=g.template_dir or None)
    if kind == "slack":
        spec = _slack_spec(config, address, env)
        if spec is not None:
            return spec
    from notifier.channels.outbox import OutboxChannel

    return OutboxChannel, dict(folder=config.outbox_dir, kind=kind, from_addr=e.from_,
                               unsubscribe_mailto=e.unsubscribe_mailto or None, template_dir=g.template_dir or None)


def _slack_spec(config, address: str, env: dict | None) -> tuple[type, dict] | None:
    from notifier.channels.slack import SlackChannel, SlackWebhook

    pace = config.slack.min_interval_seconds
    if address.startswith("webhook:"):
        # the webhook URL is a secret: it lives in the environment or a systemd credential
        name = address.split(":", 1)[1]
        url = _secret(name, env)
        if not url:
            return Unavailable, dict(name="slack webhook", reason=f"Slack webhook secret {name} is not set: set the environment "
                                            f"variable {name} or a systemd credential named {name}")
        return SlackWebhook, dict(url=url, min_interval_seconds=pace)
    if address.startswith("https://"):
        return SlackWebhook, dict(url=address, min_interval_seconds=pace)
    token = _secret(config.slack.token_env, env)
    if token:
        return SlackChannel, dict(token=token, api_url=config.slack.api_url, min_interval_seconds=pace)
    return None


def _secret(name: str, env: dict | None) -> str | None:
    from notifier.config import read_secret
    from notifier.logs import redact_value

    return redact_value(read_secret(name, env))


class Senders:
    """The senders of one delivery batch, one per destination; ``close()`` closes them all."""

    def __init__(self, config, env: dict | None = None):
        self.config, self.env = config, env
        self._open: dict[tuple, Channel] = {}

    def get(self, kind: str, address: str) -> Channel:
        cls, kwargs = sender_spec(self.config, kind, address, self.env)
        key = (cls, *sorted(kwargs.items()))
        if key not in self._open:
            self._open[key] = cls(**kwargs)
        return self._open[key]

    def halted(self) -> list[tuple[str, str]]:
        """(sender label, why it stopped) for every sender that stopped this batch."""
        return [(s.label, s.halted) for s in self._open.values() if s.halted]

    def close(self) -> None:
        while self._open:
            self._open.popitem()[1].close()

    def __enter__(self) -> "Senders":
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False


def send_text(config, address: str, subject: str, text: str, env: dict | None = None) -> SendResult:
    """A short plain message to one address or Slack target (operator alerts, web mails)."""
    from notifier.subscribers import channel_of

    with Senders(config, env) as senders:
        return senders.get(channel_of(address), address).send_text(address, subject, text)
