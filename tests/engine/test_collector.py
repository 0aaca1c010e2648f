"""The cyclic garbage collector: paused while a runbook is loaded or simulated, and sparing with full
collections during a run."""

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


def test_a_run_walks_the_whole_heap_less_often_and_then_as_before():
    before = gc.get_threshold()
    spared = (before[0], before[1], max(before[2], collector.FULL_EVERY))
    with collector.fewer_full_collections():
        assert gc.get_threshold() == spared and gc.isenabled()
        with collector.fewer_full_collections():  # a second run in the same process
            assert gc.get_threshold() == spared
        assert gc.get_threshold() == spared  # the first is still going
    assert gc.get_threshold() == before


def test_a_run_has_the_collector_spare_full_collections_while_its_steps_run(fake):
    """The thresholds a step sees are the run's; after the run they are back."""
    from tests.conftest import SUBNET_FAILOVER
    from tests.engine.runbooks import run

    seen = []

    class Watch:  # an inspector: the runner shows it every step before the step acts
        def before_step(self, step, kind, args, adapter):
            seen.append(gc.get_threshold()[2])

    before = gc.get_threshold()
    result = run(SUBNET_FAILOVER, fake(), inspector=Watch())
    assert str(result.status) == "succeeded"
    assert len(seen) == len(result.steps) and set(seen) == {max(before[2], collector.FULL_EVERY)}
    assert gc.get_threshold() == before


def test_a_finished_steps_context_and_call_chain_are_freed_without_the_collector(fake, monkeypatch):
    """A step's call chain holds its context (the context's ``sleep``, closures over it): a cycle that only
    the collector could free, walked meanwhile by every collection of the run. The step breaks it as it
    ends, so reference counting frees both at once."""
    import weakref

    from engine.run import step as step_module
    from tests.conftest import SUBNET_FAILOVER
    from tests.engine.runbooks import run

    made = []
    real = step_module.context

    def context(*args):
        ctx = real(*args)
        made.append((weakref.ref(ctx), weakref.ref(ctx.adapter)))
        return ctx

    monkeypatch.setattr(step_module, "context", context)
    gc.disable()
    try:
        result = run(SUBNET_FAILOVER, fake())
        alive = [ref for pair in made for ref in pair if ref() is not None]
    finally:
        gc.enable()
    assert str(result.status) == "succeeded"
    assert len(made) == len(result.steps)
    assert not alive, f"{len(alive)} of {2 * len(made)} contexts and step adapters outlived their steps"


def test_the_command_line_is_imported_with_the_collector_paused_and_then_on_again():
    """What importing the command line made is frozen out of later walks, and the collector is on again
    after it (a new interpreter: this one imported it long ago)."""
    import subprocess
    import sys

    probe = ("import gc; gc.collect(); import engine.cli; "
             "print(gc.isenabled(), gc.get_freeze_count() > 10_000, gc.get_count()[0] < 100)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", "True", "True"], result.stdout + result.stderr
