"""Commands on an estate: read the real one into a file (snapshot); start over, show, or list the
mutating calls of the fake one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.cli.app import app, fake_app
from engine.cli.options import AzureOpt, ConfigOpt, EstateOpt, StateOpt
from engine.cli.session import Session, print_json, stderr, stdout
from engine.model.loader import load_runbook
from engine.model.problems import InvalidInput, Problem


@app.command()
def snapshot(runbook: Annotated[Path | None, typer.Argument(
                 help="take the subscription, resource group and vault from this runbook's target")] = None,
             azure: AzureOpt = False,
             out: Annotated[Path, typer.Option("-o", "--output-file", help="the estate file to write")] = Path(
                 "config/estates/snapshot.yaml"),
             subscription: Annotated[str | None, typer.Option("--subscription")] = None,
             resource_group: Annotated[str | None, typer.Option("--resource-group")] = None,
             vault: Annotated[str | None, typer.Option("--vault")] = None,
             config: ConfigOpt = None) -> None:
    """Read the real estate (GETs only) into the fake's estate format, secrets left out, to rehearse offline."""
    from adapters.ports import VaultRef

    with Session(config) as session:
        if not azure:
            raise InvalidInput([Problem("CLI003", "snapshot reads real Azure and needs --azure",
                                        fix="failover snapshot RUNBOOK --azure -o config/estates/copy.yaml")])
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
    stderr.print(f"wrote {out}: {items} protected items, {len(estate['virtual_networks'])} virtual networks, "
                 f"{len(estate['connections'])} connections (shared keys left out)")


def _fake(session: Session, estate: Path | None, state: Path | None, *, fresh: bool = False):
    return session.adapter(estate or session.settings.estate, False, state, read_only=False, fresh=fresh)


@fake_app.command("reset")
def fake_reset(estate: EstateOpt = None, state: StateOpt = None, config: ConfigOpt = None) -> None:
    """Start the fake estate over from its estate file."""
    with Session(config) as session:
        adapter = _fake(session, estate, state, fresh=True)
        stdout.print(f"fake estate {adapter.estate_name} reset from its estate file")


@fake_app.command("show")
def fake_show(estate: EstateOpt = None, state: StateOpt = None, config: ConfigOpt = None) -> None:
    """Print the fake estate's live state (JSON)."""
    with Session(config) as session:
        print_json(_fake(session, estate, state).show())


@fake_app.command("ledger")
def fake_ledger(estate: EstateOpt = None, state: StateOpt = None, config: ConfigOpt = None) -> None:
    """Print every mutating call made on the fake estate (JSON)."""
    with Session(config) as session:
        print_json(_fake(session, estate, state).ledger())
