"""The Azure adapter against the project's ARM double of the Woodgrove estate (``tests/azure/arm/``), built
from the REST API specs' example payloads and independent of the fake estate."""

from __future__ import annotations

import time

import pytest
import yaml
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import RequestsTransport

from adapters.azure import AzureAdapter
from adapters.fake import FakeAdapter
from adapters.shared.clock import Clock
from adapters.shared.estate import Estate
from engine.cli.wiring import simulate_on_fake
from tests.azure.arm import ArmService
from tests.azure.arm.mock import mocked
from tests.conftest import FAST, WOODGROVE, merge


class StaticCredential:
    """A signed-in identity: what azure-identity's credentials give the SDK, a bearer token."""

    def get_token(self, *scopes, **kwargs) -> AccessToken:
        return AccessToken("test-token", int(time.time()) + 3600)


class InstantTransport(RequestsTransport):
    """The SDK's real HTTP transport, except that its sleeps (polling, Retry-After) are recorded, not slept."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sleeps: list[float] = []

    def sleep(self, duration: float) -> None:
        self.sleeps.append(duration)


def woodgrove(**simulation) -> Estate:
    data = yaml.safe_load(WOODGROVE.read_text())
    data["simulation"] = merge(FAST, simulation)
    return Estate.model_validate(data)


@pytest.fixture
def estate():
    """The Woodgrove estate that answers behind ARM (a fake: it keeps Azure's rules)."""
    adapter = FakeAdapter.from_estate(woodgrove())
    yield adapter
    adapter.close()


@pytest.fixture(autouse=True)
def _fresh_key_vault_challenges():
    """Key Vault's client remembers the sign-in challenge of each vault for the process (its public
    ``clear``): each test starts as a new process would, challenged first."""
    from azure.keyvault.secrets._shared import http_challenge_cache

    http_challenge_cache.clear()


@pytest.fixture
def arm():
    """The Woodgrove estate behind ARM, as the specs' examples answer: ASR names items by GUID and their
    NICs by opaque ids, lists page two items at a time, a job queues, then runs."""
    with mocked(ArmService(WOODGROVE)) as service:
        yield service


def open_azure(*, read_only: bool = False) -> AzureAdapter:
    adapter = AzureAdapter(StaticCredential(), read_only=read_only, transport=InstantTransport(), polling_interval=0,
                           simulate=simulate_on_fake)
    adapter.clock = Clock(0.001)  # the engine's own waits (job polls, retries) pass quickly too
    return adapter


@pytest.fixture
def azure(arm):
    adapter = open_azure()
    yield adapter
    adapter.close()


@pytest.fixture
def azure_read_only(arm):
    adapter = open_azure(read_only=True)
    yield adapter
    adapter.close()
