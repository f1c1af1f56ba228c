"""The connection: engine creation, SQLite pragmas, one session per transaction, and the one
boundary where driver errors become ``StoreError`` (a lost unique race: ``RaceLost``, retried)."""
from __future__ import annotations

import functools
import hashlib
import os
import secrets
import socket
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import event, func, text
from sqlalchemy.exc import DatabaseError, IntegrityError, OperationalError
from sqlmodel import Session, create_engine, select

from notifier.errors import StoreBusy, StoreError, StoreFull
from notifier.paths import file_in_the_way
from notifier.store.migrations import MIGRATIONS, SCHEMA_VERSION
from notifier.store.tables import SchemaVersion, utcnow

RACE_ATTEMPTS = 3          # a unit that lost a unique-constraint race to another worker runs again this often
BUSY_TIMEOUT_MS = 30_000            # how long a transaction waits for another process's write lock
WAL_LIMIT_BYTES = 4 * 2**20         # the write-ahead log's size once it starts over: what SQLite's automatic
                                    # checkpoint (1000 pages of 4 KiB) lets it reach; grown past it while a long
                                    # read kept it from being checkpointed (`db copy`), it shrinks back to this

# What a driver's message means for the operator (the first needle found in it).
HINTS = {
    "file is not a database": "the file is not a SQLite database (corrupt or another format)",
    "database disk image is malformed": "the database file is corrupt; restore it from a backup",
    "readonly": "the database or its folder is read-only; the service needs write access",
    "unable to open": "cannot open the database file; check the folder exists and is writable",
    "disk is full": "the disk is full; free space and run again",
    "database is locked": "the database stayed locked by another process for too long",
    "lock timeout": "the database stayed locked by another process for too long",
    "disk I/O error": "reading or writing the database failed: disk full, file size limit or a failing disk",
}
NO_ROOM = ("disk is full", "disk I/O error")       # -> StoreFull
READS = "notifier_reads_only"       # an execution option: this connection's transactions only read (``reading``)


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


def _lock_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory_lock."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def _worker_id() -> str:
    """host:pid:random, so a claim names the process that made it (pids repeat across hosts and restarts)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class StoreBase:
    """What every query mixin relies on: ``session()``, the engine, this worker's id."""
    def __init__(self, url: str, lock_timeout_ms: int | None = None):
        """``lock_timeout_ms``: on PostgreSQL, a statement waiting longer for a lock another session
        holds fails (StoreBusy) instead of waiting without limit; SQLite always waits BUSY_TIMEOUT_MS."""
        self.url = url
        self._local = threading.local()            # this thread's open transaction(), if any
        self.worker = _worker_id()
        self.path = sqlite_path(url)
        if self.path is not None:
            _check_sqlite_file(self.path)
        try:
            self.engine = create_engine(_engine_url(url, self.path), connect_args=_connect_args(url))
        except ModuleNotFoundError as err:
            raise StoreError(f"{self.where}: the database driver '{err.name}' is not installed "
                             "(for PostgreSQL: pip install 'digest-notifier[postgres]')") from None
        self._reader = self.engine.execution_options(**{READS: True})
        if self.path is not None:
            _install_sqlite_pragmas(self.engine)
        else:
            _install_postgres_settings(self.engine, lock_timeout_ms)
        self._guard(self._migrate)

    # -- sessions -----------------------------------------------------------------------------
    @contextmanager
    def session(self, bind=None) -> Iterator[Session]:
        """One transaction (BEGIN IMMEDIATE on SQLite): commits on success, rolls back on error.
        A database error anywhere in it (BEGIN, a query, a flush, the commit) becomes one StoreError.
        Inside ``transaction()`` (in the same thread) it is the caller's, committed at that one's end."""
        joined = getattr(self._local, "session", None)
        if joined is not None:
            yield joined
            return
        with self._mapped_errors(), Session(bind or self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """``session()`` for queries that only read. On SQLite its BEGIN is deferred: it takes no
        write lock, so a long read (the web's warm-up over every paper) holds off no writer in
        another process or thread, and it sees the database as it was at its first query (WAL).
        PostgreSQL reads never held writers off: the same transaction as ``session()``."""
        with self.session(self._reader) as session:
            yield session

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """``with store.transaction():`` the store calls in the block share one transaction instead
        of committing one by one: all are kept, or none if anything raises (a race lost in it rolls
        the whole block back: RaceLost). Nested: joins the outer one. Never around a claim and the
        send it guards: a claim must commit before the network I/O."""
        if getattr(self._local, "session", None) is not None:
            yield
            return
        with self.session() as session:
            self._local.session = session
            try:
                yield
            finally:
                self._local.session = None

    @contextmanager
    def _mapped_errors(self) -> Iterator[None]:
        """The one place where the driver's errors become our one-line StoreError."""
        try:
            yield
        except IntegrityError as err:
            raise self._integrity(err) from None
        except (OperationalError, DatabaseError) as err:
            orig = getattr(err, "orig", err)       # SQLite's busy timeout, PostgreSQL's lock_timeout (55P03)
            locked = "database is locked" in str(orig) or getattr(orig, "sqlstate", None) == "55P03"
            if any(needle in str(orig) for needle in NO_ROOM):
                raise StoreFull(self._explain(err)) from None
            raise (StoreBusy if locked else StoreError)(self._explain(err)) from None

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
        for needle, hint in HINTS.items():
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

    # -- migrations ---------------------------------------------------------------------------
    def _migrate(self) -> None:
        """Bring the schema up to SCHEMA_VERSION in one transaction. Workers starting at once on a
        PostgreSQL database take turns (an advisory lock held to the commit): the first migrates,
        the others then find nothing to do, where each creating the same tables failed to start.
        SQLite: BEGIN IMMEDIATE already lets one process in at a time. The wait has no limit: a
        ``lock_timeout_ms`` is meant for a request's write, and one process's migration (an upgrade)
        may take longer; giving up then would stop the other one starting."""
        with self.engine.begin() as conn:
            if self.shared:
                conn.execute(text("SET LOCAL lock_timeout = 0"))
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key("migrate")})
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
        with self.reading() as s:
            return s.exec(select(func.max(SchemaVersion.version))).one() or 0

    @property
    def where(self) -> str:
        """The database as an operator names it: the file, or the server and database (no password)."""
        return str(self.path) if self.path else self.url.split("@")[-1]


