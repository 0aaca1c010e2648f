"""Reading many protected items with few requests: steps that start together share one list of the
vault; a step alone reads with GETs; a read never gets an answer older than itself. Waiting for many
ASR jobs: one list per poll, and a step wakes when its own jobs end."""

from __future__ import annotations

import threading
import time

import pytest

from adapters.ports import Job, JobHandle, VaultRef
from adapters.shared.clock import Clock
from adapters.shared.errors import NotFoundError, TransientError
from engine.model.runbook import RetryPolicy, Target
from engine.run.calls import step_adapter
from engine.run.context import StepContext
from engine.run.items import ItemReader
from engine.run.jobs import JobTracker
from engine.run.logs import get_logger

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
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the event never came"
        time.sleep(0.001)


def read_together(reader, adapter, requests: list[list[str]], after: list | None = None):
    """Each request from its own thread (a step of its own), started once its ``after`` condition holds."""
    answers: dict[int, object] = {}

    def read(index: int) -> None:
        if after and after[index] is not None:
            wait_for(after[index])
        try:
            answers[index] = [i.vm_name for i in reader.read(context(adapter), VAULT, requests[index])]
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
