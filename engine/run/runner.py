"""Run a runbook: its steps as a DAG, each as soon as its needs are done, a bounded number at once.

Each step runs in a thread of its own (``engine.run.step``). A step waiting on ASR jobs, or on a read
it shares with other steps, gives its slot back: fifty recovery plans failing over at once are fifty
waits, not fifty calls. Failure handling follows ``on_failure``: ``abort`` starts no further step,
``continue`` lets independent steps go on; dependents of a failed step are skipped either way;
``rollback`` (and every drill, at its end) undoes what the run changed (``engine.run.rollback``).
"""

from __future__ import annotations

import heapq
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from graphlib import TopologicalSorter
from typing import Any

from adapters.ports import Adapter, JobHandle
from engine import collector, kinds
from engine.model.loader import LoadedRunbook
from engine.model.params import public_values
from engine.model.runbook import Step
from engine.run import step as steps
from engine.run.calls import VIEWS, Pace, Retry, Send, chain
from engine.run.items import ItemReader
from engine.run.jobs import JobTracker
from engine.run.logs import get_logger
from engine.run.observers import Observer, Observers
from engine.run.order import priorities
from engine.run.pacing import RateLimiter
from engine.run.records import RunResult, StepRecord, new_run_id
from engine.run.rollback import drill_verdict, roll_back
from engine.run.status import STEP_DONE, RunStatus, StepStatus, check_run


def _no_cpu_clock() -> float:
    return 0.0


