"""`notifier vote SUBSCRIBER PAPER up|down|clear`: record what a subscriber thinks of a paper."""
from notifier.commands import bring_back, context, find_subscriber, named
from notifier.errors import InputError, visible

VOTES = {"up": 1, "down": -1, "clear": 0}
SAID = {"up": "more like this", "down": "not for me", "clear": "vote cleared"}


def add_arguments(p):
    p.add_argument("subscriber", metavar="SUBSCRIBER", help="address, name or id")
    p.add_argument("paper_id", metavar="PAPER",
                   help="a stored paper: its arXiv id (2606.01234, arXiv:2606.01234v2) or a link to it (arxiv.org, "
                        "huggingface.co/papers)")
    p.add_argument("vote", choices=list(VOTES), help="up: more like this; down: not for me; clear: forget the vote")


def run(args) -> int:
    with context(args) as ctx:
        sub = find_subscriber(ctx, args.subscriber)
        if not sub.active:              # their votes would wait, unused, for a digest they asked not to get
            raise InputError(f"{named(sub)} has unsubscribed: no vote recorded ({bring_back(sub)})")
        paper = stored_paper(ctx, args.paper_id)
        said = SAID[args.vote]
        if args.vote == "clear" and paper.arxiv_id not in dict(ctx.store.votes(sub.id)):
            said = "no vote to clear"
        ctx.store.set_vote(sub.id, paper.arxiv_id, VOTES[args.vote])
        print(f"{named(sub)}: {said} — {visible(paper.title)} ({paper.arxiv_id})")
    return 0


def stored_paper(ctx, text: str):
    """The stored paper an id or a link names (a digest's links are to arxiv.org and
    huggingface.co/papers); InputError if TEXT names none, or one not stored."""
    from notifier.errors import ParseError
    from notifier.parse import split_id

    try:
        paper_id = split_id(text.strip())[0]
    except ParseError:
        raise InputError(f"'{text}' is not a paper's arXiv id (2606.01234) nor a link to one (arxiv.org, "
                         "huggingface.co/papers)") from None
    paper = ctx.store.get_papers([paper_id]).get(paper_id)
    if paper is None:
        raise InputError(f"no stored paper '{text}' (votes are for papers the service has seen)")
    return paper
