"""The one storage module: engine, pragmas, schema, migrations and every query.

No other module opens the database. Papers are keyed by arXiv id without version; each time a
source shows a paper on a digest day is a *sighting*; deliveries are an outbox (recorded
before a message leaves, marked sent after the channel accepted it).

SQLite runs in WAL mode with a busy timeout and ``synchronous=FULL``, and every transaction
starts with ``BEGIN IMMEDIATE`` so a read-then-write never fails with "database is locked"
when the daemon and the CLI share the file. Only portable SQL is used, so PostgreSQL works
with another ``database.url``.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import secrets
import socket
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Iterator

from sqlalchemy import Column, Index, Text, UniqueConstraint, and_, event, func, insert, inspect, or_, text, update
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError
from sqlalchemy.orm import aliased
from sqlmodel import Field, Session, SQLModel, create_engine, select

from notifier.errors import StoreError
from notifier.models import Paper
from notifier import outbox
from notifier.outbox import (CANCELLABLE, FETCHED, HOLDABLE, PLANNED, SETTLED, SUPERSEDABLE, TAKEN, WAITING,
                             FetchState, State)

SCHEMA_VERSION = 8
log = logging.getLogger(__name__)
INGEST_BATCH = 500        # papers per ingest transaction: a huge day never holds the write lock for long
RACE_ATTEMPTS = 3          # a unit that lost a unique-constraint race to another worker runs again this often


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# ----------------------------------------------------------------------------- tables
class PaperRow(SQLModel, table=True):
    __tablename__ = "paper"
    id: str = Field(primary_key=True)                   # arXiv id without version
    version: str | None = None
    title: str = Field(sa_column=Column(Text, nullable=False))
    abstract: str = Field(default="", sa_column=Column(Text, nullable=False))
    authors: str = Field(default="[]", sa_column=Column(Text, nullable=False))     # JSON list
    published: str | None = None
    url: str = ""
    pdf_url: str | None = None
    hf_url: str | None = None
    code_url: str | None = None
    project_url: str | None = None
    upvotes: int | None = None
    comments: int | None = None
    categories: str = Field(default="[]", sa_column=Column(Text, nullable=False))  # JSON list
    extra: str = Field(default="{}", sa_column=Column(Text, nullable=False))       # JSON object
    raw: str | None = Field(default=None, sa_column=Column(Text))                  # JSON, prunable
    first_seen_at: datetime = Field(default_factory=utcnow, index=True)
    updated_at: datetime = Field(default_factory=utcnow)


class Sighting(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("paper_id", "source", "digest_day"),)
    id: int | None = Field(default=None, primary_key=True)
    paper_id: str = Field(foreign_key="paper.id", index=True)
    source: str
    digest_day: str = Field(index=True)                  # YYYY-MM-DD
    seen_at: datetime = Field(default_factory=utcnow)


class FetchRun(SQLModel, table=True):
    __tablename__ = "fetch_run"
    __table_args__ = (Index("ix_fetch_run_source_day", "source", "digest_day"),)
    id: int | None = Field(default=None, primary_key=True)
    source: str
    digest_day: str | None = None
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    outcome: str = FetchState.RUNNING                    # outbox.FetchState
    http_status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    found: int = 0
    new: int = 0
    updated: int = 0
    skipped: int = 0                                     # malformed items left out (see `error`)
    error: str | None = Field(default=None, sa_column=Column(Text))


class Subscriber(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = ""
    channel: str                                         # email | slack
    address: str = Field(unique=True)                    # e-mail address or Slack target
    profile: str = Field(sa_column=Column(Text, nullable=False))
    timezone: str = "UTC"
    delivery_time: str = "07:30"
    frequency: str = "daily"                             # daily | weekly
    weekday: str | None = None                           # mon..sun for weekly
    max_items: int | None = None
    threshold: float | None = None                       # share of the top score to be sent; NULL: config's
    active: bool = True
    paused: bool = False                                 # web "pause": kept, not sent to until resumed
    origin: str = "cli"                                  # cli | config | web
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Delivery(SQLModel, table=True):
    # a subscriber's deliveries newest first: "latest digest" lookups read one entry, not the history;
    # and by state, for planning a batch without scanning every digest in a state
    __table_args__ = (Index("ix_delivery_subscriber_latest", "subscriber_id", "id"),
                      Index("ix_delivery_subscriber_state", "subscriber_id", "state", "created_at"))
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)                        # "<subscriber>:<local day>": one per digest
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True)
    digest_day: str
    state: str = Field(default=State.PENDING, index=True)   # outbox.State, moving as outbox.TRANSITIONS says
    items: str = Field(default="[]", sa_column=Column(Text, nullable=False))   # JSON: matches, best first
    meta: str = Field(default="{}", sa_column=Column(Text, nullable=False))    # JSON: stats, weaker, days
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    provider_ref: str | None = None                      # Message-ID or Slack ts
    created_at: datetime = Field(default_factory=utcnow)
    claimed_at: datetime | None = None
    worker: str | None = None                            # who claimed it last: host:pid:random (Store.worker)
    lease_until: datetime | None = None                  # its claim holds until then unless renewed
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None


class DeliveryPaper(SQLModel, table=True):
    __tablename__ = "delivery_paper"
    delivery_id: int = Field(foreign_key="delivery.id", primary_key=True)
    paper_id: str = Field(foreign_key="paper.id", primary_key=True)
    subscriber_id: int = Field(index=True)


class Alert(SQLModel, table=True):
    """An operator alert, recorded once per key so a lasting problem is reported once."""
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


class Vote(SQLModel, table=True):
    """A subscriber's verdict on a paper: +1 "more like this", -1 "not for me"."""
    __table_args__ = (UniqueConstraint("subscriber_id", "paper_id"),)
    id: int | None = Field(default=None, primary_key=True)
    subscriber_id: int = Field(foreign_key="subscriber.id", index=True)
    paper_id: str = Field(foreign_key="paper.id")
    vote: int
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Signup(SQLModel, table=True):
    """A subscribe request from the web page, waiting for its address to confirm (double
    opt-in). Nothing in `subscriber` changes until then; confirmed_at makes the link single use."""
    id: int | None = Field(default=None, primary_key=True)
    address: str = Field(index=True)
    settings: str = Field(sa_column=Column(Text, nullable=False))   # JSON: new_subscriber() arguments
    created_at: datetime = Field(default_factory=utcnow)
    confirmed_at: datetime | None = None


