"""The outbox state machine is written down once (notifier.outbox.TRANSITIONS): the store moves
deliveries only as it says, and docs/ARCHITECTURE.md draws exactly it."""
import itertools
import re
import sqlite3
from pathlib import Path

from notifier.models import Paper
from notifier.outbox import INITIAL, TRANSITIONS, State
from notifier.store import Store, Subscriber
from notifier.store.tables import utcnow

DOC = Path(__file__).resolve().parent.parent / "docs" / "ARCHITECTURE.md"
TABLE = {(a, b) for a, targets in TRANSITIONS.items() for b in targets} | {("[*]", s) for s in INITIAL}


def diagram_moves() -> set[tuple[str, str]]:
    """Every `a --> b` of the mermaid state diagram, `x --> [*]` (terminal marks) left out."""
    block = DOC.read_text().split("```mermaid", 1)[1].split("```", 1)[0]
    moves = re.findall(r"^\s*(\[\*\]|\w+) --> (\[\*\]|\w+)", block, re.M)
    return {(a, b) for a, b in moves if b != "[*]"}


def test_architecture_diagram_draws_exactly_the_transition_table():
    assert diagram_moves() == {(str(a), str(b)) for a, b in TABLE}


def recording_moves(path: Path) -> sqlite3.Connection:
    """SQLite triggers that log every state a delivery is created in or moved to."""
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE moves (old TEXT, new TEXT);
        CREATE TRIGGER moved AFTER UPDATE OF state ON delivery WHEN old.state <> new.state
            BEGIN INSERT INTO moves VALUES (old.state, new.state); END;
        CREATE TRIGGER planned AFTER INSERT ON delivery BEGIN INSERT INTO moves VALUES ('[*]', new.state); END;
    """)
    return db


def test_the_store_makes_every_move_of_the_table_and_no_other(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'n.sqlite'}")
    db = recording_moves(store.path)
    ids = (f"2607.{n:05d}" for n in itertools.count(1))
    store.ingest([Paper(arxiv_id=f"2607.{n:05d}", title="t") for n in range(1, 40)], source="s", digest_day="2026-07-01")
    subs, days = iter(range(1, 20)), (f"2026-07-{n:02d}" for n in itertools.count(1))

    def subscriber() -> int:
        return store.add_subscriber(Subscriber(channel="email", address=f"{next(subs)}@example.org", profile="[]")).id

    def plan(sub: int, state: State = State.PENDING) -> int:
        items = [] if state == State.EMPTY else [{"id": next(ids)}]
        return store.plan_delivery(subscriber_id=sub, digest_day=next(days), items=items, meta={}, state=state).id

    def retrying(sub: int) -> int:
        d = plan(sub)
        store.claim(d)
        store.record(d, State.RETRY)
        return d

    a = subscriber()                                   # sent, retried then failed, lost (unknown)
    for outcome in (State.SENT, State.FAILED, State.UNKNOWN):
        d = retrying(a) if outcome == State.FAILED else plan(a)
        store.claim(d)
        store.record(d, outcome)
    plan(a, State.EMPTY)
    for settled in (State.RETRY, State.SENT):          # lost, then re-queued or found arrived by the operator
        d = plan(a)
        store.claim(d)
        store.record(d, State.UNKNOWN)
        store.resolve_unknown(store.deliveries()[-1].key, settled, utcnow())
    paused = subscriber()                              # lost, re-queued while paused
    d = plan(paused)
    store.claim(d)
    store.record(d, State.UNKNOWN)
    store.set_paused(paused, True)
    store.resolve_unknown(store.deliveries()[-1].key, State.RETRY, utcnow())
    b = subscriber()                                   # paused while waiting and in flight; resumed; arrived
    plan(b)
    retrying(b)
    store.set_paused(b, True)
    store.set_paused(b, False)
    d = plan(b)
    store.claim(d)
    store.set_paused(b, True)
    store.record(d, State.SENT)
    c = subscriber()                                   # folded into a catch-up: pending, retrying, held
    plan(c)
    retrying(c)
    e = subscriber()
    plan(e)
    store.set_paused(e, True)
    store.supersede_open_many({c: "2026-12-31", e: "2026-12-31"})
    f = subscriber()                                   # unsubscribed: waiting, retrying, held, in flight
    plan(f)
    retrying(f)
    g = subscriber()
    plan(g)
    store.set_paused(g, True)
    h = subscriber()
    d = plan(h)
    store.claim(d)
    for sub in (f, g, h):
        store.remove_subscriber(sub)
    store.record(d, State.SENT)                        # ... and the one in flight arrived
    moves = set(db.execute("SELECT old, new FROM moves"))
    db.close()
    store.close()
    assert moves == {(str(a), str(b)) for a, b in TABLE}
