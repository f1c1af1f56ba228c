"""`notifier match`: score papers (JSON lines) against one profile or many."""
from __future__ import annotations

import gc
import json
import os
import sys
from functools import partial
from itertools import chain, islice
from json.encoder import encode_basestring_ascii

import orjson

from notifier.commands import check_paper_fields, read_jsonl, read_papers
from notifier.errors import InputError, NotifierError, ProfileError


def add_arguments(p):
    p.add_argument("--papers", required=True, metavar="FILE.jsonl",
                   help="papers, one JSON object a line: id (or arxiv_id), title, abstract, optional authors")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--profile", metavar="TEXT", help='a keyword profile, e.g. \'"kv cache", MoE, -federated\'')
    group.add_argument("--profiles", metavar="FILE.jsonl", help='profiles, one {"id", "profile"} a line')
    p.add_argument("--json", action="store_true", help="machine-readable output (see DESIGN.md)")
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
    by_id = {str(p.get("id") or p.get("arxiv_id") or p.get("pid")): p for p in papers}
    votes = read_votes(read_jsonl(args.feedback), args.feedback, by_id) if args.feedback else []
    if args.profile is not None:
        return run_one(args, index, papers, votes)
    return run_many(args, index, votes, by_id)


def check_options(args) -> None:
    """A one-line error for an option out of its range. The ranges are the configuration's, imported
    only for the options given (importing it takes ~15 ms)."""
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
    from notifier.match import match_profile
    from notifier.profile import check_profile
    from notifier.render import votes_line
    matches = match_profile(index, check_profile(args.profile), max_items=args.max_items, threshold=args.threshold,
                            upvote_weight=args.upvote_weight, explain=not args.json, feedback=votes)
    if args.json:
        json.dump([row(m) for m in matches], sys.stdout)
        print()
        return 0
    titles = {d.id: d.title for d in index.docs}
    for m in matches:
        mark = "*" if m.selected else " "
        print(f"{mark} {m.score:7.3f}  {m.paper_id}  {titles[m.paper_id][:80]}")
        print(f"            matched: {', '.join(m.matched)}")
        if m.liked or m.disliked:
            print(f"            {votes_line(m)}")
        for ev in m.evidence[:2]:
            text = "".join(f"[{t}]" if hit else t for t, hit in ev.snippet)
            print(f"            {ev.field}: {text}")
    chosen = sum(m.selected for m in matches)
    print(f"{chosen} selected (*), {len(matches) - chosen} weaker matches, {len(papers)} papers")
    return 0


def run_many(args, index, votes, by_id) -> int:
    ids, profiles, feedback = read_profiles(args, votes, by_id)
    feedback = feedback if any(feedback) else None
    write = partial(write_matches, args, index, ids, profiles, feedback)
    processes = workers(len(profiles), index.n_day)
    if processes == 1:
        write(0, len(profiles), sys.stdout.write)
        return 0
    from notifier.match import chunk_size
    prepare(index, profiles, feedback)
    # shares cut at match_profiles' chunk edges score each chunk as one process would (nothing is
    # worked out across profiles today: shares cut elsewhere gave the same bytes too)
    in_parallel(write, shares(len(profiles), processes, chunk_size(index)))
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
PARALLEL_MAX = 4                # processes at most: each copies the pages its share writes (1,000 x 100,000 on 2:
                                # +90 MB), and this machine has 2 CPUs, so more were never measured


def workers(n_profiles: int, n_papers: int) -> int:
    """How many processes match a batch: 1 below PARALLEL_MIN_CELLS (profiles x day papers), else
    one a CPU this process may run on, up to PARALLEL_MAX."""
    if n_profiles * n_papers < PARALLEL_MIN_CELLS or not hasattr(os, "fork"):
        return 1
    return max(1, min(cpus(), PARALLEL_MAX, n_profiles))


def cpus() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def shares(n: int, k: int, size: int) -> list[tuple[int, int]]:
    """``n`` profiles cut into ``k`` near-equal contiguous shares (lo, hi), each edge on a chunk's."""
    edges = sorted({min(n, round(n * i / k / size) * size) for i in range(k)} | {n})
    return [(lo, hi) for lo, hi in zip(edges, edges[1:]) if hi > lo]


