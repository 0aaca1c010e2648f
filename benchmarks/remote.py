"""The fake estate in a process of its own, for the benchmark: Azure answers from other machines, so its
work must not share the engine's interpreter. In one process the fake's CPU time (reading and
settling thousands of items) would hold the GIL the engine's threads need, and count as engine
overhead; here it costs what a remote service costs, the time of the call.

``RemoteEstate`` has the adapter's shape: the ports, the clock (the same ``time_scale``, on the
machine's monotonic clock), ARM's limits. Calls travel over a pool of kept-alive connections, as an
SDK client's HTTP requests do (azure-core keeps a pool of connections for all the threads of a
client): a thread takes an idle connection, or opens one when none is idle, and gives it back when
the answer has come. The server answers each connection in a thread of its own. Errors come back as
the same exceptions.

A connection per thread instead (what ``multiprocessing.managers`` does) made every step that had
started on a new thread open two connections, each with its own handshake and server thread: a
5,000-VM run opened about 10,000, a cost no SDK client pays.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path

from adapters.fake import FakeAdapter
from adapters.ports import LIST_PAGE, PAGED_LISTS
from adapters.shared.clock import Clock

_PORTS = ("replication", "network", "dns", "secrets")
PAGES = "pages"  # an answer that comes in pages: their count, then each page


def _facts(served: FakeAdapter) -> dict:
    """What the benchmark reads back after the run: the estate's call counts and the jobs it ran."""
    weather = served.cloud.weather
    return {"reads": weather.reads, "writes": weather.writes, "throttled": weather.throttled,
            "jobs": served.store.jobs()}


def _answer(served: FakeAdapter, connection: Connection) -> None:
    """One connection's requests, one after another, until the client closes it."""
    with connection:
        while True:
            try:
                port, method, args, kwargs = connection.recv()
            except (EOFError, OSError):
                return
            try:
                value = _facts(served) if port == "facts" else getattr(getattr(served, port), method)(*args, **kwargs)
            except Exception as error:  # the fake's refusal, raised again on the caller's side
                connection.send((False, error))
                continue
            if method not in PAGED_LISTS:
                connection.send((True, value))
                continue
            # A paged list comes as ARM sends it, a page of LIST_PAGE at a time: the caller decodes each
            # page as it comes, not a 5,000-item answer in one go.
            pages = [value[start:start + LIST_PAGE] for start in range(0, len(value), LIST_PAGE)] or [[]]
            connection.send((PAGES, len(pages)))
            for page in pages:
                connection.send(page)


def _serve(estate_path: str, state_path: str, authkey: bytes, ready) -> None:
    # The estate held in memory, not in its state file: a service's own work (reading every item of a
    # list from the file and parsing it) must not stall the requests that come meanwhile.
    stored = FakeAdapter.open(estate_path, state_path)
    served = FakeAdapter(stored.store.copy_in_memory(), stored.estate, stored.estate_path)
    stored.close()
    with Listener(family="AF_UNIX", authkey=authkey) as listener:  # a socket file of its own
        ready.send(listener.address)
        ready.close()
        while True:
            connection = listener.accept()
            threading.Thread(target=_answer, args=(served, connection), daemon=True).start()


class _Pool:
    """Kept-alive connections to the server, shared by every thread of the run."""

    def __init__(self, address, authkey: bytes):
        self.address, self.authkey = address, authkey
        self.idle: queue.SimpleQueue[Connection] = queue.SimpleQueue()
        self.opened = 0

    def call(self, port: str, method: str, args: tuple, kwargs: dict):
        try:
            connection = self.idle.get_nowait()
        except queue.Empty:
            connection = Client(self.address, authkey=self.authkey)
            self.opened += 1
        try:
            connection.send((port, method, args, kwargs))
            ok, value = connection.recv()
            if ok == PAGES:
                ok, value = True, [item for _ in range(value) for item in connection.recv()]
        except BaseException:
            connection.close()  # in an unknown state: never reused
            raise
        self.idle.put(connection)
        if not ok:
            raise value
        return value

    def close(self) -> None:
        while True:
            try:
                self.idle.get_nowait().close()
            except queue.Empty:
                return


class _Port:
    def __init__(self, pool: _Pool, port: str):
        self._pool, self._port = pool, port

    def __getattr__(self, method: str):
        if method.startswith("_"):
            raise AttributeError(method)

        def call(*args, **kwargs):
            return self._pool.call(self._port, method, args, kwargs)

        call.__name__ = method
        return call


class RemoteEstate:
    name = "fake"
    writes_real_cloud = False

    def __init__(self, estate_path: Path, state_path: Path):
        local = FakeAdapter.open(estate_path, state_path)  # seeds the state file; the server opens it too
        self.estate = local.estate
        self.identity = local.identity
        self.rate_limits = local.rate_limits
        self.clock = Clock(local.estate.simulation.time_scale)
        local.close()
        authkey = os.urandom(32)
        context = multiprocessing.get_context("fork")
        receive, send = context.Pipe(duplex=False)
        self._server = context.Process(target=_serve, name="estate", daemon=True,
                                       args=(str(estate_path), str(state_path), authkey, send))
        self._server.start()
        send.close()
        try:
            address = receive.recv()
        except EOFError:
            self._server.join()
            raise RuntimeError(f"the estate's process ended before it listened (exit {self._server.exitcode})") from None
        self._pool = _Pool(address, authkey)
        for port in _PORTS:
            setattr(self, port, _Port(self._pool, port))

    @property
    def connections_opened(self) -> int:
        return self._pool.opened

    def facts(self) -> dict:
        return self._pool.call("facts", "", (), {})

    def close(self) -> None:
        self._pool.close()
        self._server.terminate()
        self._server.join()
