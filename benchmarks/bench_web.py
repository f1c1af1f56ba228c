"""`notifier web`: page weight, and how long the profile tester takes to answer.

    python benchmarks/bench_web.py [--papers 250,1000,2000,4000,8000] [--repeat 5]

Page weight: the bytes of the subscribe page, its CSS and its script, raw and gzipped.
Tester: papers recombined from the shared eval set (bench_match.make_papers) are stored as
seen within the last 7 days; the time to first byte of POST /tester (one 3-term profile) is
measured against a real uvicorn on 127.0.0.1 — the first request after papers change (it
builds the index) and the median of the following ones (the index is cached). Prints figures;
it asserts nothing.
"""
import argparse
import gzip
import os
import random
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).parent))
from bench_match import make_papers  # noqa: E402

from notifier.config import Config  # noqa: E402
from notifier.models import Paper  # noqa: E402
from notifier.web.app import create_app  # noqa: E402

PROFILE = '"language model", reasoning, -diffusion'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(n: int, folder: str):
    config = Config()
    config.general.state_dir = folder
    config.database.url = f"sqlite:///{folder}/bench.sqlite"
    config.web.public_url = "http://127.0.0.1"
    app = create_app(config, env={"NOTIFIER_WEB_SECRET": "bench"})
    rng = random.Random(n)
    papers = [Paper(arxiv_id=p["id"], title=p["title"], abstract=p["abstract"]) for p in make_papers(n, rng)]
    app.web.store.ingest(papers, source="hf_daily", digest_day="2026-06-12")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def ttfb(client: httpx.Client, url: str, csrftoken: str) -> float:
    start = time.perf_counter()
    with client.stream("POST", url, data={"csrftoken": csrftoken, "keywords": PROFILE}) as r:
        next(r.iter_raw())
        return time.perf_counter() - start


def page_weight(client: httpx.Client, base: str) -> None:
    for path in ("/", "/static/site.css", "/static/tester.js"):
        body = client.get(base + path).content
        print(f"weight {path:18} {len(body):6d} B raw  {len(gzip.compress(body)):6d} B gzipped")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--papers", default="250,1000,2000,4000,8000")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    for i, n in enumerate(int(x) for x in args.papers.split(",")):
        with tempfile.TemporaryDirectory() as folder:
            server, base = serve(n, folder)
            with httpx.Client(timeout=120) as client:
                if i == 0:
                    page_weight(client, base)
                token = re.search(r'name="csrftoken" value="([^"]+)"', client.get(base + "/").text).group(1)
                first = ttfb(client, base + "/tester", token)
                warm = statistics.median(ttfb(client, base + "/tester", token) for _ in range(args.repeat))
            print(f"tester papers={n:5d}  first request {first * 1000:7.0f} ms  cached index {warm * 1000:6.0f} ms")
            server.should_exit = True
            time.sleep(0.3)
            os.sync()


if __name__ == "__main__":
    main()
