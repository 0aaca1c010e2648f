"""failover: declarative failover runbooks for Azure Site Recovery."""

__version__ = "0.1.0"
