"""The daemon's triggers and jobs with a frozen clock: each time fires once a day across DST
changes, in each subscriber's zone; one job per moment; missed runs coalesce."""
import threading
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from notifier.schedule import SubscriberSchedule
from notifier.scheduler import build_scheduler, delivery_trigger, fetch_trigger, sync_delivery_jobs

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
BERLIN_0730 = SubscriberSchedule(1, "07:30", "Europe/Berlin")


def fires(trigger, start: datetime, count: int) -> list[datetime]:
    """The next `count` fire times from `start`, as the scheduler would walk them."""
    out, prev, now = [], None, start
    for _ in range(count):
        nxt = trigger.get_next_fire_time(prev, now)
        out.append(nxt.astimezone(UTC))
        prev = now = nxt
    return out


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ----------------------------------------------------------------------------- triggers
def test_delivery_fires_at_local_time_in_each_subscribers_zone():
    start = utc(2026, 6, 1)
    berlin = delivery_trigger(SubscriberSchedule(1, "07:30", "Europe/Berlin"))
    new_york = delivery_trigger(SubscriberSchedule(2, "07:30", "America/New_York"))
    assert fires(berlin, start, 1) == [utc(2026, 6, 1, 5, 30)]
    assert fires(new_york, start, 1) == [utc(2026, 6, 1, 11, 30)]


@pytest.mark.parametrize("tz, day, expected_utc", [
    ("Europe/Berlin", (2026, 3, 29), [utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 30), utc(2026, 3, 30, 0, 30)]),
    ("America/New_York", (2026, 3, 8), [utc(2026, 3, 7, 7, 30), utc(2026, 3, 8, 7, 30), utc(2026, 3, 9, 6, 30)]),
], ids=["berlin-spring", "new-york-spring"])
def test_time_in_spring_gap_fires_once_at_shifted_time(tz, day, expected_utc):
    # 02:30 does not exist on the spring-forward day: it fires once, at 03:30 summer time.
    trigger = delivery_trigger(SubscriberSchedule(1, "02:30", tz))
    start = datetime(*day, tzinfo=ZoneInfo(tz)) - timedelta(days=1)
    assert fires(trigger, start, 3) == expected_utc
    assert expected_utc[1].astimezone(ZoneInfo(tz)).strftime("%H:%M") == "03:30"


@pytest.mark.parametrize("tz, day, expected_utc", [
    ("Europe/Berlin", (2026, 10, 25), [utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]),
    ("America/New_York", (2026, 11, 1), [utc(2026, 10, 31, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30)]),
], ids=["berlin-autumn", "new-york-autumn"])
def test_time_in_autumn_fold_fires_once_not_twice(tz, day, expected_utc):
    hhmm = "02:30" if tz == "Europe/Berlin" else "01:30"
    trigger = delivery_trigger(SubscriberSchedule(1, hhmm, tz))
    start = datetime(*day, tzinfo=ZoneInfo(tz)) - timedelta(days=1)
    assert fires(trigger, start, 3) == expected_utc


def test_fetch_trigger_is_unaffected_by_dst_at_ordinary_times():
    trigger = fetch_trigger("07:00", "Europe/Berlin")
    assert fires(trigger, utc(2026, 10, 24), 3) == [utc(2026, 10, 24, 5), utc(2026, 10, 25, 6), utc(2026, 10, 26, 6)]


def test_weekly_subscriber_fires_only_on_their_day():
    trigger = delivery_trigger(SubscriberSchedule(1, "08:00", "Europe/Berlin", "weekly", "fri"))
    got = fires(trigger, utc(2026, 11, 22), 2)   # a Sunday
    assert [d.astimezone(BERLIN).strftime("%a %Y-%m-%d %H:%M") for d in got] == [
        "Fri 2026-11-27 08:00", "Fri 2026-12-04 08:00"]


def test_weekly_without_a_day_means_monday():
    trigger = delivery_trigger(SubscriberSchedule(1, "08:00", "UTC", "weekly"))
    assert fires(trigger, utc(2026, 11, 22), 1) == [utc(2026, 11, 23, 8)]


# ----------------------------------------------------------------------------- scheduler
def make(subs, **kw):
    return build_scheduler(fetch_time="07:00", fetch_timezone="Europe/Berlin", subscribers=subs,
                           on_fetch=noop, on_deliver=noop, **kw)


def noop(*_):
    pass


def test_subscribers_sharing_a_time_zone_and_day_share_one_delivery_job():
    s = make([BERLIN_0730, SubscriberSchedule(2, "07:30", "Europe/Berlin"),
              SubscriberSchedule(7, "18:00", "America/New_York", "weekly", "fri"),
              SubscriberSchedule(8, "18:00", "America/New_York", "weekly", "fri"),
              SubscriberSchedule(9, "18:00", "America/New_York", "daily")])
    assert sorted(j.id for j in s.get_jobs()) == [
        "deliver:07:30 Europe/Berlin *", "deliver:18:00 America/New_York *", "deliver:18:00 America/New_York fri",
        "fetch"]


def test_started_jobs_carry_grace_and_coalesce_and_next_time():
    with freeze_time("2026-11-22 12:00:00"):
        s = make([BERLIN_0730])
        s.start(paused=True)
        try:
            job = s.get_job("deliver:07:30 Europe/Berlin *")
            assert (job.misfire_grace_time, job.coalesce, job.max_instances) == (6 * 3600, True, 1)
            assert job.next_run_time.astimezone(UTC) == utc(2026, 11, 23, 6, 30)
            assert s.get_job("fetch").next_run_time.astimezone(UTC) == utc(2026, 11, 23, 6, 0)
        finally:
            s.shutdown(wait=False)


def test_coalesce_runs_missed_repeats_once():
    # The process stalled from Friday to Monday 09:00 Berlin: four 07:30 runs are overdue, the
    # subscriber gets one delivery (the latest, inside the grace), not four.
    ran, done = [], threading.Event()

    def deliver():
        ran.append(datetime.now(UTC))
        done.set()

    with freeze_time("2026-11-20 00:00:00") as clock:
        s = build_scheduler(fetch_time="07:00", fetch_timezone="Europe/Berlin", subscribers=[BERLIN_0730],
                            on_fetch=noop, on_deliver=deliver)
        s.start(paused=True)
        try:
            clock.move_to("2026-11-23 08:00:00")     # 09:00 Berlin: today's 07:30 is 1.5 h late
            s.resume()
            assert done.wait(10)
        finally:
            s.shutdown(wait=True)
        assert len(ran) == 1


def test_resync_adds_and_removes_jobs():
    s = make([BERLIN_0730, SubscriberSchedule(2, "09:00", "UTC")])
    report = sync_delivery_jobs(s, [SubscriberSchedule(1, "07:30", "Europe/Berlin"),
                                    SubscriberSchedule(2, "10:00", "UTC"),
                                    SubscriberSchedule(3, "06:00", "Asia/Tokyo")], noop)
    assert (report.added, report.removed) == (["deliver:10:00 UTC *", "deliver:06:00 Asia/Tokyo *"],
                                              ["deliver:09:00 UTC *"])
    report = sync_delivery_jobs(s, [SubscriberSchedule(3, "06:00", "Asia/Tokyo")], noop)
    assert (report.added, sorted(report.removed)) == ([], ["deliver:07:30 Europe/Berlin *", "deliver:10:00 UTC *"])
    assert sorted(j.id for j in s.get_jobs()) == ["deliver:06:00 Asia/Tokyo *", "fetch"]
    assert "hour='6'" in repr(s.get_job("deliver:06:00 Asia/Tokyo *").trigger)
