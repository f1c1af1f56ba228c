"""Deliveries (the outbox: planned, claimed under a lease, recorded; see notifier.outbox) and
operator alerts."""
from __future__ import annotations

import json
import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Iterator

from sqlalchemy import Connection, Row, and_, bindparam, case, delete, func, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from notifier import outbox
from notifier.outbox import CANCELLABLE, HOLDABLE, PLANNED, SETTLED, SUPERSEDABLE, TAKEN, WAITING, State
from notifier.batching import batched
from notifier.store.engine import _retry_race
from notifier.store.tables import (OUTAGE_ENDS_KEY, SAID_KEY, Alert, Delivery, DeliveryPaper, PaperRow, Setting, Subscriber,
                                   delivery_key, utcnow)

_DELIVERY = Delivery.__table__
_LATEST = (Delivery.subscriber_id, Delivery.digest_day, Delivery.sent_at, Delivery.created_at)


def _claim_statement():
    """``claim`` as one prepared statement (built once: building it per call cost as much as running it)."""
    c = _DELIVERY.c
    now = bindparam("now", type_=c.claimed_at.type)
    return (update(_DELIVERY)
            .where(c.id == bindparam("id_"), c.state.in_(WAITING), or_(c.next_attempt_at.is_(None), c.next_attempt_at <= now))
            .values(state=State.SENDING, claimed_at=now, attempts=c.attempts + 1, worker=bindparam("me", type_=c.worker.type),
                    lease_until=bindparam("until", type_=c.lease_until.type))
            .returning(*c))


def _record_statement(sent: bool):
    """``record`` as one conditional UPDATE (the row is this worker's, or nobody claimed it),
    built once. Not sent: a row paused or unsubscribed while in flight stays held or cancelled."""
    c = _DELIVERY.c
    state = bindparam("state", type_=c.state.type)
    values = dict(last_error=bindparam("error", type_=c.last_error.type),
                  next_attempt_at=bindparam("next", type_=c.next_attempt_at.type),
                  provider_ref=func.coalesce(bindparam("ref", type_=c.provider_ref.type), c.provider_ref))
    if sent:
        values.update(state=state, sent_at=bindparam("now", type_=c.sent_at.type))
    else:
        values.update(state=case((c.state.in_([State.HELD, State.CANCELLED]), c.state), else_=state))
    return (update(_DELIVERY).where(c.id == bindparam("id_"), or_(c.worker.is_(None), c.worker == bindparam("me", type_=c.worker.type)))
            .values(**values))


_CLAIM, _RECORD, _RECORD_SENT = _claim_statement(), _record_statement(False), _record_statement(True)


def _delivery(row) -> Delivery | None:
    return Delivery.model_construct(**row._mapping) if row is not None else None


@dataclass
class Planned:
    """A digest to record: its papers (matches, best first) and what the message says besides."""
    subscriber_id: int
    digest_day: str
    items: list[dict]
    meta: dict
    state: str = State.PENDING              # or EMPTY: nothing to send that day (recorded)

    @property
    def key(self) -> str:
        return delivery_key(self.subscriber_id, self.digest_day)


