"""The network-plan rules NET001-NET013 against a corpus of runbooks (tests/fixtures/netplan/).

For every rule there is a runbook that breaks exactly that rule (``NET00X-break*.yaml``: a small change
of a Woodgrove runbook) and one that comes as close as it can without breaking it
(``NET00X-near-miss.yaml``). Each is validated with ``failover validate`` as an operator runs it,
against the default Woodgrove estate or, if there is one, ``NET00X.estate.yaml`` next to it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import REPO, WOODGROVE, json_out, run_cli

CORPUS = REPO / "tests/fixtures/netplan"
RULES = REPO / "docs/rules.md"
BREAKS = sorted(p for p in CORPUS.glob("NET*-break*.yaml"))
NEAR_MISSES = sorted(p for p in CORPUS.glob("NET*-near-miss*.yaml"))
WARNINGS = {"NET011"}  # rules that warn: the runbook runs, and the risk is named


def rule_of(path: Path) -> str:
    return re.match(r"NET\d{3}", path.name).group()


def documented_rules() -> list[str]:
    """The NET codes in docs/rules.md's table (its rows start with ``| NETnnn |`` or ``| NETnnn (warning) |``)."""
    return sorted(set(re.findall(r"^\|\s*(NET\d{3})\s*(?:\(warning\)\s*)?\|", RULES.read_text(), flags=re.MULTILINE)))


def validate(runbook: Path, tmp_path: Path):
    estate = CORPUS / f"{rule_of(runbook)}.estate.yaml"
    result = run_cli("validate", str(runbook), "--estate", str(estate if estate.exists() else WOODGROVE),
                     "--state", str(tmp_path / "state.db"), "--output", "json")
    assert "Traceback" not in result.stderr, result.stderr
    return result, json_out(result)


@pytest.mark.parametrize("runbook", BREAKS, ids=lambda p: p.stem)
def test_break_yields_exactly_its_rule(runbook, tmp_path):
    """A break fails validation (exit 2) with its own rule only, each problem naming the file and a step
    of the runbook (with its line); a break of a warning rule validates (exit 0) with that warning only."""
    result, document = validate(runbook, tmp_path)
    warns = rule_of(runbook) in WARNINGS
    assert result.returncode == (0 if warns else 2), (result.stdout, result.stderr)
    assert document["valid"] is warns
    found = document["warnings"] if warns else document["errors"]
    codes = {e["code"] for e in found}
    assert codes == {rule_of(runbook)}, found
    step_ids = set(re.findall(r"^\s*- id: (\S+)", runbook.read_text(), flags=re.MULTILINE))
    for error in found:
        assert error["file"] == str(runbook), error
        assert error["step"] in step_ids, error
        assert error["line"], error
        assert error["message"] and error["fix"], error
    assert warns or not [w for w in document["warnings"] if w["code"].startswith("NET")]


@pytest.mark.parametrize("runbook", NEAR_MISSES, ids=lambda p: p.stem)
def test_near_miss_is_valid(runbook, tmp_path):
    """A near miss validates with exit 0: no NET problem, no other error either."""
    result, document = validate(runbook, tmp_path)
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert document == {"valid": True, "errors": [], "warnings": []}


def test_every_documented_rule_has_a_break_and_a_near_miss():
    """The corpus cannot silently lose a rule: each NET code of docs/rules.md has both files, and the
    corpus holds no file for a code the docs do not list."""
    documented = documented_rules()
    assert documented == [f"NET{n:03d}" for n in range(1, 14)]
    for code in documented:
        assert (CORPUS / f"{code}-break.yaml").is_file(), f"{code} has no break in {CORPUS}"
        assert (CORPUS / f"{code}-near-miss.yaml").is_file(), f"{code} has no near miss in {CORPUS}"
    assert {rule_of(p) for p in CORPUS.glob("NET*.yaml")} <= set(documented)


