"""Crash trials: start the subnet failover against the fake, kill -9 the process at a chosen moment,
resume, and compare with an uninterrupted run. Used by the test suite and by
``benchmarks/crash_trials.py`` (many seeded random kill points)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
VPN_KEY = "canary-vpn-key-5d41402abc4b2a76"  # the same canary the tests plant: it must never be written
RUNBOOK = REPO / "runbooks/woodgrove-subnet-failover.yaml"


def slow_estate(folder: Path, job_ms: int = 300_000, time_scale: float = 0.01) -> Path:
    """The Woodgrove estate with ASR jobs long enough (3 s of wall time) to be killed mid-flight."""
    data = yaml.safe_load((REPO / "config/estates/woodgrove.yaml").read_text())
    data["simulation"]["latency"]["job_ms"] = job_ms
    data["simulation"]["time_scale"] = time_scale
    path = folder / "estate.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def failover(folder: Path, *args: str, env: dict | None = None, **popen) -> subprocess.Popen:
    command = [sys.executable, "-m", "engine.cli", *args, "--journal", str(folder / "journal.db")]
    if args[0] in ("run",):
        command += ["--estate", str(folder / "estate.yaml"), "--state", str(folder / "state.db")]
    env = {**os.environ, "WOODGROVE_VPN_KEY": VPN_KEY, **(env or {})}  # the canary, whatever the caller exported
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def fake(folder: Path, what: str):
    done = subprocess.run([sys.executable, "-m", "engine.cli", "fake", what, "--estate", str(folder / "estate.yaml"),
                           "--state", str(folder / "state.db")], cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def final_state(folder: Path) -> dict:
    """The estate afterwards, without what differs between any two runs (job ids, times)."""
    state = fake(folder, "show")
    state.pop("jobs")
    return state


def ledger_counts(folder: Path) -> Counter:
    return Counter((e["operation"], e["resource"]) for e in fake(folder, "ledger"))


def last_run_id(folder: Path) -> str | None:
    done = subprocess.run([sys.executable, "-m", "engine.cli", "history", "-o", "json", "--journal",
                           str(folder / "journal.db")], cwd=REPO, capture_output=True, text=True, check=True)
    runs = json.loads(done.stdout)["runs"]
    return runs[0]["run_id"] if runs else None


def uninterrupted(folder: Path) -> tuple[dict, Counter]:
    folder.mkdir(parents=True, exist_ok=True)
    slow_estate(folder)
    process = failover(folder, "run", str(RUNBOOK))
    process.communicate(timeout=120)
    assert process.returncode == 0
    return final_state(folder), ledger_counts(folder)


def crash_and_resume(folder: Path, kill_after: float) -> dict:
    """One trial; returns what happened, for the caller to compare with an uninterrupted run."""
    folder.mkdir(parents=True, exist_ok=True)
    slow_estate(folder)
    process = failover(folder, "run", str(RUNBOOK))
    time.sleep(kill_after)
    killed = process.poll() is None
    if killed:
        os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=120)
    # What the dead process left on disk, before anything opens the journal.
    left = {path.name: path.read_bytes() for path in folder.glob("journal.db*")}
    run_id = last_run_id(folder)
    resumes = 0
    if run_id is None:  # killed before the run was journaled: an operator simply runs it again
        again = failover(folder, "run", str(RUNBOOK))
        again.communicate(timeout=120)
        code = again.returncode
    else:
        code = 0
        status = json.loads(subprocess.run(
            [sys.executable, "-m", "engine.cli", "status", run_id, "-o", "json", "--journal", str(folder / "journal.db")],
            cwd=REPO, capture_output=True, text=True, check=True).stdout)["status"]
        if status != "succeeded":
            resumed = failover(folder, "resume", run_id)
            resumed.communicate(timeout=120)
            code, resumes = resumed.returncode, 1
    return {"kill_after": kill_after, "killed": killed, "run_id": run_id, "resumes": resumes, "exit": code,
            "canary_left": sorted(name for name, data in left.items() if VPN_KEY.encode() in data),
            "state": final_state(folder), "ledger": ledger_counts(folder)}
