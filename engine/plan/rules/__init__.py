"""The network-plan rules, one module a concern. Each step kind names the check it is held to (its
``rules`` hook, in the one registry of step kinds); ``inspector`` runs those checks as the plan is
simulated, and the rules of the whole plan at its end. docs/rules.md lists every code."""
