"""Site Recovery in the fake: protected items, recovery plans, and ASR jobs that take time.

An item is kept in the service's own words (``protectionState``, ``activeLocation``, ``testFailoverState``,
``currentScenario``) and read through the same model as the Azure adapter's answers
(``adapters.shared.itemstate``); what it may do next (``allowedOperations``) follows from them as the service's
does. Its NICs are documents of their own (``nic``), each with the name of its IP configuration and its
recovery and test-failover targets.

A job sits ``NotStarted`` for ``job_queue_ms``, then runs ``job_ms`` of simulated time, measured on the
wall clock, so it keeps going while nobody watches (a killed orchestrator finds it finished when it comes
back). Whenever the state is read or written, jobs whose time has come are settled: their effect applied,
or their failure recorded, leaving the item as it was. Updating an item's target network is, as in Azure,
a long-running operation that runs an ASR job; the call polls it every ``Retry-After`` seconds.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import fields

from adapters.fake.network import ip_user, virtual_network
from adapters.ports import (
    LIST_PAGE,
    Job,
    JobHandle,
    NetworkSettings,
    NicSettings,
    ProtectedItem,
    RecoveryPlan,
    RecoveryPoint,
    ReplicationStatus,
    VaultRef,
)
from adapters.shared import ids
from adapters.shared.addressing import parsed_address, parsed_network, reserved_addresses
from adapters.shared.errors import AdapterError, ConflictError, NotFoundError, PermanentError, UnknownOutcomeError
from adapters.shared.itemstate import (
    APP_CONSISTENT,
    CANCEL_FAILOVER,
    CHANGE_PIT,
    CHANGE_POINT_SCENARIO,
    COMMIT,
    COMPLETE_MIGRATION,
    CRASH_CONSISTENT,
    DIRECTIONS,
    DISABLE_PROTECTION,
    FAILBACK,
    FAILOVER_OPERATION,
    NO_JOB,
    PLANNED_FAILOVER,
    PRIMARY,
    PROTECTION_STATES,
    RECOVERY,
    REPROTECT_SCENARIO,
    REVERSE_REPLICATE,
    TEST_FAILOVER,
    TEST_FAILOVER_CLEANUP,
    TEST_FAILOVER_STATES,
    UNPLANNED_FAILOVER,
    WAITING_FOR_CLEANUP,
    ItemState,
    Stage,
    TestFailover,
)

UPDATE = "UpdateProtectedItem"  # the job that changes an item's target network (an operation of the fake's own)
UPDATE_RETRY_AFTER_S = 30.0  # what ASR answers a PATCH with (the specs' example); the call polls at that pace

# The scenario a job of each operation runs as (its scenarioName, and the item's currentScenario), as the
# specs' examples name them.
SCENARIO = {PLANNED_FAILOVER: "PlannedFailover", UNPLANNED_FAILOVER: "UnplannedFailover", TEST_FAILOVER: "TestFailover",
            TEST_FAILOVER_CLEANUP: "TestFailoverCleanup", COMMIT: "CommitFailover", CANCEL_FAILOVER: "CancelFailover",
            UPDATE: "UpdateProtectedItem", FAILBACK: "PlannedFailover", REVERSE_REPLICATE: REPROTECT_SCENARIO,
            CHANGE_PIT: CHANGE_POINT_SCENARIO}
# What an item says while the operation's job runs (besides its currentScenario).
DURING = {
    PLANNED_FAILOVER: {"protectionState": "PlannedFailoverInitiated"},
    UNPLANNED_FAILOVER: {"protectionState": "UnplannedFailoverInitiated"},
    CANCEL_FAILOVER: {"protectionState": "CancelFailoverStatesBegin"},
    TEST_FAILOVER: {"testFailoverState": "Initiating"},
    FAILBACK: {"protectionState": "PlannedFailoverInitiated"},
    REVERSE_REPLICATE: {"protectionState": "ReprotectInitiated"},
    CHANGE_PIT: {"protectionState": "ChangeRecoveryPointInitiated"},
}
# What it says once the operation succeeded, as the specs' examples show it.
AFTER = {
    PLANNED_FAILOVER: {"protectionState": "PlannedFailoverCommitRequired", "activeLocation": RECOVERY,
                       "testFailoverState": "MarkedForDeletion"},
    UNPLANNED_FAILOVER: {"protectionState": "UnplannedFailoverCommitPendingStatesBegin", "activeLocation": RECOVERY,
                         "testFailoverState": "MarkedForDeletion"},
    CANCEL_FAILOVER: {"protectionState": "Protected", "activeLocation": PRIMARY},
    TEST_FAILOVER: {"testFailoverState": "WaitingForCompletion"},
    TEST_FAILOVER_CLEANUP: {"testFailoverState": "MarkedForDeletion"},
    # back on-premises, the commit pending (the specs' state after a planned failover, at Primary)
    FAILBACK: {"protectionState": "PlannedFailoverCommitRequired", "activeLocation": PRIMARY},
    # the Reprotect example: Protected at Primary, replicating to Azure again
    REVERSE_REPLICATE: {"protectionState": "Protected", "activeLocation": PRIMARY, "testFailoverState": "MarkedForDeletion"},
}
# A commit's state follows the failover's.
COMMITTED = {"PlannedFailoverCommitRequired": "PlannedFailoverStatesBegin",
             "UnplannedFailoverCommitPendingStatesBegin": "UnplannedFailoverCommitted",
             "UnplannedFailoverCommitRequired": "UnplannedFailoverCommitted", "FailoverCompleted": "FailoverCommitted"}


def allowed_operations(state: dict) -> tuple[str, ...]:
    """What ASR offers a Hyper-V item in its state, from the state alone, as the specs' examples show it."""
    if state["currentScenario"]["scenarioName"] != NO_JOB:
        waiting = (state["currentScenario"]["scenarioName"] == SCENARIO[TEST_FAILOVER]
                   and TEST_FAILOVER_STATES[state["testFailoverState"]] == TestFailover.UP)
        return (TEST_FAILOVER_CLEANUP,) if waiting else ()
    stage = PROTECTION_STATES[state["protectionState"]]
    home = state["activeLocation"] == PRIMARY
    # In Azure, as the PlannedFailover, ApplyRecoveryPoint and FailoverCommit examples show; back on-premises
    # after a failback, a commit, then reverse replication to Azure (what the Reprotect example starts from).
    if stage == Stage.FAILED_OVER:
        return (COMMIT, DISABLE_PROTECTION) if home else (COMPLETE_MIGRATION, COMMIT, DISABLE_PROTECTION, CHANGE_PIT)
    if stage == Stage.COMMITTED:
        return (REVERSE_REPLICATE, DISABLE_PROTECTION) if home else (COMPLETE_MIGRATION, DISABLE_PROTECTION, FAILBACK)
    if stage != Stage.PROTECTED or state["activeLocation"] != PRIMARY:
        return ()
    if TEST_FAILOVER_STATES[state["testFailoverState"]] != TestFailover.NONE:
        return (TEST_FAILOVER_CLEANUP,)
    return (PLANNED_FAILOVER, UNPLANNED_FAILOVER, DISABLE_PROTECTION, TEST_FAILOVER)


