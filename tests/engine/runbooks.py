"""Running runbooks in tests: load, resolve parameters, run against an adapter."""

from __future__ import annotations

import textwrap
from pathlib import Path

from engine.model.loader import load_runbook, load_runbook_text
from engine.model.params import resolve_parameters
from engine.run.runner import Runner

TARGET = """\
version: 1
name: test
target: {subscription: 00000000-0000-0000-0000-000000000000, resource_group: woodgrove-dr, vault: woodgrove-asr-vault}
"""


def loaded_from(source: str | Path):
    if isinstance(source, Path):
        return load_runbook(source)
    return load_runbook_text(TARGET + textwrap.dedent(source), "test.yaml")


def run(source: str | Path, adapter, params: dict | None = None, **runner_options):
    loaded = loaded_from(source)
    values, problems = resolve_parameters(loaded.runbook, params or {})
    assert not problems, problems
    runner_options.setdefault("job_poll_interval", 1.0)
    return Runner(loaded, values, adapter, **runner_options).run()


def statuses(result) -> dict[str, str]:
    return {s.id: str(s.status) for s in result.steps}
