"""Site Recovery in the fake: protected items, recovery plans, and ASR jobs that take time.

A job runs ``job_ms`` of simulated time from its start, measured on the wall clock, so it keeps going
while nobody watches (a killed orchestrator finds it finished when it comes back). Whenever the state
is read or written, jobs whose time has come are settled: their effect applied, or their failure
recorded, leaving the item as it was.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from adapters import ids
from adapters.addressing import parsed_address, parsed_network, reserved_addresses
from adapters.errors import ConflictError, NotFoundError, PermanentError
from adapters.fake.network import ip_user, virtual_network
from adapters.ports import (
    CANCEL,
    COMMIT,
    PLANNED_FAILOVER,
    REVERSE_REPLICATE,
    TEST_FAILOVER,
    TEST_FAILOVER_CLEANUP,
    UNPLANNED_FAILOVER,
    Job,
    JobHandle,
    NetworkSettings,
    NicSettings,
    ProtectedItem,
    RecoveryPlan,
    VaultRef,
)

OPERATION = {"test": TEST_FAILOVER, "planned": PLANNED_FAILOVER, "unplanned": UNPLANNED_FAILOVER}
# An item's target networks, and where NetworkSettings keeps each of their fields.
_SETTINGS = tuple((which, tuple((f, f"{which}_{f}") for f in ("network", "subnet", "ip"))) for which in ("recovery", "test"))


def allowed_operations(item: dict) -> tuple[str, ...]:
    """What ASR offers an item in its state (decide from this, not from the free-text state)."""
    if item["current_job"]:
        return ()
    state = item["protection_state"]
    if state == "FailoverCommitted":
        return (REVERSE_REPLICATE,)
    if state == "FailoverCompleted":
        return (COMMIT, CANCEL)
    if state != "Protected":
        return ()
    if item["test_failover_state"]:
        return (TEST_FAILOVER_CLEANUP, PLANNED_FAILOVER, UNPLANNED_FAILOVER)
    return (PLANNED_FAILOVER, UNPLANNED_FAILOVER, TEST_FAILOVER)


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
        rec, test = item["recovery"], item["test"]
        nic = NicSettings(
            nic_id=item["nic_id"], source_ip=item["source_ip"], is_primary=True,
            recovery_network=rec["network"], recovery_subnet=rec["subnet"], recovery_ip=rec["ip"],
            test_network=test["network"], test_subnet=test["subnet"], test_ip=test["ip"],
        )
        return ProtectedItem(
            name=item["name"], vm_name=item["name"], protection_state=item["protection_state"],
            active_location=item["active_location"], allowed_operations=allowed_operations(item), nics=(nic,),
            test_failover_state=item["test_failover_state"], current_job_id=item["current_job"],
            recovery_vm_ip=item["recovery_vm_ip"], test_vm_ip=item["test_vm_ip"],
            id=f"{self._vault_prefix(vault)}/replicationFabrics/{item['fabric']}/replicationProtectionContainers/"
               f"{item['container']}/replicationProtectedItems/{item['name']}",
        )

    def get_protected_item(self, vault: VaultRef, item: str) -> ProtectedItem:
        self.cloud.read("replication_protected_items.get")
        return self._item_view(vault, item)

    def list_protected_items(self, vault: VaultRef) -> list[ProtectedItem]:
        self.cloud.read("replication_protected_items.list")
        self._check_vault(vault)
        wanted = vault.vault.lower()
        return [view for owner, view in self.store.views("item", *self._as_shown(vault)) if owner == wanted]

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
        allowed = set(items[0].allowed_operations).intersection(*(i.allowed_operations for i in items[1:])) \
            if items else set()
        return RecoveryPlan(name=doc["name"], groups=tuple(tuple(g) for g in doc["groups"]),
                            allowed_operations=tuple(sorted(allowed)), current_job_id=doc["current_job"],
                            id=f"{self._vault_prefix(vault)}/replicationRecoveryPlans/{doc['name']}")

    def get_job(self, vault: VaultRef, job_id: str) -> Job:
        self.cloud.read("replication_jobs.get")
        job = self.store.job(job_id)
        if job is None:
            raise NotFoundError(f"Job '{job_id}' was not found in vault {vault.vault}", code="JobNotFound", status=404)
        return _job(job)

    def list_jobs(self, vault: VaultRef, job_ids: list[str]) -> list[Job]:
        self.cloud.read("replication_jobs.list")
        wanted = set(job_ids)
        return [_job(j) for j in self.store.jobs() if j["id"] in wanted]

    # --- writes ---------------------------------------------------------------------------------

    def update_network_settings(self, vault: VaultRef, item: str, nic_id: str,
                                settings: NetworkSettings) -> ProtectedItem:
        self.cloud.write("replication_protected_items.update")
        with self.store.transaction():
            doc = self._item(vault, item)
            if doc["nic_id"] != nic_id and ids.name_of(nic_id) != doc["nic_id"]:
                raise PermanentError(f"{item} has no NIC {nic_id}", code="InvalidNicId", status=400)
            if doc["current_job"] or doc["active_location"] != "Primary":
                raise ConflictError(f"The network settings of {item} cannot change while it is "
                                    f"{doc['protection_state']} at {doc['active_location']}"
                                    + (" with a job running" if doc["current_job"] else ""),
                                    code="ProtectionEntityInvalidState", status=409)
            for which, fields in _SETTINGS:
                given = {f: getattr(settings, name) for f, name in fields}
                if given["network"] == "":
                    if which == "recovery":
                        raise PermanentError(f"The recovery network of {item} cannot be cleared",
                                             code="InvalidRecoveryNetwork", status=400)
                    doc["test"] = {"network": None, "subnet": None, "ip": None}
                    continue
                if any(v is not None for v in given.values()):
                    merged = {f: given[f] if given[f] is not None else doc[which][f] for f in given}
                    self._check_target(doc, which, merged["network"], merged["subnet"], merged["ip"])
                    doc[which] = merged
            self.store.replace("item", doc)
            updated = self._item_view(vault, item)  # read back, as ARM does when the operation ends
            self.store.record("replication_protected_items.update", updated.id,
                              {"nic": nic_id, **{k: v for k, v in settings._asdict().items() if v is not None}})
        return updated

    def _check_target(self, item: dict, which: str, network: str | None, subnet: str | None, ip: str | None) -> None:
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
        user = ip_user(self.store, vnet.name, ip, which, exclude=item["name"])
        if user:
            raise PermanentError(f"The static IP address {ip} is already in use in {vnet.name} by {user}; "
                                 f"choose a free address for {item['name']}", code="PrivateIPAddressInUse", status=400)

    def _start(self, vault: VaultRef, operation: str, names: list[str], target: str, *, plan: str | None = None,
               params: dict | None = None) -> JobHandle:
        with self.store.transaction():
            docs = [self._item(vault, n) for n in names]
            for doc in docs:
                if operation not in allowed_operations(doc):
                    raise PermanentError(_refusal(doc, operation), code="OperationNotAllowed", status=400)
                _precondition(doc, operation, params or {})
            job_id = secrets.token_hex(8) + "-" + secrets.token_hex(4)
            now = self.cloud.clock.wall()
            finish_at = now + self.cloud.weather.job_seconds(f"{operation} {target}")
            job = {"id": job_id, "operation": operation, "target": target, "items": names, "plan": plan,
                   "state": "InProgress", "start": now, "finish_at": finish_at,
                   "errors": [], "params": params or {}, "ended": None}
            self.store.put_job(job)
            for doc in docs:
                doc["current_job"] = job_id
                self.store.replace("item", doc)
            if plan:
                plan_doc = self._plan(vault, plan)
                plan_doc["current_job"] = job_id
                self.store.replace("plan", plan_doc)
            resource = (f"{self._vault_prefix(vault)}/replicationRecoveryPlans/{plan}" if plan
                        else self._view(vault, docs[0]).id)
            self.store.record(f"{'replication_recovery_plans' if plan else 'replication_protected_items'}."
                              f"{operation[0].lower() + operation[1:]}", resource, {"job": job_id, **(params or {})})
        return JobHandle(vault, job_id, operation, target)

    def start_failover(self, vault, item, kind, *, test_network=None, shut_down_source=True) -> JobHandle:
        self.cloud.write("replication_protected_items.failover")
        return self._start(vault, OPERATION[kind], [item], item, params=_failover_params(kind, test_network,
                                                                                           shut_down_source))

    def start_plan_failover(self, vault, plan, kind, *, test_network=None, shut_down_source=True) -> JobHandle:
        self.cloud.write("replication_recovery_plans.failover")
        names = [n for group in self._plan(vault, plan)["groups"] for n in group]
        return self._start(vault, OPERATION[kind], names, plan, plan=plan,
                           params=_failover_params(kind, test_network, shut_down_source))

    def start_commit(self, vault, item) -> JobHandle:
        self.cloud.write("replication_protected_items.failover_commit")
        return self._start(vault, COMMIT, [item], item)

    def start_plan_commit(self, vault, plan) -> JobHandle:
        self.cloud.write("replication_recovery_plans.failover_commit")
        names = [n for group in self._plan(vault, plan)["groups"] for n in group]
        return self._start(vault, COMMIT, names, plan, plan=plan)

    def start_cancel(self, vault, item) -> JobHandle:
        self.cloud.write("replication_protected_items.failover_cancel")
        return self._start(vault, CANCEL, [item], item)

    def start_test_failover_cleanup(self, vault, item, comments) -> JobHandle:
        self.cloud.write("replication_protected_items.test_failover_cleanup")
        return self._start(vault, TEST_FAILOVER_CLEANUP, [item], item, params={"comments": comments})

    def start_plan_test_failover_cleanup(self, vault, plan, comments) -> JobHandle:
        self.cloud.write("replication_recovery_plans.test_failover_cleanup")
        names = [n for group in self._plan(vault, plan)["groups"] for n in group]
        return self._start(vault, TEST_FAILOVER_CLEANUP, names, plan, plan=plan, params={"comments": comments})


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


def _refusal(item: dict, operation: str) -> str:
    name, state, where = item["name"], item["protection_state"], item["active_location"]
    if state in ("NotProtected", "ProtectionInProgress"):
        return f"Protected item {name} is not protected (state {state}); enable replication and wait for it first"
    if item["current_job"]:
        return f"{operation} of {name} is not allowed while job {item['current_job']} is running on it"
    if operation == COMMIT and where == "Primary":
        return f"{name} cannot be committed: it has not failed over (state {state}); fail it over first"
    if operation == TEST_FAILOVER_CLEANUP and not item["test_failover_state"]:
        return f"{name} has no test failover to clean up"
    if operation in (PLANNED_FAILOVER, UNPLANNED_FAILOVER, TEST_FAILOVER) and where == "Recovery":
        return f"{name} has already failed over (state {state}, active location {where})"
    return (f"{operation} is not allowed for {name} in state {state} at {where}; allowed: "
            f"{', '.join(allowed_operations(item)) or 'none'}")


def _precondition(item: dict, operation: str, params: dict) -> None:
    if operation in (PLANNED_FAILOVER, UNPLANNED_FAILOVER) and not (item["recovery"]["network"]
                                                                    and item["recovery"]["subnet"]):
        raise PermanentError(f"{item['name']} has no recovery network and subnet; set them (asr.set_target_ip) "
                                 "before failing over", code="RecoveryNetworkNotConfigured", status=400)
    if operation == TEST_FAILOVER and not (params.get("test_network") or item["test"]["network"]):
        raise PermanentError(f"A test failover of {item['name']} needs a test network",
                             code="TestNetworkNotConfigured", status=400)


def _job(job: dict) -> Job:
    return Job(id=job["id"], state=job["state"], operation=job["operation"], target=job["target"],
               errors=tuple(job["errors"]), started_at=job["start"], ended_at=job["ended"])


def settle_jobs(cloud) -> None:
    """Apply the jobs whose time has come."""
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
            if not errors:
                for item in items:
                    _apply(store, item, job)
            for item in items:
                item["current_job"] = None
                store.replace("item", item)
            if job["plan"]:
                plan = store.get("plan", job["plan"])
                if plan:
                    plan["current_job"] = None
                    store.replace("plan", plan)
            job.update(state="Failed" if errors else "Succeeded", errors=errors, ended=job["finish_at"])
            store.put_job(job)


def _completion_error(store, item: dict, job: dict) -> str | None:
    operation = job["operation"]
    if operation in (PLANNED_FAILOVER, UNPLANNED_FAILOVER):
        if item.get("inject_failover_error"):
            return item["inject_failover_error"]
        rec = item["recovery"]
        if rec["ip"]:
            user = ip_user(store, ids.name_of(rec["network"]), rec["ip"], "recovery", exclude=item["name"])
            if user and user.startswith("the NIC"):
                return f"Failed to create the recovery VM {item['name']}: IP address {rec['ip']} is already used by {user}"
    if operation == TEST_FAILOVER:
        network = job["params"].get("test_network") or item["test"]["network"]
        ip = item["test"]["ip"] or item["recovery"]["ip"]
        if ip:
            user = ip_user(store, ids.name_of(network), ip, "test", exclude=item["name"])
            if user and user.startswith("the NIC"):
                return f"Failed to create the test VM {item['name']}-test: IP address {ip} is already used by {user}"
    return None


def _apply(store, item: dict, job: dict) -> None:
    operation, name = job["operation"], item["name"]
    if operation in (PLANNED_FAILOVER, UNPLANNED_FAILOVER):
        rec = item["recovery"]
        item.update(protection_state="FailoverCompleted", active_location="Recovery", recovery_vm_ip=rec["ip"])
        store.put("vm", {"name": name, "vnet": ids.name_of(rec["network"]), "subnet": rec["subnet"],
                         "ip": rec["ip"], "owner": name})
    elif operation == TEST_FAILOVER:
        network = job["params"].get("test_network") or item["test"]["network"]
        subnet = item["test"]["subnet"] or item["recovery"]["subnet"]
        ip = item["test"]["ip"] or item["recovery"]["ip"]
        item.update(test_failover_state="Completed", test_vm_ip=ip)
        store.put("vm", {"name": f"{name}-test", "vnet": ids.name_of(network), "subnet": subnet, "ip": ip,
                         "owner": name, "test": True})
    elif operation == TEST_FAILOVER_CLEANUP:
        item.update(test_failover_state=None, test_vm_ip=None)
        store.delete("vm", f"{name}-test")
    elif operation == COMMIT:
        item.update(protection_state="FailoverCommitted")
    elif operation == CANCEL:
        item.update(protection_state="Protected", active_location="Primary", recovery_vm_ip=None)
        store.delete("vm", name)
