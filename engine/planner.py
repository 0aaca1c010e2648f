"""Plan and dry run: the whole runbook simulated, step by step, on a copy of the estate.

The copy comes from ``adapter.simulation()``: it takes writes without touching anything real, so a
plan cannot change the estate by construction; and because every step really runs on the copy, a
value that depends on an earlier step's outputs is followed, not skipped.
"""

from __future__ import annotations

from typing import Any

from adapters.ports import Adapter
from engine.loader import LoadedRunbook
from engine.runner import Runner, RunResult


def simulate(loaded: LoadedRunbook, params: dict[str, Any], adapter: Adapter, *, concurrency: int = 1,
             observer=None) -> RunResult:
    """Run the runbook on a simulation of ``adapter``'s estate. With ``concurrency=1`` steps run one at
    a time in a stable order (the order a plan is shown in)."""
    simulation = adapter.simulation()
    try:
        runner = Runner(loaded, params, simulation, dry_run=True, concurrency=concurrency, observer=observer,
                        job_poll_interval=1.0)
        return runner.run()
    finally:
        simulation.close()


def plan_json(result: RunResult) -> dict:
    steps = []
    for record in result.steps:
        steps.append({
            "id": record.id, "uses": record.uses,
            "action": record.action or "none",
            "status": str(record.status),
            "changes": [c.to_json() for c in record.changes],
            "outputs": record.outputs,
            "error": record.error, "reason": record.reason,
        })
    return {"runbook": result.runbook, "adapter": result.adapter, "would_succeed": str(result.status) == "succeeded",
            "steps": steps}
