"""Retries: a runbook's ``retry:`` block as tenacity policies, applied exactly once per error.

Each transient error is retried where it happens, at the adapter call: reads and idempotent writes
(PUTs, prefix and record updates) are simply sent again, after an exponential back-off with jitter,
capped at ``max`` and never shorter than the service's ``Retry-After``. A write that starts an ASR job
(``JOB_OPERATIONS``: the ``start_*`` calls and the target-network update) is not idempotent, so it is
re-sent only after a 429 (refused before it was looked at);
any other transient or unknown outcome goes back to the step, which reads the real state again before
deciding anything (and attaches to the job if the start did happen). An error the call layer already
retried is never retried again by the step, so attempts never multiply.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import tenacity

from adapters.ports import JOB_OPERATIONS, WRITE_OPERATIONS
from adapters.shared.errors import ThrottledError, TransientError, UnknownOutcomeError
from engine.model.runbook import RetryPolicy

RETRYABLE = (TransientError, UnknownOutcomeError)
TOGETHER = 50  # reads whose tokens ``RetryingPort.each`` takes at once: a fifth of ARM's read bucket at most
T = TypeVar("T")


def wait_for(policy: RetryPolicy) -> Callable[[tenacity.RetryCallState], float]:
    backoff = tenacity.wait_exponential_jitter(multiplier=policy.initial, max=policy.max, jitter=policy.initial)

    def wait(state: tenacity.RetryCallState) -> float:
        delay = min(backoff(state), policy.max)
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        return max(delay, retry_after) if retry_after else delay

    return wait


def _not_yet_retried(error: BaseException) -> bool:
    return isinstance(error, RETRYABLE) and not getattr(error, "retried", False)


def first_try_then(retrying: Callable[[], tenacity.Retrying], retryable: Callable[[BaseException], bool],
                   fn: Callable[..., T], *args, **kwargs) -> T:
    """``fn`` tried once outside tenacity, where most calls and steps end; only after an error
    ``retryable`` accepts is a ``Retrying`` made, which counts that try as its first attempt. A
    ``Retrying`` is dearer than most calls: a dozen objects and a thread-local in a reference cycle,
    left for the garbage collector (about 60 objects per step in a 5,000-step plan)."""
    try:
        return fn(*args, **kwargs)
    except Exception as error:
        if not retryable(error):
            raise
        failed = error
    return retry_after(retrying, failed, fn, *args, **kwargs)


def retry_after(retrying: Callable[[], tenacity.Retrying], error: Exception, fn: Callable[..., T],
                *args, **kwargs) -> T:
    """``fn`` retried after a first try (made elsewhere) that raised ``error``: that try counts as
    the first attempt."""
    first = [error]

    def again(*args, **kwargs):  # tenacity sees the first try's error, then tries again itself
        if first:
            raise first.pop()
        return fn(*args, **kwargs)

    return retrying()(again, *args, **kwargs)


def step_retrying(policy: RetryPolicy, *, sleep, before_sleep) -> Callable[[], tenacity.Retrying]:
    """Re-plan a step after an error no call-level retry handled (an unknown outcome, a start_*)."""
    return lambda: tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        retry=tenacity.retry_if_exception(_not_yet_retried),
        wait=wait_for(policy), sleep=sleep, before_sleep=before_sleep, reraise=True,
    )


def retried_step(policy: RetryPolicy, attempt: Callable[[], T], *, sleep, before_sleep) -> T:
    """``attempt()`` until it succeeds, fails for good, or the policy's attempts run out."""
    return first_try_then(step_retrying(policy, sleep=sleep, before_sleep=before_sleep), _not_yet_retried, attempt)


class Usage:
    """What a port's calls cost: requests sent, by read/write, and the real time spent in them."""

    def __init__(self):
        self.calls = {"read": 0, "write": 0}  # requests sent, retries included
        self.seconds = 0.0  # real seconds spent in the adapter (not engine overhead)
        self.cpu_seconds = 0.0  # of which this thread computed (an in-process fake's work, a client's parsing)


class RetryingPort:
    """A port whose every call is retried per ``policy``; the step's view of ``adapter.replication`` etc."""

    def __init__(self, port: Any, policy: RetryPolicy, *, sleep: Callable[[float], None],
                 on_retry: Callable[[str, tenacity.RetryCallState], None],
                 on_write: Callable[[str, str, str | None], None] | None = None, limiter=None,
                 usage: Usage | None = None):
        self._port = port
        self._limiter = limiter  # client-side ARM token buckets, shared by the run
        self.usage = usage or Usage()  # a step's ports share one
        self._policy = policy
        self._sleep = sleep
        self._on_retry = on_retry
        self._on_write = on_write  # None: nobody keeps a record of the writes (a plan)
        self._each: dict[str, Callable[[list[tuple]], list]] = {}  # name -> the call made for many arguments

    @property
    def calls(self) -> dict[str, int]:
        return self.usage.calls

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._port, name)
        if not callable(method):
            return method
        call, each = _retried(name, method, self.usage, self._policy, self._limiter, self._sleep,
                              self._on_retry, self._on_write)
        self.__dict__[name] = call  # built once per port: the next call skips __getattr__
        self._each[name] = each
        return call

    def each(self, name: str, arguments: list[tuple]) -> list:
        """The read ``name`` called once per tuple of ``arguments``, in order: what as many calls
        would return, at the cost of one. A recovery plan's step reads its hundred items twice, and
        the per-call work (a token, two clocks each side, four frames) made most of the step's own
        time. The tokens are taken together (``TOGETHER`` at a time) and the stretch measured once; a
        call that fails is retried as a lone call would be, and the others of its batch are made one
        by one."""
        if name not in self._each:
            getattr(self, name)  # builds the call and its form for many arguments (__getattr__)
        return self._each[name](arguments)


