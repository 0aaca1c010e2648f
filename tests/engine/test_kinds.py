"""Each step kind against the fake: it changes what differs, and a second time it is unchanged and
makes no mutating call."""

from __future__ import annotations

import pytest

from tests.engine.runbooks import run, statuses

CASES = {
    "set_target_ip": """\
        steps:
          - {id: s, uses: asr.set_target_ip, with: {item: db01, network: test-vnet, subnet: data, ip: 192.168.2.10,
                                                     test_network: test-vnet, test_ip: 192.168.2.10}}
    """,
    "test_failover": """\
        steps:
          - {id: ip, uses: asr.set_target_ip, with: {item: app01, network: recovery-vnet, subnet: app, ip: 192.168.1.10,
                                                      test_network: test-vnet, test_ip: 192.168.1.10}}
          - {id: tfo, uses: asr.failover, needs: [ip], with: {items: [app01], type: test, network: test-vnet}}
    """,
}

TEST_FAILOVER_THEN_CLEANUP = """\
        steps:
          - {id: ip, uses: asr.set_target_ip, with: {item: app01, network: recovery-vnet, subnet: app, ip: 192.168.1.10,
                                                      test_network: test-vnet, test_ip: 192.168.1.10}}
          - {id: tfo, uses: asr.failover, needs: [ip], with: {items: [app01], type: test, network: test-vnet}}
          - {id: clean, uses: asr.cleanup_test_failover, needs: [tfo], with: {items: [app01]}}
    """
