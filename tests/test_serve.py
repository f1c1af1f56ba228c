"""`notifier serve` as a real process: a late start catches up once, SIGTERM lets the delivery in
flight finish, a second daemon is refused. The pipeline is a stand-in so these tests are about
the daemon's scheduling and signals only (the outbox is tested with the pipeline)."""
import os
import signal
import subprocess
import sys
import textwrap
from datetime import datetime, timedelta, timezone

import pytest

FAKE = textwrap.dedent('''
    import contextlib, sys, types
    from datetime import datetime, timedelta, timezone
    from types import SimpleNamespace as NS

    now = datetime.now(timezone.utc)
    slot = (now + timedelta(hours=12)).strftime("%H:%M")     # no slot passes during a test, at midnight too
    subs = [NS(id=1, address="late@example.org", delivery_time=slot, timezone="UTC", frequency="daily", weekday=None),
            NS(id=2, address="done@example.org", delivery_time=slot, timezone="UTC", frequency="daily", weekday=None)]
    last = {1: now - timedelta(days=3), 2: now}

    def say(*parts):
        """One write per line: print() writes its parts one by one, and the main thread's log line
        ("daemon started") landed between "deliver start" and "[1]" about once in 40 starts."""
        sys.stdout.write(" ".join(map(str, parts)) + "\\n")

    class Store:
        path = None
        def empty_wal(self): pass
        def subscriber_rows(self, *columns, active_only=True): return subs
        def last_planned(self): return dict(last)
        def fetch_sources(self): return ["hf_daily"]
        def last_fetch(self, source): return NS(started_at=now)
        def put_setting(self, key, value): pass

    @contextlib.contextmanager
    def open_context(config, **kw):
        yield NS(config=config, store=Store(), now=lambda: datetime.now(timezone.utc))

    def deliver(ctx, subscriber_ids=None, dry_run=False, stop=None):
        say("deliver start", subscriber_ids)
        sys.stdin.readline()                 # the test says when the message is "sent"
        last[subscriber_ids[0]] = datetime.now(timezone.utc)
        say("deliver done", subscriber_ids)
        return [NS(subscriber="late@example.org", state="sent", papers=2, error=None)]

    fakes = {name: types.ModuleType(f"notifier.{name}") for name in ("context", "sending", "recovery", "fetch_cycle")}
    fakes["context"].open_context, fakes["sending"].deliver = open_context, deliver
    fakes["recovery"].recover = lambda ctx, **kw: say("recover") or 0
    fakes["sending"].send_pending = lambda ctx, **kw: []
    fakes["fetch_cycle"].fetch_cycle = lambda ctx: say("fetch") or []
    sys.modules.update({f"notifier.{name}": fake for name, fake in fakes.items()})
    from notifier.cli import main
    sys.exit(main(sys.argv[1:]))
''')


@pytest.fixture
def daemon_config():
    return ""


