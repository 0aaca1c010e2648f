"""The engine against the fake estate: the Woodgrove runbooks, idempotency, order, parallelism,
retries, timeouts and failure handling."""

from __future__ import annotations

import json
import threading

from structlog.testing import capture_logs

from engine import kinds
from tests.conftest import CHANGE_IP, SUBNET_FAILOVER, VPN_KEY
from tests.engine.runbooks import run, statuses
from tests.waiting import until


def test_subnet_failover_succeeds_then_is_unchanged(fake):
    """The seed's subnet failover succeeds; a second run changes nothing and adds nothing to the ledger."""
    adapter = fake()
    first = run(SUBNET_FAILOVER, adapter)
    assert str(first.status) == "succeeded", [(s.id, s.error) for s in first.steps]
    assert set(statuses(first).values()) == {"succeeded"}
    ledger = len(adapter.ledger())
    assert ledger > 0
    second = run(SUBNET_FAILOVER, adapter)
    assert str(second.status) == "succeeded"
    assert set(statuses(second).values()) == {"unchanged"}
    assert len(adapter.ledger()) == ledger


def test_subnet_failover_moves_the_subnet(fake):
    """After the run the VMs are in the recovery VNet with their on-premises IPs, the prefix is off
    the local gateway (the supernet split around it) and the route points at Azure."""
    adapter = fake()
    result = run(SUBNET_FAILOVER, adapter)
    assert str(result.status) == "succeeded"
    assert result.step("fail-over-app-subnet").outputs["ips"] == {
        "app01": "192.168.1.10", "app02": "192.168.1.11", "web01": "192.168.1.20"}
    prefixes = result.step("move-prefix-off-onprem").outputs["prefixes"]
    assert "192.168.1.0/24" not in prefixes and "192.168.0.0/24" in prefixes and "192.168.2.0/23" in prefixes
    assert "192.168.0.0/16" not in prefixes
    assert result.step("route-app-subnet-to-azure").outputs["routes"] == ["onprem-data", "recovery-app"]
    # Both directions exist once the run is over, so the tunnel is up (a step's own output is the status
    # when it was created: NotConnected if the other direction was not there yet).
    connection = adapter.network.find_connection(
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/woodgrove-dr/providers/"
        "Microsoft.Network/connections/woodgrove-to-recovery")
    assert connection.status == "Connected"
    assert result.step("connect-hub-to-recovery").outputs["status"] in ("Connected", "NotConnected")


def test_change_ip_path_updates_dns(fake):
    """The change-IP runbook fails the app tier over to new IPs and points DNS at them."""
    adapter = fake()
    result = run(CHANGE_IP, adapter)
    assert str(result.status) == "succeeded", [(s.id, s.error) for s in result.steps]
    assert result.step("dns-app01").outputs == {"fqdn": "app01.woodgrove.example", "ips": ["172.16.2.10"]}
    assert result.step("fail-over-app-tier").outputs["ips"]["web01"] == "172.16.2.20"
    again = run(CHANGE_IP, adapter)
    assert set(statuses(again).values()) == {"unchanged"}


def test_steps_start_only_after_their_needs(fake):
    """No step starts before every step it needs has finished."""
    result = run(SUBNET_FAILOVER, fake({"latency": {"write_ms": 200}}))
    for step in result.steps:
        for need in _needs(step.id):
            assert step.started_at >= result.step(need).finished_at, (step.id, need)


def _needs(step_id: str) -> list[str]:
    from engine.model.loader import load_runbook

    return load_runbook(SUBNET_FAILOVER).runbook.step(step_id).needs


def _overlap(a, b) -> bool:
    return a.started_at < b.finished_at and b.started_at < a.finished_at


