"""Site Recovery on the SDK: protected items and recovery plans by their friendly names, failovers
started without waiting (the job is the handle), and ASR jobs polled one by one or in a batch.

Responses are read as the REST payloads they are (``as_dict()``: the API's own field names), so what
is read here is what the REST reference documents.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import AzureError
from azure.core.polling.base_polling import OperationFailed
from azure.core.serialization import NULL
from azure.mgmt.recoveryservicessiterecovery import SiteRecoveryManagementClient
from azure.mgmt.recoveryservicessiterecovery import models as m

from adapters.azure.errors import translate, translated
from adapters.ports import (
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
from adapters.shared.errors import AdapterError, NotFoundError, PermanentError, UnknownOutcomeError
from adapters.shared.itemstate import (
    CANCEL_FAILOVER,
    CHANGE_PIT,
    COMMIT,
    DIRECTIONS,
    FAILBACK,
    JOB_FINISHED,
    PLANNED_FAILOVER,
    RECOVERY_TO_PRIMARY,
    REVERSE_REPLICATE,
    TEST_FAILOVER,
    TEST_FAILOVER_CLEANUP,
    UNPLANNED_FAILOVER,
    ItemState,
    job_reference,
    job_state,
)
from adapters.shared.secret import redact

HYPERV = "HyperVReplicaAzure"
UPDATE_ITEM = "UpdateProtectedItem"  # the job a target-network update runs (its scenarioName)


def _json(model: Any) -> dict:
    return model.as_dict() if hasattr(model, "as_dict") else dict(model)


def _item_path(item_id: str) -> tuple[str, str, str]:
    """fabric, container and item name from a protected item's resource ID."""
    parts = item_id.strip("/").split("/")
    lower = [p.lower() for p in parts]
    try:
        return (parts[lower.index("replicationfabrics") + 1], parts[lower.index("replicationprotectioncontainers") + 1],
                parts[lower.index("replicationprotecteditems") + 1])
    except (ValueError, IndexError):
        raise PermanentError(f"unexpected protected item ID {item_id}", code="InvalidItemId") from None


def plan_filter(plan: str) -> str:
    """The ``$filter`` that lists one recovery plan's items (``recoveryPlanName`` of ASR's
    ``ProtectedItemsQueryParameter``), the name quoted as OData quotes a string."""
    return "recoveryPlanName eq '{}'".format(plan.replace("'", "''"))


def _last_segment(url: str) -> str:
    return url.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]


def _located_job(response_headers: dict) -> str | None:
    """The job a 202's ``Location`` names (``.../replicationJobs/{job}/operationresults/{job}``), if it has one."""
    url = response_headers.get("Location") or ""
    return _last_segment(url) if "/operationresults/" in url.lower() else None


def _nic_view(nic: dict, vm_network: str | None, vm_test_network: str | None, primary: bool) -> NicSettings:
    """One NIC of the item; ASR keeps the primary IP configuration of each NIC (named by the item)."""
    configs = nic.get("ipConfigs") or []
    config = next((c for c in configs if c.get("isPrimary")), configs[0] if configs else {})
    return NicSettings(
        nic_id=nic.get("nicId", ""), ip_config=config.get("name") or "", source_ip=config.get("staticIPAddress"),
        is_primary=primary,
        recovery_network=nic.get("recoveryVMNetworkId") or vm_network,
        recovery_subnet=config.get("recoverySubnetName") or None, recovery_ip=config.get("recoveryStaticIPAddress") or None,
        test_network=nic.get("tfoVMNetworkId") or vm_test_network,
        test_subnet=config.get("tfoSubnetName") or None, test_ip=config.get("tfoStaticIPAddress") or None,
    )


def _item_view(doc: dict) -> ProtectedItem:
    props = doc.get("properties") or {}
    details = props.get("providerSpecificDetails") or {}
    name = props.get("friendlyName") or doc.get("name", "")
    state = ItemState.read(name, props)
    vm_network = details.get("selectedRecoveryAzureNetworkId") or None
    vm_test_network = details.get("selectedTfoAzureNetworkId") or None
    listed = details.get("vmNics") or []
    # The primary NIC after failover is the one the item selected (selectedSourceNicId), else the first.
    selected = details.get("selectedSourceNicId")
    primary_id = selected if any(n.get("nicId") == selected for n in listed) else (listed[0].get("nicId") if listed
                                                                                   else None)
    nics = tuple(_nic_view(nic, vm_network, vm_test_network, nic.get("nicId") == primary_id) for nic in listed)
    primary = next((n for n in nics if n.is_primary), nics[0] if nics else None)
    return ProtectedItem(
        name=doc.get("name", ""), vm_name=name, state=state, nics=nics,
        # ASR reports no IP of the recovered VM; the one it was given is what it comes up with.
        recovery_vm_ip=primary.recovery_ip if primary and state.failed_over else None,
        test_vm_ip=(primary.test_ip or primary.recovery_ip) if primary and state.test_failed_over else None,
        id=doc.get("id", ""), recovery_point_id=props.get("failoverRecoveryPointId") or None,
        replication=_replication_view(props, details, state),
    )