class Setting(SQLModel, table=True):
    """Small facts the service remembers about itself, e.g. which config subscribers it applied."""
    key: str = Field(primary_key=True)
    value: str = Field(sa_column=Column(Text, nullable=False))


class SchemaVersion(SQLModel, table=True):
    __tablename__ = "schema_version"
    version: int = Field(primary_key=True)
    applied_at: datetime = Field(default_factory=utcnow)


# ----------------------------------------------------------------------------- migrations
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


def _add_column(conn, table: str, column: str, sql_type: str) -> None:
    if column not in {c["name"] for c in inspect(conn).get_columns(table)}:
        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}"))


MIGRATIONS = {1: _v1, 2: _v2, 3: _v3, 4: _v4, 5: _v5, 6: _v6, 7: _v7, 8: _v8}      # version -> function(connection); append, never edit


# ----------------------------------------------------------------------------- races
class RaceLost(StoreError):
    """A unique constraint refused a row that another worker inserted first."""


def _retry_race(method):
    """Another worker inserted the same paper, sighting, digest, subscriber or alert first: the
    unit was rolled back whole, and runs again, now seeing that row and doing what it does when
    the row exists ("someone else did it"). Only a race lost RACE_ATTEMPTS times in a row is an
    error, and then a one-line StoreError."""
    @functools.wraps(method)
    def run(self, *args, **kwargs):
        for attempt in range(1, RACE_ATTEMPTS + 1):
            try:
                return method(self, *args, **kwargs)
            except RaceLost:
                if attempt == RACE_ATTEMPTS:
                    raise
    return run


