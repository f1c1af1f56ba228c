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
    sub = ctx.store.find_subscriber(ref)
    if sub is None:
        raise InputError(f"no subscriber '{ref}' (see `notifier subscribers`)")
    return sub


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
