"""`notifier serve`: the long-running daemon for systemd.

Start: load the config, take the single-daemon lock, resolve deliveries a crash left in
`sending` (``recover``), then run an APScheduler ``BlockingScheduler``: the fetch cycle at
``[schedule] time``/``timezone``, each subscriber's delivery at their own local time, and a sweep
(at start and every few minutes) that picks up subscribers added or changed with the CLI and
delivers to anyone who is due but was missed (a late start delivers once).

Signals (handlers only raise; all work happens after the scheduler loop is left, in the main
thread, per RELIABILITY.md 3.4):
    SIGTERM, SIGINT  stop: no new job starts, the job in flight finishes its current message,
                     ``shutdown(wait=True)``, exit 0. Unsent digests stay pending for next start.
    SIGHUP           the same drain, then re-read the configuration and start again (an
                     unreadable new config is logged and the old one kept).
"""
from __future__ import annotations

import logging
import signal
import threading

from notifier.errors import ConfigError, InputError, NotifierError
from notifier.logs import event

log = logging.getLogger("notifier.serve")


def add_arguments(p):
    p.add_argument("--sweep-minutes", type=int, default=5, metavar="N",
                   help="how often to pick up subscriber changes and deliver missed digests (default 5)")


class ReloadRequested(BaseException):
    """Raised by the SIGHUP handler to leave the scheduler loop (BaseException like SystemExit,
    so no ``except Exception`` on the way swallows it)."""


class Signals:
    """Handlers that only set flags and raise while the scheduler loop runs."""

    def __init__(self):
        self.running = False      # the main thread is inside scheduler.start()
        self.exit = False
        self.reload = False

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)
        signal.signal(signal.SIGHUP, self._hup)

    def _stop(self, signum, _frame):
        self.exit = True
        if self.running:
            self.running = False
            raise SystemExit(0)

    def _hup(self, signum, _frame):
        if self.running:
            self.reload, self.running = True, False
            raise ReloadRequested()


class Daemon:
    """The jobs the scheduler runs; all run in its single worker thread, one at a time."""

    def __init__(self, ctx, sweep_minutes: int = 5):
        self.ctx = ctx
        self.sweep_minutes = sweep_minutes
        self.stopping = threading.Event()
        self.scheduler = None
        self._first_sweep = True

    def schedules(self):
        from notifier.schedule import SubscriberSchedule

        out = []
        for s in self.ctx.store.list_subscribers(active_only=True):
            try:
                out.append(SubscriberSchedule(s.id, s.delivery_time, s.timezone, s.frequency, s.weekday))
            except ConfigError as err:
                event(log, "subscriber not scheduled", logging.ERROR, subscriber=s.address, error=str(err))
        return out

    def build(self, config):
        from notifier.schedule import build_scheduler

        self.scheduler = build_scheduler(
            fetch_time=config.schedule.time, fetch_timezone=config.schedule.timezone,
            subscribers=self.schedules(), on_fetch=self.fetch, on_deliver=self.deliver,
            on_sweep=self.sweep, sweep_minutes=self.sweep_minutes)
        return self.scheduler

    def fetch(self) -> None:
        from notifier.pipeline import fetch_cycle

        for r in fetch_cycle(self.ctx):
            event(log, "fetched", logging.WARNING if r.outcome == "failed" else logging.INFO,
                  source=r.source, day=r.day, outcome=r.outcome, found=r.found, new=r.new, error=r.error or "")

    def deliver(self, subscriber_id: int) -> None:
        from notifier.pipeline import deliver

        if self.stopping.is_set():
            return
        for r in deliver(self.ctx, subscriber_ids=[subscriber_id], stop=self.stopping):
            event(log, "delivered", logging.WARNING if r.error else logging.INFO,
                  subscriber=r.subscriber, state=r.state, papers=r.papers, error=r.error or "")

    def sweep(self) -> None:
        """Resync subscriber jobs from the store; at start, fetch if today's fetch was missed;
        then deliver to everyone due (``due_deliveries``) who has not had their digest, then send
        retries whose backoff has passed (a 4xx, or a digest a crash interrupted)."""
        from notifier.schedule import due_deliveries, sync_subscriber_jobs

        schedules = self.schedules()
        sync_subscriber_jobs(self.scheduler, schedules, self.deliver)
        if self._first_sweep:
            self._first_sweep = False
            if self.fetch_missed():
                event(log, "catching up the missed fetch")
                _guarded(self.fetch, "fetch")
        from notifier.alerts import raise_alerts

        _guarded(raise_alerts, "alerts", self.ctx)
        last = {s.subscriber_id: self.ctx.store.last_delivered_at(s.subscriber_id) for s in schedules}
        for subscriber_id in due_deliveries(schedules, last, self.ctx.now()):
            if self.stopping.is_set():
                return
            _guarded(self.deliver, f"deliver:{subscriber_id}", subscriber_id)
        if not self.stopping.is_set():
            _guarded(self.retry_due, "retries")

    def retry_due(self) -> None:
        """Waiting deliveries go out once their time has come, whether or not their subscriber is
        due: otherwise a retry waits for the subscriber's next digest, a day later."""
        from notifier.pipeline import send_pending

        for r in send_pending(self.ctx, stop=self.stopping):
            event(log, "delivered", logging.WARNING if r.error else logging.INFO,
                  subscriber=r.subscriber, state=r.state, papers=r.papers, error=r.error or "")

    def fetch_missed(self) -> bool:
        from notifier.schedule import SubscriberSchedule, due_deliveries

        cfg = self.ctx.config.schedule
        runs = [self.ctx.store.last_fetch(src) for src in self.ctx.store.fetch_sources()]
        times = [r.started_at for r in runs if r is not None]
        last = max(times, default=None)
        return bool(due_deliveries([SubscriberSchedule(0, cfg.time, cfg.timezone)], {0: last}, self.ctx.now()))