def test_independent_steps_run_in_parallel_within_the_bound(fake):
    """The three keep-IP steps overlap in time; with concurrency 1 none do, except while one waits on an
    ASR job (a target-IP update, a failover), which holds no place."""
    adapter = fake({"latency": {"read_ms": 100, "write_ms": 300}, "time_scale": 0.1})
    parallel = run(SUBNET_FAILOVER, adapter)
    keep = [parallel.step(f"keep-ip-{vm}") for vm in ("app01", "app02", "web01")]
    assert _overlap(keep[0], keep[1]) and _overlap(keep[1], keep[2])

    serial = run(SUBNET_FAILOVER, fake({"latency": {"read_ms": 100, "write_ms": 300}, "time_scale": 0.1}),
                 concurrency=1)
    steps = [s for s in serial.steps if not kinds.get(s.uses).waits_for_jobs]
    assert len(steps) >= 3
    assert not any(_overlap(a, b) for i, a in enumerate(steps) for b in steps[i + 1:])


def test_a_step_done_waiting_on_its_job_takes_a_slot_before_it_acts_again(fake):
    """``concurrency`` bounds the steps acting at once, the waiting ones aside: a target-IP step whose
    job has ended waits for a slot before it reads the item again, so with concurrency 1 no two steps'
    calls are ever in flight together, though all three updates' jobs run at once."""
    adapter = fake({"latency": {"read_ms": 100, "write_ms": 300}, "time_scale": 0.1})
    lock, in_flight, most = threading.Lock(), [0], [0]

    class Counted:
        def __init__(self, port):
            self._port = port

        def __getattr__(self, name):
            method = getattr(self._port, name)
            if not callable(method) or not threading.current_thread().name.startswith("step"):
                return method  # the job poller's lists are not a step's calls

            def counted(*args, **kwargs):
                with lock:
                    in_flight[0] += 1
                    most[0] = max(most[0], in_flight[0])
                try:
                    return method(*args, **kwargs)
                finally:
                    with lock:
                        in_flight[0] -= 1
            return counted

    adapter.replication = Counted(adapter.replication)
    result = run("""\
        steps:
          - {id: ip-app01, uses: asr.set_target_ip, with: {item: app01, network: woodgrove-vnet, subnet: services, ip: 172.16.2.10}}
          - {id: ip-app02, uses: asr.set_target_ip, with: {item: app02, network: woodgrove-vnet, subnet: services, ip: 172.16.2.11}}
          - {id: ip-web01, uses: asr.set_target_ip, with: {item: web01, network: woodgrove-vnet, subnet: services, ip: 172.16.2.20}}
        """, adapter, concurrency=1)
    assert set(statuses(result).values()) == {"succeeded"}, [(s.id, s.error) for s in result.steps]
    steps = result.steps
    assert _overlap(steps[0], steps[1]) and _overlap(steps[1], steps[2])  # each waited on its job beside the others
    assert most[0] == 1, f"{most[0]} steps' calls were in flight at once with concurrency 1"


def test_a_run_stopped_while_a_step_waits_for_a_slot_ends(fake):
    """A step whose job has ended waits for a slot held by a probe that polls for an hour; stopping the
    run lets it go on to its safe point without the slot, and the run ends instead of waiting forever."""
    from engine.model.params import resolve_parameters
    from engine.run.runner import Runner
    from tests.engine.runbooks import loaded_from

    loaded = loaded_from("""\
        steps:
          - {id: ip-app02, uses: asr.set_target_ip, with: {item: app02, network: woodgrove-vnet, subnet: services, ip: 172.16.2.11}}
          - {id: probe, uses: assert.item_state, with: {items: [app01], state: failed_over, within: 1h, every: 1s}}
        """)
    values, _ = resolve_parameters(loaded.runbook, {})
    runner = Runner(loaded, values, fake({"time_scale": 0.05}), concurrency=1, job_poll_interval=1.0)
    ended: list = []
    thread = threading.Thread(target=lambda: ended.append(runner.run()), daemon=True)
    thread.start()
    # the event: the update's job ended, and the step waits for the probe's slot (or the run ended early)
    until(lambda: runner._returning or not thread.is_alive(), what="the target-IP step's return from its job")
    assert thread.is_alive(), f"the run ended before the step waited for a slot: {ended}"
    runner.stop("the test stops the run")
    thread.join(60)
    assert not thread.is_alive(), "the run did not end once stopped"
    assert str(ended[0].step("probe").status) == "pending"


