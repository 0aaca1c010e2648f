"""The one contract every step kind keeps: read, decide, act, verify.

``plan()`` reads the current state and decides: nothing to do (``action == "none"``, the step is
``unchanged`` and no mutating call is made) or a change, described as a diff. ``apply()`` acts on that
decision, waits for it to take effect, verifies that the desired state now holds, and returns the
step's outputs. A retry or a resumed run starts again at ``plan()``, so a change that already
happened is seen and not made twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from engine.kinds.footprint import Scope, Touch
    from engine.run.context import StepContext

ACTIONS = ("none", "create", "update", "delete", "trigger")


class Args(BaseModel):
    """Base of every step kind's arguments: unknown keys are errors. Frozen: a step's arguments,
    once validated, are shared by its attempts and runs."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, populate_by_name=True, frozen=True)


class Change(NamedTuple):
    """One field of one resource, before and after (a plan makes one per changed field: a NamedTuple is
    immutable and cheap to build)."""

    resource: str
    field: str
    before: Any
    after: Any

    def to_json(self) -> dict:
        return {"resource": self.resource, "field": self.field, "before": self.before, "after": self.after}


@dataclass
class Decision:
    action: str = "none"
    changes: list[Change] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)  # the outputs when nothing needs doing
    state: Any = None  # what plan() read, handed to apply()
    undo: dict[str, Any] = field(default_factory=dict)  # what compensate() needs (JSON; journaled)

    @property
    def unchanged(self) -> bool:
        return self.action == "none"


class VerificationFailed(Exception):
    """The action was accepted but the desired state does not hold afterwards."""


class NotUndoable(Exception):
    """A change that cannot be compensated; the message says why and what is left."""


class StepKind:
    name: ClassVar[str]
    summary: ClassVar[str]
    Args: ClassVar[type[Args]]
    outputs: ClassVar[dict[str, str]] = {}  # output name -> what it is
    secret_fields: ClassVar[frozenset[str]] = frozenset()  # arguments that may take a secret parameter
    mutates: ClassVar[bool] = True
    waits_for_jobs: ClassVar[bool] = False  # spends its time waiting on ASR jobs, not calling Azure
    waits_for_person: ClassVar[bool] = False  # pauses a run until `failover approve` (see prompt())
    # The network-plan check the kind is held to before it runs in a plan (see engine.plan.rules):
    # rules(inspector, step, args, adapter), as a staticmethod.
    rules: ClassVar[Callable[..., None] | None] = None

    def footprint(self, args: Any, scope: Scope) -> list[Touch]:
        """The resources the step reads and writes (see ``engine.kinds.footprint``): two steps whose
        footprints conflict must be ordered by ``needs``. A kind that touches nothing in Azure (an approval)
        keeps this default."""
        return []

    def plan(self, ctx: StepContext, args: Any) -> Decision:
        raise NotImplementedError

    def apply(self, ctx: StepContext, args: Any, decision: Decision) -> dict[str, Any]:
        raise NotImplementedError

    def compensate(self, ctx: StepContext, undo: dict[str, Any]) -> str:
        """Undo what ``apply`` changed (``on_failure: rollback``), from the ``undo`` its decision
        recorded; return what was done, or raise ``NotUndoable``."""
        raise NotUndoable(f"{self.name} cannot be undone automatically")
