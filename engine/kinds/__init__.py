"""The step kinds, one module per family; importing this package registers every kind in ``KINDS``."""

from engine.kinds import approval, asr, asserts, dns, network  # noqa: F401  (each registers its kinds)
from engine.kinds.registry import KINDS, get, register

__all__ = ["KINDS", "get", "register"]
