"""A node's files are its own: directories are made 0700 and files 0600 before anything is
written to them (SQLite gives its `-wal`, `-shm` and journal files the mode of the database
file, so they follow)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["private_dir", "private_file"]


def private_dir(path: Path) -> Path:
    """Make the directory (and missing parents) if needed; the directory itself owner-only."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def private_file(path: Path | str) -> Path:
    """Make an empty owner-only file unless it exists, in an owner-only directory."""
    path = Path(path)
    private_dir(path.parent)
    with contextlib.suppress(FileExistsError):  # another process of the node made it first
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return path
