"""Deliveries per second with 1, 2 and 3 workers sharing one PostgreSQL database.

    python benchmarks/bench_workers.py [--subscribers 2000] [--workers 1 2 3] [--smtp-delay 0]

For each worker count: a fresh database on a throwaway PostgreSQL cluster (tests/pg.py: needs
Debian's postgresql package and `pip install -e '.[postgres]'`), the given number of config
subscribers with today's digest already planned (one matched for real, its papers copied to the
rest), then that many `notifier run --all` processes, each with a state folder of its own, sending
to a local SMTP sink that answers 250 at once (or after --smtp-delay seconds, a slower relay).
Prints, per worker count: wall seconds from start to the last worker's exit, seconds until the
first message arrived (start-up and the per-subscriber "already planned?" pass), the sending
phase's messages per second (first to last message at the sink), and duplicates (must be 0).
Figures depend on the machine and its load: compare runs made side by side.
"""
import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from pg import Cluster, drop_database, fresh_database  # noqa: E402
from smtp_server import Recorder, free_port  # noqa: E402
from test_faults import SMTPServer, ingest  # noqa: E402
from test_workers import plan_everyone, start_workers, workers_config  # noqa: E402


class TimedRecorder(Recorder):
    """The tests' SMTP sink, noting when each message arrived."""

    def __init__(self, delay: float):
        super().__init__(delay)
        self.arrivals: list[float] = []

    async def handle_DATA(self, server, session, envelope):
        self.arrivals.append(time.monotonic())
        return await super().handle_DATA(server, session, envelope)


def one_round(server_url: str, workers: int, subscribers: int, smtp_delay: float) -> dict:
    url, name = fresh_database(server_url)
    server = SMTPServer(port=free_port())
    server.handler = TimedRecorder(smtp_delay)
    server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            config = workers_config(url, folder, server.port, subscribers)
            ingest(url)
            plan_everyone(config)
            started = time.monotonic()
            procs = start_workers(config, folder, workers)
            codes = [p.wait() for p in procs]
            wall = time.monotonic() - started
    finally:
        server.stop()
        drop_database(server_url, name)
    arrivals = server.handler.arrivals
    copies = Counter(m["To"] for m in server.handler.snapshot())
    span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else float("nan")
    return {"workers": workers, "exit": codes, "messages": len(arrivals), "wall_s": round(wall, 1),
            "first_message_s": round(arrivals[0] - started, 1) if arrivals else None,
            "send_per_s": round((len(arrivals) - 1) / span, 1) if arrivals else 0,
            "duplicates": sum(c - 1 for c in copies.values()), "recipients": len(copies)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", type=int, default=2000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--smtp-delay", type=float, default=0.0, help="seconds the sink waits before each 250")
    args = ap.parse_args()
    cluster = Cluster()
    try:
        for n in args.workers:
            r = one_round(cluster.url, n, args.subscribers, args.smtp_delay)
            print(f"workers={r['workers']} subscribers={args.subscribers} messages={r['messages']} "
                  f"recipients={r['recipients']} duplicates={r['duplicates']} wall_s={r['wall_s']} "
                  f"first_message_s={r['first_message_s']} send_per_s={r['send_per_s']} exit={r['exit']}",
                  flush=True)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
