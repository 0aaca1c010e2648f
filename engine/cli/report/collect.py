"""A run's report: everything the journal knows about one run, as one JSON-ready document.

``collect(store, run_id)`` reads the run, its steps, their status transitions, the mutating operations
(intent and outcome), the ASR jobs and the approvals, and puts them together for a reader: who ran
what, when and how it ended (a drill's verdict), each step with its changes, retries, errors, jobs and
outputs, the measured recovery time against the target (``engine.run.rto``), and what was cleaned up or
left behind. Times are given both as UTC timestamps and as seconds since the run began, in the run's
own seconds (simulated with the fake estate, divided by its ``time_scale``; real against Azure). One clock
gives every time: the journal's timestamps, counted from the run's start, so a step's duration is its end
minus its start, the run's duration is when it ended, and the recovery-time table is measured from the
same timestamps.

A step's ``changes`` are the changes the service confirmed: those of a step that succeeded. A step that
failed, paused or was interrupted lists what it meant to change under ``intended``, with the mutating
operations the service did confirm (``operations`` whose phase is ``done``).

The document passes through secret redaction before it is returned; ``engine.cli.report.html`` and
``engine.cli.report.markdown`` turn it into pages.
"""

from __future__ import annotations

import json
import time
from typing import Any

from adapters.shared.secret import redact_data
from engine.run.records import RunResult, StepRecord, iso
from engine.run.rto import measure

REPORT_VERSION = 1


class UnknownRun(LookupError):
    """The journal has no run with this id."""


def collect(store, run_id: str) -> dict:
    """The report document of ``run_id`` from the journal ``store`` (an ``engine.run.journal.Journal``).

    Raises ``UnknownRun`` (a ``LookupError``) if the journal does not have the run."""
    found = store.load(run_id)
    if found is None:
        raise UnknownRun(f"no run {run_id} in the journal {store.path}")
    row, result = found
    options = _json(row["options"], {})
    scale = float(options.get("time_scale") or 1.0) or 1.0
    start = result.started_at or row["started_at"]

    def since(ts: float | None) -> float | None:
        return None if ts is None or start is None else round((ts - start) / scale, 3)

    transitions = store.transitions(run_id)
    operations = store.operations(run_id)
    jobs = store.jobs(run_id)
    kind = row["kind"] or "run"

    steps = [_step(record, transitions, operations, jobs, store, run_id, since) for record in result.steps]
    cleanup = _cleanup(result, steps, kind, since, transitions)
    rto = _rto(result, options, scale)
    run_end = since(result.finished_at)

    ends = [s["end_s"] for s in steps if s["end_s"] is not None]
    ends += [c["at_s"] for c in cleanup["undone"] + cleanup["left_behind"] if c.get("at_s") is not None]
    timeline_end = max([e for e in [run_end, *ends] if e is not None], default=0.0)

    by_status: dict[str, int] = {}
    for step in steps:
        by_status[step["status"]] = by_status.get(step["status"], 0) + 1

    document = {
        "report_version": REPORT_VERSION,
        "generated_at": iso(time.time()),
        "run_id": result.run_id,
        "runbook": result.runbook,
        "runbook_path": row["runbook_path"],
        "runbook_sha256": row["runbook_sha256"],
        "kind": kind,
        "mode": "dry-run" if result.dry_run else "live",
        "adapter": result.adapter,
        "target": "real Azure" if options.get("azure") else f"fake estate {options.get('estate') or ''}".strip(),
        "schedule": options.get("schedule"),
        "status": str(result.status),
        "verdict": result.verdict if kind == "drill" else None,
        "passed": (result.verdict == "passed") if kind == "drill" and result.verdict else None,
        "headline": _headline(kind, result),
        "started_at": iso(result.started_at),
        "finished_at": iso(result.finished_at),
        "duration_s": run_end if run_end is not None else (None if result.duration_s is None
                                                           else round(result.duration_s, 3)),
        "time_scale": scale,
        "who": {"operator": row["operator"], "host": row["host"], "pid": row["pid"]},
        "parameters": result.parameters,
        "summary": {
            "steps": len(steps),
            "by_status": by_status,
            "changes": sum(len(s["changes"]) for s in steps),  # confirmed by the service
            "intended_not_confirmed": sum(len(s["intended"]) for s in steps),
            "attempts": sum(s["attempts"] for s in steps),
            "retries": sum(s["retries"] for s in steps),
            "errors": sum(1 for s in steps if s["error"]),
            "jobs": sum(len(s["jobs"]) for s in steps),
            "overhead_ms": _total([s["overhead_ms"] for s in steps]),
            "calls": _calls_total(steps),
        },
        "timeline": {
            "start_s": 0.0,
            "end_s": round(timeline_end, 3),
            "run_end_s": run_end,
            "cleanup": cleanup["window"],
        },
        "steps": steps,
        "rto": rto,
        "legs": _legs(steps),
        "recovery_points": _recovery_points(steps),
        "cleanup": {k: v for k, v in cleanup.items() if k != "window"},
    }
    return redact_data(document)


