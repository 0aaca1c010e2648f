"""Networking, DNS and Key Vault in the fake, with Azure's rules: no stretched subnets through a gateway,
a GatewaySubnet for every gateway, valid routes, reserved and used addresses."""

from __future__ import annotations

import hmac
import ipaddress
from types import MappingProxyType

from adapters.ports import (
    NEXT_HOP_TYPES,
    ARecordSet,
    Connection,
    ConnectionSpec,
    IpAvailability,
    LocalNetworkGateway,
    Route,
    RouteTable,
    VirtualNetwork,
    VirtualNetworkGateway,
)
from adapters.shared import ids
from adapters.shared.addressing import (
    Reach,
    network_text,
    overlapping_pairs,
    parsed_address,
    parsed_network,
    reserved_addresses,
    subnet_containing,
)
from adapters.shared.errors import ConflictError, NotFoundError, PermanentError
from adapters.shared.secret import Secret


def virtual_network(cloud, vnet_id: str) -> VirtualNetwork:
    """A VNet as the API shows it; the memory store keeps the view until the VNet changes (its subnets
    are a read-only mapping, so the shared view cannot be changed by a caller)."""
    name = cloud.name(vnet_id, ids.VIRTUAL_NETWORK, "virtual network")
    return cloud.view("vnet", name, "virtual network", lambda doc: _vnet_view(cloud, doc))


def _vnet_view(cloud, doc: dict) -> VirtualNetwork:
    return VirtualNetwork(id=cloud.id(ids.VIRTUAL_NETWORK, doc["name"]), name=doc["name"], location=doc["location"],
                          address_prefixes=tuple(doc["prefixes"]), subnets=MappingProxyType(dict(doc["subnets"])))


def ip_user(store, vnet: str, ip: str, which: str, *, exclude: str) -> str | None:
    """Who already uses (or is promised) ``ip`` in ``vnet``: a NIC, or another protected NIC's target IP.
    ``exclude`` is the protected NIC asking (its own VM and target do not count)."""
    for vm in store.with_ip("vm", "$.ip", ip):
        if vm["vnet"].lower() == vnet.lower() and vm.get("owner") != exclude:
            return f"the NIC of {vm['name']}"
    for other in store.with_ip("nic", f"$.{which}.ip", ip):
        if other["id"] == exclude:
            continue
        target = other[which]
        if target["ip"] == ip and target["network"] and ids.name_of(target["network"]).lower() == vnet.lower():
            return f"protected item {other['item']} ({which} IP of {other['id']})"
    return None


