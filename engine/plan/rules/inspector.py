"""The seed's networking rules: what breaks a failover's network plan, found before anything runs.

``validate`` and ``plan`` simulate the runbook step by step on a copy of the estate (see
``engine.plan.simulation``); a ``NetworkPlanInspector`` looks at the estate before each step (the state
the earlier steps left), through the rules hook of the step's kind, and once more at the end, and
reports each broken rule as a ``Problem`` with a stable code, the resources it concerns, why (in the
seed's terms) and how to fix it. docs/rules.md lists them all.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from adapters.shared import ids
from engine.model.loader import LoadedRunbook
from engine.model.problems import WARNING, Problem
from engine.model.runbook import Step
from engine.plan.rules.dns import dns_follows_changed_ips
from engine.plan.rules.isolation import tests_isolated_from_later_recovery
from engine.plan.rules.races import unordered_steps
from engine.plan.rules.subnets import routed_home, routed_to_azure, whole_subnets_come_home, whole_subnets_move
from engine.plan.rules.withdrawals import Withdrawal, withdrawn_before_failover


@dataclass
class NetworkPlanInspector:
    """What the rules learn as the steps are simulated, and the problems they found."""

    loaded: LoadedRunbook
    problems: list[Problem] = field(default_factory=list)
    kept_ip_items: dict[str, tuple[str, str]] = field(default_factory=dict)  # vm -> (ip, recovery subnet prefix)
    changed_ip_items: dict[str, str] = field(default_factory=dict)  # vm -> new ip
    failed_over: set[str] = field(default_factory=set)  # VMs a planned/unplanned failover step covers
    failed_back: set[str] = field(default_factory=set)  # VMs a failback step covers
    test_networks: set[str] = field(default_factory=set)
    recovery_networks: set[str] = field(default_factory=set)
    dns_ips: set[str] = field(default_factory=set)
    steps_with_errors: set[str] = field(default_factory=set)
    steps_of: dict[tuple[str, str], Step] = field(default_factory=dict)  # (set_target_ip|failover, vm) -> step
    test_network_steps: dict[str, Step] = field(default_factory=dict)  # test network -> first step using it
    prefix_removals: list[tuple[str, str, set[str]]] = field(default_factory=list)  # (step, lng id, removed)
    claims: dict | None = None  # (recovery|test, vnet id, ip) -> the VM that gets it
    parameters: dict[str, Any] = field(default_factory=dict)  # the values the runbook is simulated with
    arguments: dict[str, Any] = field(default_factory=dict)  # step id -> its arguments as the simulation resolved them
    connections_at_start: list | None = None
    overlaps_reported: set[str] = field(default_factory=set)  # gateway reaches NET004 was reported for
    withdrawals: list[Withdrawal] = field(default_factory=list)  # steps that route a prefix away from on-premises
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _finishing: bool = False
    _blocked: list[Step] = field(default_factory=list)  # at the end: the steps a failure kept from running
    _started: set[str] = field(default_factory=set)  # at the end: the steps that were started

    def report(self, code: str, step: Step | None, message: str, fix: str, severity: str = "error",
               path: tuple = ()) -> None:
        line = (self.loaded.step_line(step.id, *path) or self.loaded.step_line(step.id)) if step else None
        with self._lock:
            self.problems.append(Problem(code, message, file=self.loaded.file, line=line,
                                         step=step.id if step else None, fix=fix, severity=severity))
            if step and severity != WARNING and not self._finishing:  # the end's rules explain no step's failure
                self.steps_with_errors.add(step.id)

    @property
    def target(self):
        return self.loaded.runbook.target

    def begin(self, adapter) -> None:
        """Before the first step: what the whole-plan rules compare the end with."""
        self.connections_at_start = adapter.network.list_connections(self.target.subscription,
                                                                     self.target.resource_group)

    def before_step(self, step: Step, kind, args: Any, adapter) -> None:
        """The rules of the step's kind, on the state the earlier steps left."""
        self.arguments[step.id] = args
        if kind.rules is not None:
            kind.rules(self, step, args, adapter)

    # --- at the end: the whole plan --------------------------------------------------------------

    def finish(self, adapter, result) -> None:
        """The rules on the whole plan. When a step failed in the simulation, the run stopped and the
        estate is unfinished: a rule that asks for a step of some kind is not checked if a step of that
        kind (for that resource, when it can be told) never ran because of the failure. That step is in
        the runbook; the failure is the problem, and it is already reported."""
        self._finishing = True
        self._blocked = self._blocked_steps(result)
        self._started = {r.id for r in result.steps if r.attempts}
        unordered_steps(self, adapter, result)
        tests_isolated_from_later_recovery(self)
        if not self.unrun("asr.failover", started=False):  # a failed one's items are known: before_step
            whole_subnets_move(self, adapter)
        routed_to_azure(self, adapter)
        if not self.unrun("asr.failover", started=False):
            whole_subnets_come_home(self, adapter)
        routed_home(self, adapter)
        if not self.unrun("dns.record"):
            dns_follows_changed_ips(self, result)
        withdrawn_before_failover(self, adapter, result)

    def _blocked_steps(self, result) -> list[Step]:
        """The steps that did not run (or not to the end) because a step failed: the failed ones, those
        never started (or left pending) after it, and those whose needs are among them. A step skipped by
        its `when` condition, or for using the outputs of one, is not: it would not run in a real run
        either."""
        records = {r.id: r for r in result.steps}
        memo: dict[str, bool] = {}

        def blocked(step_id: str) -> bool:
            if step_id not in memo:
                memo[step_id] = False  # cycles are refused before a simulation; this only guards
                record = records.get(step_id)
                status = str(record.status) if record else "pending"
                reason = (record.reason or "") if record else ""
                step = self.loaded.runbook.step(step_id)
                if status in ("failed", "pending", "running"):
                    memo[step_id] = True
                elif status == "skipped" and reason.startswith("not started: ") and _may_run(step, result.parameters):
                    memo[step_id] = reason.startswith("not started: the run stopped") or any(
                        blocked(need) for need in step.needs)
            return memo[step_id]

        return [s for s in self.loaded.runbook.steps if blocked(s.id)]

    def unrun(self, uses: str, argument: str | None = None, name: str | None = None, *,
               started: bool = True) -> bool:
        """Whether a step of kind ``uses`` did not run (to the end) because of a failure; with ``argument``
        and ``name``, only one whose ``argument`` names ``name`` (or is an expression, so it may); without
        ``started``, only one that never started."""
        for step in self._blocked:
            if step.uses != uses or not started and step.id in self._started:
                continue
            if argument is None:
                return True
            value = step.with_.get(argument) if isinstance(step.with_, dict) else None
            if not isinstance(value, str) or "${{" in value or ids.name_of(value).lower() == name.lower():
                return True
        return False


def _may_run(step: Step, params: dict) -> bool:
    """Whether ``step``'s `when` condition (if any) holds, so that it would have run had the run gone on.
    When that cannot be told (a secret in the condition...), it may have."""
    if step.when is None:
        return True
    try:
        return step.runs_with(params)
    except Exception:  # noqa: BLE001  undecidable here: count the step as one that would run
        return True
