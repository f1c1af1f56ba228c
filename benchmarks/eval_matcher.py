"""Run the shared relevance eval through `notifier match`, as a user would, and print the figures per group.

    python benchmarks/eval_matcher.py [--eval-dir /work/shared/eval] [--no-feedback] [--no-split]
    python benchmarks/eval_matcher.py --boost 2 3 0.5     (only the figures of 7.)
    python benchmarks/eval_matcher.py --absent-term zzqxv ornithology     (only the figures of 8.)
    python benchmarks/eval_matcher.py --rewritten     (only the figures of 9.)

1. Ranking and selection: one `notifier match --profile TEXT --json` call per profile; eval.py scores
   the full ranking (nDCG@10) and the selected papers (selection P/R/F1), next to its baselines.
2. Figures per group: the old 6 (the first six profiles of profiles.json, which the matcher was first
   tuned on), the new 18 (the rest) and all 24.
3. Votes: eval.py's evaluate_feedback (5 votes on the top of the ranking, then the rest scored on the
   residual collection), the votes passed as `notifier match --feedback VOTES.jsonl`; and the same votes
   on papers not in the day's list (in-process, the papers voted on stored), as votes on earlier days' papers are.
4. Leave-half-out: the selection threshold chosen on 12 random profiles, measured on the other 12
   (10 random splits, `notifier match --profiles` once per threshold), against the default; and the
   same for the evidence constants of the selection and for SQUARELY (in-process, a grid around the
   defaults), and for the vote constants (in-process: the residual nDCG@10 lift tuned on 12, measured
   on 12, per group), with the in-sample lift with 1 / 2 / 3 / 5 / 7 / 10 votes per group and its mean; and
   for VOTE_CREDIBILITY, how much more than 5 votes pull (the off-the-day lift's mean over those counts).
5. Empty days: per profile, a day of 40 papers judged irrelevant to it: how many would be sent.
   Threshold reach: papers sent per profile and selection F1 at thresholds across the configurable range
   (`notifier match --profiles --threshold T`): lower must send more, higher fewer, all the way.
6. Days: the papers dealt into 7 days (the others stored as the background, 10 sent at most a day, as the
   pipeline matches), each profile's selections over the week scored together: the selection on days
   the size of real ones, where each day's best papers set the bar.
7. Weights (`--boost W ...`, printed alone, in-process): each profile with one of its positive terms
   weighted `^W`, each term in turn, its figures the mean over its terms, against the profile as written;
   "kept": the share of what the profile as written sends that the weighted one still sends (a weight
   should favour its term's papers, not drop the others'); and the empty days of 5., each profile as many
   times as it has positive terms, as written and weighted.
8. Absent terms (`--absent-term TERM ...`, printed alone, in-process): each profile with a term no eval
   paper has added (a typo, a topic not seen yet), against the profile as written: "kept" as in 7. (such
   a term should take nothing away), and the empty days of 5. with it.
9. Rewritten (`--rewritten`, printed alone, in-process): each profile as another subscriber would type the
   same wish (``REWRITES``): its terms in reverse order, in lower case, with spaces for hyphens, in the
   singular; figures and "kept" as in 7., and the empty days of 5. Each rewrite is applied to every
   profile it changes (the others count as written).
"""
import argparse
import contextlib
import importlib.util
import json
import os
import random
import re
import subprocess
import sys
import tempfile

THRESHOLDS = (0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6)


