"""Scheduled drills and readiness checks: cron expressions in settings, a scheduler that runs what is due.

An entry of ``kind: check`` runs ``failover check`` (read only) instead of a drill, its JUnit XML written
to the reports folder; its last run is its last check in the journal.

Each drill runs as its own ``failover drill`` process (a crash of one drill cannot take the scheduler
down), with its reports written to the reports folder. A drill is due when a cron time has passed
since its last run began, no longer ago than the grace period (a scheduler started late does not
replay a month of missed drills); one whose previous run is still going is skipped, not started twice: the
journal knows what is running, and the run lock refuses a second run on the same target anyway.

A drill's relative paths (``runbook``, ``estate``) are relative to the settings file that schedules it,
like every path in a settings file (``engine.cli.settings``); ``schedule list`` shows them resolved.
Every outcome carries a ``reason`` when a drill did not pass, and ``exit_code`` sums them up for cron
and CI: 0 only when every drill due ran and passed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from croniter import croniter

from engine.cli.settings import Settings, journal_location
from engine.cli.wiring import open_journal
from engine.model.problems import InvalidInput, Problem
from engine.run.journal import who
from engine.run.store import JournalStore

GRACE_S = 3600.0
KINDS = ("drill", "check")


@dataclass(frozen=True)
class ScheduledDrill:
    name: str
    runbook: str
    cron: str
    params: dict
    estate: str | None = None
    declared_in: str | None = None  # the settings file that schedules it (relative paths start there)
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
                                     entry.get("estate"), str(settings.file) if settings.file else None,
                                     entry.get("kind", "drill")))
    if problems:
        raise InvalidInput(problems)
    return drills


def runs_of(journal: JournalStore, drill: ScheduledDrill):
    if drill.kind == "check":
        return [{"run_id": c["check_id"], "status": "ready" if c["ready"] else "not ready", "started_at": c["at"]}
                for c in journal.checks(limit=500) if c.get("schedule") == drill.name]
    return [r for r in journal.runs(limit=500, kind="drill")
            if json.loads(r["options"]).get("schedule") == drill.name]


def status(journal: JournalStore, drill: ScheduledDrill, now: datetime) -> dict:
    runs = runs_of(journal, drill)
    last = runs[0] if runs else None
    slot = drill.previous_slot(now)
    ran_since = bool(last) and last["started_at"] >= slot.timestamp()
    in_grace = (now - slot).total_seconds() <= GRACE_S
    return {
        "name": drill.name, "kind": drill.kind, "runbook": drill.runbook, "estate": drill.estate,
        "declared_in": drill.declared_in,
        "runbook_exists": Path(drill.runbook).is_file(), "cron": drill.cron,
        "next_run": drill.next_slot(now).isoformat(), "last_slot": slot.isoformat(),
        "last_run": last["run_id"] if last else None, "last_status": last["status"] if last else None,
        "running": bool(last) and last["status"] == "running",
        "due": in_grace and not ran_since and not (last and last["status"] == "running"),
    }


def run_due(journal_path: Path | str, drills: list[ScheduledDrill], reports: Path, *, now: datetime | None = None,
            config: Path | None = None, log=None, junit: Path | None = None,
            settings: Settings | None = None) -> list[dict]:
    """Start every due drill (one process each) and wait for them; return what happened, each outcome
    with its ``exit`` code and, unless it passed, its ``reason``. With ``junit``, every drill that was
    due is written there as a test suite (one that could not run, as an error)."""
    from engine.cli.report import junit as junit_xml

    now = now or datetime.now(UTC)
    started = []
    journal = open_journal(settings or Settings(), journal_location(journal_path))
    try:
        states = {d.name: status(journal, d, now) for d in drills}
        claimed = {}
        for drill in drills:  # a slot is run once, however many schedulers see it due
            state = states[drill.name]
            if state["due"] and not state["running"]:
                claimed[drill.name] = journal.claim_slot(drill.name, state["last_slot"], who())
    finally:
        journal.close()
    scratch = tempfile.TemporaryDirectory(prefix="failover-junit-")
    for drill in drills:
        state = states[drill.name]
        entry = {"name": drill.name, "runbook": drill.runbook}
        if state["running"]:
            started.append({**entry, "action": "skipped", "exit": 3,
                            "reason": f"run {state['last_run']} of this drill is still going"})
            continue
        if not state["due"]:
            continue
        if not claimed.get(drill.name):
            started.append({**entry, "action": "elsewhere", "exit": 0,
                            "reason": f"another scheduler started the {state['last_slot']} drill"})
            continue
        command = [sys.executable, "-m", "engine.cli", drill.kind, drill.runbook, "--journal", str(journal_path),
                   "--schedule-name", drill.name, "-o", "json"]
        if drill.kind == "drill":
            command += ["--report-dir", str(reports), "--junit", str(Path(scratch.name) / f"{len(started)}.xml")]
        else:  # a check's JUnit XML is its report, kept in the reports folder
            command += ["--junit", str(reports / f"{drill.name}.xml")]
        command += [arg for key, value in drill.params.items() for arg in ("--param", f"{key}={value}")]
        if drill.estate:
            command += ["--estate", drill.estate]
        if config:
            command += ["--config", str(config)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=os.environ.copy())
        started.append({**entry, "action": "started", "process": process, "junit": command[command.index("--junit") + 1]})
    suites = []
    for entry in started:
        process = entry.pop("process", None)
        own_junit = entry.pop("junit", None)
        if process is None:
            if entry["exit"]:
                suites.append(junit_xml.not_run_suite(entry["name"], entry["reason"], kind=entry["action"]))
            continue
        out, err = process.communicate()
        entry["exit"] = process.returncode
        entry.update(_outcome(out, err, process.returncode))
        if process.returncode == 3:
            entry["action"] = "skipped"
        if own_junit and Path(own_junit).is_file():
            suites += junit_xml.read_suites(Path(own_junit))
        elif entry["exit"]:
            suites.append(junit_xml.not_run_suite(entry["name"], entry.get("reason") or "the drill did not run",
                                                  kind=entry["action"]))
        if log:
            log.info("schedule.drill", **entry)
    if junit is not None:
        junit_xml.write(suites, junit)
    scratch.cleanup()
    return started


def _outcome(out: str, err: str, code: int) -> dict:
    """What a drill's process said: its run and verdict, or why it did not run (its JSON error document,
    else the end of its stderr)."""
    try:
        document = json.loads(out)
    except ValueError:
        document = {}
    found: dict = {}
    if "check_id" in document:
        found.update(check_id=document["check_id"], ready=document["ready"],
                     findings=[f"{f['code']} {f['resource']}" for f in document["findings"]])
        if code != 0:
            found["reason"] = "not ready: " + ("; ".join(found["findings"]) or f"the check exited {code}")
        return found
    if document.get("run_id"):
        found.update(run_id=document["run_id"], status=document.get("status"), verdict=document.get("verdict"))
        if code != 0:
            found["reason"] = document.get("verdict") or f"the drill {document.get('status')}"
        return found
    if document.get("errors"):
        found["reason"] = "; ".join(
            f"{e['code']} {e['message']}" + (f" ({e['file']}{':' + str(e['line']) if e.get('line') else ''})"
                                            if e.get("file") else "") for e in document["errors"])
    elif document.get("error"):
        error = document["error"]
        found["reason"] = error["message"] + (f"; next: {error['next_step']}" if error.get("next_step") else "")
    else:
        lines = [line for line in err.strip().splitlines() if line.strip()]
        found["reason"] = " ".join(lines[-3:])[-500:] or f"the drill exited {code} without saying why"
    return found


def exit_code(outcomes: list[dict]) -> int:
    """The scheduler's exit code: 1 if a drill failed, else 2 if one's input was invalid, else 3 if one was
    skipped or refused, else 4 if one paused; 0 when every drill due ran and passed (or ran elsewhere)."""
    codes = {o.get("exit") or 0 for o in outcomes}
    return next((code for code in (1, 2, 3, 4) if code in codes), 0 if codes <= {0} else 1)