def _retried(name: str, method: Callable, usage: Usage, policy: RetryPolicy, limiter, sleep, on_retry,
             on_write) -> tuple[Callable, Callable[[list[tuple]], list]]:
    """``method`` retried, paced and measured, and the same for many calls at once (see
    ``RetryingPort.each``). The closures hold what they use, not the port that keeps
    them, so a port and its calls are freed as soon as the step lets go of them (no reference cycle
    left for the garbage collector)."""
    retry_on = (ThrottledError,) if name in JOB_OPERATIONS else RETRYABLE
    writes = name in WRITE_OPERATIONS
    kind = "write" if writes else "read"

    def timed(*args, **kwargs):
        usage.calls[kind] += 1
        if limiter is not None:  # a wait for a token is waiting (the step's sleep counts it)
            limiter.acquire(kind, sleep)
        started, cpu_started = time.monotonic(), time.thread_time()
        try:
            return method(*args, **kwargs)
        finally:
            usage.seconds += time.monotonic() - started
            usage.cpu_seconds += time.thread_time() - cpu_started

    def send(*args, **kwargs):
        if not writes or on_write is None:
            return timed(*args, **kwargs)
        on_write(name, "intent", _describe(args))  # on disk before the request leaves
        try:
            answer = timed(*args, **kwargs)
        except Exception as error:
            on_write(name, "failed", f"{type(error).__name__}: {error}")
            raise
        on_write(name, "done", getattr(answer, "job_id", None))
        return answer

    def retrying() -> tenacity.Retrying:
        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(policy.attempts),
            retry=tenacity.retry_if_exception_type(retry_on),
            wait=wait_for(policy), sleep=sleep,
            before_sleep=lambda state: on_retry(name, state), reraise=True,
        )

    def retryable(error: BaseException) -> bool:
        return isinstance(error, retry_on)

    def call(*args, **kwargs):
        try:
            return first_try_then(retrying, retryable, send, *args, **kwargs)
        except retry_on as error:
            error.retried = True  # the step must not retry it again
            raise

    def each(arguments: list[tuple]) -> list:  # see RetryingPort.each
        if writes:
            raise TypeError(f"{name} writes: each write is journaled and sent on its own")
        answers: list = []
        for start in range(0, len(arguments), TOGETHER):
            answers += together(arguments[start:start + TOGETHER])
        return answers

    def together(arguments: list[tuple]) -> list:
        if limiter is not None:
            limiter.acquire(kind, sleep, len(arguments))
        answers: list = []
        started, cpu_started = time.monotonic(), time.thread_time()
        try:
            for args in arguments:
                usage.calls[kind] += 1
                answers.append(method(*args))
        except Exception as error:
            failed = error
        else:
            return answers
        finally:
            usage.seconds += time.monotonic() - started
            usage.cpu_seconds += time.thread_time() - cpu_started
        rest = arguments[len(answers) + 1:]
        if limiter is not None:
            limiter.refund(kind, len(rest))  # those calls take their own tokens below
        if not retryable(failed):
            raise failed
        try:
            answers.append(retry_after(retrying, failed, send, *arguments[len(answers)]))
        except retry_on as error:
            error.retried = True
            raise
        return answers + [call(*args) for args in rest]

    return call, each


PORTS = ("replication", "network", "dns")


class RetryingAdapter:
    """The adapter as one step sees it: the same estate, every port call under the step's retry policy.
    A port is wrapped when the step first uses it (most steps use one), and the step's calls are
    counted together."""

    def __init__(self, adapter: Any, policy: RetryPolicy, *, sleep, on_retry, on_write=None, limiter=None):
        self.inner = adapter
        self.name = adapter.name
        self.writes_real_cloud = adapter.writes_real_cloud
        self.clock = adapter.clock
        self.secrets = adapter.secrets
        self.usage = Usage()
        self._policy = policy
        self._ports = {"sleep": sleep, "on_retry": on_retry, "on_write": on_write, "limiter": limiter,
                       "usage": self.usage}

    def __getattr__(self, name: str) -> RetryingPort:  # replication, network, dns: on first use
        if name not in PORTS:
            raise AttributeError(name)
        port = self.__dict__[name] = RetryingPort(getattr(self.inner, name), self._policy, **self._ports)
        return port

    @property
    def call_s(self) -> float:
        return self.usage.seconds

    @property
    def call_cpu_s(self) -> float:
        return self.usage.cpu_seconds

    @property
    def calls(self) -> dict[str, int]:
        return dict(self.usage.calls)


def _describe(args: tuple) -> str:
    """The target of a write, for the journal: resource IDs and names, never a body (it may hold a key)."""
    return " ".join(str(getattr(a, "vault", a)) for a in args if isinstance(a, str) or hasattr(a, "vault"))
