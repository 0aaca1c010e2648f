"""Approvals and manual steps in plans and dry runs: taken as approved (and said so), every step after
them simulated and checked, and a dry run's advice is what a real run will do, never a command that
cannot work on a run that was not journaled."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.conftest import SUBNET_FAILOVER, WOODGROVE, json_out, run_cli

MESSAGE = "The app tier runs in Azure. Approve to move the network."
INSTRUCTIONS = "Withdraw 192.168.1.0/24 from the on-premises edge router."


def with_gates(tmp_path: Path, *, broken_connection: bool = False) -> Path:
    """The subnet failover with a go/no-go approval after the failover and a manual router change after
    the prefix removal; optionally a connection to a gateway that does not exist, after both."""
    runbook = yaml.safe_load(SUBNET_FAILOVER.read_text())
    steps = {step["id"]: step for step in runbook["steps"]}
    at = runbook["steps"].index(steps["move-prefix-off-onprem"])
    runbook["steps"][at:at] = [{"id": "go-no-go", "uses": "approval", "needs": ["fail-over-app-subnet"],
                                "with": {"message": MESSAGE}}]
    steps["move-prefix-off-onprem"]["needs"] = ["go-no-go"]
    at = runbook["steps"].index(steps["connect-recovery-to-hub"])
    runbook["steps"][at:at] = [{"id": "router-change", "uses": "manual", "needs": ["move-prefix-off-onprem"],
                                "with": {"instructions": INSTRUCTIONS}}]
    steps["connect-recovery-to-hub"]["needs"] = ["router-change"]
    steps["connect-hub-to-recovery"]["needs"] = ["router-change"]
    if broken_connection:
        steps["connect-recovery-to-hub"]["with"]["peer"] = "nowhere-gw"
    path = tmp_path / "gates.yaml"
    path.write_text(yaml.safe_dump(runbook, sort_keys=False))
    return path


def cli(tmp_path: Path, *args: str):
    result = run_cli(*args, "--estate", str(WOODGROVE), "--state", str(tmp_path / "state.db"))
    assert "Traceback" not in result.stderr, result.stderr
    return result


def test_a_broken_step_after_an_approval_fails_validate_naming_it(tmp_path):
    result = cli(tmp_path, "validate", str(with_gates(tmp_path, broken_connection=True)), "-o", "json")
    assert result.returncode == 2, result.stdout
    errors = json_out(result)["errors"]
    assert [(e["code"], e["step"]) for e in errors] == [("NET008", "connect-recovery-to-hub")], errors
    assert "nowhere-gw" in errors[0]["message"]


def test_plan_goes_through_gates_and_says_it_took_them_as_approved(tmp_path):
    result = cli(tmp_path, "plan", str(with_gates(tmp_path)), "-o", "json")
    assert result.returncode == 0, result.stdout
    plan = json_out(result)
    assert plan["would_succeed"] is True
    steps = {step["id"]: step for step in plan["steps"]}
    assert {s["status"] for s in plan["steps"]} == {"succeeded"}
    assert steps["move-prefix-off-onprem"]["action"] == "update"  # simulated after the approval
    assert steps["commit-app-subnet"]["action"] == "trigger"
    assert plan["gates"] == [{"step": "go-no-go", "uses": "approval", "prompt": MESSAGE},
                             {"step": "router-change", "uses": "manual", "prompt": INSTRUCTIONS}]
    assert steps["go-no-go"]["gate"]["prompt"] == MESSAGE
    text = cli(tmp_path, "plan", str(with_gates(tmp_path)))
    assert text.returncode == 0
    assert "taken as approved here; a real run pauses for an approval: " + MESSAGE in text.stdout
    assert "the manual work to be done and approved: " + INSTRUCTIONS in text.stdout


def test_a_dry_run_says_where_a_real_run_will_pause_and_gives_no_command_that_fails(tmp_path):
    result = cli(tmp_path, "run", "--dry-run", str(with_gates(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert "A real run will pause for a person at:" in result.stderr
    assert f"go-no-go: an approval: {MESSAGE}" in result.stderr
    assert f"router-change: the manual work to be done and approved: {INSTRUCTIONS}" in result.stderr
    assert "failover resume" not in result.stderr + result.stdout
    assert "then run: failover approve" not in result.stderr + result.stdout
    document = json_out(cli(tmp_path, "run", "--dry-run", str(with_gates(tmp_path)), "-o", "json"))
    assert document["dry_run"] is True and document["status"] == "succeeded"
    assert [gate["step"] for gate in document["gates"]] == ["go-no-go", "router-change"]


def test_a_failed_dry_run_says_what_to_do_instead_of_resume(tmp_path):
    result = cli(tmp_path, "run", "--dry-run", str(with_gates(tmp_path, broken_connection=True)))
    assert result.returncode == 1, result.stderr
    assert "failover resume" not in result.stderr + result.stdout
    assert "A real run would stop at connect-recovery-to-hub; fix the runbook and dry-run it again" in result.stderr
