"""`notifier vote SUBSCRIBER PAPER_ID up|down|clear`: record what a subscriber thinks of a paper."""
import re

from notifier.commands import context, find_subscriber
from notifier.errors import InputError

VOTES = {"up": 1, "down": -1, "clear": 0}


def add_arguments(p):
    p.add_argument("subscriber", help="address, name or id")
    p.add_argument("paper_id", help="arXiv id of a stored paper, e.g. 2606.01234")
    p.add_argument("vote", choices=list(VOTES), help="up: more like this; down: not for me; clear: forget the vote")


def run(args) -> int:
    with context(args) as ctx:
        sub = find_subscriber(ctx, args.subscriber)
        paper_id = re.sub(r"v\d+$", "", args.paper_id.strip().removeprefix("arXiv:"))
        if paper_id not in ctx.store.get_papers([paper_id]):
            raise InputError(f"no stored paper '{args.paper_id}' (votes are for papers the service has seen)")
        ctx.store.set_vote(sub.id, paper_id, VOTES[args.vote])
        print(f"{sub.address}: {args.vote} {paper_id}" if args.vote != "clear" else f"{sub.address}: cleared {paper_id}")
    return 0
