"""Channel registry: ``open_channel(config, subscriber)`` picks the sender for a subscriber.

email with [email] host set  -> EmailChannel (SMTP)
slack with a token or a webhook URL address -> SlackChannel
anything else -> OutboxChannel (files in the outbox folder; nothing leaves the machine)
"""
from __future__ import annotations

from notifier.channels.base import Channel, SendResult

__all__ = ["Channel", "SendResult", "open_channel", "CHANNELS"]

CHANNELS = ("email", "slack", "outbox")


def open_channel(config, sub, env: dict | None = None) -> Channel:
    from notifier.config import read_secret

    kind = getattr(sub, "channel", "email")
    g = config.general
    unsubscribe_url = None      # no one-click endpoint exists yet: mailto only (RELIABILITY.md §1.2)
    if kind == "email" and config.email.host:
        from notifier.channels.email import EmailChannel

        e = config.email
        return EmailChannel(host=e.host, port=e.port, security=e.security, username=e.username or None,
                            password=read_secret(e.password_env, env), from_addr=e.from_,
                            timeout_seconds=e.timeout_seconds, ca_file=e.ca_file or None,
                            unsubscribe_mailto=e.unsubscribe_mailto or None, unsubscribe_url=unsubscribe_url,
                            template_dir=g.template_dir or None)
    if kind == "slack":
        token = read_secret(config.slack.token_env, env)
        address = getattr(sub, "address", "")
        # webhook:NAME keeps the webhook URL (a secret) in the environment or a systemd credential
        webhook = read_secret(address.split(":", 1)[1], env) if address.startswith("webhook:") else None
        if token or webhook or address.startswith("https://"):
            from notifier.channels.slack import SlackChannel

            return SlackChannel(token=token, api_url=config.slack.api_url, webhook_url=webhook,
                                min_interval_seconds=config.slack.min_interval_seconds)
    from notifier.channels.outbox import OutboxChannel

    return OutboxChannel(folder=config.outbox_dir, kind=kind, from_addr=config.email.from_,
                         unsubscribe_mailto=config.email.unsubscribe_mailto or None,
                         template_dir=g.template_dir or None)
