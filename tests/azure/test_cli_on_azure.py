"""`failover` as an operator runs it, a process of its own, against the ARM double over HTTPS (the double
lives in the test process, so a kill -9 of the CLI leaves Azure's state behind, as it would): an idle
protected estate answered with the specs' payloads runs the Woodgrove runbooks to success, a second run
sends no mutating request, and a run killed at any of its mutating requests, or with one on its way, is
resumed without repeating one (the resume starts once the double has handled, or dropped as cut short, every
request the dead process had sent)."""

from __future__ import annotations

import json
import signal
from collections import Counter

import pytest

from tests.azure.arm import ArmService
from tests.azure.arm.client import prepare_cli
from tests.azure.arm.http import Hold
from tests.azure.arm.server import ArmServer
from tests.conftest import CHANGE_IP, REPO, SUBNET_FAILOVER, WOODGROVE
from tests.durable import VPN_KEY

DRILL = REPO / "runbooks/woodgrove-drill.yaml"
MOVED = {"app01": "192.168.1.10", "app02": "192.168.1.11", "web01": "192.168.1.20"}


@pytest.fixture
def azure_cli(tmp_path):
    """(the CLI's set-up, the double) with a fresh Woodgrove estate behind ARM."""
    service = ArmService(WOODGROVE, env={"WOODGROVE_VPN_KEY": VPN_KEY}, poll_delay_ms=10)
    with ArmServer(service) as server:
        cli = prepare_cli(tmp_path, server, settings={"concurrency": 4})
        cli.env["WOODGROVE_VPN_KEY"] = VPN_KEY
        yield cli, service


def writes(service, start: int = 0) -> Counter:
    """The mutating requests the double received (from ``start``), by method and path."""
    return Counter((s.method, s.path.lower()) for s in service.sent[start:] if s.writes)


def succeeded(result) -> dict:
    assert result.returncode == 0, result.stderr[-4000:]
    document = json.loads(result.stdout)
    assert document["status"] == "succeeded", [(s["id"], s["error"]) for s in document["steps"]]
    return document


def test_the_subnet_failover_then_a_second_run_that_sends_nothing(azure_cli):
    cli, service = azure_cli
    succeeded(cli.run("run", str(SUBNET_FAILOVER), "--yes", "-o", "json", timeout=300))
    for vm, ip in MOVED.items():
        item = service.item(vm)
        assert (item.active_location, item.protection_state, [n.ip for n in item.recovered]) == (
            "Recovery", "PlannedFailoverStatesBegin", [ip])
    before = len(service.sent)
    again = succeeded(cli.run("run", str(SUBNET_FAILOVER), "--yes", "-o", "json", timeout=300))
    assert writes(service, before) == Counter()
    assert {s["status"] for s in again["steps"]} == {"unchanged"}


def test_the_change_ip_runbook_then_a_second_run_that_sends_nothing(azure_cli):
    cli, service = azure_cli
    succeeded(cli.run("run", str(CHANGE_IP), "--yes", "-o", "json", timeout=300))
    before = len(service.sent)
    succeeded(cli.run("run", str(CHANGE_IP), "--yes", "-o", "json", timeout=300))
    assert writes(service, before) == Counter()