class DeliveriesMixin:
    # -- deliveries ---------------------------------------------------------------------------
    def plan_delivery(self, *, subscriber_id: int, digest_day: str, items: list[dict], meta: dict,
                      state: str = State.PENDING, created_at: datetime | None = None) -> Delivery | None:
        """Record a pending delivery with its papers. None if this digest already exists
        or all of its papers were taken meanwhile (another process planned them)."""
        planned = Planned(subscriber_id, digest_day, items, meta, state)
        return self.delivery_by_key(planned.key) if self.plan_deliveries([planned], created_at) else None

    def delivery_by_key(self, key: str) -> Delivery | None:
        with self.reading() as s:
            return s.exec(select(Delivery).where(Delivery.key == key)).first()

    def claim(self, delivery_id: int, now: datetime | None = None,
              lease: timedelta = timedelta(minutes=15)) -> Delivery | None:
        """pending/retry whose time has come -> sending, this worker's until now + lease, committed
        before any network I/O. One conditional UPDATE: of several workers (or processes) trying
        at once exactly one changes the row. None if someone else has it."""
        now = now or utcnow()
        with self._core() as conn:
            row = conn.execute(_CLAIM, {"id_": delivery_id, "now": now, "me": self.worker, "until": now + lease}).first()
        return _delivery(row)

    def take_over(self, delivery_id: int, now: datetime, lease: timedelta, *, expired_only: bool = True,
                  worker: str | None = None) -> Delivery | None:
        """A `sending` row whose worker stopped renewing its lease (died) becomes this worker's to
        resolve; so does one still claimed by ``worker`` (as read) if that was a process of this
        host that no longer runs: a restart after a crash need not wait out the lease.
        ``expired_only=False``: any `sending` row (SQLite under the local lock, whose holder is
        the only sender). Rows claimed before leases existed expire ``lease`` after their claim.
        None if it is not (or no longer) there to take."""
        cond = [Delivery.state == State.SENDING]
        if expired_only:
            dead = Delivery.worker == worker if _died_here(worker) else False
            cond.append(or_(_lease_expired(now, lease), dead))
        return self._take(delivery_id, cond, worker=self.worker, lease_until=now + lease)

    def renew(self, delivery_id: int, now: datetime, lease: timedelta) -> bool:
        """Extend this worker's claim to now + lease; False if it is no longer ours."""
        return self._take(delivery_id, [Delivery.state == State.SENDING, Delivery.worker == self.worker],
                          lease_until=now + lease) is not None

    def _take(self, delivery_id: int, conditions: list, **values) -> Delivery | None:
        """One conditional UPDATE ... RETURNING in SQLAlchemy Core: no ORM session or identity map
        around it (a claim and a record through the ORM cost ~2 ms each, ten times the statement)."""
        with self._core() as conn:
            row = conn.execute(update(_DELIVERY).where(_DELIVERY.c.id == delivery_id, *conditions)
                               .values(**values).returning(*_DELIVERY.c)).first()
        return _delivery(row)

    @contextmanager
    def _core(self) -> Iterator[Connection]:
        """A Core connection in its own transaction (or the caller's ``transaction()``), errors mapped."""
        joined = getattr(self._local, "session", None)
        if joined is not None:
            yield joined.connection()
            return
        with self._mapped_errors(), self.engine.begin() as conn:
            yield conn

    def claims_to_recover(self, now: datetime, lease: timedelta, *, expired_only: bool = True) -> list[Delivery]:
        """`sending` rows ``take_over`` would take now (a cheap look before opening senders)."""
        with self.reading() as s:
            rows = list(s.exec(select(Delivery).where(Delivery.state == State.SENDING).order_by(Delivery.id)))
            if not expired_only or not rows:
                return rows
            expired = set(s.exec(select(Delivery.id).where(Delivery.state == State.SENDING, _lease_expired(now, lease))))
        return [d for d in rows if d.id in expired or _died_here(d.worker)]

    def record(self, delivery_id: int, state: str, *, error: str | None = None, provider_ref: str | None = None,
               next_attempt_at: datetime | None = None, now: datetime | None = None) -> bool:
        """The outcome of a send, on a row this worker still owns (claimed it, or nobody did).
        False, recording nothing, if another worker took it over after this one's lease ran out:
        the outcome is then theirs to record."""
        values = {"id_": delivery_id, "me": self.worker, "state": state, "error": error,
                  "ref": provider_ref or None, "next": next_attempt_at, "now": now or utcnow()}
        with self._core() as conn:
            return conn.execute(_RECORD_SENT if state == State.SENT else _RECORD, values).rowcount == 1

    def resolve_unknown(self, key: str, to: State, now: datetime) -> Delivery | None:
        """An `unknown` digest (connection lost after its data went out) settled by the operator:
        `retry` waits to be claimed and sent again (same row, so the same Message-ID) by the next
        run or sweep with its attempts anew, or is `held` if the subscriber is paused (resuming
        sends it); `sent` is recorded sent at its claim time (the mail log showed it arrived). One
        conditional UPDATE: of two operators at once, one moves it; a worker never claims an
        `unknown` row, so it is sent at most once more. None if it is not (or no longer) unknown."""
        assert to in (State.RETRY, State.SENT), to
        if to == State.SENT:
            values = dict(state=to, sent_at=func.coalesce(_DELIVERY.c.claimed_at, now), last_error="recorded sent by the operator")
        else:
            paused = select(Subscriber.paused).where(Subscriber.id == _DELIVERY.c.subscriber_id).scalar_subquery()
            values = dict(state=case((paused, State.HELD), else_=to), next_attempt_at=None, attempts=0,
                          due_at=now, last_error="re-queued by the operator")     # its attempts anew: one busy answer is no failure
        row = self.delivery_by_key(key)
        return None if row is None else self._take(row.id, [Delivery.state == State.UNKNOWN], **values)

    def put_off(self, delivery_id: int, until: datetime) -> bool:
        """A retry's next try moved to ``until`` (the subscriber's next digest, which folds it in),
        unless it is no longer a retry (claimed meanwhile by another worker). -> whether it moved."""
        return self._take(delivery_id, [Delivery.state == State.RETRY], next_attempt_at=until) is not None

    def cancel_open(self, subscriber_id: int) -> int:
        """Unsubscribed: digests not yet sent (waiting, held, or in flight) become `cancelled`
        and their papers are free again. A message in flight that arrives is still recorded sent."""
        return self._move(subscriber_id, CANCELLABLE, State.CANCELLED,
                          "cancelled: the subscriber unsubscribed")

    def set_paused(self, subscriber_id: int, paused: bool) -> Subscriber:
        """Pause (the subscriber is kept; digests not yet sent are `held`, never sent) or resume
        (held digests wait again and go out with the next send, or fold into the subscriber's
        next digest as a catch-up if that is planned first). One rule for the CLI and the web.
        One transaction: never a paused subscriber whose digests still wait to be sent."""
        with self.transaction():
            sub = self.update_subscriber(subscriber_id, paused=paused, **({} if paused else {"active": True}))
            self._hold_digests(subscriber_id, paused)
        return sub

    def _hold_digests(self, subscriber_id: int, paused: bool) -> None:
        """Paused: the digests not yet sent are `held`; resumed: the held ones wait to be sent again."""
        if paused:
            self._move(subscriber_id, HOLDABLE, State.HELD, "held: the subscriber is paused")
        else:
            self._move(subscriber_id, {State.HELD}, State.PENDING, None, due_at=utcnow())    # due again from now

    def _move(self, subscriber_id: int, states: Iterable[State], to: State, why: str | None, **values) -> int:
        """The subscriber's digests in ``states`` -> ``to``, in one conditional UPDATE: a row that
        left those states before the move reaches it (a send recorded `sent` by another worker
        meanwhile; PostgreSQL re-checks the condition once that worker commits) stays as it is."""
        assert all(outbox.allowed(s, to) for s in states), (states, to)
        with self.session() as s:
            moved = s.execute(update(Delivery).where(Delivery.subscriber_id == subscriber_id,
                                                     Delivery.state.in_(list(states)))
                              .values(state=to, last_error=why, next_attempt_at=None, **values)
                              .execution_options(synchronize_session=False))
            return moved.rowcount

    def deliveries(self, states: Iterable[str] | None = None, subscriber_ids: Iterable[int] | None = None) -> list[Delivery]:
        with self.reading() as s:
            q = select(Delivery)
            if states is not None:
                q = q.where(Delivery.state.in_(list(states)))
            if subscriber_ids is not None:
                q = q.where(Delivery.subscriber_id.in_(list(subscriber_ids)))
            return list(s.exec(q.order_by(Delivery.id)))

    def delivery_rows(self, columns: Iterable[str], states: Iterable[str],
                      subscriber_ids: Iterable[int] | None = None) -> list[Row]:
        """``deliveries`` as plain rows of just these columns, for a caller that only reads them:
        30,000 whole Delivery objects (with their papers' JSON) took 3-4 s to build, ten times the query."""
        q = select(*(getattr(Delivery, c) for c in columns)).where(Delivery.state.in_(list(states)))
        with self.reading() as s:
            if subscriber_ids is None:
                return list(s.exec(q))
            return [row for chunk in batched(sorted(set(subscriber_ids)), 500)
                    for row in s.exec(q.where(Delivery.subscriber_id.in_(chunk)))]

    def sent_times(self, subscriber_ids: Iterable[int], since: datetime | None = None) -> list[datetime]:
        """When each digest of these subscribers sent at ``since`` or later (None: ever) went out,
        read in SQL: a day's outage of a mail server of 10,000 subscribers keeps 300,000 sent before."""
        q = select(Delivery.sent_at).where(Delivery.state == State.SENT,
                                           *([Delivery.sent_at >= since] if since is not None else []))
        with self.reading() as s:
            return [at for chunk in batched(sorted(set(subscriber_ids)), 500)
                    for at in s.exec(q.where(Delivery.subscriber_id.in_(chunk)))]

    def latest_deliveries(self, states: Iterable[str] = (State.SENT,)) -> dict[int, Row]:
        """Every subscriber's newest delivery in these states (subscriber id -> its digest_day,
        sent_at and created_at), in one query that walks each subscriber's index entries from the
        newest, not the history. Plain rows of those columns: whole Delivery objects for 10,000
        subscribers took three times as long to build as the queries took to run."""
        inner = aliased(Delivery)
        latest = (select(inner.id).where(inner.subscriber_id == Subscriber.id, _state_in(inner, states))
                  .order_by(inner.id.desc()).limit(1).correlate(Subscriber).scalar_subquery())
        with self.reading() as s:
            ids = [i for i in s.exec(select(latest).select_from(Subscriber)) if i is not None]
            # then by primary key (an IN over the subquery made PostgreSQL scan the whole table)
            return {d.subscriber_id: d for chunk in batched(ids, 500)
                    for d in s.exec(select(*_LATEST).where(Delivery.id.in_(chunk)))}

    def last_planned(self) -> dict[int, datetime]:
        """When each subscriber's latest digest was planned (it then goes out, or is retried, or
        was `empty`: nothing matched that day, which is that day's digest too): subscriber id ->
        time, in one query that walks each subscriber's index entries from the newest (as
        ``latest_deliveries``) and gives that one value: no second query, no rows of four columns."""
        inner = aliased(Delivery)
        latest = (select(inner.created_at).where(inner.subscriber_id == Subscriber.id, _state_in(inner, PLANNED))
                  .order_by(inner.id.desc()).limit(1).correlate(Subscriber).scalar_subquery())
        with self.reading() as s:
            return {sid: at for sid, at in s.exec(select(Subscriber.id, latest)) if at is not None}

    # -- planning a batch: a few queries and transactions for any number of subscribers -------
    def delivery_keys(self, keys: list[str]) -> dict[str, Row]:
        """Those of these delivery keys ("<subscriber>:<local day>") already recorded -> each one's
        state and worker (who claimed it last)."""
        with self.reading() as s:
            return {row.key: row for chunk in batched(keys, 500)
                    for row in s.exec(select(Delivery.key, Delivery.state, Delivery.worker).where(Delivery.key.in_(chunk)))}

    def supersede_open_many(self, days: dict[int, str]) -> dict[int, int]:
        """Fold each subscriber's earlier digests still waiting to be sent (pending, retrying
        after a failure, or held while they were paused) into the one being planned for ``days[subscriber]``: they become
        `superseded`, their papers free again, so the subscriber gets one catch-up message
        instead of one per missed day. -> how many each subscriber had folded."""
        folded: dict[int, int] = {}
        with self.session() as s:
            for chunk in batched(list(days), 500):
                for d in s.exec(select(Delivery).where(Delivery.subscriber_id.in_(chunk),
                                                       Delivery.state.in_(SUPERSEDABLE))):
                    if d.digest_day < days[d.subscriber_id]:
                        d.state, d.last_error = State.SUPERSEDED, f"folded into the digest of {days[d.subscriber_id]}"
                        s.add(d)
                        folded[d.subscriber_id] = folded.get(d.subscriber_id, 0) + 1
        return folded

    def last_cutoffs(self, subscriber_ids: list[int]) -> dict[int, datetime]:
        """When each subscriber's latest settled digest was planned (for those with one): papers
        first seen before it were considered then. Digests still waiting (pending, retry,
        superseded) do not count, nor failed ones: their papers are free again (a day-long SMTP
        outage uses up the retries)."""
        q = select(Delivery.subscriber_id, func.max(Delivery.created_at)).where(
            Delivery.state.in_(SETTLED))
        return self._per_subscriber(q, subscriber_ids)

    def last_sent_at(self, subscriber_ids: list[int]) -> dict[int, datetime]:
        """When each subscriber's latest sent digest was planned (for those with one)."""
        sent = aliased(Delivery)
        latest = select(func.max(sent.id)).where(sent.state == State.SENT).group_by(sent.subscriber_id)
        with self.reading() as s:
            return {sid: at for chunk in batched(subscriber_ids, 500) for sid, at in s.exec(
                select(Delivery.subscriber_id, Delivery.created_at)
                .where(Delivery.id.in_(latest.where(sent.subscriber_id.in_(chunk)))))}

    def _per_subscriber(self, q, subscriber_ids: list[int]) -> dict[int, datetime]:
        with self.reading() as s:
            return {sid: value for chunk in batched(subscriber_ids, 500) for sid, value in
                    s.exec(q.where(Delivery.subscriber_id.in_(chunk)).group_by(Delivery.subscriber_id))
                    if value is not None}

    def taken_papers(self, subscriber_ids: list[int], since: datetime | None = None) -> dict[int, set[str]]:
        """The papers each of these subscribers has in a digest (outbox.TAKEN), never to be planned
        for them again; with ``since``, only among papers first seen since (older ones are no
        candidates anyway)."""
        where = [PaperRow.first_seen_at >= since] if since is not None else []
        taken: dict[int, set[str]] = {}
        with self.reading() as s:
            for sid, pid in _taken(s, subscriber_ids, *where):
                taken.setdefault(sid, set()).add(pid)
        return taken

    def plan_deliveries(self, planned: list[Planned], created_at: datetime | None = None) -> list[str]:
        """Record each planned digest with its papers, a few hundred per transaction. Skipped:
        a digest that already exists, or whose papers were all taken meanwhile (another process
        planned them); papers taken meanwhile are left out of the others. -> the keys recorded."""
        return [key for chunk in batched(planned, 500) for key in self._plan_chunk(chunk, created_at or utcnow())]

    @_retry_race
    def _plan_chunk(self, chunk: list[Planned], created_at: datetime) -> list[str]:
        """One transaction; a digest another worker recorded first is found on the next try."""
        with self.session() as s:
            return _plan_chunk(s, chunk, created_at)

    # -- operator alerts ----------------------------------------------------------------------
    @_retry_race
    def raise_alert(self, key: str, text: str, quiet: bool = False) -> bool:
        """Record an alert; False if this key was raised before. ``quiet``: recorded as settled,
        never sent (its key keeps it from being raised again)."""
        with self.session() as s:
            if s.exec(select(Alert).where(Alert.key == key)).first():
                return False
            s.add(Alert(key=key, text=text, sent_at=utcnow() if quiet else None))
            return True

    def outage_ends_told_from(self) -> datetime | None:
        """When this database, upgraded with outage alerts, began telling their ends (migrations._v10);
        None: from the start."""
        with self.reading() as s:
            row = s.get(Setting, OUTAGE_ENDS_KEY)
        return datetime.fromisoformat(row.value) if row else None

    def alert_keys(self, *prefixes: str) -> set[str]:
        """The keys of the alerts raised that start with one of these prefixes."""
        with self.reading() as s:
            return set(s.exec(select(Alert.key).where(or_(*(Alert.key.startswith(p) for p in prefixes)))))

    def unsent_alerts(self) -> list[Alert]:
        with self.reading() as s:
            return list(s.exec(select(Alert).where(Alert.sent_at.is_(None)).order_by(Alert.id)))

    def said_first_on(self, now: datetime, what: str) -> bool:
        """Whether warning ``what`` is said for the first time on ``now``'s UTC day, which is
        recorded (a quiet alert): a timer runs every 15 minutes, and saying it each time flooded journald."""
        return self.raise_alert(f"{SAID_KEY}{what}:{now:%Y%m%d}", what, quiet=True)

    def prune_said(self, before: datetime) -> int:
        """Drop the markers of warnings said once a day (``SAID_KEY``) recorded before ``before``:
        each is read on its own day only, and a timer added one a day. -> how many were dropped."""
        with self.session() as s:
            return s.execute(delete(Alert).where(Alert.key.startswith(SAID_KEY), Alert.created_at < before)).rowcount

    def mark_alert_sent(self, alert_id: int) -> None:
        with self.session() as s:
            alert = s.get(Alert, alert_id)
            alert.sent_at = utcnow()
            s.add(alert)


