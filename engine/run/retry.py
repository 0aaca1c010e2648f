"""Retries: a runbook's ``retry:`` block as tenacity policies, applied exactly once per error.

Each transient error is retried where it happens, at the adapter call (``calls.Retry``): reads and
idempotent writes (PUTs, prefix and record updates) are simply sent again, after an exponential back-off
with jitter, capped at ``max`` and never shorter than the service's ``Retry-After``. A write that starts
an ASR job (``JOB_OPERATIONS``: the ``start_*`` calls and the target-network update) is not idempotent,
so it is re-sent only after a 429 (refused before it was looked at); any other transient or unknown
outcome goes back to the step, which reads the real state again before deciding anything (and attaches
to the job if the start did happen). An error the call layer already retried is marked ``retried`` and
never retried again by the step, so attempts never multiply.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import tenacity

from adapters.shared.errors import TransientError, UnknownOutcomeError
from engine.model.runbook import RetryPolicy

RETRYABLE = (TransientError, UnknownOutcomeError)
T = TypeVar("T")


def backoff(policy: RetryPolicy) -> Callable[[tenacity.RetryCallState], float]:
    """Exponential with jitter, capped at ``max``; never shorter than the error's ``Retry-After``."""
    exponential = tenacity.wait_exponential_jitter(multiplier=policy.initial, max=policy.max, jitter=policy.initial)

    def wait(state: tenacity.RetryCallState) -> float:
        delay = min(exponential(state), policy.max)
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        return max(delay, retry_after) if retry_after else delay

    return wait


def retrying(policy: RetryPolicy, retryable: Callable[[BaseException], bool], *, sleep,
             before_sleep) -> tenacity.Retrying:
    return tenacity.Retrying(stop=tenacity.stop_after_attempt(policy.attempts),
                             retry=tenacity.retry_if_exception(retryable), wait=backoff(policy), sleep=sleep,
                             before_sleep=before_sleep, reraise=True)


def after_first_try(make: Callable[[], tenacity.Retrying], retryable: Callable[[BaseException], bool],
                    fn: Callable[[], T]) -> T:
    """``fn()`` tried once; only after an error ``retryable`` accepts is the retry loop made (most calls
    and steps end at their first try), and that try counts as its first attempt."""
    try:
        return fn()
    except Exception as error:
        if not retryable(error):
            raise
        first = error
    return retried_after(first, make, fn)


def retried_after(error: BaseException, make: Callable[[], tenacity.Retrying], fn: Callable[[], T]) -> T:
    """``fn`` under the retry loop ``make`` makes, its first try already made and ended by ``error``:
    that try counts as the loop's first attempt."""
    first = [error]

    def again() -> T:
        if first:
            raise first.pop()
        return fn()

    return make()(again)


def _not_yet_retried(error: BaseException) -> bool:
    return isinstance(error, RETRYABLE) and not getattr(error, "retried", False)


def retried_step(policy: RetryPolicy, attempt: Callable[[], T], *, sleep, before_sleep) -> T:
    """``attempt()`` (read, decide, act) until it succeeds, fails for good, or the policy's attempts run
    out; re-planned only after an error no call-level retry handled (an unknown outcome, a start)."""
    return after_first_try(lambda: retrying(policy, _not_yet_retried, sleep=sleep, before_sleep=before_sleep),
                           _not_yet_retried, attempt)
