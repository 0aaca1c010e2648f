"""The one retry layer: a runbook's ``retry:`` block as a tenacity policy.

Only transient errors (throttling, 5xx, busy resource) and unknown outcomes are retried — an unknown
outcome is safe to retry because every attempt starts by reading the real state. The wait is
exponential with jitter, capped at ``max``, and never shorter than the service's ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Callable

import tenacity

from adapters.errors import TransientError, UnknownOutcomeError
from engine.model import RetryPolicy

RETRYABLE = (TransientError, UnknownOutcomeError)


def wait_for(policy: RetryPolicy) -> Callable[[tenacity.RetryCallState], float]:
    backoff = tenacity.wait_exponential_jitter(initial=policy.initial, max=policy.max, jitter=policy.initial)

    def wait(state: tenacity.RetryCallState) -> float:
        delay = min(backoff(state), policy.max)
        error = state.outcome.exception() if state.outcome else None
        retry_after = getattr(error, "retry_after", None)
        return max(delay, retry_after) if retry_after else delay

    return wait


def retrying(policy: RetryPolicy, *, sleep: Callable[[float], None],
             before_sleep: Callable[[tenacity.RetryCallState], None]) -> tenacity.Retrying:
    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        retry=tenacity.retry_if_exception_type(RETRYABLE),
        wait=wait_for(policy),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
