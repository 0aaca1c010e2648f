"""Crash and signal trials: start the subnet failover (or the drill) against the fake, stop the process
at a chosen moment (kill -9, SIGTERM, SIGINT), resume, and compare with an uninterrupted run. Used by
the test suite and by ``benchmarks/crash_trials.py`` (many seeded stopping points).

A stopping point is an event, never a time: the n-th row the run has journaled (a step's transition, a
mutating call's intent or outcome), or a given row. The trials wait for it by reading the journal, so
they stop the run at the same place on an idle machine and on a loaded one.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.waiting import until

REPO = Path(__file__).resolve().parent.parent
VPN_KEY = "canary-vpn-key-5d41402abc4b2a76"  # the same canary the tests plant: it must never be written
RUNBOOK = REPO / "runbooks/woodgrove-subnet-failover.yaml"
DRILL = REPO / "runbooks/woodgrove-drill.yaml"
COMMANDS = ("run", "drill")  # the commands that take --estate and --state
Probe = Callable[[sqlite3.Connection], bool]


def slow_estate(folder: Path, job_ms: int = 300_000, time_scale: float = 0.01) -> Path:
    """The Woodgrove estate with ASR jobs long enough (3 s of wall time) to be stopped mid-flight."""
    data = yaml.safe_load((REPO / "config/estates/woodgrove.yaml").read_text())
    data["simulation"]["latency"]["job_ms"] = job_ms
    data["simulation"]["time_scale"] = time_scale
    path = folder / "estate.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def failover(folder: Path, *args: str, env: dict | None = None, **popen) -> subprocess.Popen:
    command = [sys.executable, "-m", "engine.cli", *args, "--journal", str(folder / "journal.db")]
    if args[0] in COMMANDS and "--estate" not in args:
        command += ["--estate", str(folder / "estate.yaml"), "--state", str(folder / "state.db")]
    env = {**os.environ, "WOODGROVE_VPN_KEY": VPN_KEY, **(env or {})}  # the canary, whatever the caller exported
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def cli(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.cli", *args, "--journal", str(folder / "journal.db")],
                          cwd=REPO, capture_output=True, text=True, env={**os.environ, "WOODGROVE_VPN_KEY": VPN_KEY})


def fake(folder: Path, what: str):
    """``failover fake show`` or ``ledger``, read in this process (a trial reads it several times)."""
    from adapters.fake import FakeAdapter

    adapter = FakeAdapter.open(folder / "estate.yaml", folder / "state.db")
    try:
        return json.loads(json.dumps(adapter.show() if what == "show" else adapter.ledger(), default=str))
    finally:
        adapter.close()


# --- events: what the run has journaled so far ------------------------------------------------------


def query(folder: Path, probe: Probe) -> bool:
    """``probe`` on the journal, read-only; False while there is no journal (or no table) yet."""
    path = folder / "journal.db"
    if not path.exists():
        return False
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return bool(probe(db))
        finally:
            db.close()
    except sqlite3.Error:
        return False


def events(db: sqlite3.Connection) -> int:
    """The rows the run has journaled: step and run transitions, mutating calls' intents and outcomes."""
    (transitions,) = db.execute("SELECT count(*) FROM transitions").fetchone()
    (operations,) = db.execute("SELECT count(*) FROM operations").fetchone()
    return transitions + operations


def after_events(count: int) -> Probe:
    return lambda db: events(db) >= count


def after_operation(operation: str, phase: str = "intent") -> Probe:
    """Once a mutating call (``operation`` ends the port method's name) is journaled in ``phase``."""
    return lambda db: db.execute("SELECT 1 FROM operations WHERE operation LIKE ? AND phase=?",
                                 (f"%{operation}", phase)).fetchone() is not None


def after_step(step: str, status: str) -> Probe:
    return lambda db: db.execute("SELECT 1 FROM transitions WHERE step_id=? AND status=?",
                                 (step, status)).fetchone() is not None


def run_going_in(pid: int) -> Probe:
    """Once process ``pid`` has journaled its run running: it is inside the run, and a signal stops the run
    in order (before that, a resume holding the lock while it prepares ends at once, sending nothing)."""
    return lambda db: db.execute("SELECT 1 FROM runs WHERE pid=? AND status='running'", (pid,)).fetchone() is not None


