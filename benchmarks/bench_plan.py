"""Planning time of a delivery batch: the whole batch planned together vs one subscriber at a time.

    python benchmarks/bench_plan.py [--subscribers 100] [--background 2000] [--day 40]
One day of --day papers (the bundled 30 real Hugging Face papers plus others recombined from the
shared eval set), a background of stored papers first seen a month earlier (they count for IDF
only), and subscribers with 2-5 terms drawn from 40 typical ones. Times `deliver()` with sending
stubbed out (loading the background, matching and recording each digest), once as shipped (one
batch: the candidates read once, profiles matched together, digests recorded in bulk) and once
planning each subscriber alone (as a daemon delivering one subscriber at a time does; the matcher
index is still shared), each on a fresh copy of the same database, and checks both planned the
same digests.
"""
import argparse
import json
import random
import re
import shutil
import tempfile
import time
from datetime import datetime, timedelta, timezone
from importlib.resources import files
from pathlib import Path

from sqlalchemy import text

import notifier.match
from notifier import context, sending
from notifier.config import Config
from notifier.models import Paper
from notifier.parse import parse_text
from notifier.store import Store
from notifier.subscribers import new_subscriber

EVAL = "/work/shared/eval/papers.jsonl"
TERMS = ['"large language models"', "reasoning", '"reinforcement learning"', "agents", '"multi-agent"',
         "diffusion", '"speculative decoding"', '"sparse attention"', "distillation", '"kv cache"',
         '"mixture of experts"', "retrieval", "RAG", "benchmark", "multimodal", '"vision language"',
         "alignment", "RLHF", "quantization", "pruning", '"long context"', "tokenizer", "code generation",
         "robotics", "video generation", '"world model"', "evaluation", "safety", "jailbreak",
         '"chain of thought"', "math", "translation", "speech", "agentic", "search", "memory",
         "efficient inference", "fine-tuning", "LoRA", "hallucination"]


def recombined(n: int, rng: random.Random, prefix: str) -> list[Paper]:
    src = [json.loads(line) for line in open(EVAL) if line.strip()]
    out = []
    for i in range(n):
        a, b = rng.choice(src), rng.choice(src)
        sentences = re.split(r"(?<=\.) ", a["abstract"]) + re.split(r"(?<=\.) ", b["abstract"])
        out.append(Paper(arxiv_id=f"{prefix}.{i:05d}", title=a["title"] if i % 2 else b["title"],
                         abstract=" ".join(rng.sample(sentences, min(len(sentences), 8))), authors=["A. Author"]))
    return out


def make_database(path: Path, subscribers: int, background: int, day: int, rng: random.Random) -> None:
    store = Store(f"sqlite:///{path}")
    if background:
        store.ingest(recombined(background, rng, "2505"), source="hf_daily", digest_day="2026-06-01")
        with store.session() as s:
            s.exec(text("UPDATE paper SET first_seen_at = :t"),
                   params={"t": datetime.now(timezone.utc) - timedelta(days=30)})
    sample = files("notifier.samples").joinpath("hf_daily_papers_api_2026-06-12.json").read_text()
    store.ingest(parse_text(sample) + recombined(max(day - 30, 0), rng, "2607"), source="hf_daily", digest_day="2026-07-01")
    with store.session() as s:
        for i in range(subscribers):
            terms = rng.sample(TERMS, rng.randint(2, 5))
            s.add(new_subscriber(address=f"u{i}@example.org", keywords=[", ".join(terms)]))
    store.close()


def plan_all(template: Path, together: bool) -> tuple[float, int, list]:
    """-> (seconds, index builds, the planned digests' papers)."""
    db = template.with_name(f"run-{together}.sqlite")
    shutil.copy(template, db)
    config = Config()
    config.general.state_dir = str(db.parent)
    config.database.url = f"sqlite:///{db}"
    builds, real = [], notifier.match.build_index
    notifier.match.build_index = lambda *a, **k: builds.append(1) or real(*a, **k)
    sending.send_pending = lambda ctx, *args, **kw: []
    try:
        with context.open_context(config) as ctx:
            start = time.perf_counter()
            if together:
                sending.deliver(ctx)
            else:
                for sub in ctx.store.list_subscribers():
                    sending.deliver(ctx, subscriber_ids=[sub.id])
            seconds = time.perf_counter() - start
            planned = sorted((d.subscriber_id, d.items) for d in ctx.store.deliveries())
    finally:
        notifier.match.build_index = real
    return seconds, len(builds), planned


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, default=100)
    ap.add_argument("--background", type=int, default=2000, help="stored papers besides the day's")
    ap.add_argument("--day", type=int, default=40, help="papers of the day (at least the 30 real ones)")
    args = ap.parse_args()
    template = Path(tempfile.mkdtemp()) / "template.sqlite"
    make_database(template, args.subscribers, args.background, args.day, random.Random(7))
    rows = {"the batch together (shipped)": plan_all(template, together=True),
            "one subscriber at a time": plan_all(template, together=False)}
    print(f"{args.subscribers} subscribers, {max(args.day, 30)} day papers, {args.background} background papers: "
          "planning only")
    for name, (seconds, builds, planned) in rows.items():
        print(f"  {name:<32} {seconds:7.1f} s  {seconds / args.subscribers * 1000:6.1f} ms/subscriber  "
              f"{builds:5d} index builds  {len(planned)} digests")
    same = len({json.dumps(planned, default=str) for _, _, planned in rows.values()}) == 1
    print("  same digests planned both ways" if same else "  DIFFERENT digests planned: a bug")


if __name__ == "__main__":
    main()
