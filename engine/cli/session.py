"""One command's session: its settings, logs and output format; the adapter and the journal it opens
(each at most once, closed when the command ends); and the one place a user's mistake or the cloud's
refusal becomes a message and an exit code."""

from __future__ import annotations

import json
import logging
import sys
import traceback as tracebacks
from contextlib import ExitStack
from enum import IntEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.text import Text

from adapters.shared.errors import AdapterError
from adapters.shared.secret import redact, redact_data
from adapters.shared.sqlitefile import FileBusy
from engine.cli import wiring
from engine.cli.settings import Settings, journal_location, load_settings
from engine.model.loader import LoadedRunbook, load_runbook
from engine.model.params import environment_with, parse_assignments, resolve_parameters
from engine.model.problems import WARNING, InvalidInput, Problem
from engine.run import logs
from engine.run.blobjournal import JournalFenced
from engine.run.journal import JournalError, JournalUnusable
from engine.run.store import JournalStore


class Exit(IntEnum):
    OK = 0
    FAILED = 1
    INVALID = 2
    REFUSED = 3
    PAUSED = 4


stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


class Refused(Exception):
    """The command will not go ahead (confirmation missing, a lock held, a guard tripped): exit 3."""

    def __init__(self, reason: str, *, next_step: str = ""):
        super().__init__(reason)
        self.reason = reason
        self.next_step = next_step


class Session:
    """``with Session(...) as session:`` around a command's work."""

    def __init__(self, config: Path | None, *, output_format: str = "text", log_format: str = "auto",
                 verbose: bool = False, journal: str | Path | None = None, file_option: str = ""):
        self._config = config
        self._log_format, self._verbose = log_format, verbose
        self._journal_path = journal
        self.json = output_format == "json"
        self._output_format = output_format
        self._file_option = file_option  # where a command writes a file, for a --output given a file name
        self._closing = ExitStack()
        self._journal: JournalStore | None = None
        self.adapter_options: dict = {}

    def __enter__(self) -> Session:
        try:
            if self._output_format not in ("text", "json"):
                elsewhere = f"; to write a file, use {self._file_option} FILE" if self._file_option else ""
                raise InvalidInput([Problem("CLI001", f"--output (-o) is the output format, text or json, "
                                            f"not {self._output_format!r}",
                                            fix=f"use -o text or -o json{elsewhere}")])
            logs.configure(self._log_format, "info" if self._verbose else "warning")  # warnings always show
            # the SDK's own account of a failed sign-in is said once, as a message with its next step
            logging.getLogger("azure").setLevel(logging.INFO if self._verbose else logging.CRITICAL)
            self.settings: Settings = load_settings(self._config)
        except BaseException as exc:
            if not self.__exit__(type(exc), exc, exc.__traceback__):
                raise
        return self

    def __exit__(self, kind, error, traceback) -> bool:
        try:
            self._closing.close()
        except (AdapterError, JournalError, OSError) as exc:  # closing failed: said like any other failure
            error = error or exc
        if error is None or isinstance(error, typer.Exit | KeyboardInterrupt | SystemExit):
            return False
        if self._verbose and not isinstance(error, InvalidInput):
            stderr.print("".join(tracebacks.format_exception(error)).rstrip(), markup=False)
        if isinstance(error, InvalidInput):
            print_problems(error.problems, as_json=self.json)
            raise typer.Exit(Exit.INVALID) from None
        if isinstance(error, Refused):
            say_refused(error.reason, error.next_step, as_json=self.json)
            raise typer.Exit(Exit.REFUSED) from None
        if isinstance(error, FileBusy):  # nothing ran; the file is sound
            say_refused(str(error), "let that command finish (`failover status` lists runs), then run this "
                        "again; do not reset or replace the file", as_json=self.json)
            raise typer.Exit(Exit.REFUSED) from None
        if isinstance(error, AdapterError):  # the cloud refused something outside any step (reading to plan)
            say_failed(str(error), getattr(error, "hint", ""), code=error.code, as_json=self.json,
                       verbose=self._verbose)
            raise typer.Exit(Exit.FAILED) from None
        if isinstance(error, JournalUnusable):  # nothing ran: the file named is not a journal to use
            stderr.print(f"[red]error[/]: {error}. {error.fix[0].upper()}{error.fix[1:]}.")
            raise typer.Exit(Exit.INVALID) from None
        if isinstance(error, JournalFenced):  # another process took the run over: this one sends nothing more
            stderr.print(f"[red]stopped[/]: {error}. See `failover status` for the run as its new holder "
                         "carries it on.")
            raise typer.Exit(Exit.REFUSED) from None
        if isinstance(error, JournalError):  # the run stops rather than act unrecorded; what it did is journaled
            say_failed(f"stopped: {error}", "free the disk or fix the journal file, then `failover resume` the run: "
                       "every step reads the state before it acts", code="JournalError", as_json=self.json,
                       verbose=self._verbose)
            raise typer.Exit(Exit.FAILED) from None
        if isinstance(error, OSError):  # a file the command reads or writes: named, with the system's reason
            where = f" {error.filename}" if getattr(error, "filename", None) else ""
            say_failed(f"{error.strerror or error}{':' + where if where else ''}",
                       "check the path and its permissions, then run again", code=type(error).__name__,
                       as_json=self.json, verbose=self._verbose)
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
    def journal(self) -> JournalStore:
        if self._journal is None:
            location = journal_location(self._journal_path) if self._journal_path else None
            self._journal = wiring.open_journal(self.settings, location)
            self._closing.callback(self._journal.close)
        return self._journal

    def load(self, runbook: Path, params: list[str] | None, adapter) -> tuple[LoadedRunbook, dict, list[Problem]]:
        """The runbook and its parameter values; any error stops the command before anything runs."""
        loaded = load_runbook(runbook)
        given, problems = parse_assignments(params or [])
        values, param_problems = resolve_parameters(
            loaded.runbook, given, file=loaded.file, lines=loaded.line,
            fetch_secret=adapter.secrets.get_secret, environ=environment_of(adapter),
        )
        problems = loaded.problems + problems + param_problems
        if any(p.severity != WARNING for p in problems):
            raise InvalidInput(problems)
        return loaded, values, problems

    # --- output ------------------------------------------------------------------------------------

    def emit(self, document: dict, text: str | Text | None = None) -> None:
        """The result: one JSON document, or text for a person."""
        if self.json:
            print_json(document)
        elif text is not None:
            print_text(stdout, text)

    def emit_json(self, document) -> None:
        """A result that is a document whatever the format (a state dump, a ledger)."""
        print_json(document)

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
            raise Refused(f"{name} would write to real Azure and no one at a terminal confirmed it",
                          next_step="pass --yes to confirm when not on a terminal")
        stderr.print(f"[bold red]This run writes to real Azure[/] (subscription {loaded.runbook.target.subscription}).")
        typed = typer.prompt(f"Type the runbook name ({name}) to go on", default="", show_default=False)
        if typed.strip() != name:
            raise Refused("the name typed does not match the runbook's", next_step=f"type {name} to go on")


