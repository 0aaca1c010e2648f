"""An ``ArmService`` behind ``responses``: in-process tests drive the Azure adapter through the SDK's real
pipeline (``RequestsTransport``), every request answered by the double.

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        arm = attach(ArmService(WOODGROVE), mock)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import responses

from tests.azure.arm.service import ArmService

METHODS = ("GET", "HEAD", "PUT", "PATCH", "POST", "DELETE")
ARM = "https://management.azure.com"
KEY_VAULT = re.compile(r"https://[^/]+\.vault\.azure\.net(:\d+)?/.*")
LOGIN = re.compile(r"https://login\.microsoftonline\.com/.*")


def _callback(service: ArmService):
    def answer(request: Any):
        return service.handle(request.method, request.url, dict(request.headers), request.body)

    return answer


def attach(service: ArmService, mock: responses.RequestsMock, *, arm: str = ARM) -> ArmService:
    """Every ARM (``arm``, any path), Key Vault and sign-in request through ``mock`` goes to ``service``."""
    callback = _callback(service)
    hosts = [re.compile(re.escape(arm.rstrip("/")) + r"/.*"), KEY_VAULT]
    for method in METHODS:
        for pattern in hosts:
            mock.add_callback(method, pattern, callback=callback)
    for method in ("GET", "POST"):
        mock.add_callback(method, LOGIN, callback=callback)
    return service


@contextmanager
def mocked(service: ArmService, *, arm: str = ARM) -> Iterator[ArmService]:
    """``service`` answers every request ``requests`` sends while the block runs."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield attach(service, mock, arm=arm)
