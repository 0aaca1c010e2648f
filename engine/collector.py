"""CPython's cyclic garbage collector, paused while a runbook is loaded or simulated and while a fake
estate is opened.

The collector runs every few hundred allocations and, as the heap grows, walks all of it. Loading and
simulating a runbook allocate hundreds of thousands of objects that live until the end of the command
(the model, each step's record and changes, the estate copy's documents), so those walks find next to
nothing. Reference counting frees everything else as it goes; the few reference cycles made meanwhile
wait for the collector's next run after the pause.

Where what the block made lives as long as the command (a loaded runbook, an opened estate), ``keep``
freezes it at the end (``gc.freeze``), so that no later collection walks it again. Not after a
simulation: freezing would keep its garbage for good (a cycle is freed only by the collector, and a
frozen object is never collected): the benchmark's process peaked at 728 MB instead of 320 MB with a
simulation's copy of a 5,000-VM estate frozen.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused(*, keep: bool = False) -> Iterator[None]:
    """The collector off for the block, then back as it was (nesting leaves it to the outermost);
    ``keep``: what is alive at the end is frozen, out of every later collection."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if keep:
            gc.freeze()
        gc.enable()
