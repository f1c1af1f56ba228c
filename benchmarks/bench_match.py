"""Speed of `notifier match --profiles` against a naive regex scan and SQLite FTS5, side by side.

    python benchmarks/bench_match.py [--papers 1000] [--profiles 10000]
1,000 papers are recombined deterministically from the real titles and abstracts of the shared
eval set; 10,000 profiles of 2-6 terms (words, phrases, exclusions) are drawn from their vocabulary.
10% of the profiles carry 5 votes (--votes) on papers of earlier days, given with their text.
Prints wall and CPU seconds and speed-ups of each child process, CPU counting the processes it forks
(`notifier match` splits a big batch over the CPUs: then CPU > wall), and two peaks of memory: of the
largest process (maxrss; the kernel reports the largest of the child and its waited-for children,
not their sum) and of all of them together (their RSS summed, polled from /proc every 20 ms: pages
they share after the fork are counted in each, so this overstates). The sizes to check:
    python benchmarks/bench_match.py                                         # 1,000 x 10,000, all three
    python benchmarks/bench_match.py --profiles 100000 --only-ours           # 1,000 x 100,000
    python benchmarks/bench_match.py --papers 10000 --only-ours              # 10,000 x 10,000
On a shared machine add --repeat 3: each is run three times and the run using the least CPU kept.
"""
import argparse
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

EVAL = "/work/shared/eval/papers.jsonl"
WORD = re.compile(r"[A-Za-z][A-Za-z\-]{3,}")


def make_papers(n, rng):
    src = [json.loads(l) for l in open(EVAL) if l.strip()]
    out = []
    for i in range(n):
        a, b = rng.choice(src), rng.choice(src)
        sents = re.split(r"(?<=\.) ", a["abstract"]) + re.split(r"(?<=\.) ", b["abstract"])
        abstract = " ".join(rng.sample(sents, min(len(sents), 8)))
        out.append({"id": f"2601.{i:05d}", "title": a["title"] if i % 2 else b["title"], "abstract": abstract})
    return out


def add_votes(profiles, share, rng):
    """5 votes (3 up, 2 down) on papers of earlier days, title and abstract given, for ``share`` of the profiles."""
    earlier = make_papers(200, random.Random(11))
    for p in profiles:
        if rng.random() < share:
            p["feedback"] = [{"id": f"2512.{i:05d}", "title": earlier[i]["title"], "abstract": earlier[i]["abstract"],
                              "vote": 1 if k < 3 else -1} for k, i in enumerate(rng.sample(range(200), 5))]
    return profiles


def make_profiles(n, papers, rng):
    words = sorted({w.lower() for p in papers[:200] for w in WORD.findall(p["title"])})
    bigrams = sorted({" ".join(m) for p in papers[:200]
                      for m in zip(p["title"].lower().split(), p["title"].lower().split()[1:])
                      if all(WORD.fullmatch(x) for x in m)})
    out = []
    for i in range(n):
        terms = []
        for _ in range(rng.randint(2, 6)):
            r = rng.random()
            terms.append(f'"{rng.choice(bigrams)}"' if r < 0.35 else rng.choice(words))
        if rng.random() < 0.3:
            terms.append("-" + rng.choice(words))
        out.append({"id": f"u{i}", "profile": ", ".join(terms)})
    return out


def split(profile):
    pos, neg = [], []
    for t in profile.split(", "):
        (neg if t.startswith("-") else pos).append(t.lstrip("-").strip('"'))
    return pos, neg


def naive(papers_path, profiles_path):
    papers = [json.loads(l) for l in open(papers_path)]
    texts = [(p["id"], (p["title"] + " " + p["abstract"])) for p in papers]
    for line in open(profiles_path):
        pos, neg = split(json.loads(line)["profile"])
        pos_re = [re.compile(r"\b" + re.escape(t).replace(r"\ ", r"[\s\-]+") + r"\w*", re.I) for t in pos]
        neg_re = [re.compile(r"\b" + re.escape(t) + r"\w*", re.I) for t in neg]
        hits = []
        for pid, text in texts:
            if any(r.search(text) for r in neg_re):
                continue
            n = sum(len(r.findall(text)) for r in pos_re)
            if n:
                hits.append((n, pid))
        hits.sort(reverse=True)


def fts5(papers_path, profiles_path):
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE p USING fts5(id UNINDEXED, title, abstract, tokenize='porter')")
    db.executemany("INSERT INTO p VALUES (?,?,?)",
                   [(p["id"], p["title"], p["abstract"]) for p in map(json.loads, open(papers_path))])
    for line in open(profiles_path):
        pos, neg = split(json.loads(line)["profile"])
        q = " OR ".join('"' + re.sub(r"[^\w ]", " ", t) + '"' for t in pos)
        if neg:
            q = f"({q}) NOT (" + " OR ".join('"' + re.sub(r"[^\w ]", " ", t) + '"' for t in neg) + ")"
        db.execute("SELECT id, bm25(p, 0, 2.0, 1.0) AS s FROM p WHERE p MATCH ? ORDER BY s LIMIT 25", (q,)).fetchall()


