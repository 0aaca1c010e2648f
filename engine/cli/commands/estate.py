"""Commands on an estate: read the real one into a file (snapshot); start over, show, or list the
mutating calls of the fake one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.cli.app import app, fake_app
from engine.cli.options import AzureOpt, ConfigOpt, EstateOpt, OutputOpt, StateOpt
from engine.cli.session import Session
from engine.model.loader import load_runbook
from engine.model.problems import InvalidInput, Problem


@app.command()
def snapshot(runbook: Annotated[Path | None, typer.Argument(
                 help="take the subscription, resource group and vault from this runbook's target")] = None,
             azure: AzureOpt = False,
             out: Annotated[Path, typer.Option("--out", "--output-file", help="the estate file to write")] = Path(
                 "config/estates/snapshot.yaml"),
             subscription: Annotated[str | None, typer.Option("--subscription")] = None,
             resource_group: Annotated[str | None, typer.Option("--resource-group")] = None,
             vault: Annotated[str | None, typer.Option("--vault")] = None,
             output_format: OutputOpt = "text", config: ConfigOpt = None) -> None:
    """Read the real estate (GETs only) into the fake's estate format, secrets left out, to rehearse offline."""
    from adapters.ports import VaultRef

    with Session(config, output_format=output_format, file_option="--out") as session:
        if not azure:
            raise InvalidInput([Problem("CLI003", "snapshot reads real Azure and needs --azure",
                                        fix="failover snapshot RUNBOOK --azure --out config/estates/copy.yaml")])
        target = load_runbook(runbook).runbook.target if runbook is not None else None
        settings = session.settings.azure
        scope = {"subscription": subscription or (target and target.subscription) or settings.get("subscription"),
                 "resource_group": resource_group or (target and target.resource_group)
                 or settings.get("resource_group"),
                 "vault": vault or (target and target.vault) or settings.get("vault")}
        missing = [name for name, value in scope.items() if not value]
        if missing:
            raise InvalidInput([Problem("CLI004", f"no {', '.join(missing)} to read",
                                        fix="give a runbook, the --subscription/--resource-group/--vault options, "
                                            "or set them under azure: in config/failover.yaml")])
        adapter = session.adapter(None, True, None, read_only=True)
        estate = adapter.snapshot(VaultRef(**scope), out)
        items = len(next(iter(estate["vaults"].values()))["protected_items"])
        session.emit({"file": str(out), "protected_items": items, "virtual_networks": len(estate["virtual_networks"]),
                      "connections": len(estate["connections"])},
                     f"wrote {out}: {items} protected items, {len(estate['virtual_networks'])} virtual networks, "
                     f"{len(estate['connections'])} connections (shared keys left out)")


def _fake(session: Session, estate: Path | None, state: Path | None, *, fresh: bool = False):
    return session.adapter(estate or session.settings.estate, False, state, read_only=False, fresh=fresh)


@fake_app.command("reset")
def fake_reset(estate: EstateOpt = None, state: StateOpt = None, output_format: OutputOpt = "text",
               config: ConfigOpt = None) -> None:
    """Start the fake estate over from its estate file."""
    with Session(config, output_format=output_format) as session:
        adapter = _fake(session, estate, state, fresh=True)
        session.emit({"estate": adapter.estate_name, "estate_file": session.adapter_options["estate"],
                      "state": session.adapter_options["state"], "reset": True},
                     f"fake estate {adapter.estate_name} reset from its estate file")


@fake_app.command("show")
def fake_show(estate: EstateOpt = None, state: StateOpt = None, output_format: OutputOpt = "json",
              config: ConfigOpt = None) -> None:
    """Print the fake estate's live state (JSON whatever --output says: it is a document)."""
    with Session(config, output_format=output_format) as session:
        session.emit_json(_fake(session, estate, state).show())


@fake_app.command("ledger")
def fake_ledger(estate: EstateOpt = None, state: StateOpt = None, output_format: OutputOpt = "json",
                config: ConfigOpt = None) -> None:
    """Print every mutating call made on the fake estate (JSON whatever --output says: it is a list of records)."""
    with Session(config, output_format=output_format) as session:
        session.emit_json(_fake(session, estate, state).ledger())
