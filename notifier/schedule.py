"""When things happen: cron triggers for the fetch cycle and each subscriber's delivery, the
APScheduler 3.x scheduler that runs them, and the pure "who is due now" rule.

Times are wall-clock times in the subscriber's own zone. Across DST changes each scheduled
time happens exactly once a day: a time inside the spring-forward gap (02:30 in Berlin on the
last Sunday of March) fires at the shifted instant (03:30 CEST), and a time inside the autumn
fold fires at its first occurrence only (APScheduler alone would fire it twice).

``due_deliveries`` is the idempotent catch-up rule used by ``notifier run`` and by the daemon at
start and on every sweep: a subscriber is due when their latest scheduled delivery time is at
or before now and later than their last delivery. A machine that was off at 07:30 therefore
delivers once when it comes up, not once per missed slot.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, time as dtime, timedelta, timezone
from typing import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from notifier.errors import ConfigError
from notifier.logs import event

log = logging.getLogger("notifier.schedule")

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TIME_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
UTC = timezone.utc

# A job that starts late still runs (a busy host, a suspend, a long fetch ahead of it in the
# queue) unless it is this late; APScheduler's default of 1 s silently drops such runs.
JOB_DEFAULTS = {"misfire_grace_time": 6 * 3600, "coalesce": True, "max_instances": 1}
SWEEP_MINUTES = 5


@dataclass(frozen=True)
class SubscriberSchedule:
    subscriber_id: int
    time: str                       # "HH:MM", local to `timezone`
    timezone: str                   # IANA name, e.g. "Europe/Berlin"
    frequency: str = "daily"        # daily | weekly
    weekday: str | None = None      # mon..sun for weekly (default mon)

    def __post_init__(self):
        who = f"subscriber {self.subscriber_id}"
        parse_time(self.time, who)
        zone(self.timezone, who)
        if self.frequency not in ("daily", "weekly"):
            raise ConfigError(f"{who}: frequency '{self.frequency}' must be daily or weekly")
        if self.weekday is not None and self.weekday not in WEEKDAYS:
            raise ConfigError(f"{who}: weekday '{self.weekday}' must be one of {', '.join(WEEKDAYS)}")

    @property
    def day_of_week(self) -> str:
        return (self.weekday or "mon") if self.frequency == "weekly" else "*"


def parse_time(text: str, who: str = "schedule") -> dtime:
    m = TIME_RE.match(text or "")
    if not m:
        raise ConfigError(f"{who}: time '{text}' must be HH:MM (24-hour)")
    return dtime(int(m.group(1)), int(m.group(2)))


def zone(name: str, who: str = "schedule") -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{who}: unknown timezone '{name}' (use an IANA name like Europe/Berlin)") from None


# ----------------------------------------------------------------------------- triggers
class OncePerDayCronTrigger(CronTrigger):
    """A CronTrigger that skips the second occurrence of a wall-clock time repeated by the
    autumn DST fold, so 02:30 on fall-back day fires once (at 02:30 summer time)."""

    def get_next_fire_time(self, previous_fire_time, now):
        fire = super().get_next_fire_time(previous_fire_time, now)
        while fire is not None and _second_occurrence(fire):
            fire = super().get_next_fire_time(fire, fire)
        return fire


def _second_occurrence(moment: datetime) -> bool:
    return moment.fold == 1 and moment.replace(fold=0).utcoffset() != moment.utcoffset()


def fetch_trigger(time: str, timezone: str) -> CronTrigger:
    t = parse_time(time, "[schedule] time")
    return OncePerDayCronTrigger(hour=t.hour, minute=t.minute, second=0, timezone=zone(timezone, "[schedule] timezone"))


def delivery_trigger(sched: SubscriberSchedule) -> CronTrigger:
    t = parse_time(sched.time)
    return OncePerDayCronTrigger(day_of_week=sched.day_of_week, hour=t.hour, minute=t.minute, second=0,
                                 timezone=zone(sched.timezone))


# ----------------------------------------------------------------------------- who is due
def latest_slot(sched: SubscriberSchedule, now: datetime) -> datetime:
    """The latest scheduled delivery instant at or before ``now`` (aware, UTC).

    A wall time in the spring gap maps to the shifted instant and one in the autumn fold to its
    first occurrence (``fold=0``), the same instants the trigger fires at."""
    tz, t = zone(sched.timezone), parse_time(sched.time)
    today = _aware(now).astimezone(tz).date()
    for back in range(9):
        day = today - timedelta(days=back)
        if sched.frequency == "weekly" and WEEKDAYS[day.weekday()] != sched.day_of_week:
            continue
        slot = _at(day, t, tz)
        if slot <= _aware(now):
            return slot
    raise AssertionError("unreachable: a slot exists within the last 8 days")


def _at(day: date, t: dtime, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, t, tzinfo=tz).astimezone(UTC)


def _aware(moment: datetime) -> datetime:
    """Naive datetimes are UTC (SQLite hands back naive values for what we stored as UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def due_deliveries(subscribers: list[SubscriberSchedule], last_delivered: dict[int, datetime | None],
                   now: datetime) -> list[int]:
    """Ids, in input order, whose latest scheduled time is <= now and later than their last
    delivery (never delivered counts as due)."""
    due = []
    for sched in subscribers:
        last = last_delivered.get(sched.subscriber_id)
        if last is None or _aware(last) < latest_slot(sched, now):
            due.append(sched.subscriber_id)
    return due


# ----------------------------------------------------------------------------- the scheduler
def build_scheduler(*, fetch_time: str, fetch_timezone: str, subscribers: list[SubscriberSchedule],
                    on_fetch: Callable[[], None], on_deliver: Callable[[int], None],
                    on_sweep: Callable[[], None] | None = None, sweep_minutes: int = SWEEP_MINUTES,
                    scheduler_cls=BlockingScheduler):
    """One worker thread, so jobs never overlap on the shared store and SMTP connection; a late
    job runs (generous grace), missed repeats collapse into one run (coalesce).
    ``on_sweep`` (catch-up and subscriber resync) runs at start and every ``sweep_minutes``."""
    scheduler = scheduler_cls(timezone=UTC, job_defaults=dict(JOB_DEFAULTS),
                              executors={"default": ThreadPoolExecutor(max_workers=1)})
    scheduler.add_listener(_on_job_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES)
    scheduler.add_job(on_fetch, fetch_trigger(fetch_time, fetch_timezone), id="fetch", name="fetch",
                      replace_existing=True)
    if on_sweep is not None:
        scheduler.add_job(on_sweep, IntervalTrigger(minutes=sweep_minutes, timezone=UTC), id="sweep",
                          name="sweep", replace_existing=True, next_run_time=datetime.now(UTC))
    sync_subscriber_jobs(scheduler, subscribers, on_deliver)
    return scheduler


@dataclass
class SyncReport:
    added: list[int]
    replaced: list[int]
    removed: list[int]


def job_id(subscriber_id: int) -> str:
    return f"deliver:{subscriber_id}"


def sync_subscriber_jobs(scheduler, subscribers: list[SubscriberSchedule],
                         on_deliver: Callable[[int], None]) -> SyncReport:
    """Make the scheduler's ``deliver:<id>`` jobs match ``subscribers``: add new ones, replace
    those whose time, zone or frequency changed, remove the rest. Used at start and on reload."""
    report = SyncReport([], [], [])
    wanted = {job_id(s.subscriber_id): s for s in subscribers}
    for job in scheduler.get_jobs():
        if job.id.startswith("deliver:") and job.id not in wanted:
            scheduler.remove_job(job.id)
            report.removed.append(int(job.id.split(":", 1)[1]))
    for jid, sched in wanted.items():
        trigger, current = delivery_trigger(sched), scheduler.get_job(jid)
        if current is not None and repr(current.trigger) == repr(trigger):
            continue
        if current is not None:     # remove first: before start() APScheduler would keep both
            scheduler.remove_job(jid)
        scheduler.add_job(on_deliver, trigger, args=[sched.subscriber_id], id=jid, name=jid, replace_existing=True)
        (report.added if current is None else report.replaced).append(sched.subscriber_id)
    if report.added or report.replaced or report.removed:
        event(log, "subscriber jobs synced", added=len(report.added), replaced=len(report.replaced),
              removed=len(report.removed))
    return report


def _on_job_event(ev) -> None:
    if ev.code == EVENT_JOB_MISSED:
        event(log, "job missed its time and was skipped", logging.WARNING, job=ev.job_id,
              scheduled=ev.scheduled_run_time.isoformat())
    elif ev.code == EVENT_JOB_MAX_INSTANCES:
        event(log, "job still running, this run skipped", logging.WARNING, job=ev.job_id)
    else:
        event(log, "job failed", logging.ERROR, job=ev.job_id, error=f"{type(ev.exception).__name__}: {ev.exception}")
