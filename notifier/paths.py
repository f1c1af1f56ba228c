"""Why a folder the service needs (the state folder, the database's, the outbox) cannot be made."""
from __future__ import annotations

from pathlib import Path


def file_in_the_way(folder: Path) -> Path | None:
    """The file standing where ``folder``, or a folder above it, should be (creating it fails with a
    bare "File exists" or "Not a directory"); None when there is none."""
    there = next((p for p in (folder, *folder.parents) if p.exists()), None)
    return there if there is not None and not there.is_dir() else None
