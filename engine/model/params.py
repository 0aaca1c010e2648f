"""Parameter values: ``--param K=V`` over defaults, typed and checked; secrets from env or Key Vault."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from typing import Any

from adapters.shared.secret import MIN_LENGTH, Secret
from adapters.shared.yamlsource import SourceError, parse
from engine.model.problems import Problem
from engine.model.runbook import Parameter, Runbook

SecretFetcher = Callable[[str, str], Secret]  # (key vault, secret name) -> Secret


def parse_assignments(pairs: list[str]) -> tuple[dict[str, str], list[Problem]]:
    """``["K=V", ...]`` from the command line."""
    values: dict[str, str] = {}
    problems = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            problems.append(Problem("PA007", f"--param {pair!r} is not KEY=VALUE", fix="write --param name=value"))
            continue
        values[key.strip()] = value
    return values, problems


def environment_with(stand_ins: Mapping[str, str]) -> dict[str, str]:
    """The environment secrets are read from: the process's, over a fake estate's stand-ins (a rehearsal
    needs no real key; a real adapter has none, so real Azure always takes its secrets from their source)."""
    return {**stand_ins, **{k: v for k, v in os.environ.items() if v}}


def resolve_parameters(
    runbook: Runbook,
    given: Mapping[str, Any],
    *,
    file: str | None = None,
    lines: Callable[[tuple], int | None] = lambda path: None,
    environ: Mapping[str, str] | None = None,
    fetch_secret: SecretFetcher | None = None,
) -> tuple[dict[str, Any], list[Problem]]:
    """The value of every parameter, and a problem for each one that cannot be had."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    problems: list[Problem] = []

    def problem(code: str, name: str, message: str, fix: str) -> None:
        problems.append(Problem(code, message, file=file, line=lines(("parameters", name)), fix=fix))

    for name in given:
        if name not in runbook.parameters:
            known = ", ".join(sorted(runbook.parameters)) or "none"
            problem("PA004", name, f"--param {name}: the runbook declares no parameter {name!r}",
                    f"use one of: {known}")

    for name, spec in runbook.parameters.items():
        if spec.type == "secret":
            if name in given:
                problem("PA006", name, f"secret parameter {name} was given on the command line, where shells "
                        "and process lists keep it", f"remove --param {name}; it comes from `{spec.from_}`")
                continue
            secret = _secret(name, spec, environ, fetch_secret)
            if isinstance(secret, str):
                problem("PA005", name, secret, _secret_fix(spec))
            elif secret.too_short:
                problem("PA008", name, f"secret parameter {name} (from {spec.from_}) is shorter than {MIN_LENGTH} "
                        "characters: so short a value could stand for an ordinary word in output, and could not "
                        "be kept out of logs and reports", f"use a secret of at least {MIN_LENGTH} characters "
                        "(a VPN shared key should be long and random)")
            else:
                values[name] = secret
            continue
        if name in given:
            raw, origin = given[name], "--param"
        elif spec.from_ and spec.from_.startswith("env:") and spec.from_[4:] in environ:
            raw, origin = environ[spec.from_[4:]], spec.from_
        elif spec.default is not None:
            raw, origin = spec.default, "default"
        else:
            problem("PA001", name, f"parameter {name} has no value and no default",
                    f"pass --param {name}=VALUE" + (f" (one of {spec.enum})" if spec.enum else ""))
            continue
        try:
            value = convert(raw, spec)
        except ValueError as exc:
            problem("PA002", name, f"parameter {name} ({origin}): {exc}", f"give {name} a {spec.type} value")
            continue
        if spec.enum is not None and value not in spec.enum:
            problem("PA003", name, f"parameter {name} is {value!r}, not one of {spec.enum}",
                    f"choose one of {spec.enum}")
            continue
        values[name] = value
    return values, problems


def convert(raw: Any, spec: Parameter) -> Any:
    kind = spec.type
    if kind == "string":
        if isinstance(raw, list | dict):
            raise ValueError("expected text")
        return str(raw)
    if kind == "boolean":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("true", "yes", "on", "1"):
            return True
        if text in ("false", "no", "off", "0"):
            return False
        raise ValueError(f"{raw!r} is not true or false")
    if kind == "integer":
        if isinstance(raw, bool):
            raise ValueError("expected a whole number")
        try:
            return int(str(raw).strip())
        except ValueError:
            raise ValueError(f"{raw!r} is not a whole number") from None
    if kind == "number":
        try:
            return float(str(raw).strip())
        except ValueError:
            raise ValueError(f"{raw!r} is not a number") from None
    if kind == "ip_address":
        return str(ipaddress.ip_address(str(raw).strip()))
    if kind == "ip_network":
        try:
            return str(ipaddress.ip_network(str(raw).strip()))
        except ValueError as exc:
            raise ValueError(f"{raw!r} is not a network prefix ({exc})") from None
    if kind == "list":
        if isinstance(raw, list):
            return raw
        text = str(raw).strip()
        if text.startswith("["):
            try:
                parsed = parse(text, "--param").data
            except SourceError as exc:
                raise ValueError(f"{raw!r} is not a list: {exc.message}") from None
        else:
            parsed = [p.strip() for p in text.split(",") if p.strip()]
        if not isinstance(parsed, list):
            raise ValueError(f"{raw!r} is not a list")
        return parsed
    raise ValueError(f"unknown parameter type {kind}")


def _secret(name: str, spec: Parameter, environ: Mapping[str, str], fetch: SecretFetcher | None) -> Secret | str:
    source = spec.from_ or ""
    if source.startswith("env:"):
        var = source[4:]
        if not environ.get(var):
            return f"secret parameter {name}: environment variable {var} is not set"
        return Secret(environ[var], source)
    vault, _, secret_name = source[len("keyvault:"):].partition("/")
    if fetch is None:
        return f"secret parameter {name}: Key Vault {vault} cannot be read here"
    try:
        return fetch(vault, secret_name)
    except Exception as exc:  # the adapter's error, already free of the secret
        return f"secret parameter {name}: cannot read secret {secret_name} from Key Vault {vault}: {exc}"


def _secret_fix(spec: Parameter) -> str:
    source = spec.from_ or ""
    if source.startswith("env:"):
        return f"export {source[4:]} in the environment that runs failover"
    return "check the Key Vault name, the secret name and that the identity may read it (Key Vault Secrets User)"


def public_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Parameter values fit for logs, journal and reports: secrets shown as ***."""
    return {name: (str(value) if isinstance(value, Secret) else value) for name, value in values.items()}
