"""An Azure estate behind ARM's REST API, for the Azure adapter's tests: every request the SDK sends
goes through its real pipeline to ``responses``, and is answered here from a fake estate (which keeps
Azure's rules), rendered as the payloads of the Azure REST API reference.

Long-running operations answer as ARM does: 201/202 with ``Azure-AsyncOperation`` and ``Location``,
an operation status that is ``InProgress`` once and then ``Succeeded``, and a final GET. ASR failovers
answer 202 with the job's URLs; the job is read with ``replicationJobs``. Faults can be queued per
request (``fail_next``) and jobs forced into a state (``force_job``).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlparse

import responses

from adapters import ids
from adapters.errors import AdapterError, ThrottledError, TransientError
from adapters.fake import FakeAdapter
from adapters.ports import ConnectionSpec, NetworkSettings, Route, VaultRef
from adapters.secret import Secret

ARM = "https://management.azure.com"
ASR_TYPE = "Microsoft.RecoveryServices/vaults"
FAILOVER_ACTIONS = {"plannedfailover": "planned", "unplannedfailover": "unplanned", "testfailover": "test"}


@dataclass
class Sent:
    method: str
    path: str
    query: dict
    body: str

    @property
    def writes(self) -> bool:
        return self.method not in ("GET", "HEAD")


@dataclass
class Fault:
    method: str
    pattern: re.Pattern
    status: int
    code: str
    headers: dict = field(default_factory=dict)  # or {"exception": ...}: the connection drops instead
    times: int = 1


def item_name(vm: str) -> str:
    """ASR names a replicated item with a GUID; operators know it by its VM's friendly name."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, vm))


