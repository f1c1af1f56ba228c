"""How long everyday commands take at scale: 10,000 subscribers, 30 days of delivery history.

    python benchmarks/bench_commands.py [--subscribers 10000] [--days 30] [--timeout 600] [--postgres URL]

Each command runs as a user runs it (`python -m notifier ...`, a fresh process, start-up
included; wall and CPU seconds) on a SQLite file in a temporary folder, sources disabled so nothing touches the network:

  config     a config file declaring every subscriber ([[subscribers]]): the first start (applies
             them) and the second (nothing changed);
  import     `notifier subscribers import` of a CSV of every subscriber;
  history    after --days days with one sent digest of 3 papers per subscriber per day:
             `notifier status`, `notifier subscribers`, `notifier run` when nothing is due.

With --postgres URL the history is then copied there (`notifier db copy`, timed too) and the
same commands run on PostgreSQL. To compare with another checkout, run this file with that checkout first on PYTHONPATH
(`PYTHONPATH=/path/to/old python benchmarks/bench_commands.py`); the commands it lacks print n/a.
"""
import argparse
import csv
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from notifier.store import Store

SOURCES_OFF = "[sources.hf_daily]\nenabled = false\n[sources.arxiv]\nenabled = false\n"


def timed(label: str, config: Path, *args: str, timeout: float, database: str | None = None) -> None:
    env = dict(os.environ, NOTIFIER_STATE_DIR=str(config.parent))
    env.pop("NOTIFIER_DATABASE_URL", None)
    if database:
        env["NOTIFIER_DATABASE_URL"] = database
    started, cpu = time.perf_counter(), _children_cpu()
    try:
        proc = subprocess.run([sys.executable, "-m", "notifier", "--config", str(config), *args], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"  {label:<44} > {timeout:.0f} s (stopped)")
        return
    took, cpu = time.perf_counter() - started, _children_cpu() - cpu
    if proc.returncode not in (0, 3):       # status exits 3 when something needs attention
        print(f"  {label:<44} n/a ({proc.stderr.strip().splitlines()[-1][:80] if proc.stderr.strip() else proc.returncode})")
    else:
        print(f"  {label:<44} {took:6.2f} s  (CPU {cpu:.2f} s)")


def _children_cpu() -> float:
    """CPU seconds used by finished child processes: wall time alone varies with the machine's load."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def folder(root: Path, name: str, extra: str = "") -> Path:
    (root / name).mkdir()
    config = root / name / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{root / name / "notifier.sqlite"}"\n{SOURCES_OFF}{extra}')
    return config


def bench_config(root: Path, n: int, timeout: float) -> None:
    subs = "".join(f"[[subscribers]]\nemail = 'user{i}@example.org'\nkeywords = 'agents, \"kv cache\", topic{i % 97}'\n"
                   for i in range(n))
    config = folder(root, "config", subs)
    print(f"config file with {n} [[subscribers]]:")
    timed("first start (`subscribers --json`)", config, "subscribers", "--json", timeout=timeout)
    timed("second start, file unchanged", config, "subscribers", "--json", timeout=timeout)
    timed("`status`, file unchanged", config, "status", timeout=timeout)


def bench_import(root: Path, n: int, timeout: float) -> None:
    config = folder(root, "import")
    path = root / "import" / "subscribers.csv"
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["address", "profiles"])
        out.writerows([f"user{i}@example.org", f'agents, "kv cache", topic{i % 97}'] for i in range(n))
    print(f"bulk import of {n} subscribers:")
    timed("`subscribers import subscribers.csv`", config, "subscribers", "import", str(path), timeout=timeout)


def fill_history(db: Path, n: int, days: int, last: datetime | None = None,
                 time_of=lambda i: "07:30") -> sqlite3.Connection:
    """n subscribers (subscriber i at ``time_of(i)`` UTC), each with one sent digest of 3 papers on
    each of the ``days`` days up to ``last`` (default now); -> the open connection, to add more."""
    Store(f"sqlite:///{db}").close()                        # the schema, as this checkout makes it
    last = last or datetime.now(timezone.utc).replace(tzinfo=None)
    conn = sqlite3.connect(db)
    with conn:
        conn.executemany(
            "INSERT INTO subscriber (id, name, channel, address, profile, timezone, delivery_time, frequency, "
            "active, paused, origin, created_at, updated_at) VALUES (?, ?, 'email', ?, ?, 'UTC', ?, 'daily', 1, 0, 'cli', ?, ?)",
            [(i, f"user{i}", f"user{i}@example.org", json.dumps([f'agents, topic{i % 97}']), time_of(i),
              last - timedelta(days=days + 1), last - timedelta(days=days + 1)) for i in range(1, n + 1)])
        for d in range(days, 0, -1):
            when = last - timedelta(days=d - 1)
            day = when.date().isoformat()
            papers = [f"26{d:02d}.{k:05d}" for k in range(90)]
            conn.executemany("INSERT INTO paper (id, title, abstract, authors, url, categories, extra, first_seen_at, "
                             "updated_at) VALUES (?, 'A paper', '', '[]', '', '[]', '{}', ?, ?)",
                             [(p, when, when) for p in papers])
            start = conn.execute("SELECT COALESCE(MAX(id), 0) FROM delivery").fetchone()[0]
            conn.executemany(
                "INSERT INTO delivery (id, key, subscriber_id, digest_day, state, items, meta, attempts, created_at, "
                "sent_at) VALUES (?, ?, ?, ?, 'sent', '[]', '{}', 1, ?, ?)",
                [(start + i, f"{i}:{day}", i, day, when, when) for i in range(1, n + 1)])
            conn.executemany("INSERT INTO delivery_paper (delivery_id, paper_id, subscriber_id) VALUES (?, ?, ?)",
                             [(start + i, papers[(i + k) % 90], i) for i in range(1, n + 1) for k in range(3)])
    return conn


def bench_history(root: Path, n: int, days: int, timeout: float, postgres: str | None) -> None:
    config = folder(root, "history")
    started = time.perf_counter()
    fill_history(config.parent / "notifier.sqlite", n, days).close()
    print(f"{n} subscribers after {days} days of deliveries ({n * days} digests, filled in "
          f"{time.perf_counter() - started:.0f} s):")
    timed("`status`", config, "status", timeout=timeout)
    timed("`subscribers`", config, "subscribers", timeout=timeout)
    timed("`run`, nothing due", config, "run", timeout=timeout)
    if postgres:
        print(f"the same on PostgreSQL ({postgres.split('@')[-1]}):")
        timed("`db copy --to` (SQLite -> PostgreSQL)", config, "db", "copy", "--to", postgres, "--force",
              timeout=timeout)
        for label, args in (("`status`", ["status"]), ("`subscribers`", ["subscribers"]),
                            ("`run`, nothing due", ["run"])):
            timed(label, config, *args, timeout=timeout, database=postgres)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--timeout", type=float, default=600, help="seconds before a command is stopped")
    ap.add_argument("--only", choices=("config", "import", "history"), action="append")
    ap.add_argument("--postgres", metavar="URL", help="also time the history commands on this PostgreSQL "
                                                      "database (its contents are replaced)")
    args = ap.parse_args()
    import notifier
    print(f"notifier from {Path(notifier.__file__).parent}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for part in args.only or ("config", "import", "history"):
            if part == "config":
                bench_config(root, args.subscribers, args.timeout)
            elif part == "import":
                bench_import(root, args.subscribers, args.timeout)
            else:
                bench_history(root, args.subscribers, args.days, args.timeout, args.postgres)


if __name__ == "__main__":
    main()
