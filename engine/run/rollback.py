"""Undoing what a run changed (``on_failure: rollback``, and every drill at its end), and a drill's
verdict: recovered in time, and cleaned up."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from adapters.shared.errors import AdapterError
from adapters.shared.secret import redact
from engine import kinds
from engine.kinds.base import NotUndoable, VerificationFailed
from engine.run.context import StepTimeout
from engine.run.rto import measure
from engine.run.status import RunStatus, StepStatus
from engine.run.step import context

if TYPE_CHECKING:
    from engine.run.runner import Runner


def roll_back(runner: Runner) -> bool:
    """Compensate what the run changed, newest change first; say what was and was not undone. Returns
    whether everything was undone. Runs even after an interrupt (a drill always cleans up), with its own
    cancellation, so waiting for a job to finish before cleaning it up still works."""
    result = runner.result
    changed = [r for r in result.steps if r.undo and r.status in
               (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.PENDING, StepStatus.RUNNING)]
    changed.sort(key=lambda r: r.finished_at or float("inf"), reverse=True)
    (runner.log.info if runner.drill else runner.log.warning)("run.rolling_back", steps=[r.id for r in changed])
    complete = True
    for record in changed:
        step = runner.runbook.step(record.id)
        log = runner.log.bind(step=step.id, uses=step.uses, compensating=True)
        ctx = context(runner, step, record, log)
        ctx.cancel = threading.Event()
        runner.compensating = step.id
        try:
            done = kinds.get(step.uses).compensate(ctx, record.undo)
        except NotUndoable as exc:
            outcome, detail = None, f"not undone: {exc}"
        except (AdapterError, StepTimeout, VerificationFailed) as exc:
            outcome, detail = None, f"not undone: compensation failed: {redact(str(exc))}"
        else:
            outcome, detail = StepStatus.COMPENSATED, f"undone: {done}"
        finally:
            runner.compensating = None
            ctx.close()
        with runner.lock:
            record.reason = detail
            if outcome is not None:
                record.move(outcome)
        runner.observer.step_changed(result, record)
        complete = complete and outcome is not None
        (log.info if outcome else log.error)("step.compensation", result=detail)
    return complete


def drill_verdict(runner: Runner, status: RunStatus, cleaned_up: bool) -> RunStatus:
    """A drill passes when it ran, recovered within the runbook's ``rto`` and left nothing behind."""
    result = runner.result
    times = measure(result, runner.runbook.rto, runner.adapter.clock.scale)
    result.rto = times.to_json()
    reasons = []
    if status != RunStatus.SUCCEEDED:
        failed = [s.id for s in result.steps if s.status == StepStatus.FAILED]
        reasons.append(f"steps failed: {', '.join(failed)}" if failed else f"the drill was {status}")
    if times.unverified:
        reasons.append(f"recovery not verified: {', '.join(times.unverified)} did not pass")
    elif times.met is False:
        reasons.append(f"recovery took {times.recovered_s:.0f}s, over the {times.target_s:.0f}s target")
    if not cleaned_up:
        left = [s.id for s in result.steps if (s.reason or "").startswith("not undone")]
        reasons.append(f"cleanup incomplete: {', '.join(left)} left changes behind (see rollback)")
    result.verdict = "passed" if not reasons else "failed: " + "; ".join(reasons)
    return RunStatus.SUCCEEDED if not reasons else RunStatus.FAILED
