"""The journal: a durable record of every run, so a crashed run resumes without repeating a side effect.

SQLite in WAL mode. Rows are written behind the steps by one writer thread, many to a transaction
(group commit), so a step never waits for another step's row. A mutating call's intent must survive the
process before the call is sent: it is committed, with every row queued before it (the step's planned
change and what undoes it), before the step goes on (WAL with ``synchronous=NORMAL``: a commit survives
the process, kill -9 included). With ``journal_fsync: true`` it is also fsync'd, to survive a host crash
as well. A row still queued when the process dies is lost, which is safe: every step reads the state
before it acts, and a job found running on an item (its ``currentScenario``) is attached to, not started
again; so a job's handle is queued like any row, not waited for.

It holds each run (the runbook's content hash, parameters without secrets, adapter, who and where),
each step's status transitions, attempts, outputs, engine overhead and adapter calls, each
mutating operation's intent (before it is sent) and outcome (after), the ASR job handles a resumed run
re-attaches to, approvals, and the locks that keep one run at a time per target. Everything written
passes through secret redaction.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from adapters.ports import JobHandle
from adapters.shared import sqlitefile
from adapters.shared.files import private_dir, private_file
from adapters.shared.secret import mentions_secret, redact, redact_data
from engine.kinds.base import Change
from engine.run import batches
from engine.run.locks import LOCK_TTL_S, LockHeld, LockHolder, me
from engine.run.records import RunResult, StepRecord
from engine.run.status import RunStatus, StepStatus

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, runbook TEXT NOT NULL, runbook_path TEXT NOT NULL, runbook_sha256 TEXT NOT NULL,
    parameters TEXT NOT NULL, adapter TEXT NOT NULL, scope TEXT NOT NULL, dry_run INTEGER NOT NULL,
    status TEXT NOT NULL, started_at REAL, finished_at REAL, duration_s REAL,
    operator TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL, kind TEXT NOT NULL DEFAULT 'run',
    options TEXT NOT NULL DEFAULT '{}', updated_at REAL NOT NULL, rto TEXT, verdict TEXT, phase TEXT,
    outcome TEXT
);
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL, step_id TEXT NOT NULL, position INTEGER NOT NULL, uses TEXT NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL, retries INTEGER NOT NULL,
    started_at REAL, finished_at REAL, duration_s REAL, error TEXT, reason TEXT, action TEXT,
    changes TEXT NOT NULL, outputs TEXT NOT NULL, jobs TEXT NOT NULL, undo TEXT NOT NULL DEFAULT '{}',
    overhead_ms REAL, calls TEXT NOT NULL DEFAULT '{}', cpu_ms REAL,
    PRIMARY KEY (run_id, step_id)
);
CREATE TABLE IF NOT EXISTS transitions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, step_id TEXT, status TEXT NOT NULL, at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS operations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, step_id TEXT NOT NULL, operation TEXT NOT NULL,
    phase TEXT NOT NULL, detail TEXT, at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    run_id TEXT NOT NULL, step_id TEXT NOT NULL, job_id TEXT NOT NULL, vault TEXT NOT NULL,
    operation TEXT NOT NULL, target TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (run_id, job_id)
);
CREATE TABLE IF NOT EXISTS approvals (
    run_id TEXT NOT NULL, step_id TEXT NOT NULL, approved_by TEXT NOT NULL, comment TEXT, at REAL NOT NULL,
    PRIMARY KEY (run_id, step_id)
);
CREATE TABLE IF NOT EXISTS schedule_claims (
    drill TEXT NOT NULL, slot TEXT NOT NULL, claimed_by TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (drill, slot));
CREATE TABLE IF NOT EXISTS locks (
    scope TEXT PRIMARY KEY, run_id TEXT NOT NULL, pid INTEGER NOT NULL, host TEXT NOT NULL,
    operator TEXT NOT NULL, acquired_at REAL NOT NULL, heartbeat_at REAL NOT NULL, started TEXT, expires_at REAL
);
CREATE TABLE IF NOT EXISTS lock_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, scope TEXT NOT NULL, action TEXT NOT NULL, run_id TEXT,
    holder TEXT NOT NULL, by TEXT NOT NULL, host TEXT NOT NULL, reason TEXT, at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS checks (
    check_id TEXT PRIMARY KEY, runbook TEXT NOT NULL, adapter TEXT NOT NULL, ready INTEGER NOT NULL,
    findings INTEGER NOT NULL, at REAL NOT NULL, document TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started_at);
CREATE INDEX IF NOT EXISTS checks_by_runbook ON checks (runbook, adapter, at);
"""