def wait_until(folder: Path, probe: Probe, process: subprocess.Popen | None = None, timeout: float = 180) -> bool:
    """Wait for the event ``probe`` looks for; False if ``process`` ended first. It reads the journal
    every few milliseconds: what it waits for is the row, however long the machine takes to write it."""
    until(lambda: query(folder, probe) or (process is not None and process.poll() is not None),
          timeout=timeout, what=f"the event in {folder / 'journal.db'}")
    return query(folder, probe)


def until_opened_for_reading(fifo: Path, process: subprocess.Popen) -> int:
    """Wait until ``process`` opens the FIFO to read it (an open to write succeeds only then); the write
    end, left open and silent, keeps the reader waiting in its read until it is closed."""

    def opened() -> int | None:
        assert process.poll() is None, process.communicate()
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader yet
            return None

    return until(opened, timeout=180, what=f"{fifo} opened to be read")


class Lines:
    """A process's stderr, read as it comes, so that a test can wait for a line."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self._reader = threading.Thread(target=self._read, args=(process.stderr,), daemon=True)
        self._reader.start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._seen:
                self.lines.append(line)
                self._seen.notify_all()
        with self._seen:
            self.lines.append(None)  # the end
            self._seen.notify_all()

    def wait_for(self, text: str, timeout: float = 180) -> bool:
        with self._seen:
            return self._seen.wait_for(lambda: any(line is None or text in line for line in self.lines),
                                       timeout) and any(line and text in line for line in self.lines)

    def text(self) -> str:
        self._reader.join(timeout=180)
        return "".join(line for line in self.lines if line)


# --- the estate and the journal afterwards -------------------------------------------------------------


def final_state(folder: Path) -> dict:
    """The estate afterwards, without what differs between any two runs (job ids, times, the recovery points
    replication takes by the clock). After a test
    failover's cleanup the service says an item's test VMs are MarkedForDeletion where it said None
    before: both mean that no test failover is left."""
    state = fake(folder, "show")
    state.pop("jobs")
    for item in state["protected_items"]:
        if item["state"].get("testFailoverState") == "MarkedForDeletion":
            item["state"]["testFailoverState"] = "None"
        item.pop("points", None)
        item.pop("recovery_point", None)
    return state


def ledger_counts(folder: Path) -> Counter:
    return Counter((e["operation"], e["resource"]) for e in fake(folder, "ledger"))


def _journal(folder: Path):
    from engine.run.journal import Journal

    return Journal(folder / "journal.db")


def runs(folder: Path) -> list[dict]:
    """``failover history``, read in this process."""
    if not (folder / "journal.db").exists():
        return []
    journal = _journal(folder)
    try:
        return journal.runs()
    finally:
        journal.close()


def last_run_id(folder: Path) -> str | None:
    found = runs(folder)
    return found[0]["run_id"] if found else None


def status(folder: Path, run_id: str) -> dict:
    """``failover status RUN_ID -o json``, read in this process."""
    journal = _journal(folder)
    try:
        return journal.load(run_id)[1].to_json()
    finally:
        journal.close()


def sqlite_events(folder: Path) -> int:
    db = sqlite3.connect(f"file:{folder / 'journal.db'}?mode=ro", uri=True)
    try:
        return events(db)
    finally:
        db.close()


def uninterrupted(folder: Path, command: str = "run", runbook: Path = RUNBOOK) -> tuple[dict, Counter]:
    folder.mkdir(parents=True, exist_ok=True)
    slow_estate(folder)
    process = failover(folder, command, str(runbook))
    _, errors = process.communicate(timeout=300)
    assert process.returncode == 0, errors
    return final_state(folder), ledger_counts(folder)


def stop_and_resume(folder: Path, stop_at: Probe, *, how: int = signal.SIGKILL, command: str = "run",
                    runbook: Path = RUNBOOK, before: dict | None = None, job_ms: int = 300_000) -> dict:
    """One trial: start ``command``, stop it with ``how`` once the journal shows ``stop_at``, then do what an
    operator does (resume it, or run it again if it never reached the journal); returns what happened,
    for the caller to compare with an uninterrupted run."""
    folder.mkdir(parents=True, exist_ok=True)
    slow_estate(folder, job_ms=job_ms)
    if before is None and command == "drill":
        before = final_state(folder)
    process = failover(folder, command, str(runbook), "--no-preflight" if command == "run" else "--yes")
    reached = wait_until(folder, stop_at, process)
    stopped = reached and process.poll() is None
    phase_at_stop = query(folder, lambda db: db.execute("SELECT phase FROM runs").fetchone()[0] == "cleanup")
    # its final status already journaled: the signal reaches a process that is only exiting
    ended_at_stop = query(folder, lambda db: db.execute("SELECT status FROM runs").fetchone()[0]
                          not in ("running", "pending"))
    if stopped:
        os.kill(process.pid, how)
    _, first_errors = process.communicate(timeout=300)
    # What the dead process left on disk, before anything opens the journal.
    left = {path.name: path.read_bytes() for path in folder.glob("journal.db*")}
    run_id = last_run_id(folder)
    resumed = None
    if run_id is None:  # stopped before the run was journaled: an operator simply runs it again
        again = failover(folder, command, str(runbook), "--no-preflight" if command == "run" else "--yes")
        _, errors = again.communicate(timeout=300)
        resumed = {"exit": again.returncode, "stderr": errors}
        run_id = last_run_id(folder)
    elif status(folder, run_id)["status"] != "succeeded":
        again = failover(folder, "resume", run_id)
        _, errors = again.communicate(timeout=300)
        resumed = {"exit": again.returncode, "stderr": errors}
    record = status(folder, run_id) if run_id else {}
    return {"stopped": stopped, "signal": how, "first_exit": process.returncode, "first_stderr": first_errors,
            "stopped_in_cleanup": bool(stopped and phase_at_stop), "ended_before_stop": bool(ended_at_stop),
            "run_id": run_id, "resumed": resumed,
            "exit": resumed["exit"] if resumed else process.returncode, "record": record,
            "canary_left": sorted(name for name, data in left.items() if VPN_KEY.encode() in data),
            "state": final_state(folder), "ledger": ledger_counts(folder), "before": before}


def lost_steps(record: dict) -> list[str]:
    """Steps whose fate the record does not tell: still running, or (in a drill that cleaned up) a change
    made and neither undone nor listed as left behind."""
    lost = [s["id"] for s in record.get("steps", []) if s["status"] == "running"]
    if record.get("kind") == "drill" and record.get("phase") == "done":
        left = {entry["step"] for entry in record["cleanup"]["left_behind"]}
        lost += [s["id"] for s in record["steps"] if s.get("action") not in (None, "none") and
                 s["status"] not in ("compensated",) and s["id"] not in left]
    return lost


def crash_and_resume(folder: Path, stop_at: Probe) -> dict:
    """kill -9 of the subnet failover at ``stop_at``, then resume (the suite's and the benchmark's trial)."""
    return stop_and_resume(folder, stop_at)


def race(folder: Path, args: tuple[str, ...], processes: int, timeout: float = 300) -> dict:
    """Start ``processes`` copies of a mutating command at once on one target whose ASR jobs are long
    (minutes): one may proceed, the others must be refused. Waits for every process but one to end,
    checks the last one is still going (it holds the target), waits for its run to be journaled running,
    then stops it with SIGTERM."""
    started = [failover(folder, *args) for _ in range(processes)]
    readers = [Lines(p) for p in started]
    until(lambda: sum(p.poll() is not None for p in started) >= processes - 1, timeout=timeout, every=0.01,
          what="all but one of the racing processes ending")
    running = [p for p in started if p.poll() is None]
    ended = [(p.returncode, r.text()) for p, r in zip(started, readers, strict=True) if p.poll() is not None]
    for survivor in running:
        wait_until(folder, run_going_in(survivor.pid), survivor, timeout=timeout)
        survivor.send_signal(signal.SIGTERM)
    survivors = [(p.wait(timeout=timeout), r.text()) for p, r in zip(started, readers, strict=True) if p in running]
    return {"running": len(running), "ended": ended, "survivors": survivors}
