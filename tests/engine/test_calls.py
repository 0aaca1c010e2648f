"""A step's calls go through small policies, each tested alone here: the retry of transient errors (and
of nothing else), the journal of a write's intent and outcome, the pacing under ARM's buckets, the tally
of requests; then the chain a step uses, put together."""

from __future__ import annotations

import threading

import pytest

from adapters.ports import JobHandle, VaultRef
from adapters.shared.errors import NotFoundError, ThrottledError, TransientError, UnknownOutcomeError
from engine.model.runbook import RetryPolicy
from engine.run.calls import VIEWS, Call, JournalWrites, Pace, Policy, Retry, Tally, chain, step_adapter
from engine.run.pacing import RateLimiter

VAULT = VaultRef("s", "rg", "v")


class Answer(Policy):
    """The end of a chain: answers each call from a script (an exception is raised), and keeps the calls."""

    def __init__(self, *script):
        self.script = list(script)
        self.calls: list[Call] = []

    def send(self, call: Call):
        self.calls.append(call)
        answer = self.script.pop(0) if self.script else "ok"
        if isinstance(answer, Exception):
            raise answer
        return answer


def read(name: str = "get_protected_item") -> Call:
    return Call("replication", name, (VAULT, "app01"), {})


def retry(attempts: int = 3, *, slept: list | None = None, retried: list | None = None) -> Retry:
    return Retry(RetryPolicy(attempts=attempts, initial=1.0, max=4.0), sleep=(slept if slept is not None else []).append,
                 on_retry=lambda name, state: (retried if retried is not None else []).append(name))


def test_retry_sends_a_transient_error_again_never_sooner_than_its_retry_after():
    slept, retried = [], []
    end = Answer(ThrottledError("slow down", retry_after=9.0), TransientError("busy"), "item")
    assert chain(retry(slept=slept, retried=retried), end).send(read()) == "item"
    assert len(end.calls) == 3 and retried == ["get_protected_item"] * 2
    assert slept[0] >= 9.0 and slept[1] <= 4.0  # the service's Retry-After; then the policy's back-off, capped


def test_retry_gives_up_after_the_policys_attempts_and_marks_the_error():
    end = Answer(*[TransientError("busy") for _ in range(5)])
    with pytest.raises(TransientError) as raised:
        chain(retry(attempts=3), end).send(read())
    assert len(end.calls) == 3 and raised.value.retried  # the step does not retry it once more


def test_retry_leaves_a_permanent_error_alone():
    missing = NotFoundError("no such item", status=404)
    end = Answer(missing)
    with pytest.raises(NotFoundError) as raised:
        chain(retry(), end).send(read())
    assert raised.value is missing and len(end.calls) == 1


@pytest.mark.parametrize("error, sent", [(ThrottledError("429", retry_after=1.0), 2), (TransientError("503"), 1),
                                         (UnknownOutcomeError("no answer"), 1)])
def test_a_write_that_starts_a_job_is_sent_again_only_after_a_429(error, sent):
    """A failover accepted and then unanswered must not be sent twice: only a 429, refused before it was
    looked at, is; anything else goes back to the step, which reads the state again."""
    end = Answer(error, JobHandle(VAULT, "job1", "PlannedFailover", "app01"))
    start = Call("replication", "start_failover", (VAULT, "app01", "planned"), {})
    try:
        chain(retry(), end).send(start)
    except type(error):
        pass
    assert len(end.calls) == sent


