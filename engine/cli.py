"""The ``failover`` command line. Results on stdout (text or one JSON document); logs on stderr.

Exit codes: 0 success; 1 the run failed; 2 invalid input; 3 refused; 4 paused.
"""

from __future__ import annotations

import json
import sys
from enum import IntEnum, StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from adapters.shared.errors import AdapterError
from adapters.shared.secret import redact, redact_data
from engine import output
from engine.model.loader import LoadedRunbook, load_runbook
from engine.model.params import parse_assignments, resolve_parameters
from engine.model.problems import WARNING, InvalidInput, Problem
from engine.run import logs
from engine.run.journal import JournalError
from engine.settings import Settings, load_settings, open_adapter


class Exit(IntEnum):
    OK = 0
    FAILED = 1
    INVALID = 2
    REFUSED = 3
    PAUSED = 4


app = typer.Typer(
    name="failover", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Declarative failover runbooks for Azure Site Recovery: validate, plan, rehearse, run.",
)
fake_app = typer.Typer(help="The fake estate's live state: start over, dump it, list its mutating calls.",
                       no_args_is_help=True)
app.add_typer(fake_app, name="fake")
schedule_app = typer.Typer(help="Scheduled drills, from the `drills:` section of the settings.", no_args_is_help=True)
app.add_typer(schedule_app, name="schedule")

stdout = Console(highlight=False, soft_wrap=True)
_json_output = False  # set by Session: errors found later are printed as JSON too
stderr = Console(stderr=True, highlight=False, soft_wrap=True)

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
JournalOpt = Annotated[Path | None, typer.Option("--journal", envvar="FAILOVER_JOURNAL", help="the journal file")]


def main() -> None:
    try:
        app()  # usage errors exit 2 with click's message
    except InvalidInput as exc:
        _print_problems(exc.problems)
        sys.exit(Exit.INVALID)
    except AdapterError as exc:  # the cloud refused something outside any step (reading the estate to plan)
        stderr.print(f"[red]failed[/]: {redact(str(exc))}")
        sys.exit(Exit.FAILED)
    except JournalError as exc:  # the run stops rather than act unrecorded; what it did is journaled
        stderr.print(f"[red]stopped[/]: {exc}. Free the disk or fix the journal file, then `failover resume` "
                     "the run: every step reads the state before it acts.")
        sys.exit(Exit.FAILED)


# --- shared plumbing -----------------------------------------------------------------------------


class Session:
    """What every command that reads a runbook needs: settings, logs, the runbook, parameters."""

    def __init__(self, config: Path | None, log_format: str, output_format: str, verbose: bool):
        if output_format not in ("text", "json"):
            raise InvalidInput([Problem("CLI001", f"--output {output_format!r}", fix="use --output text or json")])
        global _json_output
        self.json = _json_output = output_format == "json"
        level = "info" if verbose else "warning"  # warnings (retries, takeovers) always show
        logs.configure(log_format, level)
        self.settings: Settings = load_settings(config)

    def adapter(self, estate, azure, state, *, read_only: bool):
        if estate is not None and azure:
            raise InvalidInput([Problem("CLI002", "--estate and --azure both given",
                                        fix="choose the fake (--estate FILE) or real Azure (--azure)")])
        use_azure = azure or (estate is None and self.settings.adapter == "azure")
        estate = None if use_azure else (estate or self.settings.estate)
        state = None if use_azure else (state or self.settings.state_for(estate))
        self.adapter_options = {"azure": use_azure, "estate": str(estate) if estate else None,
                                "state": str(state) if state else None}
        return open_adapter(self.settings, estate=estate, azure=use_azure, state=state, read_only=read_only)

    def journal(self, path: Path | None):
        from engine.run.journal import Journal

        return Journal(path or self.settings.journal, fsync_intents=self.settings.journal_fsync)

    def load(self, runbook: Path, params: list[str] | None, adapter) -> tuple[LoadedRunbook, dict, list[Problem]]:
        loaded = load_runbook(runbook)
        given, problems = parse_assignments(params or [])
        values, param_problems = resolve_parameters(
            loaded.runbook, given, file=loaded.file, lines=loaded.line,
            fetch_secret=adapter.secrets.get_secret,
        )
        problems = loaded.problems + problems + param_problems
        if any(p.severity != WARNING for p in problems):
            raise InvalidInput(problems)
        return loaded, values, problems

    def emit(self, document: dict, text: str | None = None) -> None:
        if self.json:
            sys.stdout.write(json.dumps(redact_data(document), indent=2, default=str) + "\n")
        elif text is not None:
            stdout.print(redact(text))


