from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
WOODGROVE = REPO / "config/estates/woodgrove.yaml"
SUBNET_FAILOVER = REPO / "runbooks/woodgrove-subnet-failover.yaml"
CHANGE_IP = REPO / "runbooks/woodgrove-change-ip.yaml"
from tests.durable import VPN_KEY  # noqa: E402  planted: must never appear in any output


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture(autouse=True)
def _environment(monkeypatch, tmp_path):
    """Every test plants the canary VPN key and writes its journal in its own folder."""
    monkeypatch.setenv("WOODGROVE_VPN_KEY", VPN_KEY)
    monkeypatch.setenv("FAILOVER_JOURNAL", str(tmp_path / "journal.db"))


def merge(base: dict, extra: dict) -> dict:
    result = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = value
    return result


FAST = {"latency": {"read_ms": 0, "write_ms": 0, "job_ms": 1000}, "time_scale": 0.001,
        "faults": {"transient_rate": 0.0, "seed": 1}}


@pytest.fixture
def estate_file(tmp_path):
    """Write the Woodgrove estate, with simulation overrides, to a temporary file."""

    def make(simulation: dict | None = None, **overrides) -> Path:
        data = yaml.safe_load(WOODGROVE.read_text())
        data.pop("stand_in_secrets", None)  # tests plant their own key; a test of the stand-ins gives them back
        data = merge(data, {"simulation": merge(FAST, simulation or {}), **overrides})
        path = tmp_path / f"estate-{len(list(tmp_path.glob('estate-*')))}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return make


@pytest.fixture
def fake(estate_file, tmp_path):
    """A fake Woodgrove estate with a live state file in the test's folder."""
    from adapters.fake import FakeAdapter

    opened = []

    def make(simulation: dict | None = None, **overrides):
        adapter = FakeAdapter.open(estate_file(simulation, **overrides), tmp_path / f"state-{len(opened)}.db")
        opened.append(adapter)
        return adapter

    yield make
    for adapter in opened:
        adapter.close()


def run_cli(*args: str, env: dict | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """The failover command as an operator runs it, in a child process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "engine.cli", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=120)


def json_out(result: subprocess.CompletedProcess):
    return json.loads(result.stdout)


@pytest.fixture(scope="session")
def azurite():
    """Azurite's blob service, started by the tests themselves on loopback (one per test worker)."""
    from tests import azurite as emulator

    service = emulator.start()
    yield service
    service.stop()


@pytest.fixture
def shared_journal(azurite, monkeypatch, request):
    """A shared journal of its own (a fresh container in Azurite): its address, with the environment set
    for this process and its children."""
    import re
    import uuid

    name = re.sub(r"[^a-z0-9]", "", request.node.name.lower())[:30] + uuid.uuid4().hex[:8]
    url = f"azure-blob://devstoreaccount1/{name}"
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", azurite.connection_string)
    monkeypatch.setenv("FAILOVER_JOURNAL", url)
    return url
