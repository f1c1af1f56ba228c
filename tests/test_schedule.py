"""Who is due, with a frozen clock: time zones, DST changes, late starts, weekly subscribers."""
import logging
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from notifier.errors import ConfigError
from notifier.schedule import SubscriberSchedule, due, due_subscribers, last_slot, schedules_of

UTC = timezone.utc
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize("kwargs, message", [
    (dict(time="7:30"), "subscriber 1: time '7:30' must be HH:MM (24-hour)"),
    (dict(time="24:00"), "subscriber 1: time '24:00' must be HH:MM (24-hour)"),
    (dict(timezone="Mars/Olympus"), "subscriber 1: unknown time zone 'Mars/Olympus' (use an IANA name such as Europe/Berlin)"),
    (dict(frequency="hourly"), "subscriber 1: frequency 'hourly' must be daily or weekly"),
    (dict(frequency="weekly", weekday="friday"), "subscriber 1: weekday 'friday' must be one of mon, tue, wed, thu, fri, sat, sun"),
], ids=["short-time", "hour-24", "bad-zone", "bad-frequency", "bad-weekday"])
def test_bad_schedule_is_one_line_error(kwargs, message):
    values = dict(subscriber_id=1, time="07:30", timezone="UTC") | kwargs
    with pytest.raises(ConfigError) as err:
        SubscriberSchedule(**values)
    assert str(err.value) == message


# ----------------------------------------------------------------------------- who is due
BERLIN_0730 = SubscriberSchedule(1, "07:30", "Europe/Berlin")


def local(*args, tz=BERLIN) -> datetime:
    return datetime(*args, tzinfo=tz)


def due_ids(schedules, last: dict, now: datetime) -> list[int]:
    return due_subscribers(schedules, last.get, now)


def test_not_due_before_local_time_due_after():
    yesterday = local(2026, 11, 21, 7, 30, 5)
    assert due_ids([BERLIN_0730], {1: yesterday}, local(2026, 11, 22, 7, 29)) == []
    assert due_ids([BERLIN_0730], {1: yesterday}, local(2026, 11, 22, 7, 30)) == [1]


def test_late_start_delivers_once_not_once_per_missed_day():
    # Machine off from Friday evening until Monday 10:00: one delivery when it comes up...
    friday = local(2026, 11, 20, 7, 30, 2)
    monday_10 = local(2026, 11, 23, 10, 0)
    assert due_ids([BERLIN_0730], {1: friday}, monday_10) == [1]
    # ...and once that is recorded, nothing more until Tuesday 07:30.
    delivered = monday_10 + timedelta(seconds=3)
    assert due_ids([BERLIN_0730], {1: delivered}, local(2026, 11, 23, 23, 59)) == []
    assert due_ids([BERLIN_0730], {1: delivered}, local(2026, 11, 24, 7, 30)) == [1]


def test_never_delivered_is_due():
    assert due_ids([BERLIN_0730], {}, local(2026, 11, 22, 12)) == [1]


def test_naive_last_delivery_is_read_as_utc():
    # 06:30 UTC = 07:30 Berlin: today's slot is covered.
    assert due_ids([BERLIN_0730], {1: datetime(2026, 11, 22, 6, 30, 1)}, local(2026, 11, 22, 12)) == []


def test_time_zones_are_per_subscriber():
    subs = [SubscriberSchedule(1, "07:30", "Europe/Berlin"), SubscriberSchedule(2, "07:30", "America/New_York")]
    last = {1: utc(2026, 11, 21, 12), 2: utc(2026, 11, 21, 13)}
    assert due_ids(subs, last, utc(2026, 11, 22, 7)) == [1]       # 08:00 Berlin, 02:00 New York
    assert due_ids(subs, last, utc(2026, 11, 22, 12, 30)) == [1, 2]


def test_weekly_subscriber_due_once_a_week():
    weekly = SubscriberSchedule(1, "08:00", "Europe/Berlin", "weekly", "mon")
    last_monday = local(2026, 11, 16, 8, 0, 4)
    assert due_ids([weekly], {1: last_monday}, local(2026, 11, 22, 23)) == []   # Sunday
    assert due_ids([weekly], {1: last_monday}, local(2026, 11, 23, 8)) == [1]
    # Off all Monday, up on Wednesday: the missed Monday is delivered once.
    assert due_ids([weekly], {1: last_monday}, local(2026, 11, 25, 9)) == [1]


