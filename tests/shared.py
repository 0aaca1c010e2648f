"""Trials of the shared journal: two hosts (two working directories with settings of their own) share
one container in Azurite and one fake estate (the cloud). The first host runs a runbook or a drill and is
killed (SIGKILL) or paused (SIGSTOP) at a chosen event of its log; the second resumes the run. Used by
the test suite (a few trials) and by ``benchmarks/blob_trials.py`` (many, seeded)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from azure.storage.blob import BlobServiceClient

from tests import durable
from tests.waiting import until

REPO = durable.REPO
VPN_KEY = durable.VPN_KEY
RUNBOOKS = {"run": REPO / "runbooks/woodgrove-subnet-failover.yaml", "drill": REPO / "runbooks/woodgrove-drill.yaml"}


@dataclass
class Host:
    """One operator's machine: its own working directory and settings, the shared journal's address."""

    folder: Path
    url: str
    connection_string: str
    hostname: str | None = None  # a host name of its own (a UTS namespace): the lock sees another machine

    @classmethod
    def make(cls, folder: Path, url: str, connection_string: str, lease_s: int = 15,
             hostname: str | None = None) -> Host:
        (folder / "config").mkdir(parents=True, exist_ok=True)
        (folder / "config/failover.yaml").write_text(f"adapter: fake\njournal: {url}\njournal_lease: {lease_s}\n")
        return cls(folder, url, connection_string, hostname)

    def command(self, *args: str) -> list[str]:
        command = [sys.executable, "-m", "engine.cli", *args]
        if self.hostname is None:
            return command
        # unshare and sh exec in turn: the process keeps its pid, so it can be paused or killed by it
        return ["unshare", "--uts", "sh", "-c", f'hostname {self.hostname} && exec "$@"', "sh", *command]

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in ("FAILOVER_JOURNAL", "FAILOVER_CONFIG")}
        return {**env, "WOODGROVE_VPN_KEY": VPN_KEY, "AZURE_STORAGE_CONNECTION_STRING": self.connection_string}

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(self.command(*args), cwd=self.folder, env=self.env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def failover(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*args), cwd=self.folder, env=self.env(),
                              capture_output=True, text=True, timeout=300)

    def last_run(self) -> str | None:
        runs = json.loads(self.failover("history", "-o", "json").stdout)["runs"]
        return runs[0]["run_id"] if runs else None

    def status(self, run_id: str) -> dict:
        return json.loads(self.failover("status", run_id, "-o", "json").stdout)


@dataclass
class Cloud:
    """The fake estate both hosts act on, as one Azure would be."""

    folder: Path

    @classmethod
    def make(cls, folder: Path) -> Cloud:
        folder.mkdir(parents=True, exist_ok=True)
        durable.slow_estate(folder)
        return cls(folder)

    def args(self) -> list[str]:
        return ["--estate", str(self.folder / "estate.yaml"), "--state", str(self.folder / "state.db")]

    def ledger(self) -> Counter:
        return durable.ledger_counts(self.folder)

    def state(self) -> dict:
        return durable.final_state(self.folder)


def start_run(host: Host, cloud: Cloud, kind: str) -> subprocess.Popen:
    return host.start(kind, str(RUNBOOKS[kind]), *cloud.args(), "-o", "json", "-v", "--log-format", "json")


def wait_for_event(process: subprocess.Popen, count: int) -> list[str]:
    """Read the process's log until the ``count``-th event of its run (the preflight simulation's aside),
    or its end; return the events seen."""
    seen = []
    for line in process.stderr:
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("dry_run") is False:
                seen.append(event.get("event", ""))
                if len(seen) >= count:
                    break
    return seen


def reference(folder: Path, url: str, connection_string: str, kind: str) -> tuple[dict, Counter, int]:
    """An uninterrupted run or drill: the final estate, the mutating calls it needed and how many events
    its log has (where a trial may stop it)."""
    cloud = Cloud.make(folder / "cloud")
    host = Host.make(folder / "host", url, connection_string)
    process = start_run(host, cloud, kind)
    events = wait_for_event(process, 10**6)
    process.communicate()
    assert process.returncode == 0
    return cloud.state(), cloud.ledger(), len(events)


def finish(host: Host, run_id: str | None, cloud: Cloud, kind: str) -> tuple[int, dict | None]:
    """What the second operator does: resume the run the journal names, or start it if it never began."""
    if run_id is None:
        done = host.failover(kind, str(RUNBOOKS[kind]), *cloud.args(), "-o", "json")
        return done.returncode, None
    status = host.status(run_id)
    if status["status"] == "succeeded":
        return 0, status
    done = host.failover("resume", run_id, "-o", "json")
    return done.returncode, host.status(run_id)


def killed_then_resumed(folder: Path, url: str, connection_string: str, kind: str, event: int) -> dict:
    """Host A starts, is killed at its ``event``-th log event; host B resumes from its own directory."""
    cloud = Cloud.make(folder / "cloud")
    a = Host.make(folder / "a", url, connection_string)
    b = Host.make(folder / "b", url, connection_string)
    process = start_run(a, cloud, kind)
    wait_for_event(process, event)
    killed = process.poll() is None
    if killed:
        process.send_signal(signal.SIGKILL)
    process.communicate()
    run_id = b.last_run()
    code, status = finish(b, run_id, cloud, kind)
    return {"event": event, "killed": killed, "run_id": run_id, "exit": code, "status": status,
            "state": cloud.state(), "ledger": cloud.ledger()}


def paused_then_fenced(folder: Path, url: str, connection_string: str, kind: str, event: int, storage) -> dict:
    """Host A starts and is paused (SIGSTOP) at its ``event``-th log event, holding the lease; host B
    resumes once the lease expired and finishes; A, let go (SIGCONT), must send nothing and stop."""
    cloud = Cloud.make(folder / "cloud")
    a = Host.make(folder / "a", url, connection_string)
    b = Host.make(folder / "b", url, connection_string)
    process = start_run(a, cloud, kind)
    wait_for_event(process, event)
    if process.poll() is not None:
        process.communicate()
        return {"event": event, "paused": False}
    process.send_signal(signal.SIGSTOP)
    try:
        at_pause = cloud.ledger()
        run_id = b.last_run()
        tries = 0
        while True:  # refused while A's lease lasts; the lease's expiry is what lets B in
            tries += 1
            done = b.failover("resume", run_id, "-o", "json")
            if done.returncode != 3 or "lost its lease" in done.stderr:
                break
            wait_for_lease_expiry(storage, url)
        after_b = cloud.ledger()
        status_b = b.status(run_id)
    finally:
        process.send_signal(signal.SIGCONT)
    _, err = process.communicate(timeout=300)
    return {"event": event, "paused": True, "run_id": run_id, "resume_exit": done.returncode, "tries": tries,
            "status": status_b, "a_exit": process.returncode, "a_said_lost": "lost its lease" in err,
            "a_calls_after_resume": sum((cloud.ledger() - after_b).values()), "ledger_at_pause": at_pause,
            "ledger": cloud.ledger(), "state": cloud.state(), "a_stderr": err[-2000:]}


def wait_for_lease_expiry(storage: BlobServiceClient, url: str) -> None:
    """Until no lock of the container is leased any more: the condition is asked of the service, a
    quarter second apart (a lease's expiry cannot be waited on otherwise)."""
    container = storage.get_container_client(url.rsplit("/", 1)[1])
    until(lambda: not any(b.lease.state == "leased" for b in container.list_blobs(name_starts_with="locks/")),
          timeout=300, every=0.25, what="a lock's lease expiry")  # a lease lasts at most 60 s
