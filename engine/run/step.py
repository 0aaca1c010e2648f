"""One step of a run, executed: each attempt resolves the step's arguments, asks its kind to plan (read +
decide) and, unless nothing needs doing, to apply (act + wait + verify); the outcome, the time the engine
itself spent and the calls it made go into the step's record."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from adapters.shared.errors import AdapterError, TransientError
from adapters.shared.secret import redact
from engine import kinds
from engine.kinds.base import Decision, VerificationFailed
from engine.model import expressions
from engine.model.runbook import Step
from engine.run.calls import step_adapter
from engine.run.context import Cancelled, PauseRequested, StepContext, StepTimeout
from engine.run.journal import JournalError
from engine.run.records import StepRecord
from engine.run.retry import retried_step
from engine.run.status import STEP_DONE, StepStatus

if TYPE_CHECKING:
    from engine.run.runner import Runner

# The log event a step ends with, by its status (any other: step.finished).
STEP_EVENTS = {StepStatus.FAILED: "step.failed", StepStatus.PENDING: "step.interrupted", StepStatus.PAUSED: "step.paused"}


class ArgumentsInvalid(Exception):
    pass


def context(runner: Runner, step: Step, record: StepRecord, log) -> StepContext:
    """What the step kind sees: the adapter under the step's policies, its deadline, the run's jobs."""
    runbook = runner.runbook
    timeout = runbook.timeout_of(step)
    ctx = StepContext(
        adapter=runner.adapter, target=runbook.target, step_id=step.id, log=log,
        deadline=runner.adapter.clock.monotonic() + timeout, timeout=timeout,
        job_poll_interval=runner.job_poll_interval, cancel=runner.cancel,
        on_job_started=lambda handle: runner.job_started(record, handle), on_waiting=runner.step_waiting,
        jobs=runner.jobs, items=runner.items, first_started_at=record.started_at, cpu_clock=runner.cpu_clock,
        approval=lambda: runner.approvals(step.id) or ({"approved_by": "simulation"} if runner.auto_approve else None),
    )

    def retrying_call(operation: str, state) -> None:
        error = state.outcome.exception()
        with runner.lock:
            record.retries += 1
        ctx.log.warning("call.retrying", operation=operation, attempt=state.attempt_number,
                        error=redact(str(error)), code=getattr(error, "code", ""),
                        status=getattr(error, "status", None), retry_after=getattr(error, "retry_after", None),
                        wait_s=round(state.next_action.sleep, 3))

    journaled = runner.observer.observes("operation")

    def record_write(operation: str, phase: str, detail: str | None) -> None:
        if phase == "intent" and ctx.cancel.is_set():  # a run being stopped sends no new change
            raise Cancelled("the run is stopping: no new change is sent")
        if journaled:
            runner.observer.operation(runner.result, record, operation, phase, detail)

    ctx.adapter = step_adapter(runner.adapter, runbook.retry_of(step), sleep=ctx.sleep, on_retry=retrying_call,
                               record_write=record_write, limiter=runner.limiter, cpu_clock=runner.cpu_clock)
    return ctx


def arguments(runner: Runner, step: Step, kind) -> Any:
    """The step's arguments, resolved against the parameters and earlier steps' outputs, validated."""
    if not step.references and step.id in runner.loaded.arguments:
        return runner.loaded.arguments[step.id]  # validated when the runbook was loaded
    try:
        values = expressions.resolve(step.with_, runner.params, runner.outputs) if step.references else step.with_
        return kind.Args.model_validate(values)
    except expressions.Unresolved as exc:
        raise ArgumentsInvalid(f"{step.uses}: {exc}") from None
    except ValidationError as exc:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'with'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ArgumentsInvalid(f"{step.uses}: arguments are not valid once resolved: {details}") from None


def merged_undo(earlier: dict, now: dict) -> dict:
    """How to undo a step that acted again after a partial attempt (a retry, or a resume after a crash):
    what the earlier attempt recorded still holds (the state before it is the state to go back to; a
    later plan sees our own change as "previous"), and lists (the items acted on) are joined, so that a
    VM failed over by the first attempt is cleaned up too."""
    if not earlier or not now:
        return now or earlier
    merged = dict(now)
    for key, value in earlier.items():
        later = now.get(key)
        if isinstance(value, list) and isinstance(later, list):
            merged[key] = value + [v for v in later if v not in value]
        elif isinstance(value, dict) and isinstance(later, dict):
            merged[key] = {**later, **value}
        else:
            merged[key] = value
    return merged


def execute(runner: Runner, step: Step) -> None:
    """Run ``step`` to its end (succeeded, unchanged, failed, paused, or pending when interrupted) and
    record it; the step's own thread is the only one that changes its record. A journal that stops
    accepting writes stops the whole run before its next change."""
    try:
        _execute(runner, step)
    except JournalError as error:
        runner.journal_failed(error)


def _execute(runner: Runner, step: Step) -> None:
    record = runner.result.step(step.id)
    kind = kinds.get(step.uses)
    clock = runner.adapter.clock
    log = runner.log.bind(step=step.id, uses=step.uses)
    started, wall_started, cpu_started = clock.monotonic(), time.monotonic(), runner.cpu_clock()
    policy = runner.runbook.retry_of(step)
    ctx = context(runner, step, record, log)
    with runner.lock:
        was_paused = record.status == StepStatus.PAUSED
        record.move(StepStatus.RUNNING)
        record.started_at = record.started_at if was_paused else clock.wall()
        record.error = None
    runner.observer.step_changed(runner.result, record)
    log.info("step.started")
    # A step that began acting in an earlier session of this run (then crashed or was interrupted) keeps
    # that record: if its change has since taken effect, it succeeded, it was not "unchanged".
    acted: Decision | None = Decision(record.action, record.changes) if record.action not in (None, "none") else None

    def before_sleep(state) -> None:
        error = state.outcome.exception()
        log.warning("step.replanning", attempt=state.attempt_number, error=redact(str(error)),
                    code=getattr(error, "code", ""), wait_s=round(state.next_action.sleep, 3),
                    why="the outcome of a change is not known: read the state again before acting")

    def attempt() -> dict[str, Any]:
        nonlocal acted
        record.attempts += 1
        ctx.log = log.bind(attempt=record.attempts)
        args = arguments(runner, step, kind)
        if runner.inspector is not None and record.attempts == 1:
            runner.inspector.before_step(step, kind, args, runner.adapter)
        decision = kind.plan(ctx, args)
        if decision.unchanged:
            return decision.outputs
        acted = decision
        if ctx.log.is_enabled_for(logging.INFO):  # a hundred changes are not turned to JSON for nothing
            ctx.log.info("step.changing", action=decision.action, changes=[c.to_json() for c in decision.changes])
        with runner.lock:
            record.action, record.changes = decision.action, decision.changes
            record.undo = merged_undo(record.undo, decision.undo)
        runner.observer.step_changed(runner.result, record)  # journaled before the change is sent
        return kind.apply(ctx, args, decision)

    status, error, pause_reason, outputs = StepStatus.FAILED, None, None, {}
    try:
        outputs = retried_step(policy, attempt, sleep=ctx.sleep, before_sleep=before_sleep)
        status = StepStatus.UNCHANGED if acted is None and kind.mutates else StepStatus.SUCCEEDED
    except PauseRequested as exc:
        status, pause_reason = StepStatus.PAUSED, str(exc).replace("{run_id}", runner.result.run_id)
    except Cancelled:
        status, error = StepStatus.PENDING, "interrupted before it finished; resume the run to complete it"
    except StepTimeout as exc:
        error = f"timed out after {runner.runbook.timeout_of(step):.0f}s: {exc}"
    except TransientError as exc:
        error = f"gave up after {policy.attempts} tries: {exc}" + (f". Next: {exc.hint}" if exc.hint else "")
    except (AdapterError, VerificationFailed, ArgumentsInvalid) as exc:
        hint = getattr(exc, "hint", "")  # what to do about it (sign in, the role to assign)
        error = str(exc) + (f". Next: {hint}" if hint else "")
    tally = ctx.adapter.tally
    ctx.close()
    overhead = time.monotonic() - wall_started - tally.seconds - ctx.waited_s
    cpu = runner.cpu_clock() - cpu_started - tally.cpu_seconds - ctx.waited_cpu_s
    with runner.lock:
        record.overhead_ms = round(max(overhead, 0.0) * 1000, 3)
        record.cpu_ms = round(max(cpu, 0.0) * 1000, 3) if runner.measures_cpu else None
        record.calls = dict(tally.calls)
        record.finished_at = clock.wall()
        record.duration_s = clock.monotonic() - started
        record.action, record.changes = (acted.action, acted.changes) if acted is not None else ("none", [])
        record.error = redact(error) if error else None
        if pause_reason:
            record.reason = pause_reason
        if status in STEP_DONE:
            record.outputs = outputs
            runner.outputs[step.id] = outputs
        record.move(status)
    runner.observer.step_changed(runner.result, record)
    (log.error if status == StepStatus.FAILED else log.info)(
        STEP_EVENTS.get(status, "step.finished"), status=str(status), attempts=record.attempts, error=record.error,
        duration_s=round(record.duration_s, 3))