APPLICATION_ID = 0x464F4A31  # "FOJ1" in the SQLite header: this file is a failover journal
SQLITE_MAGIC = b"SQLite format 3\x00"
JOURNAL_TABLES = {"runs", "steps", "transitions", "operations", "jobs", "approvals", "schedule_claims", "locks",
                  "lock_events", "checks", "sqlite_sequence",
                  "redo"}  # a journal an earlier version wrote kept its redo log's table: still a journal


def who() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"


_ENCODER = json.JSONEncoder(default=str, sort_keys=True)  # ``json.dumps`` with options builds one per call
_EMPTY = {dict: "{}", list: "[]"}


def _dump(value: Any) -> str:
    """``value`` as JSON with every secret scrubbed (a ``Secret`` prints as ``***``). Scrubbing goes
    string by string, so the row stays valid JSON; it is needed only when a known value shows."""
    if not value and type(value) in _EMPTY:  # most of a step row's columns until the step acts
        return _EMPTY[type(value)]
    text = _ENCODER.encode(value)
    if mentions_secret(text):
        text = _ENCODER.encode(redact_data(value))
    return text


class JournalError(RuntimeError):
    """The journal could not be written: the run must stop rather than act unrecorded."""


class JournalUnusable(JournalError):
    """The journal file cannot be used at all (empty, damaged, another program's, read-only): a
    message naming the file and what to do, before anything runs."""

    def __init__(self, path: Path, problem: str, fix: str):
        super().__init__(f"the journal {path} {problem}")
        self.path, self.problem, self.fix = path, problem, fix


def _check_file(path: Path) -> bool:
    """Whether ``path`` is a journal to open (False: none yet, one is created); raise ``JournalUnusable``
    for a file that cannot be one. Read from the file's header alone, so it costs nothing."""
    if not path.exists():
        if not os.access(path.parent, os.W_OK):
            raise JournalUnusable(path, "cannot be created: its folder is not writable",
                                  f"make {path.parent} writable, or choose another with --journal")
        return False
    if path.is_dir():
        raise JournalUnusable(path, "is a folder", "give --journal a file path")
    size = path.stat().st_size
    if size == 0:
        raise JournalUnusable(path, "is empty (0 bytes): its history is gone, or it is not a journal",
                              "restore it from a backup, or move it away to start a new journal")
    try:
        with path.open("rb") as file:
            header = file.read(100)
    except PermissionError:
        raise JournalUnusable(path, "cannot be read (permission denied)",
                              f"give this user read and write access to {path}") from None
    if not header.startswith(SQLITE_MAGIC):
        raise JournalUnusable(path, "is not a failover journal (not an SQLite database); it may be damaged",
                              "check --journal / FAILOVER_JOURNAL, or restore the file from a backup")
    if len(header) == 100:
        page_size = int.from_bytes(header[16:18], "big") or 65536
        pages = int.from_bytes(header[28:32], "big")
        if size % page_size or size < pages * page_size:
            raise JournalUnusable(path, f"is truncated ({size} bytes where its header promises "
                                  f"{pages * page_size})", "restore it from a backup; `sqlite3 FILE .recover` "
                                  "may save what is left")
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        where = path if not os.access(path, os.W_OK) else path.parent
        raise JournalUnusable(path, f"is read-only ({where} is not writable)",
                              f"make it writable (chmod u+w {where}), or choose another with --journal")
    return True


def _damaged(path: Path, exc: BaseException) -> JournalUnusable:
    return JournalUnusable(path, f"is damaged ({exc})",
                           "keep a copy, then restore it from a backup; `sqlite3 FILE .recover` may save what is left")


CHECKPOINT_EVERY = 2000  # rows written between two checkpoints of the WAL (about 1,000 pages of 4 KB)


