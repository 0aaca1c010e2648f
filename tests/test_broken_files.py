"""Broken state is a clear stop, never a traceback and never a silent loss: a journal or a fake state
file that is empty, damaged, truncated, another program's, read-only or a folder gives an exit code and a
message naming the file and what to do; a lock whose holder is gone is taken over, and one that cannot
be is released by `failover unlock`, journaled."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.shared import sqlitefile
from engine import cli
from engine.run.journal import Journal
from tests import durable
from tests.conftest import SUBNET_FAILOVER, json_out, run_cli

APPROVAL = """\
version: 1
name: lock-test
target: {subscription: 00000000-0000-0000-0000-000000000000, resource_group: woodgrove-dr, vault: woodgrove-asr-vault}
steps:
  - {id: record, uses: dns.record, with: {zone: woodgrove.example, name: lock-test, ip: 10.1.1.1}}
"""


def clear_stop(result: subprocess.CompletedProcess, code: int, *words: str) -> None:
    """The command stopped with ``code``, a message holding ``words`` (the file, what is wrong, the fix),
    and no traceback."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    flat = " ".join((result.stderr + result.stdout).split())
    for word in words:
        assert word in flat, (word, result.stderr)


def a_journal(path: Path) -> Path:
    """A journal with a run in it (a plain file, like any other journal)."""
    done = run_cli("run", str(SUBNET_FAILOVER), "--journal", str(path), "--state", str(path.parent / "s.db"),
                   "--no-preflight", "-o", "json")
    assert done.returncode == 0, done.stderr
    journal = Journal(path)
    journal._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the file itself
    journal.close()
    return path


# --- the journal ---------------------------------------------------------------------------------------


def test_a_zero_length_journal_is_not_taken_for_a_new_one(tmp_path):
    path = tmp_path / "journal.db"
    path.write_bytes(b"")
    for command in (["history"], ["run", str(SUBNET_FAILOVER), "--state", str(tmp_path / "s.db")]):
        clear_stop(run_cli(*command, "--journal", str(path)), 2, str(path), "is empty (0 bytes)", "backup")
    assert path.stat().st_size == 0  # nothing was written into it


def test_a_file_that_is_not_a_journal_is_named(tmp_path):
    path = tmp_path / "journal.db"
    path.write_text("runs:\n  - this is a YAML file, not a journal\n")
    clear_stop(run_cli("status", "--journal", str(path)), 2, str(path), "not a failover journal")


def test_another_programs_database_is_not_used_as_a_journal(tmp_path):
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    db.commit()
    db.close()
    clear_stop(run_cli("history", "--journal", str(path)), 2, str(path), "another program's database", "invoices")
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"invoices"}  # left as it was


def test_a_truncated_journal_is_named_truncated(tmp_path):
    path = a_journal(tmp_path / "journal.db")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 100])
    clear_stop(run_cli("history", "--journal", str(path)), 2, str(path), "is truncated", "backup")


def test_a_damaged_journal_is_a_clear_stop(tmp_path):
    path = a_journal(tmp_path / "journal.db")
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page:] = b"\xa5" * (len(data) - page)  # every page but the first overwritten
    path.write_bytes(bytes(data))
    clear_stop(run_cli("history", "--journal", str(path)), 2, str(path), "is damaged", "sqlite3 FILE .recover")