class FakeNetwork:
    def __init__(self, cloud):
        self.cloud = cloud
        self.store = cloud.store

    # --- virtual networks -------------------------------------------------------------------------

    def get_virtual_network(self, vnet_id: str) -> VirtualNetwork:
        self.cloud.read("virtual_networks.get")
        return virtual_network(self.cloud, vnet_id)

    def list_virtual_networks(self, subscription: str, resource_group: str) -> list[VirtualNetwork]:
        self.cloud.read("virtual_networks.list")
        return [_vnet_view(self.cloud, d) for d in self.store.all("vnet")] \
            if self._ours(subscription, resource_group) else []

    def _ours(self, subscription: str, resource_group: str) -> bool:
        return subscription.lower() == self.cloud.subscription.lower() and \
            resource_group.lower() == self.cloud.resource_group.lower()

    def check_ip_availability(self, vnet_id: str, ip: str) -> IpAvailability:
        self.cloud.read("virtual_networks.check_ip_address_availability")
        vnet = virtual_network(self.cloud, vnet_id)
        address = parsed_address(ip)
        subnet = subnet_containing(tuple(vnet.subnets.values()), address)
        if subnet is None:
            raise PermanentError(f"IP address {ip} does not belong to any subnet of virtual network {vnet.name}",
                                 code="PrivateIPAddressNotInAnySubnet", status=400)
        if address in reserved_addresses(subnet):
            return IpAvailability(False, platform_reserved=True)
        if not any(vm["vnet"].lower() == vnet.name.lower() for vm in self.store.with_ip("vm", "$.ip", ip)):
            return IpAvailability(True)
        used = {vm["ip"] for vm in self.store.all("vm") if vm["vnet"].lower() == vnet.name.lower()}
        free = [str(a) for a in subnet.hosts() if a not in reserved_addresses(subnet) and str(a) not in used
                and not ip_user(self.store, vnet.name, str(a), "recovery", exclude="")][:5]
        return IpAvailability(False, available_alternatives=tuple(free))

    # --- gateways -------------------------------------------------------------------------------

    def _gateway(self, gateway_id: str) -> dict:
        return self.cloud.doc("gateway", self.cloud.name(gateway_id, ids.GATEWAY, "virtual network gateway"),
                              "virtual network gateway")

    def get_gateway(self, gateway_id: str) -> VirtualNetworkGateway:
        self.cloud.read("virtual_network_gateways.get")
        doc = self._gateway(gateway_id)
        return VirtualNetworkGateway(id=self.cloud.id(ids.GATEWAY, doc["name"]), name=doc["name"],
                                     location=doc["location"], vnet_id=self.cloud.id(ids.VIRTUAL_NETWORK, doc["vnet"]))

    def _lng(self, lng_id: str) -> dict:
        return self.cloud.doc("lng", self.cloud.name(lng_id, ids.LOCAL_GATEWAY, "local network gateway"),
                              "local network gateway")

    def _lng_view(self, doc: dict) -> LocalNetworkGateway:
        return LocalNetworkGateway(id=self.cloud.id(ids.LOCAL_GATEWAY, doc["name"]), name=doc["name"],
                                   location=doc["location"], gateway_ip=doc["gateway_ip"],
                                   address_prefixes=tuple(doc["prefixes"]))

    def get_local_gateway(self, local_gateway_id: str) -> LocalNetworkGateway:
        self.cloud.read("local_network_gateways.get")
        return self._lng_view(self._lng(local_gateway_id))

    def set_local_gateway_prefixes(self, local_gateway_id: str, prefixes: list[str]) -> LocalNetworkGateway:
        self.cloud.write("local_network_gateways.create_or_update")
        try:
            prefixes = [network_text(p) for p in prefixes]
        except ValueError as exc:
            raise PermanentError(f"Invalid address prefix: {exc}", code="InvalidAddressPrefix", status=400) from None
        with self.store.transaction():
            doc = self._lng(local_gateway_id)
            doc["prefixes"] = prefixes
            self._refuse_stretched_subnets({"lng": doc}, f"local network gateway {doc['name']}")
            self.store.put("lng", doc)
            self.store.record("local_network_gateways.create_or_update", self.cloud.id(ids.LOCAL_GATEWAY, doc["name"]),
                              {"address_prefixes": prefixes})
            return self._lng_view(doc)

    # --- connections ----------------------------------------------------------------------------

    def _conn_view(self, doc: dict) -> Connection:
        vnet2vnet = doc["type"] == "Vnet2Vnet"
        return Connection(
            id=self.cloud.id(ids.CONNECTION, doc["name"]), name=doc["name"], location=doc["location"],
            connection_type=doc["type"], gateway1_id=self.cloud.id(ids.GATEWAY, doc["gateway"]),
            gateway2_id=self.cloud.id(ids.GATEWAY, doc["peer"]) if vnet2vnet else None,
            local_gateway2_id=None if vnet2vnet else self.cloud.id(ids.LOCAL_GATEWAY, doc["peer"]),
            status=self._status(doc), tags=dict(doc.get("tags") or {}),
        )

    def _status(self, doc: dict) -> str:
        """IPsec: Connected. Vnet2Vnet: Connected once the peer gateway has a connection back to this one
        (Azure needs one connection per direction); NotConnected until then."""
        if doc["type"] == "IPsec":
            return "Connected"
        back = any(c["type"] == "Vnet2Vnet" and c["gateway"].lower() == doc["peer"].lower()
                   and c["peer"].lower() == doc["gateway"].lower() for c in self.store.all("connection"))
        return "Connected" if back else "NotConnected"

    def find_connection(self, connection_id: str) -> Connection | None:
        self.cloud.read("virtual_network_gateway_connections.get")
        doc = self.store.get("connection", self.cloud.name(connection_id, ids.CONNECTION, "connection"))
        return None if doc is None else self._conn_view(doc)

    def list_connections(self, subscription: str, resource_group: str) -> list[Connection]:
        self.cloud.read("virtual_network_gateway_connections.list")
        if not self._ours(subscription, resource_group):
            return []
        return [self._conn_view(d) for d in self.store.all("connection")]

    def put_connection(self, connection_id: str, spec: ConnectionSpec) -> Connection:
        self.cloud.write("virtual_network_gateway_connections.create_or_update")
        name = self.cloud.name(connection_id, ids.CONNECTION, "connection")
        with self.store.transaction():
            gateway = self._gateway(spec.gateway1_id)
            self._needs_gateway_subnet(gateway)
            if spec.connection_type == "Vnet2Vnet":
                peer = self._gateway(spec.peer_id)
                self._needs_gateway_subnet(peer)
            elif spec.connection_type == "IPsec":
                peer = self._lng(spec.peer_id)
            else:
                raise PermanentError(f"Unknown connection type {spec.connection_type}", code="InvalidConnectionType",
                                     status=400)
            current = self.store.get("connection", name)
            if current and (current["type"] != spec.connection_type or current["gateway"].lower() !=
                            gateway["name"].lower() or current["peer"].lower() != peer["name"].lower()):
                raise ConflictError(f"Connection {name} exists with other ends; its gateways and type cannot change",
                                    code="CannotChangeConnectionEnds", status=409)
            doc = {"name": name, "type": spec.connection_type, "gateway": gateway["name"], "peer": peer["name"],
                   "key_hmac": spec.shared_key.digest(self.cloud.key_salt()), "key_env": None,
                   "location": spec.location or gateway["location"], "tags": dict(spec.tags)}
            self._refuse_stretched_subnets({"connection": doc}, f"connection {name}")
            self.store.put("connection", doc)
            self.store.record("virtual_network_gateway_connections.create_or_update", self.cloud.id(ids.CONNECTION, name),
                              {"type": spec.connection_type, "gateway1": gateway["name"], "peer": peer["name"],
                               "shared_key": "***", "tags": dict(spec.tags)})
            return self._conn_view(doc)

    def delete_connection(self, connection_id: str) -> None:
        self.cloud.write("virtual_network_gateway_connections.delete")
        name = self.cloud.name(connection_id, ids.CONNECTION, "connection")
        with self.store.transaction():
            self.cloud.doc("connection", name, "connection")
            self.store.delete("connection", name)
            self.store.record("virtual_network_gateway_connections.delete", self.cloud.id(ids.CONNECTION, name), {})

    def shared_key_matches(self, connection_id: str, shared_key: Secret) -> bool:
        self.cloud.read("virtual_network_gateway_connections.get_shared_key")
        doc = self.cloud.doc("connection", self.cloud.name(connection_id, ids.CONNECTION, "connection"), "connection")
        if doc["key_hmac"] is None and doc.get("key_env"):
            known = self.cloud.environment(doc["key_env"])
            return bool(known) and Secret(known).matches(shared_key)
        return doc["key_hmac"] is not None and hmac.compare_digest(doc["key_hmac"],
                                                                   shared_key.digest(self.cloud.key_salt()))

    def _needs_gateway_subnet(self, gateway: dict) -> None:
        vnet = self.cloud.doc("vnet", gateway["vnet"], "virtual network")
        if "GatewaySubnet" not in vnet["subnets"]:
            raise PermanentError(f"Virtual network {vnet['name']} of gateway {gateway['name']} has no GatewaySubnet",
                                 code="GatewaySubnetMissing", status=400)

    def _refuse_stretched_subnets(self, changed: dict, what: str) -> None:
        """Azure has no stretched subnets: the address spaces reachable through one gateway never overlap."""
        connections = {c["name"].lower(): c for c in self.store.all("connection")}
        if "connection" in changed:
            connections[changed["connection"]["name"].lower()] = changed["connection"]
        lngs = {d["name"].lower(): d for d in self.store.all("lng")}
        if "lng" in changed:
            lngs[changed["lng"]["name"].lower()] = changed["lng"]
        gateways = {d["name"].lower(): d for d in self.store.all("gateway")}
        vnets = {d["name"].lower(): d for d in self.store.all("vnet")}

        def own(gateway: str) -> list[Reach]:
            vnet = vnets[gateways[gateway.lower()]["vnet"].lower()]
            return [Reach(parsed_network(p), f"virtual network {vnet['name']}") for p in vnet["prefixes"]]

        reach: dict[str, list[Reach]] = {}
        for conn in connections.values():
            g = conn["gateway"].lower()
            reach.setdefault(g, own(g))
            if conn["type"] == "Vnet2Vnet":
                p = conn["peer"].lower()
                reach.setdefault(p, own(p))
                reach[g] += own(p)
                reach[p] += own(g)
            else:
                lng = lngs[conn["peer"].lower()]
                reach[g] += [Reach(parsed_network(x), f"local network gateway {lng['name']}")
                             for x in lng["prefixes"]]
        for gateway, reaches in reach.items():
            for a, b in overlapping_pairs(reaches):
                raise PermanentError(
                    f"{what} would make {a.prefix} of {a.source} and {b.prefix} of {b.source} both reachable "
                    f"through gateway {gateways[gateway]['name']}: their address spaces overlap. Azure has no "
                    "stretched subnets; remove the prefix from the local network gateway first",
                    code="AddressSpaceOverlap", status=400)

    # --- routes ---------------------------------------------------------------------------------

    def _table(self, table_id: str) -> dict:
        return self.cloud.doc("route_table", self.cloud.name(table_id, ids.ROUTE_TABLE, "route table"), "route table")

    def _table_view(self, doc: dict) -> RouteTable:
        routes = {n: Route(n, r["prefix"], r["next_hop"], r["next_hop_ip"]) for n, r in doc["routes"].items()}
        subnets = tuple(ids.subnet_id(self.cloud.id(ids.VIRTUAL_NETWORK, ref.split("/")[0]), ref.split("/")[1])
                        for ref in doc["subnets"])
        return RouteTable(id=self.cloud.id(ids.ROUTE_TABLE, doc["name"]), name=doc["name"], location=doc["location"],
                          routes=routes, subnet_ids=subnets)

    def get_route_table(self, table_id: str) -> RouteTable:
        self.cloud.read("route_tables.get")
        return self._table_view(self._table(table_id))

    def list_route_tables(self, subscription: str, resource_group: str) -> list[RouteTable]:
        self.cloud.read("route_tables.list")
        return [self._table_view(d) for d in self.store.all("route_table")] if self._ours(subscription,
                                                                                          resource_group) else []

    def put_route(self, table_id: str, route: Route) -> Route:
        self.cloud.write("routes.create_or_update")
        if route.next_hop_type not in NEXT_HOP_TYPES:
            raise PermanentError(f"Invalid next hop type {route.next_hop_type}", code="InvalidNextHopType", status=400)
        if (route.next_hop_type == "VirtualAppliance") != bool(route.next_hop_ip):
            raise PermanentError("A next hop IP address goes with next hop type VirtualAppliance, and only with it",
                                 code="InvalidNextHopIpAddress", status=400)
        try:
            prefix = network_text(route.address_prefix)
        except ValueError as exc:
            raise PermanentError(f"Invalid address prefix: {exc}", code="InvalidAddressPrefix", status=400) from None
        with self.store.transaction():
            doc = self._table(table_id)
            doc["routes"][route.name] = {"prefix": prefix, "next_hop": route.next_hop_type,
                                         "next_hop_ip": route.next_hop_ip}
            self.store.put("route_table", doc)
            self.store.record("routes.create_or_update", f"{self.cloud.id(ids.ROUTE_TABLE, doc['name'])}/routes/"
                              f"{route.name}", doc["routes"][route.name])
        return Route(route.name, prefix, route.next_hop_type, route.next_hop_ip)

    def delete_route(self, table_id: str, route_name: str) -> None:
        self.cloud.write("routes.delete")
        with self.store.transaction():
            doc = self._table(table_id)
            if route_name not in doc["routes"]:
                raise NotFoundError(f"Route {route_name} was not found in route table {doc['name']}",
                                    code="NotFound", status=404)
            del doc["routes"][route_name]
            self.store.put("route_table", doc)
            self.store.record("routes.delete", f"{self.cloud.id(ids.ROUTE_TABLE, doc['name'])}/routes/{route_name}", {})


