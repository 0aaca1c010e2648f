"""A journal that disappears or stops accepting writes stops the run before its next mutating call,
at once and saying why (not after a timeout, and never ending `succeeded` with its record gone); a
second run of the same target in this process is refused; a lost lock stops the run."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from engine.run.journal import Journal, JournalError, LockHeld
from engine.run.runs import execute, locked
from tests.engine.runbooks import TARGET, loaded_from

CHAIN = TARGET + """\
steps:
  - {id: first, uses: dns.record, with: {zone: woodgrove.example, name: first, ip: 10.1.1.1}}
  - {id: second, uses: dns.record, needs: [first], with: {zone: woodgrove.example, name: second, ip: 10.1.1.2}}
  - {id: third, uses: dns.record, needs: [second], with: {zone: woodgrove.example, name: third, ip: 10.1.1.3}}
"""


class When:
    """An observer that does ``then`` once the step ``step`` has succeeded."""

    def __init__(self, step: str, then):
        self.step, self.then, self.done = step, then, False

    def step_changed(self, result, record) -> None:
        if record.id == self.step and str(record.status) == "succeeded" and not self.done:
            self.done = True
            self.then()


def chain(tmp_path: Path):
    path = tmp_path / "chain.yaml"
    path.write_text(CHAIN)
    return loaded_from(path)


def records_written(adapter) -> list[str]:
    return [entry["resource"].rsplit("/", 1)[-1] for entry in adapter.ledger()
            if entry["operation"].startswith("record_sets.")]


def test_a_journal_deleted_mid_run_stops_it_before_its_next_change(tmp_path, fake):
    adapter = fake()
    path = tmp_path / "journal.db"
    journal = Journal(path)

    def delete() -> None:
        for name in ("journal.db", "journal.db-wal", "journal.db-shm"):
            (tmp_path / name).unlink(missing_ok=True)

    with pytest.raises(JournalError, match="deleted or replaced"):
        execute(chain(tmp_path), {}, adapter, journal, options={}, observer=When("first", delete))
    assert records_written(adapter) == ["first"]  # second and third were never sent


def test_a_full_disk_stops_the_run_before_its_next_change_at_once(tmp_path, fake):
    adapter = fake()
    journal = Journal(tmp_path / "journal.db")

    def fill() -> None:
        """What a full disk looks like to SQLite: no page can be added."""
        with journal._lock:
            journal._db.execute("CREATE TABLE filler (x BLOB)")
            (pages,) = journal._db.execute("PRAGMA page_count").fetchone()
            journal._db.execute(f"PRAGMA max_page_count={pages + 8}")
            for insert in ("INSERT INTO filler VALUES (zeroblob(2048))",  # every free page taken
                           # and the room left in the pages the run's next rows go to
                           "INSERT INTO transitions (run_id, status, at) VALUES ('filler', 'x', 0)",
                           "INSERT INTO operations (run_id, step_id, operation, phase, at)"
                           " VALUES ('filler', 'x', 'x', 'x', 0)"):
                with pytest.raises(sqlite3.OperationalError, match="full"):
                    while True:
                        journal._db.execute(insert)

    started = time.monotonic()
    with pytest.raises(JournalError, match="disk is full"):
        execute(chain(tmp_path), {}, adapter, journal, options={}, observer=When("first", fill))
    assert time.monotonic() - started < 30
    assert records_written(adapter) == ["first"]


def test_one_writer_per_target_even_for_the_same_run(tmp_path):
    """A lock this process holds is its own to take again; another holder that is alive is refused,
    whatever run it names, this one included."""
    journal = Journal(tmp_path / "journal.db")
    with locked(journal, "target", "r1"), locked(journal, "target", "r1"):
        assert journal.holder("target").run_id == "r1"
    assert journal.holder("target") is None  # released by the outermost hold
    journal.acquire("target", "r1")
    with journal._lock:  # the same run, held by another live process (pid 1 on this host)
        journal._db.execute("UPDATE locks SET pid=1, started=NULL")
    with pytest.raises(LockHeld, match="run r1"):
        journal.acquire("target", "r1")


def test_a_run_whose_lock_is_released_from_outside_stops(tmp_path, fake, monkeypatch):
    """`failover unlock` while the run goes: the heartbeat finds the lock gone, and the run stops before
    its next change."""
    import engine.run.runs as runs

    adapter = fake()
    journal = Journal(tmp_path / "journal.db")
    monkeypatch.setattr(runs, "HEARTBEAT_S", 0.01)
    runners = []

    class Kept(runs.Runner):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            runners.append(self)

    monkeypatch.setattr(runs, "Runner", Kept)

    def unlock_then_wait_for_the_stop() -> None:
        journal.unlock(journal.locks()[0].scope, "testing")
        assert runners[0].cancel.wait(timeout=60), "the run did not hear that its lock was released"

    result = execute(chain(tmp_path), {}, adapter, journal, options={},
                     observer=When("first", unlock_then_wait_for_the_stop))
    assert str(result.status) == "interrupted"
    assert records_written(adapter) == ["first"]
    assert journal.lock_events()[-1]["action"] == "unlocked"


def test_a_step_that_acts_again_keeps_what_its_first_attempt_must_undo():
    """A test failover started for app01, then the process died; the resumed step starts the others: the
    cleanup covers app01 too, and goes back to the state before the first attempt."""
    from engine.run.step import merged_undo

    first = {"undo": "test failover cleanup", "items": ["app01"], "vault": {"vault": "v"}}
    again = {"undo": "test failover cleanup", "items": ["app02", "web01"], "vault": {"vault": "v"}}
    assert merged_undo(first, again)["items"] == ["app01", "app02", "web01"]
    before = {"item": "app01", "previous": {"test_ip": None}, "changed": ["test_ip"]}
    later = {"item": "app01", "previous": {"test_ip": "192.168.1.10"}, "changed": ["test_network"]}
    merged = merged_undo(before, later)
    assert merged["previous"] == {"test_ip": None} and merged["changed"] == ["test_ip", "test_network"]
    assert merged_undo({}, later) == later


def test_a_journal_locked_by_another_process_mid_run_is_said_to_be_locked_not_damaged(tmp_path):
    """SQLite's own busy error (read by its code, not its wording) becomes "stayed locked ... try again",
    not the damaged file's advice to restore a backup."""
    journal = Journal(tmp_path / "j.db")
    holder = sqlite3.connect(tmp_path / "j.db", isolation_level=None)
    impatient = sqlite3.connect(tmp_path / "j.db", isolation_level=None, timeout=0)
    try:
        holder.execute("BEGIN IMMEDIATE")
        with pytest.raises(sqlite3.OperationalError) as busy:
            impatient.execute("BEGIN IMMEDIATE")
        said = str(journal._error(busy.value))
        assert "stayed locked by another process" in said and "backup" not in said, said
    finally:
        holder.close()
        impatient.close()
        journal.close()
