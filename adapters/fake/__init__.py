"""The fake adapter: a stateful in-memory Azure estate that keeps Azure's rules."""

from adapters.fake.adapter import FakeAdapter

__all__ = ["FakeAdapter"]
