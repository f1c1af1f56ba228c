import json

from notifier.commands import load


def add_arguments(p):
    pass


def run(args) -> int:
    from notifier.config import redacted

    print(json.dumps(redacted(load(args)), indent=2, default=str))
    return 0
