"""The one small interface every delivery channel implements.

    with channel:                 # open() once per batch, close() at the end
        result = channel.send(digest)   # -> SendResult(state, provider_ref, error)

``state`` is one of "sent", "retry" (transient: try later), "failed" (permanent), "unknown"
(the provider may or may not have it - RELIABILITY.md §6). send() never raises for a
delivery problem; it reports it.
"""
from __future__ import annotations

from dataclasses import dataclass

from notifier.models import Digest

STATES = ("sent", "retry", "failed", "unknown")


@dataclass
class SendResult:
    state: str
    provider_ref: str | None = None
    error: str | None = None

    def __post_init__(self):
        if self.state not in STATES:
            raise ValueError(f"unknown send state {self.state!r}")


class Channel:
    name: str = "base"
    max_message_bytes: int | None = None

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    halted: str | None = None          # set when a configuration problem makes every send fail

    def send(self, digest: Digest) -> SendResult:   # pragma: no cover - interface
        raise NotImplementedError

    def send_text(self, address: str, subject: str, text: str) -> SendResult:   # pragma: no cover
        """A short plain message to the operator (alerts)."""
        raise NotImplementedError

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc):
        self.close()
        return False
