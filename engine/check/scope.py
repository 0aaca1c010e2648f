"""What a runbook asks of the estate, read from its steps: the VMs it fails over and the target
addresses it gives them. Values given by expressions are resolved from the simulation's outputs
where the step ran, and left out where it did not."""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.ports import Adapter, VaultRef
from adapters.shared import ids
from adapters.shared.errors import NotFoundError
from engine.model.loader import LoadedRunbook


@dataclass(frozen=True)
class TargetAddress:
    step: str
    item: str
    network: str  # VNet resource ID
    subnet: str
    ip: str
    purpose: str  # recovery | test failover


@dataclass
class Scope:
    vault: VaultRef
    failed_over: dict[str, str] = field(default_factory=dict)  # VM -> the failover step that covers it
    addresses: list[TargetAddress] = field(default_factory=list)
    moving_steps: dict[str, str] = field(default_factory=dict)  # VM -> its planned/unplanned failover step


def _literal(value) -> str | None:
    return value if isinstance(value, str) and "${{" not in value else None


def scope_of(loaded: LoadedRunbook, adapter: Adapter, outputs: dict[str, dict]) -> Scope:
    """``outputs``: each step's outputs in the simulation (step id -> outputs)."""
    runbook = loaded.runbook
    target = runbook.target
    scope = Scope(target.vault_ref(None))
    for step in runbook.steps:
        args = step.with_ if isinstance(step.with_, dict) else {}
        if step.uses == "asr.failover":
            names = outputs.get(step.id, {}).get("items") or [n for n in args.get("items") or [] if _literal(n)]
            plan = _literal(args.get("plan"))
            if not names and plan:
                try:
                    names = list(adapter.replication.get_recovery_plan(target.vault_ref(args.get("vault")), plan).items)
                except NotFoundError:
                    names = []  # the plan's own rule (NET009) says so
            for name in names:
                scope.failed_over.setdefault(name, step.id)
                if args.get("type") != "test":
                    scope.moving_steps.setdefault(name, step.id)
        elif step.uses == "asr.set_target_ip":
            item = _literal(args.get("item"))
            if item is None:
                continue
            for purpose, net, sub, ip in (("recovery", "network", "subnet", "ip"),
                                          ("test failover", "test_network", "test_subnet", "test_ip")):
                network, address = _literal(args.get(net)), _literal(args.get(ip))
                subnet = _literal(args.get(sub)) or _literal(args.get("subnet"))
                if network and address and subnet:
                    vnet = ids.resolve(network, ids.VIRTUAL_NETWORK, target.subscription, target.resource_group)
                    scope.addresses.append(TargetAddress(step.id, item, vnet, subnet, address, purpose))
    return scope
