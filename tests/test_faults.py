"""Fault injection with real processes (issue 7): the daemon killed mid-batch, SMTP down for two
days, two runs at once, a permanent and a transient SMTP refusal. The SMTP server is a real
aiosmtpd server on 127.0.0.1; the daemon and `notifier run` are real subprocesses, except where a
frozen clock has to move days (then the real CLI entry point runs in-process under freezegun)."""
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from importlib.resources import files

import pytest
from aiosmtpd.controller import Controller
from freezegun import freeze_time

from notifier.cli import main
from notifier.commands.serve import STOP, serve
from notifier.config import load_config
from notifier.parse import parse_text
from notifier.store import Store
from notifier.subscribers import new_subscriber
from smtp_server import Recorder, free_port

SAMPLE = "hf_daily_papers_api_2026-06-12.json"
SAMPLE_2 = "hf_daily_papers_api_2026-08-03_3items.json"


# ----------------------------------------------------------------------------- SMTP server
class SMTPServer:
    def __init__(self, port: int | None = None, delay: float = 0.0, hold_at: int = 0):
        self.port = port or free_port()
        self.handler = Recorder(delay, hold_at)
        self.controller = None

    def start(self) -> "SMTPServer":
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp():
    servers = []

    def make(**kw) -> SMTPServer:
        servers.append(SMTPServer(**kw))
        return servers[-1]
    yield make
    for s in servers:
        s.handler.release.set()
        s.stop()


# ----------------------------------------------------------------------------- setup
def write_config(tmp_path, port: int, addresses: list[str], keywords: str = "agents", max_attempts: int = 8,
                 url: str | None = None) -> str:
    lines = [f'[database]\nurl = "{url or sqlite_url(tmp_path)}"\n',
             "[sources.hf_daily]\nenabled = false\n",
             f'[email]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
             'from = "Paper digest <digest@example.org>"\ntimeout_seconds = 5\n',
             '[schedule]\ntime = "00:00"\ntimezone = "UTC"\n',
             f"[delivery]\nretry_base_seconds = 300\nmax_attempts = {max_attempts}\n"]
    for a in addresses:
        lines.append(f'[[subscribers]]\nemail = "{a}"\nkeywords = \'{keywords}\'\ntime = "00:00"\ntimezone = "UTC"\n')
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines))
    return str(path)


def ingest(url: str, sample: str = SAMPLE, day: str | None = None) -> list[str]:
    papers = parse_text(files("notifier.samples").joinpath(sample).read_text(encoding="utf-8"))
    day = day or papers[0].digest_day
    store = Store(url)
    try:
        run_id = store.start_fetch("hf_daily", day)
        result = store.ingest(papers, source="hf_daily", digest_day=day)
        store.finish_fetch(run_id, outcome="ok", http_status=200, found=result.found, new=result.new)
    finally:
        store.close()
    return [p.title for p in papers]


def sqlite_url(tmp_path) -> str:
    """A SQLite file in the test's folder (the tests that replace the file need SQLite; the others
    run on the suite's backend, ``db_url``)."""
    return f"sqlite:///{tmp_path / 'notifier.sqlite'}"


def prepared(tmp_path, server: SMTPServer, addresses: list[str], url: str, **kw) -> tuple[str, str, dict]:
    """A config for these subscribers, the sample digest stored -> (config path, database url, env)."""
    config = write_config(tmp_path, server.port, addresses, url=url, **kw)
    ingest(url)
    return config, url, env_for(tmp_path)


def states(url: str) -> dict[str, list[str]]:
    """address -> states of its deliveries, oldest first."""
    store = Store(url)
    try:
        subs = {s.id: s.address for s in store.list_subscribers(active_only=False)}
        out: dict[str, list[str]] = {}
        for d in store.deliveries():
            out.setdefault(subs[d.subscriber_id], []).append(d.state)
        return out
    finally:
        store.close()


