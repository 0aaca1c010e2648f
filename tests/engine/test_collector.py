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


def test_what_lives_through_a_pause_is_left_out_of_later_walks():
    gc.unfreeze()
    try:
        with collector.paused():
            kept = [{"n": i} for i in range(1000)]
        assert gc.get_freeze_count() >= len(kept)  # moved to the permanent generation, not walked again
        assert gc.isenabled()
    finally:
        gc.unfreeze()
