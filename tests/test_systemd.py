"""The shipped unit files: valid, hardened (exposure <= 2.0), with calendar expressions systemd
understands (those checks skipped where systemd-analyze is not installed), given the secrets they
need, and installable as systemd/README.md says."""
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parent.parent / "systemd"
INSTALLED_BIN = "/opt/notifier/venv/bin/notifier"
ANALYZE = shutil.which("systemd-analyze")

needs_analyze = pytest.mark.skipif(ANALYZE is None, reason="systemd-analyze not installed")
SERVICES = ["notifier.service", "notifier-run.service", "notifier-web.service"]


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


@needs_analyze
def test_systemd_analyze_verify_is_clean(unit_dir):
    names = sorted(p.name for p in unit_dir.iterdir())
    assert names == ["notifier-run.service", "notifier-run.timer", "notifier-web.service", "notifier.service"]
    result = analyze("verify", *[f"./{n}" for n in names], cwd=unit_dir)
    assert (result.returncode, result.stderr.strip()) == (0, "")


@needs_analyze
@pytest.mark.parametrize("name", SERVICES)
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


@needs_analyze
@pytest.mark.parametrize("expr", calendars())
def test_oncalendar_parses_and_elapses(expr):
    result = analyze("calendar", "--iterations=2", expr)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("Next elapse") + result.stdout.count("Iter. #2") == 2


def time_span(text: str) -> timedelta:
    """A systemd time span of hours, minutes and seconds ("25min", "1h 5min")."""
    units = {"h": 3600, "min": 60, "s": 1}
    assert re.fullmatch(r"(\s*\d+\s*(h|min|s))+", text), text
    parts = re.findall(r"(\d+)\s*(h|min|s)", text)
    return timedelta(seconds=sum(int(n) * units[unit] for n, unit in parts))


def unit_setting(name: str, key: str) -> str:
    [value] = [line.split("=", 1)[1] for line in (UNITS / name).read_text().splitlines() if line.startswith(f"{key}=")]
    return value


def test_a_timer_run_on_a_shared_database_has_its_timer_period_and_two_leases_before_it_is_killed():
    """`run` waits up to two leases for other workers' claims after its own fetch and sends: with
    TimeoutStartSec=14min and the default lease (10 min of waiting), a cycle whose own work took
    more than 4 minutes was killed while waiting, and the unit showed failed."""
    from notifier.config import Config

    period = timedelta(minutes=int(re.fullmatch(r"\*:00/(\d+)", unit_setting("notifier-run.timer", "OnCalendar"))[1]))
    two_leases = 2 * timedelta(seconds=Config().delivery.lease_seconds)
    assert time_span(unit_setting("notifier-run.service", "TimeoutStartSec")) >= period + two_leases


def credentials(name: str) -> dict[str, str]:
    """A unit's LoadCredential= lines: credential name -> the file it is read from."""
    lines = (UNITS / name).read_text().splitlines()
    return dict(line.removeprefix("LoadCredential=").split(":", 1) for line in lines if line.startswith("LoadCredential="))


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_that_sends_digests_or_pages_has_the_link_signing_key(name):
    """The digests the daemon or a timer's run sends carry signed manage, vote and unsubscribe
    links; without the key they go out with none."""
    from notifier.config import Config

    assert Config().web.secret_env in credentials(name)


@pytest.mark.parametrize("name, enabled_as", [("notifier.service", "notifier.service"),
                                              ("notifier-run.service", "notifier-run.timer"),
                                              ("notifier-web.service", "notifier-web.service")])
def test_every_credential_a_unit_loads_is_created_by_the_install_steps_before_it_starts(name, enabled_as):
    """systemd refuses to start a unit whose LoadCredential= file is missing."""
    readme = (UNITS / "README.md").read_text()
    started = readme.index(f"systemctl enable --now {enabled_as}")
    for path in credentials(name).values():
        created = re.search(rf"install -m 0600 /dev/(null|stdin) {re.escape(path)}\s", readme)
        assert created and created.start() < started, path
