"""Run a runbook: its steps as a DAG, each as soon as its needs are done, a bounded number at once.

Each step is attempted through the one retry layer (``engine.run.retry``): an attempt resolves the
step's arguments, asks its kind to plan (read + decide) and, unless nothing needs doing, to apply
(act + wait + verify). Failure handling follows ``on_failure``: ``abort`` starts no further step,
``continue`` lets independent steps go on; dependents of a failed step are skipped either way.
"""

from __future__ import annotations

import heapq
import logging
import secrets
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from graphlib import TopologicalSorter
from typing import Any, Protocol

from pydantic import ValidationError

from adapters.ports import Adapter, JobHandle
from adapters.shared.errors import AdapterError, TransientError
from adapters.shared.secret import redact
from engine import kinds
from engine.kinds.base import Change, Decision, NotUndoable, VerificationFailed
from engine.model import expressions
from engine.model.loader import LoadedRunbook
from engine.model.params import public_values
from engine.model.runbook import Condition, Step
from engine.run.context import Cancelled, PauseRequested, StepContext, StepTimeout
from engine.run.logs import get_logger
from engine.run.pacing import ItemReader, JobTracker, RateLimiter
from engine.run.retry import RetryingAdapter, RetryingPort, retried_step
from engine.run.status import STEP_DONE, RunStatus, StepStatus, check_run, check_step

# The log event a step ends with, by its status (any other: step.finished).
STEP_EVENTS = {StepStatus.FAILED: "step.failed", StepStatus.PENDING: "step.interrupted", StepStatus.PAUSED: "step.paused"}


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")


def new_run_id() -> str:
    return datetime.now(UTC).strftime("r%Y%m%d-%H%M%S-") + secrets.token_hex(3)


class InlineExecutor:
    """An executor that runs each task at once in the calling thread."""

    def submit(self, fn, *args) -> Finished:
        try:
            return Finished(fn(*args))
        except BaseException as exc:  # surfaced by result(), as a pool's future would
            return Finished(error=exc)

    def __enter__(self) -> InlineExecutor:
        return self

    def __exit__(self, *exc) -> None:
        return None


class Finished:
    """What ``InlineExecutor`` hands back: a task already done, read as a ``Future`` is (without the
    future's lock and condition, made for thousands of steps that nothing waits on)."""

    __slots__ = ("_value", "_error")

    def __init__(self, value=None, error: BaseException | None = None):
        self._value, self._error = value, error

    def done(self) -> bool:
        return True

    def result(self):
        if self._error is not None:
            raise self._error
        return self._value


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

    def step(self, step_id: str) -> StepRecord:
        index = self.__dict__.get("_index")
        if index is None or len(index) != len(self.steps):
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
        }


class Observer(Protocol):
    """What watches a run: the journal, the live view. Each method is optional. A running step's
    changes are reported by its own thread, which is the only one that changes its record, after the
    run's lock is released: the record is a consistent snapshot, and a step writing its journal row
    does not hold up the others."""

    def run_changed(self, result: RunResult) -> None: ...

    def step_changed(self, result: RunResult, record: StepRecord) -> None: ...

    def job_started(self, result: RunResult, record: StepRecord, handle: JobHandle) -> None: ...

    def operation(self, result: RunResult, record: StepRecord, operation: str, phase: str,
                  detail: str | None) -> None: ...


class Observers:
    """Several observers as one; the journal goes first, so a record is on disk before it is shown."""

    def __init__(self, *observers):
        self.observers = [o for o in observers if o is not None]
        # Each method's implementations, looked up once: a step reports to them several times.
        self._methods = {name: [method for o in self.observers if (method := getattr(o, name, None)) is not None]
                         for name in ("run_changed", "step_changed", "job_started", "operation")}

    def observes(self, name: str) -> bool:
        return bool(self._methods[name])

    def _tell(self, name: str, args: tuple) -> None:
        for method in self._methods[name]:
            method(*args)

    def run_changed(self, *args) -> None:
        self._tell("run_changed", args)

    def step_changed(self, *args) -> None:
        self._tell("step_changed", args)

    def job_started(self, *args) -> None:
        self._tell("job_started", args)

    def operation(self, *args) -> None:
        self._tell("operation", args)