def environment_of(adapter) -> dict[str, str]:
    return environment_with(adapter.stand_in_secrets)


def print_text(console: Console, text: str | Text) -> None:
    """``text`` (rich markup, or styled text) to ``console``, any secret in it masked. To a file or a pipe,
    only its characters: laying out a 5,000-VM plan's 20,000 lines took rich 0.46 s of the command's
    3 s (docs/performance.md)."""
    if isinstance(text, Text):
        masked = redact(text.plain)
        if masked != text.plain:  # a secret in it: masked, at the cost of its styles
            text = Text(masked)
    else:
        text = redact(text)
    if console.is_terminal or console.color_system is not None:
        console.print(text)
        return
    plain = text.plain if isinstance(text, Text) else console.render_str(text).plain
    console.file.write((plain.expandtabs(console.tab_size) if "\t" in plain else plain) + "\n")


def print_json(document) -> None:
    sys.stdout.write(json.dumps(redact_data(document), indent=2, default=str) + "\n")


def say_failed(cause: str, next_step: str = "", *, code: str = "", as_json: bool = False,
               verbose: bool = False) -> None:
    """A failure as one paragraph (cause, then what to do), or as the JSON document on stdout."""
    cause = " ".join(redact(cause).split())
    if as_json:
        print_json({"status": "failed", "error": {"code": code, "message": cause, "next_step": next_step}})
    paragraph = cause.rstrip(".") + "." + (f" Next: {next_step.rstrip('.')}." if next_step else "")
    if not verbose:
        paragraph += " (-v shows the details.)"
    stderr.print(f"[red]failed[/]: {paragraph}", markup=True, highlight=False)


def say_refused(reason: str, next_step: str = "", *, as_json: bool = False) -> None:
    reason = redact(reason).strip()
    if as_json:
        print_json({"status": "refused", "error": {"code": "refused", "message": reason, "next_step": next_step}})
    paragraph = reason.rstrip(".") + "." + (f" {next_step[0].upper()}{next_step[1:].rstrip('.')}." if next_step else "")
    stderr.print(f"[yellow]refused[/]: {paragraph}", markup=True, highlight=False)


def print_problems(problems: list[Problem], *, as_json: bool = False) -> None:
    if as_json:
        errors = [p.to_json() for p in problems if p.severity != WARNING]
        warnings = [p.to_json() for p in problems if p.severity == WARNING]
        print_json({"valid": False, "status": "invalid", "errors": errors, "warnings": warnings})
        return
    for problem in problems:
        label = "warning" if problem.severity == WARNING else "error"
        stderr.print(f"[{'yellow' if label == 'warning' else 'red'}]{label}[/] {escape(redact(str(problem)))}",
                     markup=True, highlight=False)
    count = sum(1 for p in problems if p.severity != WARNING)
    stderr.print(f"{count} error(s); nothing was executed.")