def test_journal_writes_records_the_intent_before_the_call_and_its_outcome_after():
    records = []
    end = Answer(JobHandle(VAULT, "job1", "PlannedFailover", "app01"), TransientError("busy"))

    class Watch(Policy):  # the intent is on record when the call reaches the service
        def send(self, call):
            assert not call.writes or records[-1][1] == "intent"
            return self.next.send(call)

    journal = chain(JournalWrites(lambda *row: records.append(row)), Watch(), end)
    start = Call("replication", "start_failover", (VAULT, "app01", "planned"), {})
    journal.send(start)
    with pytest.raises(TransientError):
        journal.send(start)
    journal.send(read())
    assert [(op, phase) for op, phase, _ in records] == [
        ("start_failover", "intent"), ("start_failover", "done"), ("start_failover", "intent"),
        ("start_failover", "failed")]  # a read is not journaled
    assert records[1][2] == "job1" and "app01" in records[0][2]


def test_pace_takes_a_token_of_the_calls_bucket_and_waits_for_one_when_empty():
    class Frozen:
        def monotonic(self):
            return 0.0

    waits = []
    limiter = RateLimiter((2, 1), (1, 1), Frozen(), margin=1.0)
    paced = chain(Pace(limiter, waits.append), Answer())
    for _ in range(3):
        paced.send(read())
    paced.send(Call("network", "put_route", ("t", None), {}))
    assert waits == [1.0]  # the third read waited a second for its token; the write had its own bucket
    assert limiter.buckets["write"].tokens == 0


def watched_pacing(*answers):
    """Pacing under a read bucket of 100 whose clock never moves (it refills nothing), then a note of
    the tokens taken as each call leaves, then ``answers``."""
    class Frozen:
        def monotonic(self):
            return 0.0

    limiter = RateLimiter((100, 1), (100, 1), Frozen(), margin=1.0)
    taken: list[float] = []

    class Watch(Policy):
        def send(self, call):
            taken.append(100 - limiter.buckets["read"].tokens)
            return self.next.send(call)

    return limiter, taken, chain(Pace(limiter, lambda s: None), Watch(), Answer(*answers))


def test_a_paged_list_takes_a_token_per_page_before_it_is_sent_once_its_size_is_known():
    """ARM charges a list a read per page: the first list of 250 items, its size unknown, takes the whole
    bucket as it is sent and gives back all but its three pages once its answer shows them; the same list
    again takes its three before it is sent, and gives back what it did not use when the answer is
    shorter."""
    limiter, taken, paced = watched_pacing(["item"] * 250, ["item"] * 250, ["item"] * 50)
    items = Call("replication", "list_protected_items", (VAULT,), {})
    paced.send(items)
    assert (taken, limiter.buckets["read"].tokens) == ([100], 97)
    paced.send(items)
    assert (taken[1], limiter.buckets["read"].tokens) == (6, 94)  # three more, taken before it left
    paced.send(items)
    assert (taken[2], limiter.buckets["read"].tokens) == (9, 93)  # three taken, two given back
    paced.send(read())
    assert limiter.buckets["read"].tokens == 92  # a GET: one


def test_a_recovery_plans_list_never_read_before_takes_one_page_not_the_bucket():
    """A plan holds at most 100 items, one page: its first list takes one token as it leaves, where a
    list of the vault, its size unknown, takes the bucket (and then gives back what it did not use)."""
    limiter, taken, paced = watched_pacing(["item"] * 100, ["item"] * 100, ["item"] * 300)
    paced.send(Call("replication", "list_protected_items", (VAULT, "plan-1"), {}))
    paced.send(Call("replication", "list_protected_items", (VAULT,), {"plan": "plan-2"}))
    assert (taken, limiter.buckets["read"].tokens) == ([1, 2], 98)
    paced.send(Call("replication", "list_protected_items", (VAULT,), {}))
    assert (taken[2], limiter.buckets["read"].tokens) == (102, 95)  # a bucket's worth, from 98; 97 back


