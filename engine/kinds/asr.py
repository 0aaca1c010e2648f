"""Site Recovery step kinds: target IPs, failovers (to a chosen recovery point, and back from Azure), commit,
a change of recovery point, test-failover cleanup, reverse replication."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator, model_validator

from adapters.ports import JobHandle, NetworkSettings, ProtectedItem, RecoveryPoint, VaultRef
from adapters.shared import ids
from adapters.shared.addressing import address_text, parsed_address
from adapters.shared.errors import JobFailedError
from adapters.shared.itemstate import (
    CANCEL_FAILOVER,
    PLAN_POINT_TYPES,
    PRIMARY_TO_RECOVERY,
    RECOVERY_TO_PRIMARY,
    TestFailover,
)
from engine.kinds import points
from engine.kinds.base import Args, Change, Decision, NotUndoable, StepKind, VerificationFailed
from engine.kinds.footprint import READ, Scope, Touch, named_resource, protected_item, protected_items
from engine.kinds.registry import register
from engine.plan.rules.addresses import check_target_ip
from engine.plan.rules.items import (
    check_apply_point,
    check_cleanup,
    check_commit,
    check_failover,
    check_reprotect,
)
from engine.run.context import StepContext
from engine.run.items import ItemReader


@lru_cache(maxsize=65536)
def _ipv4(value: str | None) -> str | None:
    """The address written the standard way (checked when the runbook is loaded, again when the step
    runs: once per address is enough)."""
    if value is None:
        return None
    try:
        address = parsed_address(value)  # the cache the network rules read too
    except ValueError:
        address = None
    if address is None or address.version != 4:
        raise ValueError(f"{value!r} is not an IPv4 address")
    return address_text(value)


# --------------------------------------------------------------------------------------------------
# asr.set_target_ip


class SetTargetIpArgs(Args):
    item: str = Field(description="the protected VM (its name in the vault)")
    network: str | None = Field(None, description="recovery virtual network (name or resource ID)")
    subnet: str | None = Field(None, description="subnet of the recovery network")
    ip: str | None = Field(None, description="static IP the VM gets after failover; the on-premises IP to keep it")
    nic: str | None = Field(None, description="NIC ID when the VM has several (default: the primary NIC)")
    test_network: str | None = Field(None, description="isolated network for test failover")
    test_subnet: str | None = None
    test_ip: str | None = None
    vault: str | None = None

    _ip = field_validator("ip", "test_ip")(classmethod(lambda cls, v: _ipv4(v)))

    @model_validator(mode="after")
    def _test_settings(self) -> SetTargetIpArgs:
        recovery = [self.network, self.subnet, self.ip]
        if any(recovery) and not all(recovery):
            raise ValueError("give the recovery `network`, `subnet` and `ip` together")
        if not any(recovery) and not self.test_network:
            raise ValueError("give the recovery `network`, `subnet` and `ip`, or a `test_network` (or both)")
        if (self.test_ip or self.test_subnet) and not self.test_network:
            raise ValueError("test_ip and test_subnet need test_network")
        if self.test_network and not (self.test_subnet or self.subnet):
            raise ValueError("give `test_subnet` (or `subnet`, which it defaults to)")
        return self


FIELDS = ("recovery_network", "recovery_subnet", "recovery_ip", "test_network", "test_subnet", "test_ip")


@register
class SetTargetIp(StepKind):
    name = "asr.set_target_ip"
    waits_for_jobs = True  # the update's job: the step's slot is free while it runs
    summary = "Set the recovery network, subnet and static IP of a protected VM (and of its test failover)."
    Args = SetTargetIpArgs
    rules = staticmethod(check_target_ip)
    outputs = {"item": "the VM name", "ip": "the recovery IP", "network": "recovery network ID",
               "subnet": "recovery subnet", "test_ip": "the test-failover IP, if set"}

    def desired(self, ctx: StepContext, args: SetTargetIpArgs) -> NetworkSettings:
        return NetworkSettings(
            recovery_network=ctx.vnet_id(args.network) if args.network else None,
            recovery_subnet=args.subnet,
            recovery_ip=args.ip,
            test_network=ctx.vnet_id(args.test_network) if args.test_network else None,
            test_subnet=args.test_subnet or (args.subnet if args.test_network else None),
            test_ip=args.test_ip,
        )

    def plan(self, ctx: StepContext, args: SetTargetIpArgs) -> Decision:
        vault = ctx.vault(args.vault)
        item = ctx.adapter.replication.get_protected_item(vault, args.item)
        if item.state.busy:  # e.g. the update this step sent before a crash: decide once it has ended
            ctx.log.info("job.attached", job=item.state.job, on=item.vm_name)
            ctx.wait_for_jobs([JobHandle(vault, item.state.job, "running job", item.vm_name)], settle=True)
            item = ctx.adapter.replication.get_protected_item(vault, args.item)
        nic = _nic(item, args.nic)
        want = self.desired(ctx, args)
        changes = [
            Change(f"protected item {item.vm_name}", name, _shown(getattr(nic, name)), _shown(getattr(want, name)))
            for name in FIELDS
            if getattr(want, name) is not None and not _same_value(getattr(nic, name), getattr(want, name))
        ]
        outputs = self._outputs(args, want)
        if not changes:
            return Decision("none", outputs=outputs)
        if item.state.failed_over:
            raise VerificationFailed(
                f"{item.vm_name} has already failed over ({item.state.describe()}); its target network can no "
                "longer change. Fail back first, or remove this step."
            )
        previous = {name: getattr(nic, name) for name in FIELDS}
        return Decision("update", changes, outputs=outputs, state=(vault, item, nic, want),
                        undo={"vault": vault.__dict__, "item": item.vm_name, "nic": nic.nic_id, "previous": previous,
                              "changed": [c.field for c in changes]})

    def footprint(self, args: SetTargetIpArgs, scope: Scope) -> list[Touch]:
        touches = [protected_item(scope.vault(args.vault), args.item)]
        for network in {n for n in (args.network, args.test_network) if n}:
            touches.append(named_resource(scope, network, ids.VIRTUAL_NETWORK, "virtual network", READ))
        return touches

    def apply(self, ctx: StepContext, args: SetTargetIpArgs, decision: Decision) -> dict:
        vault, item, nic, want = decision.state
        # The update is an ASR job: followed with the run's other jobs (one paged list for all), this step's
        # slot free meanwhile, then the item read once to check it against what was wanted.
        handle = ctx.adapter.replication.start_network_update(vault, item.vm_name, nic.nic_id, want, current=item)
        ctx.log.info("job.started", job=handle.job_id, operation=handle.operation, on=handle.target)
        ctx.on_job_started(handle)
        ctx.wait_for_jobs([handle], interruptible=False)  # as the call it was: an interrupt lets it end
        after = _nic(ctx.adapter.replication.get_protected_item(vault, item.vm_name), args.nic)
        wrong = [n for n in FIELDS if getattr(want, n) is not None and not _same_value(getattr(after, n), getattr(want, n))]
        if wrong:
            raise VerificationFailed(f"{item.vm_name}: after the update, {', '.join(wrong)} still differ")
        return decision.outputs

    def compensate(self, ctx: StepContext, undo: dict) -> str:
        previous, changed = undo["previous"], set(undo["changed"])
        restore = {f: previous[f] for f in FIELDS if f in changed}
        if any(f.startswith("recovery_") for f in changed) and not previous.get("recovery_network"):
            raise NotUndoable(f"{undo['item']} had no recovery network before; ASR cannot clear one (it has no "
                              "effect until a failover)")
        clear_test = any(f.startswith("test_") for f in changed) and not previous.get("test_network")
        if clear_test:
            restore = {**{f: v for f, v in restore.items() if not f.startswith("test_")}, "test_network": ""}
        expected = {f: (None if clear_test and f.startswith("test_") else previous.get(f)) for f in FIELDS
                    if f in changed or (clear_test and f.startswith("test_"))}
        vault = VaultRef(**undo["vault"])
        # Read first: a cleanup cut short and run again sends nothing for what it already undid.
        item = ctx.adapter.replication.get_protected_item(vault, undo["item"])
        if item.state.busy:
            ctx.wait_for_jobs([JobHandle(vault, item.state.job, "running job", item.vm_name)], settle=True)
            item = ctx.adapter.replication.get_protected_item(vault, undo["item"])
        nic = _nic(item, undo["nic"])
        if all(_same_value(getattr(nic, f), v) for f, v in expected.items()):
            return f"{undo['item']}: already as before (" + ", ".join(
                f"{f} {_shown(v) if v else 'none'}" for f, v in expected.items()) + ")"
        item = ctx.adapter.replication.update_network_settings(vault, undo["item"], undo["nic"],
                                                               NetworkSettings(**restore))
        # What the service answered, not what was asked: a field it kept is a change left behind.
        nic = _nic(item, undo["nic"])
        found = {f: getattr(nic, f) for f in expected}
        left = {f: v for f, v in found.items() if not _same_value(v, expected[f])}
        if left:
            raise VerificationFailed(f"{undo['item']}: after the update the service still reports "
                                     + ", ".join(f"{f} {_shown(v)}" for f, v in left.items()))
        return f"{undo['item']}: the service now reports " + ", ".join(
            f"{f} {_shown(v) if v else 'none'}" for f, v in found.items())

    @staticmethod
    def _outputs(args: SetTargetIpArgs, want: NetworkSettings) -> dict:
        return {"item": args.item, "ip": want.recovery_ip or "", "network": want.recovery_network or "",
                "subnet": want.recovery_subnet or "", "test_ip": want.test_ip or ""}


def _nic(item: ProtectedItem, nic_id: str | None):
    if nic_id is None:
        return item.primary_nic
    for nic in item.nics:
        if ids.same(nic.nic_id, nic_id) or ids.name_of(nic.nic_id) == nic_id:
            return nic
    raise VerificationFailed(f"{item.vm_name} has no NIC {nic_id}; it has {[n.nic_id for n in item.nics]}")


def _shown(value: str | None) -> str | None:
    """Networks by name in diffs: the full ID is noise to a reader."""
    return ids.name_of(value) if value and ids.is_resource_id(value) else value


def _same_value(current: str | None, wanted: str | None) -> bool:
    if current and wanted and current.startswith("/subscriptions/"):
        return ids.same(current, wanted)
    return current == wanted


# --------------------------------------------------------------------------------------------------
# Operations on items or a recovery plan, each run as ASR jobs


class ItemsOrPlan(Args):
    items: list[str] | None = Field(None, description="protected VMs")
    plan: str | None = Field(None, description="a recovery plan (instead of items)")
    vault: str | None = None

    @model_validator(mode="after")
    def _one_of(self):
        if bool(self.items) == bool(self.plan):
            raise ValueError("give either `items` (a list of protected VMs) or `plan` (a recovery plan), not both")
        if self.items and len(set(self.items)) != len(self.items):
            raise ValueError("`items` lists a VM twice")
        return self


class JobOperation(StepKind):
    """A kind whose action is one ASR operation per item (or one for a whole recovery plan)."""

    operation: str = ""  # the allowed_operations entry this kind needs
    waits_for_jobs = True
    outputs = {"items": "the VMs the step covers", "job_ids": "the ASR jobs it started (empty when unchanged)"}

    def done(self, item: ProtectedItem, args, chosen: dict) -> bool:
        raise NotImplementedError

    def change(self, item: ProtectedItem, args) -> Change:
        raise NotImplementedError

    def start(self, ctx: StepContext, vault: VaultRef, item: str, args, chosen: dict) -> JobHandle:
        raise NotImplementedError

    def start_plan(self, ctx: StepContext, vault: VaultRef, plan: str, args) -> JobHandle:
        raise NotImplementedError

    def choose(self, ctx: StepContext, vault: VaultRef, items: list[ProtectedItem], args) -> dict:
        """What the step decides per item before it acts (a recovery point, say): VM name -> choice."""
        return {}

    def more_changes(self, ctx: StepContext, todo: list[ProtectedItem], args, chosen: dict) -> list[Change]:
        return []

    def plan(self, ctx: StepContext, args) -> Decision:
        vault = ctx.vault(args.vault)
        items = _items_now(ctx, vault, args, list(args.items or ()), ctx.items.read)  # with others starting now
        names = [item.vm_name for item in items] if args.plan else list(args.items)
        todo = [item for item in items if not self.done(item, args, {})]
        chosen = self.choose(ctx, vault, todo, args) if todo else {}
        if chosen:  # done may depend on what was chosen (a change of point: done once at that point)
            todo = [item for item in todo if not self.done(item, args, chosen)]
        outputs = self.outputs_for(items, [])
        if not todo:
            return Decision("none", outputs=outputs)
        changes = [self.change(item, args) for item in todo] + self.more_changes(ctx, todo, args, chosen)
        return Decision("trigger", changes, outputs={**outputs, **self.chosen_outputs(ctx, chosen)},
                        state=(vault, names, todo, chosen), undo=self.undo_for(vault, todo, args))

    def chosen_outputs(self, ctx: StepContext, chosen: dict) -> dict:
        return {}

    def footprint(self, args, scope: Scope) -> list[Touch]:
        """Each item (an item runs one ASR job at a time), or each item of the recovery plan."""
        return protected_items(scope, args.vault, args.items, args.plan)

    def undo_for(self, vault: VaultRef, todo: list[ProtectedItem], args) -> dict:
        return {}

    def compensate(self, ctx: StepContext, undo: dict) -> str:
        if not undo:
            raise NotUndoable(f"{self.name} cannot be undone")
        vault = VaultRef(**undo["vault"])
        items = _read_each(ctx, vault, undo["items"])
        running = [JobHandle(vault, i.state.job, "running job", i.vm_name) for i in items if i.state.busy]
        if running:  # e.g. interrupted while the failover ran: let it finish, then undo it
            try:
                ctx.wait_for_jobs(running)
            except JobFailedError as exc:
                ctx.log.info("job.failed_before_undo", error=str(exc))
            items = _read_each(ctx, vault, undo["items"])
        handles = [self.undo_one(ctx, vault, item, undo) for item in items]
        handles = [h for h in handles if h is not None]
        if handles:
            ctx.wait_for_jobs(handles)
        return f"{undo['undo']} of {', '.join(undo['items'])}"

    def undo_one(self, ctx: StepContext, vault: VaultRef, item: ProtectedItem, undo: dict):
        raise NotUndoable(f"{self.name} cannot be undone")

    def apply(self, ctx: StepContext, args, decision: Decision) -> dict:
        vault, names, todo, chosen = decision.state
        # A job already running on an item (started before a crash, or by someone else) is waited
        # for, never repeated; then the state is read again and only what is still missing is started.
        running = [JobHandle(vault, i.state.job, "running job", i.vm_name) for i in todo if i.state.busy]
        if running:
            for handle in running:
                ctx.log.info("job.attached", job=handle.job_id, on=handle.target)
            ctx.wait_for_jobs(running)
            todo = [i for i in _items_now(ctx, vault, args, names, _read_each) if not self.done(i, args, chosen)]
        handles = []
        if todo:
            if args.plan and len(todo) == len(names):
                handles = [self._started(ctx, self.start_plan(ctx, vault, args.plan, args))]
            else:
                handles = [self._started(ctx, self.start(ctx, vault, item.vm_name, args, chosen)) for item in todo]
            ctx.wait_for_jobs(handles)
        after = _items_now(ctx, vault, args, names, _read_after)
        if missing := [item for item in after if not self.done(item, args, chosen)]:
            raise VerificationFailed(
                f"the jobs succeeded but {', '.join(self.describe(i) for i in missing)}"
            )
        return {**self.outputs_for(after, [h.job_id for h in running + handles]), **self.chosen_outputs(ctx, chosen)}

    @staticmethod
    def _started(ctx: StepContext, handle: JobHandle) -> JobHandle:
        ctx.log.info("job.started", job=handle.job_id, operation=handle.operation, on=handle.target)
        ctx.on_job_started(handle)
        return handle

    def describe(self, item: ProtectedItem) -> str:
        return f"{item.vm_name} is {item.state.describe()}"

    def outputs_for(self, items: list[ProtectedItem], job_ids: list[str]) -> dict:
        return {"items": [item.vm_name for item in items], "job_ids": job_ids}


Direction = Literal["primary_to_recovery", "recovery_to_primary"]
DATA_SYNC = {"before_failover": "ForSynchronization", "during_failover": "ForDownTime"}


class FailoverArgs(ItemsOrPlan):
    type: Literal["test", "planned", "unplanned"] = Field(description="test, planned or unplanned")
    network: str | None = Field(None, description="test failover only: the isolated virtual network")
    shut_down_source: bool = Field(True, description="unplanned only: shut the on-premises VMs down first")
    recovery_point: points.PointChoice | None = Field(
        None, description="latest, latest_processed, latest_app_consistent, or {before: TIME, consistency: "
                          "application|crash}; default: the service's latest")
    direction: Direction = Field(PRIMARY_TO_RECOVERY, description="recovery_to_primary: fail back from Azure")
    data_sync: Literal["before_failover", "during_failover"] | None = Field(
        None, description="failback only: synchronise the changes while the VM still runs in Azure "
                          "(before_failover, the default: short downtime) or after it stops (during_failover)")
    create_vm: bool | None = Field(None, description="failback only: create the on-premises VM if it is not found")

    _point = field_validator("recovery_point", mode="before")(classmethod(lambda cls, v: points.parsed_choice(v)))

    @model_validator(mode="after")
    def _failback(self):
        if self.direction == RECOVERY_TO_PRIMARY:
            if self.type != "planned":
                raise ValueError("a failback (direction: recovery_to_primary) is a planned failover: type: planned")
            if self.recovery_point is not None:
                raise ValueError("a failback brings the VM's latest state home; recovery_point is for failovers "
                                 "to Azure")
        elif self.data_sync is not None or self.create_vm is not None:
            raise ValueError("data_sync and create_vm are failback options (direction: recovery_to_primary)")
        if self.plan and isinstance(self.recovery_point, points.PointBefore):
            raise ValueError("a recovery plan fails over to latest, latest_processed or latest_app_consistent; "
                             "for a point before a time, list the VMs in `items`")
        return self

    @model_validator(mode="after")
    def _test_network(self):
        if self.type == "test" and not self.network:
            raise ValueError("a test failover needs `network`: an isolated virtual network, never production")
        if self.type != "test" and self.network:
            raise ValueError("`network` is for test failovers; the recovery network is set per VM "
                             "with asr.set_target_ip")
        return self


@register
class Failover(JobOperation):
    name = "asr.failover"
    summary = "Test, planned or unplanned failover of protected VMs or a recovery plan; waits for the ASR jobs."
    Args = FailoverArgs
    rules = staticmethod(check_failover)
    outputs = {**JobOperation.outputs, "ips": "VM name -> the IP it has in Azure after the failover",
               "recovery_points": "with recovery_point: VM name -> the point it came up at (id, time, type, "
                                  "data_loss_seconds)"}

    def done(self, item: ProtectedItem, args: FailoverArgs, chosen: dict) -> bool:
        if args.direction == RECOVERY_TO_PRIMARY:
            return item.state.at_primary
        if args.type == "test":
            return item.state.test_failed_over and not item.state.busy
        return item.state.failed_over and not item.state.busy

    def change(self, item: ProtectedItem, args: FailoverArgs) -> Change:
        if args.direction == RECOVERY_TO_PRIMARY:
            return Change(f"protected item {item.vm_name}", "active_location", item.state.active_location, "Primary")
        if args.type == "test":
            return Change(f"protected item {item.vm_name}", "test_failover", str(item.state.test_failover), "up")
        return Change(f"protected item {item.vm_name}", "active_location", item.state.active_location, "Recovery")

    def choose(self, ctx, vault, items, args: FailoverArgs) -> dict:
        """The recovery point of each VM still to fail over (read only when the runbook asks for one)."""
        if args.recovery_point is None or args.plan:
            return {}
        return {item.vm_name: point_for(ctx, vault, item.vm_name, args.recovery_point) for item in items}

    def more_changes(self, ctx, todo, args: FailoverArgs, chosen: dict) -> list[Change]:
        if args.recovery_point is None:
            return []
        now = ctx.clock.wall()
        return [Change(f"protected item {item.vm_name}", "recovery_point", None,
                       points.shown(chosen[item.vm_name], now) if chosen.get(item.vm_name)
                       else "latest: every change the service has received (data-loss window: the replication lag)")
                for item in todo]

    def chosen_outputs(self, ctx, chosen: dict) -> dict:
        now = ctx.clock.wall()
        return {"recovery_points": {vm: points.summary(point, now) for vm, point in chosen.items() if point}}

    def start(self, ctx, vault, item, args: FailoverArgs, chosen: dict) -> JobHandle:
        if args.direction == RECOVERY_TO_PRIMARY:
            return ctx.adapter.replication.start_failback(vault, item, data_sync=DATA_SYNC[args.data_sync or
                                                                                          "before_failover"],
                                                          create_vm=bool(args.create_vm))
        point = chosen.get(item)
        return ctx.adapter.replication.start_failover(
            vault, item, args.type, test_network=self._network(ctx, args), shut_down_source=args.shut_down_source,
            recovery_point_id=point.id if point else None,
        )

    def start_plan(self, ctx, vault, plan, args: FailoverArgs) -> JobHandle:
        if args.direction == RECOVERY_TO_PRIMARY:
            return ctx.adapter.replication.start_plan_failback(
                vault, plan, data_sync=DATA_SYNC[args.data_sync or "before_failover"], create_vm=bool(args.create_vm))
        return ctx.adapter.replication.start_plan_failover(
            vault, plan, args.type, test_network=self._network(ctx, args), shut_down_source=args.shut_down_source,
            recovery_point_type=PLAN_POINT_TYPES[args.recovery_point or "latest"],
        )

    def footprint(self, args: FailoverArgs, scope: Scope) -> list[Touch]:
        touches = super().footprint(args, scope)
        if args.network:
            touches.append(named_resource(scope, args.network, ids.VIRTUAL_NETWORK, "virtual network",
                                              READ))
        return touches

    def undo_for(self, vault: VaultRef, todo: list[ProtectedItem], args: FailoverArgs) -> dict:
        if args.direction == RECOVERY_TO_PRIMARY:
            return {}  # a failback is not cancelled: fail over again
        return {"vault": vault.__dict__, "items": [i.vm_name for i in todo],
                "undo": "test failover cleanup" if args.type == "test" else "failover cancel"}

    def undo_one(self, ctx: StepContext, vault: VaultRef, item: ProtectedItem, undo: dict):
        if undo["undo"] == "test failover cleanup":
            if not item.state.test_failover_left:
                return None
            return ctx.adapter.replication.start_test_failover_cleanup(vault, item.vm_name, "Rolled back by failover")
        if not item.state.failed_over:
            return None
        if not item.state.allows(CANCEL_FAILOVER):
            raise NotUndoable(f"{item.vm_name} can no longer be cancelled ({item.state.describe()}); fail it back "
                              "with a reverse replication and a failover from Azure")
        return ctx.adapter.replication.start_cancel(vault, item.vm_name)

    @staticmethod
    def _network(ctx: StepContext, args: FailoverArgs) -> str | None:
        return ctx.vnet_id(args.network) if args.network else None


    def outputs_for(self, items, job_ids) -> dict:
        ips = {item.vm_name: (item.recovery_vm_ip or item.test_vm_ip or "") for item in items}
        return {**super().outputs_for(items, job_ids), "ips": ips}


class CommitArgs(ItemsOrPlan):
    direction: Direction = Field(PRIMARY_TO_RECOVERY, description="recovery_to_primary: commit a failback")


@register
class Commit(JobOperation):
    name = "asr.commit"
    summary = "Commit the failover (or failback) of protected VMs or a recovery plan; waits for the ASR jobs."
    Args = CommitArgs
    rules = staticmethod(check_commit)

    def done(self, item: ProtectedItem, args: CommitArgs, chosen: dict) -> bool:
        # Decided from allowed operations, not the free-text protection state: once failed over (or back),
        # an item that no longer offers Commit (and runs no job) has been committed.
        if args.direction == RECOVERY_TO_PRIMARY:
            return item.state.failback_committed
        return item.state.committed

    def change(self, item: ProtectedItem, args) -> Change:
        return Change(f"protected item {item.vm_name}", "committed", False, True)

    def start(self, ctx, vault, item, args, chosen) -> JobHandle:
        return ctx.adapter.replication.start_commit(vault, item)

    def start_plan(self, ctx, vault, plan, args) -> JobHandle:
        return ctx.adapter.replication.start_plan_commit(vault, plan)

    def compensate(self, ctx: StepContext, undo: dict) -> str:
        raise NotUndoable("a committed failover cannot be undone: fail back with reverse replication instead")


class CleanupArgs(ItemsOrPlan):
    comments: str = Field("Test failover cleaned up by failover", description="recorded by ASR with the cleanup")


@register
class CleanupTestFailover(JobOperation):
    name = "asr.cleanup_test_failover"
    summary = "Remove what a test failover created (the test VMs); waits for the ASR jobs."
    Args = CleanupArgs
    rules = staticmethod(check_cleanup)

    def done(self, item: ProtectedItem, args, chosen: dict) -> bool:
        return item.state.test_failover == TestFailover.NONE

    def change(self, item: ProtectedItem, args) -> Change:
        return Change(f"protected item {item.vm_name}", "test_failover", str(item.state.test_failover), "none")

    def start(self, ctx, vault, item, args: CleanupArgs, chosen) -> JobHandle:
        return ctx.adapter.replication.start_test_failover_cleanup(vault, item, args.comments)

    def start_plan(self, ctx, vault, plan, args: CleanupArgs) -> JobHandle:
        return ctx.adapter.replication.start_plan_test_failover_cleanup(vault, plan, args.comments)

    def compensate(self, ctx: StepContext, undo: dict) -> str:
        raise NotUndoable("a cleaned-up test failover is not brought back; nothing was left behind")


# --------------------------------------------------------------------------------------------------
# The point in time and the way back


def point_for(ctx: StepContext, vault: VaultRef, vm: str, choice) -> RecoveryPoint | None:
    """The recovery point ``choice`` names for ``vm``, read from its points (``None`` for ``latest``, which
    the service takes at the failover). No matching point fails the step, naming the newest there is."""
    if choice == points.LATEST:
        return None
    found = ctx.adapter.replication.list_recovery_points(vault, vm)
    point = points.choose(found, choice)
    if point is None:
        raise VerificationFailed(points.no_point_message(vm, choice, found, ctx.clock.wall()))
    return point


class ApplyPointArgs(Args):
    items: list[str] = Field(min_length=1, description="failed-over VMs whose failover is not committed yet")
    recovery_point: Literal["latest_processed", "latest_app_consistent"] | points.PointBefore = Field(
        description="latest_processed, latest_app_consistent, or {before: TIME, consistency: application|crash}")
    vault: str | None = None

    _point = field_validator("recovery_point", mode="before")(
        classmethod(lambda cls, v: points.parsed_choice(v, ("latest_processed", "latest_app_consistent"))))

    @property
    def plan(self) -> None:
        """A change of point is per VM (the base reads ``plan``)."""
        return None

    @model_validator(mode="after")
    def _once(self):
        if len(set(self.items)) != len(self.items):
            raise ValueError("`items` lists a VM twice")
        return self


@register
class ApplyRecoveryPoint(JobOperation):
    name = "asr.apply_recovery_point"
    summary = "Move failed-over VMs to another recovery point before the failover is committed."
    Args = ApplyPointArgs
    rules = staticmethod(check_apply_point)
    outputs = {**JobOperation.outputs, "recovery_points": "VM name -> the point it now runs at (id, time, type, "
                                                           "data_loss_seconds)"}

    def choose(self, ctx, vault, items, args: ApplyPointArgs) -> dict:
        return {item.vm_name: point_for(ctx, vault, item.vm_name, args.recovery_point) for item in items}

    def done(self, item: ProtectedItem, args, chosen: dict) -> bool:
        point = chosen.get(item.vm_name)
        return (not item.state.busy and point is not None and item.recovery_point_id is not None
                and ids.same(item.recovery_point_id, point.id))

    def change(self, item: ProtectedItem, args) -> Change:
        return Change(f"protected item {item.vm_name}", "recovery_point",
                      ids.name_of(item.recovery_point_id) if item.recovery_point_id else None, "changed")

    def more_changes(self, ctx, todo, args, chosen: dict) -> list[Change]:
        now = ctx.clock.wall()
        return [Change(f"protected item {item.vm_name}", "recovery_point_time", None,
                       points.shown(chosen[item.vm_name], now)) for item in todo]

    def chosen_outputs(self, ctx, chosen: dict) -> dict:
        now = ctx.clock.wall()
        return {"recovery_points": {vm: points.summary(point, now) for vm, point in chosen.items() if point}}

    def start(self, ctx, vault, item, args, chosen: dict) -> JobHandle:
        return ctx.adapter.replication.start_apply_recovery_point(vault, item, chosen[item].id)

    def compensate(self, ctx: StepContext, undo: dict) -> str:
        raise NotUndoable("the previous recovery point is not restored automatically: apply it again by time")


class ReprotectArgs(ItemsOrPlan):
    direction: Direction = Field(PRIMARY_TO_RECOVERY, description="primary_to_recovery (default): replicate to "
                                                                  "Azure again; recovery_to_primary: from Azure")


@register
class Reprotect(JobOperation):
    name = "asr.reprotect"
    summary = "Reverse replication (reprotect) of protected VMs or a recovery plan; waits for the ASR jobs."
    Args = ReprotectArgs
    rules = staticmethod(check_reprotect)

    def done(self, item: ProtectedItem, args: ReprotectArgs, chosen: dict) -> bool:
        return item.state.replicating(args.direction)

    def change(self, item: ProtectedItem, args: ReprotectArgs) -> Change:
        towards = "Azure" if args.direction == PRIMARY_TO_RECOVERY else "on-premises"
        return Change(f"protected item {item.vm_name}", "replication", item.state.protection_state,
                      f"replicating to {towards}")

    def start(self, ctx, vault, item, args: ReprotectArgs, chosen) -> JobHandle:
        return ctx.adapter.replication.start_reprotect(vault, item, args.direction)

    def start_plan(self, ctx, vault, plan, args: ReprotectArgs) -> JobHandle:
        return ctx.adapter.replication.start_plan_reprotect(vault, plan, args.direction)

    def compensate(self, ctx: StepContext, undo: dict) -> str:
        raise NotUndoable("reverse replication is not undone: disable protection in the vault if it must stop")


def _read_each(ctx: StepContext, vault: VaultRef, names: list[str]) -> list[ProtectedItem]:
    """The items, in order, one GET each (the run's pacing spreads them under ARM's read bucket)."""
    return ItemReader.each(ctx, vault, names)


def _items_now(ctx: StepContext, vault: VaultRef, args: ItemsOrPlan, names: list[str],
               read_named: Callable[[StepContext, VaultRef, list[str]], list[ProtectedItem]]) -> list[ProtectedItem]:
    """The step's items as they are now: a plan's with one list of the plan's, named ones with
    ``read_named`` (shared with other steps, or one GET each)."""
    return _plan_items(ctx, vault, args.plan) if args.plan else read_named(ctx, vault, names)


def _plan_items(ctx: StepContext, vault: VaultRef, plan: str) -> list[ProtectedItem]:
    """A recovery plan's items, read with one list of the plan's (``$filter``): one read for all of them,
    since a plan holds at most a page, and the engine parses its own items only, not the vault's; with
    the other plans' steps that read theirs at the same moment, if any. A plan that lists none is read
    itself, which says whether it is missing or empty."""
    items = ctx.items.read_plan(ctx, vault, plan) if ctx.items is not None else ItemReader.plan_items(ctx, vault, plan)
    if not items:
        ctx.adapter.replication.get_recovery_plan(vault, plan)  # not found, if the vault has no such plan
    return items


def _read_after(ctx: StepContext, vault: VaultRef, names: list[str]) -> list[ProtectedItem]:
    """The items, in order, as the step's jobs left them: read with the other steps whose jobs ended at
    the same poll (one list of the vault for all of them: twenty commits seen ending together read it
    once, not twenty times), else one GET each. A simulation: one GET each."""
    if ctx.items is None or ctx.items.inline:
        return _read_each(ctx, vault, names)
    return ctx.items.read(ctx, vault, names)
