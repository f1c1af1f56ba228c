"""Work cut into batches of a bounded size (statements of at most a few hundred parameters,
transactions of a few hundred digests, tasks for the preparing process)."""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice


def batched(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of at most ``size`` items, lazily (``items`` may be a generator)."""
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk
