"""Commands on a runbook: validate, plan, run, drill, resume, approve, and the runbook's JSON Schema."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from adapters.shared.errors import AdapterError
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
    YesOpt,
)
from engine.cli.session import Exit, Refused, Session, environment_of, stderr
from engine.cli.views import text
from engine.model.loader import load_runbook
from engine.model.params import resolve_parameters
from engine.model.problems import WARNING, InvalidInput, Problem


@app.command()
def validate(runbook: RunbookArg, estate: EstateOpt = None, azure: AzureOpt = False, state: StateOpt = None,
             param: ParamOpt = None, output_format: OutputOpt = "text", log_format: LogFormatOpt = "auto",
             config: ConfigOpt = None, verbose: VerboseOpt = False) -> None:
    """Check schema, references, parameters, secrets and the network-plan rules; nothing is changed."""
    from engine.plan.simulation import simulate

    with Session(config, output_format=output_format, log_format=log_format, verbose=verbose) as session:
        adapter = session.adapter(estate, azure, state, read_only=True)
        loaded, values, problems = session.load(runbook, param, adapter)
        problems = problems + simulate(loaded, values, adapter, rules=True).problems
        if any(p.severity != WARNING for p in problems):
            raise InvalidInput(problems)
        warnings = [p.to_json() for p in problems if p.severity == WARNING]
        session.emit({"valid": True, "errors": [], "warnings": warnings}, text.validation_text(loaded, problems))


@app.command()
def plan(runbook: RunbookArg, estate: EstateOpt = None, azure: AzureOpt = False, state: StateOpt = None,
         param: ParamOpt = None, output_format: OutputOpt = "text", log_format: LogFormatOpt = "auto",
         config: ConfigOpt = None, verbose: VerboseOpt = False) -> None:
    """Show what each step would change (before -> after), simulated on a copy; reads only."""
    from engine.plan.simulation import plan_json, simulate

    with Session(config, output_format=output_format, log_format=log_format, verbose=verbose) as session:
        adapter = session.adapter(estate, azure, state, read_only=True)
        loaded, values, _ = session.load(runbook, param, adapter)
        document = plan_json(simulate(loaded, values, adapter, rules=True))
        session.emit(document, text.plan_text(document))
    if not document["would_succeed"]:
        raise typer.Exit(Exit.INVALID)


@app.command()
def run(runbook: RunbookArg, estate: EstateOpt = None, azure: AzureOpt = False, state: StateOpt = None,
        param: ParamOpt = None, dry_run: Annotated[bool, typer.Option("--dry-run", help="simulate on a copy")] = False,
        yes: YesOpt = False,
        preflight: Annotated[bool, typer.Option(
            "--preflight/--no-preflight", help="simulate the runbook and check the network-plan rules first")] = True,
        concurrency: Annotated[int | None, typer.Option("--concurrency", min=1, help="steps at once")] = None,
        journal: JournalOpt = None, output_format: OutputOpt = "text", log_format: LogFormatOpt = "auto",
        config: ConfigOpt = None, verbose: VerboseOpt = False) -> None:
    """Execute a runbook (--dry-run: simulate it on a copy, no writes)."""
    from engine.cli.views.progress import progress_observer
    from engine.plan.simulation import simulate

    with Session(config, output_format=output_format, log_format=log_format, verbose=verbose,
                 journal=journal) as session:
        adapter = session.adapter(estate, azure, state, read_only=dry_run)
        loaded, values, _ = session.load(runbook, param, adapter)
        if adapter.writes_real_cloud and not dry_run:  # asked before anything is read from the cloud
            session.confirm_real_cloud(loaded, yes)
        if preflight and not dry_run:
            problems = simulate(loaded, values, adapter, rules=True).problems
            if any(p.severity != WARNING for p in problems):
                raise InvalidInput(problems)
        concurrency = concurrency or session.settings.concurrency
        with progress_observer(loaded, enabled=not session.json, scale=adapter.clock.scale) as observer:
            if dry_run:
                simulation = simulate(loaded, values, adapter, observer=observer,
                                      concurrency=concurrency or loaded.runbook.defaults.concurrency)
            else:
                result = _journaled(session, loaded, values, adapter, observer, concurrency=concurrency)
        if dry_run:
            _finish_dry_run(session, simulation)
        _finish(session, result)


def _journaled(session: Session, loaded, values, adapter, observer, *, concurrency=None, prior=None,
               kind: str = "run", cleanup_only: bool = False):
    from engine.run.runs import LockHeld, execute

    try:
        return execute(loaded, values, adapter, session.journal, options=session.adapter_options, observer=observer,
                       prior=prior, concurrency=concurrency, job_poll_interval=session.settings.job_poll_interval,
                       kind=kind, cleanup_only=cleanup_only)
    except LockHeld as exc:
        raise _lock_refused(exc) from None


def _lock_refused(exc) -> Refused:
    return Refused(str(exc), next_step="wait for that run to end; if its process is gone, its lock is taken over "
                   "at once (on another host, once it expires); `failover unlock` releases it by hand")


def _finish_dry_run(session: Session, simulation) -> None:
    """A dry run is not journaled: nothing can be approved or resumed. It says what a real run will wait
    for (the approvals and manual steps it took as approved) and, if it failed, where a real run would stop."""
    result = simulation.result
    gates = [gate.to_json() for gate in simulation.gates]
    session.emit({**result.to_json(), "gates": gates}, text.run_text(result, steps=not sys.stderr.isatty()))
    for line in text.gates_text(gates):
        session.note(line)
    failed = [record.id for record in result.steps if str(record.status) == "failed"]
    if failed:
        session.note(f"A real run would stop at {', '.join(failed)}; fix the runbook and dry-run it again "
                     "(`failover plan` shows each step's change and the rules it breaks).")
    raise typer.Exit(Exit.OK if str(result.status) == "succeeded" else Exit.FAILED)


def _finish(session: Session, result) -> None:
    """The result, what to do next, and the exit code (130/143 when a signal stopped it)."""
    from engine.run.runs import SIGNAL_EXIT

    session.emit(result.to_json(), text.run_text(result, steps=not sys.stderr.isatty()))
    status = str(result.status)
    if result.kind == "drill":
        if result.verdict:
            session.note(f"drill {result.verdict}")
        for entry in result.left_behind:
            session.note(f"[red]left behind[/] by {entry['step']}: {entry['detail']}")
        if status == "cleanup-failed":
            session.note(f"the cleanup could not finish; once the cause is fixed, finish it with: "
                         f"failover cleanup {result.run_id}")
    elif status in ("interrupted", "paused", "failed"):
        session.note(f"resume with: failover resume {result.run_id}")
    if result.stopped_by:
        done = ("cleaned up, nothing left behind" if status != "cleanup-failed" else
                f"cleanup incomplete: failover cleanup {result.run_id}") if result.kind == "drill" else \
            f"interrupted: failover resume {result.run_id}"
        stderr.print(f"stopped by {result.stopped_by}: {result.kind} {result.run_id} {done}")
        raise typer.Exit(SIGNAL_EXIT.get(result.stopped_by, Exit.FAILED))
    code = {"succeeded": Exit.OK, "paused": Exit.PAUSED}.get(status, Exit.FAILED)
    raise typer.Exit(code)


@app.command()
def drill(runbook: RunbookArg, estate: EstateOpt = None, azure: AzureOpt = False, state: StateOpt = None,
          param: ParamOpt = None, yes: YesOpt = False,
          report_dir: Annotated[Path | None, typer.Option(
              "--report-dir", help="write the HTML and JSON reports here")] = None,
          junit: Annotated[Path | None, typer.Option(
              "--junit", help="write the drill as a JUnit XML test suite (steps and checks as test cases)")] = None,
          schedule_name: Annotated[str | None, typer.Option("--schedule-name", hidden=True)] = None,
          journal: JournalOpt = None, output_format: OutputOpt = "text", log_format: LogFormatOpt = "auto",
          config: ConfigOpt = None, verbose: VerboseOpt = False) -> None:
    """A DR drill: the runbook's test failover and probes, then, whatever happens, every change undone;
    the recovery time measured against the runbook's rto; exit 0 only if it passed and cleaned up."""
    from engine.cli.views.progress import progress_observer
    from engine.plan.simulation import simulate

    with Session(config, output_format=output_format, log_format=log_format, verbose=verbose,
                 journal=journal) as session:
        try:
            adapter = session.adapter(estate, azure, state, read_only=False)
            session.adapter_options["schedule"] = schedule_name
            loaded, values, _ = session.load(runbook, param, adapter)
            if adapter.writes_real_cloud:
                session.confirm_real_cloud(loaded, yes)
            problems = simulate(loaded, values, adapter, rules=True).problems
            if any(p.severity != WARNING for p in problems):
                raise InvalidInput(problems)
            with progress_observer(loaded, enabled=not session.json, scale=adapter.clock.scale) as observer:
                result = _journaled(session, loaded, values, adapter, observer, kind="drill")
        except (InvalidInput, Refused, AdapterError) as exc:  # CI still gets its test suite: the drill did not run
            if junit is not None:
                _write_junit_not_run(schedule_name or runbook.stem, exc, junit)
            raise
        if report_dir is not None:
            _write_reports(session, result.run_id, report_dir)
        if junit is not None:
            _write_junit(session, result.run_id, junit, schedule_name)
        _finish(session, result)


def _write_junit(session: Session, run_id: str, path: Path, name: str | None) -> None:
    from engine.cli.report import junit as junit_xml
    from engine.cli.report.collect import collect

    junit_xml.write([junit_xml.drill_suite(collect(session.journal, run_id), name)], path)
    session.note(f"JUnit XML written to {path}")


def _write_junit_not_run(name: str, error: Exception, path: Path) -> None:
    from engine.cli.report import junit as junit_xml

    if isinstance(error, InvalidInput):
        reason, kind = "; ".join(str(p) for p in error.problems if p.severity != WARNING), "invalid"
    elif isinstance(error, Refused):
        reason, kind = error.reason, "refused"
    else:
        reason, kind = str(error), "failed"
    junit_xml.write([junit_xml.not_run_suite(name, reason, kind=kind)], path)


def _write_reports(session: Session, run_id: str, folder: Path) -> None:
    """The drill's evidence, as files an auditor can keep (HTML to read, JSON for machines)."""
    from adapters.shared.files import write_private
    from adapters.shared.secret import redact_data
    from engine.cli.report.collect import collect
    from engine.cli.report.html import render_html

    document = collect(session.journal, run_id)
    write_private(folder / f"{run_id}.json", json.dumps(redact_data(document), indent=2, default=str))
    write_private(folder / f"{run_id}.html", render_html(document))
    session.note(f"reports written to {folder / run_id}.html and .json")