class RunNow:
    """An executor for a simulation that runs one step at a time (plan, validate): each step in the
    calling thread, at once. Handing thousands of steps to a thread and back cost a 5,000-VM plan most
    of its time (see docs/performance.md)."""

    def submit(self, fn, *args) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as error:  # surfaced by result(), as a pool's future would
            future.set_exception(error)
        return future

    def __enter__(self) -> RunNow:
        return self

    def __exit__(self, *exc) -> None:
        return None


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
        job_poll_interval: float = 5.0,
        inspector=None,
        prior: RunResult | None = None,
        approvals=None,
        auto_approve: bool = False,
        drill: bool = False,
        expected: dict[str, float] | None = None,
        cleanup_only: bool = False,
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
        self.lock = threading.RLock()
        self.approvals = approvals or (lambda step_id: None)  # step id -> who approved it, or None
        self.auto_approve = auto_approve  # simulations: a person would approve; go on
        self.drill = drill  # whatever happens, undo every change at the end
        self.cleanup_only = cleanup_only  # a drill's cleanup alone (`failover cleanup`)
        self.failure: BaseException | None = None  # the journal failed: stop before the next change
        self.compensating: str | None = None  # the step whose change the cleanup is undoing now
        self.result = prior or RunResult(
            run_id=run_id or new_run_id(), runbook=self.runbook.name, adapter=adapter.name, dry_run=dry_run,
            parameters=public_values(params), steps=[StepRecord(s.id, s.uses) for s in self.runbook.steps],
        )
        self.resumed = prior is not None
        if drill:
            self.result.kind = "drill"
        self.log = get_logger(run_id=self.result.run_id, runbook=self.runbook.name, dry_run=dry_run)
        # Each step's place in the order ready steps start in (see priorities), as a number.
        priority = priorities(self.runbook, expected or {})
        self._by_rank = sorted(priority, key=priority.__getitem__)
        self._rank = {step_id: rank for rank, step_id in enumerate(self._by_rank)}
        # Slots: at most ``concurrency`` steps act at once. A step waiting (on ASR jobs, on a shared read)
        # gives its slot back, and takes one again before it goes on, ahead of steps not yet started.
        self._slots = threading.Condition()
        self._acting = 0  # steps holding a slot
        self._returning = 0  # steps done waiting, waiting for a slot to go on
        # What the scheduler waits for: a step's future once it has ended, or None when a step begins waiting
        # (its slot is free) or the run is stopping. A queue, not concurrent.futures.wait: that
        # walks every running future each time, and at 5,000 VMs a thousand steps are waiting on jobs.
        self._events: queue.SimpleQueue[Future | None] = queue.SimpleQueue()
        self._skipped_by_condition: set[str] = set()
        # A simulation one step at a time (plan, validate) runs each step in the calling thread; nobody
        # shares its reads, and each step polls its own jobs.
        self.one_at_a_time = dry_run and self.concurrency == 1
        # Each step's CPU (``StepRecord.cpu_ms``) is measured where someone reads it: not in those
        # simulations, whose records only plan and validate see. Reading the clock is a system call
        # (0.6 µs), and a 5,000-VM validate's steps read it 101,118 times (docs/performance.md).
        self.measures_cpu = not self.one_at_a_time
        self.cpu_clock = time.thread_time if self.measures_cpu else _no_cpu_clock
        limits = getattr(adapter, "rate_limits", None)
        self.limiter = RateLimiter(*limits, adapter.clock) if limits else None
        polls = [Retry(self.runbook.defaults.retry, sleep=adapter.clock.sleep, on_retry=lambda name, state: None)]
        if self.limiter is not None:
            polls.append(Pace(self.limiter, adapter.clock.sleep))
        self.jobs = JobTracker(VIEWS["replication"](chain(*polls, Send(adapter))), adapter.clock, job_poll_interval,
                               self.log, inline=self.one_at_a_time,
                               on_poll=(lambda job: self.observer.job_polled(self.result, job))
                               if self.observer.observes("job_polled") else None,
                               pace=(lambda pages: self.limiter.acquire("read", adapter.clock.sleep, pages))
                               if self.limiter is not None else None)
        self.items = ItemReader(inline=self.one_at_a_time)
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
        with collector.fewer_full_collections():  # see engine/collector.py: a run's overhead p99
            return self._run()

    def _run(self) -> RunResult:
        clock = self.adapter.clock
        result = self.result
        self._move_run(RunStatus.RUNNING)
        started = clock.monotonic()
        if not self.resumed and result.started_at is None:
            result.started_at = clock.wall()
        result.finished_at = None
        # A drill's lifecycle is journaled: resumed after any crash or signal, it goes on as a drill, and
        # once its cleanup has begun, it only cleans up.
        cleaning = self.drill and (self.cleanup_only or result.phase in ("cleanup", "done"))
        if self.drill and not cleaning:
            result.phase = "steps"
        self.log.info("run.resumed" if self.resumed else "run.started", adapter=self.adapter.name,
                      steps=len(self.runbook.steps), concurrency=self.concurrency, parameters=result.parameters,
                      phase=result.phase)
        interrupted = False
        if cleaning:
            final = RunStatus(result.outcome) if result.outcome else RunStatus.INTERRUPTED
        else:
            interrupted = self._schedule()
            self._raise_failure()
            final = self._outcome(interrupted)
        rollback = not self.drill and not interrupted and any(
            s.status == StepStatus.FAILED and self.runbook.on_failure_of(self.runbook.step(s.id)) == "rollback"
            for s in result.steps)
        if self.drill:
            result.outcome, result.phase = str(final), "cleanup"
            self._move_run(RunStatus.RUNNING)  # journaled before the first change is undone
            complete = roll_back(self)
            self._raise_failure()
            final = drill_verdict(self, final, complete)
            if complete:
                result.phase = "done"
            else:
                final = RunStatus.CLEANUP_FAILED
        elif rollback:
            roll_back(self)
            self._raise_failure()
        self.jobs.stop()
        result.finished_at = clock.wall()
        result.duration_s = (result.duration_s or 0.0) + clock.monotonic() - started
        self._move_run(final)
        self.log.info("run.finished", status=str(final), duration_s=round(result.duration_s, 3))
        return result

    # --- stopping -------------------------------------------------------------------------------

    def stop(self, why: str, signal_name: str | None = None) -> None:
        """Stop in order (a signal, a lost lock, a failed journal): no new step, no new change sent; the
        running steps reach a safe point; a drill then cleans up. Safe from any thread."""
        with self.lock:
            first = not self.cancel.is_set()
            if signal_name and self.result.stopped_by is None:
                self.result.stopped_by = signal_name
            self.cancel.set()
        self._events.put(None)
        self.jobs.wake_all()  # steps waiting on ASR jobs look at the interrupt now
        with self._slots:  # and steps waiting for a slot go on to their safe point: no slot is given back now
            self._slots.notify_all()
        if first:
            self.log.warning("run.stopping", why=why)

    def journal_failed(self, error: BaseException) -> None:
        with self.lock:
            self.failure = self.failure or error
        self.stop(f"the journal cannot be written: {error}")

    def _raise_failure(self) -> None:
        if self.failure is not None:
            self.jobs.stop()
            raise self.failure

    def still_going(self) -> str:
        """What the run is still doing, for a person who asked it to stop twice."""
        with self.lock:
            running = [s.id for s in self.result.steps if s.status == StepStatus.RUNNING]
            compensating = self.compensating
        if compensating:
            return f"cleaning up: undoing {compensating}"
        if running:
            return f"waiting for {', '.join(running)} to reach a safe point (an ASR job is left running, not cut)"
        return "finishing"

    def _schedule(self) -> bool:
        """Start each step when its needs are done and a slot is free, until nothing more can start;
        returns whether the run was interrupted (Ctrl-C, SIGTERM)."""
        sorter = TopologicalSorter({s.id: set(s.needs) for s in self.runbook.steps})
        sorter.prepare()
        aborting = False
        running: dict[Future, str] = {}
        # A step waiting on ASR jobs does not hold a slot; it still needs a thread.
        waiters = sum(1 for s in self.runbook.steps if kinds.get(s.uses).waits_for_jobs)
        with RunNow() if self.one_at_a_time else ThreadPoolExecutor(max_workers=self.concurrency + waiters,
                                                               thread_name_prefix="step") as pool:
            ready: list[int] = []  # ranks of the steps ready to start, waiting for a free slot
            try:
                while (sorter.is_active() or ready) and not self.cancel.is_set():
                    for step_id in sorter.get_ready():
                        heapq.heappush(ready, self._rank[step_id])
                    while ready and self._take_slot():
                        step = self.runbook.step(self._by_rank[heapq.heappop(ready)])
                        if self._finished_before(step):
                            self._give_slot()
                            sorter.done(step.id)
                        elif reason := self._reason_to_skip(step, aborting):
                            self._give_slot()
                            self._skip(step, reason)
                            sorter.done(step.id)
                        else:
                            future = pool.submit(steps.execute, self, step)
                            running[future] = step.id
                            future.add_done_callback(self._events.put)
                    if not running:  # every ready step was started or passed over: nothing runs
                        newly_ready = sorter.get_ready()
                        if not newly_ready:
                            break  # only paused steps (and what needs them) are left
                        for step_id in newly_ready:
                            heapq.heappush(ready, self._rank[step_id])
                        continue
                    aborting = self._collect(running, sorter) or aborting
            except KeyboardInterrupt:  # a caller that did not install the run's signal handlers
                self.stop("interrupted")
            if self.cancel.is_set():
                self.log.warning("run.interrupting", running=sorted(running.values()))
                wait(list(running))
                for future in running:
                    future.result()
                return True
        return False

    def _collect(self, running: dict[Future, str], sorter: TopologicalSorter) -> bool:
        """Wait until a step ends (or one begins waiting, freeing its slot); mark the ended ones
        done. Returns whether one failed so that the run must stop starting steps."""
        events = [self._events.get()]
        while True:  # and whatever else happened meanwhile
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                break
        stop = False
        for future in (event for event in events if event is not None and event in running):
            step_id = running.pop(future)
            self._give_slot()  # here, not as it ends: nothing starts before the scheduler has seen how it ended
            future.result()  # a step records its own failures; this surfaces engine bugs
            record = self.result.step(step_id)
            if record.status == StepStatus.PAUSED:
                continue  # its dependents wait; the run pauses when nothing else can go on
            sorter.done(step_id)
            if record.status == StepStatus.FAILED and \
                    self.runbook.on_failure_of(self.runbook.step(step_id)) != "continue":
                self.log.warning("run.aborting", failed_step=step_id)
                stop = True
        return stop

    def _finished_before(self, step: Step) -> bool:
        """Done in an earlier session of this run (a resume): nothing to start."""
        record = self.result.step(step.id)
        return record.status in STEP_DONE or (step.id in self._skipped_by_condition
                                               and record.status == StepStatus.SKIPPED)

    def _outcome(self, interrupted: bool) -> RunStatus:
        statuses = {s.status for s in self.result.steps}
        if StepStatus.FAILED in statuses:
            return RunStatus.FAILED
        if interrupted:
            return RunStatus.INTERRUPTED
        if StepStatus.PAUSED in statuses:  # the steps that need a paused one are pending: it is a pause
            return RunStatus.PAUSED
        return RunStatus.INTERRUPTED if StepStatus.PENDING in statuses else RunStatus.SUCCEEDED

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
        if not step.runs_with(self.params):
            self._skipped_by_condition.add(step.id)
            return "skipped: its `when` condition does not hold"
        return None

    def _skip(self, step: Step, reason: str) -> None:
        with self.lock:
            record = self.result.step(step.id)
            record.move(StepStatus.SKIPPED)
            record.reason = reason
        self.log.info("step.skipped", step=step.id, reason=reason)
        self.observer.step_changed(self.result, record)

    def _move_run(self, status: RunStatus) -> None:
        with self.lock:
            self.result.status = check_run(self.result.status, status)
        self.observer.run_changed(self.result)

    # --- what a running step tells the run ---------------------------------------------------------

    def _take_slot(self) -> bool:
        """A slot for a step about to start, if one is free and no waiting step wants it back."""
        with self._slots:
            if self._acting + self._returning >= self.concurrency:
                return False
            self._acting += 1
            return True

    def _give_slot(self) -> None:
        with self._slots:
            self._acting -= 1
            self._slots.notify()

    def step_waiting(self, waiting: bool) -> None:
        """A step began (or stopped) waiting (on ASR jobs, on a shared read): while it waits, its slot is
        free. Done waiting, it waits for a slot before it goes on (that wait is waiting, not engine time):
        a poll that sees a hundred jobs end would otherwise set a hundred steps acting at once, beside
        the ones holding slots, all of them queueing for the interpreter."""
        if waiting:
            self._give_slot()
            self._events.put(None)
            return
        with self._slots:
            self._returning += 1
            while self._acting >= self.concurrency and not self.cancel.is_set():
                self._slots.wait()
            self._returning -= 1
            self._acting += 1

    def job_started(self, record: StepRecord, handle: JobHandle) -> None:
        with self.lock:
            record.jobs.append(handle.job_id)
        self.observer.job_started(self.result, record, handle)
