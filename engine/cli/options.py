"""The options the commands share, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

RunbookArg = Annotated[Path, typer.Argument(help="the runbook YAML file", show_default=False)]
EstateOpt = Annotated[Path | None, typer.Option("--estate", help="use the fake adapter seeded from this estate")]
AzureOpt = Annotated[bool, typer.Option("--azure", help="use the real Azure adapter")]
StateOpt = Annotated[Path | None, typer.Option("--state", envvar="FAILOVER_FAKE_STATE",
                                               help="the fake estate's live state file")]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", "-p", help="a parameter value, KEY=VALUE")]
OutputOpt = Annotated[str, typer.Option("--output", "-o", help="text or json")]
LogFormatOpt = Annotated[str, typer.Option("--log-format", help="auto, console or json")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", envvar="FAILOVER_CONFIG", help="settings file")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="log every event, not only warnings")]
JournalOpt = Annotated[str | None, typer.Option(
    "--journal", envvar="FAILOVER_JOURNAL", help="the journal: a file, or azure-blob://ACCOUNT/CONTAINER (shared)")]
YesOpt = Annotated[bool, typer.Option("--yes", help="confirm a run that writes to real Azure")]
