"""The fake adapter: a stateful Azure estate that keeps Azure's rules, for rehearsals, plans and tests."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from adapters.fake.memory import MemoryStore
from adapters.fake.replication import settle_jobs
from adapters.fake.simulation import Weather
from adapters.fake.store import Store
from adapters.shared import ids
from adapters.shared.clock import Clock, SkippingClock
from adapters.shared.errors import NotFoundError
from adapters.shared.estate import Estate, Latency, Simulation, load_estate
from adapters.shared.secret import Secret

STATE_FORMAT = "4"  # items in the service's words (with their recovery points), NICs as documents of their
# own, keys known by a keyed HMAC


def _shown(kind: str, doc: dict) -> dict:
    """A document as ``fake show`` prints it: whether a connection has a key, not even its HMAC."""
    if kind != "connection":
        return doc
    shown = {k: v for k, v in doc.items() if k not in ("key_hmac", "key_env")}
    return {**shown, "shared_key": "***" if doc.get("key_hmac") or doc.get("key_env") else None}


class StateOutdated(Exception):
    """The state file holds documents of another version's format."""


class Cloud:
    """What every fake port shares: the live state, the weather, the clock, and naming."""

    def __init__(self, store: Store | MemoryStore, estate: Estate, weather: Weather, clock: Clock):
        self.store, self.estate, self.weather, self.clock = store, estate, weather, clock
        self.subscription = estate.subscription
        self.resource_group = estate.resource_group
        self.location = estate.location
        self.vaults = {name.lower() for name in estate.vaults}
        self.scope = (self.subscription.lower(), self.resource_group.lower())  # compared on every ASR call
        self._names: dict[tuple[str, str], str] = {}  # (resource ID, kind) -> name, for IDs found ours
        self._key_salt: bytes | None = None
        # An estate read from Azure: an item's recovery points, read from the service when first asked.
        self.points_source: Callable[[str], list] | None = None

    def key_salt(self) -> bytes:
        """The state's own random key for the HMAC of each connection's shared key (no bare hash of a key
        is kept: a digest is worth nothing without this key)."""
        if self._key_salt is None:
            self._key_salt = bytes.fromhex(self.store.meta("key_salt") or "")
        return self._key_salt

    def environment(self, variable: str) -> str | None:
        """A variable's value as this estate sees it: the environment's, else the estate's stand-in."""
        return os.environ.get(variable) or self.estate.stand_in_secrets.get(variable)

    def id(self, kind: str, name: str) -> str:
        return ids.resolve(name, kind, self.subscription, self.resource_group)

    def name(self, resource_id: str, kind: str, label: str) -> str:
        """The name behind an ID of this estate's subscription and resource group (else NotFound)."""
        name = self._names.get((resource_id, kind))
        if name is not None:  # a plan names the same few networks for every VM
            return name
        rid = ids.parse(resource_id)
        if (rid.subscription.lower(), rid.resource_group.lower()) != self.scope or rid.type.lower() != kind.lower():
            raise NotFoundError(f"{label} {resource_id} was not found", code="ResourceNotFound", status=404)
        self._names[(resource_id, kind)] = rid.name
        return rid.name

    def doc(self, kind: str, name: str, label: str) -> dict:
        return self._found(self.store.get(kind, name), name, label)

    def view(self, kind: str, name: str, label: str, build):
        """``build(document)``, kept by a simulation's store until the document changes (see ``view``
        in ``MemoryStore``)."""
        return self._found(self.store.view(kind, name, None, build), name, label)

    def _found(self, found, name: str, label: str):
        if found is None:
            raise NotFoundError(f"The {label} '{name}' was not found in resource group {self.resource_group}",
                                code="ResourceNotFound", status=404)
        return found

    def read(self, operation: str) -> None:
        if not self.weather.calm:  # a simulation's copy has no weather
            self.weather.call("read", operation)
        settle_jobs(self)

    def write(self, operation: str) -> None:
        if not self.weather.calm:
            self.weather.call("write", operation)
        settle_jobs(self)


