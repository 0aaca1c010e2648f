"""An estate file (``config/estates/*.yaml``, read as plain YAML) as the state Azure would hold.

Only the fields the double needs are read; ``simulation`` and ``primary_site`` are ignored. Like the
real service, Site Recovery names each protected item with a GUID (its VM name is ``friendlyName``),
each NIC with an opaque ID unless the estate names it, and each IP configuration ``ipconfig1`` unless
the estate names it.
"""

from __future__ import annotations

import base64
import os
import secrets
import uuid
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from tests.azure.arm import addresses
from tests.azure.arm.model import (
    COMMIT_PENDING,
    COMMITTED,
    AzureNic,
    DnsZone,
    Gateway,
    GatewayConnection,
    IpConfig,
    Item,
    Job,
    LocalGateway,
    Nic,
    Plan,
    RecordSet,
    RouteEntry,
    RouteTable,
    Vault,
    VNet,
    seed_stage,
)


def item_name(vm: str) -> str:
    """ASR names a replicated item with a GUID; operators know it by its VM's friendly name."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, vm))


def opaque_nic_id(item: str, index: int) -> str:
    """A NIC ID as Site Recovery gives Hyper-V NICs (the examples' shape: base64 of
    ``Microsoft:{VM GUID}\\{NIC GUID}``)."""
    nic = uuid.uuid5(uuid.NAMESPACE_URL, f"{item}/nic{index}")
    return base64.b64encode(f"Microsoft:{item.upper()}\\{str(nic).upper()}".encode()).decode()


def recovery_points(item: str, schedule: dict | None) -> list[tuple[str, str, str]]:
    """The points the replication policy kept up to the double's epoch: one every ``every_minutes`` (5), each
    ``app_consistent_every``-th (12) application-consistent, for ``retention_hours`` (24)."""
    from tests.azure.arm.service import EPOCH

    schedule = schedule or {}
    every = timedelta(minutes=schedule.get("every_minutes") or 5)
    count = int(timedelta(hours=schedule.get("retention_hours") or 24) / every)
    app_every = schedule.get("app_consistent_every") or 12
    points = []
    for k in range(count, -1, -1):
        at = EPOCH - k * every
        kind = "ApplicationConsistent" if (count - k) % app_every == 0 else "CrashConsistent"
        points.append((str(uuid.uuid5(uuid.NAMESPACE_URL, f"{item}/{at.isoformat()}")),
                       at.strftime("%Y-%m-%dT%H:%M:%S.%f0Z"), kind))
    return points


def etag() -> str:
    return str(uuid.uuid4())


class Estate:
    """Everything the double serves, built from one estate file."""

    def __init__(self, data: Mapping[str, Any], env: Mapping[str, str] | None = None):
        self.env = os.environ if env is None else env
        self.name = data.get("name", "estate")
        self.subscription = str(data["subscription"])
        self.resource_group = str(data["resource_group"])
        self.location = data.get("location") or "westeurope"
        self.vnets = {n.lower(): self._vnet(n, v) for n, v in (data.get("virtual_networks") or {}).items()}
        self.gateways = {n.lower(): Gateway(n, self.net_id("virtualNetworkGateways", n), g.get("location") or self.location,
                                            self.vnets[g["vnet"].lower()])
                         for n, g in (data.get("virtual_network_gateways") or {}).items()}
        self.local_gateways = {n.lower(): LocalGateway(n, self.net_id("localNetworkGateways", n),
                                                       g.get("location") or self.location, g["gateway_ip"],
                                                       [str(addresses.network(p)) for p in g.get("prefixes") or []])
                               for n, g in (data.get("local_network_gateways") or {}).items()}
        self.connections = {n.lower(): self._connection(n, c) for n, c in (data.get("connections") or {}).items()}
        self.route_tables = {n.lower(): self._table(n, t) for n, t in (data.get("route_tables") or {}).items()}
        self.vm_nics = [self._vm_nic(n, v) for n, v in (data.get("virtual_machines") or {}).items()]
        self.zones = {n.lower(): self._zone(n, z) for n, z in (data.get("dns_zones") or {}).items()}
        compute = data.get("compute") or {}
        self.usages = {n: (int(q["current"]), int(q["limit"])) for n, q in (compute.get("usages") or {}).items()}
        self.vm_sizes = {n: (v["family"], int(v["vcpus"])) for n, v in (compute.get("vm_sizes") or {}).items()}
        self.key_vaults = {n.lower(): {s.lower(): ref["env"] for s, ref in (kv.get("secrets") or {}).items()}
                           for n, kv in (data.get("key_vaults") or {}).items()}
        self.job_seq = 0
        self.vaults: dict[str, Vault] = {}
        for name, spec in (data.get("vaults") or {}).items():
            self.vaults[name.lower()] = self._vault(name, spec)

    @classmethod
    def load(cls, source: str | Path | Mapping[str, Any], env: Mapping[str, str] | None = None) -> Estate:
        data = source if isinstance(source, Mapping) else yaml.safe_load(Path(source).read_text())
        return cls(data, env)

    # --- IDs ------------------------------------------------------------------------------------------

    def net_id(self, kind: str, name: str) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/providers/Microsoft.Network/{kind}/{name}"

    def vnet_by_id(self, vnet_id: str | None) -> VNet | None:
        if not vnet_id:
            return None
        return next((v for v in self.vnets.values() if v.id.lower() == vnet_id.lower().rstrip("/")), None)

    # --- the network --------------------------------------------------------------------------------

    def _vnet(self, name: str, spec: dict) -> VNet:
        return VNet(name, self.net_id("virtualNetworks", name), spec.get("location") or self.location,
                    [str(addresses.network(p)) for p in spec["address_prefixes"]], dict(spec.get("subnets") or {}))

    def _connection(self, name: str, spec: dict) -> GatewayConnection:
        peers = self.local_gateways if spec["type"] == "IPsec" else self.gateways
        key_env = spec.get("shared_key_env")
        key = self.env.get(key_env, "") if key_env else ""
        gateway = self.gateways[spec["gateway"].lower()]
        return GatewayConnection(name, self.net_id("connections", name), gateway.location, spec["type"], gateway,
                                 peers[spec["peer"].lower()], key or secrets.token_urlsafe(24))

    def _table(self, name: str, spec: dict) -> RouteTable:
        routes = {r: RouteEntry(r, str(addresses.network(v["prefix"])), v["next_hop"], v.get("next_hop_ip"))
                  for r, v in (spec.get("routes") or {}).items()}
        subnets = []
        for ref in spec.get("subnets") or []:
            vnet, _, subnet = ref.partition("/")
            subnets.append((self.vnets[vnet.lower()], subnet))
        return RouteTable(name, self.net_id("routeTables", name), spec.get("location") or self.location, routes, subnets)

    def _vm_nic(self, name: str, spec: dict) -> AzureNic:
        vnet = self.vnets[spec["vnet"].lower()]
        return AzureNic(name, self.net_id("networkInterfaces", name), vnet, spec["subnet"], spec["ip"], name,
                        location=vnet.location)

    def _zone(self, name: str, spec: dict) -> DnsZone:
        records = {r.lower(): RecordSet(r, list(v["ips"]), int(v.get("ttl", 300)), etag())
                   for r, v in (spec.get("records") or {}).items()}
        return DnsZone(name, self.net_id("dnsZones", name), records)

    def nics(self) -> Iterator[AzureNic]:
        """Every NIC that holds an address: the estate's VMs', failed-over and test VMs'."""
        yield from self.vm_nics
        for vault in self.vaults.values():
            for item in vault.items.values():
                yield from item.recovered
                yield from item.test_nics

    def holder(self, vnet: VNet, ip: str, *, exclude: Item | None = None) -> AzureNic | None:
        """The NIC that holds ``ip`` in ``vnet`` (a failed-over item's own NICs aside, when excluded)."""
        own = {id(n) for n in (exclude.recovered + exclude.test_nics)} if exclude else set()
        return next((n for n in self.nics() if n.vnet is vnet and n.ip == ip and id(n) not in own), None)

    def claimant(self, vnet: VNet, ip: str, *, item: Item, nic_id: str) -> tuple[Item, str] | None:
        """Another NIC's recovery or test-failover target of ``ip`` in ``vnet``: (item, "recovery"|"test")."""
        for vault in self.vaults.values():
            for other in vault.items.values():
                for nic in other.targets:
                    if other is item and nic.nic_id == nic_id:
                        continue
                    for config in nic.ip_configs:
                        if nic.recovery_network and nic.recovery_network.lower() == vnet.id.lower() \
                                and config.recovery_ip == ip:
                            return other, "recovery"
                        if nic.tfo_network and nic.tfo_network.lower() == vnet.id.lower() and config.tfo_ip == ip:
                            return other, "test failover"
        return None

    def place(self, item: Item, nic: Nic, vnet: VNet, subnet: str | None, ip: str | None, *, test: bool) -> AzureNic:
        """A NIC for a failed-over (or test) VM: its static IP, or the subnet's first free address."""
        subnet = vnet.subnet(subnet) or next((s for s in vnet.subnets if s != "GatewaySubnet"), None)
        if subnet is None:
            raise ValueError(f"virtual network {vnet.name} has no subnet for {item.vm}")
        if not ip:
            used = [n.ip for n in self.nics() if n.vnet is vnet]
            ip = addresses.free(vnet.subnets[subnet], used, 1)[0]
        index = item.nics.index(nic) if nic in item.nics else 0
        name = f"{item.vm}-test-nic{index}" if test else (nic.recovery_nic_name or f"{item.vm}-nic{index}")
        return AzureNic(name, self.net_id("networkInterfaces", name), vnet, subnet, ip, f"{item.vm}-test" if test else item.vm,
                        nic.config.name, vnet.location)

    # --- Site Recovery ------------------------------------------------------------------------------

    def _vault(self, name: str, spec: dict) -> Vault:
        vault = Vault(name, self.subscription, self.resource_group, spec.get("fabric") or "primary-site-fabric",
                      spec.get("container") or "primary-site-container")
        self.vaults[name.lower()] = vault  # its items' addresses count as they are placed
        for vm, raw in (spec.get("protected_items") or {}).items():
            item = vault.items[vm.lower()] = self._item(vault, vm, raw or {})
            item.points = recovery_points(item.name, (raw or {}).get("recovery_points") or spec.get("recovery_points"))
            self._seed_placement(item)
        for plan, raw in (spec.get("recovery_plans") or {}).items():
            groups = [[vault.items[vm.lower()] for vm in group] for group in raw["groups"]]
            vault.plans[plan.lower()] = Plan(plan, vault, groups)
        return vault

    def _target(self, target: dict | None) -> tuple[str | None, str | None, str | None]:
        if not target:
            return None, None, None
        vnet = self.vnets.get(target["network"].lower())
        return (vnet.id if vnet else self.net_id("virtualNetworks", target["network"]), target.get("subnet"),
                target.get("ip"))

    def _item(self, vault: Vault, vm: str, raw: dict) -> Item:
        name = item_name(vm)
        given = raw.get("nics") or [{"source_ip": raw["source_ip"], "recovery": raw.get("recovery"),
                                     "test": raw.get("test")}]
        has_primary = any(n.get("primary") for n in given)
        nics = []
        for i, spec in enumerate(given):
            recovery_net, recovery_subnet, recovery_ip = self._target(spec.get("recovery"))
            tfo_net, tfo_subnet, tfo_ip = self._target(spec.get("test"))
            primary = bool(spec.get("primary")) if has_primary else i == 0
            config = IpConfig(spec.get("ip_config") or "ipconfig1", True, spec["source_ip"], recovery_subnet,
                              recovery_ip, tfo_subnet, tfo_ip)
            nics.append(Nic(spec.get("id") or opaque_nic_id(name, i), primary, [config], recovery_net, tfo_net,
                            recovery_nic_name=spec.get("id")))
        state = raw.get("state") or "Protected"
        location = raw.get("active_location") or ("Recovery" if state in COMMIT_PENDING or state in COMMITTED
                                                  else "Primary")
        tfo = raw.get("test_failover_state") or "None"
        stage = seed_stage(state, location, tfo)
        kind = None
        if stage in ("failed_over", "committed", "failed_back"):
            kind = COMMIT_PENDING.get(state) or ("planned" if state.startswith("Planned") else "unplanned")
        item = Item(vm, name, vault, nics, stage, state, location, tfo, raw.get("replication_health") or "Normal",
                    failover_kind=kind, inject_failover_error=(raw.get("inject") or {}).get("failover_error"),
                    health_errors=list(raw.get("health_errors") or []), rpo_seconds=raw.get("rpo_seconds", 120),
                    vm_size=raw.get("recovery_vm_size") or "Standard_D2s_v3")
        return item

    def _seed_placement(self, item: Item) -> None:
        """An item that the estate says runs in Azure, or has a test failover up, holds its addresses."""
        if item.stage in ("failed_over", "committed"):
            for nic in item.nics:
                vnet = self.vnet_by_id(nic.recovery_network)
                if vnet:
                    item.recovered.append(self.place(item, nic, vnet, nic.config.recovery_subnet,
                                                     nic.config.recovery_ip, test=False))
        if item.stage == "tfo_waiting":
            self.job_seq += 1
            job = Job(str(uuid.uuid5(uuid.NAMESPACE_URL, f"{item.name}/seeded-test-failover")), item.vault, "test",
                      self.job_seq, "2025-01-01T00:00:00Z", [item], state="Suspended",
                      description="WaitingForStopTestFailover")
            item.vault.jobs[job.name.lower()] = job
            item.job = job
            for nic in item.nics:
                vnet = self.vnet_by_id(nic.tfo_network)
                if vnet:
                    job.test_network = vnet
                    item.test_nics.append(self.place(item, nic, vnet, nic.config.tfo_subnet, nic.config.tfo_ip, test=True))
