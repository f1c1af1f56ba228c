"""What `pip install .` puts on an operator's box (not the editable install the tests run on): every
module, template, stylesheet, script and sample digest under the package's folders is declared in
pyproject.toml, so a new template folder or file type cannot be left out of a wheel unseen."""
import subprocess
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def folder_of(package: str) -> Path:
    """Where setuptools reads a package from: its package-dir, or its parent's with its last name added."""
    mapped = SETUPTOOLS.get("package-dir", {})
    parts = package.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in mapped:
            return ROOT / mapped[prefix] / Path(*parts[n:])
    return ROOT / Path(*parts)


PACKAGES = {folder_of(p): p for p in SETUPTOOLS["packages"]}


def project_files(*folders: str) -> list[str]:
    """The files under ``folders`` that are the project's: git's list in a clone (an editor's backup
    is not), every file but compiled ones in an unpacked source tree."""
    if (ROOT / ".git").exists():
        listed = subprocess.run(["git", "ls-files", "--", *folders], cwd=ROOT, capture_output=True, text=True,
                                check=True)
        return sorted(listed.stdout.splitlines())
    return sorted(f.relative_to(ROOT).as_posix() for folder in folders for f in (ROOT / folder).rglob("*")
                  if f.is_file() and "__pycache__" not in f.parts)


SHIPPED = project_files("notifier", "templates")


def declared(path: Path) -> bool:
    package = PACKAGES.get(path.parent)
    if package is None:
        return False
    return path.suffix == ".py" or any(fnmatch(path.name, glob) for glob in SETUPTOOLS["package-data"].get(package, []))


def test_every_file_the_package_reads_is_installed_with_it():
    left_out = [path for path in SHIPPED if not declared(ROOT / path)]
    if left_out:
        pytest.fail(f"`pip install .` leaves out {', '.join(left_out)}: list the folder in [tool.setuptools] packages "
                    "and the kind of file in package-data (pyproject.toml)", pytrace=False)
    assert len(SHIPPED) > 100 and "templates/web/static/site.css" in SHIPPED    # it looked where the files are
