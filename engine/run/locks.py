"""Who holds a target's lock, and whether that holder is still there.

A lock names its holder by host, pid and the process's start time, and carries a heartbeat and an
expiry. A holder on this host is gone when its pid is missing or belongs to a process started at another
time (the pid was reused); a holder on another host is gone once its lock has expired without a beat.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from functools import cache

LOCK_TTL_S = 120.0  # a lock not refreshed for this long has expired (another host may take it over)


def process_start(pid: int) -> str | None:
    """When process ``pid`` started, as the kernel tells it (clock ticks since boot on Linux), or None
    where that cannot be read (the holder is then judged by its pid alone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return fields[19].decode()  # field 22 of stat(5), counted after the command name
    except (OSError, IndexError):
        return None


@cache
def this_process() -> tuple[str, int, str | None]:
    return socket.gethostname(), os.getpid(), process_start(os.getpid())


def me() -> tuple[str, int, str | None]:
    host, pid, started = this_process()
    if pid != os.getpid():  # forked
        this_process.cache_clear()
        return this_process()
    return host, pid, started


@dataclass(frozen=True)
class LockHolder:
    scope: str
    run_id: str
    pid: int
    host: str
    operator: str
    acquired_at: float
    heartbeat_at: float
    started: str | None = None  # the holder process's start time (see process_start)
    expires_at: float | None = None

    def is_me(self) -> bool:
        host, pid, started = me()
        return self.host == host and self.pid == pid and (self.started is None or self.started == started)

    def gone(self) -> str | None:
        """Why the holder is gone, or None while it may still be working."""
        if self.host == socket.gethostname():
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return f"process {self.pid} is no longer running"
            except PermissionError:
                pass  # another user's process: it exists
            started = process_start(self.pid)
            if self.started is not None and started is not None and started != self.started:
                return f"process {self.pid} is another program now (the pid was reused)"
            return None
        expires = self.expires_at if self.expires_at is not None else self.heartbeat_at + LOCK_TTL_S
        if time.time() >= expires:
            return f"its lock expired {time.time() - expires:.0f}s ago without a heartbeat from {self.host}"
        return None

    def alive(self) -> bool:
        return self.gone() is None

    def describe(self) -> str:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.acquired_at))
        return f"run {self.run_id} by {self.operator} on {self.host} (pid {self.pid}) since {started} UTC"


class LockHeld(Exception):
    def __init__(self, holder: LockHolder):
        super().__init__(f"another run holds the lock on {holder.scope}: {holder.describe()}")
        self.holder = holder


class LockLost(Exception):
    """The lock this run held was released (``failover unlock``) or taken by another run."""
