"""`notifier profile check TEXT`: show how a keyword profile is understood."""
from __future__ import annotations


def add_arguments(p):
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="parse a profile and show its terms, or a one-line error")
    check.add_argument("text", metavar="TEXT", help='the profile, e.g. \'"kv cache", MoE^2, -federated\'')


def run(args) -> int:
    from notifier.index import term_stems
    from notifier.profile import parse_profile
    profile = parse_profile(args.text)
    for t in profile.terms:
        where = t.field or "title+abstract"
        stems = " ".join(term_stems(t.text)) if t.field != "author" else "(author name)"
        squashed = "".join(t.text.lower().split()) if t.phrase and t.field != "author" else ""
        extra = f"; also as '{squashed}', words in a window, then words apart" if squashed else ""
        print(f"{t.mode:<8} {t.kind:<6} {t.text!r:<32} weight {t.weight:g}  in {where}  stems: {stems}{extra}")
    print("labels: " + ", ".join(profile.labels()))
    return 0
