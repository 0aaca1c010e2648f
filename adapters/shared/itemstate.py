"""One model of a protected item's state, decided from what Site Recovery says the item may do next.

The service describes an item with several fields; this module reads them all, strictly, and says what
they mean for a runbook:

- ``allowedOperations``: what the item may do next (the SDK's ``ReplicationProtectedItemOperation``). This
  is what decisions are made from.
- ``activeLocation``: where the item runs (``Primary`` on-premises, ``Recovery`` in Azure).
- ``currentScenario``: the operation under way, ``scenarioName`` and ``jobId``. An idle item answers
  ``scenarioName: None`` and a ``jobId`` ending in ``/replicationJobs/None``: that is no job.
- ``testFailoverState``: how far a test failover has got (``WaitingForCompletion``: its VMs are up and
  it waits for cleanup).
- ``protectionState`` and ``replicationHealth``: detail for messages.

Every value the REST API specification and the service's documentation use is known here (see
``docs/azure.md``); any other value is refused as ``UnknownState`` naming it and the item, never read
as a silent default: a runbook must not act on an item whose state it does not understand.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from adapters.shared.errors import PermanentError


class UnknownState(PermanentError):
    """The service reported a value this version does not know; nothing is decided from a guess."""

    def __init__(self, item: str, field: str, value: object, known: list[str]):
        listed = f"known values: {', '.join(known)}" if len(known) <= 15 else "docs/azure.md lists the known values"
        super().__init__(f"unknown state {value!r} on {item} (field {field}; {listed}). Nothing is decided from a "
                         "guess, so nothing was done to this item: check it in the vault, and upgrade failover if "
                         "the service has a new state", code="UnknownState")
        self.item, self.field, self.value = item, field, value


# --- the operations an item may be allowed (ReplicationProtectedItemOperation) ---------------------

REVERSE_REPLICATE = "ReverseReplicate"
COMMIT = "Commit"
PLANNED_FAILOVER = "PlannedFailover"
UNPLANNED_FAILOVER = "UnplannedFailover"
DISABLE_PROTECTION = "DisableProtection"
TEST_FAILOVER = "TestFailover"
TEST_FAILOVER_CLEANUP = "TestFailoverCleanup"
FAILBACK = "Failback"
FINALIZE_FAILBACK = "FinalizeFailback"
CANCEL_FAILOVER = "CancelFailover"
CHANGE_PIT = "ChangePit"
REPAIR_REPLICATION = "RepairReplication"
SWITCH_PROTECTION = "SwitchProtection"
COMPLETE_MIGRATION = "CompleteMigration"
OPERATIONS = (REVERSE_REPLICATE, COMMIT, PLANNED_FAILOVER, UNPLANNED_FAILOVER, DISABLE_PROTECTION, TEST_FAILOVER,
              TEST_FAILOVER_CLEANUP, FAILBACK, FINALIZE_FAILBACK, CANCEL_FAILOVER, CHANGE_PIT, REPAIR_REPLICATION,
              SWITCH_PROTECTION, COMPLETE_MIGRATION)

FAILOVER_OPERATION = {"test": TEST_FAILOVER, "planned": PLANNED_FAILOVER, "unplanned": UNPLANNED_FAILOVER}

# --- directions (the API's failoverDirection) ------------------------------------------------------

PRIMARY_TO_RECOVERY = "primary_to_recovery"  # on-premises -> Azure
RECOVERY_TO_PRIMARY = "recovery_to_primary"  # Azure -> on-premises: the way back
DIRECTIONS = {PRIMARY_TO_RECOVERY: "PrimaryToRecovery", RECOVERY_TO_PRIMARY: "RecoveryToPrimary"}

# --- recovery points ---------------------------------------------------------------------------------

APP_CONSISTENT = "ApplicationConsistent"  # recoveryPointType, as the spec documents it
CRASH_CONSISTENT = "CrashConsistent"
RECOVERY_POINT_TYPES = (APP_CONSISTENT, CRASH_CONSISTENT)
# A recovery plan's failover takes a type of point, not a point (RecoveryPlanHyperVReplicaAzureFailoverInput).
PLAN_POINT_TYPES = {"latest": "Latest", "latest_processed": "LatestProcessed",
                    "latest_app_consistent": "LatestApplicationConsistent"}

# --- where the item runs --------------------------------------------------------------------------

PRIMARY = "Primary"
RECOVERY = "Recovery"
LOCATIONS = (PRIMARY, RECOVERY)


# --- how far a test failover has got ---------------------------------------------------------------


class TestFailover(StrEnum):
    __test__ = False  # not a test class, whatever its name says

    NONE = "none"  # no test failover, or it was cleaned up
    RUNNING = "running"  # the test failover job runs
    UP = "up"  # the test VMs are up; the item waits for cleanup


# The service's words (see docs/azure.md for where each was seen).
TEST_FAILOVER_STATES = {
    "None": TestFailover.NONE,
    "MarkedForDeletion": TestFailover.NONE,  # cleaned up: the test VMs are being deleted
    "Initiating": TestFailover.RUNNING,
    "WaitingForCompletion": TestFailover.UP,  # "Waiting for user input": the cleanup
    "WaitingForCleanup": TestFailover.UP,
}


# --- the protection state: detail, and a stage for messages ----------------------------------------


class Stage(StrEnum):
    NOT_PROTECTED = "not protected"
    ENABLING = "enabling protection"
    PROTECTED = "protected, replicating to Azure"
    FAILING_OVER = "failing over"
    FAILED_OVER = "failed over, waiting for commit"
    COMMITTING = "committing the failover"
    COMMITTED = "failed over and committed"
    CANCELLING = "cancelling the failover"
    CHANGING_POINT = "changing the recovery point"
    REPROTECTING = "reprotecting (reverse replication)"
    DISABLING = "disabling protection"
    FAILED = "an operation failed"


# The service's words. The specs' examples show Protected, PlannedFailoverCommitRequired,
# PlannedFailoverStatesBegin (after a commit), UnplannedFailoverCommitPendingStatesBegin, FailoverCompleted,
# FailoverCommited (sic), UnplannedFailoverCommitRequired and UnplannedFailoverCommitted; the rest are the
# states Microsoft documents for the same state machine (the data replication service's ProtectionState).
PROTECTION_STATES: dict[str, Stage] = {
    "None": Stage.NOT_PROTECTED,
    "UnprotectedStatesBegin": Stage.ENABLING,  # initial replication runs
    "EnablingProtection": Stage.ENABLING,
    "EnablingFailed": Stage.FAILED,
    "DisablingProtection": Stage.DISABLING,
    "MarkedForDeletion": Stage.DISABLING,
    "DisablingFailed": Stage.FAILED,
    "UnprotectedStatesEnd": Stage.NOT_PROTECTED,
    "InitialReplicationStatesBegin": Stage.ENABLING,
    "InitialReplicationInProgress": Stage.ENABLING,
    "InitialReplicationCompletedOnPrimary": Stage.ENABLING,
    "InitialReplicationCompletedOnRecovery": Stage.ENABLING,
    "InitialReplicationFailed": Stage.FAILED,
    "InitialReplicationStatesEnd": Stage.ENABLING,
    "ProtectedStatesBegin": Stage.PROTECTED,
    "Protected": Stage.PROTECTED,
    "ProtectedStatesEnd": Stage.PROTECTED,
    "PlannedFailoverTransitionStatesBegin": Stage.FAILING_OVER,
    "PlannedFailoverInitiated": Stage.FAILING_OVER,
    "PlannedFailoverCompleting": Stage.FAILING_OVER,
    "PlannedFailoverCompleted": Stage.FAILED_OVER,
    "PlannedFailoverCommitRequired": Stage.FAILED_OVER,
    "PlannedFailoverFailed": Stage.FAILED,
    "PlannedFailoverCompletionFailed": Stage.FAILED,
    "PlannedFailoverTransitionStatesEnd": Stage.FAILED_OVER,
    "PlannedFailoverStatesBegin": Stage.COMMITTED,  # the specs' example after a commit: "Planned failover committed"
    "UnplannedFailoverTransitionStatesBegin": Stage.FAILING_OVER,
    "UnplannedFailoverInitiated": Stage.FAILING_OVER,
    "UnplannedFailoverCompleting": Stage.FAILING_OVER,
    "UnplannedFailoverCompleted": Stage.FAILED_OVER,
    "UnplannedFailoverFailed": Stage.FAILED,
    "UnplannedFailoverCompletionFailed": Stage.FAILED,
    "UnplannedFailoverTransitionStatesEnd": Stage.FAILED_OVER,
    "UnplannedFailoverCommitPendingStatesBegin": Stage.FAILED_OVER,  # "Failover completed"
    "UnplannedFailoverCommitRequired": Stage.FAILED_OVER,
    "UnplannedFailoverCommitted": Stage.COMMITTED,
    "FailoverCompleted": Stage.FAILED_OVER,
    "FailoverCommited": Stage.COMMITTED,  # sic, in the specs' examples
    "FailoverCommitted": Stage.COMMITTED,
    "CommitFailoverStatesBegin": Stage.COMMITTING,
    "CommitFailoverInProgressOnPrimary": Stage.COMMITTING,
    "CommitFailoverInProgressOnRecovery": Stage.COMMITTING,
    "CommitFailoverCompleted": Stage.COMMITTED,
    "CommitFailoverFailedOnPrimary": Stage.FAILED,
    "CommitFailoverFailedOnRecovery": Stage.FAILED,
    "CommitFailoverStatesEnd": Stage.COMMITTED,
    "CancelFailoverStatesBegin": Stage.CANCELLING,
    "CancelFailoverInProgressOnPrimary": Stage.CANCELLING,
    "CancelFailoverInProgressOnRecovery": Stage.CANCELLING,
    "CancelFailoverFailedOnPrimary": Stage.FAILED,
    "CancelFailoverFailedOnRecovery": Stage.FAILED,
    "CancelFailoverStatesEnd": Stage.PROTECTED,
    "ChangeRecoveryPointStatesBegin": Stage.CHANGING_POINT,
    "ChangeRecoveryPointInitiated": Stage.CHANGING_POINT,
    "ChangeRecoveryPointCompleted": Stage.FAILED_OVER,
    "ChangeRecoveryPointFailed": Stage.FAILED,
    "ChangeRecoveryPointStatesEnd": Stage.FAILED_OVER,
    "ReprotectStatesBegin": Stage.REPROTECTING,
    "ReprotectInitiated": Stage.REPROTECTING,
    "ReprotectFailed": Stage.FAILED,
    "ReprotectStatesEnd": Stage.PROTECTED,
}

# --- the current scenario and ASR jobs ---------------------------------------------------------------

NO_JOB = "None"  # the last segment of an idle item's jobId, and its scenarioName
# The scenarios the specs show on items and recovery plans. Any other is a job of another kind (ASR has
# many: EnableDr, Resync...): a job runs, and the item waits for it.
TEST_FAILOVER_SCENARIO = "TestFailover"
REPROTECT_SCENARIO = "ReverseReplication"
CHANGE_POINT_SCENARIO = "ChangeRecoveryPoint"
SCENARIOS = ("None", TEST_FAILOVER_SCENARIO, "PlannedFailover", "UnplannedFailover", "TestFailoverCleanup",
             "CommitFailover", "CancelFailover", REPROTECT_SCENARIO, CHANGE_POINT_SCENARIO)

JOB_RUNNING = ("NotStarted", "InProgress", "Cancelling")
JOB_FINISHED = ("Succeeded", "Failed", "Cancelled", "Suspended", "Other")
JOB_STATES = JOB_RUNNING + JOB_FINISHED
# A test failover's job waits, Suspended, for its cleanup: the test failover itself is done.
WAITING_FOR_CLEANUP = "WaitingForStopTestFailover"

HEALTHS = ("None", "Normal", "Warning", "Critical")


def job_reference(job_id: str | None) -> str | None:
    """The job a ``currentScenario.jobId`` names, or ``None``: empty, null and ``.../replicationJobs/None``
    all mean that no job runs."""
    if not job_id:
        return None
    name = job_id.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]
    return None if not name or name.lower() == NO_JOB.lower() else name


class Vocabulary:
    """The values the service uses in one field, looked up as the service may case them: each gives its
    own spelling and what it means (``meanings``; a value means itself when none is given)."""

    def __init__(self, field: str, values, meanings: dict | None = None):
        self.field = field
        self.names = list(values)
        self._found = {name.lower(): (name, (meanings or {}).get(name, name)) for name in self.names}

    def lookup(self, value: object, owner: str) -> tuple[str, object]:
        """(the value as the vocabulary spells it, what it means); ``UnknownState`` if it is not there."""
        found = self._found.get(value.lower()) if isinstance(value, str) else None
        if found is None:
            raise UnknownState(owner, self.field, value, self.names)
        return found


ALLOWED = Vocabulary("allowedOperations", OPERATIONS)
LOCATION = Vocabulary("activeLocation", LOCATIONS)
TEST_FAILOVER_STATE = Vocabulary("testFailoverState", TEST_FAILOVER_STATES, TEST_FAILOVER_STATES)
PROTECTION_STATE = Vocabulary("protectionState", PROTECTION_STATES, PROTECTION_STATES)
HEALTH = Vocabulary("replicationHealth", HEALTHS)
JOB_STATE = Vocabulary("state", JOB_STATES)
_SCENARIO_SPELLING = {name.lower(): name for name in SCENARIOS}


def job_state(value: str | None, job: str) -> str:
    """A job's ``state``, strictly: one of ``JOB_STATES``."""
    return JOB_STATE.lookup(value, f"job {job}")[0]