def test_transient_faults_are_retried_and_logged(fake):
    """With 30% of calls answered 429/503, the run still succeeds and the retries are in the logs."""
    adapter = fake({"faults": {"transient_rate": 0.3, "seed": 7}})
    with capture_logs() as events:
        result = run(SUBNET_FAILOVER, adapter)
    assert str(result.status) == "succeeded", [(s.id, s.error) for s in result.steps]
    retries = [e for e in events if e["event"] == "call.retrying"]
    assert retries, "no retry was logged"
    assert sum(s.retries for s in result.steps) == len(retries)
    assert all({"run_id", "step", "attempt"} <= set(e) for e in retries)
    assert all(e["wait_s"] >= (e["retry_after"] or 0) for e in retries)


def test_permanent_error_fails_at_once_with_the_service_message(fake):
    """An IP Azure reserves fails the step on its first try with Azure's message; nothing after it runs."""
    result = run("""\
        steps:
          - id: reserved-ip
            uses: asr.set_target_ip
            with: {item: app01, network: recovery-vnet, subnet: app, ip: 192.168.1.1}
          - id: fail-over
            uses: asr.failover
            needs: [reserved-ip]
            with: {items: [app01], type: planned}
    """, fake())
    step = result.step("reserved-ip")
    assert str(step.status) == "failed" and step.attempts == 1 and step.retries == 0
    assert "192.168.1.1" in step.error
    assert str(result.step("fail-over").status) == "skipped"
    assert str(result.status) == "failed"


def test_failed_job_fails_the_step_with_the_job_error(fake):
    """A failover whose ASR job fails reports the job's own error."""
    adapter = fake(vaults={"woodgrove-asr-vault": {"protected_items": {"app01": {
        "inject": {"failover_error": "The recovery VM could not be created: quota exceeded for family DSv5"}}}}})
    result = run("""\
        steps:
          - {id: ip, uses: asr.set_target_ip, with: {item: app01, network: recovery-vnet, subnet: app, ip: 192.168.1.10}}
          - {id: fo, uses: asr.failover, needs: [ip], with: {items: [app01], type: planned}}
    """, adapter)
    assert "quota exceeded for family DSv5" in result.step("fo").error


def test_timeout_fails_a_step_that_waits_too_long(fake):
    """A failover whose job outlasts the step's timeout fails as timed out."""
    adapter = fake({"latency": {"job_ms": 600_000}, "time_scale": 0.0001})
    result = run("""\
        steps:
          - {id: ip, uses: asr.set_target_ip, with: {item: app01, network: recovery-vnet, subnet: app, ip: 192.168.1.10}}
          - {id: fo, uses: asr.failover, timeout: 60s, needs: [ip], with: {items: [app01], type: planned}}
    """, adapter)
    assert str(result.step("fo").status) == "failed"
    assert "timed out" in result.step("fo").error


def test_abort_starts_nothing_more_and_continue_goes_on(fake):
    """After a failure, abort skips the steps not yet started; continue lets independent ones run."""
    source = """\
        defaults: {{on_failure: {mode}, concurrency: 1}}
        steps:
          - {{id: bad, uses: asr.commit, with: {{items: [app01]}}}}
          - {{id: later, uses: dns.record, with: {{zone: woodgrove.example, name: extra, ip: 10.1.1.1}}}}
    """
    aborted = run(source.format(mode="abort"), fake())
    assert statuses(aborted) == {"bad": "failed", "later": "skipped"}
    continued = run(source.format(mode="continue"), fake())
    assert statuses(continued) == {"bad": "failed", "later": "succeeded"}
    assert str(continued.status) == "failed"


