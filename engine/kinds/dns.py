"""DNS step kind: an A record points at the failed-over IP (the change-IP path)."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator, model_validator

from adapters.shared import ids
from engine.kinds.base import Args, Change, Decision, StepKind, VerificationFailed
from engine.kinds.footprint import Scope, Touch, dns_record
from engine.kinds.registry import register
from engine.run.context import StepContext


class DnsRecordArgs(Args):
    zone: str = Field(description="the DNS zone (name, e.g. woodgrove.example, or resource ID)")
    name: str = Field(description="the record's name in the zone; @ for the apex")
    ip: str | None = Field(None, description="the address (or use `ips`)")
    ips: list[str] | None = None
    ttl: int = Field(300, ge=1, le=2147483647)
    state: Literal["present", "absent"] = "present"

    @field_validator("ip")
    @classmethod
    def _ip(cls, value):
        return None if value is None else str(ipaddress.IPv4Address(value))

    @field_validator("ips")
    @classmethod
    def _ips(cls, value):
        return None if value is None else [str(ipaddress.IPv4Address(v)) for v in value]

    @model_validator(mode="after")
    def _addresses(self):
        if self.state == "present" and bool(self.ip) == bool(self.ips):
            raise ValueError("give the record's address as `ip` or `ips` (one of them)")
        return self

    @property
    def addresses(self) -> tuple[str, ...]:
        return tuple(sorted(self.ips or ([self.ip] if self.ip else [])))


@register
class DnsRecord(StepKind):
    name = "dns.record"
    summary = "An A record set in a DNS zone, pointing at the given IPs (or absent)."
    Args = DnsRecordArgs
    outputs = {"fqdn": "the record's full name", "ips": "its addresses afterwards"}

    def footprint(self, args: DnsRecordArgs, scope: Scope) -> list[Touch]:
        return [dns_record(scope, args.zone, args.name)]

    def plan(self, ctx: StepContext, args: DnsRecordArgs) -> Decision:
        zone_id = ctx.resource_id(args.zone, ids.DNS_ZONE)
        current = ctx.adapter.dns.find_a_record(zone_id, args.name)
        fqdn = args.zone if args.name == "@" else f"{args.name}.{ids.name_of(zone_id)}"
        undo = {"zone": zone_id, "name": args.name,
                "previous": None if current is None else {"ips": list(current.ips), "ttl": current.ttl}}
        label = f"DNS A {fqdn}"
        if args.state == "absent":
            if current is None:
                return Decision("none", outputs={"fqdn": fqdn, "ips": []})
            return Decision("delete", [Change(label, "ips", list(current.ips), None)],
                            outputs={"fqdn": fqdn, "ips": []}, state=zone_id, undo=undo)
        outputs = {"fqdn": fqdn, "ips": list(args.addresses)}
        if current is None:
            return Decision("create", [Change(label, "ips", None, list(args.addresses)),
                                       Change(label, "ttl", None, args.ttl)], outputs=outputs, state=zone_id, undo=undo)
        changes = []
        if tuple(sorted(current.ips)) != args.addresses:
            changes.append(Change(label, "ips", list(current.ips), list(args.addresses)))
        if current.ttl != args.ttl:
            changes.append(Change(label, "ttl", current.ttl, args.ttl))
        if not changes:
            return Decision("none", outputs=outputs)
        return Decision("update", changes, outputs=outputs, state=zone_id, undo=undo)

    def compensate(self, ctx: StepContext, undo: dict) -> str:
        dns, previous = ctx.adapter.dns, undo["previous"]
        if previous is None:
            if dns.find_a_record(undo["zone"], undo["name"]) is not None:
                dns.delete_a_record(undo["zone"], undo["name"])
            return f"A record {undo['name']} removed"
        now = dns.find_a_record(undo["zone"], undo["name"])
        if now is None or sorted(now.ips) != sorted(previous["ips"]) or now.ttl != previous["ttl"]:
            dns.put_a_record(undo["zone"], undo["name"], previous["ips"], previous["ttl"])
        return f"A record {undo['name']} restored to {', '.join(previous['ips'])}"

    def apply(self, ctx: StepContext, args: DnsRecordArgs, decision: Decision) -> dict:
        zone_id = decision.state
        if decision.action == "delete":
            ctx.adapter.dns.delete_a_record(zone_id, args.name)
            if ctx.adapter.dns.find_a_record(zone_id, args.name) is not None:
                raise VerificationFailed(f"{decision.outputs['fqdn']} still exists after delete")
            return decision.outputs
        ctx.adapter.dns.put_a_record(zone_id, args.name, list(args.addresses), args.ttl)
        after = ctx.adapter.dns.find_a_record(zone_id, args.name)
        if after is None or tuple(sorted(after.ips)) != args.addresses:
            raise VerificationFailed(f"{decision.outputs['fqdn']} is not {list(args.addresses)} after the update")
        return decision.outputs