def _print_problems(problems: list[Problem]) -> None:
    if _json_output:
        errors = [p.to_json() for p in problems if p.severity != WARNING]
        warnings = [p.to_json() for p in problems if p.severity == WARNING]
        sys.stdout.write(json.dumps(redact_data({"valid": False, "errors": errors, "warnings": warnings}),
                                    indent=2) + "\n")
        return
    for problem in problems:
        label = "warning" if problem.severity == WARNING else "error"
        stderr.print(f"[{'yellow' if label == 'warning' else 'red'}]{label}[/] {redact(str(problem))}",
                     markup=True, highlight=False)
    count = sum(1 for p in problems if p.severity != WARNING)
    stderr.print(f"{count} error(s); nothing was executed.")


# --- commands -------------------------------------------------------------------------------------


@app.command()
def validate(runbook: RunbookArg, estate: EstateOpt = None, azure: AzureOpt = False, state: StateOpt = None,
             param: ParamOpt = None, output_format: OutputOpt = "text", log_format: LogFormatOpt = "auto",
             config: ConfigOpt = None, verbose: VerboseOpt = False) -> None:
    """Check schema, references, parameters, secrets and the network-plan rules; nothing is changed."""
    from engine.plan.simulation import simulate

    session = Session(config, log_format, output_format, verbose)
    adapter = session.adapter(estate, azure, state, read_only=True)
    try:
        loaded, values, problems = session.load(runbook, param, adapter)
        problems = problems + simulate(loaded, values, adapter, rules=True).problems
    finally:
        adapter.close()
    if any(p.severity != WARNING for p in problems):
        raise InvalidInput(problems)
    warnings = [p.to_json() for p in problems if p.severity == WARNING]
    session.emit({"valid": True, "errors": [], "warnings": warnings},
                 output.validation_text(loaded, problems))


@app.command()
def plan(runbook: RunbookArg, estate: EstateOpt = None, azure: AzureOpt = False, state: StateOpt = None,
         param: ParamOpt = None, output_format: OutputOpt = "text", log_format: LogFormatOpt = "auto",
         config: ConfigOpt = None, verbose: VerboseOpt = False) -> None:
    """Show what each step would change (before -> after), simulated on a copy; reads only."""
    from engine.plan.simulation import plan_json, simulate

    session = Session(config, log_format, output_format, verbose)
    adapter = session.adapter(estate, azure, state, read_only=True)
    try:
        loaded, values, _ = session.load(runbook, param, adapter)
        simulation = simulate(loaded, values, adapter, rules=True)
    finally:
        adapter.close()
    document = plan_json(simulation)
    session.emit(document, output.plan_text(document))
    if not document["would_succeed"]:
        raise typer.Exit(Exit.INVALID)


@app.command()
def run(runbook: RunbookArg, estate: EstateOpt = None, azure: AzureOpt = False, state: StateOpt = None,
        param: ParamOpt = None, dry_run: Annotated[bool, typer.Option("--dry-run", help="simulate on a copy")] = False,
        yes: Annotated[bool, typer.Option("--yes", help="confirm a run that writes to real Azure")] = False,
        preflight: Annotated[bool, typer.Option(
            "--preflight/--no-preflight", help="simulate the runbook and check the network-plan rules first")] = True,
        concurrency: Annotated[int | None, typer.Option("--concurrency", min=1, help="steps at once")] = None,
        journal: JournalOpt = None, output_format: OutputOpt = "text", log_format: LogFormatOpt = "auto",
        config: ConfigOpt = None, verbose: VerboseOpt = False) -> None:
    """Execute a runbook (--dry-run: simulate it on a copy, no writes)."""
    from engine.plan.simulation import simulate
    from engine.progress import progress_observer

    session = Session(config, log_format, output_format, verbose)
    adapter = session.adapter(estate, azure, state, read_only=dry_run)
    try:
        loaded, values, _ = session.load(runbook, param, adapter)
        if preflight and not dry_run:
            problems = simulate(loaded, values, adapter, rules=True).problems
            if any(p.severity != WARNING for p in problems):
                raise InvalidInput(problems)
        if adapter.writes_real_cloud and not dry_run:
            _confirm_real_cloud(loaded, yes)
        concurrency = concurrency or session.settings.concurrency
        with progress_observer(loaded, enabled=not session.json) as observer:
            if dry_run:
                result = simulate(loaded, values, adapter, observer=observer,
                                  concurrency=concurrency or loaded.runbook.defaults.concurrency).result
            else:
                result = _journaled(session, journal, loaded, values, adapter, observer, concurrency=concurrency)
    finally:
        adapter.close()
    _finish(session, result)


