"""Journaled runs: start one, or resume one, under the lock that keeps one run at a time per target."""

from __future__ import annotations

import hashlib
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from engine.model.loader import LoadedRunbook
from engine.run.journal import Journal, LockHeld
from engine.run.logs import get_logger
from engine.run.observers import Observers
from engine.run.records import RunResult
from engine.run.runner import Runner

HEARTBEAT_S = 30.0


class RunbookChanged(Exception):
    pass


class NotResumable(Exception):
    pass


def file_sha256(path: Path | str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def lock_scope(loaded: LoadedRunbook, adapter) -> str:
    """What two runs may not change at once: the same vault and resource group in the same cloud."""
    target = loaded.runbook.target
    where = getattr(adapter, "identity", adapter.name)
    return f"{where}|{target.subscription}/{target.resource_group}/{target.vault or '-'}"


@contextmanager
def locked(journal: Journal, scope: str, run_id: str) -> Iterator[None]:
    """Hold the run lock (raising ``LockHeld`` naming a live holder), refreshing it while the run goes."""
    previous = journal.acquire(scope, run_id)
    log = get_logger(run_id=run_id)
    if previous is not None:
        log.warning("lock.taken_over", scope=scope, from_dead_holder=previous.describe())
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT_S):
            journal.heartbeat(scope, run_id)

    thread = threading.Thread(target=beat, name="lock-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        journal.release(scope, run_id)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a stopped service, a closed session) interrupts like Ctrl-C: the run stops at a safe point."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def execute(loaded: LoadedRunbook, values: dict[str, Any], adapter, journal: Journal, *, options: dict,
            observer=None, prior: RunResult | None = None, concurrency: int | None = None,
            job_poll_interval: float = 15.0, kind: str = "run") -> RunResult:
    """Run (or resume, given ``prior``) a runbook with every change journaled. ``kind="drill"``: whatever
    happens, every change is undone at the end, and the recovery time is measured against the runbook's
    ``rto``."""

    def approvals(step_id: str) -> dict | None:
        row = journal.approval(runner.result.run_id, step_id)
        if row is None:
            return None
        from engine.run.records import iso

        return {"approved_by": row["approved_by"], "approved_at": iso(row["at"])}

    # The order among ready steps follows how long each took when this runbook last ran here.
    expected, expected_from = journal.step_durations(loaded.runbook.name, adapter.name)
    runner = Runner(loaded, values, adapter, prior=prior, concurrency=concurrency,
                    observer=Observers(journal, observer), approvals=approvals, job_poll_interval=job_poll_interval,
                    drill=kind == "drill", expected=expected)
    if expected_from:
        runner.log.info("run.ordered", by_durations_of=expected_from, steps_with_history=len(expected))
    scope = lock_scope(loaded, adapter)
    with locked(journal, scope, runner.result.run_id):
        if prior is None:
            runner.result.started_at = adapter.clock.wall()  # one start for the journal, the report and the rto
            journal.begin_run(runner.result, runbook_path=str(Path(loaded.file).resolve()),
                              runbook_sha256=file_sha256(loaded.file), scope=scope, kind=kind,
                              options={**options, "rto_s": loaded.runbook.rto, "time_scale": adapter.clock.scale})
        with sigterm_as_interrupt():
            return runner.run()


def prepare_resume(journal: Journal, run_id: str, *, accept_changed: bool) -> tuple[Any, RunResult]:
    """The journal's record of a run that may be resumed; refuse a finished run or a changed runbook."""
    found = journal.load(run_id)
    if found is None:
        raise NotResumable(f"no run {run_id} in the journal {journal.path}")
    row, prior = found
    if str(prior.status) == "succeeded":
        raise NotResumable(f"run {run_id} already succeeded; there is nothing to resume")
    path = Path(row["runbook_path"])
    if not path.exists():
        raise RunbookChanged(f"the runbook {path} of run {run_id} no longer exists")
    if file_sha256(path) != row["runbook_sha256"] and not accept_changed:
        raise RunbookChanged(
            f"the runbook {path} changed since run {run_id} began; resuming would run different steps than "
            "were planned. Review the change, then resume with --accept-changed-runbook, or start a new run"
        )
    return row, prior


__all__ = ["LockHeld", "RunbookChanged", "NotResumable", "execute", "prepare_resume", "lock_scope"]
