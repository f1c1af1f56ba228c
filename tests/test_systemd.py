"""The shipped unit files: valid, hardened (exposure <= 2.0) and with calendar expressions systemd
understands. Skipped where systemd-analyze is not installed."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parent.parent / "systemd"
INSTALLED_BIN = "/opt/notifier/venv/bin/notifier"
ANALYZE = shutil.which("systemd-analyze")

pytestmark = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed")


def analyze(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([ANALYZE, *args], capture_output=True, text=True, cwd=cwd, timeout=60)


@pytest.fixture
def unit_dir(tmp_path):
    """Copies of the units whose ExecStart points at an existing program: verify fails on a path
    that is not installed on this machine (RELIABILITY.md 4.3)."""
    for unit in UNITS.glob("notifier*.*"):
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED_BIN, sys.executable))
    return tmp_path


def test_units_reference_the_installed_notifier():
    for name in ("notifier.service", "notifier-run.service", "notifier-web.service"):
        assert f"ExecStart={INSTALLED_BIN} --config /etc/notifier/config.toml " in (UNITS / name).read_text()


def test_systemd_analyze_verify_is_clean(unit_dir):
    names = sorted(p.name for p in unit_dir.iterdir())
    assert names == ["notifier-run.service", "notifier-run.timer", "notifier-web.service", "notifier.service"]
    result = analyze("verify", *[f"./{n}" for n in names], cwd=unit_dir)
    assert (result.returncode, result.stderr.strip()) == (0, "")


@pytest.mark.parametrize("name", ["notifier.service", "notifier-run.service", "notifier-web.service"])
def test_service_exposure_is_at_most_2(unit_dir, name):
    result = analyze("security", "--offline=yes", "--threshold=20", f"./{name}", cwd=unit_dir)
    level = re.search(r"Overall exposure level for \S+: (\d+\.\d)", result.stdout)
    assert level, result.stdout + result.stderr
    assert float(level.group(1)) <= 2.0
    assert result.returncode == 0


def calendars() -> list[str]:
    return [line.split("=", 1)[1].strip() for unit in UNITS.glob("*.timer")
            for line in unit.read_text().splitlines() if line.startswith("OnCalendar=")]


def test_every_timer_has_a_calendar():
    assert calendars() == ["*:00/15"]


@pytest.mark.parametrize("expr", calendars())
def test_oncalendar_parses_and_elapses(expr):
    result = analyze("calendar", "--iterations=2", expr)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Next elapse") + result.stdout.count("Iter. #2") == 2
