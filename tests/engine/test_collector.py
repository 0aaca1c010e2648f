"""The cyclic garbage collector: paused while a runbook is loaded or simulated, and kept off what a run
starts with."""

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


def test_a_run_keeps_what_it_started_with_out_of_the_collectors_walks():
    started_with = type("Loaded", (), {})()  # tracked by the collector, like a runbook's model

    def walked(thing) -> bool:
        return any(o is thing for o in gc.get_objects())

    assert walked(started_with)
    with collector.settled():
        made_during = type("Record", (), {})()
        assert not walked(started_with)
        assert walked(made_during)  # what the run makes is collected as usual
    assert walked(started_with)
    assert gc.get_freeze_count() == 0
