"""What a step kind sees while it runs: the adapter, the target, names turned into IDs, time."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adapters import ids
from adapters.errors import JobFailedError, TransientError
from adapters.ports import Adapter, Job, JobHandle, VaultRef
from engine.model import Target


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
    job_poll_interval: float = 15.0
    cancel: threading.Event = field(default_factory=threading.Event)
    on_job_started: Callable[[JobHandle], None] = lambda handle: None
    approval: Callable[[], dict | None] = lambda: None  # who released this step, if anyone did
    first_started_at: float | None = None  # wall time the step first started (a pause keeps it)

    # --- names -> IDs -------------------------------------------------------------------------

    def vault(self, name: str | None = None) -> VaultRef:
        vault = name or self.target.vault
        if not vault:
            raise ValueError("no vault: set `target.vault` in the runbook or `vault:` in the step")
        if ids.is_resource_id(vault):
            rid = ids.parse(vault)
            return VaultRef(rid.subscription, rid.resource_group, rid.name)
        return VaultRef(self.target.subscription, self.target.resource_group, vault)

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

    def sleep(self, seconds: float) -> None:
        """Sleep, but never past the step's deadline: past it, raise ``StepTimeout``."""
        self.check()
        left = self.remaining()
        if seconds >= left:
            self.clock.sleep(max(left, 0))
            raise StepTimeout(f"the step ran past its timeout while waiting {seconds:.0f}s")
        self.clock.sleep(seconds)
        self.check()

    # --- ASR jobs -------------------------------------------------------------------------------

    def wait_for_jobs(self, handles: list[JobHandle]) -> list[Job]:
        """Wait until every job has finished; raise ``JobFailedError`` with the job's own error if one
        did not succeed. Polls in batches; a transient error on a poll only defers the next poll."""
        pending = {handle.job_id: handle for handle in handles}
        finished: dict[str, Job] = {}
        while pending:
            by_vault: dict[VaultRef, list[str]] = {}
            for handle in pending.values():
                by_vault.setdefault(handle.vault, []).append(handle.job_id)
            delay = self.job_poll_interval
            for vault, job_ids in by_vault.items():
                try:
                    jobs = (
                        [self.adapter.replication.get_job(vault, job_ids[0])]
                        if len(job_ids) == 1
                        else self.adapter.replication.list_jobs(vault, job_ids)
                    )
                except TransientError as exc:
                    self.log.info("job.poll_deferred", error=str(exc), retry_after=exc.retry_after)
                    delay = max(delay, exc.retry_after or 0)
                    continue
                for job in jobs:
                    if job.finished and job.id in pending:
                        finished[job.id] = job
                        handle = pending.pop(job.id)
                        self.log.info("job.finished", job=job.id, operation=handle.operation,
                                      on=handle.target, state=job.state)
            if pending:
                self.sleep(delay)
        failed = [job for job in finished.values() if job.state != "Succeeded"]
        if failed:
            job = failed[0]
            handle = next(h for h in handles if h.job_id == job.id)
            reason = "; ".join(job.errors) or f"the job ended {job.state}"
            raise JobFailedError(
                f"ASR job {job.id} ({handle.operation} of {handle.target}) ended {job.state}: {reason}",
                job_id=job.id, state=job.state, code="AsrJob" + job.state,
            )
        return [finished[h.job_id] for h in handles]