class Journal:
    GATHER_S = 0.005  # how long the writer gathers rows before a commit (see ``_write_behind``)

    def __init__(self, path: Path | str, *, fsync_intents: bool = False):
        self.path = Path(path)
        self.fsync_intents = fsync_intents  # also survive a host crash, at an fsync (ms) per mutating call
        self._identity: tuple[int, int] | None = None
        self._lock = threading.RLock()  # the connection
        existed = False
        if str(path) != ":memory:":
            private_dir(self.path.parent)
            if not _check_file(self.path):
                sqlitefile.create(self.path, lambda db: db.execute(f"PRAGMA application_id={APPLICATION_ID}"))
            existed = _check_file(self.path)
            private_file(self.path)  # one an earlier version left readable by others is tightened
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None,
                                   timeout=sqlitefile.BUSY_WAIT_S)
        self._db.row_factory = sqlite3.Row
        try:
            self._open(existed)
        except BaseException as exc:
            self._db.close()
            if not isinstance(exc, sqlite3.DatabaseError):
                raise
            if sqlitefile.is_busy(exc):
                raise sqlitefile.FileBusy(f"the journal {self.path}") from None
            if "readonly" in str(exc):
                raise JournalUnusable(self.path, "is read-only", f"make it writable (chmod u+w {self.path})") from None
            raise _damaged(self.path, exc) from None
        if str(path) != ":memory:":
            stat = self.path.stat()
            self._identity = (stat.st_dev, stat.st_ino)
        self._one_statement = batches.OneStatement(self._db)
        self._queue: list[tuple[str, tuple]] = []  # statements not yet written, in order
        self._queued = self._written = self._durable_upto = self._checked_upto = 0
        self._failure: BaseException | None = None
        self._signal = threading.Condition()
        self._closing = threading.Event()  # the writer commits what is left and ends, gathering no more
        self._positions: dict[str, dict[str, int]] = {}  # run -> step id -> position
        self._rows_since_checkpoint = 0
        self._checkpoint = threading.Event()
        self._checkpointer = None
        self._writer = threading.Thread(target=self._write_behind, name="journal-writer", daemon=True)
        self._writer.start()
        if str(path) != ":memory:":
            self._checkpointer = threading.Thread(target=self._checkpoint_behind, name="journal-checkpoint",
                                                  daemon=True)
            self._checkpointer.start()

    def _open(self, existed: bool) -> None:
        with self._lock:
            if existed:
                (application_id,) = self._db.execute("PRAGMA application_id").fetchone()
                tables = {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                # A journal written before the header was set is recognised by its tables.
                if application_id != APPLICATION_ID and (application_id != 0 or tables - JOURNAL_TABLES):
                    raise JournalUnusable(self.path, "is another program's database, not a failover journal"
                                          f" (tables: {', '.join(sorted(tables)) or 'none'})",
                                          "check --journal / FAILOVER_JOURNAL: point it at a journal, or at a "
                                          "new file to start one")
            self._db.execute("PRAGMA journal_mode=WAL")
            # Every commit survives the process (kill -9, OOM): WAL with NORMAL sync. With ``fsync_intents``
            # a write's intent survives the host too (see ``operation``).
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA wal_autocheckpoint=0")  # done behind, see _checkpoint_behind
            self._db.executescript(SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(steps)")}
            if "undo" not in columns:  # journals written before compensation was recorded
                self._db.execute("ALTER TABLE steps ADD COLUMN undo TEXT NOT NULL DEFAULT '{}'")
            if "overhead_ms" not in columns:  # journals written before engine overhead was recorded
                self._db.execute("ALTER TABLE steps ADD COLUMN overhead_ms REAL")
            if "cpu_ms" not in columns:
                self._db.execute("ALTER TABLE steps ADD COLUMN cpu_ms REAL")
            if "calls" not in columns:
                self._db.execute("ALTER TABLE steps ADD COLUMN calls TEXT NOT NULL DEFAULT '{}'")
            run_columns = {row[1] for row in self._db.execute("PRAGMA table_info(runs)")}
            if "rto" not in run_columns:
                self._db.execute("ALTER TABLE runs ADD COLUMN rto TEXT")
                self._db.execute("ALTER TABLE runs ADD COLUMN verdict TEXT")
            if "phase" not in run_columns:  # a drill's lifecycle: steps, cleanup, done
                self._db.execute("ALTER TABLE runs ADD COLUMN phase TEXT")
                self._db.execute("ALTER TABLE runs ADD COLUMN outcome TEXT")
            if "started" not in {row[1] for row in self._db.execute("PRAGMA table_info(locks)")}:
                self._db.execute("ALTER TABLE locks ADD COLUMN started TEXT")
                self._db.execute("ALTER TABLE locks ADD COLUMN expires_at REAL")
            self._db.execute(f"PRAGMA application_id={APPLICATION_ID}")

    def close(self) -> None:
        with suppress(JournalError):  # a journal that failed has said so already, to the run it stopped
            self.flush()
        self._stop_writer()
        if self._checkpointer is not None:
            self._checkpoint.set()
            self._checkpointer.join()
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction: committed, or rolled back on any error (call holding ``_lock``)."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
                self._db.execute("COMMIT")
            except BaseException:
                with suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            raise self._error(exc) from exc

    def _error(self, exc: sqlite3.DatabaseError) -> JournalError:
        """What SQLite's error means for the operator, naming the file."""
        text = str(exc)
        if "full" in text:
            return JournalError(f"the journal {self.path} cannot be written: the disk is full ({text}); free "
                                "space, then `failover resume` the run")
        if "readonly" in text:
            return JournalUnusable(self.path, "is read-only", f"make it writable (chmod u+w {self.path})")
        if sqlitefile.is_busy(exc):
            return JournalError(f"the journal {self.path} stayed locked by another process ({text}); try again")
        return _damaged(self.path, exc)

    def _fail(self, exc: BaseException) -> JournalError:
        """Remember that the journal cannot be written: every waiter and every later write hears of it."""
        if isinstance(exc, sqlite3.DatabaseError):
            exc = self._error(exc)
        with self._signal:
            self._failure = exc
            self._signal.notify_all()
        return exc if isinstance(exc, JournalError) else JournalError(f"the journal cannot be written: {exc}")

    # --- group commit ----------------------------------------------------------------------------

    def _enqueue(self, statements: list[tuple[str, tuple]], *, wait: bool = False, durable: bool = False) -> None:
        """Queue statements for the writer. With ``wait``, return once they, and everything queued
        before them, are committed; with ``durable``, once they are fsync'd. A caller that waits does not
        wait for the writer thread to be scheduled: it commits what is queued itself, in order."""
        with self._signal:
            self._raise_failure()
            self._queue.extend(statements)
            self._queued += len(statements)
            mark = self._queued
            if durable:
                self._durable_upto = mark
            if wait or durable:
                self._checked_upto = mark
            else:
                self._signal.notify_all()
                return
        while self._commit_queued(until=mark) < mark:  # another committer took our rows: theirs is the next commit
            with self._signal:
                self._raise_failure()

    def _check_still_there(self) -> None:
        """A journal deleted or replaced under a run would take the writes to an unlinked file: the run
        stops before its next mutating call rather than act unrecorded. Looked at by the committer before
        a batch that carries rows someone waits for, once for all of them (a system call is a wait for the
        interpreter, on every waiting step's path if each made its own)."""
        if self._identity is None or self._failure is not None:
            return
        try:
            stat = self.path.stat()
            same = (stat.st_dev, stat.st_ino) == self._identity
        except OSError:
            same = False
        if not same:
            self._fail(FileNotFoundError(f"{self.path} was deleted or replaced while the run was going"))

    def _raise_failure(self) -> None:
        if self._failure is not None:
            if isinstance(self._failure, JournalError):
                raise JournalError(str(self._failure)) from self._failure
            raise JournalError(f"the journal {self.path} cannot be written: {self._failure}") from self._failure

    def flush(self) -> None:
        """Wait until everything queued is committed (reads see their own writes)."""
        self._enqueue([], wait=True)

    def _write_behind(self) -> None:
        """Commit, behind the steps, the rows no one waits for. Woken by the first of them, the writer
        gathers for ``GATHER_S`` before it commits: at a busy moment, a step that waits for its intent
        commits the rows queued before it with its own (one commit, not two) rather than wait for the
        connection behind the writer's commit, which needs the interpreter, busy with the steps, after
        every call into SQLite. (PostgreSQL's ``commit_delay`` gathers commits in the same way.)"""
        while True:
            with self._signal:
                while not self._queue and not self._closing.is_set():
                    self._signal.wait()
                if not self._queue:
                    return
            self._closing.wait(self.GATHER_S)
            try:
                self._commit_queued()
            except JournalError:
                return

    def _stop_writer(self) -> None:
        """Let the writer commit what is still queued and end (an ending gathers no more)."""
        self._closing.set()
        with self._signal:
            self._signal.notify_all()
        self._writer.join()

    def _commit_queued(self, until: int | None = None) -> int:
        """Commit everything queued, in one transaction; return how many statements are committed
        in all. Batches are taken and committed under the connection's lock, so they commit in the
        order they were queued. A caller waiting ``until`` its rows are committed commits nothing if the
        commit it waited for the connection behind took them: the rows queued since are the writer's, or
        the next waiter's, and committing them would only make it wait longer."""
        with self._lock:
            with self._signal:
                self._raise_failure()
                if until is not None and self._written >= until:
                    return self._written
                batch, self._queue = self._queue, []
                upto = self._written + len(batch)
                durable = self._durable_upto > self._written
                checked = self._checked_upto > self._written
            if not batch:
                return self._written
            if checked:  # once for every waiter this batch carries, not once for each
                self._check_still_there()
                with self._signal:
                    self._raise_failure()
            try:
                if durable:
                    self._db.execute("PRAGMA synchronous=FULL")
                try:
                    if not self._one_statement.apply(batch):
                        with self._transaction():
                            batches.apply(self._db, batch)
                finally:
                    if durable:
                        self._db.execute("PRAGMA synchronous=NORMAL")
            except BaseException as exc:  # disk full, a corrupt file
                raise self._fail(exc) from exc
            with self._signal:
                self._written = upto
                self._signal.notify_all()
            self._rows_since_checkpoint += len(batch)
            if self._rows_since_checkpoint >= CHECKPOINT_EVERY:
                self._rows_since_checkpoint = 0
                self._checkpoint.set()
            return upto

    def _checkpoint_behind(self) -> None:
        """Copy the WAL into the database from a connection of its own, so the fsync that comes with it
        never holds up a commit a step is waiting for (SQLite would otherwise do it inside a commit)."""
        try:
            db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None,
                                 timeout=sqlitefile.BUSY_WAIT_S)
        except sqlite3.Error:
            return  # the journal went away: its writer says so to the run
        try:
            while not self._closing.is_set():
                self._checkpoint.wait()
                self._checkpoint.clear()
                if self._failure is None:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass  # a checkpoint only saves space; a journal that cannot be written stops the run elsewhere
        finally:
            db.close()

    def _write(self, sql: str, params: tuple = ()) -> None:
        self._enqueue([(sql, params)], wait=True)

    # --- runs and steps --------------------------------------------------------------------------

    def begin_run(self, result: RunResult, *, runbook_path: str, runbook_sha256: str, scope: str,
                  kind: str = "run", options: dict | None = None) -> None:
        now = time.time()
        self.flush()
        with self._lock, self._transaction():
            self._db.execute(
                "INSERT INTO runs (run_id, runbook, runbook_path, runbook_sha256, parameters, adapter, scope,"
                " dry_run, status, started_at, operator, host, pid, kind, options, updated_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (result.run_id, result.runbook, runbook_path, runbook_sha256, _dump(result.parameters),
                 result.adapter, scope, int(result.dry_run), str(result.status), result.started_at or now,
                 who(), socket.gethostname(), os.getpid(), kind, _dump(options or {}), now))
            for position, record in enumerate(result.steps):
                self._db.execute(*self._upsert_step(result.run_id, position, record))

    def run_changed(self, result: RunResult, *, wait: bool = True) -> None:
        """Committed before returning: a run's status and a drill's phase (cleanup begun) must not be lost."""
        self._enqueue([
            ("UPDATE runs SET status=?, started_at=COALESCE(started_at, ?), finished_at=?, duration_s=?,"
             " pid=?, host=?, updated_at=?, rto=?, verdict=?, phase=?, outcome=? WHERE run_id=?",
             (str(result.status), result.started_at, result.finished_at, result.duration_s, os.getpid(),
              socket.gethostname(), time.time(), _dump(result.rto) if result.rto is not None else None,
              result.verdict, result.phase, result.outcome, result.run_id)),
            ("INSERT INTO transitions (run_id, step_id, status, at) VALUES (?,?,?,?)",
             (result.run_id, None, str(result.status), time.time())),
        ], wait=wait)

    def step_changed(self, result: RunResult, record: StepRecord) -> None:
        """Queued, not waited for. Called by the thread that changes the record (see ``Observer``), so
        the row is a consistent snapshot."""
        positions = self._positions.get(result.run_id)
        if positions is None or len(positions) != len(result.steps):
            positions = self._positions[result.run_id] = {s.id: i for i, s in enumerate(result.steps)}
        self._enqueue([self._upsert_step(result.run_id, positions[record.id], record),
                       ("INSERT INTO transitions (run_id, step_id, status, at) VALUES (?,?,?,?)",
                        (result.run_id, record.id, str(record.status), time.time()))])

    @staticmethod
    def _upsert_step(run_id: str, position: int, record: StepRecord) -> tuple[str, tuple]:
        return (
            "INSERT OR REPLACE INTO steps (run_id, step_id, position, uses, status, attempts, retries, started_at,"
            " finished_at, duration_s, error, reason, action, changes, outputs, jobs, undo, overhead_ms, calls, cpu_ms)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (run_id, record.id, position, record.uses, str(record.status), record.attempts, record.retries,
             record.started_at, record.finished_at, record.duration_s, redact(record.error) if record.error else None,
             record.reason, record.action, _dump([c.to_json() for c in record.changes]), _dump(record.outputs),
             _dump(record.jobs), _dump(record.undo), record.overhead_ms, _dump(record.calls or {}), record.cpu_ms))

    def job_started(self, result: RunResult, record: StepRecord, handle: JobHandle) -> None:
        """Queued, not waited for: the run's record of the job. A resumed run does not need it to find the
        job again (the item names the job running on it), so the step does not wait for a commit."""
        self._enqueue([("INSERT OR IGNORE INTO jobs (run_id, step_id, job_id, vault, operation, target, at)"
                        " VALUES (?,?,?,?,?,?,?)",
                        (result.run_id, record.id, handle.job_id, _dump(handle.vault.__dict__), handle.operation,
                         handle.target, time.time()))])

    def operation(self, result: RunResult, record: StepRecord, operation: str, phase: str,
                  detail: str | None = None) -> None:
        """A mutating call: ``intent`` committed before it is sent (and fsync'd with ``fsync_intents``),
        then ``done`` or ``failed`` (queued)."""
        intent = phase == "intent"
        self._enqueue([("INSERT INTO operations (run_id, step_id, operation, phase, detail, at) VALUES (?,?,?,?,?,?)",
                        (result.run_id, record.id, operation, phase, redact(detail) if detail else None,
                         time.time()))], wait=intent, durable=intent and self.fsync_intents)

    # --- reading back ----------------------------------------------------------------------------

    def run_row(self, run_id: str) -> dict | None:
        """The run's row; a run recorded as running whose process is gone shows ``interrupted``."""
        self.flush()
        with self._reading():
            row = self._db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
        return None if row is None else self._as_found(row)

    def _as_found(self, row: sqlite3.Row) -> dict:
        found = dict(row)
        if found["status"] in ("running", "pending"):
            holder = self.holder(found["scope"])
            if holder is None or holder.run_id != found["run_id"] or not holder.alive():
                found["status"] = "interrupted"
                found["holder_gone"] = True
        return found

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Under the connection's lock; a damaged file is a clear stop, not a traceback."""
        with self._lock:
            try:
                yield
            except sqlite3.DatabaseError as exc:
                raise self._error(exc) from None

    def load(self, run_id: str) -> tuple[sqlite3.Row, RunResult] | None:
        row = self.run_row(run_id)
        if row is None:
            return None
        with self._reading():
            steps = self._db.execute("SELECT * FROM steps WHERE run_id=? ORDER BY position", (run_id,)).fetchall()
        records = [_record(s) for s in steps]
        if row.get("holder_gone"):  # its process died: a step it was running did not finish
            for record in records:
                if record.status == StepStatus.RUNNING:
                    record.move(StepStatus.PENDING)
                    record.reason = "was running when the run's process stopped; resume reads its state again"
        result = RunResult(
            run_id=row["run_id"], runbook=row["runbook"], adapter=row["adapter"], dry_run=bool(row["dry_run"]),
            parameters=json.loads(row["parameters"]), steps=records,
            status=RunStatus(row["status"]), started_at=row["started_at"], finished_at=row["finished_at"],
            duration_s=row["duration_s"], rto=json.loads(row["rto"]) if row["rto"] else None, verdict=row["verdict"],
            phase=row.get("phase"), kind=row["kind"], outcome=row.get("outcome"),
        )
        return row, result

    def runs(self, limit: int = 50, kind: str | None = None) -> list[dict]:
        self.flush()
        with self._reading():
            if kind:
                rows = self._db.execute("SELECT * FROM runs WHERE kind=? ORDER BY started_at DESC LIMIT ?",
                                        (kind, limit)).fetchall()
            else:
                rows = self._db.execute("SELECT * FROM runs ORDER BY started_at DESC LIMIT ?", (limit,)).fetchall()
        return [self._as_found(row) for row in rows]

    def step_durations(self, runbook: str, adapter: str, *, runs: int = 5) -> tuple[dict[str, float], str | None]:
        """How long each step took the last time it acted, over the latest ``runs`` finished runs and
        drills of ``runbook`` on ``adapter`` (dry runs and steps that found nothing to do do not count),
        and the newest of those runs: what the scheduler can expect of this one."""
        self.flush()
        with self._reading():
            recent = [row[0] for row in self._db.execute(
                "SELECT run_id FROM runs WHERE runbook=? AND adapter=? AND dry_run=0 AND finished_at IS NOT NULL"
                " ORDER BY started_at DESC LIMIT ?", (runbook, adapter, runs))]
            rows = self._db.execute(
                f"SELECT run_id, step_id, duration_s FROM steps WHERE run_id IN ({','.join('?' * len(recent))})"
                " AND status IN ('succeeded', 'compensated') AND duration_s IS NOT NULL", recent).fetchall()
        age = {run_id: i for i, run_id in enumerate(recent)}
        newest_last = sorted(rows, key=lambda row: -age[row["run_id"]])
        return {row["step_id"]: row["duration_s"] for row in newest_last}, recent[0] if recent else None

    def jobs(self, run_id: str) -> list[sqlite3.Row]:
        self.flush()
        with self._reading():
            return self._db.execute("SELECT * FROM jobs WHERE run_id=? ORDER BY at", (run_id,)).fetchall()

    def operations(self, run_id: str) -> list[sqlite3.Row]:
        self.flush()
        with self._reading():
            return self._db.execute("SELECT * FROM operations WHERE run_id=? ORDER BY seq", (run_id,)).fetchall()

    def transitions(self, run_id: str) -> list[sqlite3.Row]:
        self.flush()
        with self._reading():
            return self._db.execute("SELECT * FROM transitions WHERE run_id=? ORDER BY seq", (run_id,)).fetchall()

    # --- approvals -------------------------------------------------------------------------------

    def approve(self, run_id: str, step_id: str, approved_by: str, comment: str | None = None) -> None:
        self._write("INSERT OR REPLACE INTO approvals (run_id, step_id, approved_by, comment, at) VALUES (?,?,?,?,?)",
                    (run_id, step_id, approved_by, comment, time.time()))

    def approval(self, run_id: str, step_id: str) -> sqlite3.Row | None:
        self.flush()
        with self._reading():
            return self._db.execute("SELECT * FROM approvals WHERE run_id=? AND step_id=?",
                                    (run_id, step_id)).fetchone()

    # --- readiness checks (engine/check) ----------------------------------------------------------

    def record_check(self, document: dict) -> None:
        self._write("INSERT INTO checks (check_id, runbook, adapter, ready, findings, at, document)"
                    " VALUES (?,?,?,?,?,?,?)",
                    (document["check_id"], document["runbook"], document["adapter"], int(document["ready"]),
                     len(document["findings"]), document["at"], _dump(document)))

    def checks(self, runbook: str | None = None, adapter: str | None = None, limit: int = 50) -> list[dict]:
        """Readiness checks, newest first, each the document ``check`` printed."""
        self.flush()
        where, params = [], []
        for column, value in (("runbook", runbook), ("adapter", adapter)):
            if value is not None:
                where.append(f"{column}=?")
                params.append(value)
        sql = "SELECT document FROM checks" + (" WHERE " + " AND ".join(where) if where else "")
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY at DESC LIMIT ?", (*params, limit)).fetchall()
        return [json.loads(row["document"]) for row in rows]

    # --- one run at a time -----------------------------------------------------------------------

    def claim_slot(self, drill: str, slot: str, who: str) -> bool:
        """Claim a scheduled drill's cron slot; only the first scheduler to ask gets it."""
        self.flush()
        with self._reading():
            cursor = self._db.execute("INSERT OR IGNORE INTO schedule_claims (drill, slot, claimed_by, at) "
                                      "VALUES (?,?,?,?)", (drill, slot, who, time.time()))
            return cursor.rowcount == 1

    def acquire(self, scope: str, run_id: str) -> LockHolder | None:
        """Take the lock on ``scope`` for ``run_id``, whatever run holds it now, this run included (one
        writer per target); raise ``LockHeld`` naming a holder that is still there. A holder that is gone
        is taken over, journaled, and returned so that it can be reported. This process may take again
        a lock it holds (approve, then resume)."""
        now = time.time()
        host, pid, started = me()
        self.flush()
        with self._lock, self._transaction():  # one writer at a time: two runs cannot both see it free
            row = self._db.execute("SELECT * FROM locks WHERE scope=?", (scope,)).fetchone()
            previous = LockHolder(**dict(row)) if row else None
            gone = None
            if previous is not None and not previous.is_me():
                gone = previous.gone()
                if gone is None:
                    raise LockHeld(previous)
                self._db.execute(
                    "INSERT INTO lock_events (scope, action, run_id, holder, by, host, reason, at)"
                    " VALUES (?,?,?,?,?,?,?,?)", (scope, "taken-over", run_id, previous.describe(), who(), host,
                                                  gone, now))
            self._db.execute(
                "INSERT OR REPLACE INTO locks (scope, run_id, pid, host, operator, acquired_at, heartbeat_at,"
                " started, expires_at) VALUES (?,?,?,?,?,?,?,?,?)",
                (scope, run_id, pid, host, who(), now, now, started, now + LOCK_TTL_S))
        return previous if gone is not None else None

    def heartbeat(self, scope: str, run_id: str) -> bool:
        """Refresh the lock; False when this run no longer holds it (unlocked, or taken over)."""
        now = time.time()
        host, pid, _ = me()
        self.flush()
        with self._lock, self._transaction():
            cursor = self._db.execute(
                "UPDATE locks SET heartbeat_at=?, expires_at=? WHERE scope=? AND run_id=? AND host=? AND pid=?",
                (now, now + LOCK_TTL_S, scope, run_id, host, pid))
        return cursor.rowcount == 1

    def release(self, scope: str, run_id: str) -> None:
        host, pid, _ = me()
        self._write("DELETE FROM locks WHERE scope=? AND run_id=? AND host=? AND pid=?", (scope, run_id, host, pid))

    def unlock(self, scope: str, reason: str) -> LockHolder | None:
        """Release the lock on ``scope`` whoever holds it (``failover unlock``), journaling who and why."""
        self.flush()
        with self._lock, self._transaction():
            row = self._db.execute("SELECT * FROM locks WHERE scope=?", (scope,)).fetchone()
            if row is None:
                return None
            holder = LockHolder(**dict(row))
            self._db.execute("DELETE FROM locks WHERE scope=?", (scope,))
            self._db.execute(
                "INSERT INTO lock_events (scope, action, run_id, holder, by, host, reason, at) VALUES (?,?,?,?,?,?,?,?)",
                (scope, "unlocked", holder.run_id, holder.describe(), who(), socket.gethostname(), reason, time.time()))
        return holder

    def holder(self, scope: str) -> LockHolder | None:
        self.flush()
        with self._reading():
            row = self._db.execute("SELECT * FROM locks WHERE scope=?", (scope,)).fetchone()
        return LockHolder(**dict(row)) if row else None

    def locks(self) -> list[LockHolder]:
        self.flush()
        with self._reading():
            return [LockHolder(**dict(row)) for row in self._db.execute("SELECT * FROM locks ORDER BY scope")]

    def lock_events(self, scope: str | None = None) -> list[sqlite3.Row]:
        self.flush()
        with self._reading():
            if scope is None:
                return self._db.execute("SELECT * FROM lock_events ORDER BY seq").fetchall()
            return self._db.execute("SELECT * FROM lock_events WHERE scope=? ORDER BY seq", (scope,)).fetchall()


def _record(row: sqlite3.Row) -> StepRecord:
    return StepRecord(
        id=row["step_id"], uses=row["uses"], status=StepStatus(row["status"]), attempts=row["attempts"],
        retries=row["retries"], started_at=row["started_at"], finished_at=row["finished_at"],
        duration_s=row["duration_s"], error=row["error"], reason=row["reason"], action=row["action"],
        changes=[Change(**c) for c in json.loads(row["changes"])], outputs=json.loads(row["outputs"]),
        jobs=json.loads(row["jobs"]), undo=json.loads(row["undo"]),
        overhead_ms=row["overhead_ms"], cpu_ms=row["cpu_ms"], calls=json.loads(row["calls"] or "{}"),
    )
