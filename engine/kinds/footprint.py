"""What a step touches: the resources it reads and writes, as its kind declares them (``footprint()``).

Two steps conflict when they touch one resource and at least one of them writes it, unless both make a
change that commutes (two connections added to one gateway end the same in either order). A runbook
must order every conflicting pair by ``needs``; then any order the runner picks ends in the same state
(see docs/rules.md, RACE001).
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from adapters.ports import VaultRef
from adapters.shared import ids

READ = "read"
WRITE = "write"
CONNECT = "connect"  # a connection added to a gateway: commutes with other connections added to it

VERBS = {READ: "reads", WRITE: "changes", CONNECT: "adds a connection to"}
COMMUTING = frozenset({CONNECT})


class Touch(NamedTuple):
    """One resource a step touches, and how."""

    resource: str  # the key: a lowercase resource ID, or one with a part of it (a record, a gateway's reach)
    label: str  # how a person names it: "protected item app01"
    access: str = WRITE  # READ, WRITE, or a change that commutes with itself (CONNECT)


def conflict(a: str, b: str) -> bool:
    """Whether two accesses to one resource give a different outcome in a different order."""
    if a == READ and b == READ:
        return False
    return not (a == b and a in COMMUTING)


def stronger(a: str, b: str) -> str:
    """One access standing for a step's two accesses to the same resource."""
    if a == b:
        return a
    if a == READ:
        return b
    if b == READ:
        return a
    return WRITE


class Scope(Protocol):
    """What a footprint needs to name resources: the runbook's target and a read of the estate."""

    def resource_id(self, value: str, kind: str) -> str: ...

    def vault(self, name: str | None) -> VaultRef: ...

    def plan_items(self, vault: VaultRef, plan: str) -> list[str] | None:
        """A recovery plan's items, or None when the vault has no such plan."""

    def gateways_connected_to(self, local_gateway_id: str) -> list[str]:
        """The virtual network gateways a local network gateway is connected to, now or by the runbook."""


def protected_items(scope: Scope, vault_name: str | None, items: list[str] | None, plan: str | None,
                    access: str = WRITE) -> list[Touch]:
    """Each protected item a step names (a recovery plan: each of its items)."""
    vault = scope.vault(vault_name)
    if plan is not None:
        names = scope.plan_items(vault, plan)
        if names is None:
            key = f"{vault.subscription}/{vault.resource_group}/{vault.vault}/plan/{plan}".lower()
            return [Touch(key, f"recovery plan {plan}", access)]
    else:
        names = items or []
    return [protected_item(vault, name, access) for name in names]


def protected_item(vault: VaultRef, name: str, access: str = WRITE) -> Touch:
    key = f"{vault.subscription}/{vault.resource_group}/{vault.vault}/{name}".lower()
    return Touch(key, f"protected item {name}", access)


def named_resource(scope: Scope, value: str, kind: str, label: str, access: str = WRITE) -> Touch:
    """A resource named by name or ID, e.g. ``named_resource(scope, "woodgrove-rt", ids.ROUTE_TABLE, "route table")``."""
    rid = scope.resource_id(value, kind)
    return Touch(rid.lower(), f"{label} {ids.name_of(rid)}", access)


def gateway_reach(gateway_id: str, access: str) -> Touch:
    """The networks reachable through a virtual network gateway (its VNet, connected VNets, the prefixes
    of connected local network gateways): Azure refuses a change that makes two of them overlap."""
    return Touch(f"{gateway_id.lower()}#reach", f"the networks reachable through gateway {ids.name_of(gateway_id)}",
                 access)


def dns_record(scope: Scope, zone: str, name: str, access: str = WRITE) -> Touch:
    """An A record set of a zone (records of one zone are written apart)."""
    zone_id = scope.resource_id(zone, ids.DNS_ZONE)
    fqdn = ids.name_of(zone_id) if name == "@" else f"{name}.{ids.name_of(zone_id)}"
    return Touch(f"{zone_id.lower()}/a/{name.lower()}", f"DNS A record {fqdn}", access)
