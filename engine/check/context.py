"""What every readiness check is given: the runbook, the live adapter (opened read only), the scope of
the runbook, the time, and where to put what it found and what it saw."""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.ports import Adapter
from engine.check.findings import Finding
from engine.check.scope import Scope
from engine.model.loader import LoadedRunbook


@dataclass
class CheckContext:
    loaded: LoadedRunbook
    adapter: Adapter
    scope: Scope
    now: float
    findings: list[Finding] = field(default_factory=list)
    observed: dict[str, str] = field(default_factory=dict)  # resource -> what it was seen as (drift)

    def find(self, code: str, resource: str, message: str, fix: str, step: str | None = None) -> None:
        self.findings.append(Finding(code, resource, message, fix, step=step))

    def observe(self, resource: str, value: str) -> None:
        self.observed[resource] = value
