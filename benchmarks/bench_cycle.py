"""The whole daily cycle, `notifier run --date D --all`, for many subscribers, and where its time goes.

    python benchmarks/bench_cycle.py [--subscribers 1000 10000] [--papers 1000] [--code DIR] [--ahead-min N]

A day of --papers papers from a local Hugging Face stand-in (a loopback HTTP server paging
/api/daily_papers like the real one, items shaped like the bundled real sample with titles and
abstracts recombined from the shared eval set), a local SMTP sink (aiosmtpd answering 250 at
once), and subscribers with 1-3 profiles of 2-5 typical terms, a fifth with their own threshold,
a tenth with their own max items. For each size the command runs in a fresh process on a fresh
database; printed: wall time, messages/s end to end, peak memory (the process's max RSS), and
the time in fetching, planning, building digests (papers reloaded), rendering in line, waiting
for messages rendered in the second process (big batches; its CPU is printed beside the main
process's; not its peak memory: the kernel counts the parent's pages it had before exec, so watch
its VmHWM in /proc instead, ~90 MB at 10,000), SMTP, and the two commits around each message.
Beside it: `notifier match --profiles` for the same profiles and papers in its own process (the
matcher alone). ``--code DIR`` runs another checkout's
`notifier` package (e.g. `git archive main | tar -x -C DIR`) for before/after figures.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent / "notifier/samples/hf_daily_papers_api_2026-06-12.json"
EVAL = Path("/work/shared/eval/papers.jsonl")
DAY = "2026-07-01"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from bench_plan import TERMS  # noqa: E402
from hf_server import HFStandIn  # noqa: E402   (the tests' Hugging Face stand-in)


# ----------------------------------------------------------------------------- the day and the stand-ins
def day_items(n: int, rng: random.Random) -> list[dict]:
    """n HF API items shaped like the real sample, their texts recombined from the eval set."""
    sample = json.loads(SAMPLE.read_text())
    texts = [json.loads(line) for line in EVAL.read_text().splitlines() if line.strip()]
    out = []
    for i in range(n):
        item = json.loads(json.dumps(sample[i % len(sample)]))
        a, b = rng.choice(texts), rng.choice(texts)
        sentences = re.split(r"(?<=\.) ", a["abstract"]) + re.split(r"(?<=\.) ", b["abstract"])
        abstract = " ".join(rng.sample(sentences, min(len(sentences), 8)))
        paper = item["paper"]
        paper.update(id=f"2607.{i:05d}", title=a["title"], summary=abstract, upvotes=rng.randint(0, 80),
                     submittedOnDailyAt=f"{DAY}T00:00:00.000Z")
        item.update(title=a["title"], summary=abstract)
        out.append(item)
    return out


class Sink:
    messages = 0

    async def handle_DATA(self, server, session, envelope):
        Sink.messages += 1
        return "250 OK"


def serve_smtp():
    import socket

    from aiosmtpd.controller import Controller

    with socket.socket() as s:       # aiosmtpd cannot bind port 0
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    return controller, port


def profiles_for(n: int, rng: random.Random) -> list[dict]:
    out = []
    for i in range(n):
        sub = {"address": f"u{i}@example.org",
               "profiles": [", ".join(rng.sample(TERMS, rng.randint(2, 5))) for _ in range(rng.choice((1, 1, 2, 3)))]}
        if i % 5 == 0:
            sub["threshold"] = rng.choice((0.3, 0.5, 0.6))
        if i % 10 == 1:
            sub["max_items"] = rng.choice((5, 20))
        out.append(sub)
    return out


def write_config(folder: Path, hf_url: str, smtp_port: int) -> Path:
    path = folder / "notifier.toml"
    path.write_text(f"""[general]
