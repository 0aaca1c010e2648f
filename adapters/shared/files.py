"""Files the tool creates are private to the user who runs it: 0600 in folders created 0700.

The journal, the fake's state, reports and snapshots name the estate and what was done to it; SQLite gives
a database's WAL and shared-memory files the mode of the database itself, so creating the database 0600
first is enough for all three.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path | str) -> Path:
    """``path`` as a folder, each missing folder on the way created 0700 (existing ones are left as they are)."""
    path = Path(path)
    missing = []
    at = path
    while not at.exists():
        missing.append(at)
        if at.parent == at:
            break
        at = at.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process made it meanwhile
            os.mkdir(folder, DIR_MODE)
    return path


def private_file(path: Path | str) -> Path:
    """``path`` as a file that exists and only its owner may read: created 0600 if missing, tightened if
    an earlier version left it readable by others."""
    path = Path(path)
    private_dir(path.parent)
    os.close(os.open(path, os.O_CREAT | os.O_RDONLY, FILE_MODE))
    _tighten(path)
    return path


def write_private(path: Path | str, content: str | bytes) -> Path:
    """Write ``content`` to ``path``, created 0600."""
    path = Path(path)
    private_dir(path.parent)
    data = content.encode("utf-8") if isinstance(content, str) else content
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(fd, FILE_MODE)  # a file an earlier version left readable by others
        handle.write(data)
    return path


def _tighten(path: Path) -> None:
    try:
        info = path.stat()
        if stat.S_ISREG(info.st_mode) and info.st_mode & 0o077 and info.st_uid == os.getuid():
            os.chmod(path, FILE_MODE)
    except OSError:  # not ours to change: leave it
        pass