class FakeAdapter:
    name = "fake"
    writes_real_cloud = False

    def __init__(self, store: Store | MemoryStore, estate: Estate, estate_path: Path | None, *, calm: bool = False):
        from adapters.fake.compute import FakeCompute
        from adapters.fake.network import FakeDns, FakeNetwork, FakeSecrets
        from adapters.fake.replication import FakeReplication

        self.store = store
        self.estate = estate
        self.estate_path = estate_path
        # A calm copy (plan, dry run): no latency, faults or throttling, and jobs that finish at once.
        simulation = estate.simulation if not calm else Simulation(
            time_scale=estate.simulation.time_scale, latency=Latency(read_ms=0, write_ms=0, job_ms=0), throttle=None)
        self.clock = SkippingClock(simulation.time_scale) if calm else Clock(simulation.time_scale)
        self.cloud = Cloud(store, estate, Weather(simulation, self.clock, calm=calm), self.clock)
        self.replication = FakeReplication(self.cloud)
        self.network = FakeNetwork(self.cloud)
        self.dns = FakeDns(self.cloud)
        self.secrets = FakeSecrets(self.cloud)
        self.compute = FakeCompute(self.cloud)
        self.estate_name = estate.name
        self.stand_in_secrets = dict(estate.stand_in_secrets)  # rehearsal values of unset variables
        self.subscription = estate.subscription
        self.resource_group = estate.resource_group
        self.location = estate.location
        self.identity = f"fake:{store.path.resolve() if store.path else 'memory'}"
        throttle = simulation.throttle
        # ARM's limits as this estate applies them: the engine paces itself under them.
        self.rate_limits = None if calm or throttle is None else (tuple(throttle.reads), tuple(throttle.writes))

    @classmethod
    def open(cls, estate_path: Path | str, state_path: Path | str | None, *, fresh: bool = False) -> FakeAdapter:
        """The estate file seeds the state on first use (or, ``fresh``, now); later opens see what earlier
        commands changed."""
        estate_path = Path(estate_path)
        estate = load_estate(estate_path)
        store = Store(state_path, fresh=fresh)
        adapter = cls(store, estate, estate_path)
        if fresh:
            adapter.reset()
        elif store.meta("estate") is None:
            adapter._seed_unless_seeded()
        elif store.meta("format") != STATE_FORMAT:
            store.close()
            raise StateOutdated(f"the fake estate's state file {state_path} was written by another version of "
                                "failover; start it over from its estate file with `failover fake reset`")
        return adapter

    @classmethod
    def from_estate(cls, estate: Estate, *, calm: bool = False, shared_keys: dict[str, Secret] | None = None,
                    recovery_points: Callable[[str], list] | None = None) -> FakeAdapter:
        """An in-memory estate; ``shared_keys``: the connections' keys (an estate file keeps keys out),
        kept as an HMAC like any other; ``recovery_points``: how to read an item's points (VM name ->
        ``RecoveryPoint``s) where the estate says they come from the service."""
        adapter = cls(MemoryStore(), estate, None, calm=calm)
        adapter.cloud.points_source = recovery_points
        adapter.reset()
        for name, key in (shared_keys or {}).items():
            doc = adapter.store.get("connection", name)
            adapter.store.put("connection", {**doc, "key_hmac": key.digest(adapter.cloud.key_salt())})
        return adapter

    def _seed_unless_seeded(self) -> None:
        """A new state is seeded once: under the file's write lock, so that of several processes opening it
        at the same moment one seeds it and the others use that seed (a second seed would wipe what the
        first process has done since)."""
        with self.store.transaction():
            if self.store.meta("estate") is None:
                self.reset()

    def reset(self) -> None:
        from adapters.fake.seed import seed

        with self.store.transaction():
            self.store.clear()
            seed(self.store, self.estate, self.cloud)
            self.store.set_meta("estate", json.dumps({"name": self.estate.name, "file": str(self.estate_path)}))
            self.store.set_meta("format", STATE_FORMAT)
            self.store.set_meta("key_salt", secrets.token_hex(32))
            self.cloud._key_salt = None

    def simulation(self, scope=None) -> FakeAdapter:
        """An in-memory copy: takes writes without touching the state file; no latency, faults or
        throttling; jobs finish at once; its own empty ledger."""
        copy = FakeAdapter(self.store.copy_in_memory(), self.estate, self.estate_path, calm=True)
        copy.cloud.points_source = self.cloud.points_source
        return copy

    def show(self) -> dict:
        from adapters.fake.seed import KINDS

        return {
            "estate": self.estate.name, "subscription": self.subscription, "resource_group": self.resource_group,
            **{label: [_shown(kind, doc) for doc in self.store.all(kind)] for kind, label in KINDS.items()},
            "jobs": self.store.jobs(),
        }

    @property
    def drift(self):
        """Changes made outside any runbook (see ``adapters.fake.drift``)."""
        from adapters.fake.drift import Drift

        return Drift(self.cloud)

    def ledger(self) -> list[dict]:
        return self.store.ledger()

    def close(self) -> None:
        self.store.close()