def dst_day_run(sched, start_utc, every, hours) -> list[datetime]:
    """Ask every `every` for `hours` whether the digest is due, as `notifier run` from a timer
    does, recording a delivery when it is; return the delivery times."""
    delivered, last, now = [], start_utc, start_utc
    while now < start_utc + timedelta(hours=hours):
        if due_ids([sched], {sched.subscriber_id: last}, now):
            last = now
            delivered.append(now)
        now += every
    return delivered


def test_spring_forward_0230_delivers_once_at_shifted_time():
    sched = SubscriberSchedule(1, "02:30", "Europe/Berlin")
    got = dst_day_run(sched, utc(2026, 3, 28, 12), timedelta(minutes=15), 24)
    assert [d.astimezone(BERLIN).isoformat() for d in got] == ["2026-03-29T03:30:00+02:00"]


def test_autumn_fall_back_0230_delivers_once_not_twice():
    sched = SubscriberSchedule(1, "02:30", "Europe/Berlin")
    got = dst_day_run(sched, utc(2026, 10, 24, 12), timedelta(minutes=15), 24)
    assert [d.astimezone(BERLIN).isoformat() for d in got] == ["2026-10-25T02:30:00+02:00"]


def test_new_york_fall_back_0130_delivers_once():
    sched = SubscriberSchedule(1, "01:30", "America/New_York")
    got = dst_day_run(sched, utc(2026, 10, 31, 12), timedelta(minutes=15), 24)
    assert [d.astimezone(NEW_YORK).isoformat() for d in got] == ["2026-11-01T01:30:00-04:00"]


def test_missed_fetch_is_due_once_after_the_fetch_time():
    last_fetch = utc(2026, 11, 21, 6, 0, 3)              # yesterday's 07:00 Berlin fetch
    assert not due(last_fetch, "07:00", "Europe/Berlin", local(2026, 11, 22, 6, 59))
    assert due(last_fetch, "07:00", "Europe/Berlin", local(2026, 11, 22, 9, 0))
    assert due(None, "07:00", "Europe/Berlin", local(2026, 11, 22, 6, 0))     # never fetched


def test_last_slot_of_a_weekly_time_is_on_its_weekday():
    assert last_slot("08:00", "Europe/Berlin", local(2026, 11, 23, 7, 59), "mon") == utc(2026, 11, 16, 7)
    assert last_slot("08:00", "Europe/Berlin", local(2026, 11, 23, 8, 0), "mon") == utc(2026, 11, 23, 7)


def test_a_subscriber_with_an_unusable_stored_schedule_is_logged_and_the_others_kept(caplog):
    stored = [SimpleNamespace(id=1, address="ok@example.org", delivery_time="07:30", timezone="UTC",
                              frequency="daily", weekday=None),
              SimpleNamespace(id=2, address="bad@example.org", delivery_time="07:30", timezone="Mars/Olympus",
                              frequency="daily", weekday=None)]
    with caplog.at_level(logging.ERROR, logger="notifier.schedule"):
        assert [s.subscriber_id for s in schedules_of(stored)] == [1]
    (record,) = caplog.records
    assert record.getMessage() == "subscriber not scheduled" and record.ctx["subscriber"] == "bad@example.org"


def test_an_unusable_stored_schedule_is_logged_once_until_it_changes(caplog):
    def stored(zone):
        return [SimpleNamespace(id=2, address="bad@example.org", delivery_time="07:30", timezone=zone,
                                frequency="daily", weekday=None)]
    reported: dict = {}
    with caplog.at_level(logging.ERROR, logger="notifier.schedule"):
        for zone in ("Mars/Olympus", "Mars/Olympus", "Venus/Maxwell", "Venus/Maxwell", "UTC", "Venus/Maxwell"):
            schedules_of(stored(zone), reported)                # one call per sweep
    assert [r.ctx["error"].split("'")[1] for r in caplog.records] == ["Mars/Olympus", "Venus/Maxwell", "Venus/Maxwell"]
