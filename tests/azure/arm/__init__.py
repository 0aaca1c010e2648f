"""The project's own ARM double, built from the Azure REST API specs' example payloads
(``tests/fixtures/azure-specs``) and independent of the fake estate.

- ``specs``: the example payloads as templates.
- ``service.ArmService``: a stateful ARM, Key Vault and sign-in for one estate file.
- ``mock``: the service behind ``responses``, for in-process tests.
- ``server.ArmServer``: the service over HTTPS on 127.0.0.1, for a CLI subprocess.
- ``client``: what such a subprocess needs (settings, a stub ``az``, its environment).

Transition: this package shadows the older ``tests/azure/arm.py`` (same import name). Until that module
is retired, a name this package does not define (``ArmEstate``...) is looked up in it, lazily, so the
double itself never imports the fake. Remove ``__getattr__`` below together with ``arm.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from tests.azure.arm.estate import item_name
from tests.azure.arm.service import ArmService

__all__ = ["ArmService", "item_name"]

_LEGACY = Path(__file__).resolve().parent.parent / "arm.py"


def __getattr__(name: str) -> Any:
    """Names of the older ``tests/azure/arm.py`` (the fake rendered as ARM), while it exists."""
    if name.startswith("__") or not _LEGACY.exists():
        raise AttributeError(name)
    import sys

    module = sys.modules.get("tests.azure._legacy_arm")
    if module is None:
        spec = importlib.util.spec_from_file_location("tests.azure._legacy_arm", _LEGACY)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    try:
        return getattr(module, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
