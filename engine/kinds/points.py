"""Which recovery point a failover (or a change of point) takes, and what it costs in data.

A runbook asks for ``latest`` (every change the service has received: it processes them at the failover),
``latest_processed`` (the newest point already processed: the fastest failover), ``latest_app_consistent``
(the newest application-consistent point), or ``{before: TIME, consistency: application|crash}`` (the
newest point before TIME, e.g. before a ransomware attack). The point is chosen from the item's own
points, read when the step decides, so ``plan`` shows it per VM with its data-loss window.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import Field, field_validator

from adapters.ports import RecoveryPoint
from adapters.shared.itemstate import APP_CONSISTENT, CRASH_CONSISTENT
from engine.kinds.base import Args

LATEST = "latest"
NAMED = ("latest", "latest_processed", "latest_app_consistent")
CONSISTENCY = {"application": APP_CONSISTENT, "crash": CRASH_CONSISTENT}


class PointBefore(Args):
    before: datetime = Field(description="the newest point strictly before this time (ISO 8601; UTC if no offset)")
    consistency: Literal["application", "crash"] | None = Field(
        None, description="application: only application-consistent points; crash: only crash-consistent ones; "
                          "default: either")

    @field_validator("before")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)


PointChoice = Literal["latest", "latest_processed", "latest_app_consistent"] | PointBefore


def parsed_choice(value, named: tuple[str, ...] = NAMED):
    """A ``recovery_point`` argument, with one message that says what it may be (a validator, mode before)."""
    shape = f"{', '.join(named)}, or {{before: TIME, consistency: application|crash}}"
    if value is None or isinstance(value, PointBefore):
        return value
    if isinstance(value, str):
        if value not in named:
            raise ValueError(f"recovery_point {value!r} is not one of {shape}")
        return value
    if isinstance(value, dict):
        try:
            return PointBefore.model_validate(value)
        except ValueError as exc:
            details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in getattr(exc, "errors",
                                                                                                 lambda: [])())
            raise ValueError(f"recovery_point is {shape} ({details or exc})") from None
    raise ValueError(f"recovery_point is {shape}")


def choose(points: list[RecoveryPoint], choice: PointChoice) -> RecoveryPoint | None:
    """The point ``choice`` names among ``points`` (oldest first); ``None`` when none fits. ``latest`` names no
    point of the list: the service takes one at the failover."""
    if choice == "latest_processed":
        return points[-1] if points else None
    if choice == "latest_app_consistent":
        return next((p for p in reversed(points) if p.app_consistent), None)
    if isinstance(choice, PointBefore):
        limit = choice.before.timestamp()
        kind = CONSISTENCY.get(choice.consistency or "")
        return next((p for p in reversed(points) if p.time < limit and (kind is None or p.type == kind)), None)
    return None


def describe_choice(choice: PointChoice) -> str:
    if isinstance(choice, PointBefore):
        kind = {"application": "application-consistent ", "crash": "crash-consistent "}.get(choice.consistency or "", "")
        return f"the newest {kind}point before {stamp(choice.before.timestamp())}"
    return {"latest": "the latest point", "latest_processed": "the latest processed point",
            "latest_app_consistent": "the latest application-consistent point"}[choice]


def stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def window(seconds: float) -> str:
    """A data-loss window, as an operator reads it."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m" if minutes else ""]
    return "".join(parts)


def shown(point: RecoveryPoint, now: float) -> str:
    """The point as ``plan`` shows it: its time, its consistency, and the data written after it."""
    kind = "application-consistent" if point.type == APP_CONSISTENT else "crash-consistent"
    return f"{stamp(point.time)} ({kind}; data-loss window {window(now - point.time)})"


def summary(point: RecoveryPoint, now: float) -> dict:
    """The point as a step's output records it."""
    return {"id": point.id, "time": stamp(point.time), "type": point.type,
            "data_loss_seconds": max(0, round(now - point.time))}


def no_point_message(vm: str, choice: PointChoice, points: list[RecoveryPoint], now: float) -> str:
    newest = f"its newest is {shown(points[-1], now)}" if points else "it has no recovery point at all"
    return f"{vm} has no recovery point matching {describe_choice(choice)}: {newest}"