def _state_in(delivery, states: Iterable[str]):
    """``state IN (...)`` written so that "the newest delivery in these states" walks the
    subscriber's (subscriber_id, id) entries from the newest and stops at the first match. No
    index on state may be used: given ``state = 'sent'``, SQLite picked the state index and read
    every sent row of every day for each subscriber (28 s for 10,000 subscribers after 30 days;
    0.1 s). And NOT IN the other states: PostgreSQL guesses that IN on an expression keeps few
    rows, so it read and sorted every digest of each subscriber (10,000 after 30 days: 0.27-0.36
    s, 0.1 s of it compiling the query, JIT); guessing that nearly all stay, it stops at the first."""
    wanted = set(states)
    return (delivery.state + "").not_in([s for s in State if s not in wanted])


def _lease_expired(now: datetime, lease: timedelta):
    """A claim nobody renewed in time; one made before leases existed lasts ``lease`` from its claim."""
    return or_(Delivery.lease_until < now,
               and_(Delivery.lease_until.is_(None), or_(Delivery.claimed_at.is_(None), Delivery.claimed_at < now - lease)))


def _died_here(worker: str | None) -> bool:
    """Whether a claim was made by a process of this host (``_worker_id``) that no longer runs.
    A reused pid counts as alive: its claim then waits for its lease like any other."""
    host, pid, _ = (worker or "::").rsplit(":", 2) if (worker or "").count(":") >= 2 else ("", "", "")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:                      # someone else's process: alive
        pass
    return False


