"""RDY006: every secret the runbook needs can be read now, from its environment variable or Key Vault.

Parameters are resolved with a reader that notes each secret it cannot read and hands the rest of the
check a stand-in, so one unreadable secret is a finding, not the end of the check."""

from __future__ import annotations

from adapters.shared.secret import Secret
from engine.check.findings import Finding
from engine.model.params import environment_with, resolve_parameters
from engine.model.problems import Problem

STAND_IN = "unreadable-secret-stand-in"


def resolve_with_secrets(loaded, given: dict, adapter) -> tuple[dict, list[Problem], list[Finding]]:
    """Parameter values (unreadable secrets replaced by a stand-in), the other parameter problems, and a
    finding per secret that cannot be read."""
    values, problems = resolve_parameters(loaded.runbook, given, file=loaded.file, lines=loaded.line,
                                          environ=environment_with(adapter.stand_in_secrets),
                                          fetch_secret=adapter.secrets.get_secret)
    findings, kept = [], []
    for problem in problems:
        name = _secret_parameter(loaded.runbook, problem)
        if problem.code != "PA005" or name is None:
            kept.append(problem)
            continue
        source = loaded.runbook.parameters[name].from_ or ""
        findings.append(Finding("RDY006", f"secret {source}", problem.message, problem.fix or ""))
        values[name] = Secret(STAND_IN, source)
    return values, kept, findings


def _secret_parameter(runbook, problem: Problem) -> str | None:
    for name, spec in runbook.parameters.items():
        if spec.type == "secret" and f"secret parameter {name}:" in problem.message:
            return name
    return None


def observe_secrets(loaded, findings: list[Finding]) -> dict[str, str]:
    unreadable = {f.resource for f in findings if f.code == "RDY006"}
    return {f"secret {spec.from_}": "unreadable" if f"secret {spec.from_}" in unreadable else "readable"
            for spec in loaded.runbook.parameters.values() if spec.type == "secret"}