def least_cpu(cmd, runs):
    """The run of ``runs`` that used the least CPU: on a shared machine the others are slowed by it."""
    return min((timed_child(cmd) for _ in range(runs)), key=lambda row: row[2])


def timed_child(cmd):
    """-> (wall s, peak MB of the largest process, CPU s of all, peak MB of all together)."""
    start = time.perf_counter()
    pid = subprocess.Popen(cmd, stdout=subprocess.DEVNULL).pid
    done, peak = threading.Event(), [0]
    poll = threading.Thread(target=poll_rss, args=(pid, done, peak))
    poll.start()
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    done.set()
    poll.join()
    if status:
        raise SystemExit(f"{cmd[:4]} failed with status {status}")
    largest = usage.ru_maxrss / 1024
    return wall, largest, usage.ru_utime + usage.ru_stime, max(peak[0] / 2**20, largest)


def poll_rss(pid, done, peak):
    """The most that ``pid`` and its descendants held resident at once, in bytes, into ``peak[0]``,
    every 20 ms until ``done``: read from /proc (Linux; elsewhere it stays 0: maxrss is shown)."""
    page = os.sysconf("SC_PAGE_SIZE")
    while not done.wait(0.02):
        total = 0
        for p in tree(pid):
            try:
                with open(f"/proc/{p}/statm") as fh:
                    total += int(fh.read().split()[1]) * page
            except (OSError, IndexError, ValueError):
                pass
        peak[0] = max(peak[0], total)


def tree(pid):
    """``pid`` and its descendants, from /proc/PID/task/*/children."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(map(int, fh.read().split()))
        except (OSError, ValueError):
            pass
    return out


def scaled(row, factor):
    return row[0] * factor, row[1], row[2] * factor, row[3]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--papers", type=int, default=1000)
    ap.add_argument("--profiles", type=int, default=10000)
    ap.add_argument("--votes", type=float, default=0.1,
                    help="share of the profiles with 5 votes (3 up, 2 down) on papers of earlier days")
    ap.add_argument("--only-ours", action="store_true", help="time notifier alone (for the big sizes)")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="run notifier and FTS5 N times each and keep the run using the least CPU (a busy machine)")
    ap.add_argument("--naive-sample", type=int, default=200,
                    help="the naive scan runs on this many profiles and its time is scaled up (it takes ~0.7 s per 10)")
    args = ap.parse_args()
    rng = random.Random(5)
    tmp = tempfile.mkdtemp()
    papers = make_papers(args.papers, rng)
    pp, qp = os.path.join(tmp, "papers.jsonl"), os.path.join(tmp, "profiles.jsonl")
    with open(pp, "w") as fh:
        fh.writelines(json.dumps(p) + "\n" for p in papers)
    with open(qp, "w") as fh:
        profiles = add_votes(make_profiles(args.profiles, papers, rng), args.votes, random.Random(13))
        fh.writelines(json.dumps(p) + "\n" for p in profiles)
    sample = os.path.join(tmp, "sample.jsonl")
    with open(qp) as src, open(sample, "w") as dst:
        dst.writelines(line for _, line in zip(range(args.naive_sample), src))
    scale = args.profiles / min(args.naive_sample, args.profiles)
    py = sys.executable
    me = os.path.abspath(__file__)
    rows = {"notifier match --profiles": least_cpu([py, "-m", "notifier", "match", "--papers", pp, "--profiles", qp,
                                                   "--json"], args.repeat)}
    if not args.only_ours:
        rows["naive regex scan"] = scaled(timed_child([py, me, "--_run", "naive", pp, sample]), scale)
        rows["SQLite FTS5 (porter)"] = least_cpu([py, me, "--_run", "fts5", pp, qp], args.repeat)
    ours = rows["notifier match --profiles"][0]
    print(f"{args.papers} papers x {args.profiles} profiles, {args.votes:.0%} with 5 votes (each child timed with"
          f" process start-up; naive measured on {min(args.naive_sample, args.profiles)} profiles, scaled x{scale:g})")
    cpu = rows["notifier match --profiles"][2]
    print(f"  (CPU seconds too: on a busy machine they compare fairer than wall time; load average "
          f"{os.getloadavg()[0]:.1f}" + (f"; the least CPU of {args.repeat} runs" if args.repeat > 1 else "") + ")")
    print("  (CPU: of every process of the run; peak: of the largest process / of all together, RSS summed)")
    for name, (secs, mem, used, total) in rows.items():
        print(f"  {name:<28} {secs:8.2f} s {secs / ours:6.1f}x ours   CPU {used:8.2f} s {used / cpu:6.1f}x ours"
              f"   peak {mem:6.0f} / {total:6.0f} MB")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--_run":
        {"naive": naive, "fts5": fts5}[sys.argv[2]](sys.argv[3], sys.argv[4])
    else:
        main()