def test_the_drill_passes_and_leaves_every_item_as_it_found_it(azure_cli):
    """The test failover comes up (its job suspended, waiting for cleanup, is a success), the probes pass,
    and the cleanup really clears the test network settings the drill set: the items read as before."""
    cli, service = azure_cli
    before = {vm: service.item_document(vm)["properties"] for vm in MOVED}
    document = json.loads(cli.run("drill", str(DRILL), "--yes", "-o", "json", timeout=300).stdout)
    assert (document["status"], document["verdict"]) == ("succeeded", "passed")
    for vm in MOVED:
        after = service.item_document(vm)["properties"]
        for field in ("protectionState", "activeLocation", "allowedOperations"):
            assert after[field] == before[vm][field], (vm, field)
        assert after["testFailoverState"] in ("None", "MarkedForDeletion")
        nic = service.item(vm).nics[0]
        assert (nic.tfo_network, nic.config.tfo_subnet, nic.config.tfo_ip) == (None, None, None)  # cleared


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The mutating requests of an uninterrupted subnet failover."""
    service = ArmService(WOODGROVE, env={"WOODGROVE_VPN_KEY": VPN_KEY}, poll_delay_ms=10)
    with ArmServer(service) as server:
        cli = prepare_cli(tmp_path_factory.mktemp("reference"), server, settings={"concurrency": 4})
        cli.env["WOODGROVE_VPN_KEY"] = VPN_KEY
        succeeded(cli.run("run", str(SUBNET_FAILOVER), "--yes", "-o", "json", timeout=300))
        return writes(service)


def killed(cli, proc, held: Hold | None = None) -> None:
    """SIGKILL (then the ``held`` request let through), and wait until the double has dealt with every request
    the dead process had sent: handled if it arrived whole (ARM carries out a request whose client has gone),
    dropped if cut short. Only then does the resume read the state: what these tests hold the journal to is
    that a resume repeats no request the service had already received when it read."""
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    if held is not None:
        held.release.set()
    assert cli.server.wait_quiet(timeout=60), "the killed CLI's connections to the double are still open"


def repeated(service, reference) -> list:
    """The mutating requests sent more often than the uninterrupted run sent them, each with the statuses the
    double answered (in order)."""
    extra = writes(service) - reference
    return [(method, path, [s.status for s in service.writes if (s.method, s.path.lower()) == (method, path)])
            for method, path in extra]


@pytest.mark.parametrize("kill_at", [1, 3, 4, 6, 7, 9, 10, 12])
def test_kill_9_at_a_mutating_request_then_resume_repeats_none(azure_cli, reference, kill_at):
    """The CLI is killed once the double has answered its Nth mutating request (a PATCH, a failover, a
    gateway, a connection, a route, a commit); `failover resume` finishes the run, and every mutating
    request of the two processes together is one the uninterrupted run made, once."""
    cli, service = azure_cli
    proc = cli.popen("run", str(SUBNET_FAILOVER), "--yes", "-o", "json")
    try:
        reached = service.wait_for(lambda s: len(s.writes) >= kill_at, timeout=240)
    finally:
        killed(cli, proc)
    assert reached, "the run never got that far"
    runs = json.loads(cli.run("history", "-o", "json", timeout=60).stdout)["runs"]
    resumed = cli.run("resume", runs[0]["run_id"], "--yes", "-o", "json", timeout=300)
    succeeded(resumed)
    assert writes(service) == reference, repeated(service, reference)


@pytest.mark.parametrize("kill_at", [1, 10])
def test_a_request_in_flight_when_the_cli_is_killed_lands_before_the_resume_reads(azure_cli, reference, kill_at):
    """Killed with its next mutating request sent but not yet handled (the double holds it: the next target-IP
    PATCH, the route PUT after the DELETE): the request is carried out once the process is dead, and the
    resume, which reads after it, sees its effect and does not send it again."""
    cli, service = azure_cli
    held = service.hold_next(after_writes=kill_at)
    proc = cli.popen("run", str(SUBNET_FAILOVER), "--yes", "-o", "json")
    try:
        arrived = held.arrived.wait(timeout=240)
        in_flight = not cli.server.quiet()  # the held request's connection is open
    finally:
        killed(cli, proc, held)  # the dead process's request reaches the service after the kill
    assert arrived and in_flight, "the run never got that far"
    assert len(service.writes) > kill_at  # the held request was handled, though its client is dead
    runs = json.loads(cli.run("history", "-o", "json", timeout=60).stdout)["runs"]
    succeeded(cli.run("resume", runs[0]["run_id"], "--yes", "-o", "json", timeout=300))
    assert writes(service) == reference, repeated(service, reference)
