"""What a step kind sees while it runs: the adapter, the target, names turned into IDs, time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from adapters.ports import Adapter, Job, JobHandle, VaultRef
from adapters.shared import ids
from adapters.shared.errors import JobFailedError
from engine.model.runbook import Target


class StepTimeout(Exception):
    pass


class PauseRequested(Exception):
    """A step waits for a person (``failover approve``); the run pauses once nothing else can go on."""


class Cancelled(Exception):
    """The run is being interrupted; the step stops at a safe point."""


@dataclass
class StepContext:
    adapter: Adapter
    target: Target
    step_id: str
    log: Any  # a structlog bound logger
    deadline: float  # in the adapter clock's simulated seconds
    timeout: float = 0.0  # the step's timeout, seconds
    job_poll_interval: float = 5.0
    cancel: threading.Event = field(default_factory=threading.Event)
    on_job_started: Callable[[JobHandle], None] = lambda handle: None
    on_waiting: Callable[[bool], None] = lambda waiting: None  # waiting (jobs, a shared read): the slot is free
    approval: Callable[[], dict | None] = lambda: None  # who released this step, if anyone did
    jobs: Any = None  # the run's JobTracker
    items: Any = None  # the run's ItemReader
    waited_s: float = 0.0  # real seconds spent sleeping or waiting for jobs (not engine overhead)
    waited_cpu_s: float = 0.0  # CPU this thread spent meanwhile (polling the run's jobs for everyone)
    cpu_clock: Callable[[], float] = time.thread_time  # the run's (see ``Runner.cpu_clock``)
    first_started_at: float | None = None  # wall time the step first started (a pause keeps it)

    def close(self) -> None:
        """The step is over: its call chain, which holds this context (its ``sleep``, closures over it), is
        dropped, so that reference counting frees both now instead of the collector, later."""
        self.adapter = None

    # --- names -> IDs -------------------------------------------------------------------------

    def vault(self, name: str | None = None) -> VaultRef:
        if not (name or self.target.vault):
            raise ValueError("no vault: set `target.vault` in the runbook or `vault:` in the step")
        return self.target.vault_ref(name)

    def resource_id(self, value: str, kind: str) -> str:
        return ids.resolve(value, kind, self.target.subscription, self.target.resource_group)

    def vnet_id(self, value: str) -> str:
        return self.resource_id(value, ids.VIRTUAL_NETWORK)

    # --- time -----------------------------------------------------------------------------------

    @property
    def clock(self):
        return self.adapter.clock

    def remaining(self) -> float:
        return self.deadline - self.clock.monotonic()

    def check(self) -> None:
        if self.cancel.is_set():
            raise Cancelled("the run is being interrupted")
        if self.remaining() <= 0:
            raise StepTimeout("the step ran past its timeout")

    def _check_deadline(self) -> None:
        if self.remaining() <= 0:
            raise StepTimeout("the step ran past its timeout")

    def sleep(self, seconds: float) -> None:
        """Sleep, but never past the step's deadline: past it, raise ``StepTimeout``."""
        self.check()
        left = self.remaining()
        started = time.monotonic()
        try:
            if seconds >= left:
                self.clock.sleep(max(left, 0))
                raise StepTimeout(f"the step ran past its timeout while waiting {seconds:.0f}s")
            self.clock.sleep(seconds)
        finally:
            self.waited_s += time.monotonic() - started
        self.check()

    def wait_for(self, done: threading.Event) -> None:
        """Wait for work another step does for this one too (a shared read): waiting, not engine time."""
        started = time.monotonic()
        try:
            while not done.wait(0.05):
                self.check()
        finally:
            self.waited_s += time.monotonic() - started

    @contextmanager
    def slot_free(self) -> Iterator[None]:
        """The step is waiting, not acting (on ASR jobs, on a read shared with other steps): its slot is
        free for another step meanwhile."""
        self.on_waiting(True)
        try:
            yield
        finally:
            started, cpu_started = time.monotonic(), self.cpu_clock()
            self.on_waiting(False)  # it may wait for a slot, as a step not yet started does: not engine time
            self.waited_s += time.monotonic() - started
            self.waited_cpu_s += self.cpu_clock() - cpu_started

    # --- ASR jobs -------------------------------------------------------------------------------

    def wait_for_jobs(self, handles: list[JobHandle], *, settle: bool = False,
                      interruptible: bool = True) -> list[Job]:
        """Wait until every job has finished (the run's job tracker polls them in batches); raise
        ``JobFailedError`` with the job's own error if one did not succeed, unless ``settle`` (the caller
        only waits for the item to be idle, and reads what the job left). Not ``interruptible``: an
        interrupt does not stop the wait (a short job whose step must end knowing its outcome)."""
        with self.slot_free():
            started, cpu_started = time.monotonic(), self.cpu_clock()
            try:
                finished = self.jobs.wait(handles, self.check if interruptible else self._check_deadline,
                                          self.deadline)
            finally:
                self.waited_s += time.monotonic() - started
                self.waited_cpu_s += self.cpu_clock() - cpu_started
        for handle in handles:
            job = finished[handle.job_id]
            self.log.info("job.finished", job=job.id, operation=handle.operation, on=handle.target, state=job.state)
        failed = [(h, finished[h.job_id]) for h in handles if not finished[h.job_id].ok]
        if failed and not settle:
            handle, job = failed[0]
            reason = "; ".join(job.errors) or f"the job ended {job.state}"
            raise JobFailedError(
                f"ASR job {job.id} ({handle.operation} of {handle.target}) ended {job.state}: {reason}",
                job_id=job.id, state=job.state, code="AsrJob" + job.state,
            )
        return [finished[h.job_id] for h in handles]
