"""Subscribers, the service's settings, votes and web sign-ups."""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import Row, String, cast, delete, func, insert, or_, update
from sqlmodel import Session, select

from notifier.alerts import edit_command, operator_name
from notifier.errors import StoreError
from notifier.outbox import State
from notifier.batching import batched
from notifier.store.engine import _retry_race
from notifier.store.tables import Delivery, Setting, Signup, Subscriber, Vote, utcnow


MAX_ID = 2**31 - 1          # ids are INTEGER: 32 bits on PostgreSQL; a larger number is no id, not an error


class SubscribersMixin:
    # -- subscribers --------------------------------------------------------------------------
    @_retry_race
    def add_subscriber(self, sub: Subscriber) -> Subscriber:
        with self.session() as s:
            there = s.exec(select(Subscriber).where(Subscriber.address == sub.address)).first()
            if there:
                name = operator_name(there.address, there.id)        # a webhook URL, a secret, by id
                who = f"a subscriber with address '{name}'" if name == there.address else name
                raise StoreError(f"{who} already exists: {edit_command(there.address, there.id, '--keywords TEXT')} "
                                 "changes their profile")
            s.add(sub)
            s.flush()
            return sub

    def find_subscriber(self, ref: str | int) -> Subscriber | None:
        """By id, or by address exactly as stored (the canonical form: subscribers.canonical_address).
        Never by name: a name may be another subscriber's address (see subscribers_named)."""
        if not isinstance(ref, int) and str(ref).isascii() and str(ref).isdigit():     # not '²': no int
            ref = int(ref)
        with self.reading() as s:
            if isinstance(ref, int):
                return s.get(Subscriber, ref) if 0 < ref <= MAX_ID else None
            return s.exec(select(Subscriber).where(Subscriber.address == ref)).first()

    def subscribers_named(self, name: str) -> list[Subscriber]:
        with self.reading() as s:
            return list(s.exec(select(Subscriber).where(Subscriber.name == name).order_by(Subscriber.id)))

    def subscribers_at(self, addresses: list[str], origin: str | None = None,
                       active: bool | None = None) -> dict[str, Subscriber]:
        """Address -> stored subscriber, for those of these addresses that are stored (with that
        origin, and active or not, if given): only they are read."""
        found = {}
        with self.reading() as s:
            for chunk in batched(addresses, 500):
                q = select(Subscriber).where(Subscriber.address.in_(chunk))
                q = q.where(Subscriber.origin == origin) if origin else q
                found.update((sub.address, sub) for sub in s.exec(q.where(Subscriber.active == active)
                                                                   if active is not None else q))
        return found

    def update_subscriber(self, sub_id: int, **changes) -> Subscriber:
        with self.session() as s:
            sub = s.get(Subscriber, sub_id)
            if changes.get("active") and not sub.active:
                _resubscribed(s, sub)
            for key, value in changes.items():
                setattr(sub, key, value)
            sub.updated_at = utcnow()
            s.add(sub)
            return sub

    def remove_subscriber(self, sub_id: int) -> int:
        """Deactivate (keep the delivery history, so a re-subscribe never resends old papers) and
        cancel the digests still waiting. -> how many were cancelled."""
        self.update_subscriber(sub_id, active=False)
        return self.cancel_open(sub_id)

    def list_subscribers(self, active_only: bool = True, *, paused: bool = False, ids: Iterable[int] | None = None,
                         limit: int | None = None) -> list[Subscriber]:
        """By id: all of them, or those of ``ids`` (a few hundred due of 10,000: only they are
        read); the first ``limit`` of them, if given."""
        q = _listed(select(Subscriber), active_only, paused).limit(limit)
        chunks = None if ids is None else list(batched(sorted(set(ids)), 500))
        if chunks == []:
            return []
        with self.reading() as s:
            if chunks is None:
                return list(s.exec(q))
            return [sub for chunk in chunks for sub in s.exec(q.where(Subscriber.id.in_(chunk)))]

    def count_subscribers(self, active_only: bool = True, *, paused: bool = False) -> int:
        """How many ``list_subscribers`` would give."""
        q = _listed(select(Subscriber.id), active_only, paused)
        with self.reading() as s:
            return s.exec(select(func.count()).select_from(q.subquery())).one()

    def subscriber_rows(self, *columns: str, active_only: bool = True, paused: bool = False) -> list[Row]:
        """``list_subscribers`` as plain rows of just these columns, for a caller that only reads
        them: 10,000 Subscriber objects took ten times as long to build as rows of three columns."""
        with self.reading() as s:
            return list(s.exec(_listed(select(*(getattr(Subscriber, c) for c in columns)), active_only, paused)))

    def addresses_of(self, ids: Iterable[int]) -> dict[int, str]:
        """Subscriber id -> address, for these ids only (a few deliveries to report, not everyone)."""
        ids = sorted(set(ids))
        if not ids:
            return {}
        with self.reading() as s:
            return {i: a for chunk in batched(ids, 500)
                    for i, a in s.exec(select(Subscriber.id, Subscriber.address).where(Subscriber.id.in_(chunk)))}

    @_retry_race
    def upsert_subscribers(self, subs: list[dict], fields: Iterable[str], *,
                           skip_unsubscribed: bool = False) -> tuple[int, int, int]:
        """Add these subscribers (``subscribers.written`` values), or set ``fields`` on those whose
        address exists, all in one transaction; and active and paused, unless None (as they are: an
        unsubscribed one stays so), moving their digests as unsubscribe, subscribe and pause/resume
        do. With ``skip_unsubscribed``, one stored as unsubscribed is left as it is unless its row
        says active false (an old export says true of someone who left since). -> (added, updated:
        those of the existing ones that this changed, skipped)."""
        fields, added, updated, skipped = list(fields), 0, 0, 0
        with self.transaction(), self.session() as s:
            for chunk in batched(subs, 500):     # ORM objects for all of 100,000 at once: 3 KB each
                a, u, k = self._upsert_chunk(s, chunk, fields, skip_unsubscribed)
                added, updated, skipped = added + a, updated + u, skipped + k
        return added, updated, skipped

    def _upsert_chunk(self, s: Session, subs: list[dict], fields: list[str], skip_unsubscribed: bool):
        """``upsert_subscribers`` for a few hundred of them, written (flushed) before the next
        ones are read, so that only theirs are held. -> (added, updated, skipped)."""
        q = select(Subscriber).where(Subscriber.address.in_([sub["address"] for sub in subs]))
        existing = {row.address: row for row in s.exec(q)}
        new = [sub | {"active": sub["active"] is not False, "paused": sub["paused"] is True}
               for sub in subs if sub["address"] not in existing]
        if new:
            s.execute(insert(Subscriber), new)
        updated = skipped = 0
        for sub in subs:
            row = existing.get(sub["address"])
            if row is not None and skip_unsubscribed and not row.active and sub["active"] is not False:
                skipped += 1
            elif row is not None and self._upsert_one(s, row, sub, fields):
                updated += 1
        s.flush()
        return len(new), updated, skipped

    def _upsert_one(self, s: Session, row: Subscriber, sub: dict, fields: list[str]) -> bool:
        """``upsert_subscribers`` for one stored subscriber. -> whether it changed."""
        before = [getattr(row, key) for key in (*fields, "active", "paused")]
        for key in fields:
            setattr(row, key, sub[key])
        if sub["active"] and not row.active:
            _resubscribed(s, row)
        elif sub["active"] is False and row.active:
            self.cancel_open(row.id)
        row.active = row.active if sub["active"] is None else sub["active"]
        if sub["paused"] is not None and sub["paused"] != row.paused:
            row.paused = sub["paused"]
            self._hold_digests(row.id, sub["paused"])
        if before == [getattr(row, key) for key in (*fields, "active", "paused")]:
            return False
        row.updated_at = utcnow()
        s.add(row)
        return True

    def subscribers_version(self, origin: str) -> str:
        """Changes whenever a subscriber of this origin is added or changed: 'count/latest change'."""
        with self.reading() as s:
            count, latest = s.exec(select(func.count(), func.max(Subscriber.updated_at))
                                   .where(Subscriber.origin == origin)).one()
            return f"{count}/{latest.isoformat() if latest else ''}"

    def setting(self, key: str) -> str | None:
        with self.reading() as s:
            row = s.get(Setting, key)
            return row.value if row else None

    @_retry_race
    def put_setting(self, key: str, value: str) -> None:
        with self.session() as s:
            s.merge(Setting(key=key, value=value))

    # -- votes and web sign-ups ---------------------------------------------------------------
    @_retry_race
    def set_vote(self, subscriber_id: int, paper_id: str, vote: int) -> None:
        """Record +1 / -1 for this subscriber and paper (a later vote replaces it); 0 clears it.
        The same first vote recorded at once by another process: it is found and replaced."""
        if vote not in (-1, 0, 1):
            raise ValueError(f"vote must be -1, 0 or 1, not {vote!r}")
        with self.session() as s:
            row = s.exec(select(Vote).where(Vote.subscriber_id == subscriber_id, Vote.paper_id == paper_id)).first()
            if vote == 0:
                if row is not None:
                    s.delete(row)
                return
            row = row or Vote(subscriber_id=subscriber_id, paper_id=paper_id, vote=vote)
            row.vote, row.updated_at = vote, utcnow()
            s.add(row)

    def votes(self, subscriber_id: int) -> list[tuple[str, int]]:
        """(paper id, vote) for one subscriber, newest first."""
        return self.votes_of([subscriber_id]).get(subscriber_id, [])

    def votes_of(self, subscriber_ids: list[int]) -> dict[int, list[tuple[str, int]]]:
        """Each of these subscribers' votes as (paper id, vote), newest first, in one query a chunk."""
        out: dict[int, list[tuple[str, int]]] = {}
        with self.reading() as s:
            for chunk in batched(list(subscriber_ids), 500):
                for r in s.exec(select(Vote).where(Vote.subscriber_id.in_(chunk))
                                .order_by(Vote.updated_at.desc(), Vote.id.desc())):
                    out.setdefault(r.subscriber_id, []).append((r.paper_id, r.vote))
        return out

    def add_signup(self, address: str, settings: dict) -> int:
        with self.session() as s:
            row = Signup(address=address, settings=json.dumps(settings))
            s.add(row)
            s.flush()
            return row.id

    def confirm_signup(self, signup_id: int) -> Signup | None:
        """Mark a sign-up confirmed and return it; None if unknown or confirmed before (single use)."""
        with self.session() as s:
            row = s.get(Signup, signup_id)
            if row is None or row.confirmed_at is not None:
                return None
            row.confirmed_at = utcnow()
            s.add(row)
            return row

    def get_signup(self, signup_id: int) -> Signup | None:
        with self.reading() as s:
            return s.get(Signup, signup_id)

    def prune_signups(self, link_lasts: timedelta, now: datetime | None = None) -> int:
        """Drop the sign-ups whose confirmation link has expired (made more than ``link_lasts``
        ago), confirmed or not: no link can use them any more, and an unconfirmed one holds the
        address of someone who never said yes. -> how many were dropped."""
        with self.session() as s:
            return s.execute(delete(Signup).where(Signup.created_at < (now or utcnow()) - link_lasts)).rowcount


