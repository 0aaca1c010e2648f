"""The journal's group commit: rows written behind the steps, reads see their own writes, an intent is
committed before its call returns, and a journal that cannot be written stops the run."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine.run import batches
from engine.run.journal import SCHEMA, Journal, JournalError
from engine.run.records import RunResult, StepRecord
from engine.run.status import StepStatus


def started(journal: Journal) -> tuple[RunResult, StepRecord]:
    record = StepRecord(id="s1", uses="network.routes")
    result = RunResult(run_id="r1", runbook="rb", adapter="fake", dry_run=False, parameters={}, steps=[record])
    journal.acquire("test", "r1")  # a run holds its target's lock while it goes
    journal.begin_run(result, runbook_path="rb.yaml", runbook_sha256="0" * 64, scope="test")
    return result, record


def test_queued_rows_are_read_back_and_survive_close(tmp_path):
    journal = Journal(tmp_path / "j.db")
    result, record = started(journal)
    record.move(StepStatus.RUNNING)
    journal.step_changed(result, record)
    assert journal.load("r1")[1].steps[0].status == StepStatus.RUNNING  # read-your-writes
    record.move(StepStatus.SUCCEEDED)
    journal.step_changed(result, record)
    journal.close()  # flushes what is still queued
    again = Journal(tmp_path / "j.db")
    assert again.load("r1")[1].steps[0].status == StepStatus.SUCCEEDED
    assert [t["status"] for t in again.transitions("r1") if t["step_id"] == "s1"] == ["running", "succeeded"]
    again.close()


def test_rows_queued_before_an_intent_are_committed_with_it_while_the_writer_gathers(tmp_path):
    """Woken by a row, the writer gathers for ``GATHER_S`` before it commits: a step that waits for its
    intent meanwhile commits the rows queued before it in its own commit, one commit rather than two, and
    does not wait behind the writer's. A journal closing ends the gathering at once."""
    gathering = threading.Event()

    class Watched(threading.Event):
        def wait(self, timeout=None):
            gathering.set()
            return super().wait(timeout)

    journal = Journal(tmp_path / "j.db")
    journal.GATHER_S = 3600.0  # the writer, once woken, gathers until the journal closes
    journal._closing = Watched()
    result, record = started(journal)
    batches_committed: list[int] = []
    apply = journal._one_statement.apply
    journal._one_statement.apply = lambda statements: batches_committed.append(len(statements)) or apply(statements)
    record.move(StepStatus.RUNNING)
    journal.step_changed(result, record)  # a step row and its transition: queued, the writer woken
    assert gathering.wait(timeout=60), "the writer, woken by a row, did not gather"
    journal.operation(result, record, "put_route", "intent", "route r")  # waited for
    assert batches_committed == [3]
    assert [o["phase"] for o in journal.operations("r1")] == ["intent"]
    closing = threading.Thread(target=journal.close)
    closing.start()
    closing.join(timeout=60)
    assert not closing.is_alive(), "close waited for the writer's gathering to run out"
    assert batches_committed == [3]  # the writer found nothing left to commit