def env_for(tmp_path) -> dict:
    env = dict(os.environ, NOTIFIER_STATE_DIR=str(tmp_path / "state"))
    env.pop("JOURNAL_STREAM", None)
    env.pop("NOTIFIER_CONFIG", None)
    return env


def notifier(config: str, *args: str, env: dict, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "notifier", "--config", config, *args],
                            stdout=log, stderr=subprocess.STDOUT, env=env)


@contextmanager
def running(config: str, *args: str, env: dict, log_path):
    """`notifier <args>` as a real process logging to ``log_path``; when the block ends it gets
    SIGTERM unless it has ended, and SIGKILL if it has not stopped 20 s later."""
    with open(log_path, "ab") as log:
        proc = notifier(config, *args, env=env, log=log)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def kill_while_held(proc: subprocess.Popen, server: SMTPServer, what: str) -> None:
    """SIGKILL ``proc`` while the server holds a message unanswered, then let the server answer."""
    try:
        assert server.handler.held.wait(30), f"the process never reached {what}"
        proc.kill()
        proc.wait(10)
    finally:
        server.handler.release.set()


def received(server: SMTPServer, address: str) -> bool:
    return address in server.handler.per_recipient()


def wait_for(predicate, timeout: float, what: str, poll: float = 0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def report(name: str, **numbers) -> None:
    print(f"\nFAULT {name}: " + ", ".join(f"{k}={v}" for k, v in numbers.items()))


# ----------------------------------------------------------------------------- 1. SIGKILL mid-batch
N_SUBSCRIBERS = 20
KILL_AT = 8


def test_daemon_killed_mid_batch_and_restarted_sends_each_digest_once(tmp_path, db_url, smtp):
    server = smtp(delay=0.1, hold_at=KILL_AT).start()
    addresses = [f"user{i:02d}@example.org" for i in range(N_SUBSCRIBERS)]
    config, url, env = prepared(tmp_path, server, addresses, db_url)
    started = time.monotonic()
    with running(config, "serve", env=env, log_path=tmp_path / "daemon.log") as first:
        kill_while_held(first, server, "message 8")       # message 8 arrived, its 250 not yet answered
    received_before_kill = len(server.handler.snapshot())
    killed_in = {a: s for a, s in states(url).items() if "sending" in s}

    with running(config, "serve", env=env, log_path=tmp_path / "daemon.log") as second:
        def done():
            st = states(url)
            return (len(st) == N_SUBSCRIBERS and all(s == ["sent"] for s in st.values())
                    and len(server.handler.per_recipient()) == N_SUBSCRIBERS)
        wait_for(done, 40, "every delivery sent after the restart", poll=0.1)
    elapsed = time.monotonic() - started

    messages = server.handler.snapshot()
    per_recipient = server.handler.per_recipient()
    copies = Counter(m["To"] for m in messages)
    report("sigkill", subscribers=N_SUBSCRIBERS, received_before_kill=received_before_kill,
           in_flight_at_kill=len(killed_in), raw_messages=len(messages),
           recipients_with_two_copies=sum(1 for c in copies.values() if c > 1),
           distinct_per_recipient=sorted({len(v) for v in per_recipient.values()}),
           smtp_sessions=server.handler.sessions, seconds=round(elapsed, 1))
    assert sorted(per_recipient) == addresses
    assert all(len(ids) == 1 for ids in per_recipient.values()), per_recipient
    (in_flight,) = killed_in                        # the kill caught one message in flight ...
    assert in_flight == addresses[KILL_AT - 1] and received_before_kill == KILL_AT
    assert len(messages) == N_SUBSCRIBERS + 1       # ... the only one that arrived twice
    assert copies[in_flight] == 2 and len(per_recipient[in_flight]) == 1
    assert second.returncode == 0


def test_daemon_killed_on_the_last_message_resends_it_without_waiting_for_tomorrow(tmp_path, db_url, smtp):
    """Nobody else is due after the restart, so only a retry sweep sends the interrupted digest."""
    server = smtp(hold_at=3).start()
    addresses = [f"last{i}@example.org" for i in range(3)]
    config, url, env = prepared(tmp_path, server, addresses, db_url)
    with running(config, "serve", env=env, log_path=tmp_path / "daemon.log") as first:
        kill_while_held(first, server, "the last message")
    assert states(url)[addresses[-1]] == ["sending"]
    with running(config, "serve", env=env, log_path=tmp_path / "daemon.log"):
        wait_for(lambda: all(s == ["sent"] for s in states(url).values()), 20, "the interrupted digest sent",
                 poll=0.1)
    ids = server.handler.per_recipient()
    assert sorted(ids) == addresses and all(len(v) == 1 for v in ids.values())
    assert len(server.handler.snapshot()) == 4


def test_sigterm_mid_batch_finishes_the_message_in_flight_and_a_restart_sends_the_rest_once(tmp_path, db_url, smtp):
    server = smtp(hold_at=4).start()
    addresses = [f"term{i}@example.org" for i in range(8)]
    config, url, env = prepared(tmp_path, server, addresses, db_url)
    log_path = tmp_path / "daemon.log"
    with running(config, "serve", env=env, log_path=log_path) as first:
        assert server.handler.held.wait(30), "the daemon never reached message 4"
        first.terminate()                            # while message 4 is unanswered
        wait_for(lambda: b"stopping: waiting for the job in flight" in log_path.read_bytes(),
                 20, "the daemon to start stopping")
        server.handler.release.set()
        assert first.wait(20) == 0
    after_stop = states(url)
    assert [after_stop[a] for a in addresses[:4]] == [["sent"]] * 4      # nothing half-sent
    assert not any("sending" in v for v in after_stop.values())
    with running(config, "serve", env=env, log_path=log_path):
        wait_for(lambda: len(states(url)) == 8 and all(v == ["sent"] for v in states(url).values()), 30,
                 "the rest sent after the restart", poll=0.1)
    assert sorted(m["To"] for m in server.handler.snapshot()) == addresses      # exactly one each


def test_run_while_the_daemon_delivers_is_refused_and_duplicates_nothing(tmp_path, db_url, smtp):
    server = smtp(hold_at=2).start()
    addresses = [f"busy{i}@example.org" for i in range(4)]
    config, url, env = prepared(tmp_path, server, addresses, db_url)
    with running(config, "serve", env=env, log_path=tmp_path / "daemon.log") as daemon:
        try:
            assert server.handler.held.wait(30), "the daemon never reached message 2"
            run = subprocess.run([sys.executable, "-m", "notifier", "--config", config, "run", "--all"],
                                 capture_output=True, text=True, env=env, timeout=60)
        finally:
            server.handler.release.set()
        wait_for(lambda: len(states(url)) == 4 and all(v == ["sent"] for v in states(url).values()), 30,
                 "the daemon's batch sent", poll=0.1)
    assert run.returncode == 1
    assert run.stderr == (f"notifier: error: another notifier (pid {daemon.pid}) is already running: "
                          f"{lock_file(tmp_path, url)} is locked; stop it first "
                          "(systemctl stop notifier) or let it finish\n")
    assert sorted(m["To"] for m in server.handler.snapshot()) == addresses


def test_a_reload_with_a_bad_subscriber_is_one_error_line_and_the_daemon_runs_on(tmp_path, db_url, smtp):
    server = smtp().start()
    config, url, env = prepared(tmp_path, server, ["ann@example.org"], db_url)
    log_path = tmp_path / "daemon.log"
    with running(config, "serve", env=env, log_path=log_path) as daemon:
        wait_for(lambda: received(server, "ann@example.org"), 30, "ann's digest")
        subscribe = subprocess.run([sys.executable, "-m", "notifier", "--config", config, "subscribe",
                                    "bob@example.org", "-k", "agents", "--time", "00:00", "--timezone", "UTC"],
                                   capture_output=True, text=True, env=env, timeout=60)
        assert subscribe.returncode == 0, subscribe.stderr
        write_config(tmp_path, server.port, ["ann@example.org", "carol@@example.org"], url=db_url)
        daemon.send_signal(signal.SIGHUP)
        # The old configuration starts again, and its first sweep finds bob, added with the CLI.
        wait_for(lambda: daemon.poll() is not None or received(server, "bob@example.org"), 30,
                 "bob's digest after the reload")
        assert daemon.poll() is None, log_path.read_text()
    log = log_path.read_text()
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1, log
    assert "reload failed, keeping the running configuration" in errors[0] and "carol@@example.org" in errors[0]
    assert "configuration reloaded" not in log and "Traceback" not in log
    events = [line.split(": ", 1)[1].split(" subscriber=")[0] for line in log.splitlines() if "=ann@" in line]
    assert events == ["digest planned", "delivery sent"]          # each event logged once
    assert states(url) == {"ann@example.org": ["sent"], "bob@example.org": ["sent"]}
    assert daemon.returncode == 0


def test_a_database_file_replaced_under_the_daemon_is_reopened_and_its_subscribers_served(tmp_path, smtp, caplog):
    """An operator restores or recreates the database while the daemon runs: the daemon must
    serve the file now at the path, not the one it opened (and not read its own old log into
    the new file)."""
    server = smtp().start()
    config = load_config(write_config(tmp_path, server.port, []), env={"NOTIFIER_STATE_DIR": str(tmp_path)})
    add_subscriber(sqlite_url(tmp_path), "ann@example.org")
    replacement = f"sqlite:///{tmp_path / 'restored.sqlite'}"
    add_subscriber(replacement, "bob@example.org")
    requests: queue.Queue = queue.Queue()
    daemon = threading.Thread(target=serve, args=(config, requests, lambda: config), kwargs={"sweep_minutes": 0.01})
    with caplog.at_level(logging.INFO):
        daemon.start()
        try:
            wait_for(lambda: received(server, "ann@example.org"), 30, "ann's digest")
            os.replace(tmp_path / "restored.sqlite", tmp_path / "notifier.sqlite")
            wait_for(lambda: received(server, "bob@example.org"), 30, "bob's digest from the restored file")
        finally:
            requests.put(STOP)
            daemon.join(30)
    assert not daemon.is_alive()
    assert [r.getMessage() for r in caplog.records].count("database file replaced, reopening") == 1
    assert states(sqlite_url(tmp_path)) == {"bob@example.org": ["sent"]}        # the restored file, intact
    assert sorted(m["To"] for m in server.handler.snapshot()) == ["ann@example.org", "bob@example.org"]


def add_subscriber(url: str, address: str) -> None:
    """A subscriber added with the CLI, due now, in a database holding the sample digest."""
    ingest(url)
    store = Store(url)
    try:
        store.add_subscriber(new_subscriber(address=address, keywords=["agents"], time="00:00", timezone="UTC"))
    finally:
        store.close()


# ----------------------------------------------------------------------------- 2. SMTP down two days
def ingest_as_day(url: str, sample: str, day: str) -> list[str]:
    from dataclasses import replace

    papers = [replace(p, digest_day=None) for p in
              parse_text(files("notifier.samples").joinpath(sample).read_text(encoding="utf-8"))]
    store = Store(url)
    try:
        store.ingest(papers, source="hf_daily", digest_day=day)
    finally:
        store.close()
    return [p.title for p in papers]


def run_cli(config: str, *args: str) -> int:
    return main(["--config", config, *args])


def test_smtp_down_for_two_days_then_up_sends_one_catch_up_covering_both(tmp_path, db_url, smtp, monkeypatch):
    monkeypatch.setenv("NOTIFIER_STATE_DIR", str(tmp_path / "state"))
    server = smtp()                                # not started yet: connection refused
    addresses = ["ann@example.org", "bob@example.org"]
    config = write_config(tmp_path, server.port, addresses, url=db_url)
    url = db_url
    with freeze_time("2026-06-12 09:00:00", real_asyncio=True) as clock:
        ingest_as_day(url, SAMPLE, "2026-06-12")       # fetched an hour before the delivery time
        clock.tick(3600)
        assert run_cli(config, "run", "--all") == 3           # waiting for a retry
    with freeze_time("2026-06-13 09:00:00", real_asyncio=True) as clock:
        day2 = ingest_as_day(url, SAMPLE_2, "2026-06-13")
        clock.tick(3600)
        assert run_cli(config, "run", "--all") == 3
    assert states(url) == {a: ["superseded", "retry"] for a in addresses}
    server.start()
    with freeze_time("2026-06-14 10:00:00", real_asyncio=True):
        assert run_cli(config, "run", "--all") == 0
        assert run_cli(config, "run", "--all") == 0          # and a second run the same day: nothing
    messages = server.handler.snapshot()
    report("smtp-down-two-days", subscribers=len(addresses), messages=len(messages),
           subjects=[m["Subject"] for m in messages])
    assert sorted(m["To"] for m in messages) == addresses
    for m in messages:
        assert "catch-up Fri 12 – Sat 13 Jun" in m["Subject"]
        text = m.get_body(("plain",)).get_content()
        assert "Catch-up digest covering 2 days" in text
        assert "WebChallenger" in text                          # from the first missed day
        assert "EMBL AI Librarian" in text and day2[1].startswith("EMBL")   # from the second
    assert states(url) == {a: ["superseded", "superseded", "sent"] for a in addresses}


def lock_file(tmp_path, url: str):
    """Beside a SQLite database (``DaemonLock.of``), else in the state folder."""
    return tmp_path / ("notifier.lock" if url.startswith("sqlite") else "state/notifier.lock")


# ----------------------------------------------------------------------------- 3. two runs at once
def test_two_runs_started_at_once_send_no_duplicate(tmp_path, db_url, smtp):
    server = smtp(delay=0.05).start()
    addresses = [f"both{i}@example.org" for i in range(6)]
    config, url, env = prepared(tmp_path, server, addresses, db_url)     # schema ready before the race, as on any host
    cmd = [sys.executable, "-m", "notifier", "--config", config, "run", "--all"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    lock = lock_file(tmp_path, url)
    for p, other, (out, err) in zip(procs, reversed(procs), outs):
        if p.returncode == 1:
            assert err == (f"notifier: error: another notifier (pid {other.pid}) is already running: {lock} "
                           "is locked; stop it first (systemctl stop notifier) or let it finish\n")
        else:
            assert p.returncode == 0, err
    messages = server.handler.snapshot()
    report("two-runs", subscribers=len(addresses), exit_codes=[p.returncode for p in procs], messages=len(messages))
    assert sorted(m["To"] for m in messages) == addresses
    assert all(s == ["sent"] for s in states(url).values())


# ----------------------------------------------------------------------------- 4. 5xx and 4xx
def test_permanent_5xx_fails_that_recipient_only_and_status_asks_for_attention(tmp_path, db_url, smtp):
    server = smtp().start()
    server.handler.rcpt_replies = {"gone@example.org": ["550 5.1.1 No such user here"]}
    addresses = ["gone@example.org", "ok1@example.org", "ok2@example.org"]
    config, url, env = prepared(tmp_path, server, addresses, db_url)
    run = subprocess.run([sys.executable, "-m", "notifier", "--config", config, "run", "--all"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 3, run.stderr                   # a digest failed: the timer unit shows it
    assert "deliver gone@example.org: failed, " in run.stdout and "550 5.1.1 No such user here" in run.stdout
    assert sorted(m["To"] for m in server.handler.snapshot()) == ["ok1@example.org", "ok2@example.org"]
    assert states(url) == {"gone@example.org": ["failed"], "ok1@example.org": ["sent"], "ok2@example.org": ["sent"]}
    status = subprocess.run([sys.executable, "-m", "notifier", "--config", config, "status"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert status.returncode == 3
    (line,) = [ln for ln in status.stdout.splitlines() if ln.strip().startswith("failed")]
    assert "gone@example.org" in line and "550 5.1.1 No such user here" in line


def test_transient_4xx_is_retried_on_a_later_run_after_its_backoff(tmp_path, db_url, smtp, monkeypatch):
    monkeypatch.setenv("NOTIFIER_STATE_DIR", str(tmp_path / "state"))
    server = smtp().start()
    server.handler.rcpt_replies = {"busy@example.org": ["451 4.3.0 Try again later"]}
    config = write_config(tmp_path, server.port, ["busy@example.org", "ok@example.org"], url=db_url)
    url = db_url
    with freeze_time("2026-06-12 10:00:00", real_asyncio=True) as clock:
        ingest_as_day(url, SAMPLE, "2026-06-12")
        assert run_cli(config, "run", "--all") == 3
        assert states(url) == {"busy@example.org": ["retry"], "ok@example.org": ["sent"]}
        clock.tick(120)                                      # backoff is 300 s: too early
        # still waiting: 3 on SQLite (one process answers for all); a shared database's run answers for what it tried
        assert run_cli(config, "run", "--all") == (3 if url.startswith("sqlite") else 0)
        assert states(url)["busy@example.org"] == ["retry"]
        clock.tick(200)
        assert run_cli(config, "run", "--all") == 0
    assert states(url) == {"busy@example.org": ["sent"], "ok@example.org": ["sent"]}
    ids = server.handler.per_recipient()
    assert {a: len(v) for a, v in ids.items()} == {"busy@example.org": 1, "ok@example.org": 1}
    store = Store(url)
    try:
        (busy,) = [d for d in store.deliveries() if d.key.startswith(f"{store.find_subscriber('busy@example.org').id}:")]
        assert busy.attempts == 2 and busy.last_error is None
    finally:
        store.close()


def test_smtp_down_long_enough_to_exhaust_retries_still_catches_up_the_missed_papers(tmp_path, db_url, smtp, monkeypatch):
    """The daemon retries every few minutes, so a day-long outage uses up a digest's attempts; its
    papers must still reach the subscriber in the catch-up once SMTP is back."""
    monkeypatch.setenv("NOTIFIER_STATE_DIR", str(tmp_path / "state"))
    server = smtp()                                # not started: connection refused
    config = write_config(tmp_path, server.port, ["ann@example.org"], max_attempts=2, url=db_url)
    url = db_url
    with freeze_time("2026-06-12 09:00:00", real_asyncio=True) as clock:
        ingest_as_day(url, SAMPLE, "2026-06-12")       # fetched an hour before the delivery time
        clock.tick(3600)
        assert run_cli(config, "run", "--all") == 3
        clock.tick(400)
        assert run_cli(config, "run", "--all") == 3
    assert states(url) == {"ann@example.org": ["failed"]}          # gave up: shown by status
    with freeze_time("2026-06-13 09:00:00", real_asyncio=True) as clock:
        ingest_as_day(url, SAMPLE_2, "2026-06-13")
        clock.tick(3600)
        assert run_cli(config, "run", "--all") == 3
    server.start()
    with freeze_time("2026-06-14 10:00:00", real_asyncio=True):
        assert run_cli(config, "run", "--all") == 0
    (msg,) = server.handler.snapshot()
    body = msg.get_body(("plain",)).get_content()
    report("retries-exhausted", subject=msg["Subject"], states=states(url))
    assert "EMBL AI Librarian" in body
    assert "WebChallenger" in body, "the papers of the digest that gave up were never sent"


def test_smtp_back_later_on_the_second_day_sends_one_message_labelled_as_a_catch_up(tmp_path, db_url, smtp, monkeypatch):
    """The retry of day 2's digest, which absorbed day 1's, goes out when SMTP is back that day."""
    monkeypatch.setenv("NOTIFIER_STATE_DIR", str(tmp_path / "state"))
    server = smtp()
    config = write_config(tmp_path, server.port, ["ann@example.org"], url=db_url)
    url = db_url
    with freeze_time("2026-06-12 09:00:00", real_asyncio=True) as clock:
        ingest_as_day(url, SAMPLE, "2026-06-12")
        clock.tick(3600)
        assert run_cli(config, "run", "--all") == 3
    with freeze_time("2026-06-13 09:00:00", real_asyncio=True) as clock:
        ingest_as_day(url, SAMPLE_2, "2026-06-13")
        clock.tick(3600)
        assert run_cli(config, "run", "--all") == 3
        server.start()
        clock.tick(3600)
        assert run_cli(config, "run", "--all") == 0
    (msg,) = server.handler.snapshot()
    assert "catch-up Fri 12 – Sat 13 Jun" in msg["Subject"]
    body = msg.get_body(("plain",)).get_content()
    assert "WebChallenger" in body and "EMBL AI Librarian" in body
    assert states(url) == {"ann@example.org": ["superseded", "sent"]}


def test_run_killed_mid_batch_then_run_again_sends_each_digest_once(tmp_path, db_url, smtp):
    """The timer mode: a `notifier run` killed in flight; the next run resends with the same id."""
    server = smtp(hold_at=3).start()
    addresses = [f"timer{i}@example.org" for i in range(5)]
    config, url, env = prepared(tmp_path, server, addresses, db_url)
    with running(config, "run", "--all", env=env, log_path=tmp_path / "run.log") as first:
        kill_while_held(first, server, "message 3")
    assert sum("sending" in v for v in states(url).values()) == 1
    again = subprocess.run([sys.executable, "-m", "notifier", "--config", config, "run", "--all"],
                           capture_output=True, env=env, timeout=60)
    assert again.returncode == 0
    assert all(v == ["sent"] for v in states(url).values()) and len(states(url)) == 5
    ids = server.handler.per_recipient()
    assert sorted(ids) == addresses and all(len(v) == 1 for v in ids.values())
    assert len(server.handler.snapshot()) == 6          # the one in flight arrived twice, same Message-ID


# ----------------------------------------------------------------------------- 5. a zone changed meanwhile
def test_a_zone_changed_while_a_digest_waits_for_a_retry_brings_one_catch_up_not_two_messages(
        tmp_path, db_url, smtp, monkeypatch):
    """New York 07:30: the day's digest is planned and refused (451). The subscriber moves to Tokyo,
    whose 07:30 of the next day comes before the retry: one message, both days' papers."""
    monkeypatch.setenv("NOTIFIER_STATE_DIR", str(tmp_path / "state"))
    server = smtp().start()
    server.handler.rcpt_replies = {"ann@example.org": ["451 4.3.0 Try again later"]}
    config = write_config(tmp_path, server.port, [], url=db_url)
    with freeze_time("2026-06-12 10:00:00", real_asyncio=True) as clock:
        assert run_cli(config, "subscribe", "ann@example.org", "-k", "agents", "--time", "07:30",
                       "--timezone", "America/New_York") == 0
        ingest_as_day(db_url, SAMPLE, "2026-06-12")
        clock.move_to("2026-06-12 11:30:00")                         # 07:30 in New York
        assert run_cli(config, "run") == 3
        assert states(db_url) == {"ann@example.org": ["retry"]}
        assert run_cli(config, "edit", "ann@example.org", "--timezone", "Asia/Tokyo") == 0
        clock.move_to("2026-06-12 22:00:00")
        day2 = ingest_as_day(db_url, SAMPLE_2, "2026-06-13")
        clock.move_to("2026-06-12 22:30:00")                         # 07:30 on 13 June in Tokyo
        assert run_cli(config, "run") == 0
        clock.tick(3600)
        assert run_cli(config, "run") == 0
    (msg,) = server.handler.snapshot()
    body = msg.get_body(("plain",)).get_content()
    assert "WebChallenger" in body and day2[1] in body
    assert states(db_url) == {"ann@example.org": ["superseded", "sent"]}
