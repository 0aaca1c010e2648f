"""NET009: each failover, commit and cleanup names protected items (or a recovery plan) of the vault, in
a state that allows the operation when the step runs."""

from __future__ import annotations

from adapters.ports import ProtectedItem
from adapters.shared import ids
from adapters.shared.errors import NotFoundError
from adapters.shared.itemstate import COMMIT, FAILOVER_OPERATION, TEST_FAILOVER_CLEANUP
from engine.model.runbook import Step
from engine.plan.rules.isolation import check_isolated


def check_failover(inspector, step: Step, args, adapter) -> None:
    items = _items(inspector, step, args, adapter)
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
    for item in items:
        done = item.state.test_failed_over if args.type == "test" else item.state.failed_over
        if not done and not item.state.busy and not item.state.allows(needed):
            _not_allowed(inspector, step, item, needed)


def check_commit(inspector, step: Step, args, adapter) -> None:
    for item in _items(inspector, step, args, adapter):
        if not item.state.committed and not item.state.busy and not item.state.allows(COMMIT):
            _not_allowed(inspector, step, item, COMMIT, "a commit needs a failover first: put the failover step "
                              "in this step's needs")


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
