"""CPU of one job of the `notifier serve` daemon at scale: a delivery job and a sweep.

    python benchmarks/bench_daemon.py [--subscribers 10000] [--days 30] [--runs 5]

A SQLite file with --subscribers subscribers and --days days of sent digests (one a day each,
the latest yesterday's, planned after their time), every 100th subscriber at 06:10 UTC and the
rest at 07:30, and 20 papers about agents first seen at 06:05 today. Each job runs in process
on a fresh copy of that file with the clock at 06:05 (nobody due) or 06:20 (every 100th due:
their digests are matched, planned and written to the local outbox), after a warm-up (modules
loaded, the matcher built, a sweep at 06:04: a running daemon has done that). Prints the least
CPU of --runs runs.

  deliver   what each delivery job runs (`Daemon.deliver_due`): who is due, and their batch;
  sweep     what runs every few minutes (`Daemon.sweep`): the delivery jobs resynced from the
            subscribers, alerts, who is due and their batch, retries.

To compare with another checkout, put it first on PYTHONPATH (the fill uses its schema).
"""
import argparse
import logging
import os
import queue
import shutil
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

TODAY = datetime(2026, 12, 1)
AT = {"nobody due": TODAY.replace(hour=6, minute=5), "1% due": TODAY.replace(hour=6, minute=20)}


def fill(db: Path, n: int, days: int) -> None:
    from bench_commands import fill_history      # this folder is first on sys.path when run as a script

    conn = fill_history(db, n, days, last=TODAY.replace(hour=7, minute=31) - timedelta(days=1),
                        time_of=lambda i: "06:10" if i % 100 == 0 else "07:30")
    with conn:
        new = TODAY.replace(hour=6, minute=5)
        conn.executemany("INSERT INTO paper (id, title, abstract, authors, url, categories, extra, first_seen_at, "
                         "updated_at) VALUES (?, ?, ?, '[]', '', '[]', '{}', ?, ?)",
                         [(f"2612.{90000 + k}", f"Agents that plan, part {k}",
                           f"We study LLM agents and topic{k} in tool use.", new, new) for k in range(20)])
    conn.close()


def one_job(base: Path, job: str, at: datetime, n: int) -> tuple[float, int]:
    """-> (CPU seconds of the job, digests it planned)."""
    from notifier import context
    from notifier.commands.serve import Daemon
    from notifier.config import load_config

    folder = Path(tempfile.mkdtemp(dir=base))
    shutil.copy(base / "base.sqlite", folder / "notifier.sqlite")
    (folder / "config.toml").write_text(
        f'[database]\nurl = "sqlite:///{folder / "notifier.sqlite"}"\n[sources.hf_daily]\nenabled = false\n'
        '[sources.arxiv]\nenabled = false\n[schedule]\ntime = "06:00"\ntimezone = "UTC"\n')
    os.environ["NOTIFIER_STATE_DIR"] = str(folder)
    config = load_config(folder / "config.toml")
    try:
        with context.open_context(config) as ctx:
            ctx.matcher.refresh(ctx.store.papers_version())
            ctx.matcher.background                              # a running daemon has it built ...
            daemon = Daemon(ctx, queue.Queue())
            daemon._first_sweep = False                         # (no start-up fetch)
            daemon.build(config)
            ctx.clock = lambda: TODAY.replace(hour=6, minute=4, tzinfo=timezone.utc)
            daemon.sweep()                                      # ... and has run jobs before
            ctx.clock = lambda: at.replace(tzinfo=timezone.utc)
            before = time.process_time()
            daemon.sweep() if job == "sweep" else daemon.deliver_due()
            took = time.process_time() - before
            planned = len(ctx.store.delivery_keys([f"{i}:{at.date().isoformat()}" for i in range(1, n + 1)]))
        return took, planned
    finally:
        shutil.rmtree(folder)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    import notifier
    import notifier.channels.email                                  # noqa: F401  (loaded in a running daemon)
    import notifier.match                                           # noqa: F401

    print(f"notifier from {Path(notifier.__file__).parent}; load {os.getloadavg()[0]:.2f}")
    logging.disable(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        fill(base / "base.sqlite", args.subscribers, args.days)
        print(f"{args.subscribers} subscribers after {args.days} days of deliveries; least CPU of {args.runs} runs:")
        for job in ("deliver", "sweep"):
            for label, at in AT.items():
                runs = [one_job(base, job, at, args.subscribers) for _ in range(args.runs)]
                print(f"  {job:<8} {label:<11} {min(cpu for cpu, _ in runs):6.3f} s  ({runs[0][1]} digests planned)")


if __name__ == "__main__":
    main()
