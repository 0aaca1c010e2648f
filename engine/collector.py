"""CPython's cyclic garbage collector: paused while a runbook is loaded or simulated and while a fake
estate is opened, and kept off what a run starts with.

The collector runs every few hundred allocations and, as the heap grows, walks all of it. Loading and
simulating a runbook allocate hundreds of thousands of objects that live until the end (the model,
each step's record and changes, the estate copy's documents), so those walks find next to nothing:
at 5,000 VMs a validate and a plan made 17 full collections, 1.2–1.5 s of about 10 s. Reference
counting frees everything else as it goes; the few reference cycles made meanwhile wait for the
collector's next run after the pause.
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


@contextmanager
def settled() -> Iterator[None]:
    """For a run: collect once, before any step starts, then leave everything that exists (the runbook,
    its model, the adapter's clients) out of the collector's walks until the run ends. A full collection
    stops every thread; without this, one during a 1,000-VM run took 60 ms, inside the steps that were
    running. What the run itself makes is still collected as usual."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
