"""The journal's redo log: how a mutating call's intent gets on disk before the call is sent without
waiting for a SQLite commit.

Committing the intent (and the rows queued before it) took a SQLite transaction: a handful of calls
into SQLite, each giving up the interpreter lock and winning it back, so with ten steps busy an
intent waited 1-2 ms, and 8-24 ms at the 99th percentile (1,000-VM benchmark runs). Appending the
same statements to a file mapped into memory is a copy into the kernel's page cache, which survives
the process (kill -9, OOM) just as a WAL commit with ``synchronous=NORMAL`` does; the writer thread
commits them to SQLite behind. It is a copy and not a ``write``: a system call gives up the
interpreter lock, and the appending thread, which holds the log's lock, had to win it back from
the busy steps while the other intents queued behind it (waits of 10-25 ms at 1,000 VMs).

Each process that logs has a file of its own beside the journal (``journal.db-redo-<pid>-<tag>``),
locked with ``flock`` while the process lives. Each line is ``[seq, sql, params]``; seq numbers the
process's statements; the file's unused end is zeros. Every commit records in the ``redo`` table how
far it got, in the same transaction, so a journal opened later replays exactly what a dead process
logged and never committed.
"""

from __future__ import annotations

import fcntl
import json
import mmap
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

Statement = tuple[str, tuple]

SCHEMA = "CREATE TABLE IF NOT EXISTS redo (log TEXT PRIMARY KEY, applied INTEGER NOT NULL);"
TRUNCATE_AT = 8 << 20  # bytes: a log SQLite has caught up with is emptied past this size
MAPPED = 1 << 20  # bytes mapped at first, and added at a time
# The file's blocks, taken before they are mapped: a full disk fails the append, not a later copy (SIGBUS).
_allocate = getattr(os, "posix_fallocate", lambda fd, offset, size: os.ftruncate(fd, offset + size))


class RedoLog:
    """This process's log; the file is made (and locked, and mapped) at the first append."""

    def __init__(self, journal: Path):
        self.path = journal.with_name(f"{journal.name}-redo-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        self.name = self.path.name
        self._fd: int | None = None
        self._map: mmap.mmap | None = None
        self._size = 0  # bytes of lines; the rest of the file is zeros

    def append(self, first: int, statements: list[Statement]) -> None:
        """``statements``, numbered from ``first``, copied into the mapped file (the kernel has them
        when this returns). Raises ``OSError`` when the file cannot grow (a full disk)."""
        data = "".join(json.dumps([first + i, sql, params]) + "\n"
                       for i, (sql, params) in enumerate(statements)).encode()
        if self._map is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            _allocate(self._fd, 0, MAPPED)
            self._map = mmap.mmap(self._fd, MAPPED)
        end = self._size + len(data)
        if end > len(self._map):
            self._grow(end)
        self._map[self._size:end] = data
        self._size = end

    def _grow(self, needed: int) -> None:
        size = (needed // MAPPED + 1) * MAPPED
        _allocate(self._fd, 0, size)
        self._map.resize(size)

    def caught_up(self) -> None:
        """SQLite holds everything logged: a long log is emptied (its lines would all be skipped)."""
        if self._map is not None and self._size > TRUNCATE_AT:
            self._map.resize(MAPPED)
            self._map[:] = bytes(MAPPED)
            self._size = 0

    def remove(self) -> None:
        """After the journal has committed everything: the log is no longer needed."""
        if self._fd is not None:
            self.path.unlink(missing_ok=True)
            self._map.close()
            os.close(self._fd)
            self._fd, self._map = None, None


def orphans(journal: Path) -> Iterator[tuple[str, list[tuple[int, Statement]]]]:
    """The logs of processes that died, one at a time, locked while the caller replays them: (name,
    numbered statements). A log whose process lives is locked, and skipped."""
    for path in sorted(journal.parent.glob(f"{journal.name}-redo-*")):
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its process lives
            if os.fstat(fd).st_nlink == 0:
                continue  # replayed and removed by another process meanwhile
            with open(fd, closefd=False, encoding="utf-8") as lines:
                yield path.name, list(_numbered(lines))
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)


def gone(name: str, journal: Path) -> bool:
    """Whether the process that named its log ``name`` died without leaving the file: its row in the
    ``redo`` table can go (a live process may not have made its file yet)."""
    if (journal.parent / name).exists():
        return False
    try:
        pid = int(name.removeprefix(f"{journal.name}-redo-").split("-")[0])
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (ValueError, PermissionError):
        return False
    return False


def _numbered(lines) -> Iterator[tuple[int, Statement]]:
    for line in lines:
        try:
            seq, sql, params = json.loads(line)
        except ValueError:  # the zeros after the last line, or a line cut short: its call was never sent
            return
        yield seq, (sql, tuple(params))
