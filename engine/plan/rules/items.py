"""NET009: each failover, failback, commit, change of recovery point, cleanup and reprotect names protected
items (or a recovery plan) of the vault, in a state that allows the operation when the step runs. RP001:
each VM has the recovery point the step asks for."""

from __future__ import annotations

from adapters.ports import ProtectedItem
from adapters.shared import ids
from adapters.shared.errors import NotFoundError
from adapters.shared.itemstate import (
    CHANGE_PIT,
    COMMIT,
    FAILBACK,
    FAILOVER_OPERATION,
    PRIMARY_TO_RECOVERY,
    RECOVERY_TO_PRIMARY,
    REVERSE_REPLICATE,
    TEST_FAILOVER_CLEANUP,
)
from engine.model.runbook import Step
from engine.plan.rules.isolation import check_isolated
from engine.plan.rules.points import check_points


def check_failover(inspector, step: Step, args, adapter) -> None:
    items = _items(inspector, step, args, adapter)
    if args.direction == RECOVERY_TO_PRIMARY:
        check_failback(inspector, step, items)
        return
    if args.type == "test":
        inspector.test_networks.add(ids.resolve(args.network, ids.VIRTUAL_NETWORK, inspector.target.subscription,
                                           inspector.target.resource_group).lower())
        check_isolated(inspector, step, adapter, ids.resolve(args.network, ids.VIRTUAL_NETWORK,
                                                        inspector.target.subscription, inspector.target.resource_group))
    else:
        inspector.failed_over |= {item.vm_name for item in items}
        for item in items:
            inspector.steps_of.setdefault(("failover", item.vm_name), step)
    needed = FAILOVER_OPERATION[args.type]
    todo = []
    for item in items:
        done = item.state.test_failed_over if args.type == "test" else item.state.failed_over
        if not done and not item.state.busy and not item.state.allows(needed):
            _not_allowed(inspector, step, item, needed)
        elif not done:
            todo.append(item)
    if args.recovery_point is not None and not args.plan:
        check_points(inspector, step, args, adapter, todo)


def check_failback(inspector, step: Step, items: list[ProtectedItem]) -> None:
    inspector.failed_back |= {item.vm_name for item in items}
    for item in items:
        inspector.steps_of.setdefault(("failback", item.vm_name), step)
        if not item.state.at_primary and not item.state.busy and not item.state.allows(FAILBACK):
            fix = ("commit the failover to Azure first (asr.commit), and put that step in this step's needs"
                   if item.state.awaiting_commit else "check the item's state in the vault and the order of the steps")
            _not_allowed(inspector, step, item, FAILBACK, fix)


def check_commit(inspector, step: Step, args, adapter) -> None:
    back = args.direction == RECOVERY_TO_PRIMARY
    for item in _items(inspector, step, args, adapter):
        done = item.state.failback_committed if back else item.state.committed
        if not done and not item.state.busy and not item.state.allows(COMMIT):
            _not_allowed(inspector, step, item, COMMIT, f"a commit needs a {'failback' if back else 'failover'} "
                         "first: put that step in this step's needs")


def check_apply_point(inspector, step: Step, args, adapter) -> None:
    todo = []
    for item in _items(inspector, step, args, adapter):
        if not item.state.busy and not item.state.allows(CHANGE_PIT):
            _not_allowed(inspector, step, item, CHANGE_PIT, "a recovery point changes after a failover to Azure and "
                         "before its commit: put this step after the failover and before the commit")
        else:
            todo.append(item)
    check_points(inspector, step, args, adapter, todo)


def check_reprotect(inspector, step: Step, args, adapter) -> None:
    for item in _items(inspector, step, args, adapter):
        if item.state.replicating(args.direction) or item.state.busy or item.state.allows(REVERSE_REPLICATE):
            continue
        if args.direction == RECOVERY_TO_PRIMARY and item.state.failed_over:
            fix = ("a Hyper-V VM in Azure is not reprotected: its failback (asr.failover with direction: "
                   "recovery_to_primary) synchronises the data back; reprotect it once the failback is committed")
        elif args.direction == PRIMARY_TO_RECOVERY and item.state.failed_back:
            fix = "commit the failback first (asr.commit with direction: recovery_to_primary) in this step's needs"
        else:
            fix = ("reprotect follows a committed failback: fail back (direction: recovery_to_primary), commit, "
                   "then reprotect")
        _not_allowed(inspector, step, item, REVERSE_REPLICATE, fix)


def check_cleanup(inspector, step: Step, args, adapter) -> None:
    for item in _items(inspector, step, args, adapter):
        state = item.state
        if state.test_failover_left and not state.busy and not state.allows(TEST_FAILOVER_CLEANUP):
            _not_allowed(inspector, step, item, TEST_FAILOVER_CLEANUP)


def _items(inspector, step: Step, args, adapter) -> list[ProtectedItem]:
    vault = inspector.target.vault_ref(args.vault)
    if args.plan:
        try:
            names = adapter.replication.get_recovery_plan(vault, args.plan).items
        except NotFoundError:
            inspector.report("NET009", step, f"recovery plan {args.plan} does not exist in vault {vault.vault}",
                        "name an existing recovery plan")
            return []
    else:
        names = args.items
    found = []
    for name in names:
        try:
            found.append(adapter.replication.get_protected_item(vault, name))
        except NotFoundError:
            missing_item(inspector, step, name, vault.vault)
    return found


def missing_item(inspector, step: Step, name: str, vault: str) -> None:
    inspector.report("NET009", step, f"{name} is not a protected item of vault {vault}",
                "check the VM's name in the vault, or enable its replication first")


def _not_allowed(inspector, step: Step, item: ProtectedItem, operation: str, fix: str | None = None) -> None:
    allowed = ", ".join(sorted(item.state.allowed)) or "none"
    inspector.report("NET009", step, f"{item.vm_name} does not allow {operation} when this step runs: it is "
                f"{item.state.describe()} (allowed: {allowed})",
                fix or "check the item's state in the vault and the order of the steps")