class ArmEstate:
    def __init__(self, fake: FakeAdapter, mock: responses.RequestsMock):
        self.fake = fake
        self.sent: list[Sent] = []
        self.faults: list[Fault] = []
        self.forced_jobs: dict[str, tuple[str, list[str]]] = {}
        self.operations: dict[str, int] = {}  # async operation id -> polls left before Succeeded
        self.keys: dict[str, str] = {}  # connection ID -> the shared key last PUT (Azure keeps it; GET omits it)
        self._vms = {item_name(i["name"]): i["name"] for i in fake.store.all("item")}
        for method in ("GET", "PUT", "PATCH", "POST", "DELETE"):
            mock.add_callback(method, re.compile(r"https://management\.azure\.com/.*"), callback=self.handle)
        mock.add_callback("GET", re.compile(r"https://[^/]+\.vault\.azure\.net/.*"), callback=self.key_vault)
        mock.add_callback("POST", re.compile(r"https://login\.microsoftonline\.com/.*"), callback=self.token)

    # --- what the tests look at ---------------------------------------------------------------------

    @property
    def writes(self) -> list[Sent]:
        return [s for s in self.sent if s.writes]

    def fail_next(self, method: str, path_regex: str, status: int, code: str, *, times: int = 1, **headers) -> None:
        self.faults.append(Fault(method, re.compile(path_regex, re.I), status, code,
                                 {k.replace("_", "-"): str(v) for k, v in headers.items()}, times))

    def drop_next(self, method: str, path_regex: str, exception: Exception) -> None:
        """The connection fails on the next matching request (raised from the transport, as requests does)."""
        self.faults.append(Fault(method, re.compile(path_regex, re.I), 0, "", {"exception": exception}, 1))

    def force_job(self, job_id: str, state: str, errors: list[str]) -> None:
        self.forced_jobs[job_id] = (state, errors)

    # --- dispatch -----------------------------------------------------------------------------------

    def handle(self, request):
        url = urlparse(request.url)
        body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
        self.sent.append(Sent(request.method, url.path, parse_qs(url.query), body))
        for fault in self.faults:
            if fault.method == request.method and fault.pattern.search(url.path) and fault.times > 0:
                fault.times -= 1
                if "exception" in fault.headers:
                    raise fault.headers["exception"]
                return self._error(fault.status, fault.code, f"injected {fault.code}", fault.headers)
        try:
            return self._route(request.method, url.path, parse_qs(url.query), json.loads(body) if body else None)
        except AdapterError as exc:
            headers = {}
            if isinstance(exc, TransientError) and exc.retry_after:
                headers["Retry-After"] = str(int(exc.retry_after))
            status = exc.status or (429 if isinstance(exc, ThrottledError) else 400)
            return self._error(status, exc.code or "BadRequest", exc.message, headers)

    def _route(self, method: str, path: str, query: dict, body):
        segments = path.strip("/").split("/")
        lower = [s.lower() for s in segments]
        if lower[:1] == ["subscriptions"] and "locations" in lower and "operations" in lower + ["operationresults"]:
            return self._operation(method, lower, segments)
        sub, rg = segments[1], segments[3]
        provider, rest = "/".join(segments[5:7]), segments[7:]
        if provider.lower() == "microsoft.recoveryservices/vaults":
            return self._asr(method, VaultRef(sub, rg, rest[0]), rest[1:], path, body)
        if provider.lower().startswith("microsoft.network/"):
            return self._network(method, sub, rg, segments[6], segments[7:], path, query, body)
        return self._error(404, "NoRegisteredProviderFound", f"no provider at {path}")

    # --- Site Recovery ------------------------------------------------------------------------------

    def _asr(self, method, vault, rest, path, body):
        rep = self.fake.replication
        kinds = [r.lower() for r in rest]
        if kinds == ["replicationprotecteditems"]:
            return self._ok({"value": [self._item(vault, i) for i in rep.list_protected_items(vault)]})
        if len(rest) >= 6 and kinds[0] == "replicationfabrics" and kinds[4] == "replicationprotecteditems":
            vm = self._vms.get(rest[5], rest[5])
            action = kinds[6] if len(rest) > 6 else None
            if action is None and method == "GET":
                return self._ok(self._item(vault, rep.get_protected_item(vault, vm)))
            if action is None and method == "PATCH":
                self._update(vault, vm, body["properties"])
                return self._accepted_asr(vault, path)
            if action in FAILOVER_ACTIONS:
                props = body["properties"]
                kind = FAILOVER_ACTIONS[action]
                handle = rep.start_failover(vault, vm, kind, test_network=props.get("networkId"),
                                            shut_down_source=props.get("sourceSiteOperations") != "NotRequired")
            elif action == "failovercommit":
                handle = rep.start_commit(vault, vm)
            elif action == "failovercancel":
                handle = rep.start_cancel(vault, vm)
            elif action == "testfailovercleanup":
                handle = rep.start_test_failover_cleanup(vault, vm, body["properties"].get("comments", ""))
            else:
                return self._error(404, "NotFound", f"no action {action}")
            return self._job_accepted(vault, handle.job_id)
        if kinds == ["replicationrecoveryplans"]:
            plans = [rep.get_recovery_plan(vault, p["name"]) for p in self.fake.store.all("plan")
                     if p["vault"].lower() == vault.vault.lower()]
            return self._ok({"value": [self._plan(vault, p) for p in plans]})
        if kinds[:1] == ["replicationrecoveryplans"]:
            plan = rest[1]
            if len(rest) == 2:
                return self._ok(self._plan(vault, rep.get_recovery_plan(vault, plan)))
            action, props = kinds[2], (body or {}).get("properties") or {}
            if action in FAILOVER_ACTIONS:
                handle = rep.start_plan_failover(vault, plan, FAILOVER_ACTIONS[action],
                                                 test_network=props.get("networkId"),
                                                 shut_down_source=props.get("sourceSiteOperations") != "NotRequired")
            elif action == "failovercommit":
                handle = rep.start_plan_commit(vault, plan)
            elif action == "testfailovercleanup":
                handle = rep.start_plan_test_failover_cleanup(vault, plan, props.get("comments", ""))
            else:
                return self._error(404, "NotFound", f"no action {action}")
            return self._job_accepted(vault, handle.job_id)
        if kinds == ["replicationjobs"]:
            jobs = [self._job(vault, rep.get_job(vault, j["id"])) for j in self.fake.store.jobs()]
            return self._ok({"value": jobs})
        if kinds[:1] == ["replicationjobs"]:
            return self._ok(self._job(vault, rep.get_job(vault, rest[1])))
        if kinds[:1] == ["replicationoperationstatus"]:
            return self._ok({"name": rest[1], "status": "Succeeded"})
        return self._error(404, "NotFound", f"nothing at {path}")

    def _vault_path(self, vault: VaultRef) -> str:
        return (f"/subscriptions/{vault.subscription}/resourceGroups/{vault.resource_group}/providers/"
                f"Microsoft.RecoveryServices/vaults/{vault.vault}")

    def _item(self, vault, item) -> dict:
        item_id = item.id.rsplit("/", 1)[0] + "/" + item_name(item.vm_name)
        props = item.state.properties()
        if item.state.job:
            props["currentScenario"]["jobId"] = f"{self._vault_path(vault)}/replicationJobs/{item.state.job}"
        else:
            props["currentScenario"]["jobId"] = f"{self._vault_path(vault)}/replicationJobs/None"
        return {
            "id": item_id, "name": item_name(item.vm_name),
            "type": f"{ASR_TYPE}/replicationFabrics/replicationProtectionContainers/replicationProtectedItems",
            "properties": {
                "friendlyName": item.vm_name, "protectedItemType": "HyperVVirtualMachine", **props,
                "providerSpecificDetails": {
                    "instanceType": "HyperVReplicaAzure",
                    "selectedRecoveryAzureNetworkId": item.primary_nic.recovery_network,
                    "vmNics": [{
                        "nicId": nic.nic_id, "selectionType": "SelectedByUser",
                        "recoveryVMNetworkId": nic.recovery_network, "tfoVMNetworkId": nic.test_network,
                        "ipConfigs": [{
                            "name": nic.ip_config, "isPrimary": True, "staticIPAddress": nic.source_ip,
                            "ipAddressType": "Static", "recoverySubnetName": nic.recovery_subnet,
                            "recoveryStaticIPAddress": nic.recovery_ip, "recoveryIPAddressType": "Static",
                            "tfoSubnetName": nic.test_subnet, "tfoStaticIPAddress": nic.test_ip,
                        }],
                    } for nic in item.nics],
                },
            },
        }

    def _update(self, vault, vm, props) -> None:
        nic = props["vmNics"][0]
        config = nic["ipConfigs"][0]
        test_network = props.get("selectedTfoAzureNetworkId")
        if "selectedTfoAzureNetworkId" in props and test_network is None:
            test_network = ""
        self.fake.replication.update_network_settings(vault, vm, nic["nicId"], NetworkSettings(
            recovery_network=props.get("selectedRecoveryAzureNetworkId"),
            recovery_subnet=config.get("recoverySubnetName"), recovery_ip=config.get("recoveryStaticIPAddress"),
            test_network=test_network, test_subnet=config.get("tfoSubnetName") if test_network else None,
            test_ip=config.get("tfoStaticIPAddress") if test_network else None))

    def _plan(self, vault, plan) -> dict:
        base = self._vault_path(vault)
        item_ids = {}
        for item in self.fake.replication.list_protected_items(vault):
            item_ids[item.vm_name] = item.id.rsplit("/", 1)[0] + "/" + item_name(item.vm_name)
        groups = [{"groupType": "Shutdown", "replicationProtectedItems": []},
                  *({"groupType": "Boot", "replicationProtectedItems": [{"id": item_ids[n]} for n in g]}
                    for g in plan.groups),
                  {"groupType": "Failover", "replicationProtectedItems": []}]
        job = f"{base}/replicationJobs/{plan.current_job_id}" if plan.current_job_id else None
        return {"id": f"{base}/replicationRecoveryPlans/{plan.name}", "name": plan.name,
                "type": f"{ASR_TYPE}/replicationRecoveryPlans",
                "properties": {"friendlyName": plan.name, "allowedOperations": list(plan.allowed_operations),
                               "groups": groups, "currentScenario": {"jobId": job} if job else None}}

    def _job(self, vault, job) -> dict:
        state, errors = self.forced_jobs.get(job.id, (job.state, list(job.errors)))
        description = state if job.id in self.forced_jobs else job.description or state
        return {"id": f"{self._vault_path(vault)}/replicationJobs/{job.id}", "name": job.id,
                "type": f"{ASR_TYPE}/replicationJobs",
                "properties": {"activityId": str(uuid.uuid4()), "scenarioName": job.operation,
                               "friendlyName": job.operation, "state": state, "stateDescription": description,
                               "targetObjectName": job.target, "allowedActions": [],
                               "errors": [{"serviceErrorDetails": {"message": e}} for e in errors]}}

    def _job_accepted(self, vault, job_id):
        base = ARM + self._vault_path(vault)
        return (202, {"Location": f"{base}/replicationJobs/{job_id}/operationresults/{job_id}?api-version=2025-08-01",
                      "Azure-AsyncOperation": f"{base}/replicationOperationStatus/{job_id}?api-version=2025-08-01",
                      "Retry-After": "30"}, "")

    def _accepted_asr(self, vault, path):
        op = uuid.uuid4().hex
        base = ARM + self._vault_path(vault)
        return (202, {"Azure-AsyncOperation": f"{base}/replicationOperationStatus/{op}?api-version=2025-08-01",
                      "Location": f"{base}/replicationJobs/{op}/operationresults/{op}?api-version=2025-08-01",
                      "Retry-After": "10"}, "")

    # --- Network and DNS ----------------------------------------------------------------------------

    def _network(self, method, sub, rg, kind, rest, path, query, body):
        net, store = self.fake.network, self.fake.store
        resource_id = "/".join(path.split("/")[:9]) if len(rest) >= 1 else None
        kind = kind.lower()
        if kind == "virtualnetworks":
            if not rest:
                return self._ok({"value": [self._vnet(v) for v in net.list_virtual_networks(sub, rg)]})
            if len(rest) == 2 and rest[1].lower() == "checkipaddressavailability":
                result = net.check_ip_availability(resource_id, query["ipAddress"][0])
                return self._ok({"available": result.available, "isPlatformReserved": result.platform_reserved,
                                 "availableIPAddresses": list(result.available_alternatives)})
            return self._ok(self._vnet(net.get_virtual_network(resource_id)))
        if kind == "virtualnetworkgateways":
            if not rest:
                return self._ok({"value": [self._gateway(net.get_gateway(self._id(sub, rg, "virtualNetworkGateways",
                                                                                   g["name"])))
                                           for g in store.all("gateway")]})
            return self._ok(self._gateway(net.get_gateway(resource_id)))
        if kind == "localnetworkgateways":
            if not rest:
                return self._ok({"value": [self._lng(net.get_local_gateway(self._id(sub, rg, "localNetworkGateways",
                                                                                    g["name"])))
                                           for g in store.all("lng")]})
            if method == "PUT":
                lng = net.set_local_gateway_prefixes(
                    resource_id, body["properties"]["localNetworkAddressSpace"]["addressPrefixes"])
                return self._accepted_put(sub, self._lng(lng))
            return self._ok(self._lng(net.get_local_gateway(resource_id)))
        if kind == "connections":
            if not rest:
                return self._ok({"value": [self._connection(c) for c in net.list_connections(sub, rg)]})
            if len(rest) == 2 and rest[1].lower() == "sharedkey":
                return self._shared_key(resource_id)
            if method == "PUT":
                props = body["properties"]
                peer = (props.get("virtualNetworkGateway2") or props.get("localNetworkGateway2"))["id"]
                spec = ConnectionSpec(location=body["location"], connection_type=props["connectionType"],
                                      gateway1_id=props["virtualNetworkGateway1"]["id"], peer_id=peer,
                                      shared_key=Secret(props["sharedKey"]), tags=body.get("tags") or {})
                self.keys[resource_id.lower()] = props["sharedKey"]
                return self._accepted_put(sub, self._connection(net.put_connection(resource_id, spec)), created=True)
            if method == "DELETE":
                net.delete_connection(resource_id)
                return self._accepted_delete(sub)
            found = net.find_connection(resource_id)
            if found is None:
                return self._error(404, "ResourceNotFound",
                                   f"The Resource 'Microsoft.Network/connections/{rest[0]}' under resource group "
                                   f"'{rg}' was not found.")
            return self._ok(self._connection(found))
        if kind == "routetables":
            if not rest:
                return self._ok({"value": [self._table(t) for t in net.list_route_tables(sub, rg)]})
            table = net.get_route_table(resource_id)
            if len(rest) == 1:
                return self._ok(self._table(table))
            route_name = rest[2]
            if method == "PUT":
                props = body["properties"]
                route = net.put_route(resource_id, Route(route_name, props["addressPrefix"], props["nextHopType"],
                                                         props.get("nextHopIpAddress")))
                return self._accepted_put(sub, self._route_doc(resource_id, route), created=True)
            if method == "DELETE":
                net.delete_route(resource_id, route_name)
                return self._accepted_delete(sub)
            if route_name not in table.routes:
                return self._error(404, "NotFound", f"Route {route_name} not found.")
            return self._ok(self._route_doc(resource_id, table.routes[route_name]))
        if kind == "networkinterfaces":
            return self._ok({"value": [self._nic(sub, rg, vm) for vm in store.all("vm")]})
        if kind == "dnszones":
            return self._dns(method, sub, rg, rest, path, body)
        return self._error(404, "NotFound", f"nothing at {path}")

    def _id(self, sub, rg, kind, name) -> str:
        return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Network/{kind}/{name}"

    def _vnet(self, vnet) -> dict:
        return {"id": vnet.id, "name": vnet.name, "type": "Microsoft.Network/virtualNetworks",
                "location": vnet.location, "tags": vnet.tags,
                "properties": {"provisioningState": "Succeeded",
                               "addressSpace": {"addressPrefixes": list(vnet.address_prefixes)},
                               "subnets": [{"id": ids.subnet_id(vnet.id, name), "name": name,
                                            "properties": {"addressPrefix": prefix, "provisioningState": "Succeeded"}}
                                           for name, prefix in vnet.subnets.items()]}}

    def _gateway(self, gateway) -> dict:
        return {"id": gateway.id, "name": gateway.name, "type": "Microsoft.Network/virtualNetworkGateways",
                "location": gateway.location,
                "properties": {"gatewayType": gateway.gateway_type, "vpnType": "RouteBased", "provisioningState":
                               "Succeeded", "ipConfigurations": [{"name": "default", "properties": {
                                   "subnet": {"id": ids.subnet_id(gateway.vnet_id, "GatewaySubnet")}}}]}}

    def _lng(self, lng) -> dict:
        return {"id": lng.id, "name": lng.name, "type": "Microsoft.Network/localNetworkGateways",
                "location": lng.location,
                "properties": {"gatewayIpAddress": lng.gateway_ip, "provisioningState": "Succeeded",
                               "localNetworkAddressSpace": {"addressPrefixes": list(lng.address_prefixes)}}}

    def _connection(self, conn) -> dict:
        props = {"connectionType": conn.connection_type, "virtualNetworkGateway1": {"id": conn.gateway1_id},
                 "connectionStatus": conn.status, "provisioningState": conn.provisioning_state,
                 "connectionProtocol": "IKEv2", "routingWeight": 0}
        if conn.gateway2_id:
            props["virtualNetworkGateway2"] = {"id": conn.gateway2_id}
        if conn.local_gateway2_id:
            props["localNetworkGateway2"] = {"id": conn.local_gateway2_id}
        return {"id": conn.id, "name": conn.name, "type": "Microsoft.Network/connections", "location": conn.location,
                "tags": conn.tags, "properties": props}

    def _shared_key(self, connection_id):
        doc = self.fake.store.get("connection", ids.name_of(connection_id))
        if doc is None:
            return self._error(404, "ResourceNotFound", f"connection {connection_id} not found")
        # The fake keeps a key's fingerprint only: answer with the key it matches among those seen.
        candidates = [*self.keys.values(), os.environ.get(doc.get("key_env") or "", "")]
        for key in filter(None, candidates):
            if self.fake.network.shared_key_matches(connection_id, Secret(key)):
                return self._ok({"value": key})
        return self._ok({"value": "a-key-set-elsewhere"})

    def _table(self, table) -> dict:
        return {"id": table.id, "name": table.name, "type": "Microsoft.Network/routeTables",
                "location": table.location,
                "properties": {"provisioningState": "Succeeded", "disableBgpRoutePropagation": False,
                               "routes": [self._route_doc(table.id, r) for r in table.routes.values()],
                               "subnets": [{"id": s} for s in table.subnet_ids]}}

    def _route_doc(self, table_id, route) -> dict:
        props = {"addressPrefix": route.address_prefix, "nextHopType": route.next_hop_type,
                 "provisioningState": "Succeeded"}
        if route.next_hop_ip:
            props["nextHopIpAddress"] = route.next_hop_ip
        return {"id": f"{table_id}/routes/{route.name}", "name": route.name,
                "type": "Microsoft.Network/routeTables/routes", "properties": props}

    def _nic(self, sub, rg, vm) -> dict:
        vnet_id = self._id(sub, rg, "virtualNetworks", vm["vnet"])
        return {"id": self._id(sub, rg, "networkInterfaces", vm["name"]), "name": vm["name"],
                "properties": {"ipConfigurations": [{"name": "ipconfig1", "properties": {
                    "primary": True, "privateIPAddress": vm["ip"], "privateIPAllocationMethod": "Static",
                    "subnet": {"id": ids.subnet_id(vnet_id, vm["subnet"])}}}]}}

    def _dns(self, method, sub, rg, rest, path, body):
        dns = self.fake.dns
        if not rest:
            return self._ok({"value": [{"id": self._id(sub, rg, "dnszones", z["name"]), "name": z["name"],
                                        "type": "Microsoft.Network/dnszones", "location": "global",
                                        "properties": {}} for z in self.fake.store.all("zone")]})
        zone_id = self._id(sub, rg, "dnsZones", rest[0])
        if len(rest) == 2:  # list by type
            zone = self.fake.store.get("zone", rest[0]) or {"records": {}}
            return self._ok({"value": [self._record(dns.find_a_record(zone_id, name)) for name in zone["records"]]})
        name = rest[2]
        if method == "PUT":
            props = body["properties"]
            record = dns.put_a_record(zone_id, name, [a["ipv4Address"] for a in props.get("ARecords") or []],
                                      props.get("TTL", 300))
            return self._ok(self._record(record))
        if method == "DELETE":
            dns.delete_a_record(zone_id, name)
            return (200, {}, "")
        record = dns.find_a_record(zone_id, name)
        if record is None:
            return self._error(404, "NotFound", f"The resource record '{name}' does not exist in resource group "
                                                f"'{rg}' of subscription '{sub}'.")
        return self._ok(self._record(record))

    def _record(self, record) -> dict:
        return {"id": f"{record.zone_id}/A/{record.name}", "name": record.name, "type": "Microsoft.Network/dnszones/A",
                "etag": uuid.uuid4().hex,
                "properties": {"TTL": record.ttl, "fqdn": record.fqdn + ".", "provisioningState": "Succeeded",
                               "ARecords": [{"ipv4Address": ip} for ip in record.ips]}}

    # --- long-running operations ---------------------------------------------------------------------

    def _op_urls(self, sub) -> tuple[str, str]:
        op = uuid.uuid4().hex
        self.operations[op] = 1
        base = f"{ARM}/subscriptions/{sub}/providers/Microsoft.Network/locations/westeurope"
        return (f"{base}/operations/{op}?api-version=2026-03-01", f"{base}/operationResults/{op}?api-version=2026-03-01")

    def _accepted_put(self, sub, doc, created: bool = False):
        async_url, _ = self._op_urls(sub)
        doc = json.loads(json.dumps(doc))
        doc["properties"]["provisioningState"] = "Updating"
        return (201 if created else 200, {"Azure-AsyncOperation": async_url, "Content-Type": "application/json"},
                json.dumps(doc))

    def _accepted_delete(self, sub):
        async_url, location = self._op_urls(sub)
        return (202, {"Azure-AsyncOperation": async_url, "Location": location, "Retry-After": "10"}, "")

    def _operation(self, method, lower, segments):
        op = segments[-1]
        left = self.operations.get(op)
        if left is None:
            return self._error(404, "NotFound", f"no operation {op}")
        if "operationresults" in lower:
            return (204, {}, "")
        if left > 0:
            self.operations[op] = left - 1
            return (200, {"Retry-After": "10", "Content-Type": "application/json"},
                    json.dumps({"status": "InProgress"}))
        return self._ok({"status": "Succeeded"})

    # --- Key Vault and sign-in -----------------------------------------------------------------------

    def key_vault(self, request):
        url = urlparse(request.url)
        self.sent.append(Sent("GET", url.netloc + url.path, parse_qs(url.query), ""))
        if "Authorization" not in request.headers:  # Key Vault's challenge: where to get a token
            return (401, {"WWW-Authenticate": 'Bearer authorization="https://login.microsoftonline.com/'
                                              '72f988bf-86f1-41af-91ab-2d7cd011db47", resource="https://vault.azure.net"'},
                    "")
        vault = url.netloc.split(".", 1)[0]
        name = url.path.strip("/").split("/")[1]
        try:
            secret = self.fake.secrets.get_secret(vault, name)
        except AdapterError as exc:
            return self._error(exc.status or 404, "SecretNotFound", exc.message)
        return self._ok({"value": secret.reveal(), "id": f"https://{url.netloc}/secrets/{name}/{uuid.uuid4().hex}",
                         "attributes": {"enabled": True}})

    def token(self, request):
        return self._ok({"token_type": "Bearer", "expires_in": 3600, "access_token": "token"})

    # --- replies -------------------------------------------------------------------------------------

    @staticmethod
    def _ok(doc) -> tuple:
        return (200, {"Content-Type": "application/json"}, json.dumps(doc))

    @staticmethod
    def _error(status, code, message, headers=None) -> tuple:
        return (status, {"Content-Type": "application/json", **(headers or {})},
                json.dumps({"error": {"code": code, "message": message}}))
