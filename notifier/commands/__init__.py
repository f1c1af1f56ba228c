"""One module per `notifier` command: ``add_arguments(parser)`` and ``run(args) -> int``."""
from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import date

from notifier.errors import InputError


def load(args):
    from notifier.config import load_config

    return load_config(args.config)


@contextmanager
def context(args, **kwargs):
    from notifier.pipeline import open_context

    with open_context(load(args), **kwargs) as ctx:
        yield ctx


def parse_day(text: str, what: str = "--date") -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{what} '{text}' must be a date as YYYY-MM-DD") from None


def find_subscriber(ctx, ref: str):
    """The subscriber REF names: its address (any case; @U… or U…) or id first, else its name.
    A name several subscribers share is an error listing them, never a guess."""
    from notifier.subscribers import canonical_address

    sub = ctx.store.find_subscriber(canonical_address(ref))
    if sub is not None:
        return sub
    named = ctx.store.subscribers_named(ref.strip())
    if len(named) > 1:
        raise InputError(f"'{ref}' is the name of {len(named)} subscribers: "
                         f"{', '.join(f'{s.address} (id {s.id})' for s in named)}; use the address or id")
    if not named:
        raise InputError(f"no subscriber '{ref}' (see `notifier subscribers`)")
    return named[0]


def read_jsonl(path: str) -> list:
    """A JSON-lines file -> its objects; one-line errors naming the file and line."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.readlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read: {getattr(err, 'strerror', None) or err}") from None
    out = []
    for n, line in enumerate(lines, 1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise InputError(f"{path}: line {n}: not valid JSON ({err.msg})") from None
    return out
