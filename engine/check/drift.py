"""Drift: a check compared with the previous check of the same runbook on the same adapter. Each finding
is new, or ongoing since the check that first found it; findings gone are resolved; and every resource
seen differently than last time is a change (before -> after), attached to the findings about it."""

from __future__ import annotations

from engine.check.findings import Finding


def name_in(resource: str) -> str:
    """The name a resource is known by in messages: "IP 192.168.1.10 in recovery-vnet" -> the IP,
    "local network gateway woodgrove-onprem" -> woodgrove-onprem."""
    return resource.split(" in ", 1)[0].rsplit(" ", 1)[-1]


def compare(findings: list[Finding], observed: dict[str, str], previous: dict | None) -> dict:
    """Marks ``findings`` (status, since, changed); returns the resolved findings and the changes."""
    if previous is None:
        return {"previous": None, "resolved": [], "changes": []}
    before = {f["key"]: f for f in previous.get("findings", [])}
    seen = previous.get("observed", {})
    changes = [{"resource": resource, "before": seen.get(resource), "after": value}
               for resource, value in sorted(observed.items()) if seen.get(resource) != value and resource in seen]
    changes += [{"resource": resource, "before": value, "after": None}
                for resource, value in sorted(seen.items()) if resource not in observed]
    by_resource = {c["resource"]: c for c in changes}
    for finding in findings:
        earlier = before.get(finding.key)
        if earlier is not None:
            finding.status, finding.since = "ongoing", earlier.get("since") or previous["check_id"]
        else:
            finding.since = None
        if finding.resource in by_resource:
            finding.changed = [by_resource[finding.resource]]
        else:  # a change to a resource the finding names (the subnet a VM joined, the gateway it overlaps)
            finding.changed = [c for c in changes if name_in(c["resource"]) in finding.message]
    keys = {f.key for f in findings}
    resolved = [{"code": f["code"], "resource": f["resource"], "message": f["message"]}
                for key, f in before.items() if key not in keys]
    return {"previous": previous["check_id"], "resolved": resolved, "changes": changes}
