"""Step kinds that wait for a person: ``approval`` (a go/no-go) and ``manual`` (work done by hand,
such as the on-premises router change the seed describes). The run pauses (exit 4) until
``failover approve RUN_ID STEP_ID``; ``failover resume RUN_ID`` then goes on. Past the step's timeout
an unapproved step fails, and ``on_failure`` decides what follows."""

from __future__ import annotations

from pydantic import Field

from engine.kinds.base import Args, Decision, StepKind
from engine.kinds.registry import register
from engine.run.context import PauseRequested, StepContext, StepTimeout


class ApprovalArgs(Args):
    message: str = Field("Approve to continue the run", description="what the approver is asked")


class ManualArgs(Args):
    instructions: str = Field(description="what the operator must do by hand before approving")


class WaitForPerson(StepKind):
    mutates = False
    waits_for_person = True
    outputs = {"approved_by": "who released the step", "approved_at": "when (UTC, ISO 8601)"}

    def prompt(self, args) -> str:
        """What the person is asked, or told to do."""
        raise NotImplementedError

    def plan(self, ctx: StepContext, args) -> Decision:
        approval = ctx.approval()
        if approval:
            return Decision("none", outputs={"approved_by": approval.get("approved_by", ""),
                                             "approved_at": approval.get("approved_at", "")})
        waited = ctx.clock.wall() - (ctx.first_started_at or ctx.clock.wall())
        if waited >= ctx.timeout:
            raise StepTimeout(f"nobody approved it within {ctx.timeout:.0f}s")
        raise PauseRequested(f"{self.prompt(args)} — then run: failover approve {{run_id}} {ctx.step_id}")


@register
class Approval(WaitForPerson):
    name = "approval"
    summary = "Pause until a person approves with `failover approve RUN_ID STEP_ID`."
    Args = ApprovalArgs

    def prompt(self, args: ApprovalArgs) -> str:
        return args.message


@register
class Manual(WaitForPerson):
    name = "manual"
    summary = "Show instructions for work done by hand and pause until it is approved as done."
    Args = ManualArgs

    def prompt(self, args: ManualArgs) -> str:
        return args.instructions.strip()
