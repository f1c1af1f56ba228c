"""Database trouble met in the middle of a command is one line, exit 1, never a traceback:
every error inside ``with store.session()`` is mapped to StoreError in one place."""
import os
import resource
import signal
import sqlite3
import subprocess
import sys

import pytest

from notifier.cli import main
from notifier.errors import StoreError
from notifier.store import Store


def notifier(*argv, preexec=None, **env):
    proc = subprocess.run([sys.executable, "-m", "notifier", *argv], capture_output=True, text=True, timeout=120,
                          preexec_fn=preexec, env={**os.environ, "NOTIFIER_CONFIG": "", **env})
    return proc.returncode, proc.stdout, proc.stderr


def test_locked_database_at_begin_immediate_is_a_store_error(tmp_path, monkeypatch):
    monkeypatch.setattr("notifier.store.engine.BUSY_TIMEOUT_MS", 100)     # wait 0.1 s, not 30 s, for the lock
    path = tmp_path / "n.sqlite"
    store = Store(f"sqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")                               # another process is writing
    try:
        with pytest.raises(StoreError) as err:
            store.put_setting("k", "v")                            # (a read waits for no writer: reading())
        assert str(err.value) == f"{path}: the database stayed locked by another process for too long"
    finally:
        other.execute("ROLLBACK")
        other.close()
        store.close()


def test_error_raised_by_a_query_inside_a_session_is_a_store_error(tmp_path):
    from sqlalchemy import text

    store = Store(f"sqlite:///{tmp_path / 'n.sqlite'}")
    with pytest.raises(StoreError, match="database error: no such table: missing_table"):
        with store.session() as s:
            s.exec(text("SELECT * FROM missing_table"))
    store.close()


def corrupt_a_paper_page(path) -> None:
    """Overwrite one leaf page of the paper table in the middle of the file: the database still
    opens and migrates, and only reading the papers finds the damage."""
    conn = sqlite3.connect(path)
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    leaves = [p for (p,) in conn.execute("SELECT pageno FROM dbstat WHERE name = 'paper' AND pagetype = 'leaf'")]
    conn.close()
    with open(path, "r+b") as fh:
        fh.seek((leaves[len(leaves) // 2] - 1) * size)
        fh.write(b"\xff" * size)


def test_corrupt_page_mid_database_in_preview_is_one_line(tmp_path, monkeypatch, capsys):
    assert main(["demo", "--dir", str(tmp_path)]) == 0
    path = tmp_path / "notifier-demo.sqlite"
    corrupt_a_paper_page(path)
    monkeypatch.setenv("NOTIFIER_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("NOTIFIER_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("NOTIFIER_CONFIG", raising=False)
    capsys.readouterr()
    assert main(["preview", "ada@example.org", "--date", "2026-06-12"]) == 1     # reads every paper of the day
    assert capsys.readouterr().err == (f"notifier: error: {path}: the database file is corrupt; "
                                       "restore it from a backup\n")


def test_disk_full_while_ingesting_is_one_line_and_writes_nothing_half(tmp_path):
    """Disk full simulated with RLIMIT_FSIZE in the child (SIGXFSZ ignored, so writes past the
    limit fail with EFBIG, which SQLite reports as a disk I/O error). The limit lets the schema be
    created but not the ingest of the sample digest."""
    def small_disk():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (150_000, 150_000))

    code, _, err = notifier("demo", "--dir", str(tmp_path), preexec=small_disk)
    path = tmp_path / "notifier-demo.sqlite"
    assert (code, err) == (1, f"notifier: error: {path}: reading or writing the database failed: disk full, "
                              "file size limit or a failing disk (nothing was half-written)\n")
    code, out, err = notifier("demo", "--dir", str(tmp_path))     # space again: a clean, complete run
    assert code == 0, err
    assert "ada@example.org" in out and "matched -> written to the outbox" in out


def test_database_locked_by_another_writer_mid_command_is_one_line(tmp_path, monkeypatch, capsys):
    """Another process starts writing after `subscribe` opened (and migrated) the database and
    keeps its write lock longer than the busy timeout: BEGIN IMMEDIATE fails inside a session."""
    path = tmp_path / "notifier.sqlite"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    migrate = Store._migrate

    def migrate_then_lock(self):
        migrate(self)
        other.execute("BEGIN IMMEDIATE")

    monkeypatch.setattr(Store, "_migrate", migrate_then_lock)
    monkeypatch.setattr("notifier.store.engine.BUSY_TIMEOUT_MS", 100)
    monkeypatch.setenv("NOTIFIER_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("NOTIFIER_CONFIG", raising=False)
    monkeypatch.delenv("NOTIFIER_DATABASE_URL", raising=False)
    try:
        assert main(["subscribe", "ada@example.org", "-k", "moe"]) == 1
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert capsys.readouterr().err == (f"notifier: error: {path}: the database stayed locked by another process "
                                       "for too long\n")


def test_disk_full_mid_ingest_is_a_store_error_and_keeps_nothing_of_the_batch(tmp_path):
    """SQLite's own SQLITE_FULL, raised by an INSERT (a flush inside the session, not the commit):
    PRAGMA max_page_count caps the file at its current size, as a full disk would."""
    from sqlalchemy import event

    from digests import paper

    store = Store(f"sqlite:///{tmp_path / 'n.sqlite'}")
    store.ingest([paper(1)], source="hf_daily", digest_day="2026-07-29")
    store.engine.dispose()
    event.listen(store.engine, "connect", lambda conn, _: conn.execute(
        f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}"))
    batch = [paper(i, abstract="long " * 2000) for i in range(2, 40)]
    with pytest.raises(StoreError) as err:
        store.ingest(batch, source="hf_daily", digest_day="2026-07-30")
    assert str(err.value) == (f"{tmp_path / 'n.sqlite'}: the disk is full; free space and run again "
                              "(nothing was half-written)")
    assert store.count_papers() == 1
    store.close()