def test_a_journal_deleted_mid_run_stops_it_before_its_next_change(tmp_path):
    """The journal deleted while the run waits on its first jobs: the run stops before its next mutating
    call (exit 1, naming the journal), rather than go on unrecorded and end `succeeded`."""
    durable.slow_estate(tmp_path)
    process = durable.failover(tmp_path, "run", str(SUBNET_FAILOVER), "--no-preflight")
    assert durable.wait_until(tmp_path, durable.after_operation("start_network_update", "done"), process)
    sent = len(durable.fake(tmp_path, "ledger"))
    for name in ("journal.db", "journal.db-wal", "journal.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr and "deleted or replaced" in stderr and str(tmp_path / "journal.db") in stderr
    later = durable.fake(tmp_path, "ledger")[sent:]
    # at most the other target-IP updates that were already on their way; never a failover
    assert all(e["operation"].endswith(".update") for e in later), later


def test_a_folder_given_as_the_journal(tmp_path):
    clear_stop(run_cli("history", "--journal", str(tmp_path)), 2, str(tmp_path), "is a folder")


@contextmanager
def read_only(path: Path):
    """``path`` made read-only for this user: by its mode, or for root (who may write any mode) by the
    immutable flag."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        yield
        path.chmod(0o644)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode != 0:
        pytest.skip("no way to make a file read-only for root on this file system")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_journal_is_named_read_only(tmp_path):
    path = a_journal(tmp_path / "journal.db")
    with read_only(path):
        for command in (["history"], ["run", str(SUBNET_FAILOVER), "--state", str(tmp_path / "s.db")]):
            clear_stop(run_cli(*command, "--journal", str(path)), 2, str(path), "read-only", "chmod u+w")


def test_a_read_only_fake_state_is_named_read_only(tmp_path):
    state = tmp_path / "state.db"
    assert run_cli("fake", "reset", "--state", str(state)).returncode == 0
    with read_only(state):
        clear_stop(run_cli("fake", "show", "--state", str(state)), 2, str(state), "read-only")


# --- the fake estate's state ------------------------------------------------------------------------------


@pytest.mark.parametrize("content, words", [
    (b"", ["is empty (0 bytes)", "failover fake reset"]),
    (b"not a database at all" * 10, ["is not a state file", "failover fake reset"]),
])
def test_a_broken_fake_state_is_a_clear_stop_and_reset_starts_it_over(tmp_path, content, words):
    state = tmp_path / "state.db"
    state.write_bytes(content)
    clear_stop(run_cli("run", str(SUBNET_FAILOVER), "--state", str(state)), 2, str(state), *words)
    clear_stop(run_cli("fake", "show", "--state", str(state)), 2, str(state))
    assert run_cli("fake", "reset", "--state", str(state)).returncode == 0
    assert json_out(run_cli("fake", "show", "--state", str(state)))["protected_items"]


def test_another_programs_database_is_not_used_as_a_fake_state(tmp_path):
    state = tmp_path / "state.db"
    db = sqlite3.connect(state)
    db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    db.commit()
    db.close()
    clear_stop(run_cli("fake", "show", "--state", str(state)), 2, str(state), "another program's database")


def test_a_damaged_fake_state_is_a_clear_stop(tmp_path):
    state = tmp_path / "state.db"
    assert run_cli("fake", "reset", "--state", str(state)).returncode == 0
    db = sqlite3.connect(state)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    data = bytearray(state.read_bytes())
    data[4096 * 2:] = b"\x5a" * (len(data) - 4096 * 2)
    state.write_bytes(bytes(data))
    clear_stop(run_cli("fake", "show", "--state", str(state)), 2, str(state), "is damaged", "failover fake reset")


@contextmanager
def held_by_another_program(path: Path):
    """``path`` kept locked by another program's connection (the sqlite3 shell in exclusive locking mode
    does this), so that no one else can even read it."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("SELECT count(*) FROM sqlite_master").fetchone()
    try:
        yield
    finally:
        holder.close()


def in_process(*args: str):
    """The command run in this process, so that the wait for a busy file can be shortened."""
    return CliRunner().invoke(cli.app, list(args), catch_exceptions=False)


@pytest.mark.parametrize("what", ["journal", "state"])
def test_a_file_in_use_is_said_to_be_in_use_not_damaged(tmp_path, monkeypatch, what):
    """A journal or state file that another process holds past the wait: exit 3, the file named as in use,
    and none of the advice for a damaged one (a reset or a restore would lose that process's work)."""
    journal, state = tmp_path / "journal.db", tmp_path / "state.db"
    assert run_cli("run", str(SUBNET_FAILOVER), "--journal", str(journal), "--state", str(state),
                   "--no-preflight").returncode == 0
    monkeypatch.setattr(sqlitefile, "BUSY_WAIT_S", 0.2)
    busy = journal if what == "journal" else state
    with held_by_another_program(busy):
        result = in_process("history", "--journal", str(journal)) if what == "journal" \
            else in_process("fake", "show", "--state", str(state))
    assert result.exit_code == 3, result.output
    flat = " ".join(result.output.split())
    assert f"{busy} is in use" in flat and "waits up to 0.2 s" in flat, flat
    for advice in ("damaged", "failover fake reset", "backup", ".recover"):
        assert advice not in flat, flat


