"""`notifier serve` as a real process: a late start catches up once, SIGTERM lets the delivery in
flight finish, a second daemon is refused. The pipeline is a stand-in so these tests are about
the daemon's scheduling and signals only (the outbox is tested with the pipeline)."""
import os
import signal
import subprocess
import sys
import textwrap

import pytest

FAKE = textwrap.dedent('''
    import contextlib, sys, types
    from datetime import datetime, timedelta, timezone
    from types import SimpleNamespace as NS

    now = datetime.now(timezone.utc)
    subs = [NS(id=1, address="late@example.org", delivery_time="00:00", timezone="UTC", frequency="daily", weekday=None),
            NS(id=2, address="done@example.org", delivery_time="00:00", timezone="UTC", frequency="daily", weekday=None)]
    last = {1: now - timedelta(days=3), 2: now}

    class Store:
        path = None
        def empty_wal(self): pass
        def list_subscribers(self, active_only=True): return subs
        def last_planned(self): return dict(last)
        def fetch_sources(self): return ["hf_daily"]
        def last_fetch(self, source): return NS(started_at=now)

    @contextlib.contextmanager
    def open_context(config, **kw):
        yield NS(config=config, store=Store(), now=lambda: datetime.now(timezone.utc))

    def deliver(ctx, subscriber_ids=None, dry_run=False, stop=None):
        print("deliver start", subscriber_ids, flush=True)
        sys.stdin.readline()                 # the test says when the message is "sent"
        last[subscriber_ids[0]] = datetime.now(timezone.utc)
        print("deliver done", subscriber_ids, flush=True)
        return [NS(subscriber="late@example.org", state="sent", papers=2, error=None)]

    fake = types.ModuleType("notifier.pipeline")
    fake.open_context, fake.deliver = open_context, deliver
    fake.recover = lambda ctx, **kw: print("recover", flush=True) or 0
    fake.send_pending = lambda ctx, **kw: []
    fake.fetch_cycle = lambda ctx: print("fetch", flush=True) or []
    sys.modules["notifier.pipeline"] = fake
    from notifier.cli import main
    sys.exit(main(sys.argv[1:]))
''')


@pytest.fixture
def daemon(tmp_path):
    (tmp_path / "fake.py").write_text(FAKE)
    (tmp_path / "config.toml").write_text('[schedule]\ntime = "00:00"\ntimezone = "UTC"\n')
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
    read_until(daemon, "stopping: waiting for the job in flight")
    assert daemon.poll() is None
    daemon.stdin.write("sent\n")
    daemon.stdin.flush()
    lines = read_until(daemon, "configuration reloaded")
    assert "deliver done [1]" in lines and any("daemon started" in line for line in lines)
    daemon.send_signal(signal.SIGINT)                  # Ctrl-C stops like SIGTERM
    rest, _ = daemon.communicate(timeout=30)
    assert "deliver start" not in rest and "daemon stopped" in rest and "Traceback" not in rest
    assert daemon.returncode == 0


def test_a_sweep_after_stop_leaves_the_scheduler_alone():
    """Stopping holds APScheduler's job-store lock while it waits for the job in flight; a sweep
    that resynced its jobs then would wait for that lock for ever (the daemon hung on SIGINT
    right after a reload). Once stop is requested, a sweep touches neither the jobs nor a send."""
    from types import SimpleNamespace as NS

    from notifier.commands.serve import Daemon

    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError(f"the scheduler was used after stop: {name}")

    store = NS(path=None, list_subscribers=lambda active_only=True: [
        NS(id=1, address="a@example.org", delivery_time="00:00", timezone="UTC", frequency="daily", weekday=None)])
    daemon = Daemon(NS(store=store), requests=None)
    daemon.scheduler = Untouchable()
    daemon.stop_jobs()
    daemon.sweep()                                     # returns without touching the scheduler
    assert daemon.stopping.is_set()
