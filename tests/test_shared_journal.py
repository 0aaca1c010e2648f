"""The journal shared by several hosts, in Azure Blob Storage, tested against the real emulator (Azurite,
started by the tests): a run rebuilt from its blob on another host, appends fenced by the lease and the
expected position, a mutating call never sent once the lease is lost, group commit, claims and
approvals from any host, no secret in any blob; then, as operators run it, two hosts: kill -9 of the
first and resume on the second, and a paused first host fenced when let go."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import pytest
from azure.storage.blob import BlobServiceClient

from adapters.shared.errors import PositionMoved
from adapters.storage import BlobStorage
from engine.run.blobjournal import BlobJournal, JournalFenced
from engine.run.journal import LockHeld
from engine.run.records import RunResult, StepRecord
from engine.run.status import StepStatus
from tests import shared
from tests.conftest import run_cli

RUNBOOK = Path(__file__).resolve().parent.parent / "runbooks/woodgrove-subnet-failover.yaml"


def journal(url: str, lease_s: int = 15) -> BlobJournal:
    return BlobJournal(BlobStorage.open(url), lease_s=lease_s)


def begin(store: BlobJournal, run_id: str = "r1", steps: int = 1) -> tuple[RunResult, list[StepRecord]]:
    records = [StepRecord(id=f"s{i + 1}", uses="network.routes") for i in range(steps)]
    result = RunResult(run_id=run_id, runbook="rb", adapter="fake", dry_run=False, parameters={}, steps=records)
    store.acquire("target", run_id)
    store.begin_run(result, runbook_path=str(RUNBOOK), runbook_sha256="0" * 64, scope="target")
    return result, records


def test_a_run_is_rebuilt_on_another_host_from_its_blob(shared_journal):
    first = journal(shared_journal)
    result, (record,) = begin(first)
    record.move(StepStatus.RUNNING)
    first.step_changed(result, record)
    first.operation(result, record, "put_route", "intent", "route r")
    record.move(StepStatus.SUCCEEDED)
    record.outputs = {"route": "r"}
    first.step_changed(result, record)
    first.operation(result, record, "put_route", "done")
    first.release("target", "r1")
    first.close()

    second = journal(shared_journal)  # another host: an empty replica, the same container
    row, rebuilt = second.load("r1")
    assert row["runbook"] == "rb" and rebuilt.steps[0].status == StepStatus.SUCCEEDED
    assert rebuilt.steps[0].outputs == {"route": "r"}
    assert [(o["phase"], o["detail"]) for o in second.operations("r1")] == [("intent", "route r"), ("done", None)]
    assert [t["status"] for t in second.transitions("r1") if t["step_id"] == "s1"] == ["running", "succeeded"]
    assert [r["run_id"] for r in second.runs()] == ["r1"]
    second.close()


def test_a_holder_that_lost_its_lease_is_refused_and_sends_no_call(shared_journal):
    first = journal(shared_journal)
    result, (record,) = begin(first)
    first.operation(result, record, "put_route", "intent", "before")
    assert first.holder("target").run_id == "r1"
    with pytest.raises(LockHeld):  # its holder is alive: refused
        journal(shared_journal).acquire("target", "r1")

    second = journal(shared_journal)
    released = second.unlock("target", "the first host is unreachable")  # failover unlock
    assert released.run_id == "r1"
    second.acquire("target", "r1")  # takes the target and the run's blob over
    with pytest.raises(JournalFenced, match="lost its lease"):
        first.operation(result, record, "put_route", "intent", "after")  # the call is never sent
    with pytest.raises(JournalFenced):
        first.step_changed(result, record) or first.flush()
    assert [o["detail"] for o in second.operations("r1")] == ["before"]
    second.release("target", "r1")
    for store in (first, second):
        store.close()


def test_an_append_behind_the_holders_back_fences_it(shared_journal):
    """Even with the lease, an append where the holder does not expect the blob to end is refused."""
    first = journal(shared_journal)
    result, (record,) = begin(first)
    first.storage.append("runs/r1/journal", b"\n", position=first._replayed["r1"], lease=first.lease_id)
    with pytest.raises(JournalFenced):
        first.operation(result, record, "put_route", "intent", "after")
    with pytest.raises(PositionMoved):
        first.storage.append("runs/r1/journal", b"\n", position=0, lease=first.lease_id)
    first.close()


def test_an_intent_is_refused_once_the_lease_may_have_lapsed(shared_journal):
    """A holder that cannot show its lease is still its own (paused past its expiry, then taken) stops
    before the call, even when its append would have gone through."""
    first = journal(shared_journal)
    result, (record,) = begin(first)
    first._stop_renewing.set()
    second = journal(shared_journal)
    second.storage.break_lease(first._lock_blob("target"))
    second.acquire("target", "r2")  # the target taken by another run
    first._valid_until = 0.0  # as after a pause longer than the lease
    with pytest.raises(JournalFenced):
        first.operation(result, record, "put_route", "intent", "after")
    for store in (first, second):
        store.close()


def test_concurrent_steps_share_appends(shared_journal):
    store = journal(shared_journal, lease_s=60)
    result, records = begin(store, steps=16)
    before = store.appends
    barrier = threading.Barrier(16)

    def step(record: StepRecord) -> None:
        barrier.wait()
        for n in range(5):
            store.operation(result, record, "put_route", "intent", f"{record.id} {n}")

    threads = [threading.Thread(target=step, args=(r,)) for r in records]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.operations("r1")) == 80
    assert store.appends - before < 80  # group commit: waiting intents go out together
    store.close()


def test_a_drill_slot_is_claimed_once_across_hosts(shared_journal):
    first, second = journal(shared_journal), journal(shared_journal)
    assert first.claim_slot("monthly", "2026-12-01T03:00", "a") is True
    assert second.claim_slot("monthly", "2026-12-01T03:00", "b") is False
    for store in (first, second):
        store.close()


def test_an_approval_from_another_host_is_read_by_the_run(shared_journal):
    first = journal(shared_journal)
    result, (record,) = begin(first)
    first.release("target", "r1")  # paused: its process let the lock go
    other = journal(shared_journal)
    other.approve("r1", "s1", "bob", "go")
    other.close()
    assert first.approval("r1", "s1")["approved_by"] == "bob"
    first.close()


def test_a_run_on_the_shared_journal_keeps_no_secret_and_reads_from_another_folder(shared_journal, azurite,
                                                                                    estate_file, tmp_path):
    estate = estate_file()
    done = run_cli("run", str(RUNBOOK), "--estate", str(estate), "--state", str(tmp_path / "s.db"), "-o", "json")
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for command in (["status", run_id], ["history"], ["report", run_id, "--format", "json"]):
        seen = run_cli(*command, "-o", "json", cwd=elsewhere) if command[0] != "report" else \
            run_cli(*command, cwd=elsewhere)
        assert seen.returncode == 0 and run_id in seen.stdout, seen.stderr
    container = BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client(
        shared_journal.rsplit("/", 1)[1])
    blobs = {b.name: container.get_blob_client(b.name).download_blob().readall() for b in container.list_blobs()}
    assert f"runs/{run_id}/journal" in blobs
    assert not [name for name, data in blobs.items() if shared.VPN_KEY.encode() in data]


@pytest.fixture
def hosts(azurite, shared_journal):
    return shared_journal, azurite.connection_string


@pytest.fixture(scope="module")
def reference_run(azurite, tmp_path_factory):
    """The subnet failover run once without interruption: what every trial is compared with."""
    folder = tmp_path_factory.mktemp("reference")
    return shared.reference(folder, "azure-blob://devstoreaccount1/reference", azurite.connection_string, "run")


def test_kill_9_on_one_host_then_resume_on_another(hosts, reference_run, tmp_path):
    url, connection = hosts
    state, ledger, events = reference_run
    trial = shared.killed_then_resumed(tmp_path / "trial", url, connection, "run", event=events // 2)
    assert trial["killed"] and trial["run_id"] and trial["exit"] == 0
    assert trial["ledger"] == ledger  # no mutating call repeated, none missing
    assert trial["state"] == state
    assert all(s["status"] in ("succeeded", "unchanged") for s in trial["status"]["steps"])


def test_a_paused_holder_is_fenced_once_another_host_took_over(hosts, reference_run, tmp_path):
    url, connection = hosts
    storage = BlobServiceClient.from_connection_string(connection)
    _, ledger, events = reference_run
    trial = shared.paused_then_fenced(tmp_path / "trial", url, connection, "run", events // 3, storage)
    assert trial["paused"] and trial["resume_exit"] == 0, trial
    assert trial["a_exit"] == 3 and trial["a_said_lost"], trial["a_stderr"]
    assert trial["a_calls_after_resume"] == 0
    assert trial["ledger"] == ledger


def test_unlock_lets_another_host_resume_at_once(hosts, tmp_path):
    """``failover unlock`` breaks a holder's lease (journaling who and why), so that a second operator
    need not wait for it to expire."""
    url, connection = hosts
    cloud = shared.Cloud.make(tmp_path / "cloud")
    a = shared.Host.make(tmp_path / "a", url, connection, lease_s=60, hostname="host-a")  # another machine
    b = shared.Host.make(tmp_path / "b", url, connection, lease_s=60)
    process = shared.start_run(a, cloud, "run")
    shared.wait_for_event(process, 4)
    process.send_signal(signal.SIGSTOP)
    try:
        run_id = b.last_run()
        refused = b.failover("resume", run_id, "-o", "json")
        assert refused.returncode == 3 and "holds the lock" in refused.stderr
        unlocked = b.failover("unlock", run_id, "--yes", "--reason", "host a lost", "-o", "json")
        assert unlocked.returncode == 0, unlocked.stderr
        resumed = b.failover("resume", run_id, "-o", "json")
        assert resumed.returncode == 0, resumed.stderr
    finally:
        process.send_signal(signal.SIGCONT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 3 and "lost its lease" in err, err[-3000:]
    assert os.environ.get("FAILOVER_JOURNAL") == url


def test_the_shared_journal_is_chosen_by_address_and_a_bad_one_is_refused(monkeypatch, tmp_path):
    from engine.cli.settings import load_settings

    monkeypatch.setenv("FAILOVER_JOURNAL", "azure-blob://woodgrovedrjournal/failover")
    assert load_settings().journal == "azure-blob://woodgrovedrjournal/failover"  # not folded into a path
    (tmp_path / "bad.yaml").write_text("journal_lease: 90\n")
    done = run_cli("history", "--config", str(tmp_path / "bad.yaml"))
    assert done.returncode == 2 and "CF007" in done.stderr
    done = run_cli("history", "--journal", "azure-blob://Not_An_Account/x")
    assert done.returncode == 2 and "CF005" in done.stderr


def test_both_journals_are_journal_stores(shared_journal, tmp_path):
    from engine.run.journal import Journal
    from engine.run.store import JournalStore

    for store in (Journal(tmp_path / "j.db"), journal(shared_journal)):
        assert isinstance(store, JournalStore)
        store.close()


def test_a_resume_never_goes_on_from_a_read_the_blob_contradicts(shared_journal):
    from engine.run.journal import JournalError

    first = journal(shared_journal)
    result, (record,) = begin(first)
    second = journal(shared_journal)
    assert second.load("r1") is not None  # read before it holds the lease
    first.operation(result, record, "put_route", "intent", "written after the read")
    first.release("target", "r1")
    with pytest.raises(JournalError, match="still being written"):
        second.acquire("target", "r1")
    assert second.holder("target") is None  # and it gave the lease back
    for store in (first, second):
        store.close()


def test_a_holder_whose_queued_rows_are_refused_does_not_end_as_if_complete(shared_journal):
    """Rows written behind the steps (not waited for) that the service refuses once another process took
    the run over: releasing the lock says so, so the command does not report a run it no longer holds."""
    first = journal(shared_journal)
    result, (record,) = begin(first)
    second = journal(shared_journal)
    second.unlock("target", "taken over")
    second.acquire("target", "r1")
    record.move(StepStatus.RUNNING)
    first.step_changed(result, record)  # queued only
    with pytest.raises(JournalFenced, match="lost its lease"):
        first.release("target", "r1")
    second.release("target", "r1")
    for store in (first, second):
        store.close()


def test_a_readiness_check_is_kept_in_the_container_and_read_from_another_host(shared_journal):
    first, second = journal(shared_journal), journal(shared_journal)
    first.record_check({"check_id": "c1", "runbook": "rb", "adapter": "fake", "ready": True, "findings": [],
                        "at": 1.0})
    first.record_check({"check_id": "c2", "runbook": "other", "adapter": "fake", "ready": False, "findings": [],
                        "at": 2.0})
    assert [c["check_id"] for c in second.checks()] == ["c2", "c1"]
    assert [c["check_id"] for c in second.checks(runbook="rb")] == ["c1"]
    for store in (first, second):
        store.close()
