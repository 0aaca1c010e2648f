"""Site Recovery (Microsoft.RecoveryServices, api-version 2025-08-01) as its REST examples show it.

Items, recovery plans and jobs are rendered from the examples ``ReplicationProtectedItems_Get``/``_List``,
``ReplicationRecoveryPlans_Get``/``_List``, ``ReplicationJobs_Get``/``_List``/``_Resume``,
``ReplicationFabrics_Get`` and ``ReplicationProtectionContainers_List``: a copy of the example, its own
subscription/vault/fabric/container/item names replaced by the estate's, then the fields that carry the
simulated state set.

Operations (PATCH of an item, POST ``plannedFailover``... on an item or a plan) answer 202 with the
example's headers: ``Azure-AsyncOperation: .../replicationOperationStatus/{operation}`` and ``Retry-After:
30``, no ``Location`` and no body. The operation ID is not the job's name: the job is named by the
item's (or plan's) ``currentScenario.jobId``, set at once, while the job is ``NotStarted``.

Jobs advance by logical time (see ``service.py``): a job moves each time a request observes it. When a job
finishes, its effects happen (an item fails over, a test failover comes up...). Refusals: 400
``OperationNotAllowed`` when the operation is not in the item's ``allowedOperations``; 409
``ProtectionEntityInvalidState`` for an update while a job is under way or once the item runs in Azure;
400 ``InvalidNicId``, ``InvalidIpConfigName``, ``InvalidNetworkId``, ``InvalidSubnetName``,
``InvalidStaticIpAddress``, ``IpAddressReservedByPlatform``, ``PrivateIPAddressInUse`` for an update
Azure would refuse. (The codes are the double's choice: Azure's own are not documented.)
"""

from __future__ import annotations

import copy
import re
import uuid
from typing import TYPE_CHECKING, Any

from tests.azure.arm import addresses, specs
from tests.azure.arm.http import ArmError, Reply, bad_request, empty, ok
from tests.azure.arm.model import (
    IDLE_JOB_START,
    JOB_KINDS,
    PROTECTION_DESCRIPTIONS,
    RUNNING,
    TEST_FAILOVER_DESCRIPTIONS,
    IpConfig,
    Item,
    Job,
    Nic,
    Plan,
    Vault,
    VNet,
)

if TYPE_CHECKING:
    from tests.azure.arm.service import ArmService, Request

SERVICE = "recoveryservicessiterecovery"
# The items list's one filter the adapter sends: a recovery plan's items (OData doubles a quote in a string).
PLAN_FILTER = re.compile(r"recoveryPlanName eq '((?:[^']|'')*)'", re.IGNORECASE)
API_VERSION = "2025-08-01"
# The examples' own names, replaced by the estate's in every copied document.
EXAMPLE_VAULT = ("/Subscriptions/c183865e-6077-46f2-a3b1-deb0f4f4650a/resourceGroups/resourceGroupPS1/providers/"
                 "Microsoft.RecoveryServices/vaults/vault1")
EXAMPLE_FABRIC = "cloud1"
EXAMPLE_CONTAINER = "cloud_6d224fc6-f326-5d35-96de-fbf51efb3179"
EXAMPLE_ITEM = "f8491e4f-817a-40dd-a90c-af773978c75b"

ACTIONS = {"plannedfailover": "planned", "unplannedfailover": "unplanned", "testfailover": "test",
           "testfailovercleanup": "cleanup", "failovercommit": "commit", "failovercancel": "cancel",
           "reprotect": "reprotect", "applyrecoverypoint": "change_point"}
PLAN_TIMES = {"planned": "lastPlannedFailoverTime", "unplanned": "lastUnplannedFailoverTime",
              "test": "lastTestFailoverTime"}


def _compact(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if v is not None}


def service_error(code: str, message: str, when: str) -> dict[str, Any]:
    """A job error as ``ASRTask``/``JobErrorDetails`` carry it."""
    return {"serviceErrorDetails": {"code": code, "message": message, "possibleCauses": "",
                                    "recommendedAction": "", "activityId": str(uuid.uuid4())},
            "errorLevel": "Error", "creationTime": when}


def _point_of_type(item: Item, point_type: str | None) -> str | None:
    """The point a plan's failover takes per item: the newest application-consistent one for
    ``LatestApplicationConsistent``, else the newest (the latest, processed at the failover)."""
    points = item.points
    if point_type == "LatestApplicationConsistent":
        points = [p for p in points if p[2] == "ApplicationConsistent"]
    return points[-1][0] if points else None


