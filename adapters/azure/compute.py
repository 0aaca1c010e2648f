"""Compute on the SDK, read only: the region's vCPU quotas (``usage.list``) and the VM sizes it offers
with their quota family (``resource_skus.list`` filtered to the region)."""

from __future__ import annotations

from adapters.azure.errors import translated
from adapters.ports import ComputeUsage, VmSize


def _vcpus(sku) -> int | None:
    for capability in sku.capabilities or []:
        if capability.name == "vCPUs":
            try:
                return int(capability.value)
            except (TypeError, ValueError):
                return None
    return None


class AzureCompute:
    def __init__(self, clients):
        self._clients = clients

    @translated("usage.list")
    def list_usages(self, subscription: str, location: str) -> list[ComputeUsage]:
        client = self._clients.compute(subscription)
        return [ComputeUsage(u.name.value if u.name else "", int(u.current_value), int(u.limit),
                             (u.name.localized_value if u.name else "") or "")
                for u in client.usage.list(location)]

    @translated("resource_skus.list")
    def list_vm_sizes(self, subscription: str, location: str) -> list[VmSize]:
        client = self._clients.compute(subscription)
        sizes = []
        for sku in client.resource_skus.list(filter=f"location eq '{location}'"):
            vcpus = _vcpus(sku)
            if sku.resource_type == "virtualMachines" and sku.name and sku.family and vcpus:
                sizes.append(VmSize(sku.name, sku.family, vcpus))
        return sizes
