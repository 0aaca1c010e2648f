"""The Azure REST API specs' example payloads (``tests/fixtures/azure-specs/``) as templates.

Every answer the double sends starts as a copy of the example of its operation; the double then sets
only the fields that carry the simulated state. An example is found by its ``operationId`` (the
Site Recovery and Key Vault files name it) or by its file name (``VirtualNetworkGet``; the network and
DNS files have no ``operationId``). Where a service folder holds several API versions, the newest
wins (a date-named version is newer than a numbered one: Key Vault's ``2025-06-01`` over ``7.6``).
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2] / "fixtures" / "azure-specs"

# Conventional operation ids for the examples that do not name theirs.
ALIASES = {
    "network": {
        "VirtualNetworks_Get": "VirtualNetworkGet",
        "VirtualNetworks_List": "VirtualNetworkList",
        "VirtualNetworks_CheckIPAddressAvailability": "VirtualNetworkCheckIPAddressAvailability",
        "VirtualNetworkGateways_Get": "VirtualNetworkGatewayGet",
        "VirtualNetworkGateways_List": "VirtualNetworkGatewayList",
        "LocalNetworkGateways_Get": "LocalNetworkGatewayGet",
        "LocalNetworkGateways_List": "LocalNetworkGatewayList",
        "LocalNetworkGateways_CreateOrUpdate": "LocalNetworkGatewayCreate",
        "VirtualNetworkGatewayConnections_Get": "VirtualNetworkGatewayConnectionGet",
        "VirtualNetworkGatewayConnections_List": "VirtualNetworkGatewayConnectionsList",
        "VirtualNetworkGatewayConnections_CreateOrUpdate": "VirtualNetworkGatewayConnectionCreate",
        "VirtualNetworkGatewayConnections_Delete": "VirtualNetworkGatewayConnectionDelete",
        "VirtualNetworkGatewayConnections_GetSharedKey": "VirtualNetworkGatewayConnectionGetSharedKey",
        "RouteTables_Get": "RouteTableGet",
        "RouteTables_List": "RouteTableList",
        "Routes_Get": "RouteTableRouteGet",
        "Routes_List": "RouteTableRouteList",
        "Routes_CreateOrUpdate": "RouteTableRouteCreate",
        "Routes_Delete": "RouteTableRouteDelete",
    },
    "dns": {
        "Zones_Get": "GetZone",
        "RecordSets_Get": "GetARecordset",
        "RecordSets_CreateOrUpdate": "CreateOrUpdateARecordset",
        "RecordSets_Delete": "DeleteARecordset",
        "RecordSets_ListByType": "ListARecordset",
    },
}


def _version_key(folder: Path) -> tuple[int, str]:
    """Date-named versions sort after numbered ones, each in its own order."""
    return (1 if re.fullmatch(r"\d{4}-\d{2}-\d{2}(-preview)?", folder.name) else 0, folder.name)


@functools.cache
def _index(service: str) -> dict[str, str]:
    """operationId or file stem -> the file's text, newest version last so it wins."""
    folder = ROOT / service
    if not folder.is_dir():
        raise KeyError(f"no example payloads for service {service!r} under {ROOT}")
    found: dict[str, str] = {}
    for version in sorted((p for p in folder.iterdir() if p.is_dir()), key=_version_key):
        for path in sorted(version.glob("*.json")):
            text = path.read_text()
            found[path.stem] = text
            operation = json.loads(text).get("operationId")
            if operation:
                found[operation] = text
    return found


def names(service: str) -> list[str]:
    """Every operation id and file stem with an example."""
    return sorted(_index(service))


def example(service: str, operation_id: str) -> dict[str, Any]:
    """A fresh deep copy of the example document of ``operation_id`` (or of a file name)."""
    index = _index(service)
    key = ALIASES.get(service, {}).get(operation_id, operation_id)
    if key not in index:
        raise KeyError(f"no example {operation_id!r} for {service}; have {', '.join(sorted(index))}")
    return json.loads(index[key])


def response(service: str, operation_id: str, code: int | str = 200) -> dict[str, Any]:
    responses = example(service, operation_id)["responses"]
    if str(code) not in responses:
        raise KeyError(f"example {operation_id} of {service} has no {code} response (has {', '.join(responses)})")
    return responses[str(code)]


def body(service: str, operation_id: str, code: int | str = 200) -> Any:
    """The example's response body for ``code`` (a fresh copy)."""
    return response(service, operation_id, code)["body"]


def item(service: str, operation_id: str, code: int | str = 200, index: int = 0) -> dict[str, Any]:
    """One element of a list example's ``value`` (a fresh copy): the template of a listed resource."""
    return body(service, operation_id, code)["value"][index]


def headers(service: str, operation_id: str, code: int | str = 200) -> dict[str, str]:
    """The example's response headers for ``code``, as strings (``Retry-After: 30``, not 30)."""
    return {k: str(v) for k, v in (response(service, operation_id, code).get("headers") or {}).items()}


def request(service: str, operation_id: str, parameter: str) -> Any:
    """A request parameter of the example (a body such as ``failoverInput``)."""
    return example(service, operation_id)["parameters"][parameter]


def rebase(doc: Any, replacements: dict[str, str]) -> Any:
    """``doc`` with every string's occurrences of each key replaced by its value (the example's own
    subscription, resource group, vault, fabric... become the simulated estate's)."""
    if isinstance(doc, str):
        for old, new in replacements.items():
            doc = doc.replace(old, new)
        return doc
    if isinstance(doc, list):
        return [rebase(v, replacements) for v in doc]
    if isinstance(doc, dict):
        return {k: rebase(v, replacements) for k, v in doc.items()}
    return doc
