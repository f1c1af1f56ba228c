"""`notifier match`: score papers (JSON lines) against one profile or many."""
from __future__ import annotations

import gc
import json
import sys
from dataclasses import replace
from functools import partial
from itertools import chain, islice
from json.encoder import encode_basestring_ascii

import orjson

from notifier.commands import STDIN, check_paper_fields, read_jsonl, read_papers
from notifier.errors import InputError, ProfileError
from notifier.models import given_paper_id, liked_besides_itself


def add_arguments(p):
    p.set_defaults(usage_error=p.error)
    p.add_argument("--papers", required=True, metavar="FILE.jsonl",
                   help="papers, one JSON object a line: id (or arxiv_id), title, abstract, optional authors; "
                        "- reads standard input (`notifier parse --jsonl FEED | notifier match --papers - ...`)")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--profile", metavar="TEXT", help='a keyword profile, e.g. \'"kv cache", MoE, -federated\'')
    group.add_argument("--profiles", metavar="FILE.jsonl", help='profiles, one {"id", "profile"} a line')
    p.add_argument("--json", action="store_true", help='a JSON array, best first, of {"id", "score", "selected", "matched"}; with --profiles, '
                        'one JSON line a profile: {"profile", "matches"}')
    p.add_argument("--max-items", type=int, default=None, metavar="N",
                   help="at most N papers selected per profile (default 50; the thresholds usually select fewer)")
    p.add_argument("--threshold", type=float, default=None, metavar="T",
                   help="how close to the mean of the profile's 3 best a paper must score to be selected, 0.05-0.95: "
                        "T x that mean, less for a paper squarely on the terms and like the best (down to T^3); "
                        "below 0.4 T also lowers the floor on its term score (default 0.4; lower sends more, "
                        "higher fewer)")
    p.add_argument("--upvote-weight", type=float, default=0.0, metavar="W",
                   help="blend HF upvotes into the order (never into selection), e.g. 0.2")
    p.add_argument("--feedback", metavar="VOTES.jsonl",
                   help='votes, one {"id", "vote": 1 | -1} a line (1 = more like this, -1 = not for me); a paper '
                        'not among --papers needs its "title" and "abstract" on the line. With --profiles, a '
                        'line\'s own "feedback" list replaces these for that profile')


def run(args) -> int:
    enabled = gc.isenabled()
    gc.disable()    # a batch making ~10^6 short-lived objects and no cycles: -0.1 s for 10k profiles
    try:                # (one BLAS thread: set for every command by notifier.cli)
        return match(args)
    finally:
        if enabled:
            gc.enable()


def match(args) -> int:
    from notifier.match import build_index
    check_options(args)
    papers = read_papers(args.papers)
    index = build_index(papers)
    by_id = {str(given_paper_id(p)): p for p in papers}
    votes = read_votes(read_jsonl(args.feedback), args.feedback, by_id) if args.feedback else []
    if args.profile is not None:
        return run_one(args, index, papers, votes)
    return run_many(args, index, votes, by_id)


def check_options(args) -> None:
    """A one-line error for an option out of its range, or for two files read from standard input.
    The ranges are the configuration's, imported only for the options given (importing it takes ~15 ms)."""
    from_stdin = [f"--{o}" for o in ("papers", "profiles", "feedback") if getattr(args, o) == STDIN]
    if len(from_stdin) > 1:
        args.usage_error(f"{' and '.join(from_stdin)} would both read standard input (-): give all but one a file")
    if args.threshold is not None:
        from notifier.config import THRESHOLD_RANGE
        low, high = THRESHOLD_RANGE
        if not low <= args.threshold <= high:
            raise InputError(f"--threshold {args.threshold:g}: use a share of the best score between {low:g} and {high:g}")
    if args.max_items is not None and args.max_items < 1:
        raise InputError(f"--max-items {args.max_items} must be at least 1")
    if args.upvote_weight != 0.0:       # the default, in range
        from notifier.config import BOUNDS
        low, high = BOUNDS["matching.upvote_weight"]
        if not low <= args.upvote_weight <= high:
            raise InputError(f"--upvote-weight {args.upvote_weight:g} must be between {low:g} and {high:g}")


