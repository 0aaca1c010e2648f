"""The Azure adapter: the ports on the real Azure SDK (Site Recovery, Network, DNS, Key Vault)."""

from adapters.azure.adapter import AzureAdapter

__all__ = ["AzureAdapter"]
