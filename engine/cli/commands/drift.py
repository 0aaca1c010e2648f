"""`failover fake drift ...`: change the fake estate as someone might between two drills, outside any
runbook, so that `failover check` can be rehearsed (and tested) one drift at a time."""

from __future__ import annotations

from typing import Annotated

import typer

from engine.cli.app import fake_app
from engine.cli.options import ConfigOpt, EstateOpt, StateOpt
from engine.cli.session import Session, stdout
from engine.model.durations import parse_duration

drift_app = typer.Typer(help="Change the fake estate outside any runbook (what `failover check` should notice).",
                        no_args_is_help=True)
fake_app.add_typer(drift_app, name="drift")


def _drift(config, estate, state, change) -> None:
    with Session(config) as session:
        adapter = session.adapter(estate or session.settings.estate, False, state, read_only=False)
        try:
            stdout.print(change(adapter.drift))
        except ValueError as exc:  # a value the estate format refuses (pydantic's errors are ValueErrors)
            errors = exc.errors() if hasattr(exc, "errors") else None
            message = "; ".join(e["msg"].removeprefix("Value error, ") for e in errors) if errors else str(exc)
            raise typer.BadParameter(message) from None


@drift_app.command("protect")
def protect(name: Annotated[str, typer.Argument(help="the VM")], source_ip: Annotated[str, typer.Argument()],
            vault: Annotated[str | None, typer.Option("--vault")] = None,
            estate: EstateOpt = None, state: StateOpt = None, config: ConfigOpt = None) -> None:
    """A VM newly protected in the vault, with its on-premises IP."""
    _drift(config, estate, state, lambda d: d.protect(name, source_ip, vault))


@drift_app.command("take-ip")
def take_ip(vnet: str, subnet: str, ip: str, name: Annotated[str, typer.Option("--name")] = "someone-elses-vm",
            estate: EstateOpt = None, state: StateOpt = None, config: ConfigOpt = None) -> None:
    """An Azure NIC now holds IP in VNET/SUBNET."""
    _drift(config, estate, state, lambda d: d.take_ip(vnet, subnet, ip, name))


@drift_app.command("prefixes")
def prefixes(gateway: str, prefix: Annotated[list[str], typer.Argument(help="the prefixes it now has")],
             estate: EstateOpt = None, state: StateOpt = None, config: ConfigOpt = None) -> None:
    """A local network gateway's address prefixes edited."""
    _drift(config, estate, state, lambda d: d.local_gateway_prefixes(gateway, prefix))


@drift_app.command("route")
def route(table: str, name: str, prefix: str, next_hop: str,
          next_hop_ip: Annotated[str | None, typer.Argument()] = None,
          estate: EstateOpt = None, state: StateOpt = None, config: ConfigOpt = None) -> None:
    """A route added to (or changed in) a route table."""
    _drift(config, estate, state, lambda d: d.route(table, name, prefix, next_hop, next_hop_ip))


@drift_app.command("delete")
def delete(kind: Annotated[str, typer.Argument(help="gateway, local-gateway, connection or route-table")],
           name: str, estate: EstateOpt = None, state: StateOpt = None, config: ConfigOpt = None) -> None:
    """A network resource deleted."""
    _drift(config, estate, state, lambda d: d.delete(kind, name))


@drift_app.command("health")
def health(item: str, value: Annotated[str, typer.Argument(help="None, Normal, Warning or Critical")],
           error: Annotated[list[str] | None, typer.Option("--error", help="a health error's message")] = None,
           estate: EstateOpt = None, state: StateOpt = None, config: ConfigOpt = None) -> None:
    """A protected item's replication health (and its health errors)."""
    _drift(config, estate, state, lambda d: d.health(item, value, error or []))


@drift_app.command("recovery-point")
def recovery_point(item: str, age: Annotated[str, typer.Argument(help="how old its latest recovery point is: 3h")],
                   estate: EstateOpt = None, state: StateOpt = None, config: ConfigOpt = None) -> None:
    """A protected item's replication falls behind: its latest recovery point is AGE old."""
    _drift(config, estate, state, lambda d: d.recovery_point_age(item, parse_duration(age)))


@drift_app.command("vm-size")
def vm_size(item: str, size: str, estate: EstateOpt = None, state: StateOpt = None, config: ConfigOpt = None) -> None:
    """The size of the VM a protected item fails over as."""
    _drift(config, estate, state, lambda d: d.vm_size(item, size))


@drift_app.command("quota")
def quota(name: Annotated[str, typer.Argument(help="cores, or a family such as standardDSv3Family")],
          current: int, limit: Annotated[int | None, typer.Option("--limit")] = None,
          estate: EstateOpt = None, state: StateOpt = None, config: ConfigOpt = None) -> None:
    """The recovery region's vCPU use (and limit) of a quota."""
    _drift(config, estate, state, lambda d: d.quota(name, current, limit))


@drift_app.command("remove-secret")
def remove_secret(key_vault: str, name: str, estate: EstateOpt = None, state: StateOpt = None,
                  config: ConfigOpt = None) -> None:
    """A Key Vault secret deleted."""
    _drift(config, estate, state, lambda d: d.remove_secret(key_vault, name))