@pytest.fixture
def daemon(tmp_path, daemon_config):
    (tmp_path / "fake.py").write_text(FAKE)
    fetch_time = (datetime.now(timezone.utc) + timedelta(hours=12)).strftime("%H:%M")   # not during the test
    (tmp_path / "config.toml").write_text(f'[schedule]\ntime = "{fetch_time}"\ntimezone = "UTC"\n{daemon_config}')
    env = dict(os.environ, NOTIFIER_STATE_DIR=str(tmp_path / "state"))
    env.pop("JOURNAL_STREAM", None)
    proc = subprocess.Popen([sys.executable, "-u", str(tmp_path / "fake.py"), "--config", str(tmp_path / "config.toml"),
                             "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    proc.env = env
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def read_until(proc, needle: str) -> list[str]:
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if needle in line:
            return lines
    raise AssertionError(f"process ended before {needle!r}: {lines}")


def test_late_start_delivers_once_to_the_subscriber_who_missed_it(daemon):
    lines = read_until(daemon, "deliver start")
    assert "recover" in lines
    assert lines[-1] == "deliver start [1]"            # not [2]: delivered today already
    daemon.stdin.write("sent\n")
    daemon.stdin.flush()
    read_until(daemon, "deliver done [1]")
    daemon.send_signal(signal.SIGTERM)
    rest, _ = daemon.communicate(timeout=30)
    assert "deliver start" not in rest
    assert daemon.returncode == 0


def test_sigterm_lets_the_delivery_in_flight_finish(daemon):
    read_until(daemon, "deliver start [1]")
    daemon.send_signal(signal.SIGTERM)
    read_until(daemon, "stopping: waiting for the job in flight")
    assert daemon.poll() is None                       # still finishing the message
    daemon.stdin.write("sent\n")
    daemon.stdin.flush()
    rest, _ = daemon.communicate(timeout=30)
    assert "deliver done [1]" in rest and "daemon stopped" in rest
    assert daemon.returncode == 0


def test_second_daemon_is_refused_with_one_line(daemon, tmp_path):
    read_until(daemon, "deliver start")
    second = subprocess.run([sys.executable, "-m", "notifier", "--config", str(tmp_path / "config.toml"), "serve"],
                            capture_output=True, text=True, env=daemon.env, timeout=60)
    assert second.returncode == 1
    assert second.stderr == (f"notifier: error: another notifier (pid {daemon.pid}) is already running: "
                             f"{tmp_path / 'state' / 'notifier.lock'} is locked; stop it first "
                             "(systemctl stop notifier) or let it finish\n")


def test_sighup_during_a_delivery_lets_it_finish_then_starts_again(daemon):
    read_until(daemon, "deliver start [1]")
    daemon.send_signal(signal.SIGHUP)
    read_until(daemon, "reloading: waiting for the job in flight")      # not "stopping": it starts again
    assert daemon.poll() is None
    daemon.stdin.write("sent\n")
    daemon.stdin.flush()
    lines = read_until(daemon, "configuration reloaded")
    assert "deliver done [1]" in lines and any("daemon started" in line for line in lines)
    daemon.send_signal(signal.SIGINT)                  # Ctrl-C stops like SIGTERM
    rest, _ = daemon.communicate(timeout=30)
    assert "deliver start" not in rest and "daemon stopped" in rest and "Traceback" not in rest
    assert daemon.returncode == 0


@pytest.mark.parametrize("daemon_config, warned", [
    ('[email]\nhost = "127.0.0.1"\nfrom = "digest@example.org"\n', True),
    ('[email]\nhost = "127.0.0.1"\nfrom = "digest@example.org"\nunsubscribe_mailto = "leave@example.org"\n', False),
    ("", False),                                       # no SMTP: digests go to the outbox
], ids=["smtp-without-unsubscribe", "smtp-with-mailto", "outbox"])
def test_a_daemon_mailing_digests_without_any_unsubscribe_link_says_so_at_start(daemon, warned):
    lines = read_until(daemon, "deliver start")
    daemon.kill()
    warning = [line for line in lines if "no unsubscribe link" in line]
    assert bool(warning) == warned
    assert all("[web] public_url" in line and "unsubscribe_mailto" in line for line in warning)


def test_a_sweep_after_stop_leaves_the_scheduler_alone():
    """Stopping holds APScheduler's job-store lock while it waits for the job in flight; a sweep
    that resynced its jobs then would wait for that lock for ever (the daemon hung on SIGINT
    right after a reload). Once stop is requested, a sweep touches neither the jobs nor a send."""
    from types import SimpleNamespace as NS

    from notifier.commands.serve import Daemon

    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError(f"the scheduler was used after stop: {name}")

    store = NS(path=None, subscriber_rows=lambda *columns, active_only=True: [
        NS(id=1, address="a@example.org", delivery_time="00:00", timezone="UTC", frequency="daily", weekday=None)])
    daemon = Daemon(NS(store=store), requests=None)
    daemon.scheduler = Untouchable()
    daemon.stop_jobs()
    daemon.sweep()                                     # returns without touching the scheduler
    assert daemon.stopping.is_set()


# ----------------------------------------------------------------------------- one batch per moment
def fire_jobs_due_at(scheduler, moment) -> None:
    """Run, as the scheduler would at ``moment``, every delivery job whose time it is (the clock is frozen there)."""
    from datetime import timedelta

    for job in scheduler.get_jobs():
        if job.id.startswith("deliver") and job.trigger.get_next_fire_time(None, moment - timedelta(minutes=1)) == moment:
            job.func(*job.args)


def test_everyone_due_at_the_same_moment_is_planned_in_one_batch_with_the_reads_of_one(cfg, hf, monkeypatch):
    """Forty subscribers in two zones whose time comes at the same instant (09:30 Berlin, 08:30
    London) are planned as one batch, reading the store as often as for one subscriber alone."""
    import queue
    from datetime import datetime, timezone

    from freezegun import freeze_time
    from sqlalchemy import event as sa_event

    from notifier import context, fetch_cycle, sending
    from notifier.commands.serve import Daemon
    from notifier.subscribers import new_subscriber
    from test_pipeline import BROAD, SAMPLE, day_items, outbox

    ids = [i["paper"]["id"] for i in SAMPLE]
    hf.days["2026-07-01"] = day_items("2026-07-01", ids[:15])
    times = [("08:30", "Europe/Berlin")] + [("09:30", "Europe/Berlin"), ("08:30", "Europe/London")] * 20
    with freeze_time("2026-07-01 06:00"), context.open_context(cfg) as ctx:
        for i, (hhmm, zone) in enumerate(times):
            ctx.store.add_subscriber(new_subscriber(address=f"u{i}@example.org", keywords=[BROAD], time=hhmm,
                                                    timezone=zone))
    with freeze_time("2026-07-01 08:00"), context.open_context(cfg) as ctx:
        fetch_cycle.fetch_cycle(ctx)
        assert len(sending.deliver(ctx)) == 41                     # yesterday's digests
    planning: list[tuple[int, list]] = []

    def counted(ctx, subs, **kw):
        planning.append((len(subs), []))
        listener = lambda *a: planning[-1][1].append(a[2])         # noqa: E731
        sa_event.listen(ctx.store.engine, "before_cursor_execute", listener)
        try:
            return real_plan_batch(ctx, subs, **kw)
        finally:
            sa_event.remove(ctx.store.engine, "before_cursor_execute", listener)
    real_plan_batch = sending.plan_batch
    monkeypatch.setattr(sending, "plan_batch", counted)
    hf.days["2026-07-02"] = day_items("2026-07-02", ids[15:])
    batches = {}
    with freeze_time("2026-07-02 05:00") as clock, context.open_context(cfg) as ctx:
        fetch_cycle.fetch_cycle(ctx)
        ctx.matcher.refresh(ctx.store.papers_version())
        ctx.matcher.background                                      # read once for the day, whatever the batch
        daemon = Daemon(ctx, queue.Queue())
        daemon.build(cfg)
        for hour in (6, 7):                                         # 08:30 Berlin; 09:30 Berlin = 08:30 London
            moment = datetime(2026, 7, 2, hour, 30, tzinfo=timezone.utc)
            clock.move_to(moment)
            planning.clear()
            fire_jobs_due_at(daemon.scheduler, moment)
            batches[hour] = [(n, len(statements)) for n, statements in planning]
    (alone, reads), = batches[6]
    assert alone == 1 and batches[7] == [(40, reads)]
    assert len(outbox(cfg)) == 82                                   # each subscriber's digest of each day, once


AT = textwrap.dedent('''
    import sys

    import freezegun

    from notifier import cli, sending                       # noqa: F401  (loaded before the clock starts; no
    #                                                         thread may start before `serve` blocks its signals)
    from notifier.commands import serve                     # noqa: F401

    freezegun.freeze_time(sys.argv[1], tick=True).start()   # the daemon's clock, APScheduler's too, from there on
    sys.exit(cli.main(sys.argv[2:]))
''')


def test_a_real_daemon_delivers_everyone_due_at_start_once_in_one_batch(tmp_path, db_url):
    """`notifier serve` with the real pipeline: twelve subscribers due when it starts get one digest
    each, all planned together (one plan time), and a reload sends nothing again."""
    import email
    import time
    from email import policy
    from importlib.resources import files

    from notifier.parse import parse_text
    from notifier.store import Store

    addresses = [f"user{i:02d}@example.org" for i in range(12)]
    (tmp_path / "at.py").write_text(AT)
    (tmp_path / "config.toml").write_text(
        f'[database]\nurl = "{db_url}"\n\n[sources.hf_daily]\nenabled = false\n\n'
        '[schedule]\ntime = "06:00"\ntimezone = "UTC"\n\n'
        + "".join(f'[[subscribers]]\nemail = "{a}"\nkeywords = "agents"\ntime = "06:00"\ntimezone = "UTC"\n\n'
                  for a in addresses))
    store = Store(db_url)
    papers = parse_text(files("notifier.samples").joinpath("hf_daily_papers_api_2026-06-12.json").read_text())
    store.ingest(papers, source="hf_daily", digest_day=papers[0].digest_day)
    env = dict(os.environ, NOTIFIER_STATE_DIR=str(tmp_path / "state"))
    env.pop("JOURNAL_STREAM", None)
    env.pop("NOTIFIER_CONFIG", None)
    with open(tmp_path / "daemon.log", "w") as log:
        # the daemon's clock ticks from noon, six hours after everyone's slot: due at start, and no
        # run of the test crosses into the next day's digests (the real clock did near 00:00 UTC)
        proc = subprocess.Popen([sys.executable, str(tmp_path / "at.py"), "2026-07-01 12:00", "--config",
                                 str(tmp_path / "config.toml"), "serve"], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while len([d for d in store.deliveries() if d.state == "sent"]) < len(addresses):
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "daemon.log").read_text()
            time.sleep(0.05)
        proc.send_signal(signal.SIGHUP)
        wait_for_line(tmp_path / "daemon.log", "configuration reloaded", proc)
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
    deliveries = store.deliveries()
    store.close()
    mails = [email.message_from_bytes(p.read_bytes(), policy=policy.default)
             for p in (tmp_path / "state" / "outbox").glob("*.eml")]
    assert sorted(m["To"] for m in mails) == addresses
    assert [d.state for d in deliveries] == ["sent"] * len(addresses)
    assert len({d.created_at for d in deliveries}) == 1              # planned as one batch


def wait_for_line(path, needle: str, proc, timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    while needle not in path.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, path.read_text()
        time.sleep(0.05)


def test_the_daemon_logs_an_unusable_stored_schedule_once_not_at_every_sweep(caplog):
    import logging
    from datetime import datetime, timezone
    from types import SimpleNamespace as NS

    from notifier.commands.serve import Daemon

    bad = NS(id=1, address="bad@example.org", delivery_time="25:00", timezone="UTC", frequency="daily", weekday=None)
    store = NS(path=None, subscriber_rows=lambda *columns, active_only=True: [bad], last_planned=dict)
    daemon = Daemon(NS(store=store, now=lambda: datetime.now(timezone.utc)), requests=None)
    with caplog.at_level(logging.ERROR, logger="notifier.schedule"):
        for _ in range(3):
            daemon.deliver_due()                                # as each sweep and delivery job does
    assert [r.getMessage() for r in caplog.records] == ["subscriber not scheduled"]


def test_a_subscriber_with_nothing_that_day_is_planned_once_and_still_gets_the_next_days_digest(cfg, hf, monkeypatch):
    """A day where nothing matched records an `empty` digest; it counts as that day's digest, so
    the sweeps after it do not plan the subscriber again, and the next day's digest still comes."""
    import queue

    from freezegun import freeze_time

    from notifier import context, fetch_cycle, sending
    from notifier.commands.serve import Daemon
    from notifier.subscribers import new_subscriber
    from test_pipeline import AGENTS_ARENA, SPEC_DECODING, day_items, outbox

    with freeze_time("2026-07-01 06:00"), context.open_context(cfg) as ctx:
        ctx.store.add_subscriber(new_subscriber(address="ada@example.org", keywords=['"speculative decoding"'],
                                                time="07:30"))
    hf.days["2026-07-01"] = day_items("2026-07-01", [AGENTS_ARENA])           # nothing for her
    hf.days["2026-07-02"] = day_items("2026-07-02", [SPEC_DECODING])
    planned: list[list[int]] = []
    real_deliver = sending.deliver

    def counted(ctx, subscriber_ids=None, **kw):
        planned.append(subscriber_ids)
        return real_deliver(ctx, subscriber_ids=subscriber_ids, **kw)
    monkeypatch.setattr(sending, "deliver", counted)
    with freeze_time("2026-07-01 07:00") as clock, context.open_context(cfg) as ctx:
        fetch_cycle.fetch_cycle(ctx)
        daemon = Daemon(ctx, queue.Queue())
        for moment in ("2026-07-01 07:30", "2026-07-01 07:35", "2026-07-01 12:00", "2026-07-01 23:55"):
            clock.move_to(moment)
            daemon.deliver_due()                                   # as each sweep does
        assert len(planned) == 1 and [d.state for d in ctx.store.deliveries()] == ["empty"]
        clock.move_to("2026-07-02 07:00")
        fetch_cycle.fetch_cycle(ctx)
        clock.move_to("2026-07-02 07:30")
        daemon.deliver_due()
        daemon.deliver_due()
    assert len(planned) == 2
    [mail] = outbox(cfg)
    assert "Speculative Decoding" in mail.get_body(("plain",)).get_content()


@pytest.fixture
def subscriber_lists():
    """Count the reads of every active subscriber (``Store.subscriber_rows``, ``list_subscribers``
    without ids) on an engine: -> a function that starts counting on ``ctx`` and returns the list
    of those statements so far."""
    from sqlalchemy import event as sa_event

    listening, reads = [], []

    def watch(ctx):
        def listener(conn, cursor, statement, *args):
            if "FROM subscriber" in statement and statement.rstrip().endswith("ORDER BY subscriber.id") \
                    and " IN (" not in statement:
                reads.append(statement)
        sa_event.listen(ctx.store.engine, "before_cursor_execute", listener)
        listening.append((ctx.store.engine, listener))
        return reads
    yield watch
    for engine, listener in listening:
        sa_event.remove(engine, "before_cursor_execute", listener)


def had_yesterdays(store, subs, day: str = "2026-06-30") -> None:
    """Each of ``subs`` had their digest of ``day`` (nothing in it), planned after their time on
    that day in each of their zones (Berlin, London, UTC, New York), as a digest of a day is."""
    from datetime import datetime, timezone

    from notifier.outbox import State
    from notifier.store import Planned

    store.plan_deliveries([Planned(s.id, day, [], {}, state=State.EMPTY) for s in subs],
                          created_at=datetime.fromisoformat(f"{day}T12:00").replace(tzinfo=timezone.utc))


def test_a_job_reads_everyones_schedule_once_and_whole_subscribers_only_of_those_due(cfg, hf, subscriber_lists,
                                                                                      monkeypatch):
    """A delivery job and a sweep each read the schedules of every active subscriber once, to work
    out who is due, and whole subscribers only of those due (10,000 whole subscribers took 0.2 s of
    CPU at every job and every sweep)."""
    import queue
    from datetime import datetime, timezone

    from freezegun import freeze_time

    from notifier import context, fetch_cycle
    from notifier.commands.serve import Daemon
    from notifier.subscribers import new_subscriber
    from test_pipeline import BROAD, SAMPLE, day_items, outbox

    ids = [i["paper"]["id"] for i in SAMPLE]
    with freeze_time("2026-07-01 06:00"), context.open_context(cfg) as ctx:
        subs = [ctx.store.add_subscriber(new_subscriber(address=f"u{i}@example.org", keywords=[BROAD], time=at))
                for i, at in enumerate(["07:30"] * 3 + ["09:00"] * 2)]
        had_yesterdays(ctx.store, subs)
    early = {s.id for s in subs[:3]}
    hf.days["2026-07-01"] = day_items("2026-07-01", ids[:15])
    hf.days["2026-07-02"] = day_items("2026-07-02", ids[15:])
    with freeze_time("2026-07-01 07:00") as clock, context.open_context(cfg) as ctx:
        fetch_cycle.fetch_cycle(ctx)
        daemon = Daemon(ctx, queue.Queue())
        daemon._first_sweep = False                   # no start-up fetch: this one is about subscribers
        daemon.build(cfg)
        reads, whole, listed = subscriber_lists(ctx), [], ctx.store.list_subscribers

        def listing(*args, **kwargs):                 # the whole subscribers read, as objects
            got = listed(*args, **kwargs)
            whole.extend(got)
            return got
        monkeypatch.setattr(ctx.store, "list_subscribers", listing)
        clock.move_to("2026-07-01 07:30")
        fire_jobs_due_at(daemon.scheduler, datetime(2026, 7, 1, 7, 30, tzinfo=timezone.utc))
        assert len(outbox(cfg)) == 3 and len(reads) == 1 and {s.id for s in whole} == early
        clock.move_to("2026-07-01 09:00")
        fire_jobs_due_at(daemon.scheduler, datetime(2026, 7, 1, 9, 0, tzinfo=timezone.utc))
        assert len(outbox(cfg)) == 5
        clock.move_to("2026-07-02 07:00")
        fetch_cycle.fetch_cycle(ctx)
        clock.move_to("2026-07-02 08:00")             # the 07:30 job was missed: the sweep catches up
        reads.clear(), whole.clear()
        daemon.sweep()
        assert len(outbox(cfg)) == 8 and len(reads) == 1 and {s.id for s in whole} == early


def test_each_job_delivers_exactly_to_those_due_once_whatever_kind_of_subscriber(cfg, hf, caplog):
    """One store with every kind of subscriber, on a Wednesday: daily ones in three zones, a weekly
    one on Wednesdays and one on Thursdays, a paused one, an unsubscribed one and one whose stored
    profile no longer parses. The delivery jobs of the day, each fired twice, and a sweep after each,
    send each one due their digest once, at their own time, and nobody else anything."""
    import json
    import logging
    import queue
    from datetime import datetime, timezone

    from freezegun import freeze_time

    from notifier import context, fetch_cycle
    from notifier.commands.serve import Daemon
    from notifier.subscribers import new_subscriber
    from test_pipeline import BROAD, SAMPLE, day_items, outbox

    kinds = {"berlin": ("07:30", "Europe/Berlin"), "utc": ("07:30", "UTC"), "new-york": ("07:30", "America/New_York"),
             "wednesdays": ("07:30", "Europe/Berlin"), "thursdays": ("07:30", "Europe/Berlin"),
             "paused": ("07:30", "Europe/Berlin"), "unsubscribed": ("07:30", "Europe/Berlin"),
             "unreadable": ("07:30", "Europe/Berlin")}
    hf.days["2026-07-01"] = day_items("2026-07-01", [i["paper"]["id"] for i in SAMPLE][:15])
    with freeze_time("2026-06-30 12:00"), context.open_context(cfg) as ctx:
        st = ctx.store
        subs = {kind: st.add_subscriber(new_subscriber(address=f"{kind}@example.org", keywords=[BROAD], time=at,
                                                       timezone=zone)) for kind, (at, zone) in kinds.items()}
        had_yesterdays(st, subs.values())
        st.update_subscriber(subs["wednesdays"].id, frequency="weekly", weekday="wed")
        st.update_subscriber(subs["thursdays"].id, frequency="weekly", weekday="thu")
        st.set_paused(subs["paused"].id, True)
        st.remove_subscriber(subs["unsubscribed"].id)
        st.update_subscriber(subs["unreadable"].id, profile=json.dumps(["agents", "+-moe"]))
    sent_at: dict[str, list[str]] = {}
    with freeze_time("2026-07-01 05:00") as clock, context.open_context(cfg) as ctx, \
            caplog.at_level(logging.ERROR, logger="notifier.pipeline"):
        fetch_cycle.fetch_cycle(ctx)
        daemon = Daemon(ctx, queue.Queue())
        daemon._first_sweep = False
        daemon.build(cfg)
        for hour in (5, 7, 11):               # 07:30 in Berlin, in UTC, in New York (summer time)
            moment = datetime(2026, 7, 1, hour, 30, tzinfo=timezone.utc)
            clock.move_to(moment)
            for _ in range(2):
                fire_jobs_due_at(daemon.scheduler, moment)
            daemon.sweep()
            sent_at[f"{hour}:30"] = sorted(m["To"].split("@")[0] for m in outbox(cfg))
    assert sent_at == {"5:30": ["berlin", "wednesdays"], "7:30": ["berlin", "utc", "wednesdays"],
                       "11:30": ["berlin", "new-york", "utc", "wednesdays"]}
    with context.open_context(cfg) as ctx:
        today = {(d.subscriber_id, d.state) for d in ctx.store.deliveries() if d.digest_day == "2026-07-01"}
    assert today == {(subs[kind].id, "sent") for kind in ("berlin", "utc", "new-york", "wednesdays")}
    assert {r.ctx["subscriber"] for r in caplog.records if r.getMessage() == "profile unreadable"} \
        == {"unreadable@example.org"}


# ----------------------------------------------------------------------------- a scheduled job, for real


def test_a_real_daemon_sends_a_scheduled_digest_once_and_not_again_after_a_kill_and_restart(tmp_path, db_url):
    """`notifier serve` with the real pipeline and scheduler, its clock started ten seconds
    before 07:30 (freezegun ticking in the process): at start nobody is due; ada's 07:30 job
    sends her digest. Killed (SIGKILL) and started again at 07:30:56, it sends her nothing at
    start, and its 07:31 job sends bob's digest and not ada's again."""
    import email
    import time
    from datetime import datetime, timezone
    from email import policy
    from importlib.resources import files

    from freezegun import freeze_time

    from notifier.clock import as_utc
    from notifier.outbox import State
    from notifier.parse import parse_text
    from notifier.store import Planned, Store
    from notifier.subscribers import new_subscriber

    (tmp_path / "at.py").write_text(AT)
    (tmp_path / "config.toml").write_text(f'[database]\nurl = "{db_url}"\n\n[sources.hf_daily]\nenabled = false\n\n'
                                          '[schedule]\ntime = "06:00"\ntimezone = "UTC"\n')
    store = Store(db_url)
    with freeze_time("2026-07-01 07:00"):
        papers = parse_text(files("notifier.samples").joinpath("hf_daily_papers_api_2026-06-12.json").read_text())
        store.ingest(papers, source="hf_daily", digest_day="2026-07-01")
        subs = [store.add_subscriber(new_subscriber(address=f"{who}@example.org", keywords=["agents"], time=at))
                for who, at in (("ada", "07:30"), ("bob", "07:31"))]
    for sub, minute in zip(subs, (31, 32)):      # yesterday's digest was made after yesterday's slot
        store.plan_deliveries([Planned(sub.id, "2026-06-30", [], {}, state=State.EMPTY)],
                              created_at=datetime(2026, 6, 30, 7, minute, tzinfo=timezone.utc))
    env = dict(os.environ, NOTIFIER_STATE_DIR=str(tmp_path / "state"))
    env.pop("JOURNAL_STREAM", None)
    env.pop("NOTIFIER_CONFIG", None)

    def start(at: str, log_name: str):
        with open(tmp_path / log_name, "w") as log:
            return subprocess.Popen([sys.executable, str(tmp_path / "at.py"), at, "--config", str(tmp_path / "config.toml"),
                                     "serve"], stdout=log, stderr=subprocess.STDOUT, env=env)

    def sent() -> dict[int, int]:
        out: dict[int, int] = {}
        for d in store.deliveries(states=(State.SENT,)):
            out[d.subscriber_id] = out.get(d.subscriber_id, 0) + 1
        return out

    def wait_until(done, proc, log_name: str) -> None:
        deadline = time.monotonic() + 60
        while not done():
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / log_name).read_text()
            time.sleep(0.05)

    ada, bob = (s.id for s in subs)
    first = start("2026-07-01 07:29:50", "first.log")    # 10 s to start on a loaded machine
    try:
        wait_until(lambda: sent() == {ada: 1}, first, "first.log")
    finally:
        first.kill()
        first.wait(30)
    started = [ln for ln in (tmp_path / "first.log").read_text().splitlines() if "daemon started" in ln]
    assert started and started[0] < "2026-07-01T07:30:00", started      # nobody was due at start ...
    [today] = [d for d in store.deliveries() if d.subscriber_id == ada and d.digest_day == "2026-07-01"]
    assert as_utc(today.created_at) >= datetime(2026, 7, 1, 7, 30, tzinfo=timezone.utc)   # ... the 07:30 job made it
    second = start("2026-07-01 07:30:56", "second.log")
    try:
        wait_until(lambda: bob in sent(), second, "second.log")
    finally:
        second.terminate()
        assert second.wait(30) == 0
    assert sent() == {ada: 1, bob: 1}
    deliveries = store.deliveries()
    store.close()
    mails = [email.message_from_bytes(p.read_bytes(), policy=policy.default)
             for p in (tmp_path / "state" / "outbox").glob("*.eml")]
    assert sorted(m["To"] for m in mails) == ["ada@example.org", "bob@example.org"]
    assert sorted((d.subscriber_id, d.digest_day, d.state) for d in deliveries) == [
        (ada, "2026-06-30", "empty"), (ada, "2026-07-01", "sent"), (bob, "2026-06-30", "empty"), (bob, "2026-07-01", "sent")]


def test_a_subscriber_who_pauses_during_the_start_up_fetch_gets_nothing_from_that_sweep(cfg, hf, monkeypatch):
    """The start-up sweep reads the subscribers once, after catching up the fetch (which may
    take minutes): a list read before it would still plan and send to someone who paused meanwhile."""
    import queue

    from freezegun import freeze_time

    from notifier import context, fetch_cycle
    from notifier.commands.serve import Daemon
    from notifier.subscribers import new_subscriber
    from test_pipeline import BROAD, SAMPLE, day_items, outbox

    hf.days["2026-07-01"] = day_items("2026-07-01", [i["paper"]["id"] for i in SAMPLE][:15])
    with freeze_time("2026-07-01 06:00"), context.open_context(cfg) as ctx:
        ada, bob = (ctx.store.add_subscriber(new_subscriber(address=f"{who}@example.org", keywords=[BROAD], time="07:30"))
                    for who in ("ada", "bob"))
    with freeze_time("2026-07-01 08:00"), context.open_context(cfg) as ctx:
        daemon = Daemon(ctx, queue.Queue())
        daemon.build(cfg)

        def fetch_while_bob_pauses():
            fetch_cycle.fetch_cycle(ctx)
            ctx.store.set_paused(bob.id, True)
        monkeypatch.setattr(daemon, "fetch", fetch_while_bob_pauses)
        daemon.sweep()
    assert [m["To"] for m in outbox(cfg)] == ["ada@example.org"]


def test_a_subscriber_who_pauses_while_the_batch_is_matched_gets_nothing(cfg, hf, monkeypatch):
    """The job reads its subscribers once, then matches them (seconds for thousands): a pause
    that lands meanwhile is seen when the digests are recorded, so none is planned or sent."""
    import queue

    from freezegun import freeze_time

    from notifier import context, fetch_cycle, planning
    from notifier.commands.serve import Daemon
    from notifier.subscribers import new_subscriber
    from test_pipeline import BROAD, SAMPLE, day_items, outbox

    hf.days["2026-07-01"] = day_items("2026-07-01", [i["paper"]["id"] for i in SAMPLE][:15])
    with freeze_time("2026-07-01 06:00"), context.open_context(cfg) as ctx:
        ada, bob = (ctx.store.add_subscriber(new_subscriber(address=f"{who}@example.org", keywords=[BROAD], time="07:30"))
                    for who in ("ada", "bob"))
    real_match_batch = planning.match_batch

    def match_while_bob_pauses(ctx, subs):
        ctx.store.set_paused(bob.id, True)
        yield from real_match_batch(ctx, subs)
    monkeypatch.setattr(planning, "match_batch", match_while_bob_pauses)
    with freeze_time("2026-07-01 07:30"), context.open_context(cfg) as ctx:
        fetch_cycle.fetch_cycle(ctx)
        Daemon(ctx, queue.Queue()).deliver_due()
        assert {d.subscriber_id for d in ctx.store.deliveries()} == {ada.id}
    assert [m["To"] for m in outbox(cfg)] == ["ada@example.org"]


def test_a_fetch_that_failed_at_its_time_is_retried_the_same_day_before_the_digest(cfg, hf):
    """A source down at the fetch time and back a few minutes later: a running daemon fetches
    again at a later sweep, so the day's digest has that day's papers (an arXiv listing missed
    all day is gone for good: the feed only holds the current one)."""
    import queue

    from freezegun import freeze_time

    from notifier import context
    from notifier.commands.serve import FETCH_RETRY_MINUTES, Daemon
    from notifier.subscribers import new_subscriber
    from test_pipeline import SPEC_DECODING, day_items, outbox, text_of

    cfg.schedule.time = "07:00"
    with freeze_time("2026-06-30 06:00"), context.open_context(cfg) as ctx:
        ada = ctx.store.add_subscriber(new_subscriber(address="ada@example.org", keywords=['"speculative decoding"'],
                                                      time="08:00"))
        had_yesterdays(ctx.store, [ada])
    with freeze_time("2026-07-01 06:59") as clock, context.open_context(cfg) as ctx:
        daemon = Daemon(ctx, queue.Queue())
        daemon.build(cfg)
        daemon.sweep()                                      # the start-up sweep fetches the day so far: nothing
        hf.days["2026-07-01"] = day_items("2026-07-01", [SPEC_DECODING])
        clock.move_to("2026-07-01 07:00")
        hf.down = True
        daemon.fetch()                                      # the fetch job, at its time: HF answers 503
        hf.down = False
        asked = len(hf.paths)
        clock.move_to("2026-07-01 07:05")
        daemon.sweep()                                      # too soon to ask again
        assert len(hf.paths) == asked
        clock.move_to(datetime(2026, 7, 1, 7, tzinfo=timezone.utc) + timedelta(minutes=FETCH_RETRY_MINUTES))
        daemon.sweep()
        clock.move_to("2026-07-01 08:00")
        daemon.sweep()
    [mail] = outbox(cfg)
    assert "Speculative Decoding" in text_of(mail)


def test_an_arxiv_listing_not_out_at_the_fetch_time_is_fetched_by_a_later_sweep(arxiv_cfg, hf):
    """arXiv answers "not modified" at the fetch time (the day's listing is late): a running
    daemon asks again at a later sweep, so the listing is stored under its day, not lost when
    the next day's replaces it in the feed."""
    import queue

    from freezegun import freeze_time

    from hf_server import rss_listing
    from notifier import context, fetch_cycle
    from notifier.commands.serve import FETCH_RETRY_MINUTES, Daemon

    arxiv_cfg.schedule.time = "07:00"
    hf.rss["cs.LG"] = rss_listing("2607.00001")
    with freeze_time("2026-07-06 07:00"), context.open_context(arxiv_cfg) as ctx:
        fetch_cycle.fetch_cycle(ctx)                           # Monday's listing
    with freeze_time("2026-07-07 06:59") as clock, context.open_context(arxiv_cfg) as ctx:
        daemon = Daemon(ctx, queue.Queue())
        daemon.build(arxiv_cfg)
        daemon.sweep()
        clock.move_to("2026-07-07 07:00")
        daemon.fetch()                                      # Tuesday's listing is not out yet
        hf.rss["cs.LG"] = rss_listing("2607.00002")
        clock.move_to(datetime(2026, 7, 7, 7, tzinfo=timezone.utc) + timedelta(minutes=FETCH_RETRY_MINUTES))
        daemon.sweep()
        assert [p.arxiv_id for p in ctx.store.papers_on_day("2026-07-07")] == ["2607.00002"]


def test_stopping_the_daemon_while_a_fetch_waits_to_retry_ends_the_fetch_at_once(cfg, hf, monkeypatch):
    """A source answering 503 (or 429 with a Retry-After of minutes): a stop or reload waits for
    the job in flight, so a fetch waiting out its backoff must end at once (systemd kills a
    daemon still stopping after TimeoutStopSec), recorded as failed, asking nothing more."""
    import queue
    import threading

    from notifier import context
    from notifier.commands.serve import Daemon
    from notifier.fetch import Fetcher

    cfg.sources.max_attempts = 5
    backing_off = threading.Event()

    def minutes_of_backoff(fetcher, attempt, resp):
        backing_off.set()
        return 600.0
    monkeypatch.setattr(Fetcher, "_backoff", minutes_of_backoff)
    hf.down = True
    with context.open_context(cfg) as ctx:
        daemon = Daemon(ctx, queue.Queue())
        job = threading.Thread(target=daemon.fetch, daemon=True)
        job.start()
        assert backing_off.wait(30)
        daemon.stop_jobs()
        job.join(30)
        assert not job.is_alive()
        assert len(hf.paths) == 1
        assert ctx.store.last_fetch("hf_daily", outcome=("running", "ok")) is None
        assert "stopping" in ctx.store.last_fetch("hf_daily", outcome="failed").error


def test_a_source_down_all_day_is_asked_again_less_and_less_often(cfg, hf, monkeypatch):
    """Each wait before fetching again is as long as the source has been failing since the fetch
    time (at least FETCH_RETRY_MINUTES): five more tries over the day, not one every hour."""
    import queue

    from freezegun import freeze_time

    from notifier import context
    from notifier.commands.serve import Daemon

    cfg.schedule.time = "07:00"
    hf.down = True
    with freeze_time("2026-07-01 07:00") as clock, context.open_context(cfg) as ctx:
        daemon = Daemon(ctx, queue.Queue())
        daemon.build(cfg)
        fetched, real_fetch = [], daemon.fetch
        monkeypatch.setattr(daemon, "fetch", lambda: (fetched.append(f"{ctx.now():%H:%M}"), real_fetch()))
        for minutes in range(0, 17 * 60, 5):                # a sweep every 5 minutes until midnight
            clock.move_to(datetime(2026, 7, 1, 7, tzinfo=timezone.utc) + timedelta(minutes=minutes))
            daemon.sweep()
    assert fetched == ["07:00", "08:00", "09:00", "11:00", "15:00", "23:00"]


def test_a_first_digest_before_the_subscribers_time_leaves_the_next_at_their_time_not_midnight(cfg, hf):
    """Ada signs up at 06:00 in Berlin for 07:30 and gets a first digest at once. The next comes
    at 07:30 the next morning. The due rule compared instants only: that first digest, planned
    before 07:30, left her due all day with that day's digest already made, so the next day's was
    planned by the first sweep after midnight, and every day after it too."""
    import queue
    from datetime import datetime, timezone

    from freezegun import freeze_time

    from notifier import context
    from notifier.clock import as_utc
    from notifier.commands.serve import Daemon
    from notifier.subscribers import new_subscriber
    from test_pipeline import SAMPLE, day_items

    ids = [i["paper"]["id"] for i in SAMPLE]
    hf.days.update({day: day_items(day, ids[n * 5:n * 5 + 5])
                    for n, day in enumerate(("2026-06-30", "2026-07-01", "2026-07-02"))})
    start = datetime(2026, 7, 1, 4, tzinfo=timezone.utc)                   # 06:00 in Berlin
    with freeze_time(start) as clock, context.open_context(cfg) as ctx:
        ctx.store.add_subscriber(new_subscriber(address="ada@example.org", keywords=["agents, reasoning"],
                                                time="07:30", timezone="Europe/Berlin"))
        daemon = Daemon(ctx, queue.Queue())
        daemon.build(cfg)
        for step in range(0, 2 * 30):                                      # a sweep every 30 minutes
            clock.move_to(start + timedelta(minutes=30 * step))
            daemon.sweep()
        planned = [(d.digest_day, f"{as_utc(d.created_at):%m-%d %H:%M}") for d in ctx.store.deliveries()]
    assert planned == [("2026-07-01", "07-01 04:00"), ("2026-07-02", "07-02 05:30")]
