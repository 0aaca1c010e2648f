"""A simulation's private copy of the fake estate: the same interface as the SQLite ``Store``, held in
dicts. A plan or dry run of thousands of steps reads the estate tens of thousands of times and no other
process shares the copy, so it needs neither SQLite nor JSON text. It still hands out copies and keeps
copies (``replace`` keeps a document its caller hands over), so a caller changing a document changes
nothing until it puts it back, and a failed transaction leaves nothing behind. A job is copied at its top
level only: its fields are set whole (its state, its end), never edited in place, and a recovery plan's
job holds its hundred items' states from before it (``before``)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

from adapters.fake.nesting import NestedTransactions

_MISSING = object()
_EMPTY: dict = {}  # a kind with no documents (never changed)


class MemoryStore(NestedTransactions):
    path = None

    def __init__(self):
        self.lock = threading.RLock()
        self._docs: dict[str, dict[str, dict]] = {}  # kind -> lower-case name -> document (never changed in place)
        self._jobs: dict[str, dict] = {}  # id -> job (copied in and out, as documents are)
        self._in_progress: set[str] = set()
        self._ledger: list[dict] = []
        self._meta: dict[str, str] = {}
        self._indexes: dict[str, dict[str, _Index]] = {}  # kind -> JSON path -> which documents hold which value
        self._undo: list[tuple] | None = None  # what to put back if the open transaction fails
        self._views: dict[tuple, tuple[dict, object]] = {}  # (kind, name, key) -> (document, view built from it)

    @classmethod
    def load(cls, resources, meta, jobs) -> MemoryStore:
        """From what the SQLite store holds: (kind, name, document) triples, meta pairs, jobs; an empty
        ledger. The documents and jobs are kept as given."""
        store = cls()
        for kind, name, doc in resources:
            store._docs.setdefault(kind, {})[name] = doc
        store._meta = dict(meta)
        for job in jobs:
            store._store_job(job)
        return store

    def close(self) -> None:
        pass

    def copy_in_memory(self) -> MemoryStore:
        with self.lock:
            copy = MemoryStore()
            copy._docs = {kind: dict(docs) for kind, docs in self._docs.items()}  # documents are never changed in place
            copy._meta = dict(self._meta)
            for job in self._jobs.values():
                copy.put_job(job)
            return copy

    # --- transactions (see NestedTransactions): an undo log ---------------------------------------

    def _begin(self) -> None:
        self._undo = []

    def _commit(self) -> None:
        self._undo = None

    def _rollback(self) -> None:
        undo, self._undo = self._undo, None  # putting things back is not itself recorded
        for step in reversed(undo):
            step[0](*step[1:])

    # --- documents ------------------------------------------------------------------------------

    def get(self, kind: str, name: str, *, shallow: bool = False) -> dict | None:
        """A copy of the document. ``shallow``: only its top level is copied, and its nested values
        are the store's, for a change that sets top-level keys (a nested value is replaced whole,
        never edited): an item's state moves that way five times in a plan."""
        doc = self._docs.get(kind, _EMPTY).get(name.lower())
        return None if doc is None else doc.copy() if shallow else _copy(doc)

    def view(self, kind: str, name: str, key, build):
        """``build(document)``, kept until the document is replaced: a simulation reads the same item
        many times between two changes. ``build`` must not change the document, and what it returns
        must be immutable (the ports' frozen views)."""
        name = name.lower()
        doc = self._docs.get(kind, _EMPTY).get(name)
        return None if doc is None else self._view(kind, name, doc, key, build)

    def views(self, kind: str, key, build) -> list:
        """``view`` of every document of ``kind``, in name order: a list of the vault rebuilds only
        what changed since it was last read."""
        with self.lock:
            docs = sorted(self._docs.get(kind, {}).items())
        return [self._view(kind, name, doc, key, build) for name, doc in docs]

    def _view(self, kind: str, name: str, doc: dict, key, build):
        cached = self._views.get((kind, name, key))
        if cached is not None and cached[0] is doc:  # a put stores a new document: identity tells
            return cached[1]
        made = build(doc)
        self._views[(kind, name, key)] = (doc, made)
        return made

    def all(self, kind: str) -> list[dict]:
        with self.lock:
            docs = [doc for _, doc in sorted(self._docs.get(kind, {}).items())]
        return [_copy(doc) for doc in docs]

    def with_ip(self, kind: str, path: str, ip: str) -> list[dict]:
        """As the SQLite store's, but the documents are the store's own, not copies: they are for
        reading (an address check), and must not be changed."""
        with self.lock:
            docs = self._docs.get(kind, _EMPTY)
            index = self._indexes.get(kind, _EMPTY).get(path)
            if index is None:  # built on first use, then kept up to date by every put and delete
                index = self._indexes.setdefault(kind, {})[path] = _Index(path)
                for name, doc in docs.items():
                    index.set(name, doc)
            names = index.names.get(ip)
            return [docs[name] for name in sorted(names)] if names else []

    def put(self, kind: str, doc: dict) -> None:
        self._set(kind, doc["name"].lower(), _copy(doc))

    def replace(self, kind: str, doc: dict) -> None:
        """``put`` for a document the caller got from ``get``, changed, and hands over: kept as it is,
        without a second copy (a plan's jobs move thousands of items). The caller must not change it
        afterwards."""
        self._set(kind, doc["name"].lower(), doc)

    def delete(self, kind: str, name: str) -> None:
        self._set(kind, name.lower(), None)

    def _set(self, kind: str, name: str, doc: dict | None) -> None:
        with self.lock:
            docs = self._docs.setdefault(kind, {})
            if self._undo is not None:
                self._undo.append((self._set, kind, name, docs.get(name)))
            for index in self._indexes.get(kind, _EMPTY).values():
                index.set(name, doc)
            if doc is None:
                docs.pop(name, None)
            else:
                docs[name] = doc

    def clear(self) -> None:
        with self.lock:
            self._docs.clear()
            self._jobs.clear()
            self._in_progress.clear()
            self._ledger.clear()
            self._meta.clear()
            self._indexes.clear()
            self._views.clear()

    # --- ledger and meta ------------------------------------------------------------------------

    def record(self, operation: str, resource: str, args: dict) -> None:
        # Kept as a copy, its time as a number: both are turned to text only if the ledger is read
        # (a plan never reads it).
        row = {"at": time.time(), "operation": operation, "resource": resource, "args": _copy(args)}
        with self.lock:
            if self._undo is not None:
                self._undo.append((self._truncate_ledger, len(self._ledger)))
            self._ledger.append(row)

    def _truncate_ledger(self, length: int) -> None:
        del self._ledger[length:]

    def ledger(self) -> list[dict]:
        with self.lock:
            return [{"seq": number, **row, "at": datetime.fromtimestamp(row["at"], UTC).isoformat(timespec="milliseconds"),
                     "args": json.loads(json.dumps(row["args"], default=str))}
                    for number, row in enumerate(self._ledger, start=1)]

    def meta(self, key: str) -> str | None:
        return self._meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        with self.lock:
            self._meta[key] = value

    # --- ASR jobs -------------------------------------------------------------------------------

    def put_job(self, job: dict) -> None:
        with self.lock:
            before = self._jobs.get(job["id"], _MISSING)
            if self._undo is not None:
                self._undo.append((self._restore_job, job["id"], before))
            self._store_job(job.copy())

    def _store_job(self, job: dict) -> None:
        self._jobs[job["id"]] = job
        if job["state"] == "InProgress":
            self._in_progress.add(job["id"])
        else:
            self._in_progress.discard(job["id"])

    def _restore_job(self, job_id: str, before) -> None:
        if before is _MISSING:
            self._jobs.pop(job_id, None)
            self._in_progress.discard(job_id)
        else:
            self._store_job(before)

    def job(self, job_id: str) -> dict | None:
        with self.lock:
            job = self._jobs.get(job_id)
            return None if job is None else job.copy()

    def jobs(self) -> list[dict]:
        with self.lock:
            return _by_finish(self._jobs.values())

    def jobs_listed(self, job_ids: list[str]) -> tuple[list[dict], int]:
        """The jobs of ``job_ids`` that exist (by when they finish), and how many jobs were queued since the
        oldest of them (what a list of the vault's jobs, newest first, reads to reach it)."""
        with self.lock:
            wanted = [self._jobs[i] for i in set(job_ids) if i in self._jobs]
            if not wanted:
                return [], 0
            oldest = min(j.get("queued", 0.0) for j in wanted)
            since = sum(1 for j in self._jobs.values() if j.get("queued", 0.0) >= oldest)
            return _by_finish(wanted), since

    def due_jobs(self, at: float) -> list[dict]:
        # Asked on every call, and usually no job runs: answered without the lock (a job another thread
        # is starting just now is as if started after this call; the next call settles it).
        if not self._in_progress:
            return []
        with self.lock:
            due = [self._jobs[i] for i in self._in_progress if self._jobs[i]["finish_at"] <= at]
            return _by_finish(due)


