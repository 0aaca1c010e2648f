"""Synthetic estates and runbooks of any size: the Woodgrove subnet failover, scaled out.

N protected items spread over /24 subnets of 250 VMs each (10.<k>.0.0/24 on premises, kept in a
recovery VNet), grouped in recovery plans of at most 100 items (ASR's limit). The runbook keeps every
IP (one set-IP step per VM), fails each plan over, moves the subnets off the on-premises local
gateway, connects the recovery VNet both ways, routes the subnets to Azure and commits each plan.

    python benchmarks/generate.py --items 1000 --out /tmp/scale
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
RESOURCE_GROUP = "scale-dr"
VAULT = "scale-asr-vault"
PER_SUBNET = 250
PER_PLAN = 100


def item_ip(index: int) -> tuple[int, str]:
    subnet, host = divmod(index, PER_SUBNET)
    return subnet, f"10.{subnet}.0.{host + 4}"  # .0-.3 are reserved in Azure


# The model of Azure the benchmark runs against (simulated milliseconds); docs/performance.md gives the
# source of each figure. ARM answers a read in about 50 ms and a write in 200 ms; an ASR job waits
# NotStarted before it runs; each item's job takes a lognormal time (median, sigma), the same in every
# run of a seed; a recovery plan's job is as long as its slowest item.
MODEL = {
    "read_ms": 50, "write_ms": 200,
    "job_queue_ms": 10_000,  # NotStarted before InProgress
    "update_ms": 30_000,  # the job a target-network update runs
    "job_ms": 900_000,  # one item's failover: 15 minutes, median
    "commit_ms": 120_000,  # one item's commit: 2 minutes, median
    "job_sigma": 0.5,  # lognormal spread: a plan of 100 takes about 3.5 times the median
}


def estate(items: int, *, time_scale: float = 0.02, throttle: bool = True, seed: int = 1, **model) -> dict:
    latency = {**MODEL, **model}
    subnets = (items + PER_SUBNET - 1) // PER_SUBNET
    names = [f"vm{i:05d}" for i in range(items)]
    plans = {f"plan{p:03d}": {"groups": [names[p * PER_PLAN:(p + 1) * PER_PLAN]]}
             for p in range((items + PER_PLAN - 1) // PER_PLAN)}
    return {
        "version": 1, "name": f"scale-{items}", "subscription": SUBSCRIPTION, "resource_group": RESOURCE_GROUP,
        "location": "westeurope",
        "primary_site": {"name": "onprem", "subnets": [f"10.{s}.0.0/24" for s in range(subnets)]},
        "vaults": {VAULT: {"protected_items": {name: {"source_ip": item_ip(i)[1]} for i, name in enumerate(names)},
                           "recovery_plans": plans}},
        "virtual_networks": {
            "hub-vnet": {"address_prefixes": ["172.16.0.0/16"],
                         "subnets": {"GatewaySubnet": "172.16.0.0/27", "apps": "172.16.1.0/24"}},
            "recovery-vnet": {"address_prefixes": [f"10.{s}.0.0/24" for s in range(subnets)] + ["172.17.0.0/24"],
                              "subnets": {**{f"net{s}": f"10.{s}.0.0/24" for s in range(subnets)},
                                          "GatewaySubnet": "172.17.0.0/27"}},
        },
        "virtual_network_gateways": {"hub-gw": {"vnet": "hub-vnet"}, "recovery-gw": {"vnet": "recovery-vnet"}},
        "local_network_gateways": {"onprem": {"gateway_ip": "203.0.113.10", "prefixes": ["10.0.0.0/8"]}},
        "connections": {"hub-s2s": {"type": "IPsec", "gateway": "hub-gw", "peer": "onprem"}},
        "route_tables": {"hub-rt": {"subnets": ["hub-vnet/apps"], "routes": {
            f"onprem-{s}": {"prefix": f"10.{s}.0.0/24", "next_hop": "VirtualAppliance", "next_hop_ip": "172.16.1.4"}
            for s in range(subnets)}}},
        "virtual_machines": {"edge-nva": {"vnet": "hub-vnet", "subnet": "apps", "ip": "172.16.1.4"}},
        "simulation": {"latency": latency,
                       "faults": {"transient_rate": 0.0, "seed": seed},
                       "throttle": {"reads": [250, 25], "writes": [200, 10]} if throttle else None,
                       "time_scale": time_scale},
    }


def runbook(items: int, *, concurrency: int | None = None) -> dict:
    subnets = (items + PER_SUBNET - 1) // PER_SUBNET
    plan_count = (items + PER_PLAN - 1) // PER_PLAN
    steps = []
    for i in range(items):
        subnet, ip = item_ip(i)
        steps.append({"id": f"ip-vm{i:05d}", "uses": "asr.set_target_ip",
                      "with": {"item": f"vm{i:05d}", "network": "recovery-vnet", "subnet": f"net{subnet}", "ip": ip}})
    for p in range(plan_count):
        members = range(p * PER_PLAN, min((p + 1) * PER_PLAN, items))
        steps.append({"id": f"failover-plan{p:03d}", "uses": "asr.failover", "needs": [f"ip-vm{i:05d}" for i in members],
                      "with": {"plan": f"plan{p:03d}", "type": "planned"}})
    failovers = [f"failover-plan{p:03d}" for p in range(plan_count)]
    steps.append({"id": "move-prefixes", "uses": "network.local_gateway_prefixes", "needs": failovers,
                  "with": {"gateway": "onprem", "remove": [f"10.{s}.0.0/24" for s in range(subnets)]}})
    for name, gateway, peer in (("recovery-to-hub", "recovery-gw", "hub-gw"), ("hub-to-recovery", "hub-gw", "recovery-gw")):
        steps.append({"id": f"connect-{name}", "uses": "network.connection", "needs": ["move-prefixes"],
                      "with": {"name": name, "type": "vnet2vnet", "gateway": gateway, "peer": peer,
                               "shared_key": "${{ params.vpn_shared_key }}"}})
    steps.append({"id": "routes", "uses": "network.routes", "needs": ["connect-recovery-to-hub", "connect-hub-to-recovery"],
                  "with": {"table": "hub-rt", "routes": [r for s in range(subnets) for r in (
                      {"name": f"onprem-{s}", "state": "absent"},
                      {"name": f"recovery-{s}", "prefix": f"10.{s}.0.0/24", "next_hop": "VirtualNetworkGateway"})]}})
    for p in range(plan_count):
        steps.append({"id": f"commit-plan{p:03d}", "uses": "asr.commit", "needs": ["routes"],
                      "with": {"plan": f"plan{p:03d}"}})
    return {
        "version": 1, "name": f"scale-{items}-subnet-failover",
        "target": {"subscription": SUBSCRIPTION, "resource_group": RESOURCE_GROUP, "vault": VAULT},
        "parameters": {"vpn_shared_key": {"type": "secret", "from": "env:SCALE_VPN_KEY"}},
        "defaults": {"retry": {"attempts": 8, "initial": "2s", "max": "60s"}, "timeout": "3h",
                     **({"concurrency": concurrency} if concurrency else {})},  # else the engine's default
        "steps": steps,
    }


def write(folder: Path, items: int, **estate_options) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    estate_path, runbook_path = folder / f"estate-{items}.yaml", folder / f"runbook-{items}.yaml"
    estate_path.write_text(yaml.safe_dump(estate(items, **estate_options), sort_keys=False))
    runbook_path.write_text(yaml.safe_dump(runbook(items), sort_keys=False))
    return estate_path, runbook_path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path(".failover/bench"))
    options = parser.parse_args()
    print(*write(options.out, options.items))
