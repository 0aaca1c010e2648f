"""The drill scheduler's commands: what is scheduled, and running what is due."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.cli.app import schedule_app
from engine.cli.options import ConfigOpt, JournalOpt, LogFormatOpt, OutputOpt, VerboseOpt
from engine.cli.session import Session


@schedule_app.command("list")
def schedule_list(journal: JournalOpt = None, output_format: OutputOpt = "text", config: ConfigOpt = None) -> None:
    """The scheduled drills, when each runs next, and how the last run went."""
    from datetime import UTC, datetime

    from engine.cli.scheduler import drills_from, status

    with Session(config, output_format=output_format, journal=journal) as session:
        now = datetime.now(UTC)
        states = [status(session.journal, d, now) for d in drills_from(session.settings)]
        lines = []
        for s in states:
            lines.append(f"{s['name']:<24} {s['cron']:<14} next {s['next_run']}  last {s['last_status'] or 'never'}"
                         f"{'  (running)' if s['running'] else ''}{'  DUE' if s['due'] else ''}")
            lines.append(f"  runbook {s['runbook']}{'' if s['runbook_exists'] else '  [red](no such file)[/]'}"
                         + (f"\n  estate  {s['estate']}" if s["estate"] else ""))
        source = session.settings.file
        where = (f"relative paths are relative to {source.parent.absolute()}/, the folder of {source}" if source
                 else "no settings file: relative paths are relative to the current folder")
        session.emit({"drills": states, "settings_file": str(source) if source else None,
                      "paths_relative_to": str(source.parent.absolute()) if source else None},
                     "\n".join(lines + [f"({where})"]) if states
                     else "no drills are scheduled (add `drills:` to the settings)")


@schedule_app.command("run")
def schedule_run(once: Annotated[bool, typer.Option("--once", help="run what is due now, then exit")] = False,
                 junit: Annotated[Path | None, typer.Option(
                     "--junit", help="write the drills as JUnit XML test suites to this file")] = None,
                 journal: JournalOpt = None, output_format: OutputOpt = "text", config: ConfigOpt = None,
                 log_format: LogFormatOpt = "auto", verbose: VerboseOpt = False) -> None:
    """The scheduler: run each drill when it is due (skipping one still running); reports go to the
    settings' reports folder. Runs until stopped, or once with --once, then exits 0 only if every drill
    due ran and passed (1 failed, 2 invalid, 3 skipped or refused), saying why."""
    import time

    from engine.cli.scheduler import drills_from, exit_code, run_due
    from engine.run.logs import get_logger

    with Session(config, output_format=output_format, log_format=log_format, verbose=verbose,
                 journal=journal) as session:
        drills = drills_from(session.settings)
        log = get_logger(component="scheduler")
        journal_path = journal or session.settings.journal
        log.info("schedule.started", drills=[d.name for d in drills], reports=str(session.settings.reports))
        while True:
            outcomes = run_due(journal_path, drills, session.settings.reports, config=config, log=log, junit=junit,
                               settings=session.settings)
            code = exit_code(outcomes)
            if outcomes or once:
                session.emit({"drills": outcomes, "exit_code": code}, "\n".join(map(_line, outcomes))
                             or "no drill is due")
            for outcome in outcomes:
                if outcome.get("exit"):
                    log.warning("schedule.drill_not_passed", name=outcome["name"], exit=outcome["exit"],
                                reason=outcome.get("reason"))
            if once:
                break
            time.sleep(30)
    raise typer.Exit(code)


def _line(outcome: dict) -> str:
    what = {0: "passed", 1: "FAILED", 2: "INVALID", 3: "NOT RUN", 4: "PAUSED"}.get(outcome.get("exit"), "FAILED")
    if outcome["action"] == "elsewhere":
        what = "run by another scheduler"
    run = f" run {outcome['run_id']}" if outcome.get("run_id") else ""
    reason = f": {outcome['reason']}" if outcome.get("reason") else ""
    return f"{outcome['name']}: {what}{run} (exit {outcome.get('exit', 0)}){reason}"