def _epoch(value: Any) -> float | None:
    """An RFC 3339 time of the service (or the SDK's datetime) as epoch seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _health_error(error: dict) -> str:
    text = error.get("errorMessage") or error.get("summaryMessage") or ""
    code = error.get("errorCode") or ""
    return f"{code}: {text}" if code and text else (text or code)


def _replication_view(props: dict, details: dict, state: ItemState) -> ReplicationStatus:
    """replicationHealth and healthErrors of the item; the RPO, last replication and recovery VM size
    from its HyperVReplicaAzure details (rpoInSeconds as of lastRpoCalculatedTime)."""
    rpo = details.get("rpoInSeconds")
    return ReplicationStatus(
        health=state.replication_health,
        health_errors=tuple(e for e in (_health_error(x) for x in props.get("healthErrors") or []) if e),
        rpo_seconds=None if rpo is None else float(rpo),
        rpo_calculated_at=_epoch(details.get("lastRpoCalculatedTime")),
        last_replicated_at=_epoch(details.get("lastReplicatedTime")),
        recovery_vm_size=details.get("recoveryAzureVMSize") or None,
    )


def _timestamp(value: str | None) -> float:
    """An ISO 8601 time as the service writes it (``2017-04-26T06:37:50.8082715Z``: seven digits of a second)."""
    if not value:
        raise PermanentError("a recovery point without a recoveryPointTime", code="InvalidRecoveryPoint")
    text = value.strip().replace("Z", "+00:00")
    head, _, zone = text.partition("+")
    if "." in head:
        head, fraction = head.split(".", 1)
        head = f"{head}.{fraction[:6]}"
    moment = datetime.fromisoformat(head + ("+" + zone if zone else ""))
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _point_view(doc: dict) -> RecoveryPoint:
    props = doc.get("properties") or {}
    return RecoveryPoint(id=doc.get("id", ""), time=_timestamp(props.get("recoveryPointTime")),
                         type=props.get("recoveryPointType") or "CrashConsistent")


def _job_view(doc: dict) -> Job:
    props = doc.get("properties") or {}
    errors = []
    for error in props.get("errors") or []:
        service = error.get("serviceErrorDetails") or {}
        provider = error.get("providerErrorDetails") or {}
        text = service.get("message") or provider.get("errorMessage")
        if text:
            code = service.get("code") or provider.get("errorId") or ""
            errors.append(f"{code}: {text}" if code else text)
    name = doc.get("name", "")
    return Job(id=name, state=job_state(props.get("state"), name),
               operation=props.get("scenarioName", ""), target=props.get("targetObjectName", ""),
               errors=tuple(errors), description=props.get("stateDescription") or "")


class AzureReplication:
    def __init__(self, clients):
        self._clients = clients
        self._paths: dict[tuple[str, str, str], dict[str, str]] = {}  # vault -> friendly name -> item ID
        self._lock = threading.Lock()

    def _client(self, vault: VaultRef) -> SiteRecoveryManagementClient:
        return self._clients.site_recovery(vault.subscription)

    def _args(self, vault: VaultRef) -> tuple[str, str]:
        return vault.resource_group, vault.vault

    # --- names ------------------------------------------------------------------------------------

    def _remember(self, vault: VaultRef, items: list[ProtectedItem]) -> None:
        key = (vault.subscription.lower(), vault.resource_group.lower(), vault.vault.lower())
        with self._lock:
            known = self._paths.setdefault(key, {})
            for item in items:
                known[item.vm_name.lower()] = item.id
                known[item.name.lower()] = item.id

    def _path(self, vault: VaultRef, item: str) -> tuple[str, str, str]:
        """An item named by its VM name (or ASR name): found once with a list, remembered."""
        key = (vault.subscription.lower(), vault.resource_group.lower(), vault.vault.lower())
        item_id = self._paths.get(key, {}).get(item.lower())
        if item_id is None:
            self.list_protected_items(vault)
            item_id = self._paths.get(key, {}).get(item.lower())
        if item_id is None:
            raise NotFoundError(f"Protected item '{item}' was not found in vault {vault.vault}",
                                code="ProtectedItemNotFound", status=404)
        return _item_path(item_id)

    # --- reads ------------------------------------------------------------------------------------

    @translated("replication_protected_items.get")
    def get_protected_item(self, vault: VaultRef, item: str) -> ProtectedItem:
        doc = self._client(vault).replication_protected_items.get(*self._args(vault), *self._path(vault, item))
        return _item_view(_json(doc))

    def get_protected_items(self, vault: VaultRef, items: list[str]) -> list[ProtectedItem]:
        return [self.get_protected_item(vault, item) for item in items]  # each translates its own errors

    @translated("replication_protected_items.list")
    def list_protected_items(self, vault: VaultRef, plan: str | None = None) -> list[ProtectedItem]:
        query = {"filter": plan_filter(plan)} if plan is not None else {}
        items = [_item_view(_json(doc)) for doc in
                 self._client(vault).replication_protected_items.list(*self._args(vault), **query)]
        self._remember(vault, items)
        return items

    @translated("recovery_points.list_by_replication_protected_items")
    def list_recovery_points(self, vault: VaultRef, item: str) -> list[RecoveryPoint]:
        points = self._client(vault).recovery_points.list_by_replication_protected_items(
            *self._args(vault), *self._path(vault, item))
        return sorted((_point_view(_json(doc)) for doc in points), key=lambda p: p.time)

    @translated("replication_recovery_plans.get")
    def get_recovery_plan(self, vault: VaultRef, plan: str) -> RecoveryPlan:
        doc = _json(self._client(vault).replication_recovery_plans.get(*self._args(vault), plan))
        props = doc.get("properties") or {}
        names = {}
        needed = [i.get("id", "") for g in props.get("groups") or [] for i in g.get("replicationProtectedItems") or []]
        if needed:  # the plan names its items by ID: the plan's own list names them by VM
            names = {item.id.lower(): item.vm_name for item in self.list_protected_items(vault, plan)}
        groups = tuple(
            tuple(names.get(i.get("id", "").lower(), _item_path(i.get("id", ""))[2])
                  for i in g.get("replicationProtectedItems") or [])
            for g in props.get("groups") or [] if g.get("replicationProtectedItems"))
        scenario = props.get("currentScenario") or {}
        # A plan keeps naming its last job once it is over (currentScenarioStatus says so): that is no job.
        over = (props.get("currentScenarioStatus") or "").lower() in {s.lower() for s in JOB_FINISHED}
        return RecoveryPlan(name=doc.get("name", plan), groups=groups,
                            allowed_operations=tuple(props.get("allowedOperations") or ()),
                            current_job_id=None if over else job_reference(scenario.get("jobId")),
                            id=doc.get("id", ""))

    @translated("replication_jobs.get")
    def get_job(self, vault: VaultRef, job_id: str) -> Job:
        return _job_view(_json(self._client(vault).replication_jobs.get(*self._args(vault), job_id)))

    @translated("replication_jobs.list")
    def list_jobs(self, vault: VaultRef, job_ids: list[str]) -> list[Job]:
        """Many jobs in one paged list rather than one GET each (ARM's read bucket is shared)."""
        if len(job_ids) <= 3:
            return [self.get_job(vault, job_id) for job_id in job_ids]
        missing = {job_id.lower() for job_id in job_ids}
        jobs = []
        for doc in self._client(vault).replication_jobs.list(*self._args(vault)):  # paged: stop once all are seen
            job = _job_view(_json(doc))
            if job.id.lower() in missing:
                jobs.append(job)
                missing.discard(job.id.lower())
                if not missing:
                    break
        return jobs + [self.get_job(vault, job_id) for job_id in job_ids if job_id.lower() in missing]

    # --- writes -----------------------------------------------------------------------------------

    @translated("replication_protected_items.update", writes=True)
    def update_network_settings(self, vault: VaultRef, item: str, nic_id: str,
                                settings: NetworkSettings) -> ProtectedItem:
        """A PATCH of the item's NIC, by the names the item gives its NIC and IP configuration. A long-running
        operation (an ASR job): the SDK's poller follows it at the pace of its ``Retry-After``, then reads the
        item back. Clearing the test-failover settings sends them as JSON null (a merge patch removes them)."""
        poller = self._client(vault).replication_protected_items.begin_update(
            *self._args(vault), *self._path(vault, item), self._update_body(vault, item, nic_id, settings))
        try:
            updated = poller.result()  # ARM's final GET of the item once the operation has finished
        except AzureError as exc:
            if isinstance(exc.__cause__, OperationFailed):  # the service's job ran and failed: a known outcome
                raise PermanentError(f"the update of {item} failed: {redact(exc.message)}", code="UpdateFailed",
                                     operation="replication_protected_items.update") from None
            # accepted, progress unknown: never send it again; the step reads the item and waits for its job
            raise UnknownOutcomeError(f"the update of {item} was accepted, but its progress could not be read: "
                                      f"{translate(exc, 'replication_protected_items.update', writes=True)}",
                                      code="UpdateNotFollowed") from None
        return _item_view(_json(updated)) if updated is not None else self.get_protected_item(vault, item)

    @translated("replication_protected_items.update", writes=True)
    def start_network_update(self, vault: VaultRef, item: str, nic_id: str, settings: NetworkSettings,
                             current: ProtectedItem | None = None) -> JobHandle:
        """The same PATCH, not followed here: its job is found as a failover's is, and the caller follows it
        with the run's other jobs (one paged list for all, not a poller per item at its ``Retry-After``). The
        body is built from ``current`` when the caller has just read the item: a read fewer per update."""
        body = self._update_body(vault, item, nic_id, settings, current)
        return self._start(vault, UPDATE_ITEM, item, self._client(vault).replication_protected_items.begin_update,
                           *self._path(vault, item), body)

    def _update_body(self, vault: VaultRef, item: str, nic_id: str, settings: NetworkSettings,
                     current: ProtectedItem | None = None) -> m.UpdateReplicationProtectedItemInput:
        current = current or self.get_protected_item(vault, item)
        nic = next((n for n in current.nics if n.nic_id.lower() == nic_id.lower()
                    or n.nic_id.rsplit("/", 1)[-1].lower() == nic_id.lower()), None)
        if nic is None:
            raise PermanentError(f"{item} has no NIC {nic_id}; it has {', '.join(n.nic_id for n in current.nics)}",
                                 code="InvalidNicId", status=400)
        clear_test = settings.test_network == ""

        def pick(new, old):
            return old if new is None else new

        def test(new, old):
            return NULL if clear_test else pick(new, old)

        ip_config = m.IPConfigInputDetails(
            ip_config_name=nic.ip_config, is_primary=True, is_seleted_for_failover=True,
            recovery_subnet_name=pick(settings.recovery_subnet, nic.recovery_subnet),
            recovery_static_ip_address=pick(settings.recovery_ip, nic.recovery_ip),
            tfo_subnet_name=test(settings.test_subnet, nic.test_subnet),
            tfo_static_ip_address=test(settings.test_ip, nic.test_ip),
        )
        properties = m.UpdateReplicationProtectedItemInputProperties(
            recovery_azure_vm_name=current.vm_name,
            selected_recovery_azure_network_id=pick(settings.recovery_network, nic.recovery_network),
            selected_tfo_azure_network_id=test(settings.test_network, nic.test_network),
            vm_nics=[m.VMNicInputDetails(nic_id=nic.nic_id, selection_type="SelectedByUser", ip_configs=[ip_config])],
            provider_specific_details=m.HyperVReplicaAzureUpdateReplicationProtectedItemInput(),
        )
        return m.UpdateReplicationProtectedItemInput(properties=properties)

    def _start(self, vault: VaultRef, operation: str, target: str, begin, *args, plan: bool = False) -> JobHandle:
        """Start a long-running ASR operation without waiting: its job is what the engine follows.

        The service answers 202 with an ``Azure-AsyncOperation`` URL (the specs' examples give no
        ``Location``); the job is the one the item (or plan) names as its current scenario right after,
        as the specs' examples show it. Only if it names none (the job already over) does the operation's
        own id stand for the job."""
        headers: dict[str, str] = {}

        def capture(pipeline_response):
            if pipeline_response.http_request.method in ("POST", "PATCH"):
                headers.update(pipeline_response.http_response.headers)

        begin(*self._args(vault), *args, polling=False, raw_response_hook=capture)
        try:
            job = _located_job(headers) or self._current_job(vault, target, plan)
        except AdapterError as exc:  # the operation was accepted: never send it again, read the state again
            raise UnknownOutcomeError(f"{operation} of {target} was accepted, but its job could not be read: {exc}",
                                      code="JobNotRead", operation=operation) from None
        if job is None and headers.get("Azure-AsyncOperation"):
            job = _last_segment(headers["Azure-AsyncOperation"])
        if job is None:
            raise PermanentError(f"{operation} of {target} was accepted without a job to follow",
                                 code="NoJob", operation=operation)
        return JobHandle(vault, job, operation, target)

    def _current_job(self, vault: VaultRef, target: str, plan: bool) -> str | None:
        if plan:
            return self.get_recovery_plan(vault, target).current_job_id
        return self.get_protected_item(vault, target).state.job

    @translated("replication_protected_items.failover", writes=True)
    def start_failover(self, vault, item, kind, *, test_network=None, shut_down_source=True,
                       recovery_point_id=None) -> JobHandle:
        """A failover to Azure; to ``recovery_point_id`` when given (the provider input's ``recoveryPointId``),
        else to the service's latest point."""
        ops = self._client(vault).replication_protected_items
        path = self._path(vault, item)
        if kind == "test":
            body = m.TestFailoverInput(properties=m.TestFailoverInputProperties(
                failover_direction="PrimaryToRecovery", network_type="VmNetworkAsInput", network_id=test_network,
                provider_specific_details=m.HyperVReplicaAzureTestFailoverInput(recovery_point_id=recovery_point_id)))
            return self._start(vault, TEST_FAILOVER, item, ops.begin_test_failover, *path, body)
        if kind == "planned":
            body = m.PlannedFailoverInput(properties=m.PlannedFailoverInputProperties(
                failover_direction="PrimaryToRecovery",
                provider_specific_details=m.HyperVReplicaAzurePlannedFailoverProviderInput(
                    recovery_point_id=recovery_point_id)))
            return self._start(vault, PLANNED_FAILOVER, item, ops.begin_planned_failover, *path, body)
        body = m.UnplannedFailoverInput(properties=m.UnplannedFailoverInputProperties(
            failover_direction="PrimaryToRecovery",
            source_site_operations="Required" if shut_down_source else "NotRequired",
            provider_specific_details=m.HyperVReplicaAzureUnplannedFailoverInput(recovery_point_id=recovery_point_id)))
        return self._start(vault, UNPLANNED_FAILOVER, item, ops.begin_unplanned_failover, *path, body)

    @translated("replication_protected_items.failover", writes=True)
    def start_failback(self, vault, item, *, data_sync, create_vm) -> JobHandle:
        """A planned failover from Azure back on-premises, with the service's data-synchronisation option
        (``ForSynchronization``: the changes are copied while the VM runs in Azure, then it stops;
        ``ForDownTime``: it stops first) and whether the on-premises VM is created when it is not found."""
        ops = self._client(vault).replication_protected_items
        body = m.PlannedFailoverInput(properties=m.PlannedFailoverInputProperties(
            failover_direction=DIRECTIONS[RECOVERY_TO_PRIMARY],
            provider_specific_details=m.HyperVReplicaAzureFailbackProviderInput(
                data_sync_option=data_sync,
                recovery_vm_creation_option="CreateVmIfNotFound" if create_vm else "NoAction")))
        return self._start(vault, FAILBACK, item, ops.begin_planned_failover, *self._path(vault, item), body)

    @translated("replication_recovery_plans.failover", writes=True)
    def start_plan_failback(self, vault, plan, *, data_sync, create_vm) -> JobHandle:
        ops = self._client(vault).replication_recovery_plans
        body = m.RecoveryPlanPlannedFailoverInput(properties=m.RecoveryPlanPlannedFailoverInputProperties(
            failover_direction=DIRECTIONS[RECOVERY_TO_PRIMARY],
            provider_specific_details=[m.RecoveryPlanHyperVReplicaAzureFailbackInput(
                data_sync_option=data_sync,
                recovery_vm_creation_option="CreateVmIfNotFound" if create_vm else "NoAction")]))
        return self._start(vault, FAILBACK, plan, ops.begin_planned_failover, plan, body, plan=True)

    @translated("replication_protected_items.reprotect", writes=True)
    def start_reprotect(self, vault, item, direction) -> JobHandle:
        """Reverse replication (the Reprotect example's body: the direction and the Hyper-V provider)."""
        ops = self._client(vault).replication_protected_items
        body = m.ReverseReplicationInput(properties=m.ReverseReplicationInputProperties(
            failover_direction=DIRECTIONS[direction], provider_specific_details=m.HyperVReplicaAzureReprotectInput()))
        return self._start(vault, REVERSE_REPLICATE, item, ops.begin_reprotect, *self._path(vault, item), body)

    @translated("replication_recovery_plans.reprotect", writes=True)
    def start_plan_reprotect(self, vault, plan, direction) -> JobHandle:
        """A plan's reprotect takes no body (the plan's Reprotect example): each item reverses its replication."""
        ops = self._client(vault).replication_recovery_plans
        return self._start(vault, REVERSE_REPLICATE, plan, ops.begin_reprotect, plan, plan=True)

    @translated("replication_protected_items.apply_recovery_point", writes=True)
    def start_apply_recovery_point(self, vault, item, recovery_point_id) -> JobHandle:
        ops = self._client(vault).replication_protected_items
        body = m.ApplyRecoveryPointInput(properties=m.ApplyRecoveryPointInputProperties(
            recovery_point_id=recovery_point_id,
            provider_specific_details=m.HyperVReplicaAzureApplyRecoveryPointInput()))
        return self._start(vault, CHANGE_PIT, item, ops.begin_apply_recovery_point, *self._path(vault, item), body)

    @translated("replication_recovery_plans.failover", writes=True)
    def start_plan_failover(self, vault, plan, kind, *, test_network=None, shut_down_source=True,
                            recovery_point_type="Latest") -> JobHandle:
        ops = self._client(vault).replication_recovery_plans
        details = [m.RecoveryPlanHyperVReplicaAzureFailoverInput(recovery_point_type=recovery_point_type)]
        if kind == "test":
            body = m.RecoveryPlanTestFailoverInput(properties=m.RecoveryPlanTestFailoverInputProperties(
                failover_direction="PrimaryToRecovery", network_type="VmNetworkAsInput", network_id=test_network,
                provider_specific_details=details))
            return self._start(vault, TEST_FAILOVER, plan, ops.begin_test_failover, plan, body, plan=True)
        if kind == "planned":
            body = m.RecoveryPlanPlannedFailoverInput(properties=m.RecoveryPlanPlannedFailoverInputProperties(
                failover_direction="PrimaryToRecovery", provider_specific_details=details))
            return self._start(vault, PLANNED_FAILOVER, plan, ops.begin_planned_failover, plan, body, plan=True)
        body = m.RecoveryPlanUnplannedFailoverInput(properties=m.RecoveryPlanUnplannedFailoverInputProperties(
            failover_direction="PrimaryToRecovery",
            source_site_operations="Required" if shut_down_source else "NotRequired",
            provider_specific_details=details))
        return self._start(vault, UNPLANNED_FAILOVER, plan, ops.begin_unplanned_failover, plan, body, plan=True)

    @translated("replication_protected_items.failover_commit", writes=True)
    def start_commit(self, vault, item) -> JobHandle:
        ops = self._client(vault).replication_protected_items
        return self._start(vault, COMMIT, item, ops.begin_failover_commit, *self._path(vault, item))

    @translated("replication_recovery_plans.failover_commit", writes=True)
    def start_plan_commit(self, vault, plan) -> JobHandle:
        return self._start(vault, COMMIT, plan, self._client(vault).replication_recovery_plans.begin_failover_commit,
                           plan, plan=True)

    @translated("replication_protected_items.failover_cancel", writes=True)
    def start_cancel(self, vault, item) -> JobHandle:
        ops = self._client(vault).replication_protected_items
        return self._start(vault, CANCEL_FAILOVER, item, ops.begin_failover_cancel, *self._path(vault, item))

    @translated("replication_protected_items.test_failover_cleanup", writes=True)
    def start_test_failover_cleanup(self, vault, item, comments) -> JobHandle:
        ops = self._client(vault).replication_protected_items
        body = m.TestFailoverCleanupInput(properties=m.TestFailoverCleanupInputProperties(comments=comments))
        return self._start(vault, TEST_FAILOVER_CLEANUP, item, ops.begin_test_failover_cleanup,
                           *self._path(vault, item), body)

    @translated("replication_recovery_plans.test_failover_cleanup", writes=True)
    def start_plan_test_failover_cleanup(self, vault, plan, comments) -> JobHandle:
        body = m.RecoveryPlanTestFailoverCleanupInput(
            properties=m.RecoveryPlanTestFailoverCleanupInputProperties(comments=comments))
        return self._start(vault, TEST_FAILOVER_CLEANUP, plan,
                           self._client(vault).replication_recovery_plans.begin_test_failover_cleanup, plan, body,
                           plan=True)