def _replication_view(doc: dict, state: ItemState) -> ReplicationStatus:
    """Replication as the item reports it; the fake replicates continuously, so its RPO is current."""
    details = doc.get("replication") or {}
    rpo = details.get("rpoInSeconds")
    return ReplicationStatus(health=state.replication_health, health_errors=tuple(details.get("healthErrors") or ()),
                             rpo_seconds=None if rpo is None else float(rpo),
                             recovery_vm_size=details.get("recoveryAzureVMSize"))


def item_state(doc: dict) -> ItemState:
    """The item's state as the service shows it, read through the one model. The fields it is read from
    decide it, so it is read once for each combination (a plan reads the state of 5,000 items 40,000 times,
    in a dozen combinations and one per job)."""
    state = doc["state"]
    scenario = state.get("currentScenario") or {}
    key = (state.get("protectionState"), state.get("activeLocation"), state.get("testFailoverState"),
           state.get("replicationHealth"), scenario.get("scenarioName"), scenario.get("jobId"))
    found = _STATES_READ.get(key)
    if found is None:
        found = ItemState.read(doc["name"], {**state, "allowedOperations": list(allowed_operations(state))})
        if len(_STATES_READ) >= 100_000:
            _STATES_READ.clear()
        _STATES_READ[key] = found
    return found


_STATES_READ: dict[tuple, ItemState] = {}
_SETTINGS = tuple(f.name for f in fields(NetworkSettings))  # a PATCH's fields, for the ledger


