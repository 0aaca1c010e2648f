"""Readable progress while a run goes: a live table of the steps on a terminal, one line per step
change otherwise. Both go to stderr, leaving stdout to the result."""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager

from rich.console import Console
from rich.live import Live
from rich.table import Table

from engine.cli.views.text import STATUS_STYLE
from engine.model.durations import format_duration
from engine.model.loader import LoadedRunbook
from engine.run.records import RunResult, StepRecord

SPINNER = {"running": "⟳ ", "succeeded": "✔ ", "unchanged": "= ", "failed": "✘ ", "skipped": "- ", "pending": "· "}


class LiveTable:
    def __init__(self, loaded: LoadedRunbook, console: Console):
        self.loaded = loaded
        self.console = console
        self.result: RunResult | None = None
        self.live = Live(console=console, refresh_per_second=8, transient=False, redirect_stderr=False,
                         get_renderable=self.render)

    def render(self) -> Table:
        table = Table(title=f"failover · {self.loaded.runbook.name}", title_justify="left", expand=False)
        for column in ("step", "kind", "status", "tries", "time", "detail"):
            table.add_column(column, no_wrap=column != "detail")
        if self.result is None:
            return table
        for record in self.result.steps:
            status = str(record.status)
            detail = record.error or record.reason or ""
            if not detail and record.jobs and status == "running":
                detail = f"waiting for ASR job {record.jobs[-1]}"
            elif not detail and record.changes:
                detail = "; ".join(f"{c.resource.rsplit(' ', 1)[-1]} {c.field}: {c.before} → {c.after}"
                                   for c in record.changes[:2])
                if len(record.changes) > 2:
                    detail += f"; +{len(record.changes) - 2} more"
            took = format_duration(record.duration_s) if record.duration_s is not None else ""
            table.add_row(record.id, record.uses, f"[{STATUS_STYLE.get(status, '')}]{SPINNER.get(status, '')}"
                          f"{status}[/]", str(record.attempts or ""), took, detail)
        return table

    def run_changed(self, result: RunResult) -> None:
        self.result = result

    def step_changed(self, result: RunResult, record: StepRecord) -> None:
        self.result = result

    def job_started(self, result, record, handle) -> None:
        self.result = result


class StepLines:
    """For logs and pipes: a line whenever a step changes status."""

    def __init__(self, console: Console):
        self.console = console
        self._lock = threading.Lock()

    def run_changed(self, result: RunResult) -> None:
        with self._lock:
            self.console.print(f"run {result.run_id} {result.runbook}: {result.status}")

    def step_changed(self, result: RunResult, record: StepRecord) -> None:
        status = str(record.status)
        detail = record.error or record.reason or ""
        if status in ("succeeded",) and record.changes:
            detail = f"{record.action}: " + "; ".join(f"{c.resource} {c.field}: {c.before} -> {c.after}"
                                                      for c in record.changes[:3])
        with self._lock:
            self.console.print(f"  {status:<10} {record.id}  {detail}".rstrip())

    def job_started(self, result, record, handle) -> None:
        with self._lock:
            self.console.print(f"  {'job':<10} {record.id}  ASR job {handle.job_id} ({handle.operation} of {handle.target})")


class Quiet:
    def run_changed(self, result) -> None:
        pass

    def step_changed(self, result, record) -> None:
        pass

    def job_started(self, result, record, handle) -> None:
        pass


@contextmanager
def progress_observer(loaded: LoadedRunbook, *, enabled: bool):
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    if not enabled:
        yield Quiet()
    elif sys.stderr.isatty():
        view = LiveTable(loaded, console)
        with view.live:
            yield view
    else:
        yield StepLines(console)
