"""The one model of a protected item's state: every value the specs (and Microsoft's documentation of
the same state machine) use is read, what the engine concludes from the specs' own item payloads is
right, and any other value is refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.ports import Job
from adapters.shared.errors import PermanentError
from adapters.shared.itemstate import (
    HEALTHS,
    JOB_FINISHED,
    JOB_RUNNING,
    JOB_STATES,
    OPERATIONS,
    PROTECTION_STATES,
    SCENARIOS,
    TEST_FAILOVER_STATES,
    ItemState,
    Stage,
    TestFailover,
    UnknownState,
    job_reference,
    job_state,
)

SPECS = Path(__file__).resolve().parent.parent / "fixtures/azure-specs/recoveryservicessiterecovery/2025-08-01"
VAULT = "/Subscriptions/c183865e-6077-46f2-a3b1-deb0f4f4650a/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v"
IDLE = {"protectionState": "Protected", "activeLocation": "Primary", "testFailoverState": "None",
        "allowedOperations": ["PlannedFailover", "UnplannedFailover", "DisableProtection", "TestFailover"],
        "replicationHealth": "Normal",
        "currentScenario": {"scenarioName": "None", "jobId": f"{VAULT}/replicationJobs/None"}}


def item_example(name: str) -> dict:
    """The properties of the item in a Site Recovery example's 200 answer."""
    body = json.loads((SPECS / f"ReplicationProtectedItems_{name}.json").read_text())["responses"]["200"]["body"]
    return body.get("value", [body])[0]["properties"]


# What the engine concludes from each of the specs' item payloads:
# (example, failed over, busy, committed, test VMs up, awaiting commit, may fail over (planned))
CONCLUSIONS = [
    ("Get", False, False, False, False, False, True),
    ("List", False, False, False, False, False, True),
    ("Update", False, False, False, False, False, True),
    ("TestFailover", False, False, False, True, False, False),
    ("TestFailoverCleanup", False, False, False, False, False, True),
    ("PlannedFailover", True, False, False, False, True, False),
    ("UnplannedFailover", True, False, False, False, True, False),
    ("ApplyRecoveryPoint", True, False, False, False, True, False),
    ("FailoverCommit", True, False, True, False, False, False),
    ("Reprotect", False, False, False, False, False, True),
]


@pytest.mark.parametrize(("example", "failed_over", "busy", "committed", "test_up", "awaiting", "may_fail_over"),
                         CONCLUSIONS)
def test_the_specs_item_payloads_mean_what_the_engine_concludes(example, failed_over, busy, committed, test_up,
                                                                 awaiting, may_fail_over):
    state = ItemState.read("vm1", item_example(example))
    assert (state.failed_over, state.busy, state.committed, state.test_failed_over, state.awaiting_commit,
            state.allows("PlannedFailover")) == (failed_over, busy, committed, test_up, awaiting, may_fail_over)


def test_an_idle_items_job_reference_to_none_is_no_job():
    """The service's idle item names ``.../replicationJobs/None``: that is no job to wait for."""
    state = ItemState.read("vm1", item_example("Get"))
    assert state.job is None and not state.busy and state.scenario == "None"
    assert job_reference(f"{VAULT}/replicationJobs/None") is None
    assert job_reference(None) is None and job_reference("") is None
    assert job_reference(f"{VAULT}/replicationJobs/2838f9b4-2609-4f76-a7e9-07e6387c5e98") == \
        "2838f9b4-2609-4f76-a7e9-07e6387c5e98"


def test_a_test_failover_waiting_for_cleanup_names_its_job_and_is_not_busy():
    """After a test failover the item still names the (suspended) test failover job: the VMs are up and the
    item waits for the cleanup, which it allows."""
    state = ItemState.read("vm1", item_example("TestFailover"))
    assert state.job == "2838f9b4-2609-4f76-a7e9-07e6387c5e98" and state.waiting_for_cleanup
    assert not state.busy and state.test_failover == TestFailover.UP and state.allowed == {"TestFailoverCleanup"}