def read_votes(lines: list, where: str, papers: dict, given: dict | None = None) -> list[tuple[dict, int]]:
    """Vote lines -> [(paper, +1 | -1)]: the paper from --papers, else the title and abstract the
    line gives (the first line giving that id, title and abstract, when ``given`` keeps them: the
    votes of a batch's profiles share one copy of a paper they give the same way); a vote on a
    paper known neither way is skipped with a note on stderr."""
    votes = []
    for n, line in enumerate(lines, 1):
        if not isinstance(line, dict) or not line.get("id") or not isinstance(line["id"], (str, int)) \
                or line.get("vote") not in (1, -1) or isinstance(line.get("vote"), bool) or isinstance(line["id"], bool):
            raise InputError(f'{where}: line {n}: expected {{"id": PAPER_ID, "vote": 1 or -1}}')
        paper = papers.get(str(line["id"]))
        if paper is None:
            check_paper_fields(line, f"{where}: line {n}")
        if paper is None and not (line.get("title") or line.get("abstract")):
            print(f'note: {where}: line {n}: vote on {line["id"]} skipped: it is not among --papers '
                  f'and the line gives no "title" or "abstract"', file=sys.stderr)
            continue
        if paper is None and given is not None:
            paper = given.setdefault((str(line["id"]), line.get("title") or "", line.get("abstract") or ""), line)
        votes.append((paper or line, line["vote"]))
    return votes


def run_one(args, index, papers, votes) -> int:
    from notifier.match import DEFAULT_MAX_ITEMS, match_profiles, matches_of
    from notifier.profile import check_profile
    profile = check_profile(args.profile)
    [ranked] = match_profiles(index, [profile], max_items=args.max_items, threshold=args.threshold,
                              upvote_weight=args.upvote_weight, feedback=[votes] if votes else None)
    matches = matches_of(index, ranked, explain=not args.json)
    if args.json:
        json.dump([row(m) for m in matches], sys.stdout)
        print()
        return 0
    number = {d.id: n for n, d in enumerate(index.docs[:index.n_day])}
    up = {str(given_paper_id(paper)) for paper, vote in votes if vote > 0}
    for m in matches:
        doc = index.docs[number[m.paper_id]]
        print_match(own_vote(m, up), doc, m.evidence if m.matched else partly(index, number[m.paper_id], profile))
    chosen, capped = sum(m.selected for m in matches), len(ranked.past_cap)
    print(summary_line(chosen, capped, len(matches) - chosen - capped, len(papers), args.max_items or DEFAULT_MAX_ITEMS))
    return 0


def summary_line(chosen: int, capped: int, weaker: int, papers: int, max_items: int) -> str:
    """'1 selected (*), 2 more passed the bar (--max-items 1), 0 weaker matches, 3 papers': papers
    past --max-items were counted as weaker, which no lower --threshold selects (a digest's
    ``render.more_line`` tells them apart too)."""
    past = f"{capped} more passed the bar (--max-items {max_items}), " if capped else ""
    return f"{chosen} selected (*), {past}{weaker} weaker match{'es' if weaker != 1 else ''}, {papers} papers"


def own_vote(m, up: set[str]):
    """``m`` as a digest words it (``planning._item``): a paper voted up itself reads "you voted it
    up", and is not counted as a liked paper it is like; it read "like a paper you voted up"."""
    if m.paper_id not in up:
        return m
    return replace(m, voted_up=True, liked=liked_besides_itself(m.liked, True))


def print_match(m, doc, why: list) -> None:
    """A match's lines: score, id and title; the terms that matched (for a paper none of whose terms
    matched whole, the phrases it has part of); the votes that moved it; at most two snippets ``why``
    (a field's words quoted once: ``explain.fold``)."""
    from notifier.explain import fold
    from notifier.render import votes_line
    print(f"{'*' if m.selected else ' '} {m.score:7.3f}  {m.paper_id}  {short_title(doc.title)}")
    matched = [f"{t} (its words apart)" if t in m.apart else t for t in m.matched]
    print(f"            matched: {', '.join(matched or [f'part of {ev.term}' for ev in why])}")
    if m.liked or m.disliked or m.voted_up:
        print(f"            {votes_line(m)}")
    for ev in fold({"title": doc.title, "abstract": doc.abstract}, why)[:2]:
        text = "".join(f"[{t}]" if hit else t for t, hit in ev.snippet)
        print(f"            {ev.field}: {text}")


