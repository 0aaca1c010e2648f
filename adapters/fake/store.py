"""The fake estate's live state: SQLite, so it persists between commands like a real cloud, survives a
killed process, and can be shared by several processes. Each change and its ledger row are one
transaction."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from adapters.fake.memory import MemoryStore
from adapters.fake.nesting import NestedTransactions
from adapters.shared import sqlitefile
from adapters.shared.files import private_dir, private_file

SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (kind TEXT NOT NULL, name TEXT NOT NULL, doc TEXT NOT NULL,
                                      PRIMARY KEY (kind, name));
CREATE TABLE IF NOT EXISTS ledger (seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, operation TEXT NOT NULL,
                                   resource TEXT NOT NULL, args TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS vm_ip ON resources (json_extract(doc, '$.ip')) WHERE kind = 'vm';
CREATE INDEX IF NOT EXISTS nic_recovery_ip ON resources (json_extract(doc, '$.recovery.ip')) WHERE kind = 'nic';
CREATE INDEX IF NOT EXISTS nic_test_ip ON resources (json_extract(doc, '$.test.ip')) WHERE kind = 'nic';
CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, state TEXT NOT NULL, finish_at REAL NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS jobs_due ON jobs (state, finish_at);
"""


class StateUnusable(Exception):
    """The state file cannot be used (empty, damaged, another program's, read-only)."""


def _check(path: Path) -> None:
    if not path.exists():
        return
    if path.is_dir():
        raise StateUnusable(f"the fake estate's state {path} is a folder; give --state a file path")
    size = path.stat().st_size
    with path.open("rb") as file:
        header = file.read(16)
    if size == 0:
        raise StateUnusable(f"the fake estate's state {path} is empty (0 bytes): what earlier commands changed is "
                            "gone; start it over from its estate file with `failover fake reset`")
    if header != b"SQLite format 3\x00":
        raise StateUnusable(f"the fake estate's state {path} is not a state file (not an SQLite database); check "
                            "--state / FAILOVER_FAKE_STATE, or start it over with `failover fake reset`")
    if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        raise StateUnusable(f"the fake estate's state {path} is read-only; make it and its folder writable "
                            f"(chmod u+w), or choose another with --state")