def _guarded(fn, job: str, *args) -> None:
    """One failing step of a sweep (a source down, one bad subscriber) must not stop the rest."""
    try:
        fn(*args)
    except Exception as err:
        event(log, "job failed", logging.ERROR, job=job, error=f"{type(err).__name__}: {err}")


def run(args) -> int:
    from notifier.commands import load
    from notifier.lock import DaemonLock

    if args.sweep_minutes < 1:
        raise InputError(f"--sweep-minutes {args.sweep_minutes} must be at least 1")
    logging.getLogger("apscheduler.scheduler").setLevel(logging.WARNING)   # our own lines say it
    signals = Signals()
    signals.install()
    config = load(args)
    with DaemonLock(config.state_dir):
        while True:
            serve_once(config, signals, sweep_minutes=args.sweep_minutes)
            if signals.exit or not signals.reload:
                event(log, "daemon stopped")
                return 0
            signals.reload = False
            config = reload_config(args, config)


def reload_config(args, current):
    from notifier.commands import load

    try:
        config = load(args)
    except NotifierError as err:
        event(log, "reload failed, keeping the running configuration", logging.ERROR, error=str(err))
        return current
    event(log, "configuration reloaded", file=config.path or "(defaults)")
    return config


def serve_once(config, signals: Signals, sweep_minutes: int = 5) -> None:
    """Run the scheduler until a signal; return after the job in flight has finished."""
    from notifier.pipeline import open_context, recover

    with open_context(config) as ctx:
        # SQLite: we hold the lock (run() above), anything `sending` is a dead process's; shared: expired claims.
        recovered = recover(ctx, at_start=True)
        daemon = Daemon(ctx, sweep_minutes)
        scheduler = daemon.build(config)
        event(log, "daemon started", fetch=f"{config.schedule.time} {config.schedule.timezone}",
              subscribers=sum(j.id.startswith("deliver:") for j in scheduler.get_jobs()), recovered=recovered)
        try:
            signals.running = True
            if not signals.exit:
                scheduler.start()            # blocks until a signal handler raises
        except (SystemExit, KeyboardInterrupt, ReloadRequested):
            pass
        finally:
            signals.running = False
            daemon.stopping.set()            # jobs check this between subscribers
            if scheduler.running:
                event(log, "stopping: waiting for the job in flight")
                scheduler.shutdown(wait=True)

