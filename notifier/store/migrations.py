"""The schema's versions: one function per version, applied in order by ``Store`` on opening."""
from __future__ import annotations

import json
import logging
from datetime import datetime

from sqlalchemy import bindparam, delete, insert, inspect, select, text, update
from sqlmodel import SQLModel

from notifier.outbox import State
from notifier.pace import Pace
from notifier.store.tables import HOST_KEY, OUTAGE_ENDS_KEY, Alert, Delivery, Setting, Signup, Vote, utcnow

SCHEMA_VERSION = 10
RETRY_AFTER_KEY = "retry_after:"    # + a host group: its latest Retry-After before schema 9

log = logging.getLogger("notifier.store")       # the logger name from before the split


def _v1(conn) -> None:
    """Every table as the models define it now. A new database therefore already has the columns
    later migrations add, so those add only what an older database lacks."""
    SQLModel.metadata.create_all(conn)


def _v2(conn) -> None:
    """subscriber.threshold: a subscriber's own selection threshold (NULL: the configured one)."""
    _add_column(conn, "subscriber", "threshold", "FLOAT")


def _v3(conn) -> None:
    """vote (relevance feedback per subscriber), signup (double opt-in requests) and
    subscriber.paused (the manage page's pause)."""
    _add_column(conn, "subscriber", "paused", "BOOLEAN NOT NULL DEFAULT FALSE")
    Vote.__table__.create(conn, checkfirst=True)
    Signup.__table__.create(conn, checkfirst=True)


def _v4(conn) -> None:
    """subscriber.address in canonical form (subscribers.canonical_address: e-mail in lower case,
    Slack user ids without '@'), so one person is one subscriber. A row whose canonical address
    another row already has is kept as it is and logged: which history to keep is the operator's
    call (`notifier unsubscribe ID`)."""
    from notifier.logs import event
    from notifier.subscribers import canonical_address

    rows = conn.execute(text("SELECT id, address FROM subscriber ORDER BY id")).all()
    taken = {address for _, address in rows}
    for sub_id, address in rows:
        canonical = canonical_address(address)
        if canonical == address:
            continue
        if canonical in taken:
            event(log, "duplicate subscriber kept", logging.WARNING, id=sub_id, address=address, same_as=canonical)
            continue
        conn.execute(text("UPDATE subscriber SET address = :a WHERE id = :i"), {"a": canonical, "i": sub_id})
        taken.add(canonical)


def _v5(conn) -> None:
    """fetch_run.skipped: how many malformed items a fetch left out."""
    _add_column(conn, "fetch_run", "skipped", "INTEGER NOT NULL DEFAULT 0")


def _v6(conn) -> None:
    """setting: a key/value table (the fingerprint of the config file's subscribers, so they are
    applied when the file changes instead of at every start); an index for each subscriber's
    latest delivery (status and scheduling read it for every subscriber)."""
    Setting.__table__.create(conn, checkfirst=True)
    for index in Delivery.__table__.indexes:
        if index.name == "ix_delivery_subscriber_latest":
            index.create(conn, checkfirst=True)


def _v7(conn) -> None:
    """An index for planning a batch: each subscriber's digests by state (latest cutoff, latest
    sent, open ones) without SQLite scanning every digest in a state for 500 subscribers at once."""
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_delivery_subscriber_state ON delivery (subscriber_id, state, created_at)"))


def _v8(conn) -> None:
    """delivery.worker, delivery.lease_until: which worker's claim a `sending` row is, and until
    when (several workers on one PostgreSQL database take over only expired claims)."""
    _add_column(conn, "delivery", "worker", "VARCHAR")
    _add_column(conn, "delivery", "lease_until", "TIMESTAMP")


def _v9(conn) -> None:
    """setting: a Retry-After kept before workers shared one pace per host group (a
    ``retry_after:<group>`` row, which the fetcher no longer reads) goes into its group's pace if
    it has not ended, so the host is not asked before it ends; the old rows are deleted."""
    rows = conn.execute(select(Setting.key, Setting.value).where(
        Setting.key.startswith(RETRY_AFTER_KEY, autoescape=True))).all()
    now = utcnow()
    for key, value in rows:
        old = json.loads(value)
        until = datetime.fromisoformat(old["until"])
        if until > now:
            _hold_in_pace(conn, key.removeprefix(RETRY_AFTER_KEY), until, old["problem"], old["status"])
    conn.execute(delete(Setting).where(Setting.key.in_([key for key, _ in rows])))


def _v10(conn) -> None:
    """delivery.due_at: since when a digest is due to go out (planned, or resumed from a pause), so
    an outage alert counts from then. Existing digests get their planning time, and those not
    settled their subscriber's last change if later, the stand-in used before (never too early).
    A database with outage alerts gets the moment of the upgrade (OUTAGE_ENDS_KEY): outages that
    ended before it are not told over (they would all be told at the first check)."""
    _add_column(conn, "delivery", "due_at", "TIMESTAMP")
    conn.execute(text("UPDATE delivery SET due_at = created_at WHERE due_at IS NULL"))
    changed = "SELECT s.updated_at FROM subscriber s WHERE s.id = delivery.subscriber_id"
    conn.execute(text(f"UPDATE delivery SET due_at = ({changed}) WHERE state IN :open "
                      f"AND ({changed}) > created_at").bindparams(bindparam("open", expanding=True)),
                 {"open": [State.PENDING, State.RETRY, State.HELD, State.SUPERSEDED, State.FAILED]})
    if conn.execute(select(Alert.id).where(Alert.key.startswith("silent:")).limit(1)).first():      # alerts.SILENT
        # alerted outages that ended before the upgrade are not told over all at once
        conn.execute(insert(Setting).values(key=OUTAGE_ENDS_KEY, value=utcnow().isoformat()))


def _hold_in_pace(conn, group: str, until: datetime, problem: str, status: int | None) -> None:
    """``Pace.hold`` on the group's row (store/hosts.py), added if the group has none yet."""
    key = HOST_KEY + group
    kept = conn.execute(select(Setting.value).where(Setting.key == key)).scalar()
    pace = Pace.from_json(kept) if kept else Pace()
    pace.hold(until, problem, status)
    if kept:
        conn.execute(update(Setting).where(Setting.key == key).values(value=pace.to_json()))
    else:
        conn.execute(insert(Setting).values(key=key, value=pace.to_json()))


def _add_column(conn, table: str, column: str, sql_type: str) -> None:
    if column not in {c["name"] for c in inspect(conn).get_columns(table)}:
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}"))


MIGRATIONS = {1: _v1, 2: _v2, 3: _v3, 4: _v4, 5: _v5, 6: _v6, 7: _v7, 8: _v8, 9: _v9, 10: _v10}      # version -> function(connection); append, never edit

