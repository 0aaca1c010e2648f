"""Reading many protected items with few requests: steps that start together share one list of the
vault; a step alone reads with GETs; a read never gets an answer older than itself. Waiting for many
ASR jobs: one list per poll, and a step wakes when its own jobs end."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from adapters.ports import Job, JobHandle, VaultRef
from adapters.shared.clock import Clock
from adapters.shared.errors import NotFoundError, TransientError
from engine.model.runbook import RetryPolicy, Target
from engine.run.calls import step_adapter
from engine.run.context import Cancelled, StepContext, StepTimeout
from engine.run.items import ItemReader
from engine.run.jobs import JobTracker
from engine.run.logs import get_logger
from tests.waiting import until

SUB = "00000000-0000-0000-0000-000000000000"
VAULT = VaultRef(SUB, "woodgrove-dr", "woodgrove-asr-vault")


def context(adapter) -> StepContext:
    """What a step sees: the adapter behind the run's retries."""
    ctx = StepContext(adapter=adapter, target=Target(subscription=SUB, resource_group="woodgrove-dr"),
                      step_id="s", log=get_logger(), deadline=adapter.clock.monotonic() + 3600)
    ctx.adapter = step_adapter(adapter, RetryPolicy(attempts=1), sleep=ctx.sleep, on_retry=lambda *a: None)
    return ctx


def wait_for(condition, timeout: float = 60.0) -> None:
    """Until ``condition()`` holds: an event, however long a loaded machine takes to get there."""
    until(condition, timeout=timeout, every=0.001)


