"""`notifier demo`: the whole pipeline on bundled real Hugging Face Daily Papers responses."""
from pathlib import Path

from notifier.outbox import UNFINISHED, FetchState, State

DEMO_SUBSCRIBERS = [
    {"address": "ada@example.org", "name": "Ada (email demo)",
     "keywords": ['"speculative decoding", "sparse attention", distillation, -medical']},
    {"address": "#papers-agents", "name": "Agents team (Slack demo)",
     "keywords": ['"LLM agents", "multi-agent", "web agent", "search agents"']},
]
SAMPLE = "hf_daily_papers_api_2026-06-12.json"


def add_arguments(p):
    p.add_argument("--dir", default=".", help="folder for the demo database and outbox (default: here)")


def demo_config(folder: Path):
    from notifier.config import Config

    config = Config()
    config.general.state_dir = str(folder)
    config.general.outbox_dir = str(folder / "outbox")
    config.database.url = f"sqlite:///{folder / 'notifier-demo.sqlite'}"
    config.sources.hf_daily.enabled = config.sources.arxiv.enabled = False
    config.email.host = ""                 # no SMTP: e-mails go to the outbox folder
    config.slack.token_env = ""            # no Slack: payloads go to the outbox folder
    config.schedule.timezone = "UTC"
    config.delivery.retry_base_seconds = 1  # run again after fixing what stopped a delivery: it goes at once
    return config


def check_folder(folder: Path) -> None:
    """InputError when a file stands where --dir, a folder above it or its outbox folder should
    be: the demo creates the folders it needs, which failed with a bare "File exists" or "Not a
    directory". Also for a path with '?' or '%', which the database URL reads as its query or an
    escape: the database went to another file ('a?b' -> 'a') than the one the demo named, or could
    not be opened."""
    from notifier.paths import file_in_the_way
    from notifier.errors import InputError

    if "?" in str(folder) or "%" in str(folder):
        raise InputError(f"--dir {folder}: a '?' or '%' in the path cannot go into the database URL; "
                         "name another folder")
    there = file_in_the_way(folder / "outbox")
    if there is not None:
        raise InputError(f"--dir {folder}: {'it' if there == folder else there} is a file, not a folder; "
                         "name a folder (a missing one is created)")


def run(args) -> int:
    from importlib.resources import files

    from notifier.parse import parse_text
    from notifier.context import open_context
    from notifier.sending import deliver
    from notifier.subscribers import new_subscriber

    import logging

    if not args.verbose:
        logging.getLogger().setLevel(logging.WARNING)     # the summary below says what happened
    folder = Path(args.dir).resolve()
    check_folder(folder)
    config = demo_config(folder)
    text = files("notifier.samples").joinpath(SAMPLE).read_text(encoding="utf-8")
    papers = parse_text(text)
    day = papers[0].digest_day if papers else None
    with open_context(config) as ctx:
        run_id = ctx.store.start_fetch("hf_daily", day)
        result = ctx.store.ingest(papers, source="hf_daily", digest_day=day)
        ctx.store.finish_fetch(run_id, outcome=FetchState.OK, http_status=200, found=result.found, new=result.new)
        for spec in DEMO_SUBSCRIBERS:
            if ctx.store.find_subscriber(spec["address"]) is None:
                ctx.store.add_subscriber(new_subscriber(**spec))
        reports = deliver(ctx)
        subs = ctx.store.list_subscribers()
        total = ctx.store.count_papers()
        waiting = {d.subscriber_id: d for d in ctx.store.deliveries(states=UNFINISHED)}
    print(f"Fetched {result.found} papers from Hugging Face Daily Papers {day} (bundled sample): "
          f"{result.new} new, {total} stored in {config.database.url.removeprefix('sqlite:///')}")
    sent = {r.subscriber: r for r in reports}
    for sub in subs:
        r, w = sent.get(sub.address), waiting.get(sub.id)
        if r is not None:
            print(f"  {sub.address:<18} {r.papers} matched -> {r.outcome}: {r.where or r.error}")
        elif w is not None:             # planned earlier, not sent yet: never "already sent"
            print(f"  {sub.address:<18} a digest is waiting ({w.state}): {w.last_error or 'not sent yet'}")
        else:
            print(f"  {sub.address:<18} nothing new to deliver (already sent; the same papers are never sent twice)")
    print(f"Outbox: {config.outbox_dir}")
    return 0 if all(r.state == State.SENT for r in reports) and not waiting else 1
