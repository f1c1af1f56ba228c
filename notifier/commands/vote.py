"""`notifier vote SUBSCRIBER PAPER up|down|clear`: record what a subscriber thinks of a paper."""
from notifier.commands import context, find_subscriber
from notifier.errors import InputError

VOTES = {"up": 1, "down": -1, "clear": 0}
SAID = {"up": "more like this", "down": "not for me", "clear": "vote cleared"}


def add_arguments(p):
    p.add_argument("subscriber", help="address, name or id")
    p.add_argument("paper_id", metavar="paper",
                   help="a stored paper: its arXiv id (2606.01234, arXiv:2606.01234v2) or a link to it (arxiv.org, "
                        "huggingface.co/papers)")
    p.add_argument("vote", choices=list(VOTES), help="up: more like this; down: not for me; clear: forget the vote")


def run(args) -> int:
    from notifier.errors import visible

    with context(args) as ctx:
        sub = find_subscriber(ctx, args.subscriber)
        paper = stored_paper(ctx, args.paper_id)
        ctx.store.set_vote(sub.id, paper.arxiv_id, VOTES[args.vote])
        print(f"{sub.address}: {SAID[args.vote]} — {visible(paper.title)} ({paper.arxiv_id})")
    return 0


def stored_paper(ctx, text: str):
    """The stored paper an id or a link names (a digest's links are to arxiv.org and
    huggingface.co/papers); InputError if none."""
    from notifier.errors import ParseError
    from notifier.parse import split_id

    try:
        paper_id = split_id(text.strip())[0]
    except ParseError:
        paper_id = ""
    paper = ctx.store.get_papers([paper_id]).get(paper_id)
    if paper is None:
        raise InputError(f"no stored paper '{text}' (votes are for papers the service has seen)")
    return paper
