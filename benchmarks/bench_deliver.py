"""Render and send 1,000 personalised digests to a local aiosmtpd server over one connection.

    /work/venv/bin/python benchmarks/bench_deliver.py [N]

Prints the time and messages per second (target: >= 100/s)."""
from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from digests import digest, paper  # noqa: E402

from notifier.channels.email import EmailChannel  # noqa: E402


class Count:
    n = 0
    size = 0

    async def handle_DATA(self, server, session, envelope):
        Count.n += 1
        Count.size += len(envelope.content)
        return "250 OK"


def main(n: int = 1000) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctl = Controller(Count(), hostname="127.0.0.1", port=port)
    ctl.start()
    digests = []
    for i in range(n):
        d = digest(papers=[paper(i * 10 + j, title=f"Paper {i}-{j} on KV cache") for j in range(3 + i % 8)],
                   address=f"user{i}@example.org", name=f"User {i}")
        d.delivery_key = f"{i}.2026-07-29.email"
        digests.append(d)
    t0 = time.perf_counter()
    states = {}
    with EmailChannel(host="127.0.0.1", port=port, security="none", from_addr="Digest <digest@example.org>",
                      unsubscribe_mailto="unsubscribe@example.org") as ch:
        for d in digests:
            r = ch.send(d)
            states[r.state] = states.get(r.state, 0) + 1
    elapsed = time.perf_counter() - t0
    ctl.stop()
    print(f"{n} digests rendered and sent in {elapsed:.2f} s: {n / elapsed:.0f} messages/s "
          f"(results {states}, server received {Count.n}, avg {Count.size // max(1, Count.n)} bytes)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)
