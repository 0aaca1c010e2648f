"""The runbook's own plan against the live estate: what `plan` would report (the network-plan rules,
a step the service would refuse) becomes a finding with the rule's code (docs/rules.md), about the
resource its step names. Gateways, connections, local network gateways and route tables as the runbook
expects them are checked this way: each step reads them before it decides."""

from __future__ import annotations

import re

from engine.check.findings import Finding
from engine.model.problems import WARNING, Problem

# The resource a step of each kind acts on: (label, argument naming it).
RESOURCE_OF = {
    "asr.set_target_ip": ("protected item", "item"),
    "network.local_gateway_prefixes": ("local network gateway", "gateway"),
    "network.connection": ("connection", "name"),
    "network.routes": ("route table", "table"),
    "dns.record": ("DNS record", "name"),
}


# What a plan problem is about when its step acts on nothing of its own, in the order to prefer.
NAMED_FIRST = ("route table ", "local network gateway ", "connection ", "gateway ", "subnet ")


def _item_named(step, message: str) -> str | None:
    """The one protected item of a failover, commit or cleanup step that the message names."""
    names = step.with_.get("items") if isinstance(step.with_, dict) else None
    if not isinstance(names, list):
        return None
    named = [n for n in names if isinstance(n, str) and re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", message)]
    return named[0] if len(named) == 1 else None


def resource_of(loaded, step_id: str | None, message: str = "") -> str:
    if step_id is None or not loaded.runbook.has_step(step_id):
        return f"runbook {loaded.runbook.name}"
    step = loaded.runbook.step(step_id)
    item = _item_named(step, message)
    if item is not None:
        return f"protected item {item}"
    label, argument = RESOURCE_OF.get(step.uses, ("step", None))
    value = step.with_.get(argument) if argument and isinstance(step.with_, dict) else None
    if isinstance(value, str) and "${{" not in value:
        return f"{label} {value.rstrip('/').rsplit('/', 1)[-1]}"
    return f"step {step_id}"


def plan_findings(loaded, problems: list[Problem], observed: dict[str, str]) -> list[Finding]:
    """``observed``: the resources the check read; a problem whose step acts on no resource of its own
    (a failover step's end-of-plan rule) is about the one observed resource its message names, if one."""
    found = []
    for problem in (p for p in problems if p.severity != WARNING):
        resource = resource_of(loaded, problem.step, problem.message)
        if resource.startswith(("step ", "runbook ")):
            named = [r for r in observed if f" {r.rsplit(' ', 1)[-1]}" in f" {problem.message}"
                     and r.startswith(NAMED_FIRST)]
            named.sort(key=lambda r: next(i for i, label in enumerate(NAMED_FIRST) if r.startswith(label)))
            resource = named[0] if named else resource
        found.append(Finding(problem.code, resource, problem.message, problem.fix or "", step=problem.step))
    return found
