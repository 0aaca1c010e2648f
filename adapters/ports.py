"""The ports: what the engine's step kinds need from a cloud, and nothing more.

Two adapters implement them: ``adapters.fake`` (a stateful in-memory Azure estate) and
``adapters.azure`` (the Azure SDK). Both raise only the errors in ``adapters.shared.errors``.

Resources are addressed by full Azure resource IDs (see ``adapters.shared.ids``); ASR objects by their vault
(``VaultRef``) and name. Every ``get_*`` raises ``NotFoundError`` when the resource does not exist,
every ``find_*`` returns ``None`` instead. Methods that change the cloud are marked "writes"; they
appear in the fake's ledger.

What the ports answer is immutable: frozen dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from adapters.shared.clock import Clock
from adapters.shared.itemstate import APP_CONSISTENT, JOB_FINISHED, TEST_FAILOVER_SCENARIO, WAITING_FOR_CLEANUP, ItemState
from adapters.shared.secret import Secret

# ---------------------------------------------------------------------------------------------------
# Site Recovery


@dataclass(frozen=True)
class VaultRef:
    subscription: str
    resource_group: str
    vault: str


@dataclass(frozen=True, slots=True)
class NicSettings:
    """One NIC of a protected item: where it comes up after failover and after test failover.

    ASR keeps only the primary IP configuration of a NIC (``ip_config`` names it, as the item does);
    ``source_ip`` is the address it has on-premises. Networks are VNet resource IDs; subnets are subnet
    names inside them.
    """

    nic_id: str
    ip_config: str = ""
    source_ip: str | None = None
    is_primary: bool = True
    recovery_network: str | None = None
    recovery_subnet: str | None = None
    recovery_ip: str | None = None
    test_network: str | None = None
    test_subnet: str | None = None
    test_ip: str | None = None


@dataclass(frozen=True, slots=True)
class NetworkSettings:
    """The desired target network of one NIC; ``None`` leaves a field as it is, and ``test_network=""``
    clears the test-failover settings (they are optional in ASR; the recovery network cannot be cleared)."""

    recovery_network: str | None = None
    recovery_subnet: str | None = None
    recovery_ip: str | None = None
    test_network: str | None = None
    test_subnet: str | None = None
    test_ip: str | None = None


@dataclass(frozen=True, slots=True)
class ReplicationStatus:
    """How an item's replication goes, in the service's own fields: ``replicationHealth`` and
    ``healthErrors``; from the provider's details, the RPO it last calculated (``rpoInSeconds`` at
    ``lastRpoCalculatedTime``), when it last replicated (``lastReplicatedTime``) and the size of the VM a
    failover creates (``recoveryAzureVMSize``). Times are epoch seconds; ``None`` when not reported."""

    health: str = "Normal"
    health_errors: tuple[str, ...] = ()
    rpo_seconds: float | None = None
    rpo_calculated_at: float | None = None  # None: calculated now (the fake's replication is continuous)
    last_replicated_at: float | None = None
    recovery_vm_size: str | None = None

    def recovery_point_age(self, now: float) -> float | None:
        """Seconds since the latest recovery point, as of ``now``; ``None`` when the service says nothing."""
        if self.rpo_seconds is not None:
            since = 0.0 if self.rpo_calculated_at is None else max(0.0, now - self.rpo_calculated_at)
            return self.rpo_seconds + since
        if self.last_replicated_at is not None:
            return max(0.0, now - self.last_replicated_at)
        return None


@dataclass(frozen=True, slots=True)
class RecoveryPoint:
    """A point in time an item can be failed over to (``recoveryPoints`` of the item)."""

    id: str  # the point's resource ID (what a failover or a change of point names)
    time: float  # recoveryPointTime, seconds since the epoch (UTC)
    type: str  # recoveryPointType: ApplicationConsistent | CrashConsistent

    @property
    def app_consistent(self) -> bool:
        return self.type == APP_CONSISTENT


@dataclass(frozen=True, slots=True)
class ProtectedItem:
    name: str  # ASR's name of the replicated item
    vm_name: str  # the friendly name operators use
    state: ItemState  # what it does and may do next (decide from this)
    nics: tuple[NicSettings, ...]
    recovery_vm_ip: str | None = None  # the failed-over VM's primary IP once it exists
    test_vm_ip: str | None = None  # the test-failover VM's primary IP while it exists
    id: str = ""
    replication: ReplicationStatus | None = None  # how replication goes, as the service reports it
    recovery_point_id: str | None = None  # failoverRecoveryPointId: the point its last failover used

    @property
    def primary_nic(self) -> NicSettings:
        for nic in self.nics:
            if nic.is_primary:
                return nic
        if not self.nics:
            raise LookupError(f"protected item {self.vm_name} has no NIC")
        return self.nics[0]


@dataclass(frozen=True)
class RecoveryPlan:
    name: str
    groups: tuple[tuple[str, ...], ...]  # item names (vm names), group by group
    allowed_operations: tuple[str, ...] = ()
    current_job_id: str | None = None
    id: str = ""

    @property
    def items(self) -> tuple[str, ...]:
        return tuple(item for group in self.groups for item in group)




@dataclass(frozen=True)
class JobHandle:
    """What is needed to find an ASR job again, even from another process after a crash."""

    vault: VaultRef
    job_id: str
    operation: str  # e.g. PlannedFailover, Commit
    target: str  # the item's vm name or the plan's name


@dataclass(frozen=True)
class Job:
    id: str
    state: str  # NotStarted | InProgress | Cancelling | Succeeded | Failed | Cancelled | Suspended | Other
    operation: str = ""  # the job's scenarioName
    target: str = ""
    errors: tuple[str, ...] = ()
    started_at: float | None = None
    ended_at: float | None = None
    description: str = ""  # stateDescription: Completed, WaitingForStopTestFailover...

    @property
    def finished(self) -> bool:
        return self.state in JOB_FINISHED

    @property
    def ok(self) -> bool:
        """It did what it was started for: succeeded, or (a test failover) brought the test VMs up and
        waits, suspended, for their cleanup."""
        return self.state == "Succeeded" or (self.state == "Suspended" and self.description == WAITING_FOR_CLEANUP
                                             and self.operation == TEST_FAILOVER_SCENARIO)


FAILOVER_KINDS = ("test", "planned", "unplanned")


@runtime_checkable
class ReplicationPort(Protocol):
    def get_protected_item(self, vault: VaultRef, item: str) -> ProtectedItem: ...

    def get_protected_items(self, vault: VaultRef, items: list[str]) -> list[ProtectedItem]: ...
    # the items, in order, one GET each (ASR reads no several items by name at once): what a step needs
    # of a large vault, without listing all of it

    def list_protected_items(self, vault: VaultRef, plan: str | None = None) -> list[ProtectedItem]: ...
    # every item of the vault, a page of ``LIST_PAGE`` a read; with ``plan``, a recovery plan's items only
    # (``$filter=recoveryPlanName eq '…'``, ASR's ``ProtectedItemsQueryParameter``): one page, since a plan
    # holds at most ``PLAN_ITEMS_MAX``. A plan the vault does not have matches nothing.

    def get_recovery_plan(self, vault: VaultRef, plan: str) -> RecoveryPlan: ...

    def update_network_settings(
        self, vault: VaultRef, item: str, nic_id: str, settings: NetworkSettings
    ) -> ProtectedItem: ...  # writes; the item as the update left it (the operation's own answer)

    def start_network_update(
        self, vault: VaultRef, item: str, nic_id: str, settings: NetworkSettings,
        current: ProtectedItem | None = None,
    ) -> JobHandle: ...  # writes; the same update, accepted: its job is followed like a failover's. ``current``:
    # the item as the caller has just read it, so an adapter that builds the request from the item's NIC
    # (its IP configuration's name, the values kept) need not read it again

    def list_recovery_points(self, vault: VaultRef, item: str) -> list[RecoveryPoint]: ...  # oldest first

    def start_failover(
        self, vault: VaultRef, item: str, kind: str, *, test_network: str | None = None,
        shut_down_source: bool = True, recovery_point_id: str | None = None,
    ) -> JobHandle: ...  # writes; kind in FAILOVER_KINDS; no point: the service's latest

    def start_plan_failover(
        self, vault: VaultRef, plan: str, kind: str, *, test_network: str | None = None,
        shut_down_source: bool = True, recovery_point_type: str = "Latest",
    ) -> JobHandle: ...  # writes; a type of PLAN_POINT_TYPES

    def start_failback(self, vault: VaultRef, item: str, *, data_sync: str, create_vm: bool) -> JobHandle: ...
    # writes: a planned failover from Azure (RecoveryToPrimary); data_sync ForSynchronization | ForDownTime

    def start_plan_failback(self, vault: VaultRef, plan: str, *, data_sync: str, create_vm: bool) -> JobHandle: ...

    def start_reprotect(self, vault: VaultRef, item: str, direction: str) -> JobHandle: ...  # writes
    # reverse replication in ``direction`` (primary_to_recovery | recovery_to_primary)

    def start_plan_reprotect(self, vault: VaultRef, plan: str, direction: str) -> JobHandle: ...  # writes

    def start_apply_recovery_point(self, vault: VaultRef, item: str, recovery_point_id: str) -> JobHandle: ...
    # writes: a failed-over item (not yet committed) moves to another recovery point

    def start_commit(self, vault: VaultRef, item: str) -> JobHandle: ...  # writes

    def start_plan_commit(self, vault: VaultRef, plan: str) -> JobHandle: ...  # writes

    def start_cancel(self, vault: VaultRef, item: str) -> JobHandle: ...  # writes

    def start_test_failover_cleanup(self, vault: VaultRef, item: str, comments: str) -> JobHandle: ...  # writes

    def start_plan_test_failover_cleanup(self, vault: VaultRef, plan: str, comments: str) -> JobHandle: ...

    def get_job(self, vault: VaultRef, job_id: str) -> Job: ...

    def list_jobs(self, vault: VaultRef, job_ids: list[str]) -> list[Job]: ...


# ---------------------------------------------------------------------------------------------------
# Network


@dataclass(frozen=True)
class VirtualNetwork:
    id: str
    name: str
    location: str
    address_prefixes: tuple[str, ...]
    subnets: dict[str, str] = field(default_factory=dict)  # subnet name -> prefix
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IpAvailability:
    available: bool
    platform_reserved: bool = False
    available_alternatives: tuple[str, ...] = ()


@dataclass(frozen=True)
class VirtualNetworkGateway:
    id: str
    name: str
    location: str
    vnet_id: str
    gateway_type: str = "Vpn"


@dataclass(frozen=True)
class LocalNetworkGateway:
    id: str
    name: str
    location: str
    gateway_ip: str
    address_prefixes: tuple[str, ...]


CONNECTION_TYPES = ("Vnet2Vnet", "IPsec")


@dataclass(frozen=True)
class Connection:
    id: str
    name: str
    location: str
    connection_type: str  # Vnet2Vnet | IPsec
    gateway1_id: str
    gateway2_id: str | None = None  # Vnet2Vnet peer gateway
    local_gateway2_id: str | None = None  # IPsec local network gateway
    status: str = "Unknown"  # Unknown | Connecting | Connected | NotConnected
    provisioning_state: str = "Succeeded"
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def peer_id(self) -> str | None:
        return self.gateway2_id or self.local_gateway2_id


@dataclass(frozen=True)
class ConnectionSpec:
    location: str
    connection_type: str
    gateway1_id: str
    peer_id: str  # a virtual network gateway (Vnet2Vnet) or a local network gateway (IPsec)
    shared_key: Secret
    tags: dict[str, str] = field(default_factory=dict)


NEXT_HOP_TYPES = ("VirtualNetworkGateway", "VnetLocal", "Internet", "VirtualAppliance", "None")


@dataclass(frozen=True)
class Route:
    name: str
    address_prefix: str
    next_hop_type: str
    next_hop_ip: str | None = None


@dataclass(frozen=True)
class RouteTable:
    id: str
    name: str
    location: str
    routes: dict[str, Route] = field(default_factory=dict)
    subnet_ids: tuple[str, ...] = ()


@runtime_checkable
class NetworkPort(Protocol):
    def get_virtual_network(self, vnet_id: str) -> VirtualNetwork: ...

    def list_virtual_networks(self, subscription: str, resource_group: str) -> list[VirtualNetwork]: ...

    def check_ip_availability(self, vnet_id: str, ip: str) -> IpAvailability: ...

    def get_gateway(self, gateway_id: str) -> VirtualNetworkGateway: ...

    def get_local_gateway(self, local_gateway_id: str) -> LocalNetworkGateway: ...

    def set_local_gateway_prefixes(self, local_gateway_id: str, prefixes: list[str]) -> LocalNetworkGateway: ...  # writes

    def find_connection(self, connection_id: str) -> Connection | None: ...

    def list_connections(self, subscription: str, resource_group: str) -> list[Connection]: ...

    def put_connection(self, connection_id: str, spec: ConnectionSpec) -> Connection: ...  # writes

    def delete_connection(self, connection_id: str) -> None: ...  # writes

    def shared_key_matches(self, connection_id: str, shared_key: Secret) -> bool: ...

    def get_route_table(self, table_id: str) -> RouteTable: ...

    def list_route_tables(self, subscription: str, resource_group: str) -> list[RouteTable]: ...

    def put_route(self, table_id: str, route: Route) -> Route: ...  # writes

    def delete_route(self, table_id: str, route_name: str) -> None: ...  # writes


# ---------------------------------------------------------------------------------------------------
# Compute (read only: what a failover will need of the recovery region)


@dataclass(frozen=True, slots=True)
class ComputeUsage:
    """One quota of a region (``Microsoft.Compute/locations/{location}/usages``): ``name`` is the
    service's ``name.value`` (``cores`` for all regional vCPUs, ``standardDSv3Family``...)."""

    name: str
    current: int
    limit: int
    label: str = ""  # name.localizedValue

    @property
    def free(self) -> int:
        return max(0, self.limit - self.current)