@dataclass(frozen=True)
class ItemState:
    """What a protected item is doing and may do next, as the service said it."""

    allowed: frozenset[str]  # operations the service allows now
    active_location: str  # Primary | Recovery
    job: str | None  # the ASR job under way, or None (idle)
    scenario: str  # the current scenario ("None" when idle)
    test_failover: TestFailover
    protection_state: str  # the service's words, for messages
    stage: Stage
    test_failover_state: str = "None"  # the service's words
    replication_health: str = "Normal"

    @classmethod
    def read(cls, item: str, properties: dict) -> ItemState:
        """From a protected item's REST ``properties``; ``UnknownState`` for any value not in the model."""
        allowed = frozenset(ALLOWED.lookup(op, item)[0] for op in properties.get("allowedOperations") or ())
        scenario = properties.get("currentScenario") or {}
        name = scenario.get("scenarioName") or NO_JOB
        name = _SCENARIO_SPELLING.get(name.lower(), name)
        test_state, test_failover = TEST_FAILOVER_STATE.lookup(properties.get("testFailoverState") or "None", item)
        protection_state, stage = PROTECTION_STATE.lookup(properties.get("protectionState") or "None", item)
        return cls(
            allowed=allowed,
            active_location=LOCATION.lookup(properties.get("activeLocation") or PRIMARY, item)[0],
            job=None if name == NO_JOB else job_reference(scenario.get("jobId")),
            scenario=name, test_failover=test_failover, test_failover_state=test_state,
            protection_state=protection_state, stage=stage,
            replication_health=HEALTH.lookup(properties.get("replicationHealth") or "None", item)[0],
        )

    # --- what a runbook asks of it --------------------------------------------------------------

    @property
    def waiting_for_cleanup(self) -> bool:
        """A test failover is up and its (suspended) job waits for the cleanup: nothing runs."""
        return self.scenario == TEST_FAILOVER_SCENARIO and self.test_failover == TestFailover.UP

    @property
    def busy(self) -> bool:
        """An ASR job runs on the item: wait for it, never start another."""
        return self.job is not None and not self.waiting_for_cleanup

    def allows(self, operation: str) -> bool:
        return operation in self.allowed

    @property
    def failed_over(self) -> bool:
        """The item runs in Azure (committed or not)."""
        return self.active_location == RECOVERY

    @property
    def awaiting_commit(self) -> bool:
        return self.failed_over and COMMIT in self.allowed

    @property
    def at_primary(self) -> bool:
        """The item runs on-premises and no job runs on it (never failed over, or failed back)."""
        return self.active_location == PRIMARY and not self.busy

    @property
    def failed_back(self) -> bool:
        """A failover from Azure brought it back on-premises; reverse replication has not started yet
        (committed or not)."""
        return self.at_primary and self.stage in (Stage.FAILED_OVER, Stage.COMMITTED)

    @property
    def failback_committed(self) -> bool:
        """Back on-premises with no commit pending: the failback is final (or there was none to commit)."""
        return self.at_primary and COMMIT not in self.allowed and self.stage != Stage.FAILED_OVER

    def replicating(self, direction: str) -> bool:
        """Protected, and replicating in ``direction`` (towards Azure from Primary, or back from Recovery)."""
        where = PRIMARY if direction == PRIMARY_TO_RECOVERY else RECOVERY
        return self.active_location == where and not self.busy and self.stage == Stage.PROTECTED

    @property
    def committed(self) -> bool:
        """Failed over, idle, and the service no longer offers a commit: the failover is final."""
        return self.failed_over and not self.busy and COMMIT not in self.allowed

    @property
    def test_failed_over(self) -> bool:
        """A test failover's VMs are up (the item waits for its cleanup)."""
        return self.test_failover == TestFailover.UP

    @property
    def test_failover_left(self) -> bool:
        """A test failover's VMs are left to clean up (or are coming up)."""
        return self.test_failover != TestFailover.NONE

    def describe(self) -> str:
        """The state in the service's words, for a message."""
        text = f"{self.protection_state} at {self.active_location}"
        if self.busy:
            text += f", job {self.job} ({self.scenario}) running"
        elif self.waiting_for_cleanup:
            text += f", test failover job {self.job} waiting for cleanup"
        if self.test_failover != TestFailover.NONE:
            text += f", test failover {self.test_failover_state}"
        return text

    def properties(self) -> dict:
        """The state as the REST API writes it (the fake keeps its items this way)."""
        return {
            "protectionState": self.protection_state, "protectionStateDescription": self.protection_state,
            "activeLocation": self.active_location, "allowedOperations": sorted(self.allowed),
            "testFailoverState": self.test_failover_state, "testFailoverStateDescription": self.test_failover_state,
            "replicationHealth": self.replication_health,
            "currentScenario": {"scenarioName": self.scenario, "jobId": self.job or NO_JOB},
        }