def _by_finish(jobs) -> list[dict]:
    """Copies of ``jobs`` (top level: see the module's docstring), by when they finish."""
    return [job.copy() for job in sorted(jobs, key=lambda j: j["finish_at"])]


class _Index:
    """Which documents hold which value at one JSON path (such as ``$.recovery.ip``)."""

    def __init__(self, path: str):
        self.keys = path.removeprefix("$.").split(".")
        self.names: dict[object, set[str]] = {}
        self.value_of: dict[str, object] = {}

    def set(self, name: str, doc: dict | None) -> None:
        """Document ``name`` is now ``doc`` (None: deleted)."""
        value = doc
        for key in self.keys:  # None where the path is missing
            value = value.get(key) if isinstance(value, dict) else None
        old = self.value_of.get(name)
        if old == value:  # most changes leave the address as it was
            return
        if old is not None:
            del self.value_of[name]
            self.names[old].discard(name)
        if value is not None:
            self.value_of[name] = value
            self.names.setdefault(value, set()).add(name)


_NESTED = (dict, list)


def _copy(value):
    """A deep copy of a JSON document (dicts, lists and plain values), several times faster than
    ``copy.deepcopy``. A dict is copied whole (in C), then only its nested values are replaced: most
    values of a document are plain."""
    if type(value) is dict:
        copy = value.copy()
        for key, item in value.items():
            if type(item) in _NESTED:
                copy[key] = _copy(item)
        return copy
    if type(value) is list:
        return [_copy(item) if type(item) in _NESTED else item for item in value]
    return value
