"""The README's *Measured* (`notifier --help` starts in 0.03 s; `status` loads no numpy; `run` loads
the matcher only when someone is due) and docs/ARCHITECTURE.md ("`status`, `subscribers` and a run
with nobody due never load numpy"): those commands start without the libraries they do not need.
Each runs in a fresh interpreter, as a user runs it; the test reads which libraries it loaded."""
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

HEAVY = ("numpy", "sqlalchemy", "httpx", "jinja2", "apscheduler", "starlette", "bs4")
LOADED = ("import json, sys\nfrom notifier.cli import main\ntry:\n    code = main(sys.argv[1:])\n"
          "except SystemExit as stop:\n    code = stop.code\n"
          f"print(json.dumps([code, sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))]))")


def loaded(tmp_path, db_url, *argv: str) -> tuple[int, list[str], str]:
    """(exit code, the heavy libraries loaded, what it printed) of `notifier ARGV` in a fresh interpreter."""
    env = dict(os.environ, NOTIFIER_STATE_DIR=str(tmp_path), NOTIFIER_DATABASE_URL=db_url)
    env.pop("NOTIFIER_CONFIG", None)
    proc = subprocess.run([sys.executable, "-c", LOADED, *argv], env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    *printed, last = proc.stdout.splitlines()
    return (*json.loads(last), "\n".join(printed))


@pytest.fixture
def nobody_due(cli, tmp_path):
    """A config that fetches nothing, and one subscriber whose day was planned by a first run (nothing
    matched) and whose time comes again in twelve hours, far from any boundary."""
    later = (datetime.now(timezone.utc) + timedelta(hours=12)).strftime("%H:%M")
    assert cli("subscribe", "ada@example.org", "--keywords", "kv cache", "--time", later)[0] == 0
    config = tmp_path / "config.toml"
    config.write_text("[sources.hf_daily]\nenabled = false\n")
    assert cli("--config", str(config), "run")[:2] == (0, "no digest to send\n")
    return str(config)


def test_help_loads_none_of_the_libraries_of_the_commands(tmp_path, db_url):
    code, libraries, printed = loaded(tmp_path, db_url, "--help")
    assert (code, libraries) == (0, []) and printed.startswith("usage: notifier")


@pytest.mark.parametrize("command", [["status"], ["subscribers"], ["run"]])
def test_status_subscribers_and_a_run_with_nobody_due_do_not_load_the_matcher(tmp_path, db_url, nobody_due,
                                                                              command):
    code, libraries, printed = loaded(tmp_path, db_url, "--config", nobody_due, *command)
    assert code == 0 and "numpy" not in libraries and "sqlalchemy" in libraries
    assert command != ["run"] or printed == "no digest due"
