"""NET007: a test failover network is isolated: it reaches neither production nor on-premises, and is not
also a recovery network."""

from __future__ import annotations

from adapters.shared import ids
from adapters.shared.errors import NotFoundError
from engine.model.runbook import Step


def check_isolated(inspector, step, adapter, test_network: str) -> None:
    """NET007: a test failover network reaches neither production nor on-premises."""
    name = ids.name_of(test_network)
    inspector.test_network_steps.setdefault(test_network.lower(), step)
    if test_network.lower() in inspector.recovery_networks:
        report_test_network_is_recovery(inspector, step, test_network)
        return
    for connection in adapter.network.list_connections(inspector.target.subscription, inspector.target.resource_group):
        for end in (connection.gateway1_id, connection.gateway2_id):
            if end and _vnet_of(adapter, end) == test_network.lower():
                inspector.report("NET007", step, f"test network {name} is connected by {connection.name}: a test VM "
                            "would be reachable on a production IP from production or on-premises",
                            f"remove connection {connection.name}, or test in an isolated network")
                return


def tests_isolated_from_later_recovery(inspector) -> None:
    """NET007 for a test network that only a later step makes a recovery network."""
    reported = {p.step for p in inspector.problems if p.code == "NET007"}
    for network, step in inspector.test_network_steps.items():
        if network in inspector.recovery_networks and step.id not in reported:
            report_test_network_is_recovery(inspector, step, network)


def report_test_network_is_recovery(inspector, step: Step, network: str) -> None:
    inspector.report("NET007", step, f"test network {ids.name_of(network)} is also a recovery network: a test VM "
                "would answer on a production IP next to the real one",
                "use a separate, isolated virtual network for tests")


def _vnet_of(adapter, gateway_id: str) -> str | None:
    try:
        return adapter.network.get_gateway(gateway_id).vnet_id.lower()
    except NotFoundError:
        return None