def _resubscribed(s: Session, sub: Subscriber) -> None:
    """Someone who had unsubscribed is back: a new subscription, started now (``created_at``: the
    web's links signed before it no longer open it), with the cancelled digests' days free again."""
    sub.created_at = utcnow()
    _release_cancelled(s, sub.id)


def _release_cancelled(s: Session, subscriber_id: int) -> None:
    """Re-subscribed: the digests cancelled when they left give up their key ("<subscriber>:<day>",
    now "<subscriber>:<day>:cancelled:<id>"), so that day's digest is planned again with the papers
    the cancelled one freed. Once: a digest that was sent keeps its key. One that was in flight
    when they left (its claim has not run out) keeps it too: if it arrives, it was that day's."""
    s.execute(update(Delivery).where(
        Delivery.subscriber_id == subscriber_id, Delivery.state == State.CANCELLED,
        Delivery.key.not_like("%:cancelled:%"), or_(Delivery.lease_until.is_(None), Delivery.lease_until < utcnow()))
        .values(key=Delivery.key + ":cancelled:" + cast(Delivery.id, String))
        .execution_options(synchronize_session=False))


def _listed(q, active_only: bool, paused: bool = False):
    """The subscribers ``list_subscribers`` gives, by id: unless not ``active_only``, only those
    sent to, and with ``paused`` those paused too (not those who unsubscribed)."""
    if active_only:
        q = q.where(Subscriber.active == True)  # noqa: E712
        q = q if paused else q.where(Subscriber.paused == False)  # noqa: E712
    return q.order_by(Subscriber.id)
