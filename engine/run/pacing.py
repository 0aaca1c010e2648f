"""Staying under ARM's limits instead of hitting them: many ASR jobs and many items with few reads.

``RateLimiter``: client-side token buckets (ARM's: reads 250, refilled 25/s; writes 200, refilled
10/s, per subscription and principal), shared by every step of a run; a call waits for a token rather
than drawing a 429. ``JobTracker``: one poller for all the run's in-flight ASR jobs, listing them in
batches, so a thousand jobs cost one read per poll, not a thousand. ``ItemReader``: recovery-plan steps
that start together read their items with one list of the vault, not a GET per item.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable

from adapters.ports import Job, JobHandle, ProtectedItem, VaultRef
from adapters.shared.errors import AdapterError, NotFoundError


class TokenBucket:
    def __init__(self, size: float, rate: float, clock):
        self.size, self.rate, self.clock = size, rate, clock
        self.tokens = size
        self.updated = clock.monotonic()
        self.lock = threading.Lock()

    def reserve(self, count: int = 1) -> float:
        """Take ``count`` tokens now or in the future; return how long to wait for them (simulated
        seconds). Tokens taken together are all there at the end of the wait: a burst the bucket allows."""
        with self.lock:
            now = self.clock.monotonic()
            self.tokens = min(self.size, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            self.tokens -= count
            return 0.0 if self.tokens >= 0 else -self.tokens / self.rate

    def refund(self, count: int) -> None:
        """Give back tokens taken and not used."""
        with self.lock:
            self.tokens = min(self.size, self.tokens + count)


class RateLimiter:
    def __init__(self, reads: tuple[float, float], writes: tuple[float, float], clock, margin: float = 0.95):
        # A little under ARM's figures: the service's clock and ours do not tick together.
        self.buckets = {"read": TokenBucket(reads[0] * margin, reads[1] * margin, clock),
                        "write": TokenBucket(writes[0] * margin, writes[1] * margin, clock)}
        self.clock = clock
        self.waited_s = 0.0

    def acquire(self, kind: str, sleep: Callable[[float], None], count: int = 1) -> None:
        wait = self.buckets[kind].reserve(count)
        if wait > 0:
            self.waited_s += wait
            sleep(wait)

    def refund(self, kind: str, count: int) -> None:
        self.buckets[kind].refund(count)


class JobTracker:
    """Waits for ASR jobs on behalf of every step of a run, polling them together."""

    def __init__(self, replication, clock, interval: float, log, *, inline: bool = False):
        self.replication, self.clock, self.interval, self.log = replication, clock, interval, log
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
            with self.lock:
                finished = [job for job in jobs if job.finished and job.id in self.pending]
                for job in finished:
                    self.pending.pop(job.id)
                    self.finished[job.id] = job
                if finished:
                    self._wake_finished()


GATHER_S = 1.0  # simulated seconds a read waits for the other steps' reads of the same vault


class _Gathering:
    def __init__(self):
        self.requests: list[list[str]] = []
        self.done = threading.Event()
        self.found: dict[str, ProtectedItem] = {}
        self.error: AdapterError | None = None  # the service's answer to the shared read
        self.abandoned = False  # the leading step stopped (timeout, interrupt): the others read on their own


class ItemReader:
    """Reads protected items for the recovery-plan steps of a run, together when they start together.

    The ten commits of a 1,000-VM failover start the moment the network is done and want 1,000 items
    between them: one list of the vault is one read, where GETs were 1,000 that ARM's read bucket (250,
    then 25 a second) spread over 32 s before the last commit could start its job. A read waits
    ``gather`` simulated seconds for the other steps' reads of the same vault; if none joins, it is done
    with GETs, as it always was (a list costs what the vault holds, not what the step needs). A read
    joins only a gathering whose list has not begun, so what it gets is never older than the read."""

    def __init__(self, gather: float = GATHER_S, *, inline: bool = False):
        self.gather = gather
        self.inline = inline  # one step at a time (a simulation): nobody to gather with
        self.lock = threading.Lock()
        self.gathering: dict[VaultRef, _Gathering] = {}
        self.lists = 0  # shared lists made

    def read(self, ctx, vault: VaultRef, names: list[str]) -> list[ProtectedItem]:
        """The items, in the order of ``names``; ``ctx`` is the asking step's (its adapter, its waits)."""
        if self.inline or len(names) < 2:
            return self.each(ctx, vault, names)
        with self.lock:
            gathering = self.gathering.get(vault)
            leads = gathering is None
            if leads:
                gathering = self.gathering[vault] = _Gathering()
            gathering.requests.append(names)
        if leads:
            self._lead(ctx, vault, gathering)
        else:
            ctx.wait_for(gathering.done)
        if gathering.abandoned:
            return self.each(ctx, vault, names)
        if gathering.error is not None:  # each step raises its own copy: same code, same retry state
            raise gathering.error if leads else copy.copy(gathering.error)
        try:
            return [gathering.found[name.lower()] for name in names]
        except KeyError as missing:
            raise NotFoundError(f"Protected item {missing.args[0]} was not found in vault {vault.vault}",
                                code="ReplicationProtectedItemNotFound", status=404) from None

    @staticmethod
    def each(ctx, vault: VaultRef, names: list[str]) -> list[ProtectedItem]:
        """The items, in order, one GET each: the cost follows the step's size, not the vault's. (A list
        of the vault per step reads every item of a 5,000-VM vault for each 100-VM recovery plan; the
        GETs are paced by the run's read bucket, and jobs that end at different times spread them.)"""
        return ctx.adapter.replication.each("get_protected_item", [(vault, name) for name in names])

    def _lead(self, ctx, vault: VaultRef, gathering: _Gathering) -> None:
        try:
            ctx.sleep(self.gather)
            with self.lock:  # from here on, a new read starts a gathering of its own
                del self.gathering[vault]
            if len(gathering.requests) == 1:
                items = self.each(ctx, vault, gathering.requests[0])
            else:
                items = ctx.adapter.replication.list_protected_items(vault)
                self.lists += 1
            gathering.found = {item.vm_name.lower(): item for item in items}
        except AdapterError as error:
            gathering.error = error
        except BaseException:
            gathering.abandoned = True
            with self.lock:
                if self.gathering.get(vault) is gathering:
                    del self.gathering[vault]
            raise
        finally:
            gathering.done.set()
