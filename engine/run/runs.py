"""Journaled runs: start one, or resume one, under the lock that keeps one run at a time per target."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from engine.model.loader import LoadedRunbook
from engine.run.journal import Journal, JournalError, LockHeld
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


class _Holding:
    """A lock this process holds: taken once, refreshed by one heartbeat, released by the outermost
    holder; whoever runs under it hears if it is lost."""

    def __init__(self) -> None:
        self.depth = 0
        self.listeners: list[Callable[[str], None]] = []
        self.stop = threading.Event()


_holding: dict[tuple[int, str], _Holding] = {}  # (journal, scope) -> this process's hold


@contextmanager
def locked(journal: Journal, scope: str, run_id: str, *, on_lost: Callable[[str], None] | None = None
           ) -> Iterator[None]:
    """Hold the target's lock (raising ``LockHeld`` naming a holder that is still there), refreshing it
    while the run goes. ``on_lost(why)`` is called if the lock is released from outside or the journal
    stops accepting the heartbeat: the run must stop before its next change."""
    key = (id(journal), scope)
    hold = _holding.get(key)
    if hold is None:
        previous = journal.acquire(scope, run_id)
        if previous is not None:
            get_logger(run_id=run_id).warning("lock.taken_over", scope=scope, from_gone_holder=previous.describe(),
                                              why=previous.gone())
        hold = _holding[key] = _Holding()
        threading.Thread(target=_beat, args=(journal, scope, run_id, hold), name="lock-heartbeat", daemon=True).start()
    hold.depth += 1
    if on_lost is not None:
        hold.listeners.append(on_lost)
    try:
        yield
    finally:
        if on_lost is not None:
            hold.listeners.remove(on_lost)
        hold.depth -= 1
        if hold.depth == 0:
            hold.stop.set()
            del _holding[key]
            # A failed journal has already stopped the run; its lock expires, or its holder is seen gone.
            with suppress(JournalError):
                journal.release(scope, run_id)


def _beat(journal: Journal, scope: str, run_id: str, hold: _Holding) -> None:
    while not hold.stop.wait(HEARTBEAT_S):
        try:
            held = journal.heartbeat(scope, run_id)
            why = None if held else f"the lock on {scope} was released (failover unlock) or taken over"
        except JournalError as exc:
            why = str(exc)
        if why is not None:
            for listener in list(hold.listeners):
                listener(why)
            return


SIGNAL_EXIT = {"SIGINT": 130, "SIGTERM": 143}


class StoppedBeforeStart(BaseException):
    """SIGINT or SIGTERM while a run was being prepared (read, checked, confirmed): nothing was sent.
    A BaseException, as KeyboardInterrupt is, so that no ``except Exception`` on the way takes it."""

    def __init__(self, signal_name: str):
        super().__init__(signal_name)
        self.signal_name = signal_name


def _stop_preparing(signum, frame):
    raise StoppedBeforeStart(signal.Signals(signum).name)


@contextmanager
def stop_before_start() -> Iterator[None]:
    """While a run is prepared under its target's lock (a resume reads the journal, loads the runbook,
    asks for confirmation), SIGINT and SIGTERM end the preparation at once with ``StoppedBeforeStart``:
    the lock is released on the way out, rather than left to be taken over from a process the signal's
    default killed. Once the run begins, ``stop_on_signals`` stops it in order instead."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.signal(number, _stop_preparing) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, before in previous.items():
            signal.signal(number, before)


