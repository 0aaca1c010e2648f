"""A step's calls to the cloud, through a chain of small policies, in the style of azure-core's
pipeline: each policy does one thing and hands the call on to the next; the last sends it.

    Retry -> JournalWrites -> Pace -> Tally -> Send

``Retry`` applies the step's retry policy (see ``engine.run.retry``); ``JournalWrites`` records a
mutating call's intent before it leaves and its outcome after; ``Pace`` takes a token of the run's
client-side ARM buckets, waiting for one rather than drawing a 429; ``Tally`` counts the requests and the
real time spent in the adapter (what is not engine overhead); ``Send`` calls the port. ``step_adapter``
puts the chain together for a step; each policy can be tested alone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import tenacity

from adapters.ports import (
    GETS_OF_EACH,
    JOB_OPERATIONS,
    LIST_PAGE,
    PAGED_LISTS,
    PLAN_ITEMS_MAX,
    WRITE_OPERATIONS,
    DnsPort,
    NetworkPort,
    ReplicationPort,
)
from adapters.shared.errors import ThrottledError
from engine.model.runbook import RetryPolicy
from engine.run.retry import RETRYABLE, retried_after, retrying


@dataclass(frozen=True)
class Call:
    port: str  # replication, network or dns
    name: str  # the port method
    args: tuple
    kwargs: dict

    @property
    def writes(self) -> bool:
        return self.name in WRITE_OPERATIONS

    @property
    def bucket(self) -> str:
        return "write" if self.writes else "read"

    @property
    def requests(self) -> int:
        """The requests it sends, as far as known before it is sent: a GET of each resource named is one
        per name; a paged list counts as one here (its pages are known from its answer)."""
        if self.name in GETS_OF_EACH:
            return len(self.args[1] if len(self.args) > 1 else self.kwargs["items"])
        return 1


class Policy:
    next: Policy

    def send(self, call: Call) -> Any:
        return self.next.send(call)


def chain(*policies: Policy) -> Policy:
    """The policies linked in order; the first is where a call enters."""
    for policy, after in zip(policies, policies[1:], strict=False):
        policy.next = after
    return policies[0]


class Send(Policy):
    """The end of the chain: the adapter's port method itself."""

    def __init__(self, adapter):
        self.ports = {"replication": adapter.replication, "network": adapter.network, "dns": adapter.dns}

    def send(self, call: Call) -> Any:
        return getattr(self.ports[call.port], call.name)(*call.args, **call.kwargs)


class Retry(Policy):
    """Transient errors sent again per the step's policy; a write that starts an ASR job only after a
    429. An error given up on is marked ``retried``: the step does not retry it again."""

    def __init__(self, policy: RetryPolicy, *, sleep: Callable[[float], None],
                 on_retry: Callable[[str, tenacity.RetryCallState], None]):
        self.policy, self.sleep, self.on_retry = policy, sleep, on_retry

    def send(self, call: Call) -> Any:
        try:  # most calls end at their first try: nothing of the retry loop is made for them
            return self.next.send(call)
        except Exception as error:
            retry_on = (ThrottledError,) if call.name in JOB_OPERATIONS else RETRYABLE
            if not isinstance(error, retry_on):
                raise
            first = error

        def retryable(error: BaseException) -> bool:
            return isinstance(error, retry_on)

        def make() -> tenacity.Retrying:
            return retrying(self.policy, retryable, sleep=self.sleep,
                            before_sleep=lambda state: self.on_retry(call.name, state))

        try:
            return retried_after(first, make, lambda: self.next.send(call))
        except retry_on as error:
            error.retried = True
            raise


class JournalWrites(Policy):
    """A mutating call's intent recorded before it is sent (``record(operation, phase, detail)``), then
    ``done`` with the job it started, or ``failed``."""

    def __init__(self, record: Callable[[str, str, str | None], None]):
        self.record = record

    def send(self, call: Call) -> Any:
        if not call.writes:
            return self.next.send(call)
        self.record(call.name, "intent", describe(call.args))
        try:
            answer = self.next.send(call)
        except Exception as error:
            self.record(call.name, "failed", f"{type(error).__name__}: {error}")
            raise
        self.record(call.name, "done", getattr(answer, "job_id", None))
        return answer


