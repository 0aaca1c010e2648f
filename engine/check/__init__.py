"""Readiness: `failover check`, read-only checks of the live estate against a runbook, one module per
concern (coverage of moved subnets, replication, recovery addresses, compute quota, secrets, the plan
itself), findings with stable codes, and drift since the previous check (``drift.py``)."""