def test_a_get_of_several_items_takes_a_token_for_each_before_it_is_sent():
    """One call, a GET per item named: ARM charges each, so the bucket is charged for each up front (by
    position or by keyword), and waiting for the last token is waiting before the first GET."""
    class Frozen:
        def monotonic(self):
            return 0.0

    waits: list[float] = []
    limiter = RateLimiter((5, 1), (5, 1), Frozen(), margin=1.0)
    paced = chain(Pace(limiter, waits.append), Answer())
    paced.send(Call("replication", "get_protected_items", (VAULT, ["a", "b", "c"]), {}))
    assert (limiter.buckets["read"].tokens, waits) == (2, [])
    paced.send(Call("replication", "get_protected_items", (VAULT,), {"items": ["d", "e", "f", "g"]}))
    assert (limiter.buckets["read"].tokens, waits) == (-2, [2.0])  # two short: two seconds at 1 a second
    assert limiter.buckets["write"].tokens == 5


def test_tally_counts_reads_and_writes_and_the_time_spent_in_them():
    tally = Tally()
    chain(tally, Answer()).send(read())
    chain(tally, Answer()).send(Call("dns", "put_a_record", ("z", "n", [], 60), {}))
    assert tally.calls == {"read": 1, "write": 1} and tally.seconds >= 0
    chain(tally, Answer()).send(Call("replication", "get_protected_items", (VAULT, ["a", "b", "c"]), {}))
    assert tally.calls == {"read": 4, "write": 1}  # a GET per item: requests, not calls


def test_a_port_view_has_the_ports_methods_and_no_other():
    end = Answer("item")
    view = VIEWS["replication"](end)
    assert view.get_protected_item(VAULT, "app01") == "item"
    assert end.calls[0] == Call("replication", "get_protected_item", (VAULT, "app01"), {})
    with pytest.raises(AttributeError):
        view.get_protected_itme(VAULT, "app01")  # noqa: B018  a misspelt method is not sent anywhere


def test_a_step_adapter_journals_each_attempt_of_a_write_and_counts_every_request(fake):
    """The chain a step uses: a write refused with a 429 is journaled, paced and counted at each attempt."""
    adapter = fake()
    records = []
    limiter = RateLimiter((100, 10), (100, 10), adapter.clock)
    view = step_adapter(adapter, RetryPolicy(attempts=3, initial=0.0, max=0.0), sleep=lambda s: None,
                        on_retry=lambda *a: None, record_write=lambda *row: records.append(row), limiter=limiter)
    table = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/woodgrove-dr/providers/" \
            "Microsoft.Network/routeTables/woodgrove-rt"
    assert view.network.get_route_table(table).name == "woodgrove-rt"
    view.network.delete_route(table, "onprem-app")
    assert view.tally.calls == {"read": 1, "write": 1}
    assert [(op, phase) for op, phase, _ in records] == [("delete_route", "intent"), ("delete_route", "done")]
    assert limiter.buckets["write"].tokens < 100 * 0.95


def test_two_lists_of_one_resource_are_never_read_at_once():
    """Lists sent apart can have their pages read together when the service is slow to answer the first:
    a burst over the bucket that pacing at the send does not see. One list of a resource at a time."""

    class Frozen:
        def monotonic(self):
            return 0.0

    limiter = RateLimiter((1000, 1), (100, 1), Frozen(), margin=1.0)
    first_in, release = threading.Event(), threading.Event()
    inside: list[int] = []

    class Slow(Policy):
        def send(self, call):
            inside.append(1)
            overlap = len(inside)
            if not first_in.is_set():
                first_in.set()
                assert release.wait(60)
            inside.pop()
            return ["item"] * 150 if overlap == 1 else "overlapped"

    items = Call("replication", "list_protected_items", (VAULT,), {})
    paced = chain(Pace(limiter, lambda s: None), Slow())
    answers: list = []
    first = threading.Thread(target=lambda: answers.append(paced.send(items)))
    first.start()
    assert first_in.wait(60)
    second = threading.Thread(target=lambda: answers.append(paced.send(items)))
    second.start()  # were it let in now, it would find the first inside and answer "overlapped"
    release.set()
    first.join(timeout=60)
    second.join(timeout=60)
    assert answers == [["item"] * 150, ["item"] * 150]