def _worker_id() -> str:
    """host:pid:random, so a claim names the process that made it (pids repeat across hosts and restarts)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


# ----------------------------------------------------------------------------- results
@dataclass
class IngestResult:
    found: int = 0
    new: int = 0
    updated: int = 0


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
        return f"{self.subscriber_id}:{self.digest_day}"


class Store:
    def __init__(self, url: str):
        self.url = url
        self.worker = _worker_id()
        self.path = _sqlite_path(url)
        if self.path is not None:
            _check_sqlite_file(self.path)
        try:
            self.engine = create_engine(url, connect_args=_connect_args(url))
        except ModuleNotFoundError as err:
            raise StoreError(f"{self.where}: the database driver '{err.name}' is not installed "
                             "(for PostgreSQL: pip install 'digest-notifier[postgres]')") from None
        if self.path is not None:
            _install_sqlite_pragmas(self.engine)
        self._guard(self._migrate)

    # -- sessions ---------------------------------------------------------------------
    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction (BEGIN IMMEDIATE on SQLite): commits on success, rolls back on error.
        A database error anywhere in it (BEGIN, a query, a flush, the commit) becomes one StoreError."""
        with self._mapped_errors(), Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def _mapped_errors(self) -> Iterator[None]:
        """The one place where the driver's errors become our one-line StoreError."""
        try:
            yield
        except IntegrityError as err:
            raise self._integrity(err) from None
        except (OperationalError, DatabaseError) as err:
            raise StoreError(self._explain(err)) from None

    def _guard(self, fn, *args):
        with self._mapped_errors():
            return fn(*args)

    def _integrity(self, err: IntegrityError) -> StoreError:
        """A unique violation (PostgreSQL SQLSTATE 23505, SQLite "UNIQUE constraint failed") is a
        race another worker won: RaceLost, which ``_retry_race`` runs again; anything else an error."""
        orig = getattr(err, "orig", err)
        unique = getattr(orig, "sqlstate", None) == "23505" or "UNIQUE constraint failed" in str(orig)
        return (RaceLost if unique else StoreError)(self._explain(err))

    @property
    def shared(self) -> bool:
        """A server database several workers may share (PostgreSQL), not a local SQLite file."""
        return self.engine.dialect.name != "sqlite"

    def _explain(self, err: Exception) -> str:
        where = str(self.path) if self.path else self.url.split("@")[-1]
        msg = str(getattr(err, "orig", err)).splitlines()[0]
        hints = {
            "file is not a database": "the file is not a SQLite database (corrupt or another format)",
            "database disk image is malformed": "the database file is corrupt; restore it from a backup",
            "readonly": "the database or its folder is read-only; the service needs write access",
            "unable to open": "cannot open the database file; check the folder exists and is writable",
            "disk is full": "the disk is full; free space and run again (nothing was half-written)",
            "database is locked": "the database stayed locked by another process for too long",
            "disk I/O error": "reading or writing the database failed (disk full, file size limit or a "
                              "failing disk); nothing was half-written",
        }
        for needle, hint in hints.items():
            if needle in msg:
                return f"{where}: {hint}"
        return f"{where}: database error: {msg}"

    def close(self) -> None:
        self.engine.dispose()

    def empty_wal(self) -> None:
        """SQLite: fold the write-ahead log into the file we opened and empty it. Before letting go
        of a file that was replaced at its path: SQLite keeps the log of a moved file, and the new
        file would read our pages from it."""
        if self.path is None:
            return
        raw = self.engine.raw_connection()
        try:
            (busy, _, _), = raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error as err:
            raise StoreError(self._explain(err)) from None
        finally:
            raw.close()
        if busy:
            raise StoreError(f"{self.path}: could not empty the write-ahead log: another process is using it")

    # -- migrations ---------------------------------------------------------------------
    def _migrate(self) -> None:
        with self.engine.begin() as conn:
            SchemaVersion.__table__.create(conn, checkfirst=True)
            current = conn.execute(select(func.max(SchemaVersion.version))).scalar() or 0
            if current > SCHEMA_VERSION:
                where = self.path or "the database"
                raise StoreError(f"{where}: made by a newer digest-notifier (schema {current}, this one knows "
                                 f"{SCHEMA_VERSION}); upgrade digest-notifier or restore an older backup")
            for version in range(current + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[version](conn)
                conn.execute(SchemaVersion.__table__.insert().values(version=version, applied_at=utcnow()))

    def schema_version(self) -> int:
        with self.session() as s:
            return s.exec(select(func.max(SchemaVersion.version))).one() or 0

    # -- papers ---------------------------------------------------------------------------
    @_retry_race
    def ingest(self, papers: Iterable[Paper], *, source: str, digest_day: str | None) -> IngestResult:
        """Upsert papers and record their sightings, one transaction per INGEST_BATCH papers with
        one query for the stored papers and one for their sightings. A paper is new only the first time."""
        result = IngestResult()
        now = utcnow()
        for batch in _chunks(list(papers), INGEST_BATCH):
            with self.session() as s:
                _ingest_batch(s, batch, source, digest_day or now.date().isoformat(), now, result)
        return result

    def get_papers(self, ids: Iterable[str]) -> dict[str, Paper]:
        ids = list(ids)
        out: dict[str, Paper] = {}
        with self.session() as s:
            for chunk in _chunks(ids, 500):
                for row in s.exec(select(PaperRow).where(PaperRow.id.in_(chunk))):
                    out[row.id] = _paper(row)
        return out

    def papers_since(self, since: datetime) -> list[Paper]:
        with self.session() as s:
            rows = s.exec(select(PaperRow).where(PaperRow.first_seen_at >= since).order_by(PaperRow.first_seen_at))
            return [_paper(r) for r in rows]

    def papers_on_day(self, digest_day: str) -> list[Paper]:
        with self.session() as s:
            rows = s.exec(select(PaperRow).join(Sighting, Sighting.paper_id == PaperRow.id)
                          .where(Sighting.digest_day == digest_day).distinct())
            return [_paper(r) for r in rows]

    def recent_papers(self, limit: int = 3000) -> list[Paper]:
        """The newest stored papers: the background corpus for term specificity (IDF)."""
        with self.session() as s:
            rows = s.exec(select(PaperRow).order_by(PaperRow.first_seen_at.desc()).limit(limit))
            return [_paper(r) for r in rows]

    def sightings(self, paper_id: str) -> list[tuple[str, str]]:
        with self.session() as s:
            rows = s.exec(select(Sighting).where(Sighting.paper_id == paper_id).order_by(Sighting.digest_day))
            return [(r.source, r.digest_day) for r in rows]

    def papers_version(self) -> tuple:
        """Changes whenever a paper is added or its stored fields change: (count, latest update)."""
        with self.session() as s:
            return tuple(s.exec(select(func.count(), func.max(PaperRow.updated_at)).select_from(PaperRow)).one())

    def count_papers(self) -> int:
        with self.session() as s:
            return s.exec(select(func.count()).select_from(PaperRow)).one()

    def prune_raw(self, older_than_days: int, now: datetime | None = None) -> int:
        cutoff = (now or utcnow()) - timedelta(days=older_than_days)
        with self.session() as s:
            rows = s.exec(select(PaperRow).where(PaperRow.raw.is_not(None), PaperRow.updated_at < cutoff)).all()
            for row in rows:
                row.raw = None
                s.add(row)
            return len(rows)

    # -- fetch runs -----------------------------------------------------------------------
    def start_fetch(self, source: str, digest_day: str | None) -> int:
        with self.session() as s:
            run = FetchRun(source=source, digest_day=digest_day)
            s.add(run)
            s.flush()
            return run.id

    def finish_fetch(self, run_id: int, *, outcome: str, **fields) -> None:
        with self.session() as s:
            run = s.get(FetchRun, run_id)
            run.outcome = outcome
            run.finished_at = utcnow()
            for key, value in fields.items():
                setattr(run, key, value)
            s.add(run)

    def last_fetch(self, source: str, outcome: str | Iterable[str] = FETCHED,
                   digest_day: str | None = None) -> FetchRun | None:
        outcomes = (outcome,) if isinstance(outcome, str) else tuple(outcome)
        with self.session() as s:
            q = select(FetchRun).where(FetchRun.source == source, FetchRun.outcome.in_(outcomes))
            if digest_day is not None:
                q = q.where(FetchRun.digest_day == digest_day)
            return s.exec(q.order_by(FetchRun.id.desc()).limit(1)).first()

    @contextmanager
    def fetch_claim(self, source: str, digest_day: str) -> Iterator[None]:
        """While held, no other worker fetches this source day. PostgreSQL: a session advisory
        lock on a connection of its own, waited for if another worker holds it, released at the
        end or when the holder's connection drops (a killed worker). SQLite: nothing to do, the
        local file lock makes this process the only one."""
        if not self.shared:
            yield
            return
        key = {"k": _lock_key(f"fetch:{source}:{digest_day}")}
        with self.engine.connect() as conn:
            self._guard(lambda: (conn.execute(text("SELECT pg_advisory_lock(:k)"), key), conn.commit()))
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), key)
                conn.commit()

    def fetched_since(self, source: str, digest_day: str, since: datetime) -> bool:
        """Whether this source day was fetched successfully at or after ``since`` (by any worker)."""
        with self.session() as s:
            return s.exec(select(FetchRun.id).where(
                FetchRun.source == source, FetchRun.digest_day == digest_day, FetchRun.started_at >= since,
                FetchRun.outcome.in_(FETCHED))).first() is not None

    def close_interrupted_fetches(self, source: str, digest_day: str) -> int:
        """Runs of this source day still `running` when its fetch claim is taken were left by a
        process that died mid-fetch: they become `failed` instead of staying stuck."""
        with self.session() as s:
            return s.connection().execute(update(FetchRun).where(
                FetchRun.source == source, FetchRun.digest_day == digest_day, FetchRun.outcome == FetchState.RUNNING)
                .values(outcome=FetchState.FAILED, finished_at=utcnow(), error="interrupted: the fetching process died")).rowcount

    def fetch_sources(self) -> list[str]:
        with self.session() as s:
            return sorted(set(s.exec(select(FetchRun.source)).all()))

    def failed_sources_since(self, since: datetime) -> list[str]:
        """Sources whose latest fetch since ``since`` failed."""
        failed = []
        for source in self.fetch_sources():
            last = self.last_fetch(source, outcome=FETCHED | {FetchState.FAILED})
            if last and last.outcome == FetchState.FAILED and last.started_at >= since:
                failed.append(source)
        return failed

    # -- subscribers ----------------------------------------------------------------------
    @_retry_race
    def add_subscriber(self, sub: Subscriber) -> Subscriber:
        with self.session() as s:
            if s.exec(select(Subscriber).where(Subscriber.address == sub.address)).first():
                raise StoreError(f"a subscriber with address '{sub.address}' already exists "
                                 f"(use `notifier edit {sub.address}` to change it)")
            s.add(sub)
            s.flush()
            return sub

    def find_subscriber(self, ref: str | int) -> Subscriber | None:
        """By id, or by address exactly as stored (the canonical form: subscribers.canonical_address).
        Never by name: a name may be another subscriber's address (see subscribers_named)."""
        with self.session() as s:
            if isinstance(ref, int) or str(ref).isdigit():
                return s.get(Subscriber, int(ref))
            return s.exec(select(Subscriber).where(Subscriber.address == ref)).first()

    def subscribers_named(self, name: str) -> list[Subscriber]:
        with self.session() as s:
            return list(s.exec(select(Subscriber).where(Subscriber.name == name).order_by(Subscriber.id)))

    def find_subscribers(self, addresses: list[str], origin: str | None = None) -> set[str]:
        """Which of these addresses are stored (with that origin, if given)."""
        found = set()
        with self.session() as s:
            for chunk in _chunks(addresses, 500):
                q = select(Subscriber.address).where(Subscriber.address.in_(chunk))
                found.update(s.exec(q.where(Subscriber.origin == origin) if origin else q))
        return found

    def update_subscriber(self, sub_id: int, **changes) -> Subscriber:
        with self.session() as s:
            sub = s.get(Subscriber, sub_id)
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

    def list_subscribers(self, active_only: bool = True) -> list[Subscriber]:
        with self.session() as s:
            q = select(Subscriber)
            if active_only:
                q = q.where(Subscriber.active == True, Subscriber.paused == False)  # noqa: E712
            return list(s.exec(q.order_by(Subscriber.id)))

    @_retry_race
    def upsert_subscribers(self, subs: list[Subscriber], fields: Iterable[str]) -> tuple[int, int]:
        """Add these subscribers, or set ``fields`` (and active, unless it is None: an unsubscribed
        one stays so) on those whose address exists, all in one transaction. -> (added, updated)."""
        fields = list(fields)
        with self.session() as s:
            existing = {}
            for chunk in _chunks([sub.address for sub in subs], 500):
                existing.update((r.address, r) for r in s.exec(select(Subscriber).where(Subscriber.address.in_(chunk))))
            for sub in subs:
                row = existing.get(sub.address)
                if row is None:
                    sub.active = sub.active is not False
                    sub.id = None          # run again after a lost race: the rolled-back insert left its id
                    s.add(sub)
                    continue
                for key in fields:
                    setattr(row, key, getattr(sub, key))
                row.active = row.active if sub.active is None else sub.active
                row.updated_at = utcnow()
                s.add(row)
            return len(subs) - len(existing), len(existing)

    def subscribers_version(self, origin: str) -> str:
        """Changes whenever a subscriber of this origin is added or changed: 'count/latest change'."""
        with self.session() as s:
            count, latest = s.exec(select(func.count(), func.max(Subscriber.updated_at))
                                   .where(Subscriber.origin == origin)).one()
            return f"{count}/{latest.isoformat() if latest else ''}"

    def setting(self, key: str) -> str | None:
        with self.session() as s:
            row = s.get(Setting, key)
            return row.value if row else None

    @_retry_race
    def put_setting(self, key: str, value: str) -> None:
        with self.session() as s:
            s.merge(Setting(key=key, value=value))

    # -- deliveries -----------------------------------------------------------------------
    def plan_delivery(self, *, subscriber_id: int, digest_day: str, items: list[dict], meta: dict,
                      state: str = State.PENDING, created_at: datetime | None = None) -> Delivery | None:
        """Record a pending delivery with its papers. None if this digest already exists
        or all of its papers were taken meanwhile (another process planned them)."""
        planned = Planned(subscriber_id, digest_day, items, meta, state)
        return self.delivery_by_key(planned.key) if self.plan_deliveries([planned], created_at) else None

    def delivery_by_key(self, key: str) -> Delivery | None:
        with self.session() as s:
            return s.exec(select(Delivery).where(Delivery.key == key)).first()

    def claim(self, delivery_id: int, now: datetime | None = None,
              lease: timedelta = timedelta(minutes=15)) -> Delivery | None:
        """pending/retry whose time has come -> sending, this worker's until now + lease, committed
        before any network I/O. One conditional UPDATE: of several workers (or processes) trying
        at once exactly one changes the row. None if someone else has it."""
        now = now or utcnow()
        due = or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now)
        return self._take(delivery_id, [Delivery.state.in_(WAITING), due],
                          state=State.SENDING, claimed_at=now, attempts=Delivery.attempts + 1,
                          worker=self.worker, lease_until=now + lease)

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
        with self.session() as s:
            return s.execute(update(Delivery).where(Delivery.id == delivery_id, *conditions).values(**values)
                             .returning(Delivery)).scalars().first()

    def claims_to_recover(self, now: datetime, lease: timedelta, *, expired_only: bool = True) -> list[Delivery]:
        """`sending` rows ``take_over`` would take now (a cheap look before opening senders)."""
        with self.session() as s:
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
        with self.session() as s:
            d = s.get(Delivery, delivery_id, with_for_update=True)
            if d.worker not in (None, self.worker):
                return False
            if d.state in (State.HELD, State.CANCELLED) and state != State.SENT:
                state = d.state          # paused or unsubscribed while it was in flight: it stays so
            d.state, d.last_error = state, error
            if provider_ref:
                d.provider_ref = provider_ref
            d.next_attempt_at = next_attempt_at
            if state == State.SENT:
                d.sent_at = now or utcnow()
            s.add(d)
            return True

    def cancel_open(self, subscriber_id: int) -> int:
        """Unsubscribed: digests not yet sent (waiting, held, or in flight) become `cancelled`
        and their papers are free again. A message in flight that arrives is still recorded sent."""
        return self._move(subscriber_id, CANCELLABLE, State.CANCELLED,
                          "cancelled: the subscriber unsubscribed")

    def set_paused(self, subscriber_id: int, paused: bool) -> Subscriber:
        """Pause (the subscriber is kept; digests not yet sent are `held`, never sent) or resume
        (held digests wait again and go out with the next send, or fold into the subscriber's
        next digest as a catch-up if that is planned first). One rule for the CLI and the web."""
        sub = self.update_subscriber(subscriber_id, paused=paused, **({} if paused else {"active": True}))
        if paused:
            self._move(subscriber_id, HOLDABLE, State.HELD, "held: the subscriber is paused")
        else:
            self._move(subscriber_id, {State.HELD}, State.PENDING, None)
        return sub

    def _move(self, subscriber_id: int, states: Iterable[State], to: State, why: str | None) -> int:
        assert all(outbox.allowed(s, to) for s in states), (states, to)
        with self.session() as s:
            rows = s.exec(select(Delivery).where(Delivery.subscriber_id == subscriber_id,
                                                 Delivery.state.in_(list(states)))).all()
            for d in rows:
                d.state, d.last_error, d.next_attempt_at = to, why, None
                s.add(d)
            return len(rows)

    def deliveries(self, states: Iterable[str] | None = None, subscriber_ids: Iterable[int] | None = None) -> list[Delivery]:
        with self.session() as s:
            q = select(Delivery)
            if states is not None:
                q = q.where(Delivery.state.in_(list(states)))
            if subscriber_ids is not None:
                q = q.where(Delivery.subscriber_id.in_(list(subscriber_ids)))
            return list(s.exec(q.order_by(Delivery.id)))

    def last_delivery(self, subscriber_id: int, states: Iterable[str] = (State.SENT,)) -> Delivery | None:
        with self.session() as s:
            q = (select(Delivery).where(Delivery.subscriber_id == subscriber_id, _state_in(Delivery, states))
                 .order_by(Delivery.id.desc()).limit(1))
            return s.exec(q).first()

    def latest_deliveries(self, states: Iterable[str] = (State.SENT,)) -> dict[int, Delivery]:
        """Every subscriber's newest delivery in these states (subscriber id -> delivery), in one
        query that walks each subscriber's index entries from the newest, not the history."""
        inner = aliased(Delivery)
        latest = (select(inner.id).where(inner.subscriber_id == Subscriber.id, _state_in(inner, states))
                  .order_by(inner.id.desc()).limit(1).correlate(Subscriber).scalar_subquery())
        with self.session() as s:
            ids = [i for i in s.exec(select(latest).select_from(Subscriber)) if i is not None]
            # then by primary key (an IN over the subquery made PostgreSQL scan the whole table)
            return {d.subscriber_id: d for chunk in _chunks(ids, 500)
                    for d in s.exec(select(Delivery).where(Delivery.id.in_(chunk)))}

    def last_planned(self) -> dict[int, datetime]:
        """When each subscriber's latest digest was planned (it then goes out, or is retried):
        subscriber id -> time, in one query however long the history."""
        return {sid: d.created_at for sid, d in self.latest_deliveries(PLANNED).items()}

    # -- votes and web sign-ups ---------------------------------------------------------------
    def set_vote(self, subscriber_id: int, paper_id: str, vote: int) -> None:
        """Record +1 / -1 for this subscriber and paper (a later vote replaces it); 0 clears it."""
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
        with self.session() as s:
            for chunk in _chunks(list(subscriber_ids), 500):
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
        with self.session() as s:
            return s.get(Signup, signup_id)

    # -- planning a batch: a few queries and transactions for any number of subscribers ----
    def delivery_keys(self, keys: list[str]) -> set[str]:
        """Those of these delivery keys ("<subscriber>:<local day>") already recorded."""
        with self.session() as s:
            return {k for chunk in _chunks(keys, 500)
                    for k in s.exec(select(Delivery.key).where(Delivery.key.in_(chunk)))}

    def supersede_open_many(self, days: dict[int, str]) -> dict[int, int]:
        """Fold each subscriber's earlier digests still waiting to be sent (pending, retrying
        after a failure, or held while they were paused) into the one being planned for ``days[subscriber]``: they become
        `superseded`, their papers free again, so the subscriber gets one catch-up message
        instead of one per missed day. -> how many each subscriber had folded."""
        folded: dict[int, int] = {}
        with self.session() as s:
            for chunk in _chunks(list(days), 500):
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
        with self.session() as s:
            return {sid: at for chunk in _chunks(subscriber_ids, 500) for sid, at in s.exec(
                select(Delivery.subscriber_id, Delivery.created_at)
                .where(Delivery.id.in_(latest.where(sent.subscriber_id.in_(chunk)))))}

    def _per_subscriber(self, q, subscriber_ids: list[int]) -> dict[int, datetime]:
        with self.session() as s:
            return {sid: value for chunk in _chunks(subscriber_ids, 500) for sid, value in
                    s.exec(q.where(Delivery.subscriber_id.in_(chunk)).group_by(Delivery.subscriber_id))
                    if value is not None}

    def papers_seen_since(self, since: datetime) -> list[tuple[datetime, Paper]]:
        """(first seen, paper) of every paper first seen since ``since``, oldest first: the
        candidates of a whole batch, read and decoded once."""
        with self.session() as s:
            rows = s.exec(select(PaperRow).where(PaperRow.first_seen_at >= since).order_by(PaperRow.first_seen_at))
            return [(r.first_seen_at, _paper(r)) for r in rows]

    def taken_papers(self, subscriber_ids: list[int], since: datetime | None = None) -> dict[int, set[str]]:
        """The papers each of these subscribers has in a digest (outbox.TAKEN), never to be planned
        for them again; with ``since``, only among papers first seen since (older ones are no
        candidates anyway)."""
        where = [PaperRow.first_seen_at >= since] if since is not None else []
        taken: dict[int, set[str]] = {}
        with self.session() as s:
            for sid, pid in _taken(s, subscriber_ids, *where):
                taken.setdefault(sid, set()).add(pid)
        return taken

    def sighting_days(self, paper_ids: Iterable[str]) -> dict[str, list[str]]:
        """The digest days each of these papers was seen on, in order."""
        days: dict[str, list[str]] = {}
        with self.session() as s:
            for chunk in _chunks(sorted(set(paper_ids)), 500):
                q = select(Sighting.paper_id, Sighting.digest_day).where(Sighting.paper_id.in_(chunk))
                for pid, day in s.exec(q.order_by(Sighting.digest_day)):
                    days.setdefault(pid, []).append(day)
        return days

    def plan_deliveries(self, planned: list[Planned], created_at: datetime | None = None) -> list[str]:
        """Record each planned digest with its papers, a few hundred per transaction. Skipped:
        a digest that already exists, or whose papers were all taken meanwhile (another process
        planned them); papers taken meanwhile are left out of the others. -> the keys recorded."""
        return [key for chunk in _chunks(planned, 500) for key in self._plan_chunk(chunk, created_at or utcnow())]

    @_retry_race
    def _plan_chunk(self, chunk: list[Planned], created_at: datetime) -> list[str]:
        """One transaction; a digest another worker recorded first is found on the next try."""
        with self.session() as s:
            return _plan_chunk(s, chunk, created_at)

    # -- operator alerts --------------------------------------------------------------------
    @_retry_race
    def raise_alert(self, key: str, text: str) -> bool:
        """Record an alert; False if this key was raised before."""
        with self.session() as s:
            if s.exec(select(Alert).where(Alert.key == key)).first():
                return False
            s.add(Alert(key=key, text=text))
            return True

    def unsent_alerts(self) -> list[Alert]:
        with self.session() as s:
            return list(s.exec(select(Alert).where(Alert.sent_at.is_(None)).order_by(Alert.id)))

    def mark_alert_sent(self, alert_id: int) -> None:
        with self.session() as s:
            alert = s.get(Alert, alert_id)
            alert.sent_at = utcnow()
            s.add(alert)

    # -- moving to another database ---------------------------------------------------------
    def copy_to(self, target: Store, *, replace: bool = False, batch: int = 5000) -> dict[str, int]:
        """Copy every row of every table into ``target`` (e.g. SQLite -> PostgreSQL), in one
        transaction on each side: writers wait meanwhile, and the target gets all or nothing.
        A target that holds any row is refused unless ``replace`` (its rows are deleted first).
        Counts are checked table by table. -> rows per table."""
        return self._guard(self._copy_to, target, replace, batch)

    def _copy_to(self, target: Store, replace: bool, batch: int) -> dict[str, int]:
        tables = [t for t in SQLModel.metadata.sorted_tables if t.name != SchemaVersion.__tablename__]
        with self.engine.connect() as src, src.begin(), target.engine.connect() as dst, dst.begin():
            counts = {t.name: src.execute(select(func.count()).select_from(t)).scalar() for t in tables}
            held = [t.name for t in tables if dst.execute(select(func.count()).select_from(t)).scalar()]
            if held and not replace:
                raise StoreError(f"{target.where}: already holds data ({', '.join(held)}); "
                                 "copy into an empty database, or replace its contents with --force")
            for t in reversed(tables):
                dst.execute(t.delete())
            for t in tables:
                rows = src.execute(select(t)).mappings()
                while chunk := [dict(r) for r in rows.fetchmany(batch)]:
                    dst.execute(t.insert(), chunk)
                _advance_sequence(dst, t)
            copied = {t.name: dst.execute(select(func.count()).select_from(t)).scalar() for t in tables}
            if copied != counts:
                raise StoreError(f"{target.where}: copy incomplete, nothing kept "
                                 f"(source {counts}, copied {copied})")
        return counts

    @property
    def where(self) -> str:
        """The database as an operator names it: the file, or the server and database (no password)."""
        return str(self.path) if self.path else self.url.split("@")[-1]


