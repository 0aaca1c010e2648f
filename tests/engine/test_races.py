"""RACE001: steps that touch one resource, one of them writing it, must be ordered by `needs`.

Each race shape is a bundled Woodgrove runbook with one `needs` taken away (or one step added), validated
as an operator runs it: exit 2, RACE001 naming both steps, the resource and the fix, at the later step's
line. The bundled runbooks stay clean (tests/test_docs.py and test_netplan.py validate them too).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from engine.kinds.footprint import CONNECT, READ, WRITE, conflict
from engine.model.precedence import Precedence
from tests.conftest import CHANGE_IP, REPO, SUBNET_FAILOVER, WOODGROVE, json_out, run_cli


def steps_by_id(runbook: dict) -> dict[str, dict]:
    return {step["id"]: step for step in runbook["steps"]}


def validate(tmp_path: Path, runbook: dict):
    path = tmp_path / "runbook.yaml"
    path.write_text(yaml.safe_dump(runbook, sort_keys=False))
    result = run_cli("validate", str(path), "--estate", str(WOODGROVE), "--state", str(tmp_path / "state.db"),
                     "--output", "json")
    assert "Traceback" not in result.stderr, result.stderr
    return path, result, json_out(result)


def subnet_failover() -> dict:
    return yaml.safe_load(SUBNET_FAILOVER.read_text())


def commit_without_failover(runbook: dict) -> None:
    commit = steps_by_id(runbook)["commit-app-subnet"]
    commit["needs"] = ["keep-ip-app01", "keep-ip-app02", "keep-ip-web01"]
    commit["with"] = {"items": ["app01", "app02", "web01"]}


def ip_update_after_failover_started(runbook: dict) -> None:
    steps_by_id(runbook)["fail-over-app-subnet"]["needs"] = ["keep-ip-app01", "keep-ip-app02"]


def two_route_changes(runbook: dict) -> None:
    runbook["steps"].append({
        "id": "route-data-subnet", "uses": "network.routes", "needs": ["connect-recovery-to-hub"],
        "with": {"table": "woodgrove-rt", "routes": [
            {"name": "onprem-data", "prefix": "192.168.2.0/24", "next_hop": "VirtualNetworkGateway"}]}})


def gateway_update_beside_connection(runbook: dict) -> None:
    runbook["steps"].append({
        "id": "announce-branch", "uses": "network.local_gateway_prefixes", "needs": ["move-prefix-off-onprem"],
        "with": {"gateway": "woodgrove-onprem", "add": ["10.99.0.0/16"]}})


def two_dns_changes(runbook: dict) -> None:
    runbook["steps"].append({
        "id": "dns-app01-alias", "uses": "dns.record", "needs": ["new-ip-app01"],
        "with": {"zone": "woodgrove.example", "name": "app01", "ip": "172.16.2.10", "ttl": 300}})


RACES = [
    # (shape, runbook, change, the two steps, the resource named)
    ("commit-vs-failover", SUBNET_FAILOVER, commit_without_failover,
     {"fail-over-app-subnet", "commit-app-subnet"}, "protected item"),
    ("ip-update-vs-failover", SUBNET_FAILOVER, ip_update_after_failover_started,
     {"keep-ip-web01", "fail-over-app-subnet"}, "protected item web01"),
    ("two-route-changes", SUBNET_FAILOVER, two_route_changes,
     {"route-app-subnet-to-azure", "route-data-subnet"}, "route table woodgrove-rt"),
    ("gateway-update-vs-connection", SUBNET_FAILOVER, gateway_update_beside_connection,
     {"announce-branch", "connect-recovery-to-hub"}, "gateway woodgrove-gw"),
    ("dns-record-vs-dns-record", CHANGE_IP, two_dns_changes,
     {"dns-app01", "dns-app01-alias"}, "DNS A record app01.woodgrove.example"),
]


@pytest.mark.parametrize("shape, base, change, pair, resource", RACES, ids=[r[0] for r in RACES])
def test_each_race_shape_fails_validate_naming_both_steps(tmp_path, shape, base, change, pair, resource):
    runbook = yaml.safe_load(base.read_text())
    change(runbook)
    path, result, document = validate(tmp_path, runbook)
    assert result.returncode == 2, (result.stdout, result.stderr)
    races = [e for e in document["errors"] if e["code"] == "RACE001"]
    named = [e for e in races if all(f"{step} " in e["message"] for step in pair)]
    assert named, document["errors"]
    error = named[0]
    assert resource in error["message"]
    later = error["step"]
    earlier = (pair - {later}).pop()
    assert later in pair and error["file"] == str(path) and error["line"]
    assert "needs: [" in error["fix"] and earlier in error["fix"]


@pytest.mark.parametrize("path", sorted((REPO / "runbooks").glob("*.yaml")), ids=lambda p: p.name)
def test_the_bundled_runbooks_have_no_race_and_no_warning(tmp_path, path):
    _, result, document = validate(tmp_path, yaml.safe_load(path.read_text()))
    assert result.returncode == 0, document
    assert document["errors"] == [] and document["warnings"] == []


def test_the_fix_a_race_names_makes_the_runbook_valid(tmp_path):
    """Doing what RACE001's fix says (the failover in the commit's needs) leaves no race."""
    runbook = subnet_failover()
    commit_without_failover(runbook)
    steps_by_id(runbook)["commit-app-subnet"]["needs"].append("route-app-subnet-to-azure")
    _, result, document = validate(tmp_path, runbook)
    assert result.returncode == 0, document
    assert document["errors"] == []


def test_connections_added_to_one_gateway_commute(tmp_path):
    """The two directions of a VNet-to-VNet link are unordered and touch the same gateways: adding
    connections commutes, so that is no race (the bundled runbook is valid)."""
    _, result, document = validate(tmp_path, subnet_failover())
    assert result.returncode == 0 and document["errors"] == [], document


def test_probes_that_read_what_an_unordered_step_writes_race(tmp_path):
    """A probe reads: one that does not wait for the step writing what it reads may see either state."""
    runbook = yaml.safe_load((REPO / "runbooks/woodgrove-drill.yaml").read_text())
    steps_by_id(runbook)["probe-drill-dns"]["needs"] = ["test-fail-over-app-subnet"]
    _, result, document = validate(tmp_path, runbook)
    assert result.returncode == 2
    assert [(e["code"], e["step"]) for e in document["errors"]] == [("RACE001", "probe-drill-dns")], document
    assert "drill-dns changes DNS A record drill-web01" in document["errors"][0]["message"]


def test_steps_a_when_condition_skips_do_not_race(tmp_path):
    """Two steps that cannot both run (one is skipped by its `when` with these parameters) are no race."""
    runbook = yaml.safe_load(CHANGE_IP.read_text())
    two_dns_changes(runbook)
    runbook["parameters"]["alias"] = {"type": "boolean", "default": False}
    steps_by_id(runbook)["dns-app01-alias"]["when"] = "${{ params.alias }}"
    _, result, document = validate(tmp_path, runbook)
    assert result.returncode == 0, document


def test_conflicts_between_accesses():
    assert not conflict(READ, READ)
    assert conflict(READ, WRITE) and conflict(WRITE, READ) and conflict(WRITE, WRITE)
    assert not conflict(CONNECT, CONNECT)
    assert conflict(CONNECT, WRITE) and conflict(READ, CONNECT)


def test_precedence_follows_needs_through_other_steps():
    needs = {"a": [], "b": ["a"], "c": ["b"], "d": ["a"]}
    precedence = Precedence(("a", "b", "d", "c"), needs.__getitem__)
    assert precedence.before("a", "c") and not precedence.before("c", "a")
    assert precedence.ordered("b", "c") and not precedence.ordered("b", "d") and not precedence.ordered("c", "d")
    assert precedence.steps_in(precedence.ancestors[precedence.index["c"]]) == ["a", "b"]


def test_the_fix_is_printed_whole_at_a_terminal(tmp_path):
    """The text output keeps the fix's `needs: [...]` (square brackets are not taken for markup)."""
    runbook = yaml.safe_load(CHANGE_IP.read_text())
    two_dns_changes(runbook)
    path = tmp_path / "runbook.yaml"
    path.write_text(yaml.safe_dump(runbook, sort_keys=False))
    result = run_cli("validate", str(path), "--estate", str(WOODGROVE), "--state", str(tmp_path / "state.db"))
    assert result.returncode == 2
    assert "`needs: [new-ip-app01, dns-app01]`" in result.stderr, result.stderr
