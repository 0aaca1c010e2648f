"""The drill scheduler's commands: what is scheduled, and running what is due."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from engine.cli.app import schedule_app
from engine.cli.options import ConfigOpt, JournalOpt, LogFormatOpt, OutputOpt
from engine.cli.session import Session, stdout


@schedule_app.command("list")
def schedule_list(journal: JournalOpt = None, output_format: OutputOpt = "text", config: ConfigOpt = None) -> None:
    """The scheduled drills, when each runs next, and how the last run went."""
    from datetime import UTC, datetime

    from engine.cli.scheduler import drills_from, status

    with Session(config, output_format=output_format, journal=journal) as session:
        now = datetime.now(UTC)
        states = [status(session.journal, d, now) for d in drills_from(session.settings)]
        lines = [f"{s['name']:<24} {s['cron']:<14} next {s['next_run']}  last {s['last_status'] or 'never'}"
                 f"{'  (running)' if s['running'] else ''}{'  DUE' if s['due'] else ''}" for s in states]
        session.emit({"drills": states}, "\n".join(lines) or "no drills are scheduled (add `drills:` to the settings)")


@schedule_app.command("run")
def schedule_run(once: Annotated[bool, typer.Option("--once", help="run what is due now, then exit")] = False,
                 journal: JournalOpt = None, config: ConfigOpt = None, log_format: LogFormatOpt = "auto") -> None:
    """The scheduler: run each drill when it is due (skipping one still running); reports go to the
    settings' reports folder. Runs until stopped, or once with --once."""
    import time

    from engine.cli.scheduler import drills_from, run_due
    from engine.run.logs import get_logger

    with Session(config, log_format=log_format, verbose=True) as session:
        drills = drills_from(session.settings)
        log = get_logger(component="scheduler")
        journal_path = journal or session.settings.journal
        log.info("schedule.started", drills=[d.name for d in drills], reports=str(session.settings.reports))
        while True:
            for outcome in run_due(journal_path, drills, session.settings.reports, config=config, log=log):
                stdout.print(json.dumps(outcome, default=str))
            if once:
                return
            time.sleep(30)
