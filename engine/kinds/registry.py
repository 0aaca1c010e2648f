"""The one registry of step kinds: ``uses:`` in a runbook names a key of ``KINDS``."""

from __future__ import annotations

from engine.kinds.base import StepKind

KINDS: dict[str, StepKind] = {}


def register(cls: type[StepKind]) -> type[StepKind]:
    if cls.name in KINDS:
        raise ValueError(f"step kind {cls.name} registered twice")
    KINDS[cls.name] = cls()
    return cls


def get(name: str) -> StepKind:
    return KINDS[name]
