"""Moving to another database: every row of every table, all or nothing."""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Callable, Iterator

from sqlalchemy import Connection, func, text
from sqlmodel import SQLModel, select

from notifier.errors import StoreError
from notifier.store.tables import SchemaVersion

if TYPE_CHECKING:
    from notifier.store import Store


class CopyMixin:
    # -- moving to another database -----------------------------------------------------------
    def copy_to(self, target: Store, *, replace: bool = False, batch: int = 5000,
                progress: Callable[[str, int, int], None] | None = None) -> dict[str, int]:
        """Copy every row of every table into ``target`` (e.g. SQLite -> PostgreSQL), in one
        transaction on each side. The source is read as it was at the copy's first query
        (``_snapshot``): a running service goes on writing to it meanwhile, and what it writes then
        is not in the copy. The target gets all or nothing (an interrupted copy leaves it as empty
        as it was: running it again is the resume).
        A target that holds any row is refused unless ``replace`` (its rows are deleted first).
        Counts are checked table by table. ``progress(table, rows copied, rows in all)`` after each
        batch. -> rows per table."""
        return self._guard(self._copy_to, target, replace, batch, progress or (lambda *_: None))

    def _copy_to(self, target: Store, replace: bool, batch: int, progress) -> dict[str, int]:
        tables = [t for t in SQLModel.metadata.sorted_tables if t.name != SchemaVersion.__tablename__]
        with self._snapshot() as src, target.engine.connect() as dst, dst.begin():
            counts = {t.name: src.execute(select(func.count()).select_from(t)).scalar() for t in tables}
            held = [t.name for t in tables if dst.execute(select(func.count()).select_from(t)).scalar()]
            if held and not replace:
                raise StoreError(f"{target.where}: already holds data ({', '.join(held)}); "
                                 "copy into an empty database, or replace its contents with --force")
            for t in reversed(tables):
                dst.execute(t.delete())
            done, total = 0, sum(counts.values())
            for t in tables:
                rows = src.execute(select(t)).mappings()
                while chunk := [dict(r) for r in rows.fetchmany(batch)]:
                    dst.execute(t.insert(), chunk)
                    done += len(chunk)
                    progress(t.name, done, total)
                _advance_sequence(dst, t)
            copied = {t.name: dst.execute(select(func.count()).select_from(t)).scalar() for t in tables}
            if copied != counts:
                raise StoreError(f"{target.where}: copy incomplete, nothing kept "
                                 f"(source {counts}, copied {copied})")
        return counts

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """A connection in one transaction that sees the database as at its first query and takes
        no write lock: SQLite's deferred BEGIN (``reading``; WAL keeps the snapshot), PostgreSQL's
        REPEATABLE READ (READ COMMITTED saw each query's own moment: counts and rows could differ)."""
        options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True} if self.shared else {}
        with self._reader.execution_options(**options).connect() as conn, conn.begin():
            yield conn


def _advance_sequence(conn, table) -> None:
    """PostgreSQL: rows copied with their ids leave the id sequence behind; move it past them."""
    pk = list(table.primary_key.columns)
    if conn.dialect.name != "postgresql" or len(pk) != 1:
        return
    seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": pk[0].name}).scalar()
    if seq:
        top = conn.execute(select(func.max(pk[0]))).scalar()
        conn.execute(text("SELECT setval(:s, :v, false)"), {"s": seq, "v": (top or 0) + 1})

