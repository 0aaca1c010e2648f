"""CPython's cyclic garbage collector, paused while a runbook is loaded or simulated and while a fake
estate is opened.

The collector runs every few hundred allocations and, as the heap grows, walks all of it. Loading and
simulating a runbook allocate hundreds of thousands of objects that live until the end of the command
(the model, each step's record and changes, the estate copy's documents), so those walks find next to
nothing: at 5,000 VMs, validate + plan take 5.1 s with the collector on and 4.0 s with it paused
(docs/performance.md). Reference counting frees everything else as it goes; the few reference cycles
made meanwhile wait for the collector's next run after the pause.
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
        gc.enable()
