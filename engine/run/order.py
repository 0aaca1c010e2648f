"""Which ready step gets the next free slot."""

from __future__ import annotations


def priorities(runbook, expected: dict[str, float]) -> dict[str, tuple]:
    """Which ready step gets the next free slot. First the one with the longest wait still ahead of
    it: its own expected duration plus the longest chain of its dependents', each step as long as it
    took when it last ran (``expected``: a drill, a rehearsal, an earlier failover). The recovery plan
    whose failover took longest then gets its target IPs first, and its failover starts while the
    others' IPs are still being set. Then the step furthest along its chain of needs (a failover whose
    target IPs are set goes before other plans' IPs), then the runbook's order. Without history, only
    the last two count."""
    order = runbook.order
    depth: dict[str, int] = {}
    for step_id in order:
        depth[step_id] = 1 + max((depth[n] for n in runbook.step(step_id).needs), default=-1)
    dependents: dict[str, list[str]] = {s.id: [] for s in runbook.steps}
    for step in runbook.steps:
        for need in step.needs:
            dependents[need].append(step.id)
    ahead: dict[str, float] = {}
    for step_id in reversed(order):
        ahead[step_id] = expected.get(step_id, 0.0) + max((ahead[d] for d in dependents[step_id]), default=0.0)
    return {s.id: (-ahead[s.id], -depth[s.id], i) for i, s in enumerate(runbook.steps)}
