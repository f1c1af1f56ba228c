"""When the next request to a host group ("hf", "arxiv", else a host: ``Fetcher._group``) may
start: one request per gap (``min_interval_seconds``) and none before its Retry-After ends.

Each request takes a *turn*: the first moment after the turn before it plus the gap, and after the
group's Retry-After. Turns are handed out one by one, so fetchers sharing a group's ``Pace``
(through the store: every worker on the database; arXiv counts all our machines as one, see
docs/SOURCES.md) keep one pace between them, and a Retry-After one of them was answered stops
the others' next request. Pure: the store (``Store.take_turn``) and ``OwnPaces`` keep the state.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

NEVER = datetime.min.replace(tzinfo=timezone.utc)      # no turn taken yet, no Retry-After answered


@dataclass
class Turn:
    """When a request may start (``at``); not ``granted``: the group's Retry-After (its answer
    ``problem`` and ``status``) ends later than the fetcher waits, and nothing was reserved."""
    at: datetime
    granted: bool
    problem: str = ""
    status: int | None = None


@dataclass
class Pace:
    """One host group: the earliest start of its next turn, and its latest Retry-After."""
    next_at: datetime = NEVER
    held_until: datetime = NEVER
    problem: str = ""                   # the answer that came with the Retry-After: "HTTP 429"
    status: int | None = None

    def take(self, now: datetime, gap_seconds: float, latest: datetime) -> Turn:
        """The next turn from ``now`` on, reserved (the one after it starts ``gap_seconds`` later);
        refused when the Retry-After ends after ``latest``."""
        refused = self.refusal(latest)
        if refused:
            return refused
        at = max(now, self.next_at, self.held_until)
        self.next_at = at + timedelta(seconds=gap_seconds)
        return Turn(at, True)

    def hold(self, until: datetime, problem: str, status: int | None) -> Pace:
        """A Retry-After: no turn before ``until``; a later one already held stays. -> this Pace."""
        if until > self.held_until:
            self.held_until, self.problem, self.status = until, problem, status
        return self

    def refusal(self, latest: datetime) -> Turn | None:
        """A turn refused, reserving nothing, when the Retry-After ends after ``latest``: the one
        rule of what is not waited out."""
        if self.held_until > latest:
            return Turn(self.held_until, False, self.problem, self.status)
        return None

    def to_json(self) -> str:
        return json.dumps({"next_at": self.next_at.isoformat(), "held_until": self.held_until.isoformat(),
                           "problem": self.problem, "status": self.status})

    @classmethod
    def from_json(cls, text: str) -> Pace:
        kept = json.loads(text)
        return cls(datetime.fromisoformat(kept["next_at"]), datetime.fromisoformat(kept["held_until"]),
                   kept["problem"], kept["status"])


class OwnPaces:
    """The groups' paces of a fetcher without a store (`notifier parse`): its own requests only."""

    def __init__(self):
        self._paces: dict[str, Pace] = {}

    def take_turn(self, group: str, now: datetime, gap_seconds: float, latest: datetime) -> Turn:
        return self._paces.setdefault(group, Pace()).take(now, gap_seconds, latest)

    def hold_host(self, group: str, until: datetime, problem: str, status: int | None) -> Pace:
        return self._paces.setdefault(group, Pace()).hold(until, problem, status)
