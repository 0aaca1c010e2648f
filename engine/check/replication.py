"""RDY002 and RDY003: each VM the runbook fails over replicates healthily, and its latest recovery point
is no older than the runbook's ``readiness.rpo``, from the service's own fields (replicationHealth and
healthErrors; rpoInSeconds at lastRpoCalculatedTime, or lastReplicatedTime)."""

from __future__ import annotations

from engine.check.context import CheckContext
from engine.model.durations import format_duration


def check_replication(ctx: CheckContext, items: dict) -> None:
    objective = ctx.loaded.runbook.readiness.rpo
    for name in sorted(ctx.scope.failed_over):
        item = items.get(name)
        if item is None or item.replication is None:
            continue  # a missing item is the plan's NET009
        status = item.replication
        resource = f"protected item {name}"
        age = status.recovery_point_age(ctx.now)
        over = objective is not None and age is not None and age > objective
        ctx.observe(resource, f"replication {status.health}"
                    + ("" if objective is None or age is None else
                       f", latest recovery point {'older than' if over else 'within'} the rpo"))
        if item.state.failed_over:
            continue  # it runs in Azure already: nothing replicates to it
        if status.health not in ("Normal", "None"):
            errors = "; ".join(status.health_errors) or "no health error given"
            ctx.find("RDY002", resource, f"replication of {name} is {status.health}: {errors}",
                     "see the item's health errors in the vault (Replicated items) and resolve them; a failover "
                     "now would use an old or inconsistent recovery point", step=ctx.scope.failed_over[name])
        if over:
            ctx.find("RDY003", resource,
                     f"the latest recovery point of {name} is {format_duration(age)} old, over the runbook's "
                     f"readiness rpo of {format_duration(objective)}",
                     "check replication of the VM on its Hyper-V host (paused, resync required, bandwidth) "
                     "and the replication policy's frequency", step=ctx.scope.failed_over[name])
