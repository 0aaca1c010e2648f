"""The record of a run and of each of its steps: what the runner keeps, the journal stores, the recovery
time is measured from and the reports show."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from engine.kinds.base import Change
from engine.run.status import RunStatus, StepStatus, check_step


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("r%Y%m%d-%H%M%S-") + secrets.token_hex(3)


@dataclass
class StepRecord:
    id: str
    uses: str
    status: StepStatus = StepStatus.PENDING
    attempts: int = 0  # read-decide-act cycles
    retries: int = 0  # adapter calls sent again after a transient error
    started_at: float | None = None
    finished_at: float | None = None
    duration_s: float | None = None  # simulated seconds
    error: str | None = None
    reason: str | None = None  # why it was skipped
    action: str | None = None
    changes: list[Change] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    jobs: list[str] = field(default_factory=list)
    undo: dict[str, Any] = field(default_factory=dict)  # how to compensate its change (on_failure: rollback)
    overhead_ms: float | None = None  # engine time in the step: not the adapter's, not waiting
    cpu_ms: float | None = None  # of which the step's thread computed (the rest queued for the interpreter)
    calls: dict[str, int] = field(default_factory=dict)  # adapter requests the step sent, by read/write

    def move(self, status: StepStatus) -> None:
        self.status = check_step(self.status, status)

    def to_json(self) -> dict:
        return {
            "id": self.id, "uses": self.uses, "status": str(self.status), "attempts": self.attempts,
            "retries": self.retries,
            "started_at": iso(self.started_at), "finished_at": iso(self.finished_at),
            "duration_s": None if self.duration_s is None else round(self.duration_s, 3),
            "error": self.error, "reason": self.reason, "action": self.action,
            "changes": [c.to_json() for c in self.changes], "outputs": self.outputs, "jobs": self.jobs,
            "overhead_ms": self.overhead_ms, "cpu_ms": self.cpu_ms, "calls": self.calls,
        }

    @property
    def rollback(self) -> dict | None:
        """What a rollback did with this step's change, if there was one."""
        reason = self.reason or ""
        if reason.startswith(("undone: ", "not undone: ")):
            return {"step": self.id, "undone": reason.startswith("undone: "), "detail": reason.split(": ", 1)[1]}
        return None


@dataclass
class RunResult:
    run_id: str
    runbook: str
    adapter: str
    dry_run: bool
    parameters: dict[str, Any]
    steps: list[StepRecord]
    status: RunStatus = RunStatus.PENDING
    started_at: float | None = None
    finished_at: float | None = None
    duration_s: float | None = None
    rto: dict | None = None  # drills: the measured recovery time against the runbook's target
    verdict: str | None = None  # drills: why it passed or failed
    kind: str = "run"  # run or drill
    phase: str | None = None  # drills: steps, cleanup (everything is being undone), done
    outcome: str | None = None  # drills: how the steps ended, before the cleanup
    stopped_by: str | None = None  # the signal that stopped it (SIGINT, SIGTERM), this session

    def step(self, step_id: str) -> StepRecord:
        index = self.__dict__.get("_index")
        if index is None or len(index) != len(self.steps):  # built once: thousands of steps are looked up
            index = self.__dict__["_index"] = {s.id: s for s in self.steps}
        return index[step_id]

    def to_json(self) -> dict:
        return {
            "run_id": self.run_id, "runbook": self.runbook, "status": str(self.status),
            "adapter": self.adapter, "dry_run": self.dry_run, "parameters": self.parameters,
            "started_at": iso(self.started_at), "finished_at": iso(self.finished_at),
            "duration_s": None if self.duration_s is None else round(self.duration_s, 3),
            "steps": [s.to_json() for s in self.steps],
            "rollback": [s.rollback for s in self.steps if s.rollback],
            **({"rto": self.rto, "verdict": self.verdict} if self.rto is not None else {}),
            **({"kind": "drill", "phase": self.phase, "cleanup": self.cleanup} if self.kind == "drill" else {}),
        }

    @property
    def left_behind(self) -> list[dict]:
        """What a cleanup could not undo, step by step."""
        return [r for s in self.steps if (r := s.rollback) and not r["undone"]]

    @property
    def cleanup(self) -> dict:
        left = self.left_behind
        return {"complete": self.phase == "done" and not left, "left_behind": left,
                "finish_with": f"failover cleanup {self.run_id}" if self.phase != "done" or left else None}
