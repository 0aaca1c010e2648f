"""NET010: on the change-IP path, each VM's DNS record follows it to its new address."""

from __future__ import annotations


def dns_follows_changed_ips(inspector, result) -> None:
    """NET010: on the change-IP path, each VM's DNS record follows it to its new address."""
    for record in result.steps:
        if record.uses == "dns.record":
            inspector.dns_ips |= set(record.outputs.get("ips", []))
    for vm, ip in sorted(inspector.changed_ip_items.items()):
        if vm in inspector.failed_over and ip not in inspector.dns_ips:
            inspector.report("NET010", inspector.steps_of.get(("set_target_ip", vm)), f"{vm} fails over to a new IP, {ip}, "
                        "but no dns.record step points a "
                        "name at it: clients would still resolve its old address",
                        f"add a dns.record step for {vm} with ip {ip} (or the set_target_ip step's "
                        "outputs.ip)")
