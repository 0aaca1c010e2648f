"""The cyclic garbage collector: paused while a runbook is loaded or simulated."""

from __future__ import annotations

import gc

from engine import collector


def test_paused_turns_the_collector_off_and_back_as_it_was():
    assert gc.isenabled()
    with collector.paused():
        assert not gc.isenabled()
        with collector.paused():  # nested: the outermost decides
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with collector.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()


def test_a_pause_that_keeps_what_it_made_leaves_it_out_of_later_walks():
    gc.unfreeze()
    try:
        with collector.paused():  # a simulation: what it leaves is garbage, for the collector to find
            made = [{"n": i} for i in range(1000)]
        assert gc.get_freeze_count() == 0
        with collector.paused(keep=True):  # an estate opened for the whole command
            kept = [{"n": i} for i in range(1000)]
        assert gc.get_freeze_count() >= len(kept)  # moved to the permanent generation, never walked again
        assert gc.isenabled() and made
    finally:
        gc.unfreeze()
