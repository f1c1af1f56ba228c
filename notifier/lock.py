"""One delivering process at a time: an exclusive, non-blocking ``flock`` on
``<state_dir>/notifier.lock`` (beside a SQLite database outside it: ``DaemonLock.of``), held
by ``notifier serve`` for its lifetime and by each ``notifier run`` and ``notifier fetch``.

The kernel drops a ``flock`` when its holder exits however it exits (SIGKILL, OOM, power cut
followed by a reboot), so a dead process never holds the lock and there is nothing stale to
clean up. The file is never deleted (deleting a lock file lets two processes lock two
different files); it holds the holder's pid for the error message only.
"""
from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from notifier.errors import NotifierError
from notifier.paths import file_in_the_way

LOCK_NAME = "notifier.lock"


class LockHeld(NotifierError):
    """Another process holds the lock."""

    def __init__(self, message: str, pid: int | None, path: Path):
        super().__init__(message)
        self.pid, self.path = pid, path


class DaemonLock:
    """``with DaemonLock(state_dir): ...`` or ``lock.acquire()`` / ``lock.release()``."""

    def __init__(self, state_dir: str | os.PathLike, name: str = LOCK_NAME):
        self.path = Path(state_dir) / name
        self._fd: int | None = None

    @classmethod
    def of(cls, config) -> "DaemonLock":
        """The lock of ``config``'s database: on SQLite beside its file, named after it (the
        default ``<state_dir>/notifier.sqlite`` locks ``<state_dir>/notifier.lock``), so two
        state folders given one database file (NOTIFIER_DATABASE_URL) lock the same file; a
        process starting recovers every `sending` digest as a dead process's, and a second
        daemon sent a digest the first was sending again. Else ``<state_dir>/notifier.lock``."""
        from notifier.store.engine import sqlite_path

        database = sqlite_path(config.database_url)
        if database is None:
            return cls(config.state_dir)
        return cls(database.parent, database.stem + ".lock")

    def acquire(self) -> "DaemonLock":
        """Lock, or raise LockHeld; any OS failure (state dir is a file, read-only, disk full)
        is one NotifierError naming the lock file."""
        folder = self.path.parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            in_the_way = file_in_the_way(folder)     # worded as the store's (engine._check_sqlite_file)
            if in_the_way is not None:
                raise NotifierError(f"{in_the_way} is a file, not a folder: the lock {self.path} cannot be kept there") from None
            raise NotifierError(f"cannot use the state directory {folder}: {err.strerror}") from None
        try:
            return self._acquire()
        except OSError as err:
            raise NotifierError(f"cannot lock {self.path}: {err.strerror or err}; "
                                "the state directory needs write access and free space") from None

    def _acquire(self) -> "DaemonLock":
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _holder_pid(fd)
            os.close(fd)
            who = f"pid {pid}" if pid else "another process"
            raise LockHeld(f"another notifier ({who}) is already running: {self.path} is locked; "
                           "stop it first (systemctl stop notifier) or let it finish", pid, self.path) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            os.close(fd)              # closing drops the flock too
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "DaemonLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _holder_pid(fd: int) -> int | None:
    """The holder writes its pid just after it locks: a competitor arriving in between waits a
    moment (at most 0.1 s) so the error names it."""
    for _ in range(20):
        pid = _read_pid(fd)
        if pid:
            return pid
        time.sleep(0.005)
    return None


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode().strip()
        return int(text) if text.isdigit() else None
    except OSError:
        return None