CASES |= {
    "plan_failover_and_commit": """\
        steps:
          - {id: a1, uses: asr.set_target_ip, with: {item: app01, network: recovery-vnet, subnet: app, ip: 192.168.1.10}}
          - {id: a2, uses: asr.set_target_ip, with: {item: app02, network: recovery-vnet, subnet: app, ip: 192.168.1.11}}
          - {id: w1, uses: asr.set_target_ip, with: {item: web01, network: recovery-vnet, subnet: app, ip: 192.168.1.20}}
          - {id: fo, uses: asr.failover, needs: [a1, a2, w1], with: {plan: app-subnet, type: unplanned}}
          - {id: commit, uses: asr.commit, needs: [fo], with: {plan: app-subnet}}
    """,
    "connection_absent": """\
        steps:
          - {id: gone, uses: network.connection, with: {name: woodgrove-s2s, state: absent, gateway: woodgrove-gw,
                                                         peer: woodgrove-onprem}}
    """,
    "connection_ipsec": """\
        parameters: {key: {type: secret, from: env:WOODGROVE_VPN_KEY}}
        steps:
          - {id: move, uses: network.local_gateway_prefixes, with: {gateway: woodgrove-onprem, remove: [192.168.1.0/24]}}
          - {id: s2s, uses: network.connection, needs: [move], with: {name: recovery-s2s, type: ipsec, gateway: recovery-gw,
                                                        peer: woodgrove-onprem, shared_key: "${{ params.key }}"}}
    """,
    "routes_present_and_absent": """\
        steps:
          - id: r
            uses: network.routes
            with:
              table: woodgrove-rt
              routes:
                - {name: onprem-data, state: absent}
                - {name: default, prefix: 0.0.0.0/0, next_hop: Internet}
    """,
    "local_gateway_prefixes": """\
        steps:
          - {id: p, uses: network.local_gateway_prefixes, with: {gateway: woodgrove-onprem, add: [10.50.0.0/16],
                                                                  remove: [192.168.2.0/24]}}
    """,
    "dns_record_update_and_delete": """\
        steps:
          - {id: u, uses: dns.record, with: {zone: woodgrove.example, name: app01, ips: [172.16.2.10, 172.16.2.11], ttl: 60}}
          - {id: d, uses: dns.record, needs: [u], with: {zone: woodgrove.example, name: db01, state: absent}}
    """,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_kind_changes_then_is_unchanged(case, fake):
    """The first run changes the estate; the second reports every step unchanged and the ledger holds still."""
    adapter = fake()
    first = run(CASES[case], adapter)
    assert str(first.status) == "succeeded", [(s.id, s.error) for s in first.steps]
    assert "succeeded" in set(statuses(first).values())
    calls = len(adapter.ledger())
    assert calls > 0
    second = run(CASES[case], adapter)
    assert set(statuses(second).values()) == {"unchanged"}, [(s.id, s.error) for s in second.steps]
    assert len(adapter.ledger()) == calls


def test_test_failover_creates_then_removes_the_test_vm(fake):
    """A test failover brings the VM up in the isolated network with its test IP; cleanup removes it; with
    nothing left to clean, a cleanup step is unchanged."""
    adapter = fake()
    result = run(TEST_FAILOVER_THEN_CLEANUP, adapter)
    assert result.step("tfo").outputs["ips"] == {"app01": "192.168.1.10"}
    assert not [vm for vm in adapter.show()["virtual_machines"] if vm.get("test")]
    item = next(i for i in adapter.show()["protected_items"] if i["name"] == "app01")
    # the service's words after a cleanup: the test VMs are marked for deletion
    assert item["state"]["testFailoverState"] == "MarkedForDeletion" and item["state"]["activeLocation"] == "Primary"
    again = run("""\
        steps:
          - {id: clean, uses: asr.cleanup_test_failover, with: {items: [app01]}}
    """, adapter)
    assert statuses(again) == {"clean": "unchanged"}


def test_plan_failover_runs_one_job_for_the_plan(fake):
    """A recovery plan fails over as one ASR job, and its items end committed."""
    adapter = fake()
    result = run(CASES["plan_failover_and_commit"], adapter)
    assert len(result.step("fo").outputs["job_ids"]) == 1
    items = {i["name"]: i for i in adapter.show()["protected_items"]}
    assert {items[n]["state"]["protectionState"] for n in ("app01", "app02", "web01")} == {"UnplannedFailoverCommitted"}
    assert items["db01"]["state"]["protectionState"] == "Protected"


def test_connection_with_other_ends_is_refused(fake):
    """A connection name that exists with other gateways fails the step rather than being rewired."""
    result = run("""\
        parameters: {key: {type: secret, from: env:WOODGROVE_VPN_KEY}}
        steps:
          - {id: c, uses: network.connection, with: {name: woodgrove-s2s, type: vnet2vnet, gateway: woodgrove-gw,
                                                      peer: recovery-gw, shared_key: "${{ params.key }}"}}
    """, fake())
    assert "cannot change a connection's ends" in result.step("c").error


def test_shared_key_change_is_an_update(fake, monkeypatch):
    """Changing the VPN key updates the connection, and the diff never shows either key."""
    adapter = fake()
    source = """\
        parameters: {key: {type: secret, from: env:WOODGROVE_VPN_KEY}}
        steps:
          - {id: move, uses: network.local_gateway_prefixes, with: {gateway: woodgrove-onprem, remove: [192.168.1.0/24]}}
          - {id: c, uses: network.connection, needs: [move], with: {name: r2w, type: vnet2vnet, gateway: recovery-gw,
                                                                     peer: woodgrove-gw, shared_key: "${{ params.key }}"}}
    """
    run(source, adapter)
    monkeypatch.setenv("WOODGROVE_VPN_KEY", "rotated-key-0123456789")
    result = run(source, adapter)
    step = result.step("c")
    assert step.action == "update"
    assert [(c.field, c.before, c.after) for c in step.changes] == [("shared_key", "(set)", "(changed)")]


MULTI_NIC = {"vaults": {"woodgrove-asr-vault": {"protected_items": {"multi01": {"nics": [
    {"id": "multi01-front", "ip_config": "front-ip", "source_ip": "192.168.1.30"},
    {"id": "multi01-back", "ip_config": "back-ip", "source_ip": "192.168.2.30", "primary": False}]}}}}}


def test_a_vm_with_two_nics_keeps_each_nics_ip_and_fails_over_with_both(fake):
    """Each NIC is addressed by its name and keeps its own IP configuration's name; the second NIC is not
    the first; the failover brings both up."""
    adapter = fake(**MULTI_NIC)
    result = run("""\
        steps:
          - {id: front, uses: asr.set_target_ip, with: {item: multi01, network: recovery-vnet, subnet: app,
                                                         ip: 192.168.1.30}}
          - {id: back, uses: asr.set_target_ip, needs: [front], with: {item: multi01, nic: multi01-back,
                                                        network: recovery-vnet, subnet: app, ip: 192.168.1.31}}
          - {id: fo, uses: asr.failover, needs: [front, back], with: {items: [multi01], type: planned}}
    """, adapter)
    assert statuses(result) == {"front": "succeeded", "back": "succeeded", "fo": "succeeded"}
    updates = [e["args"] for e in adapter.ledger() if e["operation"].endswith(".update")]
    assert [(u["nic"], u["ip_config"], u["recovery_ip"]) for u in updates] == [
        ("multi01-front", "front-ip", "192.168.1.30"), ("multi01-back", "back-ip", "192.168.1.31")]
    vms = {vm["name"]: vm["ip"] for vm in adapter.show()["virtual_machines"] if vm.get("item") == "multi01"}
    assert vms == {"multi01-front": "192.168.1.30", "multi01-back": "192.168.1.31"}
    assert result.step("fo").outputs["ips"] == {"multi01": "192.168.1.30"}  # the primary NIC's


def test_a_nic_the_vm_does_not_have_is_named_in_the_error(fake):
    adapter = fake(**MULTI_NIC)
    result = run("""\
        steps:
          - {id: s, uses: asr.set_target_ip, with: {item: multi01, nic: multi01-side, network: recovery-vnet,
                                                     subnet: app, ip: 192.168.1.32}}
    """, adapter)
    assert statuses(result) == {"s": "failed"}
    assert "multi01-side" in result.step("s").error and "multi01-back" in result.step("s").error