def prepare(index, profiles: list, feedback: list[list] | None) -> None:
    """What every share reads, made once before the fork so that the processes share it (copy on
    write) rather than each make it: every term's row (in the order one process adds them), their
    flags, the papers' similarity, and each paper voted on's likeness to the day papers (as many as
    the index keeps: profiles of every share vote on the same papers; 1,000 x 10,000: -0.15 s CPU)."""
    from notifier.match import TermMatrix, similarity, uses_prf
    matrix = TermMatrix.of(index)
    matrix.rows(list({id(t): t for p in profiles for t in p.terms}.values()))
    matrix.flags()
    if uses_prf(index):
        similarity(index)
    if feedback:
        from notifier.votes import VOTE_KEPT_CELLS, resemblance
        voted = {id(paper): paper for votes in feedback for paper, _ in votes}     # (read_votes shares a paper)
        for paper in islice(voted.values(), VOTE_KEPT_CELLS // max(index.n_day, 1)):
            resemblance(index, paper)
    give_back_freed_memory()


def give_back_freed_memory() -> None:
    """Return to the system the memory freed so far (the profiles file's lines, read whole; glibc
    keeps it): a forked process would copy each page of it that it reuses, where fresh memory
    is its own anyway (1,000 x 100,000: 221 -> 164 MB at the fork, 7 ms)."""
    import ctypes
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):     # not glibc
        pass


def in_parallel(write_share, bounds: list[tuple[int, int]]) -> None:
    """``write_share(lo, hi, write)`` for each share: the first here, straight to stdout; each other
    one in a forked process, into an unlinked temporary file, copied to stdout in turn when its
    process has ended well. A process that fails stops the batch with its one-line error (or says
    how it ended); whatever ends this one (an error, Ctrl-C, a closed pipe) kills and reaps them."""
    sys.stdout.flush()                  # (nothing buffered is written twice)
    children = []                       # [pid (0 once reaped), its share, its output file, its error pipe]
    try:
        for lo, hi in bounds[1:]:
            children.append(fork_share(write_share, lo, hi))
        write_share(*bounds[0], sys.stdout.write)
        sys.stdout.flush()
        for child in children:
            _, status = os.waitpid(child[0], 0)
            child[0] = 0
            check_ended(status, *child[1:])
            copy_out(child[2])
    finally:
        for pid, _, out, error in children:
            if pid:
                stop(pid)
            out.close()
            os.close(error)


def fork_share(write_share, lo: int, hi: int) -> list:
    """Start a process writing share ``lo``-``hi`` -> [its pid, (lo, hi), its output file, the read
    end of its error pipe]."""
    import tempfile
    try:
        out = tempfile.TemporaryFile()
        read_end, write_end = os.pipe()
        parent, pid = os.getpid(), os.fork()
    except OSError as err:
        raise NotifierError(f"cannot start a matching process: {err.strerror or err}") from None
    if pid == 0:
        os.close(read_end)
        share_in_child(write_share, lo, hi, out, write_end, parent)
    os.close(write_end)
    return [pid, (lo, hi), out, read_end]


def share_in_child(write_share, lo: int, hi: int, out, error, parent: int):
    """The forked process: its share into ``out``; a NotifierError or an OSError (the temporary
    file's disk full) as its one line into the pipe ``error``, exit 1; never returns (os._exit: no
    cleanup of the parent's objects, which would copy their pages)."""
    code = 1
    try:
        die_with(parent)
        encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
        with open(out.fileno(), "w", encoding=encoding, closefd=False) as fh:
            write_share(lo, hi, fh.write)
        code = 0
    except KeyboardInterrupt:
        code = 130
    except (NotifierError, OSError) as err:
        lines = getattr(err, "lines", ()) or [str(err) if isinstance(err, NotifierError) else
                                              f"a matching process cannot write its output: {err.strerror or err}"]
        os.write(error, "\n".join(lines).encode())
    except BaseException:               # a bug: shown as Python shows it, the parent says the process failed
        import traceback
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def die_with(parent: int) -> None:
    """Have Linux kill this process when its parent dies (killed outright, no cleanup): no worker
    goes on alone."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)      # PR_SET_PDEATHSIG
    if os.getppid() != parent:                          # it died before that
        os._exit(1)


def check_ended(status: int, share: tuple[int, int], out, error: int) -> None:
    """Unless a forked process ended well, raise its error, or how it ended."""
    if status == 0:
        return
    message = read_all(error).decode(errors="replace")
    if message:
        raise NotifierError.report(message.split("\n"))
    code = os.waitstatus_to_exitcode(status)
    if code == 130:
        raise KeyboardInterrupt
    import signal
    how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"failed (exit status {code})"
    raise NotifierError(f"the process matching profiles {share[0] + 1:,}-{share[1]:,} {how}: "
                        f"the output stops after profile {share[0]:,}")


def stop(pid: int) -> None:
    """Kill a forked process and reap it (no zombie), if it has not been reaped."""
    import signal
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def copy_out(out) -> None:
    """A forked process's output (an unlinked temporary file) onto stdout."""
    out.seek(0)
    target = getattr(sys.stdout, "buffer", None)
    if target is None:                  # a text-only stdout (a test's StringIO)
        sys.stdout.write(out.read().decode(getattr(sys.stdout, "encoding", None) or "utf-8"))
        return
    while block := out.read(1 << 20):
        target.write(block)
    target.flush()


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