def read_together(reader, adapter, requests: list[list[str] | str], after: list | None = None):
    """Each request (VM names, or a recovery plan) from its own thread (a step of its own), started once
    its ``after`` condition holds."""
    answers: dict[int, object] = {}

    def read(index: int) -> None:
        if after and after[index] is not None:
            wait_for(after[index])
        wanted = requests[index]
        try:
            items = (reader.read_plan(context(adapter), VAULT, wanted) if isinstance(wanted, str)
                     else reader.read(context(adapter), VAULT, wanted))
            answers[index] = [i.vm_name for i in items]
        except Exception as error:  # noqa: BLE001 - the test looks at what each step got
            answers[index] = error

    threads = [threading.Thread(target=read, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [answers[i] for i in range(len(requests))]


def test_steps_that_start_together_share_one_list_and_a_lone_step_reads_with_gets(fake):
    adapter = fake({"time_scale": 0.01})
    reader = ItemReader()
    before = adapter.cloud.weather.reads
    answers = read_together(reader, adapter, [["app01", "app02"], ["web01", "app01"], ["app02", "web01"]])
    assert answers == [["app01", "app02"], ["web01", "app01"], ["app02", "web01"]]
    assert reader.lists == 1
    assert adapter.cloud.weather.reads - before == 1  # one list, where GETs would have been six

    before = adapter.cloud.weather.reads
    assert read_together(reader, adapter, [["app01", "web01"]]) == [["app01", "web01"]]
    assert reader.lists == 1
    assert adapter.cloud.weather.reads - before == 2


def test_plan_reads_that_come_while_one_is_under_way_queue_and_are_read_after_it_each_plan_once(fake):
    """A plan's read never waits for others to come: the first is sent at once. The three that come while
    it is under way queue, and one step reads theirs after it, each plan once, the plan asked for again
    too (its answer must be newer than its asking); a plan the vault does not have lists nothing."""
    adapter = fake({"latency": {"read_ms": 5_000}, "time_scale": 0.05},  # a read takes a quarter second
                   vaults={VAULT.vault: {"recovery_plans": {"data-subnet": {"groups": [["db01"]]}}}})
    reader = ItemReader()
    before = adapter.cloud.weather.reads
    under_way = lambda: adapter.cloud.weather.reads > before  # noqa: E731  the first plan's list is sent
    queued = lambda: len(reader.queued.get(VAULT, ())) == 3  # noqa: E731
    answers = read_together(reader, adapter, ["app-subnet", "data-subnet", "app-subnet", "no-such-plan"],
                            after=[None, under_way, under_way, under_way])
    assert [sorted(a) for a in answers] == [["app01", "app02", "web01"], ["db01"], ["app01", "app02", "web01"], []]
    assert adapter.cloud.weather.reads - before == 4  # the first, then the three queued, one list each
    assert reader.lists == 0 and not reader.reading and not reader.queued  # no list of the vault; all handed back
    assert not queued()

    ctx = context(adapter)
    slot: list[bool] = []
    ctx.on_waiting = slot.append
    assert sorted(i.vm_name for i in reader.read_plan(ctx, VAULT, "data-subnet")) == ["db01"]
    assert slot == [True, False]  # reading for others, or waiting on theirs: its slot free meanwhile


def test_a_step_that_stops_while_reading_plans_hands_the_reading_to_the_queued(fake):
    """The step reading is interrupted in its read: it stops, and the steps queued behind it are not
    left waiting: one of them reads for both."""
    adapter = fake({"time_scale": 0.01})
    reader = ItemReader()
    stopping = context(adapter)

    def interrupted(vault, plan=None):
        wait_for(lambda: len(reader.queued.get(VAULT, ())) == 2)  # the others queued behind this read
        raise Cancelled("interrupted")

    stopping.adapter = SimpleNamespace(replication=SimpleNamespace(list_protected_items=interrupted))
    outcome: dict[str, object] = {}

    def first() -> None:
        try:
            reader.read_plan(stopping, VAULT, "app-subnet")
        except Cancelled as error:
            outcome["first"] = error

    thread = threading.Thread(target=first)
    thread.start()
    wait_for(lambda: VAULT in reader.reading)
    before = adapter.cloud.weather.reads
    answers = read_together(reader, adapter, ["app-subnet", "app-subnet"])
    thread.join()
    assert isinstance(outcome.get("first"), Cancelled)
    assert answers == [["app01", "app02", "web01"]] * 2
    assert adapter.cloud.weather.reads - before == 1  # read once, by one of the two
    assert not reader.reading and not reader.queued


def test_a_step_gives_its_slot_back_while_it_reads_with_others(fake):
    """Gathering for a shared read is waiting, not acting: the run may start another step meanwhile
    (which may join the read); a single item's GET keeps the slot."""
    adapter = fake({"time_scale": 0.01})
    ctx = context(adapter)
    slot: list[bool] = []  # what the step told the run: True, waiting (its slot free); False, acting again
    ctx.on_waiting = slot.append
    assert [i.vm_name for i in ItemReader().read(ctx, VAULT, ["app01", "web01"])] == ["app01", "web01"]
    assert slot == [True, False]
    slot.clear()
    assert [i.vm_name for i in ItemReader().read(ctx, VAULT, ["db01"])] == ["db01"]
    assert slot == []


def test_a_read_never_joins_a_list_already_under_way(fake):
    """A read that arrives while the others' list is being answered gathers anew: its answer is read
    after it asked."""
    adapter = fake({"latency": {"read_ms": 20_000}, "time_scale": 0.05})  # the list takes a real second
    reader = ItemReader()  # gathers for 1 simulated second: 50 ms
    before = adapter.cloud.weather.reads
    list_sent = lambda: adapter.cloud.weather.reads > before  # noqa: E731  the list is under way
    answers = read_together(reader, adapter, [["app01", "app02"], ["web01", "app01"], ["app02", "web01"]],
                            after=[None, None, list_sent])
    assert answers == [["app01", "app02"], ["web01", "app01"], ["app02", "web01"]]
    assert reader.lists == 1
    assert adapter.cloud.weather.reads - before == 1 + 2  # the shared list, then the late step's GETs


def test_each_step_of_a_shared_read_gets_its_own_answer(fake):
    adapter = fake({"time_scale": 0.01})
    answers = read_together(ItemReader(), adapter, [["app01", "gone01"], ["web01", "app02"]])
    assert isinstance(answers[0], NotFoundError) and "gone01" in str(answers[0]) and answers[0].status == 404
    assert answers[1] == ["web01", "app02"]


def test_a_simulation_reads_alone(fake):
    adapter = fake()
    reader = ItemReader(inline=True)
    assert [i.vm_name for i in reader.read(context(adapter), VAULT, ["app01", "app02"])] == ["app01", "app02"]
    assert reader.lists == 0
    with pytest.raises(NotFoundError):
        reader.read(context(adapter), VAULT, ["gone01", "app01"])


def test_a_failed_shared_list_fails_every_step_that_shared_it(fake):
    adapter = fake({"time_scale": 0.01, "faults": {"transient_rate": 1.0, "seed": 3}})
    answers = read_together(ItemReader(), adapter, [["app01", "app02"], ["web01", "app02"]])
    assert all(isinstance(a, TransientError) for a in answers)
    assert answers[0] is not answers[1]  # each step raises its own
    assert answers[0].status == answers[1].status


class Jobs:
    """ASR's jobs, as the tracker polls them: each finishes when the test says so."""

    def __init__(self):
        self.done: set[str] = set()
        self.lists: list[set[str]] = []

    def list_jobs(self, vault, job_ids):
        self.lists.append(set(job_ids))
        return [Job(id=j, state="Succeeded" if j in self.done else "InProgress") for j in job_ids]

    def get_job(self, vault, job_id):
        return self.list_jobs(vault, [job_id])[0]


def test_a_poll_wakes_only_the_steps_whose_jobs_finished():
    """Two steps wait on their own jobs, polled together with one list per poll; when one job ends,
    its step goes on, and the other keeps waiting until its own job ends."""
    jobs = Jobs()
    tracker = JobTracker(jobs, Clock(0.001), 5.0, get_logger())  # a poll every 5 ms of real time
    returned: dict[str, float] = {}

    def wait(job_id: str) -> None:
        tracker.wait([JobHandle(VAULT, job_id, "PlannedFailover", job_id)], lambda: None)
        returned[job_id] = time.monotonic()

    threads = {j: threading.Thread(target=wait, args=(j,)) for j in ("a", "b")}
    for thread in threads.values():
        thread.start()
    wait_for(lambda: {"a", "b"} in jobs.lists)  # one read for both
    assert returned == {}
    jobs.done.add("a")
    threads["a"].join(timeout=60)
    assert set(returned) == {"a"}
    polls = len(jobs.lists)
    wait_for(lambda: len(jobs.lists) >= polls + 2)  # b's job seen unfinished twice more
    assert set(returned) == {"a"}, "the other step went on before its job ended"
    jobs.done.add("b")
    threads["b"].join(timeout=60)
    assert set(returned) == {"a", "b"}
    tracker.stop()


def test_a_waiting_step_sleeps_until_its_job_ends_without_looking_at_the_clock():
    """A step waiting on a job is woken once, when the poll sees its job end: thousands can wait at once
    without each waking every poll interval to look at its deadline."""
    jobs = Jobs()
    tracker = JobTracker(jobs, Clock(0.001), 5.0, get_logger())  # a poll every 5 ms of real time
    looked: list[float] = []
    waiting = threading.Thread(target=lambda: tracker.wait([JobHandle(VAULT, "a", "PlannedFailover", "a")],
                                                           lambda: looked.append(time.monotonic()),
                                                           deadline=tracker.clock.monotonic() + 3600))
    waiting.start()
    wait_for(lambda: len(jobs.lists) >= 10)  # ten polls saw the job still running
    jobs.done.add("a")
    waiting.join(timeout=60)
    assert not waiting.is_alive()
    assert looked == []  # never woken before its job ended
    tracker.stop()


def test_a_waiting_step_is_woken_at_its_deadline_and_at_an_interrupt():
    """The poller wakes a step whose deadline has passed (its check then raises); ``wake_all`` wakes every
    waiting step at once (the run is being interrupted), long before its deadline."""
    jobs = Jobs()
    clock = Clock(0.001)
    tracker = JobTracker(jobs, clock, 5.0, get_logger())
    outcome: dict[str, str] = {}
    interrupted = threading.Event()

    def wait(job_id: str, deadline: float) -> None:
        def check() -> None:
            if interrupted.is_set():
                raise Cancelled("interrupted")
            if clock.monotonic() >= deadline:
                raise StepTimeout("past its deadline")
        try:
            tracker.wait([JobHandle(VAULT, job_id, "PlannedFailover", job_id)], check, deadline=deadline)
            outcome[job_id] = "finished"
        except (Cancelled, StepTimeout) as error:
            outcome[job_id] = type(error).__name__

    soon = threading.Thread(target=wait, args=("soon", clock.monotonic() + 30))  # 30 ms of real time
    soon.start()
    soon.join(timeout=60)
    assert outcome == {"soon": "StepTimeout"}
    late = threading.Thread(target=wait, args=("late", clock.monotonic() + 3_600_000))  # an hour of real time
    late.start()
    wait_for(lambda: any("late" in polled for polled in jobs.lists))
    interrupted.set()
    tracker.wake_all()
    late.join(timeout=60)
    assert outcome["late"] == "Cancelled"
    assert not jobs.done  # neither job ever ended
    tracker.stop()


def test_a_poll_of_many_jobs_takes_a_read_for_each_page_back_to_the_oldest_job_followed():
    """Jobs are listed newest first: a poll reads every job this run followed since the oldest one still
    running, a read per 100; the list's first read is taken by the call, the others by the tracker."""
    jobs = Jobs()
    paced: list[int] = []
    tracker = JobTracker(jobs, Clock(0.001), 5.0, get_logger(), pace=paced.append)
    finished_first = [JobHandle(VAULT, f"old{i}", "UpdateProtectedItem", f"vm{i}") for i in range(250)]
    jobs.done.update(h.job_id for h in finished_first)
    tracker.wait(finished_first, lambda: None, deadline=tracker.clock.monotonic() + 3600)
    assert paced[-1] == 2  # 250 jobs: three pages
    waiting = [JobHandle(VAULT, f"new{i}", "PlannedFailover", f"plan{i}") for i in range(2)]
    jobs.done.update(h.job_id for h in waiting)
    tracker.wait(waiting, lambda: None, deadline=tracker.clock.monotonic() + 3600)
    assert paced[-1] == 0  # the two newest jobs: one page, the old ones behind them not read
    tracker.stop()


def test_an_old_job_behind_many_new_ones_is_read_alone_not_by_listing_back_to_it():
    """A plan's failover started before five hundred target-IP updates: listing back to it would read six
    pages per poll; the poll lists the recent jobs (a page) and reads the old one with a GET."""
    jobs = Jobs()
    paced: list[int] = []
    tracker = JobTracker(jobs, Clock(0.001), 5.0, get_logger(), pace=paced.append)
    old = JobHandle(VAULT, "plan", "PlannedFailover", "plan01")
    waiting = threading.Thread(target=tracker.wait, args=([old], lambda: None),
                               kwargs={"deadline": tracker.clock.monotonic() + 3600})
    waiting.start()
    updates = [JobHandle(VAULT, f"update{i}", "UpdateProtectedItem", f"vm{i}") for i in range(500)]
    jobs.done.update(h.job_id for h in updates[:495])
    tracker.wait(updates[:495], lambda: None, deadline=tracker.clock.monotonic() + 3600)
    recent = threading.Thread(target=tracker.wait, args=(updates[495:], lambda: None),
                              kwargs={"deadline": tracker.clock.monotonic() + 3600})
    recent.start()
    polls = len(jobs.lists)
    wait_for(lambda: {"update495", "update499"} <= set().union(*jobs.lists[polls:]))
    later = jobs.lists[polls:]
    assert {"update495", "update496", "update497", "update498", "update499"} in later  # listed together
    assert {"plan"} in later and not any("plan" in polled and len(polled) > 1 for polled in later)
    assert paced[-1] == 0  # the list of the five: one page
    jobs.done.update({"plan", *(h.job_id for h in updates[495:])})
    waiting.join(timeout=60)
    recent.join(timeout=60)
    assert not waiting.is_alive() and not recent.is_alive()
    tracker.stop()
