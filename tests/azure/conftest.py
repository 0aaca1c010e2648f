"""The Azure adapter against an ARM simulation of the Woodgrove estate (see ``arm.py``)."""

from __future__ import annotations

import time

import pytest
import responses
import yaml
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import RequestsTransport

from adapters.azure import AzureAdapter
from adapters.clock import Clock
from adapters.fake import FakeAdapter
from adapters.fake.schema import Estate
from tests.azure.arm import ArmEstate
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


@pytest.fixture
def arm(estate):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield ArmEstate(estate, mock)


def open_azure(*, read_only: bool = False) -> AzureAdapter:
    adapter = AzureAdapter(StaticCredential(), read_only=read_only, transport=InstantTransport(), polling_interval=0)
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