class SiteRecovery:
    def __init__(self, service: ArmService):
        self.service = service
        self.estate = service.estate

    # --- routing ------------------------------------------------------------------------------------

    def handle(self, req: Request, vault_name: str, rest: list[str]) -> Reply:
        vault = self.estate.vaults.get(vault_name.lower())
        if vault is None:
            raise ArmError(404, "ResourceNotFound", f"The Resource 'Microsoft.RecoveryServices/vaults/{vault_name}' "
                                                    f"under resource group '{self.estate.resource_group}' was not found.")
        kinds = [r.lower() for r in rest]
        method = req.method
        if kinds == ["replicationprotecteditems"] and method == "GET":
            return self._item_page(req, vault, self._filtered_items(req, vault), "ReplicationProtectedItems_List")
        if kinds == ["replicationprotectioncontainers"] and method == "GET":
            return ok({"value": [self._container(vault)]})
        if kinds[:1] == ["replicationfabrics"] and len(rest) >= 2:
            if rest[1].lower() != vault.fabric.lower():
                raise ArmError(404, "NotFound", f"Fabric {rest[1]} was not found in vault {vault.name}.")
            return self._fabric(req, vault, rest[2:])
        if kinds == ["replicationrecoveryplans"] and method == "GET":
            return self._plan_page(req, vault)
        if kinds[:1] == ["replicationrecoveryplans"] and len(rest) in (2, 3):
            plan = vault.plans.get(rest[1].lower())
            if plan is None:
                raise ArmError(404, "NotFound", f"Recovery plan {rest[1]} was not found in vault {vault.name}.")
            if len(rest) == 2 and method == "GET":
                return ok(self.plan_doc(plan, specs.body(SERVICE, "ReplicationRecoveryPlans_Get")))
            if len(rest) == 3 and method == "POST" and kinds[2] in ACTIONS:
                return self._plan_action(req, plan, ACTIONS[kinds[2]])
        if kinds == ["replicationjobs"] and method == "GET":
            return self._job_page(req, vault)
        if kinds[:1] == ["replicationjobs"] and len(rest) == 2 and method == "GET":
            job = vault.jobs.get(rest[1].lower())
            if job is None:
                raise ArmError(404, "NotFound", f"Job {rest[1]} was not found in vault {vault.name}.")
            template = "ReplicationJobs_Resume" if job.kind == "test" else "ReplicationJobs_Get"
            return ok(self.job_doc(job, specs.body(SERVICE, template)))
        if kinds[:1] == ["replicationoperationstatus"] and len(rest) == 2 and method == "GET":
            return self._operation_status(vault, rest[1])
        raise ArmError(404 if method == "GET" else 405, "NotFound" if method == "GET" else "MethodNotAllowed",
                       f"The double has no {method} on {req.path}")

    def _fabric(self, req: Request, vault: Vault, rest: list[str]) -> Reply:
        kinds = [r.lower() for r in rest]
        if not rest and req.method == "GET":
            return ok(self._fabric_doc(vault))
        if kinds == ["replicationprotectioncontainers"] and req.method == "GET":
            return ok({"value": [self._container(vault)]})
        if kinds[:1] == ["replicationprotectioncontainers"] and len(rest) >= 2:
            if rest[1].lower() != vault.container.lower():
                raise ArmError(404, "NotFound", f"Protection container {rest[1]} was not found.")
            if len(rest) == 2 and req.method == "GET":
                return ok(self._container(vault))
            if kinds[2:] == ["replicationprotecteditems"] and req.method == "GET":
                return self._item_page(req, vault, list(vault.items.values()),
                                       "ReplicationProtectedItems_ListByReplicationProtectionContainers")
            if kinds[2:3] == ["replicationprotecteditems"] and len(rest) >= 4:
                item = vault.item_by_name(rest[3])
                if item is None:
                    raise ArmError(404, "NotFound", f"Replication protected item {rest[3]} was not found in "
                                                    f"container {vault.container}.")
                if len(rest) == 4 and req.method == "GET":
                    return ok(self.item_doc(item, specs.body(SERVICE, "ReplicationProtectedItems_Get")))
                if len(rest) == 4 and req.method == "PATCH":
                    return self._update(req, item)
                if len(rest) == 5 and req.method == "POST" and kinds[4] in ACTIONS:
                    return self._item_action(req, item, ACTIONS[kinds[4]])
                if kinds[4:] == ["recoverypoints"] and req.method == "GET":
                    return ok({"value": [self._point_doc(item, p) for p in item.points]})
        raise ArmError(404 if req.method == "GET" else 405, "NotFound" if req.method == "GET" else "MethodNotAllowed",
                       f"The double has no {req.method} on {req.path}")

    # --- logical time ---------------------------------------------------------------------------------

    def observe(self, job: Job | None) -> None:
        """A request saw ``job``: at most one step per request (NotStarted, InProgress, then finished)."""
        if job is None or job.name in self.service.observed:
            return
        self.service.observed.add(job.name)
        forced = self.service.forced.get(job.name.lower())
        if forced is not None:
            self._force(job, *forced)
            return
        if not job.running:
            return
        job.observed += 1
        queued, running = self.service.queued_polls, self.service.running_polls
        if job.observed <= queued:
            job.state = job.description = "NotStarted"
        elif job.observed <= queued + running:
            job.state = job.description = "InProgress"
        else:
            self.complete(job)

    def _force(self, job: Job, state: str, errors: list[dict[str, Any]]) -> None:
        if state in RUNNING:
            job.state = job.description = state
            return
        if job.running:
            if state == "Succeeded":
                self.complete(job)
            else:
                for item in job.items:
                    self._release(job, item)
        job.state, job.errors = state, errors
        job.description = {"Succeeded": "Completed", "Suspended": "WaitingForStopTestFailover"}.get(state, state)
        job.end = job.end or self.service.now()

    def start(self, vault: Vault, kind: str, items: list[Item], *, plan: Plan | None = None,
              test_network: VNet | None = None) -> Job:
        """A new job (NotStarted); every item's currentScenario names it from now on."""
        self.estate.job_seq += 1
        job = Job(str(uuid.uuid4()), vault, kind, self.estate.job_seq, self.service.now(), list(items), plan,
                  test_network=test_network, operation=str(uuid.uuid4()))
        for item in items:
            job.previous[item.name] = item.job
            item.job = job
        vault.jobs[job.name.lower()] = job
        vault.operations[job.operation.lower()] = job
        if plan is not None:
            plan.last_job = job
        return job

    def _release(self, job: Job, item: Item) -> None:
        """The job ends without its effect on ``item``: the item is left as it was."""
        if item.job is job:
            item.job = job.previous.get(item.name)
        if job.kind == "update":
            item.pending = None

    # --- what a finished job does -------------------------------------------------------------------

    def complete(self, job: Job) -> None:
        now = self.service.now()
        failures: list[dict[str, Any]] = []
        if job.kind in ("planned", "unplanned", "failback", "test"):
            failures = self._fail_over(job, now)
        else:
            for item in job.items:
                getattr(self, f"_after_{job.kind}")(job, item)
        if job.kind == "cleanup":
            self._end_test_failovers(job, now)
        job.end = now
        if failures:
            job.state, job.description, job.errors = "Failed", "Failed", failures
        elif job.kind == "test":
            job.state, job.description = "Suspended", "WaitingForStopTestFailover"
        else:
            job.state, job.description = "Succeeded", "Completed"
        if job.plan is not None and not failures and job.kind in PLAN_TIMES:
            job.plan.times[PLAN_TIMES[job.kind]] = now

    def _fail_over(self, job: Job, now: str) -> list[dict[str, Any]]:
        """Groups in order, the items of a group together; a group with a failure stops the plan."""
        groups = job.plan.groups if job.plan is not None else [job.items]
        failures: list[dict[str, Any]] = []
        for group in groups:
            stopped = bool(failures)
            for item in (i for i in group if i in job.items):
                problem = ("PreviousGroupFailed", f"{item.vm} was not failed over: an earlier group of the "
                                                  "recovery plan failed.") if stopped else self._problem(job, item)
                if problem:
                    self._release(job, item)
                    failures.append(service_error(*problem, now))
                else:
                    self._arrive(job, item, now)
        return failures

    def _placements(self, job: Job, item: Item) -> list[tuple[Nic, VNet, str | None, str | None, bool]]:
        """Where each NIC comes up: (nic, vnet, subnet, ip, ip chosen by the user)."""
        found = []
        for nic in item.nics:
            config = nic.config
            if job.kind == "test":
                vnet = job.test_network
                if vnet is None:
                    continue
                if nic.tfo_network and nic.tfo_network.lower() == vnet.id.lower():
                    found.append((nic, vnet, config.tfo_subnet, config.tfo_ip, bool(config.tfo_ip)))
                    continue
                subnet = vnet.subnet(config.recovery_subnet)
                ip = config.recovery_ip
                if not (subnet and ip and addresses.contains(vnet.subnets[subnet], ip)
                        and self.estate.holder(vnet, ip, exclude=item) is None):
                    ip = None  # a test VM takes the same address only if it is free there
                found.append((nic, vnet, subnet, ip, False))
            else:
                vnet = self.estate.vnet_by_id(nic.recovery_network)
                if vnet is not None:
                    found.append((nic, vnet, config.recovery_subnet, config.recovery_ip, bool(config.recovery_ip)))
        return found

    def _problem(self, job: Job, item: Item) -> tuple[str, str] | None:
        if job.kind in ("planned", "unplanned") and item.inject_failover_error:
            message, item.inject_failover_error = item.inject_failover_error, None
            return "FailoverFailed", message
        if job.kind == "failback":
            return None
        for nic, vnet, _subnet, ip, static in self._placements(job, item):
            holder = self.estate.holder(vnet, ip, exclude=item) if (ip and static) else None
            if holder is not None:
                return ("PrivateIPAddressInUse",
                        f"The failover of {item.vm} could not create its network interface: IP address {ip} is "
                        f"already in use in virtual network {vnet.name} by network interface {holder.name}.")
            if not [s for s in vnet.subnets if s != "GatewaySubnet"]:
                return "SubnetNotFound", f"Virtual network {vnet.name} has no subnet for {item.vm} ({nic.nic_id})."
        return None

    def _arrive(self, job: Job, item: Item, now: str) -> None:
        if job.kind == "test":
            item.test_nics = [self.estate.place(item, nic, vnet, subnet, ip, test=True)
                              for nic, vnet, subnet, ip, _ in self._placements(job, item)]
            item.stage, item.test_failover_state = "tfo_waiting", "WaitingForCompletion"
            item.description = "Cleanup test failover pending"
            item.last_test_failover = now
            return  # its currentScenario keeps naming the (suspended) test failover job
        item.job = None
        item.description = None
        if job.kind == "failback":
            item.recovered = []
            item.stage, item.protection_state, item.active_location = ("failed_back", "PlannedFailoverCommitRequired",
                                                                       "Primary")
            return
        item.recovered = [self.estate.place(item, nic, vnet, subnet, ip, test=False)
                          for nic, vnet, subnet, ip, _ in self._placements(job, item)]
        item.stage, item.failover_kind, item.active_location = "failed_over", job.kind, "Recovery"
        # the point named, else the latest: one the service takes as the failover processes what it received
        item.failover_point = job.point or _point_of_type(item, job.point_type)
        item.protection_state = ("PlannedFailoverCommitRequired" if job.kind == "planned"
                                 else "UnplannedFailoverCommitPendingStatesBegin")
        item.test_failover_state = "MarkedForDeletion"
        item.last_failover = now

    def _after_cleanup(self, job: Job, item: Item) -> None:
        item.test_nics = []
        item.job, item.description = None, None
        item.stage, item.test_failover_state = "protected", "MarkedForDeletion"

    def _end_test_failovers(self, job: Job, now: str) -> None:
        """A suspended test failover job ends (Succeeded) once every item it brought up is cleaned up."""
        for test_job in {id(j): j for j in job.previous.values() if j is not None}.values():
            if test_job.state == "Suspended" and not any(i.job is test_job for i in test_job.items):
                test_job.state, test_job.description, test_job.end = "Succeeded", "Completed", now

    def _after_commit(self, job: Job, item: Item) -> None:
        item.job, item.description = None, None
        if item.stage == "failed_back":
            item.stage, item.protection_state = "failback_committed", "PlannedFailoverStatesBegin"
            return
        item.stage = "committed"
        item.protection_state = ("PlannedFailoverStatesBegin" if item.failover_kind == "planned"
                                 else "UnplannedFailoverCommitted")

    def _after_cancel(self, job: Job, item: Item) -> None:
        item.job, item.description, item.recovered = None, None, []
        item.stage, item.protection_state, item.active_location = "protected", "Protected", "Primary"

    def _after_reprotect(self, job: Job, item: Item) -> None:
        item.job, item.description, item.failover_kind = None, None, None
        item.stage, item.protection_state, item.active_location = "protected", "Protected", "Primary"
        item.test_failover_state = "MarkedForDeletion"

    def _after_change_point(self, job: Job, item: Item) -> None:
        item.job, item.description = None, None
        item.stage, item.failover_point = "failed_over", job.point

    def _after_update(self, job: Job, item: Item) -> None:
        if item.pending is not None:
            item.nics, item.pending = item.pending, None
        if item.job is job:
            item.job = None

    # --- operations on an item -------------------------------------------------------------------------

    def _refusal(self, item: Item, operation: str) -> ArmError | None:
        if operation in item.allowed:
            return None
        if item.busy:
            why = f"while job {item.job.name} ({item.job.scenario}) is running"
        else:
            why = (f"in its current state (protectionState {item.protection_state}, activeLocation "
                   f"{item.active_location}, testFailoverState {item.test_failover_state}); allowed operations: "
                   f"{', '.join(item.allowed) or 'none'}")
        return bad_request("OperationNotAllowed", f"The operation '{operation}' is not allowed on the replication "
                                                  f"protected item '{item.vm}' {why}.")

    def _kind(self, req: Request, kind: str) -> str:
        props = (req.json() or {}).get("properties") or {}
        if kind == "planned" and str(props.get("failoverDirection", "")).lower() == "recoverytoprimary":
            return "failback"
        return kind

    def _test_network(self, req: Request) -> VNet:
        props = (req.json() or {}).get("properties") or {}
        vnet = self.estate.vnet_by_id(props.get("networkId"))
        if vnet is None:
            raise bad_request("InvalidNetworkId", f"The test failover network '{props.get('networkId')}' was not "
                                                  "found: give networkId with networkType VmNetworkAsInput.")
        return vnet

    def _point_doc(self, item: Item, point: tuple[str, str, str]) -> dict[str, Any]:
        """A point as the RecoveryPoints_ListByReplicationProtectedItems example shows one."""
        template = specs.body(SERVICE, "RecoveryPoints_ListByReplicationProtectedItems")["value"][0]
        doc = specs.rebase(template, self._replacements(item.vault, item))
        name, at, kind = point
        doc["name"], doc["id"] = name, f"{item.id}/recoveryPoints/{name}"
        doc["properties"] = {**doc["properties"], "recoveryPointTime": at, "recoveryPointType": kind}
        return doc

    def _point(self, req: Request, item: Item) -> str | None:
        """The recovery point a request names (the provider input's ``recoveryPointId``, or ``recoveryPointId``
        of an apply), checked against the item's points: 400 ``RecoveryPointNotFound`` otherwise."""
        props = (req.json() or {}).get("properties") or {}
        wanted = props.get("recoveryPointId") or (props.get("providerSpecificDetails") or {}).get("recoveryPointId")
        if not wanted:
            return None
        name = wanted.rstrip("/").rsplit("/", 1)[-1]
        if not wanted.lower().startswith(f"{item.id}/recoveryPoints/".lower()) or name not in {
                p[0] for p in item.points}:
            raise bad_request("RecoveryPointNotFound", f"The recovery point '{wanted}' was not found for the "
                                                       f"replication protected item '{item.vm}'.")
        return name

    def _item_action(self, req: Request, item: Item, kind: str) -> Reply:
        kind = self._kind(req, kind)
        refusal = self._refusal(item, JOB_KINDS[kind][2])
        if refusal:
            raise refusal
        network = self._test_network(req) if kind == "test" else None
        point = self._point(req, item)
        if kind == "change_point" and point is None:
            raise bad_request("InvalidRecoveryPoint", "applyRecoveryPoint needs a recoveryPointId.")
        job = self.start(item.vault, kind, [item], test_network=network)
        job.point = point
        return self._accepted(req, job, f"ReplicationProtectedItems_{self._example_name(kind)}")

    def _plan_action(self, req: Request, plan: Plan, kind: str) -> Reply:
        kind = self._kind(req, kind)
        operation = JOB_KINDS[kind][2]
        refused = [self._refusal(i, operation) for i in plan.items]
        refused = [r for r in refused if r is not None]
        if refused or not plan.items:
            raise bad_request("OperationNotAllowed", f"The operation '{operation}' is not allowed on recovery plan "
                                                     f"'{plan.name}': " + " ".join(r.message for r in refused))
        network = self._test_network(req) if kind == "test" else None
        job = self.start(plan.vault, kind, plan.items, plan=plan, test_network=network)
        details = ((req.json() or {}).get("properties") or {}).get("providerSpecificDetails") or [{}]
        job.point_type = details[0].get("recoveryPointType")
        return self._accepted(req, job, f"ReplicationRecoveryPlans_{self._example_name(kind)}")

    @staticmethod
    def _example_name(kind: str) -> str:
        return {"planned": "PlannedFailover", "failback": "PlannedFailover", "unplanned": "UnplannedFailover",
                "test": "TestFailover", "cleanup": "TestFailoverCleanup", "commit": "FailoverCommit",
                "cancel": "FailoverCancel", "reprotect": "Reprotect", "update": "Update",
                "change_point": "ApplyRecoveryPoint"}[kind]

    def _accepted(self, req: Request, job: Job, example: str) -> Reply:
        """202 with the example's headers: Azure-AsyncOperation (the operation) and Retry-After."""
        headers = specs.headers(SERVICE, example, 202)
        headers["Azure-AsyncOperation"] = self._operation_url(req, job)
        headers.update(self.service.delay(headers.pop("Retry-After", "30")))
        return empty(202, headers)

    def _operation_url(self, req: Request, job: Job) -> str:
        return f"{req.origin}{job.vault.id}/replicationOperationStatus/{job.operation}?api-version={req.api_version}"

    def _operation_status(self, vault: Vault, operation: str) -> Reply:
        job = vault.operations.get(operation.lower())
        if job is None:
            raise ArmError(404, "NotFound", f"Operation {operation} was not found in vault {vault.name}.")
        self.observe(job)
        status = "InProgress" if job.running else ("Failed" if job.state in ("Failed", "Cancelled") else "Succeeded")
        doc = _compact({"id": f"{vault.id}/replicationOperationStatus/{job.operation}", "name": job.operation,
                        "status": status, "startTime": job.start, "endTime": job.end})
        if status == "Failed":
            details = (job.errors[0].get("serviceErrorDetails") or {}) if job.errors else {}
            doc["error"] = {"code": details.get("code") or "JobFailed",
                            "message": details.get("message") or f"Job {job.name} {job.state}"}
        headers = self.service.delay("30") if status == "InProgress" else {}
        return ok(doc, headers=headers)

    # --- update: target network, subnet and static IPs ----------------------------------------------

    FIELDS = {"recoverySubnetName": "recovery_subnet", "recoveryStaticIPAddress": "recovery_ip",
              "tfoSubnetName": "tfo_subnet", "tfoStaticIPAddress": "tfo_ip", "isSeletedForFailover": "selected"}

    def _update(self, req: Request, item: Item) -> Reply:
        if item.job is not None:
            raise ArmError(409, "ProtectionEntityInvalidState",
                           f"The replication protected item '{item.vm}' cannot be updated while job {item.job.name} "
                           f"({item.job.scenario}, {item.job.state}) is in progress on it.")
        if item.active_location != "Primary":
            raise ArmError(409, "ProtectionEntityInvalidState",
                           f"The replication protected item '{item.vm}' cannot be updated once it runs in Azure "
                           f"(activeLocation {item.active_location}, protectionState {item.protection_state}).")
        props = (req.json() or {}).get("properties")
        if not isinstance(props, dict):
            raise bad_request("InvalidRequestContent", "The request body has no 'properties'.")
        kind = (props.get("providerSpecificDetails") or {}).get("instanceType", "HyperVReplicaAzure")
        if kind != "HyperVReplicaAzure":
            raise bad_request("InvalidProviderSpecificInput", f"Item '{item.vm}' is replicated by HyperVReplicaAzure, "
                                                              f"not {kind}.")
        new = copy.deepcopy(item.nics)
        to_check = self._merge(item, new, props)
        item.pending = new  # checked as the item's targets, so two of its NICs cannot take one address
        try:
            for nic, config in to_check:
                self._check_target(item, nic, config, test=False)
                self._check_target(item, nic, config, test=True)
        except ArmError:
            item.pending = None
            raise
        self.start(item.vault, "update", [item])
        return self._accepted(req, item.job, "ReplicationProtectedItems_Update")

    def _merge(self, item: Item, nics: list[Nic], props: dict[str, Any]) -> list[tuple[Nic, IpConfig]]:
        """Merge-patch ``props`` into ``nics``: an absent field keeps its value, JSON null removes it."""
        network_changed = False
        for field, attr in (("selectedRecoveryAzureNetworkId", "recovery_network"),
                            ("selectedTfoAzureNetworkId", "tfo_network")):
            if field in props:
                network_changed = True
                if props[field] is not None and self.estate.vnet_by_id(props[field]) is None:
                    raise bad_request("InvalidNetworkId", f"The virtual network '{props[field]}' was not found.")
                for nic in nics:
                    setattr(nic, attr, props[field])
        touched: list[tuple[Nic, IpConfig]] = []
        for given in props.get("vmNics") or []:
            nic = next((n for n in nics if n.nic_id.lower() == str(given.get("nicId", "")).lower()), None)
            if nic is None:
                raise bad_request("InvalidNicId", f"The NIC '{given.get('nicId')}' is not a NIC of '{item.vm}'; its "
                                                  f"NICs: {', '.join(n.nic_id for n in nics)}.")
            for config_in in given.get("ipConfigs") or []:
                name = str(config_in.get("ipConfigName", ""))
                config = next((c for c in nic.ip_configs if c.name.lower() == name.lower()), None)
                if config is None:
                    raise bad_request("InvalidIpConfigName", f"NIC '{nic.nic_id}' of '{item.vm}' has no IP configuration "
                                                             f"'{name}'; it has {', '.join(c.name for c in nic.ip_configs)}.")
                for field, attr in self.FIELDS.items():
                    if field in config_in:
                        value = config_in[field]
                        setattr(config, attr, True if attr == "selected" and value is None else value)
                touched.append((nic, config))
        if network_changed:
            touched += [(n, c) for n in nics for c in n.ip_configs if (n, c) not in touched]
        return touched

    def _check_target(self, item: Item, nic: Nic, config: IpConfig, *, test: bool) -> None:
        network, subnet, ip = ((nic.tfo_network, config.tfo_subnet, config.tfo_ip) if test
                               else (nic.recovery_network, config.recovery_subnet, config.recovery_ip))
        what = "test failover" if test else "recovery"
        if not network:
            if subnet or ip:
                raise bad_request("InvalidNetworkId", f"Select a {what} network for '{item.vm}' before its {what} "
                                                      "subnet or IP address.")
            return
        vnet = self.estate.vnet_by_id(network)
        if vnet is None:
            raise bad_request("InvalidNetworkId", f"The virtual network '{network}' was not found.")
        actual = vnet.subnet(subnet)
        if subnet and actual is None:
            raise bad_request("InvalidSubnetName", f"Subnet '{subnet}' was not found in virtual network '{vnet.name}' "
                                                   f"({what} subnet of '{item.vm}').")
        if not ip:
            return
        if addresses.address(ip) is None or actual is None:
            raise bad_request("InvalidStaticIpAddress", f"The {what} IP address '{ip}' of '{item.vm}' is not a valid "
                                                        "address of a selected subnet.")
        prefix = vnet.subnets[actual]
        if not addresses.contains(prefix, ip):
            raise bad_request("InvalidStaticIpAddress", f"The {what} IP address {ip} of '{item.vm}' is not in subnet "
                                                        f"'{actual}' ({prefix}) of virtual network '{vnet.name}'.")
        if ip in addresses.reserved(prefix):
            raise bad_request("IpAddressReservedByPlatform", f"IP address {ip} is reserved by Azure in subnet "
                                                             f"'{actual}' ({prefix}); the first four and the last "
                                                             "address of a subnet cannot be used.")
        holder = self.estate.holder(vnet, ip, exclude=item)
        if holder is not None:
            raise bad_request("PrivateIPAddressInUse", f"IP address {ip} is already in use in virtual network "
                                                       f"'{vnet.name}' by network interface '{holder.name}'.")
        claim = self.estate.claimant(vnet, ip, item=item, nic_id=nic.nic_id)
        if claim is not None:
            other, which = claim
            raise bad_request("PrivateIPAddressInUse", f"IP address {ip} in virtual network '{vnet.name}' is already "
                                                       f"the {which} IP address of '{other.vm}'.")

    # --- documents --------------------------------------------------------------------------------------

    def _replacements(self, vault: Vault, item: Item | None = None) -> dict[str, str]:
        found = {EXAMPLE_VAULT: vault.id, f"/replicationFabrics/{EXAMPLE_FABRIC}/": f"/replicationFabrics/{vault.fabric}/",
                 EXAMPLE_CONTAINER: vault.container}
        if item is not None:
            found[EXAMPLE_ITEM] = item.name
        return found

    def _scenario(self, item: Item) -> dict[str, str]:
        if item.job is None:
            return {"jobId": f"{item.vault.id}/replicationJobs/None", "scenarioName": "None", "startTime": IDLE_JOB_START}
        return {"jobId": item.job.id, "scenarioName": item.job.scenario, "startTime": item.job.start}

    def item_doc(self, item: Item, template: dict[str, Any], *, observe: bool = True) -> dict[str, Any]:
        if observe:
            self.observe(item.job)
        doc = specs.rebase(template, self._replacements(item.vault, item))
        doc["name"], doc["id"] = item.name, item.id
        props = doc["properties"]
        props.update({
            "friendlyName": item.vm, "primaryFabricFriendlyName": item.vault.fabric,
            "primaryProtectionContainerFriendlyName": item.vault.container,
            "activeLocation": item.active_location, "allowedOperations": item.allowed,
            "currentScenario": self._scenario(item), "protectionState": item.protection_state,
            "protectionStateDescription": item.description or PROTECTION_DESCRIPTIONS.get(item.protection_state,
                                                                                           item.protection_state),
            "replicationHealth": item.health, "testFailoverState": item.test_failover_state,
            "testFailoverStateDescription": TEST_FAILOVER_DESCRIPTIONS.get(item.test_failover_state,
                                                                           item.test_failover_state),
        })
        if item.last_failover:
            props["lastSuccessfulFailoverTime"] = item.last_failover
        props.pop("failoverRecoveryPointId", None)
        if item.failover_point and item.active_location == "Recovery":
            props["failoverRecoveryPointId"] = f"{item.id}/recoveryPoints/{item.failover_point}"
        if item.last_test_failover:
            props["lastSuccessfulTestFailoverTime"] = item.last_test_failover
        props["providerSpecificDetails"] = {**(props.get("providerSpecificDetails") or {}), **self._details(item)}
        props["healthErrors"] = [self._health_error(item, message) for message in item.health_errors]
        return doc

    def _health_error(self, item: Item, message: str) -> dict[str, Any]:
        """A HealthError as the spec's model has it (the examples show none)."""
        return {"errorSource": "HyperVReplicaAzure", "errorType": "Replication", "errorLevel": "Error",
                "errorCategory": "Replication", "errorMessage": message,
                "summaryMessage": message, "recommendedAction": "Check the replication of the virtual machine.",
                "creationTimeUtc": self.service.now(), "entityId": item.name, "customerResolvability": "Allowed"}

    def _details(self, item: Item) -> dict[str, Any]:
        """HyperVReplicaAzureReplicationDetails: the fields the examples leave out and the spec's model has."""
        primary = next((n for n in item.nics if n.primary), item.nics[0])
        return _compact({
            "instanceType": "HyperVReplicaAzure",
            "recoveryAzureVMName": item.vm,
            "recoveryAzureVMSize": item.vm_size,
            "rpoInSeconds": item.rpo_seconds,
            "lastRpoCalculatedTime": self.service.now() if item.rpo_seconds is not None else None,
            "selectedSourceNicId": primary.nic_id,  # the NIC that is primary after failover
            "selectedRecoveryAzureNetworkId": primary.recovery_network,
            "selectedTfoAzureNetworkId": primary.tfo_network,
            "vmNics": [_compact({
                "nicId": nic.nic_id, "selectionType": "SelectedByUser", "recoveryVMNetworkId": nic.recovery_network,
                "tfoVMNetworkId": nic.tfo_network, "recoveryNicName": nic.recovery_nic_name,
                "ipConfigs": [_compact({
                    "name": c.name, "isPrimary": c.primary, "subnetName": None, "staticIPAddress": c.source_ip,
                    "ipAddressType": "Static", "isSeletedForFailover": c.selected,
                    "recoverySubnetName": c.recovery_subnet, "recoveryStaticIPAddress": c.recovery_ip,
                    "recoveryIPAddressType": ("Static" if c.recovery_ip else "Dynamic") if c.recovery_subnet else None,
                    "tfoSubnetName": c.tfo_subnet, "tfoStaticIPAddress": c.tfo_ip,
                }) for c in nic.ip_configs],
            }) for nic in item.nics],
        })

    def plan_doc(self, plan: Plan, template: dict[str, Any], *, observe: bool = True) -> dict[str, Any]:
        if observe:
            self.observe(plan.last_job)
            for item in plan.items:
                self.observe(item.job)
        vault = plan.vault
        doc = specs.rebase(template, self._replacements(vault))
        doc["name"], doc["id"] = plan.name, plan.id
        props = doc["properties"]
        empty_group = {"endGroupActions": [], "groupType": "Shutdown", "replicationProtectedItems": [],
                       "startGroupActions": []}
        groups = [{**empty_group, "groupType": "Shutdown"}, {**empty_group, "groupType": "Failover"}]
        groups += [{**empty_group, "groupType": "Boot",
                    "replicationProtectedItems": [{"id": i.id, "virtualMachineId": i.name} for i in group]}
                   for group in plan.groups]
        props.update({"friendlyName": plan.name, "allowedOperations": plan.allowed, "groups": groups,
                      "primaryFabricFriendlyName": vault.fabric,
                      "primaryFabricId": f"{vault.id}/replicationFabrics/{vault.fabric}", **plan.times})
        job = plan.last_job
        if job is not None:  # the examples keep naming the last job, with its status
            props["currentScenario"] = {"jobId": job.id, "scenarioName": job.scenario, "startTime": job.start}
            props["currentScenarioStatus"] = job.state
            props["currentScenarioStatusDescription"] = job.description
        return doc

    def job_doc(self, job: Job, template: dict[str, Any], *, observe: bool = True) -> dict[str, Any]:
        if observe:
            self.observe(job)
        doc = specs.rebase(template, self._replacements(job.vault, job.items[0] if len(job.items) == 1 else None))
        doc["name"], doc["id"] = job.name, job.id
        props = doc["properties"]
        target = job.plan or (job.items[0] if job.items else None)
        props.update({
            "activityId": f"{uuid.uuid5(uuid.NAMESPACE_URL, job.name)} ActivityId: {uuid.uuid5(uuid.NAMESPACE_OID, job.name)}",
            "allowedActions": ["Cancel", "Resume"] if job.state == "Suspended" else [],
            "errors": job.errors, "friendlyName": job.friendly, "scenarioName": job.scenario, "startTime": job.start,
            "state": job.state, "stateDescription": job.description,
            "targetInstanceType": "RecoveryPlan" if job.plan else "ProtectionEntity",
            "targetObjectId": str(uuid.uuid5(uuid.NAMESPACE_DNS, job.plan.name)) if job.plan else (target.name if target else ""),
            "targetObjectName": job.plan.name if job.plan else (target.vm if target else ""), "tasks": [],
        })
        if job.end:
            props["endTime"] = job.end
        else:
            props.pop("endTime", None)
        custom = props.get("customDetails")
        if isinstance(custom, dict) and custom.get("instanceType") == "TestFailoverJobDetails":
            network = job.test_network
            custom.update({"comments": custom.get("comments", " "), "networkFriendlyName": network.name if network else "",
                           "networkName": network.name if network else "", "networkType": "VmNetworkAsInput",
                           "testFailoverStatus": "Completed" if job.state in ("Suspended", "Succeeded") else job.state,
                           "protectedItemDetails": [self._test_item(job, i) for i in job.items]})
            affected = custom.get("affectedObjectDetails") or {}
            if len(job.items) == 1:
                affected.update({"PrimaryVmId": job.items[0].name, "PrimaryVmName": job.items[0].vm,
                                 "RecoveryVmName": job.items[0].vm, "PrimaryCloudId": job.vault.container,
                                 "PrimaryCloudName": job.vault.fabric})
        return doc

    @staticmethod
    def _test_item(job: Job, item: Item) -> dict[str, Any]:
        nic = item.test_nics[0] if item.test_nics else None
        return {"name": item.name, "friendlyName": item.vm,
                "networkConnectionStatus": "Connected" if nic else "NotConnected",
                "networkFriendlyName": job.test_network.name if job.test_network else "",
                "subnet": nic.subnet if nic else "", "testVmFriendlyName": f"{item.vm}-test",
                "testVmName": f"{item.vm}-test"}

    def _fabric_doc(self, vault: Vault) -> dict[str, Any]:
        doc = specs.rebase(specs.body(SERVICE, "ReplicationFabrics_Get"), self._replacements(vault))
        doc["name"], doc["id"] = vault.fabric, f"{vault.id}/replicationFabrics/{vault.fabric}"
        doc["properties"]["friendlyName"] = vault.fabric
        return doc

    def _container(self, vault: Vault) -> dict[str, Any]:
        doc = specs.rebase(specs.item(SERVICE, "ReplicationProtectionContainers_List"), self._replacements(vault))
        doc["name"] = vault.container
        doc["id"] = f"{vault.id}/replicationFabrics/{vault.fabric}/replicationProtectionContainers/{vault.container}"
        doc["properties"].update({"fabricFriendlyName": vault.fabric, "friendlyName": vault.container,
                                  "protectedItemCount": len(vault.items), "role": "Primary"})
        return doc

    # --- paged lists ----------------------------------------------------------------------------------

    @staticmethod
    def _filtered_items(req: Request, vault: Vault) -> list[Item]:
        """The vault's items, or with ``$filter=recoveryPlanName eq '…'`` (``ProtectedItemsQueryParameter``) a
        plan's: a plan the vault does not have matches nothing. Any other filter is refused, not ignored."""
        text = req.param("$filter")
        if text is None:
            return list(vault.items.values())
        found = PLAN_FILTER.fullmatch(text.strip())
        if found is None:
            raise ArmError(400, "InvalidFilter", f"The double understands only recoveryPlanName eq '<plan>', "
                                                 f"not $filter={text}")
        plan = vault.plans.get(found.group(1).replace("''", "'").lower())
        return list(plan.items) if plan is not None else []

    def _item_page(self, req: Request, vault: Vault, items: list[Item], example: str) -> Reply:
        page, token = self.service.page(req, items, self.service.page_size, lambda i: i.name)
        template = specs.item(SERVICE, example)
        return ok(self.service.paged([self.item_doc(i, template) for i in page], req, token))

    def _plan_page(self, req: Request, vault: Vault) -> Reply:
        page, token = self.service.page(req, list(vault.plans.values()), self.service.page_size, lambda p: p.name)
        template = specs.item(SERVICE, "ReplicationRecoveryPlans_List")
        return ok(self.service.paged([self.plan_doc(p, template) for p in page], req, token))

    def _job_page(self, req: Request, vault: Vault) -> Reply:
        """Newest first; ``$filter`` is not simulated (every job is listed)."""
        jobs = sorted(vault.jobs.values(), key=lambda j: j.seq, reverse=True)
        page, token = self.service.page(req, jobs, self.service.job_page_size, lambda j: j.name)
        template = specs.item(SERVICE, "ReplicationJobs_List")
        return ok(self.service.paged([self.job_doc(j, template) for j in page], req, token))
