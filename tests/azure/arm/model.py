"""The double's state: what Azure holds for one estate, in Azure's own terms.

Site Recovery: vaults with protected items (their NICs and IP configurations as ASR names them), recovery
plans and jobs. Network: virtual networks and the NICs that hold their addresses, gateways, local network
gateways, connections, route tables, DNS zones, Key Vaults. Nothing here knows HTTP; ``asr.py`` and
``network.py`` answer requests from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# --- Site Recovery's words ----------------------------------------------------------------------------

IDLE_JOB_START = "1753-01-01T01:01:01Z"  # an idle item's currentScenario.startTime, in every example
RUNNING = ("NotStarted", "InProgress", "Cancelling")

IDLE_ALLOWED = ["PlannedFailover", "UnplannedFailover", "DisableProtection", "TestFailover"]
# What an item may do in each stage (the combinations the examples show; see STATE-VALUES.md). The
# failback stages (back at Primary after a planned failover from Azure) are the double's own reading.
ALLOWED = {
    "protected": IDLE_ALLOWED,
    "tfo_waiting": ["TestFailoverCleanup"],
    "failed_over": ["CompleteMigration", "Commit", "DisableProtection", "ChangePit"],
    "committed": ["CompleteMigration", "DisableProtection", "Failback"],
    "failed_back": ["Commit", "DisableProtection"],
    "failback_committed": ["ReverseReplicate", "DisableProtection"],
    "other": ["DisableProtection"],
}
# A recovery plan offers these, when every item it holds allows them (ReplicationRecoveryPlans examples).
PLAN_OPERATIONS = ["PlannedFailover", "UnplannedFailover", "TestFailover", "TestFailoverCleanup", "Commit",
                   "CancelFailover", "ReverseReplicate"]

PROTECTION_DESCRIPTIONS = {
    "Protected": "Protected",
    "PlannedFailoverCommitRequired": "Planned failover finished",
    "PlannedFailoverStatesBegin": "Planned failover committed",
    "UnplannedFailoverCommitPendingStatesBegin": "Failover completed",
    "UnplannedFailoverCommitted": "Failover committed",
    "FailoverCompleted": "Failover completed.",
    "FailoverCommited": "Failover committed.",
    "UnplannedFailoverFailed": "Failover failed",
}
TEST_FAILOVER_DESCRIPTIONS = {
    "None": "None",
    "MarkedForDeletion": "Cleaning up test environment",
    "WaitingForCompletion": "Waiting for user input",
    "WaitingForCleanup": "Waiting for Test Failover Cleanup to start",
}
# Failed over, commit pending: which kind of failover got the item there.
COMMIT_PENDING = {"PlannedFailoverCommitRequired": "planned", "PlannedFailoverCompleted": "planned",
                  "UnplannedFailoverCommitPendingStatesBegin": "unplanned", "UnplannedFailoverCommitRequired": "unplanned",
                  "UnplannedFailoverCompleted": "unplanned", "FailoverCompleted": "unplanned"}
COMMITTED = ("PlannedFailoverStatesBegin", "UnplannedFailoverCommitted", "FailoverCommited", "FailoverCommitted",
             "CommitFailoverCompleted", "CommitFailoverStatesEnd")
PROTECTED = ("Protected", "ProtectedStatesBegin", "ProtectedStatesEnd", "ReprotectStatesEnd", "CancelFailoverStatesEnd")

# Each job kind: the scenario it shows, its display name, and the item operation that must be allowed.
JOB_KINDS = {
    "planned": ("PlannedFailover", "Planned failover", "PlannedFailover"),
    "failback": ("PlannedFailover", "Planned failover", "Failback"),
    "unplanned": ("UnplannedFailover", "Unplanned failover", "UnplannedFailover"),
    "test": ("TestFailover", "Test failover", "TestFailover"),
    "cleanup": ("TestFailoverCleanup", "Cleanup test failover", "TestFailoverCleanup"),
    "commit": ("CommitFailover", "Commit", "Commit"),
    "cancel": ("CancelFailover", "Cancel failover", "CancelFailover"),
    "reprotect": ("ReverseReplication", "Reverse replicate", "ReverseReplicate"),
    "change_point": ("ChangeRecoveryPoint", "Change recovery point", "ChangePit"),
    "update": ("UpdateVmProperties", "Update the virtual machine", None),
}


def seed_stage(state: str, location: str, test_failover_state: str) -> str:
    """The stage an estate's item is in, from the service's words."""
    if test_failover_state in ("WaitingForCompletion", "WaitingForCleanup"):
        return "tfo_waiting"
    if location == "Recovery":
        return "failed_over" if state in COMMIT_PENDING else "committed"
    if state in PROTECTED:
        return "protected"
    return "failed_back" if state in COMMIT_PENDING else "other"


# --- network ------------------------------------------------------------------------------------------


@dataclass(eq=False)
class VNet:
    name: str
    id: str
    location: str
    prefixes: list[str]
    subnets: dict[str, str]  # name -> prefix
    tags: dict[str, str] = field(default_factory=dict)

    def subnet(self, name: str | None) -> str | None:
        """The subnet's actual name (Azure compares names without case)."""
        if not name:
            return None
        return next((s for s in self.subnets if s.lower() == name.lower()), None)

    def subnet_id(self, name: str) -> str:
        return f"{self.id}/subnets/{name}"


