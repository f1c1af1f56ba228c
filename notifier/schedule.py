"""When things happen: cron triggers for the fetch cycle and for each moment subscribers' digests
are due (one job per time, zone and day, whoever has it), the APScheduler 3.x scheduler that
runs them, and the one pure "is it due now" rule.

Times are wall-clock times in the subscriber's own zone. Across DST changes each scheduled
time happens exactly once a day: a time inside the spring-forward gap (02:30 in Berlin on the
last Sunday of March) fires at the shifted instant (03:30 CEST), and a time inside the autumn
fold fires at its first occurrence only (APScheduler alone would fire it twice).

``due`` is the idempotent catch-up rule, the only one: something scheduled (a subscriber's
digest in ``notifier run`` and the daemon's sweep, the daemon's fetch at start) is due when its
latest scheduled time (``last_slot``) is at or before now and later than when it last happened.
A machine that was off at 07:30 therefore delivers once when it comes up, not once per missed
slot. The time pattern and the zone check are the configuration's (``notifier.config``), so a
time the config accepts is one this module can schedule.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import date, datetime, time as dtime, timedelta, timezone
from typing import Callable
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from notifier.clock import as_utc
from notifier.config import TIME_RE, check_timezone
from notifier.errors import ConfigError
from notifier.logs import event

log = logging.getLogger("notifier.schedule")

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
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
        check_timezone(self.timezone, who)
        if self.frequency not in ("daily", "weekly"):
            raise ConfigError(f"{who}: frequency '{self.frequency}' must be daily or weekly")
        if self.weekday is not None and self.weekday not in WEEKDAYS:
            raise ConfigError(f"{who}: weekday '{self.weekday}' must be one of {', '.join(WEEKDAYS)}")

    @property
    def day_of_week(self) -> str:
        return (self.weekday or "mon") if self.frequency == "weekly" else "*"


def parse_time(text: str, who: str = "schedule") -> dtime:
    if not TIME_RE.match(text or ""):
        raise ConfigError(f"{who}: time '{text}' must be HH:MM (24-hour)")
    return dtime(int(text[:2]), int(text[3:]))


def schedules_of(subscribers, reported: dict[int, str] | None = None) -> list[SubscriberSchedule]:
    """The schedules of stored subscribers. One whose stored time or zone is unusable (the
    database edited by hand, a zone dropped from tzdata) is logged and left out, so it never
    stops everyone else's digest. ``reported`` (subscriber id -> error; the caller keeps it
    between calls, as the daemon does between sweeps) logs each such error once, not at every
    call: again only after it changed, or was fixed and came back."""
    out, unusable = [], {}
    for s in subscribers:
        try:
            out.append(SubscriberSchedule(s.id, s.delivery_time, s.timezone, s.frequency, s.weekday))
        except ConfigError as err:
            unusable[s.id] = str(err)
            if reported is None or reported.get(s.id) != unusable[s.id]:
                event(log, "subscriber not scheduled", logging.ERROR, subscriber=s.address, error=str(err))
    if reported is not None:
        reported.clear()
        reported.update(unusable)
    return out


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
    return OncePerDayCronTrigger(hour=t.hour, minute=t.minute, second=0,
                                 timezone=check_timezone(timezone, "[schedule] timezone"))


def delivery_trigger(sched: SubscriberSchedule) -> CronTrigger:
    t = parse_time(sched.time)
    return OncePerDayCronTrigger(day_of_week=sched.day_of_week, hour=t.hour, minute=t.minute, second=0,
                                 timezone=check_timezone(sched.timezone, "schedule"))


# ----------------------------------------------------------------------------- who is due
def last_slot(time: str, timezone: str, now: datetime, day_of_week: str = "*") -> datetime:
    """The latest instant at or before ``now`` (aware, UTC) at which ``time`` in ``timezone``
    comes, on ``day_of_week`` (mon..sun) or on any day ("*").

    A wall time in the spring gap maps to the shifted instant and one in the autumn fold to its
    first occurrence (``fold=0``), the same instants the trigger fires at."""
    tz, t, now = check_timezone(timezone, "schedule"), parse_time(time), as_utc(now)
    today = now.astimezone(tz).date()
    for back in range(8):
        day = today - timedelta(days=back)
        if day_of_week in ("*", WEEKDAYS[day.weekday()]) and _at(day, t, tz) <= now:
            return _at(day, t, tz)
    raise AssertionError("unreachable: a slot exists within the last 7 days")


def due(last: datetime | None, time: str, timezone: str, now: datetime, day_of_week: str = "*") -> bool:
    """The catch-up rule: due when the latest slot at or before ``now`` is later than ``last``,
    when it last happened (never counts as due)."""
    return _missed(last, last_slot(time, timezone, now, day_of_week))


def _missed(last: datetime | None, slot: datetime) -> bool:
    return last is None or as_utc(last) < slot


def due_subscribers(schedules: list[SubscriberSchedule], last_delivered: Callable[[int], datetime | None],
                    now: datetime) -> list[int]:
    """Ids, in input order, of the subscribers whose digest is ``due``. The latest slot of each
    time, zone and day is worked out once: 10,000 subscribers share a few dozen."""
    slot = functools.cache(lambda time, timezone, day_of_week: last_slot(time, timezone, now, day_of_week))
    return [s.subscriber_id for s in schedules
            if _missed(last_delivered(s.subscriber_id), slot(s.time, s.timezone, s.day_of_week))]


def _at(day: date, t: dtime, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, t, tzinfo=tz).astimezone(UTC)


# ----------------------------------------------------------------------------- the scheduler
def build_scheduler(*, fetch_time: str, fetch_timezone: str, subscribers: list[SubscriberSchedule],
                    on_fetch: Callable[[], None], on_deliver: Callable[[], None],
                    on_sweep: Callable[[], None] | None = None,
                    sweep_minutes: float = SWEEP_MINUTES) -> BackgroundScheduler:
    """A background scheduler (the daemon's main thread waits for requests), not yet started.
    One worker thread, so jobs never overlap on the shared store and SMTP connection; a late
    job runs (generous grace), missed repeats collapse into one run (coalesce).
    ``on_deliver`` (deliver to everyone due) runs at every moment a subscriber's digest is due
    (``sync_delivery_jobs``); ``on_sweep`` (catch-up and subscriber resync) at start and every
    ``sweep_minutes``."""
    scheduler = BackgroundScheduler(timezone=UTC, job_defaults=dict(JOB_DEFAULTS),
                                    executors={"default": ThreadPoolExecutor(max_workers=1)})
    scheduler.add_listener(_on_job_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR | EVENT_JOB_MAX_INSTANCES)
    scheduler.add_job(on_fetch, fetch_trigger(fetch_time, fetch_timezone), id="fetch", name="fetch",
                      replace_existing=True)
    if on_sweep is not None:
        scheduler.add_job(on_sweep, IntervalTrigger(minutes=sweep_minutes, timezone=UTC), id="sweep",
                          name="sweep", replace_existing=True, next_run_time=datetime.now(UTC))
    sync_delivery_jobs(scheduler, subscribers, on_deliver)
    return scheduler


@dataclass
class SyncReport:
    added: list[str]
    removed: list[str]


def job_id(sched: SubscriberSchedule) -> str:
    """The delivery job of everyone with this subscriber's time, zone and day(s):
    ``deliver:<HH:MM> <zone> <mon..sun or *>``."""
    return f"deliver:{sched.time} {sched.timezone} {sched.day_of_week}"


def sync_delivery_jobs(scheduler, subscribers: list[SubscriberSchedule],
                       on_deliver: Callable[[], None]) -> SyncReport:
    """Make the scheduler's delivery jobs match ``subscribers``: one job per (time, zone, day)
    someone has, each running ``on_deliver``, which plans and sends everyone due at that moment
    as one batch (subscribers sharing a moment share a batch, whatever their zone). Adds the
    jobs of new moments and removes those nobody has any more. Used at start and on resync."""
    wanted = {job_id(s): s for s in subscribers}
    report = SyncReport([], [job.id for job in scheduler.get_jobs()
                             if job.id.startswith("deliver:") and job.id not in wanted])
    for jid in report.removed:
        scheduler.remove_job(jid)
    for jid, sched in wanted.items():
        if scheduler.get_job(jid) is None:
            scheduler.add_job(on_deliver, delivery_trigger(sched), id=jid, name=jid)
            report.added.append(jid)
    if report.added or report.removed:
        event(log, "delivery jobs synced", added=len(report.added), removed=len(report.removed),
              jobs=len(wanted))
    return report


def _on_job_event(ev) -> None:
    if ev.code == EVENT_JOB_MISSED:
        event(log, "job missed its time and was skipped", logging.WARNING, job=ev.job_id,
              scheduled=ev.scheduled_run_time.isoformat())
    elif ev.code == EVENT_JOB_MAX_INSTANCES:
        event(log, "job still running, this run skipped", logging.WARNING, job=ev.job_id)
    else:
        event(log, "job failed", logging.ERROR, job=ev.job_id, error=f"{type(ev.exception).__name__}: {ev.exception}")