@dataclass(frozen=True, slots=True)
class VmSize:
    """A VM size offered in a region (a ``virtualMachines`` resource SKU): its quota family and vCPUs."""

    name: str
    family: str
    vcpus: int


@runtime_checkable
class ComputePort(Protocol):
    def list_usages(self, subscription: str, location: str) -> list[ComputeUsage]: ...

    def list_vm_sizes(self, subscription: str, location: str) -> list[VmSize]: ...


# ---------------------------------------------------------------------------------------------------
# DNS and secrets


@dataclass(frozen=True)
class ARecordSet:
    zone_id: str
    name: str  # relative name, "@" for the apex
    ips: tuple[str, ...]
    ttl: int = 300

    @property
    def fqdn(self) -> str:
        zone = self.zone_id.rstrip("/").rsplit("/", 1)[-1]
        return zone if self.name == "@" else f"{self.name}.{zone}"


@runtime_checkable
class DnsPort(Protocol):
    def find_a_record(self, zone_id: str, name: str) -> ARecordSet | None: ...

    def put_a_record(self, zone_id: str, name: str, ips: list[str], ttl: int) -> ARecordSet: ...  # writes

    def delete_a_record(self, zone_id: str, name: str) -> None: ...  # writes


@runtime_checkable
class SecretStorePort(Protocol):
    def get_secret(self, key_vault: str, name: str) -> Secret: ...


