"""Rate limits in a moving window: at most N requests per key in any period of the limit's length
("3/hour", the form config.validate_web checks), in memory, on the clock the app is given.

One clock for everything (the tests freeze it): the `limits` library this replaces expired hits in
a thread of its own by the real clock, so under a frozen one they were forgotten at once. Keys
with no request left in their window are forgotten at most once a minute, so memory follows the
recent visitors."""
from __future__ import annotations

import threading
from typing import Callable

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
SWEEP_SECONDS = 60


def parse(limit: str) -> tuple[int, int]:
    """'3/hour' -> (3, 3600)."""
    count, period = (part.strip() for part in limit.split("/"))
    return int(count), PERIODS[period]


class MovingWindow:
    def __init__(self, clock: Callable[[], float]):
        self.clock = clock                          # -> seconds
        self._hits: dict[tuple[str, ...], list[float]] = {}     # (limit, *key) -> its requests' times, oldest first
        self._lock = threading.Lock()
        self._swept = clock()

    def hit(self, limit: str, *key: str) -> bool:
        """Counts a request of ``key``, if ``limit`` allows it now; a refused one is not counted."""
        count, seconds = parse(limit)
        now = self.clock()
        with self._lock:
            self._sweep(now)
            recent = self._recent((limit, *key), now - seconds)
            if len(recent) >= count:
                return False
            recent.append(now)
            return True

    def retry_after(self, limit: str, *key: str) -> float:
        """Seconds until ``limit`` allows a request of ``key`` again: when the oldest request in
        the window leaves it; 0 when one is allowed now."""
        count, seconds = parse(limit)
        now = self.clock()
        with self._lock:
            recent = self._recent((limit, *key), now - seconds)
        return recent[-count] + seconds - now if len(recent) >= count else 0.0

    def forget(self, limit: str, *key: str) -> None:
        """Takes back the latest request ``hit`` counted for ``key`` (one that did not happen after all)."""
        with self._lock:
            times = self._hits.get((limit, *key))
            if times:
                times.pop()

    def __len__(self) -> int:
        """How many keys it remembers."""
        return len(self._hits)

    def _recent(self, key: tuple[str, ...], since: float) -> list[float]:
        recent = [t for t in self._hits.get(key, []) if t > since]
        self._hits[key] = recent
        return recent

    def _sweep(self, now: float) -> None:
        if now - self._swept < SWEEP_SECONDS:
            return
        self._swept = now
        for key in [k for k, times in self._hits.items() if not times or times[-1] <= now - parse(k[0])[1]]:
            del self._hits[key]
