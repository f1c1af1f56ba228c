"""The outbox state machine: every state a delivery or a fetch run can be in, named once, and
the moves between delivery states as one table.

A delivery (one subscriber's digest of one day) is recorded before its message leaves and
moves as the table says (docs/ARCHITECTURE.md draws the same diagram; a test keeps the two
equal)::

    [*]        --> pending, empty          plan (papers recorded / nothing matched)
    pending    --> sending                 claim (committed before I/O)
    retry      --> sending                 claim, once next_attempt_at has passed
    sending    --> sent | retry | failed | unknown
                                           the channel's answer, or recovery after a crash
    pending, retry, held --> superseded    folded into a later catch-up digest
    pending, retry, sending --> held       subscriber paused
    held       --> pending                 resumed
    pending, retry, held, sending --> cancelled
                                           unsubscribed (papers free again)
    held, cancelled --> sent               a message in flight that arrived is recorded sent
    unknown    --> retry | held | sent     the operator re-queued it (held: the subscriber is
                                           paused), or found it arrived (`notifier resolve`)

The states are ``StrEnum`` members: they compare equal to, and are stored as, the plain strings
in the database, so the schema is unchanged.
"""
from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """A delivery's state (``delivery.state``)."""
    PENDING = "pending"          # planned, waiting for its send time
    SENDING = "sending"          # claimed by a worker; its message may be on the wire
    SENT = "sent"                # the channel accepted it
    RETRY = "retry"              # a transient failure; sent again after next_attempt_at
    FAILED = "failed"            # permanent failure, or attempts used up
    UNKNOWN = "unknown"          # the connection was lost after the data went out
    SUPERSEDED = "superseded"    # folded into a later catch-up digest
    EMPTY = "empty"              # nothing matched that day (recorded, never sent)
    HELD = "held"                # the subscriber paused
    CANCELLED = "cancelled"      # the subscriber unsubscribed


class FetchState(StrEnum):
    """A fetch run's outcome (``fetch_run.outcome``); SKIPPED is reported, never stored."""
    RUNNING = "running"
    OK = "ok"
    NOT_MODIFIED = "not_modified"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # stopped by the operator (Ctrl-C): neither an answer nor a failing source
    SKIPPED = "skipped"


INITIAL = frozenset({State.PENDING, State.EMPTY})     # what planning records
TRANSITIONS: dict[State, frozenset[State]] = {
    State.PENDING: frozenset({State.SENDING, State.SUPERSEDED, State.HELD, State.CANCELLED}),
    State.RETRY: frozenset({State.SENDING, State.SUPERSEDED, State.HELD, State.CANCELLED}),
    State.SENDING: frozenset({State.SENT, State.RETRY, State.FAILED, State.UNKNOWN, State.HELD, State.CANCELLED}),
    State.HELD: frozenset({State.SUPERSEDED, State.PENDING, State.CANCELLED, State.SENT}),
    State.CANCELLED: frozenset({State.SENT}),
    State.SENT: frozenset(),
    State.FAILED: frozenset(),
    State.UNKNOWN: frozenset({State.RETRY, State.HELD, State.SENT}),
    State.SUPERSEDED: frozenset(),
    State.EMPTY: frozenset(),
}


def moving_to(target: State) -> frozenset[State]:
    """The states a delivery may leave for ``target``."""
    return frozenset(s for s, to in TRANSITIONS.items() if target in to)


def allowed(old: State | str, new: State | str) -> bool:
    return old == new or State(new) in TRANSITIONS[State(old)]


WAITING = frozenset({State.PENDING, State.RETRY})                 # claimable once due
SEND_OUTCOMES = frozenset({State.SENT, State.RETRY, State.FAILED, State.UNKNOWN})   # what a channel answers
TAKEN = frozenset({State.PENDING, State.SENDING, State.SENT, State.RETRY, State.UNKNOWN, State.HELD})
"""A paper in a digest in these states is taken: never planned for that subscriber again."""
PLANNED = TAKEN | {State.FAILED, State.EMPTY}                    # a digest was due and made (empty: nothing matched)
SETTLED = frozenset({State.SENT, State.SENDING, State.UNKNOWN, State.EMPTY})
"""Its papers were considered for good: the latest one's plan time is the next digest's cutoff."""
ATTENTION = frozenset({State.FAILED, State.UNKNOWN})             # an operator should look
UNFINISHED = WAITING | {State.SENDING} | ATTENTION                # `notifier status` lists them
CANCELLABLE = moving_to(State.CANCELLED)                          # pending, retry, sending, held
HOLDABLE = moving_to(State.HELD) - {State.UNKNOWN}                # pending, retry, sending: a pause holds them
# (an unknown digest is held only by the operator's resend, never re-sent by a resume on its own)
SUPERSEDABLE = moving_to(State.SUPERSEDED)                        # pending, retry, held
FETCHED = frozenset({FetchState.OK, FetchState.NOT_MODIFIED})     # a fetch that got an answer