# ---------------------------------------------------------------------------------------------------
# The adapter as a whole

# Every port method that changes the cloud: journaled (intent, outcome) and counted in the fake's ledger.
LIST_PAGE = 100  # what a paged list answers per page (ARM's ``nextLink``): each page is a read of its own
PLAN_ITEMS_MAX = 100  # the protected items a recovery plan can hold (Microsoft Learn, "About recovery plans")
# The reads that answer a paged list: ARM charges a token per page, not per call.
PAGED_LISTS = frozenset({"list_protected_items", "list_recovery_points", "list_virtual_networks",
                         "list_connections", "list_route_tables"})
# The reads that are a GET of each resource named (their second argument): a token per GET.
GETS_OF_EACH = frozenset({"get_protected_items"})

WRITE_OPERATIONS = frozenset({
    "update_network_settings", "start_network_update", "start_failover", "start_plan_failover", "start_commit",
    "start_plan_commit",
    "start_cancel", "start_test_failover_cleanup", "start_plan_test_failover_cleanup", "start_failback",
    "start_plan_failback", "start_reprotect", "start_plan_reprotect", "start_apply_recovery_point",
    "set_local_gateway_prefixes", "put_connection", "delete_connection", "put_route", "delete_route",
    "put_a_record", "delete_a_record",
})
# The writes that start an ASR job. Once the service has accepted one, sending it again starts a second
# job (or is refused while the first runs): only a 429, refused before it was looked at, is sent again.
JOB_OPERATIONS = frozenset({
    "update_network_settings", "start_network_update", "start_failover", "start_plan_failover", "start_commit",
    "start_plan_commit",
    "start_cancel", "start_test_failover_cleanup", "start_plan_test_failover_cleanup", "start_failback",
    "start_plan_failback", "start_reprotect", "start_plan_reprotect", "start_apply_recovery_point",
})


