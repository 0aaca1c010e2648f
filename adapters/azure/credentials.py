"""Which identity signs in: ``DefaultAzureCredential`` unless the settings pin one credential type.

Production should pin one: the default chain can fall back silently to another identity (a CLI login
left on the host), and a failover run by the wrong principal is an incident of its own.
"""

from __future__ import annotations

from typing import Any

from azure.core.credentials import TokenCredential

CREDENTIAL_TYPES = ("default", "managed_identity", "workload_identity", "service_principal", "azure_cli")


def credential_from_settings(settings: dict[str, Any]) -> TokenCredential:
    from azure import identity

    kind = settings.get("credential", "default")
    client_id = settings.get("client_id")
    tenant_id = settings.get("tenant_id")
    if kind == "default":
        return identity.DefaultAzureCredential(managed_identity_client_id=client_id)
    if kind == "managed_identity":
        return identity.ManagedIdentityCredential(client_id=client_id)
    if kind == "workload_identity":
        return identity.WorkloadIdentityCredential(tenant_id=tenant_id, client_id=client_id)
    if kind == "service_principal":  # the secret or certificate from the environment, never from a file here
        return identity.EnvironmentCredential()
    if kind == "azure_cli":
        return identity.AzureCliCredential(tenant_id=tenant_id)
    raise ValueError(f"unknown credential type {kind!r}: use one of {', '.join(CREDENTIAL_TYPES)}")