@contextmanager
def stop_on_signals(runner: Runner) -> Iterator[None]:
    """SIGINT (Ctrl-C) and SIGTERM (a stopped service) stop the run in order (``Runner.stop``): no new
    change is sent, running steps reach a safe point, a drill cleans up. A second signal says what is
    still going on instead of cutting it half way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = 0

    def handler(signum, frame):
        nonlocal received
        received += 1
        name = signal.Signals(signum).name
        if received == 1:
            what = "then cleans up" if runner.drill else "then stops"
            _say(f"{name}: stopping in order: no new change is sent, the running steps reach a safe point, "
                 f"the {'drill' if runner.drill else 'run'} {what}.")
            # Not in the handler itself: it may run while this thread holds a lock the stop needs.
            threading.Thread(target=runner.stop, args=(f"{name} received", name), daemon=True).start()
        else:
            _say(f"still stopping: {runner.still_going()}. It ends by itself; to abandon it anyway, "
                 f"kill -9 {os.getpid()}, then `failover resume {runner.result.run_id}`.")

    previous = {number: signal.signal(number, handler) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, before in previous.items():
            # Once a run has begun, a signal no longer finds it in preparation: the default, not "nothing was sent".
            if before is _stop_preparing:
                before = signal.default_int_handler if number == signal.SIGINT else signal.SIG_DFL
            signal.signal(number, before)


def _say(line: str) -> None:
    with suppress(OSError):
        os.write(2, (line + "\n").encode())


def execute(loaded: LoadedRunbook, values: dict[str, Any], adapter, journal: Journal, *, options: dict,
            observer=None, prior: RunResult | None = None, concurrency: int | None = None,
            job_poll_interval: float = 5.0, kind: str = "run", cleanup_only: bool = False) -> RunResult:
    """Run (or resume, given ``prior``) a runbook with every change journaled, under its target's lock.
    ``kind="drill"``: whatever happens, every change is undone at the end, and the recovery time is
    measured against the runbook's ``rto``; ``cleanup_only``: a drill's cleanup alone."""

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
                    drill=kind == "drill", expected=expected, cleanup_only=cleanup_only)
    if expected_from:
        runner.log.info("run.ordered", by_durations_of=expected_from, steps_with_history=len(expected))
    scope = lock_scope(loaded, adapter)
    with stop_on_signals(runner), locked(journal, scope, runner.result.run_id, on_lost=runner.stop):
        if prior is None:
            runner.result.started_at = adapter.clock.wall()  # one start for the journal, the report and the rto
            journal.begin_run(runner.result, runbook_path=str(Path(loaded.file).resolve()),
                              runbook_sha256=file_sha256(loaded.file), scope=scope, kind=kind,
                              options={**options, "rto_s": loaded.runbook.rto, "time_scale": adapter.clock.scale})
        return runner.run()


def prepare_resume(journal: Journal, run_id: str, *, accept_changed: bool, cleanup: bool = False
                   ) -> tuple[Any, RunResult]:
    """The journal's record of a run that may be resumed (read under the target's lock, so that what it
    says is not changed by another process meanwhile); refuse a finished run or drill, a run whose
    changes were rolled back, or a changed runbook. ``cleanup``: only a drill's cleanup is to be done."""
    found = journal.load(run_id)
    if found is None:
        raise NotResumable(f"no run {run_id} in the journal {journal.path}")
    row, prior = found
    status = str(prior.status)
    if prior.kind == "drill":
        if prior.phase == "done" and status != "cleanup-failed":
            raise NotResumable(f"drill {run_id} has ended ({prior.verdict or status}) and cleaned up: nothing is "
                               "left to resume or clean up; start a new drill with failover drill")
    elif cleanup:
        raise NotResumable(f"run {run_id} is a run, not a drill: cleanup finishes a drill's cleanup; continue the "
                           f"run with failover resume {run_id}")
    elif status == "succeeded":
        raise NotResumable(f"run {run_id} already succeeded; there is nothing to resume")
    elif any(str(s.status) == "compensated" for s in prior.steps):
        raise NotResumable(f"run {run_id} was rolled back after a failure; start a new run rather than resume it")
    path = Path(row["runbook_path"])
    if not path.exists() and hasattr(journal, "runbook_copy"):  # resumed on another host: the copy it kept
        path = journal.runbook_copy(run_id, row["runbook_sha256"]) or path
        row = {**dict(row), "runbook_path": str(path)}
    if not path.exists():
        raise RunbookChanged(f"the runbook {path} of run {run_id} no longer exists")
    if file_sha256(path) != row["runbook_sha256"] and not accept_changed:
        raise RunbookChanged(
            f"the runbook {path} changed since run {run_id} began; resuming would run different steps than "
            "were planned. Review the change, then resume with --accept-changed-runbook, or start a new run"
        )
    return row, prior


__all__ = ["LockHeld", "RunbookChanged", "NotResumable", "SIGNAL_EXIT", "StoppedBeforeStart", "execute", "locked",
           "prepare_resume", "lock_scope", "stop_before_start"]
