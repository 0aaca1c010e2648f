"""Drift: what someone changes in the estate outside any runbook, between two drills (a VM protected on
a moved subnet, an address taken, a gateway's prefixes edited, replication gone critical...). Each
change is made as the portal would leave it, straight in the live state; none is a call of the ports,
so none is in the ledger, which counts what runbooks do."""

from __future__ import annotations

from adapters.fake.seed import seed_item
from adapters.shared.addressing import network_text
from adapters.shared.errors import NotFoundError
from adapters.shared.estate import HEALTHS_KNOWN, ProtectedItem, Quota, Route, VirtualMachine


class Drift:
    def __init__(self, cloud):
        self.cloud = cloud
        self.store = cloud.store

    def _doc(self, kind: str, name: str, label: str) -> dict:
        doc = self.store.get(kind, name)
        if doc is None:
            raise NotFoundError(f"no {label} {name} in the fake estate", code="ResourceNotFound", status=404)
        return doc

    def protect(self, name: str, source_ip: str, vault: str | None = None) -> str:
        """A VM newly protected in the vault (replicating, not in any runbook)."""
        vault_name = vault or next(iter(self.cloud.estate.vaults))
        spec = self.cloud.estate.vaults[vault_name]
        with self.store.transaction():
            seed_item(self.store, self.cloud, vault_name, spec, name, ProtectedItem(source_ip=source_ip))
        return f"protected item {name} ({source_ip}) added to vault {vault_name}"

    def take_ip(self, vnet: str, subnet: str, ip: str, name: str) -> str:
        """An Azure NIC now holds ``ip`` in ``vnet``/``subnet``."""
        network = self._doc("vnet", vnet, "virtual network")
        if subnet not in network["subnets"]:
            raise NotFoundError(f"no subnet {subnet} in {vnet}", code="ResourceNotFound", status=404)
        machine = VirtualMachine(vnet=vnet, subnet=subnet, ip=ip)
        self.store.put("vm", {"name": name, "vnet": machine.vnet, "subnet": machine.subnet, "ip": machine.ip,
                              "owner": None})
        return f"{ip} in {vnet}/{subnet} taken by {name}"

    def local_gateway_prefixes(self, gateway: str, prefixes: list[str]) -> str:
        doc = self._doc("lng", gateway, "local network gateway")
        before = doc["prefixes"]
        self.store.put("lng", {**doc, "prefixes": [network_text(p) for p in prefixes]})
        return f"local network gateway {gateway}: prefixes {before} -> {prefixes}"

    def route(self, table: str, name: str, prefix: str, next_hop: str, next_hop_ip: str | None) -> str:
        doc = self._doc("route_table", table, "route table")
        route = Route(prefix=prefix, next_hop=next_hop, next_hop_ip=next_hop_ip)
        routes = {**doc["routes"], name: {"prefix": route.prefix, "next_hop": route.next_hop,
                                          "next_hop_ip": route.next_hop_ip}}
        self.store.put("route_table", {**doc, "routes": routes})
        return f"route {name} {prefix} -> {next_hop} in {table}"

    def delete(self, kind: str, name: str) -> str:
        """A gateway, local network gateway, connection or route table deleted."""
        store_kind = {"gateway": "gateway", "local-gateway": "lng", "connection": "connection",
                      "route-table": "route_table"}[kind]
        self._doc(store_kind, name, kind)
        self.store.delete(store_kind, name)
        return f"{kind} {name} deleted"

    def health(self, item: str, health: str, errors: list[str]) -> str:
        if health not in HEALTHS_KNOWN:
            raise ValueError(f"replication health is one of {', '.join(HEALTHS_KNOWN)}")
        doc = self._doc("item", item, "protected item")
        replication = {**(doc.get("replication") or {}), "healthErrors": errors}
        self.store.put("item", {**doc, "state": {**doc["state"], "replicationHealth": health},
                                "replication": replication})
        return f"replication of {item}: {health}"

    def recovery_point_age(self, item: str, seconds: float) -> str:
        doc = self._doc("item", item, "protected item")
        self.store.put("item", {**doc, "replication": {**(doc.get("replication") or {}), "rpoInSeconds": int(seconds)}})
        return f"latest recovery point of {item}: {int(seconds)} s old"

    def vm_size(self, item: str, size: str) -> str:
        doc = self._doc("item", item, "protected item")
        self.store.put("item", {**doc, "replication": {**(doc.get("replication") or {}), "recoveryAzureVMSize": size}})
        return f"{item} fails over as {size}"

    def quota(self, name: str, current: int, limit: int | None) -> str:
        doc = self.store.get("quota", name) or {"name": name, "current": 0, "limit": 0}
        quota = Quota(current=current, limit=doc["limit"] if limit is None else limit)
        self.store.put("quota", {"name": name, "current": quota.current, "limit": quota.limit})
        return f"quota {name}: {quota.current} of {quota.limit} vCPUs used"

    def remove_secret(self, key_vault: str, name: str) -> str:
        doc = self._doc("key_vault", key_vault, "key vault")
        if name not in doc["secrets"]:
            raise NotFoundError(f"no secret {name} in {key_vault}", code="SecretNotFound", status=404)
        self.store.put("key_vault", {**doc, "secrets": {k: v for k, v in doc["secrets"].items() if k != name}})
        return f"secret {name} deleted from {key_vault}"
