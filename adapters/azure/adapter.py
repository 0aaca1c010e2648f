"""The Azure adapter: SDK clients built once per subscription, with exactly one retry layer (the
engine's: the SDK's own retries are off), the read-only guard when asked, and no request logging
(the SDK's would print a connection's shared key)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.pipeline.transport import HttpTransport

from adapters.azure.compute import AzureCompute
from adapters.azure.credentials import credential_from_settings
from adapters.azure.guard import ReadOnlyPolicy
from adapters.azure.network import AzureDns, AzureNetwork, AzureSecrets
from adapters.azure.replication import AzureReplication
from adapters.ports import Adapter, VaultRef
from adapters.shared import ids
from adapters.shared.clock import Clock
from adapters.shared.estate import Estate
from adapters.shared.secret import Secret

# An estate read from Azure, and its connections' keys, as an adapter to simulate on (the
# command line hands in a fake estate; this adapter does not import one).
Simulate = Callable[[Estate, dict[str, Secret]], Adapter]

# ARM's public token buckets (per subscription, region and principal): (capacity, refill per second).
ARM_READS = (250.0, 25.0)
ARM_WRITES = (200.0, 10.0)


class Clients:
    """One client per (service, subscription), shared by every thread of a run."""

    def __init__(self, credential: TokenCredential, *, read_only: bool, transport: HttpTransport | None = None,
                 polling_interval: float = 30.0, cloud: dict[str, str] | None = None):
        self.credential = credential
        self.read_only = read_only
        self._cache: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._common: dict[str, Any] = {"retry_total": 0, "logging_enable": False}
        if read_only:
            self._common["per_call_policies"] = [ReadOnlyPolicy()]
        self.transport = transport  # the one HTTP transport of every client, if the caller gives one
        if transport is not None:
            self._common["transport"] = transport
        self._polling_interval = polling_interval
        self._cloud = cloud or {}

    def _get(self, service: str, key: str, build):
        with self._lock:
            client = self._cache.get((service, key))
            if client is None:
                client = self._cache[(service, key)] = build()
            return client

    def site_recovery(self, subscription: str):
        from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient

        return self._get("asr", subscription, lambda: SiteRecoveryManagementClient(
            self.credential, subscription, polling_interval=self._polling_interval, **self._base(), **self._common))

    def network(self, subscription: str):
        from azure.mgmt.network import NetworkManagementClient

        return self._get("network", subscription, lambda: NetworkManagementClient(
            self.credential, subscription, polling_interval=self._polling_interval, **self._base(), **self._common))

    def compute(self, subscription: str):
        from azure.mgmt.compute import ComputeManagementClient

        return self._get("compute", subscription, lambda: ComputeManagementClient(
            self.credential, subscription, **self._base(), **self._common))

    def dns(self, subscription: str):
        from azure.mgmt.dns import DnsManagementClient

        return self._get("dns", subscription, lambda: DnsManagementClient(
            self.credential, subscription, **self._base(), **self._common))

    def key_vault(self, vault: str):
        from azure.keyvault.secrets import SecretClient

        suffix = self._cloud.get("vault_suffix", "vault.azure.net")
        url = vault if vault.startswith("https://") else f"https://{vault}.{suffix}"
        return self._get("keyvault", url, lambda: SecretClient(url, self.credential, **self._common))

    def _base(self) -> dict:
        return {"base_url": self._cloud["arm"]} if self._cloud.get("arm") else {}

    def close(self) -> None:
        for client in self._cache.values():
            client.close()
        self._cache.clear()


class AzureAdapter:
    name = "azure"
    stand_in_secrets: dict[str, str] = {}  # noqa: RUF012  real Azure: every secret is the real one, from its source

    def __init__(self, credential: TokenCredential, *, read_only: bool, transport: HttpTransport | None = None,
                 polling_interval: float = 30.0, settings: dict[str, Any] | None = None,
                 simulate: Simulate | None = None):
        self.settings = settings or {}
        self._simulate = simulate
        self.read_only = read_only
        self.writes_real_cloud = not read_only
        self.clients = Clients(credential, read_only=read_only, transport=transport,
                               polling_interval=polling_interval, cloud=self.settings.get("cloud"))
        self.clock = Clock(1.0)
        self.replication = AzureReplication(self.clients)
        self.network = AzureNetwork(self.clients)
        self.dns = AzureDns(self.clients)
        self.secrets = AzureSecrets(self.clients)
        self.compute = AzureCompute(self.clients)
        self.identity = f"azure:{self.settings.get('credential', 'default')}"
        limits = self.settings.get("rate_limits") or {}
        self.rate_limits = (tuple(limits.get("reads", ARM_READS)), tuple(limits.get("writes", ARM_WRITES)))

    @classmethod
    def from_settings(cls, settings: dict[str, Any], *, read_only: bool,
                      simulate: Simulate | None = None) -> AzureAdapter:
        return cls(credential_from_settings(settings), read_only=read_only, settings=settings, simulate=simulate)

    def simulation(self, scope: VaultRef | None = None):
        """A faithful offline copy of the estate in ``scope`` (read with GETs only), as a fake adapter:
        what plan and dry run execute against, so they cannot write by construction."""
        from adapters.azure.snapshot import snapshot

        if scope is None:
            raise ValueError("a simulation of Azure needs the runbook's target (subscription, resource group, vault)")
        if self._simulate is None:
            raise ValueError("this Azure adapter was opened without a way to simulate an estate")
        estate = Estate.model_validate(snapshot(self, scope))
        # The snapshot leaves keys out; the copy is handed each one (wrapped, in memory), so a plan can
        # tell a key that would change from one that holds.
        keys = {}
        for name in estate.connections:
            connection_id = ids.resolve(name, "connections", scope.subscription, scope.resource_group)
            keys[name] = self.network.shared_key(connection_id)
        return self._simulate(estate, keys, lambda vm: self.replication.list_recovery_points(scope, vm))

    def close(self) -> None:
        self.clients.close()

    def snapshot(self, scope: VaultRef, path: Path) -> dict:
        from adapters.azure.snapshot import snapshot, write_estate

        estate = snapshot(self, scope, recovery_points=True)
        write_estate(estate, path)
        return estate
