"""The single-daemon lock, with real processes."""
import os
import signal
import subprocess
import sys

import pytest

from notifier.lock import DaemonLock, LockHeld

HOLD = """
import sys
from notifier.lock import DaemonLock
lock = DaemonLock(sys.argv[1]).acquire()
print("locked", flush=True)
sys.stdin.read()          # hold until stdin closes or we are killed
"""

TRY = """
import sys
from notifier.lock import DaemonLock, LockHeld
try:
    with DaemonLock(sys.argv[1]):
        print("acquired")
except LockHeld as err:
    print("held:", err)
"""


@pytest.fixture
def holder(tmp_path):
    """A separate process holding the lock in tmp_path; yields the Popen."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "locked\n"      # blocks until the child holds the lock
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def try_lock(state_dir) -> str:
    out = subprocess.run([sys.executable, "-c", TRY, str(state_dir)], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_second_process_cannot_take_the_lock_and_is_told_who_has_it(tmp_path, holder):
    assert try_lock(tmp_path) == (
        f"held: another notifier (pid {holder.pid}) is already running: {tmp_path / 'notifier.lock'} is locked; "
        "stop it first (systemctl stop notifier) or let it finish")


def test_lock_of_a_sigkilled_holder_is_free_again(tmp_path, holder):
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert try_lock(tmp_path) == "acquired"


def test_lock_is_free_after_the_holder_exits_normally(tmp_path, holder):
    holder.stdin.close()
    assert holder.wait() == 0
    assert try_lock(tmp_path) == "acquired"


def test_same_process_second_lock_is_refused_until_released(tmp_path):
    with DaemonLock(tmp_path) as first:
        with pytest.raises(LockHeld) as err:
            DaemonLock(tmp_path).acquire()
        assert err.value.pid == os.getpid()
        assert first.held
    with DaemonLock(tmp_path / "missing" / "dir") as again:    # creates the state dir
        assert again.held
    assert try_lock(tmp_path) == "acquired"


def test_lock_is_not_inherited_by_child_processes(tmp_path):
    # A delivery helper started by the daemon must not keep the lock alive after the daemon dies.
    with DaemonLock(tmp_path):
        child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE,
                                 close_fds=False)
    try:
        assert try_lock(tmp_path) == "acquired"
    finally:
        child.stdin.close()
        child.wait()


@pytest.fixture
def run_with_state(monkeypatch, capsys):
    """`notifier run` with this state directory: (exit code, stderr)."""
    from notifier.cli import main

    def run(state):
        monkeypatch.setenv("NOTIFIER_STATE_DIR", str(state))
        monkeypatch.delenv("NOTIFIER_CONFIG", raising=False)
        monkeypatch.delenv("NOTIFIER_DATABASE_URL", raising=False)
        code = main(["run"])
        return code, capsys.readouterr().err
    return run


@pytest.mark.parametrize("below", ["", "sub/folder"], ids=["the_folder", "a_folder_above"])
def test_a_state_folder_that_is_a_file_is_named_as_the_store_names_it(tmp_path, run_with_state, below):
    """`notifier run` said "cannot use the state directory X: it exists and is not a folder" (or
    "Not a directory" for a file higher up) where every other command says "X is a file, not a
    folder: the database ... cannot be kept there" (test_cli_setup_errors)."""
    in_the_way = tmp_path / "state"
    in_the_way.write_text("not a folder")
    assert run_with_state(in_the_way / below) == (
        1, f"notifier: error: {in_the_way} is a file, not a folder: the lock "
           f"{in_the_way / below / 'notifier.lock'} cannot be kept there\n")


def test_state_dir_under_proc_is_one_line_error(run_with_state):
    assert run_with_state("/proc/notifier-state") == (1, "notifier: error: cannot use the state directory "
                                                         "/proc/notifier-state: No such file or directory\n")


def test_disk_full_while_locking_is_one_line_error_and_leaves_no_lock(tmp_path, monkeypatch, capsys):
    """Disk full simulated at the lowest level we call: os.write raising ENOSPC."""
    import errno

    from notifier.cli import main

    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setenv("NOTIFIER_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("NOTIFIER_CONFIG", raising=False)
    monkeypatch.setattr("notifier.lock.os.write", full)
    assert main(["run"]) == 1
    assert capsys.readouterr().err == (f"notifier: error: cannot lock {tmp_path / 'notifier.lock'}: No space left "
                                       "on device; the state directory needs write access and free space\n")
    monkeypatch.undo()
    with DaemonLock(tmp_path) as lock:          # the failed attempt did not keep the lock
        assert lock.held


def test_two_state_folders_given_one_sqlite_database_lock_the_same_file(tmp_path):
    """A second `serve` with its own state folder and NOTIFIER_DATABASE_URL naming the first one's
    database started, recovered the digest the first was sending as a dead process's, and sent it again."""
    from notifier.config import load_config

    shared = {"NOTIFIER_DATABASE_URL": f"sqlite:///{tmp_path / 'a' / 'notifier.sqlite'}"}
    first = load_config(None, env={"NOTIFIER_STATE_DIR": str(tmp_path / "a")})
    second = load_config(None, env={"NOTIFIER_STATE_DIR": str(tmp_path / "b"), **shared})
    with DaemonLock.of(first), pytest.raises(LockHeld, match=str(tmp_path / "a" / "notifier.lock")):
        DaemonLock.of(second).acquire()


def test_two_sqlite_databases_in_one_folder_lock_two_files(tmp_path):
    from notifier.config import load_config

    one, other = (load_config(None, env={"NOTIFIER_DATABASE_URL": f"sqlite:///{tmp_path / name}"})
                  for name in ("papers.db", "other.db"))
    with DaemonLock.of(one), DaemonLock.of(other) as lock:
        assert lock.path == tmp_path / "other.lock"
