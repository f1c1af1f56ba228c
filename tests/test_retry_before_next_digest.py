"""A digest kept back by a mail outage, whose retry comes due a few hours before the subscriber's
next digest, goes out with that digest as one catch-up message, not as a second email hours apart
(sending.FOLD_WINDOW); one whose retry comes long before still goes at once."""
from datetime import datetime, timedelta, timezone

import pytest
from freezegun import freeze_time

from notifier.context import open_context
from notifier.models import Paper
from notifier.planning import plan
from notifier.schedule import SCHEDULE_COLUMNS, due_subscribers, schedules_of
from notifier.sending import deliver
from notifier.subscribers import new_subscriber

UTC = timezone.utc
# Auckland is UTC+13 in October: its 07:00 is 18:00 UTC the day before
FIRST_DIGEST = datetime(2026, 10, 26, 18, 0, tzinfo=UTC)        # 27 Oct 07:00 local
NEXT_DIGEST = datetime(2026, 10, 27, 18, 0, tzinfo=UTC)         # 28 Oct 07:00 local


def timer_runs(config, smtp, down_until: datetime, until: datetime) -> list[tuple[datetime, list[str]]]:
    """`notifier run` every 15 minutes from the first digest (its planning as run does it: only
    subscribers due), the mail server answering 451 until ``down_until``, a new paper each local
    morning -> (when, the subjects' papers) of each message the subscriber got."""
    got = []
    with freeze_time(FIRST_DIGEST - timedelta(hours=1)) as clock, open_context(config) as ctx:
        ctx.store.add_subscriber(new_subscriber(address="kiri@example.org", keywords=["agents"],
                                                timezone="Pacific/Auckland", time="07:00"))
        for day, n in ((FIRST_DIGEST, 1), (NEXT_DIGEST, 2)):
            ctx.store.ingest([Paper(f"2610.0000{n}", f"Agents at scale, part {n}")], source="hf_daily",
                             digest_day=day.date().isoformat())
            clock.move_to(day)
            while ctx.now() < min(until, day + timedelta(days=1)):
                now = ctx.now()
                smtp.rcpt_replies = {"kiri@example.org": ["451 4.3.0 Try again later"]} if now < down_until else {}
                before = len(smtp.messages)
                schedules = schedules_of(ctx.store.subscriber_rows(*SCHEDULE_COLUMNS))
                deliver(ctx, due_subscribers(schedules, ctx.store.last_planned().get, now))
                got += [(now, sorted(line for line in m.get_body(("plain",)).get_content().splitlines()
                                     if "Agents at scale" in line)) for m in smtp.messages[before:]]
                clock.tick(900)
        states = [d.state for d in ctx.store.deliveries()]
    return got, states


@pytest.fixture
def mail(config, smtp_recorder):
    smtp, port = smtp_recorder
    config.email.host, config.email.port, config.email.security = "127.0.0.1", port, "none"
    return smtp


def test_a_retry_due_hours_before_the_next_digest_goes_out_with_it_as_one_catch_up(config, mail):
    """The server is back at 13:00 UTC (02:00 local); the held digest's retry (every 6 h by then)
    came due at 17:30 UTC, 30 min before the next digest: one message at 18:00 with both days'
    papers, where two came before (17:30 and 18:00)."""
    got, states = timer_runs(config, mail, down_until=NEXT_DIGEST - timedelta(hours=5),
                             until=NEXT_DIGEST + timedelta(hours=12))
    assert [(when, len(lines)) for when, lines in got] == [(NEXT_DIGEST, 2)], got
    assert states == ["superseded", "sent"]


def test_a_retry_due_long_before_the_next_digest_still_goes_out_at_once(config, mail):
    """A guard: the server is back at 00:00 UTC (13:00 local), when the retry comes due, 18 h
    before the next digest: it goes then, and the next digest at its time with only the new paper."""
    got, states = timer_runs(config, mail, down_until=FIRST_DIGEST + timedelta(hours=6),
                             until=NEXT_DIGEST + timedelta(hours=1))
    assert [(when.strftime("%d %H:%M"), len(lines)) for when, lines in got] == [("27 00:00", 1), ("27 18:00", 1)], got
    assert states == ["sent", "sent"]


def one_digest_an_hour_before_the_next(ctx):
    """Kiri's digest of 27 Oct (local), claimed at its time; the clock then set to an hour before
    the next digest (17:00 UTC, 06:00 local on the 28th) -> the row."""
    ctx.store.add_subscriber(new_subscriber(address="kiri@example.org", keywords=["agents"],
                                            timezone="Pacific/Auckland", time="07:00"))
    ctx.store.ingest([Paper("2610.00001", "Agents at scale")], source="hf_daily", digest_day="2026-10-26")
    [sub] = ctx.store.list_subscribers()
    d = plan(ctx, sub)
    assert d.digest_day == "2026-10-27"
    ctx.store.claim(d.id, now=ctx.now())
    return d


def test_a_digest_a_crash_interrupted_is_resent_at_once_even_an_hour_before_the_next(config, mail):
    """Recovery re-queues the interrupted send as a retry "re-sending", and the retry fold kept it
    5 h: in CI, runs killed mid-batch at 19:00 UTC saw their resumed digests put off to 00:00."""
    from notifier.recovery import recover
    from notifier.sending import send_pending

    with freeze_time(FIRST_DIGEST) as clock, open_context(config) as ctx:
        one_digest_an_hour_before_the_next(ctx)
        clock.move_to(NEXT_DIGEST - timedelta(hours=1))
        assert recover(ctx, at_start=True) == 1            # the process that claimed it is gone
        [report] = send_pending(ctx)
        assert (report.state, len(mail.messages)) == ("sent", 1)


def test_a_digest_the_operator_re_queued_goes_at_once_even_an_hour_before_the_next(config, mail):
    """`notifier resolve ... resend` says the digest is sent by the next run: not five hours later."""
    from notifier.outbox import State
    from notifier.sending import send_pending

    with freeze_time(FIRST_DIGEST) as clock, open_context(config) as ctx:
        d = one_digest_an_hour_before_the_next(ctx)
        ctx.store.record(d.id, State.UNKNOWN, error="connection lost after the data went out", now=ctx.now())
        clock.move_to(NEXT_DIGEST - timedelta(hours=1))
        ctx.store.resolve_unknown(d.key, State.RETRY, ctx.now())
        [report] = send_pending(ctx)
        assert (report.state, len(mail.messages)) == ("sent", 1)