class FakeReplication:
    def __init__(self, cloud):
        self.cloud = cloud
        self.store = cloud.store
        self._vault_checked: VaultRef | None = None

    # --- reads ----------------------------------------------------------------------------------

    def _vault_prefix(self, vault: VaultRef) -> str:
        return (f"/subscriptions/{vault.subscription}/resourceGroups/{vault.resource_group}/providers/"
                f"Microsoft.RecoveryServices/vaults/{vault.vault}")

    def _item(self, vault: VaultRef, name: str) -> dict:
        """The item's document, to change: set its top-level keys (see the store's ``get``)."""
        self._check_vault(vault)
        item = self.store.get("item", name, shallow=True)
        if item is None or item["vault"].lower() != vault.vault.lower():
            raise _item_not_found(vault, name)
        return item

    def _item_view(self, vault: VaultRef, name: str) -> ProtectedItem:
        """The item as the API shows it, without a copy of the document to change."""
        self._check_vault(vault)
        view = self.store.view("item", name, *self._as_shown(vault))
        if view is None or view[0] != vault.vault.lower():
            raise _item_not_found(vault, name)
        return view[1]

    def _as_shown(self, vault: VaultRef) -> tuple[tuple, Callable[[dict], tuple[str, ProtectedItem]]]:
        """How the store keeps an item's view for this vault: its key, and how to build it (the vault
        that holds the item, in lower case, and the item as shown)."""
        return (vault.subscription, vault.resource_group, vault.vault), \
            lambda doc: (doc["vault"].lower(), self._view(vault, doc))

    def _check_vault(self, vault: VaultRef) -> None:
        if vault is self._vault_checked:  # a step's calls share its VaultRef, and a VaultRef is frozen
            return
        c = self.cloud
        if vault.vault.lower() not in c.vaults or (vault.subscription.lower(), vault.resource_group.lower()) != c.scope:
            raise NotFoundError(f"Recovery Services vault {vault.vault} was not found in resource group "
                                f"{vault.resource_group}", code="ResourceNotFound", status=404)
        self._vault_checked = vault

    def _view(self, vault: VaultRef, item: dict) -> ProtectedItem:
        nics = tuple(self.store.view("nic", nic, "nic", _nic_view) for nic in item["nics"])
        primary = next((n for n in nics if n.is_primary), nics[0] if nics else None)
        state = item_state(item)
        return ProtectedItem(
            name=item["name"], vm_name=item["name"], state=state, nics=nics,
            recovery_vm_ip=primary.recovery_ip if primary and state.failed_over else None,
            test_vm_ip=(primary.test_ip or primary.recovery_ip) if primary and state.test_failed_over else None,
            id=self._item_id(vault, item),
            recovery_point_id=(f"{self._item_id(vault, item)}/recoveryPoints/{item['recovery_point']}"
                               if item.get("recovery_point") else None),
            replication=_replication_view(item, state),
        )

    def _item_id(self, vault: VaultRef, item: dict) -> str:
        return (f"{self._vault_prefix(vault)}/replicationFabrics/{item['fabric']}/replicationProtectionContainers/"
                f"{item['container']}/replicationProtectedItems/{item['name']}")

    def list_recovery_points(self, vault: VaultRef, item: str) -> list[RecoveryPoint]:
        self.cloud.read("recovery_points.list_by_replication_protected_items")
        with self.store.transaction():
            doc = self._with_points(self._item(vault, item))
        prefix = f"{self._item_id(vault, doc)}/recoveryPoints/"
        return [RecoveryPoint(prefix + name, at, kind) for name, at, kind in recovery_points(doc, self.cloud.clock.wall())]

    def _with_points(self, doc: dict) -> dict:
        """The item, its points read from the service first if the estate says they come from there (call in a
        transaction)."""
        spec = doc.get("points") or {}
        if spec.get("from_service") and self.cloud.points_source is not None:
            taken = [[p.time, p.type, ids.name_of(p.id)] for p in self.cloud.points_source(doc["name"])]
            doc["points"] = {**spec, "from_service": False, "taken": taken}
            self.store.replace("item", doc)
        return doc

    def get_protected_item(self, vault: VaultRef, item: str) -> ProtectedItem:
        self.cloud.read("replication_protected_items.get")
        return self._item_view(vault, item)

    def get_protected_items(self, vault: VaultRef, items: list[str]) -> list[ProtectedItem]:
        return [self.get_protected_item(vault, item) for item in items]  # each a read, with its latency

    def list_protected_items(self, vault: VaultRef, plan: str | None = None) -> list[ProtectedItem]:
        self._check_vault(vault)
        if plan is not None:  # $filter=recoveryPlanName eq '…': a plan the vault does not have matches nothing
            try:
                groups = self._plan(vault, plan)["groups"]
            except NotFoundError:
                groups = []
            items = [self._item_view(vault, name) for group in groups for name in group]
            self._pages("replication_protected_items.list", len(items))
            return items
        wanted = vault.vault.lower()
        items = [view for owner, view in self.store.views("item", *self._as_shown(vault)) if owner == wanted]
        self._pages("replication_protected_items.list", len(items))
        return items

    def _pages(self, operation: str, count: int) -> None:
        """A list is paged (``nextLink``): each page is a read of its own."""
        for _ in range(max(1, math.ceil(count / LIST_PAGE))):
            self.cloud.read(operation)

    def _plan(self, vault: VaultRef, name: str) -> dict:
        plan = self.store.get("plan", name)
        if plan is None or plan["vault"].lower() != vault.vault.lower():
            raise NotFoundError(f"Recovery plan '{name}' was not found in vault {vault.vault}",
                                code="RecoveryPlanNotFound", status=404)
        return plan

    def get_recovery_plan(self, vault: VaultRef, plan: str) -> RecoveryPlan:
        self.cloud.read("replication_recovery_plans.get")
        doc = self._plan(vault, plan)
        items = [self._item_view(vault, name) for group in doc["groups"] for name in group]
        allowed = frozenset.intersection(*(i.state.allowed for i in items)) if items else frozenset()
        return RecoveryPlan(name=doc["name"], groups=tuple(tuple(g) for g in doc["groups"]),
                            allowed_operations=tuple(sorted(allowed)), current_job_id=doc["current_job"],
                            id=f"{self._vault_prefix(vault)}/replicationRecoveryPlans/{doc['name']}")

    def get_job(self, vault: VaultRef, job_id: str) -> Job:
        self.cloud.read("replication_jobs.get")
        job = self.store.job(job_id)
        if job is None:
            raise NotFoundError(f"Job '{job_id}' was not found in vault {vault.vault}", code="JobNotFound", status=404)
        return self._job(job)

    def list_jobs(self, vault: VaultRef, job_ids: list[str]) -> list[Job]:
        """The vault's jobs, newest first, a page (a read) at a time until every wanted job was seen, as
        the Azure adapter reads them: a poll of the jobs in flight costs the pages back to the oldest."""
        wanted, since = self.store.jobs_listed(job_ids)
        self._pages("replication_jobs.list", since)
        return [self._job(j) for j in wanted]

    def _job(self, job: dict) -> Job:
        """A job as the service shows it: ``NotStarted`` while it waits in the queue."""
        state = job["state"]
        if state == "InProgress" and self.cloud.clock.wall() < job["start"]:
            state = "NotStarted"
        return Job(id=job["id"], state=state, operation=job["operation"], target=job["target"],
                   errors=tuple(job["errors"]), started_at=job["start"], ended_at=job["ended"],
                   description=job.get("description", ""))

    # --- writes ---------------------------------------------------------------------------------

    def update_network_settings(self, vault: VaultRef, item: str, nic_id: str,
                                settings: NetworkSettings) -> ProtectedItem:
        handle = self.start_network_update(vault, item, nic_id, settings)
        self._await(vault, handle)
        return self._item_view(vault, item)

    def start_network_update(self, vault: VaultRef, item: str, nic_id: str, settings: NetworkSettings,
                             current: ProtectedItem | None = None) -> JobHandle:
        """The PATCH alone: accepted, its job queued; the caller follows the job."""
        self.cloud.write("replication_protected_items.update")
        with self.store.transaction():
            doc = self._item(vault, item)
            nic = self._nic(doc, nic_id)
            state = item_state(doc)
            if state.busy or state.failed_over:
                raise ConflictError(f"The network settings of {item} cannot change while it is {state.describe()}",
                                    code="ProtectionEntityInvalidState", status=409)
            for which in ("recovery", "test"):
                given = {f: getattr(settings, f"{which}_{f}") for f in ("network", "subnet", "ip")}
                if given["network"] == "":
                    if which == "recovery":
                        raise PermanentError(f"The recovery network of {item} cannot be cleared",
                                             code="InvalidRecoveryNetwork", status=400)
                    nic["test"] = {"network": None, "subnet": None, "ip": None}
                    continue
                if any(v is not None for v in given.values()):
                    merged = {f: given[f] if given[f] is not None else nic[which][f] for f in given}
                    self._check_target(doc, nic, which, merged["network"], merged["subnet"], merged["ip"])
                    nic[which] = merged
            self.store.replace("nic", nic)
            handle = self._start_job(vault, UPDATE, [doc], item, params={"nic": nic["id"]})
            self.store.record("replication_protected_items.update", self._item_id(vault, doc),
                              {"nic": nic["id"], "ip_config": nic["ip_config"], "job": handle.job_id,
                               **{f: v for f in _SETTINGS if (v := getattr(settings, f)) is not None}})
        return handle

    def _await(self, vault: VaultRef, handle: JobHandle) -> None:
        """Poll the operation as the SDK does: every ``Retry-After`` seconds until its job has finished. A
        poll that fails leaves the outcome unknown (the update was accepted and runs on)."""
        while True:
            try:
                job = self.get_job(vault, handle.job_id)
            except AdapterError as exc:
                raise UnknownOutcomeError(f"the update of {handle.target} was accepted (job {handle.job_id}), but "
                                          f"its progress could not be read: {exc}", code="UpdateNotFollowed") from None
            if job.finished:
                break
            self.cloud.clock.sleep(UPDATE_RETRY_AFTER_S)
        if job.state != "Succeeded":
            raise PermanentError(f"The update of {handle.target} failed: {'; '.join(job.errors) or job.state}",
                                 code="UpdateFailed", status=400)

    def _nic(self, item: dict, nic_id: str) -> dict:
        for name in item["nics"]:
            if name.lower() in (nic_id.lower(), ids.name_of(nic_id).lower()):
                return self.store.get("nic", name, shallow=True)  # to set its top-level keys
        raise PermanentError(f"{item['name']} has no NIC {nic_id}; it has {', '.join(item['nics'])}",
                             code="InvalidNicId", status=400)

    def _check_target(self, item: dict, nic: dict, which: str, network: str | None, subnet: str | None,
                      ip: str | None) -> None:
        if not network or not subnet:
            raise PermanentError(f"{item['name']}: a {which} network needs both a virtual network and a subnet",
                                 code="InvalidRecoveryNetwork", status=400)
        vnet = virtual_network(self.cloud, network)
        if subnet not in vnet.subnets:
            raise PermanentError(f"Subnet {subnet} was not found in virtual network {vnet.name}",
                                 code="InvalidSubnet", status=400)
        if ip is None:
            return
        prefix = parsed_network(vnet.subnets[subnet])
        address = parsed_address(ip)
        if address not in prefix:
            raise PermanentError(f"The static IP address {ip} of {item['name']} is not in subnet {subnet} "
                                 f"({prefix}) of {vnet.name}; choose an address inside {prefix}",
                                 code="InvalidStaticIpAddress", status=400)
        if address in reserved_addresses(prefix):
            raise PermanentError(f"The static IP address {ip} of {item['name']} is reserved by Azure in subnet "
                                 f"{subnet} ({prefix}): the first four addresses and the last cannot be assigned",
                                 code="IpAddressReservedByPlatform", status=400)
        user = ip_user(self.store, vnet.name, ip, which, exclude=nic["id"])
        if user:
            raise PermanentError(f"The static IP address {ip} is already in use in {vnet.name} by {user}; "
                                 f"choose a free address for {item['name']}", code="PrivateIPAddressInUse", status=400)

    def _start_job(self, vault: VaultRef, operation: str, docs: list[dict], target: str, *, plan: str | None = None,
                   params: dict | None = None) -> JobHandle:
        """A job of ``operation`` on the items (call in a transaction): it queues, then runs; each item is
        busy with it until it is settled."""
        token = secrets.token_hex(12)
        job_id = f"{token[:16]}-{token[16:]}"
        now = self.cloud.clock.wall()
        start = now + self.cloud.weather.queue_seconds()
        names = [doc["name"] for doc in docs]
        finish_at = start + job_seconds(self.cloud.weather, operation, target, names if plan else None)
        job = {"id": job_id, "operation": SCENARIO[operation], "action": operation, "target": target,
               "items": names, "plan": plan, "state": "InProgress", "queued": now, "start": start,
               "finish_at": finish_at, "errors": [], "params": params or {}, "ended": None,
               "before": {doc["name"]: doc["state"] for doc in docs},
               # a cleanup ends the suspended test failover jobs of its items
               "ends": sorted({doc["state"]["currentScenario"]["jobId"] for doc in docs
                               if doc["state"]["currentScenario"]["scenarioName"] == SCENARIO[TEST_FAILOVER]})}
        self.store.put_job(job)
        for doc in docs:
            doc["state"] = {**doc["state"], **DURING.get(operation, {}),
                            "currentScenario": {"scenarioName": job["operation"], "jobId": job_id}}
            self.store.replace("item", doc)
        if plan:
            plan_doc = self._plan(vault, plan)
            plan_doc["current_job"] = job_id
            self.store.replace("plan", plan_doc)
        return JobHandle(vault, job_id, operation, target)

    def _start(self, vault: VaultRef, operation: str, names: list[str], target: str, *, plan: str | None = None,
               params: dict | None = None) -> JobHandle:
        with self.store.transaction():
            docs = [self._item(vault, n) for n in names]
            if (params or {}).get("recovery_point") or (params or {}).get("recovery_point_type") not in (None, "Latest"):
                docs = [self._with_points(doc) for doc in docs]
            for doc in docs:
                state = item_state(doc)
                if not state.allows(operation):
                    raise PermanentError(_refusal(doc["name"], state, operation), code="OperationNotAllowed",
                                         status=400)
                _precondition(self.store, doc, operation, params or {})
                self._check_point(vault, doc, operation, params or {})
            handle = self._start_job(vault, operation, docs, target, plan=plan, params=params)
            resource = (f"{self._vault_prefix(vault)}/replicationRecoveryPlans/{plan}" if plan
                        else self._item_id(vault, docs[0]))
            self.store.record(f"{'replication_recovery_plans' if plan else 'replication_protected_items'}."
                              f"{_method(operation)}", resource, {"job": handle.job_id, **(params or {})})
        return handle

    def _check_point(self, vault: VaultRef, doc: dict, operation: str, params: dict) -> None:
        """A failover (or a change of point) to a point the item has; reverse replication in the direction the
        item can replicate."""
        wanted = params.get("recovery_point")
        if wanted and wanted not in {name for name, _, _ in recovery_points(doc, self.cloud.clock.wall())}:
            raise PermanentError(f"Recovery point {wanted} was not found for {doc['name']}: it is not one of the "
                                 "item's recovery points (list them; old points leave with the retention)",
                                 code="RecoveryPointNotFound", status=400)
        if operation == REVERSE_REPLICATE:
            here = DIRECTIONS["primary_to_recovery" if doc["state"]["activeLocation"] == PRIMARY
                              else "recovery_to_primary"]
            if params.get("direction") != here:
                raise PermanentError(f"{doc['name']} runs at {doc['state']['activeLocation']}: it can only replicate "
                                     f"{here}, not {params.get('direction')}", code="InvalidFailoverDirection",
                                     status=400)

    def start_failover(self, vault, item, kind, *, test_network=None, shut_down_source=True,
                       recovery_point_id=None) -> JobHandle:
        self.cloud.write("replication_protected_items.failover")
        params = _failover_params(kind, test_network, shut_down_source)
        if recovery_point_id:
            params["recovery_point"] = ids.name_of(recovery_point_id)
        return self._start(vault, FAILOVER_OPERATION[kind], [item], item, params=params)

    def start_plan_failover(self, vault, plan, kind, *, test_network=None, shut_down_source=True,
                            recovery_point_type="Latest") -> JobHandle:
        self.cloud.write("replication_recovery_plans.failover")
        names = [n for group in self._plan(vault, plan)["groups"] for n in group]
        params = {**_failover_params(kind, test_network, shut_down_source), "recovery_point_type": recovery_point_type}
        return self._start(vault, FAILOVER_OPERATION[kind], names, plan, plan=plan, params=params)

    def start_failback(self, vault, item, *, data_sync, create_vm) -> JobHandle:
        self.cloud.write("replication_protected_items.failover")
        return self._start(vault, FAILBACK, [item], item, params=_failback_params(data_sync, create_vm))

    def start_plan_failback(self, vault, plan, *, data_sync, create_vm) -> JobHandle:
        self.cloud.write("replication_recovery_plans.failover")
        names = [n for group in self._plan(vault, plan)["groups"] for n in group]
        return self._start(vault, FAILBACK, names, plan, plan=plan, params=_failback_params(data_sync, create_vm))

    def start_reprotect(self, vault, item, direction) -> JobHandle:
        self.cloud.write("replication_protected_items.reprotect")
        return self._start(vault, REVERSE_REPLICATE, [item], item, params={"direction": DIRECTIONS[direction]})

    def start_plan_reprotect(self, vault, plan, direction) -> JobHandle:
        self.cloud.write("replication_recovery_plans.reprotect")
        names = [n for group in self._plan(vault, plan)["groups"] for n in group]
        return self._start(vault, REVERSE_REPLICATE, names, plan, plan=plan, params={"direction": DIRECTIONS[direction]})

    def start_apply_recovery_point(self, vault, item, recovery_point_id) -> JobHandle:
        self.cloud.write("replication_protected_items.apply_recovery_point")
        return self._start(vault, CHANGE_PIT, [item], item, params={"recovery_point": ids.name_of(recovery_point_id)})

    def start_commit(self, vault, item) -> JobHandle:
        self.cloud.write("replication_protected_items.failover_commit")
        return self._start(vault, COMMIT, [item], item)

    def start_plan_commit(self, vault, plan) -> JobHandle:
        self.cloud.write("replication_recovery_plans.failover_commit")
        names = [n for group in self._plan(vault, plan)["groups"] for n in group]
        return self._start(vault, COMMIT, names, plan, plan=plan)

    def start_cancel(self, vault, item) -> JobHandle:
        self.cloud.write("replication_protected_items.failover_cancel")
        return self._start(vault, CANCEL_FAILOVER, [item], item)

    def start_test_failover_cleanup(self, vault, item, comments) -> JobHandle:
        self.cloud.write("replication_protected_items.test_failover_cleanup")
        return self._start(vault, TEST_FAILOVER_CLEANUP, [item], item, params={"comments": comments})

    def start_plan_test_failover_cleanup(self, vault, plan, comments) -> JobHandle:
        self.cloud.write("replication_recovery_plans.test_failover_cleanup")
        names = [n for group in self._plan(vault, plan)["groups"] for n in group]
        return self._start(vault, TEST_FAILOVER_CLEANUP, names, plan, plan=plan, params={"comments": comments})


