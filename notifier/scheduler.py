"""The daemon's clock: APScheduler 3.x cron triggers for the fetch cycle and for each moment
subscribers' digests are due (one job per time, zone and day, whoever has it), and the
background scheduler that runs them. Only ``notifier serve`` loads this module (and
APScheduler); who is due at a moment is ``notifier.schedule``'s rule.

A trigger fires each scheduled time exactly once a day across DST changes, at the instants
``schedule.last_slot`` gives: a time inside the spring-forward gap at the shifted instant, a
time inside the autumn fold at its first occurrence only (APScheduler alone would fire it twice).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from notifier.config import check_timezone
from notifier.logs import event
from notifier.schedule import SubscriberSchedule, parse_time

log = logging.getLogger("notifier.scheduler")

UTC = timezone.utc

# A job that starts late still runs (a busy host, a suspend, a long fetch ahead of it in the
# queue) unless it is this late; APScheduler's default of 1 s silently drops such runs.
JOB_DEFAULTS = {"misfire_grace_time": 6 * 3600, "coalesce": True, "max_instances": 1}
SWEEP_MINUTES = 5


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
