"""CPython's cyclic garbage collector, paused while a runbook is loaded or simulated and while a fake
estate is opened.

The collector runs every few hundred allocations and, as the heap grows, walks all of it. Loading and
simulating a runbook allocate hundreds of thousands of objects that live until the end of the command
(the model, each step's record and changes, the estate copy's documents), so those walks find next to
nothing. What is still alive when the pause ends is frozen (``gc.freeze``): it lives as long as the
command, and the first collection after the pause would otherwise walk all of it (0.5 s after a
simulation of 5,000 VMs; docs/performance.md). Reference counting frees everything else as it goes;
a reference cycle made during the pause and still uncollected at its end is kept until the process
ends (every command is a process of its own, so that is bounded).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """The collector off for the block, then back as it was (nesting leaves it to the outermost)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()  # what lived through the pause lives on: never walked again
        gc.enable()
