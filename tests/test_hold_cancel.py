"""Pausing or unsubscribing while a worker records a send (PostgreSQL: several workers; SQLite:
the CLI beside the daemon): a digest that arrived stays `sent`, never turned `held` or `cancelled`
by a move that read the row before the send was recorded. Runs on SQLite and PostgreSQL."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import event as sa_event, text

from notifier.outbox import State
from test_workers import LEASE, T0, any_url, one_pending, workers  # noqa: F401  (fixtures)

MOVES = {"unsubscribe": lambda store, sub_id: store.remove_subscriber(sub_id),
         "pause": lambda store, sub_id: store.set_paused(sub_id, True)}


def wait_until_blocked(store, started: threading.Event) -> None:
    """The other worker has reached the database and (PostgreSQL) waits for a row this one holds;
    on SQLite it waits for the database, which this one holds from its first statement."""
    assert started.wait(30), "the other worker never reached the database"
    deadline = time.monotonic() + 30
    while store.shared:
        with store.session() as s:
            if s.exec(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).one()[0]:
                return
        assert time.monotonic() < deadline, "the other worker never waited for the row"
        time.sleep(0.01)


@pytest.mark.parametrize("move", sorted(MOVES))
def test_a_send_recorded_while_the_subscriber_leaves_stays_sent(workers, move):  # noqa: F811  (the fixture)
    sender, other = workers
    d = one_pending(sender)
    sender.claim(d.id, now=T0, lease=LEASE)
    started = threading.Event()
    sa_event.listen(other.engine, "before_cursor_execute", lambda *a: started.set())
    mover = threading.Thread(target=MOVES[move], args=(other, d.subscriber_id))
    with sender.transaction():             # the send's outcome, not yet committed when the move starts
        assert sender.record(d.id, State.SENT, now=T0)
        mover.start()
        wait_until_blocked(sender, started)
    mover.join(30)
    [row] = sender.deliveries()
    assert (row.state, row.last_error) == (State.SENT, None)


@pytest.mark.parametrize("move, state", [("unsubscribe", State.CANCELLED), ("pause", State.HELD)])
def test_leaving_moves_every_digest_not_yet_sent_and_no_other(workers, move, state):  # noqa: F811
    store, _ = workers
    first = one_pending(store)
    rows = [first] + [store.plan_delivery(subscriber_id=first.subscriber_id, digest_day=day, items=[],
                                          meta={"empty_note": True}) for day in ("2026-06-13", "2026-06-14")]
    store.claim(rows[1].id, now=T0, lease=LEASE)
    store.claim(rows[2].id, now=T0, lease=LEASE)
    store.record(rows[2].id, State.SENT, now=T0)
    MOVES[move](store, first.subscriber_id)
    assert [d.state for d in store.deliveries()] == [state, state, State.SENT]
