"""RACE001: two steps that touch one resource, at least one of them writing it, are ordered by ``needs``.

The runner starts every step whose needs are done, so two steps that no chain of needs orders may run
at once or in either order; the simulation tries one order only. Each step kind declares what it reads
and writes (its footprint, ``engine.kinds.footprint``); with every conflicting pair ordered, any order
the runner picks ends in the same state, and checking the simulated one is enough.

The check is linear in the steps' footprints: each resource's steps are taken in topological order,
and those before a step that conflict with it must all be among its needs (one bitset test each, see
``engine.model.precedence``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from adapters.ports import Connection, VaultRef
from adapters.shared import ids
from adapters.shared.errors import NotFoundError
from engine import kinds
from engine.kinds.footprint import READ, VERBS, conflict, stronger
from engine.model import expressions
from engine.model.runbook import Step, Target


@dataclass
class EstateScope:
    """Names resolved in the runbook's target, recovery plans and connections read from the estate."""

    target: Target
    adapter: Any
    connections: list[Connection]
    _plans: dict[tuple, list[str] | None] = field(default_factory=dict)

    def resource_id(self, value: str, kind: str) -> str:
        return ids.resolve(value, kind, self.target.subscription, self.target.resource_group)

    def vault(self, name: str | None) -> VaultRef:
        return self.target.vault_ref(name)

    def plan_items(self, vault: VaultRef, plan: str) -> list[str] | None:
        key = (vault, plan)
        if key not in self._plans:
            try:
                self._plans[key] = list(self.adapter.replication.get_recovery_plan(vault, plan).items)
            except NotFoundError:
                self._plans[key] = None
        return self._plans[key]

    def gateways_connected_to(self, local_gateway_id: str) -> list[str]:
        return sorted({c.gateway1_id.lower() for c in self.connections
                       if c.local_gateway2_id and ids.same(c.local_gateway2_id, local_gateway_id)})


def unordered_steps(inspector, adapter, result) -> None:
    """RACE001 for each pair of steps whose footprints conflict and that no chain of needs orders."""
    runbook = inspector.loaded.runbook
    precedence = runbook.precedence
    scope = EstateScope(inspector.target, adapter, _connections(inspector, adapter))
    touched: dict[str, dict[str, str]] = {}  # resource -> step id -> its access
    labels: dict[str, str] = {}
    for step in runbook.steps:
        args = _arguments(inspector, step, result)
        if args is None:
            continue
        for touch in kinds.get(step.uses).footprint(args, scope):
            accesses = touched.setdefault(touch.resource, {})
            accesses[step.id] = stronger(accesses.get(step.id, touch.access), touch.access)
            labels.setdefault(touch.resource, touch.label)
    races: dict[tuple[str, str], list[str]] = {}  # (earlier, later in topological order) -> resources
    for resource, accesses in touched.items():
        if len(accesses) < 2 or all(access == READ for access in accesses.values()):
            continue
        earlier: dict[str, int] = {}  # access -> bitset of the steps before, in topological order
        for step_id in sorted(accesses, key=precedence.index.__getitem__):
            access = accesses[step_id]
            conflicting = 0
            for other, bits in earlier.items():
                if conflict(other, access):
                    conflicting |= bits
            unordered = conflicting & ~precedence.ancestors[precedence.index[step_id]]
            for other_id in precedence.steps_in(unordered) if unordered else ():
                races.setdefault((other_id, step_id), []).append(resource)
            earlier[access] = earlier.get(access, 0) | precedence.bit(step_id)
    for (a, b), resources in races.items():
        if not any(r in inspector.overlaps_reported for r in resources):  # NET004 already says it
            _report(inspector, a, b, resources, touched, labels)


def _report(inspector, a: str, b: str, resources: list[str], touched: dict, labels: dict) -> None:
    runbook = inspector.loaded.runbook
    first, then = sorted((a, b), key=runbook.position)  # the file's order is the likely intent
    resource = resources[0]
    more = f" (and {len(resources) - 1} more resources)" if len(resources) > 1 else ""
    then_step = runbook.step(then)
    message = (f"{first} {VERBS[touched[resource][first]]} {labels[resource]}{more} and {then} "
               f"{VERBS[touched[resource][then]]} it, but neither is among the other's needs: a run may start "
               "them at once or in either order, and the plan checks only one of those orders")
    fix = (f"order them: in {then}, `needs: [{', '.join([*then_step.needs, first])}]` (or put {then} in "
           f"{first}'s needs, if it must go first)")
    inspector.report("RACE001", then_step, message, fix, path=("needs",) if then_step.needs else ())


def _connections(inspector, adapter) -> list[Connection]:
    """The connections at the start of the simulation and at its end (those the runbook adds)."""
    target = inspector.target
    at_end = adapter.network.list_connections(target.subscription, target.resource_group)
    return list(inspector.connections_at_start or []) + list(at_end)


def _arguments(inspector, step: Step, result) -> Any:
    """The step's arguments as the simulation resolved them; for a step it did not run, as far as the
    parameters resolve them (None when they need an output, or when the step would not run at all)."""
    if step.id in inspector.arguments:
        return inspector.arguments[step.id]
    record = result.step(step.id)
    if str(record.status) == "skipped" and (record.reason or "").startswith("skipped:"):
        return None  # its `when` does not hold (or it uses outputs of a step whose does not)
    try:
        if not step.runs_with(inspector.parameters):
            return None
        values = expressions.resolve(step.with_, inspector.parameters, {}) if step.references else step.with_
        return kinds.get(step.uses).Args.model_validate(values)
    except (expressions.Unresolved, ValidationError, KeyError, TypeError, ValueError):
        return None