# ----------------------------------------------------------------------------- helpers
def _ingest_batch(s: Session, batch: list[Paper], source: str, day: str, now: datetime, result: IngestResult) -> None:
    ids = list({p.arxiv_id for p in batch})
    rows = {r.id: r for r in s.exec(select(PaperRow).where(PaperRow.id.in_(ids)))}
    seen = {tuple(r) for r in s.exec(select(Sighting.paper_id, Sighting.source, Sighting.digest_day)
                                      .where(Sighting.paper_id.in_(ids)))}
    sightings = []
    for paper in batch:
        result.found += 1
        row = rows.get(paper.arxiv_id)
        if row is None:
            rows[paper.arxiv_id] = _paper_row(paper, now)
            s.add(rows[paper.arxiv_id])
            result.new += 1
        elif _merge(row, paper, now):
            s.add(row)
            result.updated += 1
        key = (paper.arxiv_id, paper.source or source, paper.digest_day or day)
        if key not in seen:
            seen.add(key)
            sightings.append({"paper_id": key[0], "source": key[1], "digest_day": key[2], "seen_at": now})
    s.flush()                 # the papers first: sightings refer to them
    if sightings:
        s.execute(insert(Sighting), sightings)


def _state_in(delivery, states: Iterable[str]):
    """``state IN (...)`` written so that no index on state is used: "the newest delivery in these
    states" must walk the subscriber's (subscriber_id, id) entries from the newest and stop at the
    first match. Given ``state = 'sent'``, SQLite picked the state index instead and read every
    sent row of every day for each subscriber (28 s for 10,000 subscribers after 30 days; 0.1 s)."""
    return (delivery.state + "").in_(list(states))


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