def priorities(runbook, expected: dict[str, float]) -> dict[str, tuple]:
    """Which ready step gets the next free slot. First the one with the longest wait still ahead of
    it: its own expected duration plus the longest chain of its dependents', each step as long as it
    took when it last ran (``expected``: a drill, a rehearsal, an earlier failover). The recovery plan
    whose failover took longest then gets its target IPs first, and its failover starts while the
    others' IPs are still being set. Then the step furthest along its chain of needs (a failover whose
    target IPs are set goes before other plans' IPs), then the runbook's order. Without history, only
    the last two count."""
    order = runbook.order
    depth: dict[str, int] = {}
    for step_id in order:
        depth[step_id] = 1 + max((depth[n] for n in runbook.step(step_id).needs), default=-1)
    dependents: dict[str, list[str]] = {s.id: [] for s in runbook.steps}
    for step in runbook.steps:
        for need in step.needs:
            dependents[need].append(step.id)
    ahead: dict[str, float] = {}
    for step_id in reversed(order):
        ahead[step_id] = expected.get(step_id, 0.0) + max((ahead[d] for d in dependents[step_id]), default=0.0)
    return {s.id: (-ahead[s.id], -depth[s.id], i) for i, s in enumerate(runbook.steps)}


class Runner:
    def __init__(
        self,
        loaded: LoadedRunbook,
        params: dict[str, Any],
        adapter: Adapter,
        *,
        run_id: str | None = None,
        dry_run: bool = False,
        concurrency: int | None = None,
        observer: Observer | None = None,
        job_poll_interval: float = 15.0,
        inspector=None,
        prior: RunResult | None = None,
        approvals=None,
        auto_approve: bool = False,
        drill: bool = False,
        expected: dict[str, float] | None = None,
    ):
        self.loaded = loaded
        self.runbook = loaded.runbook
        self.params = params
        self.adapter = adapter
        self.concurrency = concurrency or self.runbook.defaults.concurrency
        self.observer = observer if isinstance(observer, Observers) else Observers(observer)
        self.job_poll_interval = job_poll_interval
        self.inspector = inspector  # plan/validate: looks at the estate before each step
        self.cancel = threading.Event()
        self.outputs: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()
        self.approvals = approvals or (lambda step_id: None)  # step id -> who approved it, or None
        self.auto_approve = auto_approve  # simulations: a person would approve; go on
        self.drill = drill  # whatever happens, undo every change at the end
        self.result = prior or RunResult(
            run_id=run_id or new_run_id(), runbook=self.runbook.name, adapter=adapter.name, dry_run=dry_run,
            parameters=public_values(params), steps=[StepRecord(s.id, s.uses) for s in self.runbook.steps],
        )
        self.resumed = prior is not None
        self.log = get_logger(run_id=self.result.run_id, runbook=self.runbook.name, dry_run=dry_run)
        # Each step's place in the order ready steps start in (see priorities), as a plain number: the
        # queue of ready steps holds thousands at the start of a large runbook.
        priority = priorities(self.runbook, expected or {})
        self._by_rank = sorted(priority, key=priority.__getitem__)
        self._rank = {step_id: rank for rank, step_id in enumerate(self._by_rank)}
        self._waiting = 0  # running steps now waiting on ASR jobs
        self._wakeup: Future = Future()  # set when a step starts waiting, so the scheduler fills its slot
        self._woken = False  # whether it is set (read without the future's lock)
        self._skipped_by_condition: set[str] = set()
        # A simulation one step at a time (plan, validate) runs in the calling thread: no hand-offs.
        self._inline = dry_run and self.concurrency == 1
        limits = getattr(adapter, "rate_limits", None)
        self.limiter = RateLimiter(*limits, adapter.clock) if limits else None
        self.jobs = JobTracker(RetryingPort(adapter.replication, self.runbook.defaults.retry, sleep=adapter.clock.sleep,
                                            on_retry=lambda name, state: None, limiter=self.limiter),
                               adapter.clock, job_poll_interval, self.log,
                               inline=self._inline)
        self.items = ItemReader(inline=self._inline)
        if prior is not None:
            self._adopt(prior)

    def _adopt(self, prior: RunResult) -> None:
        """Resume: keep what finished (and its outputs); everything else is considered again."""
        for record in prior.steps:
            if record.status in STEP_DONE:
                self.outputs[record.id] = record.outputs
            elif record.status == StepStatus.SKIPPED:
                if (record.reason or "").startswith("skipped: its `when`"):
                    self._skipped_by_condition.add(record.id)
                else:
                    record.move(StepStatus.PENDING)
                    record.reason = None

    # --- the schedule ---------------------------------------------------------------------------

    def run(self) -> RunResult:
        clock = self.adapter.clock
        result = self.result
        self._move_run(RunStatus.RUNNING)
        started = clock.monotonic()
        if not self.resumed:
            result.started_at = clock.wall()
        result.finished_at = None
        self.log.info("run.resumed" if self.resumed else "run.started", adapter=self.adapter.name,
                      steps=len(self.runbook.steps), concurrency=self.concurrency, parameters=result.parameters)
        sorter = TopologicalSorter({s.id: set(s.needs) for s in self.runbook.steps})
        sorter.prepare()
        aborting = False
        interrupted = False
        running: dict[Future, str] = {}
        # A step waiting on ASR jobs does not hold one of the `concurrency` slots (fifty recovery plans
        # failing over at once are fifty waits, not fifty calls); it still needs a thread.
        waiters = sum(1 for s in self.runbook.steps if kinds.get(s.uses).waits_for_jobs)
        with InlineExecutor() if self._inline else ThreadPoolExecutor(max_workers=self.concurrency + waiters,
                                                                thread_name_prefix="step") as pool:
            try:
                queue: list[int] = []  # ready to start, waiting for a free slot (a heap of ranks)
                while sorter.is_active() or queue:
                    for ready in sorter.get_ready():
                        heapq.heappush(queue, self._rank[ready])
                    while queue and len(running) - self._waiting < self.concurrency:
                        step_id = self._by_rank[heapq.heappop(queue)]
                        step = self.runbook.step(step_id)
                        record = result.step(step_id)
                        if record.status in STEP_DONE or step_id in self._skipped_by_condition \
                                and record.status == StepStatus.SKIPPED:
                            sorter.done(step_id)  # finished in an earlier session of this run
                        elif reason := self._reason_to_skip(step, aborting or interrupted):
                            self._skip(step, reason)
                            sorter.done(step_id)
                        else:
                            running[pool.submit(self._execute, step)] = step_id
                    if not running:
                        newly_ready = sorter.get_ready()
                        if not newly_ready:
                            break  # only paused steps (and what needs them) are left
                        for ready in newly_ready:
                            heapq.heappush(queue, self._rank[ready])
                        continue
                    finished = {f for f in running if f.done()} or \
                        wait([*running, self._wakeup], return_when=FIRST_COMPLETED)[0]
                    if self._woken:  # a step began waiting on jobs: its slot is free
                        with self._lock:
                            self._wakeup, self._woken = Future(), False
                    for future in finished:
                        if future not in running:
                            continue
                        step_id = running.pop(future)
                        future.result()  # _execute records its own failures; this surfaces engine bugs
                        record = result.step(step_id)
                        if record.status == StepStatus.PAUSED:
                            continue  # its dependents wait; the run pauses when nothing else can go on
                        sorter.done(step_id)
                        if record.status == StepStatus.FAILED and \
                                self.runbook.on_failure_of(self.runbook.step(step_id)) != "continue":
                            if not aborting:
                                self.log.warning("run.aborting", failed_step=step_id)
                            aborting = True
            except KeyboardInterrupt:
                interrupted = True
                self.cancel.set()
                self.log.warning("run.interrupting", running=sorted(running.values()))
                wait(list(running))
                for future in running:
                    future.result()
        statuses = {s.status for s in result.steps}
        if StepStatus.FAILED in statuses:
            final = RunStatus.FAILED
        elif interrupted:
            final = RunStatus.INTERRUPTED
        elif StepStatus.PAUSED in statuses:
            final = RunStatus.PAUSED
        elif StepStatus.PENDING in statuses:
            final = RunStatus.INTERRUPTED
        else:
            final = RunStatus.SUCCEEDED
        rollback = not interrupted and any(s.status == StepStatus.FAILED and self.runbook.on_failure_of(
            self.runbook.step(s.id)) == "rollback" for s in result.steps)
        if self.drill or rollback:
            complete = self._roll_back()
            if rollback:
                final = RunStatus.FAILED
            elif self.drill:  # a drill ends when it has cleaned up: passed, or failed saying why
                final = self._drill_verdict(final, complete)
        self.jobs.stop()
        result.finished_at = clock.wall()
        result.duration_s = (result.duration_s or 0.0) + clock.monotonic() - started
        self._move_run(final)
        self.log.info("run.finished", status=str(final), duration_s=round(result.duration_s, 3))
        return result

    def _drill_verdict(self, status: RunStatus, cleaned_up: bool) -> RunStatus:
        from engine.run.rto import measure

        times = measure(self.result, self.runbook.rto, self.adapter.clock.scale)
        self.result.rto = times.to_json()
        reasons = []
        if status != RunStatus.SUCCEEDED:
            failed = [s.id for s in self.result.steps if s.status == StepStatus.FAILED]
            reasons.append(f"steps failed: {', '.join(failed)}" if failed else f"the drill was {status}")
        if times.met is False:
            reasons.append(f"recovery took {times.recovered_s:.0f}s, over the {times.target_s:.0f}s target")
        if not cleaned_up:
            left = [s.id for s in self.result.steps if (s.reason or "").startswith("not undone")]
            reasons.append(f"cleanup incomplete: {', '.join(left)} left changes behind (see rollback)")
        self.result.verdict = "passed" if not reasons else "failed: " + "; ".join(reasons)
        return RunStatus.SUCCEEDED if not reasons else RunStatus.FAILED

    def _roll_back(self) -> bool:
        """Compensate what the run changed, newest change first; say what was and was not undone.
        Returns whether everything was undone. Runs even after an interrupt (a drill always cleans up),
        with its own cancellation, so waiting for a job to finish before cleaning it up still works."""
        changed = [r for r in self.result.steps if r.undo and r.status in
                   (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.PENDING)]
        changed.sort(key=lambda r: r.finished_at or float("inf"), reverse=True)
        (self.log.info if self.drill else self.log.warning)("run.rolling_back", steps=[r.id for r in changed])
        complete = True
        for record in changed:
            step = self.runbook.step(record.id)
            log = self.log.bind(step=step.id, uses=step.uses, compensating=True)
            ctx = self._context(step, record, log, self.runbook.retry_of(step))
            ctx.cancel = threading.Event()
            try:
                done = kinds.get(step.uses).compensate(ctx, record.undo)
            except NotUndoable as exc:
                outcome, detail = None, f"not undone: {exc}"
            except (AdapterError, StepTimeout, VerificationFailed) as exc:
                outcome, detail = None, f"not undone: compensation failed: {redact(str(exc))}"
            else:
                outcome, detail = StepStatus.COMPENSATED, f"undone: {done}"
            with self._lock:
                record.reason = detail
                if outcome is not None:
                    record.move(outcome)
                self.observer.step_changed(self.result, record)
            complete = complete and outcome is not None
            (log.info if outcome else log.error)("step.compensation", result=detail)
        return complete

    def _reason_to_skip(self, step: Step, stopping: bool) -> str | None:
        if stopping:
            return "not started: the run stopped after a failure or an interrupt"
        for need in step.needs:
            status = self.result.step(need).status
            if status not in STEP_DONE and need not in self._skipped_by_condition:
                return f"not started: {need} is {status}"
        if self._skipped_by_condition and step.references:
            used = {r.step for r in step.references if r.kind == "output"}
            if skipped := sorted(used & self._skipped_by_condition):
                return f"skipped: uses outputs of {', '.join(skipped)}, which did not run"
        if step.when is not None and not self._condition_holds(step.when):
            self._skipped_by_condition.add(step.id)
            return "skipped: its `when` condition does not hold"
        return None

    def _condition_holds(self, when: Condition | str) -> bool:
        if isinstance(when, str):
            return bool(expressions.resolve(when, self.params, {}))
        return when.holds(self.params.get(when.param))

    def _skip(self, step: Step, reason: str) -> None:
        with self._lock:
            record = self.result.step(step.id)
            record.move(StepStatus.SKIPPED)
            record.reason = reason
            self.log.info("step.skipped", step=step.id, reason=reason)
            self.observer.step_changed(self.result, record)

    def _move_run(self, status: RunStatus) -> None:
        with self._lock:
            self.result.status = check_run(self.result.status, status)
            self.observer.run_changed(self.result)

    # --- one step -------------------------------------------------------------------------------

    def _step_waiting(self, waiting: bool) -> None:
        with self._lock:
            self._waiting += 1 if waiting else -1
            if waiting and not self._woken:
                self._wakeup.set_result(None)
                self._woken = True

    def _context(self, step: Step, record: StepRecord, log, policy) -> StepContext:
        """What the step kind sees: the adapter under the step's retry policy, its deadline, its journal."""
        timeout = self.runbook.timeout_of(step)
        ctx = StepContext(
            adapter=self.adapter, target=self.runbook.target, step_id=step.id, log=log,
            deadline=self.adapter.clock.monotonic() + timeout,
            timeout=timeout, job_poll_interval=self.job_poll_interval,
            cancel=self.cancel, on_job_started=lambda handle: self._job_started(record, handle),
            on_waiting=self._step_waiting,
        )

        def retrying_call(operation: str, state) -> None:
            error = state.outcome.exception()
            with self._lock:
                record.retries += 1
            ctx.log.warning("call.retrying", operation=operation, attempt=state.attempt_number,
                            error=redact(str(error)), code=getattr(error, "code", ""),
                            status=getattr(error, "status", None), retry_after=getattr(error, "retry_after", None),
                            wait_s=round(state.next_action.sleep, 3))

        def journal_write(operation: str, phase: str, detail: str | None) -> None:
            self.observer.operation(self.result, record, operation, phase, detail)

        ctx.adapter = RetryingAdapter(self.adapter, policy, sleep=ctx.sleep, on_retry=retrying_call,
                                      on_write=journal_write if self.observer.observes("operation") else None,
                                      limiter=self.limiter)
        ctx.jobs = self.jobs
        ctx.items = self.items
        ctx.approval = lambda: self.approvals(step.id) or ({"approved_by": "simulation"} if self.auto_approve else None)
        ctx.first_started_at = record.started_at
        return ctx

    def _execute(self, step: Step) -> None:
        record = self.result.step(step.id)
        kind = kinds.get(step.uses)
        clock = self.adapter.clock
        log = self.log.bind(step=step.id, uses=step.uses)
        started = clock.monotonic()
        wall_started = time.monotonic()
        cpu_started = time.thread_time()
        policy = self.runbook.retry_of(step)
        ctx = self._context(step, record, log, policy)
        with self._lock:
            was_paused = record.status == StepStatus.PAUSED
            record.move(StepStatus.RUNNING)
            record.started_at = record.started_at if was_paused else clock.wall()
            record.error = None
        self.observer.step_changed(self.result, record)
        log.info("step.started")
        # A step that began acting in an earlier session of this run (then crashed or was interrupted)
        # keeps that record: if its change has since taken effect, it succeeded, it was not "unchanged".
        acted: Decision | None = Decision(record.action, record.changes) if record.action not in (None, "none") \
            else None

        def before_sleep(state) -> None:
            error = state.outcome.exception()
            log.warning("step.replanning", attempt=state.attempt_number, error=redact(str(error)),
                        code=getattr(error, "code", ""), wait_s=round(state.next_action.sleep, 3),
                        why="the outcome of a change is not known: read the state again before acting")

        def attempt() -> dict[str, Any]:
            nonlocal acted
            record.attempts += 1
            ctx.log = log.bind(attempt=record.attempts)
            args = self._arguments(step, kind)
            if self.inspector is not None and record.attempts == 1:
                self.inspector.before_step(step, args, self.adapter)
            decision = kind.plan(ctx, args)
            if decision.unchanged:
                return decision.outputs
            acted = decision
            if ctx.log.is_enabled_for(logging.INFO):  # a hundred changes are not turned to JSON for nothing
                ctx.log.info("step.changing", action=decision.action, changes=[c.to_json() for c in decision.changes])
            with self._lock:
                record.action, record.changes = decision.action, decision.changes
                record.undo = decision.undo
            self.observer.step_changed(self.result, record)  # journaled before the change is sent
            return kind.apply(ctx, args, decision)

        status, error, pause_reason = StepStatus.FAILED, None, None
        try:
            outputs = retried_step(policy, attempt, sleep=ctx.sleep, before_sleep=before_sleep)
            status = StepStatus.UNCHANGED if acted is None and kind.mutates else StepStatus.SUCCEEDED
        except PauseRequested as exc:
            status, pause_reason = StepStatus.PAUSED, str(exc).replace("{run_id}", self.result.run_id)
        except Cancelled:
            status = StepStatus.PENDING
            error = "interrupted before it finished; resume the run to complete it"
        except StepTimeout as exc:
            error = f"timed out after {self.runbook.timeout_of(step):.0f}s: {exc}"
        except TransientError as exc:
            error = f"gave up after {policy.attempts} tries: {exc}"
        except (AdapterError, VerificationFailed, ArgumentsInvalid) as exc:
            error = str(exc)
        wall = time.monotonic() - wall_started
        overhead = wall - ctx.adapter.call_s - ctx.waited_s
        cpu = time.thread_time() - cpu_started - ctx.adapter.call_cpu_s - ctx.waited_cpu_s
        calls = ctx.adapter.calls
        ctx.close()
        with self._lock:
            record.overhead_ms = round(max(overhead, 0.0) * 1000, 3)
            record.cpu_ms = round(max(cpu, 0.0) * 1000, 3)
            record.calls = calls
            record.finished_at = clock.wall()
            record.duration_s = clock.monotonic() - started
            if acted is not None:
                record.action, record.changes = acted.action, acted.changes
            else:
                record.action = "none"
            record.error = redact(error) if error else None
            if pause_reason:
                record.reason = pause_reason
            if status in STEP_DONE:
                record.outputs = outputs
                self.outputs[step.id] = outputs
            record.move(status)
        self.observer.step_changed(self.result, record)
        event = STEP_EVENTS.get(status, "step.finished")
        (log.error if status == StepStatus.FAILED else log.info)(
            event, status=str(status), attempts=record.attempts, error=record.error,
            duration_s=round(record.duration_s, 3),
        )

    def _arguments(self, step: Step, kind):
        if not step.references and step.id in self.loaded.arguments:
            return self.loaded.arguments[step.id]  # validated when the runbook was loaded
        try:
            values = expressions.resolve(step.with_, self.params, self.outputs) if step.references else step.with_
            return kind.Args.model_validate(values)
        except expressions.Unresolved as exc:
            raise ArgumentsInvalid(f"{step.uses}: {exc}") from None
        except ValidationError as exc:
            details = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'with'}: {e['msg'].removeprefix('Value error, ')}"
                for e in exc.errors()
            )
            raise ArgumentsInvalid(f"{step.uses}: arguments are not valid once resolved: {details}") from None

    def _job_started(self, record: StepRecord, handle: JobHandle) -> None:
        with self._lock:
            record.jobs.append(handle.job_id)
        self.observer.job_started(self.result, record, handle)


class ArgumentsInvalid(Exception):
    pass
