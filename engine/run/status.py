"""Run and step statuses, and the only transitions allowed between them."""

from __future__ import annotations

from enum import StrEnum


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    SKIPPED = "skipped"
    PAUSED = "paused"
    COMPENSATED = "compensated"


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PAUSED = "paused"
    INTERRUPTED = "interrupted"
    CLEANUP_FAILED = "cleanup-failed"  # a drill whose cleanup could not finish: something is left behind


S, R = StepStatus, RunStatus

STEP_TRANSITIONS: dict[StepStatus, frozenset[StepStatus]] = {
    S.PENDING: frozenset({S.RUNNING, S.SKIPPED, S.COMPENSATED}),  # COMPENSATED: interrupted mid-change
    # PENDING: interrupted; COMPENSATED: its process died mid-change and a drill's cleanup undid it
    S.RUNNING: frozenset({S.SUCCEEDED, S.UNCHANGED, S.FAILED, S.PAUSED, S.PENDING, S.COMPENSATED}),
    S.PAUSED: frozenset({S.RUNNING, S.SUCCEEDED, S.FAILED}),
    S.SUCCEEDED: frozenset({S.COMPENSATED}),
    S.FAILED: frozenset({S.COMPENSATED, S.RUNNING}),  # RUNNING: a resumed run tries it again
    S.UNCHANGED: frozenset(),
    S.SKIPPED: frozenset({S.PENDING}),  # a resumed run reconsiders steps skipped because the run stopped
    S.COMPENSATED: frozenset(),
}

RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    R.PENDING: frozenset({R.RUNNING, R.FAILED}),
    R.RUNNING: frozenset({R.SUCCEEDED, R.FAILED, R.PAUSED, R.INTERRUPTED, R.CLEANUP_FAILED}),
    R.PAUSED: frozenset({R.RUNNING, R.FAILED}),
    R.INTERRUPTED: frozenset({R.RUNNING, R.FAILED}),
    R.FAILED: frozenset({R.RUNNING}),  # resume retries the failed steps
    R.CLEANUP_FAILED: frozenset({R.RUNNING}),  # `failover cleanup` tries the cleanup again
    R.SUCCEEDED: frozenset(),
}

STEP_DONE = frozenset({S.SUCCEEDED, S.UNCHANGED})  # a dependent may start
STEP_FINAL = frozenset({S.SUCCEEDED, S.UNCHANGED, S.FAILED, S.SKIPPED, S.COMPENSATED})


class IllegalTransition(Exception):
    pass


def check_step(old: StepStatus, new: StepStatus) -> StepStatus:
    if new != old and new not in STEP_TRANSITIONS[old]:
        raise IllegalTransition(f"a step cannot go from {old} to {new}")
    return new


def check_run(old: RunStatus, new: RunStatus) -> RunStatus:
    if new != old and new not in RUN_TRANSITIONS[old]:
        raise IllegalTransition(f"a run cannot go from {old} to {new}")
    return new