def _lock_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _advance_sequence(conn, table) -> None:
    """PostgreSQL: rows copied with their ids leave the id sequence behind; move it past them."""
    pk = list(table.primary_key.columns)
    if conn.dialect.name != "postgresql" or len(pk) != 1:
        return
    seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": pk[0].name}).scalar()
    if seq:
        top = conn.execute(select(func.max(pk[0]))).scalar()
        conn.execute(text("SELECT setval(:s, :v, false)"), {"s": seq, "v": (top or 0) + 1})


def _paper_row(p: Paper, now: datetime) -> PaperRow:
    return PaperRow(id=p.arxiv_id, version=p.version, title=p.title, abstract=p.abstract or "",
                    authors=json.dumps(p.authors), published=p.published, url=p.url or p.abs_url,
                    pdf_url=p.pdf_url, hf_url=p.hf_url, code_url=p.code_url, project_url=p.project_url,
                    upvotes=p.upvotes, comments=p.comments, categories=json.dumps(p.categories),
                    extra=json.dumps(p.extra), raw=json.dumps(p.raw) if p.raw is not None else None,
                    first_seen_at=now, updated_at=now)


def _merge(row: PaperRow, p: Paper, now: datetime) -> bool:
    """Fold a new sighting's metadata into the stored paper. True when something changed."""
    changed = False

    def put(attr, value):
        nonlocal changed
        if value not in (None, "", []) and getattr(row, attr) != value:
            setattr(row, attr, value)
            changed = True

    for attr in ("title", "abstract", "published", "pdf_url", "hf_url", "code_url", "project_url",
                 "upvotes", "comments", "version"):
        put(attr, getattr(p, attr))
    if p.authors:
        put("authors", json.dumps(p.authors))
    cats = sorted(set(json.loads(row.categories)) | set(p.categories))
    put("categories", json.dumps(cats))
    if p.extra:
        put("extra", json.dumps({**json.loads(row.extra), **p.extra}))
    if p.raw is not None and changed:
        row.raw = json.dumps(p.raw)
    if changed:
        row.updated_at = now
    return changed


