"""Plan, validate and dry run: the whole runbook simulated, step by step, on a copy of the estate.

The copy comes from ``adapter.simulation()``: it takes writes without touching anything real, so a
plan cannot change the estate by construction; and because every step really runs on the copy, a
value that depends on an earlier step's outputs is followed, not skipped. With an inspector (the
network-plan rules), the estate is examined before every step and at the end. An ``approval`` or
``manual`` step is taken as approved, so every step after it is simulated and checked too; the
simulation lists those gates (``gates``): where a real run will pause for a person.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapters.ports import Adapter, VaultRef
from engine import collector, kinds
from engine.model.loader import LoadedRunbook
from engine.model.problems import WARNING, Problem
from engine.plan.rules.inspector import NetworkPlanInspector
from engine.run.runner import Runner, RunResult
from engine.run.step import ArgumentsInvalid, arguments


@dataclass(frozen=True)
class Gate:
    """An approval or manual step the simulation took as approved: a real run pauses there."""

    step: str
    uses: str
    prompt: str

    def to_json(self) -> dict:
        return {"step": self.step, "uses": self.uses, "prompt": self.prompt}


@dataclass
class Simulation:
    result: RunResult
    problems: list[Problem] = field(default_factory=list)
    gates: list[Gate] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity != WARNING]


@collector.paused()  # see engine/collector.py: this is where it pays
def simulate(loaded: LoadedRunbook, params: dict[str, Any], adapter: Adapter, *, concurrency: int = 1,
             observer=None, rules: bool = False) -> Simulation:
    """Run the runbook on a simulation of ``adapter``'s estate. With ``rules`` (which needs
    ``concurrency=1``, so each step sees exactly the state the earlier ones left) the network-plan
    rules are checked before every step and at the end, and a step that would fail is a problem too."""
    target = loaded.runbook.target
    simulation = adapter.simulation(VaultRef(target.subscription, target.resource_group, target.vault or ""))
    inspector = NetworkPlanInspector(loaded, parameters=params) if rules else None
    try:
        if inspector is not None:
            inspector.begin(simulation)
        runner = Runner(loaded, params, simulation, dry_run=True, concurrency=1 if rules else concurrency,
                        observer=observer, job_poll_interval=1.0, inspector=inspector, auto_approve=True)
        result = runner.run()
        result.adapter = adapter.name  # a copy of this adapter's estate was simulated
        problems: list[Problem] = []
        if inspector is not None:
            inspector.finish(simulation, result)
            problems = inspector.problems
            for record in result.steps:
                if not record.error or record.id in inspector.steps_with_errors:
                    continue
                if record.uses.startswith("assert."):  # finding this out is what a probe is for
                    problems.append(Problem("SIM002", f"this probe fails in the simulation: {record.error}",
                                            file=loaded.file, line=loaded.step_line(record.id), step=record.id,
                                            fix="check the probe's expectation", severity=WARNING))
                else:
                    problems.append(Problem("SIM001", f"would fail: {record.error}", file=loaded.file,
                                            line=loaded.step_line(record.id), step=record.id,
                                            fix="see the message; docs/rules.md explains the usual causes"))
        return Simulation(result, problems, _gates(loaded, runner))
    finally:
        simulation.close()


def _gates(loaded: LoadedRunbook, runner: Runner) -> list[Gate]:
    """The steps that wait for a person and that the simulation passed, each after its needs."""
    gates = []
    for step_id in loaded.runbook.order:
        step, record = loaded.runbook.step(step_id), runner.result.step(step_id)
        kind = kinds.get(step.uses)
        if kind.waits_for_person and str(record.status) == "succeeded":
            try:
                prompt = kind.prompt(arguments(runner, step, kind))
            except ArgumentsInvalid:
                prompt = ""
            gates.append(Gate(step.id, step.uses, prompt))
            record.reason = "taken as approved: a real run pauses here for `failover approve`"
    return gates


def plan_json(simulation: Simulation) -> dict:
    result = simulation.result
    gates = {gate.step: gate for gate in simulation.gates}
    steps = []
    for record in result.steps:
        steps.append({
            "id": record.id, "uses": record.uses,
            "action": record.action or "none",
            "status": str(record.status),
            "changes": [c.to_json() for c in record.changes],
            "outputs": record.outputs,
            "error": record.error, "reason": record.reason,
            **({"gate": gates[record.id].to_json()} if record.id in gates else {}),
        })
    return {
        "runbook": result.runbook, "adapter": result.adapter,
        "would_succeed": str(result.status) == "succeeded" and not simulation.errors,
        "steps": steps,
        "gates": [gate.to_json() for gate in simulation.gates],
        "errors": [p.to_json() for p in simulation.errors],
        "warnings": [p.to_json() for p in simulation.problems if p.severity == WARNING],
    }