def test_a_step_that_fails_in_the_simulation_causes_no_follow_on_errors(tmp_path):
    """One mistake, one error. The connections do not wait for the prefix removal and come first: the
    simulation stops at the refused connection, so the prefix removal and the routes never run. The
    end-of-runbook rules must not then ask for those steps (NET006): exactly one NET004 is reported."""
    result, document = validate(CORPUS / "NET004-break-connection-first.yaml", tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert [(e["code"], e["step"]) for e in document["errors"]] == [("NET004", "connect-recovery-to-hub")], \
        document["errors"]
    assert document["warnings"] == []


def _without_routes_step(tmp_path: Path, when: str | None = None) -> Path:
    """The cascade break, with the routes step removed (``when`` None) or kept behind a `when` condition
    that does not hold: either way no step of the runbook routes 192.168.1.0/24 to Azure."""
    text = (CORPUS / "NET004-break-connection-first.yaml").read_text()
    start = text.index("  # 5. Routes")
    end = text.index("  # 6. Everything")
    if when is None:
        text = text[:start] + text[end:]
        text = text.replace("needs: [route-app-subnet-to-azure]",
                            "needs: [connect-recovery-to-hub, connect-hub-to-recovery]")
    else:
        text = text.replace("    uses: network.routes\n", f"    uses: network.routes\n    when: {when}\n")
        text = text.replace("parameters:\n", "parameters:\n  reroute:\n    type: boolean\n    default: false\n", 1)
    path = tmp_path / "NET004-missing-routes.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("when", [None, '"${{ params.reroute }}"', "{param: reroute, equals: true}"],
                         ids=["no-routes-step", "routes-when-string", "routes-when-condition"])
def test_a_failed_step_still_lets_the_end_rules_report_a_step_truly_missing(tmp_path, when):
    """The end-of-runbook rules are held back only for steps the failure kept from running: a routes
    step that is not in the runbook, or whose `when` would skip it anyway, is still reported (NET006),
    next to the primary error; the prefix removal that is in the runbook is not."""
    runbook = _without_routes_step(tmp_path, when)
    result, document = validate(runbook, tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    errors = [(e["code"], e["step"]) for e in document["errors"]]
    assert errors == [("NET004", "connect-recovery-to-hub"), ("NET006", "fail-over-app-subnet")], document["errors"]
    net006 = next(e for e in document["errors"] if e["code"] == "NET006")
    assert "route onprem-app" in net006["message"] and "local network gateway" not in net006["message"]


def test_an_early_route_withdrawal_names_the_vms_and_the_window(tmp_path):
    """NET011 names the VMs still on-premises and the window, from the withdrawing step until their failover
    ends; one warning per step, however many of its changes withdraw the subnet's routes."""
    result, document = validate(CORPUS / "NET011-break.yaml", tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = {w["step"]: w for w in document["warnings"]}
    assert sorted(warnings) == ["move-prefix-off-onprem", "route-app-subnet-to-azure"]
    prefix = warnings["move-prefix-off-onprem"]
    assert "removes 192.168.1.0/24 from local network gateway woodgrove-onprem" in prefix["message"]
    assert "app01, app02, web01" in prefix["message"]
    assert "From the start of move-prefix-off-onprem until fail-over-app-subnet has failed them over" in \
        prefix["message"]
    assert "`needs: [keep-ip-app01, keep-ip-app02, keep-ip-web01, fail-over-app-subnet]`" in prefix["fix"]
    routes = warnings["route-app-subnet-to-azure"]["message"]
    assert "removes route onprem-app" in routes and "routes 192.168.1.0/24 to VirtualNetworkGateway" in routes


def test_a_failover_that_waits_for_the_withdrawal_is_told_to_go_first(tmp_path):
    """When the failover needs the withdrawing step, the fix cannot be a need the other way (a cycle): it
    says to fail over first."""
    text = (CORPUS / "NET011-break.yaml").read_text().replace(
        "    needs: [keep-ip-app01, keep-ip-app02, keep-ip-web01]\n    with:\n      items:",
        "    needs: [move-prefix-off-onprem]\n    with:\n      items:")
    runbook = tmp_path / "NET011-failover-after.yaml"
    runbook.write_text(text)
    result, document = validate(runbook, tmp_path)
    assert result.returncode == 0, result.stderr
    prefix = next(w for w in document["warnings"] if w["step"] == "move-prefix-off-onprem")
    assert "their failover, fail-over-app-subnet, runs after it" in prefix["message"]
    assert "fail-over-app-subnet must not wait for move-prefix-off-onprem" in prefix["fix"]
