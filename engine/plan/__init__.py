"""Plan, validate and dry run: the runbook simulated on a copy of the estate, step by step, with the
network-plan rules checked before every step and at the end."""