def job_seconds(weather, operation: str, target: str, items: list[str] | None = None) -> float:
    """How long a job of ``operation`` runs: on one item, its own draw; on a recovery plan (``items``),
    as long as its slowest item (ASR fails a group's items over in parallel)."""
    flags = {"update": operation == UPDATE, "commit": operation == COMMIT}
    if not items:
        return weather.job_seconds(f"{operation} {target}", **flags)
    return max(weather.job_seconds(f"{operation} {name}", **flags) for name in items)


def _method(operation: str) -> str:
    """The SDK method's name for an operation, as the ledger records it."""
    return {COMMIT: "failover_commit", CANCEL_FAILOVER: "failover_cancel", PLANNED_FAILOVER: "planned_failover",
            UNPLANNED_FAILOVER: "unplanned_failover", TEST_FAILOVER: "test_failover",
            TEST_FAILOVER_CLEANUP: "test_failover_cleanup", FAILBACK: "planned_failover",
            REVERSE_REPLICATE: "reprotect", CHANGE_PIT: "apply_recovery_point"}[operation]


def _nic_view(nic: dict) -> NicSettings:
    rec, test = nic["recovery"], nic["test"]
    return NicSettings(nic_id=nic["id"], ip_config=nic["ip_config"], source_ip=nic["source_ip"],
                       is_primary=nic["primary"], recovery_network=rec["network"], recovery_subnet=rec["subnet"],
                       recovery_ip=rec["ip"], test_network=test["network"], test_subnet=test["subnet"],
                       test_ip=test["ip"])