def _plan_chunk(s: Session, chunk: list[Planned], created_at: datetime) -> list[str]:
    """Record what is left of these digests once those that exist and the papers taken are out."""
    known = set(s.exec(select(Delivery.key).where(Delivery.key.in_([p.key for p in chunk]))))
    stopped = _stopped(s, [p.subscriber_id for p in chunk])
    taken = _taken_pairs(s, chunk)
    kept: list[tuple[dict, list[dict]]] = []
    for p in chunk:
        items = [i for i in p.items if (p.subscriber_id, i["id"]) not in taken]
        if p.key in known or p.subscriber_id in stopped or (not items and not p.meta.get("empty_note") and p.state != State.EMPTY):
            continue
        kept.append(({"key": p.key, "subscriber_id": p.subscriber_id, "digest_day": p.digest_day, "state": p.state,
                      "items": json.dumps(items), "meta": json.dumps(p.meta), "attempts": 0,
                      "created_at": created_at, "due_at": created_at}, items))
    if not kept:
        return []
    s.execute(Delivery.__table__.insert(), [row for row, _ in kept])        # one executemany
    ids = dict(s.exec(select(Delivery.key, Delivery.id).where(Delivery.key.in_([row["key"] for row, _ in kept]))).all())
    links = [{"delivery_id": ids[row["key"]], "paper_id": i["id"], "subscriber_id": row["subscriber_id"]}
             for row, items in kept for i in items]
    if links:
        s.execute(DeliveryPaper.__table__.insert(), links)
    return [row["key"] for row, _ in kept]