def short_title(title: str, limit: int = 80) -> str:
    """The title on one line, cut after a word with " …" past ``limit`` characters: cut at 80 it
    read "… for Efficien" as if misspelt."""
    from notifier.render import one_line
    title = one_line(title)
    return title if len(title) <= limit else title[:limit + 1].rsplit(" ", 1)[0].rstrip(",;:") + " …"


def partly(index, d: int, profile) -> list:
    """Why paper ``d`` scored though none of the profile's terms matched it whole (one word of a
    phrase, or a joined phrase's words apart): each phrase some of whose words it has, with a
    snippet of them (``explain.evidence``, as a digest shows why a paper matched)."""
    from notifier.explain import evidence
    return evidence(index, d, [t for t in profile.positive if t.phrase])


def run_many(args, index, votes, by_id) -> int:
    ids, profiles, feedback = read_profiles(args, votes, by_id)
    feedback = feedback if any(feedback) else None
    write = partial(write_matches, args, index, ids, profiles, feedback)
    processes = workers(len(profiles), index.n_day)
    if processes == 1:
        write(0, len(profiles), sys.stdout.write)
        return 0
    from notifier.forked import in_parallel, shares
    from notifier.match import chunk_size, prepare
    prepare(index, profiles, feedback)      # once, before the fork: the processes share it
    # shares cut at match_profiles' chunk edges score each chunk as one process would (nothing is
    # worked out across profiles today: shares cut elsewhere gave the same bytes too)
    in_parallel(write, shares(len(profiles), processes, chunk_size(index)), "matching", "profile")
    return 0


def read_profiles(args, votes, by_id) -> tuple[list[str], list, list[list]]:
    """The --profiles lines -> (their ids JSON-encoded, their profiles, their votes), every line
    checked here (in the one process) so a bad one is a one-line error before any output."""
    from notifier.profile import parse_profile     # a batch (often generated) is read as stored profiles are
    ids, profiles, feedback = [], [], []
    parsed = {}         # a profile written again (subscribers share profiles) is parsed once: its text -> Profile
    given: dict = {}    # a paper voted on, given with its text: one copy kept (100,000 profiles, 10% with 5 votes
                        # on 200 papers: 70 MB less, and a forked process reads one copy, not 25,000)
    for n, line in enumerate(read_jsonl(args.profiles), 1):
        if not isinstance(line, dict) or not isinstance(line.get("profile"), str):
            raise InputError(f"{args.profiles}: line {n}: expected {{\"id\", \"profile\": TEXT}}")
        profile = parsed.get(line["profile"])
        if profile is None:
            try:
                profile = parsed[line["profile"]] = parse_profile(line["profile"])
            except ProfileError as err:
                raise ProfileError(f"{args.profiles}: line {n}: {err}", term=err.term) from None
        profiles.append(profile)
        pid = line.get("id")
        ids.append(encode_basestring_ascii(pid) if type(pid) is str else json.dumps(pid))   # json.dumps' own, 10x faster
        own = line.get("feedback")
        if own is not None and not isinstance(own, list):
            raise InputError(f'{args.profiles}: line {n}: "feedback" must be a list of {{"id", "vote"}}')
        feedback.append(votes if own is None else read_votes(own, f"{args.profiles}: line {n}: feedback", by_id,
                                                                  given))
    return ids, profiles, feedback