def _journaled(session: Session, journal_path: Path | None, loaded, values, adapter, observer, *,
               concurrency=None, prior=None, kind: str = "run"):
    from engine.run.runs import LockHeld, execute

    journal = session.journal(journal_path)
    try:
        return execute(loaded, values, adapter, journal, options=session.adapter_options, observer=observer,
                       prior=prior, concurrency=concurrency, job_poll_interval=session.settings.job_poll_interval,
                       kind=kind)
    except LockHeld as exc:
        stderr.print(f"refused: {exc}. If that process is gone, the lock is taken over automatically.")
        raise typer.Exit(Exit.REFUSED) from None
    finally:
        journal.close()


def _finish(session: Session, result) -> None:
    session.emit(result.to_json(), output.run_text(result, steps=not sys.stderr.isatty()))
    if str(result.status) in ("interrupted", "paused", "failed") and not session.json:
        stderr.print(f"resume with: failover resume {result.run_id}")
    code = {"succeeded": Exit.OK, "paused": Exit.PAUSED, "interrupted": Exit.FAILED}.get(str(result.status), Exit.FAILED)
    raise typer.Exit(code)


@app.command()
def drill(runbook: RunbookArg, estate: EstateOpt = None, azure: AzureOpt = False, state: StateOpt = None,
          param: ParamOpt = None, yes: Annotated[bool, typer.Option("--yes", help="confirm writes to real Azure")] = False,
          report_dir: Annotated[Path | None, typer.Option(
              "--report-dir", help="write the HTML and JSON reports here")] = None,
          schedule_name: Annotated[str | None, typer.Option("--schedule-name", hidden=True)] = None,
          journal: JournalOpt = None, output_format: OutputOpt = "text", log_format: LogFormatOpt = "auto",
          config: ConfigOpt = None, verbose: VerboseOpt = False) -> None:
    """A DR drill: the runbook's test failover and probes, then, whatever happens, every change undone;
    the recovery time measured against the runbook's rto; exit 0 only if it passed and cleaned up."""
    from engine.plan.simulation import simulate
    from engine.progress import progress_observer

    session = Session(config, log_format, output_format, verbose)
    adapter = session.adapter(estate, azure, state, read_only=False)
    session.adapter_options["schedule"] = schedule_name
    try:
        loaded, values, _ = session.load(runbook, param, adapter)
        problems = simulate(loaded, values, adapter, rules=True).problems
        if any(p.severity != WARNING for p in problems):
            raise InvalidInput(problems)
        if adapter.writes_real_cloud:
            _confirm_real_cloud(loaded, yes)
        with progress_observer(loaded, enabled=not session.json) as observer:
            result = _journaled(session, journal, loaded, values, adapter, observer, kind="drill")
    finally:
        adapter.close()
    if report_dir is not None:
        _write_reports(session, journal, result.run_id, report_dir)
    if not session.json:
        stderr.print(f"drill {result.verdict}")
        if str(result.status) != "succeeded":
            left = [r for r in result.to_json()["rollback"] if not r["undone"]]
            for entry in left:
                stderr.print(f"[red]left behind[/] by {entry['step']}: {entry['detail']}")
    session.emit(result.to_json(), output.run_text(result, steps=not sys.stderr.isatty()))
    raise typer.Exit(Exit.OK if str(result.status) == "succeeded" else Exit.FAILED)


def _write_reports(session: Session, journal_path: Path | None, run_id: str, folder: Path) -> None:
    """The drill's evidence, as files an auditor can keep (HTML to read, JSON for machines)."""
    try:
        from engine.render import render_html
        from engine.report import collect
    except ImportError:  # reports arrive with their own module
        stderr.print("reports are not available in this version")
        return
    store = session.journal(journal_path)
    try:
        document = collect(store, run_id)
    finally:
        store.close()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{run_id}.json").write_text(json.dumps(redact_data(document), indent=2, default=str))
    (folder / f"{run_id}.html").write_text(render_html(document))
    stderr.print(f"reports written to {folder / run_id}.html and .json")


