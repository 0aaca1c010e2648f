"""The shared journal: the record of every run in a storage container several hosts share, so that a run
survives the loss of the machine that started it and is resumed from another.

Layout in the container:
- ``runs/RUN_ID/journal``: an append blob per run, one JSON line per journal statement (the run, its
  steps' transitions, each mutating call's intent and outcome, job handles, approvals), in the order
  they were written. A run is rebuilt by replaying it into a local SQLite replica, which the reads of
  ``Journal`` then answer from. Only statements on the journal's tables are replayed.
- ``runs/RUN_ID/runbook.yaml``: the runbook as the run began it, so another host can resume it.
- ``locks/DIGEST``: a target's lock, held with a blob lease, naming its holder.
- ``claims/DRILL/SLOT``: a scheduled drill's cron slot, claimed by the first scheduler to create it.
- ``checks/CHECK_ID.json``: a readiness check's document.

Fencing: the holder of a target's lock holds, under the same lease id, the lease of its run's blob, and
renews both. Every append carries that lease and the position it expects the blob to end at, so a
process that lost its lease (paused, partitioned, presumed dead, unlocked by hand) has its next write
refused by the service; and before a mutating call is sent, its intent is appended and the lease is
known to be still ours (renewed within its duration), or the step stops. Group commit: everything queued
when a step waits for its intent goes in the same append.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from itertools import groupby
from pathlib import Path

from adapters.ports import SharedStoragePort
from adapters.shared.errors import BlobMissing, LeaseHeld, LeaseLost, PositionMoved, StorageError
from engine.run import batches
from engine.run.journal import Journal, JournalError, LockHeld, LockHolder, _dump, who
from engine.run.records import RunResult

REPLAYED = re.compile(r"^(INSERT( OR (REPLACE|IGNORE))? INTO|UPDATE) "
                      r"(runs|steps|transitions|operations|jobs|approvals|lock_events)\b")
MAX_APPEND = 4 * 1024 * 1024 - 1024  # an append block holds at most 4 MiB
LEASE_MARGIN_S = 3.0  # the lease counts as ours until this long before the service would let it expire


class JournalFenced(JournalError):
    """This process lost its lease on the shared journal: another process took the run over, or it was
    unlocked by hand. It sends no further change."""


class _Fenced(Exception):
    pass


def _run_of(sql: str, params: tuple) -> str:
    if not REPLAYED.match(sql):  # every other record has a blob of its own (claims, checks)
        raise StorageError(f"not a statement of a run's journal: {sql[:60]}")
    return params[-1] if sql.startswith("UPDATE runs") else params[0]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _log(run_id: str) -> str:
    return f"runs/{run_id}/journal"


class BlobJournal(Journal):
    """A ``JournalStore`` in a shared container (``SharedStoragePort``); a local replica answers reads."""

    def __init__(self, storage: SharedStoragePort, *, lease_s: int = 60, cache: Path | None = None):
        super().__init__(":memory:")
        self.path = storage.location
        self.storage = storage
        self.lease_s = lease_s
        self.cache = cache  # where a resumed run's runbook is copied to
        self.lease_id = str(uuid.uuid4())
        self.appends = 0  # appends sent: group commit makes them fewer than the statements
        self._replayed: dict[str, int] = {}  # run -> bytes of its log applied to the replica
        self._run: str | None = None  # the run whose log this process appends to under its lease
        self._scope: str | None = None
        self._valid_until = 0.0  # monotonic: the lease is ours until then
        self._stop_renewing = threading.Event()
        self._renewer: threading.Thread | None = None

    def close(self) -> None:
        self._stop_renewing.set()
        try:
            self.flush()
        except JournalError:  # fenced or unreachable: what is still queued cannot be written, and is dropped
            with self._signal:
                self._queue.clear()
        self._stop_writer()
        with self._lock:
            self._db.close()

    # --- writing: every statement goes to the run's log, then to the replica ----------------------

    def _fail(self, exc: BaseException) -> JournalError:
        super()._fail(exc)
        if isinstance(exc, _Fenced):
            return JournalFenced(str(exc))
        return JournalError(f"the shared journal {self.path} cannot be written: {exc}")

    def _raise_failure(self) -> None:
        if isinstance(self._failure, _Fenced):
            raise JournalFenced(str(self._failure)) from None
        super()._raise_failure()

    def _commit_queued(self, until: int | None = None) -> int:
        # Everything queued, even once the caller's rows are in (``until``): an append is a request to
        # the storage, and the rows queued meanwhile had better go with it than in an append of their own.
        with self._lock:
            with self._signal:
                self._raise_failure()
                batch, self._queue = self._queue, []
                upto = self._written + len(batch)
            if not batch:
                return self._written
            try:
                for run_id, statements in groupby(batch, key=lambda s: _run_of(*s)):
                    self._append(run_id, list(statements))
            except (_Fenced, StorageError) as exc:
                raise self._fail(exc) from exc
            with self._signal:
                self._written = upto
                self._signal.notify_all()
            return upto

    def _append(self, run_id: str, statements: list[tuple[str, tuple]]) -> None:
        """Append ``statements`` to the run's log (under the lease when this process holds the run), then
        apply them to the replica. Called holding ``_lock``."""
        lines = [json.dumps({"sql": sql, "args": list(params)}, default=str).encode() + b"\n"
                 for sql, params in statements]
        chunk: list[bytes] = []
        for line in lines + [None]:
            if line is None or (chunk and sum(map(len, chunk)) + len(line) > MAX_APPEND):
                if chunk:
                    self._append_block(run_id, b"".join(chunk))
                chunk = []
            if line is not None:
                chunk.append(line)
        self._apply(statements)

    def _append_block(self, run_id: str, data: bytes) -> None:
        held = run_id == self._run
        for _ in range(5):
            position = self._replayed.get(run_id)
            if position is None:
                self._sync(run_id)
                position = self._replayed.get(run_id, 0)
            try:
                self.storage.append(_log(run_id), data, position=position, lease=self.lease_id if held else None)
                self.appends += 1
                self._replayed[run_id] = position + len(data)
                return
            except PositionMoved:
                if self._landed(run_id, position, data):  # an append retried after it was applied
                    self._replayed[run_id] = position + len(data)
                    return
                if held:
                    raise _Fenced(f"run {run_id}'s journal was written by another process: this one lost its "
                                  "lease and sends no further change") from None
                self._sync(run_id)  # not ours to hold (an approval): read what is new, then append after it
            except LeaseLost as exc:
                if held:
                    raise _Fenced(f"this process lost its lease on run {run_id} (taken over by another "
                                  f"process, or unlocked by hand): it sends no further change ({exc})") from None
                raise StorageError(f"run {run_id} is being run by another process; try again once it has "
                                   "stopped or paused") from None
        raise StorageError(f"run {run_id}'s journal kept moving while this process tried to append to it")

    def _landed(self, run_id: str, position: int, data: bytes) -> bool:
        try:
            return self.storage.read(_log(run_id), position)[:len(data)] == data
        except StorageError:
            return False

    def _apply(self, statements: list[tuple[str, tuple]]) -> None:
        with self._transaction():
            batches.apply(self._db, statements)

    def operation(self, result: RunResult, record, operation: str, phase: str, detail: str | None = None) -> None:
        super().operation(result, record, operation, phase, detail)
        if phase == "intent":
            self._still_held()  # the intent is durable; the call goes only if the lease is still ours

    def _still_held(self) -> None:
        if self._run is None or time.monotonic() < self._valid_until:
            return
        try:
            self._renew()
        except (LeaseLost, StorageError) as exc:
            raise self._fail(_Fenced(f"this process lost its lease on run {self._run} (taken over by another "
                                     f"process, or unlocked by hand): it sends no further change ({exc})")) from None

    # --- runs -----------------------------------------------------------------------------------

    def begin_run(self, result: RunResult, *, runbook_path: str, runbook_sha256: str, scope: str,
                  kind: str = "run", options: dict | None = None) -> None:
        now = time.time()
        run_id = result.run_id
        self.storage.create_log(_log(run_id), {"runbook": result.runbook, "kind": kind,
                                               "started": f"{result.started_at or now:.6f}"})
        self.storage.lease(_log(run_id), self.lease_id, self.lease_s)
        with self._lock:
            self._run, self._replayed[run_id] = run_id, 0
        with suppress(OSError):  # kept so that another host can resume the run
            self.storage.put(f"runs/{run_id}/runbook.yaml", Path(runbook_path).read_bytes())
        statements = [(
            "INSERT INTO runs (run_id, runbook, runbook_path, runbook_sha256, parameters, adapter, scope,"
            " dry_run, status, started_at, operator, host, pid, kind, options, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (result.run_id, result.runbook, runbook_path, runbook_sha256, _dump(result.parameters),
             result.adapter, scope, int(result.dry_run), str(result.status), result.started_at or now,
             who(), socket.gethostname(), os.getpid(), kind, _dump(options or {}), now))]
        statements += [self._upsert_step(run_id, position, record) for position, record in enumerate(result.steps)]
        self._enqueue(statements, wait=True)

    def runbook_copy(self, run_id: str, sha256: str) -> Path | None:
        """The runbook a run began with, copied from the container into the local cache (for a host
        where the run's runbook file is not)."""
        data = self.storage.get(f"runs/{run_id}/runbook.yaml")
        if data is None or hashlib.sha256(data).hexdigest() != sha256:
            return None
        folder = self.cache or Path(".failover/runbooks")
        folder.mkdir(parents=True, exist_ok=True)
        copy = folder / f"{run_id}.yaml"
        copy.write_bytes(data)
        return copy

    # --- reading: the replica is brought up to date from the container first --------------------

    def _sync(self, run_id: str) -> int:
        """Replay what the run's log holds beyond what the replica has; return how many bytes were new."""
        with self._lock:
            start = self._replayed.get(run_id, 0)
            try:
                data = self.storage.read(_log(run_id), start)
            except BlobMissing:
                return 0
            whole = data[:data.rfind(b"\n") + 1]
            statements = []
            for line in whole.splitlines():
                event = json.loads(line)
                if REPLAYED.match(event["sql"]):
                    statements.append((event["sql"], tuple(event["args"])))
            if statements:
                self._apply(statements)
            self._replayed[run_id] = start + len(whole)
            return len(whole)

    def _sync_all(self) -> None:
        for blob in self.storage.list("runs/"):
            if blob.name.endswith("/journal"):
                run_id = blob.name.split("/")[1]
                if blob.size != self._replayed.get(run_id, 0):
                    self._sync(run_id)

    def _synced(method: Callable) -> Callable:  # noqa: N805 - a decorator of this class's methods
        def read(self, run_id: str, *args, **kwargs):
            self.flush()
            self._sync(run_id)
            return method(self, run_id, *args, **kwargs)

        read.__name__ = method.__name__
        return read

    run_row = _synced(Journal.run_row)
    jobs = _synced(Journal.jobs)
    operations = _synced(Journal.operations)
    transitions = _synced(Journal.transitions)
    approval = _synced(Journal.approval)

    def runs(self, limit: int = 50, kind: str | None = None):
        self.flush()
        self._sync_all()
        return super().runs(limit, kind)

    def step_durations(self, runbook: str, adapter: str, *, runs: int = 5):
        self.flush()
        self._sync_all()
        return super().step_durations(runbook, adapter, runs=runs)

    def approve(self, run_id: str, step_id: str, approved_by: str, comment: str | None = None) -> None:
        self._sync(run_id)
        super().approve(run_id, step_id, approved_by, comment)

    def claim_slot(self, drill: str, slot: str, who: str) -> bool:
        record = json.dumps({"claimed_by": who, "at": time.time()}).encode()
        return self.storage.put(f"claims/{_digest(drill)}/{_digest(slot)}", record, if_absent=True)

    # --- readiness checks: a blob each ------------------------------------------------------------

    def record_check(self, document: dict) -> None:
        self.storage.put(f"checks/{document['check_id']}.json", _dump(document).encode())

    def checks(self, runbook: str | None = None, adapter: str | None = None, limit: int = 50) -> list[dict]:
        """Readiness checks, newest first, each the document ``check`` printed."""
        found = [json.loads(data) for blob in self.storage.list("checks/") if (data := self.storage.get(blob.name))]
        found = [d for d in found if runbook in (None, d.get("runbook")) and adapter in (None, d.get("adapter"))]
        return sorted(found, key=lambda d: d.get("at", 0), reverse=True)[:limit]

    # --- the run lock: a blob lease per target ----------------------------------------------------

    def _lock_blob(self, scope: str) -> str:
        return f"locks/{_digest(scope)}"

    def _read_holder(self, name: str) -> LockHolder | None:
        data = self.storage.get(name)
        if not data:
            return None
        fields = json.loads(data)
        return LockHolder(**{k: fields[k] for k in ("scope", "run_id", "pid", "host", "operator", "acquired_at",
                                                     "heartbeat_at")})

    def acquire(self, scope: str, run_id: str) -> LockHolder | None:
        """Take the target's lease for ``run_id`` (``LockHeld`` naming a holder that still has it), then the
        lease of the run's log, if it has one yet. A holder whose lease expired, or which is gone from this
        host, is taken over and returned so that it can be reported."""
        self.flush()
        name = self._lock_blob(scope)
        self.storage.put(name, b"", if_absent=True)
        previous = self._read_holder(name)
        try:
            self.storage.lease(name, self.lease_id, self.lease_s)
        except LeaseHeld:
            previous = self._read_holder(name)
            if previous is None or previous.alive() or previous.host != socket.gethostname():
                raise LockHeld(previous or LockHolder(scope, "?", 0, "?", "?", time.time(), time.time())) from None
            self.storage.break_lease(name)  # its process is gone from this host: no need to wait for expiry
            self.storage.lease(name, self.lease_id, self.lease_s)
        started = time.monotonic()
        now = time.time()
        holder = {"scope": scope, "run_id": run_id, "pid": os.getpid(), "host": socket.gethostname(),
                  "operator": who(), "acquired_at": now, "heartbeat_at": now, "lease_id": self.lease_id}
        self.storage.put(name, json.dumps(holder).encode(), lease=self.lease_id)
        self._scope = scope
        if self.storage.exists(_log(run_id)):  # a run resumed: its log is fenced from its former writer
            try:
                self.storage.lease(_log(run_id), self.lease_id, self.lease_s)
            except LeaseHeld:
                self.storage.break_lease(_log(run_id))
                self.storage.lease(_log(run_id), self.lease_id, self.lease_s)
            known = run_id in self._replayed
            with self._lock:
                self._run = run_id
                grew = self._sync(run_id)
            if grew and known:  # what was read before the lease is not what the run is now
                self.release(scope, run_id)
                raise JournalError(f"run {run_id} was still being written while it was read; run the "
                                   "command again")
        self._valid_until = started + self.lease_s - LEASE_MARGIN_S
        self._start_renewing()
        taken_over = previous is not None and previous.run_id and (previous.pid, previous.host) != (
            os.getpid(), socket.gethostname())
        return previous if taken_over else None

    def _renew(self) -> None:
        started = time.monotonic()
        if self._scope is not None:
            self.storage.renew(self._lock_blob(self._scope), self.lease_id)
        if self._run is not None and self.storage.exists(_log(self._run)):
            self.storage.renew(_log(self._run), self.lease_id)
        self._valid_until = started + self.lease_s - LEASE_MARGIN_S

    def _start_renewing(self) -> None:
        if self._renewer is not None and self._renewer.is_alive():
            return
        self._stop_renewing.clear()
        self._renewer = threading.Thread(target=self._renew_behind, name="journal-lease", daemon=True)
        self._renewer.start()

    def _renew_behind(self) -> None:
        while not self._stop_renewing.wait(self.lease_s / 4):
            try:
                self._renew()
            except LeaseLost as exc:
                self._fail(_Fenced(f"this process lost its lease on run {self._run} (taken over by another "
                                   f"process, or unlocked by hand): it sends no further change ({exc})"))
                return
            except StorageError:
                continue  # unreachable for now: the lease lapses on its own unless a renewal gets through

    def heartbeat(self, scope: str, run_id: str) -> bool:
        """Whether this process still holds ``scope`` (the lease is renewed behind, every quarter of it)."""
        return self._failure is None and self._scope == scope

    def release(self, scope: str, run_id: str) -> None:
        """Write what is queued, then give the leases back. If the writes are refused because another
        process took the run over, say so (raise ``JournalFenced``): the run must not end as if its record
        were complete."""
        self._stop_renewing.set()
        fenced = None
        try:
            self.flush()
        except JournalFenced as exc:
            fenced = exc
        except JournalError:
            pass  # the container unreachable: the lease lapses by itself
        if self._failure is None:
            with suppress(StorageError):
                self.storage.put(self._lock_blob(scope), b"", lease=self.lease_id)
        self.storage.release(self._lock_blob(scope), self.lease_id)
        if self._run is not None:
            self.storage.release(_log(self._run), self.lease_id)
        self._scope = self._run = None
        if fenced is not None:
            raise fenced

    def holder(self, scope: str) -> LockHolder | None:
        name = self._lock_blob(scope)
        if not self.storage.leased(name):
            return None
        holder = self._read_holder(name)
        return holder and LockHolder(**{**holder.__dict__, "heartbeat_at": time.time()})

    def locks(self) -> list[LockHolder]:
        held = [self._read_holder(blob.name) for blob in self.storage.list("locks/") if blob.leased]
        return sorted((h for h in held if h is not None), key=lambda h: h.scope)

    def unlock(self, scope: str, reason: str) -> LockHolder | None:
        """Break the target's lease and its run's (``failover unlock``): its holder, if it is still
        running, is fenced at its next write. Who and why go into the run's journal."""
        name = self._lock_blob(scope)
        holder = self._read_holder(name) if self.storage.leased(name) else None
        self.storage.break_lease(name)
        if holder is None:
            return None
        self.storage.break_lease(_log(holder.run_id))
        self.storage.put(name, b"")
        record = {"scope": scope, "action": "unlocked", "run_id": holder.run_id, "holder": holder.describe(),
                  "by": who(), "host": socket.gethostname(), "reason": reason, "at": time.time()}
        self.storage.put(f"runs/{holder.run_id}/unlocked-{time.time():.6f}.json", json.dumps(record).encode())
        return holder