@app.command()
def resume(run_id: Annotated[str, typer.Argument(help="the run to continue")],
           accept_changed_runbook: Annotated[bool, typer.Option(
               "--accept-changed-runbook", help="resume even though the runbook file changed")] = False,
           yes: YesOpt = False,
           journal: JournalOpt = None, output_format: OutputOpt = "text", log_format: LogFormatOpt = "auto",
           config: ConfigOpt = None, verbose: VerboseOpt = False) -> None:
    """Continue a run that crashed, was interrupted, failed or paused; finished steps are not repeated."""
    with Session(config, output_format=output_format, log_format=log_format, verbose=verbose,
                 journal=journal) as session:
        _resume(session, run_id, accept_changed=accept_changed_runbook, yes=yes)


def _resume(session: Session, run_id: str, *, accept_changed: bool, yes: bool, cleanup: bool = False) -> None:
    from engine.run.runs import (
        SIGNAL_EXIT,
        LockHeld,
        NotResumable,
        RunbookChanged,
        StoppedBeforeStart,
        locked,
        stop_before_start,
    )

    row = session.journal.run_row(run_id)
    if row is None:
        raise InvalidInput([Problem("RUN001", f"no run {run_id} in the journal {session.journal.path}",
                                    fix="see failover history")])
    try:
        # One writer per target, this run included: what the journal says is read under the lock.
        with locked(session.journal, row["scope"], run_id), stop_before_start():
            result = _resume_locked(session, run_id, accept_changed=accept_changed, yes=yes, cleanup=cleanup)
    except StoppedBeforeStart as stopped:
        what, again = (f"the cleanup of drill {run_id} was", "cleanup") if cleanup else (f"run {run_id} was", "resume")
        stderr.print(f"[yellow]{stopped.signal_name}[/]: {what} not resumed; nothing was sent, and its lock is "
                     f"released. `failover {again} {run_id}` carries it on.")
        raise typer.Exit(SIGNAL_EXIT[stopped.signal_name]) from None
    except LockHeld as exc:
        raise _lock_refused(exc) from None
    except NotResumable as exc:
        raise InvalidInput([Problem("RUN001", str(exc), fix="see failover history")]) from None
    except RunbookChanged as exc:
        raise Refused(str(exc), next_step="restore the runbook, or pass --accept-changed-runbook") from None
    _finish(session, result)


