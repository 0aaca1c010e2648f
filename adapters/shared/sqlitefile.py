"""SQLite files that are never seen half made: a new one is built aside and linked into place, so a
zero-length file at the path always means a file that lost its content, never one being created."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

from adapters.shared.files import private_file

BUSY_WAIT_S = 30  # how long a connection waits for another process's lock before it gives up


class FileBusy(Exception):
    """Another process held the file locked past the wait (``BUSY_WAIT_S``): the file is fine, only in use.
    Said apart from damage, whose advice (start over, restore a backup) would lose what that process is
    doing."""

    def __init__(self, what: str):
        super().__init__(f"{what} is in use: another process holds it locked (a command waits up to "
                         f"{BUSY_WAIT_S:g} s for it)")


def is_busy(exc: sqlite3.Error) -> bool:
    """``exc`` says the file is locked by another connection, not that anything is wrong with it."""
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def create(path: Path, init: Callable[[sqlite3.Connection], None]) -> None:
    """Make ``path`` a database set up by ``init``, unless another process made it first. It is born in WAL
    mode: switching a file into it needs a moment alone with the file, and a process that opens the new
    file at the same time as another must not have to take that moment from it."""
    aside = private_file(path.with_name(f".{path.name}.{os.getpid()}.new"))  # 0600 from the start
    db = sqlite3.connect(aside, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
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
