"""One contract, two adapters, for the way there and back: recovery points, a failover to a chosen point
and a change of point before the commit, then the failback, its commit and the reverse replication to
Azure, each refused where Site Recovery refuses it."""

from __future__ import annotations

import pytest

from adapters.ports import NetworkSettings
from adapters.shared.errors import PermanentError
from adapters.shared.itemstate import ItemState
from tests.contract.test_ports import RECOVERY_VNET, VAULT, finish, nic_of


@pytest.fixture(params=["fake", "azure"])
def cloud(request):
    """The fake estate, or the Azure adapter in front of the ARM double."""
    return request.getfixturevalue("estate" if request.param == "fake" else "azure")


def keep_ip(cloud, vm: str = "app01", ip: str = "192.168.1.10") -> None:
    cloud.replication.update_network_settings(VAULT, vm, nic_of(cloud, vm), NetworkSettings(
        recovery_network=RECOVERY_VNET, recovery_subnet="app", recovery_ip=ip))


def run(cloud, handle):
    job = finish(cloud, handle)
    assert job.state == "Succeeded", job.errors
    return cloud.replication.get_protected_item(VAULT, handle.target)


def test_recovery_points_are_listed_oldest_first_with_their_consistency(cloud):
    points = cloud.replication.list_recovery_points(VAULT, "app01")
    assert len(points) > 12 and [p.time for p in points] == sorted(p.time for p in points)
    assert {p.type for p in points} == {"ApplicationConsistent", "CrashConsistent"}
    assert all("/recoveryPoints/" in p.id for p in points)


def test_a_failover_to_a_chosen_point_uses_that_point_and_the_point_can_change_before_the_commit(cloud):
    keep_ip(cloud)
    points = cloud.replication.list_recovery_points(VAULT, "app01")
    older, newer = points[-10], [p for p in points if p.app_consistent][-1]
    item = run(cloud, cloud.replication.start_failover(VAULT, "app01", "unplanned", recovery_point_id=older.id))
    assert item.state.failed_over and item.recovery_point_id.lower() == older.id.lower()
    assert item.state.allows("ChangePit")
    item = run(cloud, cloud.replication.start_apply_recovery_point(VAULT, "app01", newer.id))
    assert item.state.failed_over and item.state.awaiting_commit
    assert item.recovery_point_id.lower() == newer.id.lower()


def test_a_point_the_item_does_not_have_is_refused(cloud):
    keep_ip(cloud)
    other = cloud.replication.list_recovery_points(VAULT, "app02")[-1]
    with pytest.raises(PermanentError):
        cloud.replication.start_failover(VAULT, "app01", "planned", recovery_point_id=other.id)
    assert not cloud.replication.get_protected_item(VAULT, "app01").state.busy


def test_a_point_cannot_change_before_a_failover(cloud):
    point = cloud.replication.list_recovery_points(VAULT, "app01")[-1]
    with pytest.raises(PermanentError):
        cloud.replication.start_apply_recovery_point(VAULT, "app01", point.id)


def test_the_round_trip_failover_commit_failback_commit_reprotect(cloud):
    """Each stage allows only the next one: no failback before the commit, no reprotect before the
    failback's commit; at the end the item replicates to Azure again, as the Reprotect example shows it."""
    keep_ip(cloud)
    rep = cloud.replication
    item = run(cloud, rep.start_failover(VAULT, "app01", "planned"))
    with pytest.raises(PermanentError):
        rep.start_failback(VAULT, "app01", data_sync="ForSynchronization", create_vm=False)
    item = run(cloud, rep.start_commit(VAULT, "app01"))
    assert item.state.committed and item.state.allows("Failback")
    with pytest.raises(PermanentError):
        rep.start_reprotect(VAULT, "app01", "primary_to_recovery")
    item = run(cloud, rep.start_failback(VAULT, "app01", data_sync="ForSynchronization", create_vm=False))
    assert item.state.active_location == "Primary" and item.state.failed_back and item.state.allows("Commit")
    item = run(cloud, rep.start_commit(VAULT, "app01"))
    assert item.state.failback_committed and item.state.allows("ReverseReplicate")
    item = run(cloud, rep.start_reprotect(VAULT, "app01", "primary_to_recovery"))
    assert item.state.replicating("primary_to_recovery") and item.state.allows("PlannedFailover")
    assert item.recovery_vm_ip is None and item.recovery_point_id is None


def test_the_specs_examples_read_as_the_stages_of_the_round_trip():
    """The item model on the specs' own payloads: after a commit the item may fail back; after a reprotect
    it replicates to Azure again; an item failed over names the point it used."""
    from adapters.azure.replication import _item_view
    from tests.contract.test_item_state import item_example

    committed = ItemState.read("vm1", item_example("FailoverCommit"))
    assert committed.committed and committed.allows("Failback") and not committed.failed_back
    reprotected = ItemState.read("vm1", item_example("Reprotect"))
    assert reprotected.replicating("primary_to_recovery") and reprotected.failback_committed
    failed_over = ItemState.read("vm1", item_example("PlannedFailover"))
    assert not failed_over.at_primary and not failed_over.replicating("primary_to_recovery")
    applied = _item_view({"name": "vm1", "properties": item_example("ApplyRecoveryPoint")})
    assert applied.recovery_point_id.endswith("/recoveryPoints/e4d05fe9-5dfd-47be-b50b-aad306b2802d")
    assert applied.state.allows("ChangePit")
