"""The runbook format, v1, as pydantic models. ``failover schema`` prints their JSON Schema."""

from __future__ import annotations

import re
from functools import cached_property, lru_cache
from graphlib import TopologicalSorter
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from adapters.ports import VaultRef
from adapters.shared import ids
from engine.model import expressions
from engine.model.durations import parse_duration
from engine.model.precedence import Precedence

Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(lambda v: v),
    Field(description="seconds, or text like 30s, 5m, 1h30m"),
]

STEP_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def typed_name(value: str) -> str:
    """A name an operator types (to confirm a run, on the command line): printable, not blank."""
    if not value.strip():
        raise ValueError("is empty: give it a name an operator can type")
    if not value.isprintable() or value != value.strip() or len(value) > 128:
        raise ValueError(f"{value[:40]!r} is not a name an operator can type: use up to 128 printable characters, "
                         "without spaces at either end")
    return value


TypedName = Annotated[str, AfterValidator(typed_name)]
PARAMETER_TYPES = ("string", "integer", "number", "boolean", "secret", "ip_address", "ip_network", "list")
ON_FAILURE = ("abort", "continue", "rollback")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Target(Strict):
    subscription: TypedName = Field(description="Azure subscription ID")
    resource_group: TypedName = Field(description="resource group that names resolve in")
    vault: str | None = Field(None, description="Recovery Services vault of the protected items")
    location: str | None = Field(None, description="Azure region for resources the runbook creates")

    @field_validator("vault")
    @classmethod
    def _vault_id(cls, value: str | None) -> str | None:
        if value and ids.is_resource_id(value):
            ids.parse(value)  # a ValueError that says how an ID is written
        return value

    def vault_ref(self, name: str | None = None) -> VaultRef:
        """The vault a step names (by name or resource ID), or the target's own."""
        vault = name or self.vault or ""
        if vault and ids.is_resource_id(vault):
            rid = ids.parse(vault)
            return _vault_ref(rid.subscription, rid.resource_group, rid.name)
        return _vault_ref(self.subscription, self.resource_group, vault)


@lru_cache(maxsize=256)
def _vault_ref(subscription: str, resource_group: str, vault: str) -> VaultRef:
    """One VaultRef per vault, shared by the steps: an adapter recognises a vault it has checked."""
    return VaultRef(subscription, resource_group, vault)


class Parameter(Strict):
    type: Literal["string", "integer", "number", "boolean", "secret", "ip_address", "ip_network", "list"] = "string"
    description: str | None = None
    enum: list[Any] | None = None
    default: Any = None
    from_: str | None = Field(
        None, alias="from", description="env:NAME or keyvault:VAULT/SECRET (where a secret comes from)"
    )

    @model_validator(mode="after")
    def _secret_source(self) -> Parameter:
        if self.type == "secret":
            if not self.from_:
                raise ValueError("a secret parameter needs `from: env:NAME` or `from: keyvault:VAULT/SECRET`")
            if self.default is not None:
                raise ValueError("a secret parameter cannot have a default: secrets never live in the runbook")
        if self.from_ and not re.match(r"^(env:[A-Za-z_][A-Za-z0-9_]*|keyvault:[^/\s]+/[^/\s]+)$", self.from_):
            raise ValueError(f"`from: {self.from_}` must be env:NAME or keyvault:VAULT/SECRET")
        return self

    @property
    def required(self) -> bool:
        return self.default is None and self.from_ is None


class RetryPolicy(Strict):
    attempts: int = Field(5, ge=1, le=50, description="tries in all, the first included")
    initial: Duration = Field(2.0, description="first back-off")
    max: Duration = Field(60.0, description="longest back-off (a longer Retry-After is still honoured)")


class Defaults(Strict):
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    timeout: Duration = Field(1800.0, description="per step")
    concurrency: int = Field(10, ge=1, le=512, description="steps running at once")
    on_failure: Literal["abort", "continue", "rollback"] = "abort"


class Condition(Strict):
    param: str
    equals: Any = None
    not_equals: Any = None
    in_: list[Any] | None = Field(None, alias="in")
    not_in: list[Any] | None = None

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        tests = [name for name in ("equals", "not_equals", "in_", "not_in") if name in self.model_fields_set]
        if len(tests) > 1:
            raise ValueError("a condition takes one of equals, not_equals, in, not_in")
        return self

    def holds(self, value: Any) -> bool:
        fields = self.model_fields_set
        if "equals" in fields:
            return value == self.equals
        if "not_equals" in fields:
            return value != self.not_equals
        if "in_" in fields:
            return value in (self.in_ or [])
        if "not_in" in fields:
            return value not in (self.not_in or [])
        return bool(value)