def test_a_job_running_on_the_item_makes_it_busy():
    running = {**IDLE, "allowedOperations": [],
               "currentScenario": {"scenarioName": "PlannedFailover", "jobId": f"{VAULT}/replicationJobs/abc"}}
    state = ItemState.read("vm1", running)
    assert state.busy and state.job == "abc" and "job abc (PlannedFailover) running" in state.describe()


@pytest.mark.parametrize("value", sorted(PROTECTION_STATES))
def test_every_protection_state_is_read_with_its_stage(value):
    state = ItemState.read("vm1", {**IDLE, "protectionState": value})
    assert (state.protection_state, state.stage) == (value, PROTECTION_STATES[value])
    assert ItemState.read("vm1", {**IDLE, "protectionState": value.upper()}).protection_state == value


@pytest.mark.parametrize("value", sorted(TEST_FAILOVER_STATES))
def test_every_test_failover_state_is_read(value):
    state = ItemState.read("vm1", {**IDLE, "testFailoverState": value})
    assert (state.test_failover_state, state.test_failover) == (value, TEST_FAILOVER_STATES[value])


@pytest.mark.parametrize("value", SCENARIOS)
def test_every_scenario_of_the_specs_is_read(value):
    job = f"{VAULT}/replicationJobs/{'None' if value == 'None' else 'j1'}"
    state = ItemState.read("vm1", {**IDLE, "currentScenario": {"scenarioName": value, "jobId": job}})
    assert state.scenario == value and (state.job is None) == (value == "None")


def test_a_scenario_the_specs_do_not_name_is_a_job_to_wait_for():
    """ASR runs many kinds of job (EnableDr, Resync...): whatever its name, the item waits for it."""
    state = ItemState.read("vm1", {**IDLE, "currentScenario": {"scenarioName": "Resync",
                                                               "jobId": f"{VAULT}/replicationJobs/j2"}})
    assert state.busy and state.job == "j2"


@pytest.mark.parametrize("value", OPERATIONS)
def test_every_allowed_operation_is_read(value):
    assert ItemState.read("vm1", {**IDLE, "allowedOperations": [value.lower()]}).allowed == {value}


@pytest.mark.parametrize("value", JOB_STATES)
def test_every_job_state_is_read(value):
    assert job_state(value.lower(), "j1") == value
    assert Job("j1", value).finished == (value in JOB_FINISHED) != (value in JOB_RUNNING)


def test_a_suspended_test_failover_waiting_for_cleanup_is_a_success():
    assert Job("j1", "Suspended", operation="TestFailover", description="WaitingForStopTestFailover").ok
    assert not Job("j1", "Suspended", operation="PlannedFailover", description="WaitingForStopTestFailover").ok
    assert not Job("j1", "Suspended", description="Suspended").ok and not Job("j1", "Failed").ok


@pytest.mark.parametrize("value", HEALTHS)
def test_every_replication_health_is_read(value):
    assert ItemState.read("vm1", {**IDLE, "replicationHealth": value}).replication_health == value


@pytest.mark.parametrize(("field", "value"), [
    ("protectionState", "ProtectedButConfused"),
    ("testFailoverState", "HalfWayThere"),
    ("activeLocation", "Elsewhere"),
    ("allowedOperations", ["PlannedFailover", "Teleport"]),
    ("replicationHealth", "Sickly"),
])
def test_an_unknown_value_is_refused_naming_it_the_item_and_the_field(field, value):
    with pytest.raises(UnknownState) as raised:
        ItemState.read("app01", {**IDLE, field: value})
    message = str(raised.value)
    shown = "Teleport" if field == "allowedOperations" else value
    assert f"unknown state '{shown}' on app01" in message and field in message
    assert isinstance(raised.value, PermanentError)  # a step meeting it fails: nothing is guessed


def test_an_unknown_job_state_is_refused():
    with pytest.raises(UnknownState, match="unknown state 'Pondering' on job j7"):
        job_state("Pondering", "j7")


def test_the_stages_cover_every_state_family():
    assert {Stage.PROTECTED, Stage.FAILED_OVER, Stage.COMMITTED, Stage.FAILING_OVER} <= set(PROTECTION_STATES.values())
