"""Scheduled drills and readiness checks: cron expressions in settings, a scheduler that runs what is due.

An entry of ``kind: check`` runs ``failover check`` (read only) instead of a drill, its JUnit XML written
to the reports folder; its last run is its last check in the journal.

Each drill runs as its own ``failover drill`` process (a crash of one drill cannot take the scheduler
down), with its reports written to the reports folder. A drill is due when a cron time has passed
since its last run began, no longer ago than the grace period (a scheduler started late does not
replay a month of missed drills); one whose previous run is still going is skipped, not started twice: the
journal knows what is running, and the run lock refuses a second run on the same target anyway.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from croniter import croniter

from engine.model.problems import InvalidInput, Problem
from engine.run.journal import Journal, who

GRACE_S = 3600.0
KINDS = ("drill", "check")


@dataclass(frozen=True)
class ScheduledDrill:
    name: str
    runbook: str
    cron: str
    params: dict
    estate: str | None = None
    kind: str = "drill"  # drill | check (a readiness check: `failover check`, read only)

    def previous_slot(self, now: datetime) -> datetime:
        return croniter(self.cron, now).get_prev(datetime)

    def next_slot(self, now: datetime) -> datetime:
        return croniter(self.cron, now).get_next(datetime)


def drills_from(settings) -> list[ScheduledDrill]:
    drills, problems = [], []
    for index, entry in enumerate(settings.drills):
        name = entry.get("name") or f"drill-{index}"
        if not entry.get("runbook") or not entry.get("cron") or not croniter.is_valid(entry["cron"]):
            problems.append(Problem("CF003", f"scheduled drill {name} needs a runbook and a valid cron expression "
                                    f"(got {entry.get('cron')!r})", file=str(settings.file),
                                    fix="e.g. cron: \"0 3 1 * *\" (03:00 UTC on the first of each month)"))
            continue
        if entry.get("kind", "drill") not in KINDS:
            problems.append(Problem("CF003", f"scheduled entry {name} has kind {entry.get('kind')!r}",
                                    file=str(settings.file), fix="kind: drill (the default) or check"))
            continue
        drills.append(ScheduledDrill(name, entry["runbook"], entry["cron"], dict(entry.get("params") or {}),
                                     entry.get("estate"), entry.get("kind", "drill")))
    if problems:
        raise InvalidInput(problems)
    return drills


def runs_of(journal: Journal, drill: ScheduledDrill):
    if drill.kind == "check":
        return [{"run_id": c["check_id"], "status": "ready" if c["ready"] else "not ready", "started_at": c["at"]}
                for c in journal.checks(limit=500) if c.get("schedule") == drill.name]
    return [r for r in journal.runs(limit=500, kind="drill")
            if json.loads(r["options"]).get("schedule") == drill.name]


def status(journal: Journal, drill: ScheduledDrill, now: datetime) -> dict:
    runs = runs_of(journal, drill)
    last = runs[0] if runs else None
    slot = drill.previous_slot(now)
    ran_since = bool(last) and last["started_at"] >= slot.timestamp()
    in_grace = (now - slot).total_seconds() <= GRACE_S
    return {
        "name": drill.name, "kind": drill.kind, "runbook": drill.runbook, "cron": drill.cron,
        "next_run": drill.next_slot(now).isoformat(), "last_slot": slot.isoformat(),
        "last_run": last["run_id"] if last else None, "last_status": last["status"] if last else None,
        "running": bool(last) and last["status"] == "running",
        "due": in_grace and not ran_since and not (last and last["status"] == "running"),
    }


def run_due(journal_path: Path, drills: list[ScheduledDrill], reports: Path, *, now: datetime | None = None,
            config: Path | None = None, log=None) -> list[dict]:
    """Start every due drill (one process each) and wait for them; return what happened."""
    now = now or datetime.now(UTC)
    started = []
    journal = Journal(journal_path)
    try:
        states = {d.name: status(journal, d, now) for d in drills}
        claimed = {}
        for drill in drills:  # a slot is run once, however many schedulers see it due
            state = states[drill.name]
            if state["due"] and not state["running"]:
                claimed[drill.name] = journal.claim_slot(drill.name, state["last_slot"], who())
    finally:
        journal.close()
    for drill in drills:
        state = states[drill.name]
        if state["running"]:
            started.append({"name": drill.name, "action": "skipped", "why": f"run {state['last_run']} is still going"})
            continue
        if not state["due"]:
            continue
        if not claimed.get(drill.name):
            started.append({"name": drill.name, "action": "skipped",
                            "why": f"another scheduler started the {state['last_slot']} drill"})
            continue
        command = [sys.executable, "-m", "engine.cli", drill.kind, drill.runbook, "--journal", str(journal_path),
                   "--schedule-name", drill.name, "-o", "json"]
        command += (["--report-dir", str(reports)] if drill.kind == "drill"
                    else ["--junit", str(reports / f"{drill.name}.xml")])
        command += [arg for key, value in drill.params.items() for arg in ("--param", f"{key}={value}")]
        if drill.estate:
            command += ["--estate", drill.estate]
        if config:
            command += ["--config", str(config)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=os.environ.copy())
        started.append({"name": drill.name, "action": "started", "process": process})
    for entry in started:
        process = entry.pop("process", None)
        if process is None:
            continue
        stdout, stderr = process.communicate()
        entry["exit"] = process.returncode
        if process.returncode == 3:
            entry.update(action="skipped", why="another run holds the target's lock: " + stderr.strip()[-300:])
        else:
            try:
                document = json.loads(stdout)
                if "check_id" in document:
                    entry.update(check_id=document["check_id"], ready=document["ready"],
                                 findings=[f"{f['code']} {f['resource']}" for f in document["findings"]])
                else:
                    entry.update(run_id=document["run_id"], verdict=document.get("verdict"))
            except (ValueError, KeyError):
                entry.update(error=stderr.strip()[-500:])
        if log:
            log.info("schedule.drill", **entry)
    return started