# --- the parts ------------------------------------------------------------------------------------


def _json(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def _total(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known), 3) if known else None


def _calls_total(steps: list[dict]) -> dict[str, int] | None:
    counted = [s["calls"] for s in steps if s["calls"]]
    if not counted:
        return None
    return {kind: sum(int(c.get(kind) or 0) for c in counted) for kind in ("read", "write")}


def _headline(kind: str, result: RunResult) -> str:
    if kind == "drill":
        if result.verdict:
            return f"drill {result.verdict}"
        return f"drill {result.status} (no verdict yet)"
    return f"run {result.status}"


def _change_summary(record: StepRecord, confirmed: bool = True) -> str:
    if record.changes and not confirmed:
        count = len(record.changes)
        return f"{count} change{'s' if count != 1 else ''} intended, not confirmed (the step {record.status})"
    if not record.changes:
        if record.action in (None, "none"):
            return "no change" if str(record.status) in ("succeeded", "unchanged") else "—"
        return record.action
    resources: list[str] = []
    for change in record.changes:
        if change.resource not in resources:
            resources.append(change.resource)
    count = len(record.changes)
    return f"{count} change{'s' if count != 1 else ''} to {', '.join(resources)}"


def _step(record: StepRecord, transitions, operations, jobs, store, run_id: str, since) -> dict:
    own_transitions = [t for t in transitions if t["step_id"] == record.id]
    history = [{"status": t["status"], "at": iso(t["at"]), "at_s": since(t["at"])} for t in own_transitions]
    # What the step itself came to before any compensation (a drill's changes are all compensated).
    outcome = str(record.status)
    for entry in reversed(history):
        if entry["status"] not in ("compensated", "running", "pending"):
            outcome = entry["status"]
            break
    compensated_at = next((t["at"] for t in reversed(own_transitions) if t["status"] == "compensated"), None)
    rollback = record.rollback
    compensation = None
    if rollback is not None:
        at = compensated_at
        if at is None:  # not undone: the time the attempt was recorded (the last transition)
            at = own_transitions[-1]["at"] if own_transitions else None
        compensation = {"undone": rollback["undone"], "detail": rollback["detail"], "at": iso(at), "at_s": since(at)}
    finished = record.finished_at
    ops = [{"operation": o["operation"], "phase": o["phase"], "detail": o["detail"], "at": iso(o["at"]),
            "at_s": since(o["at"]),
            "during": "cleanup" if finished is not None and o["at"] > finished and compensation else "run"}
           for o in operations if o["step_id"] == record.id]
    step_jobs = [{"job_id": j["job_id"], "operation": j["operation"], "target": j["target"],
                  "vault": _json(j["vault"], {}).get("vault"), "at": iso(j["at"]), "at_s": since(j["at"])}
                 for j in jobs if j["step_id"] == record.id]
    known = {j["job_id"] for j in step_jobs}
    step_jobs += [{"job_id": job_id, "operation": None, "target": None, "vault": None, "at": None, "at_s": None}
                  for job_id in record.jobs if job_id not in known]
    approval = store.approval(run_id, record.id)
    errors = [record.error] if record.error else []
    errors += [f"{o['operation']}: {o['detail'] or 'failed'}" for o in ops if o["phase"] == "failed"]
    start_s, end_s = since(record.started_at), since(record.finished_at)
    duration = round(end_s - start_s, 3) if start_s is not None and end_s is not None else None
    if duration is None and record.duration_s is not None and str(record.status) == "running":
        duration = round(record.duration_s, 3)
    changes = [c.to_json() for c in record.changes]
    confirmed = outcome in ("succeeded", "unchanged")
    return {
        "id": record.id,
        "kind": record.uses,
        "status": str(record.status),
        "outcome": outcome,
        "action": record.action,
        "started_at": iso(record.started_at),
        "finished_at": iso(record.finished_at),
        "start_s": start_s,
        "end_s": end_s,
        "duration_s": duration,
        "attempts": record.attempts,
        "retries": record.retries,
        "error": record.error,
        "errors": errors,
        "reason": record.reason,
        "changes": changes if confirmed else [],
        "intended": [] if confirmed else changes,
        "confirmed_operations": [o["operation"] for o in ops if o["phase"] == "done"],
        "summary": _change_summary(record, confirmed),
        "jobs": step_jobs,
        "operations": ops,
        "outputs": record.outputs,
        # the engine's own time in the step (not the adapter's, not waiting), and the requests it sent
        "overhead_ms": None if record.overhead_ms is None else round(record.overhead_ms, 3),
        "cpu_ms": None if record.cpu_ms is None else round(record.cpu_ms, 3),
        "calls": dict(record.calls) if record.calls else None,
        "approval": {"approved_by": approval["approved_by"], "comment": approval["comment"],
                     "at": iso(approval["at"])} if approval is not None else None,
        "compensation": compensation,
        "transitions": history,
    }


