"""The fake estate in a process of its own, for the benchmark: Azure answers from other machines, so its
work must not share the engine's interpreter. In one process the fake's CPU time (reading and
settling thousands of items) would hold the GIL the engine's threads need, and count as engine
overhead; here it costs what a remote service costs, the time of the call.

``RemoteEstate`` has the adapter's shape: the ports, the clock (the same ``time_scale``, on the
machine's monotonic clock), ARM's limits. Each call goes to the estate's server over a connection
of the calling thread's own, as concurrent HTTP requests would; errors come back as the same
exceptions.
"""

from __future__ import annotations

from multiprocessing.managers import BaseManager
from pathlib import Path

from adapters.fake import FakeAdapter
from adapters.shared.clock import Clock

_served: FakeAdapter | None = None


def _open(estate_path: str, state_path: str) -> None:
    global _served
    _served = FakeAdapter.open(estate_path, state_path)


def _port(name: str):
    return getattr(_served, name)


def _facts() -> dict:
    """What the benchmark reads back after the run: the estate's call counts and the jobs it ran."""
    weather = _served.cloud.weather
    return {"reads": weather.reads, "writes": weather.writes, "throttled": weather.throttled,
            "jobs": _served.store.jobs()}


class _Server(BaseManager):
    pass


_Server.register("port", callable=_port)
_Server.register("facts", callable=_facts)


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
        self._server = _Server()
        self._server.start(initializer=_open, initargs=(str(estate_path), str(state_path)))
        self.replication = self._server.port("replication")
        self.network = self._server.port("network")
        self.dns = self._server.port("dns")
        self.secrets = self._server.port("secrets")

    def facts(self) -> dict:
        return self._server.facts()._getvalue()

    def close(self) -> None:
        self._server.shutdown()
