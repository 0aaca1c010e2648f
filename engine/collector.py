"""CPython's cyclic garbage collector, paused while a runbook is loaded or simulated and while a fake
estate is opened, and sparing with full collections during a run.

The collector runs every few hundred allocations and, as the heap grows, walks all of it. Loading and
simulating a runbook allocate hundreds of thousands of objects that live until the end of the command
(the model, each step's record and changes, the estate copy's documents), so those walks find next to
nothing. Reference counting frees everything else as it goes (a step breaks the cycle between its
context and its call chain as it ends, ``StepContext.close``, so that a dead step needs no collector);
the few reference cycles made meanwhile wait for the collector's next run after the pause.

Where what the block made lives as long as the command (a loaded runbook, an opened estate), ``keep``
freezes it at the end (``gc.freeze``), so that no later collection walks it again. Not after a
simulation: freezing would keep its garbage for good (a cycle is freed only by the collector, and a
frozen object is never collected): the benchmark's process peaked at 728 MB instead of 320 MB with a
simulation's copy of a 5,000-VM estate frozen.

During a run (``fewer_full_collections``) the collector stays on, but walks the whole heap less often.
CPython walks it all (a full collection) each tenth time it has walked the younger objects, once what
survived them has grown by a quarter. A run's survivors grow all along: each step's record and
changes, and the threads, locks and closures of thousands of steps waiting on jobs. At 5,000 VMs that
was 24 to 28 full collections a run, each stopping every thread for 45 to 195 ms. Each hundredth time
instead: 2 in a run of seed 1, the engine's CPU 15.7 s instead of 20 to 23 (docs/performance.md).
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

FULL_EVERY = 100  # younger walks between two full ones (CPython's third threshold; its default is 10)


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


@contextmanager
def fewer_full_collections() -> Iterator[None]:
    """For the block, a full collection at most every ``FULL_EVERY``th collection of the middle
    generation instead of every tenth; then the thresholds as they were once the last of the blocks
    open at once (runs in threads of one process) ends."""
    global _runs, _thresholds
    with _runs_lock:
        if _runs == 0:
            _thresholds = gc.get_threshold()
            young, middle, full = _thresholds
            gc.set_threshold(young, middle, max(full, FULL_EVERY))
        _runs += 1
    try:
        yield
    finally:
        with _runs_lock:
            _runs -= 1
            if _runs == 0:
                gc.set_threshold(*_thresholds)


_runs_lock = threading.Lock()
_runs = 0  # blocks open
_thresholds = gc.get_threshold()  # as they were before the first of them