def test_when_skips_a_step_without_holding_back_its_dependents(fake):
    """A step whose condition is false is skipped; steps needing it still run."""
    result = run("""\
        parameters: {update_dns: {type: boolean, default: false}}
        steps:
          - {id: dns, uses: dns.record, when: "${{ params.update_dns }}", with: {zone: woodgrove.example, name: x, ip: 10.1.1.1}}
          - {id: after, uses: dns.record, needs: [dns], with: {zone: woodgrove.example, name: y, ip: 10.1.1.2}}
    """, fake())
    assert statuses(result) == {"dns": "skipped", "after": "succeeded"}


def test_secret_never_reaches_logs_or_results(fake):
    """The planted VPN key appears in no log event and nowhere in the run's JSON."""
    with capture_logs() as events:
        result = run(SUBNET_FAILOVER, fake())
    assert str(result.status) == "succeeded"
    assert VPN_KEY not in json.dumps(events, default=str)
    assert VPN_KEY not in json.dumps(result.to_json(), default=str)


def test_rollback_undoes_what_can_be_undone_newest_first_and_says_what_cannot(fake):
    """A step failing with on_failure: rollback undoes the run's changes newest first (connections
    deleted, prefixes restored); a failover to Azure the service offers no cancel for (a Hyper-V item
    failed over allows Commit, ChangePit, CompleteMigration and DisableProtection) is reported as not
    undone, with the way back, and the network is as it was."""
    adapter = fake()
    keep_ips = SUBNET_FAILOVER.read_text().split("  # 2. Fail the whole subnet over")[0]
    assert str(run(_as_path(keep_ips), adapter).status) == "succeeded"
    before = {k: v for k, v in adapter.show().items() if k != "jobs"}
    failing = SUBNET_FAILOVER.read_text().replace("table: woodgrove-rt", "table: woodgrove-rt-missing").replace(
        "  concurrency: 8", "  concurrency: 8\n  on_failure: rollback")
    result = run(_as_path(failing), adapter)
    assert str(result.status) == "failed"
    assert "woodgrove-rt-missing" in result.step("route-app-subnet-to-azure").error
    after = {k: v for k, v in adapter.show().items() if k != "jobs"}
    for network in ("local_network_gateways", "connections", "route_tables"):
        assert after[network] == before[network]
    rollback = {r["step"]: r for r in result.to_json()["rollback"]}
    assert set(rollback) == {"fail-over-app-subnet", "move-prefix-off-onprem", "connect-recovery-to-hub",
                             "connect-hub-to-recovery"}
    assert [s for s, r in rollback.items() if not r["undone"]] == ["fail-over-app-subnet"]
    assert "fail it back" in rollback["fail-over-app-subnet"]["detail"]
    assert str(result.step("connect-hub-to-recovery").status) == "compensated"


def _as_path(text: str):
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "runbook.yaml"
    path.write_text(text)
    return path


def test_a_steps_cpu_is_measured_in_a_run_and_not_in_a_simulation_one_step_at_a_time(fake):
    """A run records each step's own CPU; plan and validate (a simulation one step at a time) read no CPU
    clock, and say so with no figure rather than a zero."""
    from engine.model.params import resolve_parameters
    from engine.plan.simulation import simulate
    from tests.engine.runbooks import loaded_from

    loaded = loaded_from(SUBNET_FAILOVER)
    values, problems = resolve_parameters(loaded.runbook, {})
    assert not problems, problems
    simulated = simulate(loaded, values, fake(), rules=True).result
    assert str(simulated.status) == "succeeded", [(s.id, s.error) for s in simulated.steps]
    assert all(s.cpu_ms is None and s.overhead_ms is not None for s in simulated.steps)
    result = run(SUBNET_FAILOVER, fake())
    executed = [s for s in result.steps if str(s.status) in ("succeeded", "unchanged")]
    assert executed and all(isinstance(s.cpu_ms, float) and s.cpu_ms >= 0 for s in executed)
