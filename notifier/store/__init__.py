"""The one storage package: engine, pragmas, schema, migrations and every query.

No other module opens the database. Papers are keyed by arXiv id without version; each time a
source shows a paper on a digest day is a *sighting*; deliveries are an outbox (recorded
before a message leaves, marked sent after the channel accepted it).

SQLite runs in WAL mode with a busy timeout and ``synchronous=FULL``, and every transaction that
may write starts with ``BEGIN IMMEDIATE`` so a read-then-write never fails with "database is
locked" when the daemon and the CLI share the file; a query that only reads (``reading()``) begins
deferred, holding no lock a writer waits for. Only portable SQL is used, so PostgreSQL works
with another ``database.url``.

The package by concern: ``tables`` (models), ``migrations``, ``engine`` (engine, pragmas,
sessions, error mapping), and the queries as mixins composed into ``Store``: ``papers`` (papers,
sightings, fetch runs), ``hosts`` (host groups' shared pace and Retry-After), ``subscribers`` (subscribers, settings, votes, sign-ups), ``deliveries``
(the outbox and alerts), ``copy`` (moving to another database).
"""
from notifier.store.copy import CopyMixin
from notifier.store.deliveries import DeliveriesMixin, Planned
from notifier.store.engine import BUSY_TIMEOUT_MS, RACE_ATTEMPTS, RaceLost, StoreBase
from notifier.store.hosts import HostsMixin
from notifier.store.migrations import MIGRATIONS, SCHEMA_VERSION
from notifier.store.papers import INGEST_BATCH, IngestResult, PapersMixin
from notifier.store.subscribers import SubscribersMixin
from notifier.store.tables import (Alert, Delivery, DeliveryPaper, FetchRun, PaperRow, SchemaVersion, Setting,
                                   Sighting, Signup, Subscriber, Vote, utcnow)


class Store(PapersMixin, HostsMixin, SubscribersMixin, DeliveriesMixin, CopyMixin, StoreBase):
    """The one way into the database. Each method is one transaction (``session()``) unless the
    caller groups several in ``with store.transaction():``."""


__all__ = ["Alert", "BUSY_TIMEOUT_MS", "Delivery", "DeliveryPaper", "FetchRun", "INGEST_BATCH", "IngestResult",
           "MIGRATIONS", "PaperRow", "Planned", "RACE_ATTEMPTS", "RaceLost", "SCHEMA_VERSION", "SchemaVersion",
           "Setting", "Sighting", "Signup", "Store", "Subscriber", "Vote", "utcnow"]