@dataclass(eq=False)
class AzureNic:
    """A network interface holding an address in a VNet: an estate VM's, or a failed-over VM's."""

    name: str
    id: str
    vnet: VNet
    subnet: str
    ip: str
    vm: str
    ip_config: str = "ipconfig1"
    location: str = ""


@dataclass(eq=False)
class Gateway:
    name: str
    id: str
    location: str
    vnet: VNet


@dataclass(eq=False)
class LocalGateway:
    name: str
    id: str
    location: str
    gateway_ip: str
    prefixes: list[str]
    provisioning: str = "Succeeded"
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(eq=False)
class GatewayConnection:
    name: str
    id: str
    location: str
    type: str  # IPsec | Vnet2Vnet
    gateway1: Gateway
    peer: Gateway | LocalGateway
    shared_key: str
    tags: dict[str, str] = field(default_factory=dict)
    protocol: str = "IKEv2"
    routing_weight: int = 0
    provisioning: str = "Succeeded"


@dataclass
class RouteEntry:
    name: str
    prefix: str
    next_hop: str
    next_hop_ip: str | None = None
    provisioning: str = "Succeeded"


@dataclass(eq=False)
class RouteTable:
    name: str
    id: str
    location: str
    routes: dict[str, RouteEntry]
    subnets: list[tuple[VNet, str]]
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class RecordSet:
    name: str
    ips: list[str]
    ttl: int
    etag: str
    metadata: dict[str, str] | None = None


@dataclass(eq=False)
class DnsZone:
    name: str
    id: str
    records: dict[str, RecordSet]


@dataclass
class Operation:
    """A network or DNS long-running operation: ``polls`` more status reads answer InProgress; nobody
    polling, it ends anyway once ``BACKGROUND_TICKS`` more requests of any kind have come (ARM finishes an
    accepted operation whether or not its client is still there)."""

    id: str
    location: str
    polls: int
    done: Callable[[], None] | None = None
    status: str = "InProgress"
    started: int = 0  # the service's tick when it was accepted


# --- Site Recovery ------------------------------------------------------------------------------------


@dataclass
class IpConfig:
    name: str
    primary: bool
    source_ip: str
    recovery_subnet: str | None = None
    recovery_ip: str | None = None
    tfo_subnet: str | None = None
    tfo_ip: str | None = None
    selected: bool = True


@dataclass
class Nic:
    nic_id: str
    primary: bool
    ip_configs: list[IpConfig]
    recovery_network: str | None = None  # VNet ID
    tfo_network: str | None = None
    recovery_nic_name: str | None = None

    @property
    def config(self) -> IpConfig:
        return next((c for c in self.ip_configs if c.primary), self.ip_configs[0])


