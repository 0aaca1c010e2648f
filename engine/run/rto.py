"""Measured recovery time: how long after the run began each VM was failed over, the network was
ready, and the recovery was verified, against the runbook's target (``rto``).

Times are in the adapter's simulated seconds (real seconds against Azure): wall-clock differences
divided by the clock's scale.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from engine.run.records import RunResult

FAILOVER_KINDS = ("asr.failover",)
NETWORK_PREFIX = ("network.", "dns.")
VERIFY_PREFIX = "assert."


@dataclass
class ItemRecovery:
    item: str
    step: str
    failed_over_s: float | None


@dataclass
class RecoveryTimes:
    target_s: float | None
    failed_over_s: float | None  # the last VM failed over
    network_ready_s: float | None  # the last network or DNS step done
    verified_s: float | None  # the last probe passed (None when any probe did not)
    items: list[ItemRecovery]
    unverified: list[str] = field(default_factory=list)  # probes that failed or never ran

    @property
    def recovered_s(self) -> float | None:
        """The run's recovery time: verified if it verifies, else network ready, else failed over; none
        when a probe failed, for recovery that a probe contradicts is not recovery."""
        if self.unverified:
            return None
        return self.verified_s or self.network_ready_s or self.failed_over_s

    @property
    def met(self) -> bool | None:
        if self.target_s is None:
            return None
        if self.unverified:
            return False
        if self.recovered_s is None:
            return None
        return self.recovered_s <= self.target_s

    def to_json(self) -> dict:
        return {**asdict(self), "recovered_s": self.recovered_s, "met": self.met}


def measure(result: RunResult, target_s: float | None, scale: float = 1.0) -> RecoveryTimes:
    start = result.started_at or 0.0

    def since_start(ts: float | None) -> float | None:
        return None if ts is None else round((ts - start) / scale, 3)

    def last(records) -> float | None:
        times = [since_start(r.finished_at) for r in records if r.finished_at]
        return max(times) if times else None

    done = [r for r in result.steps if str(r.status) in ("succeeded", "unchanged", "compensated")]
    failovers = [r for r in done if r.uses in FAILOVER_KINDS]
    items = [ItemRecovery(item, r.id, since_start(r.finished_at)) for r in failovers for item in r.outputs.get("items", [])]
    probes = [r for r in result.steps if r.uses.startswith(VERIFY_PREFIX)]
    unverified = [r.id for r in probes if str(r.status) not in ("succeeded", "unchanged", "compensated", "skipped")]
    return RecoveryTimes(
        target_s=target_s,
        failed_over_s=last(failovers),
        network_ready_s=last([r for r in done if r.uses.startswith(NETWORK_PREFIX)]),
        verified_s=None if unverified else last([r for r in done if r.uses.startswith(VERIFY_PREFIX)]),
        items=items,
        unverified=unverified,
    )