@app.command()
def resume(run_id: Annotated[str, typer.Argument(help="the run to continue")],
           accept_changed_runbook: Annotated[bool, typer.Option(
               "--accept-changed-runbook", help="resume even though the runbook file changed")] = False,
           yes: Annotated[bool, typer.Option("--yes", help="confirm a run that writes to real Azure")] = False,
           journal: JournalOpt = None, output_format: OutputOpt = "text", log_format: LogFormatOpt = "auto",
           config: ConfigOpt = None, verbose: VerboseOpt = False) -> None:
    """Continue a run that crashed, was interrupted, failed or paused; finished steps are not repeated."""
    from engine.progress import progress_observer
    from engine.run.runs import NotResumable, RunbookChanged, prepare_resume

    session = Session(config, log_format, output_format, verbose)
    store = session.journal(journal)
    try:
        row, prior = prepare_resume(store, run_id, accept_changed=accept_changed_runbook)
    except NotResumable as exc:
        raise InvalidInput([Problem("RUN001", str(exc), fix="see failover history")]) from None
    except RunbookChanged as exc:
        stderr.print(f"refused: {exc}")
        raise typer.Exit(Exit.REFUSED) from None
    finally:
        store.close()
    options = json.loads(row["options"])
    adapter = session.adapter(Path(options["estate"]) if options.get("estate") else None, options.get("azure", False),
                              Path(options["state"]) if options.get("state") else None, read_only=False)
    try:
        stored = {k: v for k, v in prior.parameters.items() if v != "***"}
        loaded = load_runbook(row["runbook_path"])
        values, problems = resolve_parameters(loaded.runbook, stored, file=loaded.file, lines=loaded.line,
                                              fetch_secret=adapter.secrets.get_secret)
        if any(p.severity != WARNING for p in problems):
            raise InvalidInput(problems)
        if adapter.writes_real_cloud:
            _confirm_real_cloud(loaded, yes)
        with progress_observer(loaded, enabled=not session.json) as observer:
            result = _journaled(session, journal, loaded, values, adapter, observer, prior=prior)
    finally:
        adapter.close()
    _finish(session, result)


@app.command()
def approve(run_id: Annotated[str, typer.Argument(help="the paused run")],
            step_id: Annotated[str, typer.Argument(help="the approval or manual step to release")],
            comment: Annotated[str | None, typer.Option("--comment", help="recorded with the approval")] = None,
            then_resume: Annotated[bool, typer.Option("--resume/--no-resume", help="resume the run at once")] = True,
            journal: JournalOpt = None, output_format: OutputOpt = "text", log_format: LogFormatOpt = "auto",
            config: ConfigOpt = None, verbose: VerboseOpt = False) -> None:
    """Release a paused approval or manual step (recording who approved), then resume the run."""
    from engine.run.journal import who

    session = Session(config, log_format, output_format, verbose)
    store = session.journal(journal)
    try:
        found = store.load(run_id)
        if found is None:
            raise InvalidInput([Problem("RUN001", f"no run {run_id} in the journal", fix="see failover history")])
        _, prior = found
        record = next((s for s in prior.steps if s.id == step_id), None)
        if record is None or str(record.status) != "paused":
            state = "no such step" if record is None else f"it is {record.status}"
            raise InvalidInput([Problem("RUN002", f"step {step_id} of run {run_id} is not waiting for approval "
                                        f"({state})", fix="approve a paused step; see failover status " + run_id)])
        store.approve(run_id, step_id, who(), comment)
    finally:
        store.close()
    if not session.json or not then_resume:
        stderr.print(f"{step_id} of run {run_id} approved by {who()}")
    if then_resume:
        resume(run_id, False, False, journal, output_format, log_format, config, verbose)


@app.command()
def status(run_id: Annotated[str | None, typer.Argument(help="a run (default: runs going on now)")] = None,
           journal: JournalOpt = None, output_format: OutputOpt = "text", config: ConfigOpt = None) -> None:
    """A run and its steps, from the journal; without RUN_ID, the runs running or paused now."""
    session = Session(config, "auto", output_format, False)
    store = session.journal(journal)
    try:
        if run_id is not None:
            found = store.load(run_id)
            if found is None:
                raise InvalidInput([Problem("RUN001", f"no run {run_id} in the journal", fix="see failover history")])
            session.emit(found[1].to_json(), output.run_text(found[1]))
            return
        rows = [r for r in store.runs(limit=200) if r["status"] in ("running", "paused", "interrupted")]
        results = [store.load(r["run_id"])[1] for r in rows]
    finally:
        store.close()
    session.emit({"runs": [r.to_json() for r in results]},
                 "\n\n".join(output.run_text(r) for r in results) or "no run is going on")