class Store(NestedTransactions):
    def __init__(self, path: Path | str | None, *, fresh: bool = False):
        self.path = None if path is None else Path(path)
        if self.path is not None:
            private_dir(self.path.parent)
            if fresh:  # starting over: a damaged file is replaced, not read
                for stale in (self.path, Path(f"{self.path}-wal"), Path(f"{self.path}-shm")):
                    stale.unlink(missing_ok=True)
            if not self.path.exists():
                sqlitefile.create(self.path, lambda db: db.executescript(SCHEMA))
            _check(self.path)
            private_file(self.path)  # one an earlier version left readable by others is tightened
        self.db = sqlite3.connect(":memory:" if path is None else str(path), check_same_thread=False,
                                  isolation_level=None, timeout=sqlitefile.BUSY_WAIT_S)
        self.lock = threading.RLock()
        try:
            with self.lock:
                if path is not None:
                    tables = {r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                    if tables and self.db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                        raise sqlite3.DatabaseError("its pages do not pass SQLite's check")
                    if tables and not {"resources", "ledger", "meta"} <= tables:
                        raise StateUnusable(f"the fake estate's state {path} is another program's database "
                                            f"(tables: {', '.join(sorted(tables))}); check --state, or start it "
                                            "over with `failover fake reset`")
                    self.db.execute("PRAGMA journal_mode=WAL")
                    self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.executescript(SCHEMA)
        except sqlite3.DatabaseError as exc:
            self.db.close()
            if sqlitefile.is_busy(exc):
                raise sqlitefile.FileBusy(f"the fake estate's state {path}") from None
            raise StateUnusable(f"the fake estate's state {path} is damaged ({exc}); start it over with "
                                "`failover fake reset`") from None
        except StateUnusable:
            self.db.close()
            raise

    def close(self) -> None:
        with self.lock:
            self.db.close()

    def copy_in_memory(self) -> MemoryStore:
        """The state as it is now, for a simulation: in memory, with an empty ledger."""
        with self.lock:  # each table as one JSON array, parsed at once (a parse per document costs more)
            (resources,) = self.db.execute("SELECT json_group_array(json_array(kind, name, json(doc))) "
                                           "FROM resources").fetchone()
            meta = self.db.execute("SELECT key, value FROM meta").fetchall()
            (jobs,) = self.db.execute("SELECT json_group_array(json(doc)) FROM jobs").fetchone()
        return MemoryStore.load(json.loads(resources), meta, json.loads(jobs))

    # --- transactions (see NestedTransactions) ----------------------------------------------------

    def _begin(self) -> None:  # the file's write lock: two processes cannot interleave a read-check-write
        self.db.execute("BEGIN IMMEDIATE")

    def _commit(self) -> None:
        self.db.execute("COMMIT")

    def _rollback(self) -> None:
        self.db.execute("ROLLBACK")

    # --- documents ------------------------------------------------------------------------------

    def get(self, kind: str, name: str, *, shallow: bool = False) -> dict | None:
        """A copy of the document (parsed from the file: ``shallow`` makes no difference here; see the
        memory store's)."""
        with self.lock:
            row = self.db.execute("SELECT doc FROM resources WHERE kind=? AND name=?", (kind, name.lower())).fetchone()
        return None if row is None else json.loads(row[0])

    def view(self, kind: str, name: str, key, build):
        """``build(document)`` (the memory store keeps it until the document changes; the file is
        shared with other processes, so it is read every time)."""
        doc = self.get(kind, name)
        return None if doc is None else build(doc)

    def views(self, kind: str, key, build) -> list:
        """``build(document)`` for every document of ``kind``, in name order (see ``view``)."""
        return [build(doc) for doc in self.all(kind)]

    def all(self, kind: str) -> list[dict]:
        with self.lock:  # one JSON array, parsed once: much cheaper than a parse per document
            (docs,) = self.db.execute("SELECT json_group_array(json(doc)) FROM (SELECT doc FROM resources "
                                      "WHERE kind=? ORDER BY name)", (kind,)).fetchone()
        return json.loads(docs)

    def with_ip(self, kind: str, path: str, ip: str) -> list[dict]:
        """Documents of ``kind`` whose JSON ``path`` (e.g. ``$.recovery.ip``) is ``ip``, through an index:
        an address check must not read every VM of the estate. For reading only: the memory store
        hands out its own documents."""
        with self.lock:
            rows = self.db.execute(f"SELECT doc FROM resources WHERE kind=? AND json_extract(doc, '{path}')=?",
                                   (kind, ip)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def put(self, kind: str, doc: dict) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO resources (kind, name, doc) VALUES (?,?,?)",
                            (kind, doc["name"].lower(), json.dumps(doc, sort_keys=True)))

    def replace(self, kind: str, doc: dict) -> None:
        """``put`` for a document the caller hands over (the memory store then keeps it uncopied)."""
        self.put(kind, doc)

    def delete(self, kind: str, name: str) -> None:
        with self.lock:
            self.db.execute("DELETE FROM resources WHERE kind=? AND name=?", (kind, name.lower()))

    def clear(self) -> None:
        with self.lock:
            self.db.execute("DELETE FROM resources")
            self.db.execute("DELETE FROM ledger")
            self.db.execute("DELETE FROM meta")
            self.db.execute("DELETE FROM jobs")

    # --- ledger and meta ------------------------------------------------------------------------

    def record(self, operation: str, resource: str, args: dict) -> None:
        at = datetime.now(UTC).isoformat(timespec="milliseconds")
        with self.lock:
            self.db.execute("INSERT INTO ledger (at, operation, resource, args) VALUES (?,?,?,?)",
                            (at, operation, resource, json.dumps(args, sort_keys=True, default=str)))

    def ledger(self) -> list[dict]:
        with self.lock:
            rows = self.db.execute("SELECT seq, at, operation, resource, args FROM ledger ORDER BY seq").fetchall()
        return [{"seq": s, "at": at, "operation": op, "resource": res, "args": json.loads(args)}
                for s, at, op, res, args in rows]

    def meta(self, key: str) -> str | None:
        with self.lock:
            row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?,?)", (key, value))

    # --- ASR jobs -------------------------------------------------------------------------------

    def put_job(self, job: dict) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO jobs (id, state, finish_at, doc) VALUES (?,?,?,?)",
                            (job["id"], job["state"], job["finish_at"], json.dumps(job, sort_keys=True)))

    def job(self, job_id: str) -> dict | None:
        with self.lock:
            row = self.db.execute("SELECT doc FROM jobs WHERE id=?", (job_id,)).fetchone()
        return None if row is None else json.loads(row[0])

    def jobs(self) -> list[dict]:
        with self.lock:
            rows = self.db.execute("SELECT doc FROM jobs ORDER BY finish_at").fetchall()
        return [json.loads(r[0]) for r in rows]

    def jobs_listed(self, job_ids: list[str]) -> tuple[list[dict], int]:
        """The jobs of ``job_ids`` that exist (by when they finish), and how many jobs were queued since the
        oldest of them (what a list of the vault's jobs, newest first, reads to reach it). Only those jobs
        are parsed: a poll of a vault with thousands of jobs must not parse them all."""
        ids = sorted(set(job_ids))
        wanted: list[dict] = []
        with self.lock:
            for start in range(0, len(ids), 500):  # SQLite's limit on a statement's parameters
                chunk = ids[start:start + 500]
                rows = self.db.execute(f"SELECT doc FROM jobs WHERE id IN ({','.join('?' * len(chunk))})",
                                       chunk).fetchall()
                wanted += [json.loads(r[0]) for r in rows]
            if not wanted:
                return [], 0
            oldest = min(j.get("queued", 0.0) for j in wanted)
            (since,) = self.db.execute("SELECT COUNT(*) FROM jobs WHERE COALESCE(json_extract(doc, '$.queued'), 0) >= ?",
                                       (oldest,)).fetchone()
        return sorted(wanted, key=lambda j: j["finish_at"]), since

    def due_jobs(self, at: float) -> list[dict]:
        with self.lock:
            rows = self.db.execute("SELECT doc FROM jobs WHERE state='InProgress' AND finish_at<=? ORDER BY finish_at",
                                   (at,)).fetchall()
        return [json.loads(r[0]) for r in rows]