def _item_not_found(vault: VaultRef, name: str) -> NotFoundError:
    return NotFoundError(f"Protected item '{name}' was not found in vault {vault.vault}",
                         code="ProtectedItemNotFound", status=404)


def _failover_params(kind: str, test_network: str | None, shut_down_source: bool) -> dict:
    params: dict = {"type": kind}
    if test_network:
        params["test_network"] = test_network
    if kind == "unplanned":
        params["shut_down_source"] = shut_down_source
    return params


def _failback_params(data_sync: str, create_vm: bool) -> dict:
    if data_sync not in ("ForSynchronization", "ForDownTime"):
        raise PermanentError(f"dataSyncOption {data_sync!r} is neither ForSynchronization nor ForDownTime",
                             code="InvalidDataSyncOption", status=400)
    return {"direction": DIRECTIONS["recovery_to_primary"], "data_sync": data_sync,
            "create_vm": "CreateVmIfNotFound" if create_vm else "NoAction"}


def recovery_points(item: dict, now: float) -> list[tuple[str, float, str]]:
    """The item's recovery points as (name, time, type), oldest first: the schedule's while replication ran
    (``since`` .. ``stopped``) and within retention, and the points taken otherwise (a snapshot's, a
    failover's own)."""
    spec = item.get("points") or {}
    end = min(now, spec.get("stopped") or now)
    start = max(now - spec.get("retention_s", 86400.0), spec.get("since") or float("-inf"))
    found = {}
    every = spec.get("every_s")
    if every:
        first, last = math.ceil(start / every), math.floor(end / every)
        for k in range(max(first, last - 10_000), last + 1):  # a day of 5-minute points is 288
            kind = APP_CONSISTENT if k % spec.get("app_every", 12) == 0 else CRASH_CONSISTENT
            found[k * every] = kind
    names = {}
    for at, kind, *name in spec.get("taken", ()):
        if now - spec.get("retention_s", 86400.0) <= at <= now and at >= (spec.get("since") or float("-inf")):
            found[at] = kind
            names[at] = name[0] if name else _point_name(item["name"], at)
    return [(names.get(at) or _point_name(item["name"], at), at, kind) for at, kind in sorted(found.items())]