def sqlite_path(url: str) -> Path | None:
    """The file of a sqlite:/// URL: the text after the three slashes as typed, '%' and all
    (config.check_database_url refuses a '?'); None for a server or an in-memory database."""
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[-1]
    return None if path in ("", ":memory:") else Path(path)


def _engine_url(url: str, path: Path | None):
    """SQLAlchemy reads '%41' in a URL as 'A' (and '%2F' as '/'): sqlite:///p%41b.sqlite opened
    pAb.sqlite, and a state folder named '50%41' another folder. Its database is the file named
    (not for sqlite://, a database in memory, whose ``path`` is no file)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=str(path)) if path is not None and ":///" in url else url


def _check_sqlite_file(path: Path) -> None:
    folder = path.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        in_the_way = file_in_the_way(folder)  # 'File exists' or 'Not a directory' said nothing of which
        if in_the_way is not None:
            raise StoreError(f"{in_the_way} is a file, not a folder: the database {path} cannot be kept there") from None
        raise StoreError(f"{path}: cannot create the state folder {folder}: {err.strerror}") from None
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except FileNotFoundError:
        return                                # a new database: created on connecting
    except OSError as err:                    # a folder on the way without search permission, too
        hint = " (check the permissions of it and of the folders above it)" if isinstance(err, PermissionError) else ""
        raise StoreError(f"{path}: cannot read the database file: {err.strerror}{hint}") from None
    if head and head != b"SQLite format 3\x00":
        raise StoreError(f"{path}: the file is not a SQLite database (corrupt or another format)")


def _connect_args(url: str) -> dict:
    return {"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False} if url.startswith("sqlite") else {}


def _install_postgres_settings(engine, lock_timeout_ms: int | None) -> None:
    """Every PostgreSQL connection's session in UTC, and its lock_timeout if given, each set by a
    statement of its own: an ``options=`` of the operator's URL stays as it is. A `timestamp
    without time zone` column (what an older SQLModel made; schema 8 adds `lease_until` so to an
    older database) stores an instant as the session's local time, which the store reads as UTC
    (``clock.as_utc``): in a server's zone other than UTC every such time was hours off."""
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        with dbapi_conn.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
            if lock_timeout_ms:
                cur.execute(f"SET lock_timeout = {int(lock_timeout_ms)}")
        dbapi_conn.commit()


def _install_sqlite_pragmas(engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record):
        dbapi_conn.isolation_level = None          # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READS) else "BEGIN IMMEDIATE")

