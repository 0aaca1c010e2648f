"""The cyclic garbage collector: paused while a runbook is loaded or simulated, and a step's objects
freed without it."""

from __future__ import annotations

import gc

from engine import collector
from engine.run.retry import RetryingAdapter, RetryingPort
from tests.conftest import SUBNET_FAILOVER
from tests.engine.runbooks import run


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


def test_a_steps_adapter_view_is_freed_by_reference_counting(fake):
    """Nothing a step's adapter view holds points back at it once the step is over, so a run leaves
    none of them in reference cycles for the collector to find."""
    adapter = fake()
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        result = run(SUBNET_FAILOVER, adapter)
        gc.collect()
        stranded = [o for o in gc.garbage if isinstance(o, (RetryingPort, RetryingAdapter))]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert str(result.status) == "succeeded"
    assert stranded == []


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
