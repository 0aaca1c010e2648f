"""Microsoft.Network (the payloads of the 2026-01-01 examples, whatever api-version the SDK sends), DNS
(2018-05-01) and Key Vault secrets, from the estate.

Documents start from the examples (``VirtualNetworkGet``, ``VirtualNetworkGatewayGet``,
``LocalNetworkGatewayGet``, ``VirtualNetworkGatewayConnectionGet``, ``RouteTableGet``, ``RouteTableRouteGet``,
``GetZone``, ``GetARecordset``, ``GetSecret``...), rebased on the estate; the examples' references to
resources the estate does not have (NAT rules, certificate authentication, a NAT gateway, a managed identity)
are left out. Network interfaces have no example among the copied ones: they are written in the
NetworkInterface shape of the REST reference.

Azure's rules kept here: no stretched subnets (a connection, or a local network gateway's prefixes, that
would make two overlapping address spaces reachable through one virtual network gateway is refused with 400
``AddressSpaceOverlap``); a connection needs a ``GatewaySubnet`` in each gateway's VNet; a route has a
``nextHopIpAddress`` exactly when its next hop is ``VirtualAppliance``; ``CheckIPAddressAvailability`` of an
address outside every subnet is 400 ``PrivateIPAddressNotInAnySubnet``. PUTs and DELETEs are long-running
(``Azure-AsyncOperation``); a connection or route GET while the operation runs shows ``Updating`` or
``Deleting``.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from tests.azure.arm import addresses, specs
from tests.azure.arm.estate import etag
from tests.azure.arm.http import ArmError, Reply, bad_request, empty, not_found, ok
from tests.azure.arm.model import (
    DnsZone,
    Gateway,
    GatewayConnection,
    LocalGateway,
    Operation,
    RecordSet,
    RouteEntry,
    RouteTable,
    VNet,
)

if TYPE_CHECKING:
    from tests.azure.arm.service import ArmService, Request

NET = "network"
EXAMPLE_PREFIX = "/subscriptions/subid/resourceGroups/rg1"
NEXT_HOPS = ("VirtualNetworkGateway", "VnetLocal", "Internet", "VirtualAppliance", "None")
ETAG = 'W/"00000000-0000-0000-0000-000000000000"'


def _drop(doc: dict[str, Any], *keys: str) -> dict[str, Any]:
    for key in keys:
        doc.pop(key, None)
    return doc


BACKGROUND_TICKS = 4  # requests after which an operation nobody polls has ended


class Network:
    def __init__(self, service: ArmService):
        self.service = service
        self.estate = service.estate
        self.operations: dict[str, Operation] = {}

    @property
    def prefix(self) -> str:
        return f"/subscriptions/{self.estate.subscription}/resourceGroups/{self.estate.resource_group}"

    def _rebase(self, doc: Any) -> Any:
        return specs.rebase(doc, {EXAMPLE_PREFIX: self.prefix})

    # --- routing ------------------------------------------------------------------------------------

    def handle(self, req: Request, rg: str | None, rest: list[str]) -> Reply:
        kinds = [r.lower() for r in rest]
        kind = kinds[0] if kinds else ""
        if kind == "locations" and len(rest) == 4 and kinds[2] in ("operations", "operationresults"):
            return self._operation(req, rest[3], results=kinds[2] == "operationresults")
        if rg is None:
            raise ArmError(404, "NotFound", f"The double serves {req.path} only within resource group "
                                            f"{self.estate.resource_group}.")
        handler = {"virtualnetworks": self._vnets, "virtualnetworkgateways": self._gateways,
                   "localnetworkgateways": self._local_gateways, "connections": self._connections,
                   "routetables": self._route_tables, "networkinterfaces": self._nics,
                   "dnszones": self._dns}.get(kind)
        if handler is None:
            raise ArmError(404, "NotFound", f"The double has nothing at {req.path}")
        return handler(req, rest[1:])

    @staticmethod
    def _unsupported(req: Request) -> ArmError:
        return ArmError(405 if req.method != "GET" else 404, "MethodNotAllowed" if req.method != "GET" else "NotFound",
                        f"The double has no {req.method} on {req.path}")

    # --- long-running operations ---------------------------------------------------------------------

    def _start(self, req: Request, location: str, done) -> Operation:
        op = Operation(str(uuid.uuid4()), location, self.service.lro_polls, done, started=self.service.ticks)
        self.operations[op.id] = op
        if op.polls <= 0:
            self._finish(op)
        return op

    def background(self) -> None:
        """Finish the operations accepted long enough ago, polled or not (a client killed mid-operation)."""
        for op in self.operations.values():
            if op.status == "InProgress" and self.service.ticks - op.started > self.service.lro_polls + BACKGROUND_TICKS:
                self._finish(op)

    def _finish(self, op: Operation) -> None:
        if op.status == "InProgress":
            op.status = "Succeeded"
            if op.done:
                op.done()

    def _op_urls(self, req: Request, op: Operation) -> dict[str, str]:
        base = f"{req.origin}{self.prefix}/providers/Microsoft.Network/locations/{op.location}"
        return {"Azure-AsyncOperation": f"{base}/operations/{op.id}?api-version={req.api_version}",
                "Location": f"{base}/operationResults/{op.id}?api-version={req.api_version}"}

    def _operation(self, req: Request, op_id: str, *, results: bool) -> Reply:
        op = self.operations.get(op_id)
        if op is None:
            raise ArmError(404, "NotFound", f"Operation {op_id} was not found.")
        if results:  # the Location of a DELETE: 202 while it runs, 204 once done
            return empty(204) if op.status != "InProgress" else empty(202, {**self.service.delay("10"),
                                                                            "Location": req.url})
        if op.status == "InProgress" and op.polls > 0:
            op.polls -= 1
            return ok({"status": "InProgress"}, headers=self.service.delay("10"))
        self._finish(op)
        return ok({"status": op.status})

    def _accepted_put(self, req: Request, location: str, doc: dict[str, Any], done, *, created: bool) -> Reply:
        op = self._start(req, location, done)
        headers = {"Azure-AsyncOperation": self._op_urls(req, op)["Azure-AsyncOperation"]}
        return ok(doc, 201 if created else 200, headers)

    def _accepted_delete(self, req: Request, location: str, done) -> Reply:
        op = self._start(req, location, done)
        return empty(202, {**self._op_urls(req, op), **self.service.delay("10")})

    # --- virtual networks and NICs ----------------------------------------------------------------------

    def _vnet(self, name: str) -> VNet:
        vnet = self.estate.vnets.get(name.lower())
        if vnet is None:
            raise not_found(f"Microsoft.Network/virtualNetworks/{name}", self.estate.resource_group)
        return vnet

    def _vnets(self, req: Request, rest: list[str]) -> Reply:
        if not rest and req.method == "GET":
            template = specs.item(NET, "VirtualNetworkList")
            return ok({"value": [self.vnet_doc(v, template) for v in self.estate.vnets.values()]})
        vnet = self._vnet(rest[0])
        if len(rest) == 1 and req.method == "GET":
            return ok(self.vnet_doc(vnet, specs.body(NET, "VirtualNetworkGet")))
        if len(rest) == 2 and rest[1].lower() == "checkipaddressavailability" and req.method == "GET":
            return ok(self._availability(vnet, req.param("ipAddress") or ""))
        raise self._unsupported(req)

    def vnet_doc(self, vnet: VNet, template: dict[str, Any]) -> dict[str, Any]:
        doc = _drop(self._rebase(template), "defaultPublicNatGateway")
        doc.update(name=vnet.name, id=vnet.id, location=vnet.location)
        if vnet.tags:
            doc["tags"] = dict(vnet.tags)
        props = doc["properties"]
        _drop(props, "defaultPublicNatGateway")
        props["addressSpace"] = {"addressPrefixes": list(vnet.prefixes)}
        tables = {(id(v), s.lower()): t for t in self.estate.route_tables.values() for v, s in t.subnets}
        subnets = []
        for name, prefix in vnet.subnets.items():
            subnet: dict[str, Any] = {"name": name, "id": vnet.subnet_id(name),
                                      "properties": {"provisioningState": "Succeeded", "addressPrefix": prefix}}
            configs = [{"id": f"{n.id}/ipConfigurations/{n.ip_config}"} for n in self.estate.nics()
                       if n.vnet is vnet and n.subnet.lower() == name.lower()]
            if configs:
                subnet["properties"]["ipConfigurations"] = configs
            table = tables.get((id(vnet), name.lower()))
            if table is not None:
                subnet["properties"]["routeTable"] = {"id": table.id}
            subnets.append(subnet)
        props["subnets"] = subnets
        return doc

    def _availability(self, vnet: VNet, ip: str) -> dict[str, Any]:
        if addresses.address(ip) is None:
            raise bad_request("InvalidPrivateIPAddress", f"'{ip}' is not a valid IP address.")
        subnet = next((s for s, p in vnet.subnets.items() if addresses.contains(p, ip)), None)
        if subnet is None:
            raise bad_request("PrivateIPAddressNotInAnySubnet", f"IP address {ip} does not belong to any subnet of "
                                                                f"virtual network {vnet.name}.")
        prefix = vnet.subnets[subnet]
        used = [n.ip for n in self.estate.nics() if n.vnet is vnet]
        doc = specs.body(NET, "VirtualNetworkCheckIPAddressAvailability")
        if ip in addresses.reserved(prefix):
            doc.update(available=False, isPlatformReserved=True,
                       availableIPAddresses=addresses.free(prefix, used, 5, start=ip))
        elif ip in used:
            doc.update(available=False, availableIPAddresses=addresses.free(prefix, used, 5, start=ip))
        else:
            doc = _drop(doc, "availableIPAddresses")
            doc["available"] = True
        return doc

    def _nics(self, req: Request, rest: list[str]) -> Reply:
        if rest or req.method != "GET":
            raise self._unsupported(req)
        return ok({"value": [self.nic_doc(n) for n in self.estate.nics()]})

    def nic_doc(self, nic) -> dict[str, Any]:
        """A NetworkInterface as the REST reference writes one (no example of it was copied)."""
        config_id = f"{nic.id}/ipConfigurations/{nic.ip_config}"
        compute = (f"/subscriptions/{self.estate.subscription}/resourceGroups/{self.estate.resource_group}/providers/"
                   f"Microsoft.Compute/virtualMachines/{nic.vm}")
        return {"name": nic.name, "id": nic.id, "etag": ETAG, "type": "Microsoft.Network/networkInterfaces",
                "location": nic.location or nic.vnet.location,
                "properties": {"provisioningState": "Succeeded", "resourceGuid": str(uuid.uuid5(uuid.NAMESPACE_URL, nic.id)),
                               "ipConfigurations": [{"name": nic.ip_config, "id": config_id, "etag": ETAG,
                                                     "type": "Microsoft.Network/networkInterfaces/ipConfigurations",
                                                     "properties": {"provisioningState": "Succeeded",
                                                                    "privateIPAddress": nic.ip,
                                                                    "privateIPAllocationMethod": "Static",
                                                                    "subnet": {"id": nic.vnet.subnet_id(nic.subnet)},
                                                                    "primary": True,
                                                                    "privateIPAddressVersion": "IPv4"}}],
                               "dnsSettings": {"dnsServers": [], "appliedDnsServers": []},
                               "enableAcceleratedNetworking": False, "enableIPForwarding": False,
                               "virtualMachine": {"id": compute}, "primary": True, "nicType": "Standard"}}

    # --- gateways ------------------------------------------------------------------------------------

    def _gateway(self, name: str) -> Gateway:
        gateway = self.estate.gateways.get(name.lower())
        if gateway is None:
            raise not_found(f"Microsoft.Network/virtualNetworkGateways/{name}", self.estate.resource_group)
        return gateway

    def _gateways(self, req: Request, rest: list[str]) -> Reply:
        if not rest and req.method == "GET":
            template = specs.item(NET, "VirtualNetworkGatewayList")
            return ok({"value": [self.gateway_doc(g, template) for g in self.estate.gateways.values()]})
        if len(rest) == 1 and req.method == "GET":
            return ok(self.gateway_doc(self._gateway(rest[0]), specs.body(NET, "VirtualNetworkGatewayGet")))
        raise self._unsupported(req)

    def gateway_doc(self, gateway: Gateway, template: dict[str, Any]) -> dict[str, Any]:
        doc = _drop(self._rebase(template), "identity")
        doc.update(name=gateway.name, id=gateway.id, location=gateway.location)
        props = _drop(doc["properties"], "natRules", "customRoutes")
        config = props["ipConfigurations"][0]
        config["id"] = f"{gateway.id}/ipConfigurations/{config['name']}"
        config["properties"]["subnet"] = {"id": gateway.vnet.subnet_id("GatewaySubnet")}
        config["properties"]["publicIPAddress"] = {"id": self.estate.net_id("publicIPAddresses", f"{gateway.name}-ip")}
        props["ipConfigurations"] = [config]
        (props.get("vpnClientConfiguration") or {}).pop("radiusServers", None)
        for peering in (props.get("bgpSettings") or {}).get("bgpPeeringAddresses") or []:
            peering["ipconfigurationId"] = config["id"]
        return doc

    def _local_gateway(self, name: str) -> LocalGateway:
        lng = self.estate.local_gateways.get(name.lower())
        if lng is None:
            raise not_found(f"Microsoft.Network/localNetworkGateways/{name}", self.estate.resource_group)
        return lng

    def _local_gateways(self, req: Request, rest: list[str]) -> Reply:
        if not rest and req.method == "GET":
            template = specs.item(NET, "LocalNetworkGatewayList")
            return ok({"value": [self.local_gateway_doc(g, template) for g in self.estate.local_gateways.values()]})
        if len(rest) == 1 and req.method == "GET":
            return ok(self.local_gateway_doc(self._local_gateway(rest[0]), specs.body(NET, "LocalNetworkGatewayGet")))
        if len(rest) == 1 and req.method == "PUT":
            return self._put_local_gateway(req, rest[0])
        raise self._unsupported(req)

    def local_gateway_doc(self, lng: LocalGateway, template: dict[str, Any]) -> dict[str, Any]:
        doc = self._rebase(template)
        doc.update(name=lng.name, id=lng.id, location=lng.location)
        if lng.tags:
            doc["tags"] = dict(lng.tags)
        doc["properties"].update(provisioningState=lng.provisioning, gatewayIpAddress=lng.gateway_ip,
                                 localNetworkAddressSpace={"addressPrefixes": list(lng.prefixes)})
        return doc

    def _put_local_gateway(self, req: Request, name: str) -> Reply:
        body = req.json() or {}
        props = body.get("properties") or {}
        prefixes = (props.get("localNetworkAddressSpace") or {}).get("addressPrefixes") or []
        bad = [p for p in prefixes if not addresses.valid_prefix(p)]
        if bad:
            raise bad_request("InvalidAddressPrefixFormat", f"Address prefixes {bad} of local network gateway {name} "
                                                            "are not valid CIDR prefixes.")
        existing = self.estate.local_gateways.get(name.lower())
        lng = LocalGateway(existing.name if existing else name, self.estate.net_id("localNetworkGateways", name),
                           body.get("location") or (existing.location if existing else self.estate.location),
                           props.get("gatewayIpAddress") or (existing.gateway_ip if existing else ""),
                           [str(addresses.network(p)) for p in prefixes], tags=dict(body.get("tags") or {}))
        for conn in self.estate.connections.values():
            if conn.type == "IPsec" and existing is not None and conn.peer is existing:
                self._check_no_stretch(conn.gateway1, replace=(existing, lng))
        if existing is not None:
            existing.prefixes, existing.location, existing.gateway_ip, existing.tags = (lng.prefixes, lng.location,
                                                                                         lng.gateway_ip, lng.tags)
            lng = existing
        else:
            self.estate.local_gateways[name.lower()] = lng
        lng.provisioning = "Updating"
        template = specs.body(NET, "LocalNetworkGatewayCreate", 201 if existing is None else 200)
        doc = self.local_gateway_doc(lng, template)
        return self._accepted_put(req, lng.location, doc, lambda: setattr(lng, "provisioning", "Succeeded"),
                                  created=existing is None)

    # --- no stretched subnets --------------------------------------------------------------------------

    def reachable(self, gateway: Gateway, connections: list[GatewayConnection],
                  replace: tuple[LocalGateway, LocalGateway] | None = None) -> list[tuple[str, str]]:
        """(source, prefix) of every address space reachable through ``gateway``: its own VNet's, the VNets
        it is connected to with Vnet2Vnet (either direction), the prefixes of local network gateways it is
        connected to with IPsec."""
        found = [(f"virtual network {gateway.vnet.name}", p) for p in gateway.vnet.prefixes]
        for conn in connections:
            if conn.type == "Vnet2Vnet" and isinstance(conn.peer, Gateway):
                other = conn.peer if conn.gateway1 is gateway else conn.gateway1 if conn.peer is gateway else None
                if other is not None and other is not gateway:
                    found += [(f"virtual network {other.vnet.name}", p) for p in other.vnet.prefixes]
            elif conn.type == "IPsec" and conn.gateway1 is gateway and isinstance(conn.peer, LocalGateway):
                lng = replace[1] if replace and conn.peer is replace[0] else conn.peer
                found += [(f"local network gateway {lng.name}", p) for p in lng.prefixes]
        return found

    def _check_no_stretch(self, gateway: Gateway, *, add: GatewayConnection | None = None,
                          replace: tuple[LocalGateway, LocalGateway] | None = None) -> None:
        connections = [c for c in self.estate.connections.values() if not (add and c.name.lower() == add.name.lower())]
        if add is not None:
            connections.append(add)
        clash = addresses.overlapping(self.reachable(gateway, connections, replace))
        if clash:
            (source_a, a), (source_b, b) = clash
            raise bad_request("AddressSpaceOverlap",
                              f"Address space {a} of {source_a} overlaps with address space {b} of {source_b}: both would "
                              f"be reachable through virtual network gateway {gateway.name}. Azure does not stretch "
                              "subnets; remove the prefix from one side first.")

    # --- connections -----------------------------------------------------------------------------------

    def _connections(self, req: Request, rest: list[str]) -> Reply:
        if not rest and req.method == "GET":
            template = specs.item(NET, "VirtualNetworkGatewayConnectionsList")
            return ok({"value": [self.connection_doc(c, template) for c in self.estate.connections.values()]})
        name = rest[0]
        conn = self.estate.connections.get(name.lower())
        if len(rest) == 2 and rest[1].lower() == "sharedkey" and req.method == "GET":
            if conn is None:
                raise not_found(f"Microsoft.Network/connections/{name}", self.estate.resource_group)
            doc = specs.body(NET, "VirtualNetworkGatewayConnectionGetSharedKey")
            doc["value"] = conn.shared_key
            return ok(doc)
        if len(rest) != 1:
            raise self._unsupported(req)
        if req.method == "GET":
            if conn is None:
                raise not_found(f"Microsoft.Network/connections/{name}", self.estate.resource_group)
            return ok(self.connection_doc(conn, specs.body(NET, "VirtualNetworkGatewayConnectionGet")))
        if req.method == "PUT":
            return self._put_connection(req, name, conn)
        if req.method == "DELETE":
            if conn is None:
                return empty(204)
            conn.provisioning = "Deleting"
            return self._accepted_delete(req, conn.location, lambda: self.estate.connections.pop(name.lower(), None))
        raise self._unsupported(req)

    def status(self, conn: GatewayConnection) -> str:
        if conn.type == "Vnet2Vnet":
            back = any(c.type == "Vnet2Vnet" and c.gateway1 is conn.peer and c.peer is conn.gateway1
                       for c in self.estate.connections.values())
            return "Connected" if back else "NotConnected"
        return "Connected"

    def connection_doc(self, conn: GatewayConnection, template: dict[str, Any], *, status: bool = True) -> dict[str, Any]:
        doc = self._rebase(template)
        doc.update(name=conn.name, id=conn.id, location=conn.location)
        if conn.tags:
            doc["tags"] = dict(conn.tags)
        props = _drop(doc["properties"], "ingressNatRules", "egressNatRules", "gatewayCustomBgpIpAddresses",
                      "certificateAuthentication", "tunnelProperties", "localNetworkGateway2", "virtualNetworkGateway2")
        props.update(provisioningState=conn.provisioning, connectionType=conn.type, connectionProtocol=conn.protocol,
                     routingWeight=conn.routing_weight, authenticationType="PSK",
                     virtualNetworkGateway1={"id": conn.gateway1.id, "properties": {}})
        peer_key = "virtualNetworkGateway2" if isinstance(conn.peer, Gateway) else "localNetworkGateway2"
        props[peer_key] = {"id": conn.peer.id, "properties": {}}
        if status:
            props["connectionStatus"] = self.status(conn)
        else:
            props.pop("connectionStatus", None)
        return doc

    def _put_connection(self, req: Request, name: str, existing: GatewayConnection | None) -> Reply:
        body = req.json() or {}
        props = body.get("properties") or {}
        kind = props.get("connectionType")
        if kind not in ("IPsec", "Vnet2Vnet"):
            raise bad_request("InvalidConnectionType", f"connectionType {kind!r} is not simulated: use IPsec or Vnet2Vnet.")
        gateway1 = self._referenced(props.get("virtualNetworkGateway1"), self.estate.gateways, "virtualNetworkGateway1")
        if kind == "Vnet2Vnet":
            peer: Gateway | LocalGateway = self._referenced(props.get("virtualNetworkGateway2"), self.estate.gateways,
                                                            "virtualNetworkGateway2")
        else:
            peer = self._referenced(props.get("localNetworkGateway2"), self.estate.local_gateways, "localNetworkGateway2")
        if existing is not None and (existing.gateway1 is not gateway1 or existing.peer is not peer
                                     or existing.type != kind):
            raise bad_request("PropertyChangeNotAllowed", f"Connection {name} connects {existing.gateway1.name} to "
                                                          f"{existing.peer.name} ({existing.type}); a connection's "
                                                          "gateways and type cannot be changed.")
        for gateway in (gateway1, peer):
            if isinstance(gateway, Gateway) and gateway.vnet.subnet("GatewaySubnet") is None:
                raise bad_request("GatewaySubnetNotFound", f"Virtual network {gateway.vnet.name} of gateway "
                                                           f"{gateway.name} has no subnet named GatewaySubnet.")
        conn = GatewayConnection(existing.name if existing else name, self.estate.net_id("connections", name),
                                 body.get("location") or gateway1.location, kind, gateway1, peer,
                                 props.get("sharedKey") or (existing.shared_key if existing else str(uuid.uuid4())),
                                 dict(body.get("tags") or {}), props.get("connectionProtocol") or "IKEv2",
                                 int(props.get("routingWeight") or 0), provisioning="Updating")
        self._check_no_stretch(gateway1, add=conn)
        if isinstance(peer, Gateway):
            self._check_no_stretch(peer, add=conn)
        self.estate.connections[name.lower()] = conn
        template = specs.body(NET, "VirtualNetworkGatewayConnectionCreate", 201 if existing is None else 200)
        doc = self.connection_doc(conn, template, status=False)
        return self._accepted_put(req, conn.location, doc, lambda: setattr(conn, "provisioning", "Succeeded"),
                                  created=existing is None)

    def _referenced(self, ref: Any, table: dict, field: str):
        ref_id = (ref or {}).get("id") if isinstance(ref, dict) else None
        if not ref_id:
            raise bad_request("InvalidRequestFormat", f"properties.{field}.id is required.")
        found = next((r for r in table.values() if r.id.lower() == ref_id.lower()), None)
        if found is None:
            raise bad_request("InvalidResourceReference", f"Resource {ref_id} referenced by properties.{field} was "
                                                          "not found.")
        return found

    # --- route tables ----------------------------------------------------------------------------------

    def _table(self, name: str) -> RouteTable:
        table = self.estate.route_tables.get(name.lower())
        if table is None:
            raise not_found(f"Microsoft.Network/routeTables/{name}", self.estate.resource_group)
        return table

    def _route_tables(self, req: Request, rest: list[str]) -> Reply:
        if not rest and req.method == "GET":
            template = specs.item(NET, "RouteTableList")
            return ok({"value": [self.table_doc(t, template) for t in self.estate.route_tables.values()]})
        table = self._table(rest[0])
        if len(rest) == 1 and req.method == "GET":
            return ok(self.table_doc(table, specs.body(NET, "RouteTableGet")))
        if len(rest) == 2 and rest[1].lower() == "routes" and req.method == "GET":
            template = specs.item(NET, "RouteTableRouteList")
            return ok({"value": [self.route_doc(table, r, template) for r in table.routes.values()]})
        if len(rest) == 3 and rest[1].lower() == "routes":
            return self._route(req, table, rest[2])
        raise self._unsupported(req)

    def table_doc(self, table: RouteTable, template: dict[str, Any]) -> dict[str, Any]:
        doc = self._rebase(template)
        doc.update(name=table.name, id=table.id, location=table.location)
        props = doc["properties"]
        route_template = specs.item(NET, "RouteTableRouteList")
        props["routes"] = [self.route_doc(table, r, route_template) for r in table.routes.values()]
        props["disableBgpRoutePropagation"] = False
        if table.subnets:
            props["subnets"] = [{"id": vnet.subnet_id(subnet)} for vnet, subnet in table.subnets]
        return doc

    def route_doc(self, table: RouteTable, route: RouteEntry, template: dict[str, Any]) -> dict[str, Any]:
        doc = self._rebase(template)
        doc.update(name=route.name, id=f"{table.id}/routes/{route.name}")
        props = doc["properties"]
        props.update(provisioningState=route.provisioning, addressPrefix=route.prefix, nextHopType=route.next_hop)
        if route.next_hop_ip:
            props["nextHopIpAddress"] = route.next_hop_ip
        else:
            props.pop("nextHopIpAddress", None)
        return doc

    def _route(self, req: Request, table: RouteTable, name: str) -> Reply:
        route = next((r for r in table.routes.values() if r.name.lower() == name.lower()), None)
        if req.method == "GET":
            if route is None:
                raise ArmError(404, "NotFound", f"Route {name} not found in route table {table.name}.")
            return ok(self.route_doc(table, route, specs.body(NET, "RouteTableRouteGet")))
        if req.method == "DELETE":
            if route is None:
                return empty(204)
            route.provisioning = "Deleting"
            return self._accepted_delete(req, table.location, lambda: table.routes.pop(route.name, None))
        if req.method == "PUT":
            props = (req.json() or {}).get("properties") or {}
            new = self._checked_route(name if route is None else route.name, props)
            table.routes[new.name] = new
            template = specs.body(NET, "RouteTableRouteCreate", 201 if route is None else 200)
            doc = self.route_doc(table, new, template)
            return self._accepted_put(req, table.location, doc, lambda: setattr(new, "provisioning", "Succeeded"),
                                      created=route is None)
        raise self._unsupported(req)

    @staticmethod
    def _checked_route(name: str, props: dict[str, Any]) -> RouteEntry:
        prefix, hop, ip = props.get("addressPrefix"), props.get("nextHopType"), props.get("nextHopIpAddress")
        if not prefix or not addresses.valid_prefix(prefix):
            raise bad_request("InvalidRouteAddressPrefix", f"Route {name} has an invalid addressPrefix {prefix!r}.")
        if hop not in NEXT_HOPS:
            raise bad_request("InvalidRouteNextHopType", f"Route {name} has next hop type {hop!r}; use one of "
                                                         f"{', '.join(NEXT_HOPS)}.")
        if hop == "VirtualAppliance" and not ip:
            raise bad_request("InvalidRouteNextHopIpAddress", f"Route {name} has next hop type VirtualAppliance "
                                                              "and needs a nextHopIpAddress.")
        if hop != "VirtualAppliance" and ip:
            raise bad_request("InvalidRouteNextHopIpAddress", f"Route {name} has next hop type {hop}: a "
                                                              "nextHopIpAddress is allowed only with VirtualAppliance.")
        if ip and addresses.address(ip) is None:
            raise bad_request("InvalidRouteNextHopIpAddress", f"Route {name}: {ip!r} is not an IP address.")
        return RouteEntry(name, str(addresses.network(prefix)), hop, ip, provisioning="Updating")

    # --- DNS -------------------------------------------------------------------------------------------

    def _zone(self, name: str) -> DnsZone:
        zone = self.estate.zones.get(name.lower())
        if zone is None:
            raise not_found(f"Microsoft.Network/dnszones/{name}", self.estate.resource_group)
        return zone

    def _dns(self, req: Request, rest: list[str]) -> Reply:
        if not rest and req.method == "GET":
            return ok({"value": [self.zone_doc(z) for z in self.estate.zones.values()]})
        zone = self._zone(rest[0])
        if len(rest) == 1 and req.method == "GET":
            return ok(self.zone_doc(zone))
        if len(rest) >= 2 and rest[1].upper() != "A":
            raise ArmError(400, "BadRequest", f"The double serves A record sets only, not {rest[1]}.")
        if len(rest) == 2 and req.method == "GET":
            template = specs.item("dns", "ListARecordset")
            return ok({"value": [self.record_doc(zone, r, template) for r in zone.records.values()]})
        if len(rest) != 3:
            raise self._unsupported(req)
        name = rest[2]
        record = zone.records.get(name.lower())
        if req.method == "GET":
            if record is None:
                raise ArmError(404, "NotFound", f"The resource record '{name}' does not exist in resource group "
                                                f"'{self.estate.resource_group}' of subscription "
                                                f"'{self.estate.subscription}'.")
            return ok(self.record_doc(zone, record, specs.body("dns", "GetARecordset")))
        if req.method == "PUT":
            return self._put_record(req, zone, name, record)
        if req.method == "DELETE":
            if record is None:
                return empty(204)
            del zone.records[name.lower()]
            return empty(200)
        raise self._unsupported(req)

    def _put_record(self, req: Request, zone: DnsZone, name: str, record: RecordSet | None) -> Reply:
        if req.headers.get("if-none-match") == "*" and record is not None:
            raise ArmError(412, "PreconditionFailed", f"The record set {name} already exists.")
        if req.headers.get("if-match") and (record is None or req.headers["if-match"].strip('"') != record.etag):
            raise ArmError(412, "PreconditionFailed", f"The etag of record set {name} does not match.")
        props = (req.json() or {}).get("properties") or {}
        ips = [a.get("ipv4Address") for a in props.get("ARecords") or []]
        bad = [ip for ip in ips if addresses.address(ip or "") is None]
        if bad:
            raise bad_request("BadRequest", f"Record set {name}: {bad} are not IPv4 addresses.")
        new = RecordSet(record.name if record else name, ips, int(props.get("TTL") or 3600), etag(),
                        props.get("metadata"))
        zone.records[name.lower()] = new
        return ok(self.record_doc(zone, new, specs.body("dns", "CreateOrUpdateARecordset", 200 if record else 201)),
                  200 if record else 201)

    def zone_doc(self, zone: DnsZone) -> dict[str, Any]:
        doc = _drop(self._rebase(specs.body("dns", "GetZone")), "tags")
        doc.update(name=zone.name, id=zone.id)
        doc["properties"]["numberOfRecordSets"] = len(zone.records) + 2  # and the apex's SOA and NS
        return doc

    def record_doc(self, zone: DnsZone, record: RecordSet, template: dict[str, Any]) -> dict[str, Any]:
        doc = self._rebase(template)
        doc.update(id=f"{zone.id}/A/{record.name}", etag=record.etag, name=record.name)
        props = doc["properties"]
        props.update(TTL=record.ttl, fqdn=f"{record.name}.{zone.name}", ARecords=[{"ipv4Address": ip} for ip in record.ips])
        if record.metadata:
            props["metadata"] = dict(record.metadata)
        else:
            props.pop("metadata", None)
        return doc


class KeyVault:
    """Key Vault secrets (``GetSecret``): the value of the environment variable the estate names, after the
    401 challenge Key Vault gives a request without ``Authorization``."""

    CHALLENGE = ('Bearer authorization="https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47", '
                 'resource="https://vault.azure.net"')

    def __init__(self, service: ArmService):
        self.service = service
        self.env = service.estate.env

    def handle(self, req: Request, vault: str) -> Reply:
        if "authorization" not in req.headers:
            return empty(401, {"WWW-Authenticate": self.CHALLENGE})
        parts = [p for p in req.path.split("/") if p]
        if len(parts) < 2 or parts[0].lower() != "secrets" or req.method != "GET":
            raise ArmError(400, "BadParameter", f"The double serves GET /secrets/NAME only, not {req.method} {req.path}.")
        secrets = self.service.estate.key_vaults.get(vault.lower())
        env = (secrets or {}).get(parts[1].lower())
        value = self.env.get(env) if env else None
        if secrets is None or value is None:
            raise ArmError(404, "SecretNotFound", f"A secret with (name/id) {parts[1]} was not found in this key vault. "
                                                  "If you recently deleted this secret you may be able to recover it.")
        doc = specs.body("keyvault", "GetSecret")
        version = parts[2] if len(parts) > 2 else uuid.uuid5(uuid.NAMESPACE_URL, f"{vault}/{parts[1]}").hex
        doc.update(value=value, id=f"https://{req.host}/secrets/{parts[1]}/{version}")
        return ok(doc)
