"""`failover check --azure` against the ARM double (the specs' payloads): read only by construction,
every request a GET, and replication health and recovery point age read from the service's own fields
(replicationHealth and healthErrors; rpoInSeconds at lastRpoCalculatedTime), quota from Compute usages."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest

from engine.check.readiness import check
from engine.model.loader import load_runbook
from tests.azure.arm import ArmService
from tests.azure.arm.client import prepare_cli
from tests.azure.arm.mock import mocked
from tests.azure.arm.server import ArmServer
from tests.azure.conftest import open_azure
from tests.conftest import SUBNET_FAILOVER, WOODGROVE
from tests.durable import VPN_KEY


@pytest.fixture
def live():
    """The Woodgrove estate behind ARM, its clock at the real time (a recovery point's age is measured
    from the time the service calculated it), and a read-only Azure adapter on it."""
    with mocked(ArmService(WOODGROVE, env={"WOODGROVE_VPN_KEY": VPN_KEY}, epoch=datetime.now(UTC))) as service:
        adapter = open_azure(read_only=True)
        yield service, adapter
        adapter.close()


def findings(document) -> list[tuple[str, str]]:
    return [(f["code"], f["resource"]) for f in document["findings"]]


def test_the_idle_estate_is_ready_with_gets_only(live):
    """Every item Normal and current, quota to spare: ready; the double saw only GETs."""
    service, adapter = live
    document = check(load_runbook(SUBNET_FAILOVER), {}, adapter)
    assert document["ready"], findings(document)
    methods = Counter(s.method for s in service.sent)
    assert set(methods) == {"GET"}, methods
    paths = {s.path.lower() for s in service.sent}
    assert any(p.endswith("/providers/microsoft.compute/locations/westeurope/usages") for p in paths)
    assert any(p.endswith("/providers/microsoft.compute/skus") for p in paths)


def test_replication_health_and_errors_come_from_the_item(live):
    """replicationHealth Critical with a health error on app02: RDY002 quotes the service's message."""
    service, adapter = live
    item = service.item("app02")
    item.health, item.health_errors = "Critical", ["The virtual machine has stopped replicating."]
    document = check(load_runbook(SUBNET_FAILOVER), {}, adapter)
    assert findings(document) == [("RDY002", "protected item app02")]
    assert "The virtual machine has stopped replicating." in document["findings"][0]["message"]


def test_recovery_point_age_comes_from_rpo_in_seconds(live):
    """rpoInSeconds of 2 hours on web01, over the runbook's 15m objective: RDY003."""
    service, adapter = live
    service.item("web01").rpo_seconds = 7200
    document = check(load_runbook(SUBNET_FAILOVER), {}, adapter)
    assert findings(document) == [("RDY003", "protected item web01")]
    assert "2h00m" in document["findings"][0]["message"]


def test_quota_comes_from_compute_usages(live):
    """standardDSv3Family nearly used up in westeurope: RDY005 on that quota."""
    service, adapter = live
    service.estate.usages["standardDSv3Family"] = (47, 50)
    document = check(load_runbook(SUBNET_FAILOVER), {}, adapter)
    assert findings(document) == [("RDY005", "quota standardDSv3Family in westeurope")]


def test_the_cli_check_on_azure_sends_only_gets(tmp_path):
    """`failover check --azure` as an operator runs it, over HTTPS: exit 0, and not one request that is not
    a GET (the read-only guard would refuse it before it left the process anyway)."""
    service = ArmService(WOODGROVE, env={"WOODGROVE_VPN_KEY": VPN_KEY}, poll_delay_ms=10, epoch=datetime.now(UTC))
    with ArmServer(service) as server:
        cli = prepare_cli(tmp_path, server)
        cli.env["WOODGROVE_VPN_KEY"] = VPN_KEY
        result = cli.run("check", str(SUBNET_FAILOVER), "--azure", "-o", "json", timeout=120)
        assert result.returncode == 0, result.stderr[-3000:]
        assert json.loads(result.stdout)["ready"] is True
        service.item("app01").health = "Warning"
        again = cli.run("check", str(SUBNET_FAILOVER), "--azure", "-o", "json", timeout=120)
    assert again.returncode == 1
    document = json.loads(again.stdout)
    assert findings(document) == [("RDY002", "protected item app01")]
    assert document["findings"][0]["changed"] == [{"resource": "protected item app01",
                                                   "before": "replication Normal, latest recovery point within the rpo",
                                                   "after": "replication Warning, latest recovery point within the rpo"}]
    methods = Counter(s.method for s in service.sent)
    assert set(methods) == {"GET"}, methods
    print(f"GETs per check --azure: {methods['GET'] // 2}")
