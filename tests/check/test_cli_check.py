"""`failover check` as operators and schedulers run it: exit 0 ready, 1 not ready, 2 invalid; one JSON
document; JUnit XML for CI; the drift of the fake made with `failover fake drift`; `history --checks`;
schedule entries of kind check."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from xml.etree import ElementTree as ET

from tests.conftest import SUBNET_FAILOVER, json_out, run_cli


def fake_args(estate_file, tmp_path) -> list[str]:
    return ["--estate", str(estate_file()), "--state", str(tmp_path / "state.db")]


def test_ready_then_drift_then_the_trend(tmp_path, estate_file):
    """Ready (exit 0); a VM protected on the moved subnet (exit 1, RDY001 new, JUnit failure); the trend."""
    args = fake_args(estate_file, tmp_path)
    ready = run_cli("check", str(SUBNET_FAILOVER), *args, "-o", "json")
    assert ready.returncode == 0, ready.stderr
    assert json_out(ready)["ready"] is True
    drift = run_cli("fake", "drift", "protect", "web02", "192.168.1.30", *args)
    assert drift.returncode == 0 and "web02" in drift.stdout
    junit = tmp_path / "ci" / "readiness.xml"
    not_ready = run_cli("check", str(SUBNET_FAILOVER), *args, "-o", "json", "--junit", str(junit))
    assert not_ready.returncode == 1, not_ready.stderr
    document = json_out(not_ready)
    assert [(f["code"], f["resource"], f["status"]) for f in document["findings"]] == [
        ("RDY001", "protected item web02", "new")]
    assert document["previous"] == json_out(ready)["check_id"]
    suite = ET.parse(junit).getroot()
    failed = [case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None]
    assert suite.get("failures") == "1" and failed[0].startswith("RDY001")
    history = json_out(run_cli("history", "--checks", "-o", "json"))
    assert history["trend"] == "RN" and history["checks"][0]["codes"] == ["RDY001"]
    drills = json_out(run_cli("history", "--drills", "-o", "json"))
    assert [(r["runbook"], r["ready"]) for r in drills["readiness"]] == [("woodgrove-subnet-failover", False)]
    page = run_cli("history", "--drills", "--format", "html").stdout
    section = page[page.index('id="readiness"'):]
    assert "woodgrove-subnet-failover" in section and "NOT READY" in section and "RDY001" in section
    markdown = run_cli("history", "--drills", "--format", "markdown").stdout
    assert "## Readiness between drills" in markdown and "**NOT READY** | RDY001" in markdown


def test_text_names_code_resource_change_and_fix(tmp_path, estate_file):
    """In text, a finding shows its code, its resource, what changed since the last check and the fix."""
    args = fake_args(estate_file, tmp_path)
    run_cli("check", str(SUBNET_FAILOVER), *args)
    run_cli("fake", "drift", "prefixes", "woodgrove-onprem", "192.168.0.0/16", "10.10.0.0/24", *args)
    result = run_cli("check", str(SUBNET_FAILOVER), *args)
    assert result.returncode == 1
    for text in ("NOT READY", "NET004", "connection recovery-to-woodgrove", "(new)",
                 "changed: prefixes 192.168.0.0/16 -> prefixes 10.10.0.0/24, 192.168.0.0/16", "fix:"):
        assert text in result.stdout, result.stdout


def test_an_invalid_runbook_exits_2(tmp_path, estate_file):
    """A runbook that does not load is invalid input, not drift: exit 2 and nothing recorded."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(SUBNET_FAILOVER.read_text().replace("asr.commit", "asr.comit"))
    result = run_cli("check", str(bad), *fake_args(estate_file, tmp_path), "-o", "json")
    assert result.returncode == 2
    assert json_out(result)["errors"][0]["code"] == "RB007"
    assert json_out(run_cli("history", "--checks", "-o", "json"))["checks"] == []


def test_a_scheduled_check_runs_when_due(tmp_path, estate_file):
    """An entry of kind check, due now, runs `failover check` once: its result, its JUnit file, its last
    status in `schedule list`."""
    config = tmp_path / "failover.yaml"
    config.write_text(json.dumps({
        "adapter": "fake", "fake": {"estate": str(estate_file()), "state": str(tmp_path / "state.db")},
        "journal": str(tmp_path / "journal.db"), "reports": str(tmp_path / "reports"),
        "drills": [{"name": "hourly-readiness", "kind": "check", "runbook": str(SUBNET_FAILOVER),
                    "cron": f"{datetime.now(UTC).minute} * * * *"}],
    }))
    env = {"FAILOVER_CONFIG": str(config), "FAILOVER_JOURNAL": str(tmp_path / "journal.db")}
    result = run_cli("schedule", "run", "--once", "-o", "json", env=env)
    assert result.returncode == 0, result.stderr
    outcome = json_out(result)["drills"][0]
    assert (outcome["action"], outcome["exit"], outcome["ready"]) == ("started", 0, True)
    assert (tmp_path / "reports" / "hourly-readiness.xml").exists()
    listed = json_out(run_cli("schedule", "list", "-o", "json", env=env))["drills"][0]
    assert (listed["kind"], listed["last_status"], listed["due"]) == ("check", "ready", False)
    assert os.path.exists(tmp_path / "journal.db")


def test_an_unknown_schedule_kind_is_refused(tmp_path):
    """kind: anything but drill or check is a settings error (CF003, exit 2)."""
    config = tmp_path / "failover.yaml"
    config.write_text(json.dumps({"drills": [{"name": "x", "kind": "chek", "runbook": str(SUBNET_FAILOVER),
                                              "cron": "0 * * * *"}]}))
    result = run_cli("schedule", "list", "-o", "json", env={"FAILOVER_CONFIG": str(config)})
    assert result.returncode == 2 and "CF003" in result.stdout


def test_a_drift_the_estate_format_refuses_is_a_usage_error(tmp_path, estate_file):
    """`fake drift` with a value Azure would not have (a health that does not exist, an address that is
    not one) exits 2 with the reason, and changes nothing."""
    args = fake_args(estate_file, tmp_path)
    health = run_cli("fake", "drift", "health", "app01", "Sick", *args)
    address = run_cli("fake", "drift", "take-ip", "recovery-vnet", "app", "300.1.1.1", *args)
    assert (health.returncode, address.returncode) == (2, 2)
    assert "Normal" in health.stderr and "300.1.1.1" in address.stderr and "Traceback" not in health.stderr + address.stderr
    assert run_cli("check", str(SUBNET_FAILOVER), *args).returncode == 0


def test_after_the_failover_the_drill_is_no_longer_ready(tmp_path, estate_file):
    """Once the subnet has really failed over, the failover runbook checks ready (every step holds) and the
    drill's test failover is refused by each item: NET009 on each protected item, exit 1."""
    from tests.conftest import REPO

    args = fake_args(estate_file, tmp_path)
    assert run_cli("run", str(SUBNET_FAILOVER), *args, "-o", "json").returncode == 0
    assert run_cli("check", str(SUBNET_FAILOVER), *args).returncode == 0
    drill = run_cli("check", str(REPO / "runbooks/woodgrove-drill.yaml"), *args, "-o", "json")
    assert drill.returncode == 1
    assert sorted((f["code"], f["resource"]) for f in json_out(drill)["findings"]) == [
        ("NET009", "protected item app01"), ("NET009", "protected item app02"), ("NET009", "protected item web01")]