def _resume_locked(session: Session, run_id: str, *, accept_changed: bool, yes: bool, cleanup: bool):
    from engine.cli.views.progress import progress_observer
    from engine.run.runs import prepare_resume

    row, prior = prepare_resume(session.journal, run_id, accept_changed=accept_changed, cleanup=cleanup)
    options = json.loads(row["options"])
    adapter = session.adapter(Path(options["estate"]) if options.get("estate") else None, options.get("azure", False),
                              Path(options["state"]) if options.get("state") else None, read_only=False)
    stored = {k: v for k, v in prior.parameters.items() if v != "***"}
    loaded = load_runbook(row["runbook_path"])
    values, problems = resolve_parameters(loaded.runbook, stored, file=loaded.file, lines=loaded.line,
                                          fetch_secret=adapter.secrets.get_secret, environ=environment_of(adapter))
    if any(p.severity != WARNING for p in problems):
        raise InvalidInput(problems)
    if adapter.writes_real_cloud:
        session.confirm_real_cloud(loaded, yes)
    with progress_observer(loaded, enabled=not session.json, scale=adapter.clock.scale) as observer:
        return _journaled(session, loaded, values, adapter, observer, prior=prior, kind=row["kind"],
                          cleanup_only=cleanup)


@app.command()
def cleanup(run_id: Annotated[str, typer.Argument(help="the drill whose cleanup is to be finished")],
            accept_changed_runbook: Annotated[bool, typer.Option(
                "--accept-changed-runbook", help="clean up even though the runbook file changed")] = False,
            yes: YesOpt = False,
            journal: JournalOpt = None, output_format: OutputOpt = "text", log_format: LogFormatOpt = "auto",
            config: ConfigOpt = None, verbose: VerboseOpt = False) -> None:
    """Finish a drill's cleanup (after `cleanup-failed`, or a drill stopped before it cleaned up): undo what
    it left behind, and nothing else."""
    with Session(config, output_format=output_format, log_format=log_format, verbose=verbose,
                 journal=journal) as session:
        _resume(session, run_id, accept_changed=accept_changed_runbook, yes=yes, cleanup=True)


@app.command()
def approve(run_id: Annotated[str, typer.Argument(help="the paused run")],
            step_id: Annotated[str, typer.Argument(help="the approval or manual step to release")],
            comment: Annotated[str | None, typer.Option("--comment", help="recorded with the approval")] = None,
            then_resume: Annotated[bool, typer.Option("--resume/--no-resume", help="resume the run at once")] = True,
            journal: JournalOpt = None, output_format: OutputOpt = "text", log_format: LogFormatOpt = "auto",
            config: ConfigOpt = None, verbose: VerboseOpt = False) -> None:
    """Release a paused approval or manual step (recording who approved), then resume the run."""
    from engine.run.journal import who

    with Session(config, output_format=output_format, log_format=log_format, verbose=verbose,
                 journal=journal) as session:
        found = session.journal.load(run_id)
        if found is None:
            raise InvalidInput([Problem("RUN001", f"no run {run_id} in the journal", fix="see failover history")])
        _, prior = found
        record = next((s for s in prior.steps if s.id == step_id), None)
        if record is None or str(record.status) != "paused":
            state = "no such step" if record is None else f"it is {record.status}"
            raise InvalidInput([Problem("RUN002", f"step {step_id} of run {run_id} is not waiting for approval "
                                        f"({state})", fix="approve a paused step; see failover status " + run_id)])
        session.journal.approve(run_id, step_id, who(), comment)
        if not session.json:
            stderr.print(f"{step_id} of run {run_id} approved by {who()}")
        elif not then_resume:
            session.emit({"run_id": run_id, "step": step_id, "approved_by": who(), "comment": comment,
                          "status": str(prior.status)})
        if then_resume:
            _resume(session, run_id, accept_changed=False, yes=False)


@app.command()
def schema(output_format: OutputOpt = "json") -> None:
    """Print the runbook JSON Schema (for editors; JSON whatever --output says)."""
    from engine.model.schema import runbook_schema

    with Session(None, output_format=output_format) as session:
        session.emit_json(runbook_schema())
