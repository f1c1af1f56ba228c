"""`notifier profile check TEXT`: show how a keyword profile is understood and, given papers,
every way each term is found in them and how often."""
from __future__ import annotations

from pathlib import Path

from notifier.commands import load, read_papers

FIELD = {None: "in title and abstract", "title": "in titles only", "author": "among the authors"}
MODE = {"any": "", "required": "required, ", "exclude": "excluded, "}


def add_arguments(p):
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True, help="what to do with the profile")
    what = "parse a profile and show its terms, or a one-line error"
    check = sub.add_parser("check", help=what, description=what)
    check.add_argument("text", metavar="TEXT", help='the profile, e.g. \'"kv cache", MoE^2, -federated\'')
    check.add_argument("--papers", metavar="FILE.jsonl",
                       help="count matches in these papers (default: the stored papers, if any)")


def run(args) -> int:
    from notifier.index import term_stems
    from notifier.profile import check_profile
    profile = check_profile(args.text)
    papers, source = corpus(args)
    index = None
    if papers:
        from notifier.match import build_index
        index = build_index(papers)
    for t in profile.terms:
        stems = " ".join(term_stems(t.text)) if t.field != "author" else "(a name)"
        weight = f", weight {t.weight:g}" if t.weight != 1.0 else ""
        print(f"{t.raw:<28} {MODE[t.mode]}{t.kind}{weight}, {FIELD[t.field]}; stems: {stems}")
        if index is not None:
            from notifier.match import spellings
            ways = [(how, n) for k, (how, n) in enumerate(spellings(index, t)) if n or not k]
            print(" " * 29 + " · ".join(f"{how}: {n} paper{'s' * (n != 1)}" for how, n in ways))
    print("in digest subjects as: " + ", ".join(profile.labels()))
    print(f"counted in {source}" if index is not None else
          "no papers to count in: pass --papers FILE.jsonl, or fetch some first")
    return 0


def corpus(args) -> tuple[list, str]:
    """The papers to count in: --papers, else the stored papers if a database exists."""
    if args.papers:
        papers = read_papers(args.papers)
        return papers, f"{len(papers)} papers from {args.papers}"
    config = load(args)
    url = config.database_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return [], ""
    from notifier.store import Store
    store = Store(url)
    try:
        papers = store.recent_papers()
    finally:
        store.close()
    return papers, f"the {len(papers)} most recent stored papers"