def load_eval(eval_dir: str):
    spec = importlib.util.spec_from_file_location("shared_eval", os.path.join(eval_dir, "eval.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_jsonl(path: str, rows) -> str:
    with open(path, "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    return path


class Notifier:
    """`notifier match` on the eval papers, in a child process per call."""

    def __init__(self, papers: list[dict], tmp: str, max_items: int | None = None):
        self.tmp = tmp
        self.cap = ["--max-items", str(max_items)] if max_items else []
        self.papers = write_jsonl(os.path.join(tmp, "papers.jsonl"), as_docs(papers))
        self.base = [sys.executable, "-m", "notifier", "match", "--papers", self.papers]

    def __call__(self, profile: dict, papers=None, votes=None) -> list[tuple]:
        extra = []
        if votes:
            extra = ["--feedback", write_jsonl(os.path.join(self.tmp, "votes.jsonl"), votes)]
        out = self.run(["--profile", ", ".join(profile["keywords"]), "--json"] + self.cap + extra)
        return [(m["id"], m["score"], int(m["selected"])) for m in json.loads(out)]

    def selected(self, profiles: list[dict], threshold: float) -> dict[str, set]:
        path = write_jsonl(os.path.join(self.tmp, "profiles.jsonl"),
                           ({"id": p["id"], "profile": ", ".join(p["keywords"])} for p in profiles))
        out = self.run(["--profiles", path, "--json", "--threshold", str(threshold)])
        return {row["profile"]: {m["id"] for m in row["matches"]} for row in map(json.loads, out.splitlines())}

    def run(self, args: list[str]) -> str:
        return subprocess.run(self.base + args, capture_output=True, text=True, check=True).stdout


def groups(profiles: list[dict]) -> dict[str, list[str]]:
    ids = [p["id"] for p in profiles]
    return {"old 6": ids[:6], "new 18": ids[6:], "all 24": ids}


def group_line(E, label: str, per: dict, group_ids: dict, ranked: bool = True) -> str:
    cells = []
    for name, ids in group_ids.items():
        m = E.macro({i: per[i] for i in ids})
        cells.append(f"{name}: " + (f"nDCG@10 {m['nDCG@10']:.3f} " if ranked else "")
                     + f"F1 {m['selF1']:.3f} (P {m['selP']:.3f} R {m['selR']:.3f}, {m['n_sel']:.1f} sent)")
    return f"{label:<14} " + " | ".join(cells)


def halves(ids: list, splits: int):
    """``splits`` random splits of the profiles into two halves, each yielded both ways as (train, test)."""
    rng, ids = random.Random(0), list(ids)
    for _ in range(splits):
        rng.shuffle(ids)
        yield from ((ids[:12], ids[12:]), (ids[12:], ids[:12]))


def held_out(per_option: dict, ids: list, splits: int) -> tuple[list[float], list]:
    """Each option's F1 per profile (option -> {profile id: F1}): the option best on 12 random
    profiles, measured on the other 12, both ways, ``splits`` times. -> (held-out F1s, options chosen)."""
    tuned, chosen = [], []
    for train, test in halves(ids, splits):
        best = max(per_option, key=lambda option: mean(per_option[option], train))
        chosen.append(best)
        tuned.append(mean(per_option[best], test))
    return tuned, chosen


def mean(values: dict, ids) -> float:
    return sum(values[i] for i in ids) / len(ids)


def f1_by_profile(E, selected: dict, qrels) -> dict:
    return {i: E.evaluate_profile([], selected[i], qrels[i])["selF1"] for i in selected}


def leave_half_out(E, notifier: Notifier, profiles: list[dict], qrels, splits: int = 10) -> str:
    from notifier.match import RELATIVE_THRESHOLD
    by_threshold = {t: f1_by_profile(E, notifier.selected(profiles, t), qrels) for t in THRESHOLDS}
    default = f1_by_profile(E, notifier.selected(profiles, RELATIVE_THRESHOLD), qrels)
    ids = [p["id"] for p in profiles]
    tuned, chosen = held_out(by_threshold, ids, splits)
    return (f"leave-half-out ({splits} random 12/12 splits, threshold from {THRESHOLDS}): held-out selection F1 "
            f"{sum(tuned) / len(tuned):.3f} with the threshold tuned on the other half (chosen: "
            f"{', '.join(f'{t:g} x{chosen.count(t)}' for t in sorted(set(chosen)))}), {mean(default, ids):.3f} "
            f"with the default")


EVIDENCE_GRID = {"EVIDENCE_OFFSET": (1.4, 1.6, 1.8, 2.0, 2.2), "FEEDBACK_EVIDENCE": (0.5, 0.75, 1.0, 1.5),
                 "ABSOLUTE_EVIDENCE": (1.0, 1.25, 1.5), "STRONG_EVIDENCE": (0.2, 0.4, 0.6)}
SQUARELY_GRID = {"SQUARELY": (0.6, 0.7, 0.8, 0.9, 1.0, 1.2, 1e9)}     # 1e9: no paper is squarely about a term


def as_docs(papers: list[dict]) -> list[dict]:
    """The eval papers as the matcher's documents (what `notifier match --papers` reads)."""
    return [{"id": p["pid"], "title": p["title"], "abstract": p["abstract"]} for p in papers]


def parsed_profiles(profiles: list[dict]) -> list:
    from notifier.profile import parse_profile

    return [parse_profile(", ".join(p["keywords"])) for p in profiles]


def in_process(profiles: list[dict], papers: list[dict]):
    """-> (the index `notifier match --papers` builds of the eval papers, each profile parsed), for
    the checks run in-process."""
    from notifier.match import build_index

    return build_index(as_docs(papers)), parsed_profiles(profiles)


@contextlib.contextmanager
def settings(module, names: list[str], values: tuple):
    """The module's constants ``names`` set to ``values`` while the block runs, restored after."""
    saved = {name: getattr(module, name) for name in names}
    for name, value in zip(names, values):
        setattr(module, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)


def leave_half_out_evidence(E, profiles: list[dict], papers: list[dict], qrels, splits: int = 10,
                            grid_of: dict = EVIDENCE_GRID) -> str:
    """The selection's evidence constants chosen from ``grid_of`` on 12 random profiles, measured
    on the other 12: a held-out F1 near the in-sample one says the constants are not fitted to the
    profiles. In-process (the constants are module settings), on the index the command line builds."""
    import itertools
    import notifier.match as match

    index, parsed = in_process(profiles, papers)
    names, defaults = list(grid_of), {n: getattr(match, n) for n in grid_of}

    def f1s(setting: tuple) -> dict:
        with settings(match, names, setting):
            return {p["id"]: E.evaluate_profile([], {index.docs[d].id for d, s in zip(r.docs, r.selected) if s},
                                                qrels[p["id"]])["selF1"]
                    for p, r in zip(profiles, match.match_profiles(index, parsed))}

    grid = {setting: f1s(setting) for setting in itertools.product(*grid_of.values())}
    default = f1s(tuple(defaults.values()))
    ids = [p["id"] for p in profiles]
    tuned, chosen = held_out(grid, ids, splits)
    top = max(grid, key=lambda setting: mean(grid[setting], ids))
    return (f"leave-half-out of the evidence constants ({', '.join(names)} from a grid of {len(grid)}): held-out "
            f"selection F1 {sum(tuned) / len(tuned):.3f} with them tuned on the other half; in-sample "
            f"{mean(default, ids):.3f} with the defaults {tuple(defaults.values())}, {mean(grid[top], ids):.3f} "
            f"at the grid's best {top}; chosen: {len(set(chosen))} different settings over {len(chosen)} halves")


VOTE_GRID = {"VOTE_WEIGHT": (1.0, 1.25, 1.5, 1.75), "VOTE_LIKED": (0.15, 0.2, 0.3), "VOTE_DISLIKED": (0.0, 0.2, 0.5),
             "VOTE_CLIP": (0.5, 1.0, 1.5), "VOTE_CONTRAST": (0.2, 0.4, 0.6), "VOTE_SECOND_ROUND": (0.0, 0.05, 0.1)}


def feedback_lifts(E, index, parsed: list, profiles: list[dict], papers: list[dict], qrels, max_items=None,
                   n_votes: int = 5) -> dict:
    """evaluate_feedback in-process, all profiles in one batch: per profile, what its ``n_votes``
    votes lift (nDCG@10, selection F1) on the residual collection, with the vote constants as they are set."""
    import notifier.match as match

    by_id = {d["id"]: d for d in as_docs(papers)}

    def ranked(feedback=None) -> list[tuple[list, set]]:
        return [([index.docs[d].id for d in r.docs], {index.docs[d].id for d, s in zip(r.docs, r.selected) if s})
                for r in match.match_profiles(index, parsed, max_items=max_items, feedback=feedback)]

    lifts = {}
    before = ranked()
    voted = [[pid for pid in ranking if pid in qrels[p["id"]]][:n_votes] for p, (ranking, _) in zip(profiles, before)]
    feedback = [[(by_id[pid], 1 if qrels[p["id"]][pid] >= 1 else -1) for pid in v] for p, v in zip(profiles, voted)]
    for p, v, b, a in zip(profiles, voted, before, ranked(feedback)):
        rest = {pid: g for pid, g in qrels[p["id"]].items() if pid not in v}
        b, a = E.evaluate_profile(*b, rest), E.evaluate_profile(*a, rest)
        lifts[p["id"]] = (a["nDCG@10"] - b["nDCG@10"], a["selF1"] - b["selF1"])
    return lifts


def leave_half_out_votes(E, profiles: list[dict], papers: list[dict], qrels, group_ids: dict, splits: int = 10) -> str:
    """The vote constants chosen from VOTE_GRID for the residual nDCG@10 lift on 12 random profiles,
    measured on the other 12 (with residual F1 uncapped and capped at 10 of the same choice), per
    group: each profile's held-out lift is its mean over the halves it was held out in. A held-out
    lift near the in-sample one says the votes are not fitted to these profiles. In-process (the
    constants are module settings), on the index the command line builds."""
    import itertools
    import notifier.votes as votes

    index, parsed = in_process(profiles, papers)
    names, defaults = list(VOTE_GRID), {n: getattr(votes, n) for n in VOTE_GRID}

    def lifts(setting: tuple) -> dict:
        with settings(votes, names, setting):
            return {cap: feedback_lifts(E, index, parsed, profiles, papers, qrels, cap) for cap in (None, 10)}

    grid = {setting: lifts(setting) for setting in itertools.product(*VOTE_GRID.values())}
    default = lifts(tuple(defaults.values()))
    ndcg = {setting: {i: lift[None][i][0] for i in lift[None]} for setting, lift in grid.items()}
    held = {i: [] for i in ndcg[next(iter(grid))]}
    for train, test in halves(list(held), splits):
        best = max(grid, key=lambda setting: mean(ndcg[setting], train))
        for i in test:
            held[i].append((grid[best][None][i][0], grid[best][None][i][1], grid[best][10][i][1]))

    def line(label: str, per: dict) -> str:
        cells = [f"{name}: nDCG@10 {sum(per[i][0] for i in ids) / len(ids):+.3f} F1 {sum(per[i][1] for i in ids) / len(ids):+.3f}"
                 f" (capped {sum(per[i][2] for i in ids) / len(ids):+.3f})" for name, ids in group_ids.items()]
        return f"{label:<14} " + " | ".join(cells)

    in_sample = {i: (default[None][i][0], default[None][i][1], default[10][i][1]) for i in held}
    held = {i: tuple(sum(x) / len(x) for x in zip(*rows)) for i, rows in held.items()}
    return "\n".join([f"leave-half-out of the vote constants ({', '.join(names)} from a grid of {len(grid)}, "
                      f"{splits} random 12/12 splits): the lift of the residual nDCG@10 and F1 (capped: at most 10 sent)",
                      line("in-sample", in_sample), line("held-out", held),
                      votes_counts(E, index, parsed, profiles, papers, qrels, group_ids)])


VOTE_COUNTS = (1, 2, 3, 5, 7, 10)     # a subscriber's first votes are 1 and 2: they are measured too


CREDIBILITY_GRID = (0, 2, 5, 10, 20, 40)     # 0: any number of votes pulls as VOTE_TUNED_AT do


def leave_half_out_credibility(E, profiles: list[dict], papers: list[dict], qrels, splits: int = 10) -> str:
    """VOTE_CREDIBILITY chosen from CREDIBILITY_GRID for the residual nDCG@10 lift off the day, its mean over
    1, 2, 3, 5, 7 and 10 votes (what it weighs is the number of votes: 5 alone cannot show it), on 12 random
    profiles, measured on the other 12. In-process (a module setting), on the index the command line builds."""
    import notifier.votes as votes

    index, parsed = in_process(profiles, papers)

    def mean_lifts(k: float) -> dict:
        with settings(votes, ["VOTE_CREDIBILITY"], (k,)):
            lifts = [off_the_day_lifts(E, index, parsed, profiles, papers, qrels, n) for n in VOTE_COUNTS]
        return {p["id"]: sum(lift[p["id"]][0] for lift in lifts) / len(lifts) for p in profiles}

    grid = {k: mean_lifts(k) for k in CREDIBILITY_GRID}
    ids = [p["id"] for p in profiles]
    tuned, chosen = held_out(grid, ids, splits)
    return (f"leave-half-out of VOTE_CREDIBILITY (from {CREDIBILITY_GRID}, {splits} random 12/12 splits): the mean "
            f"nDCG@10 lift off the day over {' / '.join(map(str, VOTE_COUNTS))} votes, held out "
            f"{sum(tuned) / len(tuned):+.3f} with it tuned on the other half, {mean(grid[0], ids):+.3f} with 0 (each "
            f"number of votes pulling as {votes.VOTE_TUNED_AT} do); in-sample {mean(grid[votes.VOTE_CREDIBILITY], ids):+.3f}"
            f" with the default {votes.VOTE_CREDIBILITY:g}; chosen: "
            + ", ".join(f"{k:g} x{chosen.count(k)}" for k in sorted(set(chosen))))


def votes_counts(E, index, parsed: list, profiles: list[dict], papers: list[dict], qrels, group_ids: dict) -> str:
    """The in-sample residual nDCG@10 lift with 1, 2, 3, 5, 7 and 10 votes on the top, per group, and
    their mean: steadier than 5 votes alone, where one profile's residual nDCG@10 moving by 0.3
    (a relevant paper entering or leaving its top 10 can) moves the old 6's lift by 0.05."""
    lifts = {n: feedback_lifts(E, index, parsed, profiles, papers, qrels, None, n) for n in VOTE_COUNTS}
    return f"in-sample nDCG@10 lift with {' / '.join(map(str, VOTE_COUNTS))} votes on the top: " + counts_cells(lifts, group_ids)


def counts_cells(lifts: dict, group_ids: dict) -> str:
    """Per group, the mean nDCG@10 lift (each profile's first figure) at each vote count of ``lifts``, and their mean."""
    rows = []
    for name, ids in group_ids.items():
        each = [mean({i: x[0] for i, x in lifts[n].items()}, ids) for n in lifts]
        rows.append(f"{name}: " + " ".join(f"{x:+.3f}" for x in each) + f" (mean {sum(each) / len(each):+.3f})")
    return " | ".join(rows)


def off_the_day_lifts(E, index, parsed: list, profiles: list[dict], papers: list[dict], qrels, n_votes: int,
                      capped: bool = False) -> dict:
    """Per profile, what ``n_votes`` votes on the top of its ranking lift when the papers voted on are
    not in the day's list, as subscribers vote on papers of earlier days (in the judged set's protocol
    they are day papers, each as like itself as a paper can be): they are stored (the background), the
    others are its day, ranked without and with the votes; (nDCG@10, F1, and if ``capped`` F1 with
    at most 10 sent) on them."""
    from notifier.match import build_index, match_profile

    by_id, lifts = {d["id"]: d for d in as_docs(papers)}, {}
    for prof, profile in zip(profiles, parsed):
        grades = qrels[prof["id"]]
        voted = [m.paper_id for m in match_profile(index, profile, explain=False) if m.paper_id in grades][:n_votes]
        day = build_index([d for pid, d in by_id.items() if pid not in voted], [by_id[pid] for pid in voted])
        votes = [(by_id[pid], 1 if grades[pid] >= 1 else -1) for pid in voted]
        rest = {pid: g for pid, g in grades.items() if pid not in voted}

        def scored(cap, feedback):
            matches = match_profile(day, profile, max_items=cap, explain=False, feedback=feedback)
            return E.evaluate_profile([m.paper_id for m in matches], {m.paper_id for m in matches if m.selected}, rest)
        b, a = scored(None, None), scored(None, votes)
        lifts[prof["id"]] = (a["nDCG@10"] - b["nDCG@10"], a["selF1"] - b["selF1"])
        if capped:
            b, a = scored(10, None), scored(10, votes)
            lifts[prof["id"]] += (a["selF1"] - b["selF1"],)
    return lifts


def votes_off_the_day(E, profiles: list[dict], papers: list[dict], qrels, group_ids: dict, n_votes: int = 5) -> str:
    """The votes of ``votes_lift`` on papers not in the day's list (``off_the_day_lifts``; F1 capped: at
    most 10 sent), and the nDCG@10 lift so with 1, 2, 3, 5, 7 and 10 votes and their mean: one relevant paper
    entering or leaving a profile's top 10 moves its residual nDCG@10 by 0.15 to 0.4, the 5 votes' all-24
    figure by 0.006 to 0.017. In-process: the command line has no background."""
    index, parsed = in_process(profiles, papers)
    lifts = {n: off_the_day_lifts(E, index, parsed, profiles, papers, qrels, n, capped=n == n_votes)
             for n in VOTE_COUNTS}
    five = lifts[n_votes]
    cells = [f"{name}: nDCG@10 {mean({i: x[0] for i, x in five.items()}, ids):+.3f} F1 "
             f"{mean({i: x[1] for i, x in five.items()}, ids):+.3f} (capped {mean({i: x[2] for i, x in five.items()}, ids):+.3f})"
             for name, ids in group_ids.items()]
    return (f"{'off the day':<14} " + " | ".join(cells) + f"\noff the day, nDCG@10 lift with "
            f"{' / '.join(map(str, VOTE_COUNTS))} votes on the top: " + counts_cells(lifts, group_ids))


def threshold_reach(E, notifier: Notifier, profiles: list[dict], qrels) -> str:
    """Papers sent per profile and selection F1 at thresholds from one end of the configurable range
    to the other: each step must send more than the next."""
    from notifier.config import THRESHOLD_RANGE
    low, high = THRESHOLD_RANGE
    cells = []
    for t in (low, 0.15, 0.25, 0.4, 0.6, 0.8, high):
        selected = notifier.selected(profiles, t)
        f1 = [E.evaluate_profile([], selected[p["id"]], qrels[p["id"]])["selF1"] for p in profiles]
        cells.append(f"{t:g}: {sum(map(len, selected.values())) / len(profiles):.1f} sent F1 {sum(f1) / len(f1):.3f}")
    return "threshold reach (all 24, per profile): " + " | ".join(cells)


def empty_days(profiles: list[dict], papers: list[dict], qrels, size: int = 40) -> str:
    """Per profile, a day of ``size`` papers judged irrelevant to it (the other papers stored as the
    background, as the pipeline has them): how many would be sent. In-process: the command line has
    no background."""
    from notifier.match import build_index, match_profile

    rng, docs, sent = random.Random(1), as_docs(papers), []
    for prof, profile in zip(profiles, parsed_profiles(profiles)):
        day = rng.sample([d for d in docs if qrels[prof["id"]].get(d["id"]) == 0], size)
        index = build_index(day, [d for d in docs if d not in day])
        matches = match_profile(index, profile, explain=False)
        sent.append(sum(m.selected for m in matches))
    return (f"empty days ({size} papers judged irrelevant, per profile): {sum(sent)} papers sent over "
            f"{len(profiles)} profiles; nothing sent for {sent.count(0)} of them")


def days(E, profiles: list[dict], papers: list[dict], qrels, group_ids: dict, n_days: int = 7) -> str:
    """The papers dealt into ``n_days`` days (two deals), each matched with the rest stored as its
    background and at most 10 sent (the pipeline's digest size); a profile's selections over the
    days scored together. In-process: the command line has no background."""
    from notifier.match import build_index, match_profiles

    docs, parsed = as_docs(papers), parsed_profiles(profiles)
    per = {}
    for deal in range(2):
        order = random.Random(deal).sample(docs, len(docs))
        sent = {p["id"]: set() for p in profiles}
        for d in range(n_days):
            day = order[d::n_days]
            index = build_index(day, [x for x in docs if x not in day])
            for p, r in zip(profiles, match_profiles(index, parsed, max_items=10)):
                sent[p["id"]] |= {index.docs[i].id for i, s in zip(r.docs, r.selected) if s}
        per[deal] = {p["id"]: E.evaluate_profile([], sent[p["id"]], qrels[p["id"]]) for p in profiles}
    both = {i: {k: (per[0][i][k] + per[1][i][k]) / 2 for k in per[0][i]} for i in per[0]}
    return group_line(E, f"{n_days} days", both, group_ids, ranked=False)


def weighted(profile: dict, k: int, weight: float) -> dict:
    """The profile with its ``k``-th keyword weighted ``^weight``."""
    keywords = list(profile["keywords"])
    keywords[k] += f"^{weight:g}"
    return {**profile, "keywords": keywords}


def boosted(E, profiles: list[dict], papers: list[dict], qrels, group_ids: dict, weights: list[float]) -> str:
    """Per group, the profiles as written and, for each of ``weights``, with each positive term
    weighted so in turn (a profile's figures: the mean over its terms) (``against_written``)."""
    terms = [(p, k) for p in profiles for k, kw in enumerate(p["keywords"]) if not kw.startswith("-")]
    return against_written(E, profiles, papers, qrels, group_ids, [p for p, _ in terms],
                           [(f"a term ^{w:g}", [(p, weighted(p, k, w)) for p, k in terms]) for w in weights])


def with_absent_term(E, profiles: list[dict], papers: list[dict], qrels, group_ids: dict, words: list[str]) -> str:
    """Per group, the profiles as written and with each of ``words`` added (a term no eval paper has:
    a typo, a topic not seen yet) (``against_written``)."""
    return against_written(E, profiles, papers, qrels, group_ids, profiles,
                           [(f"+ {w}", [(p, {**p, "keywords": [*p["keywords"], w]}) for p in profiles]) for w in words])


def singular(term: str) -> str:
    """The term with its last word in the singular, the simple English way (``laws`` -> ``law``, not
    ``focus``, ``class``, ``analysis`` or ``recsys``)."""
    return re.sub(r"(?<=[a-z]{2}[a-hj-rtv-xz])s(?=\"?(\^[\d.]+)?$)", "", term)


REWRITES = {   # how another subscriber types the same keywords, the leading - of an exclusion kept
    "reversed": lambda kw: kw[::-1],
    "lower case": lambda kw: [k.lower() for k in kw],
    "spaced": lambda kw: [k[0] + k[1:].replace("-", " ") for k in kw],
    "singular": lambda kw: [singular(k) for k in kw],
}


def rewritten(E, profiles: list[dict], papers: list[dict], qrels, group_ids: dict) -> str:
    """Per group, the profiles as written and each of ``REWRITES`` (``against_written``)."""
    return against_written(E, profiles, papers, qrels, group_ids, profiles,
                           [(label, [(p, {**p, "keywords": how(p["keywords"])}) for p in profiles])
                            for label, how in REWRITES.items()])


def against_written(E, profiles: list[dict], papers: list[dict], qrels, group_ids: dict, written: list[dict],
                    variants: list[tuple[str, list[tuple[dict, dict]]]]) -> str:
    """The profiles' figures as written (and the empty days of 5. of ``written``: each profile as often
    as it has variants), then for each (label, (profile, its variant) pairs) of ``variants`` the variants'
    figures, the share of what each profile sends as written that its variants still send, and their
    empty days. In-process, on the index the command line builds."""
    index, _ = in_process(profiles, papers)
    plain = as_written(E, index, profiles, qrels)
    lines = [group_line(E, "as written", {i: s for i, (s, _) in plain.items()}, group_ids),
             f"{'':<14} {empty_days(written, papers, qrels)}"]
    for label, changed in variants:
        lines += variant_lines(E, label, varied(E, index, plain, changed, qrels), group_ids,
                               empty_days([v for _, v in changed], papers, qrels))
    return "\n".join(lines)


def as_written(E, index, profiles: list[dict], qrels) -> dict:
    """Per profile id: (eval.py's figures of its selection, the ids it selects)."""
    from notifier.match import match_profiles

    return {p["id"]: selection(E, index, r, qrels[p["id"]])
            for p, r in zip(profiles, match_profiles(index, parsed_profiles(profiles)))}


def varied(E, index, plain: dict, changed: list[tuple[dict, dict]], qrels) -> dict:
    """Per profile id, the mean over its variants (``changed``: (profile, a variant of it)) of eval.py's
    figures of the variant's selection, and "kept": the share of what the profile as written sends
    (``plain``, from ``as_written``) that the variant still sends."""
    from notifier.match import match_profiles

    per = {}
    for (p, _), r in zip(changed, match_profiles(index, parsed_profiles([v for _, v in changed]))):
        scores, sent = selection(E, index, r, qrels[p["id"]])
        before = plain[p["id"]][1]
        per.setdefault(p["id"], []).append({**scores, "kept": len(sent & before) / len(before) if before else 1.0})
    return {i: {key: sum(s[key] for s in rows) / len(rows) for key in rows[0]} for i, rows in per.items()}


def variant_lines(E, label: str, per: dict, group_ids: dict, empty: str) -> list[str]:
    """The lines of one variant of the profiles: its figures per group, what it kept, its empty days."""
    kept = " | ".join(f"{name}: {mean({i: per[i]['kept'] for i in ids}, ids):.3f}" for name, ids in group_ids.items())
    return [group_line(E, label, per, group_ids), f"{'kept':<14} {kept}", f"{'':<14} {empty}"]


def selection(E, index, ranked, grades: dict) -> tuple[dict, set]:
    """-> (eval.py's figures of one ``Ranked``, the ids it selects)."""
    sent = {index.docs[d].id for d, s in zip(ranked.docs, ranked.selected) if s}
    return E.evaluate_profile([index.docs[d].id for d in ranked.docs], sent, grades), sent


def votes_lift(E, notifier: Notifier, papers, profiles, qrels, group_ids: dict) -> str:
    before, after = E.evaluate_feedback(notifier, 5, papers, profiles, qrels)
    lift = []
    for name, ids in group_ids.items():
        b, a = E.macro({i: before[i] for i in ids}), E.macro({i: after[i] for i in ids})
        lift.append(f"{name}: nDCG@10 {a['nDCG@10'] - b['nDCG@10']:+.3f} F1 {a['selF1'] - b['selF1']:+.3f}")
    return "\n".join([group_line(E, "without votes", before, group_ids),
                      group_line(E, "with votes", after, group_ids), f"{'lift':<14} " + " | ".join(lift)])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval-dir", default="/work/shared/eval")
    ap.add_argument("--no-feedback", action="store_true", help="skip the votes run")
    ap.add_argument("--no-split", action="store_true", help="skip the leave-half-out check")
    ap.add_argument("--boost", type=float, nargs="+", metavar="W",
                    help="print only the figures with each positive term weighted ^W in turn")
    ap.add_argument("--absent-term", nargs="+", metavar="TERM",
                    help="print only the figures with TERM (which no eval paper has) added to each profile")
    ap.add_argument("--rewritten", action="store_true",
                    help="print only the figures with each profile typed another way (REWRITES)")
    args = ap.parse_args()
    E = load_eval(args.eval_dir)
    papers, profiles, qrels = E.load_papers(), E.load_profiles(), E.load_qrels()
    if args.boost:
        print(boosted(E, profiles, papers, qrels, groups(profiles), args.boost))
        return 0
    if args.absent_term:
        print(with_absent_term(E, profiles, papers, qrels, groups(profiles), args.absent_term))
        return 0
    if args.rewritten:
        print(rewritten(E, profiles, papers, qrels, groups(profiles)))
        return 0
    notifier = Notifier(papers, tempfile.mkdtemp())
    results = {name: E.evaluate(fn, None, papers, profiles, qrels) for name, fn in E.BASELINES.items()}
    results["notifier"] = E.evaluate(notifier, None, papers, profiles, qrels)
    print(E.format_table(results, [p["id"] for p in profiles]))
    print()
    group_ids = groups(profiles)
    for name, per in results.items():
        print(group_line(E, name, per, group_ids))
    if not args.no_feedback:
        print("\nvotes: 5 on the top of each ranking (notifier match --feedback), scored on the rest:")
        print(votes_lift(E, notifier, papers, profiles, qrels, group_ids))
        capped = Notifier(papers, tempfile.mkdtemp(), max_items=10)
        print("the same with digests of at most 10 papers (--max-items 10, the pipeline's default):")
        print(votes_lift(E, capped, papers, profiles, qrels, group_ids))
        print("the same votes on papers not in the day's list (stored, as votes on earlier days' papers are):")
        print(votes_off_the_day(E, profiles, papers, qrels, group_ids))
    if not args.no_split:
        print("\n" + leave_half_out(E, notifier, profiles, qrels))
        print(leave_half_out_evidence(E, profiles, papers, qrels))
        print(leave_half_out_evidence(E, profiles, papers, qrels, grid_of=SQUARELY_GRID))
        if not args.no_feedback:
            print(leave_half_out_votes(E, profiles, papers, qrels, group_ids))
            print(leave_half_out_credibility(E, profiles, papers, qrels))
    print(threshold_reach(E, notifier, profiles, qrels))
    print(empty_days(profiles, papers, qrels))
    print(days(E, profiles, papers, qrels, group_ids))
    return 0


if __name__ == "__main__":
    sys.exit(main())
