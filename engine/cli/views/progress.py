"""Readable progress while a run goes: a live table of the steps on a terminal (its title carries the run
id and the time elapsed), and for logs (cron, CI, a pipe) one line per step transition, each with the
run id, the time elapsed and every change made, and a heartbeat line every 30 seconds of the run for each
ASR job still going (job, state, how long it has run). Both go to stderr, leaving stdout to the result.

Times are the run's own seconds, the clock of its report: simulated seconds on a fake estate (its
``time_scale``), real ones on Azure."""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager, suppress

from rich.console import Console
from rich.live import Live
from rich.table import Table

from engine.cli.views.text import STATUS_STYLE
from engine.model.durations import format_duration
from engine.model.loader import LoadedRunbook
from engine.run.records import RunResult, StepRecord

HEARTBEAT_S = 30.0  # run seconds between two heartbeat lines while a job runs


def elapsed(result: RunResult | None, scale: float) -> str:
    if result is None or result.started_at is None:
        return format_duration(0.0)
    return format_duration(max(time.time() - result.started_at, 0.0) / scale)


def change_text(change) -> str:
    return f"{change.resource} {change.field}: {change.before} -> {change.after}"


SPINNER = {"running": "⟳ ", "succeeded": "✔ ", "unchanged": "= ", "failed": "✘ ", "skipped": "- ", "pending": "· "}


class LiveTable:
    def __init__(self, loaded: LoadedRunbook, console: Console, scale: float = 1.0):
        self.loaded = loaded
        self.console = console
        self.scale = scale
        self.result: RunResult | None = None
        self.live = Live(console=console, refresh_per_second=8, transient=False, redirect_stderr=False,
                         get_renderable=self.render)

    def render(self) -> Table:
        title = f"failover · {self.loaded.runbook.name}"
        if self.result is not None:
            title += f" · run {self.result.run_id} · {elapsed(self.result, self.scale)}"
        table = Table(title=title, title_justify="left", expand=False)
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
    """For logs and pipes: a line whenever a step changes status (not when it records what it is about
    to change: that is the same transition), and a heartbeat for every ASR job still going."""

    def __init__(self, console: Console, scale: float = 1.0, heartbeat_s: float = HEARTBEAT_S):
        self.console = console
        self.scale = scale
        self.heartbeat_s = heartbeat_s
        self._lock = threading.Lock()
        self._seen: dict[str, str] = {}  # step id -> the status last printed
        self._run_status: str | None = None
        self._result: RunResult | None = None
        self._jobs: dict[str, dict] = {}  # job id -> step, what, when it began, its last state
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, name="progress-heartbeat", daemon=True)

    def _say(self, result: RunResult, text: str) -> None:
        self.console.print(f"[{result.run_id} +{elapsed(result, self.scale)}] {text}", markup=False, highlight=False)

    def run_changed(self, result: RunResult) -> None:
        with self._lock:
            self._result = result
            status = str(result.status)
            if status != self._run_status:
                self._run_status = status
                self._say(result, f"run of {result.runbook}: {status}")

    def step_changed(self, result: RunResult, record: StepRecord) -> None:
        status = str(record.status)
        with self._lock:
            self._result = result
            if self._seen.get(record.id) == status:
                return
            self._seen[record.id] = status
            detail = record.error or record.reason or ""
            if status == "succeeded" and record.changes:
                detail = f"{record.action}: " + "; ".join(change_text(c) for c in record.changes)
            elif status == "unchanged":
                detail = detail or "already as wanted"
            took = (f" ({format_duration(record.duration_s)})"
                    if record.duration_s is not None and status != "running" else "")
            self._say(result, f"{status:<11} {record.id} ({record.uses}){took}  {detail}".rstrip())
            if status != "running":
                for job_id in record.jobs:
                    self._jobs.pop(job_id, None)

    def job_started(self, result, record, handle) -> None:
        with self._lock:
            self._result = result
            self._jobs[handle.job_id] = {"step": record.id, "what": f"{handle.operation} of {handle.target}",
                                         "began": time.time(), "state": "NotStarted"}
            self._say(result, f"{'job':<11} {record.id}  ASR job {handle.job_id} ({handle.operation} of "
                              f"{handle.target}) started")
            # under the lock: two steps starting jobs at once must not start the one thread twice
            if not self._beat.is_alive() and not self._stop.is_set():
                with suppress(RuntimeError):  # it ran and ended already
                    self._beat.start()

    def job_polled(self, result, job) -> None:
        with self._lock:
            known = self._jobs.get(job.id)
            if known is not None:
                known["state"] = job.state
                if job.finished:
                    self._jobs.pop(job.id, None)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_s * self.scale):
            with self._lock:
                result = self._result
                if result is None:
                    continue
                by_step: dict[str, list[tuple[str, dict]]] = {}
                for job_id, job in sorted(self._jobs.items(), key=lambda j: j[1]["began"]):
                    by_step.setdefault(job["step"], []).append((job_id, job))
                for step, jobs in by_step.items():
                    if len(jobs) <= 3:
                        for job_id, job in jobs:
                            running = format_duration((time.time() - job["began"]) / self.scale)
                            self._say(result, f"{'waiting':<11} {step}  ASR job {job_id} ({job['what']}): "
                                              f"{job['state']}, {running} so far")
                        continue
                    states: dict[str, int] = {}
                    for _, job in jobs:
                        states[job["state"]] = states.get(job["state"], 0) + 1
                    running = format_duration((time.time() - jobs[0][1]["began"]) / self.scale)
                    counts = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
                    self._say(result, f"{'waiting':<11} {step}  {len(jobs)} ASR jobs: {counts}, {running} so far")

    def close(self) -> None:
        self._stop.set()
        if self._beat.is_alive():
            self._beat.join(timeout=5)


class Quiet:
    def run_changed(self, result) -> None:
        pass

    def step_changed(self, result, record) -> None:
        pass

    def job_started(self, result, record, handle) -> None:
        pass


@contextmanager
def progress_observer(loaded: LoadedRunbook, *, enabled: bool, scale: float = 1.0):
    """``scale``: the adapter clock's (real seconds per run second)."""
    console = Console(stderr=True, highlight=False, soft_wrap=True)
    if not enabled:
        yield Quiet()
    elif sys.stderr.isatty():
        view = LiveTable(loaded, console, scale)
        with view.live:
            yield view
    else:
        lines = StepLines(console, scale)
        try:
            yield lines
        finally:
            lines.close()
