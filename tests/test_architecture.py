"""docs/ARCHITECTURE.md ("read this first") names every module under notifier/, and every module it
names exists: a module added, moved or removed without the page following fails here, naming it."""
import re
from pathlib import Path

import pytest

from notifier.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
PAGE = "docs/ARCHITECTURE.md"
DOC = (ROOT / PAGE).read_text(encoding="utf-8")
TICKED = set(re.findall(r"`([^`\n]+)`", DOC))
MODULES = sorted(p.relative_to(ROOT / "notifier").as_posix() for p in (ROOT / "notifier").rglob("*.py"))
# "`cli.py` dispatches `notifier COMMAND` to `commands/<name>.py`": every module cli.COMMANDS lists
COMMAND_MODULES = {f"commands/{module}.py" for module, _ in COMMANDS.values()}
PY_PATH = r"(?<![\w/.-])(?:notifier/)?((?:\w+/)*\w+\.py)\b"


def named(module: str) -> bool:
    """The page names MODULE (its path under notifier/): as that path anywhere (`store/hosts.py`, or
    fetch_cycle.py in the diagram), as that path without .py in backticks (`parse`, `web/links`), a
    package's __init__.py as its folder (`web/`), a command's module as `commands/<name>.py`."""
    folder = module.removesuffix("__init__.py") if module.endswith("/__init__.py") else None
    return (module in re.findall(PY_PATH, DOC) or module.removesuffix(".py") in TICKED or folder in TICKED
            or (module in COMMAND_MODULES and "commands/<name>.py" in TICKED))


@pytest.mark.parametrize("module", MODULES)
def test_every_module_is_named_in_the_architecture_page(module):
    if not named(module):
        pytest.fail(f"notifier/{module} is not named in {PAGE}: say there what it is for", pytrace=False)


NAMED = sorted(set(re.findall(PY_PATH, DOC)) | {t.removeprefix("notifier/") for t in TICKED
                                                  if re.fullmatch(r"[\w.-]+(/[\w.-]*)+", t)})


@pytest.mark.parametrize("path", NAMED)
def test_every_module_the_architecture_page_names_exists(path):
    if not ((ROOT / "notifier" / path).exists() or (ROOT / "notifier" / f"{path}.py").exists() or (ROOT / path).exists()):
        pytest.fail(f"{PAGE} names {path}, which does not exist (under notifier/ or the repository)", pytrace=False)
