"""The tables (SQLModel models) and ``utcnow``, their clock."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from notifier.clock import as_utc
from notifier.outbox import FetchState, State

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


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
    due_at: datetime | None = Field(default_factory=utcnow)   # due to go out since: planned, or resumed (alerts.due_since)
    claimed_at: datetime | None = None
    worker: str | None = None                            # who claimed it last: host:pid:random (Store.worker)
    lease_until: datetime | None = None                  # its claim holds until then unless renewed
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None


def delivery_key(subscriber_id: int, day: date | str) -> str:
    """``Delivery.key``: one digest per subscriber and local day."""
    return f"{subscriber_id}:{day}"


def message_key(d: Delivery) -> str:
    """A delivery's name outside the database (its Message-ID, Slack metadata, outbox file): its
    key and id, and the instant it was planned in microseconds (hex), so a database recreated the
    same day, or a second installation mailing from the same domain, never reuses an earlier
    digest's Message-ID (Gmail drops one it has seen). A re-send of the same row keeps it, from a
    `db copy` too (the copy keeps ``created_at``)."""
    planned = (as_utc(d.created_at) - EPOCH) // timedelta(microseconds=1)
    return f"{d.key.replace(':', '.')}.{d.id}.{planned:x}"


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


HOST_KEY = "host:"        # + a host group: the Setting holding its Pace (store/hosts.py; written by migrations._v9)
# + what, ":" and a UTC day (YYYYMMDD): a quiet Alert marking a warning said that day (Store.said_first_on)
SAID_KEY = "said:"
# the Setting holding when an upgraded database began telling outages' ends (migrations._v10, alerts.raise_alerts)
OUTAGE_ENDS_KEY = "outage_ends_told_from"


class SchemaVersion(SQLModel, table=True):
    __tablename__ = "schema_version"
    version: int = Field(primary_key=True)
    applied_at: datetime = Field(default_factory=utcnow)

