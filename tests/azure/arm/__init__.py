"""The project's own ARM double, built from the Azure REST API specs' example payloads
(``tests/fixtures/azure-specs``) and independent of the fake estate.

- ``specs``: the example payloads as templates.
- ``service.ArmService``: a stateful ARM, Key Vault and sign-in for one estate file.
- ``mock``: the service behind ``responses``, for in-process tests.
- ``server.ArmServer``: the service over HTTPS on 127.0.0.1, for a CLI subprocess.
- ``client``: what such a subprocess needs (settings, a stub ``az``, its environment).
"""

from __future__ import annotations

from tests.azure.arm.estate import item_name
from tests.azure.arm.service import ArmService

__all__ = ["ArmService", "item_name"]
