"""The fake adapter: a stateful in-memory Azure estate that keeps Azure's rules."""

from adapters.fake.adapter import FakeAdapter
from adapters.fake.schema import Estate, EstateInvalid, load_estate

__all__ = ["FakeAdapter", "Estate", "EstateInvalid", "load_estate"]
