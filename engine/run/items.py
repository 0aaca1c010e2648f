"""Protected items read for the steps of a run, together when they start together."""

from __future__ import annotations

import copy
import threading

from adapters.ports import ProtectedItem, VaultRef
from adapters.shared.errors import AdapterError, NotFoundError

GATHER_S = 1.0  # simulated seconds a read waits for the other steps' reads of the same vault


class _Gathering:
    def __init__(self):
        self.requests: list[list[str]] = []
        self.done = threading.Event()
        self.found: dict[str, ProtectedItem] = {}
        self.error: AdapterError | None = None  # the service's answer to the shared read
        self.abandoned = False  # the leading step stopped (timeout, interrupt): the others read on their own


class _PlanRead:
    """A step's read of a recovery plan's items, queued behind the reads under way."""

    def __init__(self, plan: str):
        self.plan = plan
        self.turn = threading.Event()  # answered, or handed the reading of the queue
        self.reads = False  # it reads the queue's plans (it came first, or was handed the reading)
        self.items: list[ProtectedItem] = []
        self.error: AdapterError | None = None
        self.abandoned = False  # the step reading stopped (timeout, interrupt) first: read on its own


class ItemReader:
    """Reads protected items for the steps of a run, together when they start together.

    A recovery plan's step reads its items with one list of the plan's (``$filter``: one read, only its
    own items to parse). Steps whose reads of plans come while one is under way queue behind it, their
    slots free, and the step reading reads the queued plans' lists one after another before it hands the
    reading on: one thread parses items, not fifty at once (fifty commits start the moment the network
    is done), and the steps come back to act one slot at a time. No read waits for others to come, and
    each list is sent after the step it answers asked for it.

    Steps that name their items share a list of the vault instead: ten commits of 100 named VMs that
    start together want 1,000 items between them, one list of a 1,000-VM vault is ten reads, where GETs
    were 1,000 that ARM's read bucket (250, then 25 a second) spread over 32 s before the last commit
    could start its job. Such a read waits ``gather`` simulated seconds for the other steps' reads of
    the same vault; if none joins, it is done with GETs (a list costs what the vault holds, not what the
    step needs). It joins only a gathering whose list has not begun, so what it gets is never older
    than the read."""

    def __init__(self, gather: float = GATHER_S, *, inline: bool = False):
        self.gather = gather
        self.inline = inline  # one step at a time (a simulation): nobody to gather with
        self.lock = threading.Lock()
        self.gathering: dict[VaultRef, _Gathering] = {}
        self.lists = 0  # shared lists of a vault made
        self.queued: dict[VaultRef, list[_PlanRead]] = {}  # plans' reads waiting for the one under way
        self.reading: set[VaultRef] = set()  # vaults whose plans a step is reading

    def read(self, ctx, vault: VaultRef, names: list[str]) -> list[ProtectedItem]:
        """The items, in the order of ``names``; ``ctx`` is the asking step's (its adapter, its waits)."""
        if self.inline or len(names) < 2:
            return self.each(ctx, vault, names)
        with ctx.slot_free():  # gathering and reading for several steps: waiting, not acting
            return self._gathered(ctx, vault, names)

    def _gathered(self, ctx, vault: VaultRef, names: list[str]) -> list[ProtectedItem]:
        with self.lock:
            gathering = self.gathering.get(vault)
            leads = gathering is None
            if leads:
                gathering = self.gathering[vault] = _Gathering()
            gathering.requests.append(names)
        if leads:
            self._lead(ctx, vault, gathering)
        else:
            ctx.wait_for(gathering.done)
        if gathering.abandoned:
            return self.each(ctx, vault, names)
        if gathering.error is not None:  # each step raises its own copy: same code, same retry state
            raise gathering.error if leads else copy.copy(gathering.error)
        try:
            return [gathering.found[name.lower()] for name in names]
        except KeyError as missing:
            raise NotFoundError(f"Protected item {missing.args[0]} was not found in vault {vault.vault}",
                                code="ReplicationProtectedItemNotFound", status=404) from None

    def read_plan(self, ctx, vault: VaultRef, plan: str) -> list[ProtectedItem]:
        """A recovery plan's items, as the service lists them (none for a plan the vault lacks)."""
        if self.inline:
            return self.plan_items(ctx, vault, plan)
        mine = _PlanRead(plan)
        with ctx.slot_free():  # reading for several steps, or waiting for another's reading: not acting
            with self.lock:
                self.queued.setdefault(vault, []).append(mine)
                if vault not in self.reading:
                    self.reading.add(vault)
                    mine.reads = True
            if not mine.reads:
                try:
                    ctx.wait_for(mine.turn)
                except BaseException:
                    with self.lock:
                        if mine in self.queued.get(vault, ()):
                            self.queued[vault].remove(mine)
                        handed = mine.reads
                    if handed:  # handed the reading as it stopped: hand it on
                        self._hand_on(vault)
                    raise
            if mine.reads:
                self._read_queued(ctx, vault)
        if mine.abandoned:
            return self.plan_items(ctx, vault, plan)
        if mine.error is not None:
            raise mine.error
        return list(mine.items)

    def _read_queued(self, ctx, vault: VaultRef) -> None:
        """Read the plans queued so far (this step's among them), each once, one after another; then
        hand the reading on to the step that has waited longest since."""
        with self.lock:
            batch, self.queued[vault] = self.queued[vault], []
        try:
            asked: dict[str, list[_PlanRead]] = {}
            for request in batch:
                asked.setdefault(request.plan, []).append(request)
            for plan, requests in asked.items():
                try:
                    items = self.plan_items(ctx, vault, plan)
                except AdapterError as error:  # each step raises its own copy: same code, same retry state
                    for request in requests:
                        request.error = copy.copy(error)
                else:
                    for request in requests:
                        request.items = items
                for request in requests:
                    request.turn.set()
        except BaseException:
            for request in batch:
                if not request.turn.is_set():
                    request.abandoned = True
                    request.turn.set()
            raise
        finally:
            self._hand_on(vault)

    def _hand_on(self, vault: VaultRef) -> None:
        with self.lock:
            waiting = self.queued.get(vault)
            if waiting:
                waiting[0].reads = True
                waiting[0].turn.set()
            else:
                self.reading.discard(vault)
                self.queued.pop(vault, None)

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

    def _lead(self, ctx, vault: VaultRef, gathering: _Gathering) -> None:
        try:
            ctx.sleep(self.gather)
            with self.lock:  # from here on, a new read starts a gathering of its own
                del self.gathering[vault]
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
                if self.gathering.get(vault) is gathering:
                    del self.gathering[vault]
            raise
        finally:
            gathering.done.set()