def _point_name(item: str, at: float) -> str:
    return f"{item}-{round(at * 1000):x}"


def _refusal(name: str, state: ItemState, operation: str) -> str:
    where = f"({state.describe()})"
    if state.stage in (Stage.NOT_PROTECTED, Stage.ENABLING):
        return f"Protected item {name} is not protected {where}; enable replication and wait for it first"
    if state.busy:
        return f"{operation} of {name} is not allowed while job {state.job} is running on it"
    if operation == COMMIT and not state.failed_over:
        return f"{name} cannot be committed: it has not failed over {where}; fail it over first"
    if operation == TEST_FAILOVER_CLEANUP and state.test_failover == TestFailover.NONE:
        return f"{name} has no test failover to clean up"
    if operation in FAILOVER_OPERATION.values() and state.failed_over:
        return f"{name} has already failed over {where}"
    if operation == FAILBACK and not state.failed_over:
        return f"{name} runs on-premises {where}: there is nothing to fail back"
    if operation == FAILBACK:
        return f"{name} cannot fail back before its failover to Azure is committed {where}; commit it first"
    if operation == REVERSE_REPLICATE and state.failed_over:
        return (f"{name} runs in Azure {where}: a Hyper-V VM is not reprotected from Azure; its failback "
                "synchronises the data back, then it is reprotected from on-premises")
    if operation == REVERSE_REPLICATE:
        return f"{name} can be reprotected once its failback is committed {where}"
    if operation == CHANGE_PIT:
        return f"{name} can change its recovery point only after a failover and before its commit {where}"
    return f"{operation} is not allowed for {name} {where}; allowed: {', '.join(sorted(state.allowed)) or 'none'}"