def _stopped(s: Session, subscriber_ids: list[int]) -> set[int]:
    """Those of these subscribers paused or unsubscribed since their batch was read (it is matched
    first, for seconds): nothing is planned for them. The rows are read FOR SHARE (PostgreSQL; SQLite
    holds its write lock already), so a pause committing meanwhile waits, then holds what was planned."""
    rows = s.exec(select(Subscriber.id, Subscriber.active, Subscriber.paused)
                  .where(Subscriber.id.in_(subscriber_ids)).with_for_update(read=True))
    return {sid for sid, active, paused in rows if not active or paused}


def _taken_pairs(s: Session, chunk: list[Planned]) -> set[tuple[int, str]]:
    """(subscriber, paper) of the papers of these digests already in a delivery of theirs."""
    wanted = {i["id"] for p in chunk for i in p.items}
    return _taken(s, list({p.subscriber_id for p in chunk}), DeliveryPaper.paper_id.in_(wanted)) if wanted else set()


def _taken(s: Session, subscriber_ids: list[int], *where) -> set[tuple[int, str]]:
    """The one "taken papers" query: (subscriber, paper) in a delivery of theirs in a TAKEN state,
    filtered by ``where`` (paper columns may be used)."""
    q = (select(DeliveryPaper.subscriber_id, DeliveryPaper.paper_id, Delivery.state)
         .join(Delivery, Delivery.id == DeliveryPaper.delivery_id)
         .join(PaperRow, PaperRow.id == DeliveryPaper.paper_id).where(*where))
    return {(sid, pid) for chunk in batched(subscriber_ids, 500)
            for sid, pid, state in s.exec(q.where(DeliveryPaper.subscriber_id.in_(chunk)))
            if state in TAKEN}          # in Python: SQLite would scan by state instead

