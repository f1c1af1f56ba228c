"""A throwaway PostgreSQL cluster for the test suite, and a fresh database per test.

``NOTIFIER_TEST_BACKEND=postgres pytest`` runs every test that uses the ``db_url`` fixture on
PostgreSQL: one cluster per session (``initdb`` + ``pg_ctl`` from Debian's postgresql package, in
a temporary folder, on 127.0.0.1 and a free port, as the ``postgres`` user when run as root, since
PostgreSQL refuses to run as root), and for each test a database created from ``template0`` and
dropped afterwards. ``NOTIFIER_TEST_POSTGRES_URL`` uses an existing server instead (a URL whose
user may create databases). Needs ``pip install -e '.[postgres]'``.
"""
from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

BACKEND = os.environ.get("NOTIFIER_TEST_BACKEND", "sqlite")
if BACKEND == "postgres":
    # Imported before any test freezes the clock: first imported under freezegun, psycopg's C
    # extension warns "datetime.date size changed" (an error here: filterwarnings = error) and
    # keeps returning freezegun's FakeDatetime for every later test.
    import psycopg  # noqa: F401

_numbers = itertools.count(1)


def postgres_bindir() -> Path | None:
    """The newest installed PostgreSQL server binaries (Debian keeps them off PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    return Path(shutil.which("initdb")).parent if shutil.which("initdb") else None


def _unavailable() -> str | None:
    """Why no throwaway cluster can be made here, or None."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed (pip install -e '.[postgres]')"
    if not postgres_bindir():
        return "no PostgreSQL server binaries (apt-get install postgresql)"
    if os.geteuid() == 0 and not _has_user("postgres"):
        return "running as root and no 'postgres' user to run the server as"
    return None


def _has_user(name: str) -> bool:
    import pwd

    try:
        return bool(pwd.getpwnam(name))
    except KeyError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_owner(argv: list[str]) -> list[str]:
    """PostgreSQL will not run as root: run its tools as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _run(argv: list[str]) -> None:
    proc = subprocess.run(_as_owner(argv), capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.strip() or proc.stdout.strip()}")


class Cluster:
    """initdb + pg_ctl start in a temporary folder; stop() removes it all."""

    def __init__(self):
        self.bindir = postgres_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="notifier-pg-"))
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.data, self.port = self.root / "data", _free_port()
        _run([str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
              "--encoding=UTF8", "--locale=C.UTF-8", "-N"])
        # Durability is not under test here: fsync off makes CREATE DATABASE per test cheap. A server
        # zone far from UTC catches any timestamp that is stored or read as local time.
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.root} "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
                   "-c timezone=Pacific/Auckland")
        _run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-w",
              "-o", options, "start"])
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        try:
            _run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"])
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(sql)


def fresh_database(server_url: str) -> tuple[str, str]:
    """CREATE DATABASE a new one on the server -> (its SQLAlchemy URL, its name)."""
    name = f"notifier_test_{os.getpid()}_{next(_numbers)}"
    _admin(server_url, f'CREATE DATABASE "{name}" TEMPLATE template0')
    return server_url.rsplit("/", 1)[0] + f"/{name}", name


def drop_database(server_url: str, name: str) -> None:
    _admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_server():
    """The URL of a PostgreSQL server whose user may create databases."""
    existing = os.environ.get("NOTIFIER_TEST_POSTGRES_URL")
    if existing:
        yield existing
        return
    missing = _unavailable()
    if missing and BACKEND == "postgres":
        pytest.exit(f"NOTIFIER_TEST_BACKEND=postgres: {missing}", returncode=3)
    if missing:
        pytest.skip(f"needs PostgreSQL: {missing}")
    cluster = Cluster()
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    url, name = fresh_database(postgres_server)
    yield url
    drop_database(postgres_server, name)