def _nics(store, item: dict) -> list[dict]:
    """The item's NICs, to read (their nested values are the store's)."""
    return [store.get("nic", name, shallow=True) for name in item["nics"]]


def _precondition(store, item: dict, operation: str, params: dict) -> None:
    nics = _nics(store, item)
    if operation in (PLANNED_FAILOVER, UNPLANNED_FAILOVER) and not all(n["recovery"]["network"] and
                                                                       n["recovery"]["subnet"] for n in nics):
        raise PermanentError(f"{item['name']} has no recovery network and subnet; set them (asr.set_target_ip) "
                             "before failing over", code="RecoveryNetworkNotConfigured", status=400)
    if operation == TEST_FAILOVER and not (params.get("test_network") or all(n["test"]["network"] for n in nics)):
        raise PermanentError(f"A test failover of {item['name']} needs a test network",
                             code="TestNetworkNotConfigured", status=400)


def settle_jobs(cloud) -> None:
    """Apply the jobs whose time has come. A test failover that brought its VMs up stays, Suspended, the
    item's current scenario until its cleanup ends it (as ASR's does)."""
    store = cloud.store
    now = cloud.clock.wall()
    if not store.due_jobs(now):
        return
    with store.transaction():
        for job in store.due_jobs(now):
            errors = []
            items = [store.get("item", n, shallow=True) for n in job["items"]]  # _apply sets top-level keys
            for item in items:
                error = _completion_error(store, item, job)
                if error:
                    errors.append(error)
            waits = not errors and job["action"] == TEST_FAILOVER
            idle = {"scenarioName": NO_JOB, "jobId": NO_JOB}
            for item in items:
                (_fail if errors else _apply)(store, item, job)
                if not waits:
                    item["state"] = {**item["state"], "currentScenario": idle}
                store.replace("item", item)
            if job["plan"] and not waits:
                plan = store.get("plan", job["plan"])
                if plan:
                    plan["current_job"] = None
                    store.replace("plan", plan)
            if waits:
                job.update(state="Suspended", description=WAITING_FOR_CLEANUP)
            else:
                job.update(state="Failed" if errors else "Succeeded", errors=errors, ended=job["finish_at"],
                           description="" if errors else "Completed")
            store.put_job(job)
            if job["action"] == TEST_FAILOVER_CLEANUP and not errors:
                _end_test_failover(store, job)


def _end_test_failover(store, cleanup: dict) -> None:
    """A cleanup ends the test failover it cleaned up: the suspended job succeeds."""
    for job_id in cleanup.get("ends", ()):
        job = store.job(job_id)
        if job is not None and job["state"] == "Suspended":
            job.update(state="Succeeded", description="Completed", ended=cleanup["finish_at"])
            store.put_job(job)


