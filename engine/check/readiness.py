"""`failover check`: the runbook validated and planned against the live estate (read only), then each
readiness check, the findings compared with the previous check. Ready means no finding."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime

from adapters.ports import Adapter
from engine.check.addresses import check_addresses
from engine.check.context import CheckContext
from engine.check.coverage import check_coverage
from engine.check.drift import compare
from engine.check.findings import Finding
from engine.check.network import observe_network
from engine.check.plan import plan_findings
from engine.check.quota import check_quota
from engine.check.replication import check_replication
from engine.check.scope import scope_of
from engine.check.secrets import observe_secrets, resolve_with_secrets
from engine.model.loader import LoadedRunbook
from engine.model.problems import WARNING, InvalidInput
from engine.plan.simulation import simulate

CHECKS = (check_coverage, check_replication, check_addresses, check_quota)


def new_check_id(now: float) -> str:
    return "c" + datetime.fromtimestamp(now, UTC).strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def check(loaded: LoadedRunbook, given: dict, adapter: Adapter, *, previous: dict | None = None,
          now: float | None = None) -> dict:
    """The check's document (what `check -o json` prints and the journal keeps). ``InvalidInput`` when the
    runbook or its parameters are wrong (exit 2): that is not the estate's drift."""
    started = time.monotonic()
    now = time.time() if now is None else now
    values, problems, secret_findings = resolve_with_secrets(loaded, given, adapter)
    problems = loaded.problems + problems
    if any(p.severity != WARNING for p in problems):
        raise InvalidInput(problems)
    simulation = simulate(loaded, values, adapter, rules=True)
    outputs = {record.id: record.outputs or {} for record in simulation.result.steps}
    scope = scope_of(loaded, adapter, outputs)
    ctx = CheckContext(loaded, adapter, scope, now)
    items = {item.vm_name: item for item in adapter.replication.list_protected_items(scope.vault)}
    for run in CHECKS:
        run(ctx, items)
    observe_network(ctx)
    ctx.observed.update(observe_secrets(loaded, secret_findings))
    findings = secret_findings + ctx.findings
    covered = {f.step for f in findings if f.step}  # a readiness finding explains its step's plan problem
    findings += [f for f in plan_findings(loaded, simulation.problems, ctx.observed) if f.step not in covered]
    findings = _unique(findings)
    drift = compare(findings, ctx.observed, previous)
    return {
        "check_id": new_check_id(now), "runbook": loaded.runbook.name, "runbook_path": loaded.file,
        "adapter": adapter.name, "at": now, "at_utc": datetime.fromtimestamp(now, UTC).isoformat(),
        "ready": not findings, "findings": [f.to_json() for f in findings],
        "new": sum(f.status == "new" for f in findings), **drift,
        "observed": ctx.observed, "warnings": [p.to_json() for p in simulation.problems if p.severity == WARNING],
        "duration_s": round(time.monotonic() - started, 3),
    }


def _unique(findings: list[Finding]) -> list[Finding]:
    seen, kept = set(), []
    for finding in findings:
        if (finding.key, finding.message) not in seen:
            seen.add((finding.key, finding.message))
            kept.append(finding)
    return kept
