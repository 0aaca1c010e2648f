"""`failover check`: is the runbook ready against the live estate? Read only; the findings are kept in
the journal and compared with the previous check. Exit 0 ready, 1 not ready, 2 invalid."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.cli.app import app
from engine.cli.options import (
    AzureOpt,
    ConfigOpt,
    EstateOpt,
    JournalOpt,
    LogFormatOpt,
    OutputOpt,
    ParamOpt,
    RunbookArg,
    StateOpt,
    VerboseOpt,
)
from engine.cli.session import Exit, Session
from engine.cli.views.checks import check_text


@app.command()
def check(runbook: RunbookArg, estate: EstateOpt = None, azure: AzureOpt = False, state: StateOpt = None,
          param: ParamOpt = None,
          junit: Annotated[Path | None, typer.Option("--junit", help="also write the result as JUnit XML")] = None,
          schedule_name: Annotated[str | None, typer.Option("--schedule-name", hidden=True)] = None,
          journal: JournalOpt = None, output_format: OutputOpt = "text", log_format: LogFormatOpt = "auto",
          config: ConfigOpt = None, verbose: VerboseOpt = False) -> None:
    """Check that the runbook would work on the live estate now (reads only): its plan, every VM of a moved
    subnet in it, replication health and recovery point age, recovery IPs free, compute quota, secrets
    readable; what changed since the previous check. Exit 0 ready, 1 not ready, 2 invalid."""
    from engine.check.readiness import check as check_readiness
    from engine.cli.report import junit as junit_xml
    from engine.model.loader import load_runbook
    from engine.model.params import parse_assignments
    from engine.model.problems import InvalidInput

    with Session(config, output_format=output_format, log_format=log_format, verbose=verbose,
                 journal=journal) as session:
        adapter = session.adapter(estate, azure, state, read_only=True)
        loaded = load_runbook(runbook)
        given, problems = parse_assignments(param or [])
        if problems:
            raise InvalidInput(problems)
        earlier = session.journal.checks(loaded.runbook.name, adapter.name, limit=1)
        document = check_readiness(loaded, given, adapter, previous=earlier[0] if earlier else None)
        document["schedule"] = schedule_name
        session.journal.record_check(document)
        session.emit(document, check_text(document))
        if junit is not None:
            junit_xml.write([junit_xml.check_suite(document)], junit)
            session.note(f"JUnit XML written to {junit}")
    if not document["ready"]:
        raise typer.Exit(Exit.FAILED)