class Pace(Policy):
    """A token of the run's ARM buckets before each request; waiting for one is waiting (``sleep`` is the
    step's, which counts it so). A GET of several resources takes a token for each before it is sent,
    as a paged list takes its pages'. A paged list costs a read per page: it takes as many tokens as the same
    list's pages the last time before it is sent, and settles the difference once its answer shows how
    many pages it took. The first time, its size unknown, it takes a whole bucket and gives back what it
    did not use: a list of fifty pages sent on one token into a nearly empty bucket draws 429s."""

    def __init__(self, limiter, sleep: Callable[[float], None]):
        self.limiter, self.sleep = limiter, sleep

    def send(self, call: Call) -> Any:
        if call.name not in PAGED_LISTS:
            self.limiter.acquire(call.bucket, self.sleep, call.requests)
            return self.next.send(call)
        key = (call.name, *map(str, call.args), *(f"{k}={v}" for k, v in sorted(call.kwargs.items())))
        # One list of a resource at a time: lists sent apart can still have their pages read together (a
        # service slow to answer the first), a burst over the bucket's size that pacing at the send misses.
        with self.limiter.listing(key):
            expected = self.limiter.pages.get(key) or self.first_guess(call)
            self.limiter.acquire("read", self.sleep, expected)
            answer = self.next.send(call)
            pages = max(1, math.ceil(len(answer) / LIST_PAGE))
            self.limiter.pages[key] = pages
            if pages > expected:
                self.limiter.acquire("read", self.sleep, pages - expected)
            elif pages < expected:
                self.limiter.refund("read", expected - pages)
        return answer

    def first_guess(self, call: Call) -> int:
        """The pages of a list never read before: a recovery plan's items fit one (a plan holds at most
        ``PLAN_ITEMS_MAX``); anything else may be as large as the bucket."""
        if call.name == "list_protected_items" and _plan_of(call) is not None:
            return math.ceil(PLAN_ITEMS_MAX / LIST_PAGE)
        return int(self.limiter.buckets["read"].size)


def _plan_of(call: Call) -> str | None:
    return call.args[1] if len(call.args) > 1 else call.kwargs.get("plan")


@dataclass
class Tally(Policy):
    """What a step's calls cost: requests by read/write, the real seconds spent in the adapter, and the
    CPU seconds of those (an in-process fake's work, a client's parsing)."""

    calls: dict[str, int] = field(default_factory=lambda: {"read": 0, "write": 0})
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    cpu_clock: Callable[[], float] = time.thread_time  # the run's (see ``Runner.cpu_clock``)

    def send(self, call: Call) -> Any:
        self.calls[call.bucket] += call.requests
        cpu_clock = self.cpu_clock
        started, cpu_started = time.monotonic(), cpu_clock()
        try:
            return self.next.send(call)
        finally:
            self.seconds += time.monotonic() - started
            self.cpu_seconds += cpu_clock() - cpu_started


def describe(args: tuple) -> str:
    """The target of a write, for the journal: resource IDs and names, never a body (it may hold a key)."""
    return " ".join(str(getattr(a, "vault", a)) for a in args if isinstance(a, str) or hasattr(a, "vault"))


class PortView:
    """A port whose every method sends its call through a chain of policies. The methods are the port
    protocol's own (``view_class``): a misspelt one is an AttributeError, as on the port itself."""

    def __init__(self, pipeline: Policy):
        self._pipeline = pipeline


def _protocol_methods(protocol: type) -> list[str]:
    return [name for name, value in vars(protocol).items() if callable(value) and not name.startswith("_")]


def view_class(port: str, protocol: type) -> type[PortView]:
    def method(name: str):
        def call(self, *args, **kwargs):
            return self._pipeline.send(Call(port, name, args, kwargs))

        call.__name__ = name
        return call

    return type(f"{protocol.__name__}View", (PortView,), {n: method(n) for n in _protocol_methods(protocol)})


VIEWS = {"replication": view_class("replication", ReplicationPort), "network": view_class("network", NetworkPort),
         "dns": view_class("dns", DnsPort)}


class StepAdapter:
    """The adapter as one step sees it: the same estate, every port call through the step's chain."""

    def __init__(self, adapter, pipeline: Policy, tally: Tally):
        self.name = adapter.name
        self.writes_real_cloud = adapter.writes_real_cloud
        self.clock = adapter.clock
        self.secrets = adapter.secrets
        self.tally = tally
        self.replication = VIEWS["replication"](pipeline)
        self.network = VIEWS["network"](pipeline)
        self.dns = VIEWS["dns"](pipeline)


def step_adapter(adapter, policy: RetryPolicy, *, sleep: Callable[[float], None],
                 on_retry: Callable[[str, tenacity.RetryCallState], None],
                 record_write: Callable[[str, str, str | None], None] | None = None, limiter=None,
                 cpu_clock: Callable[[], float] = time.thread_time) -> StepAdapter:
    """``adapter`` as a step sees it: retried per ``policy``, its writes journaled (when something keeps a
    record), paced under ``limiter`` (when the run paces itself), counted (CPU by ``cpu_clock``)."""
    tally = Tally(cpu_clock=cpu_clock)
    policies: list[Policy] = [Retry(policy, sleep=sleep, on_retry=on_retry)]
    if record_write is not None:
        policies.append(JournalWrites(record_write))
    if limiter is not None:
        policies.append(Pace(limiter, sleep))
    policies += [tally, Send(adapter)]
    return StepAdapter(adapter, chain(*policies), tally)
