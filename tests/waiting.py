"""Waiting for an event in a test: a condition looked at again and again until it holds, with a deadline
that only stops a hang. The pause between looks is not a guess at how long the event takes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(condition: Callable[[], T], *, timeout: float = 60.0, every: float = 0.005, what: str = "the event") -> T:
    """``condition()`` once it is truthy (its value); AssertionError naming ``what`` past ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"{what} never came within {timeout:.0f} s"
        time.sleep(every)
    return value