# A process that journals a step's change and its intent, then dies with kill -9 while the writer
# thread is stopped: nothing is committed behind it any more.
CRASHING = """
import os, signal, sys, threading
sys.path.insert(0, {repo!r})
from engine.run.journal import Journal
from engine.run.status import StepStatus
from tests.engine.test_journal import started

journal = Journal({path!r}, fsync_intents={fsync})
result, record = started(journal)
journal.operation(result, record, "put_route", "intent", "route first")
journal._signal.notify_all = lambda: None  # the writer thread is never woken again
record.move(StepStatus.RUNNING)
record.action, record.undo = "update", {{"route": "r", "previous": "10.0.0.4"}}
journal.step_changed(result, record)  # queued only
journal.operation(result, record, "put_route", "intent", "route second")
journal.step_changed(result, record)  # queued after the intent: may be lost
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("fsync", [False, True])
def test_an_intent_survives_the_process_once_operation_returns(tmp_path, fsync):
    """An intent, and everything the step journaled before it, survive kill -9 the moment ``operation``
    returns: they are committed before the call is sent (and fsync'd with ``fsync_intents``)."""
    path = tmp_path / "j.db"
    script = CRASHING.format(repo=str(Path(__file__).resolve().parents[2]), path=str(path), fsync=fsync)
    died = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert died.returncode == -signal.SIGKILL, died.stderr
    journal = Journal(path)
    assert [(o["phase"], o["detail"]) for o in journal.operations("r1")] == [
        ("intent", "route first"), ("intent", "route second")]
    run = journal.load("r1")[1]
    step = run.steps[0]
    # Its process is gone: the run shows interrupted, and the step it was running is to be read again.
    assert str(run.status) == "interrupted"
    assert (step.status, step.action, step.undo) == (StepStatus.PENDING, "update",
                                                     {"route": "r", "previous": "10.0.0.4"})
    journal.close()


def test_a_journal_that_cannot_be_written_stops_the_writer_and_says_so(tmp_path):
    journal = Journal(tmp_path / "j.db")
    result, record = started(journal)
    with journal._lock:
        journal._db.execute("DROP TABLE transitions")  # what a corrupt or vanished file looks like to SQLite
    journal.step_changed(result, record)
    with pytest.raises(JournalError, match="transitions"):
        journal.flush()
    with pytest.raises(JournalError):
        journal.operation(result, record, "put_route", "intent", "route r")


def test_a_journal_row_holds_no_secret_even_where_json_escapes_it():
    """Rows are scrubbed when a known value shows in them, as written or escaped inside a JSON string,
    and stay valid JSON; a row without one is written as it is."""
    from adapters.shared.secret import Secret
    from engine.run.journal import _dump

    value = 'k"ey\\é-canary-61c2'
    Secret(value)
    row = _dump({"error": f"rejected {value} here", "seen": [{value: 1}], "key": Secret(value)})
    assert json.loads(row) == {"error": "rejected *** here", "seen": [{"***": 1}], "key": "***"}
    assert "61c2" not in row
    assert _dump({"error": "nothing to hide", "n": 1}) == json.dumps({"error": "nothing to hide", "n": 1},
                                                                     sort_keys=True)


def test_a_journal_an_earlier_version_wrote_opens_with_its_history(tmp_path):
    """A journal from before the file carried its application id, with the redo log table that version
    kept: still a journal, its runs readable, not refused as another program's database."""
    import sqlite3

    path = tmp_path / "journal.db"
    older = sqlite3.connect(path)
    older.executescript("CREATE TABLE redo (seq INTEGER PRIMARY KEY, sql TEXT);")
    older.close()
    journal = Journal(path)
    try:
        assert journal.runs(limit=5) == []
    finally:
        journal.close()


def _journal_tables(db: sqlite3.Connection) -> dict[str, list[tuple]]:
    return {table: db.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()
            for table in ("runs", "steps", "transitions", "operations", "jobs", "locks")}


def _mixed_statements() -> list[tuple[str, tuple]]:
    """A run's journal rows as they are queued: a run, a lock, step rows (a step's later row wins),
    transitions, jobs (some twice), and now and then an UPDATE or a DELETE that must see what came before."""
    rng = random.Random(7)
    run_row = ("INSERT INTO runs (run_id, runbook, runbook_path, runbook_sha256, parameters, adapter, scope, dry_run,"
               " status, operator, host, pid, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)")
    statements = [(run_row, ("r1", "rb", "rb.yaml", "0" * 64, "{}", "fake", "s", 0, "running", "op", "h", 1, 0.0)),
                  ("INSERT OR REPLACE INTO locks (scope, run_id, pid, host, operator, acquired_at, heartbeat_at)"
                   " VALUES (?,?,?,?,?,?,?)", ("s", "r1", 1, "h", "op", 0.0, 0.0))]
    for n in range(700):
        step = f"s{rng.randrange(40)}"
        record = StepRecord(id=step, uses="network.routes", attempts=n)
        statements.append(Journal._upsert_step("r1", int(step[1:]), record))
        statements.append(("INSERT INTO transitions (run_id, step_id, status, at) VALUES (?,?,?,?)", ("r1", step, "running", n)))
        if n % 97 == 0:
            statements.append(("UPDATE runs SET status=?, updated_at=? WHERE run_id=?", (f"status-{n}", n, "r1")))
        if n % 5 == 0:
            statements.append(("INSERT OR IGNORE INTO jobs (run_id, step_id, job_id, vault, operation, target, at)"
                               " VALUES (?,?,?,?,?,?,?)", ("r1", step, f"job-{n % 60}", "{}", "op", "vm", n)))
        if n == 500:
            statements.append(("DELETE FROM locks WHERE scope=?", ("s",)))
    return statements


def _applied_one_by_one_and_empty(statements) -> tuple[sqlite3.Connection, sqlite3.Connection]:
    """Two journals' tables: ``statements`` applied one by one to the first; the second empty."""
    one_by_one = sqlite3.connect(":memory:", isolation_level=None)
    empty = sqlite3.connect(":memory:", isolation_level=None)
    for db in (one_by_one, empty):
        db.executescript(SCHEMA)
    for sql, params in statements:
        one_by_one.execute(sql, params)
    return one_by_one, empty


def test_a_batch_applied_in_few_calls_leaves_what_its_statements_one_by_one_leave():
    """Rows of one table keep their order (a step's later row wins), an UPDATE or DELETE sees every row
    queued before it, and sizes beyond one statement's chunk are split without loss."""
    statements = _mixed_statements()
    one_by_one, batched = _applied_one_by_one_and_empty(statements)
    traced: list[str] = []
    batched.set_trace_callback(traced.append)
    batches.apply(batched, statements)
    assert _journal_tables(batched) == _journal_tables(one_by_one)
    assert len(_journal_tables(batched)["transitions"]) == 700 and not _journal_tables(batched)["locks"]
    # Each UPDATE or DELETE (9) writes what is held first: some 100 calls, against 1,500-odd one by one.
    assert len(statements) > 1500 and len(traced) < 120


def test_a_batch_applied_as_one_statement_leaves_what_its_statements_one_by_one_leave():
    """Batches of every size up to the most one statement takes, each one INSERT into the view, in
    autocommit: the same tables as the statements one by one, in their order."""
    statements = _mixed_statements()
    one_by_one, as_one = _applied_one_by_one_and_empty(statements)

    class Counted:  # the connection, its calls counted
        def __init__(self):
            self.calls: list[str] = []

        def execute(self, sql, *params):
            self.calls.append(sql)
            return as_one.execute(sql, *params)

        def getlimit(self, limit):
            return as_one.getlimit(limit)

    counted = Counted()
    applier = batches.OneStatement(counted)
    sizes = [1, 2, 3, 5, 17, 64, 100, 255, 256]
    start = batch_number = 0
    while start < len(statements):
        batch = statements[start:start + sizes[batch_number % len(sizes)]]
        counted.calls.clear()
        assert applier.apply(batch) and not as_one.in_transaction
        assert [sql for sql in counted.calls if not sql.startswith("CREATE TEMP TRIGGER")] == \
            [applier.insert[applier.size(len(batch))]]  # one call, once each statement has its trigger
        start, batch_number = start + len(batch), batch_number + 1
    assert _journal_tables(as_one) == _journal_tables(one_by_one)
    assert batch_number > 10


def test_a_batch_one_statement_cannot_stand_for_is_left_to_the_caller_untouched():
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.executescript(SCHEMA)
    applier = batches.OneStatement(db)
    row = ("INSERT INTO transitions (run_id, step_id, status, at) VALUES (?,?,?,?)", ("r1", "s1", "running", 1.0))
    quoted = ("UPDATE runs SET status='done' WHERE run_id=?", ("r1",))
    assert not applier.apply([row, quoted])  # a quote: not turned into a trigger
    assert not applier.apply([row] * (applier.most + 1))  # more rows than one statement takes
    assert not applier.apply([])
    assert db.execute("SELECT COUNT(*) FROM transitions").fetchone() == (0,)  # nothing of them applied


def test_a_batch_as_one_statement_is_all_or_nothing():
    """One statement is one transaction: a row SQLite refuses (a NOT NULL column left empty) leaves none
    of the batch, the rows before it included."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.executescript(SCHEMA)
    applier = batches.OneStatement(db)
    good = ("INSERT INTO transitions (run_id, step_id, status, at) VALUES (?,?,?,?)", ("r1", "s1", "running", 1.0))
    bad = ("INSERT INTO transitions (run_id, step_id, status, at) VALUES (?,?,?,?)", ("r1", "s1", None, 2.0))
    with pytest.raises(sqlite3.IntegrityError):
        applier.apply([good, good, bad])
    assert db.execute("SELECT COUNT(*) FROM transitions").fetchone() == (0,) and not db.in_transaction


def test_a_batch_of_step_changes_is_one_statement_per_table_per_power_of_two():
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.executescript(SCHEMA)
    statements = []
    for n in range(100):
        statements.append(Journal._upsert_step("r1", n, StepRecord(id=f"s{n}", uses="network.routes")))
        statements.append(("INSERT INTO transitions (run_id, step_id, status, at) VALUES (?,?,?,?)",
                           ("r1", f"s{n}", "running", n)))
    traced: list[str] = []
    db.set_trace_callback(traced.append)
    batches.apply(db, statements)
    assert len(traced) == 6  # 100 rows = 64 + 32 + 4, for each of the two tables
    assert db.execute("SELECT COUNT(*) FROM steps").fetchone() == (100,)
    assert [r[0] for r in db.execute("SELECT step_id FROM transitions ORDER BY seq")] == [f"s{n}" for n in range(100)]


def test_a_batch_stays_within_the_values_an_older_sqlite_takes_in_one_statement():
    """SQLite before 3.32 takes at most 999 values in a statement: 100 step rows of 20 values each go in
    chunks of 32 (640 values) or fewer."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    db.executescript(SCHEMA)
    db.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    statements = [Journal._upsert_step("r1", n, StepRecord(id=f"s{n}", uses="network.routes")) for n in range(100)]
    traced: list[str] = []
    db.set_trace_callback(traced.append)
    batches.apply(db, statements)
    assert len(traced) == 4  # 32 + 32 + 32 + 4
    assert db.execute("SELECT COUNT(*) FROM steps").fetchone() == (100,)
