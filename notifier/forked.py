"""Work cut into contiguous shares, each written by a forked process, the output in input order.

Owns the processes it forks and all that comes with them: how many (one a CPU, at most
PARALLEL_MAX), where the shares are cut, each child's unlinked temporary output file and error
pipe, a child dying with its parent, reaping every child (no zombie) and killing the others
when one fails, and copying each child's output to stdout in turn. What a share writes is the
caller's (``notifier match --profiles``: ``commands/match.py``); so is when forking is worth it.
"""
from __future__ import annotations

import os
import sys

from notifier.errors import NotifierError

PARALLEL_MAX = 4                # processes at most: each copies the pages its share writes (1,000 x 100,000 on 2:
                                # +90 MB), and this machine has 2 CPUs, so more were never measured


def processes(most: int) -> int:
    """How many processes to share work among: one a CPU this process may run on, up to
    PARALLEL_MAX and ``most`` (1 where processes cannot fork)."""
    if not hasattr(os, "fork"):
        return 1
    return max(1, min(cpus(), PARALLEL_MAX, most))


def cpus() -> int:
    """The CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def shares(n: int, k: int, size: int) -> list[tuple[int, int]]:
    """``n`` items cut into ``k`` near-equal contiguous shares (lo, hi), each edge on a multiple of ``size``."""
    edges = sorted({min(n, round(n * i / k / size) * size) for i in range(k)} | {n})
    return [(lo, hi) for lo, hi in zip(edges, edges[1:]) if hi > lo]


def give_back_freed_memory() -> None:
    """Return to the system the memory freed so far (for ``notifier match``, the profiles file's
    lines, read whole; glibc keeps it): a forked process would copy each page of it that it
    reuses, where fresh memory is its own anyway (1,000 x 100,000: 221 -> 164 MB at the fork, 7 ms)."""
    import ctypes
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):     # not glibc
        pass


def in_parallel(write_share, bounds: list[tuple[int, int]], doing: str, item: str) -> None:
    """``write_share(lo, hi, write)`` for each share: the first here, straight to stdout; each other
    one in a forked process (forked once the memory freed so far is given back), into an unlinked
    temporary file, copied to stdout in turn when its process has ended well. A process that fails
    stops the work with its one-line error (or says how it ended, naming the ``item``s of its share
    and the process by what it was ``doing``); whatever ends this one (an error, Ctrl-C, a closed
    pipe) kills and reaps them."""
    sys.stdout.flush()                  # (nothing buffered is written twice)
    give_back_freed_memory()
    children = []                       # [pid (0 once reaped), its share, its output file, its error pipe]
    try:
        for lo, hi in bounds[1:]:
            children.append(fork_share(write_share, lo, hi, doing))
        write_share(*bounds[0], sys.stdout.write)
        sys.stdout.flush()
        for child in children:
            _, status = os.waitpid(child[0], 0)
            child[0] = 0
            check_ended(status, *child[1:], doing, item)
            copy_out(child[2])
    finally:
        for pid, _, out, error in children:
            if pid:
                stop(pid)
            out.close()
            os.close(error)


def fork_share(write_share, lo: int, hi: int, doing: str) -> list:
    """Start a process writing share ``lo``-``hi`` -> [its pid, (lo, hi), its output file, the read
    end of its error pipe]."""
    import tempfile
    try:
        out = tempfile.TemporaryFile()
        read_end, write_end = os.pipe()
        parent, pid = os.getpid(), os.fork()
    except OSError as err:
        raise NotifierError(f"cannot start a {doing} process: {err.strerror or err}") from None
    if pid == 0:
        os.close(read_end)
        share_in_child(write_share, lo, hi, out, write_end, parent, doing)
    os.close(write_end)
    return [pid, (lo, hi), out, read_end]


def share_in_child(write_share, lo: int, hi: int, out, error, parent: int, doing: str):
    """The forked process: its share into ``out``; a NotifierError or an OSError (the temporary
    file's disk full) as its one line into the pipe ``error``, exit 1; never returns (os._exit: no
    cleanup of the parent's objects, which would copy their pages)."""
    code = 1
    try:
        die_with(parent)
        encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
        with open(out.fileno(), "w", encoding=encoding, closefd=False) as fh:
            write_share(lo, hi, fh.write)
        code = 0
    except KeyboardInterrupt:
        code = 130
    except (NotifierError, OSError) as err:
        lines = getattr(err, "lines", ()) or [str(err) if isinstance(err, NotifierError) else
                                              f"a {doing} process cannot write its output: {err.strerror or err}"]
        os.write(error, "\n".join(lines).encode())
    except BaseException:               # a bug: shown as Python shows it, the parent says the process failed
        import traceback
        traceback.print_exc()
    finally:
        sys.stderr.flush()
        os._exit(code)


def die_with(parent: int) -> None:
    """Have Linux kill this process when its parent dies (killed outright, no cleanup): no worker
    goes on alone."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)      # PR_SET_PDEATHSIG
    if os.getppid() != parent:                          # it died before that
        os._exit(1)


def check_ended(status: int, share: tuple[int, int], out, error: int, doing: str, item: str) -> None:
    """Unless a forked process ended well, raise its error, or how it ended."""
    if status == 0:
        return
    message = read_all(error).decode(errors="replace")
    if message:
        raise NotifierError.report(message.split("\n"))
    code = os.waitstatus_to_exitcode(status)
    if code == 130:
        raise KeyboardInterrupt
    import signal
    how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"failed (exit status {code})"
    raise NotifierError(f"the process {doing} {item}s {share[0] + 1:,}-{share[1]:,} {how}: "
                        f"the output stops after {item} {share[0]:,}")


def stop(pid: int) -> None:
    """Kill a forked process and reap it (no zombie), if it has not been reaped."""
    import signal
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    os.waitpid(pid, 0)


def read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def copy_out(out) -> None:
    """A forked process's output (an unlinked temporary file) onto stdout."""
    out.seek(0)
    target = getattr(sys.stdout, "buffer", None)
    if target is None:                  # a text-only stdout (a test's StringIO)
        sys.stdout.write(out.read().decode(getattr(sys.stdout, "encoding", None) or "utf-8"))
        return
    while block := out.read(1 << 20):
        target.write(block)
    target.flush()
