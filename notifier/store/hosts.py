"""Host groups' turns and Retry-After holds (``notifier.pace``), shared by every fetcher on the
database: a ``Setting`` row per group, changed under its row lock."""
from __future__ import annotations

from datetime import datetime
from typing import Callable, TypeVar

from sqlmodel import select

from notifier.pace import Pace, Turn
from notifier.store.engine import _retry_race
from notifier.store.tables import HOST_KEY, Setting

T = TypeVar("T")


class HostsMixin:
    def take_turn(self, group: str, now: datetime, gap_seconds: float, latest: datetime) -> Turn:
        """The group's next turn (``Pace.take``), reserved for the caller against every other
        fetcher on this database."""
        return self._changing_pace(group, lambda pace: pace.take(now, gap_seconds, latest))

    def hold_host(self, group: str, until: datetime, problem: str, status: int | None) -> Pace:
        """A Retry-After for the group (``Pace.hold``): every fetcher's next turn waits for it.
        -> the group's Pace as it now stands (a later hold another fetcher recorded stays)."""
        return self._changing_pace(group, lambda pace: pace.hold(until, problem, status))

    def retry_after_holds(self) -> dict[str, tuple[datetime, str, int | None]]:
        """Every host group's latest Retry-After as (until, an aware UTC time; the answer, "HTTP
        429"; its status), ended ones too."""
        with self.reading() as s:
            rows = s.exec(select(Setting).where(Setting.key.startswith(HOST_KEY))).all()
        paces = {row.key.removeprefix(HOST_KEY): Pace.from_json(row.value) for row in rows}
        return {group: (p.held_until, p.problem, p.status) for group, p in paces.items() if p.problem}

    @_retry_race
    def _changing_pace(self, group: str, change: Callable[[Pace], T]) -> T:
        """``change`` the group's Pace in one transaction, the row locked meanwhile (PostgreSQL:
        FOR UPDATE; SQLite: BEGIN IMMEDIATE locks the file). Two fetchers adding the same group's
        first row at once: one loses the race and runs again (``_retry_race``), finding it."""
        key = HOST_KEY + group
        with self.session() as s:
            row = s.exec(select(Setting).where(Setting.key == key).with_for_update()).first()
            pace = Pace.from_json(row.value) if row else Pace()
            result = change(pace)
            row = row or Setting(key=key, value="")
            row.value = pace.to_json()
            s.add(row)
        return result