def _paper(row: PaperRow) -> Paper:
    return Paper(arxiv_id=row.id, version=row.version, title=row.title, abstract=row.abstract,
                 authors=json.loads(row.authors), published=row.published, url=row.url, pdf_url=row.pdf_url,
                 hf_url=row.hf_url, code_url=row.code_url, project_url=row.project_url, upvotes=row.upvotes,
                 comments=row.comments, categories=json.loads(row.categories), extra=json.loads(row.extra))


def _plan_chunk(s: Session, chunk: list[Planned], created_at: datetime) -> list[str]:
    """Record what is left of these digests once those that exist and the papers taken are out."""
    known = set(s.exec(select(Delivery.key).where(Delivery.key.in_([p.key for p in chunk]))))
    taken = _taken_pairs(s, chunk)
    kept: list[tuple[dict, list[dict]]] = []
    for p in chunk:
        items = [i for i in p.items if (p.subscriber_id, i["id"]) not in taken]
        if p.key in known or (not items and not p.meta.get("empty_note") and p.state != State.EMPTY):
            continue
        kept.append(({"key": p.key, "subscriber_id": p.subscriber_id, "digest_day": p.digest_day, "state": p.state,
                      "items": json.dumps(items), "meta": json.dumps(p.meta), "attempts": 0,
                      "created_at": created_at}, items))
    if not kept:
        return []
    s.execute(Delivery.__table__.insert(), [row for row, _ in kept])        # one executemany
    ids = dict(s.exec(select(Delivery.key, Delivery.id).where(Delivery.key.in_([row["key"] for row, _ in kept]))).all())
    links = [{"delivery_id": ids[row["key"]], "paper_id": i["id"], "subscriber_id": row["subscriber_id"]}
             for row, items in kept for i in items]
    if links:
        s.execute(DeliveryPaper.__table__.insert(), links)
    return [row["key"] for row, _ in kept]


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
    return {(sid, pid) for chunk in _chunks(subscriber_ids, 500)
            for sid, pid, state in s.exec(q.where(DeliveryPaper.subscriber_id.in_(chunk)))
            if state in TAKEN}          # in Python: SQLite would scan by state instead


def _chunks(items: list, size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[-1]
    return None if path in ("", ":memory:") else Path(path)


def _check_sqlite_file(path: Path) -> None:
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError(f"{path}: cannot create the state folder {folder}: {err.strerror}") from None
    if path.exists():
        try:
            with path.open("rb") as fh:
                head = fh.read(16)
        except OSError as err:
            raise StoreError(f"{path}: cannot read the database file: {err.strerror}") from None
        if head and head != b"SQLite format 3\x00":
            raise StoreError(f"{path}: the file is not a SQLite database (corrupt or another format)")


BUSY_TIMEOUT_MS = 30_000            # how long a transaction waits for another process's write lock


def _connect_args(url: str) -> dict:
    return {"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False} if url.startswith("sqlite") else {}


def _install_sqlite_pragmas(engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record):
        dbapi_conn.isolation_level = None          # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