@dataclass(eq=False)
class Item:
    vm: str
    name: str  # ASR's GUID
    vault: Vault
    nics: list[Nic]
    stage: str
    protection_state: str
    active_location: str
    test_failover_state: str
    health: str = "Normal"
    description: str | None = None  # protectionStateDescription, when not the state's usual one
    failover_kind: str | None = None  # planned | unplanned: how it got to Azure
    job: Job | None = None  # the job its currentScenario names (running, or a test failover waiting)
    pending: list[Nic] | None = None  # an update whose job has not finished
    recovered: list[AzureNic] = field(default_factory=list)  # its NICs in Azure once failed over
    test_nics: list[AzureNic] = field(default_factory=list)  # its test VM's NICs
    inject_failover_error: str | None = None
    last_failover: str | None = None
    last_test_failover: str | None = None
    health_errors: list[str] = field(default_factory=list)  # healthErrors, by their errorMessage
    rpo_seconds: int | None = 120  # rpoInSeconds, as of the request (lastRpoCalculatedTime)
    vm_size: str = "Standard_D2s_v3"  # recoveryAzureVMSize
    points: list[tuple[str, str, str]] = field(default_factory=list)  # (name, recoveryPointTime, type), oldest first
    failover_point: str | None = None  # the point its failover used (failoverRecoveryPointId)

    @property
    def id(self) -> str:
        return (f"{self.vault.id}/replicationFabrics/{self.vault.fabric}/replicationProtectionContainers/"
                f"{self.vault.container}/replicationProtectedItems/{self.name}")

    @property
    def busy(self) -> bool:
        return self.job is not None and self.job.state in RUNNING

    @property
    def allowed(self) -> list[str]:
        return [] if self.busy else list(ALLOWED[self.stage])

    @property
    def targets(self) -> list[Nic]:
        """Its NIC settings, including an update that has not finished yet."""
        return self.pending if self.pending is not None else self.nics


@dataclass(eq=False)
class Plan:
    name: str
    vault: Vault
    groups: list[list[Item]]
    last_job: Job | None = None
    times: dict[str, str] = field(default_factory=dict)  # lastPlannedFailoverTime...

    @property
    def id(self) -> str:
        return f"{self.vault.id}/replicationRecoveryPlans/{self.name}"

    @property
    def items(self) -> list[Item]:
        return [i for g in self.groups for i in g]

    @property
    def allowed(self) -> list[str]:
        ops = [op for op in PLAN_OPERATIONS if all(op in i.allowed for i in self.items)]
        return ops if self.items else []


@dataclass(eq=False)
class Job:
    name: str
    vault: Vault
    kind: str
    seq: int
    start: str
    items: list[Item]
    plan: Plan | None = None
    state: str = "NotStarted"
    description: str = "NotStarted"
    end: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    observed: int = 0
    operation: str = ""  # the replicationOperationStatus ID its 202 named
    test_network: VNet | None = None
    previous: dict[str, Job | None] = field(default_factory=dict)  # item name -> the job it named before
    point: str | None = None  # the recovery point a failover or a change of point names
    point_type: str | None = None  # a plan's failover: the type of point each item takes

    @property
    def scenario(self) -> str:
        return JOB_KINDS[self.kind][0]

    @property
    def friendly(self) -> str:
        return JOB_KINDS[self.kind][1]

    @property
    def id(self) -> str:
        return f"{self.vault.id}/replicationJobs/{self.name}"

    @property
    def running(self) -> bool:
        return self.state in RUNNING


@dataclass(eq=False)
class Vault:
    name: str
    subscription: str
    resource_group: str
    fabric: str
    container: str
    items: dict[str, Item] = field(default_factory=dict)  # VM name (lower) -> item
    plans: dict[str, Plan] = field(default_factory=dict)  # plan name (lower) -> plan
    jobs: dict[str, Job] = field(default_factory=dict)  # job name (lower) -> job
    operations: dict[str, Job] = field(default_factory=dict)  # operation ID (lower) -> its job

    @property
    def id(self) -> str:
        """As Site Recovery writes it: ``/Subscriptions/`` with a capital S."""
        return (f"/Subscriptions/{self.subscription}/resourceGroups/{self.resource_group}/providers/"
                f"Microsoft.RecoveryServices/vaults/{self.name}")

    def item_by_name(self, name: str) -> Item | None:
        return next((i for i in self.items.values() if i.name.lower() == name.lower()), None)
