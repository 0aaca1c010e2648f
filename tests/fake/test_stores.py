"""The fake's two stores keep one contract: the SQLite file every command shares, and the in-memory
copy a plan or dry run simulates on. Documents go in and come out as copies (an address lookup's
answers are for reading only, and the memory store's are its own), a failed transaction
leaves nothing behind (documents, jobs, ledger, address index), and the address index follows every
change."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from adapters.fake.adapter import FakeAdapter
from adapters.fake.memory import MemoryStore
from adapters.fake.store import SCHEMA, Store
from adapters.shared import sqlitefile
from adapters.shared.estate import load_estate
from tests.conftest import WOODGROVE


@pytest.fixture(params=["sqlite", "memory"])
def store(request, tmp_path):
    made = Store(tmp_path / "state.db") if request.param == "sqlite" else MemoryStore()
    yield made
    made.close()


def item(name: str, ip: str | None, state: str = "Protected") -> dict:
    return {"name": name, "protection_state": state, "recovery": {"network": "recovery-vnet", "ip": ip},
            "groups": [["a", "b"]]}


def test_documents_go_in_and_come_out_as_copies(store):
    doc = item("VM1", "10.0.0.4")
    store.put("item", doc)
    doc["recovery"]["ip"] = "10.0.0.99"  # changing what was put changes nothing stored
    read = store.get("item", "vm1")  # names are case-insensitive, as in ARM
    assert read["recovery"]["ip"] == "10.0.0.4"
    read["recovery"]["ip"] = "10.0.0.77"
    read["groups"][0].append("c")
    assert store.get("item", "VM1") == item("VM1", "10.0.0.4")
    assert store.all("item") == [item("VM1", "10.0.0.4")]


def test_a_document_handed_over_is_kept_and_still_read_as_a_copy(store):
    """``replace`` takes a document got from ``get`` without copying it again; reads still copy, and a
    failed transaction puts the old one back."""
    store.put("item", item("vm1", "10.0.0.4"))
    doc = store.get("item", "vm1")
    doc["recovery"]["ip"] = "10.0.0.5"
    store.replace("item", doc)
    read = store.get("item", "vm1")
    assert read == item("vm1", "10.0.0.5") and read is not doc
    read["recovery"]["ip"] = "10.0.0.77"
    assert store.get("item", "vm1") == item("vm1", "10.0.0.5")
    with pytest.raises(RuntimeError), store.transaction():
        store.replace("item", {**store.get("item", "vm1"), "protection_state": "FailoverCompleted"})
        raise RuntimeError("the change failed half-way")
    assert store.all("item") == [item("vm1", "10.0.0.5")]
    assert [d["name"] for d in store.with_ip("item", "$.recovery.ip", "10.0.0.5")] == ["vm1"]


def test_a_shallow_copy_to_change_top_level_keys(store):
    """``get(shallow=True)`` is for a change that sets top-level keys and replaces nested values whole:
    setting one changes nothing stored until the document is handed back."""
    store.put("item", item("vm1", "10.0.0.4"))
    doc = store.get("item", "vm1", shallow=True)
    doc["protection_state"] = "FailoverCompleted"
    doc["recovery"] = {"network": "recovery-vnet", "ip": "10.0.0.5"}
    assert store.get("item", "vm1") == item("vm1", "10.0.0.4")
    store.replace("item", doc)
    assert store.get("item", "vm1") == {**item("vm1", "10.0.0.5"), "protection_state": "FailoverCompleted"}
    assert [d["name"] for d in store.with_ip("item", "$.recovery.ip", "10.0.0.5")] == ["vm1"]


def test_all_is_ordered_by_name_and_delete_removes(store):
    for name in ("vm3", "vm1", "vm2"):
        store.put("item", item(name, None))
    store.delete("item", "VM2")
    assert [d["name"] for d in store.all("item")] == ["vm1", "vm3"]
    assert store.get("item", "vm2") is None


def test_the_address_index_follows_puts_and_deletes(store):
    store.put("item", item("vm1", "10.0.0.4"))
    assert [d["name"] for d in store.with_ip("item", "$.recovery.ip", "10.0.0.4")] == ["vm1"]
    store.put("item", item("vm2", "10.0.0.4"))
    store.put("item", item("vm1", "10.0.0.5"))  # moved: no longer found at its old address
    assert [d["name"] for d in store.with_ip("item", "$.recovery.ip", "10.0.0.4")] == ["vm2"]
    assert [d["name"] for d in store.with_ip("item", "$.recovery.ip", "10.0.0.5")] == ["vm1"]
    store.delete("item", "vm2")
    assert store.with_ip("item", "$.recovery.ip", "10.0.0.4") == []


def test_a_failed_transaction_leaves_nothing_behind(store):
    store.put("item", item("vm1", "10.0.0.4"))
    store.put_job({"id": "job1", "state": "InProgress", "finish_at": 5.0})
    assert store.with_ip("item", "$.recovery.ip", "10.0.0.4")  # the index exists before the change
    with pytest.raises(RuntimeError), store.transaction():
        store.put("item", item("vm1", "10.0.0.9", state="FailoverCompleted"))
        store.put("item", item("vm2", "10.0.0.4"))
        store.delete("item", "vm1")
        with store.transaction():  # a nested transaction joins the outer one
            store.put_job({"id": "job1", "state": "Succeeded", "finish_at": 5.0})
            store.put_job({"id": "job2", "state": "InProgress", "finish_at": 1.0})
        store.record("replication_protected_items.update", "vm1", {"ip": "10.0.0.9"})
        raise RuntimeError("the change failed half-way")
    assert store.all("item") == [item("vm1", "10.0.0.4")]
    assert [d["name"] for d in store.with_ip("item", "$.recovery.ip", "10.0.0.4")] == ["vm1"]
    assert store.with_ip("item", "$.recovery.ip", "10.0.0.9") == []
    assert [(j["id"], j["state"]) for j in store.jobs()] == [("job1", "InProgress")]
    assert store.ledger() == []


def test_a_transaction_that_succeeds_keeps_everything(store):
    with store.transaction():
        store.put("item", item("vm1", "10.0.0.4"))
        store.record("replication_protected_items.update", "vm1", {"ip": "10.0.0.4"})
    assert store.get("item", "vm1") == item("vm1", "10.0.0.4")
    assert [(r["seq"], r["operation"], r["args"]) for r in store.ledger()] == \
        [(1, "replication_protected_items.update", {"ip": "10.0.0.4"})]
    at = datetime.fromisoformat(store.ledger()[0]["at"])  # both stores: UTC, to the millisecond
    assert at.tzinfo == UTC and abs((datetime.now(UTC) - at).total_seconds()) < 60
    assert len(store.ledger()[0]["at"]) == len("2026-01-01T00:00:00.000+00:00")


def test_due_jobs_are_the_running_ones_whose_time_has_come(store):
    store.put_job({"id": "late", "state": "InProgress", "finish_at": 9.0})
    store.put_job({"id": "due2", "state": "InProgress", "finish_at": 2.0})
    store.put_job({"id": "due1", "state": "InProgress", "finish_at": 1.0})
    store.put_job({"id": "done", "state": "Succeeded", "finish_at": 0.5})
    assert [j["id"] for j in store.due_jobs(5.0)] == ["due1", "due2"]
    store.put_job({"id": "due1", "state": "Succeeded", "finish_at": 1.0})
    assert [j["id"] for j in store.due_jobs(5.0)] == ["due2"]
    assert [j["id"] for j in store.jobs()] == ["done", "due1", "due2", "late"]
    job = store.job("due2")
    job["state"] = "Failed"  # a copy
    assert store.job("due2")["state"] == "InProgress"


def test_a_copy_in_memory_starts_equal_and_never_writes_back(tmp_path):
    original = Store(tmp_path / "state.db")
    original.put("item", item("vm1", "10.0.0.4"))
    original.put_job({"id": "job1", "state": "InProgress", "finish_at": 5.0})
    original.set_meta("estate", "woodgrove")
    original.record("replication_protected_items.update", "vm1", {})
    copy = original.copy_in_memory()
    assert copy.all("item") == original.all("item")
    assert copy.jobs() == original.jobs() and copy.meta("estate") == "woodgrove"
    assert copy.ledger() == []  # a simulation's ledger holds only its own calls
    copy.put("item", item("vm1", "10.0.0.9"))
    copy.delete("item", "vm1")
    copy.record("replication_protected_items.update", "vm1", {})
    second = copy.copy_in_memory()
    assert second.all("item") == [] and second.ledger() == []
    assert original.all("item") == [item("vm1", "10.0.0.4")]
    assert len(original.ledger()) == 1
    original.close()


def test_a_view_follows_the_document_it_was_built_from(store):
    built = []

    def build(doc):
        built.append(doc["recovery"]["ip"])
        return (doc["name"], doc["recovery"]["ip"])

    assert store.view("item", "vm1", None, build) is None  # no document, no view
    store.put("item", item("vm1", "10.0.0.4"))
    assert store.view("item", "VM1", None, build) == ("vm1", "10.0.0.4")
    assert store.view("item", "vm1", None, build) == ("vm1", "10.0.0.4")
    store.put("item", item("vm1", "10.0.0.5"))  # a change: the next view is built from the new document
    assert store.view("item", "vm1", None, build) == ("vm1", "10.0.0.5")
    with pytest.raises(RuntimeError), store.transaction():
        store.put("item", item("vm1", "10.0.0.9"))
        raise RuntimeError("undone")
    assert store.view("item", "vm1", None, build) == ("vm1", "10.0.0.5")
    store.delete("item", "vm1")
    assert store.view("item", "vm1", None, build) is None
    # the shared file is read every time; the simulation's copy builds a view once per document (a
    # rolled-back change puts the very document back, and its view with it)
    assert built == (["10.0.0.4", "10.0.0.4", "10.0.0.5", "10.0.0.5"] if isinstance(store, Store)
                     else ["10.0.0.4", "10.0.0.5"])


# --- one state file shared by several processes ------------------------------------------------------------


def test_a_new_state_file_is_born_in_wal_mode(tmp_path):
    """No process opening a new file has to switch it into WAL mode (which needs it alone) while another
    process reads it: the file is in WAL mode before anyone can open it."""
    path = tmp_path / "state.db"
    sqlitefile.create(path, lambda db: db.executescript(SCHEMA))
    assert path.read_bytes()[18:20] == b"\x02\x02"  # the header's read and write versions: 2 is WAL


def test_a_new_state_opened_by_two_processes_at_once_is_seeded_once(tmp_path, monkeypatch):
    """The second opener saw no seed yet, but waits for the first one's and uses it: seeding again would
    wipe what the first process has done since."""
    path = tmp_path / "state.db"
    first = FakeAdapter(Store(path), load_estate(WOODGROVE), WOODGROVE)
    trying_to_write = threading.Event()

    class WatchedStore(Store):
        def _begin(self) -> None:
            trying_to_write.set()
            super()._begin()

    monkeypatch.setattr("adapters.fake.adapter.Store", WatchedStore)
    opened: list[FakeAdapter] = []
    with first.store.transaction():  # the first process is seeding, not yet committed
        first.reset()
        seeded = first.store.meta("key_salt")
        second = threading.Thread(target=lambda: opened.append(FakeAdapter.open(WOODGROVE, path)))
        second.start()
        assert trying_to_write.wait(30), "the second opener never asked for the write lock"
    second.join(30)
    assert opened, "the second opener failed"
    assert opened[0].store.meta("key_salt") == first.store.meta("key_salt") == seeded  # a new seed, a new salt
    opened[0].close()
    first.close()
