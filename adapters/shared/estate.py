"""The estate file: an Azure estate and the primary site, as YAML (``config/estates/*.yaml``).

Validated with pydantic, every problem collected with its path and line (``EstateInvalid``).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from adapters.ports import NEXT_HOP_TYPES
from adapters.shared.addressing import address_text, network_text
from adapters.shared.estatecheck import network_problems
from adapters.shared.itemstate import PROTECTION_STATES, TEST_FAILOVER_STATES
from adapters.shared.yamlsource import SourceError, load


class EstateInvalid(Exception):
    """Each problem as (path, line, message, column)."""

    def __init__(self, file: str, problems: list[tuple[str, int | None, str, int | None]]):
        self.file = file
        self.problems = problems
        super().__init__("; ".join(f"{file}:{line or '?'} {path}: {message}" for path, line, message, _ in problems))


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _prefix(value: str) -> str:
    return network_text(value)


def _address(value: str) -> str:
    return address_text(value)


class Target(Model):
    network: str
    subnet: str
    ip: str | None = None

    _ip = field_validator("ip")(classmethod(lambda cls, v: None if v is None else _address(v)))


class Inject(Model):
    failover_error: str | None = Field(None, description="the next failover job of this item fails with this error")


class Nic(Model):
    id: str | None = Field(None, description="the NIC's name (default: ITEM-nicN)")
    ip_config: str | None = Field(None, description="the name of its primary IP configuration (default: NIC-ipconfig)")
    source_ip: str = Field(description="the NIC's IP on-premises")
    primary: bool | None = Field(None, description="the VM's primary NIC (default: the first)")
    recovery: Target | None = None
    test: Target | None = None

    _ip = field_validator("source_ip")(classmethod(lambda cls, v: _address(v)))


def _known_value(table, field: str):
    """A validator: the value is one the service uses for ``field`` (its exact spelling)."""

    def check(cls, value):
        if value not in table:
            raise ValueError(f"unknown {field} {value!r}; use one of: {', '.join(table)}")
        return value

    return classmethod(check)


HEALTHS_KNOWN = ("None", "Normal", "Warning", "Critical")  # replicationHealth


class Point(Model):
    time: datetime = Field(description="recoveryPointTime (ISO 8601, UTC when no offset is given)")
    type: Literal["ApplicationConsistent", "CrashConsistent"] = "CrashConsistent"


class RecoveryPoints(Model):
    """The recovery points an item keeps: taken on a schedule (every ``every_minutes``, each
    ``app_consistent_every``-th one application-consistent, kept ``retention_hours``), and/or a list of
    points as a snapshot of a real item read them."""

    every_minutes: float | None = Field(5, gt=0, description="a crash-consistent point this often (null: none)")
    app_consistent_every: int = Field(12, ge=1, description="every Nth scheduled point is application-consistent")
    retention_hours: float = Field(24, gt=0, description="points older than this are gone")
    points: list[Point] = Field(default_factory=list, description="points besides the schedule's")
    from_service: bool = Field(False, description="the item's points are read from the service when first asked "
                                                  "(a plan against Azure); no schedule, no retention of our own")


class ProtectedItem(Model):
    source_ip: str | None = Field(None, description="the VM's IP on-premises (a VM with one NIC)")
    nics: list[Nic] | None = Field(None, description="the VM's NICs, when it has several or names them")
    state: str = Field("Protected", description="protectionState, in the service's words")
    active_location: Literal["Primary", "Recovery"] | None = Field(
        None, description="where it runs (default: Recovery once failed over, else Primary)")
    test_failover_state: str = Field("None", description="testFailoverState, in the service's words")
    replication_health: Literal[*HEALTHS_KNOWN] = "Normal"
    health_errors: list[str] = Field(default_factory=list, description="healthErrors: each error's message")
    rpo_seconds: int = Field(120, ge=0, description="rpoInSeconds: the age of its latest recovery point")
    recovery_vm_size: str = Field("Standard_D2s_v3", description="recoveryAzureVMSize: the VM a failover creates")
    recovery: Target | None = None
    test: Target | None = None
    recovery_points: RecoveryPoints | None = Field(None, description="default: the vault's recovery_points")
    recovery_point: str | None = Field(None, description="failoverRecoveryPointId, for an item failed over")
    inject: Inject = Field(default_factory=Inject)

    _ip = field_validator("source_ip")(classmethod(lambda cls, v: None if v is None else _address(v)))
    _state = field_validator("state")(_known_value(PROTECTION_STATES, "protection state"))
    _test_state = field_validator("test_failover_state")(_known_value(TEST_FAILOVER_STATES, "test failover state"))

    @model_validator(mode="after")
    def _one_way_to_give_nics(self):
        if (self.source_ip is None) == (self.nics is None):
            raise ValueError("give `source_ip` (one NIC) or `nics` (a list), not both")
        if self.nics is not None and (self.recovery or self.test):
            raise ValueError("with `nics`, give `recovery` and `test` per NIC")
        if self.nics is not None and not self.nics:
            raise ValueError("`nics` is empty: a protected VM has at least one NIC")
        return self

    def nic_list(self, name: str) -> list[Nic]:
        """Its NICs, with every default filled in."""
        given = self.nics if self.nics is not None else [Nic(source_ip=self.source_ip, recovery=self.recovery,
                                                              test=self.test)]
        has_primary = any(n.primary for n in given)
        nics = []
        for i, (nic, nic_id) in enumerate(zip(given, self.nic_ids(name), strict=True)):
            nics.append(nic.model_copy(update={"id": nic_id, "ip_config": nic.ip_config or f"{nic_id}-ipconfig",
                                               "primary": bool(nic.primary) if has_primary else i == 0}))
        return nics

    def nic_ids(self, name: str) -> list[str]:
        """Its NICs' IDs (``nic_list``'s, without making the NICs: every estate that is opened checks them)."""
        if self.nics is None:
            return [f"{name}-nic0"]
        return [nic.id or f"{name}-nic{i}" for i, nic in enumerate(self.nics)]


class RecoveryPlan(Model):
    groups: list[list[str]] = Field(min_length=1)


class Vault(Model):
    fabric: str = "primary-site-fabric"
    container: str = "primary-site-container"
    protected_items: dict[str, ProtectedItem] = Field(default_factory=dict)
    recovery_plans: dict[str, RecoveryPlan] = Field(default_factory=dict)
    recovery_points: RecoveryPoints = Field(default_factory=RecoveryPoints,
                                            description="the replication policy's points, for every item")

    @model_validator(mode="after")
    def _plans_name_items(self):
        for plan, spec in self.recovery_plans.items():
            unknown = [i for group in spec.groups for i in group if i not in self.protected_items]
            if unknown:
                raise ValueError(f"recovery plan {plan} names unknown items {unknown}")
            if sum(len(g) for g in spec.groups) > 100:
                raise ValueError(f"recovery plan {plan} has more than the 100 items ASR allows")
        seen: dict[str, str] = {}
        for name, item in self.protected_items.items():
            for nic_id in item.nic_ids(name):
                if nic_id.lower() in seen:
                    raise ValueError(f"NIC {nic_id} of {name} is also a NIC of {seen[nic_id.lower()]}")
                seen[nic_id.lower()] = name
        return self


class VirtualNetwork(Model):
    address_prefixes: list[str] = Field(min_length=1)
    subnets: dict[str, str] = Field(default_factory=dict)
    location: str | None = None

    _prefixes = field_validator("address_prefixes")(classmethod(lambda cls, v: [_prefix(p) for p in v]))
    _subnets = field_validator("subnets")(classmethod(lambda cls, v: {k: _prefix(p) for k, p in v.items()}))


class Gateway(Model):
    vnet: str
    location: str | None = None


class LocalGateway(Model):
    gateway_ip: str
    prefixes: list[str]
    location: str | None = None

    _prefixes = field_validator("prefixes")(classmethod(lambda cls, v: [_prefix(p) for p in v]))


class Connection(Model):
    type: Literal["IPsec", "Vnet2Vnet"]
    gateway: str
    peer: str = Field(description="a local network gateway (IPsec) or a virtual network gateway (Vnet2Vnet)")
    shared_key_env: str | None = Field(None, description="environment variable holding the key, if known")


class Route(Model):
    prefix: str
    next_hop: Literal[*NEXT_HOP_TYPES]
    next_hop_ip: str | None = None

    _prefix = field_validator("prefix")(classmethod(lambda cls, v: _prefix(v)))


class RouteTable(Model):
    subnets: list[str] = Field(default_factory=list, description="vnet/subnet names the table is on")
    routes: dict[str, Route] = Field(default_factory=dict)
    location: str | None = None


class VirtualMachine(Model):
    vnet: str
    subnet: str
    ip: str

    _ip = field_validator("ip")(classmethod(lambda cls, v: _address(v)))


class ARecord(Model):
    ips: list[str]
    ttl: int = 300


class DnsZone(Model):
    records: dict[str, ARecord] = Field(default_factory=dict)


class SecretRef(Model):
    env: str


class KeyVault(Model):
    secrets: dict[str, SecretRef] = Field(default_factory=dict)


class Quota(Model):
    current: int = Field(ge=0)
    limit: int = Field(ge=0)


class VmSizeSpec(Model):
    family: str
    vcpus: int = Field(ge=1)


# A few sizes as the region's resource SKUs describe them (family, vCPUs); an estate may add its own.
VM_SIZES = {
    "Standard_B2s": VmSizeSpec(family="standardBSFamily", vcpus=2),
    "Standard_D2s_v3": VmSizeSpec(family="standardDSv3Family", vcpus=2),
    "Standard_D4s_v3": VmSizeSpec(family="standardDSv3Family", vcpus=4),
    "Standard_D8s_v3": VmSizeSpec(family="standardDSv3Family", vcpus=8),
    "Standard_E4s_v3": VmSizeSpec(family="standardESv3Family", vcpus=4),
    "Standard_F4s_v2": VmSizeSpec(family="standardFSv2Family", vcpus=4),
}


class Compute(Model):
    """The recovery region's vCPU quotas (``usages``: ``cores`` for all regional vCPUs, and one per
    family) and the VM sizes it offers."""

    usages: dict[str, Quota] = Field(default_factory=dict)
    vm_sizes: dict[str, VmSizeSpec] = Field(default_factory=dict)


class Latency(Model):
    read_ms: float = Field(5, ge=0)
    write_ms: float = Field(20, ge=0)
    job_ms: float = Field(500, ge=0)
    job_jitter: float = Field(0.0, ge=0, lt=1, description="each job takes job_ms times 1 ± up to this")
    job_sigma: float = Field(0.0, ge=0, le=3, description="each item's job takes job_ms times e^(sigma Z), Z a "
                             "standard normal drawn from the seed and the work (lognormal: skewed, median job_ms); "
                             "replaces job_jitter when set")
    commit_ms: float | None = Field(None, ge=0, description="a commit's job runs this long (default: job_ms)")
    job_queue_ms: float = Field(0, ge=0, description="a job waits this long NotStarted before it runs")
    update_ms: float = Field(0, ge=0, description="the job that updates an item's target network runs this long")


class Faults(Model):
    transient_rate: float = Field(0.0, ge=0, le=1)
    seed: int = 1


class Throttle(Model):
    reads: tuple[float, float] = (250, 25)
    writes: tuple[float, float] = (200, 10)


class Simulation(Model):
    latency: Latency = Field(default_factory=Latency)
    faults: Faults = Field(default_factory=Faults)
    throttle: Throttle | None = Field(default_factory=Throttle)
    time_scale: float = Field(1.0, gt=0)


class PrimarySite(Model):
    name: str
    subnets: list[str] = Field(default_factory=list)


class Estate(Model):
    version: Literal[1] = 1
    name: str
    description: str | None = None
    subscription: str
    resource_group: str
    location: str = "westeurope"
    primary_site: PrimarySite | None = None
    vaults: dict[str, Vault] = Field(default_factory=dict)
    virtual_networks: dict[str, VirtualNetwork] = Field(default_factory=dict)
    virtual_network_gateways: dict[str, Gateway] = Field(default_factory=dict)
    local_network_gateways: dict[str, LocalGateway] = Field(default_factory=dict)
    connections: dict[str, Connection] = Field(default_factory=dict)
    route_tables: dict[str, RouteTable] = Field(default_factory=dict)
    virtual_machines: dict[str, VirtualMachine] = Field(default_factory=dict)
    dns_zones: dict[str, DnsZone] = Field(default_factory=dict)
    key_vaults: dict[str, KeyVault] = Field(default_factory=dict)
    stand_in_secrets: dict[str, str] = Field(
        default_factory=dict, description="environment variable -> a made-up value this fake estate uses when the "
        "variable is not set, so that a rehearsal runs without the real secret (never used against Azure)")
    compute: Compute = Field(default_factory=Compute)
    simulation: Simulation = Field(default_factory=Simulation)

    @model_validator(mode="after")
    def _references(self):
        problems = []
        for name, gw in self.virtual_network_gateways.items():
            if gw.vnet not in self.virtual_networks:
                problems.append(f"gateway {name} is in unknown virtual network {gw.vnet}")
        for name, conn in self.connections.items():
            if conn.gateway not in self.virtual_network_gateways:
                problems.append(f"connection {name}: unknown gateway {conn.gateway}")
            peers = self.local_network_gateways if conn.type == "IPsec" else self.virtual_network_gateways
            if conn.peer not in peers:
                problems.append(f"connection {name}: unknown {'local network' if conn.type == 'IPsec' else ''} "
                                f"gateway {conn.peer}")
        for name, vm in self.virtual_machines.items():
            vnet = self.virtual_networks.get(vm.vnet)
            if vnet is None or vm.subnet not in vnet.subnets:
                problems.append(f"virtual machine {name}: unknown subnet {vm.vnet}/{vm.subnet}")
        for name, table in self.route_tables.items():
            for ref in table.subnets:
                vnet, _, subnet = ref.partition("/")
                if vnet not in self.virtual_networks or subnet not in self.virtual_networks[vnet].subnets:
                    problems.append(f"route table {name}: unknown subnet {ref} (write vnet/subnet)")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def load_estate(path: Path | str) -> Estate:
    try:
        source = load(path)
    except SourceError as exc:
        raise EstateInvalid(exc.file, [("", exc.line, exc.message, exc.column)]) from None
    duplicates = [(".".join(map(str, path)), line, f"key {path[-1]!r} appears twice; keep one of them",
                   source.column_of(path)) for path, line in source.duplicates]
    if not isinstance(source.data, dict):
        raise EstateInvalid(source.file, duplicates + [("", 1, "an estate file is a YAML mapping with name, "
                                                        "subscription, resource_group, vaults...", 1)])
    try:
        estate = Estate.model_validate(source.data)
    except ValidationError as exc:
        raise EstateInvalid(source.file, duplicates + [
            (".".join(str(p) for p in e["loc"]), source.line_of(tuple(e["loc"])),
             e["msg"].removeprefix("Value error, "), source.column_of(tuple(e["loc"])))
            for e in exc.errors()
        ]) from None
    if duplicates:
        raise EstateInvalid(source.file, duplicates)
    problems = network_problems(estate)  # what Azure could not hold: overlaps, reserved and duplicate IPs
    if problems:
        raise EstateInvalid(source.file, [(".".join(map(str, path)), source.line_of(path), message,
                                           source.column_of(path)) for path, message in problems])
    return estate