# The legs of a failover and of the way back, told apart by what the step changed.
LEG_KINDS = ("asr.failover", "asr.commit", "asr.apply_recovery_point", "asr.reprotect")


def _leg_of(step: dict) -> str:
    fields = {(c["field"], c["after"]) for c in step["changes"]}
    if ("active_location", "Primary") in fields:
        return "failback"
    if ("active_location", "Recovery") in fields:
        return "failover to Azure"
    if any(f == "test_failover" for f, _ in fields):
        return "test failover"
    if step["kind"] == "asr.commit":
        return "commit"
    if step["kind"] == "asr.reprotect":
        return "reprotect"
    if step["kind"] == "asr.apply_recovery_point":
        return "change of recovery point"
    return step["kind"]


def _legs(steps: list[dict]) -> list[dict]:
    """Each ASR leg of the run (failover, commit, failback, reprotect...) that changed something, with its
    time: what a round trip's report shows."""
    return [{"step": s["id"], "leg": _leg_of(s), "start_s": s["start_s"], "duration_s": s["duration_s"],
             "vms": len((s["outputs"] or {}).get("items") or [])}
            for s in steps if s["kind"] in LEG_KINDS and s["outcome"] == "succeeded"]


def _recovery_points(steps: list[dict]) -> list[dict]:
    """The recovery point each VM was failed over (or moved) to, and the data-loss window it meant."""
    return [{"step": s["id"], "vm": vm, "time": point.get("time"), "type": point.get("type"),
             "data_loss_s": point.get("data_loss_seconds")}
            for s in steps for vm, point in sorted(((s["outputs"] or {}).get("recovery_points") or {}).items())]


def _cleanup(result: RunResult, steps: list[dict], kind: str, since, transitions) -> dict:
    """What compensation undid, what it could not, and (drills) changes no compensation covered."""
    undone, left = [], []
    for step in steps:
        compensation = step["compensation"]
        if compensation is None:
            continue
        entry = {"step": step["id"], "kind": step["kind"], "detail": compensation["detail"],
                 "at": compensation["at"], "at_s": compensation["at_s"]}
        (undone if compensation["undone"] else left).append(entry)
    if kind == "drill":
        # A drill undoes everything: a change still standing with no compensation recorded is left behind.
        for record, step in zip(result.steps, steps, strict=True):
            if step["compensation"] is None and record.changes and step["status"] in ("succeeded", "failed"):
                left.append({"step": step["id"], "kind": step["kind"], "at": None, "at_s": None,
                             "detail": f"{step['summary']}: no compensation was recorded"})
    undone.sort(key=lambda e: (e["at_s"] is None, e["at_s"] or 0.0))  # in the order it was done
    performed = bool(undone or left)
    window = None
    if undone or any(e["at_s"] is not None for e in left):
        step_ends = [s["end_s"] for s in steps if s["end_s"] is not None]
        times = [e["at_s"] for e in undone + left if e["at_s"] is not None]
        begin = max(step_ends) if step_ends else min(times)
        window = {"start_s": round(min(begin, min(times)), 3), "end_s": round(max(times), 3)}
    if kind == "drill":
        what = "drill cleanup"
    elif performed:
        what = "rollback"
    else:
        what = None
    return {
        "kind": what,
        "performed": performed,
        "complete": not left,
        "undone": undone,
        "left_behind": left,
        "window": window,
    }


def _rto(result: RunResult, options: dict, scale: float) -> dict | None:
    """The recovery-time table, measured from the journal's timestamps (the clock of every other time in
    the report); the target is the one the run recorded."""
    target = (result.rto or {}).get("target_s", options.get("rto_s"))
    measured = measure(result, float(target) if target is not None else None, scale)
    if measured.recovered_s is None and target is None and not measured.unverified:
        return None
    times = measured.to_json()
    source = "measured from the journal"

    def row(milestone: str, key: str, what: str) -> dict:
        seconds = times.get(key)
        within = None if seconds is None or target is None else seconds <= target
        return {"milestone": milestone, "key": key, "seconds": seconds, "what": what, "within_target": within}

    return {
        "source": source,
        "target_s": target,
        "recovered_s": times.get("recovered_s"),
        "met": times.get("met"),
        "rows": [
            row("failed over", "failed_over_s", "the last VM failed over"),
            row("network ready", "network_ready_s", "the last network or DNS step done"),
            row("verified", "verified_s", "the last probe passed"),
            row("recovered", "recovered_s", "the run's recovery time"),
        ],
        "items": times.get("items") or [],
        "unverified": times.get("unverified") or [],
    }


__all__ = ["collect", "UnknownRun", "REPORT_VERSION"]
