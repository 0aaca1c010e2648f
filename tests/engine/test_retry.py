"""Many reads as one call (``RetryingPort.each``): the same answers, the same tokens and request
counts as lone calls, and the same retries when one of them fails."""

from __future__ import annotations

import pytest

from adapters.shared.errors import NotFoundError, TransientError
from engine.model.runbook import RetryPolicy
from engine.run.pacing import RateLimiter
from engine.run.retry import RetryingPort


class FrozenClock:
    """Time stands still: a bucket holds exactly what was not taken."""

    def monotonic(self) -> float:
        return 0.0


class Items:
    """A port whose reads of the names in ``failing`` fail with the given errors, one per read."""

    def __init__(self, failing: dict[str, list[Exception]] | None = None):
        self.failing = failing or {}
        self.asked: list[str] = []

    def get_protected_item(self, vault: str, name: str) -> str:
        self.asked.append(name)
        if self.failing.get(name):
            raise self.failing[name].pop(0)
        return f"{vault}/{name}"

    def start_commit(self, vault: str, name: str) -> str:
        return name


def port_with(items: Items, attempts: int = 3) -> tuple[RetryingPort, RateLimiter, list[str]]:
    limiter = RateLimiter((100, 1), (100, 1), FrozenClock(), margin=1.0)
    retried: list[str] = []
    port = RetryingPort(items, RetryPolicy(attempts=attempts, initial=0.0, max=0.0), sleep=lambda s: None,
                        on_retry=lambda operation, state: retried.append(operation), limiter=limiter)
    return port, limiter, retried


def tokens_taken(limiter: RateLimiter) -> float:
    return 100 - limiter.buckets["read"].tokens


def test_each_answers_in_order_and_costs_what_lone_calls_cost():
    items = Items()
    port, limiter, retried = port_with(items)
    assert port.each("get_protected_item", [("v", "a"), ("v", "b"), ("v", "c")]) == ["v/a", "v/b", "v/c"]
    assert items.asked == ["a", "b", "c"]
    assert port.calls == {"read": 3, "write": 0}
    assert tokens_taken(limiter) == 3
    assert retried == []


def test_a_read_that_fails_is_retried_and_the_rest_are_read_one_by_one():
    items = Items({"b": [TransientError("busy", status=503)]})
    port, limiter, retried = port_with(items)
    assert port.each("get_protected_item", [("v", "a"), ("v", "b"), ("v", "c")]) == ["v/a", "v/b", "v/c"]
    assert items.asked == ["a", "b", "b", "c"]
    assert port.calls["read"] == 4  # the retry is a request of its own
    assert tokens_taken(limiter) == 4  # c's token, taken with the others, went back before c took its own
    assert retried == ["get_protected_item"]


def test_a_read_that_keeps_failing_stops_after_the_policys_attempts_and_says_it_was_retried():
    items = Items({"b": [TransientError("busy", status=503) for _ in range(5)]})
    port, limiter, _ = port_with(items, attempts=3)
    with pytest.raises(TransientError) as raised:
        port.each("get_protected_item", [("v", "a"), ("v", "b"), ("v", "c")])
    assert items.asked == ["a", "b", "b", "b"]  # three tries of b, c never read
    assert raised.value.retried  # the step does not retry it once more
    assert tokens_taken(limiter) == 4


def test_an_error_that_is_not_retried_is_raised_as_the_service_gave_it():
    missing = NotFoundError("Protected item 'b' was not found", code="ProtectedItemNotFound", status=404)
    items = Items({"b": [missing]})
    port, limiter, retried = port_with(items)
    with pytest.raises(NotFoundError) as raised:
        port.each("get_protected_item", [("v", "a"), ("v", "b"), ("v", "c")])
    assert raised.value is missing
    assert items.asked == ["a", "b"]
    assert port.calls["read"] == 2 and tokens_taken(limiter) == 2
    assert retried == []


def test_writes_are_never_sent_together():
    port, _, _ = port_with(Items())
    with pytest.raises(TypeError, match="journaled"):
        port.each("start_commit", [("v", "a")])


def test_many_reads_take_their_tokens_a_batch_at_a_time():
    """A long list does not take the whole bucket in one burst: ``TOGETHER`` tokens at a time."""
    from engine.run import retry

    waits: list[float] = []
    items = Items()
    limiter = RateLimiter((retry.TOGETHER, 1), (100, 1), FrozenClock(), margin=1.0)
    port = RetryingPort(items, RetryPolicy(), sleep=waits.append, on_retry=lambda *a: None, limiter=limiter)
    names = [("v", f"vm{i}") for i in range(retry.TOGETHER * 2 + 1)]
    assert port.each("get_protected_item", names) == [f"v/vm{i}" for i in range(len(names))]
    assert port.calls["read"] == len(names)
    # the first batch empties the bucket; the second waits for its 50 tokens, the last for one more
    assert waits == [retry.TOGETHER, retry.TOGETHER + 1]
