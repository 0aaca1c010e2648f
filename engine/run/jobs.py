"""ASR jobs followed for every step of a run by one poller, listing them in batches: a thousand jobs
cost one read per poll, not a thousand."""

from __future__ import annotations

import threading
from collections.abc import Callable

from adapters.ports import Job, JobHandle, VaultRef


class JobTracker:
    """Waits for ASR jobs on behalf of every step of a run, polling them together."""

    def __init__(self, replication, clock, interval: float, log, *, inline: bool = False,
                 on_poll: Callable[[Job], None] | None = None):
        self.replication, self.clock, self.interval, self.log = replication, clock, interval, log
        self.on_poll = on_poll  # told each job's state as polled (a progress view's heartbeat)
        self.inline = inline  # one step at a time (a simulation): poll in the waiting thread, no poller
        self.lock = threading.Lock()
        self.pending: dict[str, JobHandle] = {}
        self.waiters: list[tuple[set[str], threading.Event]] = []  # (job ids, set once all have finished)
        self.finished: dict[str, Job] = {}
        self.poller: threading.Thread | None = None
        self.polls = 0
        self.stopped = False

    def wait(self, handles: list[JobHandle], check: Callable[[], None]) -> dict[str, Job]:
        """Block until every job of ``handles`` has finished; ``check`` raises on timeout or cancel."""
        if self.inline:
            with self.lock:
                self.pending.update({h.job_id: h for h in handles if h.job_id not in self.finished})
            self._poll_once()
            while any(h.job_id not in self.finished for h in handles):
                check()
                self.clock.sleep(self.interval)
                self._poll_once()
            return {h.job_id: self.finished[h.job_id] for h in handles}
        # Each waiter has an event of its own, set when its last job finishes: a poll wakes only the
        # steps whose jobs it saw finish, not every step waiting (fifty plans wait for an hour).
        waiting = {h.job_id for h in handles}
        done = threading.Event()
        with self.lock:
            for handle in handles:
                if handle.job_id not in self.finished:
                    self.pending[handle.job_id] = handle
            self.waiters.append((waiting, done))
            self._wake_finished()
            self._start_poller()
        try:
            while not done.wait(timeout=max(self.interval * self.clock.scale, 0.005)):
                check()  # the step's deadline, or an interrupt
        except BaseException:  # the step gave up (timeout, interrupt): stop polling its jobs
            with self.lock:
                for handle in handles:
                    self.pending.pop(handle.job_id, None)
            raise
        finally:
            with self.lock:
                self.waiters.remove((waiting, done))
        with self.lock:
            return {h.job_id: self.finished[h.job_id] for h in handles}

    def _wake_finished(self) -> None:
        """Wake the waiters all of whose jobs have finished (call with ``lock`` held)."""
        for waiting, done in self.waiters:
            if not done.is_set() and waiting.issubset(self.finished.keys()):
                done.set()

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            self.pending.clear()

    def _start_poller(self) -> None:
        if self.poller is None or not self.poller.is_alive():
            self.poller = threading.Thread(target=self._poll, name="job-poller", daemon=True)
            self.poller.start()

    def _poll(self) -> None:
        first = True
        while True:
            with self.lock:
                if not self.pending or self.stopped:
                    self.poller = None
                    return
            if not first:
                self.clock.sleep(self.interval)
            first = False
            self._poll_once()

    def _poll_once(self) -> None:
        """One batch read per vault of every job still pending."""
        with self.lock:
            by_vault: dict[VaultRef, list[str]] = {}
            for handle in self.pending.values():
                by_vault.setdefault(handle.vault, []).append(handle.job_id)
        for vault, job_ids in by_vault.items():
            try:
                jobs = (self.replication.list_jobs(vault, job_ids) if len(job_ids) > 1
                        else [self.replication.get_job(vault, job_ids[0])])
                self.polls += 1
            except Exception as exc:  # a missed poll only delays the next one; waiters time out
                retry_after = getattr(exc, "retry_after", None)
                self.log.info("job.poll_deferred", error=str(exc), retry_after=retry_after)
                if retry_after:
                    self.clock.sleep(retry_after)
                continue
            if self.on_poll is not None:
                for job in jobs:
                    self.on_poll(job)
            with self.lock:
                finished = [job for job in jobs if job.finished and job.id in self.pending]
                for job in finished:
                    self.pending.pop(job.id)
                    self.finished[job.id] = job
                if finished:
                    self._wake_finished()