@runtime_checkable
class Adapter(Protocol):
    name: str  # "fake" or "azure"
    writes_real_cloud: bool  # True only for an Azure adapter opened for writing
    clock: Clock
    replication: ReplicationPort
    network: NetworkPort
    dns: DnsPort
    secrets: SecretStorePort
    compute: ComputePort
    # environment variables a fake estate fills in with made-up values for a rehearsal when they are not
    # set (``stand_in_secrets`` in its estate file); always empty for Azure, whose secrets are real
    stand_in_secrets: dict[str, str]

    def simulation(self, scope: VaultRef | None = None) -> Adapter:
        """A copy of the estate in ``scope`` (the runbook's target; the fake holds one estate and ignores it)
        that takes writes without touching anything real,
        with no latency, faults or throttling and with jobs that finish at once: what plan and dry run
        execute against."""
        ...

    def close(self) -> None: ...


# --- the shared journal's storage -----------------------------------------------------------------


@dataclass(frozen=True)
class StoredBlob:
    name: str
    size: int
    leased: bool


class SharedStoragePort(Protocol):
    """A container of blobs that several hosts share (Azure Blob Storage): append logs whose every append
    may carry a lease and the position it expects, and small blobs held with a lease. Raises the
    ``StorageError`` family of ``adapters/shared/errors.py``."""

    location: str  # azure-blob://ACCOUNT/CONTAINER

    def create_log(self, name: str, metadata: dict[str, str]) -> None:
        """A new, empty append log; ``StorageError`` if it exists."""
        ...

    def append(self, name: str, data: bytes, *, position: int, lease: str | None) -> None:
        """Append ``data`` where the log is ``position`` bytes long, under ``lease`` (``PositionMoved``,
        ``LeaseLost``)."""
        ...

    def read(self, name: str, offset: int = 0) -> bytes:
        """The blob's bytes from ``offset`` (empty past its end); ``BlobMissing`` if there is none."""
        ...

    def put(self, name: str, data: bytes, *, lease: str | None = None, if_absent: bool = False) -> bool:
        """Write a whole blob; with ``if_absent``, only if there is none yet (False when there was)."""
        ...

    def get(self, name: str) -> bytes | None: ...

    def exists(self, name: str) -> bool: ...

    def list(self, prefix: str) -> list[StoredBlob]: ...

    def lease(self, name: str, lease_id: str, seconds: int) -> None:
        """Take the blob's lease for ``seconds`` (15 to 60), as ``lease_id``; ``LeaseHeld`` if another has it."""
        ...

    def renew(self, name: str, lease_id: str) -> None:
        """``LeaseLost`` if the lease is no longer ``lease_id``'s."""
        ...

    def release(self, name: str, lease_id: str) -> None: ...

    def break_lease(self, name: str) -> None:
        """End whatever lease the blob has, at once."""
        ...

    def leased(self, name: str) -> bool: ...
