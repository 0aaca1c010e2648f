"""ASR jobs followed for every step of a run by one poller, listing them in batches: a thousand jobs
cost one read per poll, not a thousand."""

from __future__ import annotations

import heapq
import itertools
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from adapters.ports import LIST_PAGE, Job, JobHandle, VaultRef


@dataclass(eq=False)
class Waiter:
    """A step waiting for ``jobs``; its ``event`` is set when there is something to look at."""

    jobs: set[str]
    deadline: float | None
    event: threading.Event = field(default_factory=threading.Event)


class JobTracker:
    """Waits for ASR jobs on behalf of every step of a run, polling them together."""

    def __init__(self, replication, clock, interval: float, log, *, inline: bool = False,
                 on_poll: Callable[[Job], None] | None = None, pace: Callable[[int], None] | None = None):
        self.replication, self.clock, self.interval, self.log = replication, clock, interval, log
        # Takes read tokens for a list's pages beyond its first (the list itself takes one as it is sent).
        self.pace = pace
        self.seen: dict[str, int] = {}  # job id -> its place among the jobs followed, in the order they came
        self.on_poll = on_poll  # told each job's state as polled (a progress view's heartbeat)
        self.inline = inline  # one step at a time (a simulation): poll in the waiting thread, no poller
        self.lock = threading.Lock()
        self.pending: dict[str, JobHandle] = {}
        self.waiters: set[Waiter] = set()
        self.waiting_on: dict[str, list[Waiter]] = {}  # job id -> the waiters it may wake
        self.deadlines: list[tuple[float, int, Waiter]] = []  # a heap: the next deadline first
        self._order = itertools.count()
        self.finished: dict[str, Job] = {}
        self.poller: threading.Thread | None = None
        self.polls = 0
        self.stopped = False

    def wait(self, handles: list[JobHandle], check: Callable[[], None], deadline: float | None = None) -> dict[str, Job]:
        """Block until every job of ``handles`` has finished; ``check`` raises on timeout or cancel.
        ``deadline`` (the clock's seconds) is when ``check`` will raise: the poller wakes the step then."""
        if self.inline:
            with self.lock:
                self.pending.update({h.job_id: h for h in handles if h.job_id not in self.finished})
            self._poll_once()
            while any(h.job_id not in self.finished for h in handles):
                check()
                self.clock.sleep(self.interval)
                self._poll_once()
            return {h.job_id: self.finished[h.job_id] for h in handles}
        # Each waiter sleeps on an event of its own until its last job finishes, its deadline passes
        # (seen by the poller) or the run is interrupted (``wake_all``): thousands of steps can wait at
        # once without a thread waking to look at a clock.
        waiter = Waiter({h.job_id for h in handles}, deadline)
        with self.lock:
            for handle in handles:
                if handle.job_id not in self.finished:
                    self.pending[handle.job_id] = handle
                self.seen.setdefault(handle.job_id, len(self.seen))
            self.waiters.add(waiter)
            left = waiter.jobs - self.finished.keys()
            for job_id in left:
                self.waiting_on.setdefault(job_id, []).append(waiter)
            if not left:
                waiter.event.set()
            if deadline is not None:
                heapq.heappush(self.deadlines, (deadline, next(self._order), waiter))
            self._start_poller()
        try:
            while True:
                waiter.event.wait(timeout=self._backstop(deadline))
                with self.lock:
                    if waiter.jobs.issubset(self.finished.keys()):
                        break
                    waiter.event.clear()
                check()  # the step's deadline, or an interrupt
        except BaseException:  # the step gave up (timeout, interrupt): stop polling its jobs
            with self.lock:
                for handle in handles:
                    self.pending.pop(handle.job_id, None)
            raise
        finally:
            with self.lock:
                self.waiters.discard(waiter)
                for job_id in waiter.jobs:
                    if waiter in self.waiting_on.get(job_id, ()):
                        self.waiting_on[job_id].remove(waiter)
                        if not self.waiting_on[job_id]:
                            del self.waiting_on[job_id]
        with self.lock:
            return {h.job_id: self.finished[h.job_id] for h in handles}

    def _backstop(self, deadline: float | None) -> float:
        """Real seconds a waiter sleeps at most: until its deadline (the poller wakes it then too), and
        never more than a minute, should no poller be running to see the deadline pass."""
        if deadline is None:
            return max(self.interval * self.clock.scale, 0.005)
        return min(max((deadline - self.clock.monotonic()) * self.clock.scale, 0.005), 60.0)

    def wake_all(self) -> None:
        """Wake every waiting step to look again (the run is being interrupted)."""
        with self.lock:
            for waiter in self.waiters:
                waiter.event.set()

    def _wake(self, finished: list[Job]) -> None:
        """Wake the waiters all of whose jobs have now finished, and those whose deadline has passed
        (call with ``lock`` held). Only the waiters of the jobs that finished are looked at: with
        thousands waiting, a poll must not walk them all."""
        for job in finished:
            for waiter in self.waiting_on.pop(job.id, ()):
                if waiter.jobs.issubset(self.finished.keys()):
                    waiter.event.set()
        now = self.clock.monotonic()
        while self.deadlines and self.deadlines[0][0] <= now:
            _, _, waiter = heapq.heappop(self.deadlines)
            if waiter in self.waiters:
                waiter.event.set()

    def stop(self) -> None:
        with self.lock:
            self.stopped = True
            self.pending.clear()
            for waiter in self.waiters:
                waiter.event.set()

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

    def _split(self, job_ids: list[str]) -> tuple[list[str], list[str], int]:
        """Which jobs to read with one list and which with a GET each, and the list's pages. A list reads the
        vault's jobs newest first, a page of 100 at a time, back to the oldest job wanted: every job this
        run followed since then (the vault's other jobs, few during a failover, are not counted). A plan's
        failover an hour old behind five thousand target-IP updates would make each poll fifty pages; its
        GET is one read. Chosen to read the fewest pages."""
        with self.lock:
            total = len(self.seen)
            newest_first = sorted(job_ids, key=lambda job_id: self.seen.get(job_id, total), reverse=True)
            places = [self.seen.get(job_id, total) for job_id in newest_first]
        best, listed, pages = len(newest_first), 0, 0  # nothing listed: a GET each
        for count in range(2, len(newest_first) + 1):
            list_pages = max(1, math.ceil((total - places[count - 1]) / LIST_PAGE))
            if list_pages + len(newest_first) - count < best:
                best, listed, pages = list_pages + len(newest_first) - count, count, list_pages
        return newest_first[:listed], newest_first[listed:], pages

    def _poll_once(self) -> None:
        """One read per vault of every job still pending: a paged list of the recent ones, a GET of each
        old one left (see ``_split``)."""
        with self.lock:
            by_vault: dict[VaultRef, list[str]] = {}
            for handle in self.pending.values():
                by_vault.setdefault(handle.vault, []).append(handle.job_id)
        for vault, job_ids in by_vault.items():
            listed, fetched, pages = self._split(job_ids)
            try:
                jobs = []
                if listed:
                    if self.pace is not None:
                        self.pace(pages - 1)  # the list itself takes its first page's token as it is sent
                    jobs += self.replication.list_jobs(vault, listed)
                jobs += [self.replication.get_job(vault, job_id) for job_id in fetched]
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
                self._wake(finished)