def _completion_error(store, item: dict, job: dict) -> str | None:
    operation = job["action"]
    if operation in (PLANNED_FAILOVER, UNPLANNED_FAILOVER):
        if item.get("inject_failover_error"):
            return item["inject_failover_error"]
        if job["params"].get("recovery_point_type") and _chosen_point(item, job) is None:
            return (f"{item['name']} has no {job['params']['recovery_point_type']} recovery point to fail over to "
                    "(no application-consistent point was taken within the retention)")
        for nic in _nics(store, item):
            rec = nic["recovery"]
            if rec["ip"]:
                user = ip_user(store, ids.name_of(rec["network"]), rec["ip"], "recovery", exclude=nic["id"])
                if user and user.startswith("the NIC"):
                    return (f"Failed to create the recovery VM {item['name']}: IP address {rec['ip']} is already "
                            f"used by {user}")
    if operation == TEST_FAILOVER:
        for nic in _nics(store, item):
            network, _, ip = _test_target(nic, job)
            if ip:
                user = ip_user(store, ids.name_of(network), ip, "test", exclude=nic["id"])
                if user and user.startswith("the NIC"):
                    return f"Failed to create the test VM {item['name']}-test: IP address {ip} is already used by {user}"
    return None


def _test_target(nic: dict, job: dict) -> tuple[str, str, str | None]:
    """Where a NIC comes up in a test failover: its test settings, else its recovery subnet and IP in the
    test network the failover names."""
    network = job["params"].get("test_network") or nic["test"]["network"]
    return network, nic["test"]["subnet"] or nic["recovery"]["subnet"], nic["test"]["ip"] or nic["recovery"]["ip"]


def _fail(store, item: dict, job: dict) -> None:
    """A failed job leaves the item as it was, except a failed test failover, which waits for cleanup."""
    item["state"] = job["before"][item["name"]]
    if job["action"] == TEST_FAILOVER:
        item["state"] = {**item["state"], "testFailoverState": "Failed"}


def _chosen_point(item: dict, job: dict) -> tuple[str, float, str] | None:
    """The point a failover brings the item up at: the one it names, or per the plan's type of point; the
    latest is one taken at the failover itself (every change the service has received)."""
    params, at = job["params"], job["finish_at"]
    wanted = params.get("recovery_point_type") or "Latest"
    if wanted == "Latest" and not params.get("recovery_point"):
        return (_point_name(item["name"], at), at, CRASH_CONSISTENT)  # no need to list a day of points
    points = recovery_points(item, at)
    if params.get("recovery_point"):
        return next((p for p in points if p[0] == params["recovery_point"]), None)
    if wanted == "LatestProcessed":
        return points[-1] if points else None
    if wanted == "LatestApplicationConsistent":
        return next((p for p in reversed(points) if p[2] == APP_CONSISTENT), None)
    return (_point_name(item["name"], at), at, CRASH_CONSISTENT)


def _replication(item: dict, **changes) -> None:
    item["points"] = {**(item.get("points") or {}), **changes}


def _apply(store, item: dict, job: dict) -> None:
    operation, name = job["action"], item["name"]
    after = dict(AFTER.get(operation, {}))
    if operation == COMMIT:
        after["protectionState"] = COMMITTED.get(item["state"]["protectionState"], "FailoverCommitted")
    if operation == CHANGE_PIT:  # the item is failed over as before, at another point
        after["protectionState"] = job["before"][name]["protectionState"]
        item["recovery_point"] = job["params"]["recovery_point"]
    item["state"] = {**item["state"], **after}
    nics = _nics(store, item)
    at = job["finish_at"]
    if operation in (PLANNED_FAILOVER, UNPLANNED_FAILOVER):
        point = _chosen_point(item, job)
        spec = item.get("points") or {}
        if point and point[1] not in {t for t, *_ in spec.get("taken", ())} and point[1] == at:
            _replication(item, taken=[*spec.get("taken", ()), [at, point[2]]])
        item["recovery_point"] = point[0] if point else None
        _replication(item, stopped=at)  # no more points from on-premises
    elif operation == REVERSE_REPLICATE:  # replication starts over: a new initial replication, new points
        _replication(item, since=at, stopped=None, taken=[])
        item["recovery_point"] = None
    elif operation == CANCEL_FAILOVER:
        _replication(item, stopped=None)
        item["recovery_point"] = None
    if operation == FAILBACK:
        for nic in nics:
            store.delete("vm", nic["id"])
    if operation in (PLANNED_FAILOVER, UNPLANNED_FAILOVER):
        for nic in nics:
            rec = nic["recovery"]
            store.put("vm", {"name": nic["id"], "vnet": ids.name_of(rec["network"]), "subnet": rec["subnet"],
                             "ip": rec["ip"], "owner": nic["id"], "item": name})
    elif operation == TEST_FAILOVER:
        for nic in nics:
            network, subnet, ip = _test_target(nic, job)
            store.put("vm", {"name": f"{nic['id']}-test", "vnet": ids.name_of(network), "subnet": subnet, "ip": ip,
                             "owner": nic["id"], "item": name, "test": True})
    elif operation == TEST_FAILOVER_CLEANUP:
        for nic in nics:
            store.delete("vm", f"{nic['id']}-test")
    elif operation == CANCEL_FAILOVER:
        for nic in nics:
            store.delete("vm", nic["id"])