def write_matches(args, index, ids: list[str], profiles: list, feedback: list | None, lo: int, hi: int,
                  write) -> None:
    """The JSON lines of profiles ``lo`` to ``hi``, passed to ``write`` 256 at a time."""
    from notifier.match import match_profiles
    # 10,000 profiles x ~20 matches: each match is a pre-encoded paper, its score and its labels
    paper = [f'{{"id": {json.dumps(d.id)}, "score": ' for d in index.docs[:index.n_day]]
    encoded: dict[str, str] = {}
    templates: dict[int, str] = {}
    batch = match_profiles(index, profiles[lo:hi], max_items=args.max_items, threshold=args.threshold,
                           upvote_weight=args.upvote_weight, selected_only=True,
                           feedback=None if feedback is None else feedback[lo:hi])
    rows = zip(ids[lo:hi], batch)
    # written 256 lines at a time (one write each would be a system call each where stdout is
    # unbuffered), their scores encoded together (one orjson call a profile cost 0.25 s at 100,000)
    while group := list(islice(rows, 256)):
        scores = numbers(list(chain.from_iterable([ranked.scores for _, ranked in group])))
        lines, at = [], 0
        for pid, ranked in group:
            tail = tails(ranked, encoded, templates)
            items = ", ".join([f"{paper[d]}{score}{tail[c]}"
                               for d, score, c in zip(ranked.docs, scores[at:at + len(ranked.docs)], ranked.codes)])
            at += len(ranked.docs)
            lines.append(f'{{"profile": {pid}, "matches": [{items}]}}\n')
        write("".join(lines))


# ----------------------------------------------------------------------------- a big batch in parallel
PARALLEL_MIN_CELLS = 5_000_000  # profiles x day papers from which a batch is matched by a process a CPU: 5,000
                                # profiles of a day of 1,000 papers, 500 of 10,000. The work to share grows with
                                # both, the cost of a process does not (~0.05-0.1 s CPU: its start, pages copied,
                                # its share's setup); on this 2-CPU machine under a load of 2 (least wall of 7,
                                # alternating) 1,000 papers x 1,000-3,000 profiles gained nothing for +0.06 s
                                # CPU, x 5,000 gained 0.04-0.08 s, x 10,000 0.17-0.3 s; 10,000 papers x 1,000
                                # profiles 0.2 s. Below it: the daemon's and the eval's batches, small files


def workers(n_profiles: int, n_papers: int) -> int:
    """How many processes match a batch: 1 below PARALLEL_MIN_CELLS (profiles x day papers), else
    as many as ``forked.processes`` gives."""
    if n_profiles * n_papers < PARALLEL_MIN_CELLS:
        return 1
    from notifier.forked import processes
    return processes(n_profiles)


def numbers(values: list[float]) -> list[str]:
    """Floats as ``repr`` writes them, through orjson (3x faster: shortest round-trip digits, the
    same); by ``repr`` if orjson wrote any differently: NaN or an infinity (null), an exponent, or
    below 1e-4 (0.0000...: Python writes 5e-05; scores have 4 decimals, so never in fact)."""
    text = orjson.dumps(values).decode()
    if "null" in text or "e" in text or "0.0000" in text:
        return [repr(v) for v in values]
    return text[1:-1].split(",") if values else []


def tails(ranked, encoded: dict[str, str], templates: dict[int, str]) -> dict[int, str]:
    """Per code of a profile's matches, the end of a match's JSON: the labels of its matched terms
    (each JSON-encoded once, kept in ``encoded``) filled into the code's template (kept in
    ``templates`` for every profile); a term the profile writes twice is listed once."""
    labels = [encoded.get(t.text) or encoded.setdefault(t.text, json.dumps(t.text))
              for t in ranked.profile.terms if t.mode != "exclude"]   # (Profile.positive without its cache's lock,
                                                                      # Term.positive without a call)
    if len(set(labels)) < len(labels):
        return {c: template(listed_once(c, labels)).format(*labels) for c in set(ranked.codes)}
    return {c: (templates.get(c) or templates.setdefault(c, template(c))).format(*labels) for c in set(ranked.codes)}


def template(code: int) -> str:
    """0b101 -> ', "selected": true, "matched": [{0}, {2}]}' (the closing brace escaped)."""
    return ', "selected": true, "matched": [' + ", ".join("{%d}" % k for k in range(code.bit_length())
                                                         if code >> k & 1) + "]}}"


def listed_once(code: int, labels: list[str]) -> int:
    """``code`` less the terms whose label an earlier term in it has."""
    seen = set()
    for k, label in enumerate(labels):
        if code >> k & 1:
            if label in seen:
                code ^= 1 << k
            seen.add(label)
    return code


def row(m) -> dict:
    return {"id": m.paper_id, "score": m.score, "selected": m.selected, "matched": m.matched}
