"""Run the shared relevance eval through `notifier match --profiles`, as a user would.

    python benchmarks/eval_matcher.py [--eval-dir /work/shared/eval]
One `notifier match --profiles` call produces a run file (profile, pid, score, selected) that
eval.py scores; unselected papers are appended below the selected ones from a --profile call so
nDCG sees the full ranking.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval-dir", default="/work/shared/eval")
    args = ap.parse_args()
    with open(os.path.join(args.eval_dir, "profiles.json")) as fh:
        profiles = json.load(fh)
    tmp = tempfile.mkdtemp()
    papers = os.path.join(tmp, "papers.jsonl")
    with open(os.path.join(args.eval_dir, "papers.jsonl")) as src, open(papers, "w") as dst:
        for line in src:
            if line.strip():
                p = json.loads(line)
                dst.write(json.dumps({"id": p["pid"], "title": p["title"], "abstract": p["abstract"]}) + "\n")
    notifier = [sys.executable, "-m", "notifier", "match", "--papers", papers]
    rows = []
    for prof in profiles:
        text = ", ".join(prof["keywords"])
        out = subprocess.run(notifier + ["--profile", text, "--json"], capture_output=True, text=True, check=True)
        for m in json.loads(out.stdout):
            rows.append(f"{prof['id']}\t{m['id']}\t{m['score']}\t{int(m['selected'])}")
    run = os.path.join(tmp, "run.tsv")
    with open(run, "w") as fh:
        fh.write("\n".join(rows) + "\n")
    return subprocess.call([sys.executable, os.path.join(args.eval_dir, "eval.py"), "--run", run, "--baselines"])


if __name__ == "__main__":
    sys.exit(main())
