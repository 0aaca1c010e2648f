"""Microsoft.Compute in the double, read only: a region's usages (vCPU quotas) and its resource SKUs
(the VM sizes it offers, each with its quota family and vCPUs), from the specs' examples."""

from __future__ import annotations

import re
from typing import Any

from tests.azure.arm import specs
from tests.azure.arm.http import ArmError, Reply, ok

# Sizes every region of the double offers, besides the estate's own (name -> family, vCPUs).
SIZES = {"Standard_B2s": ("standardBSFamily", 2), "Standard_D2s_v3": ("standardDSv3Family", 2),
         "Standard_D4s_v3": ("standardDSv3Family", 4), "Standard_D8s_v3": ("standardDSv3Family", 8),
         "Standard_E4s_v3": ("standardESv3Family", 4), "Standard_F4s_v2": ("standardFSv2Family", 4)}
LOCATION_FILTER = re.compile(r"^\s*location\s+eq\s+'(?P<location>[^']+)'\s*$", re.I)


class Compute:
    def __init__(self, service):
        self.service = service

    def handle(self, req, rest: list[str]) -> Reply:
        lower = [s.lower() for s in rest]
        if req.method != "GET":
            raise ArmError(405, "MethodNotAllowed", f"{req.method} is not supported on {req.path}")
        if len(lower) == 3 and lower[0] == "locations" and lower[2] == "usages":
            return ok({"value": self._usages(rest[1])})
        if lower == ["skus"]:
            match = LOCATION_FILTER.match(req.param("$filter") or "")
            return ok({"value": self._skus(match.group("location") if match else None), "nextLink": None})
        raise ArmError(404, "NotFound", f"nothing at {req.path}")

    def _here(self, location: str | None) -> bool:
        return location is None or location.replace(" ", "").lower() == self.service.estate.location.lower()

    def _usages(self, location: str) -> list[dict[str, Any]]:
        if not self._here(location):
            return []
        template = specs.item("compute", "Usage_List_MaximumSet_Gen")
        return [{**template, "currentValue": current, "limit": limit, "name": {"value": name, "localizedValue": name}}
                for name, (current, limit) in self.service.estate.usages.items()]

    def _skus(self, location: str | None) -> list[dict[str, Any]]:
        if not self._here(location):
            return []
        region = self.service.estate.location
        skus = []
        for name, (family, vcpus) in {**SIZES, **self.service.estate.vm_sizes}.items():
            sku = specs.item("compute", "ListAvailableResourceSkusForARegion")
            sku.update({"name": name, "family": family, "size": name.split("_", 1)[-1], "locations": [region]})
            sku["locationInfo"] = [{**sku["locationInfo"][0], "location": region}]
            sku["capabilities"] = [{**c, "value": str(vcpus)} if c["name"] in ("vCPUs", "vCPUsAvailable") else c
                                   for c in sku["capabilities"]]
            skus.append(sku)
        return skus
