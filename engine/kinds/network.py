"""Network step kinds: gateway connections, routes, local network gateway prefixes."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, WithJsonSchema, field_validator, model_validator

from adapters.ports import NEXT_HOP_TYPES, ConnectionSpec, Route
from adapters.shared import ids
from adapters.shared.addressing import network_text, parsed_network, prefixes_after
from adapters.shared.secret import Secret
from engine.kinds.base import Args, Change, Decision, NotUndoable, StepKind, VerificationFailed
from engine.kinds.footprint import CONNECT, READ, WRITE, Scope, Touch, gateway_reach, named_resource
from engine.kinds.registry import register
from engine.plan.rules.gateways import check_connection, check_local_gateway_prefixes
from engine.plan.rules.withdrawals import check_routes
from engine.run.context import StepContext


def _cidr(value: str) -> str:
    try:
        return network_text(value)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a network prefix: {exc}") from None


# --------------------------------------------------------------------------------------------------
# network.connection

SECRET_REFERENCE = r"^\$\{\{\s*params\.\w+\s*\}\}$"
CONNECTION_TYPE = {"vnet2vnet": "Vnet2Vnet", "ipsec": "IPsec"}


class ConnectionArgs(Args):
    name: str = Field(description="the connection (name or resource ID)")
    type: Literal["vnet2vnet", "ipsec"] = Field("vnet2vnet", description="vnet2vnet or ipsec (site-to-site)")
    gateway: str = Field(description="this side's virtual network gateway")
    peer: str = Field(description="vnet2vnet: the other virtual network gateway; ipsec: a local network gateway")
    shared_key: Annotated[Secret | None, WithJsonSchema({"type": "string", "pattern": SECRET_REFERENCE})] = Field(
        None, description="the IPsec pre-shared key: ${{ params.NAME }} of a secret parameter")
    state: Literal["present", "absent"] = "present"
    location: str | None = Field(None, description="default: the gateway's region")
    tags: dict[str, str] = Field(default_factory=dict)

    @field_validator("shared_key", mode="before")
    @classmethod
    def _secret_only(cls, value):
        if value is not None and not isinstance(value, Secret):
            raise ValueError("shared_key must come from a secret parameter: "
                             "shared_key: \"${{ params.vpn_shared_key }}\"")
        return value

    @model_validator(mode="after")
    def _key_when_present(self):
        if self.state == "present" and self.shared_key is None:
            raise ValueError("a connection needs `shared_key` (from a secret parameter)")
        return self


@register
class NetworkConnection(StepKind):
    name = "network.connection"
    summary = "A VNet-to-VNet or site-to-site (IPsec) gateway connection, present or absent."
    Args = ConnectionArgs
    rules = staticmethod(check_connection)
    outputs = {"id": "the connection's resource ID", "status": "its connection status"}
    secret_fields = frozenset({"shared_key"})

    def footprint(self, args: ConnectionArgs, scope: Scope) -> list[Touch]:
        """The connection itself; and what its gateways reach, which another connection to them changes in a
        way that commutes with this one (the same networks in either order), but a prefix change of a
        local network gateway connected to them does not. Site-to-site: the local network gateway, read."""
        touches = [named_resource(scope, args.name, ids.CONNECTION, "connection")]
        if args.state == "absent":
            return touches  # a removal only shrinks what its gateways reach: no overlap can follow from it
        touches.append(gateway_reach(scope.resource_id(args.gateway, ids.GATEWAY), CONNECT))
        if args.type == "vnet2vnet":
            touches.append(gateway_reach(scope.resource_id(args.peer, ids.GATEWAY), CONNECT))
        else:
            touches.append(named_resource(scope, args.peer, ids.LOCAL_GATEWAY, "local network gateway", READ))
        return touches

    def plan(self, ctx: StepContext, args: ConnectionArgs) -> Decision:
        net = ctx.adapter.network
        conn_id = ctx.resource_id(args.name, ids.CONNECTION)
        current = net.find_connection(conn_id)
        label = f"connection {ids.name_of(conn_id)}"
        if args.state == "absent":
            if current is None:
                return Decision("none", outputs={"id": conn_id, "status": "absent"})
            return Decision("delete", [Change(label, "exists", True, False)], state=conn_id,
                            outputs={"id": conn_id, "status": "absent"},
                            undo={"deleted": conn_id, "why": "its shared key is not known to the runbook"})

        gateway_id = ctx.resource_id(args.gateway, ids.GATEWAY)
        peer_kind = ids.GATEWAY if args.type == "vnet2vnet" else ids.LOCAL_GATEWAY
        peer_id = ctx.resource_id(args.peer, peer_kind)
        kind = CONNECTION_TYPE[args.type]
        if current is None:
            gateway = net.get_gateway(gateway_id)
            spec = ConnectionSpec(args.location or gateway.location, kind, gateway_id, peer_id,
                                  args.shared_key, dict(args.tags))
            changes = [Change(label, "exists", False, True), Change(label, "type", None, kind),
                       Change(label, "gateway", None, ids.name_of(gateway_id)),
                       Change(label, "peer", None, ids.name_of(peer_id)),
                       Change(label, "shared_key", None, "(set)")]
            return Decision("create", changes, state=(conn_id, spec), outputs={"id": conn_id, "status": "new"},
                            undo={"delete": conn_id})

        if current.connection_type != kind or not ids.same(current.gateway1_id, gateway_id) \
                or not ids.same(current.peer_id, peer_id):
            raise VerificationFailed(
                f"{label} exists as {current.connection_type} {ids.name_of(current.gateway1_id)} -> "
                f"{ids.name_of(current.peer_id or '')}, not {kind} {ids.name_of(gateway_id)} -> "
                f"{ids.name_of(peer_id)}; Azure cannot change a connection's ends: use another name, or "
                "remove it first with state: absent"
            )
        changes = []
        if not net.shared_key_matches(conn_id, args.shared_key):
            changes.append(Change(label, "shared_key", "(set)", "(changed)"))
        tags = {**current.tags, **args.tags}
        if tags != current.tags:
            changes.append(Change(label, "tags", current.tags, tags))
        outputs = {"id": conn_id, "status": current.status}
        if not changes:
            return Decision("none", outputs=outputs)
        spec = ConnectionSpec(current.location, kind, gateway_id, peer_id, args.shared_key, tags)
        return Decision("update", changes, state=(conn_id, spec), outputs=outputs)

    def compensate(self, ctx: StepContext, undo: dict) -> str:
        if "delete" not in undo:
            raise NotUndoable(f"connection {ids.name_of(undo.get('deleted', '?'))} was changed or deleted; it is not "
                              "recreated automatically because the previous shared key is not known")
        if ctx.adapter.network.find_connection(undo["delete"]) is not None:
            ctx.adapter.network.delete_connection(undo["delete"])
        return f"connection {ids.name_of(undo['delete'])} deleted"

    def apply(self, ctx: StepContext, args: ConnectionArgs, decision: Decision) -> dict:
        net = ctx.adapter.network
        if decision.action == "delete":
            net.delete_connection(decision.state)
            if net.find_connection(decision.state) is not None:
                raise VerificationFailed(f"connection {ids.name_of(decision.state)} still exists after delete")
            return decision.outputs
        conn_id, spec = decision.state
        net.put_connection(conn_id, spec)
        after = net.find_connection(conn_id)
        if after is None or not net.shared_key_matches(conn_id, spec.shared_key):
            raise VerificationFailed(f"connection {ids.name_of(conn_id)} is not as requested after the update")
        return {"id": conn_id, "status": after.status}


# --------------------------------------------------------------------------------------------------
# network.routes


class RouteArgs(Args):
    name: str
    prefix: str | None = Field(None, description="address prefix (CIDR); needed when present")
    next_hop: Literal[*NEXT_HOP_TYPES] | None = None
    next_hop_ip: str | None = Field(None, description="VirtualAppliance only")
    state: Literal["present", "absent"] = "present"

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value):
        return None if value is None else _cidr(value)

    @model_validator(mode="after")
    def _complete(self):
        if self.state == "present":
            if not self.prefix or not self.next_hop:
                raise ValueError(f"route {self.name}: a present route needs `prefix` and `next_hop`")
            if (self.next_hop == "VirtualAppliance") != bool(self.next_hop_ip):
                raise ValueError(f"route {self.name}: `next_hop_ip` goes with next_hop VirtualAppliance, and only with it")
            if self.next_hop_ip:
                ipaddress.ip_address(self.next_hop_ip)
        return self


class RoutesArgs(Args):
    table: str = Field(description="the route table (name or resource ID)")
    routes: list[RouteArgs] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self):
        names = [r.name for r in self.routes]
        if len(set(names)) != len(names):
            raise ValueError("a route name appears twice")
        return self


@register
class NetworkRoutes(StepKind):
    name = "network.routes"
    summary = "Routes in a route table, present (created or updated) or absent."
    Args = RoutesArgs
    rules = staticmethod(check_routes)
    outputs = {"table": "the route table's resource ID", "routes": "names of the routes now present"}

    def footprint(self, args: RoutesArgs, scope: Scope) -> list[Touch]:
        """The table: Azure changes a route table one operation at a time, and which route wins for a
        prefix depends on every route in it."""
        return [named_resource(scope, args.table, ids.ROUTE_TABLE, "route table")]

    def plan(self, ctx: StepContext, args: RoutesArgs) -> Decision:
        table_id = ctx.resource_id(args.table, ids.ROUTE_TABLE)
        table = ctx.adapter.network.get_route_table(table_id)
        label = f"route table {table.name}"
        puts, deletes, changes = [], [], []
        for spec in args.routes:
            current = table.routes.get(spec.name)
            if spec.state == "absent":
                if current is not None:
                    deletes.append(spec.name)
                    changes.append(Change(label, f"routes.{spec.name}", _show(current), None))
                continue
            wanted = Route(spec.name, spec.prefix, spec.next_hop, spec.next_hop_ip)
            if current != wanted:
                puts.append(wanted)
                changes.append(Change(label, f"routes.{spec.name}", _show(current), _show(wanted)))
        present = sorted(set(table.routes) - set(deletes) | {r.name for r in puts})
        outputs = {"table": table_id, "routes": present}
        if not changes:
            return Decision("none", outputs=outputs)
        if not puts:
            action = "delete"
        elif not deletes and all(r.name not in table.routes for r in puts):
            action = "create"
        else:
            action = "update"
        previous = {name: (None if table.routes.get(name) is None else table.routes[name].__dict__)
                    for name in [r.name for r in puts] + deletes}
        return Decision(action, changes, outputs=outputs, state=(table_id, puts, deletes),
                        undo={"table": table_id, "previous": previous})

    def compensate(self, ctx: StepContext, undo: dict) -> str:
        table_id, net = undo["table"], ctx.adapter.network
        current = net.get_route_table(table_id).routes
        for name, route in undo["previous"].items():
            if route is None and name in current:
                net.delete_route(table_id, name)
            elif route is not None and current.get(name) != Route(**route):
                net.put_route(table_id, Route(**route))
        return f"route table {ids.name_of(table_id)}: routes {', '.join(sorted(undo['previous']))} restored"

    def apply(self, ctx: StepContext, args: RoutesArgs, decision: Decision) -> dict:
        table_id, puts, deletes = decision.state
        for name in deletes:
            ctx.adapter.network.delete_route(table_id, name)
        for route in puts:
            ctx.adapter.network.put_route(table_id, route)
        after = ctx.adapter.network.get_route_table(table_id)
        wrong = [r.name for r in puts if after.routes.get(r.name) != r] + [n for n in deletes if n in after.routes]
        if wrong:
            raise VerificationFailed(f"route table {after.name}: routes {wrong} are not as requested after the update")
        return {"table": table_id, "routes": sorted(after.routes)}


def _show(route: Route | None) -> str | None:
    if route is None:
        return None
    hop = route.next_hop_type + (f" {route.next_hop_ip}" if route.next_hop_ip else "")
    return f"{route.address_prefix} -> {hop}"


# --------------------------------------------------------------------------------------------------
# network.local_gateway_prefixes


class LocalGatewayPrefixesArgs(Args):
    gateway: str = Field(description="the local network gateway (name or resource ID)")
    add: list[str] = Field(default_factory=list, description="prefixes the on-premises site now holds")
    remove: list[str] = Field(default_factory=list, description="prefixes that left the site (e.g. a moved subnet)")

    _cidrs = field_validator("add", "remove")(classmethod(lambda cls, v: [_cidr(p) for p in v]))

    @model_validator(mode="after")
    def _something(self):
        if not self.add and not self.remove:
            raise ValueError("give `add`, `remove` or both")
        for added in self.add:
            for removed in self.remove:
                if parsed_network(added).overlaps(parsed_network(removed)):
                    raise ValueError(f"{added} is added and {removed} removed: they overlap")
        return self


@register
class LocalGatewayPrefixes(StepKind):
    name = "network.local_gateway_prefixes"
    summary = "Add or remove address prefixes of a local network gateway (the on-premises site)."
    Args = LocalGatewayPrefixesArgs
    rules = staticmethod(check_local_gateway_prefixes)
    outputs = {"prefixes": "the gateway's prefixes afterwards"}

    def footprint(self, args: LocalGatewayPrefixesArgs, scope: Scope) -> list[Touch]:
        """The local network gateway, and what every virtual network gateway connected to it reaches."""
        lng_id = scope.resource_id(args.gateway, ids.LOCAL_GATEWAY)
        return [named_resource(scope, lng_id, ids.LOCAL_GATEWAY, "local network gateway"),
                *(gateway_reach(gateway, WRITE) for gateway in scope.gateways_connected_to(lng_id))]

    def plan(self, ctx: StepContext, args: LocalGatewayPrefixesArgs) -> Decision:
        lng_id = ctx.resource_id(args.gateway, ids.LOCAL_GATEWAY)
        lng = ctx.adapter.network.get_local_gateway(lng_id)
        current = list(lng.address_prefixes)
        wanted = prefixes_after(current, args.add, args.remove)
        if wanted == current:
            return Decision("none", outputs={"prefixes": current})
        change = Change(f"local network gateway {lng.name}", "address_prefixes", current, wanted)
        return Decision("update", [change], outputs={"prefixes": wanted}, state=(lng_id, wanted),
                        undo={"gateway": lng_id, "prefixes": current})

    def compensate(self, ctx: StepContext, undo: dict) -> str:
        if sorted(ctx.adapter.network.get_local_gateway(undo["gateway"]).address_prefixes) != sorted(undo["prefixes"]):
            ctx.adapter.network.set_local_gateway_prefixes(undo["gateway"], undo["prefixes"])
        return f"local network gateway {ids.name_of(undo['gateway'])}: prefixes {', '.join(undo['prefixes'])} restored"

    def apply(self, ctx: StepContext, args: LocalGatewayPrefixesArgs, decision: Decision) -> dict:
        lng_id, wanted = decision.state
        ctx.adapter.network.set_local_gateway_prefixes(lng_id, wanted)
        after = list(ctx.adapter.network.get_local_gateway(lng_id).address_prefixes)
        if sorted(after) != sorted(wanted):
            raise VerificationFailed(f"local network gateway {ids.name_of(lng_id)} has {after}, not {wanted}")
        return {"prefixes": after}
