"""Ingest time and statements: a day of N new papers, then the same N seen again with new upvotes.

    python benchmarks/bench_ingest.py [--papers 5000] [--runs 3]
Each run uses a fresh SQLite file (WAL, synchronous=FULL, as shipped). Prints the best wall time
of each phase, the number of SQL statements and transactions (BEGIN) it took, and its longest
transaction (how long the write lock was held at once: other writers wait that long).
"""
import argparse
import tempfile
import time
from pathlib import Path

from sqlalchemy import event

from notifier.models import Paper
from notifier.store import Store


def papers(n: int, upvotes: int) -> list[Paper]:
    return [Paper(arxiv_id=f"2607.{i:05d}", title=f"Paper {i} on sparse attention", abstract="An abstract. " * 40,
                  authors=["Ada Lovelace", "Alan Turing"], upvotes=upvotes, source="hf_daily",
                  digest_day="2026-07-01", raw={"paper": {"id": f"2607.{i:05d}"}}) for i in range(n)]


def timed(store: Store, batch: list[Paper]) -> tuple[float, int, int, float]:
    counts = {"sql": 0, "begin": 0, "began": 0.0, "longest": 0.0}

    def count(conn, cursor, statement, *args):
        counts["sql"] += 1
        if statement.startswith("BEGIN"):
            counts["begin"] += 1
            counts["began"] = time.perf_counter()

    def committed(conn):
        counts["longest"] = max(counts["longest"], time.perf_counter() - counts["began"])
    event.listen(store.engine, "before_cursor_execute", count)
    event.listen(store.engine, "commit", committed)
    start = time.perf_counter()
    store.ingest(batch, source="hf_daily", digest_day="2026-07-01")
    elapsed = time.perf_counter() - start
    event.remove(store.engine, "before_cursor_execute", count)
    event.remove(store.engine, "commit", committed)
    return elapsed, counts["sql"], counts["begin"], counts["longest"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--papers", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    best: dict[str, tuple] = {}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            store = Store(f"sqlite:///{Path(tmp) / 'bench.sqlite'}")
            for phase, batch in (("new", papers(args.papers, 1)), ("seen again", papers(args.papers, 2))):
                result = timed(store, batch)
                best[phase] = min(best.get(phase, result), result)
            store.close()
    for phase, (seconds, sql, begins, longest) in best.items():
        print(f"ingest {args.papers} papers, {phase}: {seconds:.2f} s, {sql} SQL statements, "
              f"{begins} transaction(s), the longest {longest:.2f} s")


if __name__ == "__main__":
    main()
