"""`notifier serve`: the long-running daemon for systemd.

Start: load the config, take the single-daemon lock, resolve deliveries a crash left in
`sending` (``recover``), then run an APScheduler ``BackgroundScheduler``: the fetch cycle at
``[schedule] time``/``timezone``, a delivery job at every moment a subscriber's digest is due
(their local time; everyone due then is planned and sent as one batch), and a sweep (at start
and every few minutes) that picks up subscribers added or changed with the CLI, fetches again
while the day's fetch fails (less and less often), and delivers to everyone who is due but was
missed, in one batch too (a late start delivers once).

Signals are taken synchronously: ``run`` blocks SIGTERM, SIGINT and SIGHUP in the main thread
before any other thread exists (threads inherit the mask), and one small thread receives them
with ``signal.sigwait`` and puts a request on a queue that the main thread waits on. No Python
signal handler ever runs, so nothing is raised into APScheduler's loop or into a job, and no
lock is taken at an arbitrary point of an interrupted thread (a handler that calls
``Event.set()`` or ``scheduler.shutdown()`` can deadlock on a lock the main thread holds, and
a handler that raises can land inside a job). All work happens in the main thread:

    stop    SIGTERM, SIGINT: no new job starts, the job in flight finishes its current message,
            ``shutdown(wait=True)``, exit 0. Unsent digests stay pending for the next start.
    reload  SIGHUP: the same drain, then start again with the re-read configuration. If reading
            it or starting with it fails (bad TOML, a bad ``[[subscribers]]`` entry, a database
            that cannot be opened), one error line, and the previous configuration runs on.
    reopen  a sweep found the SQLite file replaced (another file now at its path, e.g. a
            restored backup): the same drain, then start again on the file now at the path.
"""
from __future__ import annotations

import logging
import os
import queue
import signal
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Callable

from notifier.errors import InputError, NotifierError
from notifier.logs import event

log = logging.getLogger("notifier.serve")

STOP, RELOAD, REOPEN = "stop", "reload", "reopen"
DOING = {STOP: "stopping", RELOAD: "reloading", REOPEN: "reopening the database"}    # in the log, per request
# A fetch that failed (a source down at the fetch time) is tried again by the sweeps until it
# succeeds or the next fetch time comes: an arXiv listing missed all day is gone for good, the
# feed only holds the current one (fetch.digest_days). Each wait is as long as the source has
# been failing since the fetch time, and at least this: 60, 60, 120, 240... minutes (FORMATS.md
# asks to poll arXiv RSS at most about once an hour, HF a few times a day per date).
FETCH_RETRY_MINUTES = 60
SIGNALS = {signal.SIGTERM: STOP, signal.SIGINT: STOP, signal.SIGHUP: RELOAD}
# The store setting holding the running daemon's --sweep-minutes: `notifier status` calls a
# waiting digest overdue for the operator only once it is later than a sweep would be.
SWEEP_MINUTES_KEY = "sweep_minutes"


def add_arguments(p):
    p.add_argument("--sweep-minutes", type=int, default=5, metavar="N",
                   help="how often to pick up subscriber changes and deliver missed digests (default 5)")


def take_signals(requests: queue.Queue) -> None:
    """Turn SIGTERM/SIGINT/SIGHUP into requests on ``requests``; call before starting any thread."""
    signal.pthread_sigmask(signal.SIG_BLOCK, set(SIGNALS))

    def receive():
        while True:
            requests.put(SIGNALS[signal.sigwait(set(SIGNALS))])

    threading.Thread(target=receive, name="signals", daemon=True).start()


def file_identity(path: Path | None) -> tuple[int, int] | None:
    """(device, inode) of the database file; None when there is no file (PostgreSQL) or it is gone."""
    if path is None:
        return None
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