state_dir = "{folder}"
[sources.hf_daily]
base_url = "{hf_url}"
min_interval_seconds = 0
[email]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
""")
    return path


# ----------------------------------------------------------------------------- the measured process
TIMED = {     # label: (module, attribute...) wrapped in the child; a name another version lacks is skipped
    "fetch": ("notifier.fetch_cycle", "fetch_cycle"),
    "planning": ("notifier.sending", "plan_batch", "plan"),   # the first this version has (as deliver calls it)
    "digest (papers reloaded)": ("notifier.sending", "build_digest"),
    # never a function handed to the second process (its wrapper would not pickle): its parts
    "rendering (in line)": ("notifier.channels.email", "_message_parts", "build_message"),
    "message bytes (in line)": ("notifier.channels.email", "wire_bytes"),
    "wait for 2nd process": ("notifier.channels.PreparedAhead", "take"),
    "SMTP": ("notifier.channels.email.EmailChannel", "send_prepared", "transmit"),
    "commit: claim": ("notifier.store.Store", "claim"),
    "commit: record": ("notifier.store.Store", "record"),
}


def child_cycle(config: str, subscribers: str, out: str) -> None:
    """Runs in its own process: add the subscribers, then `notifier run --date DAY --all`, timed."""
    import importlib

    from notifier.cli import main
    from notifier.config import load_config
    from notifier.store import Store
    from notifier.subscribers import new_subscriber

    cfg = load_config(config)
    store = Store(cfg.database_url)
    with store.session() as s:
        for sub in json.loads(Path(subscribers).read_text()):
            s.add(new_subscriber(address=sub["address"], keywords=sub["profiles"], threshold=sub.get("threshold"),
                                 max_items=sub.get("max_items")))
    store.close()
    spent: dict[str, float] = defaultdict(float)
    cpu: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    for label, (module, *names) in TIMED.items():
        owner = _resolve(importlib, module)
        name = next((n for n in names if hasattr(owner, n)), None)
        if name is not None:
            setattr(owner, name, _timed(getattr(owner, name), label, spent, cpu, calls))
    if os.environ.get("BENCH_AHEAD_MIN"):
        import notifier.sending

        notifier.sending.PREPARE_AHEAD_MIN = int(os.environ["BENCH_AHEAD_MIN"])
    start, start_cpu = time.perf_counter(), time.process_time()
    with open(os.devnull, "w") as quiet:
        sys.stdout = quiet
        code = main(["--config", config, "run", "--date", DAY, "--all"])
        sys.stdout = sys.__stdout__
    wall, cpu_total = time.perf_counter() - start, time.process_time() - start_cpu
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    Path(out).write_text(json.dumps({"wall": wall, "code": code, "spent": spent, "cpu": cpu, "calls": calls,
                                     "cpu_total": cpu_total, "cpu_children": children.ru_utime + children.ru_stime,
                                     "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def _resolve(importlib, dotted: str):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr, None)
        return obj
    return None


def _timed(fn, label, spent, cpu, calls):
    def wrapper(*args, **kwargs):
        t, c = time.perf_counter(), time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[label] += time.perf_counter() - t
            cpu[label] += time.thread_time() - c
            calls[label] += 1
    return wrapper


def child_match(papers: str, profiles: str, out: str) -> None:
    from notifier.cli import main

    start = time.perf_counter()
    with open(os.devnull, "w") as quiet:
        sys.stdout = quiet
        main(["match", "--papers", papers, "--profiles", profiles, "--json"])
        sys.stdout = sys.__stdout__
    Path(out).write_text(json.dumps({"wall": time.perf_counter() - start,
                                     "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


# ----------------------------------------------------------------------------- driver
def run_child(code_dir: str | None, *args: str) -> dict:
    env = dict(os.environ)
    if code_dir:
        env["PYTHONPATH"] = os.pathsep.join([code_dir, env.get("PYTHONPATH", "")])
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = fh.name
    log = Path(out).with_suffix(".log")
    with log.open("w") as err:
        subprocess.run([sys.executable, __file__, *args, out], env=env, stderr=err, check=True,
                       cwd=code_dir or str(HERE.parent))
    return json.loads(Path(out).read_text())


def measure(n: int, items: list[dict], hf_url: str, smtp_port: int, code_dir: str | None, rng) -> None:
    folder = Path(tempfile.mkdtemp(prefix=f"cycle{n}-"))
    subs = profiles_for(n, rng)
    (folder / "subscribers.json").write_text(json.dumps(subs))
    with (folder / "papers.jsonl").open("w") as fh:
        for item in items:
            p = item["paper"]
            fh.write(json.dumps({"id": p["id"], "title": p["title"], "abstract": p["summary"],
                                 "authors": [a["name"] for a in p["authors"]]}) + "\n")
    with (folder / "profiles.jsonl").open("w") as fh:
        for i, sub in enumerate(subs):
            for k, text in enumerate(sub["profiles"]):
                fh.write(json.dumps({"id": f"{i}.{k}", "profile": text}) + "\n")
    config = write_config(folder, hf_url, smtp_port)
    before = Sink.messages
    cycle = run_child(code_dir, "--child-cycle", str(config), str(folder / "subscribers.json"))
    sent = Sink.messages - before
    matched = run_child(code_dir, "--child-match", str(folder / "papers.jsonl"), str(folder / "profiles.jsonl"))
    wall = cycle["wall"]
    n_profiles = sum(len(s["profiles"]) for s in subs)
    print(f"{n} subscribers ({n_profiles} profiles), {len(items)} papers: exit {cycle['code']}, {sent} messages")
    print(f"  end to end   {wall:8.1f} s   {sent / wall:7.1f} messages/s   peak {cycle['max_rss_mb']:6.0f} MB   "
          f"CPU {cycle['cpu_total']:.1f} s" + (f" + {cycle['cpu_children']:.1f} s in the 2nd process"
                                               if cycle.get("cpu_children") else "")
          + ("  (wall >> CPU: waiting on the SMTP sink, or a busy machine: see the load average)"
             if wall > 1.5 * cycle["cpu_total"] else ""))
    print(f"  {'':<26}{'wall':>8}  {'share':>7}  {'calls':>6}  {'wall each':>11}  {'CPU each':>9}")
    for label in TIMED:
        if label in cycle["spent"]:
            s, c, cpu = cycle["spent"][label], cycle["calls"][label], cycle["cpu"][label]
            print(f"  {label:<26}{s:8.1f}s {100 * s / wall:6.1f} %  {c:6d}  {1000 * s / c:8.2f} ms  "
                  f"{1000 * cpu / c:6.2f} ms")
    rest = wall - sum(cycle["spent"].values())
    print(f"  {'other':<26}{rest:8.1f}s {100 * rest / wall:6.1f} %   (startup, the run command's own queries, logging)")
    print(f"  notifier match --profiles {matched['wall']:8.1f} s  peak {matched['max_rss_mb']:6.0f} MB (same profiles)")


def main() -> None:
    if sys.argv[1:2] == ["--child-cycle"]:
        return child_cycle(*sys.argv[2:5])
    if sys.argv[1:2] == ["--child-match"]:
        return child_match(*sys.argv[2:5])
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--papers", type=int, default=1000)
    ap.add_argument("--code", help="run the notifier package of this checkout instead")
    ap.add_argument("--ahead-min", type=int, help="render a batch of at least this many emails in a second "
                    "process (sending.PREPARE_AHEAD_MIN; a huge number: all in one process)")
    args = ap.parse_args()
    if args.ahead_min is not None:
        os.environ["BENCH_AHEAD_MIN"] = str(args.ahead_min)
    rng = random.Random(13)
    items = day_items(args.papers, rng)
    hf = HFStandIn()
    hf.days[DAY] = items
    smtp, port = serve_smtp()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; code: {args.code or 'this checkout'}")
    try:
        for n in args.subscribers:
            measure(n, items, hf.url, port, args.code, random.Random(n))
            print(f"  load average {os.getloadavg()[0]:.1f} after")
    finally:
        hf.close()
        smtp.stop()


if __name__ == "__main__":
    main()
