"""SQLite files that are never seen half made: a new one is built aside and linked into place, so a
zero-length file at the path always means a file that lost its content, never one being created."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from adapters.shared.files import private_file


def create(path: Path, init: Callable[[sqlite3.Connection], None]) -> None:
    """Make ``path`` a database set up by ``init``, unless another process made it first."""
    aside = private_file(path.with_name(f".{path.name}.{os.getpid()}.new"))  # 0600 from the start
    db = sqlite3.connect(aside, isolation_level=None)
    try:
        init(db)
    finally:
        db.close()
    try:
        os.link(aside, path)
    except FileExistsError:
        pass  # another process created it meanwhile: theirs is used
    finally:
        for leftover in (aside, Path(f"{aside}-wal"), Path(f"{aside}-shm")):
            leftover.unlink(missing_ok=True)
