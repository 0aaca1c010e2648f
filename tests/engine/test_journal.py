"""The journal's group commit: rows written behind the steps, reads see their own writes, an intent is
committed before its call returns, and a journal that cannot be written stops the run."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine.run.journal import Journal, JournalError
from engine.run.records import RunResult, StepRecord
from engine.run.status import StepStatus


def started(journal: Journal) -> tuple[RunResult, StepRecord]:
    record = StepRecord(id="s1", uses="network.routes")
    result = RunResult(run_id="r1", runbook="rb", adapter="fake", dry_run=False, parameters={}, steps=[record])
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


# A process that journals a step's change and its intent, then dies with kill -9 before the writer
# thread may commit anything more (unless the intent is committed with a full sync).
CRASHING = """
import os, signal, sys, threading
sys.path.insert(0, {repo!r})
from engine.run.journal import Journal
from engine.run.status import StepStatus
from tests.engine.test_journal import started

journal = Journal({path!r}, fsync_intents={fsync})
result, record = started(journal)
journal.operation(result, record, "put_route", "intent", "route first")
journal.flush()  # committed: the redo log's first line is in SQLite too
if not {fsync}:
    journal._commit_queued = threading.Event().wait  # the writer thread commits nothing from here on
record.move(StepStatus.RUNNING)
record.action, record.undo = "update", {{"route": "r", "previous": "10.0.0.4"}}
journal.step_changed(result, record)
journal.operation(result, record, "put_route", "intent", "route second")
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.parametrize("fsync", [False, True])
def test_an_intent_survives_the_process_once_operation_returns(tmp_path, fsync):
    """What a step journaled before its intent, and the intent, survive kill -9 the moment
    ``operation`` returns: from the redo log, replayed once (nothing twice) by the next journal
    opened, or, with ``fsync_intents``, committed."""
    path = tmp_path / "j.db"
    script = CRASHING.format(repo=str(Path(__file__).resolve().parents[2]), path=str(path), fsync=fsync)
    died = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert died.returncode == -signal.SIGKILL, died.stderr
    committed = sqlite3.connect(path).execute("SELECT detail FROM operations").fetchall()
    assert committed == ([("route first",), ("route second",)] if fsync else [("route first",)])
    assert bool(list(tmp_path.glob("j.db-redo-*"))) is not fsync

    journal = Journal(path)
    assert [(o["phase"], o["detail"]) for o in journal.operations("r1")] == [
        ("intent", "route first"), ("intent", "route second")]
    step = journal.load("r1")[1].steps[0]
    assert (step.status, step.action, step.undo) == (StepStatus.RUNNING, "update",
                                                     {"route": "r", "previous": "10.0.0.4"})
    journal.close()
    assert not list(tmp_path.glob("j.db-redo-*"))
    assert Journal(path).operations("r1")[-1]["detail"] == "route second"  # replayed once, not again


def test_the_redo_log_of_a_live_process_is_left_to_it(tmp_path):
    """A journal opened while another holds a redo log (here: the same file, opened twice) does not
    replay it: the owner commits it, once."""
    owner = Journal(tmp_path / "j.db")
    result, record = started(owner)
    commit, gate = owner._commit_queued, threading.Event()
    owner._commit_queued = lambda: gate.wait() and commit()
    owner.operation(result, record, "put_route", "intent", "route r")
    other = Journal(tmp_path / "j.db")
    with other._lock:
        assert other._db.execute("SELECT COUNT(*) FROM operations").fetchone()[0] == 0
    gate.set()
    owner.close()
    assert [o["detail"] for o in other.operations("r1")] == ["route r"]
    other.close()
    assert not list(tmp_path.glob("j.db-redo-*"))


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


def test_a_dead_process_that_logged_nothing_leaves_no_trace(tmp_path):
    """A process killed before its first intent made no redo log, only a row saying how far it
    committed: the next journal opened forgets it; a live process's row stays."""
    journal = Journal(tmp_path / "j.db")
    result, record = started(journal)
    journal.step_changed(result, record)
    journal.flush()  # committed, with a row saying so; no intent yet, so no redo log
    with journal._lock:
        journal._db.execute("INSERT INTO redo (log, applied) VALUES (?, 3)", ("j.db-redo-999999999-dead", ))
    live = journal._redo.name
    other = Journal(tmp_path / "j.db")
    with other._lock:
        assert [row[0] for row in other._db.execute("SELECT log FROM redo")] == [live]
    other.close()
    journal.close()


def test_a_redo_log_grows_past_its_mapping_and_is_emptied_once_caught_up(tmp_path):
    """Lines go on past the first mapped megabyte, in order; the zeros after the last line end a
    replay; a log SQLite has caught up with is emptied only once it is long."""
    from engine.run import redo

    log = redo.RedoLog(tmp_path / "j.db")
    row = ("INSERT INTO operations (detail) VALUES (?)", ("x" * 1000,))

    def numbers() -> list[int]:
        with open(log.path, encoding="utf-8") as lines:
            return [seq for seq, _ in redo._numbered(lines)]

    for seq in range(1, 3001):
        log.append(seq, [row])
    assert log.path.stat().st_size > redo.MAPPED
    assert numbers() == list(range(1, 3001))
    log.caught_up()  # 3 MB: kept
    assert numbers() == list(range(1, 3001))

    log.append(3001, [row] * 6000)
    log.caught_up()
    assert numbers() == [] and log.path.stat().st_size == redo.MAPPED
    log.append(9001, [row])
    assert numbers() == [9001]
    log.remove()
    assert not log.path.exists()
