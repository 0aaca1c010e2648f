"""Protected items read for the steps of a run that name them, together when they start together."""

from __future__ import annotations

import copy
import threading

from adapters.ports import ProtectedItem, VaultRef
from adapters.shared.errors import AdapterError, NotFoundError

GATHER_S = 1.0  # simulated seconds a read waits for the other steps' reads of the same vault


class _Gathering:
    def __init__(self):
        self.requests: list[list[str] | str] = []  # the VM names a step asked for, or its recovery plan
        self.done = threading.Event()
        self.found: dict[str, ProtectedItem] = {}  # by VM name
        self.plans: dict[str, list[ProtectedItem]] = {}  # by recovery plan
        self.error: AdapterError | None = None  # the service's answer to the shared read
        self.abandoned = False  # the leading step stopped (timeout, interrupt): the others read on their own


class ItemReader:
    """Reads protected items for the steps of a run, together when they start together.

    A recovery plan's step reads its items with one list of the plan's (``$filter``: one read, only its
    own items to parse). When several start together (fifty commits the moment the network is done),
    one of them reads the plans' lists one after another while the others wait, their slots free: one
    thread parsing items, not fifty at once, and the steps come back to act one slot at a time.

    Steps that name their items do likewise with a list of the vault: ten commits of 100 named VMs that
    start together want 1,000 items between them, one list of a 1,000-VM vault is ten reads, where GETs
    were 1,000 that ARM's read bucket (250, then 25 a second) spread over 32 s before the last commit
    could start its job. Alone, such a step reads with GETs (a list costs what the vault holds, not what
    the step needs).

    A read waits ``gather`` simulated seconds for the other steps' reads of the same vault. A read joins
    only a gathering whose reads have not begun, so what it gets is never older than the read."""

    def __init__(self, gather: float = GATHER_S, *, inline: bool = False):
        self.gather = gather
        self.inline = inline  # one step at a time (a simulation): nobody to gather with
        self.lock = threading.Lock()
        self.gathering: dict[tuple[VaultRef, bool], _Gathering] = {}  # by vault, and plans apart from names
        self.lists = 0  # shared lists of a vault made

    def read(self, ctx, vault: VaultRef, names: list[str]) -> list[ProtectedItem]:
        """The items, in the order of ``names``; ``ctx`` is the asking step's (its adapter, its waits)."""
        if self.inline or len(names) < 2:
            return self.each(ctx, vault, names)
        with ctx.slot_free():  # gathering and reading for several steps: waiting, not acting
            return self._gathered(ctx, vault, names)

    def read_plan(self, ctx, vault: VaultRef, plan: str) -> list[ProtectedItem]:
        """A recovery plan's items, as the service lists them (none for a plan the vault lacks)."""
        if self.inline:
            return self.plan_items(ctx, vault, plan)
        with ctx.slot_free():
            return self._gathered(ctx, vault, plan)

    def _gathered(self, ctx, vault: VaultRef, wanted: list[str] | str) -> list[ProtectedItem]:
        key = (vault, isinstance(wanted, str))
        with self.lock:
            gathering = self.gathering.get(key)
            leads = gathering is None
            if leads:
                gathering = self.gathering[key] = _Gathering()
            gathering.requests.append(wanted)
        if leads:
            self._lead(ctx, key, gathering)
        else:
            ctx.wait_for(gathering.done)
        if gathering.abandoned:
            return self.plan_items(ctx, vault, wanted) if isinstance(wanted, str) else self.each(ctx, vault, wanted)
        if gathering.error is not None:  # each step raises its own copy: same code, same retry state
            raise gathering.error if leads else copy.copy(gathering.error)
        if isinstance(wanted, str):
            return list(gathering.plans[wanted])
        try:
            return [gathering.found[name.lower()] for name in wanted]
        except KeyError as missing:
            raise NotFoundError(f"Protected item {missing.args[0]} was not found in vault {vault.vault}",
                                code="ReplicationProtectedItemNotFound", status=404) from None

    @staticmethod
    def each(ctx, vault: VaultRef, names: list[str]) -> list[ProtectedItem]:
        """The items, in order, one GET each: the cost follows the step's size, not the vault's. (A list
        of the vault per step reads every item of a 5,000-VM vault for each 100-VM step; the GETs are
        paced by the run's read bucket, and jobs that end at different times spread them.) One call
        through the step's policies for all of them: a hundred GETs were a hundred trips through its
        retry, pacing and tally, the engine's time where the adapter's is the GETs."""
        return ctx.adapter.replication.get_protected_items(vault, list(names))

    @staticmethod
    def plan_items(ctx, vault: VaultRef, plan: str) -> list[ProtectedItem]:
        return ctx.adapter.replication.list_protected_items(vault, plan)

    def _lead(self, ctx, key: tuple[VaultRef, bool], gathering: _Gathering) -> None:
        vault, of_plans = key
        try:
            ctx.sleep(self.gather)
            with self.lock:  # from here on, a new read starts a gathering of its own
                del self.gathering[key]
            if of_plans:
                for plan in dict.fromkeys(gathering.requests):
                    gathering.plans[plan] = self.plan_items(ctx, vault, plan)
                return
            if len(gathering.requests) == 1:
                items = self.each(ctx, vault, gathering.requests[0])
            else:
                items = ctx.adapter.replication.list_protected_items(vault)
                self.lists += 1
            gathering.found = {item.vm_name.lower(): item for item in items}
        except AdapterError as error:
            gathering.error = error
        except BaseException:
            gathering.abandoned = True
            with self.lock:
                if self.gathering.get(key) is gathering:
                    del self.gathering[key]
            raise
        finally:
            gathering.done.set()