class FakeDns:
    def __init__(self, cloud):
        self.cloud = cloud
        self.store = cloud.store

    def _zone(self, zone_id: str) -> dict:
        return self.cloud.doc("zone", self.cloud.name(zone_id, ids.DNS_ZONE, "DNS zone"), "DNS zone")

    def _view(self, zone: dict, name: str) -> ARecordSet | None:
        record = zone["records"].get(name)
        if record is None:
            return None
        return ARecordSet(self.cloud.id(ids.DNS_ZONE, zone["name"]), name, tuple(record["ips"]), record["ttl"])

    def find_a_record(self, zone_id: str, name: str) -> ARecordSet | None:
        self.cloud.read("record_sets.get")
        return self._view(self._zone(zone_id), name)

    def put_a_record(self, zone_id: str, name: str, ips: list[str], ttl: int) -> ARecordSet:
        self.cloud.write("record_sets.create_or_update")
        with self.store.transaction():
            zone = self._zone(zone_id)
            zone["records"][name] = {"ips": [str(ipaddress.IPv4Address(ip)) for ip in ips], "ttl": int(ttl)}
            self.store.put("zone", zone)
            self.store.record("record_sets.create_or_update", f"{self.cloud.id(ids.DNS_ZONE, zone['name'])}/A/{name}",
                              zone["records"][name])
            return self._view(zone, name)

    def delete_a_record(self, zone_id: str, name: str) -> None:
        self.cloud.write("record_sets.delete")
        with self.store.transaction():
            zone = self._zone(zone_id)
            if name not in zone["records"]:
                raise NotFoundError(f"A record {name} was not found in zone {zone['name']}", code="NotFound", status=404)
            del zone["records"][name]
            self.store.put("zone", zone)
            self.store.record("record_sets.delete", f"{self.cloud.id(ids.DNS_ZONE, zone['name'])}/A/{name}", {})


class FakeSecrets:
    def __init__(self, cloud):
        self.cloud = cloud

    def get_secret(self, key_vault: str, name: str) -> Secret:
        self.cloud.read("secrets.get")
        vault = self.cloud.store.get("key_vault", key_vault)
        if vault is None or name not in vault["secrets"]:
            raise NotFoundError(f"Secret {name} was not found in Key Vault {key_vault}", code="SecretNotFound",
                                status=404)
        value = self.cloud.environment(vault["secrets"][name])
        if not value:
            raise NotFoundError(f"Secret {name} of Key Vault {key_vault} has no value here (the fake reads it from "
                                f"${vault['secrets'][name]})", code="SecretNotFound", status=404)
        return Secret(value, f"keyvault:{key_vault}/{name}")
