"""The one small interface every sender implements.

    with sender:                         # the batch closes it at the end
        result = sender.send(digest)     # -> SendResult(state, provider_ref, error)

``state`` is one of the delivery states SENT, RETRY (transient: try later), FAILED (permanent), UNKNOWN
(the provider may or may not have it: the connection was lost after the message was handed
over). send() never raises for a delivery problem; it reports it. A sender whose configuration
makes every message fail (SMTP login refused, a missing secret) sets ``halted`` to the reason.
"""
from __future__ import annotations

from dataclasses import dataclass

from notifier.models import Digest
from notifier.outbox import SEND_OUTCOMES, State


@dataclass
class SendResult:
    state: State                       # one of outbox.SEND_OUTCOMES: recorded as the delivery's state
    provider_ref: str | None = None
    error: str | None = None

    def __post_init__(self):
        if self.state not in SEND_OUTCOMES:
            raise ValueError(f"unknown send state {self.state!r}")


class Channel:
    name: str = "base"
    halted: str | None = None          # set when a configuration problem makes every send fail

    @property
    def label(self) -> str:
        """Names the sender in logs and alerts, without any secret."""
        return self.name

    def close(self) -> None:
        pass

    def send(self, digest: Digest) -> SendResult:   # pragma: no cover - interface
        raise NotImplementedError

    def send_text(self, address: str, subject: str, text: str) -> SendResult:   # pragma: no cover
        """A short plain message to the operator (alerts)."""
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class Unavailable(Channel):
    """A destination that cannot be served until the operator fixes the configuration (a webhook
    secret that is not set): nothing is sent, the delivery is kept for a retry, and the batch
    raises an operator alert naming what to fix."""

    def __init__(self, *, name: str, reason: str):
        self.name, self.reason = name, reason

    def send(self, digest: Digest) -> SendResult:
        return self.send_text(digest.recipient.address, "", "")

    def send_text(self, address: str, subject: str, text: str) -> SendResult:
        self.halted = self.reason          # the batch tries no further message here
        return SendResult(State.RETRY, error=self.reason)