class Daemon:
    """The jobs the scheduler runs; all run in its single worker thread, one at a time."""

    def __init__(self, ctx, requests: queue.Queue, sweep_minutes: float = 5):
        self.ctx = ctx
        self.requests = requests
        self.sweep_minutes = sweep_minutes
        self.stopping = threading.Event()
        self.scheduler = None
        self.opened = file_identity(ctx.store.path)      # the SQLite file this context opened
        self._first_sweep = True
        self._unusable: dict[int, str] = {}              # stored schedules logged as unusable, and why
        self._scheduling = threading.Lock()               # held by a job while it changes the jobs

    def schedules(self):
        """The active subscribers' schedules, read once per job for all its steps: only the columns
        a schedule needs (whole subscribers are read only for those due, by ``deliver``)."""
        from notifier.schedule import SCHEDULE_COLUMNS, schedules_of

        return schedules_of(self.ctx.store.subscriber_rows(*SCHEDULE_COLUMNS), self._unusable)

    def build(self, config):
        from notifier.scheduler import build_scheduler

        self.scheduler = build_scheduler(
            fetch_time=config.schedule.time, fetch_timezone=config.schedule.timezone,
            subscribers=self.schedules(), on_fetch=self.fetch, on_deliver=self.deliver_due,
            on_sweep=self.sweep, sweep_minutes=self.sweep_minutes)
        return self.scheduler

    def fetch(self) -> None:
        """The fetch cycle, with a fetcher that ends at once when the daemon stops or reloads."""
        from notifier.fetch import Fetcher
        from notifier.fetch_cycle import fetch_cycle

        if self.ctx.fetcher is None:
            self.ctx.fetcher = Fetcher.from_config(self.ctx.config, stop=self.stopping, hosts=self.ctx.store)
        fetch_cycle(self.ctx)            # logs each fetch

    def deliver_due(self, schedules=None) -> None:
        """Plan and send the digests of everyone due now as one batch (subscribers whose time has
        come, in any zone, and any whose digest was missed). ``schedules``: ``schedules()`` if
        the job has them already."""
        from notifier.sending import deliver
        from notifier.schedule import due_subscribers

        if self.stopping.is_set():
            return
        schedules = self.schedules() if schedules is None else schedules
        due = due_subscribers(schedules, self.ctx.store.last_planned().get, self.ctx.now())
        if due and not self.stopping.is_set():
            deliver(self.ctx, subscriber_ids=due, stop=self.stopping)     # reads those due; logs each delivery

    def sweep(self) -> None:
        """Reopen if the database file was replaced; else fetch if today's fetch was missed (at
        start) or failed (later sweeps, ``fetch_again_if_failed``); resync the delivery jobs from
        the store; then deliver to everyone due who has not had their digest, then send retries
        whose backoff has passed (a 4xx, or a digest a crash interrupted). The schedules are read
        once, after the fetch (which may take minutes)."""
        from notifier.alerts import raise_alerts
        from notifier.scheduler import sync_delivery_jobs

        if self.reopen_if_replaced():
            return
        if self._first_sweep:
            self._first_sweep = False
            if not self.stopping.is_set() and self.fetch_missed():
                event(log, "catching up the missed fetch")
                _guarded(self.fetch, "fetch")
        elif not self.stopping.is_set():
            _guarded(self.fetch_again_if_failed, "fetch")
        schedules = self.schedules()
        with self._scheduling:
            if self.stopping.is_set():
                return
            sync_delivery_jobs(self.scheduler, schedules, self.deliver_due)
        _guarded(raise_alerts, "alerts", self.ctx)
        _guarded(self.deliver_due, "deliver", schedules)
        if not self.stopping.is_set():
            _guarded(self.retry_due, "retries")

    def stop_jobs(self) -> None:
        """From now on no job starts sending or touches the scheduler. ``shutdown(wait=True)``
        holds the scheduler's job-store lock while it waits for the job in flight: a sweep that
        then resynced its jobs would wait for that lock for ever, and the daemon with it."""
        with self._scheduling:
            self.stopping.set()

    def retry_due(self) -> None:
        """Waiting deliveries go out once their time has come, whether or not their subscriber is
        due: otherwise a retry waits for the subscriber's next digest, a day later."""
        from notifier.sending import send_pending

        send_pending(self.ctx, stop=self.stopping)

    def fetch_missed(self) -> bool:
        from notifier.schedule import due

        cfg, store = self.ctx.config.schedule, self.ctx.store
        runs = [store.last_fetch(src) for src in store.fetch_sources()]
        last = max((r.started_at for r in runs if r is not None), default=None)
        return due(last, cfg.time, cfg.timezone, self.ctx.now())

    def fetch_again_if_failed(self) -> None:
        """Run the fetch cycle again (it reads each source from its last success) when a source's
        latest fetch since the last fetch time failed, or found the arXiv listing not out yet
        (``fetch_cycle.unfinished_fetches``), once the wait FETCH_RETRY_MINUTES describes has passed."""
        from datetime import timedelta

        from notifier.clock import as_utc
        from notifier.fetch_cycle import unfinished_fetches
        from notifier.schedule import last_slot

        cfg, now = self.ctx.config.schedule, self.ctx.now()
        slot = last_slot(cfg.time, cfg.timezone, now)
        runs = unfinished_fetches(self.ctx, slot)
        ended = [as_utc(run.finished_at or run.started_at) for run in runs]
        if any(now - at >= max(timedelta(minutes=FETCH_RETRY_MINUTES), at - slot) for at in ended):
            event(log, "fetching again: a fetch failed or found its listing not out yet")
            self.fetch()

    def file_replaced(self) -> bool:
        """Another file is at the SQLite database's path than the one opened (a restored backup,
        a file the CLI created): this context would never see its subscribers."""
        return self.opened is not None and file_identity(self.ctx.store.path) != self.opened

    def reopen_if_replaced(self) -> bool:
        """Ask the main thread to start again on the file now at the path; send nothing more to
        the old one meanwhile."""
        if self.stopping.is_set() or not self.file_replaced():
            return False
        self.stopping.set()
        event(log, "database file replaced, reopening", logging.WARNING, path=self.ctx.store.path)
        self.requests.put(REOPEN)
        return True