class Step(Strict):
    id: str = Field(description="unique; lowercase letters, digits, - and _")
    uses: str = Field(description="the step kind, e.g. asr.failover")
    with_: dict[str, Any] = Field(default_factory=dict, alias="with", description="the step kind's arguments")
    needs: list[str] = Field(default_factory=list, description="ids of steps that must finish first")
    description: str | None = None
    retry: RetryPolicy | None = None
    timeout: Duration | None = None
    on_failure: Literal["abort", "continue", "rollback"] | None = None
    when: Condition | str | None = Field(
        None, description="run only if the condition on parameters holds; else the step is skipped"
    )

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not STEP_ID.match(value):
            raise ValueError(f"step id {value!r}: use lowercase letters, digits, '-' and '_' (e.g. fail-over-app)")
        return value

    @field_validator("needs", mode="before")
    @classmethod
    def _needs(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def runs_with(self, params: dict[str, Any]) -> bool:
        """Whether the step's ``when`` holds for these parameter values (a step without one always runs)."""
        if self.when is None:
            return True
        if isinstance(self.when, str):
            return bool(expressions.resolve(self.when, params, {}))
        return self.when.holds(params.get(self.when.param))

    @cached_property
    def references(self) -> tuple[expressions.Reference, ...]:
        """Every expression in ``with``, parsed once: loading checks them, and every run and
        simulation resolves them."""
        return tuple(expressions.references(self.with_))


class Readiness(Strict):
    """What `failover check` holds the live estate to, besides the runbook itself."""

    rpo: Duration | None = Field(None, description="the oldest a protected VM's latest recovery point may be")


class Runbook(Strict):
    version: Literal[1] = Field(description="the runbook format version")
    name: TypedName = Field(description="typed by the operator to confirm a run on real Azure")
    description: str | None = None
    target: Target
    parameters: dict[str, Parameter] = Field(default_factory=dict)
    defaults: Defaults = Field(default_factory=Defaults)
    rto: Duration | None = Field(None, description="target recovery time for the whole run")
    readiness: Readiness = Field(default_factory=Readiness, description="what `failover check` holds the estate to")
    accept_partial_subnets: list[str] = Field(
        default_factory=list,
        description="moved subnets whose other protected VMs this runbook deliberately leaves behind",
    )
    steps: list[Step] = Field(min_length=1)

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, value: dict[str, Parameter]) -> dict[str, Parameter]:
        for name in value:
            if not PARAMETER_NAME.match(name):
                raise ValueError(f"parameter name {name[:40]!r}: use letters, digits and _ (e.g. failover_type), "
                                 "as --param and ${{ params.NAME }} take it")
        return value

    def _positions(self) -> dict[str, int]:
        positions = self.__dict__.get("_position_of")
        if positions is None:  # built once: a lookup per step must not grow with the runbook
            positions = self.__dict__["_position_of"] = {}
            for number, step in enumerate(self.steps):
                positions.setdefault(step.id, number)
        return positions

    def step(self, step_id: str) -> Step:
        return self.steps[self._positions()[step_id]]

    @cached_property
    def order(self) -> tuple[str, ...]:
        """The step ids, each after its needs: worked out once (loading checks it, every run and
        simulation ranks its steps by it). Raises ``graphlib.CycleError`` if the needs form a cycle."""
        return tuple(TopologicalSorter({s.id: set(s.needs) for s in self.steps}).static_order())

    @cached_property
    def precedence(self) -> Precedence:
        """Which steps are ordered by needs (directly or through others), worked out once."""
        return Precedence(self.order, lambda step_id: self.step(step_id).needs)

    def has_step(self, step_id: str) -> bool:
        return step_id in self._positions()

    def position(self, step_id: str) -> int:
        """Where the step is in the file (its first occurrence, if an id is used twice)."""
        return self._positions()[step_id]

    def timeout_of(self, step: Step) -> float:
        return step.timeout if step.timeout is not None else self.defaults.timeout

    def retry_of(self, step: Step) -> RetryPolicy:
        return step.retry or self.defaults.retry

    def on_failure_of(self, step: Step) -> str:
        return step.on_failure or self.defaults.on_failure