@app.command()
def history(limit: Annotated[int, typer.Option("--limit", "-n", help="how many runs")] = 20,
            drills: Annotated[bool, typer.Option("--drills", help="only drills, with their pass/fail trend")] = False,
            journal: JournalOpt = None, output_format: OutputOpt = "text", config: ConfigOpt = None) -> None:
    """Past runs, newest first."""
    session = Session(config, "auto", output_format, False)
    store = session.journal(journal)
    try:
        rows = store.runs(limit=limit, kind="drill" if drills else None)
    finally:
        store.close()
    runs = [output.history_row(r) for r in rows]
    document = {"runs": runs}
    if drills:
        document["trend"] = "".join("P" if r["status"] == "succeeded" else "F" for r in reversed(runs))
        document["passed"] = sum(r["status"] == "succeeded" for r in runs)
        document["failed"] = len(runs) - document["passed"]
    text = output.history_text(runs)
    if drills and runs:
        text += (f"\n\ntrend (oldest → newest): {document['trend']}  "
                 f"({document['passed']} passed, {document['failed']} failed)")
    session.emit(document, text)


class ReportFormat(StrEnum):
    html = "html"
    json = "json"
    markdown = "markdown"


@app.command()
def report(run_id: Annotated[str, typer.Argument(help="the run (or drill) to report on")],
           report_format: Annotated[ReportFormat, typer.Option(
               "--format", "-f", help="html (one self-contained page), json, or markdown (for a ticket)")
           ] = ReportFormat.html,
           out: Annotated[Path | None, typer.Option(
               "--out", "-o", help="write the report to this file instead of stdout")] = None,
           journal: JournalOpt = None, config: ConfigOpt = None) -> None:
    """A run's report from the journal: verdict, timeline, steps with their changes, retries and errors,
    recovery time, and what was cleaned up or left behind."""
    from engine.render import render_html, render_markdown
    from engine.report import UnknownRun, collect

    session = Session(config, "auto", "text", False)
    store = session.journal(journal)
    try:
        document = collect(store, run_id)
    except UnknownRun:
        raise InvalidInput([Problem("RUN001", f"no run {run_id} in the journal {store.path}",
                                    fix="see failover history")]) from None
    finally:
        store.close()
    if report_format == ReportFormat.json:
        text = json.dumps(redact_data(document), indent=2, default=str) + "\n"
    elif report_format == ReportFormat.markdown:
        text = render_markdown(document)
    else:
        text = render_html(document)
    text = redact(text)
    if out is None:
        sys.stdout.write(text)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    stderr.print(f"{report_format.value} report of {run_id} written to {out}")


@schedule_app.command("list")
def schedule_list(journal: JournalOpt = None, output_format: OutputOpt = "text", config: ConfigOpt = None) -> None:
    """The scheduled drills, when each runs next, and how the last run went."""
    from datetime import UTC, datetime

    from engine.schedule import drills_from, status

    session = Session(config, "auto", output_format, False)
    store = session.journal(journal)
    try:
        now = datetime.now(UTC)
        states = [status(store, d, now) for d in drills_from(session.settings)]
    finally:
        store.close()
    lines = [f"{s['name']:<24} {s['cron']:<14} next {s['next_run']}  last {s['last_status'] or 'never'}"
             f"{'  (running)' if s['running'] else ''}{'  DUE' if s['due'] else ''}" for s in states]
    session.emit({"drills": states}, "\n".join(lines) or "no drills are scheduled (add `drills:` to the settings)")