def _guarded(fn, job: str, *args) -> None:
    """One failing step of a sweep (a source down, one bad subscriber) must not stop the rest."""
    try:
        fn(*args)
    except Exception as err:
        event(log, "job failed", logging.ERROR, job=job, error=f"{type(err).__name__}: {err}")


class Running:
    """One start of the daemon: an open context, recovered deliveries, a started scheduler."""

    def __init__(self, config, requests: queue.Queue, sweep_minutes: float):
        from notifier.config import warn_unsubscribe_missing
        from notifier.context import open_context
        from notifier.recovery import recover

        self.config = config
        warn_unsubscribe_missing(config)      # before the jobs start delivering
        with ExitStack() as stack:
            ctx = stack.enter_context(open_context(config))
            # SQLite: we hold the lock (run() below), anything `sending` is a dead process's; shared: expired claims.
            recovered = recover(ctx, at_start=True)
            ctx.store.put_setting(SWEEP_MINUTES_KEY, str(sweep_minutes))
            self.daemon = Daemon(ctx, requests, sweep_minutes)
            self.daemon.build(config).start()
            self._resources = stack.pop_all()
        jobs = self.daemon.scheduler.get_jobs()
        event(log, "daemon started", fetch=f"{config.schedule.time} {config.schedule.timezone}",
              delivery_times=sum(j.id.startswith("deliver:") for j in jobs), recovered=recovered)

    def stop(self, request: str = STOP) -> None:
        """Return once the job in flight has finished its current message."""
        self.daemon.stop_jobs()               # jobs check this between subscribers
        event(log, f"{DOING[request]}: waiting for the job in flight")
        self.daemon.scheduler.shutdown(wait=True)
        if self.daemon.file_replaced():          # found by a sweep, or since the last one
            try:
                self.daemon.ctx.store.empty_wal()
            except NotifierError as err:
                event(log, "database log left behind", logging.ERROR, error=str(err))
        self._resources.close()


def serve(config, requests: queue.Queue, read_config: Callable, sweep_minutes: float = 5) -> None:
    """Run until a stop request; start again on reload and reopen requests."""
    running = Running(config, requests, sweep_minutes)       # a first start that fails exits 1
    while (request := requests.get()) != STOP:
        running.stop(request)
        if request == RELOAD:
            running = reload(running.config, read_config, requests, sweep_minutes)
        else:
            running = Running(running.config, requests, sweep_minutes)
    running.stop()
    event(log, "daemon stopped")


def reload(current, read_config: Callable, requests: queue.Queue, sweep_minutes: float) -> Running:
    """Start with the re-read configuration. Whatever fails on the way (reading it, opening its
    database, writing its subscribers, scheduling) is one error line, and ``current`` runs on."""
    try:
        running = Running(read_config(), requests, sweep_minutes)
    except Exception as err:
        error = str(err) if isinstance(err, NotifierError) else f"{type(err).__name__}: {err}"
        event(log, "reload failed, keeping the running configuration", logging.ERROR, error=error)
        return Running(current, requests, sweep_minutes)
    event(log, "configuration reloaded", file=running.config.path or "(defaults)")
    return running


def run(args) -> int:
    from notifier.commands import load
    from notifier.config import require_secrets
    from notifier.lock import DaemonLock

    if args.sweep_minutes < 1:
        raise InputError(f"--sweep-minutes {args.sweep_minutes} must be at least 1")
    logging.getLogger("apscheduler.scheduler").setLevel(logging.WARNING)   # our own lines say it
    config = require_secrets(load(args))          # a reload without the secret keeps the running config
    requests: queue.Queue = queue.Queue()
    take_signals(requests)
    with DaemonLock.of(config):
        serve(config, requests, lambda: require_secrets(load(args)), sweep_minutes=args.sweep_minutes)
    return 0
