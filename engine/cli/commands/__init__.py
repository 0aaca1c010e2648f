"""The commands, one module per group: runbooks (validate, plan, run, drill, resume, approve, schema),
records (status, history, report), schedule, and the estate (snapshot, fake)."""
