"""One command's session: its settings, logs and output format; the adapter and the journal it opens
(each at most once, closed when the command ends); and the one place a user's mistake or the cloud's
refusal becomes a message and an exit code."""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from enum import IntEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from adapters.shared.errors import AdapterError
from adapters.shared.secret import redact, redact_data
from engine.cli import wiring
from engine.cli.settings import Settings, load_settings
from engine.model.loader import LoadedRunbook, load_runbook
from engine.model.params import parse_assignments, resolve_parameters
from engine.model.problems import WARNING, InvalidInput, Problem
from engine.run import logs
from engine.run.journal import Journal, JournalError


class Exit(IntEnum):
    OK = 0
    FAILED = 1
    INVALID = 2
    REFUSED = 3
    PAUSED = 4


stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


class Session:
    """``with Session(...) as session:`` around a command's work."""

    def __init__(self, config: Path | None, *, output_format: str = "text", log_format: str = "auto",
                 verbose: bool = False, journal: Path | None = None):
        self._config = config
        self._log_format, self._verbose = log_format, verbose
        self._journal_path = journal
        self.json = output_format == "json"
        self._output_format = output_format
        self._closing = ExitStack()
        self._journal: Journal | None = None
        self.adapter_options: dict = {}

    def __enter__(self) -> Session:
        try:
            if self._output_format not in ("text", "json"):
                raise InvalidInput([Problem("CLI001", f"--output {self._output_format!r}",
                                            fix="use --output text or json")])
            logs.configure(self._log_format, "info" if self._verbose else "warning")  # warnings always show
            self.settings: Settings = load_settings(self._config)
        except BaseException as exc:
            if not self.__exit__(type(exc), exc, exc.__traceback__):
                raise
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        self._closing.close()
        if isinstance(error, InvalidInput):
            print_problems(error.problems, as_json=self.json)
            raise typer.Exit(Exit.INVALID) from None
        if isinstance(error, AdapterError):  # the cloud refused something outside any step (reading to plan)
            stderr.print(f"[red]failed[/]: {redact(str(error))}")
            raise typer.Exit(Exit.FAILED) from None
        if isinstance(error, JournalError):  # the run stops rather than act unrecorded; what it did is journaled
            stderr.print(f"[red]stopped[/]: {error}. Free the disk or fix the journal file, then `failover resume` "
                         "the run: every step reads the state before it acts.")
            raise typer.Exit(Exit.FAILED) from None
        return False

    # --- what a command opens (closed when the session ends) --------------------------------------

    def adapter(self, estate: Path | None, azure: bool, state: Path | None, *, read_only: bool, fresh: bool = False):
        if estate is not None and azure:
            raise InvalidInput([Problem("CLI002", "--estate and --azure both given",
                                        fix="choose the fake (--estate FILE) or real Azure (--azure)")])
        use_azure = azure or (estate is None and self.settings.adapter == "azure")
        estate = None if use_azure else (estate or self.settings.estate)
        state = None if use_azure else (state or self.settings.state_for(estate))
        self.adapter_options = {"azure": use_azure, "estate": str(estate) if estate else None,
                                "state": str(state) if state else None}
        adapter = wiring.open_adapter(self.settings, estate=estate, azure=use_azure, state=state,
                                      read_only=read_only, fresh=fresh)
        self._closing.callback(adapter.close)
        return adapter

    @property
    def journal(self) -> Journal:
        if self._journal is None:
            self._journal = Journal(self._journal_path or self.settings.journal,
                                    fsync_intents=self.settings.journal_fsync)
            self._closing.callback(self._journal.close)
        return self._journal

    def load(self, runbook: Path, params: list[str] | None, adapter) -> tuple[LoadedRunbook, dict, list[Problem]]:
        """The runbook and its parameter values; any error stops the command before anything runs."""
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

    # --- output ------------------------------------------------------------------------------------

    def emit(self, document: dict, text: str | None = None) -> None:
        """The result: one JSON document, or text for a person."""
        if self.json:
            print_json(document)
        elif text is not None:
            stdout.print(redact(text))

    def note(self, text: str) -> None:
        """A line for the person at the terminal (stderr), never in JSON output."""
        if not self.json:
            stderr.print(text)

    def confirm_real_cloud(self, loaded: LoadedRunbook, yes: bool) -> None:
        """A run that writes to real Azure goes ahead only with ``--yes`` or the runbook's name typed."""
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


def print_json(document) -> None:
    sys.stdout.write(json.dumps(redact_data(document), indent=2, default=str) + "\n")


def print_problems(problems: list[Problem], *, as_json: bool = False) -> None:
    if as_json:
        errors = [p.to_json() for p in problems if p.severity != WARNING]
        warnings = [p.to_json() for p in problems if p.severity == WARNING]
        print_json({"valid": False, "errors": errors, "warnings": warnings})
        return
    for problem in problems:
        label = "warning" if problem.severity == WARNING else "error"
        stderr.print(f"[{'yellow' if label == 'warning' else 'red'}]{label}[/] {escape(redact(str(problem)))}",
                     markup=True, highlight=False)
    count = sum(1 for p in problems if p.severity != WARNING)
    stderr.print(f"{count} error(s); nothing was executed.")
