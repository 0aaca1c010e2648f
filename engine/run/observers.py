"""What watches a run: the journal, the live view. The journal goes first, so a record is on disk
before it is shown."""

from __future__ import annotations

from typing import Protocol

from adapters.ports import Job, JobHandle
from engine.run.records import RunResult, StepRecord


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

    def job_polled(self, result: RunResult, job: Job) -> None: ...


class Observers:
    """Several observers as one; the journal goes first, so a record is on disk before it is shown."""

    def __init__(self, *observers):
        self.observers = [o for o in observers if o is not None]
        # Each method's implementations, looked up once: a step reports to them several times.
        self._methods = {name: [method for o in self.observers if (method := getattr(o, name, None)) is not None]
                         for name in ("run_changed", "step_changed", "job_started", "operation", "job_polled")}

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

    def job_polled(self, *args) -> None:
        self._tell("job_polled", args)
