"""Compute in the fake: the recovery region's vCPU quotas and the VM sizes it offers (reads only)."""

from __future__ import annotations

from adapters.ports import ComputeUsage, VmSize


class FakeCompute:
    def __init__(self, cloud):
        self.cloud = cloud

    def list_usages(self, subscription: str, location: str) -> list[ComputeUsage]:
        self.cloud.read("usage.list")
        if not self._here(subscription, location):
            return []
        return [ComputeUsage(doc["name"], int(doc["current"]), int(doc["limit"]), doc["name"])
                for doc in self.cloud.store.all("quota")]

    def list_vm_sizes(self, subscription: str, location: str) -> list[VmSize]:
        self.cloud.read("resource_skus.list")
        if not self._here(subscription, location):
            return []
        return [VmSize(doc["name"], doc["family"], int(doc["vcpus"])) for doc in self.cloud.store.all("vm_size")]

    def _here(self, subscription: str, location: str) -> bool:
        """The estate is one subscription in one region."""
        return subscription.lower() == self.cloud.subscription.lower() and \
            location.replace(" ", "").lower() == self.cloud.location.lower()
