"""Keeping the garbage collector's pauses out of a run.

A large run keeps a large heap alive from start to end: the runbook's models, the parsed YAML with
its line map, the step records. CPython's collector walks every tracked object on each full
collection, and while it walks, every step's thread waits: tens of milliseconds, several times a
run, landing on whichever steps are running. Freezing what is alive when the run starts takes it
out of those walks; what the run itself creates is still collected. The heap is unfrozen at the end,
so a long-lived process (the drill scheduler) collects it again afterwards.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def steady() -> Iterator[None]:
    gc.collect()  # garbage left from before is freed now, not frozen with the rest
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