# --- locks --------------------------------------------------------------------------------------------------


def lock_row(journal_path: Path, **values) -> None:
    """Plant the lock a run of the lock-test runbook takes, as another holder left it."""
    journal = Journal(journal_path)
    journal.close()
    db = sqlite3.connect(journal_path)
    row = {"scope": "fake:woodgrove|00000000-0000-0000-0000-000000000000/woodgrove-dr/woodgrove-asr-vault",
           "run_id": "r-holder", "pid": 1, "host": "elsewhere", "operator": "someone", "acquired_at": time.time(),
           "heartbeat_at": time.time(), "started": None, "expires_at": time.time() + 120, **values}
    db.execute(f"INSERT OR REPLACE INTO locks ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
               tuple(row.values()))
    db.commit()
    db.close()


@pytest.fixture
def lock_test(tmp_path, estate_file):
    runbook = tmp_path / "lock-test.yaml"
    runbook.write_text(APPROVAL)
    places = ["--estate", str(estate_file()), "--state", str(tmp_path / "s.db"), "--journal", str(tmp_path / "j.db")]
    return runbook, places, tmp_path / "j.db"


def scope_of(runbook: Path, places: list[str]) -> str:
    """The scope a run of the runbook locks, as the journal records it."""
    done = run_cli("run", str(runbook), *places, "-o", "json")
    assert done.returncode == 0, done.stderr
    journal = Journal(places[places.index("--journal") + 1])
    try:
        return journal.run_row(json_out(done)["run_id"])["scope"]
    finally:
        journal.close()


def test_a_lock_whose_pid_was_reused_is_taken_over_at_once(lock_test):
    """The holder's pid now belongs to another process (this test's): its start time tells them apart."""
    runbook, places, journal_path = lock_test
    scope = scope_of(runbook, places)
    import socket

    lock_row(journal_path, scope=scope, pid=os.getpid(), host=socket.gethostname(), started="1")
    done = run_cli("run", str(runbook), *places, "-o", "json")
    assert done.returncode == 0, done.stderr
    assert "lock.taken_over" in done.stderr and "the pid was reused" in done.stderr
    events = Journal(journal_path).lock_events(scope)
    assert [e["action"] for e in events] == ["taken-over"] and "r-holder" in events[0]["holder"]
    assert "the pid was reused" in events[0]["reason"]


def test_a_lock_from_another_host_refuses_until_it_expires_or_is_unlocked(lock_test):
    runbook, places, journal_path = lock_test
    scope = scope_of(runbook, places)
    lock_row(journal_path, scope=scope)
    refused = run_cli("run", str(runbook), *places)
    clear_stop(refused, 3, "another run holds the lock", "r-holder", "elsewhere", "pid 1", "failover unlock")
    journal = ["--journal", str(journal_path)]
    clear_stop(run_cli("unlock", "woodgrove-dr/woodgrove-asr-vault", *journal), 3, "needs --yes")
    clear_stop(run_cli("unlock", "no-such-target", *journal), 2, "no lock matches", "r-holder")
    released = run_cli("unlock", "r-holder", "--yes", "--reason", "host elsewhere was decommissioned", *journal,
                       "-o", "json")
    assert released.returncode == 0, released.stderr
    assert json_out(released)["released"] is True
    event = Journal(journal_path).lock_events(scope)[-1]
    assert (event["action"], event["reason"], event["run_id"]) == ("unlocked", "host elsewhere was decommissioned",
                                                                   "r-holder")
    assert event["by"] and event["host"]
    assert run_cli("run", str(runbook), *places).returncode == 0


def test_an_expired_lock_from_another_host_is_taken_over(lock_test):
    runbook, places, journal_path = lock_test
    scope = scope_of(runbook, places)
    lock_row(journal_path, scope=scope, heartbeat_at=time.time() - 600, expires_at=time.time() - 480)
    done = run_cli("run", str(runbook), *places)
    assert done.returncode == 0, done.stderr
    assert "expired" in Journal(journal_path).lock_events(scope)[-1]["reason"]
