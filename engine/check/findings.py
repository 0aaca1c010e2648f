"""A readiness finding: a code (docs/operations.md lists them), the resource, what is wrong, the fix."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

# code -> what it means (the table in docs/operations.md says the same)
CODES = {
    "RDY001": "a protected VM of a subnet the runbook moves is not in the runbook",
    "RDY002": "a VM's replication is not healthy",
    "RDY003": "a VM's latest recovery point is older than the runbook's readiness rpo",
    "RDY004": "a recovery IP the runbook gives a VM is taken in its recovery network",
    "RDY005": "the recovery region lacks vCPU quota (or the VM size) for the VMs the failover creates",
    "RDY006": "a secret the runbook needs cannot be read",
}


@dataclass
class Finding:
    code: str
    resource: str  # what it is about, as an operator names it: "protected item web01"
    message: str
    fix: str
    step: str | None = None  # the runbook step it concerns, if one
    status: str = "new"  # new | ongoing, compared with the previous check
    since: str | None = None  # the check that first found it (ongoing)
    changed: list[dict] = field(default_factory=list)  # what changed on the resource since the previous check

    @property
    def key(self) -> str:
        return f"{self.code} {self.resource}"

    def to_json(self) -> dict:
        return {**asdict(self), "key": self.key}