@schedule_app.command("run")
def schedule_run(once: Annotated[bool, typer.Option("--once", help="run what is due now, then exit")] = False,
                 journal: JournalOpt = None, config: ConfigOpt = None, log_format: LogFormatOpt = "auto") -> None:
    """The scheduler: run each drill when it is due (skipping one still running); reports go to the
    settings' reports folder. Runs until stopped, or once with --once."""
    import time

    from engine.run.logs import get_logger
    from engine.schedule import drills_from, run_due

    session = Session(config, log_format, "text", True)
    drills = drills_from(session.settings)
    log = get_logger(component="scheduler")
    journal_path = journal or session.settings.journal
    log.info("schedule.started", drills=[d.name for d in drills], reports=str(session.settings.reports))
    while True:
        outcomes = run_due(journal_path, drills, session.settings.reports, config=config, log=log)
        for outcome in outcomes:
            stdout.print(json.dumps(outcome, default=str))
        if once:
            return
        time.sleep(30)


def _confirm_real_cloud(loaded: LoadedRunbook, yes: bool) -> None:
    name = loaded.runbook.name
    if yes:
        return
    if not sys.stdin.isatty():
        stderr.print(f"refused: {name} would write to real Azure; pass --yes to confirm when not on a terminal")
        raise typer.Exit(Exit.REFUSED)
    stderr.print(f"[bold red]This run writes to real Azure[/] (subscription {loaded.runbook.target.subscription}).")
    typed = typer.prompt(f"Type the runbook name ({name}) to go on", default="", show_default=False)
    if typed.strip() != name:
        stderr.print("refused: the name typed does not match")
        raise typer.Exit(Exit.REFUSED)


@app.command()
def schema() -> None:
    """Print the runbook JSON Schema (for editors)."""
    from engine.model.schema import runbook_schema

    sys.stdout.write(json.dumps(runbook_schema(), indent=2) + "\n")


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

    if not azure:
        raise InvalidInput([Problem("CLI003", "snapshot reads real Azure and needs --azure",
                                    fix="failover snapshot RUNBOOK --azure -o config/estates/copy.yaml")])
    target = load_runbook(runbook).runbook.target if runbook is not None else None
    settings = load_settings(config)
    scope = {"subscription": subscription or (target and target.subscription) or settings.azure.get("subscription"),
             "resource_group": resource_group or (target and target.resource_group)
             or settings.azure.get("resource_group"),
             "vault": vault or (target and target.vault) or settings.azure.get("vault")}
    missing = [name for name, value in scope.items() if not value]
    if missing:
        raise InvalidInput([Problem("CLI004", f"no {', '.join(missing)} to read",
                                    fix="give a runbook, the --subscription/--resource-group/--vault options, "
                                        "or set them under azure: in config/failover.yaml")])
    logs.configure("auto", "warning")
    adapter = open_adapter(settings, estate=None, azure=True, state=None, read_only=True)
    try:
        estate = adapter.snapshot(VaultRef(**scope), out)
    finally:
        adapter.close()
    items = len(next(iter(estate["vaults"].values()))["protected_items"])
    stderr.print(f"wrote {out}: {items} protected items, {len(estate['virtual_networks'])} virtual networks, "
                 f"{len(estate['connections'])} connections (shared keys left out)")


# --- the fake estate ------------------------------------------------------------------------------


def _fake(config: Path | None, estate: Path | None, state: Path | None, *, fresh: bool = False):
    from adapters.fake import FakeAdapter

    logs.configure("auto", "warning")
    settings = load_settings(config)
    adapter = open_adapter(settings, estate=estate or settings.estate, azure=False, state=state, read_only=False,
                           fresh=fresh)
    assert isinstance(adapter, FakeAdapter)
    return adapter


@fake_app.command("reset")
def fake_reset(estate: EstateOpt = None, state: StateOpt = None, config: ConfigOpt = None) -> None:
    """Start the fake estate over from its estate file."""
    adapter = _fake(config, estate, state, fresh=True)
    try:
        stdout.print(f"fake estate {adapter.estate_name} reset from its estate file")
    finally:
        adapter.close()


@fake_app.command("show")
def fake_show(estate: EstateOpt = None, state: StateOpt = None, config: ConfigOpt = None) -> None:
    """Print the fake estate's live state (JSON)."""
    adapter = _fake(config, estate, state)
    try:
        _print_json(adapter.show())
    finally:
        adapter.close()


@fake_app.command("ledger")
def fake_ledger(estate: EstateOpt = None, state: StateOpt = None, config: ConfigOpt = None) -> None:
    """Print every mutating call made on the fake estate (JSON)."""
    adapter = _fake(config, estate, state)
    try:
        _print_json(adapter.ledger())
    finally:
        adapter.close()


def _print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(redact_data(document), indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
