"""Microsoft.Network, DNS and Key Vault on the SDK. Every resource is addressed by its ID; the client
is the one of the ID's subscription. Long-running PUTs and DELETEs are waited for here (seconds),
unlike ASR jobs (minutes), which the engine follows itself."""

from __future__ import annotations

import hmac
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.network import models as nm

from adapters.azure.errors import translated
from adapters.ports import (
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
from adapters.shared.errors import NotFoundError
from adapters.shared.secret import Secret


def _s(value: Any) -> Any:
    """An SDK enum as its plain value."""
    return getattr(value, "value", value)


def _ref(value: Any) -> str | None:
    return getattr(value, "id", None) if value is not None else None


def _deleting(resource: Any) -> bool:
    """A resource whose delete was accepted: it is gone for every decision (a resumed run that finds it
    so sends no second DELETE; ARM finishes the first whether or not anyone waits)."""
    return _s(getattr(resource, "provisioning_state", None)) == "Deleting"


def _vnet_view(vnet: Any) -> VirtualNetwork:
    space = vnet.address_space.address_prefixes if vnet.address_space else []
    return VirtualNetwork(
        id=vnet.id, name=vnet.name, location=vnet.location, address_prefixes=tuple(space or ()),
        subnets={s.name: s.address_prefix or (s.address_prefixes or [None])[0] for s in vnet.subnets or []},
        tags=dict(vnet.tags or {}))


def _gateway_view(gateway: Any) -> VirtualNetworkGateway:
    """A gateway's VNet is the one of its GatewaySubnet."""
    subnet = next((_ref(c.subnet) for c in gateway.ip_configurations or [] if c.subnet), "") or ""
    return VirtualNetworkGateway(id=gateway.id, name=gateway.name, location=gateway.location,
                                 vnet_id=subnet.split("/subnets/", 1)[0], gateway_type=_s(gateway.gateway_type) or "Vpn")


def _connection_view(conn: Any) -> Connection:
    return Connection(
        id=conn.id, name=conn.name, location=conn.location, connection_type=_s(conn.connection_type),
        gateway1_id=_ref(conn.virtual_network_gateway1), gateway2_id=_ref(conn.virtual_network_gateway2),
        local_gateway2_id=_ref(conn.local_network_gateway2), status=_s(conn.connection_status) or "Unknown",
        provisioning_state=_s(conn.provisioning_state) or "Succeeded", tags=dict(conn.tags or {}))


def _route_view(route: Any) -> Route:
    return Route(name=route.name, address_prefix=route.address_prefix, next_hop_type=_s(route.next_hop_type),
                 next_hop_ip=route.next_hop_ip_address)


class AzureNetwork:
    def __init__(self, clients):
        self._clients = clients

    def _ops(self, resource_id: str):
        rid = ids.parse(resource_id)
        return self._clients.network(rid.subscription), rid.resource_group, rid.name

    # --- virtual networks ---------------------------------------------------------------------------

    @translated("virtual_networks.get")
    def get_virtual_network(self, vnet_id: str) -> VirtualNetwork:
        client, rg, name = self._ops(vnet_id)
        return _vnet_view(client.virtual_networks.get(rg, name))

    @translated("virtual_networks.list")
    def list_virtual_networks(self, subscription: str, resource_group: str) -> list[VirtualNetwork]:
        return [_vnet_view(v) for v in self._clients.network(subscription).virtual_networks.list(resource_group)]

    @translated("virtual_networks.check_ip_address_availability")
    def check_ip_availability(self, vnet_id: str, ip: str) -> IpAvailability:
        client, rg, name = self._ops(vnet_id)
        result = client.virtual_networks.check_ip_address_availability(rg, name, ip_address=ip)
        return IpAvailability(available=bool(result.available), platform_reserved=bool(result.is_platform_reserved),
                              available_alternatives=tuple(result.available_ip_addresses or ()))

    # --- gateways -----------------------------------------------------------------------------------

    @translated("virtual_network_gateways.get")
    def get_gateway(self, gateway_id: str) -> VirtualNetworkGateway:
        client, rg, name = self._ops(gateway_id)
        return _gateway_view(client.virtual_network_gateways.get(rg, name))

    @translated("local_network_gateways.get")
    def get_local_gateway(self, local_gateway_id: str) -> LocalNetworkGateway:
        client, rg, name = self._ops(local_gateway_id)
        return self._lng_view(client.local_network_gateways.get(rg, name))

    @staticmethod
    def _lng_view(lng: Any) -> LocalNetworkGateway:
        space = lng.local_network_address_space.address_prefixes if lng.local_network_address_space else []
        return LocalNetworkGateway(id=lng.id, name=lng.name, location=lng.location,
                                   gateway_ip=lng.gateway_ip_address or "", address_prefixes=tuple(space or ()))

    @translated("local_network_gateways.create_or_update", writes=True)
    def set_local_gateway_prefixes(self, local_gateway_id: str, prefixes: list[str]) -> LocalNetworkGateway:
        client, rg, name = self._ops(local_gateway_id)
        lng = client.local_network_gateways.get(rg, name)  # PUT replaces: send the whole resource back
        lng.local_network_address_space = nm.AddressSpace(address_prefixes=list(prefixes))
        return self._lng_view(client.local_network_gateways.begin_create_or_update(rg, name, lng).result())

    # --- connections --------------------------------------------------------------------------------

    @translated("virtual_network_gateway_connections.get")
    def find_connection(self, connection_id: str) -> Connection | None:
        client, rg, name = self._ops(connection_id)
        try:
            connection = client.virtual_network_gateway_connections.get(rg, name)
        except ResourceNotFoundError:  # an answer here, not an error
            return None
        return None if _deleting(connection) else _connection_view(connection)

    @translated("virtual_network_gateway_connections.list")
    def list_connections(self, subscription: str, resource_group: str) -> list[Connection]:
        ops = self._clients.network(subscription).virtual_network_gateway_connections
        return [_connection_view(c) for c in ops.list(resource_group) if not _deleting(c)]

    @translated("virtual_network_gateway_connections.create_or_update", writes=True)
    def put_connection(self, connection_id: str, spec: ConnectionSpec) -> Connection:
        client, rg, name = self._ops(connection_id)
        vnet2vnet = spec.connection_type == "Vnet2Vnet"
        body = nm.VirtualNetworkGatewayConnection(
            location=spec.location, connection_type=spec.connection_type, shared_key=spec.shared_key.reveal(),
            virtual_network_gateway1=nm.VirtualNetworkGateway(id=spec.gateway1_id),
            virtual_network_gateway2=nm.VirtualNetworkGateway(id=spec.peer_id) if vnet2vnet else None,
            local_network_gateway2=None if vnet2vnet else nm.LocalNetworkGateway(id=spec.peer_id),
            tags=dict(spec.tags) or None)
        poller = client.virtual_network_gateway_connections.begin_create_or_update(rg, name, body)
        return _connection_view(poller.result())

    @translated("virtual_network_gateway_connections.delete", writes=True)
    def delete_connection(self, connection_id: str) -> None:
        client, rg, name = self._ops(connection_id)
        client.virtual_network_gateway_connections.begin_delete(rg, name).result()

    @translated("virtual_network_gateway_connections.get_shared_key")
    def shared_key(self, connection_id: str) -> Secret:
        client, rg, name = self._ops(connection_id)
        return Secret(client.virtual_network_gateway_connections.get_shared_key(rg, name).value or "", "azure")

    def shared_key_matches(self, connection_id: str, shared_key: Secret) -> bool:
        return hmac.compare_digest(self.shared_key(connection_id).reveal().encode(), shared_key.reveal().encode())

    # --- routes -------------------------------------------------------------------------------------

    @staticmethod
    def _table_view(table: Any) -> RouteTable:
        return RouteTable(id=table.id, name=table.name, location=table.location,
                          routes={r.name: _route_view(r) for r in table.routes or [] if not _deleting(r)},
                          subnet_ids=tuple(_ref(s) for s in table.subnets or []))

    @translated("route_tables.get")
    def get_route_table(self, table_id: str) -> RouteTable:
        client, rg, name = self._ops(table_id)
        return self._table_view(client.route_tables.get(rg, name))

    @translated("route_tables.list")
    def list_route_tables(self, subscription: str, resource_group: str) -> list[RouteTable]:
        return [self._table_view(t) for t in self._clients.network(subscription).route_tables.list(resource_group)]

    @translated("routes.create_or_update", writes=True)
    def put_route(self, table_id: str, route: Route) -> Route:
        client, rg, table = self._ops(table_id)
        body = nm.Route(address_prefix=route.address_prefix, next_hop_type=route.next_hop_type,
                        next_hop_ip_address=route.next_hop_ip)
        return _route_view(client.routes.begin_create_or_update(rg, table, route.name, body).result())

    @translated("routes.delete", writes=True)
    def delete_route(self, table_id: str, route_name: str) -> None:
        client, rg, table = self._ops(table_id)
        client.routes.begin_delete(rg, table, route_name).result()


class AzureDns:
    def __init__(self, clients):
        self._clients = clients

    def _ops(self, zone_id: str):
        rid = ids.parse(zone_id)
        return self._clients.dns(rid.subscription).record_sets, rid.resource_group, rid.name

    @translated("record_sets.get")
    def find_a_record(self, zone_id: str, name: str) -> ARecordSet | None:
        ops, rg, zone = self._ops(zone_id)
        try:
            record = ops.get(rg, zone, name, "A")
        except ResourceNotFoundError:
            return None
        return ARecordSet(zone_id=zone_id, name=name, ips=tuple(a.ipv4_address for a in record.a_records or []),
                          ttl=record.ttl or 0)

    @translated("record_sets.create_or_update", writes=True)
    def put_a_record(self, zone_id: str, name: str, ips: list[str], ttl: int) -> ARecordSet:
        from azure.mgmt.dns.models import ARecord, RecordSet

        ops, rg, zone = self._ops(zone_id)
        record = ops.create_or_update(rg, zone, name, "A",
                                      RecordSet(ttl=ttl, a_records=[ARecord(ipv4_address=ip) for ip in ips]))
        return ARecordSet(zone_id=zone_id, name=name, ips=tuple(a.ipv4_address for a in record.a_records or []),
                          ttl=record.ttl or ttl)

    @translated("record_sets.delete", writes=True)
    def delete_a_record(self, zone_id: str, name: str) -> None:
        ops, rg, zone = self._ops(zone_id)
        ops.delete(rg, zone, name, "A")


class AzureSecrets:
    def __init__(self, clients):
        self._clients = clients

    @translated("secrets.get")
    def get_secret(self, key_vault: str, name: str) -> Secret:
        try:
            value = self._clients.key_vault(key_vault).get_secret(name).value
        except ResourceNotFoundError:
            raise NotFoundError(f"secret {name} was not found in Key Vault {key_vault}",
                                code="SecretNotFound", status=404) from None
        return Secret(value or "", f"keyvault:{key_vault}/{name}")


class AzureInventory:
    """What a snapshot lists besides the ports' reads: every gateway, local gateway, NIC and DNS zone of
    a resource group."""

    def __init__(self, clients):
        self._clients = clients

    @translated("virtual_network_gateways.list")
    def gateways(self, subscription: str, resource_group: str) -> list[VirtualNetworkGateway]:
        return [_gateway_view(g) for g in self._clients.network(subscription).virtual_network_gateways.list(resource_group)]

    @translated("local_network_gateways.list")
    def local_gateways(self, subscription: str, resource_group: str) -> list[LocalNetworkGateway]:
        ops = self._clients.network(subscription).local_network_gateways
        return [AzureNetwork._lng_view(lng) for lng in ops.list(resource_group)]

    @translated("network_interfaces.list")
    def nic_addresses(self, subscription: str, resource_group: str) -> dict[str, tuple[str, str]]:
        """NIC name -> (subnet ID, private IP) of its primary IP configuration."""
        found = {}
        for nic in self._clients.network(subscription).network_interfaces.list(resource_group):
            configs = nic.ip_configurations or []
            config = next((c for c in configs if c.primary), configs[0] if configs else None)
            if config is not None and config.subnet is not None and config.private_ip_address:
                found[nic.name] = (config.subnet.id, config.private_ip_address)
        return found

    @translated("dns.list")
    def a_records(self, subscription: str, resource_group: str) -> dict[str, dict[str, tuple[list[str], int]]]:
        client = self._clients.dns(subscription)
        zones = {}
        for zone in client.zones.list_by_resource_group(resource_group):
            zones[zone.name] = {r.name: ([a.ipv4_address for a in r.a_records or []], r.ttl or 300)
                                for r in client.record_sets.list_by_type(resource_group, zone.name, "A")}
        return zones

    @translated("replication_recovery_plans.list")
    def recovery_plans(self, vault) -> list[str]:
        ops = self._clients.site_recovery(vault.subscription).replication_recovery_plans
        return [plan.name for plan in ops.list(vault.resource_group, vault.vault)]
